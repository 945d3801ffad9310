//! `journal verify` (docs/AUDIT.md, journal/FORMAT.md): the hash chain and framing of every segment, every referenced
//! payload present and matching unless expired, the chain head the database anchors recorded
//! (a journal truncated or rewritten after it fails), and every file still in the quarantine
//! hashing as recorded.
//!
//! Read-only: it reads segments, blobs and quarantined files, and never writes anything. The
//! caller reads the newest anchor from the database (read-only) and passes it in.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use housekeeper_journal::{
    ChainHead, Damage, DamageClass, FileStatus, JournalError, VerifyOptions, VerifyReport,
};
use serde::Serialize;

use super::JournalIndex;
use crate::text::Escaped;

/// What the database anchors say the journal must contain.
#[derive(Debug, Clone)]
pub enum Expected {
    /// The newest anchor of this journal: the record it names must be on the chain; and every
    /// anchored record, each of which must be on the chain with its anchored hash.
    Head {
        run_id: String,
        head: ChainHead,
        all: Vec<ChainHead>,
        /// The anchors of `segments_folded` records: what vouches for a folded start.
        folds: Vec<ChainHead>,
    },
    /// The anchors were not read: why (no database configured, unreachable, no journal id).
    NotChecked(String),
    /// The database was read and holds no anchor of this journal yet.
    NoAnchor(String),
}

/// One piece of journal damage, as found by `housekeeper_journal::verify_with`.
#[derive(Debug, Clone, Serialize)]
pub struct DamageEntry {
    /// Stable code: `hash_mismatch`, `bad_frame`, `truncated`, `fork`, `payload_missing`, …
    pub class: String,
    /// The record concerned.
    pub seq: Option<u64>,
    /// Segment file, relative to the journal directory.
    pub file: String,
    /// Byte offset of the frame in it.
    pub offset: u64,
    pub digest: Option<String>,
    pub explanation: String,
    /// The whole sentence, as printed.
    pub message: String,
}

impl DamageEntry {
    fn of(d: &Damage) -> DamageEntry {
        DamageEntry {
            class: d.class.as_str().to_owned(),
            seq: d.seq,
            file: d.location.file.clone(),
            offset: d.location.offset,
            digest: d.digest.map(|x| x.to_hex()),
            explanation: d.explanation.clone(),
            message: d.to_string(),
        }
    }
}

/// A quarantined file that is not as the journal recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineDamage {
    pub run_id: String,
    /// Where the file should be (in the quarantine).
    pub path: housekeeper_journal::PathBytes,
    /// Where it came from.
    pub original: housekeeper_journal::PathBytes,
    /// `missing`, `altered`, `not_a_link`, `link_changed`, `unreadable`.
    pub problem: String,
    pub message: String,
}

/// The anchor comparison.
#[derive(Debug, Clone, Serialize)]
pub struct AnchorResult {
    /// `matched`, `mismatch` (the journal was truncated or rewritten after the anchor),
    /// `not_reached` (chain damage before it), `no_anchor` or `not_checked`.
    pub status: &'static str,
    pub run_id: Option<String>,
    pub seq: Option<u64>,
    pub detail: String,
}

/// `journal verify --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyResult {
    /// `housekeeper.journal.verify/v1`.
    pub format: &'static str,
    pub journal_dir: String,
    /// `false` when there is no journal (no directory or no segment).
    pub journal_present: bool,
    /// No damage of any kind.
    pub ok: bool,
    pub records: u64,
    pub segments: u32,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub payloads_checked: u64,
    pub payloads_expired: u64,
    pub payload_bytes: u64,
    pub anchor: AnchorResult,
    pub quarantine_checked: u64,
    /// Files destroyed by expiry or moved back by an undo (not expected in the quarantine).
    pub quarantine_gone: u64,
    /// Whether the quarantine could be checked (the journal must be readable).
    pub quarantine_verified: bool,
    pub damage: Vec<DamageEntry>,
    /// All journal damage found (only the first 1000 are listed).
    pub damage_count: u64,
    pub quarantine_damage: Vec<QuarantineDamage>,
    pub warnings: Vec<String>,
    /// The journal's oldest segments were folded away: it starts after record `before_seq`,
    /// as record `record_seq` says.
    pub folded: Option<FoldedStart>,
}

/// Where a folded journal starts, and the record that says so.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FoldedStart {
    pub before_seq: u64,
    pub record_seq: u64,
}

/// Verifies the journal in `dir` against `expected`, and the quarantine the journal
/// describes.
///
/// # Errors
/// The journal could not be read at all (an I/O error other than its absence).
pub fn verify(dir: &Path, expected: &Expected) -> Result<VerifyResult, JournalError> {
    let mut result = VerifyResult::empty(dir);
    let (expected_head, anchored) = result.expect(expected);
    let options = VerifyOptions {
        expected_head,
        expected: anchored,
        chain_only: false,
    };
    let report = match housekeeper_journal::verify_with(dir, &options) {
        Ok(report) => report,
        Err(JournalError::NoJournal { reason, .. }) => {
            result.no_journal(dir, expected, &reason);
            return Ok(result);
        }
        Err(e) => return Err(e),
    };
    result.take_report(&report);
    if let Expected::Head { run_id, head, .. } = expected {
        result.compare_anchor(run_id, *head, &report);
    }
    if let Some(f) = report.folded {
        result.check_fold(f, expected);
    }
    match JournalIndex::read(dir) {
        Ok(index) => {
            check_quarantine(&index, &mut result);
            result.quarantine_verified = true;
            if let Some(reset) = &index.reset {
                result.warnings.push(format!(
                    "this journal was started by `journal reset` {} at {} ({}): it replaces \
                     journal {} after damage ({}), last verifiable record {}; the old journal is \
                     kept in {}",
                    reset.run_id,
                    reset.at_utc,
                    reset.reason,
                    reset.previous_id,
                    reset.damage,
                    reset.last_seq,
                    reset.set_aside
                ));
            }
        }
        Err(e) => result.warnings.push(format!(
            "quarantine not checked: the journal cannot be read past its damage ({e})"
        )),
    }
    result.ok = result.damage_count == 0 && result.quarantine_damage.is_empty();
    Ok(result)
}

impl VerifyResult {
    /// Nothing checked yet, nothing found.
    fn empty(dir: &Path) -> VerifyResult {
        VerifyResult {
            format: "housekeeper.journal.verify/v1",
            journal_dir: dir.display().to_string(),
            journal_present: true,
            ok: true,
            records: 0,
            segments: 0,
            head_seq: None,
            head_hash: None,
            payloads_checked: 0,
            payloads_expired: 0,
            payload_bytes: 0,
            anchor: AnchorResult {
                status: "not_checked",
                run_id: None,
                seq: None,
                detail: String::new(),
            },
            quarantine_checked: 0,
            quarantine_gone: 0,
            quarantine_verified: false,
            damage: Vec::new(),
            damage_count: 0,
            quarantine_damage: Vec::new(),
            warnings: Vec::new(),
            folded: None,
        }
    }

    /// Notes what the anchors expect; returns the head the chain must reach and every
    /// anchored record.
    fn expect(&mut self, expected: &Expected) -> (Option<ChainHead>, Vec<ChainHead>) {
        match expected {
            Expected::Head {
                run_id, head, all, ..
            } => {
                self.anchor.run_id = Some(run_id.clone());
                self.anchor.seq = Some(head.seq);
                (Some(*head), all.clone())
            }
            Expected::NotChecked(why) => {
                self.anchor.detail = format!("anchors not checked: {why}");
                self.warnings.push(self.anchor.detail.clone());
                (None, Vec::new())
            }
            Expected::NoAnchor(why) => {
                self.anchor.status = "no_anchor";
                self.anchor.detail = why.clone();
                (None, Vec::new())
            }
        }
    }

    /// There is no journal: damage when the anchors name a record, else nothing to verify.
    fn no_journal(&mut self, dir: &Path, expected: &Expected, reason: &str) {
        self.journal_present = false;
        if let Expected::Head { run_id, head, .. } = expected {
            self.ok = false;
            self.anchor.status = "mismatch";
            self.anchor.detail = format!(
                "the database anchors name record {} of run {run_id}, but there is no journal at {} ({reason}): it was removed or moved",
                head.seq,
                dir.display()
            );
            self.damage_count = 1;
            self.damage.push(truncated(head.seq, &self.anchor.detail));
        } else {
            self.warnings.push(format!(
                "no journal at {} ({reason}): nothing to verify",
                dir.display()
            ));
        }
    }

    /// The counts and damage of the chain verification.
    fn take_report(&mut self, report: &VerifyReport) {
        self.records = report.records;
        self.segments = report.segments;
        self.head_seq = report.head.map(|h| h.seq);
        self.head_hash = report.head.map(|h| h.hash.to_hex());
        self.payloads_checked = report.payloads_checked;
        self.payloads_expired = report.payloads_expired;
        self.payload_bytes = report.payload_bytes;
        // A torn tail is what an interrupted (or, read without the lock, an in-progress) write
        // leaves after the last frame: nothing recorded is lost, and the next run cuts it off.
        // A tail torn before the anchored record is reported as truncation instead.
        let (torn, damage): (Vec<&Damage>, Vec<&Damage>) = report
            .damage
            .iter()
            .partition(|d| d.class == DamageClass::TornTail);
        for d in torn {
            self.warnings.push(format!(
                "{d} — a partial write after the last record (a crash, or a run writing right now); the next run cuts it off"
            ));
        }
        self.damage = damage.into_iter().map(DamageEntry::of).collect();
        self.damage_count = report.damage_count - (report.damage.len() - self.damage.len()) as u64;
    }

    /// A folded start is vouched for by its `segments_folded` record, which the database
    /// must hold as a fold's anchor (written before the files went): else the older segments
    /// may have been removed by anyone, with a record appended to cover it.
    fn check_fold(&mut self, f: housekeeper_journal::Folded, expected: &Expected) {
        self.folded = Some(FoldedStart {
            before_seq: f.before.seq,
            record_seq: f.record_seq,
        });
        let fold = ChainHead {
            seq: f.record_seq,
            hash: f.record_hash,
        };
        let unconfirmed = match expected {
            Expected::Head { folds, .. } => !folds.contains(&fold),
            Expected::NoAnchor(_) => true,
            Expected::NotChecked(_) => {
                self.warnings.push(format!(
                    "records 1 to {} were folded according to record {}; no database anchor \
                     was compared with that record",
                    f.before.seq, f.record_seq
                ));
                false
            }
        };
        if unconfirmed {
            let detail = format!(
                "the journal starts at record {}: records 1 to {} were folded according to \
                 record {}, which the database holds no anchor of",
                f.before.seq + 1,
                f.before.seq,
                f.record_seq
            );
            self.damage_count += 1;
            self.damage.push(DamageEntry {
                class: "sequence_gap".into(),
                seq: Some(f.before.seq + 1),
                file: String::new(),
                offset: 0,
                digest: None,
                explanation: detail.clone(),
                message: detail,
            });
        }
    }

    /// Whether the record the newest anchor names is on the chain.
    fn compare_anchor(&mut self, run_id: &str, head: ChainHead, report: &VerifyReport) {
        if report.expected_head_found == Some(true) {
            self.anchor.status = "matched";
            self.anchor.detail = format!(
                "the newest database anchor (record {} of run {run_id}) is on the chain",
                head.seq
            );
        } else if report.damage.iter().any(|d| {
            !d.class.is_payload() && !matches!(d.class, DamageClass::Truncated | DamageClass::Fork)
        }) {
            self.anchor.status = "not_reached";
            self.anchor.detail = format!(
                "the chain is damaged before record {} of run {run_id}, which the newest database anchor names",
                head.seq
            );
        } else {
            self.anchor.status = "mismatch";
            self.anchor.detail = format!(
                "the newest database anchor names record {} (hash {}) of run {run_id}, which is not on this chain: the journal was truncated, replaced or rewritten after it",
                head.seq, head.hash
            );
            if report.damage.is_empty() {
                self.damage_count += 1;
                self.damage.push(truncated(head.seq, &self.anchor.detail));
            }
        }
    }
}

/// Every file moved into the quarantine by a non-undo run, not moved back by an undo and not
/// expired, must be at its quarantine path with the recorded hash (or link target).
fn check_quarantine(index: &JournalIndex, result: &mut VerifyResult) {
    let restored: BTreeSet<&housekeeper_journal::PathBytes> = index.restored_paths();
    // Quarantined files an undo started moving back and did not record (it was interrupted).
    let moving_back: std::collections::BTreeMap<&housekeeper_journal::PathBytes, &str> = index
        .runs
        .iter()
        .filter(|r| r.undo_of().is_some())
        .flat_map(|r| r.files.iter().map(move |f| (f, r.run_id.as_str())))
        .filter(|(f, _)| f.status.is_none())
        .map(|(f, undo)| (&f.quarantine_path, undo))
        .collect();
    for run in index.runs.iter().filter(|r| r.undo_of().is_none()) {
        for file in run
            .files
            .iter()
            .filter(|f| matches!(f.status, Some(FileStatus::Moved)))
        {
            if restored.contains(&file.quarantine_path)
                || run.expired_files.contains(&file.quarantine_path)
            {
                result.quarantine_gone += 1;
                continue;
            }
            result.quarantine_checked += 1;
            if let Some(undo_id) = moving_back.get(&file.quarantine_path) {
                // An undo was interrupted while moving this file back: it is in one of the two
                // places, and the next start's recovery records which. Not damage.
                if file_problem(&file.path, &file.meta).is_none() {
                    result.quarantine_gone += 1;
                    result.warnings.push(format!(
                        "undo {undo_id} was interrupted while moving {} back to {}; the file is \
                         there, and the next start's recovery records the move (nothing is lost)",
                        crate::text::PathText(&file.quarantine_path),
                        crate::text::PathText(&file.path)
                    ));
                    continue;
                }
            }
            if let Some((problem, what)) = file_problem(&file.quarantine_path, &file.meta) {
                result.quarantine_damage.push(QuarantineDamage {
                    run_id: run.run_id.clone(),
                    path: file.quarantine_path.clone(),
                    original: file.path.clone(),
                    problem: problem.to_owned(),
                    message: format!(
                        "quarantine of run {}: {} (was {}) {what}",
                        run.run_id,
                        crate::text::PathText(&file.quarantine_path),
                        crate::text::PathText(&file.path)
                    ),
                });
            }
        }
    }
}

fn file_problem(
    path: &housekeeper_journal::PathBytes,
    meta: &housekeeper_journal::FileMeta,
) -> Option<(&'static str, String)> {
    use crate::quarantine::Mismatch;
    let expected = meta.blake3.map(|d| d.to_hex()).unwrap_or_default();
    let target = meta.link_target.clone().unwrap_or_default();
    match crate::quarantine::compare(path.as_path(), meta) {
        Ok(()) => None,
        Err(Mismatch::Missing(_)) => Some(("missing", "is missing".to_owned())),
        Err(Mismatch::NotAFile) => Some(("altered", "is no longer a regular file".to_owned())),
        Err(Mismatch::Bytes { blake3 }) => Some((
            "altered",
            format!("was altered: blake3 {blake3}, recorded {expected}"),
        )),
        Err(Mismatch::Unreadable(e)) => Some(("unreadable", format!("cannot be read: {e}"))),
        Err(Mismatch::LinkTarget { now }) => Some((
            "link_changed",
            format!(
                "points to {} instead of {}",
                crate::text::PathText(&now),
                crate::text::PathText(&target)
            ),
        )),
        Err(Mismatch::NotALink(_)) => {
            Some(("not_a_link", "is no longer a symbolic link".to_owned()))
        }
    }
}

/// `journal verify` for people: damage first, then the one-line summary.
#[must_use]
pub fn verify_text(result: &VerifyResult) -> String {
    let mut out = String::new();
    for d in &result.damage {
        let _ = writeln!(out, "damage: {}", Escaped(&d.message));
    }
    if result.damage_count > result.damage.len() as u64 {
        let _ = writeln!(
            out,
            "damage: … and {} more",
            result.damage_count - result.damage.len() as u64
        );
    }
    for q in &result.quarantine_damage {
        let _ = writeln!(out, "damage: {}", Escaped(&q.message));
    }
    for w in &result.warnings {
        let _ = writeln!(out, "warning: {}", Escaped(w));
    }
    if !result.journal_present && result.ok {
        let _ = writeln!(
            out,
            "no journal at {}: nothing to verify",
            Escaped(&result.journal_dir)
        );
        return out;
    }
    let anchor = match result.anchor.status {
        "matched" => format!(
            "anchor matched (record {})",
            result.anchor.seq.unwrap_or_default()
        ),
        "mismatch" => "anchor MISMATCH".to_owned(),
        "not_reached" => "anchor not reached".to_owned(),
        "no_anchor" => "no anchor yet".to_owned(),
        _ => "anchors not checked".to_owned(),
    };
    let verdict = if result.ok {
        "journal ok"
    } else {
        "journal DAMAGED"
    };
    let quarantine = if result.quarantine_verified {
        format!("{} quarantined file(s) checked", result.quarantine_checked)
    } else {
        "quarantine not checked".to_owned()
    };
    if let Some(f) = &result.folded {
        let _ = writeln!(
            out,
            "records 1 to {} were folded away past the keep period (record {} says so)",
            f.before_seq, f.record_seq
        );
    }
    let _ = writeln!(
        out,
        "{verdict}: {} records in {} segment(s), {} payload(s) checked, {} expired; {anchor}; {quarantine} ({})",
        result.records,
        result.segments,
        result.payloads_checked,
        result.payloads_expired,
        Escaped(&result.journal_dir)
    );
    out
}

/// The damage of a journal that ends before the record the database anchors name.
fn truncated(seq: u64, detail: &str) -> DamageEntry {
    DamageEntry {
        class: "truncated".into(),
        seq: Some(seq),
        file: String::new(),
        offset: 0,
        digest: None,
        explanation: detail.to_owned(),
        message: detail.to_owned(),
    }
}
