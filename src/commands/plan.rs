//! `housekeeper plan`: the dry-run diff. Takes no lock and changes nothing anywhere — no
//! database write (SQLite is opened read-only), no journal record, no file, no log row.

use std::path::Path;

use serde::{Deserialize, Serialize};

use housekeeper_journal::DateTimeValue;

use super::{deselected, open_database, require_database, resolve_now};
use crate::cli::{DutySelection, Failure, Format, PlanArgs};
use crate::config::Config;
use crate::db::{Connection, SchemaFacts};
use crate::duties::{self, DutyContext, DutyName, History};
use crate::exit::Exit;
use crate::plan::{render, DutyPlan, PlanStatus};
use crate::state::StateDir;
use crate::text::Escaped;

/// The saved form of a plan (`plan --out FILE`, and `plan --format json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    /// `housekeeper.plan/v2`.
    pub format: String,
    pub created_utc: String,
    /// Identity of the database the plan was made for.
    pub database: String,
    /// The database as configured (no password), for people.
    pub target: String,
    pub now: DateTimeValue,
    /// Runs a crash left open; `run` recovers them before doing anything.
    pub open_runs: Vec<String>,
    pub duties: Vec<DutyPlan>,
    /// blake3 (hex) of the canonical JSON of everything else ([`content_digest`]): `apply`
    /// reports a file whose content does not match it as damaged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// v2 added `digest`; `apply` refuses v1 files (make a fresh plan).
pub const PLAN_FORMAT: &str = "housekeeper.plan/v2";

/// The canonical JSON of a document: no white space, object keys sorted, `digest` of the
/// top-level object left out.
#[must_use]
pub fn canonical_json(document: &serde_json::Value) -> String {
    fn write(value: &serde_json::Value, top: bool, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map
                    .keys()
                    .filter(|k| !(top && k.as_str() == "digest"))
                    .collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::from(key.as_str()).to_string());
                    out.push(':');
                    write(&map[key], false, out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, false, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(document, true, &mut out);
    out
}

/// The content digest of a saved plan document (its `digest` field left out).
#[must_use]
pub fn content_digest(document: &serde_json::Value) -> blake3::Hash {
    blake3::hash(canonical_json(document).as_bytes())
}

/// Plans one duty through a fresh read-only snapshot.
#[must_use]
pub fn plan_duty(conn: &mut dyn Connection, name: DutyName, ctx: &DutyContext<'_>) -> DutyPlan {
    let duty = duties::duty(name);
    if let Err(reason) = duty.check_schema(ctx.schema) {
        return DutyPlan::skipped(name, ctx.now, reason);
    }
    let mut plan = match conn.snapshot() {
        Ok(mut view) => duty.plan(&mut *view, ctx),
        Err(e) => DutyPlan::failed(name, ctx.now, format!("cannot read the database: {e}")),
    };
    crate::apply::history::hold(&mut plan, ctx.history);
    plan
}

/// The history of earlier runs (holds, retention marks) from the state directory's journal;
/// empty when there is none yet.
///
/// # Errors
/// The journal exists but cannot be read.
pub fn read_history(config: &Config) -> Result<History, Failure> {
    let dir = StateDir::new(config.state_dir.clone()).journal_dir();
    let hold = chrono::Duration::days(i64::from(config.hold_days));
    let since = (chrono::Utc::now() - hold).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    crate::apply::history::read(&dir, &since).map_err(|e| {
        Failure::new(
            Exit::Integrity,
            format!("reading the journal in {}: {e}", dir.display()),
        )
        .hint("run `housekeeper journal verify` for details")
    })
}

/// Plans every selected duty (deselected ones are reported as skipped).
pub fn plan_all(
    conn: &mut dyn Connection,
    config: &Config,
    selection: &DutySelection,
    now: DateTimeValue,
    schema: &SchemaFacts,
    history: &History,
) -> Vec<DutyPlan> {
    let ctx = DutyContext {
        now,
        host_now: crate::clock::host_now(config),
        config,
        schema,
        engine: conn.engine(),
        history,
    };
    DutyName::ALL
        .into_iter()
        .map(|name| match deselected(name, config, selection) {
            Some(reason) => DutyPlan::skipped(name, now, reason),
            None => plan_duty(conn, name, &ctx),
        })
        .collect()
}

/// `housekeeper plan`.
///
/// # Errors
/// No database, unreachable database, unwritable `--out` file.
pub fn command(config: &Config, args: &PlanArgs) -> Result<Exit, Failure> {
    let target = require_database(config)?;
    let mut conn = open_database(target, true)?;
    let schema = conn
        .introspect()
        .map_err(|e| super::db_failure("reading the schema", &e))?;
    let (now, warnings) = resolve_now(&mut *conn, config)?;
    for w in &warnings {
        log::warn!("{w}");
    }
    let identity = conn
        .identity()
        .map_err(|e| super::db_failure("identifying the database", &e))?;
    let journal_dir = StateDir::new(config.state_dir.clone()).journal_dir();
    let open_runs = if journal_dir.is_dir() {
        crate::apply::recover::open_runs(&journal_dir).unwrap_or_else(|e| {
            log::warn!("cannot read the journal in {}: {e}", journal_dir.display());
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let history = read_history(config)?;
    let plans = plan_all(&mut *conn, config, &args.duties, now, &schema, &history);
    let saved = SavedPlan {
        format: PLAN_FORMAT.into(),
        created_utc: crate::clock::utc_stamp(),
        database: identity,
        target: target.to_string(),
        now,
        open_runs,
        duties: plans,
        digest: None,
    };
    let saved = seal(saved)?;
    if let Some(path) = &args.out {
        write_plan(path, &saved)?;
    }
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&saved)
                .map_err(|e| Failure::new(Exit::Failed, format!("encoding the plan: {e}")))?;
            println!("{text}");
        }
        Format::Text => print!("{}", render_text(&saved)),
    }
    if let Some(path) = &args.out {
        eprintln!(
            "plan saved to {}; apply it with `housekeeper apply {}`",
            Escaped(path),
            Escaped(path)
        );
    }
    let failed = saved
        .duties
        .iter()
        .any(|p| matches!(p.status, PlanStatus::Failed { .. }) || !p.errors.is_empty());
    Ok(if failed { Exit::Failed } else { Exit::Ok })
}

/// The whole plan for people.
#[must_use]
pub fn render_text(saved: &SavedPlan) -> String {
    let mut out = format!("plan for {} (now {})\n", Escaped(&saved.target), saved.now);
    for run in &saved.open_runs {
        out.push_str(&format!(
            "note: run {run} was interrupted and left journal records open; `housekeeper run` will recover them first\n"
        ));
    }
    let mut total = 0;
    for plan in &saved.duties {
        out.push_str(&render::duty_plan(plan));
        if matches!(plan.status, PlanStatus::Planned) && !plan.duty.is_read_only() {
            total += plan.affected();
        }
    }
    out.push_str(&format!("total: {total} to change\n"));
    out
}

/// The plan with its content digest set.
fn seal(mut saved: SavedPlan) -> Result<SavedPlan, Failure> {
    saved.digest = None;
    let document = serde_json::to_value(&saved)
        .map_err(|e| Failure::new(Exit::Failed, format!("encoding the plan: {e}")))?;
    saved.digest = Some(content_digest(&document).to_hex().to_string());
    Ok(saved)
}

/// Writes the plan readable by its owner only (mode 0600 whatever the umask: it holds
/// personal data): a temporary file in the same directory, made durable, then renamed over
/// the target.
fn write_plan(path: &Path, saved: &SavedPlan) -> Result<(), Failure> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let failure = |e: std::io::Error| {
        Failure::new(
            Exit::Failed,
            format!("writing the plan to {}: {e}", path.display()),
        )
    };
    let text = serde_json::to_string_pretty(saved)
        .map_err(|e| Failure::new(Exit::Failed, format!("encoding the plan: {e}")))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(failure)
}
