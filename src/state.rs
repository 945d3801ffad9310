//! The state directory (`MULTIFLEXI_HOUSEKEEPER_STATE_DIR`): where the journal, its stored
//! index and the quarantine live, the host lock file, and this host's journal id. Also who and where we
//! are (host name, Unix user), for journal records and lock messages.
//!
//! Owns the layout and the host `flock`; it never touches journal or quarantine contents.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Why the host lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another housekeeper holds {path} ({holder})")]
    Held { path: PathBuf, holder: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The host lock, held until dropped.
#[derive(Debug)]
pub struct HostLock {
    _file: File,
}

impl StateDir {
    #[must_use]
    pub fn new(root: PathBuf) -> Self {
        StateDir { root }
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    #[must_use]
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// What a session derived from the journal, kept for the next one (a cache the database
    /// vouches for: `session::ledger`).
    #[must_use]
    pub fn journal_index(&self) -> PathBuf {
        self.root.join("journal-index")
    }

    #[must_use]
    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// Where `journal reset` keeps damaged journals, one directory each.
    #[must_use]
    pub fn set_aside_dir(&self) -> PathBuf {
        self.root.join("set-aside")
    }

    /// The journals set aside by `journal reset`, oldest first (their names start with the
    /// time of the reset).
    #[must_use]
    pub fn set_aside_journals(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(self.set_aside_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        out.sort();
        out
    }

    #[must_use]
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("housekeeper.lock")
    }

    /// Creates the directory (0700) if it is missing.
    ///
    /// # Errors
    /// It cannot be created, or exists and is not a directory.
    pub fn ensure(&self) -> io::Result<()> {
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a directory", self.root.display()),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.root)?;
                fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the host lock (`flock` on `housekeeper.lock`) without waiting, and writes who
    /// holds it into the file.
    ///
    /// # Errors
    /// `Held` naming the holder when another process has it.
    pub fn lock(&self, what: &str) -> Result<HostLock, LockError> {
        let path = self.lock_path();
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        if let Some(holder) = try_lock(&mut file).map_err(io)? {
            return Err(LockError::Held {
                path,
                holder: if holder.is_empty() {
                    "holder unknown".into()
                } else {
                    holder
                },
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        let text = format!(
            "pid {} on {} as {} since {}: {what}",
            std::process::id(),
            host_name(),
            user_name(),
            crate::clock::utc_stamp()
        );
        file.write_all(text.as_bytes()).map_err(io)?;
        Ok(HostLock { _file: file })
    }

    /// Who holds the host lock, without creating or writing the lock file (read-only
    /// commands): `None` when it is free or the file does not exist. Probes with a shared
    /// lock, so two readers never see each other as holders.
    ///
    /// # Errors
    /// The lock file exists but cannot be opened or locked.
    pub fn lock_holder(&self) -> io::Result<Option<String>> {
        let mut file = match File::open(self.lock_path()) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(None),
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                Ok(Some(if holder.is_empty() {
                    "holder unknown".into()
                } else {
                    holder.to_owned()
                }))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// The journal id an older version kept in `journal-id` (its anchors are keyed by it until
    /// the next run re-keys them to the journal's own id). Read, never written.
    #[must_use]
    pub fn legacy_journal_id(&self) -> Option<String> {
        fs::read_to_string(self.root.join(LEGACY_JOURNAL_ID))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// Removes `journal-id` once the anchors keyed by it were re-keyed (see
    /// `anchor::adopt`). A missing file is fine.
    ///
    /// # Errors
    /// It could not be removed.
    pub fn forget_legacy_journal_id(&self) -> io::Result<()> {
        // The state directory's own layout file, not a journal or quarantine file.
        #[allow(clippy::disallowed_methods)]
        match fs::remove_file(self.root.join(LEGACY_JOURNAL_ID)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Where versions before the journal's own identity keyed its anchors from.
const LEGACY_JOURNAL_ID: &str = "journal-id";

/// Writes `path` readable by its owner only (mode 0600 whatever the umask) and atomically (see
/// [`write_atomic`]).
///
/// # Errors
/// Writing, syncing or renaming failed.
pub fn write_private(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic(path, 0o600, write)
}

/// Takes `file`'s lock (`flock`) without waiting: `None` once taken, or what the process
/// holding it wrote into the file (trimmed; empty when it wrote nothing). The host lock and
/// SQLite's database lock file both say who holds them this way.
///
/// # Errors
/// Locking failed for another reason than another holder.
pub fn try_lock(file: &mut File) -> io::Result<Option<String>> {
    match file.try_lock() {
        Ok(()) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Ok(Some(holder.trim().to_owned()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Writes `path` with `mode` (whatever the umask) and atomically: a new temporary file next
/// to it, written by `write`, synced, renamed over `path`, and the directory synced. On
/// failure `path` is as it was and the temporary file is gone. The one place besides the
/// quarantine and the journal store that renames or removes files.
///
/// # Errors
/// Writing, syncing or renaming failed.
#[allow(clippy::disallowed_methods)] // owns its temporary file (clippy.toml)
pub fn write_atomic(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(".{name}.{}.tmp", random_hex(8)));
    let written = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// `n` hex digits (at most 64) from the system's random source, mixed with the process id and
/// host name, so they differ between calls, processes and hosts.
#[must_use]
pub fn random_hex(n: usize) -> String {
    let mut entropy = [0u8; 32];
    // The system's random source does not fail on a supported system; were it to, the
    // process id, a counter and the host name still make the digits unique.
    let _ = getrandom::fill(&mut entropy);
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&entropy);
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&COUNTER.fetch_add(1, Ordering::SeqCst).to_le_bytes());
    hasher.update(host_name().as_bytes());
    let hex = hasher.finalize().to_hex();
    hex.as_str()[..n.min(64)].to_owned()
}

/// A new run id: `YYYYMMDDTHHMMSSZ-xxxxxx`, sortable by start time.
#[must_use]
pub fn new_run_id() -> String {
    format!("{}-{}", crate::clock::compact_utc_stamp(), random_hex(6))
}

/// The host name (the kernel's node name), or `localhost`.
#[must_use]
pub fn host_name() -> String {
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// The effective Unix user's id.
#[must_use]
pub fn user_id() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
}

/// Bytes an unprivileged user may still write on the filesystem holding `path`.
///
/// # Errors
/// The filesystem could not be asked (the path does not exist, say).
pub fn available_space(path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The name of the Unix user running the tool (from the system's user database, else
/// `$USER`, else the numeric id).
#[must_use]
pub fn user_name() -> String {
    let uid = user_id();
    if let Some(name) = uid.and_then(name_of_user) {
        return name;
    }
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| uid.map_or_else(|| "unknown".into(), |u| u.to_string()))
}

/// The name of a Unix user id in the system's user database (NSS: files, LDAP, …).
#[must_use]
pub fn name_of_user(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// The name of a Unix group id in the system's group database.
#[must_use]
pub fn name_of_group(gid: u32) -> Option<String> {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

/// Whom a command run as root acts as: the owner of the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    /// From the user database; `None` for an id without an entry.
    pub name: Option<String>,
}

impl Owner {
    /// The user's name, or its number.
    #[must_use]
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.uid.to_string())
    }
}

/// Run as root on a state directory that belongs to another user (the service user), the
/// process becomes that user — its groups, then its uid — before it touches anything, so
/// every file it creates (the lock file, journal segments, payloads, quarantined files)
/// belongs to the state directory's owner and the service keeps working. Returns whom the
/// process now acts as; `None` when it is not root, or the directory is root's or missing.
///
/// # Errors
/// The directory cannot be examined, or the switch was refused (no `CAP_SETUID`).
pub fn act_as_owner(root: &Path) -> Result<Option<Owner>, String> {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let meta = match fs::metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", root.display())),
    };
    if meta.uid() == 0 {
        return Ok(None);
    }
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(meta.uid()))
        .ok()
        .flatten();
    let owner = Owner {
        uid: meta.uid(),
        gid: user.as_ref().map_or(meta.gid(), |u| u.gid.as_raw()),
        name: user.as_ref().map(|u| u.name.clone()),
    };
    let refused = |what: &str, e: nix::Error| {
        format!(
            "{} belongs to {}; becoming that user failed ({what}: {e})",
            root.display(),
            owner.label()
        )
    };
    let gid = nix::unistd::Gid::from_raw(owner.gid);
    match &owner.name {
        Some(name) => {
            let name = std::ffi::CString::new(name.as_bytes())
                .map_err(|_| format!("the user name of uid {} has a NUL byte", owner.uid))?;
            nix::unistd::initgroups(&name, gid).map_err(|e| refused("initgroups", e))?;
        }
        None => nix::unistd::setgroups(&[gid]).map_err(|e| refused("setgroups", e))?,
    }
    nix::unistd::setgid(gid).map_err(|e| refused("setgid", e))?;
    nix::unistd::setuid(nix::unistd::Uid::from_raw(owner.uid)).map_err(|e| refused("setuid", e))?;
    Ok(Some(owner))
}

/// The name of user `uid` from the system's user database, else the number.
#[must_use]
pub fn user_name_of(uid: u32) -> String {
    name_of_user(uid).unwrap_or_else(|| uid.to_string())
}

/// The name of group `gid` from the system's group database, else the number.
#[must_use]
pub fn group_name_of(gid: u32) -> String {
    name_of_group(gid).unwrap_or_else(|| gid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_host_lock_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        state.ensure().unwrap();
        let mode = fs::metadata(state.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let first = state.lock("run").unwrap();
        let err = state.lock("run").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("another housekeeper holds"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        state.lock("run").unwrap();
    }

    #[test]
    fn a_legacy_journal_id_is_read_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().to_owned());
        assert_eq!(state.legacy_journal_id(), None);
        state.forget_legacy_journal_id().unwrap();
        fs::write(dir.path().join("journal-id"), "0123456789abcdef\n").unwrap();
        assert_eq!(
            state.legacy_journal_id().as_deref(),
            Some("0123456789abcdef")
        );
        state.forget_legacy_journal_id().unwrap();
        assert_eq!(state.legacy_journal_id(), None);
        assert_ne!(random_hex(8), random_hex(8));
    }
}
