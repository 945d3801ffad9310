//! Benchmark: OrphanedJobCleanup of ghost jobs with their dependent rows against the engine's
//! own deletes of the same rows.
//!
//! ```text
//! cargo run --release --example bench_jobs -- <database URL> [jobs] [lines per job]
//! ```
//!
//! Seeds `jobs` ghost jobs (default 20 000: scheduled two days ago, never started, not queued),
//! each with `lines` `job_output_lines` rows (default 10, varied text) and every fifth with an
//! artifact. The floor deletes exactly those rows with plain `DELETE … WHERE job_id <= N`
//! statements (dependents first, foreign key checks on) in one transaction. Then it seeds again
//! and times `housekeeper run --duty OrphanedJobCleanup` (the real binary, release build beside
//! this example): planning, locking and re-checking every job, capturing every deleted row's
//! image in the journal, anchors, log rows. Prints the ratio to the floor, the tool's peak RSS
//! and the journal's size. The database named by the URL is emptied and reused: give it a
//! scratch database.

mod common;

use std::time::Instant;

use housekeeper::db::Connection;
use housekeeper_journal::{DateTimeValue, Value};
use housekeeper_scenario::{shift, Seed};

use common::{affected, reset, Tool};

const NOW: &str = "2026-11-28 09:00:00";

fn seed(conn: &mut dyn Connection, jobs: usize, lines: usize) -> usize {
    let now = DateTimeValue::ymd_hms(2026, 11, 28, 9, 0, 0);
    let mut seed = Seed::new(now);
    let app = seed.app("Bench app").id();
    let company = seed.company("Bench company", "bench").id();
    let runtemplate = seed.runtemplate(app, company, "h").id();
    let kinds = ["stdout", "stdout", "stdout", "stderr"];
    for n in 0..jobs {
        let job = seed.ghost_job(runtemplate, shift(now, -2 * 86_400)).id();
        for seq in 0..lines {
            let text = format!(
                "[{}] step {seq} of job {job}: processed {} records, {} warnings",
                kinds[(n + seq) % kinds.len()],
                (n * 7 + seq * 13) % 1000,
                (n + seq) % 5
            );
            let _ = seed.output_line(job, seq as i64, kinds[(n + seq) % kinds.len()], &text);
        }
        if n % 5 == 0 {
            let _ = seed.artifact(job, &format!("report-{job}.json"), "{\"ok\":true}");
        }
    }
    let rows = seed.counts().values().sum();
    seed.apply(conn).expect("seed");
    rows
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: bench_jobs <database URL> [jobs] [lines per job]");
    let jobs: usize = args.get(2).map_or(20_000, |r| r.parse().expect("jobs"));
    let lines: usize = args.get(3).map_or(10, |r| r.parse().expect("lines"));
    let mut conn = common::connect(url);
    let engine = conn.engine();

    reset(&mut *conn);
    let t = Instant::now();
    let rows = seed(&mut *conn, jobs, lines);
    eprintln!(
        "{engine}: seeded {jobs} ghost jobs, {rows} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let d = *conn.dialect();
    let last = Value::Int(i64::try_from(jobs).expect("jobs") + 1);
    let t = Instant::now();
    let mut tx = conn.begin().expect("begin");
    let mut deleted = 0;
    for (table, column) in [
        ("schedule", "job"),
        ("job_output_lines", "job_id"),
        ("artifacts", "job_id"),
        ("file_store", "job_id"),
        ("job", "id"),
    ] {
        let sql = format!(
            "DELETE FROM {} WHERE {} <= ?",
            d.quote(table),
            d.quote(column)
        );
        deleted += tx
            .execute(&sql, std::slice::from_ref(&last))
            .expect("delete");
    }
    tx.commit().expect("commit");
    let floor = t.elapsed().as_secs_f64();
    println!(
        "{engine}: floor        {deleted} rows in {floor:.2} s = {:.0} rows/s",
        deleted as f64 / floor
    );

    reset(&mut *conn);
    seed(&mut *conn, jobs, lines);
    drop(conn);
    let tool = Tool::new(url, &[("HOUSEKEEPER_NOW", NOW.to_owned())]);
    let (out, elapsed, rss) =
        tool.run(&["run", "--duty", "OrphanedJobCleanup", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    let jobs_deleted = affected(&report, "OrphanedJobCleanup");
    println!(
        "{engine}: housekeeper  {jobs_deleted} jobs and their {} dependent rows in {elapsed:.2} s, {:.2}x the floor, peak RSS {rss} KiB, journal {} KiB",
        deleted.saturating_sub(jobs_deleted),
        elapsed / floor,
        tool.journal_bytes() / 1024
    );
}
