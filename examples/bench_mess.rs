//! Benchmark: a whole run (all eight duties) over the realistic mess at a given scale.
//!
//! ```text
//! cargo run --release --example bench_mess -- <database URL> [scale]
//! ```
//!
//! Empties the database named by the URL (give it a scratch database), installs the MultiFlexi
//! schema, seeds `scenario::realistic_mess` at `scale` (1 ≈ 4 400 rows), then times
//! `housekeeper run` with every retention action on and prints the per-duty figures.

use std::process::Command;
use std::time::Instant;

use housekeeper::config::{DbTarget, Engine};
use housekeeper::db::{self, ConnectOptions};
use housekeeper_journal::DateTimeValue;
use housekeeper_scenario::{self as scenario, SchemaLevel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: bench_mess <database URL> [scale]");
    let scale: u32 = args.get(2).map_or(20, |s| s.parse().expect("scale"));
    let target = DbTarget::from_url(url, "url").expect("a database URL");
    let mut conn = db::connect(&target, &ConnectOptions::default()).expect("connect");
    let d = *conn.dialect();
    if d.engine() == Engine::Mysql {
        conn.execute_ddl("SET FOREIGN_KEY_CHECKS = 0")
            .expect("fk off");
    }
    for table in conn.introspect().expect("introspect").tables.keys() {
        let cascade = if d.engine() == Engine::Postgres {
            " CASCADE"
        } else {
            ""
        };
        conn.execute_ddl(&format!("DROP TABLE IF EXISTS {}{cascade}", d.quote(table)))
            .expect("drop");
    }
    scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("schema");
    let now = DateTimeValue::ymd_hms(2026, 11, 28, 9, 0, 0);
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let mess =
        scenario::realistic_mess_in(&mut *conn, now, scale, &dir.path().join("tmp")).expect("seed");
    let rows: usize = mess.rows.values().sum();
    eprintln!(
        "{}: seeded {rows} rows (scale {scale}) in {:.1} s",
        d.engine(),
        t.elapsed().as_secs_f64()
    );
    drop(conn);
    std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp");
    std::fs::write(dir.path().join("empty.env"), "").expect("env");
    let exe = std::env::current_exe().expect("exe");
    let tool = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .join("housekeeper");
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib %M"])
        .arg(&tool)
        .arg("--env-file")
        .arg(dir.path().join("empty.env"))
        .args(["--database", url, "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("--tmp-dir")
        .arg(dir.path().join("tmp"))
        .args(["run", "--format", "json"])
        .env("HOUSEKEEPER_NOW", "2026-11-28 09:00:00")
        .env("MULTIFLEXI_TIMEZONE", "UTC")
        .env("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "1000")
        .env(
            "MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS",
            "hard_delete,soft_delete,anonymize,archive",
        )
        .env("MULTIFLEXI_HOUSEKEEPER_FIO_URL", "http://127.0.0.1:9/")
        .output()
        .expect("run housekeeper");
    let elapsed = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .unwrap_or("?");
    println!(
        "{}: whole run over {rows} rows in {elapsed:.2} s, peak RSS {rss} KiB, status {}",
        d.engine(),
        report["status"]
    );
    for duty in report["duties"].as_array().expect("duties") {
        println!(
            "  {:<26} {:<8} affected {:>7} in {:>6} ms",
            duty["duty"].as_str().unwrap_or(""),
            duty["status"].as_str().unwrap_or(""),
            duty["affected"],
            duty["elapsed_ms"]
        );
    }
}
