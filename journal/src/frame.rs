//! Byte layouts of segment headers and record frames (FORMAT.md §2–4), and building frames.
//!
//! Owns the fixed-size headers: their fields, offsets and checks, and segment file names. Pure:
//! it turns bytes into headers and records into frame bytes; reading files, chain state and
//! verdicts live elsewhere (`scan`, `store`).

use crate::chain::{check8, record_hash, JournalId};
use crate::record::Digest;

/// `\x89HKJ\r\n\x1a\n`.
pub const SEGMENT_MAGIC: [u8; 8] = [0x89, b'H', b'K', b'J', 0x0d, 0x0a, 0x1a, 0x0a];
/// `HKJF`.
pub const FRAME_MAGIC: [u8; 4] = *b"HKJF";
/// The format version this writer writes (FORMAT.md §14).
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version this reader reads.
pub const OLDEST_FORMAT_VERSION: u16 = 1;
pub const SEGMENT_HEADER_LEN: usize = 80;
pub const FRAME_HEADER_LEN: usize = 100;
/// Largest uncompressed record (FORMAT.md §13).
pub const MAX_RECORD_LEN: u32 = 1 << 28;
/// Largest compressed record body.
pub const MAX_BODY_LEN: u32 = (1 << 28) + (1 << 20);
/// zstd level for records: small, written rarely, read often.
pub const RECORD_ZSTD_LEVEL: i32 = 3;

/// A parsed segment header. Parsing checks what can be checked without chain state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The format version of the segment's records (FORMAT.md §14): a writer creates segments
    /// of [`FORMAT_VERSION`] only; a reader reads every version from
    /// [`OLDEST_FORMAT_VERSION`] on.
    pub version: u16,
    pub journal_id: JournalId,
    pub first_seq: u64,
    pub prev_hash: Digest,
}

impl SegmentHeader {
    #[must_use]
    pub fn to_bytes(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&self.version.to_be_bytes());
        // 10..12 flags and 12..16 reserved stay zero.
        b[16..32].copy_from_slice(&self.journal_id.0);
        b[32..40].copy_from_slice(&self.first_seq.to_be_bytes());
        b[40..72].copy_from_slice(&self.prev_hash.0);
        let check = check8(&b[..72]);
        b[72..80].copy_from_slice(&check);
        b
    }

    /// Parses and checks magic, version, zero fields and header check. The error explains.
    pub fn parse(b: &[u8; SEGMENT_HEADER_LEN]) -> Result<SegmentHeader, String> {
        if b[0..8] != SEGMENT_MAGIC {
            return Err("not a journal segment (wrong magic)".into());
        }
        if check8(&b[..72]) != b[72..80] {
            return Err("segment header check mismatch (the header was altered)".into());
        }
        let version = u16::from_be_bytes([b[8], b[9]]);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(format!(
                "format version {version} is not supported (this reader knows versions \
                 {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
            ));
        }
        if b[10..16].iter().any(|&x| x != 0) {
            return Err("non-zero flags or reserved bytes in the segment header".into());
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[16..32]);
        let mut prev = [0u8; 32];
        prev.copy_from_slice(&b[40..72]);
        Ok(SegmentHeader {
            version,
            journal_id: JournalId(id),
            first_seq: be64(&b[32..40]),
            prev_hash: Digest(prev),
        })
    }
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// A parsed frame header whose magic, header check and length limits are good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    pub seq: u64,
    pub clen: u32,
    pub ulen: u32,
    pub prev_hash: Digest,
    pub hash: Digest,
    pub body_check: [u8; 8],
}

/// Why 100 bytes are not a usable frame header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameHeaderError {
    BadMagic,
    BadCheck,
    BadLength(String),
}

impl FrameHeader {
    /// Parses and checks magic and header check only (for torn-tail classification).
    pub fn parse_checked(b: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, FrameHeaderError> {
        if b[0..4] != FRAME_MAGIC {
            return Err(FrameHeaderError::BadMagic);
        }
        if check8(&b[..92]) != b[92..100] {
            return Err(FrameHeaderError::BadCheck);
        }
        let mut prev = [0u8; 32];
        prev.copy_from_slice(&b[20..52]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[52..84]);
        let mut body_check = [0u8; 8];
        body_check.copy_from_slice(&b[84..92]);
        Ok(FrameHeader {
            seq: be64(&b[4..12]),
            clen: be32(&b[12..16]),
            ulen: be32(&b[16..20]),
            prev_hash: Digest(prev),
            hash: Digest(hash),
            body_check,
        })
    }

    /// The length limits of FORMAT.md §11.2 step 5.
    pub fn check_lengths(&self) -> Result<(), FrameHeaderError> {
        if self.ulen == 0 || self.ulen > MAX_RECORD_LEN {
            return Err(FrameHeaderError::BadLength(format!(
                "uncompressed length {} outside 1..={MAX_RECORD_LEN}",
                self.ulen
            )));
        }
        if self.clen == 0 || self.clen > MAX_BODY_LEN {
            return Err(FrameHeaderError::BadLength(format!(
                "compressed length {} outside 1..={MAX_BODY_LEN}",
                self.clen
            )));
        }
        Ok(())
    }

    #[must_use]
    pub fn to_bytes(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut b = [0u8; FRAME_HEADER_LEN];
        b[0..4].copy_from_slice(&FRAME_MAGIC);
        b[4..12].copy_from_slice(&self.seq.to_be_bytes());
        b[12..16].copy_from_slice(&self.clen.to_be_bytes());
        b[16..20].copy_from_slice(&self.ulen.to_be_bytes());
        b[20..52].copy_from_slice(&self.prev_hash.0);
        b[52..84].copy_from_slice(&self.hash.0);
        b[84..92].copy_from_slice(&self.body_check);
        let check = check8(&b[..92]);
        b[92..100].copy_from_slice(&check);
        b
    }
}

/// A frame ready to be written: header ‖ compressed body, and the record's chain hash.
#[derive(Debug, Clone)]
pub struct BuiltFrame {
    pub bytes: Vec<u8>,
    pub hash: Digest,
}

/// Why a record cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    TooLarge { len: usize },
    Compress(String),
}

/// Builds the frame for `body` (a canonical record) as record `seq` after `prev`.
pub fn build_frame(
    compressor: &mut zstd::bulk::Compressor<'_>,
    seq: u64,
    prev: &Digest,
    body: &[u8],
) -> Result<BuiltFrame, BuildError> {
    let ulen = u32::try_from(body.len())
        .ok()
        .filter(|&u| u > 0 && u <= MAX_RECORD_LEN)
        .ok_or(BuildError::TooLarge { len: body.len() })?;
    let compressed = compressor
        .compress(body)
        .map_err(|e| BuildError::Compress(e.to_string()))?;
    let clen = u32::try_from(compressed.len())
        .ok()
        .filter(|&c| c <= MAX_BODY_LEN)
        .ok_or(BuildError::TooLarge { len: body.len() })?;
    let hash = record_hash(prev, seq, body);
    let header = FrameHeader {
        seq,
        clen,
        ulen,
        prev_hash: *prev,
        hash,
        body_check: check8(&compressed),
    };
    let mut bytes = Vec::with_capacity(FRAME_HEADER_LEN + compressed.len());
    bytes.extend_from_slice(&header.to_bytes());
    bytes.extend_from_slice(&compressed);
    Ok(BuiltFrame { bytes, hash })
}

/// `segment-<20 digits>.hkj`.
#[must_use]
pub fn segment_file_name(first_seq: u64) -> String {
    format!("segment-{first_seq:020}.hkj")
}

/// The first sequence number in a segment file name, if the name is one.
#[must_use]
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".hkj")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_headers_round_trip_and_every_field_is_checked() {
        let h = SegmentHeader {
            version: FORMAT_VERSION,
            journal_id: JournalId([3; 16]),
            first_seq: 42,
            prev_hash: Digest([5; 32]),
        };
        let b = h.to_bytes();
        assert_eq!(SegmentHeader::parse(&b).unwrap(), h);
        for byte in 0..SEGMENT_HEADER_LEN {
            let mut bad = b;
            bad[byte] ^= 0x10;
            assert!(SegmentHeader::parse(&bad).is_err(), "flip in byte {byte}");
        }
    }

    #[test]
    fn frame_headers_round_trip_and_every_field_is_checked() {
        let h = FrameHeader {
            seq: 7,
            clen: 10,
            ulen: 20,
            prev_hash: Digest([1; 32]),
            hash: Digest([2; 32]),
            body_check: [3; 8],
        };
        let b = h.to_bytes();
        assert_eq!(FrameHeader::parse_checked(&b).unwrap(), h);
        for byte in 0..FRAME_HEADER_LEN {
            let mut bad = b;
            bad[byte] ^= 1;
            assert!(
                FrameHeader::parse_checked(&bad).is_err(),
                "flip in byte {byte}"
            );
        }
    }

    #[test]
    fn segment_names_sort_in_chain_order() {
        assert_eq!(segment_file_name(1), "segment-00000000000000000001.hkj");
        assert_eq!(
            parse_segment_file_name("segment-00000000000000004711.hkj"),
            Some(4711)
        );
        assert_eq!(parse_segment_file_name("segment-4711.hkj"), None);
        assert_eq!(
            parse_segment_file_name("segment-00000000000000004711.hkj.tmp"),
            None
        );
        assert!(segment_file_name(9) < segment_file_name(10));
    }
}
