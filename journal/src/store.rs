//! The journal directory on disk: the single writer (`Journal`), payload blob files, read-only
//! record iteration and verification over the files.
//!
//! This is the ONLY module of the crate that touches the filesystem, spawns threads, reads the
//! clock or draws random bytes. It owns file modes (0700 directories, 0600 files), the writer
//! lock, fsync points, segment rotation and torn-tail repair. It must never repair anything but
//! a torn tail, never write outside the journal directory, and never append while another
//! process holds the lock. Byte layouts and verdicts come from the pure modules.

// The journal store owns its files: it renames, removes and dates them (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::cbor::Encoder;
use crate::chain::{genesis, ChainHead, JournalId};
use crate::codec::{encode_record, payload_refs};
use crate::error::{Damage, DamageClass, Location};
use crate::frame::{
    build_frame, parse_segment_file_name, segment_file_name, BuildError, SegmentHeader,
    MAX_RECORD_LEN, RECORD_ZSTD_LEVEL, SEGMENT_HEADER_LEN,
};
use crate::payload::{
    encode_header, encode_json, encode_json_head, encode_row, encode_table, BlobEntries,
    BlobWriter, PayloadHeader, BLOB_ZSTD_LEVEL, MAX_COLUMNS,
};
use crate::record::{Digest, PayloadKind, PayloadRef, Record};
use crate::scan::{ScanError, ScannedRecord, Scanner, Segment};
use crate::value::Value;
use crate::verify::{blob_relative_path, BlobSource, Verifier, VerifyReport};

// The writer's vocabulary, so callers need one import path.
pub use crate::error::JournalError;
pub use crate::payload::{PayloadEntry, RowRole};

/// Segments are rotated once they reach this size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
const LOCK_FILE: &str = "LOCK";
const PAYLOAD_DIR: &str = "payloads";
const PAYLOAD_TMP_DIR: &str = "tmp";
/// Body bytes the payload writer collects before handing them to its worker thread.
const PAYLOAD_CHUNK: usize = 128 << 10;
/// Chunks in flight between the payload writer and its worker (bounds memory).
const PAYLOAD_QUEUE: usize = 4;
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

/// A point of the chain up to which the journal was verified: the record and where its frame
/// starts. Written by `Journal::write_checkpoint` to the journal directory; by itself it proves
/// nothing (whoever can write the directory can write it), so it is only used together with a
/// witness of the same record's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub journal_id: JournalId,
    pub head: ChainHead,
    /// Segment file holding the record's frame.
    pub segment: String,
    /// Byte offset of the record's frame in it.
    pub offset: u64,
}

const CHECKPOINT_FILE: &str = "CHECKPOINT";
const CHECKPOINT_MAGIC: &str = "housekeeper-journal-checkpoint 1";

impl Checkpoint {
    fn to_text(&self) -> String {
        format!(
            "{CHECKPOINT_MAGIC}\njournal {}\nseq {}\nhash {}\nsegment {}\noffset {}\n",
            self.journal_id, self.head.seq, self.head.hash, self.segment, self.offset
        )
    }

    fn parse(text: &str) -> Option<Checkpoint> {
        let mut lines = text.lines();
        if lines.next()? != CHECKPOINT_MAGIC {
            return None;
        }
        let mut field = |name: &str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|v| v.strip_prefix(' '))
                .map(str::to_owned)
        };
        let journal_id = JournalId::from_hex(&field("journal")?)?;
        let seq = field("seq")?.parse().ok()?;
        let hash = Digest::from_hex(&field("hash")?)?;
        let segment = field("segment")?;
        let offset = field("offset")?.parse().ok()?;
        parse_segment_file_name(&segment)?;
        Some(Checkpoint {
            journal_id,
            head: ChainHead { seq, hash },
            segment,
            offset,
        })
    }
}

/// Takes the writer's exclusive lock on the journal `dir` through its open lock file: held
/// elsewhere is `Locked`.
fn take_lock(dir: &Path, lock: &File, lock_path: &Path) -> Result<(), JournalError> {
    match lock.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            dir: dir.to_owned(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(JournalError::io("locking", lock_path, e)),
    }
}

/// Sets a damaged journal aside for forensics: moves the directory `dir` to `dest` (which must
/// not exist; its parent is created 0700) and makes every file in it read-only (0400, its
/// directories 0500), so nothing appends to it again. Refuses while a writer holds its lock.
pub fn set_aside(dir: &Path, dest: &Path) -> Result<(), JournalError> {
    let lock_path = dir.join(LOCK_FILE);
    if let Ok(lock) = OpenOptions::new().read(true).write(true).open(&lock_path) {
        take_lock(dir, &lock, &lock_path)?;
    }
    if let Some(parent) = dest.parent() {
        ensure_private_dir(parent)?;
    }
    if dest.exists() {
        return Err(JournalError::io(
            "setting aside to",
            dest,
            io::Error::new(io::ErrorKind::AlreadyExists, "already exists"),
        ));
    }
    fs::rename(dir, dest).map_err(io_err("setting aside", dir))?;
    if let Some(parent) = dest.parent() {
        sync_dir(parent)?;
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    make_read_only(dest)
}

fn make_read_only(path: &Path) -> Result<(), JournalError> {
    let meta = fs::symlink_metadata(path).map_err(io_err("reading metadata of", path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err("listing", path))? {
            let entry = entry.map_err(io_err("listing", path))?;
            make_read_only(&entry.path())?;
        }
        fs::set_permissions(path, fs::Permissions::from_mode(0o500))
            .map_err(io_err("making read-only", path))
    } else if meta.is_file() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o400))
            .map_err(io_err("making read-only", path))
    } else {
        Ok(())
    }
}

/// The checkpoint of the journal in `dir`, if one was written and reads back whole. Unchecked:
/// see `Checkpoint`.
#[must_use]
pub fn read_checkpoint(dir: &Path) -> Option<Checkpoint> {
    let text = fs::read_to_string(dir.join(CHECKPOINT_FILE)).ok()?;
    Checkpoint::parse(&text)
}

/// What opening the journal found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    pub journal_id: JournalId,
    pub head: ChainHead,
    pub segments: u32,
    pub records: u64,
    /// A new, empty journal was created.
    pub created: bool,
    /// The torn tail that was cut off, if any.
    pub torn_tail: Option<TornTailRepair>,
    /// Directories whose group/other permissions were removed.
    pub permissions_fixed: Vec<PathBuf>,
}

impl OpenReport {
    /// Human notes on what opening did that an operator should know (repairs, permission
    /// fixes, a new journal). Empty when there is nothing to say.
    #[must_use]
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.created {
            notes.push(format!("created a new journal {}", self.journal_id));
        }
        if let Some(t) = &self.torn_tail {
            notes.push(format!(
                "cut off a torn tail of {} bytes in {} ({}) left by an interrupted write",
                t.removed_bytes, t.location, t.explanation
            ));
        }
        for p in &self.permissions_fixed {
            notes.push(format!(
                "removed group and other permissions from {}",
                p.display()
            ));
        }
        notes
    }
}

/// A torn tail removed by `Journal::open`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTailRepair {
    /// Where the incomplete frame started (the segment now ends there).
    pub location: Location,
    pub removed_bytes: u64,
    pub explanation: String,
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

// ---------------------------------------------------------------------------------------------
// Small filesystem helpers

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |e| JournalError::io(op, path, e)
}

fn create_dir_private(path: &Path) -> Result<bool, JournalError> {
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(JournalError::io("creating directory", path, e)),
    }
}

fn sync_dir(path: &Path) -> Result<(), JournalError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", path))
}

/// Makes `path` a 0700 directory (creating it and its parents); true if modes were tightened.
fn ensure_private_dir(path: &Path) -> Result<bool, JournalError> {
    match fs::metadata(path) {
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(JournalError::io(
                    "opening journal directory",
                    path,
                    io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                ));
            }
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700 | 0o700))
                    .map_err(io_err("restricting permissions of", path))?;
                return Ok(true);
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(path)
                .map_err(io_err("creating directory", path))?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            Ok(false)
        }
        Err(e) => Err(JournalError::io("opening journal directory", path, e)),
    }
}

fn private_file_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

/// 16 bytes from the system's random source (journal ids must be unique, blob nonces also
/// unpredictable).
fn random_16(dir: &Path) -> Result<[u8; 16], JournalError> {
    let mut out = [0u8; 16];
    getrandom::fill(&mut out).map_err(|e| {
        JournalError::io(
            "reading the system's random source for",
            dir,
            io::Error::other(e.to_string()),
        )
    })?;
    Ok(out)
}

/// The segment files of `dir`, sorted in chain order: (first seq from the name, file name).
fn list_segments(dir: &Path) -> Result<Vec<(u64, String)>, JournalError> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(io_err("listing", dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err("listing", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            if let Some(seq) = parse_segment_file_name(name) {
                out.push((seq, name.to_owned()));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn payload_dir(dir: &Path) -> PathBuf {
    dir.join(PAYLOAD_DIR)
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(blob_relative_path(digest))
}

/// Every complete blob file under `payloads/`: (digest, path, mtime).
fn list_blobs(dir: &Path) -> Result<Vec<(Digest, PathBuf, Option<SystemTime>)>, JournalError> {
    let root = payload_dir(dir);
    let mut out = Vec::new();
    let top = match fs::read_dir(&root) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(JournalError::io("listing", &root, e)),
    };
    for sub in top {
        let sub = sub.map_err(io_err("listing", &root))?;
        let name = sub.file_name();
        let Some(prefix) = name.to_str() else {
            continue;
        };
        if prefix.len() != 2 || !sub.path().is_dir() {
            continue;
        }
        let subdir = sub.path();
        for f in fs::read_dir(&subdir).map_err(io_err("listing", &subdir))? {
            let f = f.map_err(io_err("listing", &subdir))?;
            let fname = f.file_name();
            let Some(stem) = fname.to_str().and_then(|n| n.strip_suffix(".hkp")) else {
                continue;
            };
            if let Some(digest) = Digest::from_hex(stem) {
                let mtime = f.metadata().ok().and_then(|m| m.modified().ok());
                out.push((digest, f.path(), mtime));
            }
        }
    }
    Ok(out)
}

struct FsBlobs {
    dir: PathBuf,
}

impl BlobSource for FsBlobs {
    fn open_blob(&self, digest: &Digest) -> io::Result<Option<Box<dyn Read + '_>>> {
        match File::open(blob_path(&self.dir, digest)) {
            Ok(f) => Ok(Some(Box::new(f))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
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

/// Positions a scan at a checkpoint's frame in segment `name`: the segment must belong to the
/// checkpoint's journal and hold a frame of the checkpoint's record at its offset; the scan then
/// recomputes that record's hash, which the scanner's expectations must confirm.
fn resume_at(
    dir: &Path,
    name: &str,
    cp: &Checkpoint,
    scanner: &mut Scanner,
    newest: bool,
) -> Result<crate::scan::Segment<BufReader<File>>, JournalError> {
    use std::io::{Seek, SeekFrom};
    let path = dir.join(name);
    let gone = |explanation: String| {
        damaged(
            dir,
            Damage {
                class: DamageClass::Truncated,
                seq: Some(cp.head.seq),
                location: Location {
                    file: name.to_owned(),
                    offset: cp.offset,
                },
                digest: None,
                explanation,
            },
        )
    };
    let mut file = File::open(&path).map_err(io_err("opening", &path))?;
    let mut hb = [0u8; SEGMENT_HEADER_LEN];
    file.read_exact(&mut hb)
        .map_err(|e| gone(format!("segment header unreadable: {e}")))?;
    let header = SegmentHeader::parse(&hb).map_err(|e| gone(format!("segment header: {e}")))?;
    if header.journal_id != cp.journal_id {
        return Err(gone(format!(
            "segment belongs to journal {}, the verified record to journal {}",
            header.journal_id, cp.journal_id
        )));
    }
    let mut fb = [0u8; crate::frame::FRAME_HEADER_LEN];
    file.seek(SeekFrom::Start(cp.offset))
        .and_then(|_| file.read_exact(&mut fb))
        .map_err(|e| {
            gone(format!(
                "the verified record {} is no longer there: {e}",
                cp.head.seq
            ))
        })?;
    let frame = crate::frame::FrameHeader::parse_checked(&fb).map_err(|_| {
        gone(format!(
            "no frame of the verified record {} at its offset",
            cp.head.seq
        ))
    })?;
    if frame.seq != cp.head.seq || cp.head.seq == 0 {
        return Err(gone(format!(
            "the frame at the verified offset holds record {}, not record {}",
            frame.seq, cp.head.seq
        )));
    }
    file.seek(SeekFrom::Start(cp.offset))
        .map_err(io_err("seeking in", &path))?;
    scanner.resume(
        header.journal_id,
        ChainHead {
            seq: cp.head.seq - 1,
            hash: frame.prev_hash,
        },
    );
    Ok(scanner.resume_segment(
        name,
        BufReader::with_capacity(READ_BUFFER, file),
        cp.offset,
        newest,
    ))
}

fn open_segment_reader(dir: &Path, name: &str) -> Result<BufReader<File>, JournalError> {
    let path = dir.join(name);
    let f = File::open(&path).map_err(io_err("opening", &path))?;
    Ok(BufReader::with_capacity(READ_BUFFER, f))
}

// ---------------------------------------------------------------------------------------------
// The writer

impl Journal {
    /// Opens (creating it 0700 if needed) the journal directory for writing with default
    /// options. See `open_with`.
    pub fn open(dir: &Path) -> Result<(Journal, OpenReport), JournalError> {
        Self::open_with(dir, JournalOptions::default())
    }

    /// Opens the journal for writing: takes the exclusive lock (another writer → `Locked`),
    /// verifies the whole chain of records (not the blobs), cuts off a torn tail after the last
    /// complete record (reported in `OpenReport::torn_tail`) and refuses any other damage
    /// (`Damaged`). Creates a new journal only in a directory without segments and blobs.
    pub fn open_with(
        dir: &Path,
        options: JournalOptions,
    ) -> Result<(Journal, OpenReport), JournalError> {
        let mut permissions_fixed = Vec::new();
        if ensure_private_dir(dir)? {
            permissions_fixed.push(dir.to_owned());
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = private_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("opening lock file", &lock_path))?;
        take_lock(dir, &lock, &lock_path)?;
        for name in [
            PAYLOAD_DIR.to_owned(),
            format!("{PAYLOAD_DIR}/{PAYLOAD_TMP_DIR}"),
        ] {
            let p = dir.join(name);
            if ensure_private_dir(&p)? {
                permissions_fixed.push(p);
            }
        }
        Self::remove_stale_segment_temps(dir)?;

        let mut segments = list_segments(dir)?;
        let mut created = false;
        if segments.is_empty() {
            if let Some(last) = options.expected.iter().map(|h| h.seq).max() {
                return Err(JournalError::NoJournal {
                    dir: dir.to_owned(),
                    reason: format!(
                        "there is no segment file, but record {last} of this journal is known \
                         to exist: the journal was deleted or replaced; refusing to start a new \
                         one over it"
                    ),
                });
            }
            let blobs = list_blobs(dir)?;
            if !blobs.is_empty() {
                return Err(JournalError::NoJournal {
                    dir: dir.to_owned(),
                    reason: format!(
                        "there are {} payload blobs but no segment file: the records are lost; \
                         refusing to start a new journal over them",
                        blobs.len()
                    ),
                });
            }
            let id = JournalId(random_16(dir)?);
            let header = SegmentHeader {
                journal_id: id,
                first_seq: 1,
                prev_hash: genesis(&id),
            };
            Self::create_segment(dir, &header)?;
            created = true;
            segments = list_segments(dir)?;
        }

        // Verify the chain (from the checkpoint, if one is given); find the end of the last
        // good frame.
        let mut expected = options.expected.clone();
        expected.extend(options.checkpoint.as_ref().map(|cp| cp.head));
        let mut scanner = Scanner::expecting(expected).map_err(io_err("starting zstd for", dir))?;
        let mut torn_tail = None;
        let count = segments.len();
        let first = match &options.checkpoint {
            Some(cp) => segments
                .iter()
                .position(|(_, name)| *name == cp.segment)
                .ok_or_else(|| {
                    damaged(
                        dir,
                        Damage {
                            class: DamageClass::Truncated,
                            seq: Some(cp.head.seq),
                            location: Location {
                                file: cp.segment.clone(),
                                offset: cp.offset,
                            },
                            digest: None,
                            explanation: format!(
                                "the segment holding the verified record {} is missing",
                                cp.head.seq
                            ),
                        },
                    )
                })?,
            None => 0,
        };
        let mut end_offset = SEGMENT_HEADER_LEN as u64;
        for (i, (_, name)) in segments.iter().enumerate().skip(first) {
            let newest = i + 1 == count;
            let mut seg = match &options.checkpoint {
                Some(cp) if i == first => resume_at(dir, name, cp, &mut scanner, newest)?,
                _ => {
                    let reader = open_segment_reader(dir, name)?;
                    scanner
                        .open_segment(name, reader, newest)
                        .map_err(|e| scan_error(dir, name, e))?
                }
            };
            loop {
                match scanner.next_record(&mut seg) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(ScanError::Damage(d)) if d.class == DamageClass::TornTail => {
                        torn_tail = Some(*d);
                        break;
                    }
                    Err(e) => return Err(scan_error(dir, name, e)),
                }
            }
            end_offset = seg.offset();
            if newest {
                let end = Location {
                    file: name.clone(),
                    offset: end_offset,
                };
                scanner.finish(&end).map_err(|e| scan_error(dir, name, e))?;
            }
        }
        let (_, newest_name) = segments
            .last()
            .cloned()
            .ok_or_else(|| JournalError::NoJournal {
                dir: dir.to_owned(),
                reason: "no segment file".into(),
            })?;
        let newest_path = dir.join(&newest_name);
        let segment = private_file_options()
            .append(true)
            .open(&newest_path)
            .map_err(io_err("opening for append", &newest_path))?;
        let file_len = segment
            .metadata()
            .map_err(io_err("reading metadata of", &newest_path))?
            .len();
        let torn_tail = match torn_tail {
            Some(d) => {
                segment
                    .set_len(end_offset)
                    .map_err(io_err("truncating torn tail of", &newest_path))?;
                segment
                    .sync_all()
                    .map_err(io_err("syncing", &newest_path))?;
                Some(TornTailRepair {
                    location: d.location,
                    removed_bytes: file_len.saturating_sub(end_offset),
                    explanation: d.explanation,
                })
            }
            None => None,
        };
        let (Some(journal_id), Some(head)) = (scanner.journal_id(), scanner.head()) else {
            return Err(JournalError::NoJournal {
                dir: dir.to_owned(),
                reason: "no readable segment header".into(),
            });
        };
        let report = OpenReport {
            journal_id,
            head,
            segments: scanner.segments(),
            records: scanner.records(),
            created,
            torn_tail,
            permissions_fixed,
        };
        let journal = Journal {
            dir: dir.to_owned(),
            options,
            journal_id,
            head,
            _lock: lock,
            segment,
            segment_name: newest_name,
            segment_len: end_offset,
            compressor: zstd::bulk::Compressor::new(RECORD_ZSTD_LEVEL)
                .map_err(io_err("starting zstd for", dir))?,
            poisoned: false,
            written: Written::default(),
        };
        Ok((journal, report))
    }

    /// Records that this journal was verified up to `at` (a record this writer appended), so
    /// the next open can start there once a witness confirms the record's hash. Written to a
    /// temporary name, synced and renamed into place.
    pub fn write_checkpoint(&self, at: &Appended) -> Result<(), JournalError> {
        let cp = Checkpoint {
            journal_id: self.journal_id,
            head: at.head(),
            segment: at.location.file.clone(),
            offset: at.location.offset,
        };
        let path = self.dir.join(CHECKPOINT_FILE);
        let tmp = self.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let mut f = private_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err("creating", &tmp))?;
        f.write_all(cp.to_text().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err("writing", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err("renaming", &tmp))?;
        sync_dir(&self.dir)
    }

    fn remove_stale_segment_temps(dir: &Path) -> Result<(), JournalError> {
        let mut removed = false;
        for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
            let entry = entry.map_err(io_err("listing", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name
                .strip_suffix(".tmp")
                .and_then(parse_segment_file_name)
                .is_some()
            {
                // A segment whose creation never completed: it never held a record.
                fs::remove_file(entry.path()).map_err(io_err("removing", &entry.path()))?;
                removed = true;
            }
        }
        if removed {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Writes a segment header to a temporary name, syncs it and renames it into place, so a
    /// segment header is never torn.
    fn create_segment(dir: &Path, header: &SegmentHeader) -> Result<String, JournalError> {
        let name = segment_file_name(header.first_seq);
        let tmp = dir.join(format!("{name}.tmp"));
        let path = dir.join(&name);
        let mut f = private_file_options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("creating segment", &tmp))?;
        f.write_all(&header.to_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err("writing segment header", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err("renaming new segment", &tmp))?;
        sync_dir(dir)?;
        Ok(name)
    }

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

    fn append_inner(&mut self, record: &Record, durable: bool) -> Result<Appended, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        let body = encode_record(record);
        if body.len() > MAX_RECORD_LEN as usize {
            return Err(JournalError::RecordTooLarge {
                len: body.len(),
                max: MAX_RECORD_LEN,
            });
        }
        if self.segment_len >= self.options.segment_bytes
            && self.segment_len > SEGMENT_HEADER_LEN as u64
        {
            self.rotate()?;
        }
        let seq = self.head.seq + 1;
        let frame = build_frame(&mut self.compressor, seq, &self.head.hash, &body).map_err(
            |e| match e {
                BuildError::TooLarge { len } => JournalError::RecordTooLarge {
                    len,
                    max: MAX_RECORD_LEN,
                },
                BuildError::Compress(m) => JournalError::Compress(m),
            },
        )?;
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

    fn rotate(&mut self) -> Result<(), JournalError> {
        let old = self.dir.join(&self.segment_name);
        self.segment.sync_all().map_err(|e| {
            self.poisoned = true;
            JournalError::io("syncing", &old, e)
        })?;
        let header = SegmentHeader {
            journal_id: self.journal_id,
            first_seq: self.head.seq + 1,
            prev_hash: self.head.hash,
        };
        let name = Self::create_segment(&self.dir, &header)?;
        let path = self.dir.join(&name);
        self.segment = private_file_options()
            .append(true)
            .open(&path)
            .map_err(io_err("opening for append", &path))?;
        self.segment_name = name;
        self.segment_len = SEGMENT_HEADER_LEN as u64;
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

// ---------------------------------------------------------------------------------------------
// Payload writing

enum Chunk {
    Data(Vec<u8>),
    Finish,
}

/// Streams one payload blob to disk. Dropping it without `finish` discards the blob.
pub struct PayloadWriter {
    kind: PayloadKind,
    written: Written,
    dir: PathBuf,
    tmp_path: PathBuf,
    enc: Encoder,
    tx: Option<SyncSender<Chunk>>,
    recycled: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<(Digest, u64)>>>,
    columns: Option<usize>,
    table: String,
    len: u64,
}

impl std::fmt::Debug for PayloadWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadWriter")
            .field("kind", &self.kind)
            .field("tmp_path", &self.tmp_path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

fn blob_worker(
    file: File,
    rx: &Receiver<Chunk>,
    back: &SyncSender<Vec<u8>>,
) -> io::Result<(Digest, u64)> {
    let mut w = BlobWriter::new(BufWriter::with_capacity(READ_BUFFER, file), BLOB_ZSTD_LEVEL)?;
    loop {
        match rx.recv() {
            Ok(Chunk::Data(mut buf)) => {
                w.write_body(&buf)?;
                buf.clear();
                // Hand the buffer back for reuse; if the writer has enough, drop it.
                let _ = back.try_send(buf);
            }
            Ok(Chunk::Finish) => break,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "payload writer abandoned",
                ))
            }
        }
    }
    let (out, digest, len) = w.finish()?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok((digest, len))
}

impl PayloadWriter {
    fn create(
        dir: &Path,
        kind: PayloadKind,
        written: &Written,
    ) -> Result<PayloadWriter, JournalError> {
        let nonce = random_16(dir)?;
        let tmp_dir = payload_dir(dir).join(PAYLOAD_TMP_DIR);
        let tmp_path = tmp_dir.join(format!("{}.part", crate::chain::hex(&nonce)));
        note_written(written, &tmp_path);
        let file = private_file_options()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(io_err("creating payload", &tmp_path))?;
        let (tx, rx) = mpsc::sync_channel::<Chunk>(PAYLOAD_QUEUE);
        let (back_tx, back_rx) = mpsc::sync_channel::<Vec<u8>>(PAYLOAD_QUEUE + 1);
        let worker = std::thread::Builder::new()
            .name("journal-payload".into())
            .spawn(move || blob_worker(file, &rx, &back_tx))
            .map_err(io_err("starting payload worker for", &tmp_path))?;
        let mut enc = Encoder {
            buf: Vec::with_capacity(PAYLOAD_CHUNK + 4096),
        };
        encode_header(&mut enc, &PayloadHeader { kind, nonce });
        Ok(PayloadWriter {
            kind,
            written: std::sync::Arc::clone(written),
            dir: dir.to_owned(),
            tmp_path,
            enc,
            tx: Some(tx),
            recycled: back_rx,
            worker: Some(worker),
            columns: None,
            table: String::new(),
            len: 0,
        })
    }

    /// Uncompressed body bytes produced so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len + self.enc.buf.len() as u64
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn worker_error(&mut self) -> JournalError {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => JournalError::io("writing payload", &self.tmp_path, e),
            _ => JournalError::WorkerFailed,
        }
    }

    fn maybe_flush(&mut self) -> Result<(), JournalError> {
        if self.enc.buf.len() >= PAYLOAD_CHUNK {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<(), JournalError> {
        if self.enc.buf.is_empty() {
            return Ok(());
        }
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PAYLOAD_CHUNK + 4096));
        let full = std::mem::replace(&mut self.enc.buf, fresh);
        self.len += full.len() as u64;
        let sent = match &self.tx {
            Some(tx) => tx.send(Chunk::Data(full)).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.worker_error())
        }
    }

    /// Starts a group of rows of `table` with these columns (at least one).
    pub fn begin_table(&mut self, table: &str, columns: &[String]) -> Result<(), JournalError> {
        if columns.is_empty() || columns.len() as u64 > MAX_COLUMNS {
            return Err(JournalError::PayloadUsage(format!(
                "table {table} with {} columns (allowed 1 to {MAX_COLUMNS})",
                columns.len()
            )));
        }
        encode_table(&mut self.enc, table, columns);
        self.columns = Some(columns.len());
        table.clone_into(&mut self.table);
        self.maybe_flush()
    }

    /// One row of the current table, one value per column.
    pub fn row(&mut self, role: RowRole, values: &[Value]) -> Result<(), JournalError> {
        match self.columns {
            None => {
                return Err(JournalError::PayloadUsage(
                    "row written before begin_table".into(),
                ))
            }
            Some(n) if n != values.len() => {
                return Err(JournalError::PayloadUsage(format!(
                    "row of {} values for table {} of {n} columns",
                    values.len(),
                    self.table
                )))
            }
            Some(_) => {}
        }
        encode_row(&mut self.enc, role, values);
        self.maybe_flush()
    }

    /// A JSON document (plans, details).
    pub fn json(&mut self, document: &str) -> Result<(), JournalError> {
        encode_json(&mut self.enc, document);
        self.maybe_flush()
    }

    /// A JSON document serialized from `value` straight into the blob, never held whole in
    /// memory: the same bytes as `json(&serde_json::to_string(value)?)`. It is serialized
    /// twice, once to count its bytes (the entry starts with its length) and once to write.
    ///
    /// # Errors
    /// The value cannot be serialized as JSON, or the worker failed.
    pub fn json_of<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JournalError> {
        struct Count(u64);
        impl io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        /// Appends to the payload, handing full chunks to the worker.
        struct Sink<'w>(&'w mut PayloadWriter, Option<JournalError>);
        impl io::Write for Sink<'_> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.enc.buf.extend_from_slice(buf);
                self.0.maybe_flush().map_err(|e| {
                    self.1 = Some(e);
                    io::Error::other("payload worker failed")
                })?;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let encode = |e: serde_json::Error| JournalError::Encode(format!("JSON document: {e}"));
        let mut count = Count(0);
        serde_json::to_writer(&mut count, value).map_err(encode)?;
        encode_json_head(&mut self.enc, count.0);
        let mut sink = Sink(self, None);
        let written = serde_json::to_writer(&mut sink, value);
        if let Some(e) = sink.1 {
            return Err(e);
        }
        written.map_err(encode)?;
        self.maybe_flush()
    }

    /// Finishes the blob: waits for the worker, syncs the file, moves it to its final name and
    /// syncs the directory. After this returns the blob is durable.
    pub fn finish(mut self) -> Result<PayloadRef, JournalError> {
        self.flush_chunk()?;
        let sent = match self.tx.take() {
            Some(tx) => tx.send(Chunk::Finish).is_ok(),
            None => false,
        };
        let joined = self.worker.take().map(JoinHandle::join);
        let (digest, len) = match joined {
            Some(Ok(Ok(r))) if sent => r,
            other => {
                let _ = fs::remove_file(&self.tmp_path);
                return Err(match other {
                    Some(Ok(Err(e))) => JournalError::io("writing payload", &self.tmp_path, e),
                    _ => JournalError::WorkerFailed,
                });
            }
        };
        let final_path = blob_path(&self.dir, &digest);
        let parent = final_path
            .parent()
            .map_or_else(|| payload_dir(&self.dir), Path::to_path_buf);
        if create_dir_private(&parent)? {
            sync_dir(&payload_dir(&self.dir))?;
        }
        note_written(&self.written, &final_path);
        fs::rename(&self.tmp_path, &final_path).map_err(io_err("storing payload", &final_path))?;
        sync_dir(&parent)?;
        Ok(PayloadRef {
            digest,
            len,
            kind: self.kind,
        })
    }
}

impl Drop for PayloadWriter {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            // Abandoned: closing the channel without `Finish` makes the worker stop.
            self.tx = None;
            let _ = worker.join();
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payload reading

/// Streaming reader of one blob's entries.
pub struct PayloadReader {
    entries: BlobEntries<File>,
    digest: Digest,
    path: PathBuf,
}

impl std::fmt::Debug for PayloadReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadReader")
            .field("digest", &self.digest)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PayloadReader {
    /// The blob's kind, from its header.
    #[must_use]
    pub fn kind(&self) -> Option<PayloadKind> {
        self.entries.header().map(|h| h.kind)
    }
}

impl Iterator for PayloadReader {
    type Item = Result<PayloadEntry, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(|r| {
            r.map_err(|detail| JournalError::PayloadCorrupt {
                digest: self.digest,
                path: self.path.clone(),
                detail,
            })
        })
    }
}

/// Opens a blob of the journal in `dir` for reading, without taking the writer lock.
pub fn open_payload(dir: &Path, digest: &Digest) -> Result<PayloadReader, JournalError> {
    let path = blob_path(dir, digest);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(JournalError::PayloadNotFound {
                digest: *digest,
                path,
            })
        }
        Err(e) => return Err(JournalError::io("opening payload", &path, e)),
    };
    let entries =
        BlobEntries::open(file, *digest).map_err(|detail| JournalError::PayloadCorrupt {
            digest: *digest,
            path: path.clone(),
            detail,
        })?;
    Ok(PayloadReader {
        entries,
        digest: *digest,
        path,
    })
}

// ---------------------------------------------------------------------------------------------
// Read-only iteration and verification

/// One record as read from the journal: seq, location (file and byte offset), hash, record.
pub type RecordEntry = ScannedRecord;

/// Streams every record of a journal, checking the chain as it goes. Takes no lock. Damage
/// ends the iteration with one `Err(Damaged)`; a torn tail (possibly a write in progress) ends
/// it quietly and is available from `torn_tail`.
pub struct RecordIter {
    dir: PathBuf,
    segments: std::vec::IntoIter<(u64, String)>,
    remaining: usize,
    scanner: Scanner,
    current: Option<Segment<BufReader<File>>>,
    done: bool,
    torn_tail: Option<Damage>,
}

impl std::fmt::Debug for RecordIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordIter")
            .field("dir", &self.dir)
            .field("scanner", &self.scanner)
            .finish_non_exhaustive()
    }
}

impl RecordIter {
    /// The torn tail that ended the iteration, if it ended at one.
    #[must_use]
    pub fn torn_tail(&self) -> Option<&Damage> {
        self.torn_tail.as_ref()
    }

    #[must_use]
    pub fn journal_id(&self) -> Option<JournalId> {
        self.scanner.journal_id()
    }

    /// The last record read so far.
    #[must_use]
    pub fn head(&self) -> Option<ChainHead> {
        self.scanner.head()
    }

    fn step(&mut self) -> Result<Option<RecordEntry>, JournalError> {
        loop {
            if let Some(seg) = self.current.as_mut() {
                match self.scanner.next_record(seg) {
                    Ok(Some(r)) => return Ok(Some(r)),
                    Ok(None) => self.current = None,
                    Err(ScanError::Damage(d)) if d.class == DamageClass::TornTail => {
                        self.torn_tail = Some(*d);
                        return Ok(None);
                    }
                    Err(e) => {
                        let name = seg.name().to_owned();
                        return Err(scan_error(&self.dir, &name, e));
                    }
                }
            }
            let Some((_, name)) = self.segments.next() else {
                return Ok(None);
            };
            self.remaining -= 1;
            let reader = open_segment_reader(&self.dir, &name)?;
            let seg = self
                .scanner
                .open_segment(&name, reader, self.remaining == 0)
                .map_err(|e| scan_error(&self.dir, &name, e))?;
            self.current = Some(seg);
        }
    }
}

impl Iterator for RecordIter {
    type Item = Result<RecordEntry, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn existing_segments(dir: &Path) -> Result<Vec<(u64, String)>, JournalError> {
    if !dir.is_dir() {
        return Err(JournalError::NoJournal {
            dir: dir.to_owned(),
            reason: "the directory does not exist".into(),
        });
    }
    let segments = list_segments(dir)?;
    if segments.is_empty() {
        return Err(JournalError::NoJournal {
            dir: dir.to_owned(),
            reason: "no segment file".into(),
        });
    }
    Ok(segments)
}

/// Read-only streaming iteration over all records of the journal in `dir` (no lock taken).
pub fn read_records(dir: &Path) -> Result<RecordIter, JournalError> {
    let segments = existing_segments(dir)?;
    Ok(RecordIter {
        dir: dir.to_owned(),
        remaining: segments.len(),
        segments: segments.into_iter(),
        scanner: Scanner::new(None).map_err(io_err("starting zstd for", dir))?,
        current: None,
        done: false,
        torn_tail: None,
    })
}

/// What `verify_with` checks.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A record that must be on the chain (the executor passes the head its database anchors
    /// recorded); catches a truncated, swapped or rewritten journal.
    pub expected_head: Option<ChainHead>,
    /// More records that must be on the chain with these hashes (every record the database
    /// anchors), checked like `expected_head`.
    pub expected: Vec<ChainHead>,
    /// Skip the payload blobs (chain only: much faster on large journals).
    pub chain_only: bool,
}

/// Full verification: chain, framing, every referenced payload present and matching unless
/// expired by a `PayloadExpired` record, and the expected head if given. Never panics;
/// constant memory. `Err` only when the journal cannot be read at all (no journal, I/O error);
/// damage is in the report.
pub fn verify(dir: &Path, expected_head: Option<&ChainHead>) -> Result<VerifyReport, JournalError> {
    verify_with(
        dir,
        &VerifyOptions {
            expected_head: expected_head.copied(),
            expected: Vec::new(),
            chain_only: false,
        },
    )
}

/// `verify` with options.
pub fn verify_with(dir: &Path, options: &VerifyOptions) -> Result<VerifyReport, JournalError> {
    let segments = existing_segments(dir)?;
    let blobs = FsBlobs {
        dir: dir.to_owned(),
    };
    let mut verifier = Verifier::new(
        options
            .expected_head
            .into_iter()
            .chain(options.expected.iter().copied())
            .collect(),
        (!options.chain_only).then_some(&blobs),
    )
    .map_err(io_err("starting zstd for", dir))?;
    let count = segments.len();
    for (i, (_, name)) in segments.iter().enumerate() {
        if verifier.chain_broken() {
            break;
        }
        let reader = open_segment_reader(dir, name)?;
        verifier
            .segment(name, reader, i + 1 == count)
            .map_err(io_err("reading", &dir.join(name)))?;
    }
    Ok(verifier.finish())
}
