//! The blake3 hash chain (FORMAT.md §5): journal identity, genesis value, record hashes, heads.
//!
//! Owns what exactly is hashed. Pure: no I/O, no clock, no randomness (a new journal id is
//! drawn by `store`, the only module that touches the system).

use std::fmt;

use crate::record::Digest;

/// The 16-byte identifier of a journal, written in every segment header and seeding the chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JournalId(pub [u8; 16]);

impl JournalId {
    /// 32 lowercase hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 32 hex digits.
    #[must_use]
    pub fn from_hex(text: &str) -> Option<JournalId> {
        let mut out = [0u8; 16];
        parse_hex(text, &mut out)?;
        Some(JournalId(out))
    }
}

impl fmt::Display for JournalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for JournalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JournalId({})", self.to_hex())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn parse_hex(text: &str, out: &mut [u8]) -> Option<()> {
    if text.len() != out.len() * 2 || !text.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(())
}

/// The newest record of a chain: its sequence number and hash. `seq` 0 is the empty journal,
/// whose hash is the genesis value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: Digest,
}

impl ChainHead {
    /// The head of an empty journal with this id.
    #[must_use]
    pub fn genesis(id: &JournalId) -> ChainHead {
        ChainHead {
            seq: 0,
            hash: genesis(id),
        }
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {} hash {}", self.seq, self.hash)
    }
}

/// The ASCII prefix of the genesis input (FORMAT.md §5.1).
pub const GENESIS_PREFIX: &[u8; 30] = b"housekeeper-journal/v1/genesis";

/// `BLAKE3("housekeeper-journal/v1/genesis" ‖ journal_id)`.
#[must_use]
pub fn genesis(id: &JournalId) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(GENESIS_PREFIX);
    h.update(&id.0);
    Digest(*h.finalize().as_bytes())
}

/// `BLAKE3(prev ‖ be64(seq) ‖ body)` where `body` is the uncompressed canonical record.
#[must_use]
pub fn record_hash(prev: &Digest, seq: u64, body: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&prev.0);
    h.update(&seq.to_be_bytes());
    h.update(body);
    Digest(*h.finalize().as_bytes())
}

/// The first 8 bytes of `BLAKE3(bytes)`: the header and body checks of FORMAT.md §3–4.
#[must_use]
pub fn check8(bytes: &[u8]) -> [u8; 8] {
    let h = blake3::hash(bytes);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.as_bytes()[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_ids_round_trip_through_hex() {
        let id = JournalId([0xab; 16]);
        assert_eq!(JournalId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(JournalId::from_hex("ab"), None);
        assert_eq!(JournalId::from_hex(&"zz".repeat(16)), None);
    }

    #[test]
    fn the_genesis_input_is_the_prefix_then_the_id() {
        let id = JournalId([1; 16]);
        let mut input = GENESIS_PREFIX.to_vec();
        input.extend_from_slice(&[1; 16]);
        assert_eq!(genesis(&id).0, *blake3::hash(&input).as_bytes());
    }

    #[test]
    fn record_hash_covers_prev_seq_and_body() {
        let prev = Digest([9; 32]);
        let base = record_hash(&prev, 1, b"x");
        assert_ne!(base, record_hash(&Digest([8; 32]), 1, b"x"));
        assert_ne!(base, record_hash(&prev, 2, b"x"));
        assert_ne!(base, record_hash(&prev, 1, b"y"));
    }
}
