//! The content of the golden journals under `tests/vectors/v1/`: one fixed journal id, fixed
//! payload nonces and the records of two runs, built only from the crate's pure modules so the
//! bytes do not depend on the clock or on random numbers. Shared by the generator
//! (`examples/golden.rs`) and the tests that read the committed files (`tests/vectors.rs`).

#![allow(dead_code)] // each includer uses a different part

use housekeeper_journal::cbor::Encoder;
use housekeeper_journal::chain::{genesis, JournalId};
use housekeeper_journal::frame::{build_frame, SegmentHeader, FORMAT_VERSION};
use housekeeper_journal::payload::{
    encode_blob, encode_header, encode_json, encode_row, encode_table, PayloadHeader, RowRole,
};
use housekeeper_journal::{
    Action, ChunkStatus, DateTimeValue, Digest, Drift, FileMeta, FileStatus, ItemSummary, KeySet,
    PayloadKind, PayloadRef, Record, RunKind, TableChange, TimeValue, Value,
};

pub const JOURNAL_ID: JournalId = JournalId([
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
]);
/// The journal a foreign frame is taken from (`frame-inserted`).
pub const OTHER_JOURNAL_ID: JournalId = JournalId([0x42; 16]);

pub const RUN1: &str = "20240131T235958Z-a1b2c3";
pub const RUN2: &str = "20240201T010000Z-d4e5f6";

/// A payload blob: the reference the records carry and the file bytes.
#[derive(Debug, Clone)]
pub struct Blob {
    pub reference: PayloadRef,
    pub bytes: Vec<u8>,
}

fn blob(kind: PayloadKind, nonce: u8, fill: impl FnOnce(&mut Encoder)) -> Blob {
    let mut e = Encoder::new();
    encode_header(
        &mut e,
        &PayloadHeader {
            kind,
            nonce: [nonce; 16],
        },
    );
    fill(&mut e);
    let (bytes, digest) = encode_blob(&e.buf).expect("in-memory blob");
    Blob {
        reference: PayloadRef {
            digest,
            len: e.buf.len() as u64,
            kind,
        },
        bytes,
    }
}

pub fn job_columns() -> Vec<String> {
    [
        "id",
        "runtemplate_id",
        "exitcode",
        "pid",
        "price",
        "command",
        "stdout",
        "begin",
        "end",
        "schedule",
        "duration",
        "env",
        "executor",
        "active",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// One row with a value of every type, including a MySQL zero date and an impossible date.
pub fn job_row() -> Vec<Value> {
    vec![
        Value::Int(4711),
        Value::UInt(18_446_744_073_709_551_615),
        Value::Null,
        Value::Int(-1),
        Value::Decimal("-12.50".into()),
        Value::Text("php /usr/lib/multiflexi/app.php".into()),
        Value::Bytes(vec![0x00, 0xff, 0x1b]),
        Value::DateTime(DateTimeValue {
            micros: 500_000,
            ..DateTimeValue::ymd_hms(2024, 1, 31, 23, 59, 58)
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
        Value::Json(r#"{"EASE_LOGGER":"syslog"}"#.into()),
        Value::Float(1.5),
        Value::Bool(true),
    ]
}

pub fn plan_blob() -> Blob {
    blob(PayloadKind::Plan, 1, |e| {
        encode_json(
            e,
            r#"{"duty":"OrphanedJobCleanup","items":[{"item":0,"reason":"runtemplate 9 is missing"}]}"#,
        );
    })
}

pub fn rows_blob() -> Blob {
    blob(PayloadKind::RowImages, 2, |e| {
        encode_table(e, "schedule", &["id".into(), "job".into(), "after".into()]);
        encode_row(
            e,
            RowRole::Deleted,
            &[
                Value::Int(7),
                Value::Int(4711),
                Value::DateTime(DateTimeValue::ymd_hms(2024, 1, 1, 0, 0, 0)),
            ],
        );
        encode_table(e, "job", &job_columns());
        encode_row(e, RowRole::Deleted, &job_row());
        encode_table(e, "runtemplate", &["id".into(), "next_schedule".into()]);
        encode_row(
            e,
            RowRole::Before,
            &[
                Value::Int(9),
                Value::DateTime(DateTimeValue::ymd_hms(2024, 1, 30, 8, 0, 0)),
            ],
        );
        encode_row(e, RowRole::After, &[Value::Int(9), Value::Null]);
    })
}

pub fn details_blob() -> Blob {
    blob(PayloadKind::Details, 3, |e| {
        encode_json(e, r#"{"summary":"1 job deleted, 1 file quarantined"}"#);
    })
}

/// The records of the `good` journal, in order (seq 1 first).
pub fn good_records() -> Vec<Record> {
    let plan = plan_blob().reference;
    let rows = rows_blob().reference;
    let details = details_blob().reference;
    vec![
        Record::RunStart {
            run_id: RUN1.into(),
            kind: RunKind::Run,
            started_utc: "2024-01-31T23:59:58Z".into(),
            now: DateTimeValue::ymd_hms(2024, 2, 1, 0, 59, 58),
            host: "web1".into(),
            user: "multiflexi".into(),
            tool_version: "2.0.0".into(),
            database: "mysql://db.example:3306/multiflexi".into(),
            duties: vec!["OrphanedJobCleanup".into(), "DiskTempFileCleanup".into()],
        },
        Record::Plan {
            run_id: RUN1.into(),
            duty: "OrphanedJobCleanup".into(),
            payload: plan,
            items: vec![ItemSummary {
                item: 0,
                action: Action::Delete,
                table: Some("job".into()),
                key_columns: vec!["id".into()],
                keys: KeySet::Ranges(vec![(4711, 4711)]),
                columns: vec![],
                dependents: vec!["schedule".into()],
                path: None,
                reason: "orphaned_runtemplate".into(),
                policy: None,
            }],
        },
        Record::ChunkOutcome {
            run_id: RUN1.into(),
            duty: "OrphanedJobCleanup".into(),
            chunk: 0,
            items: vec![(0, 0)],
            status: ChunkStatus::Committed,
            changes: vec![
                TableChange {
                    table: "schedule".into(),
                    action: Action::Delete,
                    keys: KeySet::Ranges(vec![(7, 7)]),
                },
                TableChange {
                    table: "job".into(),
                    action: Action::Delete,
                    keys: KeySet::Ranges(vec![(4711, 4711)]),
                },
                TableChange {
                    table: "user_sessions".into(),
                    action: Action::Update,
                    keys: KeySet::Values(vec![Value::Text("a1b2".into())]),
                },
            ],
            drifted: vec![Drift {
                item: 1,
                table: "job".into(),
                key: Value::UInt(4712),
                reason: "gone".into(),
            }],
            payload: Some(rows),
            error: None,
            error_payload: None,
        },
        Record::FileIntent {
            run_id: RUN1.into(),
            duty: "DiskTempFileCleanup".into(),
            item: 0,
            path: "/var/lib/multiflexi/tmp/report.pdf".into(),
            quarantine_path: format!("quarantine/{RUN1}/report.pdf").into(),
            meta: FileMeta {
                size: 1234,
                mode: 0o100_640,
                uid: 33,
                gid: 33,
                mtime_ns: 1_706_745_598_000_000_001,
                atime_ns: -1,
                dev: 2049,
                inode: 131_072,
                blake3: Some(Digest([0xab; 32])),
                link_target: None,
            },
        },
        Record::FileOutcome {
            run_id: RUN1.into(),
            duty: "DiskTempFileCleanup".into(),
            item: 0,
            status: FileStatus::Moved,
        },
        Record::DutyEnd {
            run_id: RUN1.into(),
            duty: "OrphanedJobCleanup".into(),
            status: "ok".into(),
            affected: 1,
            errors: 0,
            findings: 0,
            details: None,
        },
        Record::RunEnd {
            run_id: RUN1.into(),
            status: "ok".into(),
            ended_utc: "2024-02-01T00:00:01Z".into(),
            details: Some(details),
        },
        Record::RunStart {
            run_id: RUN2.into(),
            kind: RunKind::Undo {
                of_run: RUN1.into(),
            },
            started_utc: "2024-02-01T01:00:00Z".into(),
            now: DateTimeValue::ymd_hms(2024, 2, 1, 2, 0, 0),
            host: "web1".into(),
            user: "root".into(),
            tool_version: "2.0.0".into(),
            database: "mysql://db.example:3306/multiflexi".into(),
            duties: vec![],
        },
        Record::Recovery {
            run_id: RUN1.into(),
            duty: "DiskTempFileCleanup".into(),
            chunk: None,
            file_item: Some(0),
            resolution: "moved".into(),
            by_run: RUN2.into(),
        },
        Record::QuarantineExpired {
            run_id: RUN1.into(),
            path: format!("quarantine/{RUN1}/report.pdf").into(),
            blake3: Some(Digest([0xab; 32])),
        },
        Record::RunEnd {
            run_id: RUN2.into(),
            status: "failed".into(),
            ended_utc: "2024-02-01T01:00:02Z".into(),
            details: None,
        },
    ]
}

/// The record `good-expired` appends.
pub fn expiry_record() -> Record {
    Record::PayloadExpired {
        digest: rows_blob().reference.digest,
        run_id: RUN2.into(),
        reason: "undo_window".into(),
    }
}

/// One built frame: where it starts in its segment, its bytes and its chain hash.
#[derive(Debug, Clone)]
pub struct Frame {
    pub seq: u64,
    pub bytes: Vec<u8>,
    pub hash: Digest,
}

/// Frames for `records` chained from genesis of `id`.
pub fn frames(id: &JournalId, records: &[Record]) -> Vec<Frame> {
    let mut compressor = zstd::bulk::Compressor::new(3).expect("zstd");
    let mut prev = genesis(id);
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let seq = i as u64 + 1;
        let body = housekeeper_journal::codec::encode_record(r);
        let f = build_frame(&mut compressor, seq, &prev, &body).expect("frame");
        prev = f.hash;
        out.push(Frame {
            seq,
            bytes: f.bytes,
            hash: f.hash,
        });
    }
    out
}

/// A segment header continuing after `frames[..first-1]` (or genesis).
pub fn segment_header(id: &JournalId, first_seq: u64, frames: &[Frame]) -> Vec<u8> {
    let prev = if first_seq == 1 {
        genesis(id)
    } else {
        frames[(first_seq - 2) as usize].hash
    };
    SegmentHeader {
        version: FORMAT_VERSION,
        journal_id: *id,
        first_seq,
        prev_hash: prev,
    }
    .to_bytes()
    .to_vec()
}
