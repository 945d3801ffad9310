//! Bounded waits: a table locked by another session makes a run give up after
//! `MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT` and say who holds it; SIGTERM cancels a statement
//! that waits; a connection lost mid-run ends the run at once (exit 4) and the next start
//! recovers. Real locks held by a second session, real signals, real killed sessions.

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
