//! The anchor rows in `housekeeper_anchor`: written in the same transaction as each chunk's
//! changes, they prove to a later start (and to `journal verify`) which chunks committed and
//! what the journal looked like when they did.

use housekeeper_journal::{Digest, Value};

use crate::db::{Connection, DbResult, Query, WriteTx};

pub const TABLE: &str = "housekeeper_anchor";

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
pub fn for_run(q: &mut dyn Query, journal_id: &str, run_id: &str) -> DbResult<Vec<Anchor>> {
    let d = *q.dialect();
    read(
        q,
        &format!(
            "{} = ? AND {} = ?",
            d.quote("journal_id"),
            d.quote("run_id")
        ),
        &[
            Value::Text(journal_id.to_owned()),
            Value::Text(run_id.to_owned()),
        ],
    )
}

/// This journal's anchors of records from `from_seq` on, in record order.
///
/// # Errors
/// The query failed.
pub fn since(q: &mut dyn Query, journal_id: &str, from_seq: u64) -> DbResult<Vec<Anchor>> {
    let d = *q.dialect();
    read(
        q,
        &format!(
            "{} = ? AND {} >= ?",
            d.quote("journal_id"),
            d.quote("record_seq")
        ),
        &[
            Value::Text(journal_id.to_owned()),
            Value::Int(i64::try_from(from_seq).unwrap_or(i64::MAX)),
        ],
    )
}

/// The anchor with the highest journal sequence number of this journal, if any.
///
/// # Errors
/// The query failed.
pub fn latest(q: &mut dyn Query, journal_id: &str) -> DbResult<Option<Anchor>> {
    let d = *q.dialect();
    let all = read(
        q,
        &format!("{} = ?", d.quote("journal_id")),
        &[Value::Text(journal_id.to_owned())],
    )?;
    Ok(all.into_iter().max_by_key(|a| a.record_seq))
}

/// Deletes this journal's anchors of the given runs (pruned with the undo window).
///
/// # Errors
/// The statement failed.
pub fn prune(tx: &mut dyn WriteTx, journal_id: &str, run_ids: &[String]) -> DbResult<u64> {
    if run_ids.is_empty() {
        return Ok(0);
    }
    let d = *tx.dialect();
    let mut params = vec![Value::Text(journal_id.to_owned())];
    params.extend(run_ids.iter().map(|r| Value::Text(r.clone())));
    let sql = format!(
        "DELETE FROM {} WHERE {} = ? AND {} IN ({})",
        d.quote(TABLE),
        d.quote("journal_id"),
        d.quote("run_id"),
        d.placeholders(run_ids.len())
    );
    tx.execute(&sql, &params)
}
