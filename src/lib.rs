//! housekeeper — the maintenance tool of the MultiFlexi job platform.
//!
//! Where things live (ARCHITECTURE.md says what each must never do):
//! - `cli`: arguments, logging, dispatch; `exit`: the process exit codes.
//! - `config`: variables from flags, environment, env file; strict parsing.
//! - `db`: the database layer — one file per engine behind one small trait set, and the
//!   `Dialect` that holds every engine difference.
//! - `duties`: the eight duties, one file each (gather + pure decide + re-check).
//! - `plan`: the plan model (items, reasons, `RowKey`), its rendering and the narrowing of
//!   saved plans.
//! - `apply`: the executor (chunks, file batches, anchors), recovery, expiry, the trust check
//!   of the journal before acting.
//! - `undo`: inverse plans of a run and the prediction of their conflicts.
//! - `audit`: reading the journal (`journal list|show|find|verify`).
//! - `quarantine`: every file move and removal.
//! - `report`: run and duty results, JSON, monitoring (Zabbix, the Prometheus metrics file).
//! - `session`: the one path of every real run (open → duties → finish).
//! - `commands`: one module per subcommand; `manpage`: the man page.
//! - `state`: the state directory, locks, the running user (root acts as the directory's owner), atomic writes (private files, the metrics file).
//! - `clock`: the one reader of the wall clock.
//! - `text`: the escaping of untrusted text (names, values, paths) in human output.
//!
//! The journal format lives in the `housekeeper-journal` crate (`journal/`); the test and demo
//! databases (schema fixtures, seeded rows, dumps) in the `housekeeper-scenario` crate
//! (`tests/scenario/`).

// No function over 150 lines (clippy.toml sets the threshold; CI denies warnings).
#![warn(clippy::too_many_lines)]

pub mod apply;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod duties;
pub mod exit;
pub mod manpage;
pub mod plan;
pub mod quarantine;
pub mod report;
pub mod session;
pub mod state;
pub mod text;
pub mod undo;

#[cfg(test)]
mod rules {
    //! Rules of ARCHITECTURE.md that no compiler lint expresses, checked over the sources.

    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// No source file of the tool, the journal crate or the scenario crate reaches 900 lines: a file that
    /// grows that long holds more than one concern and is split along them.
    #[test]
    fn no_source_file_reaches_900_lines() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        sources(&root.join("src"), &mut files);
        sources(&root.join("journal/src"), &mut files);
        sources(&root.join("tests/scenario/src"), &mut files);
        let long: Vec<String> = files
            .iter()
            .filter_map(|f| {
                let lines = std::fs::read_to_string(f).ok()?.lines().count();
                (lines >= 900).then(|| format!("{} ({lines} lines)", f.display()))
            })
            .collect();
        assert!(
            long.is_empty(),
            "split these along their concerns: {long:?}"
        );
    }

    #[test]
    fn engine_branches_live_in_the_database_layer() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        // The database layer and the configuration that names the engine.
        let allowed = ["db", "config"].map(|d| src.join(d));
        // Built here, so this file does not name it.
        let needle = ["Engine", "::"].concat();
        let offenders: Vec<String> = files
            .iter()
            .filter(|f| !allowed.iter().any(|a| f.starts_with(a)))
            .filter(|f| {
                std::fs::read_to_string(f)
                    .expect("a readable source")
                    .contains(&needle)
            })
            .map(|f| f.display().to_string())
            .collect();
        assert!(
            offenders.is_empty(),
            "branch on the engine only in src/db (ask the Dialect for a capability): {offenders:?}"
        );
    }
}
