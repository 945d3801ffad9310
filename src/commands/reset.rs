//! `housekeeper journal reset --reason TEXT`: the deliberate, audited way forward after the
//! journal was damaged, lost or restored from an older backup. Every command that acts refuses
//! such a journal (exit 3); this one sets it aside, read-only, under
//! `STATE_DIR/set-aside/<time>-<journal id>/`, starts a new journal whose first record names
//! the old journal, its last verifiable record, the damage and the reason, gives the host a
//! new journal id, and anchors the reset in the database, so every later `journal verify`
//! shows it. Runs recorded only in the set-aside journal can still be listed and shown; they
//! cannot be undone.
//!
//! Refuses an intact journal: there is nothing to reset.

use housekeeper_journal::store::set_aside;
use housekeeper_journal::{ChainHead, Digest, Journal, Record, VerifyOptions};

use super::{db_failure, open_database, require_database};
use crate::apply::anchor;
use crate::cli::Failure;
use crate::config::Config;
use crate::exit::Exit;
use crate::state::{self, StateDir};
use crate::text::Escaped;

/// `housekeeper journal reset`.
///
/// # Errors
/// No reason given, no database, the journal is intact, or the set-aside failed.
pub fn command(config: &Config, reason: &str) -> Result<Exit, Failure> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Failure::new(
            Exit::Usage,
            "--reason must say why the journal is reset (it is recorded in the new journal)",
        ));
    }
    let target = require_database(config)?;
    let state = StateDir::new(config.state_dir.clone());
    let dir = state.journal_dir();
    let _host_lock = super::host_lock(&state, "housekeeper journal reset")?;
    let mut conn = open_database(config, target, false)?;
    super::database_lock(&mut *conn)?;
    let old_key = anchor::JournalKey::of(&state);
    let schema = conn
        .introspect()
        .map_err(|e| db_failure("reading the schema", &e))?;
    let anchors = if schema.table(anchor::TABLE).is_some() {
        let mut view = conn
            .snapshot()
            .map_err(|e| db_failure("reading the anchors", &e))?;
        anchor::since(&mut *view, &old_key, 0).map_err(|e| db_failure("reading the anchors", &e))?
    } else {
        Vec::new()
    };
    let has_journal = dir.is_dir();
    let (last, damage, previous) = what_is_wrong(&dir, &anchors, &old_key.to_string())?;

    let stamp = crate::clock::utc_stamp().replace(':', "");
    let aside_name = format!("{stamp}-{previous}");
    let aside = state.set_aside_dir().join(&aside_name);
    if has_journal {
        set_aside(&dir, &aside).map_err(crate::session::journal_failure)?;
    }
    // The new journal has a new id of its own: the old journal's anchors never match it.
    state.forget_legacy_journal_id().map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("removing {}/journal-id: {e}", state.root().display()),
        )
    })?;
    let (journal, _) = Journal::open(&dir).map_err(crate::session::journal_failure)?;
    let new_id = journal.journal_id().to_hex();
    let run_id = state::new_run_id();
    let mut journal = journal;
    let appended = journal
        .append_durable(&Record::JournalReset {
            run_id: run_id.clone(),
            previous_id: previous.clone(),
            last_seq: last.seq,
            last_hash: last.hash,
            damage: damage.clone(),
            set_aside: format!("set-aside/{aside_name}"),
            reason: reason.to_owned(),
            at_utc: crate::clock::utc_stamp(),
            host: state::host_name(),
            user: state::user_name(),
        })
        .map_err(crate::session::journal_failure)?;
    if schema.table(anchor::TABLE).is_none() {
        anchor::ensure_table(&mut *conn)
            .map_err(|e| db_failure("creating housekeeper_anchor", &e))?;
    }
    anchor::record(
        &mut *conn,
        &new_id,
        &run_id,
        RESET_DUTY,
        appended.head(),
        None,
    )
    .map_err(|e| db_failure("anchoring the reset", &e))?;
    journal
        .write_checkpoint(&appended)
        .map_err(crate::session::journal_failure)?;
    let _ = conn.unlock();
    println!(
        "journal reset {run_id}: the damaged journal {previous} (last verifiable record {}) is kept \
         read-only in {}",
        last.seq,
        Escaped(&aside)
    );
    println!("  damage: {}", Escaped(&damage));
    println!("  reason: {}", Escaped(reason));
    println!(
        "  a new journal starts with the reset record; the set-aside journal's runs can be \
         listed and shown (`housekeeper journal list`), not undone"
    );
    Ok(Exit::Ok)
}

/// "No record of the old journal could be verified" in the reset record.
/// What is wrong with the journal in `dir`, judged against the database's `anchors`: the last
/// record that can still be verified, the damage, and the old journal's id. Refuses a journal
/// that verifies, and a missing journal the database anchors nothing of.
fn what_is_wrong(
    dir: &std::path::Path,
    anchors: &[anchor::Anchor],
    old_id: &str,
) -> Result<(ChainHead, String, String), Failure> {
    let expected = crate::apply::trust::heads(anchors);
    let found = if dir.is_dir() {
        let options = VerifyOptions {
            expected,
            chain_only: true,
            ..VerifyOptions::default()
        };
        match housekeeper_journal::verify_with(dir, &options) {
            Ok(report) if report.is_ok() => {
                return Err(Failure::new(
                    Exit::Failed,
                    format!(
                        "refused: the journal in {} verifies against the database's {} anchor(s); \
                         there is nothing to reset",
                        dir.display(),
                        anchors.len()
                    ),
                )
                .hint("`housekeeper journal verify` checks payloads and the quarantine too"));
            }
            Ok(report) => (
                report.head.unwrap_or(NONE_VERIFIED),
                report
                    .first_damage()
                    .map_or_else(|| "damaged".to_owned(), ToString::to_string),
                report
                    .journal_id
                    .map_or_else(|| old_id.to_owned(), |id| id.to_string()),
            ),
            Err(e) => (NONE_VERIFIED, e.to_string(), old_id.to_owned()),
        }
    } else if anchors.is_empty() {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "refused: there is no journal at {} and the database anchors none: there is \
                 nothing to reset (the next run starts a new journal)",
                dir.display()
            ),
        ));
    } else {
        (
            NONE_VERIFIED,
            format!(
                "the journal at {} is missing while the database anchors {} of its records",
                dir.display(),
                anchors.len()
            ),
            old_id.to_owned(),
        )
    };
    Ok(found)
}

const NONE_VERIFIED: ChainHead = ChainHead {
    seq: 0,
    hash: Digest([0; 32]),
};

/// The `duty` of a reset's anchor row.
pub const RESET_DUTY: &str = "journal-reset";
