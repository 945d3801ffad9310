//! Benchmark: DiskTempFileCleanup and its undo over many old temp files.
//!
//! ```text
//! cargo run --release --example bench_files -- [files] [same|cross] [work dir]
//! ```
//!
//! Creates `files` (default 100 000) small files, 100 per job directory, all two days old,
//! under a fresh temp directory, and a MultiFlexi schema in a fresh SQLite database. Then it
//! times the real binary (release build next to this example) through `/usr/bin/time`:
//! `plan --duty DiskTempFileCleanup`, `run --duty DiskTempFileCleanup` (every file moved to the
//! quarantine, each with its intent and outcome in the journal) and `undo` of that run (every
//! file moved back), printing seconds, files/s and peak RSS of each. After the undo it checks
//! that every file is back with its bytes.
//!
//! `same` (the default) keeps the state directory on the temp directory's filesystem, so a move
//! is a rename; `cross` puts the state directory on `/dev/shm` (tmpfs), so every move is a copy,
//! a sync, a hash check and a removal. The work directory (default: a new directory under the
//! system's temp directory) holds the temp files and the database.
//!
//! To profile, set `BENCH_WRAP` to a command that runs the tool, e.g.
//! `BENCH_WRAP="strace -c -f -o /tmp/run.strace"`: it is put between `/usr/bin/time` and the
//! tool's path.

// A benchmark's fixtures: files of real ages (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use housekeeper::config::DbTarget;
use housekeeper::db::{self, ConnectOptions};
use housekeeper_scenario::{self as scenario, SchemaLevel};

const PER_DIR: usize = 100;

fn make_files(tmp: &Path, files: usize) {
    let old = SystemTime::now() - Duration::from_secs(48 * 3600);
    for i in 0..files {
        let dir = tmp.join(format!("job-{:05}", i / PER_DIR));
        if i % PER_DIR == 0 {
            std::fs::create_dir_all(&dir).expect("job dir");
        }
        let path = dir.join(format!("result-{i:07}.json"));
        std::fs::write(
            &path,
            format!("{{\"job\": {}, \"line\": {i}}}\n", i / PER_DIR),
        )
        .expect("file");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(old))
            .expect("mtime");
    }
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let files: usize = args.get(1).map_or(100_000, |n| n.parse().expect("files"));
    let cross = match args.get(2).map_or("same", String::as_str) {
        "same" => false,
        "cross" => true,
        other => panic!("expected same or cross, not {other}"),
    };
    let work = match args.get(3) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).expect("work dir");
            tempfile::tempdir_in(dir).expect("work dir")
        }
        None => tempfile::tempdir().expect("work dir"),
    };
    let shm;
    let state = if cross {
        shm = tempfile::tempdir_in("/dev/shm").expect("a directory on /dev/shm");
        shm.path().join("state")
    } else {
        work.path().join("state")
    };
    let tmp = work.path().join("tmp");
    let database = work.path().join("multiflexi.sqlite");
    let url = format!("sqlite:{}", database.display());
    std::fs::File::create(&database).expect("database file");
    {
        let target = DbTarget::from_url(&url, "url").expect("a database URL");
        let mut conn = db::connect(&target, &ConnectOptions::default()).expect("connect");
        scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("schema");
    }
    let t = Instant::now();
    make_files(&tmp, files);
    eprintln!("made {files} files in {:.1} s", t.elapsed().as_secs_f64());

    let env_file = work.path().join("empty.env");
    std::fs::write(&env_file, "").expect("env file");
    let exe = std::env::current_exe().expect("exe");
    let tool = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .join("housekeeper");
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let housekeeper = |args: &[&str]| {
        let t = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "peak-rss-kib %M"])
            .args(wrap.split_whitespace())
            .arg(&tool)
            .arg("--env-file")
            .arg(&env_file)
            .args(["--database", &url, "--state-dir"])
            .arg(&state)
            .arg("--tmp-dir")
            .arg(&tmp)
            .args(args)
            .output()
            .expect("run housekeeper");
        let elapsed = t.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "housekeeper {args:?} failed: {stderr}"
        );
        let rss: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak-rss-kib "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        (out.stdout, elapsed, rss)
    };
    let mode = if cross { "cross" } else { "same" };
    let line = |step: &str, elapsed: f64, rss: u64| {
        println!(
            "{mode} {files} files: {step:<5} {elapsed:>7.2} s = {:>8.0} files/s, peak RSS {:>6.1} MiB",
            files as f64 / elapsed,
            rss as f64 / 1024.0
        );
    };

    let (_, elapsed, rss) = housekeeper(&["plan", "--duty", "DiskTempFileCleanup"]);
    line("plan", elapsed, rss);

    let (stdout, elapsed, rss) =
        housekeeper(&["run", "--duty", "DiskTempFileCleanup", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&stdout).expect("report");
    let moved = report["duties"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["duty"] == "DiskTempFileCleanup"))
        .map_or(0, |d| d["affected"].as_u64().unwrap_or(0));
    assert_eq!(moved, files as u64, "every file moved: {report}");
    assert_eq!(count_files(&tmp), 0, "the temp directory is empty");
    line("run", elapsed, rss);

    let run_id = report["run_id"].as_str().expect("run id").to_owned();
    let (_, elapsed, rss) = housekeeper(&["undo", &run_id]);
    assert_eq!(count_files(&tmp), files, "every file is back");
    let sample = tmp.join("job-00000/result-0000000.json");
    assert_eq!(
        std::fs::read_to_string(&sample).expect("a restored file"),
        "{\"job\": 0, \"line\": 0}\n"
    );
    line("undo", elapsed, rss);
}
