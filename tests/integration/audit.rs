//! The auditor's commands through the real binary on every engine: `journal list|show|find`
//! show what a run did with its values, `journal verify` passes on a good journal and names
//! the exact place of each kind of damage (a flipped byte, a deleted payload, an altered
//! quarantined file, a journal cut back behind the database anchors), and expiry —
//! `quarantine expire` and the end of a run — destroys payloads and quarantined files while
//! the journal still verifies.

use std::path::{Path, PathBuf};

use housekeeper_journal::{read_records, ChunkStatus, Record};
use housekeeper_scenario::{self as scenario, SchemaLevel, Seed};

use crate::support::tool::{self, make_files, Out, Tool};
use crate::support::TestDb;

fn now() -> housekeeper_journal::DateTimeValue {
    housekeeper_journal::DateTimeValue::parse(tool::NOW).expect("NOW parses")
}

const DUTIES: &str = "StaleTaskFinalization,LogPruning,DiskTempFileCleanup";

/// One expired open task (→ missed), 80 log rows (`needle <id>`) of which the run deletes 77
/// (with its own two log rows, 5 are kept),
/// two old files and a fresh one in the temp dir.
fn seed(db: &TestDb) -> Tool {
    let mut conn = db.connect();
    scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
    let mut seed = Seed::new(now());
    seed.user("admin");
    let app = seed.app("App1").id();
    let company = seed.company("Comp1", "C1").id();
    let rt = seed.runtemplate(app, company, "h").id();
    seed.task(
        rt,
        scenario::shift(now(), -7200),
        scenario::shift(now(), -60),
        "open",
        0,
    );
    for i in 1..=80 {
        seed.log(
            "info",
            "seed",
            &format!("needle {i}"),
            scenario::shift(now(), -i * 60),
        );
    }
    seed.apply(&mut *conn).expect("seed");
    let mut hk = Tool::new(db);
    hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5");
    make_files(
        &hk.tmp,
        &[("old/a.txt", 48), ("old/b.txt", 48), ("new.txt", 1)],
        tool::now_system(),
    );
    hk
}

fn assert_code(out: &Out, code: i32) {
    assert_eq!(
        out.code, code,
        "exit code\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

/// A real run of the three duties; its run id.
fn run(hk: &Tool) -> String {
    let out = hk.run(&["run", "--duty", DUTIES, "--format", "json"]);
    assert_code(&out, 0);
    out.json()["run_id"].as_str().expect("a run id").to_owned()
}

fn both(out: &Out) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

fn journal_dir(hk: &Tool) -> PathBuf {
    hk.state.join("journal")
}

/// Every `.hkp` payload blob in the journal.
fn blobs(hk: &Tool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(journal_dir(hk).join("payloads")) else {
        return out;
    };
    for dir in dirs.flatten() {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "hkp") {
                out.push(f.path());
            }
        }
    }
    out
}

fn segments(hk: &Tool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(journal_dir(hk))
        .expect("the journal dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "hkj"))
        .collect();
    out.sort();
    out
}

fn verify(hk: &Tool) -> Out {
    hk.run(&["journal", "verify"])
}

backend_test!(
    fn list_show_and_find_say_what_a_run_did(db) {
        let hk = seed(db);
        // Before any run: an empty journal, without a database configured.
        let bare = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"))
            .env_clear()
            .arg("--env-file").arg(&hk.env_file)
            .arg("--state-dir").arg(&hk.state)
            .args(["journal", "list"])
            .output()
            .unwrap();
        assert_eq!(bare.status.code(), Some(0), "{}", String::from_utf8_lossy(&bare.stderr));
        let text = String::from_utf8_lossy(&bare.stdout);
        assert!(text.contains("no runs in the journal at"), "{text}");
        assert!(!hk.state.exists(), "journal list created the state directory");

        let id = run(&hk);
        let list = hk.run(&["journal", "list"]);
        assert_code(&list, 0);
        let line = list.stdout.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{id} not listed:\n{}", list.stdout));
        for part in [" run ", " ok ", "LogPruning 77", "StaleTaskFinalization 1", "DiskTempFileCleanup 2", "yes"] {
            assert!(line.contains(part), "{part:?} missing in {line:?}");
        }
        let json = hk.run(&["journal", "list", "--format", "json"]).json();
        assert_eq!(json["format"], "housekeeper.journal.list/v1");
        let runs = json["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["run_id"], id.as_str());
        assert_eq!(runs[0]["undo"], "yes");
        assert_eq!(runs[0]["files_moved"], 2);

        // show, for people: the deleted rows with every column, the update's before → after,
        // the files with their metadata.
        let show = hk.run(&["journal", "show", &id]);
        assert_code(&show, 0);
        for part in [
            format!("run {id} (run)"),
            "== LogPruning: ok, 77 affected".to_owned(),
            "deleted log: id=3, ".to_owned(),
            "message=\"needle 3\"".to_owned(),
            "severity=\"info\"".to_owned(),
            "updated task id=1: ".to_owned(),
            "state: \"open\" → \"missed\"".to_owned(),
            format!("{} → ", hk.tmp.join("old/a.txt").display()),
            "now in quarantine".to_owned(),
            "blake3 ".to_owned(),
            "undo: yes".to_owned(),
            "… and 27 more log rows; --format json lists all".to_owned(),
        ] {
            assert!(show.stdout.contains(&part), "show lacks {part:?}:\n{}", show.stdout);
        }
        // show, for machines.
        let detail = hk.run(&["journal", "show", &id, "--format", "json"]).json();
        assert_eq!(detail["format"], "housekeeper.journal.show/v1");
        let duty = |name: &str| detail["duties"].as_array().unwrap().iter().find(|d| d["duty"] == name).unwrap().clone();
        let pruning = duty("LogPruning");
        let tables: Vec<&serde_json::Value> = pruning["chunks"].as_array().unwrap().iter().flat_map(|c| c["tables"].as_array().unwrap()).filter(|t| t["table"] == "log").collect();
        let deleted: Vec<&serde_json::Value> = tables.iter().flat_map(|t| t["deleted"].as_array().unwrap()).collect();
        assert_eq!(deleted.len(), 77, "JSON lists every row");
        assert!(deleted.iter().any(|row| row.as_array().unwrap().contains(&serde_json::json!({"Text": "needle 3"}))), "{pruning:#}");
        let stale = duty("StaleTaskFinalization");
        let updated = &stale["chunks"][0]["tables"][0]["updated"][0];
        assert!(updated["changed"].as_array().unwrap().contains(&serde_json::json!("state")), "{stale:#}");
        assert!(updated["before"].as_array().unwrap().contains(&serde_json::json!({"Text": "open"})), "{stale:#}");
        assert!(updated["after"].as_array().unwrap().contains(&serde_json::json!({"Text": "missed"})), "{stale:#}");
        assert!(stale["plan"]["items"][0]["reason"]["text"].as_str().unwrap().contains("window ended"), "{stale:#}");
        let files = detail["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| f["outcome"] == "moved" && f["now"] == "in quarantine"), "{files:#?}");

        let unknown = hk.run(&["journal", "show", "20990101T000000Z-nope00"]);
        assert_code(&unknown, 2);
        assert!(unknown.stderr.contains("no run 20990101T000000Z-nope00 in the journal at"), "{}", unknown.stderr);
        assert!(unknown.stderr.contains(&journal_dir(&hk).display().to_string()), "{}", unknown.stderr);
        assert!(unknown.stderr.contains("journal list"), "{}", unknown.stderr);

        // find, by row and by path.
        let found = hk.run(&["journal", "find", "--table", "log", "--id", "3"]);
        assert_code(&found, 0);
        assert!(found.stdout.contains(&format!("run {id} (run")), "{}", found.stdout);
        assert!(found.stdout.contains("LogPruning chunk 0: delete log 3"), "{}", found.stdout);
        assert!(found.stdout.contains("deleted: id=3, ") && found.stdout.contains("message=\"needle 3\""), "{}", found.stdout);
        let task = hk.run(&["journal", "find", "--table", "task", "--id", "1", "--format", "json"]).json();
        assert_eq!(task["rows"].as_array().unwrap().len(), 1, "{task:#}");
        assert_eq!(task["rows"][0]["run_id"], id.as_str());
        assert!(task["rows"][0]["updated"][0]["changed"].as_array().unwrap().contains(&serde_json::json!("state")), "{task:#}");
        let path = hk.tmp.join("old/a.txt").display().to_string();
        let by_path = hk.run(&["journal", "find", "--path", &path]);
        assert_code(&by_path, 0);
        assert!(by_path.stdout.contains(&format!("run {id} (run")), "{}", by_path.stdout);
        assert!(by_path.stdout.contains("moved, now in quarantine"), "{}", by_path.stdout);
        assert!(by_path.stdout.contains("blake3 "), "{}", by_path.stdout);
        let nothing = hk.run(&["journal", "find", "--table", "log", "--id", "79"]);
        assert_code(&nothing, 0);
        assert!(nothing.stdout.contains("no run in the journal at"), "{}", nothing.stdout);

        let ok = verify(&hk);
        assert_code(&ok, 0);
        assert!(ok.stdout.contains("journal ok: "), "{}", ok.stdout);
        assert!(ok.stdout.contains("anchor matched"), "{}", ok.stdout);
        assert!(ok.stdout.contains("2 quarantined file(s) checked"), "{}", ok.stdout);

        // An unreachable database is a warning: the anchors are not checked, the rest is.
        let mut unreachable = hk.clone();
        unreachable.url = format!("postgres://hk@127.0.0.1:{}/nope", crate::support::closed_port());
        let out = verify(&unreachable);
        assert_code(&out, 0);
        assert!(out.stdout.contains("warning: anchors not checked: "), "{}", out.stdout);
        assert!(out.stdout.contains("journal ok: "), "{}", out.stdout);
    }
);

backend_test!(
    fn verify_names_each_kind_of_damage(db) {
        let hk = seed(db);
        let first = run(&hk);
        assert_code(&verify(&hk), 0);
        let dir = journal_dir(&hk);

        // A flipped byte inside a record of a segment.
        let records: Vec<_> = read_records(&dir).unwrap().map(|r| r.unwrap()).collect();
        let target = &records[3];
        let segment = dir.join(&target.location.file);
        let original = std::fs::read(&segment).unwrap();
        let mut bytes = original.clone();
        let at = usize::try_from(target.location.offset + target.frame_len / 2).unwrap();
        bytes[at] ^= 0x40;
        std::fs::write(&segment, &bytes).unwrap();
        let out = verify(&hk);
        assert_code(&out, 3);
        let place = format!("{} at byte {}", target.location.file, target.location.offset);
        assert!(both(&out).contains(&place), "the damage is not placed at {place}:\n{}", both(&out));
        assert!(both(&out).contains(&format!("at record {}", target.seq)), "{}", both(&out));
        std::fs::write(&segment, &original).unwrap();
        assert_code(&verify(&hk), 0);

        // A deleted payload blob.
        let payload = records
            .iter()
            .find_map(|r| match &r.record {
                Record::ChunkOutcome { status: ChunkStatus::Committed, payload: Some(p), .. } => Some(p.clone()),
                _ => None,
            })
            .unwrap();
        let hex = payload.digest.to_hex();
        let blob = dir.join("payloads").join(&hex[..2]).join(format!("{hex}.hkp"));
        let kept = std::fs::read(&blob).unwrap();
        std::fs::remove_file(&blob).unwrap();
        let out = verify(&hk);
        assert_code(&out, 3);
        assert!(both(&out).contains("payload_missing"), "{}", both(&out));
        assert!(both(&out).contains(&hex), "{}", both(&out));
        std::fs::write(&blob, &kept).unwrap();
        assert_code(&verify(&hk), 0);

        // An altered quarantined file.
        let quarantined = hk.state.join("quarantine").join(&first).join("old/a.txt");
        let content = std::fs::read(&quarantined).unwrap();
        std::fs::write(&quarantined, b"tampered\n").unwrap();
        let out = verify(&hk);
        assert_code(&out, 3);
        assert!(both(&out).contains(&quarantined.display().to_string()), "{}", both(&out));
        assert!(both(&out).contains(&format!("quarantine of run {first}")), "{}", both(&out));
        assert!(both(&out).contains("was altered"), "{}", both(&out));
        std::fs::write(&quarantined, &content).unwrap();
        assert_code(&verify(&hk), 0);

        // A journal cut back to before the last run, while the database keeps its anchors.
        let second = run(&hk);
        let records: Vec<_> = read_records(&dir).unwrap().map(|r| r.unwrap()).collect();
        let start = records
            .iter()
            .find(|r| matches!(&r.record, Record::RunStart { run_id, .. } if *run_id == second))
            .unwrap();
        let saved: Vec<(PathBuf, Vec<u8>)> = segments(&hk).into_iter().map(|p| { let b = std::fs::read(&p).unwrap(); (p, b) }).collect();
        let cut = dir.join(&start.location.file);
        for (path, _) in &saved {
            if *path > cut {
                std::fs::remove_file(path).unwrap();
            }
        }
        let file = std::fs::OpenOptions::new().write(true).open(&cut).unwrap();
        file.set_len(start.location.offset).unwrap();
        drop(file);
        let out = verify(&hk);
        assert_code(&out, 3);
        assert!(both(&out).contains("truncated"), "{}", both(&out));
        assert!(both(&out).contains("anchor MISMATCH"), "{}", both(&out));
        for (path, bytes) in &saved {
            std::fs::write(path, bytes).unwrap();
        }
        let out = verify(&hk);
        assert_code(&out, 0);
        assert!(out.stdout.contains("anchor matched"), "{}", out.stdout);
    }
);

backend_test!(
    fn quarantine_expire_destroys_payloads_and_files_and_the_journal_still_verifies(db) {
        let hk = seed(db);
        let id = run(&hk);
        let list = hk.run(&["quarantine", "list"]);
        assert_code(&list, 0);
        let line = list.stdout.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{}", list.stdout));
        assert!(line.contains(" 2 ") && line.ends_with("yes"), "{line}");
        let json = hk.run(&["quarantine", "list", "--format", "json"]).json();
        assert_eq!(json["runs"][0]["quarantined"].as_array().unwrap().len(), 2, "{json:#}");
        assert!(!blobs(&hk).is_empty());

        let out = hk.run(&["quarantine", "expire", "--older-than", "0s"]);
        assert_code(&out, 0);
        assert!(out.stdout.contains("1 run(s): "), "{}", out.stdout);
        assert!(out.stdout.contains("2 quarantined file(s)"), "{}", out.stdout);
        assert!(blobs(&hk).is_empty(), "payloads left: {:?}", blobs(&hk));
        assert!(!hk.state.join("quarantine").join(&id).exists(), "the run's quarantine is still there");

        let ok = verify(&hk);
        assert_code(&ok, 0);
        assert!(ok.stdout.contains("journal ok"), "{}", ok.stdout);
        let list = hk.run(&["journal", "list"]);
        let line = list.stdout.lines().find(|l| l.starts_with(&id)).unwrap();
        assert!(line.ends_with("past undo window"), "{line}");
        assert!(list.stdout.lines().any(|l| l.contains(" maintenance ")), "{}", list.stdout);
        let show = hk.run(&["journal", "show", &id]);
        assert_code(&show, 0);
        assert!(show.stdout.contains("payload expired at the end of the undo window"), "{}", show.stdout);
        assert!(show.stdout.contains("delete log: 1–77 (77 rows)"), "the keys remain: {}", show.stdout);
        assert!(show.stdout.contains("moved, now expired"), "{}", show.stdout);
        let found = hk.run(&["journal", "find", "--table", "log", "--id", "3"]);
        assert!(found.stdout.contains("row images expired"), "{}", found.stdout);
        let empty = hk.run(&["quarantine", "list"]);
        assert!(empty.stdout.contains("no quarantined files in"), "{}", empty.stdout);
        let again = hk.run(&["quarantine", "expire", "--older-than", "0s"]);
        assert_code(&again, 0);
        assert!(again.stdout.contains("nothing to expire"), "{}", again.stdout);
        let bad = hk.run(&["quarantine", "expire", "--older-than", "soon"]);
        assert_code(&bad, 2);
        assert!(bad.stderr.contains("--older-than"), "{}", bad.stderr);

        // Expiry takes the host lock: not while a run holds it.
        let held = hk.stopped_at("after-plan", &["run", "--duty", DUTIES]);
        let locked = hk.run(&["quarantine", "expire", "--older-than", "0s"]);
        tool::kill9(held);
        assert_code(&locked, 75);
        assert!(locked.stderr.contains("another housekeeper holds"), "{}", locked.stderr);
    }
);

backend_test!(
    fn a_run_expires_what_is_past_the_undo_window(db) {
        expires_past_the_undo_window(db, 0, None);
    }
);

backend_test!(
    fn after_a_long_history_a_run_still_expires_what_is_past_the_undo_window(db) {
        expires_past_the_undo_window(db, 200, None);
    }
);

// The journal index the runs store (`STATE_DIR/journal-index`) is a cache the database
// vouches for: an older copy is caught up from the journal; a deleted one, or one edited to
// say there is nothing left to expire, is not used; the run expires exactly the same.
backend_test!(
    fn a_stale_journal_index_is_caught_up_and_the_run_does_the_same(db) {
        expires_past_the_undo_window(db, 3, Some((|path, first| std::fs::write(path, first).unwrap(), false)));
    }
);

backend_test!(
    fn a_deleted_journal_index_is_read_again_and_the_run_does_the_same(db) {
        expires_past_the_undo_window(db, 3, Some((|path, _| std::fs::remove_file(path).unwrap(), false)));
    }
);

backend_test!(
    fn an_edited_journal_index_is_not_used_and_the_run_does_the_same(db) {
        let claim_no_runs = |path: &Path, _: &[u8]| {
            // MessagePack, fields in order: format, journal id, seq, hash, segment, offset,
            // reset, settled, runs.
            let bytes = std::fs::read(path).unwrap();
            let mut index = rmpv::decode::read_value(&mut bytes.as_slice()).unwrap();
            let rmpv::Value::Array(fields) = &mut index else { panic!("{index}") };
            assert_eq!(fields[0].as_str(), Some("housekeeper-journal-index 2"));
            fields[8] = rmpv::Value::Array(Vec::new());
            let mut edited = Vec::new();
            rmpv::encode::write_value(&mut edited, &index).unwrap();
            std::fs::write(path, edited).unwrap();
        };
        expires_past_the_undo_window(db, 3, Some((claim_no_runs, true)));
    }
);

/// What a test does to the stored journal index (given its path and its bytes after the first
/// run), and whether the run must then say it did not use it.
type IndexDamage = (fn(&Path, &[u8]), bool);

/// A run three days after the first (with `history` runs that change nothing in between, and
/// the stored journal index then `damaged`) expires the first's payloads, files and anchors
/// with a one-day undo window.
fn expires_past_the_undo_window(db: &TestDb, history: usize, damaged: Option<IndexDamage>) {
    let hk = seed(db);
    let first = run(&hk);
    assert!(hk.state.join("quarantine").join(&first).exists());
    let index_file = hk.state.join("journal-index");
    let first_index = std::fs::read(&index_file).expect("the run stored the journal index");
    tool::quiet_runs(&hk, history);
    if let Some((damage, _)) = damaged {
        damage(&index_file, &first_index);
    }
    // Three days later, with a one-day undo window: the one clock moved on.
    let mut later = hk.clone();
    let in_three_days = chrono::Utc::now() + chrono::TimeDelta::days(3);
    later.set("MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS", "1").set(
        "HOUSEKEEPER_NOW",
        &in_three_days.format("%Y-%m-%d %H:%M:%S").to_string(),
    );
    let out = later.run(&["run", "--duty", DUTIES, "--format", "json"]);
    assert_code(&out, 0);
    let second = out.json()["run_id"].as_str().expect("a run id").to_owned();
    if let Some((_, said)) = damaged {
        assert_eq!(out.stderr.contains("not used"), said, "{}", out.stderr);
    }
    assert!(
        !hk.state.join("quarantine").join(&first).exists(),
        "the first run's quarantine survived"
    );
    let index = housekeeper::audit::JournalIndex::read(&journal_dir(&hk)).unwrap();
    let old = index.run(&first).unwrap();
    assert!(!old.payloads().is_empty());
    for p in old.payloads() {
        assert!(
            old.expired_payloads.contains(&p.digest),
            "no expiry record for payload {}",
            p.digest
        );
        let hex = p.digest.to_hex();
        let blob = journal_dir(&hk)
            .join("payloads")
            .join(&hex[..2])
            .join(format!("{hex}.hkp"));
        assert!(!blob.exists(), "payload {hex} of the first run survived");
    }
    assert!(!blobs(&hk).is_empty(), "the second run's own payloads stay");
    let list = hk.run(&["journal", "list"]);
    let line = list.stdout.lines().find(|l| l.starts_with(&first)).unwrap();
    assert!(line.ends_with("past undo window"), "{line}");
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&second))
        .unwrap();
    assert!(!line.ends_with("past undo window"), "{line}");
    assert_eq!(
        anchors_of(db, &first),
        0,
        "the first run's anchors were pruned"
    );
    assert!(anchors_of(db, &second) > 0, "the second run's anchors stay");
    let ok = verify(&hk);
    assert_code(&ok, 0);
    assert!(ok.stdout.contains("anchor matched"), "{}", ok.stdout);
}

/// Rows of `housekeeper_anchor` for one run.
fn anchors_of(db: &TestDb, run_id: &str) -> i64 {
    let mut conn = db.connect();
    let mut view = conn.snapshot().expect("snapshot");
    let d = *view.dialect();
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE {} = ?",
        d.quote("housekeeper_anchor"),
        d.quote("run_id")
    );
    view.query_scalar(&sql, &[housekeeper_journal::Value::Text(run_id.to_owned())])
        .expect("count anchors")
        .and_then(|v| v.as_i64())
        .expect("a count")
}

#[test]
fn journal_commands_without_a_journal_or_database() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("empty.env");
    std::fs::write(&env, "").unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"))
            .env_clear()
            .arg("--env-file")
            .arg(&env)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = run(&["journal", "verify"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("nothing to verify"), "{text}");
    assert!(
        text.contains("anchors not checked: no database configured"),
        "{text}"
    );
    let (code, text) = run(&["quarantine", "list"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("no quarantined files"), "{text}");
    let (code, text) = run(&["quarantine", "expire"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("nothing to expire"), "{text}");
    let (code, text) = run(&["journal", "find", "--path", "/nowhere"]);
    assert_eq!(code, Some(0), "{text}");
    let _ = Path::new("/");
}

/// A directory copied recursively (the golden journals are read, never changed).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from)
        .expect("read the original")
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

backend_test!(
    fn a_journal_of_format_version_1_goes_on_in_a_version_2_segment_and_verifies(db) {
        // The journal an earlier housekeeper wrote (two runs, 11 records, one segment of
        // version 1), as the state directory holds it on upgrade.
        let hk = seed(db);
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("journal/tests/vectors/v1/good");
        copy_dir(&golden, &journal_dir(&hk));
        let old_segment = std::fs::read(&segments(&hk)[0]).expect("the version-1 segment");

        run(&hk);

        let files = segments(&hk);
        assert_eq!(files.len(), 2, "the run went on in a new segment: {files:?}");
        assert_eq!(std::fs::read(&files[0]).unwrap(), old_segment, "the version-1 segment is untouched");
        let new_segment = std::fs::read(&files[1]).unwrap();
        assert_eq!(new_segment[8..10], [0, 2], "the new segment is of format version 2");
        assert!(files[1].ends_with("segment-00000000000000000012.hkj"), "{files:?}");
        let out = verify(&hk);
        assert_code(&out, 0);
        assert!(out.stdout.contains(" in 2 segment(s)"), "{}", out.stdout);
        let out = hk.run(&["journal", "show", "20240131T235958Z-a1b2c3"]);
        assert_code(&out, 0);
        assert!(out.stdout.contains("OrphanedJobCleanup"), "{}", both(&out));
    }
);

backend_test!(
    fn old_months_are_folded_out_of_the_journal_and_it_still_verifies_and_runs(db) {
        let mut hk = seed(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS", "1");
        hk.set("MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS", "40");
        let mut runs = Vec::new();
        for (i, now) in [
            "2026-08-10 09:00:00",
            "2026-09-10 09:00:00",
            "2026-10-10 09:00:00",
            "2026-11-10 09:00:00",
            "2026-12-10 09:00:00",
            "2027-01-10 09:00:00",
        ]
        .into_iter()
        .enumerate()
        {
            hk.set("HOUSEKEEPER_NOW", now);
            let out = hk.run(&["run", "--duty", "LogPruning", "--format", "json"]);
            assert_code(&out, 0);
            runs.push(out.json()["run_id"].as_str().expect("a run id").to_owned());
            // A segment per month. A month is folded away once the next month's first run
            // started more than 40 days ago (so every run of the month did): August and
            // September at the November run, October and November at the January run.
            let want = [1, 2, 3, 2, 3, 2][i];
            assert_eq!(segments(&hk).len(), want, "after the run of {now}");
        }
        let out = hk.run(&["journal", "verify", "--format", "json"]);
        assert_code(&out, 0);
        let doc = out.json();
        assert_eq!(doc["anchor"]["status"], "matched", "{doc:#}");
        let before = doc["folded"]["before_seq"].as_u64().expect("a folded start");
        assert!(doc["folded"]["record_seq"].as_u64().unwrap() > before, "{doc:#}");
        let out = verify(&hk);
        assert!(out.stdout.contains(&format!("records 1 to {before} were folded away")), "{}", out.stdout);
        let list = hk.run(&["journal", "list", "--format", "json"]).json();
        let listed: Vec<&str> = list["runs"].as_array().unwrap().iter()
            .map(|r| r["run_id"].as_str().unwrap()).collect();
        assert_eq!(listed, [runs[4].as_str(), runs[5].as_str()], "only December and January remain");

        // The next run needs no reset, and the journal still verifies whole.
        hk.set("HOUSEKEEPER_NOW", "2027-01-28 09:00:00");
        let out = hk.run(&["run", "--duty", "LogPruning"]);
        assert_code(&out, 0);
        assert_code(&verify(&hk), 0);

        // Without the fold's anchor in the database nothing vouches for the missing records.
        let mut conn = db.connect();
        let mut tx = conn.begin().expect("begin");
        tx.execute("DELETE FROM housekeeper_anchor WHERE duty = 'segments_folded'", &[])
            .expect("delete the fold anchors");
        tx.commit().expect("commit");
        let out = verify(&hk);
        assert_code(&out, 3);
        assert!(out.stdout.contains("which the database holds no anchor of"), "{}", both(&out));

        // The oldest remaining segment removed by hand: records are missing and nothing says
        // they were folded.
        std::fs::remove_file(&segments(&hk)[0]).unwrap();
        let out = verify(&hk);
        assert_code(&out, 3);
        assert!(out.stdout.contains("no segments_folded record says they were folded"), "{}", both(&out));
    }
);
