//! Benchmark: the journal's size as runs go by for months, folded after the keep period.
//!
//! ```text
//! cargo run --release --example bench_journal -- <database URL> [days] [runs per day] [keep days]
//! ```
//!
//! Installs the MultiFlexi schema (the database named by the URL is emptied: give it a scratch
//! database), then runs `housekeeper run` (every duty, the real binary) on a fixed clock that
//! advances `24 / runs per day` hours per run, for `days` days (defaults: 200 days, 4 runs a
//! day), with `MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS` = `keep days` (default 60). Every
//! 30 days it prints the runs so far, the journal's bytes and segment files, and what the
//! journal would hold without folding (the bytes of an idle run, measured over the first
//! month, times the runs); at the end, `journal verify` must pass.

mod common;

use chrono::{Duration, NaiveDateTime};

use common::{reset, Tool};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: bench_journal <database URL> [days] [runs per day] [keep days]");
    let number = |i: usize, default: i64| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (days, per_day, keep) = (number(2, 200), number(3, 4), number(4, 60));
    let mut conn = common::connect(url);
    reset(&mut *conn);
    let tool = Tool::new(
        url,
        &[("MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS", keep.to_string())],
    );
    let start =
        NaiveDateTime::parse_from_str("2026-01-01 00:30:00", "%Y-%m-%d %H:%M:%S").expect("start");
    let step = Duration::minutes(24 * 60 / per_day);
    let journal_dir = |t: &Tool| t.journal_bytes();
    println!("keep {keep} days, {per_day} runs a day, {days} days");
    println!("| day | runs | journal | segments | without folding |");
    println!("|---:|---:|---:|---:|---:|");
    let mut per_run = 0.0;
    for i in 0..days * per_day {
        let now = start + step * i32::try_from(i).expect("runs");
        let stamp = now.format("%Y-%m-%d %H:%M:%S").to_string();
        tool.run_with(&[("HOUSEKEEPER_NOW", stamp.as_str())], &["run"]);
        let runs = i + 1;
        if runs == 30 * per_day {
            per_run = journal_dir(&tool) as f64 / runs as f64;
        }
        if runs % (30 * per_day) == 0 || runs == days * per_day {
            println!(
                "| {} | {runs} | {:.1} MiB | {} | {:.1} MiB |",
                runs / per_day,
                journal_dir(&tool) as f64 / 1_048_576.0,
                tool.segment_files(),
                per_run * runs as f64 / 1_048_576.0,
            );
        }
    }
    println!("an idle run adds {per_run:.0} bytes to the journal");
    let (out, _, _) = tool.run(&["journal", "verify"]);
    print!("{}", String::from_utf8_lossy(&out.stdout));
}
