//! The files of a journal directory as files: private modes (0700 directories, 0600 files),
//! directory syncs, the listing of segments and blobs, their paths, creating a segment whose
//! header is never torn, and the system's random bytes.
//!
//! Owns how a file is created and made durable. It must never decide what a file means: what
//! is in a segment or a blob is read by `scan`, `verify` and `payload`.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{JournalError, PAYLOAD_DIR, READ_BUFFER};
use crate::frame::{parse_segment_file_name, segment_file_name, SegmentHeader};
use crate::record::Digest;
use crate::verify::blob_relative_path;

pub(super) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |e| JournalError::io(op, path, e)
}

pub(super) fn create_dir_private(path: &Path) -> Result<bool, JournalError> {
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(JournalError::io("creating directory", path, e)),
    }
}

pub(super) fn sync_dir(path: &Path) -> Result<(), JournalError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", path))
}

/// Makes `path` a 0700 directory (creating it and its parents); true if modes were tightened.
pub(super) fn ensure_private_dir(path: &Path) -> Result<bool, JournalError> {
    match fs::metadata(path) {
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(JournalError::io(
                    "opening journal directory",
                    path,
                    io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                ));
            }
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700 | 0o700))
                    .map_err(io_err("restricting permissions of", path))?;
                return Ok(true);
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(path)
                .map_err(io_err("creating directory", path))?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            Ok(false)
        }
        Err(e) => Err(JournalError::io("opening journal directory", path, e)),
    }
}

pub(super) fn private_file_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

/// 16 bytes from the system's random source (journal ids must be unique, blob nonces also
/// unpredictable).
pub(super) fn random_16(dir: &Path) -> Result<[u8; 16], JournalError> {
    let mut out = [0u8; 16];
    getrandom::fill(&mut out).map_err(|e| {
        JournalError::io(
            "reading the system's random source for",
            dir,
            io::Error::other(e.to_string()),
        )
    })?;
    Ok(out)
}

/// The segment files of `dir`, sorted in chain order: (first seq from the name, file name).
pub(super) fn list_segments(dir: &Path) -> Result<Vec<(u64, String)>, JournalError> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(io_err("listing", dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err("listing", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            if let Some(seq) = parse_segment_file_name(name) {
                out.push((seq, name.to_owned()));
            }
        }
    }
    out.sort();
    Ok(out)
}

pub(super) fn payload_dir(dir: &Path) -> PathBuf {
    dir.join(PAYLOAD_DIR)
}

pub(super) fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(blob_relative_path(digest))
}

/// Every complete blob file under `payloads/`: (digest, path, mtime).
pub(super) fn list_blobs(
    dir: &Path,
) -> Result<Vec<(Digest, PathBuf, Option<SystemTime>)>, JournalError> {
    let root = payload_dir(dir);
    let mut out = Vec::new();
    let top = match fs::read_dir(&root) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(JournalError::io("listing", &root, e)),
    };
    for sub in top {
        let sub = sub.map_err(io_err("listing", &root))?;
        let name = sub.file_name();
        let Some(prefix) = name.to_str() else {
            continue;
        };
        if prefix.len() != 2 || !sub.path().is_dir() {
            continue;
        }
        let subdir = sub.path();
        for f in fs::read_dir(&subdir).map_err(io_err("listing", &subdir))? {
            let f = f.map_err(io_err("listing", &subdir))?;
            let fname = f.file_name();
            let Some(stem) = fname.to_str().and_then(|n| n.strip_suffix(".hkp")) else {
                continue;
            };
            if let Some(digest) = Digest::from_hex(stem) {
                let mtime = f.metadata().ok().and_then(|m| m.modified().ok());
                out.push((digest, f.path(), mtime));
            }
        }
    }
    Ok(out)
}

pub(super) fn open_segment_reader(dir: &Path, name: &str) -> Result<BufReader<File>, JournalError> {
    let path = dir.join(name);
    let f = File::open(&path).map_err(io_err("opening", &path))?;
    Ok(BufReader::with_capacity(READ_BUFFER, f))
}

/// Writes a segment header to a temporary name, syncs it and renames it into place, so a
/// segment header is never torn.
pub(super) fn create_segment(dir: &Path, header: &SegmentHeader) -> Result<String, JournalError> {
    let name = segment_file_name(header.first_seq);
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(&name);
    let mut f = private_file_options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("creating segment", &tmp))?;
    f.write_all(&header.to_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io_err("writing segment header", &tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io_err("renaming new segment", &tmp))?;
    sync_dir(dir)?;
    Ok(name)
}
