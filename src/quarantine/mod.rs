//! The quarantine: the only module that moves or removes files.
//!
//! A run never deletes a file. It moves it to `STATE_DIR/quarantine/<run-id>/<relative path>`
//! after recording its size, mode, owner, times and blake3 hash: a rename within a
//! filesystem; otherwise a copy to `quarantine/.partial/`, a hash check, and a rename into
//! place — a copy that fails leaves nothing in the quarantine, and recovery at start removes
//! what a crash left in `.partial/`. Moves come in batches (`Unsettled`): `settle` syncs each
//! filesystem that received copies and every directory the batch changed, once, and only
//! then removes the sources of its copies. A move is refused when the source changed since it was planned (size, mtime,
//! inode) or vanished. Undo moves files back only where the original path is free and the
//! bytes still hash right, restoring mode, owner and times. Expiry destroys quarantined files
//! after the undo window.
//!
//! Paths are bytes (`PathBytes`): a name that is not UTF-8 moves like any other. Directories
//! are created 0700 and a quarantined regular file is 0600 (its mode comes back with undo);
//! nothing here follows a symbolic link: links are moved as links.

// The one mover and remover of temp files (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use housekeeper_journal::{Digest, FileMeta, PathBytes};

use crate::plan::FileItem;
use crate::text::PathText;

/// Why a file was not moved.
#[derive(Debug, thiserror::Error)]
/// Paths are kept as bytes; a message shows them as `PathText` (exact when UTF-8), and every
/// text output escapes it once, so a file name chosen by a job can neither be lost nor write
/// control characters to a terminal.
pub enum QuarantineError {
    #[error("{} vanished since it was planned", PathText(.path))]
    Vanished { path: PathBytes },
    #[error("{} changed since it was planned ({what})", PathText(.path))]
    Changed { path: PathBytes, what: String },
    #[error("{} already exists", PathText(.path))]
    TargetExists { path: PathBytes },
    #[error("{}: quarantined bytes do not match the recorded hash", PathText(.path))]
    HashMismatch { path: PathBytes },
    #[error("{}: {source}", PathText(.path))]
    Io { path: PathBytes, source: io::Error },
    #[error("{}: refusing a path outside its directory", PathText(.path))]
    BadPath { path: PathBytes },
    #[error("{}: copying it to another filesystem failed, nothing was moved: {source}", PathText(.path))]
    CopyFailed {
        path: PathBytes,
        source: Box<QuarantineError>,
    },
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
            QuarantineError::Io { .. } | QuarantineError::CopyFailed { .. } => "io_error",
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
        path: path.into(),
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
    pub fn path_for(&self, run_id: &str, relative: &PathBytes) -> Result<PathBuf, QuarantineError> {
        let rel = relative.as_path();
        let clean = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !clean || relative.is_empty() {
            return Err(QuarantineError::BadPath { path: rel.into() });
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
        let path = item.path.as_path();
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QuarantineError::Vanished { path: path.into() })
            }
            Err(e) => {
                return Err(QuarantineError::Io {
                    path: path.into(),
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
                path: path.into(),
                what: what.join(", "),
            });
        }
        let (blake3, link_target) = if meta.file_type().is_symlink() {
            let target = fs::read_link(path).map_err(io_err(path))?;
            (None, Some(PathBytes::from(target)))
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
    /// Re-checks the source against `meta` right before moving. The move is durable, and the
    /// source of a copy across filesystems removed, only once `settle` has run on `batch`;
    /// `tag` names this move in what `settle` returns.
    ///
    /// # Errors
    /// The source changed or vanished, the destination exists, or the filesystem failed; the
    /// source is then where it was.
    pub fn move_in(
        &self,
        source: &Path,
        meta: &FileMeta,
        dest: &Path,
        batch: &mut Unsettled,
        tag: usize,
    ) -> Result<(), QuarantineError> {
        let now = fs::symlink_metadata(source).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                QuarantineError::Vanished {
                    path: source.into(),
                }
            } else {
                QuarantineError::Io {
                    path: source.into(),
                    source: e,
                }
            }
        })?;
        if now.len() != meta.size || mtime_ns(&now) != meta.mtime_ns || now.ino() != meta.inode {
            return Err(QuarantineError::Changed {
                path: source.into(),
                what: "between inspection and move".into(),
            });
        }
        if let Some(parent) = dest.parent() {
            create_dirs(parent, Some(0o700), batch)?;
        }
        if fs::symlink_metadata(dest).is_ok() {
            return Err(QuarantineError::TargetExists { path: dest.into() });
        }
        match rename_into(source, dest, batch)? {
            Renamed::Yes => make_private(dest, meta),
            Renamed::CrossDevice => {
                // Copied whole under a name of our own, verified, then renamed into place: a
                // copy that fails (a full disk) leaves nothing in the quarantine and the
                // source where it was.
                let staging = self.staging_path(dest, batch)?;
                copy_verified(source, &staging, meta, PRIVATE_FILE_MODE).map_err(|e| match e {
                    QuarantineError::Io { .. } => QuarantineError::CopyFailed {
                        path: source.into(),
                        source: Box::new(e),
                    },
                    other => other,
                })?;
                if let Err(e) = fs::rename(&staging, dest) {
                    let _ = fs::remove_file(&staging);
                    return Err(QuarantineError::Io {
                        path: dest.into(),
                        source: e,
                    });
                }
                batch.changed(dest);
                batch.changed(&staging);
                batch.copy_written(dest)?;
                batch.copied.push((tag, source.to_owned()));
                Ok(())
            }
        }
    }

    /// Makes a batch of moves durable: syncs each filesystem that received copies (their
    /// bytes) and every directory the moves changed, then removes the sources of the copies
    /// (now durable in their new place) and syncs their directories. Returns the copies whose source could not be removed, by tag: such a file
    /// is in both places.
    ///
    /// # Errors
    /// A directory could not be synced: whether the batch's moves survive a power loss is
    /// unknown, so nothing more may be recorded as moved.
    pub fn settle(
        &self,
        batch: Unsettled,
    ) -> Result<Vec<(usize, QuarantineError)>, QuarantineError> {
        let Unsettled {
            dirs,
            copied,
            copies_on,
        } = batch;
        // The copies' bytes: one sync of each filesystem that received any, not one per file.
        for dir in copies_on.values() {
            File::open(dir)
                .and_then(|d| rustix::fs::syncfs(&d).map_err(io::Error::from))
                .map_err(io_err(dir))?;
        }
        for dir in &dirs {
            sync_dir(dir)?;
        }
        let mut failed = Vec::new();
        let mut sources = BTreeSet::new();
        for (tag, source) in copied {
            match fs::remove_file(&source) {
                Ok(()) => {
                    if let Some(parent) = source.parent() {
                        sources.insert(parent.to_owned());
                    }
                }
                Err(e) => failed.push((tag, io_err(&source)(e))),
            }
        }
        for dir in &sources {
            sync_dir(dir)?;
        }
        Ok(failed)
    }

    /// Where the copy of a file moved in from another filesystem is written before it is
    /// renamed to `dest`: in `STAGING_DIR` (created 0700), named after `dest`. A leftover of
    /// an earlier attempt is ours and is replaced.
    fn staging_path(&self, dest: &Path, batch: &mut Unsettled) -> Result<PathBuf, QuarantineError> {
        let dir = self.root.join(STAGING_DIR);
        create_dirs(&dir, Some(0o700), batch)?;
        let name = blake3::hash(dest.as_os_str().as_bytes()).to_hex();
        let staging = dir.join(format!("{}.part", &name[..32]));
        match fs::remove_file(&staging) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(QuarantineError::Io {
                path: staging.as_path().into(),
                source: e,
            }),
            _ => Ok(staging),
        }
    }

    /// Removes what interrupted copies left in `STAGING_DIR` (recovery at start, under the
    /// host lock). Returns how many files went.
    ///
    /// # Errors
    /// The directory could not be read or a file could not be removed.
    pub fn discard_staging(&self) -> Result<usize, QuarantineError> {
        let dir = self.root.join(STAGING_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(QuarantineError::Io {
                    path: dir.as_path().into(),
                    source: e,
                })
            }
        };
        let mut removed = 0;
        for entry in entries {
            let path = entry.map_err(io_err(&dir))?.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&dir)?;
        }
        Ok(removed)
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
                path: original.into(),
            });
        }
        let io = |source| QuarantineError::Io {
            path: quarantined.into(),
            source,
        };
        let mismatch = || QuarantineError::HashMismatch {
            path: quarantined.into(),
        };
        match compare(quarantined, meta) {
            Ok(()) => {}
            Err(Mismatch::Missing(e)) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QuarantineError::Vanished {
                    path: quarantined.into(),
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
    /// owner and times. Durable, and the quarantined copy of a move across filesystems
    /// removed, once `settle` has run on `batch`.
    ///
    /// # Errors
    /// As `check_restore`, or the filesystem failed.
    pub fn restore(
        &self,
        quarantined: &Path,
        meta: &FileMeta,
        original: &Path,
        batch: &mut Unsettled,
        tag: usize,
    ) -> Result<(), QuarantineError> {
        self.check_restore(quarantined, meta, original)?;
        if let Some(parent) = original.parent() {
            create_dirs(parent, None, batch)?;
        }
        match rename_into(quarantined, original, batch)? {
            Renamed::Yes => {}
            Renamed::CrossDevice => {
                copy_verified(quarantined, original, meta, meta.mode & 0o7777)?;
                batch.changed(original);
                batch.copy_written(original)?;
                batch.copied.push((tag, quarantined.to_owned()));
            }
        }
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
            return Err(QuarantineError::BadPath { path: path.into() });
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(QuarantineError::Io {
                path: path.into(),
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
                    path: self.root.as_path().into(),
                    source: e,
                })
            }
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&self.root))?;
            if entry.file_name() == STAGING_DIR {
                continue; // copies being written, or left by a crash: not quarantined files
            }
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
    LinkTarget { now: PathBytes },
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
            if now.as_os_str().as_bytes() != target.as_bytes() {
                return Err(Mismatch::LinkTarget { now: now.into() });
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

/// Creates `dir` and its missing parents (with `mode`, or the default mode), noting in
/// `batch` each directory whose entries changed.
fn create_dirs(
    dir: &Path,
    mode: Option<u32>,
    batch: &mut Unsettled,
) -> Result<(), QuarantineError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, mode, batch)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => batch.changed(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => {
            return Err(QuarantineError::Io {
                path: dir.into(),
                source: e,
            })
        }
    }
    match mode {
        Some(mode) => {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(io_err(dir))
        }
        None => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), QuarantineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The directory inside the quarantine that holds copies still being written. Run ids never
/// start with a dot, so it is never taken for a run's directory.
pub const STAGING_DIR: &str = ".partial";

/// The mode of a regular file while it is in the quarantine: the service user's only. The
/// original mode is in the intent record's `FileMeta` and comes back with the file.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

enum Renamed {
    Yes,
    /// The destination is on another filesystem: the caller copies.
    CrossDevice,
}

/// Moves of one batch not yet durable: the directories whose entries they changed, and the
/// sources of copies across filesystems, removed by `Quarantine::settle` once the copies are
/// durable.
#[derive(Debug, Default)]
pub struct Unsettled {
    dirs: BTreeSet<PathBuf>,
    copied: Vec<(usize, PathBuf)>,
    /// A directory on each filesystem that received copies not yet synced, by device.
    copies_on: BTreeMap<u64, PathBuf>,
}

impl Unsettled {
    /// Notes a copy written (not yet synced) at `path`.
    fn copy_written(&mut self, path: &Path) -> Result<(), QuarantineError> {
        let dir = path.parent().unwrap_or(path);
        let dev = fs::metadata(dir).map_err(io_err(dir))?.dev();
        self.copies_on.entry(dev).or_insert_with(|| dir.to_owned());
        Ok(())
    }

    /// Notes that the directory holding `path` changed.
    fn changed(&mut self, path: &Path) {
        if let Some(parent) = path.parent() {
            if !self.dirs.contains(parent) {
                self.dirs.insert(parent.to_owned());
            }
        }
    }
}

/// Renames `source` to `dest`, noting both directories in `batch`.
fn rename_into(
    source: &Path,
    dest: &Path,
    batch: &mut Unsettled,
) -> Result<Renamed, QuarantineError> {
    match fs::rename(source, dest) {
        Ok(()) => {
            batch.changed(dest);
            batch.changed(source);
            Ok(Renamed::Yes)
        }
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => Ok(Renamed::CrossDevice),
        Err(e) => Err(QuarantineError::Io {
            path: source.into(),
            source: e,
        }),
    }
}

/// A regular file renamed into the quarantine becomes readable by the service user only
/// (symbolic links keep theirs). Changing the mode needs ownership: a file of another user
/// keeps its mode, logged, and is still out of reach behind the 0700 directories.
fn make_private(path: &Path, meta: &FileMeta) -> Result<(), QuarantineError> {
    if meta.link_target.is_some() {
        return Ok(());
    }
    match fs::set_permissions(path, fs::Permissions::from_mode(PRIVATE_FILE_MODE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            log::warn!(
                "{}: mode kept in the quarantine ({e}); its directory is 0700",
                PathText(&PathBytes::from(path))
            );
            Ok(())
        }
        Err(e) => Err(QuarantineError::Io {
            path: path.into(),
            source: e,
        }),
    }
}

/// Copies `source` to `to` (which must not exist), keeping owner (when permitted) and times,
/// with `mode` for a regular file: written and verified against the recorded hash. Any
/// failure removes what was written to `to`. Making the copy durable (its bytes and its
/// directory entry) is the caller's: `Quarantine::settle` syncs its filesystem before the
/// source is removed.
fn copy_verified(
    source: &Path,
    to: &Path,
    meta: &FileMeta,
    mode: u32,
) -> Result<(), QuarantineError> {
    // The copy keeps the owner as a rename would (best effort: it needs privileges, and as
    // the file's own user the owner is already right); before the mode, since a change of
    // owner may clear set-id bits.
    let keep_owner = || {
        let _ = std::os::unix::fs::lchown(to, Some(meta.uid), Some(meta.gid));
    };
    if let Some(target) = &meta.link_target {
        std::os::unix::fs::symlink(target.as_path(), to).map_err(io_err(to))?;
        keep_owner();
        if let Err(e) = set_link_times(to, meta) {
            let _ = fs::remove_file(to);
            return Err(e);
        }
    } else {
        let mut from = File::open(source).map_err(io_err(source))?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE_MODE)
            .open(to)
            .map_err(io_err(to))?;
        let written = (|| {
            io::copy(&mut from, &mut file).map_err(io_err(to))?;
            file.flush().map_err(io_err(to))?;
            drop(file);
            if let Some(expected) = &meta.blake3 {
                if hash_file(to)? != *expected {
                    return Err(QuarantineError::HashMismatch { path: to.into() });
                }
            }
            keep_owner();
            fs::set_permissions(to, fs::Permissions::from_mode(mode)).map_err(io_err(to))?;
            set_times(to, meta)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(to);
            return Err(e);
        }
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
    let time = |ns: i128| rustix::fs::Timespec {
        tv_sec: i64::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(0),
        tv_nsec: i64::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0),
    };
    let times = rustix::fs::Timestamps {
        last_access: time(meta.atime_ns),
        last_modification: time(meta.mtime_ns),
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io_err(path)(e.into()))
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
