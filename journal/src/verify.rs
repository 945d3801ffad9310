//! Full verification (FORMAT.md §11): the chain via `scan`, every referenced payload blob, the
//! expiry records that explain absent blobs, and the report.
//!
//! Owns the verdict and the rules for ordering damage. Pure: segment bytes come from the caller
//! as `Read`ers and blobs through the `BlobSource` trait (the store implements it over the
//! payload directory). Memory stays constant in the size of the journal apart from one entry per
//! blob that is absent when its reference is read, until its expiry record is seen.

use std::collections::HashMap;
use std::io::{self, Read};

use crate::chain::{ChainHead, JournalId};
use crate::codec::payload_refs;
use crate::error::{Damage, DamageClass, Location};
use crate::payload::check_blob;
use crate::record::{Digest, Record};
use crate::scan::{Folded, ScanError, Scanner};

/// At most this many damages are kept in a report (all are counted).
pub const MAX_REPORTED_DAMAGE: usize = 1000;

/// Where the verifier finds payload blobs.
pub trait BlobSource {
    /// Opens the blob named by `digest`; `Ok(None)` when there is no such blob.
    fn open_blob(&self, digest: &Digest) -> io::Result<Option<Box<dyn Read + '_>>>;
}

/// The blob's path relative to the journal directory (FORMAT.md §2).
#[must_use]
pub fn blob_relative_path(digest: &Digest) -> String {
    let hex = digest.to_hex();
    format!("payloads/{}/{hex}.hkp", &hex[..2])
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub journal_id: Option<JournalId>,
    pub segments: u32,
    /// Good records, in chain order, before the first chain damage if any.
    pub records: u64,
    /// The head of the good part of the chain; `None` if not even the first segment header
    /// could be read.
    pub head: Option<ChainHead>,
    /// Blobs read and checked against their reference.
    pub payloads_checked: u64,
    /// `payload_expired` records seen.
    pub payloads_expired: u64,
    /// Uncompressed body bytes of the checked blobs.
    pub payload_bytes: u64,
    /// Damage in chain order (the first is the first damage), at most `MAX_REPORTED_DAMAGE`.
    pub damage: Vec<Damage>,
    /// All damage found, including any beyond the kept ones.
    pub damage_count: u64,
    /// Whether the expected head was given and found on the chain with the right hash.
    pub expected_head_found: Option<bool>,
    /// The journal's oldest segments were folded: where it starts, and the record saying so.
    pub folded: Option<Folded>,
}

impl VerifyReport {
    /// No damage of any kind.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.damage_count == 0
    }

    #[must_use]
    pub fn first_damage(&self) -> Option<&Damage> {
        self.damage.first()
    }
}

/// Streaming verifier: feed it the segments in order, then `finish`.
pub struct Verifier<'b, B: BlobSource + ?Sized> {
    scanner: Scanner,
    blobs: Option<&'b B>,
    /// Blobs absent at their reference: digest → (seq, location) of the first reference.
    pending: HashMap<Digest, (u64, Location)>,
    damage: Vec<Damage>,
    damage_count: u64,
    chain_broken: bool,
    chain_complete: bool,
    end: Location,
    payloads_checked: u64,
    payloads_expired: u64,
    payload_bytes: u64,
}

impl<B: BlobSource + ?Sized> std::fmt::Debug for Verifier<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("scanner", &self.scanner)
            .field("damage_count", &self.damage_count)
            .finish_non_exhaustive()
    }
}

impl<'b, B: BlobSource + ?Sized> Verifier<'b, B> {
    /// `blobs: None` verifies the chain only. `expected`: records that must be on the chain
    /// with these hashes.
    pub fn new(expected: Vec<ChainHead>, blobs: Option<&'b B>) -> io::Result<Self> {
        Ok(Self {
            scanner: Scanner::expecting(expected)?,
            blobs,
            pending: HashMap::new(),
            damage: Vec::new(),
            damage_count: 0,
            chain_broken: false,
            chain_complete: true,
            end: Location {
                file: String::new(),
                offset: 0,
            },
            payloads_checked: 0,
            payloads_expired: 0,
            payload_bytes: 0,
        })
    }

    fn chain_damage(&mut self, d: Damage) {
        self.chain_broken = true;
        // After a torn tail nothing follows, so the absent blobs can still be judged.
        self.chain_complete = d.class == DamageClass::TornTail;
        self.push(d);
    }

    fn push(&mut self, d: Damage) {
        self.damage_count += 1;
        if self.damage.len() < MAX_REPORTED_DAMAGE {
            self.damage.push(d);
        }
    }

    /// Whether verification of the chain has stopped at damage (later segments are ignored).
    #[must_use]
    pub fn chain_broken(&self) -> bool {
        self.chain_broken
    }

    /// Verifies one segment. `Err` only for I/O errors (the bytes could not be read).
    pub fn segment<R: Read>(&mut self, name: &str, reader: R, newest: bool) -> io::Result<()> {
        if self.chain_broken {
            return Ok(());
        }
        let mut seg = match self.scanner.open_segment(name, reader, newest) {
            Ok(s) => s,
            Err(ScanError::Damage(d)) => {
                self.chain_damage(*d);
                return Ok(());
            }
            Err(ScanError::Io(e)) => return Err(e),
        };
        loop {
            match self.scanner.next_record(&mut seg) {
                Ok(Some(r)) => self.record(r.seq, &r.location, &r.record),
                Ok(None) => break,
                Err(ScanError::Damage(d)) => {
                    self.chain_damage(*d);
                    return Ok(());
                }
                Err(ScanError::Io(e)) => return Err(e),
            }
        }
        self.end = Location {
            file: name.to_owned(),
            offset: seg.offset(),
        };
        Ok(())
    }

    fn record(&mut self, seq: u64, location: &Location, record: &Record) {
        let Some(blobs) = self.blobs else {
            return;
        };
        if let Record::PayloadExpired { digest, .. } = record {
            self.payloads_expired += 1;
            self.pending.remove(digest);
            return;
        }
        for r in payload_refs(record) {
            let payload_damage = |class, explanation: String| Damage {
                class,
                seq: Some(seq),
                location: location.clone(),
                digest: Some(r.digest),
                explanation: format!(
                    "payload {} ({}): {explanation}",
                    r.digest,
                    blob_relative_path(&r.digest)
                ),
            };
            match blobs.open_blob(&r.digest) {
                Ok(None) => {
                    self.pending
                        .entry(r.digest)
                        .or_insert_with(|| (seq, location.clone()));
                }
                Ok(Some(reader)) => match check_blob(reader, r) {
                    Ok(len) => {
                        self.payloads_checked += 1;
                        self.payload_bytes += len;
                    }
                    Err(why) => {
                        self.payloads_checked += 1;
                        let d = payload_damage(DamageClass::PayloadAltered, why);
                        self.push(d);
                    }
                },
                Err(e) => {
                    let d = payload_damage(
                        DamageClass::PayloadMissing,
                        format!("the blob exists but cannot be read: {e}"),
                    );
                    self.push(d);
                }
            }
        }
    }

    /// Ends verification: the expected head, the blobs still unexplained, the report.
    #[must_use]
    pub fn finish(mut self) -> VerifyReport {
        if !self.chain_broken {
            if let Err(ScanError::Damage(d)) = self.scanner.finish(&self.end) {
                self.chain_damage(*d);
                // The chain itself is whole; only its newest part is gone.
                self.chain_complete = true;
            }
        }
        if self.chain_complete {
            // Absent blobs no expiry record explained. (After other chain damage they are
            // inconclusive: the expiry record may be in the part that could not be read.)
            let mut missing: Vec<(Digest, (u64, Location))> = self.pending.drain().collect();
            missing.sort_by_key(|(_, (seq, _))| *seq);
            for (digest, (seq, location)) in missing {
                self.push(Damage {
                    class: DamageClass::PayloadMissing,
                    seq: Some(seq),
                    location,
                    digest: Some(digest),
                    explanation: format!(
                        "payload {digest} ({}) is absent and no payload_expired record explains it",
                        blob_relative_path(&digest)
                    ),
                });
            }
        }
        // Chain order: by the record concerned; chain damage is past every good record.
        self.damage.sort_by_key(|d| d.seq.unwrap_or(0));
        VerifyReport {
            journal_id: self.scanner.journal_id(),
            segments: self.scanner.segments(),
            records: self.scanner.records(),
            head: self.scanner.head(),
            payloads_checked: self.payloads_checked,
            payloads_expired: self.payloads_expired,
            payload_bytes: self.payload_bytes,
            damage: self.damage,
            damage_count: self.damage_count,
            expected_head_found: self.scanner.expected_head_found(),
            folded: self.scanner.folded(),
        }
    }
}
