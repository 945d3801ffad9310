//! Opening a session, and what every command that works on the database shares with it: the
//! configured database opened, the host and database locks, the run's `now`, the checked
//! opening of the journal (`open_trusted`), what a journal that may not be relied on means
//! for the exit code, and the anchor of a run's end.

use std::time::Instant;

use housekeeper_journal::{DateTimeValue, Journal, JournalError, OpenReport, Record};

use super::ledger::Ledger;
use super::{Session, SessionOptions};
use crate::apply::{anchor, recover, trust};
use crate::audit::history;
use crate::config::{Config, DbTarget};
use crate::db::{self, ConnectOptions, Connection, DbError};
use crate::duties::DutyName;
use crate::exit::{Exit, Failure};
use crate::quarantine::Quarantine;
use crate::report::RunReport;
use crate::state::{self, StateDir};

impl<'a> Session<'a> {
    /// Takes the locks, opens the journal once it checks out against the database's anchors,
    /// recovers what a crashed run left open, and starts the run (`RunStart`).
    ///
    /// # Errors
    /// Configuration, database, lock or journal problems, with their exit codes; nothing
    /// was changed.
    pub fn open(
        config: &'a Config,
        options: &'a SessionOptions,
        watch: &super::watch::Watch,
    ) -> Result<Self, Failure> {
        let started = Instant::now();
        let target = require_database(config)?;
        let state = StateDir::new(config.state_dir.clone());
        state.ensure().map_err(|e| {
            Failure::new(
                Exit::Failed,
                format!("state directory {}: {e}", state.root().display()),
            )
            .hint("set MULTIFLEXI_HOUSEKEEPER_STATE_DIR to a directory the service user can write")
        })?;
        let host_lock = host_lock(&state, &format!("housekeeper {}", options.mode.as_str()))?;
        let mut conn = open_database(config, target, false)?;
        watch.arm(conn.canceller());
        database_lock(&mut *conn)?;
        let key = anchor::JournalKey::of(&state);
        let mut schema = match conn.introspect() {
            Ok(schema) => schema,
            Err(e) => return Err(db_failure_on(&mut *conn, "reading the schema", &e)),
        };
        if !schema.is_multiflexi() {
            return Err(not_multiflexi(&*conn));
        }
        let identity = conn
            .identity()
            .map_err(|e| db_failure("identifying the database", &e))?;
        let (mut journal, opened) = open_trusted(
            &state.journal_dir(),
            &key,
            Some(trust::Witness {
                conn: &mut *conn,
                schema: &schema,
                identity: &identity,
            }),
        )?;
        for note in opened.notes() {
            if opened.created {
                log::info!("journal: {note}");
            } else {
                log::warn!("journal: {note}");
            }
        }
        let quarantine = Quarantine::new(state.quarantine_dir());
        let run_id = state::new_run_id();
        // The one reading of the journal's history in a session, from the index the last
        // session stored when the database vouches for it: recovery, the history the duties
        // need and the expiry at the end all work from this index.
        let journal_failed = |e: JournalError| unreadable_journal(&state.journal_dir(), &e);
        let has_anchors = schema.table(anchor::TABLE).is_some();
        let opened = Instant::now();
        let (mut ledger, not_used) = Ledger::open(
            &state.journal_dir(),
            &state.journal_index(),
            journal.journal_id(),
            journal.head(),
            has_anchors.then_some(&mut *conn),
        )
        .map_err(journal_failed)?;
        ledger.log_opened(&state.journal_index(), not_used, opened);
        let recovered = recover::recover(
            &mut journal,
            &ledger.index,
            &mut *conn,
            &schema,
            &key,
            &run_id,
            &quarantine,
        )
        .map_err(|e| Failure::new(Exit::Integrity, format!("recovering the last run: {e}")))?;
        if !recovered.is_empty() {
            // What recovery appended changes the runs it closed.
            ledger.catch_up().map_err(journal_failed)?;
        }
        if schema.table(anchor::TABLE).is_none() {
            anchor::ensure_table(&mut *conn)
                .map_err(|e| db_failure("creating housekeeper_anchor", &e))?;
            schema = conn
                .introspect()
                .map_err(|e| db_failure("reading the schema", &e))?;
        }
        // Anchors are keyed by the journal's own id; an older version's `journal-id` is
        // adopted once (both ids count until its file is gone, so a crash in between is fine).
        let journal_id = journal.journal_id().to_hex();
        if let Some(legacy) = &key.legacy {
            let moved = anchor::adopt(&mut *conn, legacy, &journal_id)
                .map_err(|e| db_failure("re-keying housekeeper_anchor to the journal's id", &e))?;
            state.forget_legacy_journal_id().map_err(|e| {
                Failure::new(
                    Exit::Failed,
                    format!("removing {}/journal-id: {e}", state.root().display()),
                )
            })?;
            log::info!(
                "journal: {moved} anchor rows re-keyed from the old journal-id {legacy} to the journal's id {journal_id}"
            );
        }
        let (now, warnings) = match options.fixed_now {
            Some(now) => (now, Vec::new()),
            None => resolve_now(&mut *conn, config)?,
        };
        let history = history::of(&ledger.index, &history::hold_since(config));
        // The first run of a month starts a new segment, so that months can be folded away.
        if let Some(warning) =
            crate::apply::fold::start_month(&mut journal, crate::clock::host_utc(config))
        {
            log::warn!("{warning}");
        }
        journal
            .append_durable(&Record::RunStart {
                run_id: run_id.clone(),
                kind: options.kind.clone(),
                started_utc: crate::clock::utc_stamp(),
                now,
                host: state::host_name(),
                user: state::user_name(),
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                database: identity,
                duties: DutyName::ALL
                    .iter()
                    .map(|d| d.as_str().to_owned())
                    .collect(),
            })
            .map_err(journal_failure)?;
        let mut report = RunReport::new(options.mode, conn.describe(), now.to_string());
        report.run_id = Some(run_id.clone());
        report.recovered = recovered;
        report.warnings = warnings;
        for w in &report.warnings {
            log::warn!("{w}");
        }
        Ok(Session {
            config,
            options,
            started,
            _host_lock: host_lock,
            conn,
            journal,
            quarantine,
            journal_id,
            run_id,
            schema,
            history,
            ledger,
            now,
            host_now: crate::clock::host_now(config),
            report,
            journal_broken: None,
            interrupted: false,
            lost: None,
        })
    }
}

/// Opens the journal for acting, after checking it against the database's anchors (see
/// `apply::trust`). Damage is exit 3 with the next steps; a lock held elsewhere exit 75.
///
/// # Errors
/// As above; a database error reading the anchors keeps its own exit code.
pub fn open_trusted(
    dir: &std::path::Path,
    key: &anchor::JournalKey,
    witness: Option<trust::Witness<'_>>,
) -> Result<(Journal, OpenReport), Failure> {
    match trust::open_journal(dir, key, witness) {
        Ok(t) => {
            log::debug!(
                "journal: verified from {} against {} anchored records",
                t.from_checkpoint
                    .map_or_else(|| "the first record".to_owned(), |s| format!("record {s}")),
                t.anchors_checked
            );
            Ok((t.journal, t.opened))
        }
        Err(trust::TrustError::Database(e)) => Err(db_failure("reading the anchors", &e)),
        Err(trust::TrustError::Journal(e)) => Err(journal_failure(e)),
        Err(
            e @ (trust::TrustError::Unanchored { .. } | trust::TrustError::UnanchoredFold { .. }),
        ) => Err(damaged(format!("journal: {e}"))),
    }
}

/// Exit 3 for a journal that cannot be read (its index), with where to look.
#[must_use]
pub fn unreadable_journal(dir: &std::path::Path, e: &JournalError) -> Failure {
    Failure::new(
        Exit::Integrity,
        format!("reading the journal in {}: {e}", dir.display()),
    )
    .hint("run `housekeeper journal verify` for details")
}

/// Exit 3 for a journal that may not be relied on, with what to do next. Nothing was changed.
fn damaged(message: String) -> Failure {
    Failure::new(Exit::Integrity, message)
        .hint("nothing was changed; `housekeeper journal verify` shows the damage")
        .hint(
            "restore the state directory from a backup taken after the damaged record, or set \
             the journal aside and start a new one with `housekeeper journal reset --reason TEXT`",
        )
}

/// A journal that cannot be opened or written: exit 75 when another writer holds it, 1 when
/// its directory is full, read-only or not writable (the journal is fine, the place is not),
/// else 3.
#[must_use]
pub fn journal_failure(e: JournalError) -> Failure {
    match e {
        JournalError::Locked { .. } => Failure::new(Exit::Locked, format!("journal: {e}")),
        JournalError::Io {
            ref path,
            ref source,
            ..
        } => match unwritable_hint(path, source) {
            Some(hint) => Failure::new(Exit::Failed, format!("journal: {e}")).hint(hint),
            None => damaged(format!("journal: {e}")),
        },
        other => damaged(format!("journal: {other}")),
    }
}

/// What to do about a path in the state directory that cannot be written because of where
/// it is — a full or read-only file system, a directory of another user — rather than what
/// it holds. `None` for other errors.
fn unwritable_hint(path: &std::path::Path, e: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind;
    Some(match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => format!(
            "free space on the file system of {} (`df -h {}`); nothing was changed",
            path.display(),
            path.display()
        ),
        ErrorKind::ReadOnlyFilesystem => format!(
            "{} is on a read-only file system: mount it read-write, or under systemd check \
             ReadWritePaths= of the unit; nothing was changed",
            path.display()
        ),
        ErrorKind::PermissionDenied => format!(
            "make {} writable by the user housekeeper runs as (the state directory belongs to \
             the service user); nothing was changed",
            path.display()
        ),
        _ => return None,
    })
}

/// How many seconds the database server's clock, read in UTC, is off the host's; `None` when
/// the engine has no server clock (SQLite) or it could not be read.
pub fn clock_skew(conn: &mut dyn Connection) -> Option<u64> {
    let sql = conn.dialect().utc_now_sql()?;
    conn.snapshot()
        .and_then(|mut view| view.query_scalar(sql, &[]))
        .ok()
        .flatten()
        .and_then(|v| v.as_datetime())
        .and_then(crate::clock::skew_seconds)
}

/// Exit 2 for a database that has none of MultiFlexi's tables (empty, or the wrong one):
/// nothing is changed or created in it.
fn not_multiflexi(conn: &dyn Connection) -> Failure {
    Failure::new(
        Exit::Usage,
        format!(
            "{} is not a MultiFlexi database: it has none of the tables {}; nothing was changed",
            conn.describe(),
            crate::db::schema::MULTIFLEXI_TABLES.join(", ")
        ),
    )
    .hint("check DB_CONNECTION, DB_DATABASE (the SQLite file) and DB_HOST, or --database")
}

/// Anchors the end of a run (duty `*`), naming the digest and length of the journal index
/// stored at that end when there is one: whether it committed.
pub(super) fn anchor_run_end(
    conn: &mut dyn Connection,
    journal_id: &str,
    run_id: &str,
    end: &housekeeper_journal::Appended,
    index: Option<(housekeeper_journal::Digest, u64)>,
) -> bool {
    match anchor::record(conn, journal_id, run_id, "*", end.head(), index) {
        Ok(()) => true,
        Err(e) => {
            log::warn!("could not anchor the end of run {run_id}: {e}");
            false
        }
    }
}

/// The configured database, or exit 2 with a hint.
///
/// # Errors
/// No database is configured.
pub fn require_database(config: &Config) -> Result<&DbTarget, Failure> {
    config.database.as_ref().ok_or_else(|| {
        Failure::new(Exit::Usage, "no database configured")
            .hint("set DB_CONNECTION and DB_DATABASE (and DB_HOST, DB_USERNAME, DB_PASSWORD) in /etc/multiflexi/multiflexi.env, or pass --database URL")
            .hint("to see housekeeper at work on a throw-away database, try `housekeeper demo`")
    })
}

/// Connects, mapping failures to exit 4 (unreachable, login refused) or 2 (engine not built).
///
/// # Errors
/// The connection failed.
pub fn open_database(
    config: &Config,
    target: &DbTarget,
    read_only: bool,
) -> Result<Box<dyn Connection>, Failure> {
    let options = ConnectOptions {
        read_only,
        lock_timeout: config.lock_timeout,
        statement_timeout: config.statement_timeout,
        writer_pause: config.writer_pause,
        ..ConnectOptions::default()
    };
    db::connect(target, &options).map_err(|e| match e {
        DbError::Connect { auth: true, .. } => Failure::new(Exit::Database, e.to_string())
            .hint("check DB_USERNAME and DB_PASSWORD (or the URL's user and password)"),
        DbError::Connect { .. } => Failure::new(Exit::Database, e.to_string()).hint(
            if matches!(target, DbTarget::Sqlite { .. }) {
                "check that DB_DATABASE (with DB_CONNECTION=sqlite), or the path of the sqlite: URL, names the MultiFlexi SQLite file"
            } else {
                "check that the database server is running and DB_HOST/DB_PORT/DB_DATABASE are right"
            },
        ),
        DbError::Unsupported(_) => Failure::new(Exit::Usage, e.to_string()),
        other => Failure::new(Exit::Database, format!("{target}: {other}")),
    })
}

/// Takes the host lock of the state directory (exit 75 while another housekeeper holds it).
///
/// # Errors
/// Held elsewhere (exit 75) or the lock file cannot be used (exit 1).
pub fn host_lock(
    state: &crate::state::StateDir,
    what: &str,
) -> Result<crate::state::HostLock, Failure> {
    state.lock(what).map_err(|e| match &e {
        crate::state::LockError::Held { .. } => Failure::new(Exit::Locked, e.to_string()),
        crate::state::LockError::Io { path, source } => {
            let hint = unwritable_hint(path, source);
            let failure = Failure::new(Exit::Failed, e.to_string());
            match hint {
                Some(hint) => failure.hint(hint),
                None => failure,
            }
        }
    })
}

/// Takes the database lock, held until the connection closes or unlocks (exit 75 while another
/// housekeeper works on the same database).
///
/// # Errors
/// Held elsewhere (exit 75), or the database failed.
pub fn database_lock(conn: &mut dyn Connection) -> Result<(), Failure> {
    match conn
        .try_lock()
        .map_err(|e| db_failure("taking the database lock", &e))?
    {
        Ok(()) => Ok(()),
        Err(holder) => Err(Failure::new(
            Exit::Locked,
            format!(
                "another housekeeper is working on {}: {}",
                conn.describe(),
                holder.0
            ),
        )),
    }
}

/// A database error during a command (not while connecting): exit 4 when the connection
/// is gone, else 1.
#[must_use]
pub fn db_failure(context: &str, e: &DbError) -> Failure {
    let exit = match e {
        DbError::Connect { .. } | DbError::Lost(_) => Exit::Database,
        DbError::LockTimeout { .. } => Exit::Locked,
        _ => Exit::Failed,
    };
    Failure::new(exit, format!("{context}: {e}"))
}

/// `db_failure`, naming the sessions that hold locks when a lock wait was given up.
#[must_use]
pub fn db_failure_on(conn: &mut dyn Connection, context: &str, e: &DbError) -> Failure {
    let failure = db_failure(context, e);
    match e {
        DbError::LockTimeout { .. } => Failure {
            message: format!("{}{}", failure.message, db::holders_text(conn)),
            ..failure
        },
        _ => failure,
    }
}

/// The run's `now` and a warning when the database clock is off.
///
/// # Errors
/// The server could not be asked.
pub fn resolve_now(
    conn: &mut dyn Connection,
    config: &Config,
) -> Result<(DateTimeValue, Vec<String>), Failure> {
    if let Some(now) = config.fixed_now {
        return Ok((now, Vec::new()));
    }
    let mut warnings = Vec::new();
    let now = match conn
        .server_now()
        .map_err(|e| db_failure("reading the database clock", &e))?
    {
        Some(now) => {
            if let Some(skew) = clock_skew(conn).filter(|s| *s > 300) {
                warnings.push(format!(
                    "the database clock is {skew} s off the host clock (compared in UTC); cutoffs use the database's"
                ));
            }
            now
        }
        None => crate::clock::local_now(config),
    };
    Ok((now, warnings))
}
