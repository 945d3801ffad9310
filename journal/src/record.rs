//! The record kinds of the journal: what each chained record says.
//!
//! Data protection: records carry keys, table and column names, paths, counts and digests —
//! never column values. Values (row images, before/after values, reasons that quote data)
//! live only in payload blobs, referenced here by `PayloadRef`.

use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::value::{DateTimeValue, Value};

/// A file path as the operating system gives it: any bytes but NUL, not necessarily UTF-8.
///
/// Every path a record or a plan carries is one of these, so a file whose name is not valid
/// UTF-8 is journaled, moved and restored like any other. Encodings: in a record, a CBOR text
/// string when the bytes are valid UTF-8, else a byte string (FORMAT.md §8.1 `path`); in JSON,
/// a string when valid UTF-8, else `{"bytes_hex": "<lowercase hex>"}`. Showing one to a person
/// is the reader's job: it must escape control characters and bytes that are not UTF-8 (the
/// tool does it in one place, its `text` module).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathBytes(Vec<u8>);

impl PathBytes {
    #[must_use]
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        PathBytes(bytes.into())
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The path for file system calls, byte for byte.
    #[must_use]
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }

    /// The text, when the bytes are valid UTF-8.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes as lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses an even number of hex digits.
    #[must_use]
    pub fn from_hex(text: &str) -> Option<Self> {
        from_hex(text).map(PathBytes)
    }
}

impl std::fmt::Debug for PathBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PathBytes(\"{}\")", self.0.escape_ascii())
    }
}

impl From<&Path> for PathBytes {
    fn from(path: &Path) -> Self {
        PathBytes(path.as_os_str().as_bytes().to_vec())
    }
}

impl From<std::path::PathBuf> for PathBytes {
    fn from(path: std::path::PathBuf) -> Self {
        PathBytes(path.into_os_string().into_vec())
    }
}

impl From<&str> for PathBytes {
    fn from(text: &str) -> Self {
        PathBytes(text.as_bytes().to_vec())
    }
}

impl From<String> for PathBytes {
    fn from(text: String) -> Self {
        PathBytes(text.into_bytes())
    }
}

impl AsRef<Path> for PathBytes {
    fn as_ref(&self) -> &Path {
        self.as_path()
    }
}

impl PartialEq<str> for PathBytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for PathBytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<String> for PathBytes {
    fn eq(&self, other: &String) -> bool {
        self.0 == other.as_bytes()
    }
}

/// The JSON key of a path that is not valid UTF-8.
pub const PATH_BYTES_HEX_KEY: &str = "bytes_hex";

impl Serialize for PathBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.as_str() {
            Some(text) => s.serialize_str(text),
            None => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(PATH_BYTES_HEX_KEY, &self.to_hex())?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PathBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PathBytes;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a path: a string, or {\"bytes_hex\": \"<hex>\"}")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PathBytes, E> {
                Ok(PathBytes::from(v))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PathBytes, A::Error> {
                use serde::de::Error;
                let mut found = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != PATH_BYTES_HEX_KEY || found.is_some() {
                        return Err(A::Error::custom(format!(
                            "a path object has exactly one key, {PATH_BYTES_HEX_KEY:?}"
                        )));
                    }
                    let hex: String = map.next_value()?;
                    found = Some(PathBytes::from_hex(&hex).ok_or_else(|| {
                        A::Error::custom("bytes_hex must be an even number of hex digits")
                    })?);
                }
                found.ok_or_else(|| A::Error::missing_field(PATH_BYTES_HEX_KEY))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A blake3 digest (32 bytes).
///
/// Through serde: in JSON (plan files, plan payloads) an array of 32 numbers, as it always
/// was; in binary formats (the session's stored index) one byte string, read back from
/// either form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.0.serialize(s)
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Digest;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a digest: 32 bytes")
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Digest, E> {
                v.try_into()
                    .map(Digest)
                    .map_err(|_| E::invalid_length(v.len(), &self))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Digest, A::Error> {
                let mut out = [0u8; 32];
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                if seq.next_element::<u8>()?.is_some() {
                    return Err(serde::de::Error::invalid_length(33, &self));
                }
                Ok(Digest(out))
            }
        }
        if d.is_human_readable() {
            d.deserialize_tuple(32, Visitor)
        } else {
            d.deserialize_any(Visitor)
        }
    }
}

impl Digest {
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 64 lowercase or uppercase hex digits.
    #[must_use]
    pub fn from_hex(text: &str) -> Option<Digest> {
        from_hex(text)?.try_into().ok().map(Digest)
    }
}

/// Lowercase hex, two digits per byte.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses an even number of lowercase or uppercase hex digits.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A run's identifier: `YYYYMMDDTHHMMSSZ-xxxxxx` (UTC start time and 6 hex digits), sortable.
pub type RunId = String;

/// A payload blob referenced from the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    pub digest: Digest,
    /// Length of the uncompressed payload in bytes.
    pub len: u64,
    pub kind: PayloadKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadKind {
    /// A duty's full plan as JSON (with before/after values and reasons).
    Plan,
    /// Row images captured inside one chunk's transaction.
    RowImages,
    /// Other bulky details as JSON (error texts, reports).
    Details,
}

/// Keys of rows: integer ranges (inclusive, collapsed) or individual typed keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KeySet {
    Ranges(Vec<(i64, i64)>),
    Values(Vec<Value>),
}

impl KeySet {
    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> u64 {
        match self {
            KeySet::Ranges(r) => r.iter().map(|(lo, hi)| hi.abs_diff(*lo) + 1).sum(),
            KeySet::Values(v) => v.len() as u64,
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is in the set.
    #[must_use]
    pub fn contains(&self, key: &Value) -> bool {
        match self {
            KeySet::Ranges(ranges) => key
                .as_i64()
                .is_some_and(|k| ranges.iter().any(|(lo, hi)| *lo <= k && k <= *hi)),
            KeySet::Values(values) => values.contains(key),
        }
    }
}

/// What kind of run a `RunStart` opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunKind {
    /// A scheduled or manual `housekeeper run`.
    Run,
    /// `housekeeper apply FILE`: the saved plan's digest.
    Apply { plan_digest: Digest },
    /// `housekeeper undo`: the run being undone.
    Undo { of_run: RunId },
    /// Expiry of payloads and quarantine (`quarantine expire`, or the end of a run).
    Maintenance,
}

/// The operation a plan item performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Delete,
    Update,
    Insert,
    QuarantineFile,
    RestoreFile,
}

/// One planned item, as the chain records it: keys and names only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemSummary {
    /// Index of the item within the duty's plan.
    pub item: u32,
    pub action: Action,
    pub table: Option<String>,
    /// Name of the key column(s) of `table`.
    pub key_columns: Vec<String>,
    pub keys: KeySet,
    /// Columns an update changes.
    pub columns: Vec<String>,
    /// Tables whose dependent rows are deleted with this item (e.g. `schedule` for a job).
    pub dependents: Vec<String>,
    pub path: Option<PathBytes>,
    /// A stable reason code (e.g. `window_expired`); the human text is in the plan payload.
    pub reason: String,
    /// The key of the retention policy (`data_retention_policies`) whose rule the item
    /// carries out; `None` for every other item, and in records of format version 1, which
    /// had no such field.
    pub policy: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkStatus {
    /// Committed in the database (anchor row written in the same transaction).
    Committed,
    /// Rolled back or never committed: nothing changed.
    Aborted,
}

/// Rows one chunk changed in one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableChange {
    pub table: String,
    pub action: Action,
    pub keys: KeySet,
}

/// An item that no longer qualified when its chunk ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub item: u32,
    pub table: String,
    pub key: Value,
    /// A stable code: `gone`, `changed`, `no_longer_matches`, `held`.
    pub reason: String,
}

/// File metadata recorded before a file is moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
    pub atime_ns: i128,
    pub dev: u64,
    pub inode: u64,
    /// `None` for a symbolic link (its target is in `link_target`).
    pub blake3: Option<Digest>,
    pub link_target: Option<PathBytes>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileStatus {
    Moved,
    /// Not moved, with a stable code: `vanished`, `changed`, `referenced`, `target_exists`,
    /// `hash_mismatch`.
    Skipped {
        reason: String,
    },
    Failed {
        error: String,
    },
}

/// Every kind of chained record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    RunStart {
        run_id: RunId,
        kind: RunKind,
        /// Host clock at start, RFC 3339 UTC.
        started_utc: String,
        /// The run's `now` (database server time, or the clock in `MULTIFLEXI_TIMEZONE`).
        now: DateTimeValue,
        host: String,
        user: String,
        tool_version: String,
        /// Identity of the database (engine, server, name; never a password).
        database: String,
        duties: Vec<String>,
    },
    Plan {
        run_id: RunId,
        duty: String,
        payload: PayloadRef,
        items: Vec<ItemSummary>,
    },
    ChunkOutcome {
        run_id: RunId,
        duty: String,
        chunk: u32,
        /// Item indexes of the plan that this chunk covered.
        items: Vec<(u32, u32)>,
        status: ChunkStatus,
        changes: Vec<TableChange>,
        drifted: Vec<Drift>,
        payload: Option<PayloadRef>,
        /// Error class when the chunk failed (the message is in a `Details` payload).
        error: Option<String>,
        error_payload: Option<PayloadRef>,
    },
    FileIntent {
        run_id: RunId,
        duty: String,
        item: u32,
        path: PathBytes,
        quarantine_path: PathBytes,
        meta: FileMeta,
    },
    FileOutcome {
        run_id: RunId,
        duty: String,
        item: u32,
        status: FileStatus,
    },
    DutyEnd {
        run_id: RunId,
        duty: String,
        /// `ok`, `skipped`, `failed`.
        status: String,
        affected: u64,
        errors: u32,
        findings: u32,
        details: Option<PayloadRef>,
    },
    RunEnd {
        run_id: RunId,
        /// `ok`, `failed`, `aborted`.
        status: String,
        ended_utc: String,
        details: Option<PayloadRef>,
    },
    /// A chunk or file left open by a crashed run, closed by a later start.
    Recovery {
        run_id: RunId,
        duty: String,
        chunk: Option<u32>,
        file_item: Option<u32>,
        resolution: String,
        by_run: RunId,
    },
    PayloadExpired {
        digest: Digest,
        run_id: RunId,
        reason: String,
    },
    QuarantineExpired {
        run_id: RunId,
        path: PathBytes,
        blake3: Option<Digest>,
    },
    /// The first record of a journal started by `housekeeper journal reset` after the previous
    /// journal was found damaged: which journal it replaces, the last record of it that could
    /// still be verified, the damage, where the old journal was set aside, and why.
    JournalReset {
        /// The reset's own run id.
        run_id: RunId,
        /// The id of the journal this one replaces.
        previous_id: String,
        /// The last verifiable record of the previous journal (0 when none).
        last_seq: u64,
        last_hash: Digest,
        /// The damage found, as `journal verify` names it.
        damage: String,
        /// Directory (relative to the state directory) holding the set-aside journal.
        set_aside: String,
        /// The operator's reason (`--reason`).
        reason: String,
        at_utc: String,
        host: String,
        user: String,
    },
    /// The segment files holding records `first_seq` to `last_seq` were removed on purpose
    /// (format version 2 on): every run in them was past its undo window and older than the
    /// journal's keep period. The chain goes on from `last_hash`, the hash of record
    /// `last_seq`, which the next segment's header continues from.
    SegmentsFolded {
        /// The run that folded them.
        run_id: RunId,
        first_seq: u64,
        last_seq: u64,
        last_hash: Digest,
        /// How many segment files were removed.
        segments: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_json_stay_arrays_of_32_numbers() {
        let digest = Digest(std::array::from_fn(|i| (i * 8) as u8));
        let json = serde_json::to_string(&digest).unwrap();
        let numbers: Vec<String> = (0..32).map(|i| (i * 8).to_string()).collect();
        assert_eq!(json, format!("[{}]", numbers.join(",")));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        for bad in ["[1,2,3]", &format!("[{},0]", numbers.join(",")), "\"00\""] {
            assert!(serde_json::from_str::<Digest>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_in_json_are_strings_or_hex_objects() {
        let plain = PathBytes::from("/tmp/a b.csv");
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#""/tmp/a b.csv""#);
        let raw = PathBytes::from_bytes(b"r\xe9\xff".to_vec());
        let json = serde_json::to_string(&raw).unwrap();
        assert_eq!(json, r#"{"bytes_hex":"72e9ff"}"#);
        for (text, want) in [(json.as_str(), &raw), (r#""/tmp/a b.csv""#, &plain)] {
            assert_eq!(&serde_json::from_str::<PathBytes>(text).unwrap(), want);
        }
        assert_eq!(
            serde_json::from_str::<PathBytes>(r#"{"bytes_hex":"2f61"}"#).unwrap(),
            PathBytes::from("/a")
        );
        for bad in [r#"{"bytes_hex":"7"}"#, r#"{"hex":"72"}"#, "{}", "7"] {
            assert!(serde_json::from_str::<PathBytes>(bad).is_err(), "{bad}");
        }
    }
}
