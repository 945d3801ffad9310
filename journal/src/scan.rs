//! Streaming scan of the record chain (FORMAT.md §11.1, §11.2, §11.4): segment headers, frames,
//! chain links, the expected head.
//!
//! Owns the order of checks and therefore which damage class a fault gets. Works on any `Read`
//! with constant memory (one record at a time, buffers reused and shrunk after large records).
//! Pure: callers supply the segment bytes and names; this module never opens a file. It does
//! not look at payload blobs (`verify` does).

use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::chain::{genesis, record_hash, ChainHead, JournalId};
use crate::codec::decode_record_of_version;
use crate::error::{Damage, DamageClass, Location};
use crate::frame::{
    parse_segment_file_name, FrameHeader, FrameHeaderError, SegmentHeader, FRAME_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use crate::record::{Digest, Record};

/// Buffers above this size are dropped after use so one huge record does not pin memory.
const KEEP_BUFFER: usize = 8 << 20;

/// A scan stops at damage or at an I/O error (which is not damage: the bytes were not read).
#[derive(Debug)]
pub enum ScanError {
    Damage(Box<Damage>),
    Io(io::Error),
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

fn damage(
    class: DamageClass,
    seq: Option<u64>,
    file: &str,
    offset: u64,
    explanation: impl Into<String>,
) -> ScanError {
    ScanError::Damage(Box::new(Damage {
        class,
        seq,
        location: Location {
            file: file.to_owned(),
            offset,
        },
        digest: None,
        explanation: explanation.into(),
    }))
}

/// One good record as the scan found it.
#[derive(Debug, Clone)]
pub struct ScannedRecord {
    pub seq: u64,
    pub hash: Digest,
    pub location: Location,
    /// Length of the whole frame (header and compressed body).
    pub frame_len: u64,
    pub record: Record,
}

/// A segment being scanned.
#[derive(Debug)]
pub struct Segment<R> {
    reader: R,
    name: String,
    offset: u64,
    newest: bool,
    /// The format version its header gives, which its records are decoded in.
    version: u16,
}

impl<R> Segment<R> {
    /// Offset of the next unread byte (after the last good frame once the scan is done).
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The segment's format version (FORMAT.md §14).
    #[must_use]
    pub fn version(&self) -> u16 {
        self.version
    }
}

/// The chain state carried from record to record and from segment to segment.
pub struct Scanner {
    journal_id: Option<JournalId>,
    head: Option<ChainHead>,
    /// Records that must be on the chain with these hashes (seq → hash).
    expected: BTreeMap<u64, Digest>,
    /// How many of them were reached with the right hash.
    expected_seen: usize,
    decompressor: zstd::bulk::Decompressor<'static>,
    compressed: Vec<u8>,
    body: Vec<u8>,
    segments: u32,
    records: u64,
    /// The journal starts after folded records: accepted once a record says so.
    folded: Option<FoldedStart>,
    /// The last record of each segment read so far: where a fold may have ended.
    segment_ends: BTreeMap<u64, Digest>,
}

/// Where a journal whose oldest segments were folded starts, and the `segments_folded` record
/// that vouches for it once the scan reaches that record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FoldedStart {
    /// The last folded record, as the first segment's header continues from it.
    before: ChainHead,
    segment: String,
    /// The `segments_folded` record naming `before`.
    record: Option<ChainHead>,
}

/// A journal's folded beginning, as a scan confirmed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    /// The last folded record: the journal's records start after it.
    pub before: ChainHead,
    /// The `segments_folded` record that says so: its sequence number and hash, which a
    /// witness (the database's anchor of the fold) must confirm.
    pub record_seq: u64,
    pub record_hash: Digest,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("journal_id", &self.journal_id)
            .field("head", &self.head)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

/// Reads until `buf` is full or the source ends; returns how many bytes were read.
pub(crate) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the rest of `r`; true when every byte is zero. Returns the number of bytes too.
fn rest_is_zero<R: Read>(r: &mut R) -> io::Result<(bool, u64)> {
    let mut buf = [0u8; 8192];
    let mut total = 0u64;
    loop {
        let n = read_full(r, &mut buf)?;
        if n == 0 {
            return Ok((true, total));
        }
        total += n as u64;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok((false, total));
        }
    }
}

impl Scanner {
    /// A scanner for a whole journal, optionally with the head that must be on the chain.
    pub fn new(expected: Option<ChainHead>) -> io::Result<Scanner> {
        Self::expecting(expected.into_iter().collect())
    }

    /// A scanner for a whole journal with every record that must be on the chain with its
    /// hash (for example all the records a database anchors). When two expectations name the
    /// same record with different hashes the record cannot match both: that is a fork.
    pub fn expecting(expected: Vec<ChainHead>) -> io::Result<Scanner> {
        let mut map = BTreeMap::new();
        let mut conflict = None;
        for head in expected {
            if let Some(other) = map.insert(head.seq, head.hash) {
                if other != head.hash {
                    conflict = Some(head.seq);
                }
            }
        }
        if let Some(seq) = conflict {
            // Keep both impossible: a hash no record can have makes the record a fork.
            map.insert(seq, Digest([0; 32]));
        }
        Ok(Scanner {
            journal_id: None,
            head: None,
            expected: map,
            expected_seen: 0,
            decompressor: zstd::bulk::Decompressor::new()?,
            compressed: Vec::new(),
            body: Vec::new(),
            segments: 0,
            records: 0,
            folded: None,
            segment_ends: BTreeMap::new(),
        })
    }

    /// The folded beginning of the journal, once the record vouching for it was read.
    #[must_use]
    pub fn folded(&self) -> Option<Folded> {
        let f = self.folded.as_ref()?;
        let record = f.record?;
        Some(Folded {
            before: f.before,
            record_seq: record.seq,
            record_hash: record.hash,
        })
    }

    /// The first record of a journal that starts after record 1 while no record read so far
    /// says the records before it were folded.
    #[must_use]
    pub fn unvouched_start(&self) -> Option<u64> {
        self.folded
            .as_ref()
            .filter(|f| f.record.is_none())
            .map(|f| f.before.seq + 1)
    }

    #[must_use]
    pub fn journal_id(&self) -> Option<JournalId> {
        self.journal_id
    }

    /// The head after the last good record (genesis before any), once a segment header was read.
    #[must_use]
    pub fn head(&self) -> Option<ChainHead> {
        self.head
    }

    /// `None` without an expected head; else whether every one was reached with the right
    /// hash.
    #[must_use]
    pub fn expected_head_found(&self) -> Option<bool> {
        (!self.expected.is_empty()).then_some(self.expected_seen == self.expected.len())
    }

    /// Continues a chain from a known point instead of from a segment header: the journal id,
    /// and the chain value before the next record (`before.seq` is the record before it). The
    /// caller positions the segment reader with `resume_segment`. Expected records before
    /// `before.seq + 1` are dropped: they lie before the part this scan covers.
    pub fn resume(&mut self, journal_id: JournalId, before: ChainHead) {
        self.journal_id = Some(journal_id);
        self.head = Some(before);
        self.expected = self.expected.split_off(&(before.seq + 1));
        self.segments += 1;
    }

    /// A segment of format `version` (its header's) whose reader is already positioned at
    /// `offset`, a frame boundary (after `resume`).
    pub fn resume_segment<R: Read>(
        &mut self,
        name: &str,
        reader: R,
        offset: u64,
        newest: bool,
        version: u16,
    ) -> Segment<R> {
        Segment {
            reader,
            name: name.to_owned(),
            offset,
            newest,
            version,
        }
    }

    /// The highest record an expectation names, if any.
    fn last_expected(&self) -> Option<(u64, Digest)> {
        self.expected.iter().next_back().map(|(s, h)| (*s, *h))
    }

    #[must_use]
    pub fn segments(&self) -> u32 {
        self.segments
    }

    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    fn next_seq(&self) -> u64 {
        self.head.map_or(1, |h| h.seq + 1)
    }

    /// Reads and checks a segment header. `newest` says whether this is the last segment (the
    /// only one that may end in a torn tail).
    pub fn open_segment<R: Read>(
        &mut self,
        name: &str,
        mut reader: R,
        newest: bool,
    ) -> Result<Segment<R>, ScanError> {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        let n = read_full(&mut reader, &mut b)?;
        let bad = |msg: String| damage(DamageClass::BadHeader, None, name, 0, msg);
        if n < SEGMENT_HEADER_LEN {
            return Err(bad(format!(
                "segment header incomplete: {n} of {SEGMENT_HEADER_LEN} bytes"
            )));
        }
        let header = SegmentHeader::parse(&b).map_err(&bad)?;
        let seq = Some(header.first_seq);
        match parse_segment_file_name(name) {
            Some(from_name) if from_name == header.first_seq => {}
            Some(from_name) => {
                return Err(damage(
                    DamageClass::BadHeader,
                    seq,
                    name,
                    0,
                    format!(
                        "file name says the segment starts at record {from_name}, its header \
                         says {}",
                        header.first_seq
                    ),
                ))
            }
            None => return Err(bad("not a segment file name".to_owned())),
        }
        match (self.journal_id, self.head) {
            (Some(id), Some(head)) => {
                if id != header.journal_id {
                    return Err(damage(
                        DamageClass::Fork,
                        seq,
                        name,
                        0,
                        format!(
                            "segment belongs to journal {}, this journal is {id}",
                            header.journal_id
                        ),
                    ));
                }
                if header.first_seq != head.seq + 1 {
                    return Err(damage(
                        DamageClass::SequenceGap,
                        seq,
                        name,
                        0,
                        gap_text("segment", head.seq + 1, header.first_seq),
                    ));
                }
                self.segment_ends.insert(head.seq, head.hash);
                if header.prev_hash != head.hash {
                    return Err(damage(
                        DamageClass::Fork,
                        seq,
                        name,
                        0,
                        format!(
                            "segment continues from hash {}, but record {} has hash {}",
                            header.prev_hash, head.seq, head.hash
                        ),
                    ));
                }
            }
            _ if header.first_seq > 1 => {
                // Older segments were folded, or are missing: `finish` tells which, by whether
                // a `segments_folded` record names where this segment continues from.
                self.journal_id = Some(header.journal_id);
                let head = ChainHead {
                    seq: header.first_seq - 1,
                    hash: header.prev_hash,
                };
                self.head = Some(head);
                // Records before the start cannot be checked: their expectations go (they
                // are vouched for by the fold record, which `finish` requires).
                self.expected = self.expected.split_off(&head.seq);
                self.folded = Some(FoldedStart {
                    before: head,
                    segment: name.to_owned(),
                    record: None,
                });
                self.check_expected(&head, name, 0)?;
            }
            _ => {
                let g = genesis(&header.journal_id);
                if header.first_seq != 1 {
                    return Err(damage(
                        DamageClass::SequenceGap,
                        seq,
                        name,
                        0,
                        "the first segment starts at record 0".to_owned(),
                    ));
                }
                if header.prev_hash != g {
                    return Err(damage(
                        DamageClass::Fork,
                        seq,
                        name,
                        0,
                        format!(
                            "the first segment does not start from the genesis value of journal \
                             {}",
                            header.journal_id
                        ),
                    ));
                }
                self.journal_id = Some(header.journal_id);
                let head = ChainHead { seq: 0, hash: g };
                self.head = Some(head);
                self.check_expected(&head, name, 0)?;
            }
        }
        self.segments += 1;
        Ok(Segment {
            reader,
            name: name.to_owned(),
            offset: SEGMENT_HEADER_LEN as u64,
            newest,
            version: header.version,
        })
    }

    fn check_expected(
        &mut self,
        head: &ChainHead,
        file: &str,
        offset: u64,
    ) -> Result<(), ScanError> {
        if let Some(exp) = self.expected.get(&head.seq) {
            if *exp == head.hash {
                self.expected_seen += 1;
            } else {
                return Err(damage(
                    DamageClass::Fork,
                    Some(head.seq),
                    file,
                    offset,
                    format!(
                        "record {} has hash {}, the expected head says {exp}: the history was \
                         rewritten or replaced",
                        head.seq, head.hash
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A torn tail, unless the expected head lies beyond it (then records are lost).
    fn torn(&self, seg_name: &str, offset: u64, what: String) -> ScanError {
        let next = self.next_seq();
        if let Some((exp_seq, _)) = self.last_expected() {
            if exp_seq >= next {
                return damage(
                    DamageClass::Truncated,
                    Some(next),
                    seg_name,
                    offset,
                    format!(
                        "the journal ends in a torn frame after record {}, but the expected \
                         head is record {} ({what})",
                        next - 1,
                        exp_seq
                    ),
                );
            }
        }
        damage(DamageClass::TornTail, Some(next), seg_name, offset, what)
    }

    /// A frame cut short: a torn tail in the newest segment, a bad frame in any other.
    fn cut_short(&self, newest: bool, seg_name: &str, offset: u64, what: String) -> ScanError {
        if newest {
            self.torn(seg_name, offset, what)
        } else {
            damage(
                DamageClass::BadFrame,
                Some(self.next_seq()),
                seg_name,
                offset,
                format!("{what}, in a segment that is not the newest"),
            )
        }
    }

    /// The checked header of the frame at `seg`'s offset (FORMAT.md §11.2 steps 1–5),
    /// `Ok(None)` at the clean end of the segment.
    fn frame_header<R: Read>(
        &self,
        seg: &mut Segment<R>,
    ) -> Result<Option<FrameHeader>, ScanError> {
        let start = seg.offset;
        let name = seg.name.as_str();
        let bad_frame = |msg: String| {
            damage(
                DamageClass::BadFrame,
                Some(self.next_seq()),
                name,
                start,
                msg,
            )
        };
        let mut hb = [0u8; FRAME_HEADER_LEN];
        let n = read_full(&mut seg.reader, &mut hb)?;
        if n == 0 {
            return Ok(None);
        }
        if n < FRAME_HEADER_LEN {
            let what = format!("incomplete frame header: {n} of {FRAME_HEADER_LEN} bytes");
            return Err(self.cut_short(seg.newest, name, start, what));
        }
        if hb.iter().all(|&b| b == 0) {
            let (zero, rest) = rest_is_zero(&mut seg.reader)?;
            if zero {
                let what = format!("{} zero bytes after the last frame", n as u64 + rest);
                return Err(self.cut_short(seg.newest, name, start, what));
            }
            return Err(bad_frame("zero bytes where a frame header belongs".into()));
        }
        let header = match FrameHeader::parse_checked(&hb) {
            Ok(h) => h,
            Err(FrameHeaderError::BadMagic) => {
                return Err(bad_frame(
                    "wrong frame magic (not the start of a frame)".into(),
                ))
            }
            Err(_) => {
                return Err(bad_frame(
                    "frame header check mismatch (the header was altered)".into(),
                ))
            }
        };
        if let Err(FrameHeaderError::BadLength(msg)) = header.check_lengths() {
            return Err(bad_frame(msg));
        }
        Ok(Some(header))
    }

    /// The next good record of `seg`, `Ok(None)` at the clean end of the segment.
    pub fn next_record<R: Read>(
        &mut self,
        seg: &mut Segment<R>,
    ) -> Result<Option<ScannedRecord>, ScanError> {
        let Some(header) = self.frame_header(seg)? else {
            return Ok(None);
        };
        let start = seg.offset;
        let next = self.next_seq();
        let name = seg.name.clone();
        let bad_frame = |msg: String| damage(DamageClass::BadFrame, Some(next), &name, start, msg);
        let clen = u64::from(header.clen);
        self.compressed.clear();
        let got = (&mut seg.reader)
            .take(clen)
            .read_to_end(&mut self.compressed)?;
        if (got as u64) < clen {
            let what = format!("incomplete record body: {got} of {clen} bytes");
            return Err(self.cut_short(seg.newest, &name, start, what));
        }
        let seq = Some(header.seq);
        if crate::chain::check8(&self.compressed) != header.body_check {
            return Err(damage(
                DamageClass::HashMismatch,
                seq,
                &name,
                start,
                format!(
                    "the compressed body of record {} does not match its checksum (altered)",
                    header.seq
                ),
            ));
        }
        if header.seq != next {
            return Err(damage(
                DamageClass::SequenceGap,
                seq,
                &name,
                start,
                gap_text("record", next, header.seq),
            ));
        }
        let prev = self.head.map_or(Digest([0; 32]), |h| h.hash);
        if header.prev_hash != prev {
            return Err(damage(
                DamageClass::Fork,
                seq,
                &name,
                start,
                format!(
                    "record {} continues from hash {}, but record {} has hash {} (inserted or \
                     replaced frame)",
                    header.seq,
                    header.prev_hash,
                    next - 1,
                    prev
                ),
            ));
        }
        let ulen = header.ulen as usize;
        self.body.clear();
        self.body.reserve(ulen);
        let decompressed = self
            .decompressor
            .decompress_to_buffer(&self.compressed, &mut self.body);
        match decompressed {
            Ok(len) if len == ulen => {}
            Ok(len) => {
                return Err(bad_frame(format!(
                    "record body decompresses to {len} bytes, the header says {ulen}"
                )))
            }
            Err(e) => {
                return Err(bad_frame(format!(
                    "record body is not valid zstd data of {ulen} bytes: {e}"
                )))
            }
        }
        let hash = record_hash(&prev, header.seq, &self.body);
        if hash != header.hash {
            return Err(damage(
                DamageClass::HashMismatch,
                seq,
                &name,
                start,
                format!(
                    "record {} hashes to {hash}, its frame says {} (altered)",
                    header.seq, header.hash
                ),
            ));
        }
        let record = decode_record_of_version(&self.body, seg.version)
            .map_err(|e| bad_frame(format!("record does not decode: {e}")))?;
        if let (
            Some(f),
            Record::SegmentsFolded {
                first_seq,
                last_seq,
                last_hash,
                ..
            },
        ) = (&mut self.folded, &record)
        {
            // The fold ended where this journal starts, or further on (its removal of files
            // was cut short): then the record it ended at was read, with that hash.
            let at_start = f.before.seq == *last_seq && f.before.hash == *last_hash;
            let within = *first_seq <= f.before.seq + 1
                && f.before.seq < *last_seq
                && self.segment_ends.get(last_seq) == Some(last_hash);
            if f.record.is_none() && (at_start || within) {
                f.record = Some(ChainHead {
                    seq: header.seq,
                    hash,
                });
            }
        }
        let new_head = ChainHead {
            seq: header.seq,
            hash,
        };
        self.check_expected(&new_head, &name, start)?;
        self.head = Some(new_head);
        self.records += 1;
        let frame_len = FRAME_HEADER_LEN as u64 + clen;
        seg.offset = start + frame_len;
        if self.body.capacity() > KEEP_BUFFER {
            self.body = Vec::new();
        }
        if self.compressed.capacity() > KEEP_BUFFER {
            self.compressed = Vec::new();
        }
        Ok(Some(ScannedRecord {
            seq: header.seq,
            hash,
            location: Location {
                file: name,
                offset: start,
            },
            frame_len,
            record,
        }))
    }

    /// After the last segment: a folded beginning must have been vouched for by a
    /// `segments_folded` record, and the expected head must have been reached.
    pub fn finish(&self, end: &Location) -> Result<(), ScanError> {
        if let Some(f) = self.folded.as_ref().filter(|f| f.record.is_none()) {
            return Err(damage(
                DamageClass::SequenceGap,
                Some(f.before.seq + 1),
                &f.segment,
                0,
                format!(
                    "the first segment starts at record {}; records 1 to {} are missing, and no \
                     segments_folded record says they were folded",
                    f.before.seq + 1,
                    f.before.seq
                ),
            ));
        }
        if let Some((exp_seq, _)) = self.last_expected() {
            let last = self.head.map_or(0, |h| h.seq);
            if exp_seq > last {
                return Err(damage(
                    DamageClass::Truncated,
                    Some(last + 1),
                    &end.file,
                    end.offset,
                    format!(
                        "the journal ends at record {last}, but the expected head is record \
                         {exp_seq}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn gap_text(what: &str, expected: u64, found: u64) -> String {
    if found > expected {
        format!(
            "expected {what} {expected}, found {found}: records {expected} to {} are missing",
            found - 1
        )
    } else {
        format!("expected {what} {expected}, found {found}: repeated or out of order")
    }
}

/// Scans one in-memory segment as the only (newest) segment of a journal. For tests and the
/// fuzz target; returns the good records and the damage that stopped the scan, if any.
pub fn scan_single_segment(
    name: &str,
    bytes: &[u8],
    expected: Option<ChainHead>,
) -> (Vec<ScannedRecord>, Option<Damage>) {
    let mut out = Vec::new();
    let Ok(mut scanner) = Scanner::new(expected) else {
        return (out, None);
    };
    let mut seg = match scanner.open_segment(name, bytes, true) {
        Ok(s) => s,
        Err(ScanError::Damage(d)) => return (out, Some(*d)),
        Err(ScanError::Io(_)) => return (out, None),
    };
    loop {
        match scanner.next_record(&mut seg) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => break,
            Err(ScanError::Damage(d)) => return (out, Some(*d)),
            Err(ScanError::Io(_)) => return (out, None),
        }
    }
    let end = Location {
        file: name.to_owned(),
        offset: seg.offset(),
    };
    match scanner.finish(&end) {
        Err(ScanError::Damage(d)) => (out, Some(*d)),
        _ => (out, None),
    }
}
