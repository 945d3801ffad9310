//! The writer's lock on a journal directory, and setting a damaged journal aside.
//!
//! Owns the exclusive `flock` on `LOCK`. It must never wait for the lock: held elsewhere is
//! `Locked` at once. A journal set aside is moved whole and made read-only, never altered.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::files::{ensure_private_dir, io_err, sync_dir};
use super::{JournalError, LOCK_FILE};

/// Takes the writer's exclusive lock on the journal `dir` through its open lock file: held
/// elsewhere is `Locked`.
pub(super) fn take_lock(dir: &Path, lock: &File, lock_path: &Path) -> Result<(), JournalError> {
    match lock.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            dir: dir.to_owned(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(JournalError::io("locking", lock_path, e)),
    }
}

/// Sets a damaged journal aside for forensics: moves the directory `dir` to `dest` (which must
/// not exist; its parent is created 0700) and makes every file in it read-only (0400, its
/// directories 0500), so nothing appends to it again. Refuses while a writer holds its lock.
pub fn set_aside(dir: &Path, dest: &Path) -> Result<(), JournalError> {
    let lock_path = dir.join(LOCK_FILE);
    if let Ok(lock) = OpenOptions::new().read(true).write(true).open(&lock_path) {
        take_lock(dir, &lock, &lock_path)?;
    }
    if let Some(parent) = dest.parent() {
        ensure_private_dir(parent)?;
    }
    if dest.exists() {
        return Err(JournalError::io(
            "setting aside to",
            dest,
            io::Error::new(io::ErrorKind::AlreadyExists, "already exists"),
        ));
    }
    fs::rename(dir, dest).map_err(io_err("setting aside", dir))?;
    if let Some(parent) = dest.parent() {
        sync_dir(parent)?;
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    make_read_only(dest)
}

fn make_read_only(path: &Path) -> Result<(), JournalError> {
    let meta = fs::symlink_metadata(path).map_err(io_err("reading metadata of", path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err("listing", path))? {
            let entry = entry.map_err(io_err("listing", path))?;
            make_read_only(&entry.path())?;
        }
        fs::set_permissions(path, fs::Permissions::from_mode(0o500))
            .map_err(io_err("making read-only", path))
    } else if meta.is_file() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o400))
            .map_err(io_err("making read-only", path))
    } else {
        Ok(())
    }
}
