//! The committed golden journals of `tests/vectors/v1/` (see its README): good ones must verify
//! and decode to the known records; each damaged one must be caught with the documented class,
//! record, file and byte offset. The files are read, never rewritten.

#[path = "support/golden.rs"]
mod golden;

use std::fs;
use std::path::{Path, PathBuf};

use housekeeper_journal::store::{Journal, PayloadEntry, RowRole};
use housekeeper_journal::{
    open_payload, read_records, verify, ChainHead, DamageClass, Digest, PayloadKind, VerifyReport,
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
fn an_unknown_format_version_is_a_bad_header() {
    damaged("bad-version", DamageClass::BadHeader, None, SEG1, 0);
    let d = verify(&vector("bad-version"), None)
        .unwrap()
        .damage
        .remove(0);
    assert!(d.explanation.contains("format version 2"), "{d}");
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
    let root = vector("");
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    for entry in fs::read_dir(&root).unwrap() {
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
