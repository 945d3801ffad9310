//! Daemon mode and signals, with real signals: SIGTERM during a duty finishes the
//! chunk in progress and exits 0 with every record closed; during the pause it exits at once.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use housekeeper_journal::{read_records, ChunkStatus, Record};

use crate::support::tool::{seed_log, signal, wait_at_most, Tool};
use crate::support::TestDb;

fn log_count(db: &TestDb) -> i64 {
    let mut conn = db.connect();
    let mut view = conn.snapshot().unwrap();
    view.query_scalar("SELECT COUNT(*) FROM log WHERE venue = 'seed'", &[])
        .unwrap()
        .unwrap()
        .as_i64()
        .unwrap()
}

backend_test!(
    fn sigterm_during_the_pause_exits_at_once(db) {
        seed_log(db, 20);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_DAEMONIZE", "true")
            .set("MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE", "3600")
            .set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5");
        let mut child = hk.command(&["run", "--duty", "LogPruning"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        loop {
            let line = lines.next().expect("the daemon finished a cycle").unwrap();
            let done = line.contains("next cycle in 3600 s");
            seen.push(line);
            if done {
                break;
            }
        }
        assert!(seen.iter().any(|l| l.contains("daemon mode: a cycle every 3600 s")), "{seen:?}");
        // The cycle's own time, for the operator reading the daemon's log.
        let took = seen.last().unwrap();
        let ms = took.split("cycle took ").nth(1).and_then(|r| r.split(" ms;").next()).map(str::parse::<u64>);
        assert!(matches!(ms, Some(Ok(ms)) if ms < 60_000), "{took}");
        let sent = Instant::now();
        signal(child.id(), "TERM");
        let status = wait_at_most(&mut child, Duration::from_secs(5));
        assert_eq!(status.code(), Some(0));
        assert!(sent.elapsed() < Duration::from_secs(2), "it left the pause at once");
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(rest.iter().any(|l| l.contains("stopped by a signal during the pause")), "{rest:?}");
        assert_eq!(log_count(db), 5);
    }
);

backend_test!(
    fn sighup_makes_the_daemon_read_its_configuration_again_and_a_single_run_ignores_it(db) {
        seed_log(db, 40);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_DAEMONIZE", "true")
            .set("MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE", "10");
        std::fs::write(&hk.env_file, "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP=30\n").unwrap();
        let mut child = hk.command(&["run", "--duty", "LogPruning"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut wait_for = |what: &str| {
            let mut seen = Vec::new();
            loop {
                let line = lines.next().unwrap_or_else(|| panic!("no {what:?} in {seen:?}")).unwrap();
                let done = line.contains(what);
                seen.push(line);
                if done {
                    return seen;
                }
            }
        };
        wait_for("next cycle in 10 s");
        let first = log_count(db);
        assert!(first <= 30 && first > 10, "the first cycle kept about 30 rows: {first}");
        std::fs::write(&hk.env_file, "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP=10\n").unwrap();
        signal(child.id(), "HUP");
        wait_for("SIGHUP: configuration read again");
        wait_for("next cycle in 10 s");
        assert!(log_count(db) <= 10, "the next cycle used LOG_KEEP=10: {}", log_count(db));
        signal(child.id(), "TERM");
        let status = wait_at_most(&mut child, Duration::from_secs(5));
        assert_eq!(status.code(), Some(0), "SIGHUP did not end the daemon; SIGTERM did, cleanly");

        // A single run: SIGHUP changes nothing, the run ends ok.
        // One chunk: the process stops itself once, after it commits.
        let single = Tool::new(db);
        std::fs::write(&single.env_file, "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP=5\n").unwrap();
        let mut child = single.stopped_at("after-commit", &["run", "--duty", "LogPruning"]);
        signal(child.id(), "HUP");
        signal(child.id(), "CONT");
        let status = wait_at_most(&mut child, Duration::from_secs(10));
        assert_eq!(status.code(), Some(0));
        assert!(log_count(db) <= 5, "the run went on to the end: {}", log_count(db));
        let records: Vec<Record> = read_records(&single.state.join("journal")).unwrap().map(|e| e.unwrap().record).collect();
        assert!(
            records.iter().any(|r| matches!(r, Record::RunEnd { status, .. } if status == "ok")),
            "{records:?}"
        );
    }
);

backend_test!(
    fn run_once_makes_one_cycle_even_when_the_env_file_says_daemonize(db) {
        seed_log(db, 20);
        let hk = Tool::new(db);
        std::fs::write(
            &hk.env_file,
            "MULTIFLEXI_DAEMONIZE=true\nMULTIFLEXI_HOUSEKEEPER_LOG_KEEP=5\n",
        )
        .unwrap();
        let mut child = hk.command(&["run", "--once", "--duty", "LogPruning"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let status = wait_at_most(&mut child, Duration::from_secs(20));
        assert_eq!(status.code(), Some(0), "one cycle, then exit");
        assert_eq!(log_count(db), 5);
        // Without --once the same env file is a daemon; a pause below the minimum is refused.
        let mut hk = hk;
        hk.set("MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE", "0");
        let out = hk.run(&["run", "--duty", "LogPruning"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE"), "{}", out.stderr);
    }
);

backend_test!(
    fn sigterm_during_a_duty_finishes_the_chunk_and_exits_cleanly(db) {
        seed_log(db, 300);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_DAEMONIZE", "true")
            .set("MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE", "3600")
            .set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "0")
            .set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "50");
        let trapper = crate::support::trapper::Trapper::answering("processed: 35; failed: 0; total: 35");
        let metrics = db.dir().join("housekeeper.prom");
        hk.set("ZABBIX_SERVER", &trapper.server())
            .set("ZABBIX_HOST", "mf-app-01")
            .set("MULTIFLEXI_HOUSEKEEPER_METRICS_FILE", &metrics.display().to_string());
        // Stop the process right after its first chunk committed, signal it, let it go on.
        let mut child = hk.stopped_at("after-commit", &["run", "--duty", "LogPruning,RuntemplateCounterRecalc"]);
        signal(child.id(), "TERM");
        signal(child.id(), "CONT");
        let status = wait_at_most(&mut child, Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "a signal is a clean stop");
        assert_eq!(log_count(db), 250, "the chunk in progress was finished, no other was started");

        let journal = hk.state.join("journal");
        let records: Vec<Record> = read_records(&journal).unwrap().map(|e| e.unwrap().record).collect();
        let committed = records
            .iter()
            .filter(|r| matches!(r, Record::ChunkOutcome { status: ChunkStatus::Committed, .. }))
            .count();
        assert_eq!(committed, 1);
        assert!(
            records.iter().any(|r| matches!(r, Record::RunEnd { status, .. } if status == "interrupted")),
            "the run ended, as interrupted: {records:?}"
        );
        // Everywhere a run's status shows: Zabbix, the metrics file, the journal's list, and
        // the run's `log` row.
        let request = trapper.received();
        assert_eq!(request.value("multiflexi.housekeeper[run,status]").as_deref(), Some("interrupted"));
        let text = std::fs::read_to_string(&metrics).unwrap();
        assert!(text.lines().any(|l| l == "housekeeper_run_status{status=\"interrupted\"} 1"), "{text}");
        assert!(text.lines().any(|l| l == "housekeeper_run_interrupted 1"), "{text}");
        let list = hk.run(&["journal", "list", "--format", "json"]);
        assert_eq!(list.code, 0, "{}", list.stderr);
        let runs = list.json();
        assert_eq!(runs["runs"][0]["status"], "interrupted", "{runs:#}");
        let mut conn = db.connect();
        let mut view = conn.snapshot().unwrap();
        let row = view
            .query(
                "SELECT severity, message FROM log WHERE message LIKE 'Housekeeper run %' ORDER BY id",
                &[],
            )
            .unwrap();
        let last = row.rows.last().expect("the run's log row");
        assert_eq!(last[0], housekeeper_journal::Value::from("warning"));
        assert!(
            last[1].to_string().contains("interrupted by a signal"),
            "{:?}",
            last[1]
        );
        assert!(housekeeper::apply::recover::open_runs(&journal).unwrap().is_empty());
        let ends: Vec<(&str, &str)> = records
            .iter()
            .filter_map(|r| match r {
                Record::DutyEnd { duty, status, .. } => Some((duty.as_str(), status.as_str())),
                _ => None,
            })
            .collect();
        assert!(ends.contains(&("RuntemplateCounterRecalc", "skipped")), "later duties are skipped: {ends:?}");
    }
);
