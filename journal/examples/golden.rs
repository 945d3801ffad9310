//! Writes the golden journals of `tests/vectors/v<N>/` (good ones and deliberately damaged
//! ones), in the current format version N, from the fixed content in `tests/support/golden.rs`,
//! and prints what verify must say about each. Existing vector directories are never
//! overwritten: golden files are not edited (those of earlier versions were written by earlier
//! versions of this program and must keep verifying as they are).
//!
//! Usage: `cargo run -p housekeeper-journal --example golden -- journal/tests/vectors/v2`

#[path = "../tests/support/golden.rs"]
mod golden;

use std::fs;
use std::path::{Path, PathBuf};

use golden::{
    details_blob, expiry_record, frames, good_records, plan_blob, rows_blob, segment_header, Blob,
    Frame, JOURNAL_ID, OTHER_JOURNAL_ID,
};
use housekeeper_journal::chain::check8;
use housekeeper_journal::frame::{segment_file_name, FORMAT_VERSION, SEGMENT_HEADER_LEN};
use housekeeper_journal::verify::blob_relative_path;
use housekeeper_journal::Record;

struct Vector {
    name: &'static str,
    /// (first seq, bytes) per segment file.
    segments: Vec<(u64, Vec<u8>)>,
    blobs: Vec<Blob>,
}

fn segment(first_seq: u64, all: &[Frame], frames: &[&Frame]) -> (u64, Vec<u8>) {
    let mut bytes = segment_header(&JOURNAL_ID, first_seq, all);
    for f in frames {
        bytes.extend_from_slice(&f.bytes);
    }
    (first_seq, bytes)
}

/// Offset of frame `seq` (1-based) in a single segment holding `frames` in order.
fn offset_of(frames: &[&Frame], seq: u64) -> u64 {
    let mut at = SEGMENT_HEADER_LEN as u64;
    for f in frames {
        if f.seq == seq {
            return at;
        }
        at += f.bytes.len() as u64;
    }
    at
}

fn write_vector(root: &Path, v: &Vector) -> std::io::Result<bool> {
    let dir = root.join(v.name);
    if dir.exists() {
        eprintln!("{}: exists, left alone", dir.display());
        return Ok(false);
    }
    fs::create_dir_all(&dir)?;
    for (first, bytes) in &v.segments {
        fs::write(dir.join(segment_file_name(*first)), bytes)?;
    }
    for b in &v.blobs {
        let path: PathBuf = dir.join(blob_relative_path(&b.reference.digest));
        fs::create_dir_all(path.parent().expect("blob dir"))?;
        fs::write(path, &b.bytes)?;
    }
    Ok(true)
}

#[allow(clippy::too_many_lines)] // one block per vector, each short
fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "journal/tests/vectors/v1".into()),
    );
    let records = good_records();
    let good = frames(&JOURNAL_ID, &records);
    let all: Vec<&Frame> = good.iter().collect();
    let blobs = vec![plan_blob(), rows_blob(), details_blob()];
    let n = good.len() as u64;
    let mut out: Vec<Vector> = Vec::new();
    let mut says: Vec<String> = Vec::new();

    out.push(Vector {
        name: "good",
        segments: vec![segment(1, &good, &all)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "good | ok; {n} records, 3 payloads; head seq {n} hash {}",
        good[good.len() - 1].hash
    ));

    let mut with_expiry = records.clone();
    with_expiry.push(expiry_record());
    let expired = frames(&JOURNAL_ID, &with_expiry);
    let expired_refs: Vec<&Frame> = expired.iter().collect();
    out.push(Vector {
        name: "good-expired",
        segments: vec![segment(1, &expired, &expired_refs)],
        blobs: vec![plan_blob(), details_blob()],
    });
    says.push(format!(
        "good-expired | ok; {} records, 2 payloads checked, 1 expired",
        expired.len()
    ));

    out.push(Vector {
        name: "good-segments",
        segments: vec![
            segment(1, &good, &all[0..4]),
            segment(5, &good, &all[4..8]),
            segment(9, &good, &all[8..]),
        ],
        blobs: blobs.clone(),
    });
    says.push("good-segments | ok; 3 segments, same head as good".into());

    // A bit flipped in the compressed body of record 3.
    let mut seg = segment(1, &good, &all).1;
    let at3 = offset_of(&all, 3);
    let flip = at3 as usize + 100 + good[2].bytes.len().saturating_sub(100) / 2;
    seg[flip] ^= 0x01;
    out.push(Vector {
        name: "bitflip-record",
        segments: vec![(1, seg)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "bitflip-record | hash_mismatch, seq 3, {} offset {at3} (bit 0 of byte {flip} flipped)",
        segment_file_name(1)
    ));

    // A bit flipped in the seq field of record 3's frame header.
    let mut seg = segment(1, &good, &all).1;
    seg[at3 as usize + 11] ^= 0x01;
    out.push(Vector {
        name: "bitflip-header",
        segments: vec![(1, seg)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "bitflip-header | bad_frame, seq 3, {} offset {at3} (bit 0 of byte {} flipped)",
        segment_file_name(1),
        at3 + 11
    ));

    // A bit flipped in the middle of the row-image blob that record 3 references.
    let mut altered = blobs.clone();
    let mid = altered[1].bytes.len() / 2;
    altered[1].bytes[mid] ^= 0x10;
    out.push(Vector {
        name: "bitflip-payload",
        segments: vec![segment(1, &good, &all)],
        blobs: altered,
    });
    says.push(format!(
        "bitflip-payload | payload_altered, seq 3, {} offset {at3}, digest {}",
        segment_file_name(1),
        rows_blob().reference.digest
    ));

    out.push(Vector {
        name: "payload-missing",
        segments: vec![segment(1, &good, &all)],
        blobs: vec![plan_blob(), details_blob()],
    });
    says.push(format!(
        "payload-missing | payload_missing, seq 3, {} offset {at3}",
        segment_file_name(1)
    ));

    // The last frame cut in the middle.
    let mut seg = segment(1, &good, &all).1;
    let last_at = offset_of(&all, n);
    let cut = last_at as usize + good[good.len() - 1].bytes.len() / 2;
    seg.truncate(cut);
    out.push(Vector {
        name: "torn-tail",
        segments: vec![(1, seg)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "torn-tail | torn_tail, seq {n}, {} offset {last_at} (file cut at byte {cut})",
        segment_file_name(1)
    ));

    let mut seg = segment(1, &good, &all).1;
    let end = seg.len();
    seg.extend_from_slice(&[0u8; 512]);
    out.push(Vector {
        name: "zero-tail",
        segments: vec![(1, seg)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "zero-tail | torn_tail, seq {}, {} offset {end}",
        n + 1,
        segment_file_name(1)
    ));

    // The last two records removed cleanly: only the expected head shows it.
    let kept = &all[..all.len() - 2];
    let seg = segment(1, &good, kept).1;
    let end = seg.len();
    out.push(Vector {
        name: "truncated",
        segments: vec![(1, seg)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "truncated | ok alone; with expected head = good's head: truncated, seq {}, {} offset {end}",
        n - 1,
        segment_file_name(1)
    ));

    let without3: Vec<&Frame> = all.iter().copied().filter(|f| f.seq != 3).collect();
    out.push(Vector {
        name: "record-removed",
        segments: vec![segment(1, &good, &without3)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "record-removed | sequence_gap, seq 4, {} offset {at3}",
        segment_file_name(1)
    ));

    let mut swapped = all.clone();
    swapped.swap(2, 3);
    out.push(Vector {
        name: "record-reordered",
        segments: vec![segment(1, &good, &swapped)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "record-reordered | sequence_gap, seq 4, {} offset {at3}",
        segment_file_name(1)
    ));

    // Record 3 of another journal (valid frame, right seq, other chain) inserted before ours.
    let foreign = frames(&OTHER_JOURNAL_ID, &records);
    let mut inserted = all.clone();
    inserted.insert(2, &foreign[2]);
    out.push(Vector {
        name: "frame-inserted",
        segments: vec![segment(1, &good, &inserted)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "frame-inserted | fork, seq 3, {} offset {at3}",
        segment_file_name(1)
    ));

    // History rewritten with recomputed hashes: record 1 names another host.
    let mut rewritten_records = records.clone();
    if let Record::RunStart { host, .. } = &mut rewritten_records[0] {
        *host = "web2".into();
    }
    let rewritten = frames(&JOURNAL_ID, &rewritten_records);
    let rewritten_refs: Vec<&Frame> = rewritten.iter().collect();
    out.push(Vector {
        name: "rewritten",
        segments: vec![segment(1, &rewritten, &rewritten_refs)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "rewritten | ok alone; with expected head = good's head: fork, seq {n}, {} offset {}",
        segment_file_name(1),
        offset_of(&rewritten_refs, n)
    ));

    out.push(Vector {
        name: "segment-removed",
        segments: vec![segment(1, &good, &all[0..4]), segment(9, &good, &all[8..])],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "segment-removed | sequence_gap, seq 9, {} offset 0",
        segment_file_name(9)
    ));

    // A segment header claiming the next format version (its check recomputed, so only the
    // version is wrong).
    let mut seg = segment(1, &good, &all).1;
    seg[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_be_bytes());
    let check = check8(&seg[..72]);
    seg[72..80].copy_from_slice(&check);
    out.push(Vector {
        name: "bad-version",
        segments: vec![(1, seg)],
        blobs: blobs.clone(),
    });
    says.push(format!(
        "bad-version | bad_header, no seq, {} offset 0",
        segment_file_name(1)
    ));

    fs::create_dir_all(&root)?;
    for v in &out {
        if write_vector(&root, v)? {
            eprintln!("{}: written", root.join(v.name).display());
        }
    }
    for s in says {
        println!("{s}");
    }
    Ok(())
}
