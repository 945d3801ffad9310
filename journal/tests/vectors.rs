//! The committed golden journals of `tests/vectors/v1/` and `tests/vectors/v2/` (see their
//! READMEs): good ones must verify and decode to the known records; each damaged one must be
//! caught with the documented class, record, file and byte offset. A journal of version 1 must
//! go on, unchanged, under a writer of version 2. The files are read, never rewritten.

#[path = "support/golden.rs"]
mod golden;

use std::fs;
use std::path::{Path, PathBuf};

use housekeeper_journal::store::{Journal, PayloadEntry, RowRole};
use housekeeper_journal::{
    open_payload, read_records, verify, ChainHead, DamageClass, Digest, PayloadKind, Record, Value,
    VerifyReport,
};

const SEG1: &str = "segment-00000000000000000001.hkj";
/// Head of `good` (record 11), as printed by the generator when the vectors were made.
const GOOD_HEAD_HASH: &str = "0039ad61d07677320086225a2ebc28ceef1d85e9c8845d0e3082a7a2c8bdd680";
const ROWS_DIGEST: &str = "ebf28dd1b211ad6ac2565302d6f137c990edf7aa81e6be43133bccfdf8d56bc7";

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/v1")
        .join(name)
}

fn vector_v2(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/v2")
        .join(name)
}

fn good_head() -> ChainHead {
    ChainHead {
        seq: 11,
        hash: Digest::from_hex(GOOD_HEAD_HASH).unwrap(),
    }
}

fn check(report: &VerifyReport, class: DamageClass, seq: Option<u64>, file: &str, offset: u64) {
    let d = report
        .first_damage()
        .unwrap_or_else(|| panic!("no damage found, expected {class}"));
    assert_eq!(
        (d.class, d.seq, d.location.file.as_str(), d.location.offset),
        (class, seq, file, offset),
        "{d}"
    );
    assert!(!d.explanation.is_empty());
}

fn damaged(name: &str, class: DamageClass, seq: Option<u64>, file: &str, offset: u64) {
    let report = verify(&vector(name), None).unwrap();
    check(&report, class, seq, file, offset);
}

#[test]
fn good_verifies_and_decodes_to_the_known_records() {
    let report = verify(&vector("good"), Some(&good_head())).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!(report.records, 11);
    assert_eq!(report.payloads_checked, 3);
    assert_eq!(report.head, Some(good_head()));
    assert_eq!(report.journal_id, Some(golden::JOURNAL_ID));
    let records: Vec<_> = read_records(&vector("good"))
        .unwrap()
        .map(|e| e.unwrap().record)
        .collect();
    assert_eq!(records, golden::good_records());
}

#[test]
fn good_row_images_decode_to_every_value_type() {
    let digest = Digest::from_hex(ROWS_DIGEST).unwrap();
    assert_eq!(golden::rows_blob().reference.digest, digest);
    let mut reader = open_payload(&vector("good"), &digest).unwrap();
    assert_eq!(reader.kind(), Some(PayloadKind::RowImages));
    let entries: Vec<_> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(entries.len(), 7);
    assert_eq!(
        entries[3],
        PayloadEntry::Row {
            role: RowRole::Deleted,
            values: golden::job_row()
        }
    );
    assert!(matches!(
        &entries[6],
        PayloadEntry::Row {
            role: RowRole::After,
            ..
        }
    ));
}

#[test]
fn good_expired_verifies_and_reports_the_expiry() {
    let report = verify(&vector("good-expired"), Some(&good_head())).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!(report.records, 12);
    assert_eq!((report.payloads_checked, report.payloads_expired), (2, 1));
}

#[test]
fn good_segments_has_the_same_chain_in_three_files() {
    let report = verify(&vector("good-segments"), Some(&good_head())).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!(report.segments, 3);
    assert_eq!(report.head, Some(good_head()));
}

#[test]
fn a_flipped_bit_in_a_record_body_is_a_hash_mismatch() {
    damaged(
        "bitflip-record",
        DamageClass::HashMismatch,
        Some(3),
        SEG1,
        741,
    );
}

#[test]
fn a_flipped_bit_in_a_frame_header_is_a_bad_frame() {
    damaged("bitflip-header", DamageClass::BadFrame, Some(3), SEG1, 741);
}

#[test]
fn a_flipped_bit_in_a_payload_is_caught_at_the_referencing_record() {
    let report = verify(&vector("bitflip-payload"), None).unwrap();
    check(&report, DamageClass::PayloadAltered, Some(3), SEG1, 741);
    let d = report.first_damage().unwrap();
    assert_eq!(d.digest, Digest::from_hex(ROWS_DIGEST));
    assert_eq!(report.damage_count, 1);
}

#[test]
fn a_missing_payload_is_caught_at_the_referencing_record() {
    damaged(
        "payload-missing",
        DamageClass::PayloadMissing,
        Some(3),
        SEG1,
        741,
    );
}

#[test]
fn a_torn_tail_is_named_and_repairable() {
    damaged("torn-tail", DamageClass::TornTail, Some(11), SEG1, 2933);
    damaged("zero-tail", DamageClass::TornTail, Some(12), SEG1, 3130);
}

#[test]
fn a_clean_truncation_needs_the_expected_head() {
    assert!(verify(&vector("truncated"), None).unwrap().is_ok());
    let report = verify(&vector("truncated"), Some(&good_head())).unwrap();
    check(&report, DamageClass::Truncated, Some(10), SEG1, 2730);
    assert_eq!(report.expected_head_found, Some(false));
}

#[test]
fn a_removed_or_reordered_record_is_a_sequence_gap() {
    damaged(
        "record-removed",
        DamageClass::SequenceGap,
        Some(4),
        SEG1,
        741,
    );
    damaged(
        "record-reordered",
        DamageClass::SequenceGap,
        Some(4),
        SEG1,
        741,
    );
}

#[test]
fn a_frame_from_another_chain_is_a_fork() {
    damaged("frame-inserted", DamageClass::Fork, Some(3), SEG1, 741);
}

#[test]
fn a_rewritten_history_is_a_fork_against_the_expected_head() {
    assert!(verify(&vector("rewritten"), None).unwrap().is_ok());
    let report = verify(&vector("rewritten"), Some(&good_head())).unwrap();
    check(&report, DamageClass::Fork, Some(11), SEG1, 2934);
}

#[test]
fn a_removed_segment_is_a_sequence_gap_at_the_next_header() {
    damaged(
        "segment-removed",
        DamageClass::SequenceGap,
        Some(9),
        "segment-00000000000000000009.hkj",
        0,
    );
}

#[test]
fn a_header_claiming_another_version_than_its_records_is_caught_at_the_first_record_that_differs() {
    // Written when version 2 did not exist yet: version-1 records under a version-2 header.
    // The plan record (2) is the first whose shape differs between the versions.
    damaged("bad-version", DamageClass::BadFrame, Some(2), SEG1, 393);
    let d = verify(&vector("bad-version"), None)
        .unwrap()
        .damage
        .remove(0);
    assert!(
        d.explanation.contains("in format version 2, found 9"),
        "{d}"
    );
}

#[test]
fn an_unknown_format_version_is_a_bad_header() {
    let report = verify(&vector_v2("bad-version"), None).unwrap();
    check(&report, DamageClass::BadHeader, None, SEG1, 0);
    let d = report.first_damage().unwrap();
    assert!(
        d.explanation.contains("format version 3 is not supported"),
        "{d}"
    );
}

/// Head of `v2/good` (record 11), as printed by the generator when the vectors were made.
const GOOD_V2_HEAD_HASH: &str = "d491f5b47167df48e68e29d9202ca8ff5103947204ee8b220eca66c537facf04";

#[test]
fn version_2_vectors_verify_and_decode_and_their_damage_is_found_where_documented() {
    let head = ChainHead {
        seq: 11,
        hash: Digest::from_hex(GOOD_V2_HEAD_HASH).unwrap(),
    };
    for good in ["good", "good-segments"] {
        let report = verify(&vector_v2(good), Some(&head)).unwrap();
        assert!(report.is_ok(), "{good}: {:?}", report.damage);
        assert_eq!(report.head, Some(head), "{good}");
    }
    let expired = verify(&vector_v2("good-expired"), None).unwrap();
    assert!(expired.is_ok(), "{:?}", expired.damage);
    assert_eq!((expired.records, expired.payloads_expired), (12, 1));
    let records: Vec<_> = read_records(&vector_v2("good"))
        .unwrap()
        .map(|e| e.unwrap().record)
        .collect();
    assert_eq!(records, golden::good_records());
    let seg9 = "segment-00000000000000000009.hkj";
    for (name, class, seq, file, offset) in [
        (
            "bitflip-record",
            DamageClass::HashMismatch,
            Some(3),
            SEG1,
            747,
        ),
        ("bitflip-header", DamageClass::BadFrame, Some(3), SEG1, 747),
        (
            "bitflip-payload",
            DamageClass::PayloadAltered,
            Some(3),
            SEG1,
            747,
        ),
        (
            "payload-missing",
            DamageClass::PayloadMissing,
            Some(3),
            SEG1,
            747,
        ),
        ("torn-tail", DamageClass::TornTail, Some(11), SEG1, 2939),
        ("zero-tail", DamageClass::TornTail, Some(12), SEG1, 3136),
        (
            "record-removed",
            DamageClass::SequenceGap,
            Some(4),
            SEG1,
            747,
        ),
        (
            "record-reordered",
            DamageClass::SequenceGap,
            Some(4),
            SEG1,
            747,
        ),
        ("frame-inserted", DamageClass::Fork, Some(3), SEG1, 747),
        (
            "segment-removed",
            DamageClass::SequenceGap,
            Some(9),
            seg9,
            0,
        ),
    ] {
        let report = verify(&vector_v2(name), None).unwrap();
        check(&report, class, seq, file, offset);
    }
    for (name, class, seq, offset) in [
        ("truncated", DamageClass::Truncated, Some(10), 2736),
        ("rewritten", DamageClass::Fork, Some(11), 2940),
    ] {
        assert!(verify(&vector_v2(name), None).unwrap().is_ok(), "{name}");
        let report = verify(&vector_v2(name), Some(&head)).unwrap();
        check(&report, class, seq, SEG1, offset);
    }
}

#[test]
fn a_version_1_journal_goes_on_in_a_version_2_segment_and_verifies_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("good");
    copy_dir(&vector("good"), &dir);
    let v1_bytes = fs::read(dir.join(SEG1)).unwrap();
    let mut record = golden::good_records().remove(1);
    if let Record::Plan { items, .. } = &mut record {
        items[0].policy = Some(Value::Int(3));
    }
    {
        let (mut journal, _) = Journal::open(&dir).unwrap();
        journal.append(&record).unwrap();
        journal.append(&record).unwrap();
    }
    assert_eq!(
        fs::read(dir.join(SEG1)).unwrap(),
        v1_bytes,
        "the v1 segment is left as it was"
    );
    let seg12 = fs::read(dir.join("segment-00000000000000000012.hkj")).unwrap();
    assert_eq!(&seg12[8..10], &[0, 2], "the new segment is of version 2");
    let report = verify(&dir, Some(&good_head())).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!((report.records, report.segments), (13, 2));
    let records: Vec<_> = read_records(&dir)
        .unwrap()
        .map(|e| e.unwrap().record)
        .collect();
    assert_eq!(records[..11], golden::good_records()[..]);
    assert_eq!(records[11..], [record.clone(), record]);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_writer_repairs_only_the_torn_vectors_and_refuses_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["torn-tail", "zero-tail"] {
        let dir = tmp.path().join(name);
        copy_dir(&vector(name), &dir);
        let (journal, report) = Journal::open(&dir).unwrap();
        assert!(report.torn_tail.is_some(), "{name}");
        drop(journal);
        assert!(verify(&dir, None).unwrap().is_ok(), "{name}");
    }
    for name in [
        "bitflip-record",
        "bitflip-header",
        "record-removed",
        "record-reordered",
        "frame-inserted",
        "segment-removed",
        "bad-version",
    ] {
        let dir = tmp.path().join(name);
        copy_dir(&vector(name), &dir);
        let before = fs::read(dir.join(SEG1)).unwrap();
        let err = Journal::open(&dir).unwrap_err();
        assert!(err.damage().is_some(), "{name}: {err}");
        assert_eq!(
            fs::read(dir.join(SEG1)).unwrap(),
            before,
            "{name} was modified"
        );
    }
}

#[test]
fn every_vector_is_listed_in_the_readme() {
    for root in [vector(""), vector_v2("")] {
        every_vector_of_a_version_is_listed_in_its_readme(&root);
    }
}

fn every_vector_of_a_version_is_listed_in_its_readme(root: &Path) {
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    for entry in fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name().into_string().unwrap();
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} missing in README"
            );
        }
    }
}
