//! The anchor rows in `housekeeper_anchor`: written in the same transaction as each chunk's
//! changes, they prove to a later start (and to `journal verify`) which chunks committed and
//! what the journal looked like when they did. They are keyed by the journal's own identity:
//! the id its chain starts from, written in every segment header.

use std::path::Path;

use housekeeper_journal::{ChainHead, Digest, Value};

use crate::db::{Connection, DbResult, Query, WriteTx};
use crate::state::StateDir;

pub const TABLE: &str = "housekeeper_anchor";

/// The `duty` of the anchor of a `segments_folded` record. These anchors vouch for where a
/// folded journal starts: pruning the anchors of old runs keeps them.
pub const FOLD_DUTY: &str = "segments_folded";

/// Whether `anchors` hold the anchor of the fold record `f` (same record, same hash).
#[must_use]
pub fn vouches_for_fold(anchors: &[Anchor], f: &housekeeper_journal::Folded) -> bool {
    let hash = f.record_hash.to_hex();
    anchors
        .iter()
        .any(|a| a.duty == FOLD_DUTY && a.record_seq == f.record_seq && a.record_hash == hash)
}

/// Whose anchors to read: the journal's identity (its chain id) and, until the state
/// directory is migrated by the next run, the id older versions kept in
/// `STATE_DIR/journal-id` and keyed their anchors by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalKey {
    /// The chain id of the journal in the state directory; `None` before its first record.
    pub chain: Option<String>,
    /// `STATE_DIR/journal-id` of an older version, read until the anchors are re-keyed.
    pub legacy: Option<String>,
}

impl JournalKey {
    /// The key of the journal in `state`, read without opening (or creating) anything.
    #[must_use]
    pub fn of(state: &StateDir) -> JournalKey {
        JournalKey {
            chain: chain_id(&state.journal_dir()),
            legacy: state.legacy_journal_id(),
        }
    }

    /// The key of a journal whose chain id is known (an open journal).
    #[must_use]
    pub fn chain(id: &str) -> JournalKey {
        JournalKey {
            chain: Some(id.to_owned()),
            legacy: None,
        }
    }

    fn ids(&self) -> Vec<Value> {
        let mut ids: Vec<Value> = self.chain.iter().map(|c| Value::Text(c.clone())).collect();
        ids.extend(self.legacy.iter().map(|l| Value::Text(l.clone())));
        ids
    }
}

impl std::fmt::Display for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.chain, &self.legacy) {
            (Some(chain), _) => f.write_str(chain),
            (None, Some(legacy)) => f.write_str(legacy),
            (None, None) => f.write_str("(none yet)"),
        }
    }
}

/// The chain id of the journal in `dir`, from its first segment's header; `None` when there
/// is no journal (or its first segment cannot be read: opening it will say why).
#[must_use]
pub fn chain_id(dir: &Path) -> Option<String> {
    let mut records = housekeeper_journal::read_records(dir).ok()?;
    let _ = records.next();
    records.journal_id().map(|id| id.to_hex())
}

/// Re-keys the anchors an older version keyed by `STATE_DIR/journal-id` to the journal's
/// chain id, in one transaction. Returns how many rows moved.
///
/// # Errors
/// The statement failed (nothing moved).
pub fn adopt(conn: &mut dyn Connection, legacy: &str, chain: &str) -> DbResult<u64> {
    let mut tx = conn.begin()?;
    let d = *tx.dialect();
    let sql = format!(
        "UPDATE {} SET {} = ? WHERE {} = ?",
        d.quote(TABLE),
        d.quote("journal_id"),
        d.quote("journal_id")
    );
    let moved = tx.execute(
        &sql,
        &[
            Value::Text(chain.to_owned()),
            Value::Text(legacy.to_owned()),
        ],
    )?;
    tx.commit()?;
    Ok(moved)
}

/// `journal_id IN (…)` for `key`, and its parameters; `None` when the key is empty.
fn key_filter(d: crate::db::Dialect, key: &JournalKey) -> Option<(String, Vec<Value>)> {
    let ids = key.ids();
    if ids.is_empty() {
        return None;
    }
    let sql = format!(
        "{} IN ({})",
        d.quote("journal_id"),
        d.placeholders(ids.len())
    );
    Some((sql, ids))
}

/// One anchor row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub run_id: String,
    pub duty: String,
    pub chunk: u32,
    pub record_seq: u64,
    pub record_hash: String,
    pub payload_digest: Option<Digest>,
    pub payload_len: Option<u64>,
}

/// Creates the table if it is missing (outside any transaction: MySQL commits DDL).
///
/// # Errors
/// The statement failed.
pub fn ensure_table(conn: &mut dyn Connection) -> DbResult<()> {
    let ddl = conn.dialect().anchor_table_ddl();
    conn.execute_ddl(ddl)
}

/// Inserts the anchor of one chunk (or of a run's end, with `chunk` = 0 and duty `*`).
///
/// # Errors
/// The insert failed (the chunk's transaction must then roll back).
pub fn insert(tx: &mut dyn WriteTx, journal_id: &str, anchor: &Anchor) -> DbResult<()> {
    let d = *tx.dialect();
    let cols = [
        "journal_id",
        "run_id",
        "duty",
        "chunk",
        "record_seq",
        "record_hash",
        "payload_digest",
        "payload_len",
    ]
    .map(|c| d.quote(c))
    .join(", ");
    let sql = format!(
        "INSERT INTO {} ({cols}) VALUES ({})",
        d.quote(TABLE),
        d.placeholders(8)
    );
    tx.execute(
        &sql,
        &[
            Value::Text(journal_id.to_owned()),
            Value::Text(anchor.run_id.clone()),
            Value::Text(anchor.duty.clone()),
            Value::Int(i64::from(anchor.chunk)),
            Value::Int(i64::try_from(anchor.record_seq).unwrap_or(i64::MAX)),
            Value::Text(anchor.record_hash.clone()),
            anchor
                .payload_digest
                .map_or(Value::Null, |d| Value::Text(d.to_hex())),
            anchor.payload_len.map_or(Value::Null, |n| {
                Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }),
        ],
    )?;
    Ok(())
}

/// Anchors one record that is not a chunk's — a run's end (duty `*`, with the digest and
/// length of the stored journal index as its payload), a journal reset — in a transaction of
/// its own.
///
/// # Errors
/// The insert or the commit failed: the record is not anchored.
pub fn record(
    conn: &mut dyn Connection,
    journal_id: &str,
    run_id: &str,
    duty: &str,
    at: ChainHead,
    payload: Option<(Digest, u64)>,
) -> DbResult<()> {
    let mut tx = conn.begin()?;
    insert(
        &mut *tx,
        journal_id,
        &Anchor {
            run_id: run_id.to_owned(),
            duty: duty.to_owned(),
            chunk: 0,
            record_seq: at.seq,
            record_hash: at.hash.to_hex(),
            payload_digest: payload.map(|(digest, _)| digest),
            payload_len: payload.map(|(_, len)| len),
        },
    )?;
    tx.commit()
}

fn read(q: &mut dyn Query, where_sql: &str, params: &[Value]) -> DbResult<Vec<Anchor>> {
    let d = *q.dialect();
    let cols = [
        "run_id",
        "duty",
        "chunk",
        "record_seq",
        "record_hash",
        "payload_digest",
        "payload_len",
    ]
    .map(|c| d.quote(c))
    .join(", ");
    let sql = format!(
        "SELECT {cols} FROM {} WHERE {where_sql} ORDER BY {}, {}, {}",
        d.quote(TABLE),
        d.quote("record_seq"),
        d.quote("duty"),
        d.quote("chunk")
    );
    let rows = q.query(&sql, params)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| Anchor {
            run_id: text(&r[0]),
            duty: text(&r[1]),
            chunk: r[2]
                .as_i64()
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0),
            record_seq: r[3]
                .as_i64()
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0),
            record_hash: text(&r[4]).trim().to_owned(),
            payload_digest: r[5].as_str().and_then(|s| Digest::from_hex(s.trim())),
            payload_len: r[6].as_i64().and_then(|v| u64::try_from(v).ok()),
        })
        .collect())
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// The anchors of one run of this journal.
///
/// # Errors
/// The query failed.
pub fn for_run(q: &mut dyn Query, key: &JournalKey, run_id: &str) -> DbResult<Vec<Anchor>> {
    let d = *q.dialect();
    let Some((filter, mut params)) = key_filter(d, key) else {
        return Ok(Vec::new());
    };
    params.push(Value::Text(run_id.to_owned()));
    read(
        q,
        &format!("{filter} AND {} = ?", d.quote("run_id")),
        &params,
    )
}

/// This journal's anchors of records from `from_seq` on, in record order.
///
/// # Errors
/// The query failed.
pub fn since(q: &mut dyn Query, key: &JournalKey, from_seq: u64) -> DbResult<Vec<Anchor>> {
    let d = *q.dialect();
    let Some((filter, mut params)) = key_filter(d, key) else {
        return Ok(Vec::new());
    };
    params.push(Value::Int(i64::try_from(from_seq).unwrap_or(i64::MAX)));
    read(
        q,
        &format!("{filter} AND {} >= ?", d.quote("record_seq")),
        &params,
    )
}

/// The anchor with the highest journal sequence number of this journal, if any.
///
/// # Errors
/// The query failed.
pub fn latest(q: &mut dyn Query, key: &JournalKey) -> DbResult<Option<Anchor>> {
    let all = since(q, key, 0)?;
    Ok(all.into_iter().max_by_key(|a| a.record_seq))
}

/// Deletes this journal's anchors of the given runs (pruned with the undo window), except fold
/// anchors (`FOLD_DUTY`).
///
/// # Errors
/// The statement failed.
pub fn prune(tx: &mut dyn WriteTx, key: &JournalKey, run_ids: &[String]) -> DbResult<u64> {
    let d = *tx.dialect();
    let Some((filter, mut params)) = key_filter(d, key) else {
        return Ok(0);
    };
    if run_ids.is_empty() {
        return Ok(0);
    }
    params.extend(run_ids.iter().map(|r| Value::Text(r.clone())));
    params.push(Value::Text(FOLD_DUTY.to_owned()));
    let sql = format!(
        "DELETE FROM {} WHERE {filter} AND {} IN ({}) AND {} <> ?",
        d.quote(TABLE),
        d.quote("run_id"),
        d.placeholders(run_ids.len()),
        d.quote("duty")
    );
    tx.execute(&sql, &params)
}

/// Deletes this journal's anchors of records up to `seq` (folded away: a fold's anchor
/// vouches for them now).
///
/// # Errors
/// The statement failed.
pub fn drop_through(tx: &mut dyn WriteTx, key: &JournalKey, seq: u64) -> DbResult<u64> {
    let d = *tx.dialect();
    let Some((filter, mut params)) = key_filter(d, key) else {
        return Ok(0);
    };
    params.push(Value::Int(i64::try_from(seq).unwrap_or(i64::MAX)));
    let sql = format!(
        "DELETE FROM {} WHERE {filter} AND {} <= ?",
        d.quote(TABLE),
        d.quote("record_seq")
    );
    tx.execute(&sql, &params)
}
