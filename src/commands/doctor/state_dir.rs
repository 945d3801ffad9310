//! What `doctor` checks of the state directory besides its existence: that the running user
//! can write it (permissions and a read-only mount, asked without creating anything), that
//! its file system has room, and that everything inside belongs to the directory's owner.
//! Reads only.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Access, StatVfsMountFlags};

use super::Diagnosis;

/// Below this much free space (or `LOW_SPACE_PERCENT`) the state directory is a warning.
pub const LOW_SPACE_BYTES: u64 = 64 * 1024 * 1024;
/// Below this share of the file system free the state directory is a warning.
pub const LOW_SPACE_PERCENT: u64 = 1;
/// Below this much free space a run cannot even write its journal records: a problem.
pub const NO_SPACE_BYTES: u64 = 1024 * 1024;

/// Entries named in the ownership problem (the count says how many there are in all).
const SHOWN: usize = 3;

/// Checks writability, space and ownership of `root`, or of its nearest existing parent
/// when it does not exist yet (the first run creates it there).
pub fn check(d: &mut Diagnosis, root: &Path) {
    let Some(existing) = std::iter::successors(Some(root), |p| p.parent()).find(|p| p.exists())
    else {
        return;
    };
    let read_only_mount =
        rustix::fs::statvfs(existing).is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY));
    let access = rustix::fs::access(existing, Access::WRITE_OK | Access::EXEC_OK);
    if let Err(reason) = writability(access, read_only_mount) {
        let uid = rustix::process::getuid().as_raw();
        d.add(
            "directories",
            "state directory access",
            "problem",
            format!(
                "{} {reason} for {} (uid {uid}): a run would fail",
                existing.display(),
                crate::state::user_name_of(uid),
            ),
        );
    }
    if !root.is_dir() {
        return;
    }
    if let Ok(stat) = rustix::fs::statvfs(root) {
        let free = stat.f_bavail.saturating_mul(stat.f_frsize);
        let total = stat.f_blocks.saturating_mul(stat.f_frsize);
        if let Some((level, text)) = space(free, total) {
            d.add(
                "directories",
                "state directory space",
                level,
                format!("{}: {text}", root.display()),
            );
        }
    }
    ownership(d, root);
}

/// Whether the running user may create files in a directory, from `access(W_OK|X_OK)` and
/// the mount's read-only flag; `Err` says why not.
///
/// # Errors
/// The reason the directory is not writable.
pub fn writability(
    access: rustix::io::Result<()>,
    read_only_mount: bool,
) -> Result<(), &'static str> {
    if read_only_mount {
        return Err("is on a read-only mount");
    }
    match access {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::ROFS) => Err("is on a read-only mount"),
        Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => Err("is not writable"),
        Err(_) => Err("cannot be checked for writing"),
    }
}

/// The level and text of the free space of the state directory's file system, `None` when
/// there is plenty: a warning below `LOW_SPACE_BYTES` or `LOW_SPACE_PERCENT`, a problem
/// below `NO_SPACE_BYTES`.
#[must_use]
pub fn space(free: u64, total: u64) -> Option<(&'static str, String)> {
    let mib = |b: u64| b / (1024 * 1024);
    let percent = free.saturating_mul(100).checked_div(total).unwrap_or(100);
    let figure = format!("{} MiB free of {} MiB ({percent} %)", mib(free), mib(total));
    if free < NO_SPACE_BYTES {
        Some((
            "problem",
            format!("{figure}: a run would fail writing its journal"),
        ))
    } else if free < LOW_SPACE_BYTES || percent < LOW_SPACE_PERCENT {
        Some((
            "warning",
            format!(
                "{figure}: journal payloads and quarantined files may not fit (warned below {} MiB or {LOW_SPACE_PERCENT} %)",
                mib(LOW_SPACE_BYTES)
            ),
        ))
    } else {
        None
    }
}

/// Everything inside `root` (recursively, links not followed) not owned by the owner of
/// `root`. Files inside the quarantine are left out: a moved file keeps the owner it had in
/// the temp directory, and removing it needs only the directory it is in.
fn ownership(d: &mut Diagnosis, root: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(root) else {
        return;
    };
    let (uid, gid) = (meta.uid(), meta.gid());
    let quarantine = root.join("quarantine");
    let mut foreign: Vec<(PathBuf, u32, u32)> = Vec::new();
    let mut count = 0usize;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let is_dir = meta.is_dir();
            if is_dir {
                pending.push(path.clone());
            } else if path.starts_with(&quarantine) {
                continue;
            }
            if meta.uid() != uid || meta.gid() != gid {
                count += 1;
                foreign.push((path, meta.uid(), meta.gid()));
            }
        }
    }
    if count == 0 {
        return;
    }
    foreign.sort();
    let owner = |uid: u32, gid: u32| {
        format!(
            "{}:{}",
            crate::state::user_name_of(uid),
            crate::state::group_name_of(gid)
        )
    };
    let shown: Vec<String> = foreign
        .iter()
        .take(SHOWN)
        .map(|(path, u, g)| format!("{} ({})", path.display(), owner(*u, *g)))
        .collect();
    let more = if count > SHOWN {
        format!(" and {} more", count - SHOWN)
    } else {
        String::new()
    };
    d.add(
        "directories",
        "state directory owner",
        "problem",
        format!(
            "{count} entries are not owned by {}, the owner of {}: {}{more}; a run as {} would fail on them; fix: chown -R {} {}",
            owner(uid, gid),
            root.display(),
            shown.join(", "),
            crate::state::user_name_of(uid),
            owner(uid, gid),
            root.display()
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    #[test]
    fn writability_names_the_reason() {
        assert_eq!(writability(Ok(()), false), Ok(()));
        assert_eq!(
            writability(Ok(()), true),
            Err("is on a read-only mount"),
            "root passes access() on a read-only bind only when the flag is looked at"
        );
        assert_eq!(
            writability(Err(Errno::ROFS), false),
            Err("is on a read-only mount")
        );
        assert_eq!(
            writability(Err(Errno::ACCESS), false),
            Err("is not writable")
        );
        assert_eq!(
            writability(Err(Errno::IO), false),
            Err("cannot be checked for writing")
        );
    }

    #[test]
    fn low_space_is_a_warning_with_the_figure_and_none_a_problem() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(space(10_000 * MIB, 100_000 * MIB), None);
        let (level, text) = space(63 * MIB, 100_000 * MIB).unwrap();
        assert_eq!(level, "warning");
        assert!(
            text.starts_with("63 MiB free of 100000 MiB (0 %)"),
            "{text}"
        );
        let (level, text) = space(500 * MIB, 100_000 * MIB).unwrap();
        assert_eq!(level, "warning", "below 1 %");
        assert!(text.contains("500 MiB free of 100000 MiB (0 %)"), "{text}");
        let (level, text) = space(MIB / 2, 100_000 * MIB).unwrap();
        assert_eq!(level, "problem");
        assert!(
            text.contains("a run would fail writing its journal"),
            "{text}"
        );
        assert_eq!(space(200 * MIB, 1000 * MIB), None);
    }
}
