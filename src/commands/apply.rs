//! `housekeeper apply FILE`: applies a plan saved by `plan --out`, but only as far as the
//! duties plan the same now. Whoever can write the file is not trusted to choose what is
//! changed: before anything is locked, the file must be intact (its digest), made for this
//! database, not already applied, not older than `--max-age`, not made for a `now` later than
//! the database's, and every item must lie within its duty's scope (for DataRetentionCleanup:
//! within what the policies enabled now allow) — else the whole file is refused (exit 1,
//! nothing changed). Then each duty plans afresh with the plan's `now`, and only the items of
//! the file that the fresh plan also holds are executed, as the fresh plan has them; the
//! rest of the file is reported as `not planned now` (see `plan::narrow`).

use std::collections::BTreeSet;
use std::time::Duration;

use housekeeper_journal::{Digest, Record, RunKind};

use super::plan::{content_digest, plan_duty, SavedPlan, PLAN_FORMAT};
use super::{open_database, require_database};
use crate::cli::{ApplyArgs, Failure};
use crate::config::Config;
use crate::duties::{self, DutyName};
use crate::exit::Exit;
use crate::plan::{narrow, PlanStatus};
use crate::report::Mode;
use crate::session::{self, Planned, SessionOptions};
use crate::state::StateDir;

/// Parses an age like `90s`, `30m`, `1h`, `2d` (a bare number is seconds).
///
/// # Errors
/// Anything else, with the accepted forms.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not an age (e.g. 90s, 30m, 1h, 2d)"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{text:?} is not an age (e.g. 90s, 30m, 1h, 2d)")),
    };
    Ok(Duration::from_secs(seconds))
}

/// `housekeeper apply FILE`.
///
/// # Errors
/// The file is unreadable or not a plan; the plan is refused; the session failed.
pub fn command(config: &Config, args: &ApplyArgs) -> Result<Exit, Failure> {
    let max_age = parse_age(&args.max_age)
        .map_err(|e| Failure::new(Exit::Usage, format!("--max-age: {e}")))?;
    let saved = read_saved(&args.file)?;
    let digest = Digest(
        *blake3::Hash::from_hex(saved.digest.as_deref().unwrap_or_default())
            .map_err(|e| {
                Failure::new(Exit::Usage, format!("{}: digest: {e}", args.file.display()))
            })?
            .as_bytes(),
    );

    // Refusals, before anything is locked or changed.
    let created = chrono::DateTime::parse_from_rfc3339(&saved.created_utc).map_err(|e| {
        Failure::new(
            Exit::Usage,
            format!("{}: bad created_utc: {e}", args.file.display()),
        )
    })?;
    let age = crate::clock::age_of(created);
    if age.num_seconds() > i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX) {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "refused: the plan in {} was made {} minutes ago, older than --max-age {}",
                args.file.display(),
                age.num_minutes(),
                args.max_age
            ),
        )
        .hint("make a fresh one with `housekeeper plan --out FILE`"));
    }
    check_static_scope(&args.file, &saved)?;
    let target = require_database(config)?;
    let (identity, now, policy_scope) = {
        let mut conn = open_database(config, target, true)?;
        let identity = conn
            .identity()
            .map_err(|e| super::db_failure("identifying the database", &e))?;
        let (now, _) = super::resolve_now(&mut *conn, config)?;
        let policy_scope = if saved
            .duties
            .iter()
            .any(|p| p.duty == DutyName::DataRetentionCleanup && !p.items.is_empty())
        {
            let schema = conn
                .introspect()
                .map_err(|e| super::db_failure("reading the schema", &e))?;
            let duty = duties::duty(DutyName::DataRetentionCleanup);
            if duty.check_schema(&schema).is_ok() {
                let mut view = conn
                    .snapshot()
                    .map_err(|e| super::db_failure("reading the retention policies", &e))?;
                duties::data_retention_cleanup::read_policy_scope(&mut *view)
                    .map_err(|e| super::db_failure("reading the retention policies", &e))?
            } else {
                duties::data_retention_cleanup::PolicyScope::default()
            }
        } else {
            duties::data_retention_cleanup::PolicyScope::default()
        };
        (identity, now, policy_scope)
    };
    if identity != saved.database {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "refused: the plan in {} was made for {} ({}), not for this database ({})",
                args.file.display(),
                saved.target,
                saved.database,
                identity
            ),
        ));
    }
    if saved.now > now {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "refused: the plan in {} was made for now {}, later than the database's now {now}; nothing was changed",
                args.file.display(),
                saved.now
            ),
        )
        .hint("make a fresh one with `housekeeper plan --out FILE`"));
    }
    check_policy_scope(&args.file, &saved, &policy_scope)?;
    let journal_dir = StateDir::new(config.state_dir.clone()).journal_dir();
    if journal_dir.is_dir() {
        for entry in housekeeper_journal::store::read_records(&journal_dir)
            .map_err(|e| Failure::new(Exit::Integrity, format!("journal: {e}")))?
        {
            let entry =
                entry.map_err(|e| Failure::new(Exit::Integrity, format!("journal: {e}")))?;
            if let Record::RunStart {
                run_id,
                kind: RunKind::Apply { plan_digest },
                ..
            } = &entry.record
            {
                if plan_digest == &digest {
                    return Err(Failure::new(
                        Exit::Failed,
                        format!(
                            "refused: the plan in {} was already applied by run {run_id}",
                            args.file.display()
                        ),
                    ));
                }
            }
        }
    }

    let stop = super::run::stop_flag()?;
    let mut planner =
        |conn: &mut dyn crate::db::Connection, name, ctx: &crate::duties::DutyContext<'_>| {
            match saved.duties.iter().find(|p| p.duty == name) {
                None => Planned::Skip("not in the saved plan".into()),
                Some(plan) => match &plan.status {
                    PlanStatus::Skipped { reason } => {
                        Planned::Skip(format!("skipped in the saved plan: {reason}"))
                    }
                    _ => {
                        let (narrowed, refused) = narrow::narrow(plan, plan_duty(conn, name, ctx));
                        Planned::Narrowed(narrowed, refused)
                    }
                },
            }
        };
    let options = SessionOptions {
        mode: Mode::Apply,
        kind: RunKind::Apply {
            plan_digest: digest,
        },
        fixed_now: Some(saved.now),
        format: args.format,
        reverse: false,
        strict: false,
    };
    let report = session::run(config, &options, &mut planner, &stop)?;
    Ok(report.exit())
}

/// Reads a saved plan: its format, then its digest, then its fields.
///
/// # Errors
/// Unreadable, not a plan, another format, damaged: exit 2.
fn read_saved(file: &std::path::Path) -> Result<SavedPlan, Failure> {
    let not_a_plan = |e: &dyn std::fmt::Display| {
        Failure::new(
            Exit::Usage,
            format!("{} is not a saved plan: {e}", file.display()),
        )
        .hint("write one with `housekeeper plan --out FILE`")
    };
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::new(Exit::Usage, format!("{}: {e}", file.display())))?;
    let document: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| not_a_plan(&e))?;
    let format = document.get("format").and_then(serde_json::Value::as_str);
    if format != Some(PLAN_FORMAT) {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{}: plan format {} is not supported (expected {PLAN_FORMAT})",
                file.display(),
                format.map_or_else(|| "(none)".to_owned(), |f| format!("{f:?}"))
            ),
        )
        .hint("make a fresh one with `housekeeper plan --out FILE`"));
    }
    let recorded = document.get("digest").and_then(serde_json::Value::as_str);
    let computed = content_digest(&document).to_hex().to_string();
    if recorded != Some(computed.as_str()) {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{} is damaged: digest mismatch (its content is not what `plan --out` wrote); nothing was changed",
                file.display()
            ),
        )
        .hint("make a fresh one with `housekeeper plan --out FILE`"));
    }
    serde_json::from_value(document).map_err(|e| not_a_plan(&e))
}

/// A refusal of the whole file because of one item.
fn out_of_scope(file: &std::path::Path, duty: DutyName, index: usize, what: &str) -> Failure {
    Failure::new(
        Exit::Failed,
        format!(
            "refused: {}: item {index} of {duty} {what}; the whole plan is refused and nothing was changed",
            file.display()
        ),
    )
    .hint("a saved plan can only narrow what the duties do; make a fresh one with `housekeeper plan --out FILE`")
}

/// Every item of the file lies within its duty's declared scope, and each duty is listed
/// once.
///
/// # Errors
/// The first item outside (exit 1).
fn check_static_scope(file: &std::path::Path, saved: &SavedPlan) -> Result<(), Failure> {
    let mut seen = BTreeSet::new();
    for plan in &saved.duties {
        if !seen.insert(plan.duty) {
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "refused: {}: {} is listed twice; the whole plan is refused and nothing was changed",
                    file.display(),
                    plan.duty
                ),
            ));
        }
        let scope = duties::scope(plan.duty);
        for (index, item) in plan.items.iter().enumerate() {
            scope.check(item).map_err(|what| {
                let what = format!("{what}, which {} never does", plan.duty);
                out_of_scope(file, plan.duty, index, &what)
            })?;
        }
    }
    Ok(())
}

/// Every DataRetentionCleanup item lies within what the policies enabled now allow.
///
/// # Errors
/// The first item outside (exit 1).
fn check_policy_scope(
    file: &std::path::Path,
    saved: &SavedPlan,
    scope: &duties::data_retention_cleanup::PolicyScope,
) -> Result<(), Failure> {
    for plan in saved
        .duties
        .iter()
        .filter(|p| p.duty == DutyName::DataRetentionCleanup)
    {
        for (index, item) in plan.items.iter().enumerate() {
            scope
                .check(item)
                .map_err(|what| out_of_scope(file, plan.duty, index, &what))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse() {
        assert_eq!(parse_age("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_age("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_age("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_age("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_age("1w").unwrap_err().contains("not an age"));
        assert!(parse_age("h").is_err());
    }
}
