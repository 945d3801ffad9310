//! Reading the journal for people and auditors: the run index (`index`), what a run did item
//! by item with its before/after values (`show`), which runs touched a row or a file
//! (`find`), and the full verification of journal, payloads, database anchors and quarantine
//! (`verify`), the proof of erasure of the retention policies' work (`erasures`); `undo_state`
//! what undo runs restored of a run and what remains; `payloads` reads plan documents and row
//! images back; `history` gives the
//! duties what they need of earlier runs (holds after an undo, retention marks).
//!
//! Everything here only reads: it never appends to the journal, never moves or removes a
//! file and never writes to the database. Destroying payloads and quarantined files at the
//! end of the undo window is `apply::expiry`'s job alone.

pub mod erasures;
pub mod find;
pub mod history;
pub mod index;
pub mod payloads;
pub mod set_aside;
pub mod show;
pub mod undo_state;
pub mod verify;

pub use index::{ChunkInfo, DutyInfo, FileInfo, JournalIndex, RunInfo};
pub use undo_state::{DutyUndo, RestoredItems};
