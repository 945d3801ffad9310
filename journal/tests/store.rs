//! The journal directory on a real filesystem: writer, lock, modes, rotation, torn tails,
//! payload blobs, expiry, orphans, read-only iteration and verification.

// Tests build their fixtures with the real clock and damage state on purpose (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use housekeeper_journal::store::{Journal, JournalError, JournalOptions, PayloadEntry, RowRole};
use housekeeper_journal::{
    read_records, verify, verify_with, Action, ChainHead, ChunkStatus, DamageClass, DateTimeValue,
    Digest, KeySet, PayloadKind, PayloadRef, Record, RunKind, TableChange, TimeValue, Value,
    VerifyOptions,
};

fn run_start(run_id: &str) -> Record {
    Record::RunStart {
        run_id: run_id.into(),
        kind: RunKind::Run,
        started_utc: "2024-01-31T23:59:58Z".into(),
        now: DateTimeValue::ymd_hms(2024, 1, 31, 23, 59, 58),
        host: "web1".into(),
        user: "multiflexi".into(),
        tool_version: "2.0.0".into(),
        database: "sqlite:/var/lib/multiflexi/db.sqlite".into(),
        duties: vec!["LogPruning".into()],
    }
}

fn outcome(run_id: &str, chunk: u32, payload: Option<PayloadRef>) -> Record {
    Record::ChunkOutcome {
        run_id: run_id.into(),
        duty: "LogPruning".into(),
        chunk,
        items: vec![(0, 0)],
        status: ChunkStatus::Committed,
        changes: vec![TableChange {
            table: "log".into(),
            action: Action::Delete,
            keys: KeySet::Ranges(vec![(1, 100)]),
        }],
        drifted: vec![],
        payload,
        error: None,
        error_payload: None,
    }
}

fn all_kinds_of_values() -> Vec<Value> {
    vec![
        Value::Null,
        Value::Bool(false),
        Value::Int(i64::MIN),
        Value::UInt(u64::MAX),
        Value::Float(f64::from_bits(0x7ff8_0000_0000_0001)),
        Value::Decimal("-0012.500".into()),
        Value::Text("Žluťoučký kůň ✓".into()),
        Value::Bytes(vec![0, 255, 1]),
        Value::DateTime(DateTimeValue {
            micros: 123_456,
            ..DateTimeValue::ymd_hms(2024, 2, 29, 23, 59, 59)
        }),
        Value::DateTime(DateTimeValue::ymd_hms(0, 0, 0, 0, 0, 0)),
        Value::Date(DateTimeValue::date(2023, 2, 30)),
        Value::Time(TimeValue {
            negative: true,
            hours: 838,
            minute: 59,
            second: 59,
            micros: 0,
        }),
        Value::Json(r#"{"b": 1, "a": [2]}"#.into()),
    ]
}

fn columns(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hkj"))
        .collect();
    v.sort();
    v
}

/// Writes a row-image payload and returns its reference.
fn row_payload(journal: &Journal, rows: usize) -> PayloadRef {
    let values = all_kinds_of_values();
    let mut pw = journal.payload_writer(PayloadKind::RowImages).unwrap();
    pw.begin_table("log", &columns(values.len())).unwrap();
    for _ in 0..rows {
        pw.row(RowRole::Deleted, &values).unwrap();
    }
    pw.finish().unwrap()
}

#[test]
fn a_new_journal_is_private_and_locked_against_a_second_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state/journal");
    let (journal, report) = Journal::open(&dir).unwrap();
    assert!(report.created);
    assert_eq!(report.head, ChainHead::genesis(&report.journal_id));
    assert_eq!(journal.head().seq, 0);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("payloads")), 0o700);
    assert_eq!(mode(&dir.join("LOCK")), 0o600);
    let segs = segment_files(&dir);
    assert_eq!(segs.len(), 1);
    assert_eq!(mode(&segs[0]), 0o600);
    assert!(report.notes()[0].starts_with("created a new journal"));

    let err = Journal::open(&dir).unwrap_err();
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked by another housekeeper"));
    drop(journal);
    let (_again, report) = Journal::open(&dir).unwrap();
    assert!(!report.created);
}

#[test]
fn loose_permissions_on_an_existing_directory_are_tightened_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let (_j, report) = Journal::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(report.permissions_fixed, vec![dir.clone()]);
}

#[test]
fn records_come_back_in_order_with_their_hashes_and_offsets_and_the_chain_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (mut journal, _) = Journal::open(&dir).unwrap();
    let a = journal.append_durable(&run_start("r1")).unwrap();
    let b = journal.append(&outcome("r1", 0, None)).unwrap();
    journal.sync().unwrap();
    assert_eq!((a.seq, b.seq), (1, 2));
    assert_eq!(a.location.offset, 80);
    assert_eq!(b.location.offset, 80 + a.frame_len);
    assert_eq!(journal.head(), b.head());
    drop(journal);

    let (mut journal, report) = Journal::open(&dir).unwrap();
    assert_eq!(report.head, b.head());
    assert_eq!(report.records, 2);
    let c = journal.append(&run_start("r2")).unwrap();
    assert_eq!(c.seq, 3);

    // Read-only iteration works while the writer holds the lock.
    let entries: Vec<_> = read_records(&dir).unwrap().map(Result::unwrap).collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].record, run_start("r1"));
    assert_eq!(entries[1].record, outcome("r1", 0, None));
    assert_eq!(entries[2].hash, c.hash);
    assert_eq!(entries[1].location, b.location);
    let report = verify(&dir, Some(&c.head())).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!(report.records, 3);
    assert_eq!(report.head, Some(c.head()));
    assert_eq!(report.expected_head_found, Some(true));
}

#[test]
fn the_chain_continues_across_rotated_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let options = JournalOptions {
        segment_bytes: 600,
        ..JournalOptions::default()
    };
    let (mut journal, _) = Journal::open_with(&dir, options.clone()).unwrap();
    let mut last = None;
    for i in 0..20 {
        last = Some(journal.append(&run_start(&format!("r{i}"))).unwrap());
    }
    journal.sync().unwrap();
    let last = last.unwrap();
    let segs = segment_files(&dir);
    assert!(segs.len() >= 5, "{segs:?}");
    assert_eq!(
        last.location.file,
        segs.last().unwrap().file_name().unwrap().to_str().unwrap()
    );
    drop(journal);
    let (journal, report) = Journal::open_with(&dir, options).unwrap();
    assert_eq!(report.segments as usize, segs.len());
    assert_eq!(journal.head(), last.head());
    let v = verify(&dir, Some(&last.head())).unwrap();
    assert!(v.is_ok(), "{:?}", v.damage);
    assert_eq!(v.segments as usize, segs.len());

    // Removing a middle segment is a sequence gap at the next segment's header.
    drop(journal);
    fs::remove_file(&segs[2]).unwrap();
    let v = verify(&dir, None).unwrap();
    let d = v.first_damage().unwrap();
    assert_eq!(d.class, DamageClass::SequenceGap);
    assert_eq!(
        d.location.file,
        segs[3].file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(d.location.offset, 0);
    let err = Journal::open(&dir).unwrap_err();
    assert_eq!(err.damage().unwrap().class, DamageClass::SequenceGap);
}

#[test]
fn a_torn_tail_is_reported_by_verify_and_cut_off_by_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (mut journal, _) = Journal::open(&dir).unwrap();
    journal.append(&run_start("r1")).unwrap();
    let good = journal.append_durable(&run_start("r2")).unwrap();
    drop(journal);
    let seg = dir.join(&good.location.file);
    let full = fs::read(&seg).unwrap();
    let end = good.location.offset + good.frame_len;
    assert_eq!(full.len() as u64, end);
    // Simulate a crash in the middle of writing record 2 a second time (as record 3).
    let frame2 = &full[good.location.offset as usize..];
    let mut torn = full.clone();
    torn.extend_from_slice(&frame2[..frame2.len() / 2]);
    fs::write(&seg, &torn).unwrap();

    let v = verify(&dir, None).unwrap();
    let d = v.first_damage().unwrap();
    assert_eq!(d.class, DamageClass::TornTail);
    assert_eq!(d.seq, Some(3));
    assert_eq!(d.location.offset, end);
    assert!(d.class.is_repairable());
    assert_eq!(v.head, Some(good.head()));

    // The expected head says record 3 existed: that is not repairable.
    let v = verify(
        &dir,
        Some(&ChainHead {
            seq: 3,
            hash: Digest([1; 32]),
        }),
    )
    .unwrap();
    assert_eq!(v.first_damage().unwrap().class, DamageClass::Truncated);

    let (mut journal, report) = Journal::open(&dir).unwrap();
    let repair = report.torn_tail.clone().unwrap();
    assert_eq!(repair.location.offset, end);
    assert_eq!(repair.removed_bytes, (frame2.len() / 2) as u64);
    assert!(report.notes().iter().any(|n| n.contains("torn tail")));
    assert_eq!(fs::read(&seg).unwrap(), full);
    assert_eq!(journal.append(&run_start("r3")).unwrap().seq, 3);
    drop(journal);
    assert!(verify(&dir, None).unwrap().is_ok());
}

#[test]
fn a_zero_filled_tail_is_torn_but_a_damaged_last_frame_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (mut journal, _) = Journal::open(&dir).unwrap();
    let a = journal.append_durable(&run_start("r1")).unwrap();
    drop(journal);
    let seg = dir.join(&a.location.file);
    let full = fs::read(&seg).unwrap();

    let mut zeros = full.clone();
    zeros.extend_from_slice(&[0u8; 4096]);
    fs::write(&seg, &zeros).unwrap();
    assert_eq!(
        verify(&dir, None).unwrap().first_damage().unwrap().class,
        DamageClass::TornTail
    );
    let (_j, report) = Journal::open(&dir).unwrap();
    assert_eq!(report.torn_tail.unwrap().removed_bytes, 4096);
    drop(_j);

    // A flipped bit in the length field of the last frame must not pass for a torn tail.
    let mut bad = full.clone();
    bad[a.location.offset as usize + 14] ^= 0x80;
    fs::write(&seg, &bad).unwrap();
    let err = Journal::open(&dir).unwrap_err();
    let d = err.damage().unwrap();
    assert_eq!(d.class, DamageClass::BadFrame, "{d}");
    assert_eq!(d.location.offset, a.location.offset);
    assert_eq!(
        fs::read(&seg).unwrap(),
        bad,
        "open must not touch a damaged journal"
    );
}

#[test]
fn payloads_round_trip_every_value_type_and_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (mut journal, _) = Journal::open(&dir).unwrap();
    let values = all_kinds_of_values();
    let mut pw = journal.payload_writer(PayloadKind::RowImages).unwrap();
    pw.begin_table("job", &columns(values.len())).unwrap();
    // Enough rows to cross several worker chunks.
    for _ in 0..5000 {
        pw.row(RowRole::Before, &values).unwrap();
    }
    pw.row(RowRole::After, &values).unwrap();
    pw.json(r#"{"reason": "window expired"}"#).unwrap();
    let written = pw.len();
    let r = pw.finish().unwrap();
    assert_eq!(r.len, written);
    assert_eq!(r.kind, PayloadKind::RowImages);
    assert!(journal.payload_exists(&r.digest));
    let hex = r.digest.to_hex();
    let blob = dir
        .join("payloads")
        .join(&hex[..2])
        .join(format!("{hex}.hkp"));
    assert_eq!(mode(&blob), 0o600);
    assert_eq!(mode(blob.parent().unwrap()), 0o700);
    assert_eq!(fs::read_dir(dir.join("payloads/tmp")).unwrap().count(), 0);

    let mut reader = journal.read_payload(&r.digest).unwrap();
    assert_eq!(reader.kind(), Some(PayloadKind::RowImages));
    match reader.next().unwrap().unwrap() {
        PayloadEntry::Table { name, columns: c } => {
            assert_eq!(name, "job");
            assert_eq!(c, columns(values.len()));
        }
        other => panic!("{other:?}"),
    }
    let mut rows = 0;
    let mut last = None;
    for entry in reader {
        match entry.unwrap() {
            PayloadEntry::Row { role, values: v } => {
                rows += 1;
                // Debug formatting compares floats bit for bit (NaN, -0.0).
                assert_eq!(format!("{v:?}"), format!("{values:?}"));
                last = Some(role);
            }
            PayloadEntry::Json(doc) => assert_eq!(doc, r#"{"reason": "window expired"}"#),
            PayloadEntry::Table { .. } => panic!("one table only"),
        }
    }
    assert_eq!((rows, last), (5001, Some(RowRole::After)));

    journal
        .append_durable(&outcome("r1", 0, Some(r.clone())))
        .unwrap();
    let v = verify(&dir, None).unwrap();
    assert!(v.is_ok(), "{:?}", v.damage);
    assert_eq!(v.payloads_checked, 1);
    assert_eq!(v.payload_bytes, r.len);
}

#[test]
fn payload_writer_misuse_is_an_error_naming_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let (journal, _) = Journal::open(&tmp.path().join("j")).unwrap();
    let mut pw = journal.payload_writer(PayloadKind::RowImages).unwrap();
    let err = pw.row(RowRole::Deleted, &[Value::Int(1)]).unwrap_err();
    assert!(err.to_string().contains("before begin_table"), "{err}");
    pw.begin_table("schedule", &columns(2)).unwrap();
    let err = pw.row(RowRole::Deleted, &[Value::Int(1)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "payload writer misuse: row of 1 values for table schedule of 2 columns"
    );
    assert!(pw.begin_table("t", &[]).is_err());
}

#[test]
fn an_abandoned_payload_writer_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (journal, _) = Journal::open(&dir).unwrap();
    let mut pw = journal.payload_writer(PayloadKind::RowImages).unwrap();
    pw.begin_table("log", &columns(1)).unwrap();
    for i in 0..100_000 {
        pw.row(RowRole::Deleted, &[Value::Int(i)]).unwrap();
    }
    drop(pw);
    assert_eq!(fs::read_dir(dir.join("payloads/tmp")).unwrap().count(), 0);
    let blobs: Vec<_> = fs::read_dir(dir.join("payloads"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "tmp")
        .collect();
    assert!(blobs.is_empty());
}

#[test]
fn an_expired_payload_still_verifies_and_a_deleted_one_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (mut journal, _) = Journal::open(&dir).unwrap();
    journal.append_durable(&run_start("r1")).unwrap();
    let p1 = row_payload(&journal, 10);
    let p2 = row_payload(&journal, 10);
    assert_ne!(
        p1.digest, p2.digest,
        "identical rows still make distinct blobs"
    );
    journal
        .append_durable(&outcome("r1", 0, Some(p1.clone())))
        .unwrap();
    let o2 = journal
        .append_durable(&outcome("r1", 1, Some(p2.clone())))
        .unwrap();

    journal
        .expire_payload(&p1.digest, "r9", "undo_window")
        .unwrap();
    assert!(!journal.payload_exists(&p1.digest));
    let v = verify(&dir, None).unwrap();
    assert!(v.is_ok(), "{:?}", v.damage);
    assert_eq!((v.payloads_checked, v.payloads_expired), (1, 1));
    let err = journal
        .expire_payload(&p1.digest, "r9", "again")
        .unwrap_err();
    assert!(matches!(err, JournalError::PayloadNotFound { .. }));

    // Deleting a blob behind the journal's back is caught, at the record that names it.
    let hex = p2.digest.to_hex();
    fs::remove_file(dir.join(format!("payloads/{}/{hex}.hkp", &hex[..2]))).unwrap();
    let v = verify(&dir, None).unwrap();
    let d = v.first_damage().unwrap();
    assert_eq!(d.class, DamageClass::PayloadMissing);
    assert_eq!(d.seq, Some(o2.seq));
    assert_eq!(d.location, o2.location);
    assert_eq!(d.digest, Some(p2.digest));
    // Chain-only verification does not look at blobs.
    let v = verify_with(
        &dir,
        &VerifyOptions {
            expected_head: None,
            expected: Vec::new(),
            chain_only: true,
        },
    )
    .unwrap();
    assert!(v.is_ok());
}

#[test]
fn an_altered_payload_is_caught_at_the_record_that_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (mut journal, _) = Journal::open(&dir).unwrap();
    let p = row_payload(&journal, 100);
    let o = journal
        .append_durable(&outcome("r1", 0, Some(p.clone())))
        .unwrap();
    let hex = p.digest.to_hex();
    let blob = dir.join(format!("payloads/{}/{hex}.hkp", &hex[..2]));
    let mut bytes = fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 4;
    fs::write(&blob, &bytes).unwrap();
    let v = verify(&dir, None).unwrap();
    let d = v.first_damage().unwrap();
    assert_eq!(d.class, DamageClass::PayloadAltered);
    assert_eq!(d.seq, Some(o.seq));
    assert!(d.explanation.contains(&hex), "{}", d.explanation);
    // Reading it reports the damage instead of returning wrong rows silently.
    let results: Vec<_> = journal.read_payload(&p.digest).unwrap().collect();
    assert!(results.iter().any(Result::is_err));
}

#[test]
fn orphan_payloads_and_expired_leftovers_are_removed_and_referenced_ones_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (mut journal, _) = Journal::open(&dir).unwrap();
    let kept = row_payload(&journal, 3);
    let orphan = row_payload(&journal, 3);
    let expired = row_payload(&journal, 3);
    journal
        .append_durable(&outcome("r1", 0, Some(kept.clone())))
        .unwrap();
    journal
        .append_durable(&outcome("r1", 1, Some(expired.clone())))
        .unwrap();
    // A crash between the expiry record and the removal of the file.
    journal
        .append_durable(&Record::PayloadExpired {
            digest: expired.digest,
            run_id: "r2".into(),
            reason: "undo_window".into(),
        })
        .unwrap();
    // A partial blob from an interrupted write.
    fs::File::create(dir.join("payloads/tmp/0123.part"))
        .unwrap()
        .write_all(b"partial")
        .unwrap();
    drop(journal);

    let (mut journal, _) = Journal::open(&dir).unwrap();
    // Written after opening: never touched.
    let fresh = row_payload(&journal, 3);
    let mut removed = journal.remove_orphan_payloads().unwrap();
    removed.sort();
    let mut want = vec![orphan.digest, expired.digest];
    want.sort();
    assert_eq!(removed, want);
    assert!(journal.payload_exists(&kept.digest));
    assert!(journal.payload_exists(&fresh.digest));
    assert!(!journal.payload_exists(&orphan.digest));
    assert_eq!(fs::read_dir(dir.join("payloads/tmp")).unwrap().count(), 0);
    let v = verify(&dir, None).unwrap();
    assert!(v.is_ok(), "{:?}", v.damage);
}

#[test]
fn the_expected_head_catches_truncation_and_rewriting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (mut journal, _) = Journal::open(&dir).unwrap();
    let a = journal.append_durable(&run_start("r1")).unwrap();
    let b = journal.append_durable(&run_start("r2")).unwrap();
    drop(journal);
    // An anchored head that is not the newest record is fine.
    assert!(verify(&dir, Some(&a.head())).unwrap().is_ok());
    let wrong = ChainHead {
        seq: a.seq,
        hash: b.hash,
    };
    let d = verify(&dir, Some(&wrong)).unwrap().damage.remove(0);
    assert_eq!((d.class, d.seq), (DamageClass::Fork, Some(1)));
    assert_eq!(d.location, a.location);
    let beyond = ChainHead {
        seq: 7,
        hash: b.hash,
    };
    let v = verify(&dir, Some(&beyond)).unwrap();
    let d = v.first_damage().unwrap();
    assert_eq!(d.class, DamageClass::Truncated);
    assert_eq!(v.expected_head_found, Some(false));
    assert!(
        d.explanation.contains("ends at record 2"),
        "{}",
        d.explanation
    );
}

#[test]
fn missing_journals_are_reported_not_invented() {
    let tmp = tempfile::tempdir().unwrap();
    let err = verify(&tmp.path().join("none"), None).unwrap_err();
    assert!(matches!(err, JournalError::NoJournal { .. }));
    assert!(read_records(tmp.path()).is_err());

    // Blobs without segments: the records were lost; never start over silently.
    let dir = tmp.path().join("j");
    let (journal, _) = Journal::open(&dir).unwrap();
    row_payload(&journal, 1);
    drop(journal);
    for seg in segment_files(&dir) {
        fs::remove_file(seg).unwrap();
    }
    let err = Journal::open(&dir).unwrap_err();
    assert!(err.to_string().contains("records are lost"), "{err}");
}

fn open_checked(
    dir: &Path,
    expected: Vec<ChainHead>,
    checkpoint: Option<housekeeper_journal::store::Checkpoint>,
) -> Result<Journal, JournalError> {
    Journal::open_with(
        dir,
        JournalOptions {
            expected,
            checkpoint,
            ..JournalOptions::default()
        },
    )
    .map(|(j, _)| j)
}

fn damage_class(e: &JournalError) -> DamageClass {
    match e {
        JournalError::Damaged { damage, .. } => damage.class,
        other => panic!("expected damage, got {other}"),
    }
}

#[test]
fn a_checkpoint_with_its_witness_verifies_from_there_and_catches_a_rewritten_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let (mut j, _) = Journal::open(&dir).unwrap();
    for i in 0..5 {
        j.append_durable(&run_start(&format!("r{i}"))).unwrap();
    }
    let at = j.append_durable(&run_start("end")).unwrap();
    j.write_checkpoint(&at).unwrap();
    let after = j.append_durable(&run_start("later")).unwrap();
    drop(j);
    let cp = housekeeper_journal::store::read_checkpoint(&dir).expect("checkpoint written");
    assert_eq!(cp.head, at.head());
    assert_eq!(mode(&dir.join("CHECKPOINT")), 0o600);

    // From the checkpoint, with the later record anchored: the head is the newest record.
    let j = open_checked(&dir, vec![after.head()], Some(cp.clone())).unwrap();
    assert_eq!(j.head(), after.head());
    drop(j);

    // A witness with another hash for a record after the checkpoint: the history was rewritten.
    let forged = ChainHead {
        seq: after.seq,
        hash: Digest([7; 32]),
    };
    let e = open_checked(&dir, vec![forged], Some(cp.clone())).unwrap_err();
    assert_eq!(damage_class(&e), DamageClass::Fork, "{e}");

    // A checkpoint file pointing at another record's frame is refused.
    let mut moved = cp.clone();
    moved.offset = after.location.offset;
    let e = open_checked(&dir, vec![], Some(moved)).unwrap_err();
    assert_eq!(damage_class(&e), DamageClass::Truncated, "{e}");

    // A checkpoint claiming another hash for its record fails at that record.
    let mut wrong = cp;
    wrong.head.hash = Digest([9; 32]);
    let e = open_checked(&dir, vec![], Some(wrong)).unwrap_err();
    assert_eq!(damage_class(&e), DamageClass::Fork, "{e}");
}

#[test]
fn a_torn_tail_is_cut_only_after_the_last_anchored_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let (mut j, _) = Journal::open(&dir).unwrap();
    j.append_durable(&run_start("a")).unwrap();
    let b = j.append_durable(&run_start("b")).unwrap();
    drop(j);
    let seg = segment_files(&dir).pop().unwrap();
    let full = fs::read(&seg).unwrap();
    // Cut record b in half: a torn tail that holds an anchored record.
    let half = usize::try_from(b.location.offset + b.frame_len / 2).unwrap();
    fs::write(&seg, &full[..half]).unwrap();
    let e = open_checked(&dir, vec![b.head()], None).unwrap_err();
    assert_eq!(damage_class(&e), DamageClass::Truncated, "{e}");
    assert_eq!(fs::read(&seg).unwrap().len(), half, "nothing was cut");
    // Without the anchor the same tail is harmless and cut.
    let j = open_checked(&dir, vec![], None).unwrap();
    assert_eq!(j.head().seq, 1);
    drop(j);
    // A journal that ends before an anchored record (restored from an older backup).
    let e = open_checked(&dir, vec![b.head()], None).unwrap_err();
    assert_eq!(damage_class(&e), DamageClass::Truncated, "{e}");
    // A directory without segments while records are anchored is not replaced by a new one.
    let empty = tmp.path().join("empty");
    let e = open_checked(&empty, vec![b.head()], None).unwrap_err();
    assert!(matches!(e, JournalError::NoJournal { .. }), "{e}");
    assert!(segment_files(&empty).is_empty());
}

#[test]
fn a_json_document_streamed_into_a_payload_is_the_same_blob_as_one_written_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (journal, _) = Journal::open(&tmp.path().join("journal")).unwrap();
    // Larger than a payload chunk, so the streamed document is handed over in pieces.
    let document: Vec<serde_json::Value> = (0..40_000)
        .map(|i| serde_json::json!({ "item": i, "path": format!("/var/tmp/job-{i}/ž \"q\"") }))
        .collect();
    let whole = {
        let mut pw = journal.payload_writer(PayloadKind::Plan).unwrap();
        pw.json(&serde_json::to_string(&document).unwrap()).unwrap();
        pw.finish().unwrap()
    };
    let streamed = {
        let mut pw = journal.payload_writer(PayloadKind::Plan).unwrap();
        pw.json_of(&document).unwrap();
        pw.finish().unwrap()
    };
    assert!(streamed.len > 1_000_000, "{}", streamed.len);
    let entries = |r: &PayloadRef| -> Vec<String> {
        journal
            .read_payload(&r.digest)
            .unwrap()
            .map(|e| match e.unwrap() {
                PayloadEntry::Json(doc) => doc,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(entries(&streamed), entries(&whole));
    assert_eq!(
        entries(&streamed),
        [serde_json::to_string(&document).unwrap()]
    );
}

/// A journal of `months` segments, one run each (`run-1` …), every payload expired.
fn monthly_journal(dir: &Path, months: u32) {
    let (mut j, _) = Journal::open(dir).unwrap();
    for m in 1..=months {
        let run = format!("run-{m}");
        j.start_segment().unwrap();
        j.append(&run_start(&run)).unwrap();
        let mut w = j.payload_writer(PayloadKind::RowImages).unwrap();
        w.begin_table("log", &["id".into()]).unwrap();
        w.row(RowRole::Deleted, &[Value::Int(1)]).unwrap();
        let payload = w.finish().unwrap();
        j.append(&outcome(&run, 0, Some(payload.clone()))).unwrap();
        j.expire_payload(&payload.digest, &run, "undo window")
            .unwrap();
    }
    j.sync().unwrap();
}

#[test]
fn old_segments_fold_away_and_the_rest_still_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    monthly_journal(dir, 4);
    assert_eq!(segment_files(dir).len(), 4);
    let (mut j, _) = Journal::open(dir).unwrap();
    // Runs 1 and 2 may go; run 3 has to stay, and the newest segment always does.
    let old = |r: &Record| ["run-1", "run-2"].contains(&housekeeper_journal::store::run_of(r));
    let plan = j.plan_fold(&old).unwrap().expect("two segments may go");
    assert_eq!(
        (plan.segments.len(), plan.first_seq, plan.last.seq),
        (2, 1, 6)
    );
    let record = j.record_fold(&plan, "run-5").unwrap();
    j.remove_folded(&plan).unwrap();
    drop(j);
    assert_eq!(segment_files(dir).len(), 2);
    let report = verify(dir, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    let folded = report.folded.expect("the start is folded");
    assert_eq!((folded.before.seq, folded.record_seq), (6, record.seq));
    // Nothing more may go; the journal opens and goes on.
    let (mut j, opened) = Journal::open(dir).unwrap();
    assert_eq!(opened.folded.map(|f| f.record_seq), Some(record.seq));
    assert_eq!(j.plan_fold(&old).unwrap(), None);
    j.append(&run_start("run-6")).unwrap();
    drop(j);
    assert!(verify(dir, None).unwrap().is_ok());
    let first = read_records(dir).unwrap().next().unwrap().unwrap();
    assert_eq!(first.seq, 7, "reading starts after the folded records");
}

#[test]
fn a_fold_cut_short_still_verifies_and_removed_segments_without_a_fold_are_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cut");
    fs::create_dir(&dir).unwrap();
    monthly_journal(&dir, 4);
    let (mut j, _) = Journal::open(&dir).unwrap();
    let plan = j.plan_fold(&|_: &Record| true).unwrap().unwrap();
    assert_eq!(plan.segments.len(), 3, "every segment but the newest");
    j.record_fold(&plan, "run-5").unwrap();
    drop(j);
    // A crash after removing the first of the three files.
    fs::remove_file(dir.join(&plan.segments[0])).unwrap();
    let report = verify(&dir, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!(report.folded.map(|f| f.before.seq), Some(3));
    // The next fold finishes the job.
    let (mut j, _) = Journal::open(&dir).unwrap();
    let rest = j.plan_fold(&|_: &Record| true).unwrap().unwrap();
    assert_eq!(rest.segments, plan.segments[1..]);
    j.record_fold(&rest, "run-6").unwrap();
    j.remove_folded(&rest).unwrap();
    drop(j);
    assert!(verify(&dir, None).unwrap().is_ok());

    // Segments removed by hand, with no record saying so: the records are missing.
    let dir = tmp.path().join("removed");
    fs::create_dir(&dir).unwrap();
    monthly_journal(&dir, 3);
    fs::remove_file(segment_files(&dir).remove(0)).unwrap();
    let report = verify(&dir, None).unwrap();
    let d = report.first_damage().expect("damage");
    assert_eq!(d.class, DamageClass::SequenceGap, "{d}");
    assert!(d.explanation.contains("no segments_folded record"), "{d}");
    assert!(Journal::open(&dir).is_err(), "the writer refuses it too");
}

#[test]
fn a_fold_never_covers_segments_removed_by_someone_else() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    monthly_journal(dir, 4);
    let (mut j, _) = Journal::open(dir).unwrap();
    let a = j.append_durable(&run_start("run-9")).unwrap();
    j.write_checkpoint(&a).unwrap();
    drop(j);
    // The two oldest segments removed by hand; the writer, resuming at its anchored
    // checkpoint, does not read them…
    let files = segment_files(dir);
    fs::remove_file(&files[0]).unwrap();
    fs::remove_file(&files[1]).unwrap();
    let cp = housekeeper_journal::store::read_checkpoint(dir).unwrap();
    let options = JournalOptions {
        expected: vec![a.head()],
        checkpoint: Some(cp),
        ..JournalOptions::default()
    };
    let (j, opened) = Journal::open_with(dir, options).expect("the writer opens it");
    assert!(opened.folded.is_none());
    // …but a fold reads everything and refuses to cover the gap with a record of its own.
    let err = j.plan_fold(&|_: &Record| true).unwrap_err();
    assert_eq!(
        err.damage().map(|d| d.class),
        Some(DamageClass::SequenceGap),
        "{err}"
    );
    drop(j);
    assert!(!verify(dir, None).unwrap().is_ok());
}

#[test]
fn a_journal_goes_on_folding_month_after_month() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut j, _) = Journal::open(dir).unwrap();
    // Month 1's payload is expired by month 2's run: a record of run-1 in month 2's segment.
    j.append(&run_start("run-1")).unwrap();
    let mut w = j.payload_writer(PayloadKind::RowImages).unwrap();
    w.begin_table("log", &["id".into()]).unwrap();
    w.row(RowRole::Deleted, &[Value::Int(1)]).unwrap();
    let p = w.finish().unwrap();
    j.append(&outcome("run-1", 0, Some(p.clone()))).unwrap();
    for m in 2..=4 {
        j.start_segment().unwrap();
        j.append(&run_start(&format!("run-{m}"))).unwrap();
        if m == 2 {
            j.expire_payload(&p.digest, "run-1", "undo window").unwrap();
        }
    }
    let young = |young: &'static [&'static str]| {
        move |r: &Record| !young.contains(&housekeeper_journal::store::run_of(r))
    };
    let first = j
        .plan_fold(&young(&["run-2", "run-3", "run-4"]))
        .unwrap()
        .unwrap();
    assert_eq!(first.segments.len(), 1);
    j.record_fold(&first, "run-4").unwrap();
    j.remove_folded(&first).unwrap();
    // A month later run-2 is old too; run-1, whose start is gone, holds nothing back.
    let second = j.plan_fold(&young(&["run-3", "run-4"])).unwrap().unwrap();
    assert_eq!(second.segments.len(), 1);
    let vouched = second
        .vouched_by
        .expect("the first fold vouches for the start");
    assert_eq!(vouched.before.seq, first.last.seq);
    j.record_fold(&second, "run-5").unwrap();
    j.remove_folded(&second).unwrap();
    drop(j);
    let report = verify(dir, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!(report.folded.map(|f| f.before.seq), Some(second.last.seq));
}

#[test]
fn anchors_of_folded_records_are_not_expected_on_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    monthly_journal(dir, 4);
    let (mut j, _) = Journal::open(dir).unwrap();
    let first = read_records(dir).unwrap().next().unwrap().unwrap();
    let plan = j
        .plan_fold(&|r: &Record| housekeeper_journal::store::run_of(r) == "run-1")
        .unwrap()
        .unwrap();
    let fold = j.record_fold(&plan, "run-5").unwrap();
    j.remove_folded(&plan).unwrap();
    drop(j);
    let stale = ChainHead {
        seq: first.seq,
        hash: first.hash,
    };
    let options = VerifyOptions {
        expected_head: Some(fold.head()),
        expected: vec![stale, fold.head()],
        chain_only: false,
    };
    let report = verify_with(dir, &options).unwrap();
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!(report.expected_head_found, Some(true));
    let folded = report.folded.unwrap();
    assert_eq!(
        (folded.record_seq, folded.record_hash),
        (fold.seq, fold.hash)
    );
}
