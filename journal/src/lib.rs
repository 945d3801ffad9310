//! The housekeeper journal: a zstd-compressed, blake3 hash-chained, append-only record of
//! every plan, change, file move, undo and expiry the housekeeper makes, with the row images
//! and other bulky data in separate payload blobs addressed by digest.
//!
//! This crate is pure — bytes in, records and verdicts out — except for the `store` module,
//! the only code that touches the filesystem. It knows nothing about databases. The normative
//! description of the on-disk format is `FORMAT.md` next to this crate's `Cargo.toml`.
//!
//! Modules: `cbor` (the canonical CBOR profile), `codec` (values and records), `chain` (hashes,
//! ids, heads), `frame` (segment and frame layouts), `scan` (streaming chain checks), `payload`
//! (blob bodies and files), `verify` (the verdict), `store` (the directory on disk), `fuzzing`
//! (the decoder entry point driven by the fuzz target and a property test).

// No function over 150 lines (the workspace clippy.toml sets the threshold).
#![warn(clippy::too_many_lines)]

pub mod cbor;
pub mod chain;
pub mod codec;
pub mod error;
pub mod frame;
pub mod fuzzing;
pub mod payload;
pub mod record;
pub mod scan;
pub mod store;
pub mod value;
pub mod verify;

pub use chain::{ChainHead, JournalId};
pub use error::{Damage, DamageClass, JournalError, Location};
pub use payload::{PayloadEntry, RowRole};
pub use record::*;
pub use scan::Folded;
pub use store::{
    open_payload, read_records, verify, verify_with, Appended, Journal, JournalOptions, OpenReport,
    PayloadReader, PayloadWriter, RecordEntry, RecordIter, TornTailRepair, VerifyOptions,
};
pub use value::{DateTimeValue, TimeValue, Value};
pub use verify::VerifyReport;
