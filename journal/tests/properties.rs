//! Property tests: every record and value round-trips through the canonical encoding, any single
//! flipped bit in a journal or a blob is detected, and the decoders never panic on arbitrary
//! bytes (the same entry point as the cargo-fuzz target in `journal/fuzz/`). More cases:
//! `PROPTEST_CASES=20000 cargo test --release -p housekeeper-journal --test properties`.

use housekeeper_journal::cbor::{diagnostic, Decoder, Encoder};
use housekeeper_journal::chain::{genesis, JournalId};
use housekeeper_journal::codec::{decode_record, encode_record, value_from, value_to};
use housekeeper_journal::frame::{build_frame, segment_file_name, SegmentHeader, FORMAT_VERSION};
use housekeeper_journal::fuzzing::decode_any;
use housekeeper_journal::payload::{
    check_blob, encode_blob, encode_header, encode_row, encode_table, BlobEntries, PayloadHeader,
    RowRole,
};
use housekeeper_journal::scan::scan_single_segment;
use housekeeper_journal::{
    Action, ChunkStatus, DamageClass, DateTimeValue, Digest, Drift, FileMeta, FileStatus,
    ItemSummary, KeySet, PathBytes, PayloadEntry, PayloadKind, PayloadRef, Record, RunKind,
    TableChange, TimeValue, Value,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
    ]
}

/// Paths: text, and arbitrary bytes (mostly not UTF-8).
fn path() -> impl Strategy<Value = PathBytes> {
    prop_oneof![
        text().prop_map(PathBytes::from),
        vec(any::<u8>(), 0..40).prop_map(PathBytes::from_bytes),
    ]
}

fn digest() -> impl Strategy<Value = Digest> {
    any::<[u8; 32]>().prop_map(Digest)
}

fn datetime() -> impl Strategy<Value = DateTimeValue> {
    (
        any::<u16>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(
            |(year, month, day, hour, minute, second, micros)| DateTimeValue {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            },
        )
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        prop_oneof![any::<u64>(), 0u64..64].prop_map(|b| Value::Float(f64::from_bits(b))),
        "-?[0-9]{1,20}(\\.[0-9]{1,10})?".prop_map(Value::Decimal),
        text().prop_map(Value::Text),
        vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        datetime().prop_map(Value::DateTime),
        datetime().prop_map(Value::Date),
        (
            any::<bool>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>()
        )
            .prop_map(
                |(negative, hours, minute, second, micros)| Value::Time(TimeValue {
                    negative,
                    hours,
                    minute,
                    second,
                    micros,
                })
            ),
        text().prop_map(Value::Json),
    ]
}

fn payload_ref() -> impl Strategy<Value = PayloadRef> {
    (
        digest(),
        any::<u64>(),
        prop_oneof![
            Just(PayloadKind::Plan),
            Just(PayloadKind::RowImages),
            Just(PayloadKind::Details),
        ],
    )
        .prop_map(|(digest, len, kind)| PayloadRef { digest, len, kind })
}

fn keyset() -> impl Strategy<Value = KeySet> {
    prop_oneof![
        vec((any::<i64>(), any::<i64>()), 0..5).prop_map(KeySet::Ranges),
        vec(value(), 0..5).prop_map(KeySet::Values),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Delete),
        Just(Action::Update),
        Just(Action::Insert),
        Just(Action::QuarantineFile),
        Just(Action::RestoreFile),
    ]
}

fn item() -> impl Strategy<Value = ItemSummary> {
    (
        any::<u32>(),
        action(),
        option::of(text()),
        vec(text(), 0..3),
        keyset(),
        vec(text(), 0..3),
        vec(text(), 0..3),
        option::of(path()),
        text(),
        // `null` is how `None` is written: a policy key is never the null value.
        option::of(value().prop_filter("a key is not null", |v| *v != Value::Null)),
    )
        .prop_map(
            |(
                item,
                action,
                table,
                key_columns,
                keys,
                columns,
                dependents,
                path,
                reason,
                policy,
            )| {
                ItemSummary {
                    item,
                    action,
                    table,
                    key_columns,
                    keys,
                    columns,
                    dependents,
                    path,
                    reason,
                    policy,
                }
            },
        )
}

fn file_meta() -> impl Strategy<Value = FileMeta> {
    (
        (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>()),
        (any::<i128>(), any::<i128>(), any::<u64>(), any::<u64>()),
        option::of(digest()),
        option::of(path()),
    )
        .prop_map(
            |((size, mode, uid, gid), (mtime_ns, atime_ns, dev, inode), blake3, link_target)| {
                FileMeta {
                    size,
                    mode,
                    uid,
                    gid,
                    mtime_ns,
                    atime_ns,
                    dev,
                    inode,
                    blake3,
                    link_target,
                }
            },
        )
}

#[allow(clippy::too_many_lines)] // one strategy per record kind
fn record() -> impl Strategy<Value = Record> {
    let run_kind = prop_oneof![
        Just(RunKind::Run),
        Just(RunKind::Maintenance),
        digest().prop_map(|plan_digest| RunKind::Apply { plan_digest }),
        text().prop_map(|of_run| RunKind::Undo { of_run }),
    ];
    let file_status = prop_oneof![
        Just(FileStatus::Moved),
        text().prop_map(|reason| FileStatus::Skipped { reason }),
        text().prop_map(|error| FileStatus::Failed { error }),
    ];
    prop_oneof![
        (
            (text(), run_kind, text(), datetime()),
            (text(), text(), text(), text(), vec(text(), 0..4)),
        )
            .prop_map(
                |(
                    (run_id, kind, started_utc, now),
                    (host, user, tool_version, database, duties),
                )| {
                    Record::RunStart {
                        run_id,
                        kind,
                        started_utc,
                        now,
                        host,
                        user,
                        tool_version,
                        database,
                        duties,
                    }
                }
            ),
        (text(), text(), payload_ref(), vec(item(), 0..4)).prop_map(
            |(run_id, duty, payload, items)| Record::Plan {
                run_id,
                duty,
                payload,
                items,
            }
        ),
        (
            (
                text(),
                text(),
                any::<u32>(),
                vec((any::<u32>(), any::<u32>()), 0..4)
            ),
            (
                prop_oneof![Just(ChunkStatus::Committed), Just(ChunkStatus::Aborted)],
                vec(
                    (text(), action(), keyset()).prop_map(|(table, action, keys)| {
                        TableChange {
                            table,
                            action,
                            keys,
                        }
                    }),
                    0..3
                ),
                vec(
                    (any::<u32>(), text(), value(), text()).prop_map(
                        |(item, table, key, reason)| Drift {
                            item,
                            table,
                            key,
                            reason,
                        }
                    ),
                    0..3
                ),
            ),
            (
                option::of(payload_ref()),
                option::of(text()),
                option::of(payload_ref())
            ),
        )
            .prop_map(
                |(
                    (run_id, duty, chunk, items),
                    (status, changes, drifted),
                    (payload, error, error_payload),
                )| Record::ChunkOutcome {
                    run_id,
                    duty,
                    chunk,
                    items,
                    status,
                    changes,
                    drifted,
                    payload,
                    error,
                    error_payload,
                }
            ),
        (text(), text(), any::<u32>(), path(), path(), file_meta()).prop_map(
            |(run_id, duty, item, path, quarantine_path, meta)| Record::FileIntent {
                run_id,
                duty,
                item,
                path,
                quarantine_path,
                meta,
            }
        ),
        (text(), text(), any::<u32>(), file_status).prop_map(|(run_id, duty, item, status)| {
            Record::FileOutcome {
                run_id,
                duty,
                item,
                status,
            }
        }),
        (
            (text(), text(), text()),
            (
                any::<u64>(),
                any::<u32>(),
                any::<u32>(),
                option::of(payload_ref())
            )
        )
            .prop_map(
                |((run_id, duty, status), (affected, errors, findings, details))| {
                    Record::DutyEnd {
                        run_id,
                        duty,
                        status,
                        affected,
                        errors,
                        findings,
                        details,
                    }
                }
            ),
        (text(), text(), text(), option::of(payload_ref())).prop_map(
            |(run_id, status, ended_utc, details)| Record::RunEnd {
                run_id,
                status,
                ended_utc,
                details,
            }
        ),
        (
            text(),
            text(),
            option::of(any::<u32>()),
            option::of(any::<u32>()),
            text(),
            text()
        )
            .prop_map(|(run_id, duty, chunk, file_item, resolution, by_run)| {
                Record::Recovery {
                    run_id,
                    duty,
                    chunk,
                    file_item,
                    resolution,
                    by_run,
                }
            }),
        (text(), any::<u64>(), any::<u64>(), digest(), any::<u32>()).prop_map(
            |(run_id, first_seq, last_seq, last_hash, segments)| Record::SegmentsFolded {
                run_id,
                first_seq,
                last_seq,
                last_hash,
                segments,
            }
        ),
        (digest(), text(), text()).prop_map(|(digest, run_id, reason)| {
            Record::PayloadExpired {
                digest,
                run_id,
                reason,
            }
        }),
        (text(), path(), option::of(digest())).prop_map(|(run_id, path, blake3)| {
            Record::QuarantineExpired {
                run_id,
                path,
                blake3,
            }
        }),
    ]
}

/// A one-segment journal holding `records`.
fn segment_bytes(records: &[Record]) -> Vec<u8> {
    let id = JournalId([7; 16]);
    let mut prev = genesis(&id);
    let mut bytes = SegmentHeader {
        version: FORMAT_VERSION,
        journal_id: id,
        first_seq: 1,
        prev_hash: prev,
    }
    .to_bytes()
    .to_vec();
    let mut compressor = zstd::bulk::Compressor::new(3).unwrap();
    for (i, r) in records.iter().enumerate() {
        let f = build_frame(&mut compressor, i as u64 + 1, &prev, &encode_record(r)).unwrap();
        prev = f.hash;
        bytes.extend_from_slice(&f.bytes);
    }
    bytes
}

proptest! {

    #[test]
    fn values_round_trip_bit_exact(v in value()) {
        let mut e = Encoder::new();
        value_to(&mut e, &v);
        let back = value_from(&mut Decoder::new(e.buf.as_slice())).unwrap();
        // Debug output distinguishes NaN payloads and -0.0, unlike `==` on floats.
        prop_assert_eq!(format!("{back:?}"), format!("{v:?}"));
        let mut again = Encoder::new();
        value_to(&mut again, &back);
        prop_assert_eq!(again.buf, e.buf);
    }

    #[test]
    fn records_round_trip_and_the_encoding_is_canonical(r in record()) {
        let bytes = encode_record(&r);
        let back = decode_record(&bytes).unwrap();
        prop_assert_eq!(format!("{back:?}"), format!("{r:?}"));
        prop_assert_eq!(encode_record(&back), bytes.clone());
        // Every map is in canonical key order, every item inside the profile.
        prop_assert!(diagnostic(&bytes).is_ok());
    }

    #[test]
    fn any_single_flipped_bit_in_a_segment_is_detected(
        records in vec(record(), 1..5),
        pick in any::<prop::sample::Index>(),
    ) {
        let name = segment_file_name(1);
        let bytes = segment_bytes(&records);
        let (good, damage) = scan_single_segment(&name, &bytes, None);
        prop_assert!(damage.is_none());
        prop_assert_eq!(good.len(), records.len());

        let bit = pick.index(bytes.len() * 8);
        let mut bad = bytes.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let (_, damage) = scan_single_segment(&name, &bad, None);
        let d = damage.expect("flip undetected");
        // A flipped bit is never mistaken for a repairable torn tail.
        prop_assert_ne!(d.class, DamageClass::TornTail);
    }

    #[test]
    fn any_single_flipped_bit_in_a_blob_is_detected(
        rows in vec(vec(value(), 3), 1..20),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut e = Encoder::new();
        encode_header(&mut e, &PayloadHeader { kind: PayloadKind::RowImages, nonce: [1; 16] });
        encode_table(&mut e, "t", &["a".into(), "b".into(), "c".into()]);
        for r in &rows {
            encode_row(&mut e, RowRole::Deleted, r);
        }
        let (blob, digest) = encode_blob(&e.buf).unwrap();
        let reference = PayloadRef { digest, len: e.buf.len() as u64, kind: PayloadKind::RowImages };
        prop_assert!(check_blob(blob.as_slice(), &reference).is_ok());
        let entries: Vec<PayloadEntry> = BlobEntries::open(blob.as_slice(), digest)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(entries.len(), rows.len() + 1);

        let bit = pick.index(blob.len() * 8);
        let mut bad = blob.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(check_blob(bad.as_slice(), &reference).is_err());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(data in vec(any::<u8>(), 0..2048)) {
        decode_any(&data);
    }

    #[test]
    fn decoders_never_panic_on_mutated_journals(
        records in vec(record(), 1..4),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = segment_bytes(&records);
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep);
        decode_any(&bytes);
        // The record bodies themselves, mutated.
        let mut body = encode_record(&records[0]);
        let i = cut.index(body.len());
        body[i] = body[i].wrapping_add(1);
        decode_any(&body);
    }
}
