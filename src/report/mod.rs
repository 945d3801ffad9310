//! What a run, a plan, an apply or an undo reports: per duty `status`, `affected`,
//! `errors[]`, `findings[]`, drifted and held items; the run's summary on stderr and the same
//! as one JSON document (`--format json`, schema in `docs/JSON.md`).
//!
//! The text summary shows names, keys, reasons and errors through `crate::text` (they quote
//! data); the JSON document keeps them exact.
//!
//! This module formats; it never decides and never writes to the database (the `log` rows
//! are written by the executor). What monitoring is told about a run is `monitor`, sent to
//! Zabbix by `zabbix` and written to the Prometheus metrics file by `metrics`.

pub mod metrics;
pub mod monitor;
pub mod zabbix;
#[cfg(test)]
mod zabbix_template;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::duties::DutyName;
use crate::exit::Exit;
use crate::plan::Finding;
use crate::text::Escaped;

/// A duty's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Skipped,
    Failed,
    /// A run stopped by a signal (SIGTERM, SIGINT) before all its duties were done: what was
    /// applied is journaled, the rest is left for the next run. Only ever a run's status.
    Interrupted,
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        }
    }
}

/// An item that no longer qualified when its chunk ran, or could not be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    pub table: String,
    pub key: String,
    pub reason: String,
}

/// Files a duty moved or left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileCounts {
    pub moved: u64,
    pub skipped: u64,
    pub bytes: u64,
}

/// One duty's result.
#[derive(Debug, Clone, Serialize)]
pub struct DutyReport {
    pub duty: DutyName,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Primary items changed (in a plan: to be changed).
    pub affected: u64,
    /// `affected` split by category (e.g. `orphaned_job`, `ghost_job`).
    pub categories: BTreeMap<String, u64>,
    /// Dependent rows deleted with the primary rows, per table.
    pub dependents: BTreeMap<String, u64>,
    /// Items skipped because they no longer qualified (the first 100; see `drifted_count`).
    pub drifted: Vec<DriftReport>,
    pub drifted_count: u64,
    /// Items left alone because an undo restored them recently.
    pub held: Vec<String>,
    pub files: FileCounts,
    pub errors: Vec<String>,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    pub elapsed_ms: u64,
}

impl DutyReport {
    #[must_use]
    pub fn new(duty: DutyName) -> Self {
        DutyReport {
            duty,
            status: Status::Ok,
            reason: None,
            affected: 0,
            categories: BTreeMap::new(),
            dependents: BTreeMap::new(),
            drifted: Vec::new(),
            drifted_count: 0,
            held: Vec::new(),
            files: FileCounts::default(),
            errors: Vec::new(),
            findings: Vec::new(),
            notes: Vec::new(),
            elapsed_ms: 0,
        }
    }

    #[must_use]
    pub fn skipped(duty: DutyName, reason: impl Into<String>) -> Self {
        DutyReport {
            status: Status::Skipped,
            reason: Some(reason.into()),
            ..DutyReport::new(duty)
        }
    }

    /// Records a drifted item (keeping the first 100 in detail).
    pub fn drift(&mut self, table: &str, key: String, reason: &str) {
        self.drifted_count += 1;
        if self.drifted.len() < 100 {
            self.drifted.push(DriftReport {
                table: table.to_owned(),
                key,
                reason: reason.to_owned(),
            });
        }
    }

    /// Records a part of a saved plan that `apply` did not execute because the duty does not
    /// plan it now (`count` rows or files under one key or key range).
    pub fn refuse(&mut self, table: &str, key: &str, count: u64) {
        self.drifted_count = self.drifted_count.saturating_add(count.saturating_sub(1));
        if table == "file" {
            self.files.skipped = self.files.skipped.saturating_add(count);
        }
        self.drift(table, key.to_owned(), crate::plan::narrow::NOT_PLANNED_NOW);
    }

    /// Adds an error; any error makes the duty failed.
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
        self.status = Status::Failed;
    }
}

/// A conflict or drift code in words (`key_reused` → "key reused by another row").
#[must_use]
pub fn reason_text(code: &str) -> &str {
    match code {
        "key_reused" => "key reused by another row",
        "unique_taken" => "unique value taken by another row",
        "parent_gone" => "parent row gone",
        "changed" => "value changed since",
        "gone" => "row gone since",
        "target_exists" => "path exists",
        "hash_mismatch" => "hash mismatch: the quarantined bytes were altered",
        "vanished" => "vanished",
        "payload_expired" => "payload expired: past the undo window",
        "not_planned_now" => "not planned now",
        other => other,
    }
}

/// What kind of invocation produced the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Plan,
    Run,
    Apply,
    Undo,
}

impl Mode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plan => "plan",
            Mode::Run => "run",
            Mode::Apply => "apply",
            Mode::Undo => "undo",
        }
    }
}

/// The whole invocation's result.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `housekeeper.report/v1`.
    pub format: &'static str,
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub database: String,
    pub now: String,
    pub duties: Vec<DutyReport>,
    /// Chunks and files of crashed runs closed at start.
    pub recovered: Vec<String>,
    pub warnings: Vec<String>,
    /// `ok` or `failed`.
    pub status: Status,
}

impl RunReport {
    #[must_use]
    pub fn new(mode: Mode, database: String, now: String) -> Self {
        RunReport {
            format: "housekeeper.report/v1",
            mode,
            run_id: None,
            database,
            now,
            duties: Vec::new(),
            recovered: Vec::new(),
            warnings: Vec::new(),
            status: Status::Ok,
        }
    }

    /// Recomputes `status` from the duties.
    /// Sets the run's status: `failed` when a duty failed, else `interrupted` when a signal
    /// stopped the run before all its duties were done, else `ok`.
    pub fn finish(&mut self, interrupted: bool) {
        self.status = if self.duties.iter().any(|d| d.status == Status::Failed) {
            Status::Failed
        } else if interrupted {
            Status::Interrupted
        } else {
            Status::Ok
        };
    }

    /// Items an undo could not restore (its conflicts).
    #[must_use]
    pub fn conflicts(&self) -> u64 {
        if self.mode == Mode::Undo {
            self.duties.iter().map(|d| d.drifted_count).sum()
        } else {
            0
        }
    }

    /// 0 when every duty is ok or skipped, 1 when one failed or an undo met conflicts.
    #[must_use]
    pub fn exit(&self) -> Exit {
        if self.duties.iter().any(|d| d.status == Status::Failed) || self.conflicts() > 0 {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }

    /// Total primary changes (read-only duties' counts are not changes).
    #[must_use]
    pub fn affected(&self) -> u64 {
        self.duties
            .iter()
            .filter(|d| !d.duty.is_read_only())
            .map(|d| d.affected)
            .sum()
    }

    /// The summary for people (stderr).
    #[must_use]
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let id = self
            .run_id
            .as_deref()
            .map(|id| format!(" {id}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "housekeeper {}{id} on {} (now {})",
            self.mode.as_str(),
            Escaped(&self.database),
            self.now
        );
        for warning in &self.recovered {
            let _ = writeln!(out, "  recovered: {}", Escaped(warning));
        }
        for d in &self.duties {
            let mut line = format!("  {:<26} {:<8}", d.duty.as_str(), d.status.as_str());
            if d.status == Status::Skipped {
                let _ = write!(line, " {}", Escaped(d.reason.as_deref().unwrap_or("")));
            } else {
                let _ = write!(line, " affected {}", d.affected);
                let mut extra: Vec<String> = d
                    .categories
                    .iter()
                    .map(|(k, v)| format!("{} {v}", Escaped(k)))
                    .collect();
                if !d.dependents.is_empty() {
                    let deps: Vec<String> = d
                        .dependents
                        .iter()
                        .map(|(k, v)| format!("{} {v}", Escaped(k)))
                        .collect();
                    extra.push(format!("dependent rows: {}", deps.join(", ")));
                }
                if d.drifted_count > 0 && self.mode == Mode::Undo {
                    extra.push(format!("{} not restored", d.drifted_count));
                } else if d.drifted_count > 0 {
                    extra.push(format!("{} drifted", d.drifted_count));
                }
                if !d.held.is_empty() {
                    extra.push(format!("{} held", d.held.len()));
                }
                if !d.findings.is_empty() {
                    extra.push(crate::plan::render::findings_count(d.findings.len()));
                }
                if !extra.is_empty() {
                    let _ = write!(line, " ({})", extra.join("; "));
                }
            }
            let _ = writeln!(out, "{line}");
            for e in &d.errors {
                let _ = writeln!(out, "    error: {}", Escaped(e));
            }
            for f in &d.findings {
                let _ = writeln!(out, "    {}: {}", f.heading(), Escaped(&f.message));
            }
            if self.mode == Mode::Undo {
                for drift in &d.drifted {
                    let _ = writeln!(
                        out,
                        "    conflict: {} {}: {}",
                        Escaped(&drift.table),
                        Escaped(&drift.key),
                        Escaped(reason_text(&drift.reason))
                    );
                }
                if d.drifted_count > d.drifted.len() as u64 {
                    let _ = writeln!(
                        out,
                        "    … and {} more conflicts (--format json, or `housekeeper journal show`)",
                        d.drifted_count - d.drifted.len() as u64
                    );
                }
            } else {
                for drift in d.drifted.iter().take(10) {
                    if drift.reason == crate::plan::narrow::NOT_PLANNED_NOW {
                        let _ = writeln!(
                            out,
                            "    not planned now: {} {}",
                            Escaped(&drift.table),
                            Escaped(&drift.key)
                        );
                    } else {
                        let _ = writeln!(
                            out,
                            "    drifted: {} {} ({})",
                            Escaped(&drift.table),
                            Escaped(&drift.key),
                            Escaped(&drift.reason)
                        );
                    }
                }
            }
            for held in d.held.iter().take(10) {
                let _ = writeln!(out, "    held: {}", Escaped(held));
            }
        }
        let verdict = match self.status {
            Status::Failed => "failed",
            Status::Interrupted => "interrupted by a signal (the rest is left for the next run)",
            _ => "ok",
        };
        if self.mode == Mode::Undo {
            let conflicts = self.conflicts();
            let verdict = if conflicts > 0 && self.status != Status::Failed {
                "finished with conflicts"
            } else {
                verdict
            };
            let _ = write!(
                out,
                "undo {verdict}: {} rows and files restored, {conflicts} not restored",
                self.affected()
            );
            return out;
        }
        let _ = write!(
            out,
            "{} {verdict}: {} changes",
            self.mode.as_str(),
            self.affected()
        );
        let findings: usize = self.duties.iter().map(|d| d.findings.len()).sum();
        if findings > 0 {
            let _ = write!(out, ", {}", crate::plan::render::findings_count(findings));
        }
        if let (Some(id), Mode::Run | Mode::Apply) = (&self.run_id, self.mode) {
            if self.affected() > 0 {
                let _ = write!(out, "\nhint: inspect with `housekeeper journal show {id}`, undo with `housekeeper undo {id}`");
            }
        }
        out
    }
}
