//! Payload blob files: the streaming writer (entries encoded on the caller's thread,
//! compressed and hashed on a worker thread, stored under the digest's name once durable) and
//! the streaming reader of one blob.
//!
//! Owns the temporary file of a blob being written and its move to the final name. It must
//! never leave a partial blob under a final name, nor hold a whole blob in memory.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::files::{
    blob_path, create_dir_private, io_err, payload_dir, private_file_options, random_16, sync_dir,
};
use super::{
    note_written, JournalError, PayloadEntry, RowRole, Written, PAYLOAD_TMP_DIR, READ_BUFFER,
};
use crate::cbor::Encoder;
use crate::payload::{
    encode_header, encode_json, encode_json_head, encode_row, encode_table, BlobEntries,
    BlobWriter, PayloadHeader, BLOB_ZSTD_LEVEL, MAX_COLUMNS,
};
use crate::record::{Digest, PayloadKind, PayloadRef};
use crate::value::Value;

/// Body bytes the payload writer collects before handing them to its worker thread.
const PAYLOAD_CHUNK: usize = 128 << 10;
/// Chunks in flight between the payload writer and its worker (bounds memory).
const PAYLOAD_QUEUE: usize = 4;

enum Chunk {
    Data(Vec<u8>),
    Finish,
}

/// Streams one payload blob to disk. Dropping it without `finish` discards the blob.
pub struct PayloadWriter {
    kind: PayloadKind,
    written: Written,
    dir: PathBuf,
    tmp_path: PathBuf,
    enc: Encoder,
    tx: Option<SyncSender<Chunk>>,
    recycled: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<(Digest, u64)>>>,
    columns: Option<usize>,
    table: String,
    len: u64,
}

impl std::fmt::Debug for PayloadWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadWriter")
            .field("kind", &self.kind)
            .field("tmp_path", &self.tmp_path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

fn blob_worker(
    file: File,
    rx: &Receiver<Chunk>,
    back: &SyncSender<Vec<u8>>,
) -> io::Result<(Digest, u64)> {
    let mut w = BlobWriter::new(BufWriter::with_capacity(READ_BUFFER, file), BLOB_ZSTD_LEVEL)?;
    loop {
        match rx.recv() {
            Ok(Chunk::Data(mut buf)) => {
                w.write_body(&buf)?;
                buf.clear();
                // Hand the buffer back for reuse; if the writer has enough, drop it.
                let _ = back.try_send(buf);
            }
            Ok(Chunk::Finish) => break,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "payload writer abandoned",
                ))
            }
        }
    }
    let (out, digest, len) = w.finish()?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok((digest, len))
}

impl PayloadWriter {
    pub(super) fn create(
        dir: &Path,
        kind: PayloadKind,
        written: &Written,
    ) -> Result<PayloadWriter, JournalError> {
        let nonce = random_16(dir)?;
        let tmp_dir = payload_dir(dir).join(PAYLOAD_TMP_DIR);
        let tmp_path = tmp_dir.join(format!("{}.part", crate::chain::hex(&nonce)));
        note_written(written, &tmp_path);
        let file = private_file_options()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(io_err("creating payload", &tmp_path))?;
        let (tx, rx) = mpsc::sync_channel::<Chunk>(PAYLOAD_QUEUE);
        let (back_tx, back_rx) = mpsc::sync_channel::<Vec<u8>>(PAYLOAD_QUEUE + 1);
        let worker = std::thread::Builder::new()
            .name("journal-payload".into())
            .spawn(move || blob_worker(file, &rx, &back_tx))
            .map_err(io_err("starting payload worker for", &tmp_path))?;
        let mut enc = Encoder {
            buf: Vec::with_capacity(PAYLOAD_CHUNK + 4096),
        };
        encode_header(&mut enc, &PayloadHeader { kind, nonce });
        Ok(PayloadWriter {
            kind,
            written: std::sync::Arc::clone(written),
            dir: dir.to_owned(),
            tmp_path,
            enc,
            tx: Some(tx),
            recycled: back_rx,
            worker: Some(worker),
            columns: None,
            table: String::new(),
            len: 0,
        })
    }

    /// Uncompressed body bytes produced so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len + self.enc.buf.len() as u64
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn worker_error(&mut self) -> JournalError {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => JournalError::io("writing payload", &self.tmp_path, e),
            _ => JournalError::WorkerFailed,
        }
    }

    fn maybe_flush(&mut self) -> Result<(), JournalError> {
        if self.enc.buf.len() >= PAYLOAD_CHUNK {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<(), JournalError> {
        if self.enc.buf.is_empty() {
            return Ok(());
        }
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PAYLOAD_CHUNK + 4096));
        let full = std::mem::replace(&mut self.enc.buf, fresh);
        self.len += full.len() as u64;
        let sent = match &self.tx {
            Some(tx) => tx.send(Chunk::Data(full)).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.worker_error())
        }
    }

    /// Starts a group of rows of `table` with these columns (at least one).
    pub fn begin_table(&mut self, table: &str, columns: &[String]) -> Result<(), JournalError> {
        if columns.is_empty() || columns.len() as u64 > MAX_COLUMNS {
            return Err(JournalError::PayloadUsage(format!(
                "table {table} with {} columns (allowed 1 to {MAX_COLUMNS})",
                columns.len()
            )));
        }
        encode_table(&mut self.enc, table, columns);
        self.columns = Some(columns.len());
        table.clone_into(&mut self.table);
        self.maybe_flush()
    }

    /// One row of the current table, one value per column.
    pub fn row(&mut self, role: RowRole, values: &[Value]) -> Result<(), JournalError> {
        match self.columns {
            None => {
                return Err(JournalError::PayloadUsage(
                    "row written before begin_table".into(),
                ))
            }
            Some(n) if n != values.len() => {
                return Err(JournalError::PayloadUsage(format!(
                    "row of {} values for table {} of {n} columns",
                    values.len(),
                    self.table
                )))
            }
            Some(_) => {}
        }
        encode_row(&mut self.enc, role, values);
        self.maybe_flush()
    }

    /// A JSON document (plans, details).
    pub fn json(&mut self, document: &str) -> Result<(), JournalError> {
        encode_json(&mut self.enc, document);
        self.maybe_flush()
    }

    /// A JSON document serialized from `value` straight into the blob, never held whole in
    /// memory: the same bytes as `json(&serde_json::to_string(value)?)`. It is serialized
    /// twice, once to count its bytes (the entry starts with its length) and once to write.
    ///
    /// # Errors
    /// The value cannot be serialized as JSON, or the worker failed.
    pub fn json_of<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JournalError> {
        struct Count(u64);
        impl io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        /// Appends to the payload, handing full chunks to the worker.
        struct Sink<'w>(&'w mut PayloadWriter, Option<JournalError>);
        impl io::Write for Sink<'_> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.enc.buf.extend_from_slice(buf);
                self.0.maybe_flush().map_err(|e| {
                    self.1 = Some(e);
                    io::Error::other("payload worker failed")
                })?;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let encode = |e: serde_json::Error| JournalError::Encode(format!("JSON document: {e}"));
        let mut count = Count(0);
        serde_json::to_writer(&mut count, value).map_err(encode)?;
        encode_json_head(&mut self.enc, count.0);
        let mut sink = Sink(self, None);
        let written = serde_json::to_writer(&mut sink, value);
        if let Some(e) = sink.1 {
            return Err(e);
        }
        written.map_err(encode)?;
        self.maybe_flush()
    }

    /// Finishes the blob: waits for the worker, syncs the file, moves it to its final name and
    /// syncs the directory. After this returns the blob is durable.
    pub fn finish(mut self) -> Result<PayloadRef, JournalError> {
        self.flush_chunk()?;
        let sent = match self.tx.take() {
            Some(tx) => tx.send(Chunk::Finish).is_ok(),
            None => false,
        };
        let joined = self.worker.take().map(JoinHandle::join);
        let (digest, len) = match joined {
            Some(Ok(Ok(r))) if sent => r,
            other => {
                let _ = fs::remove_file(&self.tmp_path);
                return Err(match other {
                    Some(Ok(Err(e))) => JournalError::io("writing payload", &self.tmp_path, e),
                    _ => JournalError::WorkerFailed,
                });
            }
        };
        let final_path = blob_path(&self.dir, &digest);
        let parent = final_path
            .parent()
            .map_or_else(|| payload_dir(&self.dir), Path::to_path_buf);
        if create_dir_private(&parent)? {
            sync_dir(&payload_dir(&self.dir))?;
        }
        note_written(&self.written, &final_path);
        fs::rename(&self.tmp_path, &final_path).map_err(io_err("storing payload", &final_path))?;
        sync_dir(&parent)?;
        Ok(PayloadRef {
            digest,
            len,
            kind: self.kind,
        })
    }
}

impl Drop for PayloadWriter {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            // Abandoned: closing the channel without `Finish` makes the worker stop.
            self.tx = None;
            let _ = worker.join();
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

/// Streaming reader of one blob's entries.
pub struct PayloadReader {
    entries: BlobEntries<File>,
    digest: Digest,
    path: PathBuf,
}

impl std::fmt::Debug for PayloadReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadReader")
            .field("digest", &self.digest)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PayloadReader {
    /// The blob's kind, from its header.
    #[must_use]
    pub fn kind(&self) -> Option<PayloadKind> {
        self.entries.header().map(|h| h.kind)
    }
}

impl Iterator for PayloadReader {
    type Item = Result<PayloadEntry, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(|r| {
            r.map_err(|detail| JournalError::PayloadCorrupt {
                digest: self.digest,
                path: self.path.clone(),
                detail,
            })
        })
    }
}

/// Opens a blob of the journal in `dir` for reading, without taking the writer lock.
pub fn open_payload(dir: &Path, digest: &Digest) -> Result<PayloadReader, JournalError> {
    let path = blob_path(dir, digest);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(JournalError::PayloadNotFound {
                digest: *digest,
                path,
            })
        }
        Err(e) => return Err(JournalError::io("opening payload", &path, e)),
    };
    let entries =
        BlobEntries::open(file, *digest).map_err(|detail| JournalError::PayloadCorrupt {
            digest: *digest,
            path: path.clone(),
            detail,
        })?;
    Ok(PayloadReader {
        entries,
        digest: *digest,
        path,
    })
}
