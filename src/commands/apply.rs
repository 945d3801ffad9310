//! `housekeeper apply FILE`: applies exactly the items of a plan saved by `plan --out`,
//! each re-checked in its transaction as in a run (with the plan's `now`). Refuses (exit 1) a
//! plan made for another database, one already applied, and one older than `--max-age`.

use std::time::Duration;

use housekeeper_journal::{Digest, Record, RunKind};

use super::plan::{SavedPlan, PLAN_FORMAT};
use super::run::{session, Planned, SessionOptions};
use super::{open_database, require_database};
use crate::cli::{ApplyArgs, Failure};
use crate::config::Config;
use crate::exit::Exit;
use crate::report::Mode;
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
    let bytes = std::fs::read(&args.file)
        .map_err(|e| Failure::new(Exit::Usage, format!("{}: {e}", args.file.display())))?;
    let saved: SavedPlan = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(
            Exit::Usage,
            format!("{} is not a saved plan: {e}", args.file.display()),
        )
        .hint("write one with `housekeeper plan --out FILE`")
    })?;
    if saved.format != PLAN_FORMAT {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{}: plan format {:?} is not supported (expected {PLAN_FORMAT})",
                args.file.display(),
                saved.format
            ),
        ));
    }
    let digest = Digest(*blake3::hash(&bytes).as_bytes());

    // Refusals, before anything is locked or changed.
    let created = chrono::DateTime::parse_from_rfc3339(&saved.created_utc).map_err(|e| {
        Failure::new(
            Exit::Usage,
            format!("{}: bad created_utc: {e}", args.file.display()),
        )
    })?;
    let age = chrono::Utc::now().signed_duration_since(created);
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
    let target = require_database(config)?;
    let identity = {
        let mut conn = open_database(target, true)?;
        conn.identity()
            .map_err(|e| super::db_failure("identifying the database", &e))?
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
    let mut planner = |_: &mut dyn crate::db::Connection,
                       name,
                       _: &crate::duties::DutyContext<'_>| {
        match saved.duties.iter().find(|p| p.duty == name) {
            Some(plan) => Planned::Plan(plan.clone()),
            None => Planned::Skip("not in the saved plan".into()),
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
    let report = session(config, &options, &mut planner, &stop)?;
    Ok(report.exit())
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
