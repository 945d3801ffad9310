//! The record kinds of the journal: what each chained record says.
//!
//! Data protection: records carry keys, table and column names, paths, counts and digests —
//! never column values. Values (row images, before/after values, reasons that quote data)
//! live only in payload blobs, referenced here by `PayloadRef`.

use serde::{Deserialize, Serialize};

use crate::value::{DateTimeValue, Value};

/// A blake3 digest (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    #[must_use]
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parses 64 lowercase or uppercase hex digits.
    #[must_use]
    pub fn from_hex(text: &str) -> Option<Digest> {
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Digest(out))
    }
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
    pub path: Option<String>,
    /// A stable reason code (e.g. `window_expired`); the human text is in the plan payload.
    pub reason: String,
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
    /// `None` for a symbolic link (its target text is in `link_target`).
    pub blake3: Option<Digest>,
    pub link_target: Option<String>,
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
        path: String,
        quarantine_path: String,
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
        path: String,
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
}
