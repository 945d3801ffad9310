//! Benchmark: how long another writer waits while LogPruning deletes a big `log` table.
//!
//! ```text
//! cargo run --release --example bench_stall -- <database URL> [rows] [keep] [NAME=VALUE …]
//! ```
//!
//! Seeds `rows` log rows (default 1 000 000) and one running job into a MultiFlexi schema
//! (SQLite in WAL mode, as MultiFlexi runs it), then starts a writer with its own connection
//! that behaves like a MultiFlexi daemon: every 10 ms one transaction that inserts a `log` row
//! and updates the job, timed from its `BEGIN` to the end of its `COMMIT` (lock waits
//! included). Meanwhile it runs `housekeeper run --duty LogPruning` (the real binary, release
//! build beside this example) keeping `keep` rows (default 100 000), with any `NAME=VALUE`
//! given as extra environment. Prints the prune's time and, for the writer's transactions that
//! started while the prune ran: their number, the longest, p99 and median, and the longest wait
//! to begin (SQLite's write lock) and to commit; the first of them is printed too. With
//! `BENCH_WRITER_LATE_MS=N` the writer starts N ms after the prune instead of before it. The
//! database named by the URL is emptied and reused: give it a scratch database.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use housekeeper::config::{DbTarget, Engine};
use housekeeper::db::{self, ConnectOptions, Connection};
use housekeeper_journal::{DateTimeValue, Value};
use housekeeper_scenario::Seed;

use common::{affected, reset, seed_log, Tool};

/// One transaction of the writer.
struct Turn {
    started: Instant,
    /// `BEGIN` to the end of `COMMIT`.
    total: Duration,
    /// The `BEGIN` alone (on SQLite: the wait for the write lock).
    begin: Duration,
    /// The `COMMIT` alone.
    commit: Duration,
}

/// Adds one running job (with its app, company and runtemplate) and returns its id.
fn seed_job(conn: &mut dyn Connection) -> i64 {
    let now = DateTimeValue::ymd_hms(2026, 11, 28, 9, 0, 0);
    let mut seed = Seed::new(now);
    let app = seed.app("Stall app").id();
    let company = seed.company("Stall company", "stall").id();
    let runtemplate = seed.runtemplate(app, company, "h").id();
    let job = seed.running_job(runtemplate, now).id();
    seed.apply(conn).expect("seed the job");
    job
}

/// The MultiFlexi daemon's share of the work: insert a `log` row and update the job, in one
/// transaction every 10 ms, until `stop`. Failed transactions are counted, not retried.
fn writer(target: &DbTarget, job: i64, stop: &AtomicBool) -> (Vec<Turn>, u64) {
    let options = ConnectOptions {
        lock_timeout: Duration::from_secs(60),
        ..ConnectOptions::default()
    };
    let mut conn = db::connect(target, &options).expect("writer connects");
    let d = *conn.dialect();
    let insert = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        d.quote("log"),
        [
            "severity",
            "venue",
            "message",
            "created",
            "marked_for_deletion"
        ]
        .map(|c| d.quote(c))
        .join(", "),
        d.placeholders(5)
    );
    let update = format!(
        "UPDATE {} SET {} = ? WHERE {} = ?",
        d.quote("job"),
        d.quote("pid"),
        d.quote("id")
    );
    let created = DateTimeValue::ymd_hms(2026, 11, 28, 10, 0, 0);
    let (mut turns, mut failed) = (Vec::new(), 0);
    let mut n = 0_i64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let started = Instant::now();
        let turn = (|| {
            let mut tx = conn.begin()?;
            let begin = started.elapsed();
            tx.execute(
                &insert,
                &[
                    Value::from("info"),
                    Value::from("MultiFlexi\\Executor"),
                    Value::from(format!("Job #{job} still running, turn {n}")),
                    Value::DateTime(created),
                    Value::Bool(false),
                ],
            )?;
            tx.execute(&update, &[Value::Int(n), Value::Int(job)])?;
            let committing = Instant::now();
            tx.commit()?;
            Ok::<_, db::DbError>((begin, committing.elapsed()))
        })();
        match turn {
            Ok((begin, commit)) => turns.push(Turn {
                started,
                total: started.elapsed(),
                begin,
                commit,
            }),
            Err(e) => {
                eprintln!("writer: {e}");
                failed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (turns, failed)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: bench_stall <database URL> [rows] [keep] [NAME=VALUE …]");
    let rows: i64 = args.get(2).map_or(1_000_000, |r| r.parse().expect("rows"));
    let keep: i64 = args.get(3).map_or(100_000, |k| k.parse().expect("keep"));
    let mut env = vec![("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", keep.to_string())];
    for pair in args.iter().skip(4) {
        let (name, value) = pair.split_once('=').expect("NAME=VALUE");
        env.push((name, value.to_owned()));
    }
    let target = DbTarget::from_url(url, "url").expect("a database URL");
    let mut conn = db::connect(&target, &ConnectOptions::default()).expect("connect");
    let engine = conn.engine();
    if engine == Engine::Sqlite {
        conn.execute_ddl("PRAGMA journal_mode = WAL").expect("WAL");
    }
    reset(&mut *conn);
    let t = Instant::now();
    seed_log(&mut *conn, rows);
    let job = seed_job(&mut *conn);
    eprintln!(
        "{engine}: seeded {rows} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(conn);

    // With BENCH_WRITER_LATE_MS the writer begins that long after the prune, on a database
    // nobody else was writing to.
    let late: u64 = std::env::var("BENCH_WRITER_LATE_MS")
        .map_or(0, |v| v.parse().expect("BENCH_WRITER_LATE_MS"));
    let stop = Arc::new(AtomicBool::new(false));
    let daemon = {
        let (target, stop) = (target.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            if late > 0 {
                std::thread::sleep(Duration::from_millis(500 + late));
            }
            writer(&target, job, &stop)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let tool = Tool::new(url, &env);
    let prune_started = Instant::now();
    let (out, elapsed, _) = tool.run(&["run", "--duty", "LogPruning", "--format", "json"]);
    let prune_ended = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let (turns, failed) = daemon.join().expect("writer thread");

    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    let deleted = affected(&report, "LogPruning");
    let during: Vec<&Turn> = turns
        .iter()
        .filter(|t| t.started >= prune_started && t.started <= prune_ended)
        .collect();
    let mut totals: Vec<Duration> = during.iter().map(|t| t.total).collect();
    totals.sort();
    let pick = |q: f64| {
        let i = ((totals.len() as f64 - 1.0) * q).round() as usize;
        totals.get(i).copied().map_or(f64::NAN, ms)
    };
    let longest = |f: fn(&Turn) -> Duration| during.iter().map(|t| f(t)).max().map_or(0.0, ms);
    println!(
        "{engine}: prune {deleted} rows in {elapsed:.2} s (journal {} KiB); writer {} turns ({failed} failed): max {:.0} ms, p99 {:.0} ms, p50 {:.1} ms, first {:.0} ms; longest begin {:.0} ms, longest commit {:.0} ms",
        tool.journal_bytes() / 1024,
        during.len(),
        pick(1.0),
        pick(0.99),
        pick(0.5),
        during.first().map_or(f64::NAN, |t| ms(t.total)),
        longest(|t| t.begin),
        longest(|t| t.commit),
    );
}
