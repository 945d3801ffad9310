//! Benchmark: the time of a typical hourly `housekeeper run` as the journal's history grows.
//!
//! ```text
//! cargo run --release --example bench_history -- <database URL> [runs,…] [repeats]
//! ```
//!
//! For each history size (default `0,336,10000`: empty, two weeks and about 14 months of
//! hourly runs) a state directory gets a journal of that many finished hourly runs, written
//! through the journal's own API on a fixed clock: each run planned and committed a few stale
//! tasks and a log prune (two plans with their payloads, two chunks with row images, eight
//! duty ends); the payloads of runs older than the 14-day undo window are expired as the
//! runs' ends would have done (their blobs, long gone, are not written); the database holds the run-end anchors of the window and the
//! checkpoint names the last one. Then, `repeats` times (default 5), the sizes in turn: the
//! database gets 5 stale tasks and 150 log rows, and the real binary (release build next to
//! this example) runs every duty with `LOG_KEEP=100` — the same work every time. Prints the
//! median and the maximum per size, and their ratio to the empty journal. With
//! `BENCH_DAEMON_CYCLES=N`, then, for each size in turn, the database gets the same work and
//! the binary runs in daemon mode (`MULTIFLEXI_DAEMONIZE=true`, a cycle every 10 s) for N
//! cycles: the first does the work, the others find nothing to do, as most hourly cycles;
//! prints each size's first cycle and the median of the others, as the daemon logs them
//! (`cycle took N ms`). With `RUST_LOG=housekeeper=debug` it prints, for every run, the
//! tool's lines about the time its stored journal index took to read and to store. The database named
//! by the URL is emptied and reused: give it a scratch database.

mod common;

use std::path::Path;

use chrono::{Duration, NaiveDateTime};
use housekeeper::apply::anchor::{self, Anchor};
use housekeeper::db::Connection;
use housekeeper::duties::DutyName;
use housekeeper_journal::{
    Action, ChunkStatus, DateTimeValue, Digest, ItemSummary, Journal, JournalError, KeySet,
    PayloadKind, PayloadRef, PayloadWriter, Record, RowRole, RunKind, TableChange, Value,
};
use housekeeper_scenario::{self as scenario, Seed};

use common::{affected, reset, Tool};

const NOW: &str = "2026-11-28 09:00:00";
const WINDOW_RUNS: usize = 14 * 24;
fn now() -> NaiveDateTime {
    NaiveDateTime::parse_from_str(NOW, "%Y-%m-%d %H:%M:%S").expect("NOW")
}

/// A payload of `kind` written by `write`; for the run `expired` (past the undo window when
/// its history is complete) only a reference to it, destroyed long ago: its blob is not
/// written (the run's expiry record names it), which keeps a long history quick to build.
fn payload(
    journal: &Journal,
    kind: PayloadKind,
    expired: Option<usize>,
    write: impl FnOnce(&mut PayloadWriter) -> Result<(), JournalError>,
) -> PayloadRef {
    if let Some(n) = expired {
        let mut bytes = [kind as u8; 32];
        bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
        return PayloadRef {
            digest: Digest(bytes),
            len: 100,
            kind,
        };
    }
    let mut pw = journal.payload_writer(kind).expect("payload");
    write(&mut pw).expect("payload entries");
    pw.finish().expect("payload")
}

/// One finished hourly run `hours_ago` hours before `NOW`; returns its id and payload digests.
/// The payloads of an `expired` run (past the undo window when its history is complete) are
/// only referenced.
fn write_run(
    journal: &mut Journal,
    identity: &str,
    hours_ago: i64,
    n: usize,
    expired: bool,
) -> (String, Vec<Digest>) {
    let at = now() - Duration::hours(hours_ago);
    let run_id = format!("{}-{n:06x}", at.format("%Y%m%dT%H%M%SZ"));
    let started_utc = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let run_now = DateTimeValue::parse(&at.format("%Y-%m-%d %H:%M:%S").to_string()).expect("now");
    let append = |journal: &mut Journal, r: &Record| {
        journal.append(r).expect("append");
    };
    append(
        journal,
        &Record::RunStart {
            run_id: run_id.clone(),
            kind: RunKind::Run,
            started_utc,
            now: run_now,
            host: "bench".into(),
            user: "bench".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            database: identity.to_owned(),
            duties: DutyName::ALL
                .iter()
                .map(|d| d.as_str().to_owned())
                .collect(),
        },
    );
    let mut digests = Vec::new();
    let base = i64::try_from(n).expect("n") * 1000;
    for (duty, table, action, keys) in [
        (
            "StaleTaskFinalization",
            "task",
            Action::Update,
            KeySet::Ranges(vec![(base + 1, base + 5)]),
        ),
        (
            "LogPruning",
            "log",
            Action::Delete,
            KeySet::Ranges(vec![(base + 1, base + 50)]),
        ),
    ] {
        let plan = payload(journal, PayloadKind::Plan, expired.then_some(n), |pw| {
            pw.json(&format!("{{\"run\":\"{run_id}\",\"duty\":\"{duty}\"}}"))
        });
        digests.push(plan.digest);
        append(
            journal,
            &Record::Plan {
                run_id: run_id.clone(),
                duty: duty.into(),
                payload: plan,
                items: vec![ItemSummary {
                    item: 0,
                    action,
                    table: Some(table.into()),
                    key_columns: vec!["id".into()],
                    keys: keys.clone(),
                    columns: if action == Action::Update {
                        vec!["state".into()]
                    } else {
                        Vec::new()
                    },
                    dependents: Vec::new(),
                    path: None,
                    reason: "bench".into(),
                    policy: None,
                }],
            },
        );
        let rows = payload(
            journal,
            PayloadKind::RowImages,
            expired.then_some(n),
            |pw| {
                pw.begin_table(table, &["id".into(), "note".into()])?;
                for k in 0..5 {
                    pw.row(
                        RowRole::Deleted,
                        &[Value::Int(base + k), Value::from(format!("{run_id} {k}"))],
                    )?;
                }
                Ok(())
            },
        );
        digests.push(rows.digest);
        append(
            journal,
            &Record::ChunkOutcome {
                run_id: run_id.clone(),
                duty: duty.into(),
                chunk: 1,
                items: vec![(0, 0)],
                status: ChunkStatus::Committed,
                changes: vec![TableChange {
                    table: table.into(),
                    action,
                    keys,
                }],
                drifted: Vec::new(),
                payload: Some(rows),
                error: None,
                error_payload: None,
            },
        );
    }
    for duty in DutyName::ALL {
        append(
            journal,
            &Record::DutyEnd {
                run_id: run_id.clone(),
                duty: duty.as_str().into(),
                status: "ok".into(),
                affected: 5,
                errors: 0,
                findings: 0,
                details: None,
            },
        );
    }
    (run_id, digests)
}

/// A journal of `runs` finished hourly runs in `state`, anchored in the database like a real
/// history (the run ends of the undo window) with the checkpoint at the last run's end.
fn build_history(conn: &mut dyn Connection, state: &Path, runs: usize) {
    let identity = conn.identity().expect("identity");
    let (mut journal, _) = Journal::open(&state.join("journal")).expect("journal");
    let journal_id = journal.journal_id().to_hex();
    let mut ids: Vec<(String, Vec<Digest>)> = Vec::new();
    let mut ends = Vec::new();
    for n in 0..runs {
        let hours_ago = i64::try_from(runs - n).expect("runs") + 1;
        let expired = n + WINDOW_RUNS < runs;
        let (run_id, digests) = write_run(&mut journal, &identity, hours_ago, n, expired);
        if n >= WINDOW_RUNS {
            let (old, old_digests) = &ids[n - WINDOW_RUNS];
            for d in old_digests {
                journal
                    .append(&Record::PayloadExpired {
                        digest: *d,
                        run_id: old.clone(),
                        reason: "undo window ended (MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS)".into(),
                    })
                    .expect("expire");
            }
        }
        let ended_utc = (now() - Duration::hours(hours_ago) + Duration::seconds(1))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let end = journal
            .append(&Record::RunEnd {
                run_id: run_id.clone(),
                status: "ok".into(),
                ended_utc,
                details: None,
            })
            .expect("run end");
        ends.push((run_id.clone(), end));
        ids.push((run_id, digests));
    }
    anchor::ensure_table(conn).expect("anchor table");
    let mut tx = conn.begin().expect("begin");
    for (run_id, end) in ends.iter().skip(runs.saturating_sub(WINDOW_RUNS)) {
        anchor::insert(
            &mut *tx,
            &journal_id,
            &Anchor {
                run_id: run_id.clone(),
                duty: "*".into(),
                chunk: 0,
                record_seq: end.seq,
                record_hash: end.hash.to_hex(),
                payload_digest: None,
                payload_len: None,
            },
        )
        .expect("anchor");
    }
    tx.commit().expect("commit");
    journal.sync().expect("sync");
    if let Some((_, last)) = ends.last() {
        journal.write_checkpoint(last).expect("checkpoint");
    }
}

/// The runtemplate the stale tasks belong to (with its user, app and company); its id.
fn seed_runtemplate(conn: &mut dyn Connection) -> i64 {
    let mut seed = Seed::new(DateTimeValue::parse(NOW).expect("NOW"));
    seed.user("admin");
    let app = seed.app("App1").id();
    let company = seed.company("Comp1", "C1").id();
    let rt = seed.runtemplate(app, company, "h").id();
    seed.apply(conn).expect("seed");
    rt
}

/// The work of a typical hourly run: 5 stale tasks of `rt`, 150 log rows (100 kept).
fn seed_work(conn: &mut dyn Connection, round: i64, rt: i64) {
    let now = DateTimeValue::parse(NOW).expect("NOW");
    let mut seed = Seed::new(now);
    for table in ["task", "log"] {
        seed.start_ids_at(table, round * 10_000 + 1);
    }
    for i in 0..5 {
        seed.task(
            rt,
            scenario::shift(now, -7200 - i * 60),
            scenario::shift(now, -60),
            "open",
            0,
        );
    }
    for i in 1..=150 {
        seed.log(
            "info",
            "bench",
            &format!("line {i}"),
            scenario::shift(now, -i * 60),
        );
    }
    seed.apply(conn).expect("seed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: bench_history <database URL> [runs,…] [repeats]");
    let sizes: Vec<usize> = args
        .get(2)
        .map_or("0,336,10000", String::as_str)
        .split(',')
        .map(|s| s.parse().expect("a number of runs"))
        .collect();
    let repeats: usize = args.get(3).map_or(5, |s| s.parse().expect("repeats"));
    let cycles: usize =
        std::env::var("BENCH_DAEMON_CYCLES").map_or(0, |s| s.parse().expect("BENCH_DAEMON_CYCLES"));
    let mut conn = common::connect(url);
    reset(&mut *conn);
    let rt = seed_runtemplate(&mut *conn);
    let env = [
        ("HOUSEKEEPER_NOW", NOW.to_owned()),
        ("MULTIFLEXI_TIMEZONE", "UTC".to_owned()),
        ("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "100".to_owned()),
    ];
    let tools: Vec<Tool> = sizes
        .iter()
        .map(|&runs| {
            let tool = Tool::new(url, &env);
            let t = std::time::Instant::now();
            build_history(&mut *conn, &tool.state_dir(), runs);
            eprintln!(
                "{}: history of {runs} runs written in {:.1} s ({} journal bytes)",
                conn.engine(),
                t.elapsed().as_secs_f64(),
                tool.journal_bytes()
            );
            tool
        })
        .collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); sizes.len()];
    let mut round = 0;
    for _ in 0..repeats {
        for (i, tool) in tools.iter().enumerate() {
            round += 1;
            seed_work(&mut *conn, round, rt);
            let (out, seconds, _) = tool.run(&["run", "--format", "json"]);
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(
                affected(&report, "StaleTaskFinalization"),
                5,
                "the same work"
            );
            times[i].push(seconds * 1000.0);
            if std::env::var_os("RUST_LOG").is_some() {
                // With `RUST_LOG=housekeeper=debug`: what the stored index cost this run.
                for line in String::from_utf8_lossy(&out.stderr).lines() {
                    if line.contains("journal index:") {
                        eprintln!("{:>6} runs: {line}", sizes[i]);
                    }
                }
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let floor = median(&times[0]);
    println!(
        "engine {}, {repeats} runs per size, sizes in turn",
        conn.engine()
    );
    for (runs, t) in sizes.iter().zip(&times) {
        let max = t.iter().copied().fold(0.0, f64::max);
        println!(
            "{runs:>6} runs in the journal: median {:7.1} ms, max {:7.1} ms, {:.2}x the first size",
            median(t),
            max,
            median(t) / floor
        );
    }
    if cycles > 0 {
        let mut idle_floor = None;
        for (runs, tool) in sizes.iter().zip(&tools) {
            round += 1;
            seed_work(&mut *conn, round, rt);
            let took = daemon_cycles(tool, cycles);
            let idle = median(&took[1..]);
            let floor = *idle_floor.get_or_insert(idle);
            println!(
                "{runs:>6} runs in the journal, daemon: first cycle {:7.1} ms, then median {idle:7.1} ms, max {:7.1} ms over {} idle cycles, {:.2}x the first size",
                took[0],
                took[1..].iter().copied().fold(0.0, f64::max),
                took.len() - 1,
                idle / floor
            );
        }
    }
}

/// Runs the tool in daemon mode (a cycle every 10 s, the least it takes) for `cycles` cycles
/// and returns each cycle's time in milliseconds, as the daemon logs it.
fn daemon_cycles(tool: &Tool, cycles: usize) -> Vec<f64> {
    use std::io::BufRead;
    let mut child = tool
        .command(&["run"])
        .env("MULTIFLEXI_DAEMONIZE", "true")
        .env("MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE", "10")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let stderr = child.stderr.take().expect("stderr");
    let mut took = Vec::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.expect("the daemon's log");
        if let Some(ms) = line
            .split("cycle took ")
            .nth(1)
            .and_then(|rest| rest.split(" ms;").next())
        {
            took.push(ms.parse::<f64>().expect("milliseconds"));
            if took.len() == cycles.max(2) {
                break;
            }
        }
    }
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    assert!(child.wait().expect("wait").success(), "the daemon failed");
    assert_eq!(took.len(), cycles.max(2), "the daemon ended early");
    took
}
