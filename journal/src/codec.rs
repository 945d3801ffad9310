//! Canonical encoding of typed values (FORMAT.md §7) and records (§8), both directions.
//!
//! Owns the mapping between the Rust types of `value` and `record` and their CBOR form. Encoding
//! is infallible and deterministic; decoding is strict (exact key sets in canonical order, ranges
//! checked) so that one record has exactly one encoding. Pure: no I/O beyond the `Read` it is
//! given, no knowledge of frames, files or hashes.

use std::io::Read;

use crate::cbor::{
    DecodeError, Decoder, Encoder, Head, MAJOR_BYTES, MAJOR_FLOAT, MAJOR_MAP, MAJOR_SIMPLE,
    MAJOR_TEXT,
};
use crate::record::{
    Action, ChunkStatus, Digest, Drift, FileMeta, FileStatus, ItemSummary, KeySet, PathBytes,
    PayloadKind, PayloadRef, Record, RunKind, TableChange,
};
use crate::value::{DateTimeValue, TimeValue, Value};

/// Encodes one record canonically.
#[must_use]
pub fn encode_record(record: &Record) -> Vec<u8> {
    let mut e = Encoder::new();
    record_to(&mut e, record);
    e.buf
}

/// Decodes exactly one canonical record from `bytes` (nothing may follow it).
pub fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut d = Decoder::new(bytes);
    let r = record_from(&mut d)?;
    d.expect_end()?;
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Values

pub fn value_to(e: &mut Encoder, v: &Value) {
    match v {
        Value::Null => e.null(),
        Value::Bool(b) => e.bool(*b),
        Value::Int(i) => e.int(*i),
        Value::UInt(u) => {
            e.map(1);
            e.key("uint");
            e.uint(*u);
        }
        Value::Float(f) => e.f64(*f),
        Value::Decimal(s) => {
            e.map(1);
            e.key("decimal");
            e.text(s);
        }
        Value::Text(s) => e.text(s),
        Value::Bytes(b) => e.bytes(b),
        Value::DateTime(d) => {
            e.map(1);
            e.key("datetime");
            datetime_to(e, d);
        }
        Value::Date(d) => {
            e.map(1);
            e.key("date");
            datetime_to(e, d);
        }
        Value::Time(t) => {
            e.map(1);
            e.key("time");
            e.array(5);
            e.bool(t.negative);
            e.uint(u64::from(t.hours));
            e.uint(u64::from(t.minute));
            e.uint(u64::from(t.second));
            e.uint(u64::from(t.micros));
        }
        Value::Json(s) => {
            e.map(1);
            e.key("json");
            e.text(s);
        }
    }
}

pub fn value_from<R: Read>(d: &mut Decoder<R>) -> Result<Value, DecodeError> {
    let h = d.head()?;
    value_from_head(d, h)
}

pub fn value_from_head<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Value, DecodeError> {
    Ok(match h.major {
        MAJOR_SIMPLE => match h.arg {
            20 => Value::Bool(false),
            21 => Value::Bool(true),
            _ => Value::Null,
        },
        MAJOR_FLOAT => Value::Float(d.f64_from(h)?),
        crate::cbor::MAJOR_UINT | crate::cbor::MAJOR_NEGINT => Value::Int(d.int_from(h)?),
        MAJOR_TEXT => Value::Text(d.text_from(h)?),
        crate::cbor::MAJOR_BYTES => Value::Bytes(d.bytes_from(h)?),
        MAJOR_MAP => {
            if h.arg != 1 {
                return Err(d.error(format!("a typed value is a map of 1 key, found {}", h.arg)));
            }
            let kh = d.head()?;
            if kh.major != MAJOR_TEXT || kh.arg > 16 {
                return Err(d.error("a typed value's key must be a short text string"));
            }
            let key = d.text_from(kh)?;
            match key.as_str() {
                "uint" => Value::UInt(d.uint()?),
                "decimal" => Value::Decimal(d.text()?),
                "datetime" => Value::DateTime(datetime_from(d)?),
                "date" => Value::Date(datetime_from(d)?),
                "time" => {
                    d.array_exact(5)?;
                    Value::Time(TimeValue {
                        negative: d.bool()?,
                        hours: d.u32()?,
                        minute: d.u8()?,
                        second: d.u8()?,
                        micros: d.u32()?,
                    })
                }
                "json" => Value::Json(d.text()?),
                other => return Err(d.error(format!("unknown value type {other:?}"))),
            }
        }
        _ => return Err(d.error("not a value (arrays and tags are not values)")),
    })
}

pub fn datetime_to(e: &mut Encoder, d: &DateTimeValue) {
    e.array(7);
    e.uint(u64::from(d.year));
    e.uint(u64::from(d.month));
    e.uint(u64::from(d.day));
    e.uint(u64::from(d.hour));
    e.uint(u64::from(d.minute));
    e.uint(u64::from(d.second));
    e.uint(u64::from(d.micros));
}

pub fn datetime_from<R: Read>(d: &mut Decoder<R>) -> Result<DateTimeValue, DecodeError> {
    d.array_exact(7)?;
    Ok(DateTimeValue {
        year: d.u16()?,
        month: d.u8()?,
        day: d.u8()?,
        hour: d.u8()?,
        minute: d.u8()?,
        second: d.u8()?,
        micros: d.u32()?,
    })
}

// ---------------------------------------------------------------------------------------------
// Small shapes

fn digest_to(e: &mut Encoder, d: &Digest) {
    e.bytes(&d.0);
}

fn digest_from<R: Read>(d: &mut Decoder<R>) -> Result<Digest, DecodeError> {
    Ok(Digest(d.fixed_bytes::<32>()?))
}

fn opt_digest_to(e: &mut Encoder, d: Option<&Digest>) {
    match d {
        Some(d) => digest_to(e, d),
        None => e.null(),
    }
}

fn opt_digest_from<R: Read>(d: &mut Decoder<R>) -> Result<Option<Digest>, DecodeError> {
    match d.nullable()? {
        None => Ok(None),
        Some(h) => Ok(Some(Digest(d.fixed_bytes_from::<32>(h)?))),
    }
}

fn opt_text_to(e: &mut Encoder, s: Option<&str>) {
    match s {
        Some(s) => e.text(s),
        None => e.null(),
    }
}

fn opt_text_from<R: Read>(d: &mut Decoder<R>) -> Result<Option<String>, DecodeError> {
    match d.nullable()? {
        None => Ok(None),
        Some(h) => Ok(Some(d.text_from(h)?)),
    }
}

/// A path (FORMAT.md §8.1 `path`): a text string when its bytes are valid UTF-8, else a byte
/// string — so every path has exactly one encoding.
fn path_to(e: &mut Encoder, p: &PathBytes) {
    match p.as_str() {
        Some(text) => e.text(text),
        None => e.bytes(p.as_bytes()),
    }
}

fn path_from<R: Read>(d: &mut Decoder<R>) -> Result<PathBytes, DecodeError> {
    let h = d.head()?;
    path_from_head(d, h)
}

fn path_from_head<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<PathBytes, DecodeError> {
    if h.major == MAJOR_BYTES {
        let start = d.offset();
        let bytes = d.bytes_from(h)?;
        if std::str::from_utf8(&bytes).is_ok() {
            return Err(DecodeError {
                offset: start,
                message: "a path that is valid UTF-8 must be a text string".into(),
            });
        }
        return Ok(PathBytes::from_bytes(bytes));
    }
    Ok(PathBytes::from(d.text_from(h)?))
}

fn opt_path_to(e: &mut Encoder, p: Option<&PathBytes>) {
    match p {
        Some(p) => path_to(e, p),
        None => e.null(),
    }
}

fn opt_path_from<R: Read>(d: &mut Decoder<R>) -> Result<Option<PathBytes>, DecodeError> {
    match d.nullable()? {
        None => Ok(None),
        Some(h) => path_from_head(d, h).map(Some),
    }
}

fn opt_u32_to(e: &mut Encoder, v: Option<u32>) {
    match v {
        Some(v) => e.uint(u64::from(v)),
        None => e.null(),
    }
}

fn opt_u32_from<R: Read>(d: &mut Decoder<R>) -> Result<Option<u32>, DecodeError> {
    match d.nullable()? {
        None => Ok(None),
        Some(h) => {
            let v = d.uint_from(h)?;
            u32::try_from(v)
                .map(Some)
                .map_err(|_| d.error(format!("{v} does not fit a 32-bit field")))
        }
    }
}

fn texts_to(e: &mut Encoder, v: &[String]) {
    e.array(v.len());
    for s in v {
        e.text(s);
    }
}

/// Capacity to reserve for `n` elements announced by untrusted input.
fn cap(n: u64) -> usize {
    usize::try_from(n.min(1024)).unwrap_or(1024)
}

fn texts_from<R: Read>(d: &mut Decoder<R>) -> Result<Vec<String>, DecodeError> {
    let n = d.array()?;
    let mut out = Vec::with_capacity(cap(n));
    for _ in 0..n {
        out.push(d.text()?);
    }
    Ok(out)
}

/// Reads a unit variant name, or the single key of a one-key map; returns the name and
/// whether it was a map (whose value the caller reads next).
fn variant_from<R: Read>(d: &mut Decoder<R>, what: &str) -> Result<(String, bool), DecodeError> {
    let h = d.head()?;
    match h.major {
        MAJOR_TEXT => Ok((d.text_from(h)?, false)),
        MAJOR_MAP if h.arg == 1 => Ok((d.text()?, true)),
        _ => Err(d.error(format!("expected {what} (a name or a one-key map)"))),
    }
}

fn unit_only(d: &Decoder<impl Read>, name: &str, is_map: bool) -> Result<(), DecodeError> {
    if is_map {
        Err(d.error(format!("{name:?} takes no fields")))
    } else {
        Ok(())
    }
}

fn with_fields(d: &Decoder<impl Read>, name: &str, is_map: bool) -> Result<(), DecodeError> {
    if is_map {
        Ok(())
    } else {
        Err(d.error(format!("{name:?} needs its fields")))
    }
}

fn payload_kind_name(k: PayloadKind) -> &'static str {
    match k {
        PayloadKind::Plan => "plan",
        PayloadKind::RowImages => "row_images",
        PayloadKind::Details => "details",
    }
}

pub(crate) fn payload_kind_to(e: &mut Encoder, k: PayloadKind) {
    e.text(payload_kind_name(k));
}

pub(crate) fn payload_kind_from<R: Read>(d: &mut Decoder<R>) -> Result<PayloadKind, DecodeError> {
    let s = d.text()?;
    match s.as_str() {
        "plan" => Ok(PayloadKind::Plan),
        "row_images" => Ok(PayloadKind::RowImages),
        "details" => Ok(PayloadKind::Details),
        _ => Err(d.error(format!("unknown payload kind {s:?}"))),
    }
}

const PAYLOAD_REF_KEYS: [&str; 3] = ["len", "kind", "digest"];

fn payload_ref_to(e: &mut Encoder, p: &PayloadRef) {
    e.map(PAYLOAD_REF_KEYS.len());
    e.key("len");
    e.uint(p.len);
    e.key("kind");
    payload_kind_to(e, p.kind);
    e.key("digest");
    digest_to(e, &p.digest);
}

fn payload_ref_from<R: Read>(d: &mut Decoder<R>) -> Result<PayloadRef, DecodeError> {
    let h = d.head()?;
    payload_ref_from_head(d, h)
}

fn payload_ref_from_head<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<PayloadRef, DecodeError> {
    if d.map_from(h)? != PAYLOAD_REF_KEYS.len() as u64 {
        return Err(d.error("a payload reference is a map of 3 keys (len, kind, digest)"));
    }
    d.key("len")?;
    let len = d.uint()?;
    d.key("kind")?;
    let kind = payload_kind_from(d)?;
    d.key("digest")?;
    let digest = digest_from(d)?;
    Ok(PayloadRef { digest, len, kind })
}

fn opt_payload_ref_to(e: &mut Encoder, p: Option<&PayloadRef>) {
    match p {
        Some(p) => payload_ref_to(e, p),
        None => e.null(),
    }
}

fn opt_payload_ref_from<R: Read>(d: &mut Decoder<R>) -> Result<Option<PayloadRef>, DecodeError> {
    match d.nullable()? {
        None => Ok(None),
        Some(h) => Ok(Some(payload_ref_from_head(d, h)?)),
    }
}

fn keyset_to(e: &mut Encoder, k: &KeySet) {
    e.map(1);
    match k {
        KeySet::Ranges(r) => {
            e.key("ranges");
            e.array(r.len());
            for (lo, hi) in r {
                e.array(2);
                e.int(*lo);
                e.int(*hi);
            }
        }
        KeySet::Values(v) => {
            e.key("values");
            e.array(v.len());
            for x in v {
                value_to(e, x);
            }
        }
    }
}

fn keyset_from<R: Read>(d: &mut Decoder<R>) -> Result<KeySet, DecodeError> {
    if d.map()? != 1 {
        return Err(d.error("a key set is a map of 1 key (ranges or values)"));
    }
    let key = d.text()?;
    match key.as_str() {
        "ranges" => {
            let n = d.array()?;
            let mut out = Vec::with_capacity(cap(n));
            for _ in 0..n {
                d.array_exact(2)?;
                out.push((d.int()?, d.int()?));
            }
            Ok(KeySet::Ranges(out))
        }
        "values" => {
            let n = d.array()?;
            let mut out = Vec::with_capacity(cap(n));
            for _ in 0..n {
                out.push(value_from(d)?);
            }
            Ok(KeySet::Values(out))
        }
        _ => Err(d.error(format!("unknown key set form {key:?}"))),
    }
}

fn action_to(e: &mut Encoder, a: Action) {
    e.text(match a {
        Action::Delete => "delete",
        Action::Update => "update",
        Action::Insert => "insert",
        Action::QuarantineFile => "quarantine_file",
        Action::RestoreFile => "restore_file",
    });
}

fn action_from<R: Read>(d: &mut Decoder<R>) -> Result<Action, DecodeError> {
    let s = d.text()?;
    Ok(match s.as_str() {
        "delete" => Action::Delete,
        "update" => Action::Update,
        "insert" => Action::Insert,
        "quarantine_file" => Action::QuarantineFile,
        "restore_file" => Action::RestoreFile,
        _ => return Err(d.error(format!("unknown action {s:?}"))),
    })
}

fn run_kind_to(e: &mut Encoder, k: &RunKind) {
    match k {
        RunKind::Run => e.text("run"),
        RunKind::Maintenance => e.text("maintenance"),
        RunKind::Apply { plan_digest } => {
            e.map(1);
            e.key("apply");
            e.map(1);
            e.key("plan_digest");
            digest_to(e, plan_digest);
        }
        RunKind::Undo { of_run } => {
            e.map(1);
            e.key("undo");
            e.map(1);
            e.key("of_run");
            e.text(of_run);
        }
    }
}

fn run_kind_from<R: Read>(d: &mut Decoder<R>) -> Result<RunKind, DecodeError> {
    let (name, is_map) = variant_from(d, "a run kind")?;
    Ok(match name.as_str() {
        "run" => {
            unit_only(d, &name, is_map)?;
            RunKind::Run
        }
        "maintenance" => {
            unit_only(d, &name, is_map)?;
            RunKind::Maintenance
        }
        "apply" => {
            with_fields(d, &name, is_map)?;
            d.map_exact(&["plan_digest"])?;
            d.key("plan_digest")?;
            RunKind::Apply {
                plan_digest: digest_from(d)?,
            }
        }
        "undo" => {
            with_fields(d, &name, is_map)?;
            d.map_exact(&["of_run"])?;
            d.key("of_run")?;
            RunKind::Undo { of_run: d.text()? }
        }
        _ => return Err(d.error(format!("unknown run kind {name:?}"))),
    })
}

fn chunk_status_to(e: &mut Encoder, s: ChunkStatus) {
    e.text(match s {
        ChunkStatus::Committed => "committed",
        ChunkStatus::Aborted => "aborted",
    });
}

fn chunk_status_from<R: Read>(d: &mut Decoder<R>) -> Result<ChunkStatus, DecodeError> {
    let s = d.text()?;
    match s.as_str() {
        "committed" => Ok(ChunkStatus::Committed),
        "aborted" => Ok(ChunkStatus::Aborted),
        _ => Err(d.error(format!("unknown chunk status {s:?}"))),
    }
}

fn file_status_to(e: &mut Encoder, s: &FileStatus) {
    match s {
        FileStatus::Moved => e.text("moved"),
        FileStatus::Skipped { reason } => {
            e.map(1);
            e.key("skipped");
            e.map(1);
            e.key("reason");
            e.text(reason);
        }
        FileStatus::Failed { error } => {
            e.map(1);
            e.key("failed");
            e.map(1);
            e.key("error");
            e.text(error);
        }
    }
}

fn file_status_from<R: Read>(d: &mut Decoder<R>) -> Result<FileStatus, DecodeError> {
    let (name, is_map) = variant_from(d, "a file status")?;
    Ok(match name.as_str() {
        "moved" => {
            unit_only(d, &name, is_map)?;
            FileStatus::Moved
        }
        "skipped" => {
            with_fields(d, &name, is_map)?;
            d.map_exact(&["reason"])?;
            d.key("reason")?;
            FileStatus::Skipped { reason: d.text()? }
        }
        "failed" => {
            with_fields(d, &name, is_map)?;
            d.map_exact(&["error"])?;
            d.key("error")?;
            FileStatus::Failed { error: d.text()? }
        }
        _ => return Err(d.error(format!("unknown file status {name:?}"))),
    })
}

const ITEM_KEYS: [&str; 9] = [
    "item",
    "keys",
    "path",
    "table",
    "action",
    "reason",
    "columns",
    "dependents",
    "key_columns",
];

fn item_to(e: &mut Encoder, i: &ItemSummary) {
    e.map(ITEM_KEYS.len());
    e.key("item");
    e.uint(u64::from(i.item));
    e.key("keys");
    keyset_to(e, &i.keys);
    e.key("path");
    opt_path_to(e, i.path.as_ref());
    e.key("table");
    opt_text_to(e, i.table.as_deref());
    e.key("action");
    action_to(e, i.action);
    e.key("reason");
    e.text(&i.reason);
    e.key("columns");
    texts_to(e, &i.columns);
    e.key("dependents");
    texts_to(e, &i.dependents);
    e.key("key_columns");
    texts_to(e, &i.key_columns);
}

fn item_from<R: Read>(d: &mut Decoder<R>) -> Result<ItemSummary, DecodeError> {
    d.map_exact(&ITEM_KEYS)?;
    d.key("item")?;
    let item = d.u32()?;
    d.key("keys")?;
    let keys = keyset_from(d)?;
    d.key("path")?;
    let path = opt_path_from(d)?;
    d.key("table")?;
    let table = opt_text_from(d)?;
    d.key("action")?;
    let action = action_from(d)?;
    d.key("reason")?;
    let reason = d.text()?;
    d.key("columns")?;
    let columns = texts_from(d)?;
    d.key("dependents")?;
    let dependents = texts_from(d)?;
    d.key("key_columns")?;
    let key_columns = texts_from(d)?;
    Ok(ItemSummary {
        item,
        action,
        table,
        key_columns,
        keys,
        columns,
        dependents,
        path,
        reason,
    })
}

const TABLE_CHANGE_KEYS: [&str; 3] = ["keys", "table", "action"];

fn table_change_to(e: &mut Encoder, c: &TableChange) {
    e.map(3);
    e.key("keys");
    keyset_to(e, &c.keys);
    e.key("table");
    e.text(&c.table);
    e.key("action");
    action_to(e, c.action);
}

fn table_change_from<R: Read>(d: &mut Decoder<R>) -> Result<TableChange, DecodeError> {
    d.map_exact(&TABLE_CHANGE_KEYS)?;
    d.key("keys")?;
    let keys = keyset_from(d)?;
    d.key("table")?;
    let table = d.text()?;
    d.key("action")?;
    let action = action_from(d)?;
    Ok(TableChange {
        table,
        action,
        keys,
    })
}

const DRIFT_KEYS: [&str; 4] = ["key", "item", "table", "reason"];

fn drift_to(e: &mut Encoder, x: &Drift) {
    e.map(4);
    e.key("key");
    value_to(e, &x.key);
    e.key("item");
    e.uint(u64::from(x.item));
    e.key("table");
    e.text(&x.table);
    e.key("reason");
    e.text(&x.reason);
}

fn drift_from<R: Read>(d: &mut Decoder<R>) -> Result<Drift, DecodeError> {
    d.map_exact(&DRIFT_KEYS)?;
    d.key("key")?;
    let key = value_from(d)?;
    d.key("item")?;
    let item = d.u32()?;
    d.key("table")?;
    let table = d.text()?;
    d.key("reason")?;
    let reason = d.text()?;
    Ok(Drift {
        item,
        table,
        key,
        reason,
    })
}

const FILE_META_KEYS: [&str; 10] = [
    "dev",
    "gid",
    "uid",
    "mode",
    "size",
    "inode",
    "blake3",
    "atime_ns",
    "mtime_ns",
    "link_target",
];

fn file_meta_to(e: &mut Encoder, m: &FileMeta) {
    e.map(FILE_META_KEYS.len());
    e.key("dev");
    e.uint(m.dev);
    e.key("gid");
    e.uint(u64::from(m.gid));
    e.key("uid");
    e.uint(u64::from(m.uid));
    e.key("mode");
    e.uint(u64::from(m.mode));
    e.key("size");
    e.uint(m.size);
    e.key("inode");
    e.uint(m.inode);
    e.key("blake3");
    opt_digest_to(e, m.blake3.as_ref());
    e.key("atime_ns");
    e.i128(m.atime_ns);
    e.key("mtime_ns");
    e.i128(m.mtime_ns);
    e.key("link_target");
    opt_path_to(e, m.link_target.as_ref());
}

fn file_meta_from<R: Read>(d: &mut Decoder<R>) -> Result<FileMeta, DecodeError> {
    d.map_exact(&FILE_META_KEYS)?;
    d.key("dev")?;
    let dev = d.uint()?;
    d.key("gid")?;
    let gid = d.u32()?;
    d.key("uid")?;
    let uid = d.u32()?;
    d.key("mode")?;
    let mode = d.u32()?;
    d.key("size")?;
    let size = d.uint()?;
    d.key("inode")?;
    let inode = d.uint()?;
    d.key("blake3")?;
    let blake3 = opt_digest_from(d)?;
    d.key("atime_ns")?;
    let atime_ns = d.i128()?;
    d.key("mtime_ns")?;
    let mtime_ns = d.i128()?;
    d.key("link_target")?;
    let link_target = opt_path_from(d)?;
    Ok(FileMeta {
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
    })
}

// ---------------------------------------------------------------------------------------------
// Records

/// The canonical key order of each record kind's field map (FORMAT.md §8.2).
pub const RECORD_KEYS: [(&str, &[&str]); 11] = [
    (
        "run_start",
        &[
            "now",
            "host",
            "kind",
            "user",
            "duties",
            "run_id",
            "database",
            "started_utc",
            "tool_version",
        ],
    ),
    ("plan", &["duty", "items", "run_id", "payload"]),
    (
        "chunk_outcome",
        &[
            "duty",
            "chunk",
            "error",
            "items",
            "run_id",
            "status",
            "changes",
            "drifted",
            "payload",
            "error_payload",
        ],
    ),
    (
        "file_intent",
        &["duty", "item", "meta", "path", "run_id", "quarantine_path"],
    ),
    ("file_outcome", &["duty", "item", "run_id", "status"]),
    (
        "duty_end",
        &[
            "duty", "errors", "run_id", "status", "details", "affected", "findings",
        ],
    ),
    ("run_end", &["run_id", "status", "details", "ended_utc"]),
    (
        "recovery",
        &[
            "duty",
            "chunk",
            "by_run",
            "run_id",
            "file_item",
            "resolution",
        ],
    ),
    ("payload_expired", &["digest", "reason", "run_id"]),
    ("quarantine_expired", &["path", "blake3", "run_id"]),
    (
        "journal_reset",
        &[
            "host",
            "user",
            "at_utc",
            "damage",
            "reason",
            "run_id",
            "last_seq",
            "last_hash",
            "set_aside",
            "previous_id",
        ],
    ),
];

/// The record kind's name as it appears in the encoding.
#[must_use]
pub fn record_kind_name(r: &Record) -> &'static str {
    match r {
        Record::RunStart { .. } => "run_start",
        Record::Plan { .. } => "plan",
        Record::ChunkOutcome { .. } => "chunk_outcome",
        Record::FileIntent { .. } => "file_intent",
        Record::FileOutcome { .. } => "file_outcome",
        Record::DutyEnd { .. } => "duty_end",
        Record::RunEnd { .. } => "run_end",
        Record::Recovery { .. } => "recovery",
        Record::PayloadExpired { .. } => "payload_expired",
        Record::QuarantineExpired { .. } => "quarantine_expired",
        Record::JournalReset { .. } => "journal_reset",
    }
}

fn keys_of(kind: &str) -> &'static [&'static str] {
    RECORD_KEYS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[], |(_, keys)| keys)
}

#[allow(clippy::too_many_lines)] // one arm per record kind, each a flat list of fields
fn record_to(e: &mut Encoder, r: &Record) {
    let kind = record_kind_name(r);
    e.map(1);
    e.key(kind);
    e.map(keys_of(kind).len());
    match r {
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
        } => {
            e.key("now");
            datetime_to(e, now);
            e.key("host");
            e.text(host);
            e.key("kind");
            run_kind_to(e, kind);
            e.key("user");
            e.text(user);
            e.key("duties");
            texts_to(e, duties);
            e.key("run_id");
            e.text(run_id);
            e.key("database");
            e.text(database);
            e.key("started_utc");
            e.text(started_utc);
            e.key("tool_version");
            e.text(tool_version);
        }
        Record::Plan {
            run_id,
            duty,
            payload,
            items,
        } => {
            e.key("duty");
            e.text(duty);
            e.key("items");
            e.array(items.len());
            for i in items {
                item_to(e, i);
            }
            e.key("run_id");
            e.text(run_id);
            e.key("payload");
            payload_ref_to(e, payload);
        }
        Record::ChunkOutcome {
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
        } => {
            e.key("duty");
            e.text(duty);
            e.key("chunk");
            e.uint(u64::from(*chunk));
            e.key("error");
            opt_text_to(e, error.as_deref());
            e.key("items");
            e.array(items.len());
            for (lo, hi) in items {
                e.array(2);
                e.uint(u64::from(*lo));
                e.uint(u64::from(*hi));
            }
            e.key("run_id");
            e.text(run_id);
            e.key("status");
            chunk_status_to(e, *status);
            e.key("changes");
            e.array(changes.len());
            for c in changes {
                table_change_to(e, c);
            }
            e.key("drifted");
            e.array(drifted.len());
            for x in drifted {
                drift_to(e, x);
            }
            e.key("payload");
            opt_payload_ref_to(e, payload.as_ref());
            e.key("error_payload");
            opt_payload_ref_to(e, error_payload.as_ref());
        }
        Record::FileIntent {
            run_id,
            duty,
            item,
            path,
            quarantine_path,
            meta,
        } => {
            e.key("duty");
            e.text(duty);
            e.key("item");
            e.uint(u64::from(*item));
            e.key("meta");
            file_meta_to(e, meta);
            e.key("path");
            path_to(e, path);
            e.key("run_id");
            e.text(run_id);
            e.key("quarantine_path");
            path_to(e, quarantine_path);
        }
        Record::FileOutcome {
            run_id,
            duty,
            item,
            status,
        } => {
            e.key("duty");
            e.text(duty);
            e.key("item");
            e.uint(u64::from(*item));
            e.key("run_id");
            e.text(run_id);
            e.key("status");
            file_status_to(e, status);
        }
        Record::DutyEnd {
            run_id,
            duty,
            status,
            affected,
            errors,
            findings,
            details,
        } => {
            e.key("duty");
            e.text(duty);
            e.key("errors");
            e.uint(u64::from(*errors));
            e.key("run_id");
            e.text(run_id);
            e.key("status");
            e.text(status);
            e.key("details");
            opt_payload_ref_to(e, details.as_ref());
            e.key("affected");
            e.uint(*affected);
            e.key("findings");
            e.uint(u64::from(*findings));
        }
        Record::RunEnd {
            run_id,
            status,
            ended_utc,
            details,
        } => {
            e.key("run_id");
            e.text(run_id);
            e.key("status");
            e.text(status);
            e.key("details");
            opt_payload_ref_to(e, details.as_ref());
            e.key("ended_utc");
            e.text(ended_utc);
        }
        Record::Recovery {
            run_id,
            duty,
            chunk,
            file_item,
            resolution,
            by_run,
        } => {
            e.key("duty");
            e.text(duty);
            e.key("chunk");
            opt_u32_to(e, *chunk);
            e.key("by_run");
            e.text(by_run);
            e.key("run_id");
            e.text(run_id);
            e.key("file_item");
            opt_u32_to(e, *file_item);
            e.key("resolution");
            e.text(resolution);
        }
        Record::PayloadExpired {
            digest,
            run_id,
            reason,
        } => {
            e.key("digest");
            digest_to(e, digest);
            e.key("reason");
            e.text(reason);
            e.key("run_id");
            e.text(run_id);
        }
        Record::QuarantineExpired {
            run_id,
            path,
            blake3,
        } => {
            e.key("path");
            path_to(e, path);
            e.key("blake3");
            opt_digest_to(e, blake3.as_ref());
            e.key("run_id");
            e.text(run_id);
        }
        Record::JournalReset {
            run_id,
            previous_id,
            last_seq,
            last_hash,
            damage,
            set_aside,
            reason,
            at_utc,
            host,
            user,
        } => {
            e.key("host");
            e.text(host);
            e.key("user");
            e.text(user);
            e.key("at_utc");
            e.text(at_utc);
            e.key("damage");
            e.text(damage);
            e.key("reason");
            e.text(reason);
            e.key("run_id");
            e.text(run_id);
            e.key("last_seq");
            e.uint(*last_seq);
            e.key("last_hash");
            digest_to(e, last_hash);
            e.key("set_aside");
            e.text(set_aside);
            e.key("previous_id");
            e.text(previous_id);
        }
    }
}

#[allow(clippy::too_many_lines)] // one arm per record kind, each a flat list of fields
fn record_from<R: Read>(d: &mut Decoder<R>) -> Result<Record, DecodeError> {
    if d.map()? != 1 {
        return Err(d.error("a record is a map of exactly 1 key (its kind)"));
    }
    let kind = d.text()?;
    let keys = keys_of(&kind);
    if keys.is_empty() {
        return Err(d.error(format!("unknown record kind {kind:?}")));
    }
    d.map_exact(keys)?;
    Ok(match kind.as_str() {
        "run_start" => {
            d.key("now")?;
            let now = datetime_from(d)?;
            d.key("host")?;
            let host = d.text()?;
            d.key("kind")?;
            let run_kind = run_kind_from(d)?;
            d.key("user")?;
            let user = d.text()?;
            d.key("duties")?;
            let duties = texts_from(d)?;
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("database")?;
            let database = d.text()?;
            d.key("started_utc")?;
            let started_utc = d.text()?;
            d.key("tool_version")?;
            let tool_version = d.text()?;
            Record::RunStart {
                run_id,
                kind: run_kind,
                started_utc,
                now,
                host,
                user,
                tool_version,
                database,
                duties,
            }
        }
        "plan" => {
            d.key("duty")?;
            let duty = d.text()?;
            d.key("items")?;
            let n = d.array()?;
            let mut items = Vec::with_capacity(cap(n));
            for _ in 0..n {
                items.push(item_from(d)?);
            }
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("payload")?;
            let payload = payload_ref_from(d)?;
            Record::Plan {
                run_id,
                duty,
                payload,
                items,
            }
        }
        "chunk_outcome" => {
            d.key("duty")?;
            let duty = d.text()?;
            d.key("chunk")?;
            let chunk = d.u32()?;
            d.key("error")?;
            let error = opt_text_from(d)?;
            d.key("items")?;
            let n = d.array()?;
            let mut items = Vec::with_capacity(cap(n));
            for _ in 0..n {
                d.array_exact(2)?;
                items.push((d.u32()?, d.u32()?));
            }
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("status")?;
            let status = chunk_status_from(d)?;
            d.key("changes")?;
            let n = d.array()?;
            let mut changes = Vec::with_capacity(cap(n));
            for _ in 0..n {
                changes.push(table_change_from(d)?);
            }
            d.key("drifted")?;
            let n = d.array()?;
            let mut drifted = Vec::with_capacity(cap(n));
            for _ in 0..n {
                drifted.push(drift_from(d)?);
            }
            d.key("payload")?;
            let payload = opt_payload_ref_from(d)?;
            d.key("error_payload")?;
            let error_payload = opt_payload_ref_from(d)?;
            Record::ChunkOutcome {
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
        }
        "file_intent" => {
            d.key("duty")?;
            let duty = d.text()?;
            d.key("item")?;
            let item = d.u32()?;
            d.key("meta")?;
            let meta = file_meta_from(d)?;
            d.key("path")?;
            let path = path_from(d)?;
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("quarantine_path")?;
            let quarantine_path = path_from(d)?;
            Record::FileIntent {
                run_id,
                duty,
                item,
                path,
                quarantine_path,
                meta,
            }
        }
        "file_outcome" => {
            d.key("duty")?;
            let duty = d.text()?;
            d.key("item")?;
            let item = d.u32()?;
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("status")?;
            let status = file_status_from(d)?;
            Record::FileOutcome {
                run_id,
                duty,
                item,
                status,
            }
        }
        "duty_end" => {
            d.key("duty")?;
            let duty = d.text()?;
            d.key("errors")?;
            let errors = d.u32()?;
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("status")?;
            let status = d.text()?;
            d.key("details")?;
            let details = opt_payload_ref_from(d)?;
            d.key("affected")?;
            let affected = d.uint()?;
            d.key("findings")?;
            let findings = d.u32()?;
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
        "run_end" => {
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("status")?;
            let status = d.text()?;
            d.key("details")?;
            let details = opt_payload_ref_from(d)?;
            d.key("ended_utc")?;
            let ended_utc = d.text()?;
            Record::RunEnd {
                run_id,
                status,
                ended_utc,
                details,
            }
        }
        "recovery" => {
            d.key("duty")?;
            let duty = d.text()?;
            d.key("chunk")?;
            let chunk = opt_u32_from(d)?;
            d.key("by_run")?;
            let by_run = d.text()?;
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("file_item")?;
            let file_item = opt_u32_from(d)?;
            d.key("resolution")?;
            let resolution = d.text()?;
            Record::Recovery {
                run_id,
                duty,
                chunk,
                file_item,
                resolution,
                by_run,
            }
        }
        "payload_expired" => {
            d.key("digest")?;
            let digest = digest_from(d)?;
            d.key("reason")?;
            let reason = d.text()?;
            d.key("run_id")?;
            let run_id = d.text()?;
            Record::PayloadExpired {
                digest,
                run_id,
                reason,
            }
        }
        "quarantine_expired" => {
            d.key("path")?;
            let path = path_from(d)?;
            d.key("blake3")?;
            let blake3 = opt_digest_from(d)?;
            d.key("run_id")?;
            let run_id = d.text()?;
            Record::QuarantineExpired {
                run_id,
                path,
                blake3,
            }
        }
        "journal_reset" => {
            d.key("host")?;
            let host = d.text()?;
            d.key("user")?;
            let user = d.text()?;
            d.key("at_utc")?;
            let at_utc = d.text()?;
            d.key("damage")?;
            let damage = d.text()?;
            d.key("reason")?;
            let reason = d.text()?;
            d.key("run_id")?;
            let run_id = d.text()?;
            d.key("last_seq")?;
            let last_seq = d.uint()?;
            d.key("last_hash")?;
            let last_hash = digest_from(d)?;
            d.key("set_aside")?;
            let set_aside = d.text()?;
            d.key("previous_id")?;
            let previous_id = d.text()?;
            Record::JournalReset {
                run_id,
                previous_id,
                last_seq,
                last_hash,
                damage,
                set_aside,
                reason,
                at_utc,
                host,
                user,
            }
        }
        _ => return Err(d.error(format!("unknown record kind {kind:?}"))),
    })
}

/// Every payload reference a record carries, in field order.
#[must_use]
pub fn payload_refs(r: &Record) -> Vec<&PayloadRef> {
    match r {
        Record::Plan { payload, .. } => vec![payload],
        Record::ChunkOutcome {
            payload,
            error_payload,
            ..
        } => payload.iter().chain(error_payload.iter()).collect(),
        Record::DutyEnd { details, .. } | Record::RunEnd { details, .. } => {
            details.iter().collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::diagnostic;

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
            &ITEM_KEYS[..],
            &TABLE_CHANGE_KEYS,
            &DRIFT_KEYS,
            &FILE_META_KEYS,
            &PAYLOAD_REF_KEYS,
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
}
