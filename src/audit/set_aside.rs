//! Journals set aside by `housekeeper journal reset`: read (up to their damage) so that their
//! runs stay visible in `journal list` and `journal show`, and so that `undo` can say why such
//! a run cannot be undone.
//!
//! Read-only, like the rest of `audit`.

use std::path::PathBuf;

use serde::Serialize;

use super::JournalIndex;

/// One set-aside journal.
#[derive(Debug)]
pub struct SetAside {
    pub dir: PathBuf,
    pub index: JournalIndex,
    /// The damage that ended reading it, if any.
    pub damage: Option<String>,
}

/// The set-aside journals under `dirs` (oldest first), each read up to its damage. One that
/// cannot be read at all is listed with the reason and no runs.
#[must_use]
pub fn read_all(dirs: &[PathBuf]) -> Vec<SetAside> {
    dirs.iter()
        .map(|dir| match JournalIndex::read_lenient(dir) {
            Ok((index, damage)) => SetAside {
                dir: dir.clone(),
                index,
                damage: damage.map(|e| e.to_string()),
            },
            Err(e) => SetAside {
                dir: dir.clone(),
                index: JournalIndex::default(),
                damage: Some(e.to_string()),
            },
        })
        .collect()
}

/// The set-aside journal that recorded `run_id`, if any.
#[must_use]
pub fn find<'a>(set_aside: &'a [SetAside], run_id: &str) -> Option<&'a SetAside> {
    set_aside.iter().find(|s| s.index.run(run_id).is_some())
}

/// Why a run of a set-aside journal cannot be undone.
#[must_use]
pub fn undo_refusal(run_id: &str, aside: &SetAside) -> String {
    format!(
        "run {run_id} is recorded only in the journal set aside in {} by `housekeeper journal \
         reset`{}: its records cannot be trusted to restore anything, so it cannot be undone",
        aside.dir.display(),
        aside
            .damage
            .as_deref()
            .map(|d| format!(" (damage: {d})"))
            .unwrap_or_default()
    )
}

/// `journal list --format json`: one set-aside journal.
#[derive(Debug, Clone, Serialize)]
pub struct SetAsideList {
    pub journal_dir: String,
    pub damage: Option<String>,
    pub runs: Vec<super::show::RunSummary>,
}

impl SetAsideList {
    #[must_use]
    pub fn of(aside: &SetAside) -> SetAsideList {
        SetAsideList {
            journal_dir: aside.dir.display().to_string(),
            damage: aside.damage.clone(),
            runs: aside
                .index
                .runs
                .iter()
                .map(super::show::RunSummary::of)
                .collect(),
        }
    }
}
