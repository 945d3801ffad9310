//! The journal index: every run of a journal directory with its plans, chunks, files, end,
//! undo, expiry and payloads, built by streaming the chained records once (keys and names
//! only: the values stay in the payload blobs, read on demand). It is built record by record
//! (`add`), so a session can continue an index it stored (`resume`) with the newer records,
//! and leave out the runs that no longer matter (`settle`, keeping what they left to the
//! history duties need).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::history::Contributions;
use std::path::Path;

use housekeeper_journal::store::run_of;
use housekeeper_journal::{
    ChunkStatus, DateTimeValue, Digest, Drift, FileMeta, FileStatus, ItemSummary, JournalError,
    PathBytes, PayloadRef, Record, RunKind, TableChange,
};

/// One chunk outcome of a duty.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChunkInfo {
    pub chunk: u32,
    pub status: ChunkStatus,
    pub changes: Vec<TableChange>,
    pub drifted: Vec<Drift>,
    pub payload: Option<PayloadRef>,
    pub error: Option<String>,
    /// Closed by a later start's recovery rather than by the run itself.
    pub recovered: bool,
}

/// What one duty of a run did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DutyInfo {
    pub duty: String,
    /// The plan record: its payload (the full plan, with values) and the chained items.
    pub plan: Option<(PayloadRef, Vec<ItemSummary>)>,
    pub chunks: Vec<ChunkInfo>,
    /// `DutyEnd`: status, affected, errors, findings.
    pub end: Option<(String, u64, u32, u32)>,
}

impl DutyInfo {
    /// Rows changed by committed chunks (record rows included).
    #[must_use]
    pub fn rows_changed(&self) -> u64 {
        self.chunks
            .iter()
            .filter(|c| c.status == ChunkStatus::Committed)
            .flat_map(|c| &c.changes)
            .map(|c| c.keys.len())
            .sum()
    }
}

/// One file a run moved (into the quarantine, or back out of it for an undo).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FileInfo {
    pub duty: String,
    pub item: u32,
    /// The file's own path (in the temp directory).
    pub path: PathBytes,
    pub quarantine_path: PathBytes,
    pub meta: FileMeta,
    /// `None` while the move is open (a crash the next start has not closed yet).
    pub status: Option<FileStatus>,
}

/// One run of the journal.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub kind: RunKind,
    pub started_utc: String,
    pub now: DateTimeValue,
    pub host: String,
    pub user: String,
    pub database: String,
    pub tool_version: String,
    /// `RunEnd`: status (`ok`, `failed`, `aborted`) and the host time it ended.
    pub end: Option<(String, String)>,
    /// Duties in the order the run recorded them.
    pub duties: Vec<DutyInfo>,
    pub files: Vec<FileInfo>,
    /// Undo runs of this run, with the duties each of them planned.
    pub undone_by: Vec<(String, Vec<String>)>,
    /// Those of `undone_by` that have not ended, or ended `aborted` (interrupted): they do not
    /// count as an undo, and a new undo finishes their work.
    pub unfinished_undos: BTreeSet<String>,
    /// Payloads of this run destroyed at the end of the undo window.
    pub expired_payloads: BTreeSet<Digest>,
    /// Quarantined files of this run destroyed at the end of the undo window.
    pub expired_files: BTreeSet<PathBytes>,
    /// Host time of this run's first expiry record.
    pub expired_utc: Option<String>,
    /// What undo runs of this run put back, chunk by chunk and file by file (committed and
    /// moved only): the per-item bookkeeping of `undo` (`audit::undo_state`).
    pub restorations: Vec<Restoration>,
    /// Every payload this run's chained records reference — plans, row images, error and
    /// report details — in chain order (what the end of the undo window destroys).
    /// `payloads` covers plans and row images only.
    pub payload_refs: Vec<PayloadRef>,
}

/// What one undo run put back of the run it undid: the keys of one committed chunk, or one
/// file moved back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Restoration {
    pub undo_run: String,
    /// The duty of the undone run the items belong to.
    pub duty: String,
    pub what: Restored,
}

/// The items of one restoration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Restored {
    /// The tables and keys a committed chunk of the undo wrote.
    Rows(Vec<TableChange>),
    /// A file moved back to `path`.
    File(PathBytes),
}

impl RunInfo {
    #[must_use]
    pub fn duty(&self, name: &str) -> Option<&DutyInfo> {
        self.duties.iter().find(|d| d.duty == name)
    }

    /// The run being undone, when this run is an undo.
    #[must_use]
    pub fn undo_of(&self) -> Option<&str> {
        match &self.kind {
            RunKind::Undo { of_run } => Some(of_run),
            _ => None,
        }
    }

    /// `run`, `apply`, `undo` or `maintenance`.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RunKind::Run => "run",
            RunKind::Apply { .. } => "apply",
            RunKind::Undo { .. } => "undo",
            RunKind::Maintenance => "maintenance",
        }
    }

    /// Every payload this run's chained records reference.
    #[must_use]
    pub fn payloads(&self) -> Vec<&PayloadRef> {
        let mut out = Vec::new();
        for duty in &self.duties {
            if let Some((plan, _)) = &duty.plan {
                out.push(plan);
            }
            out.extend(duty.chunks.iter().filter_map(|c| c.payload.as_ref()));
        }
        out
    }

    /// Whether the run changed anything in the database or the temp directory.
    #[must_use]
    pub fn changed_anything(&self) -> bool {
        self.duties.iter().any(|d| d.rows_changed() > 0)
            || self
                .files
                .iter()
                .any(|f| matches!(f.status, Some(FileStatus::Moved)))
    }

    /// Whether the undo window of this run has passed (its row images or quarantined files
    /// were destroyed).
    #[must_use]
    pub fn expired(&self) -> bool {
        !self.expired_payloads.is_empty() || !self.expired_files.is_empty()
    }

    /// Why `undo` of this run is impossible, or `None` when it can be undone. `duty` limits
    /// the question to one duty.
    #[must_use]
    pub fn not_undoable(&self, duty: Option<&str>) -> Option<String> {
        let id = &self.run_id;
        if let Some(of) = self.undo_of() {
            return Some(format!(
                "run {id} is itself the undo of run {of}; an undo is not undone"
            ));
        }
        if matches!(self.kind, RunKind::Maintenance) {
            return Some(format!(
                "run {id} only expired old payloads and quarantined files; there is nothing to undo"
            ));
        }
        if self.end.is_none() {
            return Some(format!(
                "run {id} has not ended (it was interrupted and its records are still open); the next `housekeeper run` closes them, then it can be undone"
            ));
        }
        let covered = |d: &str| duty.is_none_or(|want| want.eq_ignore_ascii_case(d));
        let progress: Vec<_> = self
            .undo_progress()
            .into_iter()
            .filter(|d| covered(&d.duty))
            .collect();
        if !progress.is_empty() && progress.iter().all(|d| d.undoable == 0) {
            let by = self.restorers(duty);
            let what = duty.map(|d| format!(" in {d}")).unwrap_or_default();
            return Some(format!(
                "run {id} was already undone by run {}: everything it changed{what} is restored, and nothing is restored twice",
                by.join(", run ")
            ));
        }
        if self.expired() {
            let when = self
                .expired_utc
                .as_deref()
                .map(|w| format!(" on {w}"))
                .unwrap_or_default();
            return Some(format!(
                "run {id} is past its undo window: its row images and quarantined files were destroyed{when} (MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS)"
            ));
        }
        let changed = self
            .duties
            .iter()
            .filter(|d| covered(&d.duty))
            .any(|d| d.rows_changed() > 0)
            || self
                .files
                .iter()
                .any(|f| covered(&f.duty) && matches!(f.status, Some(FileStatus::Moved)));
        if !changed {
            let what = duty.map(|d| format!(" in {d}")).unwrap_or_default();
            return Some(format!(
                "run {id} changed nothing{what}; there is nothing to undo"
            ));
        }
        None
    }
}

/// Every run of a journal, in chain order.
#[derive(Debug, Clone, Default)]
pub struct JournalIndex {
    pub runs: Vec<RunInfo>,
    /// Records read.
    pub records: u64,
    /// When this journal was started by `journal reset`: what it replaced and why.
    pub reset: Option<ResetInfo>,
    /// What the runs left out of `runs` (settled ones, dropped by the session's stored
    /// index) contributed to the history duties need; empty for an index read whole.
    pub settled: Contributions,
    /// Where in `runs` each run is, by id.
    at: HashMap<String, usize>,
    /// Host time of the latest `RunStart`: expiry records carry no time of their own, they
    /// are written during the latest run.
    last_started: String,
    /// While reading: where in its run's `files` each intent still waiting for its outcome
    /// is, by (run, duty, item), so an outcome finds its intent without a search.
    awaiting_outcome: HashMap<(usize, String, u32), usize>,
}

/// The first record of a journal started by `housekeeper journal reset`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResetInfo {
    pub run_id: String,
    /// The id of the journal this one replaces.
    pub previous_id: String,
    /// The last record of the previous journal that could be verified, and its hash.
    pub last_seq: u64,
    pub last_hash: String,
    pub damage: String,
    /// Where the previous journal was set aside (relative to the state directory).
    pub set_aside: String,
    pub reason: String,
    pub at_utc: String,
    pub host: String,
    pub user: String,
}

impl JournalIndex {
    /// Reads the journal in `dir` (an absent directory is an empty journal). The chain is
    /// checked while reading; a torn tail (a write in progress) is left out.
    ///
    /// # Errors
    /// The journal is damaged or unreadable.
    pub fn read(dir: &Path) -> Result<JournalIndex, JournalError> {
        let mut damage = None;
        let index = Self::read_until_damage(dir, &mut damage)?;
        match damage {
            Some(e) => Err(e),
            None => Ok(index),
        }
    }

    /// Reads a journal that may be damaged (one set aside by `journal reset`): the runs up to
    /// the first damage, and the damage.
    ///
    /// # Errors
    /// The journal cannot be read at all.
    pub fn read_lenient(dir: &Path) -> Result<(JournalIndex, Option<JournalError>), JournalError> {
        let mut damage = None;
        let index = Self::read_until_damage(dir, &mut damage)?;
        Ok((index, damage))
    }

    fn read_until_damage(
        dir: &Path,
        damage: &mut Option<JournalError>,
    ) -> Result<JournalIndex, JournalError> {
        let mut index = JournalIndex::default();
        if !dir.is_dir() {
            return Ok(index);
        }
        for entry in housekeeper_journal::store::read_records(dir)? {
            match entry {
                Ok(entry) => index.add(entry.record),
                Err(e) => {
                    *damage = Some(e);
                    break;
                }
            }
        }
        index.awaiting_outcome = HashMap::new();
        Ok(index)
    }

    /// An index of `runs` (the unsettled runs of a stored index) continued by [`add`]:
    /// `settled` is what the runs before them contributed to the history.
    ///
    /// [`add`]: JournalIndex::add
    #[must_use]
    pub fn resume(runs: Vec<RunInfo>, reset: Option<ResetInfo>, settled: Contributions) -> Self {
        let mut index = JournalIndex {
            runs,
            reset,
            settled,
            ..JournalIndex::default()
        };
        index.reindex();
        index
    }

    /// Leaves out the first `n` runs, their contributions to the history kept in `settled`.
    pub fn settle(&mut self, n: usize) {
        let n = n.min(self.runs.len());
        for run in self.runs.drain(..n) {
            self.settled.add(&run);
        }
        self.reindex();
    }

    /// Rebuilds the lookups from `runs`.
    fn reindex(&mut self) {
        self.at = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.run_id.clone(), i))
            .collect();
        self.last_started = self
            .runs
            .last()
            .map(|r| r.started_utc.clone())
            .unwrap_or_default();
        self.awaiting_outcome = HashMap::new();
        for (i, run) in self.runs.iter().enumerate() {
            for (f, file) in run.files.iter().enumerate() {
                if file.status.is_none() {
                    self.awaiting_outcome
                        .insert((i, file.duty.clone(), file.item), f);
                }
            }
        }
    }

    /// Adds the next record of the chain.
    pub fn add(&mut self, record: Record) {
        self.records += 1;
        if let Record::JournalReset {
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
        } = record
        {
            self.reset = Some(ResetInfo {
                run_id,
                previous_id,
                last_seq,
                last_hash: last_hash.to_hex(),
                damage,
                set_aside,
                reason,
                at_utc,
                host,
                user,
            });
            return;
        }
        if let Record::RunStart {
            run_id,
            kind,
            started_utc,
            now,
            host,
            user,
            tool_version,
            database,
            ..
        } = record
        {
            self.last_started.clone_from(&started_utc);
            if let RunKind::Undo { of_run } = &kind {
                if let Some(&i) = self.at.get(of_run) {
                    self.runs[i].undone_by.push((run_id.clone(), Vec::new()));
                    self.runs[i].unfinished_undos.insert(run_id.clone());
                }
            }
            self.at.insert(run_id.clone(), self.runs.len());
            self.runs.push(RunInfo {
                run_id,
                kind,
                started_utc,
                now,
                host,
                user,
                database,
                tool_version,
                end: None,
                duties: Vec::new(),
                files: Vec::new(),
                undone_by: Vec::new(),
                unfinished_undos: BTreeSet::new(),
                expired_payloads: BTreeSet::new(),
                expired_files: BTreeSet::new(),
                expired_utc: None,
                restorations: Vec::new(),
                payload_refs: Vec::new(),
            });
            return;
        }
        let Some(&i) = self.at.get(run_of(&record)) else {
            return;
        };
        if !matches!(record, Record::PayloadExpired { .. }) {
            let refs = housekeeper_journal::codec::payload_refs(&record);
            self.runs[i].payload_refs.extend(refs.into_iter().cloned());
        }
        let at = std::mem::take(&mut self.at);
        let when = std::mem::take(&mut self.last_started);
        self.apply(i, record, &at, &when);
        self.at = at;
        self.last_started = when;
    }

    fn apply(&mut self, i: usize, record: Record, at: &HashMap<String, usize>, when: &str) {
        let expiry_stamp = || when.to_owned();
        // An undo's committed chunks and files moved back count for the run it undid.
        if let Some(&j) = self.runs[i].undo_of().and_then(|of| at.get(of)) {
            self.note_restoration(i, j, &record);
        }
        let run = &mut self.runs[i];
        match record {
            Record::Plan {
                duty,
                payload,
                items,
                ..
            } => {
                if let Some(of) = run.undo_of().map(str::to_owned) {
                    if let Some(&j) = at.get(&of) {
                        let undo_id = self.runs[i].run_id.clone();
                        if let Some(entry) = self.runs[j]
                            .undone_by
                            .iter_mut()
                            .find(|(id, _)| *id == undo_id)
                        {
                            entry.1.push(duty.clone());
                        }
                    }
                }
                duty_mut(&mut self.runs[i], &duty).plan = Some((payload, items));
            }
            Record::ChunkOutcome {
                duty,
                chunk,
                status,
                changes,
                drifted,
                payload,
                error,
                ..
            } => duty_mut(run, &duty).chunks.push(ChunkInfo {
                chunk,
                status,
                changes,
                drifted,
                payload,
                error,
                recovered: false,
            }),
            Record::Recovery {
                duty,
                chunk: Some(chunk),
                ..
            } => {
                if let Some(c) = duty_mut(run, &duty)
                    .chunks
                    .iter_mut()
                    .rev()
                    .find(|c| c.chunk == chunk)
                {
                    c.recovered = true;
                }
            }
            Record::FileIntent {
                duty,
                item,
                path,
                quarantine_path,
                meta,
                ..
            } => {
                self.awaiting_outcome
                    .insert((i, duty.clone(), item), run.files.len());
                run.files.push(FileInfo {
                    duty,
                    item,
                    path,
                    quarantine_path,
                    meta,
                    status: None,
                });
            }
            Record::FileOutcome {
                duty, item, status, ..
            } => {
                if let Some(at) = self.awaiting_outcome.remove(&(i, duty, item)) {
                    if let Some(f) = run.files.get_mut(at) {
                        f.status = Some(status);
                    }
                }
            }
            Record::DutyEnd {
                duty,
                status,
                affected,
                errors,
                findings,
                ..
            } => duty_mut(run, &duty).end = Some((status, affected, errors, findings)),
            Record::RunEnd {
                status, ended_utc, ..
            } => {
                if status != "aborted" {
                    if let Some(&j) = run.undo_of().and_then(|of| at.get(of)) {
                        let undo_id = self.runs[i].run_id.clone();
                        self.runs[j].unfinished_undos.remove(&undo_id);
                    }
                }
                self.runs[i].end = Some((status, ended_utc));
            }
            Record::PayloadExpired { digest, .. } => {
                run.expired_payloads.insert(digest);
                run.expired_utc.get_or_insert_with(expiry_stamp);
            }
            Record::QuarantineExpired { path, .. } => {
                run.expired_files.insert(path);
                run.expired_utc.get_or_insert_with(expiry_stamp);
            }
            Record::RunStart { .. }
            | Record::Recovery { .. }
            | Record::JournalReset { .. }
            | Record::SegmentsFolded { .. } => {}
        }
    }

    /// Adds to run `j` what `record` of its undo run `i` put back. File outcomes are read
    /// before `apply` consumes their intent.
    fn note_restoration(&mut self, i: usize, j: usize, record: &Record) {
        let what = match record {
            Record::ChunkOutcome {
                duty,
                status: ChunkStatus::Committed,
                changes,
                ..
            } if !changes.is_empty() => (duty.clone(), Restored::Rows(changes.clone())),
            Record::FileOutcome {
                duty,
                item,
                status: FileStatus::Moved,
                ..
            } => {
                let Some(path) = self
                    .awaiting_outcome
                    .get(&(i, duty.clone(), *item))
                    .and_then(|&f| self.runs[i].files.get(f))
                    .map(|f| f.path.clone())
                else {
                    return;
                };
                (duty.clone(), Restored::File(path))
            }
            _ => return,
        };
        let undo_run = self.runs[i].run_id.clone();
        self.runs[j].restorations.push(Restoration {
            undo_run,
            duty: what.0,
            what: what.1,
        });
    }

    #[must_use]
    pub fn run(&self, run_id: &str) -> Option<&RunInfo> {
        self.runs.iter().find(|r| r.run_id == run_id)
    }

    /// Whether a file restored by an undo came back out of the quarantine: the quarantined
    /// path of every file moved back by an undo run.
    #[must_use]
    pub fn restored_paths(&self) -> BTreeSet<&PathBytes> {
        self.runs
            .iter()
            .filter(|r| r.undo_of().is_some())
            .flat_map(|r| &r.files)
            .filter(|f| matches!(f.status, Some(FileStatus::Moved)))
            .map(|f| &f.quarantine_path)
            .collect()
    }
}

fn duty_mut<'r>(run: &'r mut RunInfo, duty: &str) -> &'r mut DutyInfo {
    if let Some(i) = run.duties.iter().position(|d| d.duty == duty) {
        return &mut run.duties[i];
    }
    run.duties.push(DutyInfo {
        duty: duty.to_owned(),
        plan: None,
        chunks: Vec::new(),
        end: None,
    });
    let last = run.duties.len() - 1;
    &mut run.duties[last]
}

impl JournalIndex {
    /// The `Details` payloads (error messages) of the aborted chunks of one run, by duty and
    /// chunk number.
    ///
    /// # Errors
    /// The journal is damaged or unreadable.
    pub fn chunk_error_payloads(
        dir: &Path,
        run_id: &str,
    ) -> Result<BTreeMap<(String, u32), PayloadRef>, JournalError> {
        let mut out = BTreeMap::new();
        if !dir.is_dir() {
            return Ok(out);
        }
        for entry in housekeeper_journal::store::read_records(dir)? {
            if let Record::ChunkOutcome {
                run_id: of,
                duty,
                chunk,
                error_payload: Some(payload),
                ..
            } = entry?.record
            {
                if of == run_id {
                    out.insert((duty, chunk), payload);
                }
            }
        }
        Ok(out)
    }
}
