//! The checkpoint: the record up to which a journal was verified, written by the writer, read
//! on opening, and the positioning of a scan at its frame.
//!
//! Owns the `CHECKPOINT` file's text. It must never let a checkpoint by itself vouch for a
//! record: a scan resumes there only when a witness of the record's hash is among the
//! scanner's expectations, and the frame found there must hash to it.

use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::files::{io_err, private_file_options, sync_dir};
use super::{damaged, Appended, Journal, JournalError, READ_BUFFER};
use crate::chain::{ChainHead, JournalId};
use crate::error::{Damage, DamageClass, Location};
use crate::frame::{
    parse_segment_file_name, FrameHeader, SegmentHeader, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::record::Digest;
use crate::scan::{Scanner, Segment};

/// A point of the chain up to which the journal was verified: the record and where its frame
/// starts. Written by `Journal::write_checkpoint` to the journal directory; by itself it proves
/// nothing (whoever can write the directory can write it), so it is only used together with a
/// witness of the same record's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub journal_id: JournalId,
    pub head: ChainHead,
    /// Segment file holding the record's frame.
    pub segment: String,
    /// Byte offset of the record's frame in it.
    pub offset: u64,
}

pub(super) const CHECKPOINT_FILE: &str = "CHECKPOINT";
const CHECKPOINT_MAGIC: &str = "housekeeper-journal-checkpoint 1";

impl Checkpoint {
    fn to_text(&self) -> String {
        format!(
            "{CHECKPOINT_MAGIC}\njournal {}\nseq {}\nhash {}\nsegment {}\noffset {}\n",
            self.journal_id, self.head.seq, self.head.hash, self.segment, self.offset
        )
    }

    fn parse(text: &str) -> Option<Checkpoint> {
        let mut lines = text.lines();
        if lines.next()? != CHECKPOINT_MAGIC {
            return None;
        }
        let mut field = |name: &str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|v| v.strip_prefix(' '))
                .map(str::to_owned)
        };
        let journal_id = JournalId::from_hex(&field("journal")?)?;
        let seq = field("seq")?.parse().ok()?;
        let hash = Digest::from_hex(&field("hash")?)?;
        let segment = field("segment")?;
        let offset = field("offset")?.parse().ok()?;
        parse_segment_file_name(&segment)?;
        Some(Checkpoint {
            journal_id,
            head: ChainHead { seq, hash },
            segment,
            offset,
        })
    }
}

/// The checkpoint of the journal in `dir`, if one was written and reads back whole. Unchecked:
/// see `Checkpoint`.
#[must_use]
pub fn read_checkpoint(dir: &Path) -> Option<Checkpoint> {
    let text = fs::read_to_string(dir.join(CHECKPOINT_FILE)).ok()?;
    Checkpoint::parse(&text)
}

/// The checkpoint's record is not where the checkpoint says (its segment or frame is gone):
/// records the database knows are lost, which is `Truncated` damage at the checkpoint.
pub(super) fn lost(dir: &Path, cp: &Checkpoint, explanation: String) -> JournalError {
    damaged(
        dir,
        Damage {
            class: DamageClass::Truncated,
            seq: Some(cp.head.seq),
            location: Location {
                file: cp.segment.clone(),
                offset: cp.offset,
            },
            digest: None,
            explanation,
        },
    )
}

/// Positions a scan at a checkpoint's frame in segment `name`: the segment must belong to the
/// checkpoint's journal and hold a frame of the checkpoint's record at its offset; the scan then
/// recomputes that record's hash, which the scanner's expectations must confirm.
pub(super) fn resume_at(
    dir: &Path,
    name: &str,
    cp: &Checkpoint,
    scanner: &mut Scanner,
    newest: bool,
) -> Result<Segment<BufReader<File>>, JournalError> {
    let path = dir.join(name);
    let gone = |explanation: String| lost(dir, cp, explanation);
    let mut file = File::open(&path).map_err(io_err("opening", &path))?;
    let mut hb = [0u8; SEGMENT_HEADER_LEN];
    file.read_exact(&mut hb)
        .map_err(|e| gone(format!("segment header unreadable: {e}")))?;
    let header = SegmentHeader::parse(&hb).map_err(|e| gone(format!("segment header: {e}")))?;
    if header.journal_id != cp.journal_id {
        return Err(gone(format!(
            "segment belongs to journal {}, the verified record to journal {}",
            header.journal_id, cp.journal_id
        )));
    }
    let mut fb = [0u8; FRAME_HEADER_LEN];
    file.seek(SeekFrom::Start(cp.offset))
        .and_then(|_| file.read_exact(&mut fb))
        .map_err(|e| {
            gone(format!(
                "the verified record {} is no longer there: {e}",
                cp.head.seq
            ))
        })?;
    let frame = FrameHeader::parse_checked(&fb).map_err(|_| {
        gone(format!(
            "no frame of the verified record {} at its offset",
            cp.head.seq
        ))
    })?;
    if frame.seq != cp.head.seq || cp.head.seq == 0 {
        return Err(gone(format!(
            "the frame at the verified offset holds record {}, not record {}",
            frame.seq, cp.head.seq
        )));
    }
    file.seek(SeekFrom::Start(cp.offset))
        .map_err(io_err("seeking in", &path))?;
    scanner.resume(
        header.journal_id,
        ChainHead {
            seq: cp.head.seq - 1,
            hash: frame.prev_hash,
        },
    );
    Ok(scanner.resume_segment(
        name,
        BufReader::with_capacity(READ_BUFFER, file),
        cp.offset,
        newest,
        header.version,
    ))
}

impl Journal {
    /// Records that this journal was verified up to `at` (a record this writer appended), so
    /// the next open can start there once a witness confirms the record's hash. Written to a
    /// temporary name, synced and renamed into place.
    pub fn write_checkpoint(&self, at: &Appended) -> Result<(), JournalError> {
        let cp = Checkpoint {
            journal_id: self.journal_id,
            head: at.head(),
            segment: at.location.file.clone(),
            offset: at.location.offset,
        };
        let path = self.dir.join(CHECKPOINT_FILE);
        let tmp = self.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let mut f = private_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err("creating", &tmp))?;
        f.write_all(cp.to_text().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err("writing", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err("renaming", &tmp))?;
        sync_dir(&self.dir)
    }
}
