//! The quarantine: the only module that moves or removes files.
//!
//! A run never deletes a file. It moves it to `STATE_DIR/quarantine/<run-id>/<relative path>`
//! (rename within a filesystem; otherwise copy, fsync, verify the hash, then remove the
//! source), after recording its size, mode, owner, times and blake3 hash. A move is refused
//! when the source changed since it was planned (size, mtime, inode) or vanished. Undo moves
//! files back only where the original path is free and the bytes still hash right, restoring
//! mode, owner and times. Expiry destroys quarantined files after the undo window.
//!
//! Directories are created 0700; nothing here follows a symbolic link: links are moved as
//! links.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use housekeeper_journal::{Digest, FileMeta};

use crate::plan::FileItem;

/// Why a file was not moved.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("{path} vanished since it was planned")]
    Vanished { path: PathBuf },
    #[error("{path} changed since it was planned ({what})")]
    Changed { path: PathBuf, what: String },
    #[error("{path} already exists")]
    TargetExists { path: PathBuf },
    #[error("{path}: quarantined bytes do not match the recorded hash")]
    HashMismatch { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: refusing a path outside its directory")]
    BadPath { path: PathBuf },
}

impl QuarantineError {
    /// The stable code recorded in the journal for a skipped move.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            QuarantineError::Vanished { .. } => "vanished",
            QuarantineError::Changed { .. } => "changed",
            QuarantineError::TargetExists { .. } => "target_exists",
            QuarantineError::HashMismatch { .. } => "hash_mismatch",
            QuarantineError::Io { .. } => "io_error",
            QuarantineError::BadPath { .. } => "bad_path",
        }
    }

    /// Whether the file was left alone because the world moved on (it vanished or changed,
    /// its path is taken, its quarantined bytes differ), rather than because of a failure.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            QuarantineError::Vanished { .. }
                | QuarantineError::Changed { .. }
                | QuarantineError::TargetExists { .. }
                | QuarantineError::HashMismatch { .. }
        )
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QuarantineError + '_ {
    move |source| QuarantineError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The quarantine directory of one state dir.
#[derive(Debug, Clone)]
pub struct Quarantine {
    root: PathBuf,
}

impl Quarantine {
    #[must_use]
    pub fn new(root: PathBuf) -> Self {
        Quarantine { root }
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a file of `run_id` with path `relative` (inside the temp dir) is kept.
    ///
    /// # Errors
    /// `relative` is absolute or climbs out with `..`.
    pub fn path_for(&self, run_id: &str, relative: &str) -> Result<PathBuf, QuarantineError> {
        let rel = Path::new(relative);
        let clean = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !clean || relative.is_empty() {
            return Err(QuarantineError::BadPath {
                path: rel.to_owned(),
            });
        }
        Ok(self.root.join(run_id).join(rel))
    }

    /// Checks that the planned file is still what was planned and records its metadata and
    /// hash (regular files) or link target (symlinks).
    ///
    /// # Errors
    /// Vanished, changed (size, mtime or inode differ, or it is no longer the same kind), or
    /// unreadable.
    pub fn inspect(&self, item: &FileItem) -> Result<FileMeta, QuarantineError> {
        let path = Path::new(&item.path);
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QuarantineError::Vanished {
                    path: path.to_owned(),
                })
            }
            Err(e) => {
                return Err(QuarantineError::Io {
                    path: path.to_owned(),
                    source: e,
                })
            }
        };
        let mut what = Vec::new();
        if meta.len() != item.size {
            what.push(format!("size {} → {}", item.size, meta.len()));
        }
        let mtime_ns = mtime_ns(&meta);
        if mtime_ns != item.mtime_ns {
            what.push("modification time".to_owned());
        }
        if meta.ino() != item.inode || meta.dev() != item.dev {
            what.push("inode".to_owned());
        }
        if meta.file_type().is_symlink() != item.is_symlink {
            what.push("file type".to_owned());
        }
        if !meta.file_type().is_symlink() && !meta.file_type().is_file() {
            what.push("no longer a regular file".to_owned());
        }
        if !what.is_empty() {
            return Err(QuarantineError::Changed {
                path: path.to_owned(),
                what: what.join(", "),
            });
        }
        let (blake3, link_target) = if meta.file_type().is_symlink() {
            let target = fs::read_link(path).map_err(io_err(path))?;
            (None, Some(target.to_string_lossy().into_owned()))
        } else {
            (Some(hash_file(path)?), None)
        };
        Ok(FileMeta {
            size: meta.len(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            mtime_ns,
            atime_ns: atime_ns(&meta),
            dev: meta.dev(),
            inode: meta.ino(),
            blake3,
            link_target,
        })
    }

    /// Moves `source` to `dest` (a path from `path_for`), keeping its bytes, mode and times.
    /// Re-checks the source against `meta` right before moving.
    ///
    /// # Errors
    /// The source changed or vanished, the destination exists, or the filesystem failed; the
    /// source is then where it was.
    pub fn move_in(
        &self,
        source: &Path,
        meta: &FileMeta,
        dest: &Path,
    ) -> Result<(), QuarantineError> {
        let now = fs::symlink_metadata(source).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                QuarantineError::Vanished {
                    path: source.to_owned(),
                }
            } else {
                QuarantineError::Io {
                    path: source.to_owned(),
                    source: e,
                }
            }
        })?;
        if now.len() != meta.size || mtime_ns(&now) != meta.mtime_ns || now.ino() != meta.inode {
            return Err(QuarantineError::Changed {
                path: source.to_owned(),
                what: "between inspection and move".into(),
            });
        }
        if let Some(parent) = dest.parent() {
            create_private_dirs(parent)?;
        }
        if fs::symlink_metadata(dest).is_ok() {
            return Err(QuarantineError::TargetExists {
                path: dest.to_owned(),
            });
        }
        move_file(source, dest, meta)
    }

    /// Whether a quarantined file can go back to `original`: the path must be free and the
    /// quarantined bytes (or link target) must still be what was recorded.
    ///
    /// # Errors
    /// `TargetExists`, `Vanished` (the quarantined file is missing), `HashMismatch`, or the
    /// filesystem failed.
    pub fn check_restore(
        &self,
        quarantined: &Path,
        meta: &FileMeta,
        original: &Path,
    ) -> Result<(), QuarantineError> {
        if fs::symlink_metadata(original).is_ok() {
            return Err(QuarantineError::TargetExists {
                path: original.to_owned(),
            });
        }
        let io = |source| QuarantineError::Io {
            path: quarantined.to_owned(),
            source,
        };
        let mismatch = || QuarantineError::HashMismatch {
            path: quarantined.to_owned(),
        };
        match compare(quarantined, meta) {
            Ok(()) => {}
            Err(Mismatch::Missing(e)) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QuarantineError::Vanished {
                    path: quarantined.to_owned(),
                })
            }
            Err(Mismatch::Missing(e) | Mismatch::NotALink(e)) => return Err(io(e)),
            Err(Mismatch::Unreadable(e)) => return Err(e),
            Err(Mismatch::NotAFile | Mismatch::Bytes { .. } | Mismatch::LinkTarget { .. }) => {
                return Err(mismatch())
            }
        }
        Ok(())
    }

    /// Moves a quarantined file back to `original` after `check_restore`; restores mode,
    /// owner and times.
    ///
    /// # Errors
    /// As `check_restore`, or the filesystem failed.
    pub fn restore(
        &self,
        quarantined: &Path,
        meta: &FileMeta,
        original: &Path,
    ) -> Result<(), QuarantineError> {
        self.check_restore(quarantined, meta, original)?;
        if let Some(parent) = original.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        move_file(quarantined, original, meta)?;
        restore_owner(original, meta)?;
        Ok(())
    }

    /// Removes a run's quarantine directory and everything in it (expiry). Returns the files
    /// removed.
    ///
    /// # Errors
    /// The filesystem failed.
    pub fn expire_run(&self, run_id: &str) -> Result<Vec<PathBuf>, QuarantineError> {
        let dir = self.root.join(run_id);
        let mut removed = Vec::new();
        if !dir.exists() {
            return Ok(removed);
        }
        collect_files(&dir, &mut removed)?;
        fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        sync_dir(&self.root)?;
        Ok(removed)
    }

    /// Removes one file left half-copied by a crash (recovery only).
    ///
    /// # Errors
    /// The filesystem failed.
    pub fn discard_partial(&self, path: &Path) -> Result<(), QuarantineError> {
        if !path.starts_with(&self.root) {
            return Err(QuarantineError::BadPath {
                path: path.to_owned(),
            });
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(QuarantineError::Io {
                path: path.to_owned(),
                source: e,
            }),
        }
    }

    /// Runs with a quarantine directory, and the files and bytes each holds.
    ///
    /// # Errors
    /// The directory could not be read.
    pub fn list(&self) -> Result<Vec<(String, u64, u64)>, QuarantineError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(QuarantineError::Io {
                    path: self.root.clone(),
                    source: e,
                })
            }
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&self.root))?;
            let mut files = Vec::new();
            collect_files(&entry.path(), &mut files)?;
            let bytes = files
                .iter()
                .filter_map(|f| fs::symlink_metadata(f).ok())
                .map(|m| m.len())
                .sum();
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                files.len() as u64,
                bytes,
            ));
        }
        out.sort();
        Ok(out)
    }
}

/// How a file differs from what was recorded of it when it was moved.
#[derive(Debug)]
pub enum Mismatch {
    /// It cannot be found (or `lstat` failed).
    Missing(io::Error),
    /// It was recorded as a regular file and is something else now.
    NotAFile,
    /// Its bytes hash differently.
    Bytes { blake3: Digest },
    /// Its bytes could not be read.
    Unreadable(QuarantineError),
    /// It was recorded as a symbolic link and points elsewhere now.
    LinkTarget { now: PathBuf },
    /// It was recorded as a symbolic link and is no longer one.
    NotALink(io::Error),
}

/// Whether the file at `path` is still the one `meta` records: the same bytes (blake3) for a
/// regular file, the same target for a symbolic link. Used before a file goes back (undo),
/// by `journal verify`, and by recovery.
///
/// # Errors
/// How it differs.
pub fn compare(path: &Path, meta: &FileMeta) -> Result<(), Mismatch> {
    let lstat = fs::symlink_metadata(path).map_err(Mismatch::Missing)?;
    match (&meta.blake3, &meta.link_target) {
        (Some(expected), _) => {
            if !lstat.file_type().is_file() {
                return Err(Mismatch::NotAFile);
            }
            let got = hash_file(path).map_err(Mismatch::Unreadable)?;
            if got != *expected {
                return Err(Mismatch::Bytes { blake3: got });
            }
        }
        (None, Some(target)) => {
            let now = fs::read_link(path).map_err(Mismatch::NotALink)?;
            if now.to_string_lossy() != target.as_str() {
                return Err(Mismatch::LinkTarget { now });
            }
        }
        (None, None) => {}
    }
    Ok(())
}

/// blake3 of a file's bytes, streaming.
///
/// # Errors
/// The file could not be read.
pub fn hash_file(path: &Path) -> Result<Digest, QuarantineError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Digest(*hasher.finalize().as_bytes()))
}

/// Modification time in nanoseconds since the epoch.
#[must_use]
pub fn mtime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

fn atime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.atime()) * 1_000_000_000 + i128::from(meta.atime_nsec())
}

fn create_private_dirs(dir: &Path) -> Result<(), QuarantineError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => {
            return Err(QuarantineError::Io {
                path: dir.to_owned(),
                source: e,
            })
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))
}

fn sync_dir(dir: &Path) -> Result<(), QuarantineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Rename, or (across filesystems) copy + fsync + verify + remove.
fn move_file(source: &Path, dest: &Path, meta: &FileMeta) -> Result<(), QuarantineError> {
    match fs::rename(source, dest) {
        Ok(()) => {
            if let Some(parent) = dest.parent() {
                sync_dir(parent)?;
            }
            if let Some(parent) = source.parent() {
                sync_dir(parent)?;
            }
            return Ok(());
        }
        Err(e) if e.raw_os_error() == Some(libc_exdev()) => {}
        Err(e) => {
            return Err(QuarantineError::Io {
                path: source.to_owned(),
                source: e,
            })
        }
    }
    copy_verified(source, dest, meta)?;
    fs::remove_file(source).map_err(io_err(source))?;
    if let Some(parent) = source.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

const fn libc_exdev() -> i32 {
    18 // EXDEV on Linux
}

fn copy_verified(source: &Path, dest: &Path, meta: &FileMeta) -> Result<(), QuarantineError> {
    // The copy keeps the owner as a rename would (best effort: it needs privileges, and as
    // the file's own user the owner is already right); before the mode, since a change of
    // owner may clear set-id bits.
    let keep_owner = || {
        let _ = std::os::unix::fs::lchown(dest, Some(meta.uid), Some(meta.gid));
    };
    if let Some(target) = &meta.link_target {
        std::os::unix::fs::symlink(target, dest).map_err(io_err(dest))?;
        keep_owner();
        set_link_times(dest, meta)?;
    } else {
        let mut from = File::open(source).map_err(io_err(source))?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(io_err(dest))?;
        io::copy(&mut from, &mut to).map_err(io_err(dest))?;
        to.flush().map_err(io_err(dest))?;
        to.sync_all().map_err(io_err(dest))?;
        if let Some(expected) = &meta.blake3 {
            if hash_file(dest)? != *expected {
                let _ = fs::remove_file(dest);
                return Err(QuarantineError::HashMismatch {
                    path: dest.to_owned(),
                });
            }
        }
        keep_owner();
        fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode & 0o7777))
            .map_err(io_err(dest))?;
        set_times(dest, meta)?;
    }
    if let Some(parent) = dest.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn set_times(path: &Path, meta: &FileMeta) -> Result<(), QuarantineError> {
    let to_time = |ns: i128| {
        let secs = u64::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(0);
        let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
        std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
    };
    let times = fs::FileTimes::new()
        .set_modified(to_time(meta.mtime_ns))
        .set_accessed(to_time(meta.atime_ns));
    // Explicit times need ownership, not write access: a read-only descriptor will do.
    let file = File::open(path).map_err(io_err(path))?;
    file.set_times(times).map_err(io_err(path))
}

/// Restores owner (when permitted) and, for regular files, mode and times.
fn restore_owner(path: &Path, meta: &FileMeta) -> Result<(), QuarantineError> {
    // Changing the owner needs privileges; as the file's own user the uid is already right.
    let _ = std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid));
    if meta.link_target.is_none() {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode & 0o7777))
            .map_err(io_err(path))?;
        set_times(path, meta)?;
    } else {
        set_link_times(path, meta)?;
    }
    Ok(())
}

/// A symbolic link's own times (never its target's).
fn set_link_times(path: &Path, meta: &FileMeta) -> Result<(), QuarantineError> {
    let time = |ns: i128| {
        let secs = i64::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(0);
        let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
        filetime::FileTime::from_unix_time(secs, nanos)
    };
    filetime::set_symlink_file_times(path, time(meta.atime_ns), time(meta.mtime_ns))
        .map_err(io_err(path))
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), QuarantineError> {
    let meta = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        out.push(dir.to_owned());
        return Ok(());
    }
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        collect_files(&entry.path(), out)?;
    }
    Ok(())
}
