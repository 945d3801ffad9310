//! The single entry point through which arbitrary bytes reach every decoder of the crate: the
//! cargo-fuzz target (`journal/fuzz/`) and a property test both call `decode_any`.
//!
//! Owns nothing but the routing. It must never panic, never touch the filesystem and never
//! allocate more than a small multiple of its input.

use crate::cbor::diagnostic;
use crate::chain::{check8, genesis, JournalId};
use crate::codec::{decode_record, decode_record_of_version};
use crate::frame::{
    build_frame, segment_file_name, FrameHeader, SegmentHeader, FORMAT_VERSION,
    OLDEST_FORMAT_VERSION,
};
use crate::payload::{check_blob, BlobEntries, BodyDecoder};
use crate::record::{Digest, PayloadKind, PayloadRef};
use crate::scan::scan_single_segment;

/// Feeds `data` to every decoder, as a record (of every format version), a payload body, a blob file, a whole segment,
/// and as the body of otherwise valid frames (so that inputs reach zstd and the record decoder
/// behind the checksums). Results are discarded; the point is that nothing panics.
pub fn decode_any(data: &[u8]) {
    let _ = diagnostic(data);
    let _ = decode_record(data);
    let _ = decode_record_of_version(data, OLDEST_FORMAT_VERSION);

    if let Ok(mut body) = BodyDecoder::new(data) {
        while let Ok(Some(_)) = body.next_entry() {}
    }

    let digest = Digest(*blake3::hash(data).as_bytes());
    let reference = PayloadRef {
        digest,
        len: data.len() as u64,
        kind: PayloadKind::RowImages,
    };
    let _ = check_blob(data, &reference);
    if let Ok(entries) = BlobEntries::open(data, digest) {
        for entry in entries {
            if entry.is_err() {
                break;
            }
        }
    }

    let name = segment_file_name(1);
    let _ = scan_single_segment(&name, data, None);

    // A valid segment header followed by `data` as the compressed body of a frame whose
    // checks are correct, so the bytes reach the decompressor and the hash check.
    let id = JournalId([0x5a; 16]);
    let g = genesis(&id);
    let mut seg = SegmentHeader {
        version: FORMAT_VERSION,
        journal_id: id,
        first_seq: 1,
        prev_hash: g,
    }
    .to_bytes()
    .to_vec();
    if let (Ok(clen), Some(first)) = (u32::try_from(data.len()), data.first()) {
        let header = FrameHeader {
            seq: 1,
            clen,
            ulen: u32::from(*first) * 64 + 1,
            prev_hash: g,
            hash: Digest([0; 32]),
            body_check: check8(data),
        };
        let mut framed = seg.clone();
        framed.extend_from_slice(&header.to_bytes());
        framed.extend_from_slice(data);
        let _ = scan_single_segment(&name, &framed, None);
    }

    // `data` as an uncompressed record body in a fully valid frame: reaches decode_record
    // through the scanner, including the canonical checks.
    if let Ok(mut compressor) = zstd::bulk::Compressor::new(1) {
        if let Ok(frame) = build_frame(&mut compressor, 1, &g, data) {
            seg.extend_from_slice(&frame.bytes);
            let _ = scan_single_segment(&name, &seg, None);
        }
    }
}
