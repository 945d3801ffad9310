//! Opening a journal for writing: the private directories, the writer's lock, a new journal
//! where there is none, the verification of the chain (from a confirmed checkpoint, or from the
//! first record) and the repair of a torn tail.
//!
//! Owns the decisions of opening (FORMAT.md §10.2). It must never repair anything but a torn
//! tail after the last complete record, and never start a new journal over segments, blobs or
//! records known to exist.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::checkpoint::{lost, resume_at};
use super::files::{
    create_segment, ensure_private_dir, io_err, list_blobs, list_segments, open_segment_reader,
    private_file_options, random_16, sync_dir,
};
use super::lock::take_lock;
use super::{
    scan_error, Journal, JournalError, JournalOptions, Written, LOCK_FILE, PAYLOAD_DIR,
    PAYLOAD_TMP_DIR,
};
use crate::chain::{genesis, ChainHead, JournalId};
use crate::error::{Damage, DamageClass, Location};
use crate::frame::{
    parse_segment_file_name, SegmentHeader, FORMAT_VERSION, RECORD_ZSTD_LEVEL, SEGMENT_HEADER_LEN,
};
use crate::scan::{Folded, ScanError, Scanner};

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
    /// The journal's oldest segments were folded (seen when verification read from the first
    /// segment, not from a checkpoint).
    pub folded: Option<Folded>,
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

/// What the verification on opening found: the scanner after the last good record, the torn
/// tail that ended the newest segment, if any, and where the last good frame ends.
struct Verified {
    scanner: Scanner,
    torn_tail: Option<Damage>,
    end_offset: u64,
    /// The format version of the newest segment.
    version: u16,
}

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
        let (lock, permissions_fixed) = prepare_directory(dir)?;
        let (segments, created) = segments_or_new_journal(dir, &options)?;
        let verified = verify_chain(dir, &segments, &options)?;
        let (_, newest_name) = segments
            .last()
            .cloned()
            .ok_or_else(|| JournalError::NoJournal {
                dir: dir.to_owned(),
                reason: "no segment file".into(),
            })?;
        let (segment, torn_tail) = open_newest(dir, &newest_name, &verified)?;
        let scanner = &verified.scanner;
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
            folded: scanner.folded(),
        };
        let journal = Journal {
            dir: dir.to_owned(),
            options,
            journal_id,
            head,
            _lock: lock,
            segment,
            segment_name: newest_name,
            segment_len: verified.end_offset,
            segment_version: verified.version,
            compressor: zstd::bulk::Compressor::new(RECORD_ZSTD_LEVEL)
                .map_err(io_err("starting zstd for", dir))?,
            poisoned: false,
            written: Written::default(),
        };
        Ok((journal, report))
    }
}

/// Makes the journal directory and its payload directories private (0700), takes the writer's
/// lock and removes segment files whose creation never finished. Returns the lock file and
/// the directories whose permissions were tightened.
fn prepare_directory(dir: &Path) -> Result<(File, Vec<PathBuf>), JournalError> {
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
    remove_stale_segment_temps(dir)?;
    Ok((lock, permissions_fixed))
}

/// The segment files of `dir`, after creating a new journal (random id, one empty segment) in
/// a directory without segments — unless records or blobs show that one existed. True when
/// the journal was created.
fn segments_or_new_journal(
    dir: &Path,
    options: &JournalOptions,
) -> Result<(Vec<(u64, String)>, bool), JournalError> {
    let segments = list_segments(dir)?;
    if !segments.is_empty() {
        return Ok((segments, false));
    }
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
        version: FORMAT_VERSION,
        journal_id: id,
        first_seq: 1,
        prev_hash: genesis(&id),
    };
    create_segment(dir, &header)?;
    Ok((list_segments(dir)?, true))
}

/// Verifies the chain (from the checkpoint, if one is given) and finds the end of the last good
/// frame. A torn tail of the newest segment is returned for repair; any other damage is an
/// error.
fn verify_chain(
    dir: &Path,
    segments: &[(u64, String)],
    options: &JournalOptions,
) -> Result<Verified, JournalError> {
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
                lost(
                    dir,
                    cp,
                    format!(
                        "the segment holding the verified record {} is missing",
                        cp.head.seq
                    ),
                )
            })?,
        None => 0,
    };
    let mut end_offset = SEGMENT_HEADER_LEN as u64;
    let mut version = FORMAT_VERSION;
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
        version = seg.version();
        if newest {
            let end = Location {
                file: name.clone(),
                offset: end_offset,
            };
            scanner.finish(&end).map_err(|e| scan_error(dir, name, e))?;
        }
    }
    Ok(Verified {
        scanner,
        torn_tail,
        end_offset,
        version,
    })
}

/// Opens the newest segment for appending, after cutting off (and syncing) its torn tail, if
/// verification found one.
fn open_newest(
    dir: &Path,
    newest_name: &str,
    verified: &Verified,
) -> Result<(File, Option<TornTailRepair>), JournalError> {
    let newest_path = dir.join(newest_name);
    let segment = private_file_options()
        .append(true)
        .open(&newest_path)
        .map_err(io_err("opening for append", &newest_path))?;
    let file_len = segment
        .metadata()
        .map_err(io_err("reading metadata of", &newest_path))?
        .len();
    let torn_tail = match &verified.torn_tail {
        Some(d) => {
            segment
                .set_len(verified.end_offset)
                .map_err(io_err("truncating torn tail of", &newest_path))?;
            segment
                .sync_all()
                .map_err(io_err("syncing", &newest_path))?;
            Some(TornTailRepair {
                location: d.location.clone(),
                removed_bytes: file_len.saturating_sub(verified.end_offset),
                explanation: d.explanation.clone(),
            })
        }
        None => None,
    };
    Ok((segment, torn_tail))
}

/// Removes `segment-….hkj.tmp` files: segments whose creation never completed.
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
