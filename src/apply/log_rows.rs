//! The rows a real run writes into MultiFlexi's `log` table — one per duty and one per run —
//! so the MultiFlexi web UI shows housekeeping. They are the run's own record: undo
//! leaves them. Dry runs and `plan` write none.

use housekeeper_journal::Value;

use crate::db::{Connection, DbResult, SchemaFacts};
use crate::report::{DutyReport, RunReport, Status};

pub const VENUE: &str = "MultiFlexi\\Housekeeper";

/// The message and severity of a duty's row, in the PHP tool's wording.
#[must_use]
pub fn duty_line(report: &DutyReport) -> (&'static str, String) {
    let seconds = report.elapsed_ms as f64 / 1000.0;
    let mut message = format!(
        "Duty [{}] done in {seconds:.3}s — affected: {}, errors: {}",
        report.duty,
        report.affected,
        report.errors.len()
    );
    if report.status == Status::Skipped {
        message.push_str(&format!(
            " (skipped: {})",
            report.reason.as_deref().unwrap_or("")
        ));
    }
    if !report.findings.is_empty() {
        message.push_str(&format!(", findings: {}", report.findings.len()));
    }
    let severity = match report.status {
        Status::Failed => "error",
        Status::Skipped => "info",
        Status::Ok if !report.findings.is_empty() || report.drifted_count > 0 => "warning",
        Status::Ok => "success",
        Status::Interrupted => "warning",
    };
    (severity, message)
}

/// The message and severity of the run's row.
#[must_use]
pub fn run_line(report: &RunReport, seconds: f64) -> (&'static str, String) {
    let failed: Vec<&str> = report
        .duties
        .iter()
        .filter(|d| d.status == Status::Failed)
        .map(|d| d.duty.as_str())
        .collect();
    let id = report.run_id.as_deref().unwrap_or("");
    if failed.is_empty() && report.status == Status::Interrupted {
        (
            "warning",
            format!(
                "Housekeeper run {id} interrupted by a signal after {seconds:.3}s — affected: {}; the rest is left for the next run",
                report.affected()
            ),
        )
    } else if failed.is_empty() {
        (
            "info",
            format!(
                "Housekeeper run {id} completed in {seconds:.3}s — affected: {}",
                report.affected()
            ),
        )
    } else {
        (
            "error",
            format!(
                "Housekeeper run {id} completed in {seconds:.3}s — affected: {}, failed: {}",
                report.affected(),
                failed.join(", ")
            ),
        )
    }
}

/// Whether a run writes its rows into `log`: the table has the columns they fill.
#[must_use]
pub fn writes_rows(schema: &SchemaFacts) -> bool {
    schema.table("log").is_some_and(|table| {
        table.has_column("severity") && table.has_column("venue") && table.has_column("message")
    })
}

/// Inserts one row into `log` (when the table has the columns), in its own transaction.
///
/// # Errors
/// The insert failed.
pub fn write(
    conn: &mut dyn Connection,
    schema: &SchemaFacts,
    severity: &str,
    message: &str,
) -> DbResult<()> {
    if !writes_rows(schema) {
        return Ok(());
    }
    let d = *conn.dialect();
    let sql = format!(
        "INSERT INTO {} ({}, {}, {}) VALUES (?, ?, ?)",
        d.quote("log"),
        d.quote("severity"),
        d.quote("venue"),
        d.quote("message")
    );
    let mut tx = conn.begin()?;
    tx.execute(
        &sql,
        &[
            Value::from(severity),
            Value::from(VENUE),
            Value::from(message),
        ],
    )?;
    tx.commit()
}
