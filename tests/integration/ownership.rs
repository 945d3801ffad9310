//! The state directory as operators meet it. Commands run as root act as its owner: every
//! file they create there (lock file, journal, payloads, quarantined files) belongs to the
//! service user, so an operator's `sudo housekeeper …` never locks the hourly service out. A
//! full or unwritable state directory is exit 1 naming the path, not a damaged journal.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support::tool::{make_files, now_system, seed_log, Tool};

/// `nobody`, the service user of this test.
const OWNER: u32 = 65_534;

/// Every path under `dir` (itself included) with an owner other than `uid`.
fn not_owned_by(dir: &Path, uid: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.uid() != uid {
            out.push(format!("{} (uid {})", path.display(), meta.uid()));
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    out
}

fn chown_tree(dir: &Path, uid: u32) {
    let status = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "chown -R {}", dir.display());
}

backend_test!(
    fn root_acts_as_the_owner_of_the_state_directory(db) {
        if !rustix::process::geteuid().is_root() {
            eprintln!("not root: the switch to the state directory's owner cannot be tested here");
            return;
        }
        seed_log(db, 30);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5");
        let old = now_system() - std::time::Duration::from_secs(3 * 86_400);
        make_files(&hk.tmp, &[("report.csv", 100), ("sub/out.json", 10)], old);
        std::fs::create_dir_all(&hk.state).unwrap();
        // The test's directory (the SQLite file, the state and temp dirs) is the service's.
        chown_tree(db.dir(), OWNER);

        let out = hk.run(&["run", "--format", "json"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("running as nobody, the owner of"), "{}", out.stderr);
        let run_id = out.json()["run_id"].as_str().unwrap().to_owned();
        for args in [
            vec!["doctor"],
            vec!["journal", "list"],
            vec!["journal", "verify"],
            vec!["undo", run_id.as_str()],
        ] {
            let out = hk.run(&args);
            assert_ne!(out.code, 2, "{args:?}: {out:?}");
            assert!(!out.stderr.contains("Permission denied"), "{args:?}: {}", out.stderr);
        }
        let stray = not_owned_by(&hk.state, OWNER);
        assert!(stray.is_empty(), "files not owned by the service user: {stray:#?}");
        let stray = not_owned_by(&hk.tmp, OWNER);
        assert!(stray.is_empty(), "restored files not owned by the service user: {stray:#?}");
        assert!(hk.tmp.join("report.csv").exists(), "the undo put the file back");
    }
);

backend_test!(
    fn a_full_state_directory_is_exit_1_naming_the_path_not_damage(db) {
        if !rustix::process::geteuid().is_root() {
            eprintln!("not root: no file system can be mounted full here");
            return;
        }
        seed_log(db, 10);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5");
        std::fs::create_dir_all(&hk.state).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
            .arg(&hk.state)
            .status()
            .unwrap();
        assert!(mounted.success(), "mount a small tmpfs on the state directory");
        // A state directory in use (lock file, journal), then full.
        assert_eq!(hk.run(&["journal", "list"]).code, 0);
        let filler = hk.state.join("filler");
        let _ = std::fs::write(&filler, vec![0_u8; 256 * 1024]);
        let out = hk.run(&["run"]);
        let _ = std::fs::remove_file(&filler);
        let unmounted = std::process::Command::new("umount").arg(&hk.state).status().unwrap();
        assert!(unmounted.success());
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stderr.contains("No space left on device"), "{}", out.stderr);
        assert!(out.stderr.contains("hint: free space on the file system of"), "{}", out.stderr);
        assert!(!out.stderr.contains("damage"), "a full disk is not damage: {}", out.stderr);
        // Room again: the next run works and the journal verifies.
        assert_eq!(hk.run(&["run"]).code, 0);
        assert_eq!(hk.run(&["journal", "verify"]).code, 0);
    }
);
