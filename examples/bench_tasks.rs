//! Benchmark: StaleTaskFinalization of expired tasks against the engine's own updates of the
//! same rows, and the undo of it.
//!
//! ```text
//! cargo run --release --example bench_tasks -- <database URL> [tasks]
//! ```
//!
//! Seeds `tasks` task windows (default 20 000) that ended before now and are still open or
//! running: a third after a failed attempt (they become `failed`), the others without one
//! (`missed`). The floor sets exactly those states with two plain `UPDATE … WHERE id <= N`
//! statements in one transaction. Then it seeds again and times `housekeeper run --duty
//! StaleTaskFinalization` (the real binary, release build beside this example): planning,
//! locking and re-checking every task, the before and after image of every row in the
//! journal, anchors, log rows; then `housekeeper undo` of that run. Prints the ratios to the
//! floor and the tool's peak RSS. The database named by the URL is emptied and reused: give
//! it a scratch database.

mod common;

use std::time::Instant;

use housekeeper::db::Connection;
use housekeeper_journal::{DateTimeValue, Value};
use housekeeper_scenario::{shift, Seed};

use common::{affected, reset, Tool};

const NOW: &str = "2026-11-28 09:00:00";

fn seed(conn: &mut dyn Connection, tasks: usize) {
    let now = DateTimeValue::ymd_hms(2026, 11, 28, 9, 0, 0);
    let mut seed = Seed::new(now);
    let app = seed.app("Bench app").id();
    let company = seed.company("Bench company", "bench").id();
    let runtemplate = seed.runtemplate(app, company, "h").id();
    let start = shift(now, -3 * 86_400);
    for n in 0..tasks {
        let end = shift(now, -1 - i64::try_from(n % 86_400).expect("seconds"));
        let (state, attempts) = if n % 3 == 0 {
            ("running", 1)
        } else {
            ("open", 0)
        };
        let _ = seed.task(runtemplate, start, end, state, attempts);
    }
    seed.apply(conn).expect("seed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: bench_tasks <database URL> [tasks]");
    let tasks: usize = args.get(2).map_or(20_000, |r| r.parse().expect("tasks"));
    let mut conn = common::connect(url);
    let engine = conn.engine();

    reset(&mut *conn);
    let t = Instant::now();
    seed(&mut *conn, tasks);
    eprintln!(
        "{engine}: seeded {tasks} expired tasks in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let d = *conn.dialect();
    let last = Value::Int(i64::try_from(tasks).expect("tasks"));
    let t = Instant::now();
    let mut tx = conn.begin().expect("begin");
    let mut updated = 0;
    for (state, attempts) in [("failed", "attempts > 0"), ("missed", "attempts = 0")] {
        let sql = format!(
            "UPDATE {} SET {} = '{state}' WHERE {} <= ? AND {attempts}",
            d.quote("task"),
            d.quote("state"),
            d.quote("id")
        );
        updated += tx
            .execute(&sql, std::slice::from_ref(&last))
            .expect("update");
    }
    tx.commit().expect("commit");
    let floor = t.elapsed().as_secs_f64();
    println!(
        "{engine}: floor        {updated} rows in {floor:.2} s = {:.0} rows/s",
        updated as f64 / floor
    );

    reset(&mut *conn);
    seed(&mut *conn, tasks);
    drop(conn);
    let tool = Tool::new(url, &[("HOUSEKEEPER_NOW", NOW.to_owned())]);
    let (out, elapsed, rss) =
        tool.run(&["run", "--duty", "StaleTaskFinalization", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    let finalized = affected(&report, "StaleTaskFinalization");
    assert_eq!(finalized, updated, "the tool finalizes the floor's rows");
    println!(
        "{engine}: housekeeper  {finalized} tasks in {elapsed:.2} s, {:.2}x the floor, peak RSS {rss} KiB, journal {} KiB",
        elapsed / floor,
        tool.journal_bytes() / 1024
    );
    let run_id = report["run_id"].as_str().expect("run_id").to_owned();
    let (_, undo, rss) = tool.run(&["undo", &run_id, "--format", "json"]);
    println!(
        "{engine}: undo         {finalized} tasks in {undo:.2} s, {:.2}x the floor, peak RSS {rss} KiB",
        undo / floor
    );
}
