//! The housekeeper journal: a zstd-compressed, blake3 hash-chained, append-only record of
//! every plan, change, file move, undo and expiry the housekeeper makes.
//!
//! This crate is pure — bytes in, records and verdicts out — except for the `store` module,
//! the only code that touches the filesystem. It knows nothing about databases. The normative
//! description of the on-disk format is `FORMAT.md` next to this crate's `Cargo.toml`.

pub mod record;
pub mod value;

pub use record::*;
pub use value::{DateTimeValue, TimeValue, Value};
