//! `housekeeper demo [DIR]`: the newcomer's first command. Builds a throw-away SQLite
//! MultiFlexi database, temp dir and state dir under DIR with realistic mess, then shows the
//! plan, performs the run, undoes it and proves that every row and temp file came back
//! (full dumps compared), and prints the commands to look at the journal. Offline, with a
//! fixed `now` (`HOUSEKEEPER_NOW`), so the story is the same every time.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use housekeeper_journal::DateTimeValue;
use housekeeper_scenario as scenario;

use crate::cli::{DemoArgs, DutySelection, Failure, Format};
use crate::config::{Config, DbTarget};
use crate::db::{self, ConnectOptions};
use crate::exit::Exit;
use crate::plan::render;
use crate::report::Mode;
use crate::session::{self, Planned, SessionOptions};

/// The demo's fixed clock.
pub const DEMO_NOW: DateTimeValue = DateTimeValue {
    year: 2026,
    month: 11,
    day: 28,
    hour: 9,
    minute: 0,
    second: 0,
    micros: 0,
};

/// Rows of `log` the demo keeps (so LogPruning has something to show).
pub const DEMO_LOG_KEEP: u64 = 500;

/// Items shown per duty in the demo's plan.
const SHOWN: usize = 4;

fn fail(what: &str, path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Failed, format!("{what} {}: {e}", path.display()))
}

/// The configuration the demo runs with: everything under DIR, fixed clock, UTC.
#[must_use]
pub fn demo_config(base: &Config, dir: &Path) -> Config {
    let mut config = base.clone();
    config.database = Some(DbTarget::Sqlite {
        path: dir.join("multiflexi.sqlite"),
    });
    config.tmp_dir = dir.join("tmp");
    config.state_dir = dir.join("state");
    config.fixed_now = Some(DEMO_NOW);
    config.timezone = Some(chrono_tz::UTC);
    config.log_keep = DEMO_LOG_KEEP;
    config.dry_run = false;
    config.daemonize = false;
    config.zabbix = None;
    config.metrics_file = None;
    config.skip_duties.clear();
    // The demo is offline: point the FioBank check at a closed local port.
    config.fio = crate::config::Endpoint {
        url: "http://127.0.0.1:9/".into(),
        host: "127.0.0.1".into(),
        port: 9,
    };
    config
}

/// Creates the demo's temp files: old ones to quarantine, fresh ones and files running jobs
/// use to keep. Returns how many.
///
/// # Errors
/// A file could not be written or dated.
pub fn create_temp_files(
    tmp: &Path,
    referenced: &[String],
    host_now: SystemTime,
) -> Result<usize, Failure> {
    let at = |hours: u64| {
        host_now
            .checked_sub(Duration::from_secs(hours * 3600))
            .unwrap_or(SystemTime::UNIX_EPOCH)
    };
    let write = |path: &Path, hours: u64| -> Result<(), Failure> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| fail("creating", parent, e))?;
        }
        fs::write(path, format!("demo file {}\n", path.display()))
            .map_err(|e| fail("writing", path, e))?;
        fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(at(hours)))
            .map_err(|e| fail("dating", path, e))
    };
    let mut count = 0;
    for job in 0..12 {
        for (name, hours) in [("result.json", 30 + job * 7), ("stdout.log", 26 + job * 5)] {
            write(&tmp.join(format!("job-{:04}/{name}", 9000 + job)), hours)?;
            count += 1;
        }
    }
    for (name, hours) in [
        ("upload-abc.csv", 2),
        ("report-today.pdf", 5),
        ("export.xml", 23),
    ] {
        write(&tmp.join(name), hours)?;
        count += 1;
    }
    for path in referenced {
        write(Path::new(path), 48)?;
        count += 1;
    }
    Ok(count)
}

/// `housekeeper demo [DIR]`.
///
/// # Errors
/// DIR exists and is not empty, or building the demo failed.
pub fn command(base: &Config, args: &DemoArgs) -> Result<Exit, Failure> {
    refuse_flags(base)?;
    let dir = crate::config::absolute(&args.dir);
    if dir.exists()
        && fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Failure::new(
            Exit::Usage,
            format!("{} exists and is not empty", dir.display()),
        )
        .hint("give the demo a new or empty directory, e.g. `housekeeper demo /tmp/hk-demo`"));
    }
    fs::create_dir_all(&dir).map_err(|e| fail("creating", &dir, e))?;
    let config = demo_config(base, &dir);
    let db_path = dir.join("multiflexi.sqlite");
    fs::File::create(&db_path).map_err(|e| fail("creating", &db_path, e))?;
    let target = config.database.clone().unwrap_or(DbTarget::Sqlite {
        path: db_path.clone(),
    });
    build(&config, &target, &dir, &db_path)?;

    // 1. The plan.
    println!("$ housekeeper plan");
    let flags = flags_text(&dir);
    show_plan(&config, &target, &flags)?;

    let (rows_before, files_before) = snapshot(&config, &target)?;

    // 2. The run.
    println!("$ housekeeper run");
    let report = run(&config)?;
    let run_id = report.run_id.clone().unwrap_or_default();
    if report.exit() != Exit::Ok {
        return Ok(report.exit());
    }

    // 3. The undo, and the proof that everything came back.
    println!("\n$ housekeeper undo {run_id}");
    let undo = crate::cli::UndoArgs {
        run_id: run_id.clone(),
        duty: None,
        table: Vec::new(),
        id: Vec::new(),
        path: Vec::new(),
        dry_run: false,
        strict: false,
        format: Format::Text,
    };
    let undone = super::undo::command(&config, &undo)?;
    let (rows_after, files_after) = snapshot(&config, &target)?;
    let diff = rows_before.diff(&rows_after.without_run_records(&rows_before));
    let rows: usize = rows_before.row_counts().values().sum();
    if diff.is_empty() && files_before == files_after && undone == Exit::Ok {
        println!(
            "undo: all {rows} rows of {} tables and all {} temp files are back as they were, byte for byte",
            rows_before.tables.len(),
            files_before.len()
        );
        println!("      (the run's own records stay: its log rows, anchors and retention records)");
    } else {
        println!("undo: not everything came back:\n{diff}");
        if files_before != files_after {
            println!("      the temp files differ");
        }
        return Ok(Exit::Failed);
    }
    println!();
    println!("What next:");
    println!("  housekeeper {flags} journal list");
    println!("  housekeeper {flags} journal show {run_id}");
    println!("  housekeeper {flags} journal verify");
    println!("  housekeeper {flags} run     # restored items are held (MULTIFLEXI_HOUSEKEEPER_HOLD_DAYS)");
    println!("  housekeeper {flags} quarantine list");
    Ok(Exit::Ok)
}

/// Refuses the flags that point somewhere else than DIR (`--dry-run` aside).
fn refuse_flags(base: &Config) -> Result<(), Failure> {
    // The demo builds everything under DIR: a flag pointing elsewhere would be ignored, and
    // a user who gave one expects it to count.
    let ignored: Vec<&str> = base
        .provenance
        .iter()
        .filter_map(|p| match p.source {
            crate::config::Source::Flag(flag) if flag != "--dry-run" => Some(flag),
            _ => None,
        })
        .collect();
    if let Some(flag) = ignored.first() {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "demo does not take {flag}: it builds its own SQLite database, state and temp directories under DIR"
            ),
        )
        .hint("run `housekeeper demo DIR` without it; to see what housekeeper would do to your database, use `housekeeper plan`"));
    }
    Ok(())
}

/// The demo database with its realistic mess, and the temp files; says how much of each.
fn build(config: &Config, target: &DbTarget, dir: &Path, db_path: &Path) -> Result<(), Failure> {
    eprintln!(
        "Building a MultiFlexi database with realistic mess in {} …",
        dir.display()
    );
    let mess = {
        let mut conn = db::connect(target, &ConnectOptions::default()).map_err(|e| {
            Failure::new(Exit::Failed, format!("opening {}: {e}", db_path.display()))
        })?;
        scenario::install_schema(&mut *conn, scenario::SchemaLevel::Current)
            .map_err(|e| Failure::new(Exit::Failed, format!("creating the schema: {e}")))?;
        scenario::realistic_mess_in(&mut *conn, DEMO_NOW, 1, &config.tmp_dir)
            .map_err(|e| Failure::new(Exit::Failed, format!("seeding the demo database: {e}")))?
    };
    let files = create_temp_files(
        &config.tmp_dir,
        &mess.referenced_files,
        crate::clock::host_now(config),
    )?;
    let rows: usize = mess.rows.values().sum();
    println!(
        "demo: {} rows in {} tables, {files} temp files, now fixed at {DEMO_NOW} (UTC)\n",
        rows,
        mess.rows.len()
    );
    Ok(())
}

/// What `housekeeper plan` would show, briefly, with the total to change.
fn show_plan(config: &Config, target: &DbTarget, flags: &str) -> Result<(), Failure> {
    let mut conn = super::open_database(config, target, true)?;
    let schema = conn
        .introspect()
        .map_err(|e| super::db_failure("reading the schema", &e))?;
    let history = crate::duties::History::default();
    let plans = super::plan::plan_all(
        &mut *conn,
        config,
        &DutySelection::default(),
        DEMO_NOW,
        &schema,
        &history,
    );
    for plan in &plans {
        print!("{}", render::duty_plan_brief(plan, SHOWN));
    }
    println!(
        "{} (the full list: housekeeper {flags} plan)\n",
        render::total_line(&plans)
    );
    Ok(())
}

/// A real run of every duty on the demo database.
fn run(config: &Config) -> Result<crate::report::RunReport, Failure> {
    let stop = AtomicBool::new(false);
    let selection = DutySelection::default();
    let mut planner =
        |conn: &mut dyn crate::db::Connection, name, ctx: &crate::duties::DutyContext<'_>| {
            match super::deselected(name, config, &selection) {
                Some(reason) => Planned::Skip(reason),
                None => Planned::Plan(super::plan::plan_duty(conn, name, ctx)),
            }
        };
    let options = SessionOptions {
        mode: Mode::Run,
        kind: housekeeper_journal::RunKind::Run,
        fixed_now: None,
        format: Format::Text,
        reverse: false,
        strict: false,
    };
    session::run(config, &options, &mut planner, &stop)
}

/// Every row of the demo database and every temp file, to compare before and after.
fn snapshot(
    config: &Config,
    target: &DbTarget,
) -> Result<
    (
        scenario::Dump,
        std::collections::BTreeMap<String, scenario::FileState>,
    ),
    Failure,
> {
    let mut conn = super::open_database(config, target, true)?;
    let dump = scenario::dump_database(&mut *conn)
        .map_err(|e| Failure::new(Exit::Failed, format!("reading the demo database: {e}")))?;
    Ok((dump, scenario::file_tree(&config.tmp_dir)))
}

/// The flags that point another command at the demo.
#[must_use]
pub fn flags_text(dir: &Path) -> String {
    let q = |p: PathBuf| {
        let s = p.display().to_string();
        if s.contains(|c: char| c.is_whitespace() || c == '\'') {
            format!("'{}'", s.replace('\'', "'\\''"))
        } else {
            s
        }
    };
    format!(
        "--database sqlite:{} --state-dir {} --tmp-dir {}",
        q(dir.join("multiflexi.sqlite")),
        q(dir.join("state")),
        q(dir.join("tmp"))
    )
}
