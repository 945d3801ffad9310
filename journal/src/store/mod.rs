//! The journal directory on disk: the single writer (`Journal`), payload blob files, read-only
//! record iteration and verification over the files.
//!
//! This is the ONLY module of the crate that touches the filesystem, spawns threads, reads the
//! clock or draws random bytes. It owns file modes (0700 directories, 0600 files), the writer
//! lock, fsync points, segment rotation and torn-tail repair. It must never repair anything but
//! a torn tail, never write outside the journal directory, and never append while another
//! process holds the lock. Byte layouts and verdicts come from the pure modules.
//!
//! This file holds the writer once open: appending, syncing, segment rotation, expiry and the
//! removal of orphan blobs. Its parts: `open` (opening, verification on open, torn-tail
//! repair), `checkpoint` (where verification may resume), `lock` (the writer's lock, setting a
//! damaged journal aside), `blobs` (writing and reading payload blob files), `read` (lock-free
//! iteration and verification), `files` (modes, syncs, listings and names of the files).

// The journal store owns its files: it renames, removes and dates them (clippy.toml); the
// allowance covers its submodules.
#![allow(clippy::disallowed_methods)]

mod blobs;
mod checkpoint;
mod files;
mod fold;
mod lock;
mod open;
mod read;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::chain::{ChainHead, JournalId};
use crate::codec::{encode_plan_record, encode_record, payload_refs};
use crate::error::{Damage, Location};
use crate::frame::{
    build_frame, BuildError, SegmentHeader, FORMAT_VERSION, MAX_RECORD_LEN, SEGMENT_HEADER_LEN,
};
use crate::record::{Digest, ItemSummary, PayloadKind, PayloadRef, Record};
use crate::scan::ScanError;

use files::{
    blob_path, create_segment, io_err, list_blobs, payload_dir, private_file_options, sync_dir,
};

pub use blobs::{open_payload, PayloadReader, PayloadWriter};
pub use checkpoint::{read_checkpoint, Checkpoint};
pub use fold::{run_of, FoldPlan};
pub use lock::set_aside;
pub use open::{OpenReport, TornTailRepair};
pub use read::{
    read_records, read_records_from, verify, verify_with, RecordEntry, RecordIter, VerifyOptions,
};

// The writer's vocabulary, so callers need one import path.
pub use crate::error::JournalError;
pub use crate::payload::{PayloadEntry, RowRole};

/// Segments are rotated once they reach this size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
const LOCK_FILE: &str = "LOCK";
const PAYLOAD_DIR: &str = "payloads";
const PAYLOAD_TMP_DIR: &str = "tmp";
const READ_BUFFER: usize = 256 << 10;

/// Tuning of a writer.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Rotate the segment once it is at least this large (bytes).
    pub segment_bytes: u64,
    /// Records that must be on the chain with these hashes (the caller passes every record its
    /// database anchors). One missing from the journal, or with another hash, is damage; an
    /// incomplete tail is cut only when it lies after the last of them.
    pub expected: Vec<ChainHead>,
    /// Verify from this checkpoint instead of from the first record. Its record must be among
    /// `expected` (the caller establishes that an independent witness, the database, knows
    /// it); the checkpoint's frame is checked against that hash, then every later record.
    pub checkpoint: Option<Checkpoint>,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            expected: Vec::new(),
            checkpoint: None,
        }
    }
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: Digest,
    pub location: Location,
    /// Bytes of the frame on disk.
    pub frame_len: u64,
}

impl Appended {
    #[must_use]
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

/// The single writer of a journal directory. Holds the directory's lock while alive.
pub struct Journal {
    dir: PathBuf,
    options: JournalOptions,
    journal_id: JournalId,
    head: ChainHead,
    _lock: File,
    segment: File,
    segment_name: String,
    segment_len: u64,
    /// The newest segment's format version: records are appended only to a segment of the
    /// current version, so a journal written by an earlier version goes on in a new segment.
    segment_version: u16,
    compressor: zstd::bulk::Compressor<'static>,
    poisoned: bool,
    /// Blob files (and their temporary files) written through this journal: never orphans
    /// of a crash, whatever their time.
    written: Written,
}

/// The payload files written by one open journal and its writers.
type Written = std::sync::Arc<std::sync::Mutex<HashSet<PathBuf>>>;

fn note_written(written: &Written, path: &Path) {
    if let Ok(mut set) = written.lock() {
        set.insert(path.to_owned());
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("journal_id", &self.journal_id)
            .field("head", &self.head)
            .field("segment", &self.segment_name)
            .finish_non_exhaustive()
    }
}

fn damaged(dir: &Path, d: Damage) -> JournalError {
    JournalError::Damaged {
        dir: dir.to_owned(),
        damage: Box::new(d),
    }
}

fn scan_error(dir: &Path, file: &str, e: ScanError) -> JournalError {
    match e {
        ScanError::Damage(d) => damaged(dir, *d),
        ScanError::Io(e) => JournalError::io("reading", dir.join(file), e),
    }
}

impl Journal {
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    #[must_use]
    pub fn journal_id(&self) -> JournalId {
        self.journal_id
    }

    /// The newest record (seq 0 and the genesis value for an empty journal).
    #[must_use]
    pub fn head(&self) -> ChainHead {
        self.head
    }

    /// Appends one record. Not durable until `sync` (or a durable append) returns.
    pub fn append(&mut self, record: &Record) -> Result<Appended, JournalError> {
        self.append_inner(record, false)
    }

    /// Appends one record and syncs the segment before returning.
    pub fn append_durable(&mut self, record: &Record) -> Result<Appended, JournalError> {
        self.append_inner(record, true)
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        let path = self.dir.join(&self.segment_name);
        self.segment.sync_data().map_err(|e| {
            // After a failed fsync the page cache state is unknown: stop appending.
            self.poisoned = true;
            JournalError::io("syncing", &path, e)
        })
    }

    /// Appends a `plan` record and syncs the segment before returning, its `count` item
    /// summaries encoded one at a time as `items` yields them: the bytes are those of
    /// [`Record::Plan`] with the same summaries, without the summaries all in memory at once.
    ///
    /// # Panics
    /// When `items` does not yield exactly `count` summaries.
    pub fn append_plan_durable(
        &mut self,
        (run_id, duty): (&str, &str),
        payload: &PayloadRef,
        count: usize,
        items: &mut dyn Iterator<Item = ItemSummary>,
    ) -> Result<Appended, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        let body = encode_plan_record((run_id, duty), payload, count, items);
        self.append_body(&body, true)
    }

    fn append_inner(&mut self, record: &Record, durable: bool) -> Result<Appended, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        let body = encode_record(record);
        self.append_body(&body, durable)
    }

    fn append_body(&mut self, body: &[u8], durable: bool) -> Result<Appended, JournalError> {
        if body.len() > MAX_RECORD_LEN as usize {
            return Err(JournalError::RecordTooLarge {
                len: body.len(),
                max: MAX_RECORD_LEN,
            });
        }
        let full = self.segment_len >= self.options.segment_bytes
            && self.segment_len > SEGMENT_HEADER_LEN as u64;
        if full || self.segment_version != FORMAT_VERSION {
            self.rotate()?;
        }
        let seq = self.head.seq + 1;
        let frame =
            build_frame(&mut self.compressor, seq, &self.head.hash, body).map_err(|e| match e {
                BuildError::TooLarge { len } => JournalError::RecordTooLarge {
                    len,
                    max: MAX_RECORD_LEN,
                },
                BuildError::Compress(m) => JournalError::Compress(m),
            })?;
        let offset = self.segment_len;
        let path = self.dir.join(&self.segment_name);
        if let Err(e) = self.segment.write_all(&frame.bytes) {
            // Take back a partial frame so the file ends at a record boundary again.
            if self.segment.set_len(offset).is_err() {
                self.poisoned = true;
            }
            return Err(JournalError::io("appending to", &path, e));
        }
        self.segment_len += frame.bytes.len() as u64;
        self.head = ChainHead {
            seq,
            hash: frame.hash,
        };
        if durable {
            self.sync()?;
        }
        Ok(Appended {
            seq,
            hash: frame.hash,
            location: Location {
                file: self.segment_name.clone(),
                offset,
            },
            frame_len: frame.bytes.len() as u64,
        })
    }

    /// Starts a new segment before the next record, unless the newest one is still empty: the
    /// caller's choice of boundaries (the first run of a month, for example), so that old
    /// segments can be folded one at a time.
    ///
    /// # Errors
    /// The new segment could not be created.
    pub fn start_segment(&mut self) -> Result<(), JournalError> {
        if self.segment_len > SEGMENT_HEADER_LEN as u64 {
            self.rotate()?;
        }
        Ok(())
    }

    /// Starts the next segment, in the current format version. An empty newest segment (of an
    /// earlier version: a full one is never empty) is replaced by the new one, which has its
    /// name: the same first record and chain value.
    fn rotate(&mut self) -> Result<(), JournalError> {
        let old = self.dir.join(&self.segment_name);
        self.segment.sync_all().map_err(|e| {
            self.poisoned = true;
            JournalError::io("syncing", &old, e)
        })?;
        let header = SegmentHeader {
            version: FORMAT_VERSION,
            journal_id: self.journal_id,
            first_seq: self.head.seq + 1,
            prev_hash: self.head.hash,
        };
        let name = create_segment(&self.dir, &header)?;
        let path = self.dir.join(&name);
        self.segment = private_file_options()
            .append(true)
            .open(&path)
            .map_err(io_err("opening for append", &path))?;
        self.segment_name = name;
        self.segment_len = SEGMENT_HEADER_LEN as u64;
        self.segment_version = FORMAT_VERSION;
        Ok(())
    }

    /// A streaming writer for one payload blob: entries are encoded on the calling thread,
    /// compressed (zstd level 1) and hashed on a worker thread, with constant memory.
    pub fn payload_writer(&self, kind: PayloadKind) -> Result<PayloadWriter, JournalError> {
        PayloadWriter::create(&self.dir, kind, &self.written)
    }

    /// Streams the entries of a blob; the digest is confirmed after the last entry (an altered
    /// blob yields an error then). Verify first where acting on unconfirmed entries matters.
    pub fn read_payload(&self, digest: &Digest) -> Result<PayloadReader, JournalError> {
        open_payload(&self.dir, digest)
    }

    #[must_use]
    pub fn payload_exists(&self, digest: &Digest) -> bool {
        blob_path(&self.dir, digest).is_file()
    }

    /// Appends (durably) a `PayloadExpired` record, then deletes the blob. The record comes
    /// first so a crash in between leaves an expired blob, never a missing one.
    pub fn expire_payload(
        &mut self,
        digest: &Digest,
        run_id: &str,
        reason: &str,
    ) -> Result<(), JournalError> {
        let path = blob_path(&self.dir, digest);
        if !path.is_file() {
            return Err(JournalError::PayloadNotFound {
                digest: *digest,
                path,
            });
        }
        self.append_durable(&Record::PayloadExpired {
            digest: *digest,
            run_id: run_id.to_owned(),
            reason: reason.to_owned(),
        })?;
        fs::remove_file(&path).map_err(io_err("removing expired payload", &path))?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    /// Removes blobs that no chained record references (a crash before the record that would
    /// have named them), blobs whose expiry is recorded but whose file survived a crash, and
    /// partial blobs in `payloads/tmp/`. Files written through this `Journal` are never
    /// touched (the journal's lock keeps every other writer out), so payloads being written by
    /// this process are safe. Call it during recovery,
    /// after the outcomes of committed chunks have been appended (their blobs are referenced
    /// only from then on). Returns the digests of the removed blobs.
    pub fn remove_orphan_payloads(&mut self) -> Result<Vec<Digest>, JournalError> {
        let ours: HashSet<PathBuf> = self
            .written
            .lock()
            .map(|set| set.clone())
            .unwrap_or_default();
        let candidates: Vec<(Digest, PathBuf)> = list_blobs(&self.dir)?
            .into_iter()
            .filter(|(_, path, _)| !ours.contains(path))
            .map(|(d, p, _)| (d, p))
            .collect();
        let present: HashSet<Digest> = candidates.iter().map(|(d, _)| *d).collect();
        let mut unreferenced = present.clone();
        let mut expired: HashSet<Digest> = HashSet::new();
        if !present.is_empty() {
            for entry in read_records(&self.dir)? {
                let entry = entry?;
                if let Record::PayloadExpired { digest, .. } = &entry.record {
                    if present.contains(digest) {
                        expired.insert(*digest);
                    }
                }
                for r in payload_refs(&entry.record) {
                    unreferenced.remove(&r.digest);
                }
            }
        }
        let mut removed = Vec::new();
        let mut dirs = HashSet::new();
        for (digest, path) in candidates {
            if unreferenced.contains(&digest) || expired.contains(&digest) {
                fs::remove_file(&path).map_err(io_err("removing orphan payload", &path))?;
                if let Some(parent) = path.parent() {
                    dirs.insert(parent.to_owned());
                }
                removed.push(digest);
            }
        }
        let tmp = payload_dir(&self.dir).join(PAYLOAD_TMP_DIR);
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries {
                let entry = entry.map_err(io_err("listing", &tmp))?;
                let old = !ours.contains(&entry.path());
                if old && entry.file_name().to_string_lossy().ends_with(".part") {
                    fs::remove_file(entry.path())
                        .map_err(io_err("removing partial payload", &entry.path()))?;
                    dirs.insert(tmp.clone());
                }
            }
        }
        for d in dirs {
            sync_dir(&d)?;
        }
        removed.sort();
        Ok(removed)
    }
}
