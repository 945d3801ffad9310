//! Reading the journal for people and auditors: the run index (`index`), what a run did item
//! by item with its before/after values (`show`), which runs touched a row or a file
//! (`find`), and the full verification of journal, payloads, database anchors and quarantine
//! (`verify`).
//!
//! Everything here only reads: it never appends to the journal, never moves a file and never
//! writes to the database.

pub mod index;

pub use index::{ChunkInfo, DutyInfo, FileInfo, JournalIndex, RunInfo};
