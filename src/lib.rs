//! housekeeper — the maintenance tool of the MultiFlexi job platform.
//!
//! Where things live:
//! - `cli`: arguments, logging, dispatch, exit codes (`exit`).
//! - `config`: variables from flags, environment, env file; strict parsing.
//! - `db`: the database layer — one file per engine behind one small trait set.
//! - `duties`: the eight duties, one file each (gather + pure decide).
//! - `text`: the escaping of untrusted text (names, values, paths) in human output.
//! - `scenario`: MultiFlexi schema fixtures, seeded test/demo databases, whole-database dumps.
//!
//! The journal format lives in the `housekeeper-journal` crate (`journal/`).

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
pub mod scenario;
pub mod state;
pub mod text;
pub mod undo;
