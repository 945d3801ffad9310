//! Nothing acts on a journal that does not verify: on every engine, a re-hashed (forked)
//! journal, a state directory restored from an older backup, a torn tail that holds an
//! anchored record and a replaced journal id each stop `run`, `undo` and `quarantine expire`
//! with exit 3 and nothing changed (every table, the temp tree and the quarantine); a harmless
//! torn tail is still cut; and `journal reset` is the audited way forward.

use std::path::{Path, PathBuf};

use housekeeper_journal::codec::encode_record;
use housekeeper_journal::frame::{build_frame, SEGMENT_HEADER_LEN};
use housekeeper_journal::{read_records, Record};
use housekeeper_scenario::{self as scenario, SchemaLevel, Seed};

use crate::support::tool::{self, make_files, Out, Tool};
use crate::support::TestDb;

const DUTIES: &str = "LogPruning,DiskTempFileCleanup";

fn now() -> housekeeper_journal::DateTimeValue {
    housekeeper_journal::DateTimeValue::parse(tool::NOW).expect("NOW parses")
}

/// 40 old log rows (the run keeps 5) and two old temp files.
fn seed(db: &TestDb) -> Tool {
    let mut conn = db.connect();
    scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
    let mut seed = Seed::new(now());
    for i in 1..=40 {
        seed.log(
            "info",
            "seed",
            &format!("row {i}"),
            scenario::shift(now(), -i * 60),
        );
    }
    seed.apply(&mut *conn).expect("seed");
    let mut hk = Tool::new(db);
    hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5");
    make_files(
        &hk.tmp,
        &[("old/a.txt", 48), ("old/b.txt", 48)],
        tool::now_system(),
    );
    hk
}

fn both(out: &Out) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

fn assert_code(out: &Out, code: i32) {
    assert_eq!(
        out.code, code,
        "exit code\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

fn run(hk: &Tool) -> String {
    let out = hk.run(&["run", "--duty", DUTIES, "--format", "json"]);
    assert_code(&out, 0);
    out.json()["run_id"].as_str().expect("a run id").to_owned()
}

/// Everything a refused command must leave alone: every table, the temp tree, the state
/// directory (journal, payloads, quarantine) byte for byte.
#[derive(PartialEq)]
struct World {
    db: scenario::Dump,
    tmp: std::collections::BTreeMap<String, scenario::FileState>,
    state: std::collections::BTreeMap<String, scenario::FileState>,
}

impl std::fmt::Debug for World {
    // The state directory's file names and sizes: enough to see what changed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |t: &std::collections::BTreeMap<String, scenario::FileState>| {
            t.iter()
                .map(|(k, v)| format!("{k} ({} bytes)", v.0.len()))
                .collect::<Vec<_>>()
        };
        f.debug_struct("World")
            .field("tables", &self.db.tables.len())
            .field("tmp", &names(&self.tmp))
            .field("state", &names(&self.state))
            .finish_non_exhaustive()
    }
}

fn world(db: &TestDb, hk: &Tool) -> World {
    World {
        db: scenario::dump_database(&mut *db.connect()).expect("dump"),
        tmp: tool::tree(&hk.tmp),
        // The lock file says who last held the lock: not state.
        state: tool::tree(&hk.state)
            .into_iter()
            .filter(|(name, _)| name != "housekeeper.lock")
            .collect(),
    }
}

fn journal_dir(hk: &Tool) -> PathBuf {
    hk.state.join("journal")
}

fn only_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "hkj"))
        .collect();
    assert_eq!(segs.len(), 1, "one segment");
    segs.pop().unwrap()
}

/// Rewrites the journal with `change` applied to its records and every hash recomputed: a
/// chain that is consistent in itself (a forger's work) but not the one the database anchored.
fn forge(dir: &Path, change: impl Fn(&mut Record) -> bool) {
    let seg = only_segment(dir);
    let original = std::fs::read(&seg).unwrap();
    let records: Vec<_> = read_records(dir).unwrap().map(|r| r.unwrap()).collect();
    let mut out = original[..SEGMENT_HEADER_LEN].to_vec();
    let header = housekeeper_journal::frame::SegmentHeader::parse(
        &original[..SEGMENT_HEADER_LEN].try_into().unwrap(),
    )
    .unwrap();
    let mut prev = header.prev_hash;
    let mut compressor = zstd::bulk::Compressor::new(3).unwrap();
    let mut changed = false;
    for entry in records {
        let mut record = entry.record;
        changed |= change(&mut record);
        let frame =
            build_frame(&mut compressor, entry.seq, &prev, &encode_record(&record)).unwrap();
        prev = frame.hash;
        out.extend_from_slice(&frame.bytes);
    }
    assert!(changed, "the forger found the record to change");
    std::fs::write(&seg, out).unwrap();
}

fn assert_refused(out: &Out, what: &str) {
    assert_code(out, 3);
    assert!(
        both(out).contains(what),
        "the message names {what:?}:\n{}",
        both(out)
    );
    assert!(both(out).contains("nothing was changed"), "{}", both(out));
    assert!(
        both(out).contains("journal reset"),
        "the next step is named:\n{}",
        both(out)
    );
}

backend_test!(
    fn a_rehashed_journal_stops_run_undo_and_expire_with_nothing_changed(db) {
        let hk = seed(db);
        let first = run(&hk);
        // The forger points a quarantined file's way back at another path.
        forge(&journal_dir(&hk), |r| match r {
            Record::FileIntent { path, .. } if path.as_bytes().ends_with(b"a.txt") => {
                *path = "/etc/cron.d/evil".into();
                true
            }
            _ => false,
        });
        let before = world(db, &hk);
        assert_refused(&hk.run(&["run", "--duty", DUTIES]), "fork");
        assert_refused(&hk.run(&["undo", &first]), "fork");
        assert_refused(&hk.run(&["quarantine", "expire", "--older-than", "0s"]), "fork");
        assert_eq!(world(db, &hk), before, "nothing changed anywhere");
        assert!(!Path::new("/etc/cron.d/evil").exists());
        assert_code(&hk.run(&["journal", "verify"]), 3);
    }
);

backend_test!(
    fn a_state_directory_restored_from_an_older_backup_is_refused_and_reset_is_the_way_forward(db) {
        let hk = seed(db);
        let first = run(&hk);
        let backup = db.dir().join("backup");
        copy_tree(&hk.state, &backup);
        std::fs::write(hk.tmp.join("old/c.txt"), b"late").unwrap();
        filetime::set_file_mtime(hk.tmp.join("old/c.txt"), filetime::FileTime::from_system_time(tool::now_system() - std::time::Duration::from_secs(40 * 86_400))).unwrap();
        let second = run(&hk);
        // The backup comes back: the database anchors records the journal no longer has.
        std::fs::remove_dir_all(&hk.state).unwrap();
        copy_tree(&backup, &hk.state);
        let before = world(db, &hk);
        let out = hk.run(&["run", "--duty", DUTIES]);
        assert_refused(&out, "truncated");
        assert_refused(&hk.run(&["undo", &first]), "truncated");
        assert_eq!(world(db, &hk), before, "nothing changed, the evidence is kept");
        assert_code(&hk.run(&["journal", "verify"]), 3);

        // The deliberate way forward.
        let out = hk.run(&["journal", "reset", "--reason", "state restored from the nightly backup"]);
        assert_code(&out, 0);
        assert!(out.stdout.contains("set-aside"), "{}", both(&out));
        let aside: Vec<PathBuf> = std::fs::read_dir(hk.state.join("set-aside")).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(aside.len(), 1);
        let seg = only_segment(&aside[0]);
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&seg).unwrap().permissions()) & 0o777, 0o400, "kept read-only");
        // A second reset is refused: the new journal is intact.
        assert_code(&hk.run(&["journal", "reset", "--reason", "again"]), 1);

        let third = run(&hk);
        let out = hk.run(&["journal", "verify"]);
        assert_code(&out, 0);
        assert!(both(&out).contains("journal reset"), "verify shows the reset:\n{}", both(&out));
        assert!(both(&out).contains("state restored from the nightly backup"), "{}", both(&out));
        let out = hk.run(&["journal", "list"]);
        assert_code(&out, 0);
        assert!(out.stdout.contains(&first), "the set-aside run is listed:\n{}", out.stdout);
        assert!(out.stdout.contains(&third), "{}", out.stdout);
        assert!(out.stdout.contains("set aside"), "{}", out.stdout);
        assert!(!out.stdout.contains(&second), "the lost run is not invented:\n{}", out.stdout);
        assert_code(&hk.run(&["journal", "show", &first]), 0);
        let before = world(db, &hk);
        let out = hk.run(&["undo", &first]);
        assert_code(&out, 1);
        assert!(both(&out).contains("set aside"), "{}", both(&out));
        assert_eq!(world(db, &hk), before, "the refused undo changed nothing");
    }
);

backend_test!(
    fn a_torn_tail_is_cut_only_after_the_last_anchored_record(db) {
        let hk = seed(db);
        run(&hk);
        let dir = journal_dir(&hk);
        let seg = only_segment(&dir);
        // Harmless: garbage after the last record (an interrupted write) is cut with a warning.
        let good = std::fs::read(&seg).unwrap();
        let mut torn = good.clone();
        torn.extend_from_slice(&good[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 50]);
        std::fs::write(&seg, &torn).unwrap();
        let out = hk.run(&["run", "--duty", DUTIES]);
        assert_code(&out, 0);
        assert!(both(&out).contains("torn tail"), "{}", both(&out));
        // Harmful: the last run's end record (anchored) cut in half.
        let records: Vec<_> = read_records(&dir).unwrap().map(|r| r.unwrap()).collect();
        let end = records.iter().rev().find(|r| matches!(r.record, Record::RunEnd { .. })).unwrap();
        let bytes = std::fs::read(&seg).unwrap();
        let cut = usize::try_from(end.location.offset + end.frame_len / 2).unwrap();
        std::fs::write(&seg, &bytes[..cut]).unwrap();
        let before = world(db, &hk);
        assert_refused(&hk.run(&["run", "--duty", DUTIES]), "truncated");
        assert_eq!(world(db, &hk), before, "nothing was cut or changed");
    }
);

/// The `journal_id` values of the anchor rows.
fn anchor_ids(db: &TestDb) -> std::collections::BTreeSet<String> {
    let mut conn = db.connect();
    let mut view = conn.snapshot().unwrap();
    view.query("SELECT journal_id FROM housekeeper_anchor", &[])
        .unwrap()
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

backend_test!(
    fn anchors_are_keyed_by_the_journals_own_id_and_an_older_state_directory_is_rekeyed(db) {
        let hk = seed(db);
        let first = run(&hk);
        let chain = housekeeper::apply::anchor::chain_id(&journal_dir(&hk)).expect("a chain id");
        assert_eq!(chain.len(), 32);
        assert_eq!(anchor_ids(db), [chain.clone()].into(), "one identity: the chain's");
        assert!(!hk.state.join("journal-id").exists(), "no second identity");

        // A state directory of an older version: anchors keyed by its `journal-id` file.
        let legacy = "0123456789abcdef";
        db.run_sql(&[&format!("UPDATE housekeeper_anchor SET journal_id = '{legacy}'")]);
        std::fs::write(hk.state.join("journal-id"), legacy).unwrap();
        // Read-only commands accept it as it is and change nothing.
        assert_code(&hk.run(&["journal", "verify"]), 0);
        assert_eq!(anchor_ids(db), [legacy.to_owned()].into());
        assert!(hk.state.join("journal-id").exists());
        // The next run re-keys the anchors to the chain's id and forgets the file.
        let second = run(&hk);
        assert_eq!(anchor_ids(db), [chain.clone()].into());
        assert!(!hk.state.join("journal-id").exists());
        assert_code(&hk.run(&["journal", "verify"]), 0);
        // Stopped between the two (anchors re-keyed, file still there): nothing breaks.
        std::fs::write(hk.state.join("journal-id"), legacy).unwrap();
        run(&hk);
        assert!(!hk.state.join("journal-id").exists());
        assert_eq!(anchor_ids(db), [chain].into());
        // Both earlier runs can still be taken back: their anchors are found.
        assert_code(&hk.run(&["undo", &second]), 0);
        assert_code(&hk.run(&["undo", &first]), 0);
    }
);

backend_test!(
    fn a_journal_whose_anchors_are_gone_is_refused(db) {
        let hk = seed(db);
        run(&hk);
        db.run_sql(&["DELETE FROM housekeeper_anchor"]);
        let before = world(db, &hk);
        let out = hk.run(&["run", "--duty", DUTIES]);
        assert_refused(&out, "no anchor");
        assert_eq!(world(db, &hk), before);
    }
);

backend_test!(
    fn a_missing_payload_stops_undo_with_nothing_changed(db) {
        let hk = seed(db);
        let first = run(&hk);
        let records: Vec<_> = read_records(&journal_dir(&hk)).unwrap().map(|r| r.unwrap()).collect();
        let digest = records.iter().find_map(|r| match &r.record {
            Record::ChunkOutcome { payload: Some(p), .. } => Some(p.digest),
            _ => None,
        }).unwrap().to_hex();
        std::fs::remove_file(journal_dir(&hk).join("payloads").join(&digest[..2]).join(format!("{digest}.hkp"))).unwrap();
        let before = world(db, &hk);
        let out = hk.run(&["undo", &first]);
        assert_code(&out, 3);
        assert!(both(&out).contains(&digest), "{}", both(&out));
        assert_eq!(world(db, &hk), before);
    }
);

fn copy_tree(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}
