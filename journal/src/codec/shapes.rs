//! The layout of every record kind and every structure inside a record (FORMAT.md §8): one
//! field list per type, in canonical key order, from which `derive` generates both directions.
//!
//! Owns which fields each record kind has and under which names and forms they are written. It
//! must never hand-write a direction of a shape the macros can generate: the one hand-written
//! shape, `KeySet`, is a map of one key to a list, a form no other type has.

use std::io::Read;

use super::Canonical;
use crate::cbor::{DecodeError, Decoder, Encoder, Head};
use crate::record::{
    Action, ChunkStatus, Drift, FileMeta, FileStatus, ItemSummary, KeySet, PayloadKind, PayloadRef,
    Record, RunKind, TableChange,
};

canonical_records!(Record {
    RunStart = "run_start" {
        now, host, kind, user, duties, run_id, database, started_utc, tool_version,
    },
    Plan = "plan" { duty, items, run_id, payload },
    ChunkOutcome = "chunk_outcome" {
        duty, chunk, error, items, run_id, status, changes, drifted, payload, error_payload,
    },
    FileIntent = "file_intent" { duty, item, meta, path, run_id, quarantine_path },
    FileOutcome = "file_outcome" { duty, item, run_id, status },
    DutyEnd = "duty_end" { duty, errors, run_id, status, details, affected, findings },
    RunEnd = "run_end" { run_id, status, details, ended_utc },
    Recovery = "recovery" { duty, chunk, by_run, run_id, file_item, resolution },
    PayloadExpired = "payload_expired" { digest, reason, run_id },
    QuarantineExpired = "quarantine_expired" { path, blake3, run_id },
    JournalReset = "journal_reset" {
        host, user, at_utc, damage, reason, run_id, last_seq, last_hash, set_aside, previous_id,
    },
    SegmentsFolded = "segments_folded" { run_id, last_seq, segments, first_seq, last_hash },
});

/// The `plan` record of [`Record::Plan`]'s field list, its summaries encoded one at a time as
/// `items` yields them, so a plan of many items is never in memory twice (as items and as
/// summaries). The same bytes as `encode_record` of the record with those summaries (tested).
///
/// # Panics
/// When `items` does not yield exactly `count` summaries.
pub fn encode_plan_record(
    (run_id, duty): (&str, &str),
    payload: &PayloadRef,
    count: usize,
    items: &mut dyn Iterator<Item = ItemSummary>,
) -> Vec<u8> {
    let mut e = Encoder::new();
    e.map(1);
    e.key("plan");
    e.map(keys_of("plan").len());
    e.key("duty");
    duty.to_owned().encode(&mut e);
    e.key("items");
    e.array(count);
    let mut n = 0;
    for item in items {
        item.encode(&mut e);
        n += 1;
    }
    assert_eq!(
        n, count,
        "a plan record's summaries are counted before they are encoded"
    );
    e.key("run_id");
    run_id.to_owned().encode(&mut e);
    e.key("payload");
    payload.encode(&mut e);
    e.buf
}

canonical_map!(ItemSummary {
    item,
    keys,
    path,
    table,
    action,
    policy since 2,
    reason,
    columns,
    dependents,
    key_columns,
});

canonical_map!(TableChange {
    keys,
    table,
    action
});

canonical_map!(Drift {
    key,
    item,
    table,
    reason
});

canonical_map!(FileMeta {
    dev,
    gid,
    uid,
    mode,
    size,
    inode,
    blake3,
    atime_ns,
    mtime_ns,
    link_target,
});

canonical_map!(
    PayloadRef { len, kind, digest }
    count_error = "a payload reference is a map of 3 keys (len, kind, digest)"
);

canonical_names!(PayloadKind, "payload kind" {
    Plan = "plan",
    RowImages = "row_images",
    Details = "details",
});

canonical_names!(Action, "action" {
    Delete = "delete",
    Update = "update",
    Insert = "insert",
    QuarantineFile = "quarantine_file",
    RestoreFile = "restore_file",
});

canonical_names!(ChunkStatus, "chunk status" {
    Committed = "committed",
    Aborted = "aborted",
});

canonical_variants!(RunKind, "run kind" {
    Run = "run",
    Maintenance = "maintenance",
    Apply = "apply" { plan_digest },
    Undo = "undo" { of_run },
});

canonical_variants!(FileStatus, "file status" {
    Moved = "moved",
    Skipped = "skipped" { reason },
    Failed = "failed" { error },
});

/// Keys of rows: `{"ranges": [[lo, hi], …]}` or `{"values": [value, …]}`.
impl Canonical for KeySet {
    fn encode(&self, e: &mut Encoder) {
        e.map(1);
        match self {
            KeySet::Ranges(ranges) => {
                e.key("ranges");
                ranges.encode(e);
            }
            KeySet::Values(values) => {
                e.key("values");
                values.encode(e);
            }
        }
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        if d.map_from(h)? != 1 {
            return Err(d.error("a key set is a map of 1 key (ranges or values)"));
        }
        let key = d.text()?;
        match key.as_str() {
            "ranges" => Ok(KeySet::Ranges(Canonical::decode(d)?)),
            "values" => Ok(KeySet::Values(Canonical::decode(d)?)),
            _ => Err(d.error(format!("unknown key set form {key:?}"))),
        }
    }
}
