//! `housekeeper plan`: the dry-run diff. Takes no lock and changes nothing anywhere — no
//! database write (SQLite is opened read-only), no journal record, no file, no log row.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use housekeeper_journal::DateTimeValue;

use super::{deselected, open_database, require_database, resolve_now};
use crate::cli::{DutySelection, Failure, Format, PlanArgs};
use crate::config::Config;
use crate::db::{Connection, SchemaFacts};
use crate::duties::{self, DutyContext, DutyName, History, Pending};
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

/// Hashes the canonical JSON of `value`: no white space, object keys sorted, `digest` of the
/// top-level object left out.
fn write_canonical(value: &serde_json::Value, top: bool, h: &mut blake3::Hasher) {
    let whole = |v: &serde_json::Value, h: &mut blake3::Hasher| {
        write_canonical(v, false, h);
        Ok::<(), std::convert::Infallible>(())
    };
    let Ok(()) = match value {
        serde_json::Value::Object(map) => write_object(map, top, h, |_, v, h| whole(v, h)),
        serde_json::Value::Array(items) => write_array(items, h, whole),
        scalar => {
            h.update(scalar.to_string().as_bytes());
            Ok(())
        }
    };
}

/// Hashes an object canonically: keys sorted (`digest` left out at the top), each value
/// written by `value`.
fn write_object<E>(
    map: &serde_json::Map<String, serde_json::Value>,
    top: bool,
    h: &mut blake3::Hasher,
    mut value: impl FnMut(&str, &serde_json::Value, &mut blake3::Hasher) -> Result<(), E>,
) -> Result<(), E> {
    let mut keys: Vec<&String> = map
        .keys()
        .filter(|k| !(top && k.as_str() == "digest"))
        .collect();
    keys.sort();
    h.update(b"{");
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            h.update(b",");
        }
        h.update(serde_json::Value::from(key.as_str()).to_string().as_bytes());
        h.update(b":");
        value(key, &map[key], h)?;
    }
    h.update(b"}");
    Ok(())
}

/// Hashes an array canonically, each element written by `element`.
fn write_array<T, E>(
    elements: impl IntoIterator<Item = T>,
    h: &mut blake3::Hasher,
    mut element: impl FnMut(T, &mut blake3::Hasher) -> Result<(), E>,
) -> Result<(), E> {
    h.update(b"[");
    for (i, e) in elements.into_iter().enumerate() {
        if i > 0 {
            h.update(b",");
        }
        element(e, h)?;
    }
    h.update(b"]");
    Ok(())
}

/// The content digest of a saved plan document (its `digest` field left out).
#[must_use]
pub fn content_digest(document: &serde_json::Value) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    write_canonical(document, true, &mut h);
    h.finalize()
}

/// The content digest of `saved`, equal to `content_digest` of its JSON document, computed
/// one item at a time: memory does not grow with the number of items.
///
/// # Errors
/// A part of the plan cannot be represented as JSON.
pub fn plan_digest(saved: &mut SavedPlan) -> Result<blake3::Hash, serde_json::Error> {
    let mut items: Vec<Vec<crate::plan::Item>> = saved
        .duties
        .iter_mut()
        .map(|duty| std::mem::take(&mut duty.items))
        .collect();
    let frame = serde_json::to_value(&*saved);
    for (duty, items) in saved.duties.iter_mut().zip(items.iter_mut()) {
        duty.items = std::mem::take(items);
    }
    let frame = frame?;
    let mut h = blake3::Hasher::new();
    let serde_json::Value::Object(top) = &frame else {
        write_canonical(&frame, true, &mut h);
        return Ok(h.finalize());
    };
    write_object(top, true, &mut h, |key, value, h| match (key, value) {
        ("duties", serde_json::Value::Array(duties)) => {
            write_array(duties.iter().zip(&saved.duties), h, |(duty, plan), h| {
                write_duty(duty, &plan.items, h)
            })
        }
        _ => {
            write_canonical(value, false, h);
            Ok(())
        }
    })?;
    Ok(h.finalize())
}

/// One duty's canonical JSON: `frame` is its document without items, `items` its items,
/// each turned into JSON on its own.
fn write_duty(
    frame: &serde_json::Value,
    items: &[crate::plan::Item],
    h: &mut blake3::Hasher,
) -> Result<(), serde_json::Error> {
    let serde_json::Value::Object(map) = frame else {
        write_canonical(frame, false, h);
        return Ok(());
    };
    write_object(map, false, h, |key, value, h| {
        if key == "items" {
            write_array(items, h, |item, h| {
                write_canonical(&serde_json::to_value(item)?, false, h);
                Ok(())
            })
        } else {
            write_canonical(value, false, h);
            Ok(())
        }
    })
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
    // A read that gave up waiting for a lock: say who holds locks (the snapshot is closed).
    let waited = |text: &String| text.contains(crate::db::LOCK_TIMEOUT_WORDS);
    if let PlanStatus::Failed { error } = &mut plan.status {
        if waited(error) {
            error.push_str(&crate::db::holders_text(conn));
        }
    }
    crate::audit::history::hold(&mut plan, ctx.history);
    plan
}

/// Plans every selected duty (deselected ones are reported as skipped), each as `run` will
/// plan it: after the earlier duties' plans applied. Each plan's deletes and updates, and the
/// `log` row the run writes after each duty, become the pending effects the next duties' gather
/// consults (`duties::Pending`); nothing is written.
pub fn plan_all(
    conn: &mut dyn Connection,
    config: &Config,
    selection: &DutySelection,
    now: DateTimeValue,
    schema: &SchemaFacts,
    history: &History,
) -> Vec<DutyPlan> {
    let host_now = crate::clock::host_now(config);
    let engine = conn.engine();
    let log_rows = crate::apply::log_rows::writes_rows(schema);
    let mut pending = Pending::new();
    let mut plans = Vec::new();
    for name in DutyName::ALL {
        if let Some(reason) = deselected(name, config, selection) {
            plans.push(DutyPlan::skipped(name, now, reason));
            continue;
        }
        let ctx = DutyContext {
            now,
            host_now,
            config,
            schema,
            engine,
            history,
            pending: &pending,
        };
        let plan = plan_duty(conn, name, &ctx);
        pending.record(&plan);
        if log_rows {
            pending.append("log", 1);
        }
        plans.push(plan);
    }
    plans
}

/// `housekeeper plan`.
///
/// # Errors
/// No database, unreachable database, unwritable `--out` file.
pub fn command(config: &Config, args: &PlanArgs) -> Result<Exit, Failure> {
    let target = require_database(config)?;
    let mut conn = open_database(config, target, true)?;
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
    let history = crate::audit::history::read_for(config)?;
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
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            serde_json::to_writer_pretty(&mut out, &saved)
                .map_err(|e| Failure::new(Exit::Failed, format!("encoding the plan: {e}")))?;
            writeln!(out)
                .and_then(|()| out.flush())
                .map_err(|e| Failure::new(Exit::Failed, format!("writing the plan: {e}")))?;
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
    for plan in &saved.duties {
        out.push_str(&render::duty_plan(plan));
    }
    out.push_str(&render::total_line(&saved.duties));
    out.push('\n');
    out
}

/// The plan with its content digest set.
fn seal(mut saved: SavedPlan) -> Result<SavedPlan, Failure> {
    saved.digest = None;
    let digest = plan_digest(&mut saved)
        .map_err(|e| Failure::new(Exit::Failed, format!("encoding the plan: {e}")))?;
    saved.digest = Some(digest.to_hex().to_string());
    Ok(saved)
}

/// Writes the plan readable by its owner only (mode 0600 whatever the umask: it holds
/// personal data), atomically.
fn write_plan(path: &Path, saved: &SavedPlan) -> Result<(), Failure> {
    crate::state::write_private(path, |out| {
        serde_json::to_writer_pretty(&mut *out, saved)?;
        out.write_all(b"\n")
    })
    .map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("writing the plan to {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FileItem, Item, Op, Reason};
    use housekeeper_journal::PathBytes;

    #[test]
    fn the_streamed_digest_equals_the_digest_of_the_whole_document() {
        let now = DateTimeValue::ymd_hms(2026, 12, 6, 9, 0, 0);
        let mut files = DutyPlan::new(DutyName::DiskTempFileCleanup, now);
        for i in 0..3 {
            let path = format!("/var/tmp/multiflexi/job-{i}/out \"{i}\".json");
            files.items.push(
                Item::new(
                    Op::Quarantine(FileItem {
                        path: PathBytes::from(std::path::Path::new(&path)),
                        relative: PathBytes::from(std::path::Path::new("x")),
                        size: i,
                        mtime_ns: -1,
                        dev: 1,
                        inode: i,
                        is_symlink: i == 2,
                    }),
                    Reason::new("old_temp_file", "file ž older than 24 h"),
                )
                .category("files"),
            );
        }
        files.notes.push("a note".into());
        let mut saved = SavedPlan {
            format: PLAN_FORMAT.into(),
            created_utc: "2026-12-06T09:00:00Z".into(),
            database: "sqlite:abc".into(),
            target: "sqlite:/var/lib/multiflexi/multiflexi.sqlite".into(),
            now,
            open_runs: vec!["20261206T080000Z-000001".into()],
            duties: vec![
                DutyPlan::new(DutyName::LogPruning, now),
                files,
                DutyPlan::skipped(DutyName::CredentialHealthCheck, now, "no table"),
            ],
            digest: Some("ignored".into()),
        };
        let whole = content_digest(&serde_json::to_value(&saved).unwrap());
        assert_eq!(plan_digest(&mut saved).unwrap(), whole);
        assert_eq!(saved.duties[1].items.len(), 3, "the items are put back");
        saved.duties[1].items[0].reason.text.push('!');
        assert_ne!(
            plan_digest(&mut saved).unwrap(),
            whole,
            "an item is covered"
        );
    }
}
