//! Throughput of the journal: payload writing (MB/s of row images, rows/s), record appends
//! (records/s, plain and durable) and verification (MB/s, records/s). Plain `std::time`; run
//! in release mode and wrap in `/usr/bin/time -v` for peak memory. See BENCHMARKS.md.
//!
//! ```text
//! bench write   DIR MB     # a journal with MB megabytes of log-table row images
//! bench records DIR N      # N chunk_outcome records, plain then durable appends
//! bench verify  DIR        # full verification, then chain only
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use housekeeper_journal::store::{Journal, RowRole};
use housekeeper_journal::{
    verify, verify_with, Action, ChunkStatus, DateTimeValue, KeySet, PayloadKind, PayloadRef,
    Record, TableChange, Value, VerifyOptions,
};

const ROWS_PER_CHUNK: i64 = 10_000;
const MIB: f64 = 1024.0 * 1024.0;

fn log_columns() -> Vec<String> {
    [
        "id",
        "company_id",
        "apps_id",
        "user_id",
        "severity",
        "venue",
        "message",
        "created",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// A pool of realistic `log` rows (MultiFlexi's log table), varied so zstd has work to do.
fn row_pool() -> Vec<Vec<Value>> {
    let severities = ["info", "warning", "error", "success", "debug"];
    let venues = [
        "MultiFlexi\\Executor\\Native",
        "MultiFlexi\\Scheduler",
        "MultiFlexi\\Job",
        "AbraFlexi\\Bricks",
    ];
    (0..4096u32)
        .map(|i| {
            let mix = i.wrapping_mul(2_654_435_761);
            vec![
                Value::Int(0),
                Value::Int(i64::from(mix % 17)),
                Value::Int(i64::from(mix % 113)),
                if mix % 5 == 0 {
                    Value::Null
                } else {
                    Value::Int(i64::from(mix % 41))
                },
                Value::Text(severities[(mix % 5) as usize].into()),
                Value::Text(venues[(mix % 4) as usize].into()),
                Value::Text(format!(
                    "Job {} of runtemplate {} finished with exit code {} after {} s; output {} \
                     lines, checksum {:08x}",
                    mix % 100_000,
                    mix % 977,
                    mix % 3,
                    mix % 3600,
                    mix % 5000,
                    mix
                )),
                Value::DateTime(DateTimeValue {
                    micros: mix % 1_000_000,
                    ..DateTimeValue::ymd_hms(
                        2024,
                        (mix % 12 + 1) as u8,
                        (mix % 28 + 1) as u8,
                        (mix % 24) as u8,
                        (mix % 60) as u8,
                        (mix / 7 % 60) as u8,
                    )
                }),
            ]
        })
        .collect()
}

fn outcome(chunk: u32, lo: i64, hi: i64, payload: Option<PayloadRef>) -> Record {
    Record::ChunkOutcome {
        run_id: "20240131T235958Z-a1b2c3".into(),
        duty: "LogPruning".into(),
        chunk,
        items: vec![(0, 0)],
        status: ChunkStatus::Committed,
        changes: vec![TableChange {
            table: "log".into(),
            action: Action::Delete,
            keys: KeySet::Ranges(vec![(lo, hi)]),
        }],
        drifted: vec![],
        payload,
        error: None,
        error_payload: None,
    }
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                total += dir_size(&p);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

fn write(dir: &Path, mb: u64) -> Result<(), Box<dyn std::error::Error>> {
    let (mut journal, _) = Journal::open(dir)?;
    let pool = row_pool();
    let columns = log_columns();
    let target = mb * 1024 * 1024;
    let (mut bytes, mut rows, mut chunk) = (0u64, 0i64, 0u32);
    let started = Instant::now();
    while bytes < target {
        let mut pw = journal.payload_writer(PayloadKind::RowImages)?;
        pw.begin_table("log", &columns)?;
        let lo = rows + 1;
        let mut row = Vec::new();
        for i in 0..ROWS_PER_CHUNK {
            row.clone_from(&pool[usize::try_from((rows + i) % 4096).unwrap_or(0)]);
            row[0] = Value::Int(rows + i + 1);
            pw.row(RowRole::Deleted, &row)?;
        }
        rows += ROWS_PER_CHUNK;
        let payload = pw.finish()?;
        bytes += payload.len;
        journal.append_durable(&outcome(chunk, lo, rows, Some(payload)))?;
        chunk += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let on_disk = dir_size(dir);
    println!(
        "write: {:.1} MiB of row images ({rows} rows, {chunk} chunks of {ROWS_PER_CHUNK}) in \
         {secs:.2} s = {:.1} MiB/s, {:.0} rows/s; {:.1} MiB on disk ({:.1} bytes/row)",
        bytes as f64 / MIB,
        bytes as f64 / MIB / secs,
        rows as f64 / secs,
        on_disk as f64 / MIB,
        on_disk as f64 / rows as f64
    );
    Ok(())
}

fn records(dir: &Path, n: u32) -> Result<(), Box<dyn std::error::Error>> {
    let (mut journal, _) = Journal::open(dir)?;
    let started = Instant::now();
    for i in 0..n {
        journal.append(&outcome(i, i64::from(i) * 10, i64::from(i) * 10 + 9, None))?;
    }
    journal.sync()?;
    let plain = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for i in 0..n {
        journal.append_durable(&outcome(i, 0, 9, None))?;
    }
    let durable = started.elapsed().as_secs_f64();
    println!(
        "records: {n} plain appends in {plain:.2} s = {:.0} records/s; {n} durable appends in \
         {durable:.2} s = {:.0} records/s",
        f64::from(n) / plain,
        f64::from(n) / durable
    );
    Ok(())
}

fn verify_dir(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let report = verify(dir, None)?;
    let secs = started.elapsed().as_secs_f64();
    if let Some(d) = report.first_damage() {
        return Err(format!("damage: {d}").into());
    }
    println!(
        "verify: {} records, {} payloads, {:.1} MiB of row images in {secs:.2} s = {:.1} MiB/s, \
         {:.0} records/s",
        report.records,
        report.payloads_checked,
        report.payload_bytes as f64 / MIB,
        report.payload_bytes as f64 / MIB / secs,
        report.records as f64 / secs
    );
    let started = Instant::now();
    let chain = verify_with(
        dir,
        &VerifyOptions {
            expected_head: report.head,
            expected: Vec::new(),
            chain_only: true,
        },
    )?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "verify --chain-only: {} records in {secs:.3} s = {:.0} records/s",
        chain.records,
        chain.records as f64 / secs
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench write DIR MB | bench records DIR N | bench verify DIR";
    let (Some(cmd), Some(dir)) = (args.get(1), args.get(2)) else {
        return Err(usage.into());
    };
    let dir = PathBuf::from(dir);
    match cmd.as_str() {
        "write" => write(&dir, args.get(3).ok_or(usage)?.parse()?),
        "records" => records(&dir, args.get(3).ok_or(usage)?.parse()?),
        "verify" => verify_dir(&dir),
        _ => Err(usage.into()),
    }
}
