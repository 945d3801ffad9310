//! The codec's own tests: key order, typed values, strictness, and a round trip of every
//! record kind and every variant inside a record.

use super::derive::{in_canonical_order, FieldMap};
use super::*;
use crate::cbor::{diagnostic, Encoder};
use crate::record::{
    Action, ChunkStatus, Drift, FileMeta, FileStatus, ItemSummary, KeySet, PayloadKind, RunKind,
    TableChange,
};
use crate::value::TimeValue;

fn canonical_order(keys: &[&str]) -> bool {
    let enc: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| {
            let mut e = Encoder::new();
            e.text(k);
            e.buf
        })
        .collect();
    enc.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn every_key_list_is_in_canonical_order() {
    for (kind, keys) in RECORD_KEYS {
        assert!(canonical_order(keys), "{kind}: {keys:?}");
    }
    for keys in [
        ItemSummary::KEYS,
        TableChange::KEYS,
        Drift::KEYS,
        FileMeta::KEYS,
        PayloadRef::KEYS,
    ] {
        assert!(canonical_order(keys), "{keys:?}");
    }
}

#[test]
fn values_keep_their_type() {
    let values = [
        Value::Null,
        Value::Bool(true),
        Value::Int(-5),
        Value::UInt(5),
        Value::Float(-0.0),
        Value::Float(f64::from_bits(20)),
        Value::Float(f64::from_bits(22)),
        Value::Decimal("-12.50".into()),
        Value::Text("5".into()),
        Value::Bytes(vec![5]),
        Value::DateTime(DateTimeValue::ymd_hms(0, 0, 0, 0, 0, 0)),
        Value::Date(DateTimeValue::date(2023, 2, 30)),
        Value::Time(TimeValue {
            negative: true,
            hours: 838,
            minute: 59,
            second: 59,
            micros: 1,
        }),
        Value::Json("{\"a\": 1}".into()),
    ];
    for v in values {
        let mut e = Encoder::new();
        value_to(&mut e, &v);
        let back = value_from(&mut Decoder::new(e.buf.as_slice())).unwrap();
        // Compare bit patterns so -0.0 and NaN count.
        assert_eq!(format!("{back:?}"), format!("{v:?}"));
        assert_eq!(back.kind(), v.kind());
    }
}

#[test]
fn the_documented_value_examples_decode() {
    let mut e = Encoder::new();
    value_to(
        &mut e,
        &Value::DateTime(DateTimeValue {
            micros: 500_000,
            ..DateTimeValue::ymd_hms(2024, 1, 31, 23, 59, 58)
        }),
    );
    assert_eq!(
        diagnostic(&e.buf).unwrap(),
        r#"{"datetime": [2024, 1, 31, 23, 59, 58, 500000]}"#
    );
}

#[test]
fn unknown_and_misordered_keys_are_rejected() {
    let good = encode_record(&Record::PayloadExpired {
        digest: Digest([7; 32]),
        run_id: "r".into(),
        reason: "x".into(),
    });
    assert!(decode_record(&good).is_ok());
    // Swap "reason" for "reasom": same length, unknown key.
    let mut bad = good.clone();
    let at = bad.windows(6).position(|w| w == b"reason").unwrap();
    bad[at + 5] = b'm';
    let err = decode_record(&bad).unwrap_err();
    assert!(err.message.contains("expected key \"reason\""), "{err}");
    // Trailing bytes.
    let mut long = good;
    long.push(0);
    assert!(decode_record(&long).is_err());
}

#[test]
fn paths_are_text_when_utf8_and_bytes_otherwise() {
    let record = |path: PathBytes| Record::QuarantineExpired {
        run_id: "r".into(),
        path,
        blake3: None,
    };
    let utf8 = encode_record(&record(PathBytes::from("/tmp/a.csv")));
    assert!(diagnostic(&utf8)
        .unwrap()
        .contains(r#""path": "/tmp/a.csv""#));
    let raw = PathBytes::from_bytes(b"/tmp/r\xe9sultat-\xff.csv".to_vec());
    let bytes = encode_record(&record(raw.clone()));
    assert!(
        diagnostic(&bytes)
            .unwrap()
            .contains(r#""path": h'2f746d702f72e9"#),
        "{}",
        diagnostic(&bytes).unwrap()
    );
    assert_eq!(decode_record(&bytes).unwrap(), record(raw));
    // A byte string holding valid UTF-8 is not canonical: the text form is the only one.
    let mut e = Encoder::new();
    e.map(1);
    e.key("quarantine_expired");
    e.map(3);
    e.key("path");
    e.bytes(b"/tmp/a.csv");
    e.key("blake3");
    e.null();
    e.key("run_id");
    e.text("r");
    let err = decode_record(&e.buf).unwrap_err();
    assert!(err.message.contains("must be a text string"), "{err}");
}

#[test]
fn the_compile_time_key_order_check_agrees_with_the_encoding() {
    let lists: Vec<&[&str]> = vec![
        &["a", "b"],
        &["b", "a"],
        &["z", "aa"],
        &["aa", "z"],
        &["run_id", "status"],
        &["status", "run_id"],
        &["item", "item"],
        &["kind", "kinds", "kind_"],
    ];
    for keys in lists {
        assert_eq!(in_canonical_order(keys), canonical_order(keys), "{keys:?}");
    }
}

/// Records of runs, plans and chunks, with every run kind, action and chunk status.
fn run_records() -> Vec<Record> {
    let digest = Digest([9; 32]);
    let payload = PayloadRef {
        digest,
        len: 1 << 40,
        kind: PayloadKind::Plan,
    };
    let details = PayloadRef {
        kind: PayloadKind::Details,
        ..payload.clone()
    };
    let now = DateTimeValue {
        micros: 999_999,
        ..DateTimeValue::ymd_hms(2024, 2, 29, 23, 59, 58)
    };
    let run_start = |kind| Record::RunStart {
        run_id: "20240229T235958Z-a1b2c3".into(),
        kind,
        started_utc: "2024-02-29T23:59:58Z".into(),
        now,
        host: "host".into(),
        user: "multiflexi".into(),
        tool_version: "2.0.0".into(),
        database: "mysql://db/multiflexi".into(),
        duties: vec!["prune_logs".into(), "tmp_files".into()],
    };
    let item = |action, path: Option<PathBytes>| ItemSummary {
        item: u32::MAX,
        action,
        table: path.is_none().then(|| "job".to_owned()),
        key_columns: vec!["id".into()],
        keys: KeySet::Ranges(vec![(i64::MIN, -1), (0, i64::MAX)]),
        columns: vec!["status".into(), "end".into()],
        dependents: vec!["schedule".into()],
        path,
        reason: "window_expired".into(),
        policy: Some(Value::Int(7)),
    };
    vec![
        run_start(RunKind::Run),
        run_start(RunKind::Maintenance),
        run_start(RunKind::Apply {
            plan_digest: digest,
        }),
        run_start(RunKind::Undo {
            of_run: "20240101T000000Z-000000".into(),
        }),
        Record::Plan {
            run_id: "r".into(),
            duty: "prune_logs".into(),
            payload: payload.clone(),
            items: vec![
                item(Action::Delete, None),
                item(Action::Update, None),
                item(Action::Insert, None),
                item(Action::QuarantineFile, Some(PathBytes::from("/tmp/a.csv"))),
                item(
                    Action::RestoreFile,
                    Some(PathBytes::from_bytes(b"/tmp/\xff".to_vec())),
                ),
            ],
        },
        Record::ChunkOutcome {
            run_id: "r".into(),
            duty: "prune_logs".into(),
            chunk: 7,
            items: vec![(0, 4), (6, u32::MAX)],
            status: ChunkStatus::Committed,
            changes: vec![TableChange {
                table: "log".into(),
                action: Action::Delete,
                keys: KeySet::Values(vec![Value::Text("k".into()), Value::UInt(u64::MAX)]),
            }],
            drifted: vec![Drift {
                item: 2,
                table: "job".into(),
                key: Value::Int(-5),
                reason: "gone".into(),
            }],
            payload: Some(PayloadRef {
                kind: PayloadKind::RowImages,
                ..payload.clone()
            }),
            error: None,
            error_payload: None,
        },
        Record::ChunkOutcome {
            run_id: "r".into(),
            duty: "prune_logs".into(),
            chunk: 8,
            items: Vec::new(),
            status: ChunkStatus::Aborted,
            changes: Vec::new(),
            drifted: Vec::new(),
            payload: None,
            error: Some("lock_timeout".into()),
            error_payload: Some(details.clone()),
        },
    ]
}

/// Records of files, ends, recovery, expiry and reset, with every file status.
fn closing_records() -> Vec<Record> {
    let digest = Digest([9; 32]);
    let details = PayloadRef {
        digest,
        len: 1 << 40,
        kind: PayloadKind::Details,
    };
    let file_outcome = |status| Record::FileOutcome {
        run_id: "r".into(),
        duty: "tmp_files".into(),
        item: 3,
        status,
    };
    vec![
        Record::FileIntent {
            run_id: "r".into(),
            duty: "tmp_files".into(),
            item: 0,
            path: PathBytes::from("/tmp/a.csv"),
            quarantine_path: PathBytes::from_bytes(b"q/\xe9".to_vec()),
            meta: FileMeta {
                size: 12,
                mode: 0o100_600,
                uid: 1000,
                gid: 1000,
                mtime_ns: i128::MIN,
                atime_ns: i128::from(u64::MAX) + 1,
                dev: 2049,
                inode: 1 << 33,
                blake3: Some(digest),
                link_target: None,
            },
        },
        Record::FileIntent {
            run_id: "r".into(),
            duty: "tmp_files".into(),
            item: 1,
            path: PathBytes::from("/tmp/link"),
            quarantine_path: PathBytes::from("q/link"),
            meta: FileMeta {
                size: 0,
                mode: 0o120_777,
                uid: 0,
                gid: 0,
                mtime_ns: -1,
                atime_ns: 0,
                dev: 0,
                inode: 0,
                blake3: None,
                link_target: Some(PathBytes::from("target")),
            },
        },
        file_outcome(FileStatus::Moved),
        file_outcome(FileStatus::Skipped {
            reason: "vanished".into(),
        }),
        file_outcome(FileStatus::Failed {
            error: "permission denied".into(),
        }),
        Record::DutyEnd {
            run_id: "r".into(),
            duty: "prune_logs".into(),
            status: "ok".into(),
            affected: u64::MAX,
            errors: 0,
            findings: 1,
            details: Some(details.clone()),
        },
        Record::RunEnd {
            run_id: "r".into(),
            status: "failed".into(),
            ended_utc: "2024-03-01T00:00:01Z".into(),
            details: None,
        },
        Record::Recovery {
            run_id: "r".into(),
            duty: "prune_logs".into(),
            chunk: Some(3),
            file_item: None,
            resolution: "committed".into(),
            by_run: "r2".into(),
        },
        Record::PayloadExpired {
            digest,
            run_id: "r".into(),
            reason: "undo_window".into(),
        },
        Record::QuarantineExpired {
            run_id: "r".into(),
            path: PathBytes::from("q/a.csv"),
            blake3: Some(digest),
        },
        Record::JournalReset {
            run_id: "r".into(),
            previous_id: "00112233445566778899aabbccddeeff".into(),
            last_seq: 41,
            last_hash: digest,
            damage: "bad_frame".into(),
            set_aside: "journal.damaged-1".into(),
            reason: "disk replaced".into(),
            at_utc: "2024-03-01T00:00:00Z".into(),
            host: "host".into(),
            user: "root".into(),
        },
        Record::SegmentsFolded {
            run_id: "r".into(),
            first_seq: 1,
            last_seq: 41,
            last_hash: digest,
            segments: 2,
        },
    ]
}

fn every_record_kind() -> Vec<Record> {
    [run_records(), closing_records()].concat()
}

#[test]
fn every_record_kind_and_variant_round_trips_canonically() {
    let records = every_record_kind();
    for (kind, _) in RECORD_KEYS {
        assert!(
            records.iter().any(|r| record_kind_name(r) == kind),
            "no {kind} record in the round trip"
        );
    }
    for r in records {
        let bytes = encode_record(&r);
        let back = decode_record(&bytes).unwrap_or_else(|e| panic!("{r:?}: {e}"));
        assert_eq!(back, r);
        assert_eq!(encode_record(&back), bytes);
        let text = diagnostic(&bytes).unwrap();
        assert!(
            text.starts_with(&format!("{{\"{}\": {{", record_kind_name(&r))),
            "{text}"
        );
    }
}

#[test]
fn enums_are_names_or_one_key_maps() {
    let bytes = encode_record(&Record::FileOutcome {
        run_id: "r".into(),
        duty: "d".into(),
        item: 1,
        status: FileStatus::Skipped {
            reason: "changed".into(),
        },
    });
    assert_eq!(
        diagnostic(&bytes).unwrap(),
        r#"{"file_outcome": {"duty": "d", "item": 1, "run_id": "r", "status": {"skipped": {"reason": "changed"}}}}"#
    );
    let unit = encode_record(&Record::FileOutcome {
        run_id: "r".into(),
        duty: "d".into(),
        item: 1,
        status: FileStatus::Moved,
    });
    assert!(diagnostic(&unit).unwrap().contains(r#""status": "moved""#));
    // A unit variant written as a map, and a struct variant written as a name, are refused.
    let mut e = Encoder::new();
    e.map(1);
    e.key("file_outcome");
    e.map(4);
    e.key("duty");
    e.text("d");
    e.key("item");
    e.uint(1);
    e.key("run_id");
    e.text("r");
    e.key("status");
    let prefix = e.buf;
    for (status, message) in [
        (&b"\xa1\x65moved\xa0"[..], "\"moved\" takes no fields"),
        (&b"\x67skipped"[..], "\"skipped\" needs its fields"),
        (&b"\x64gone"[..], "unknown file status \"gone\""),
    ] {
        let mut bad = prefix.clone();
        bad.extend_from_slice(status);
        let err = decode_record(&bad).unwrap_err();
        assert!(err.message.contains(message), "{err}");
    }
}

#[test]
fn times_and_dates_are_arrays_of_their_fields() {
    let mut e = Encoder::new();
    value_to(
        &mut e,
        &Value::Time(TimeValue {
            negative: true,
            hours: 838,
            minute: 59,
            second: 58,
            micros: 7,
        }),
    );
    assert_eq!(
        diagnostic(&e.buf).unwrap(),
        r#"{"time": [true, 838, 59, 58, 7]}"#
    );
    let mut e = Encoder::new();
    datetime_to(&mut e, &DateTimeValue::date(2023, 2, 30));
    assert_eq!(
        datetime_from(&mut Decoder::new(e.buf.as_slice())).unwrap(),
        DateTimeValue::date(2023, 2, 30)
    );
}

#[test]
fn an_item_summary_has_its_policy_from_version_2_on() {
    let item = ItemSummary {
        item: 0,
        action: Action::Delete,
        table: Some("log".into()),
        key_columns: vec!["id".into()],
        keys: KeySet::Ranges(vec![(1, 2)]),
        columns: vec![],
        dependents: vec![],
        path: None,
        reason: "retention_hard_delete".into(),
        policy: Some(Value::Int(3)),
    };
    let mut e = Encoder::new();
    item.encode(&mut e);
    let v2 = e.buf;
    assert!(diagnostic(&v2).unwrap().contains(r#""policy": 3"#));
    let read = |bytes: &[u8], version| {
        ItemSummary::decode(&mut crate::cbor::Decoder::new(bytes).in_format_version(version))
    };
    assert_eq!(read(&v2, 2).unwrap(), item);
    let err = read(&v2, 1).unwrap_err();
    assert!(
        err.message.contains("in format version 1, found 10"),
        "{err}"
    );
    // The same item as version 1 wrote it: no policy key, read back without a policy.
    let v1 = ItemSummary {
        policy: None,
        ..item
    };
    let mut e = Encoder::new();
    v1.encode(&mut e);
    let mut v1_bytes = e.buf;
    let at = v1_bytes
        .windows(7)
        .position(|w| w == b"\x66policy")
        .unwrap();
    v1_bytes.drain(at..at + 8); // the key and its null
    v1_bytes[0] -= 1; // a map of 9 keys, not 10
    assert_eq!(read(&v1_bytes, 1).unwrap(), v1);
    assert!(read(&v1_bytes, 2).is_err());
}

#[test]
fn a_fold_record_is_not_in_format_version_1() {
    let fold = Record::SegmentsFolded {
        run_id: "r".into(),
        first_seq: 1,
        last_seq: 9,
        last_hash: Digest([1; 32]),
        segments: 1,
    };
    let bytes = encode_record(&fold);
    assert_eq!(decode_record_of_version(&bytes, 2).unwrap(), fold);
    let err = decode_record_of_version(&bytes, 1).unwrap_err();
    assert!(err.message.contains("not in format version 1"), "{err}");
}

#[test]
fn a_plan_record_streamed_is_the_plan_record() {
    let plans = run_records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Plan {
                run_id,
                duty,
                payload,
                items,
            } => Some((run_id, duty, payload, items)),
            _ => None,
        })
        .collect::<Vec<_>>();
    let (run_id, duty, payload, items) = plans.into_iter().next().expect("a plan record");
    // Every width of the list's head: empty, one byte, two, three and five bytes long.
    for n in [0, 1, 23, 24, 255, 256, 65_535, 65_536] {
        let summaries: Vec<ItemSummary> = items.iter().cycle().take(n).cloned().collect();
        let streamed = encode_plan_record(
            (&run_id, &duty),
            &payload,
            n,
            &mut summaries.iter().cloned(),
        );
        let record = Record::Plan {
            run_id: run_id.clone(),
            duty: duty.clone(),
            payload: payload.clone(),
            items: summaries,
        };
        assert_eq!(streamed, encode_record(&record), "{n} summaries");
    }
}
