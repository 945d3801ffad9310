//! Payload blobs (FORMAT.md §9): the body (a CBOR sequence of a header and entries — tables,
//! rows of typed values, JSON documents) and the blob file around it (magic, one zstd frame,
//! trailer with the body length and the hash of the compressed bytes).
//!
//! Owns both directions over any `Read`/`Write`, streaming, with constant memory. Pure: files,
//! directories, threads and fsync belong to `store`. Row values live here and only here: the
//! chained records never contain them.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::cbor::{DecodeError, Decoder, Encoder};
use crate::codec::Canonical;
use crate::record::{Digest, PayloadKind, PayloadRef};
use crate::value::Value;

/// `\x89HKP\r\n\x1a\n`.
pub const BLOB_MAGIC: [u8; 8] = [0x89, b'H', b'K', b'P', 0x0d, 0x0a, 0x1a, 0x0a];
/// Body length (8) and hash of the compressed bytes (32).
pub const BLOB_TRAILER_LEN: usize = 40;
pub const PAYLOAD_FORMAT: &str = "housekeeper-payload";
pub const PAYLOAD_VERSION: u64 = 1;
/// zstd level for blobs: speed matters most (BENCHMARKS.md).
pub const BLOB_ZSTD_LEVEL: i32 = 1;
/// Most columns a table entry may have (FORMAT.md §13).
pub const MAX_COLUMNS: u64 = 65535;

const HEADER_KEYS: [&str; 4] = ["kind", "nonce", "format", "version"];

const CODE_TABLE: u64 = 0;
const CODE_JSON: u64 = 5;

/// Why a row image was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowRole {
    /// The row as it was before a DELETE.
    Deleted,
    /// The row before an UPDATE.
    Before,
    /// The row after an UPDATE.
    After,
    /// A row an undo inserted.
    Inserted,
}

impl RowRole {
    #[must_use]
    pub fn code(self) -> u64 {
        match self {
            RowRole::Deleted => 1,
            RowRole::Before => 2,
            RowRole::After => 3,
            RowRole::Inserted => 4,
        }
    }

    #[must_use]
    pub fn from_code(code: u64) -> Option<RowRole> {
        Some(match code {
            1 => RowRole::Deleted,
            2 => RowRole::Before,
            3 => RowRole::After,
            4 => RowRole::Inserted,
            _ => return None,
        })
    }
}

/// One entry of a payload body.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadEntry {
    /// Starts a group of rows of `name` with these columns.
    Table { name: String, columns: Vec<String> },
    /// One row of the most recent table, one value per column.
    Row { role: RowRole, values: Vec<Value> },
    /// A JSON document (plans, details).
    Json(String),
}

/// The header item of a payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadHeader {
    pub kind: PayloadKind,
    pub nonce: [u8; 16],
}

pub fn encode_header(e: &mut Encoder, header: &PayloadHeader) {
    e.map(HEADER_KEYS.len());
    e.key("kind");
    header.kind.encode(e);
    e.key("nonce");
    e.bytes(&header.nonce);
    e.key("format");
    e.text(PAYLOAD_FORMAT);
    e.key("version");
    e.uint(PAYLOAD_VERSION);
}

pub fn encode_table(e: &mut Encoder, name: &str, columns: &[String]) {
    e.array(3);
    e.uint(CODE_TABLE);
    e.text(name);
    e.array(columns.len());
    for c in columns {
        e.text(c);
    }
}

pub fn encode_row(e: &mut Encoder, role: RowRole, values: &[Value]) {
    e.array(values.len() + 1);
    e.uint(role.code());
    for v in values {
        v.encode(e);
    }
}

pub fn encode_json(e: &mut Encoder, document: &str) {
    encode_json_head(e, document.len() as u64);
    e.buf.extend_from_slice(document.as_bytes());
}

/// The start of a JSON entry whose document of `len` bytes follows.
pub fn encode_json_head(e: &mut Encoder, len: u64) {
    e.array(2);
    e.uint(CODE_JSON);
    e.head(crate::cbor::MAJOR_TEXT, len);
}

/// Reads the header item of a body.
pub fn decode_header<R: Read>(d: &mut Decoder<R>) -> Result<PayloadHeader, DecodeError> {
    d.map_exact(&HEADER_KEYS)?;
    d.key("kind")?;
    let kind = PayloadKind::decode(d)?;
    d.key("nonce")?;
    let nonce = d.fixed_bytes::<16>()?;
    d.key("format")?;
    let format = d.text()?;
    if format != PAYLOAD_FORMAT {
        return Err(d.error(format!("not a housekeeper payload (format {format:?})")));
    }
    d.key("version")?;
    let version = d.uint()?;
    if version != PAYLOAD_VERSION {
        return Err(d.error(format!(
            "payload version {version} is not supported (this reader knows {PAYLOAD_VERSION})"
        )));
    }
    Ok(PayloadHeader { kind, nonce })
}

/// Streaming decoder of an uncompressed body: the header, then one entry at a time.
#[derive(Debug)]
pub struct BodyDecoder<R> {
    d: Decoder<R>,
    header: PayloadHeader,
    columns: Option<u64>,
}

impl<R: Read> BodyDecoder<R> {
    pub fn new(reader: R) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(reader);
        let header = decode_header(&mut d)?;
        Ok(Self {
            d,
            header,
            columns: None,
        })
    }

    #[must_use]
    pub fn header(&self) -> &PayloadHeader {
        &self.header
    }

    pub fn into_inner(self) -> R {
        self.d.into_inner()
    }

    /// The next entry, `Ok(None)` at the end of the body.
    pub fn next_entry(&mut self) -> Result<Option<PayloadEntry>, DecodeError> {
        let d = &mut self.d;
        let Some(h) = d.try_head()? else {
            return Ok(None);
        };
        let n = d.array_from(h)?;
        if n == 0 {
            return Err(d.error("empty entry"));
        }
        let code = d.uint()?;
        let entry = match code {
            CODE_TABLE => {
                if n != 3 {
                    return Err(d.error("a table entry has 3 elements"));
                }
                let name = d.text()?;
                let count = d.array()?;
                if count == 0 || count > MAX_COLUMNS {
                    return Err(d.error(format!(
                        "table {name:?} has {count} columns (allowed 1 to {MAX_COLUMNS})"
                    )));
                }
                let mut columns = Vec::with_capacity(usize::try_from(count.min(1024)).unwrap_or(0));
                for _ in 0..count {
                    columns.push(d.text()?);
                }
                self.columns = Some(count);
                PayloadEntry::Table { name, columns }
            }
            CODE_JSON => {
                if n != 2 {
                    return Err(d.error("a JSON entry has 2 elements"));
                }
                PayloadEntry::Json(d.text()?)
            }
            _ => {
                let Some(role) = RowRole::from_code(code) else {
                    return Err(d.error(format!("unknown entry code {code}")));
                };
                let Some(columns) = self.columns else {
                    return Err(d.error("a row before any table entry"));
                };
                if n - 1 != columns {
                    return Err(d.error(format!(
                        "a row of {} values for a table of {columns} columns",
                        n - 1
                    )));
                }
                let mut values =
                    Vec::with_capacity(usize::try_from(columns.min(1024)).unwrap_or(0));
                for _ in 0..columns {
                    values.push(Value::decode(d)?);
                }
                PayloadEntry::Row { role, values }
            }
        };
        Ok(Some(entry))
    }
}

// ---------------------------------------------------------------------------------------------
// Blob files

/// A writer that hashes and counts what passes through it.
#[derive(Debug)]
struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one blob file: magic, one zstd frame of the body, trailer. Streaming.
pub struct BlobWriter<W: Write> {
    encoder: zstd::stream::write::Encoder<'static, HashingWriter<W>>,
    body: blake3::Hasher,
    len: u64,
}

impl<W: Write> std::fmt::Debug for BlobWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<W: Write> BlobWriter<W> {
    pub fn new(mut out: W, level: i32) -> io::Result<Self> {
        out.write_all(&BLOB_MAGIC)?;
        let hashing = HashingWriter {
            inner: out,
            hasher: blake3::Hasher::new(),
        };
        Ok(Self {
            encoder: zstd::stream::write::Encoder::new(hashing, level)?,
            body: blake3::Hasher::new(),
            len: 0,
        })
    }

    /// Appends body bytes (already encoded entries).
    pub fn write_body(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.body.update(bytes);
        self.len += bytes.len() as u64;
        self.encoder.write_all(bytes)
    }

    /// Ends the zstd frame, writes the trailer; returns the sink, the body digest and length.
    pub fn finish(self) -> io::Result<(W, Digest, u64)> {
        let hashing = self.encoder.finish()?;
        let data_hash = hashing.hasher.finalize();
        let mut out = hashing.inner;
        out.write_all(&self.len.to_be_bytes())?;
        out.write_all(data_hash.as_bytes())?;
        out.flush()?;
        Ok((out, Digest(*self.body.finalize().as_bytes()), self.len))
    }
}

/// The whole blob file for `body`, in memory (test vectors, small payloads).
pub fn encode_blob(body: &[u8]) -> io::Result<(Vec<u8>, Digest)> {
    let mut w = BlobWriter::new(Vec::new(), BLOB_ZSTD_LEVEL)?;
    w.write_body(body)?;
    let (bytes, digest, _) = w.finish()?;
    Ok((bytes, digest))
}

/// A `BufRead` that hashes exactly the bytes its consumer consumes (the zstd frame).
struct ConsumeHasher<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: BufRead> Read for ConsumeHasher<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for ConsumeHasher<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.hasher.update(&buf[..n]);
        }
        self.inner.consume(amt);
    }
}

/// Reads the uncompressed body out of a blob file, hashing it; `finish` checks the trailer.
pub struct BlobBody<R: Read> {
    zstd: zstd::stream::read::Decoder<'static, ConsumeHasher<BufReader<R>>>,
    body: blake3::Hasher,
    len: u64,
}

impl<R: Read> std::fmt::Debug for BlobBody<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobBody")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// What a finished blob read established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobSummary {
    pub digest: Digest,
    pub len: u64,
}

impl<R: Read> BlobBody<R> {
    /// Checks the magic and starts decompressing.
    pub fn open(mut reader: R) -> Result<Self, String> {
        let mut magic = [0u8; 8];
        let n = crate::scan::read_full(&mut reader, &mut magic)
            .map_err(|e| format!("read error: {e}"))?;
        if n < 8 || magic != BLOB_MAGIC {
            return Err("not a payload blob (wrong magic)".into());
        }
        let hashing = ConsumeHasher {
            inner: BufReader::with_capacity(64 * 1024, reader),
            hasher: blake3::Hasher::new(),
        };
        let zstd = zstd::stream::read::Decoder::with_buffer(hashing)
            .map_err(|e| format!("zstd: {e}"))?
            .single_frame();
        Ok(Self {
            zstd,
            body: blake3::Hasher::new(),
            len: 0,
        })
    }

    /// Reads whatever is left of the body, checks the trailer and the end of the file.
    pub fn finish(mut self) -> Result<BlobSummary, String> {
        io::copy(&mut self, &mut io::sink()).map_err(|e| format!("body: {e}"))?;
        let len = self.len;
        let digest = Digest(*self.body.finalize().as_bytes());
        let mut hashing = self.zstd.finish();
        let data_hash = hashing.hasher.finalize();
        let mut trailer = [0u8; BLOB_TRAILER_LEN];
        let n = crate::scan::read_full(&mut hashing.inner, &mut trailer)
            .map_err(|e| format!("read error: {e}"))?;
        if n < BLOB_TRAILER_LEN {
            return Err(format!(
                "trailer incomplete: {n} of {BLOB_TRAILER_LEN} bytes (blob truncated)"
            ));
        }
        let mut ulen = [0u8; 8];
        ulen.copy_from_slice(&trailer[..8]);
        let ulen = u64::from_be_bytes(ulen);
        if ulen != len {
            return Err(format!(
                "trailer says the body has {ulen} bytes, it decompressed to {len}"
            ));
        }
        if trailer[8..] != data_hash.as_bytes()[..] {
            return Err("the compressed data does not match the trailer's hash (altered)".into());
        }
        let mut extra = [0u8; 1];
        let n = crate::scan::read_full(&mut hashing.inner, &mut extra)
            .map_err(|e| format!("read error: {e}"))?;
        if n != 0 {
            return Err("bytes after the trailer".into());
        }
        Ok(BlobSummary { digest, len })
    }
}

impl<R: Read> Read for BlobBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.zstd.read(buf)?;
        self.body.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Verifies a blob against the reference that names it (FORMAT.md §11.5), without decoding its
/// entries. Returns the body length, or why the blob is not the referenced one.
pub fn check_blob<R: Read>(reader: R, expected: &PayloadRef) -> Result<u64, String> {
    let mut body = BlobBody::open(reader)?;
    let header = {
        let mut d = Decoder::new(&mut body);
        decode_header(&mut d).map_err(|e| format!("payload header: {e}"))?
    };
    if header.kind != expected.kind {
        return Err(format!(
            "blob holds a {:?} payload, the record says {:?}",
            header.kind, expected.kind
        ));
    }
    let summary = body.finish()?;
    if summary.digest != expected.digest {
        return Err(format!(
            "the body hashes to {}, not to its name (altered)",
            summary.digest
        ));
    }
    if summary.len != expected.len {
        return Err(format!(
            "the body has {} bytes, the record says {}",
            summary.len, expected.len
        ));
    }
    Ok(summary.len)
}

/// Streaming entries of a blob; the digest is confirmed when the last entry has been read.
pub struct BlobEntries<R: Read> {
    inner: Option<BodyDecoder<BufReader<BlobBody<R>>>>,
    expected: Digest,
}

impl<R: Read> std::fmt::Debug for BlobEntries<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobEntries")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl<R: Read> BlobEntries<R> {
    /// Opens a blob that should have digest `expected`; reads the header.
    pub fn open(reader: R, expected: Digest) -> Result<Self, String> {
        let body = BlobBody::open(reader)?;
        let decoder = BodyDecoder::new(BufReader::with_capacity(64 * 1024, body))
            .map_err(|e| format!("payload header: {e}"))?;
        Ok(Self {
            inner: Some(decoder),
            expected,
        })
    }

    #[must_use]
    pub fn header(&self) -> Option<&PayloadHeader> {
        self.inner.as_ref().map(BodyDecoder::header)
    }
}

impl<R: Read> Iterator for BlobEntries<R> {
    type Item = Result<PayloadEntry, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let decoder = self.inner.as_mut()?;
        match decoder.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                let decoder = self.inner.take()?;
                let body = decoder.into_inner().into_inner();
                match body.finish() {
                    Ok(s) if s.digest == self.expected => None,
                    Ok(s) => Some(Err(format!(
                        "the body hashes to {}, not to {} (altered)",
                        s.digest, self.expected
                    ))),
                    Err(e) => Some(Err(e)),
                }
            }
            Err(e) => {
                self.inner = None;
                Some(Err(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::DateTimeValue;

    fn sample_body(kind: PayloadKind) -> Vec<u8> {
        let mut e = Encoder::new();
        encode_header(
            &mut e,
            &PayloadHeader {
                kind,
                nonce: [7; 16],
            },
        );
        encode_table(&mut e, "log", &["id".into(), "created".into()]);
        encode_row(
            &mut e,
            RowRole::Deleted,
            &[
                Value::Int(1),
                Value::DateTime(DateTimeValue::ymd_hms(2024, 1, 1, 0, 0, 0)),
            ],
        );
        encode_json(&mut e, "{}");
        e.buf
    }

    #[test]
    fn a_blob_round_trips_and_checks_against_its_reference() {
        let body = sample_body(PayloadKind::RowImages);
        let (blob, digest) = encode_blob(&body).unwrap();
        assert_eq!(digest.0, *blake3::hash(&body).as_bytes());
        let r = PayloadRef {
            digest,
            len: body.len() as u64,
            kind: PayloadKind::RowImages,
        };
        assert_eq!(check_blob(blob.as_slice(), &r), Ok(body.len() as u64));
        let entries: Vec<_> = BlobEntries::open(blob.as_slice(), digest)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(entries.len(), 3);
        assert!(
            matches!(&entries[1], PayloadEntry::Row { role: RowRole::Deleted, values } if values.len() == 2)
        );
        let wrong_kind = PayloadRef {
            kind: PayloadKind::Plan,
            ..r
        };
        assert!(check_blob(blob.as_slice(), &wrong_kind).is_err());
    }

    #[test]
    fn every_bit_of_a_blob_is_protected() {
        let body = sample_body(PayloadKind::Details);
        let (blob, digest) = encode_blob(&body).unwrap();
        let r = PayloadRef {
            digest,
            len: body.len() as u64,
            kind: PayloadKind::Details,
        };
        for bit in 0..blob.len() * 8 {
            let mut bad = blob.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                check_blob(bad.as_slice(), &r).is_err(),
                "bit {bit} undetected"
            );
        }
        assert!(check_blob(&blob[..blob.len() - 1], &r).is_err());
        let mut long = blob.clone();
        long.push(0);
        assert!(check_blob(long.as_slice(), &r).is_err());
    }

    #[test]
    fn rows_must_match_their_table() {
        let mut e = Encoder::new();
        encode_header(
            &mut e,
            &PayloadHeader {
                kind: PayloadKind::RowImages,
                nonce: [0; 16],
            },
        );
        encode_row(&mut e, RowRole::Before, &[Value::Int(1)]);
        let mut d = BodyDecoder::new(e.buf.as_slice()).unwrap();
        assert!(d
            .next_entry()
            .unwrap_err()
            .message
            .contains("before any table"));

        let mut e = Encoder::new();
        encode_header(
            &mut e,
            &PayloadHeader {
                kind: PayloadKind::RowImages,
                nonce: [0; 16],
            },
        );
        encode_table(&mut e, "t", &["a".into()]);
        encode_row(&mut e, RowRole::Before, &[Value::Int(1), Value::Int(2)]);
        let mut d = BodyDecoder::new(e.buf.as_slice()).unwrap();
        d.next_entry().unwrap();
        assert!(d.next_entry().unwrap_err().message.contains("2 values"));
    }
}
