//! Folding: removing the oldest segment files once nothing in them is needed any more, leaving
//! a `segments_folded` record on the chain that says which records went and where the chain
//! goes on from (FORMAT.md §10.4).
//!
//! Owns which segments may go and the order of folding: the record first (durably), then —
//! after the caller anchored it — the files. It never decides which runs are old enough: the
//! caller's `may_go` does. It never removes the newest segment or a segment with a payload blob
//! still present, and never folds a journal whose beginning is missing without a record
//! saying so. A run folded away may have later records in a segment that stays (the expiry of
//! its payloads, written by a later run): readers take those for a run they do not know.

use std::fs::{self, File};
use std::io::Read;

use super::checkpoint::{read_checkpoint, CHECKPOINT_FILE};
use super::files::{blob_path, io_err, list_segments, sync_dir};
use super::{read_records, Appended, Journal, JournalError};
use crate::chain::check8;
use crate::chain::ChainHead;
use crate::codec::{decode_record_of_version, payload_refs};
use crate::frame::{FrameHeader, SegmentHeader, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::scan::Folded;

/// The largest first record `segment_starts` decodes.
const FIRST_RECORD_MAX: u32 = 1 << 20;
use crate::record::Record;

/// The oldest segments that may be folded: their files, the first record and the last; and
/// the record that vouches for where the journal starts now, if an earlier fold removed its
/// beginning (the caller checks it against its witness before folding further).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldPlan {
    pub segments: Vec<String>,
    pub first_seq: u64,
    pub last: ChainHead,
    pub vouched_by: Option<Folded>,
}

/// What a segment holds, for the decision.
struct SegmentRuns {
    name: String,
    first_seq: Option<u64>,
    last: Option<ChainHead>,
    /// Every record may go and every blob it names is gone.
    may_go: bool,
}

/// The run a record belongs to.
#[must_use]
pub fn run_of(record: &Record) -> &str {
    match record {
        Record::RunStart { run_id, .. }
        | Record::Plan { run_id, .. }
        | Record::ChunkOutcome { run_id, .. }
        | Record::FileIntent { run_id, .. }
        | Record::FileOutcome { run_id, .. }
        | Record::DutyEnd { run_id, .. }
        | Record::RunEnd { run_id, .. }
        | Record::Recovery { run_id, .. }
        | Record::PayloadExpired { run_id, .. }
        | Record::QuarantineExpired { run_id, .. }
        | Record::JournalReset { run_id, .. }
        | Record::SegmentsFolded { run_id, .. } => run_id,
    }
}

/// The first record of segment `name`, read without verifying the chain (the caller only
/// decides from it whether to look closer); `None` when the segment holds no readable record.
fn first_record(dir: &std::path::Path, name: &str) -> Option<Record> {
    let mut file = File::open(dir.join(name)).ok()?;
    let mut hb = [0u8; SEGMENT_HEADER_LEN];
    file.read_exact(&mut hb).ok()?;
    let header = SegmentHeader::parse(&hb).ok()?;
    let mut fb = [0u8; FRAME_HEADER_LEN];
    file.read_exact(&mut fb).ok()?;
    let frame = FrameHeader::parse_checked(&fb).ok()?;
    // A run's first record is small: anything bigger is not worth a look here.
    if frame.ulen > FIRST_RECORD_MAX || frame.clen > FIRST_RECORD_MAX {
        return None;
    }
    let mut body = Vec::new();
    file.take(u64::from(frame.clen))
        .read_to_end(&mut body)
        .ok()?;
    if check8(&body) != frame.body_check {
        return None;
    }
    let bytes = zstd::bulk::decompress(&body, frame.ulen as usize).ok()?;
    decode_record_of_version(&bytes, header.version).ok()
}

impl Journal {
    /// Each segment's name and first record, oldest first (unverified: for deciding when to
    /// start a segment or to look for segments to fold, never for what to remove).
    ///
    /// # Errors
    /// The journal directory cannot be listed.
    pub fn segment_starts(&self) -> Result<Vec<(String, Option<Record>)>, JournalError> {
        Ok(list_segments(&self.dir)?
            .into_iter()
            .map(|(_, name)| {
                let first = first_record(&self.dir, &name);
                (name, first)
            })
            .collect())
    }

    /// The oldest segments, never the newest, whose every record `may_go` accepts and whose
    /// payload blobs are all gone (expired); `None` when there is none. Reads the whole
    /// journal: a journal that starts after record 1 must say why (a `segments_folded`
    /// record), so a fold never covers segments removed by someone else.
    ///
    /// # Errors
    /// The journal cannot be read, or its beginning is missing without a fold record.
    pub fn plan_fold(
        &self,
        may_go: &dyn Fn(&Record) -> bool,
    ) -> Result<Option<FoldPlan>, JournalError> {
        let names = list_segments(&self.dir)?;
        if names.len() < 2 {
            return Ok(None);
        }
        let mut segments: Vec<SegmentRuns> = names
            .iter()
            .map(|(_, name)| SegmentRuns {
                name: name.clone(),
                first_seq: None,
                last: None,
                may_go: true,
            })
            .collect();
        let newest = segments.len() - 1;
        let mut records = read_records(&self.dir)?;
        for entry in records.by_ref() {
            let entry = entry?;
            let Some(seg) = segments[..newest]
                .iter_mut()
                .find(|s| s.name == entry.location.file)
            else {
                continue;
            };
            seg.first_seq.get_or_insert(entry.seq);
            seg.last = Some(ChainHead {
                seq: entry.seq,
                hash: entry.hash,
            });
            let blobs_gone = payload_refs(&entry.record)
                .iter()
                .all(|p| !blob_path(&self.dir, &p.digest).exists());
            seg.may_go &= may_go(&entry.record) && blobs_gone;
        }
        let vouched_by = records.folded_start()?;
        // A prefix of the older segments, never the newest one.
        let count = segments[..newest]
            .iter()
            .take_while(|s| s.may_go && s.last.is_some())
            .count();
        let folded = &segments[..count];
        let (Some(first), Some(last)) = (
            folded.first().and_then(|s| s.first_seq),
            folded.last().and_then(|s| s.last),
        ) else {
            return Ok(None);
        };
        Ok(Some(FoldPlan {
            segments: folded.iter().map(|s| s.name.clone()).collect(),
            first_seq: first,
            last,
            vouched_by,
        }))
    }

    /// Appends, durably, the `segments_folded` record of `plan` for run `run_id`. The files
    /// stay until `remove_folded`: anchor the record first.
    ///
    /// # Errors
    /// The append failed.
    pub fn record_fold(&mut self, plan: &FoldPlan, run_id: &str) -> Result<Appended, JournalError> {
        self.append_durable(&Record::SegmentsFolded {
            run_id: run_id.to_owned(),
            first_seq: plan.first_seq,
            last_seq: plan.last.seq,
            last_hash: plan.last.hash,
            segments: u32::try_from(plan.segments.len()).unwrap_or(u32::MAX),
        })
    }

    /// Removes the segment files of a recorded fold (and the checkpoint, if it points into
    /// one of them), then syncs the directory. A crash part-way leaves older segments that
    /// still verify; the next fold removes them.
    ///
    /// # Errors
    /// A file could not be removed.
    pub fn remove_folded(&mut self, plan: &FoldPlan) -> Result<(), JournalError> {
        let newest = list_segments(&self.dir)?.pop().map(|(_, name)| name);
        if read_checkpoint(&self.dir).is_some_and(|cp| plan.segments.contains(&cp.segment)) {
            let path = self.dir.join(CHECKPOINT_FILE);
            fs::remove_file(&path).map_err(io_err("removing the checkpoint", &path))?;
        }
        for name in plan.segments.iter().filter(|n| Some(*n) != newest.as_ref()) {
            let path = self.dir.join(name);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("removing folded segment", &path)(e)),
            }
        }
        sync_dir(&self.dir)
    }
}
