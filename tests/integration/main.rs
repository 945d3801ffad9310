//! The integration tests: one test binary, one body per behaviour, run on every engine.
//!
//! `support` holds the harness (`backend_test!`, per-test databases); each other module
//! tests one part of the tool against real engines, real files and the real binary.

// Tests build their fixtures with the real clock and damage state on purpose (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[macro_use]
mod support;

mod apply_trust;
mod audit;
mod cli;
mod contracts;
mod daemon;
mod db;
mod doctor;
mod duties_policy;
mod duties_rows;
mod erasures;
mod escaping;
mod executor;
mod keys;
mod monitoring;
mod output_snapshots;
mod ownership;
mod plan_equals_run;
mod schema;
mod trust;
mod undo;
mod undo_selective;
mod waits;
