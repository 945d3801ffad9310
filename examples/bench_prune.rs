//! Benchmark: LogPruning of a big `log` table against the engine's own bulk delete.
//!
//! ```text
//! cargo run --release --example bench_prune -- <database URL> [rows] [keep] [seed-only]
//! ```
//!
//! For each engine: seeds `rows` log rows (default 1 000 000) into a MultiFlexi schema, times a
//! plain `DELETE FROM log WHERE id <= rows - keep` in one transaction (the floor), seeds again,
//! times `housekeeper plan --duty LogPruning` (the dry-run diff) and `housekeeper run --duty
//! LogPruning` (the real binary, release build next to this
//! example) keeping `keep` rows (default 100 000): planning, journaling every deleted row's image
//! in chunks of `MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS`, anchors, log rows. Prints rows/s, the ratio
//! to the floor, and the tool's peak RSS (from `/usr/bin/time`). Then times `housekeeper undo`
//! of that run, which re-inserts every deleted row from the journal (reading the run's
//! payloads chunk by chunk), with its peak RSS, against the insert floor: the same rows put
//! back into the pruned table by the engine's own multi-row INSERTs (1000 rows a statement),
//! timed right after the floor's DELETE; the seeding rate (into the empty table) is printed
//! too. With `BENCH_DRY_RUN` set, `housekeeper undo --dry-run` of the run is timed first. The
//! database named by the URL is emptied and reused: give it a scratch database.

mod common;

use std::time::Instant;

use housekeeper_journal::Value;

use common::{affected, insert_log_rows, reset, seed_log, Tool};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: bench_prune <database URL> [rows] [keep]");
    let rows: i64 = args.get(2).map_or(1_000_000, |r| r.parse().expect("rows"));
    let keep: i64 = args.get(3).map_or(100_000, |k| k.parse().expect("keep"));
    let mut conn = common::connect(url);
    let engine = conn.engine();

    reset(&mut *conn);
    let t = Instant::now();
    seed_log(&mut *conn, rows);
    let seeded = t.elapsed().as_secs_f64();
    eprintln!("{engine}: seeded {rows} rows in {seeded:.1} s");
    let seed_rate = rows as f64 / seeded;
    if args.get(4).is_some_and(|a| a == "seed-only") {
        return;
    }
    let d = *conn.dialect();
    let floor_sql = format!(
        "DELETE FROM {} WHERE {} <= ?",
        d.quote("log"),
        d.quote("id")
    );
    let t = Instant::now();
    let mut tx = conn.begin().expect("begin");
    let deleted = tx
        .execute(&floor_sql, &[Value::Int(rows - keep)])
        .expect("delete");
    tx.commit().expect("commit");
    let floor = t.elapsed().as_secs_f64();
    println!(
        "{engine}: floor  {deleted} rows in {floor:.2} s = {:.0} rows/s",
        deleted as f64 / floor
    );
    let floor_purged = purged(&mut *conn).map(|wait| {
        println!(
            "{engine}: floor with InnoDB's purge of the deleted rows {:.2} s",
            floor + wait
        );
        floor + wait
    });
    // The undo's floor: the same rows put back into the pruned table by the engine's own
    // multi-row INSERTs.
    let t = Instant::now();
    insert_log_rows(&mut *conn, 1, rows - keep);
    let insert_floor = t.elapsed().as_secs_f64();
    println!(
        "{engine}: insert floor {} rows in {insert_floor:.2} s = {:.0} rows/s (seeding the empty table: {seed_rate:.0} rows/s)",
        rows - keep,
        (rows - keep) as f64 / insert_floor
    );

    reset(&mut *conn);
    seed_log(&mut *conn, rows);
    purged(&mut *conn);
    drop(conn);
    let tool = Tool::new(
        url,
        &[("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", keep.to_string())],
    );
    // What an operator checks first: the dry-run diff of the same prune.
    let (_, planned, plan_rss) = tool.run(&["plan", "--duty", "LogPruning"]);
    println!(
        "{engine}: plan   {rows} rows in the table in {planned:.2} s, peak RSS {plan_rss} KiB"
    );
    let (out, elapsed, rss) = tool.run(&["run", "--duty", "LogPruning", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    let affected = affected(&report, "LogPruning");
    let journal = tool.journal_bytes();
    println!(
        "{engine}: housekeeper {affected} rows in {elapsed:.2} s = {:.0} rows/s, {:.2}x the floor, peak RSS {rss} KiB, journal {} KiB ({:.1} bytes/row)",
        affected as f64 / elapsed,
        elapsed / floor,
        journal / 1024,
        journal as f64 / affected.max(1) as f64
    );

    if let (Some(floor), Some(wait)) = (floor_purged, purged(&mut *common::connect(url))) {
        println!(
            "{engine}: housekeeper with InnoDB's purge {:.2} s, {:.2}x the floor with its purge",
            elapsed + wait,
            (elapsed + wait) / floor
        );
    }

    let run_id = report["run_id"].as_str().expect("run id").to_owned();
    if std::env::var_os("BENCH_DRY_RUN").is_some() {
        let (_, predicted, rss) = tool.run(&["undo", &run_id, "--dry-run"]);
        println!(
            "{engine}: undo --dry-run {affected} rows in {predicted:.2} s, peak RSS {rss} KiB"
        );
    }
    let (_, undone, rss) = tool.run(&["undo", &run_id]);
    let insert_floor = insert_floor * affected as f64 / (rows - keep) as f64;
    println!(
        "{engine}: undo   {affected} rows in {undone:.2} s = {:.0} rows/s, {:.2}x the insert floor, {:.2}x the seeding rate, peak RSS {rss} KiB",
        affected as f64 / undone,
        undone / insert_floor,
        undone * seed_rate / affected as f64,
    );
}

/// On MariaDB/MySQL, waits until InnoDB has purged what earlier transactions deleted (its
/// history list is empty) and returns the seconds it took; `None` on the other engines.
/// InnoDB only marks deleted rows in the statement and removes them in the background after
/// the commit: one big `DELETE` returns long before its work is done, while a chunked prune
/// pays for the purge of its earlier chunks as it goes.
fn purged(conn: &mut dyn housekeeper::db::Connection) -> Option<f64> {
    if !matches!(conn.engine(), housekeeper::config::Engine::Mysql) {
        return None;
    }
    let t = Instant::now();
    loop {
        let length = conn
            .snapshot()
            .and_then(|mut view| {
                view.query_scalar(
                    "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                     WHERE VARIABLE_NAME = 'INNODB_HISTORY_LIST_LENGTH'",
                    &[],
                )
            })
            .expect("InnoDB's history list length");
        let length = match length {
            Some(Value::Text(text)) => text.parse::<i64>().ok(),
            Some(Value::Bytes(bytes)) => String::from_utf8_lossy(&bytes).parse::<i64>().ok(),
            other => other.and_then(|v| v.as_i64()),
        }
        .expect("a number");
        // The length counts transactions whose undo logs wait for the purge, not rows.
        if length == 0 || t.elapsed().as_secs() > 600 {
            return Some(t.elapsed().as_secs_f64());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
