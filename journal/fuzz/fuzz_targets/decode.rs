//! Fuzz target: arbitrary bytes into every decoder of the journal crate (records, values,
//! payload bodies and blobs, whole segments, frames behind valid checksums). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    housekeeper_journal::fuzzing::decode_any(data);
});
