//! Errors of the journal crate and the description of damage (FORMAT.md §12).
//!
//! Owns `JournalError` (what a caller of the store gets) and `Damage` (what verification found,
//! with its class, record, file and byte offset). Messages name the path, digest, seq or offset
//! concerned; they never contain column values (the journal's records hold none).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::record::Digest;

/// The class of damage (FORMAT.md §12). `as_str` gives the stable code used in output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DamageClass {
    /// The newest segment ends inside a frame: a write interrupted by a crash. Repairable.
    TornTail,
    /// A segment header is damaged, of an unknown version, or disagrees with its file name.
    BadHeader,
    /// A frame is malformed: magic, header check, lengths, zstd data, record encoding.
    BadFrame,
    /// A frame's bytes do not match their checksum, or the record its chain hash.
    HashMismatch,
    /// A record or segment is missing, repeated or out of order.
    SequenceGap,
    /// A frame or segment does not continue this chain, or the chain misses the expected head.
    Fork,
    /// The chain ends before the expected head.
    Truncated,
    /// A referenced payload blob is absent and no expiry record explains it.
    PayloadMissing,
    /// A referenced payload blob is not the one that was referenced.
    PayloadAltered,
}

impl DamageClass {
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            DamageClass::TornTail => "torn_tail",
            DamageClass::BadHeader => "bad_header",
            DamageClass::BadFrame => "bad_frame",
            DamageClass::HashMismatch => "hash_mismatch",
            DamageClass::SequenceGap => "sequence_gap",
            DamageClass::Fork => "fork",
            DamageClass::Truncated => "truncated",
            DamageClass::PayloadMissing => "payload_missing",
            DamageClass::PayloadAltered => "payload_altered",
        }
    }

    /// Only a torn tail may be repaired (by truncating it), and only by the writer.
    #[must_use]
    pub fn is_repairable(&self) -> bool {
        matches!(self, DamageClass::TornTail)
    }

    /// Whether the damage is to a payload blob rather than to the chain itself.
    #[must_use]
    pub fn is_payload(&self) -> bool {
        matches!(
            self,
            DamageClass::PayloadMissing | DamageClass::PayloadAltered
        )
    }
}

impl fmt::Display for DamageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the journal: a segment file name (relative to the journal directory) and the byte
/// offset of a frame in it (0 for the segment header).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: String,
    pub offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.file, self.offset)
    }
}

/// One piece of damage found by verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub class: DamageClass,
    /// The record concerned: the damaged one, the one expected at the damaged position, or the
    /// one referencing a damaged payload. `None` where no record is known (a bad first header).
    pub seq: Option<u64>,
    pub location: Location,
    /// The payload concerned, for payload damage.
    pub digest: Option<Digest>,
    pub explanation: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.class)?;
        if let Some(seq) = self.seq {
            write!(f, " at record {seq}")?;
        }
        write!(f, " ({}): {}", self.location, self.explanation)
    }
}

/// Everything the journal store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("journal {} is locked by another housekeeper process", dir.display())]
    Locked { dir: PathBuf },

    #[error("no journal at {}: {reason}", dir.display())]
    NoJournal { dir: PathBuf, reason: String },

    #[error("journal {} is damaged: {damage}", dir.display())]
    Damaged { dir: PathBuf, damage: Box<Damage> },

    #[error("record of {len} bytes is too large for the journal (limit {max} bytes)")]
    RecordTooLarge { len: usize, max: u32 },

    #[error("compressing a record failed: {0}")]
    Compress(String),

    #[error(
        "journal {} stopped accepting records after a failed write that could not be undone; \
         reopen it to repair or refuse",
        dir.display()
    )]
    Poisoned { dir: PathBuf },

    #[error("payload {digest} not found at {}", path.display())]
    PayloadNotFound { digest: Digest, path: PathBuf },

    #[error("payload {digest} at {} is damaged: {detail}", path.display())]
    PayloadCorrupt {
        digest: Digest,
        path: PathBuf,
        detail: String,
    },

    /// Encoding a document for a payload failed (raised by callers, e.g. serializing a plan).
    #[error("encoding failed: {0}")]
    Encode(String),

    #[error("payload writer misuse: {0}")]
    PayloadUsage(String),

    #[error("the payload writer's worker thread stopped unexpectedly")]
    WorkerFailed,
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The damage, if this error reports damage.
    #[must_use]
    pub fn damage(&self) -> Option<&Damage> {
        match self {
            JournalError::Damaged { damage, .. } => Some(damage),
            _ => None,
        }
    }
}
