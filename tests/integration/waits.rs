//! Bounded waits: a table locked by another session makes a run give up after
//! `MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT` and say who holds it; SIGTERM cancels a statement
//! that waits; a connection lost mid-run ends the run at once (exit 4) and the next start
//! recovers; a daemon writing while a long prune runs gets its turns between the chunks. Real
//! locks held by a second session, real signals, real killed sessions, a real second writer.

use std::time::{Duration, Instant};

use crate::support::tool::{seed_log, signal, wait_at_most, Tool};
use crate::support::{Connection, TestDb};

/// A second session that locks the `log` table (SQLite: the whole database) until dropped:
/// against every access, or only against writes.
fn lock_log(db: &TestDb, writes_only: bool) -> Box<dyn Connection> {
    let mut blocker = db.connect();
    let sql = match writes_only {
        false => db.pick(
            "BEGIN IMMEDIATE",
            "BEGIN; LOCK TABLE log IN ACCESS EXCLUSIVE MODE",
            "LOCK TABLES log WRITE",
        ),
        true => db.pick(
            "BEGIN IMMEDIATE",
            "BEGIN; LOCK TABLE log IN EXCLUSIVE MODE",
            "LOCK TABLES log READ",
        ),
    };
    blocker.execute_ddl(sql).expect("lock the log table");
    blocker
}

/// Waits (up to 20 s) until a housekeeper session waits for a lock. SQLite cannot tell:
/// a short pause instead.
fn until_waiting(db: &TestDb) {
    let sql = db.pick(
        "",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'housekeeper' AND wait_event_type = 'Lock'",
        "SELECT count(*) FROM information_schema.PROCESSLIST \
         WHERE DB = DATABASE() AND STATE LIKE 'Waiting for%lock%'",
    );
    if sql.is_empty() {
        std::thread::sleep(Duration::from_millis(1500));
        return;
    }
    let mut watcher = db.connect();
    let start = Instant::now();
    loop {
        let waiting = watcher
            .snapshot()
            .and_then(|mut view| view.query_scalar(sql, &[]))
            .expect("ask who waits")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        if waiting > 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "housekeeper never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn seeded_rows(db: &TestDb) -> i64 {
    let mut conn = db.connect();
    let mut view = conn.snapshot().unwrap();
    view.query_scalar("SELECT COUNT(*) FROM log WHERE venue = 'seed'", &[])
        .unwrap()
        .and_then(|v| v.as_i64())
        .unwrap()
}

/// 30 seeded `log` rows and a tool that keeps 5 and waits `lock_timeout` seconds for a lock;
/// its journal exists before the lock is taken.
fn seeded(db: &TestDb, lock_timeout: &str) -> Tool {
    seed_log(db, 30);
    let mut hk = Tool::new(db);
    hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5")
        .set("MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT", lock_timeout);
    assert_eq!(hk.run(&["journal", "list"]).code, 0);
    hk
}

/// Once the lock is gone: the next run (when the server has let go of a killed session's
/// locks) prunes the seeded rows to `LOG_KEEP` and the journal verifies.
fn the_next_run_prunes_and_verifies(db: &TestDb, hk: &Tool) -> crate::support::tool::Out {
    let out = hk.run_when_free(&["run", "--duty", "LogPruning"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(seeded_rows(db), 5);
    assert_eq!(hk.run(&["journal", "verify"]).code, 0);
    out
}

backend_test!(
    fn a_locked_table_is_given_up_after_the_lock_timeout(db) {
        let hk = seeded(db, "1");
        let blocker = lock_log(db, false);
        let started = Instant::now();
        let out = hk.run(&["run", "--duty", "LogPruning"]);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(30), "gave up after {took:?}");
        assert!(matches!(out.code, 1 | 75), "{out:?}");
        assert!(out.stderr.contains("MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT"), "{}", out.stderr);
        match db.engine() {
            housekeeper::config::Engine::Postgres => {
                assert!(out.stderr.contains("holds log (AccessExclusiveLock)"), "{}", out.stderr);
                assert!(out.stderr.contains("PostgreSQL session pid"), "{}", out.stderr);
            }
            housekeeper::config::Engine::Mysql => {
                assert!(out.stderr.contains("tables in use by other sessions: log"), "{}", out.stderr);
            }
            housekeeper::config::Engine::Sqlite => {
                assert!(out.stderr.contains("is locked by another connection (waited 1 s)"), "{}", out.stderr);
            }
        }
        drop(blocker);
        assert_eq!(seeded_rows(db), 30, "nothing was deleted while the table was locked");
        the_next_run_prunes_and_verifies(db, &hk);
    }
);

backend_test!(
    fn sigterm_ends_a_run_that_waits_for_a_lock(db) {
        // The servers' waits are cancelled by the signal; SQLite's is bounded by the timeout.
        let timeout = if db.engine() == housekeeper::config::Engine::Sqlite { "3" } else { "120" };
        let hk = seeded(db, timeout);
        let blocker = lock_log(db, false);
        let mut child = hk
            .command(&["run", "--duty", "LogPruning"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        until_waiting(db);
        signal(child.id(), "TERM");
        let status = wait_at_most(&mut child, Duration::from_secs(15));
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_ne!(status.code(), Some(4), "{stderr}");
        assert!(status.code().is_some(), "ended by the signal itself, not by housekeeper: {stderr}");
        drop(blocker);
        assert_eq!(seeded_rows(db), 30, "{stderr}");
        the_next_run_prunes_and_verifies(db, &hk);
    }
);

backend_test!(
    only(postgres, mysql)
    fn a_lost_connection_ends_the_run_at_once_and_the_next_start_recovers(db) {
        let hk = seeded(db, "120");
        let blocker = lock_log(db, true);
        let child = hk
            .command(&["run", "--duty", "LogPruning"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        until_waiting(db);
        // The server ends housekeeper's session while it waits (asked from a third session:
        // a transaction in the blocker would release MariaDB's table lock).
        let mut admin = db.connect();
        let victims = match db.engine() {
            housekeeper::config::Engine::Postgres => admin
                .snapshot()
                .and_then(|mut view| {
                    view.query_scalar(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                        &[],
                    )
                })
                .unwrap()
                .and_then(|v| v.as_i64())
                .unwrap_or(0),
            _ => {
                let ids = admin
                    .snapshot()
                    .and_then(|mut view| {
                        let mut ids = Vec::new();
                        view.query_each(
                            "SELECT ID FROM information_schema.PROCESSLIST \
                             WHERE DB = DATABASE() AND STATE LIKE 'Waiting for%lock%'",
                            &[],
                            &mut |row| {
                                ids.push(row[0].as_i64().unwrap_or(0));
                                Ok(())
                            },
                        )?;
                        Ok(ids)
                    })
                    .unwrap();
                for id in &ids {
                    admin.execute_ddl(&format!("KILL {id}")).unwrap();
                }
                i64::try_from(ids.len()).unwrap()
            }
        };
        assert!(victims > 0, "no housekeeper session to end");
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(stderr.contains("the database connection was lost"), "{stderr}");
        assert!(stderr.contains("the next start recovers it"), "{stderr}");
        assert!(
            stderr.matches("connection").count() <= 3,
            "the run went on after the connection was lost:\n{stderr}"
        );
        drop(blocker);
        assert_eq!(seeded_rows(db), 30);
        let out = the_next_run_prunes_and_verifies(db, &hk);
        assert!(out.stderr.contains("LogPruning was interrupted; chunks without an anchor were rolled back"), "{}", out.stderr);
    }
);

/// What a MultiFlexi daemon did while a prune ran: one transaction every 10 ms inserting a
/// `log` row (venue `daemon`) and updating a job, each timed from its begin to its commit.
struct Daemon {
    turns: Vec<(Instant, Duration)>,
    failed: Vec<String>,
}

/// Runs the daemon's transactions on its own connection until `stop`.
fn daemon(mut conn: Box<dyn Connection>, job: i64, stop: &std::sync::atomic::AtomicBool) -> Daemon {
    use crate::support::Value;
    let mut done = Daemon {
        turns: Vec::new(),
        failed: Vec::new(),
    };
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        n += 1;
        let started = Instant::now();
        let turn = conn.begin().and_then(|mut tx| {
            tx.execute(
                "INSERT INTO log (severity, venue, message, marked_for_deletion) VALUES (?, ?, ?, ?)",
                &[Value::from("info"), Value::from("daemon"), Value::from(format!("turn {n}")), Value::Bool(false)],
            )?;
            tx.execute("UPDATE job SET pid = ? WHERE id = ?", &[Value::Int(n), Value::Int(job)])?;
            tx.commit()
        });
        match turn {
            Ok(()) => done.turns.push((started, started.elapsed())),
            Err(e) => done.failed.push(e.to_string()),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done
}

fn count(db: &TestDb, sql: &str) -> i64 {
    let mut conn = db.connect();
    let mut view = conn.snapshot().unwrap();
    view.query_scalar(sql, &[])
        .unwrap()
        .and_then(|v| v.as_i64())
        .unwrap()
}

backend_test!(
    fn a_daemon_writing_during_a_long_prune_gets_its_turns(db) {
        // 48 chunks of 1,000 rows: on SQLite each holds the one write lock, and the daemon
        // must get it between them rather than wait behind chunk after chunk.
        const SEEDED: i64 = 50_000;
        const KEEP: i64 = 2_000;
        const CHUNK: i64 = 1_000;
        seed_log(db, SEEDED);
        let mut seed = housekeeper_scenario::Seed::new(crate::support::DateTimeValue::parse(crate::support::tool::NOW).unwrap());
        let app = seed.app("Daemon app").id();
        let company = seed.company("Daemon company", "daemon").id();
        let runtemplate = seed.runtemplate(app, company, "h").id();
        let job = seed.running_job(runtemplate, seed.now()).id();
        seed.apply(&mut *db.connect()).unwrap();
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", &KEEP.to_string())
            .set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", &CHUNK.to_string());

        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (conn, stop) = (db.connect(), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || daemon(conn, job, &stop))
        };
        std::thread::sleep(Duration::from_millis(200));
        let (started, out) = (Instant::now(), hk.run(&["run", "--duty", "LogPruning", "--format", "json"]));
        let ended = Instant::now();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let done = writer.join().unwrap();

        assert_eq!(out.code, 0, "{out:?}");
        assert!(done.failed.is_empty(), "the daemon's transactions failed: {:?}", done.failed);
        let during: Vec<Duration> = done
            .turns
            .iter()
            .filter(|(at, _)| *at >= started && *at <= ended)
            .map(|(_, took)| *took)
            .collect();
        let longest = during.iter().max().copied().unwrap_or_default();
        // At least one turn per chunk, or one per 25 ms of the prune (under half the daemon's
        // pace, for a prune too quick for that), whichever is fewer. Kept waiting behind the
        // chunks (SQLite without the pause between them), it got a third of that.
        let chunks = (SEEDED - KEEP) / CHUNK;
        let expected = chunks.min(((ended - started).as_millis() / 25) as i64);
        assert!(longest < Duration::from_secs(5), "the daemon waited {longest:?} for one transaction");
        assert!(
            during.len() as i64 >= expected,
            "the daemon got {} turns during a prune of {chunks} chunks in {:?}, fewer than {expected} (longest {longest:?})",
            during.len(),
            ended - started
        );

        // The prune deleted what it planned, the oldest rows, and none of the daemon's.
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let duty = report["duties"]
            .as_array()
            .and_then(|duties| duties.iter().find(|d| d["duty"] == "LogPruning"))
            .unwrap();
        assert_eq!(duty["drifted_count"], 0, "{duty}");
        let deleted = duty["affected"].as_i64().unwrap();
        assert!(deleted >= SEEDED - KEEP, "{duty}");
        assert!(deleted <= SEEDED - KEEP + done.turns.len() as i64 + 5, "{duty}");
        assert_eq!(seeded_rows(db), SEEDED - deleted);
        let (lowest, highest) = (
            count(db, "SELECT MIN(id) FROM log WHERE venue = 'seed'"),
            count(db, "SELECT MAX(id) FROM log WHERE venue = 'seed'"),
        );
        assert_eq!(highest - lowest + 1, SEEDED - deleted, "the newest seeded rows are kept");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM log WHERE venue = 'daemon'"),
            done.turns.len() as i64,
            "every row the daemon wrote is kept"
        );
        assert_eq!(hk.run(&["journal", "verify"]).code, 0);
    }
);
