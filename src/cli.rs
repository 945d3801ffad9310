//! The command line: argument definitions, logging set-up and dispatch to the subcommands.
//!
//! This is the only module that decides the process exit code (through `Exit`) and the only
//! one that prints errors for the user. Subcommands return `Result<Exit, Failure>`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::{Config, Flags};
use crate::duties::DutyName;
use crate::exit::Exit;
use crate::text::Escaped;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   every duty ok or skipped (findings do not count)
  1   a duty failed, an undo reported conflicts, or an apply was refused
  2   usage or configuration error
  3   journal or quarantine integrity problem
  4   database unreachable, login refused, or the connection lost mid-run
  75  another housekeeper holds the lock, or the database stayed locked by another session";

const MAIN_AFTER_HELP: &str = "\
Examples:
  housekeeper demo /tmp/hk-demo        build a throw-away MultiFlexi database and clean it up
  housekeeper plan                     show what a run would change, row by row
  housekeeper run                      plan, journal and apply every duty (the hourly job)
  housekeeper journal list             the runs in the journal
  housekeeper undo <RUN-ID>            put back what a run changed

Configuration is read from flags, the environment and the env file
(/etc/multiflexi/multiflexi.env, else ./.env), in that order; see housekeeper(8).

Exit codes:
  0   every duty ok or skipped (findings do not count)
  1   a duty failed, an undo reported conflicts, or an apply was refused
  2   usage or configuration error
  3   journal or quarantine integrity problem
  4   database unreachable, login refused, or the connection lost mid-run
  75  another housekeeper holds the lock, or the database stayed locked by another session";

const UNDO_AFTER_HELP: &str = "\
Examples:
  housekeeper journal list                        which runs can be undone
  housekeeper undo <RUN-ID> --dry-run             what would come back, and the conflicts
  housekeeper undo <RUN-ID> --duty LogPruning     only what one duty did
  housekeeper undo <RUN-ID> --table job --id 42   one job, with its queue rows and output
  housekeeper undo <RUN-ID> --path /tmp/x/a.log   one quarantined file

Every item is restored at most once: a second undo of the same run restores what is left
(items not selected, or that met a conflict whose cause was fixed meanwhile) until the run's
undo window ends. An undo that was interrupted is finished by running it again.
See docs/UNDO.md and housekeeper(8), section UNDO.

Exit codes:
  0   everything was restored
  1   some items were not restored (conflicts), or the undo was refused
  2   usage or configuration error (e.g. an unknown run id)
  3   journal or quarantine integrity problem: nothing was changed
  4   database unreachable, login refused, or the connection lost mid-run
  75  another housekeeper holds the lock, or the database stayed locked by another session";

/// Periodic maintenance of a MultiFlexi installation: every change is planned first,
/// journaled, applied in short transactions, and can be undone.
#[derive(Debug, Parser)]
#[command(name = "housekeeper", version, after_help = MAIN_AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Read variables from this env file instead of /etc/multiflexi/multiflexi.env or ./.env
    /// (a missing file is an error).
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// The database as a URL: sqlite:PATH, postgres://USER@HOST/DB or mysql://USER@HOST/DB
    /// (wins over HOUSEKEEPER_DATABASE_URL and DB_*). A local socket:
    /// postgres://USER@/DB?host=/var/run/postgresql, mysql://USER@localhost/DB?socket=PATH.
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,

    /// Journal and quarantine directory (MULTIFLEXI_HOUSEKEEPER_STATE_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The MultiFlexi temp directory (MULTIFLEXI_TMP).
    #[arg(long, global = true, value_name = "DIR")]
    pub tmp_dir: Option<PathBuf>,

    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors on stderr: the summary of a run that went well is left out
    /// (`--format json` still prints the report on stdout).
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Output format of commands that report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON document on stdout, for machines (schema in docs/JSON.md).
    Json,
}

/// Output format of reports that spreadsheets also read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON document on stdout, for machines (schema in docs/JSON.md).
    Json,
    /// Comma-separated values (RFC 4180) with a header row, one row per key.
    Csv,
}

/// Which duties take part.
#[derive(Debug, Clone, Args, Default)]
pub struct DutySelection {
    /// Only these duties (repeatable or comma-separated; case-insensitive): StaleTaskFinalization,
    /// OrphanedJobCleanup, ScheduleIntegrity, DataRetentionCleanup, DiskTempFileCleanup,
    /// LogPruning, RuntemplateCounterRecalc, CredentialHealthCheck.
    #[arg(long = "duty", value_name = "NAME", value_delimiter = ',')]
    pub only: Vec<DutyName>,

    /// Skip these duties, in addition to MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES.
    #[arg(long = "skip", value_name = "NAME", value_delimiter = ',')]
    pub skip: Vec<DutyName>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan, journal and apply every duty (the default when no command is given).
    #[command(after_help = EXIT_CODES_HELP)]
    Run(RunArgs),

    /// Show what a run would change (the dry-run diff); changes nothing anywhere.
    ///
    /// Each duty is planned as the run will plan it, after what the earlier duties change:
    /// rows they delete are gone, columns they update hold their new values, and the log rows
    /// the run writes after each duty count towards MULTIFLEXI_HOUSEKEEPER_LOG_KEEP. Findings
    /// are reported and counted apart from the changes.
    #[command(after_help = EXIT_CODES_HELP)]
    Plan(PlanArgs),

    /// Apply a plan saved with `plan --out FILE`, narrowed to what the duties plan now.
    ///
    /// The file is not trusted to choose what is changed. Before anything is locked, apply
    /// refuses the whole file (exit 1, nothing changed, nothing journaled) when it was made
    /// for another database, was already applied, is older than --max-age, was made for a
    /// `now` later than the database's, or holds an item outside its duty's scope (an op no
    /// duty plans, a table or column the duty never writes, an item under another duty, for
    /// DataRetentionCleanup a table no enabled policy names); a file whose content does not
    /// match its digest is reported as damaged (exit 2). Then each duty plans afresh with the
    /// plan's `now`, and only the items of the file that the fresh plan also holds are
    /// executed, as the fresh plan has them (its guards, re-checks, dependent rows); deletes
    /// run on the keys both hold. The rest of the file is reported as "not planned now"
    /// (drifted, reason not_planned_now); what the duties plan now but the file does not hold
    /// is left alone.
    #[command(after_help = EXIT_CODES_HELP)]
    Apply(ApplyArgs),

    /// Put back what a run changed: rows, columns and quarantined files.
    ///
    /// Verifies the journal and the run's row images first, then re-inserts deleted rows with
    /// their keys and every column, restores updated columns where they still hold what the
    /// run wrote, and moves quarantined files back (bytes, mode, owner, times). Items that
    /// cannot be restored are reported with their reason and left alone: key reused, unique
    /// value taken, parent row gone, value changed since, row gone since, path exists, hash
    /// mismatch, payload expired. Restored items are held for MULTIFLEXI_HOUSEKEEPER_HOLD_DAYS.
    /// --table/--id and --path restore only those items (and the rows deleted with them);
    /// what is not restored stays undoable by a later undo of the same run.
    #[command(after_help = UNDO_AFTER_HELP)]
    Undo(UndoArgs),

    /// Read and verify the journal.
    #[command(subcommand)]
    Journal(JournalCommand),

    /// List or expire quarantined files.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),

    /// Check configuration, the Zabbix server, database, schema, directories, lock and journal.
    ///
    /// Changes and creates nothing (no lock file, no journal id, no directory). Reports as a
    /// PROBLEM (exit 1) what would make a run fail: a state directory that is not writable
    /// (permissions or a read-only mount), nearly full, or holds files of another owner than
    /// its own (with the chown that fixes it); paths the installed systemd unit does not let
    /// the service write (with the ReadWritePaths= drop-in to add); an unreachable or wrong
    /// database; a damaged journal. Warns about low free space, a last run that failed or is
    /// older than 2 hours, a timer that is not enabled and active (where systemd runs), and
    /// MULTIFLEXI_DAEMONIZE=true. Exit 0 when nothing would make a run fail, 1 otherwise.
    Doctor(DoctorArgs),

    /// Build a throw-away MultiFlexi database with realistic mess under DIR and clean it up:
    /// plan, run, undo. Offline, with a fixed clock.
    ///
    /// Everything lives under DIR: --database, --state-dir and --tmp-dir are refused (exit 2)
    /// rather than ignored.
    Demo(DemoArgs),

    /// Print shell completions.
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,

        /// The command to complete: housekeeper, or multiflexi-housekeeper (the PHP tool's
        /// entry point, which takes the options of `housekeeper run`).
        #[arg(long = "command", value_name = "NAME", default_value = "housekeeper",
              value_parser = ["housekeeper", "multiflexi-housekeeper"])]
        name: String,
    },

    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Clone, Args, Default)]
pub struct RunArgs {
    /// Only plan and show; change nothing (same as `housekeeper plan`).
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// One cycle, then exit, whatever MULTIFLEXI_DAEMONIZE says (the systemd timer's unit
    /// runs this, so a daemonizing env file cannot turn it into an endless loop).
    #[arg(long)]
    pub once: bool,

    #[command(flatten)]
    pub duties: DutySelection,

    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Clone, Args, Default)]
pub struct PlanArgs {
    #[command(flatten)]
    pub duties: DutySelection,

    #[arg(long, value_enum, default_value_t)]
    pub format: Format,

    /// Also save the plan to FILE, for review and `housekeeper apply FILE`. The file holds
    /// personal data: it is written with mode 0600 whatever the umask, and carries a digest
    /// of its content that apply checks.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// A plan written by `housekeeper plan --out FILE`.
    pub file: PathBuf,

    /// Refuse a plan older than this (e.g. 30m, 1h, 2d).
    #[arg(long, value_name = "AGE", default_value = "1h")]
    pub max_age: String,

    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct UndoArgs {
    /// The run to undo (see `housekeeper journal list`).
    pub run_id: String,

    /// Only undo what this duty did.
    #[arg(long, value_name = "NAME")]
    pub duty: Option<DutyName>,

    /// Only restore rows of TABLE: with --id, one row per --table/--id pair, in order
    /// (repeatable). A row a duty deleted together with its dependents (a job with its queue
    /// rows and output lines) comes back with them.
    #[arg(long = "table", value_name = "TABLE", requires = "id")]
    pub table: Vec<String>,

    /// The key of the row to restore, read by the type of the table's key column (an
    /// integer, text, or 0x and hex digits for a binary key).
    #[arg(long = "id", value_name = "KEY", requires = "table")]
    pub id: Vec<String>,

    /// Only restore this file (the path it had before the run moved it; repeatable).
    #[arg(long = "path", value_name = "PATH")]
    pub path: Vec<PathBuf>,

    /// Show what would be restored and what conflicts; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Abort on the first conflict, with nothing changed.
    #[arg(long)]
    pub strict: bool,

    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// The runs, oldest first: time, duties, counts, status, whether undoable.
    ///
    /// The runs, oldest first: run id, kind (run, apply, undo, maintenance), start (host
    /// clock, UTC), the run's now, status (ok, failed, aborted, or open when it was
    /// interrupted), per duty the rows or files it changed, files moved, and whether it can
    /// be undone (yes; yes, N left when undo runs restored part of it; or why not) and until
    /// when. Read-only: takes no lock and needs no database.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Every item of one run, with before → after values.
    ///
    /// The run's header (kind, times, host, user, database, version, status, undo state and
    /// until when; per duty what undo runs restored and what remains undoable),
    /// then per duty the plan items with their reasons, the row images of its committed
    /// chunks (deleted rows with every column, updated columns as before → after, inserted
    /// rows), drifted items, files with size, mode, owner, mtime and hash, and errors. Text
    /// lists at most 50 rows per table; --format json lists all. After the undo window the
    /// values are gone and only the keys are shown.
    Show {
        /// The run, as `housekeeper journal list` shows it.
        #[arg(value_name = "RUN-ID")]
        run_id: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Which runs touched a row or a file, and what it looked like.
    ///
    /// With --table and --id: every committed chunk that deleted, updated or inserted that
    /// row, with its row images. With --path: every run that moved that file (its own path
    /// or its quarantine path), with the recorded metadata and where it is now.
    Find {
        /// Table of the row.
        #[arg(long, requires = "id", conflicts_with = "path")]
        table: Option<String>,
        /// Primary key of the row (compared as text; integer keys also as numbers).
        #[arg(long, requires = "table")]
        id: Option<String>,
        /// Path of a file: where it was, or where the quarantine keeps it.
        #[arg(long)]
        path: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Check the hash chain, every payload, the quarantine and the database anchors.
    ///
    /// Checks every segment's framing and hash chain, every referenced payload blob (present
    /// and matching, unless expired), that the chain contains the record named by the newest
    /// anchor in the database (when a database is configured and reachable; otherwise the
    /// anchors are reported as not checked), and that every quarantined file still hashes as
    /// recorded. Exit 3 names the damaged record and byte offset, payload, or quarantined
    /// file; see docs/AUDIT.md.
    #[command(after_help = EXIT_CODES_HELP)]
    Verify {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Proof of erasure: what DataRetentionCleanup erased, and whether it can still come back.
    ///
    /// For each retention policy and table: the keys of the rows deleted, marked, anonymized,
    /// archived or purged, the run that did it and when, and what became of their row
    /// images: kept until the end of the undo window (restorable until), destroyed by the
    /// expiry (final), or used by an undo that restored the rows (restored by). The
    /// journal's verification and the database anchor it matched come first: a failed
    /// verification is stated at the top (with --format csv on stderr) and exits 3. Keys,
    /// names and times only, never column values; the policy's name is known while the run's
    /// plan payload is kept. Read-only: takes no lock; the database is read only for the
    /// anchors, as by `journal verify`.
    #[command(after_help = EXIT_CODES_HELP)]
    Erasures {
        /// Only runs started at or after DATE (YYYY-MM-DD, or a UTC time such as
        /// 2026-11-28T09:00:00Z).
        #[arg(long, value_name = "DATE", value_parser = crate::audit::erasures::Bound::parse)]
        since: Option<crate::audit::erasures::Bound>,
        /// Only runs started at or before DATE (a date includes that whole day).
        #[arg(long, value_name = "DATE", value_parser = crate::audit::erasures::Bound::parse)]
        until: Option<crate::audit::erasures::Bound>,
        /// Only rows of this table.
        #[arg(long, value_name = "TABLE")]
        table: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: ReportFormat,
    },
    /// Set a damaged journal aside and start a new one (audited).
    ///
    /// When `run`, `apply`, `undo` or `quarantine expire` refuse to act (exit 3) because the
    /// journal is damaged, was lost, or was restored from a backup older than the database's
    /// anchors, and it cannot be repaired from a better backup, this is the way forward. It
    /// moves the journal, read-only, to STATE_DIR/set-aside/<time>-<journal id>/, gives this
    /// host a new journal id, starts a new journal whose first record names the old journal,
    /// its last verifiable record, the damage and the reason, and anchors the reset in the
    /// database, so every later `journal verify` shows it. Runs recorded only in the set-aside
    /// journal stay visible in `journal list` and `journal show`; `undo` refuses them.
    /// Refuses an intact journal. Needs the database.
    #[command(after_help = EXIT_CODES_HELP)]
    Reset {
        /// Why (recorded in the new journal), e.g. "state dir restored from the 02:00 backup".
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Quarantined files with their sizes and runs.
    ///
    /// Per run with a quarantine directory: when it started, files and bytes, when its undo
    /// window ends (start + MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS) and whether its files can still
    /// be restored. --format json lists every file with its original path. Read-only.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Destroy quarantined files and row images older than the undo window (or AGE).
    ///
    /// Destroys the payloads (row images, plans) and quarantined files of every run that
    /// started at least AGE ago, each after a durable expiry record, inside a maintenance
    /// run of the journal; the chained records stay and `journal verify` still passes. Those
    /// runs can no longer be undone. Takes the host lock (exit 75 when a run holds it);
    /// needs no database. Every real run does the same at its end with the undo window.
    Expire {
        /// Age such as 90s, 30m, 12h or 7d; default MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS days.
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
    },
}

#[derive(Debug, Clone, Args, Default)]
pub struct DoctorArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where to build the demo (created; must be empty if it exists).
    #[arg(default_value = "housekeeper-demo")]
    pub dir: PathBuf,
}

pub use crate::exit::Failure;

/// The process entry point.
#[must_use]
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let args = compat_args(args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    match dispatch(cli) {
        Ok(exit) => exit.into(),
        Err(failure) => {
            // Messages quote names, paths and database errors: escaped here, once. Under
            // systemd the error carries its priority (see `init_logging`).
            let (err, note) = if under_journald() {
                ("<3>", "<5>")
            } else {
                ("", "")
            };
            eprintln!("{err}error: {}", Escaped(&failure.message));
            for hint in &failure.hints {
                eprintln!("{note}hint: {}", Escaped(hint));
            }
            failure.exit.into()
        }
    }
}

/// Whether stderr is the journal (systemd sets `JOURNAL_STREAM`): then a `<N>` syslog
/// priority starts every log line, so each line gets its own priority (`journalctl -p err`
/// finds the errors).
pub(crate) fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// `multiflexi-housekeeper [--dry-run|-n]`, the PHP tool's entry point, maps to
/// `housekeeper run [--dry-run]`; other arguments are passed through.
fn compat_args(mut args: Vec<OsString>) -> Vec<OsString> {
    let invoked_as = args
        .first()
        .and_then(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    if invoked_as != "multiflexi-housekeeper" {
        return args;
    }
    let rest = args.split_off(1);
    let mut out = vec![OsString::from("housekeeper"), OsString::from("run")];
    out.extend(rest);
    out
}

/// The command line a shell completes for `name`: all of housekeeper, or, for the PHP
/// tool's entry point, `run` with the global options (what `compat_args` maps it to).
fn completion_command(name: &str) -> clap::Command {
    let mut cmd = Cli::command();
    if name != "multiflexi-housekeeper" {
        return cmd;
    }
    // Building propagates the global options into the subcommands.
    cmd.build();
    cmd.find_subcommand("run")
        .cloned()
        .unwrap_or(cmd)
        .name("multiflexi-housekeeper")
        .bin_name("multiflexi-housekeeper")
}

fn init_logging(global: &GlobalArgs, app_debug: bool) {
    let level = if global.quiet {
        log::LevelFilter::Warn
    } else {
        match global.verbose {
            0 if app_debug => log::LevelFilter::Debug,
            0 => log::LevelFilter::Info,
            1 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        }
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    // Our own messages at the chosen level; the drivers' chatter only when asked for.
    builder.filter_module("postgres", log::LevelFilter::Warn);
    builder.filter_module("tokio_postgres", log::LevelFilter::Warn);
    builder.filter_module("mysql", log::LevelFilter::Warn);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    let journald = under_journald();
    builder.format(move |buf, record| {
        use std::io::Write;
        let (level, priority) = match record.level() {
            log::Level::Error => ("error", "<3>"),
            log::Level::Warn => ("warning", "<4>"),
            log::Level::Info => ("info", "<6>"),
            log::Level::Debug => ("debug", "<7>"),
            log::Level::Trace => ("trace", "<7>"),
        };
        let priority = if journald { priority } else { "" };
        // Every log line is escaped here, once (messages quote names, paths and values), so
        // one record is one line and holds no control character.
        writeln!(
            buf,
            "{priority}{level}: {}",
            Escaped(&record.args().to_string())
        )
    });
    builder.write_style(env_logger::WriteStyle::Never);
    let _ = builder.try_init();
}

/// Run as root, the process acts as the owner of the state directory (see
/// `state::act_as_owner`), so no command leaves root-owned files that lock the service out.
fn act_as_owner(config: &crate::config::Config) -> Result<(), Failure> {
    match crate::state::act_as_owner(&config.state_dir) {
        Ok(Some(owner)) => {
            log::info!(
                "running as {}, the owner of {} (root acts as the state directory's owner)",
                owner.label(),
                config.state_dir.display()
            );
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(Failure::new(Exit::Failed, e).hint(format!(
            "run housekeeper as the owner of {} (e.g. `runuser -u multiflexi -- housekeeper …`)",
            config.state_dir.display()
        ))),
    }
}

fn dispatch(cli: Cli) -> Result<Exit, Failure> {
    let command = cli.command.unwrap_or(Command::Run(RunArgs::default()));
    match command {
        Command::Completions { shell, name } => {
            let mut cmd = completion_command(&name);
            clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
            return Ok(Exit::Ok);
        }
        Command::Man => {
            return match crate::manpage::render(&mut std::io::stdout()) {
                // `housekeeper man | head`: the reader has read all it wanted.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::new(
                    Exit::Failed,
                    format!("writing the man page: {e}"),
                )),
                _ => Ok(Exit::Ok),
            };
        }
        _ => {}
    }
    let dry_run_flag = matches!(&command, Command::Run(RunArgs { dry_run: true, .. }));
    let flags = Flags {
        env_file: cli.global.env_file.clone(),
        database: cli.global.database.clone(),
        state_dir: cli.global.state_dir.clone(),
        tmp_dir: cli.global.tmp_dir.clone(),
        dry_run: dry_run_flag.then_some(true),
    };
    let started = std::time::Instant::now();
    let loaded = match Config::from_process(&flags) {
        Ok(loaded) => loaded,
        Err(e) => {
            init_logging(&cli.global, false);
            let failure = Failure::from(e);
            // A run stopped by its configuration is still reported where monitoring can be
            // read.
            if matches!(command, Command::Run(_)) {
                crate::report::monitor::publish_failure(
                    &Config::monitoring_from_process(&flags),
                    &failure,
                    started.elapsed(),
                );
            }
            return Err(failure);
        }
    };
    init_logging(&cli.global, loaded.config.app_debug);
    for warning in &loaded.warnings {
        log::warn!("{warning}");
    }
    if let Some(note) = &loaded.config.env_file_note {
        log::debug!("{note}; the database settings come from the process environment");
    }
    let config = loaded.config;
    crate::clock::init(&config);
    act_as_owner(&config)?;
    match &command {
        Command::Run(args) => {
            let reload = || {
                let loaded = Config::from_process(&flags)?;
                for warning in &loaded.warnings {
                    log::warn!("{warning}");
                }
                Ok(loaded.config)
            };
            crate::commands::run::command(&config, args, &reload)
        }
        Command::Plan(args) => crate::commands::plan::command(&config, args),
        Command::Apply(args) => crate::commands::apply::command(&config, args),
        Command::Demo(args) => crate::commands::demo::command(&config, args),
        Command::Doctor(args) => crate::commands::doctor::command(&config, args),
        Command::Undo(args) => crate::commands::undo::command(&config, args),
        Command::Journal(command) => crate::commands::journal::command(&config, command),
        Command::Quarantine(command) => crate::commands::quarantine::command(&config, command),
        Command::Completions { .. } | Command::Man => Ok(Exit::Ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Arg;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_run() {
        let cli = Cli::try_parse_from(["housekeeper"]).unwrap();
        assert!(cli.command.is_none());
    }

    #[test]
    fn duty_lists_parse() {
        let cli = Cli::try_parse_from([
            "housekeeper",
            "plan",
            "--duty",
            "logpruning,ScheduleIntegrity",
        ])
        .unwrap();
        let Some(Command::Plan(plan)) = cli.command else {
            panic!()
        };
        assert_eq!(
            plan.duties.only,
            [DutyName::LogPruning, DutyName::ScheduleIntegrity]
        );
        assert!(Cli::try_parse_from(["housekeeper", "plan", "--duty", "Nope"]).is_err());
    }

    #[test]
    fn the_php_entry_point_completes_the_options_of_run() {
        let cmd = completion_command("multiflexi-housekeeper");
        assert_eq!(cmd.get_name(), "multiflexi-housekeeper");
        let longs: Vec<&str> = cmd.get_arguments().filter_map(Arg::get_long).collect();
        for long in ["dry-run", "once", "env-file", "database"] {
            assert!(longs.contains(&long), "--{long} missing: {longs:?}");
        }
        assert_eq!(
            cmd.get_subcommands().count(),
            0,
            "no subcommands after the entry point"
        );
    }

    #[test]
    fn the_php_entry_point_maps_to_run() {
        let args = compat_args(vec!["/usr/bin/multiflexi-housekeeper".into(), "-n".into()]);
        let cli = Cli::try_parse_from(args).unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!()
        };
        assert!(run.dry_run);
        let args = compat_args(vec!["housekeeper".into(), "plan".into()]);
        assert_eq!(
            args,
            [OsString::from("housekeeper"), OsString::from("plan")]
        );
    }
}
