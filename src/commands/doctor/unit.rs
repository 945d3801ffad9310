//! The installed service unit as `doctor` reads it: the unit file and its drop-ins
//! (`multiflexi-housekeeper.service.d/*.conf`) from the systemd unit directories, the
//! settings that decide where the service may write (`ProtectSystem=`, `ProtectHome=`,
//! `ReadWritePaths=`, `StateDirectory=`, `PrivateTmp=`) and its `User=`, and whether the paths a run
//! writes are among them. Reads only; systemd itself is not asked.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The service unit the package installs.
pub const SERVICE: &str = "multiflexi-housekeeper.service";

/// Where systemd looks for units, highest priority first (`HOUSEKEEPER_SYSTEMD_UNIT_DIRS`
/// replaces the list, for tests).
pub const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// `ProtectSystem=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtectSystem {
    #[default]
    No,
    /// `yes`: `/usr`, `/boot`, `/efi` read-only.
    Yes,
    /// `full`: also `/etc`.
    Full,
    /// `strict`: everything but the API file systems and the writable paths.
    Strict,
}

/// `ProtectHome=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtectHome {
    #[default]
    No,
    /// `yes` or `tmpfs`: the home directories are not reachable at all.
    Hidden,
    /// `read-only`.
    ReadOnly,
}

/// What the unit allows the service to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// The unit file and the drop-ins read, in the order systemd applies them.
    pub files: Vec<PathBuf>,
    pub protect_system: ProtectSystem,
    pub protect_home: ProtectHome,
    /// `PrivateTmp=`: `/tmp` and `/var/tmp` are the service's own.
    pub private_tmp: bool,
    pub read_write: Vec<PathBuf>,
    /// `StateDirectory=` names as paths under `/var/lib`.
    pub state_directories: Vec<PathBuf>,
    pub user: Option<String>,
}

impl Sandbox {
    /// Reads the unit `name` from `dirs` (highest priority first): the first unit file found,
    /// then the drop-ins of every directory (a drop-in name in a higher directory hides the
    /// same name below), in the order of their file names. `None` when no unit file exists.
    #[must_use]
    pub fn read(dirs: &[PathBuf], name: &str) -> Option<Sandbox> {
        let unit = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())?;
        let mut drop_ins: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
        for dir in dirs.iter().rev() {
            let Ok(entries) = std::fs::read_dir(dir.join(format!("{name}.d"))) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "conf") && path.is_file() {
                    drop_ins.insert(entry.file_name(), path);
                }
            }
        }
        let mut sandbox = Sandbox::default();
        for file in std::iter::once(unit).chain(drop_ins.into_values()) {
            // An unreadable file counts as empty: doctor runs as any user.
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            sandbox.apply(&text);
            sandbox.files.push(file);
        }
        Some(sandbox)
    }

    /// Applies the `[Service]` settings of one unit file or drop-in.
    pub fn apply(&mut self, text: &str) {
        let mut in_service = false;
        let mut logical = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if let Some(head) = line.strip_suffix('\\') {
                logical.push_str(head);
                logical.push(' ');
                continue;
            }
            logical.push_str(line);
            let line = std::mem::take(&mut logical);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if in_service {
                self.set(key.trim(), value.trim());
            }
        }
    }

    fn set(&mut self, key: &str, value: &str) {
        let yes = |v: &str| matches!(v, "yes" | "true" | "on" | "1");
        match key {
            "ProtectSystem" => {
                self.protect_system = match value {
                    "strict" => ProtectSystem::Strict,
                    "full" => ProtectSystem::Full,
                    v if yes(v) => ProtectSystem::Yes,
                    _ => ProtectSystem::No,
                };
            }
            "ProtectHome" => {
                self.protect_home = match value {
                    "read-only" => ProtectHome::ReadOnly,
                    "tmpfs" => ProtectHome::Hidden,
                    v if yes(v) => ProtectHome::Hidden,
                    _ => ProtectHome::No,
                };
            }
            "PrivateTmp" => self.private_tmp = yes(value),
            // An empty assignment resets the list, as systemd does.
            "ReadWritePaths" if value.is_empty() => self.read_write.clear(),
            "ReadWritePaths" => self.read_write.extend(
                value
                    .split_whitespace()
                    .map(|p| PathBuf::from(p.trim_start_matches(['-', '+']))),
            ),
            "StateDirectory" if value.is_empty() => self.state_directories.clear(),
            "StateDirectory" => {
                self.state_directories
                    .extend(value.split_whitespace().map(|name| {
                        let name = name.split(':').next().unwrap_or(name);
                        Path::new("/var/lib").join(name)
                    }));
            }
            "User" => self.user = (!value.is_empty()).then(|| value.to_owned()),
            _ => {}
        }
    }

    /// Why the service may not write `path` (lexically: links are not followed), or `None`
    /// when it may.
    #[must_use]
    pub fn blocked(&self, path: &Path) -> Option<&'static str> {
        let path = normal(path);
        let granted = self
            .read_write
            .iter()
            .chain(&self.state_directories)
            .any(|w| path.starts_with(normal(w)));
        let under = |prefixes: &[&str]| prefixes.iter().any(|p| path.starts_with(p));
        if under(&["/home", "/root", "/run/user"]) {
            match self.protect_home {
                ProtectHome::Hidden => return Some("is hidden from the service by ProtectHome="),
                ProtectHome::ReadOnly if !granted => {
                    return Some("is read-only for the service (ProtectHome=read-only)")
                }
                _ => {}
            }
        }
        if self.private_tmp && under(&["/tmp", "/var/tmp"]) {
            return Some("is in the service's own empty /tmp (PrivateTmp=yes), not this one");
        }
        let read_only = match self.protect_system {
            ProtectSystem::No => false,
            ProtectSystem::Yes => under(&["/usr", "/boot", "/efi"]),
            ProtectSystem::Full => under(&["/usr", "/boot", "/efi", "/etc"]),
            ProtectSystem::Strict => !under(&["/dev", "/proc", "/sys"]),
        };
        (read_only && !granted).then_some(
            "is read-only for the service (ProtectSystem=, and no ReadWritePaths= or StateDirectory= covers it)",
        )
    }

    /// Whether `path` is one of the unit's `StateDirectory=` directories (systemd creates it
    /// and gives it to `User=` at every start).
    #[must_use]
    pub fn is_state_directory(&self, path: &Path) -> bool {
        let path = normal(path);
        self.state_directories.iter().any(|s| normal(s) == path)
    }
}

/// `path` absolute, with `.` and `..` resolved lexically.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in crate::config::absolute(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../systemd/multiflexi-housekeeper.service");

    fn shipped() -> Sandbox {
        let mut s = Sandbox::default();
        s.apply(SHIPPED);
        s
    }

    #[test]
    fn the_shipped_unit_writes_the_default_paths_only() {
        let s = shipped();
        assert_eq!(s.protect_system, ProtectSystem::Strict);
        assert_eq!(s.protect_home, ProtectHome::Hidden);
        assert_eq!(s.user.as_deref(), Some("multiflexi"));
        assert!(s
            .blocked(Path::new("/var/lib/multiflexi-housekeeper/journal"))
            .is_none());
        assert!(s.blocked(Path::new("/var/lib/multiflexi/tmp")).is_none());
        assert!(s
            .blocked(Path::new("/var/lib/dbconfig-common/sqlite3/multiflexi"))
            .is_none());
        assert!(s.blocked(Path::new("/srv/multiflexi/tmp")).is_some());
        assert!(s
            .blocked(Path::new("/var/lib/multiflexi/tmp/../db"))
            .is_some());
        assert!(s.blocked(Path::new("/home/mf/tmp")).is_some());
        assert_eq!(
            s.blocked(Path::new("/tmp/multiflexi")),
            Some("is in the service's own empty /tmp (PrivateTmp=yes), not this one")
        );
        assert!(s.is_state_directory(Path::new("/var/lib/multiflexi-housekeeper/")));
    }

    #[test]
    fn drop_ins_add_paths_and_an_empty_assignment_resets() {
        let mut s = shipped();
        s.apply("[Service]\nReadWritePaths=-/srv/multiflexi/tmp \\\n  /srv/db\n");
        assert!(s.blocked(Path::new("/srv/multiflexi/tmp/x")).is_none());
        assert!(s.blocked(Path::new("/srv/db")).is_none());
        s.apply("[Service]\nReadWritePaths=\nStateDirectory=\n");
        assert!(s.blocked(Path::new("/var/lib/multiflexi/tmp")).is_some());
        assert!(s
            .blocked(Path::new("/var/lib/multiflexi-housekeeper"))
            .is_some());
        s.apply("[Unit]\nProtectSystem=no\n[Service]\nProtectSystem=full\n");
        assert_eq!(s.protect_system, ProtectSystem::Full);
        assert!(s.blocked(Path::new("/srv/anything")).is_none());
        assert!(s.blocked(Path::new("/etc/multiflexi")).is_some());
    }

    #[test]
    fn the_first_unit_file_and_every_drop_in_are_read_in_order() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        let lib = root.path().join("lib");
        std::fs::create_dir_all(etc.join(format!("{SERVICE}.d"))).unwrap();
        std::fs::create_dir_all(lib.join(format!("{SERVICE}.d"))).unwrap();
        std::fs::write(lib.join(SERVICE), SHIPPED).unwrap();
        std::fs::write(
            lib.join(format!("{SERVICE}.d/10-tmp.conf")),
            "[Service]\nReadWritePaths=/srv/lib-tmp\n",
        )
        .unwrap();
        // Hides the drop-in of the same name in the lower directory.
        std::fs::write(
            etc.join(format!("{SERVICE}.d/10-tmp.conf")),
            "[Service]\nReadWritePaths=/srv/etc-tmp\n",
        )
        .unwrap();
        std::fs::write(
            etc.join(format!("{SERVICE}.d/20-user.conf")),
            "[Service]\nUser=hk\n",
        )
        .unwrap();
        let s = Sandbox::read(&[etc.clone(), lib.clone()], SERVICE).unwrap();
        assert_eq!(s.files.len(), 3);
        assert_eq!(s.files[0], lib.join(SERVICE));
        assert!(s.blocked(Path::new("/srv/etc-tmp")).is_none());
        assert!(s.blocked(Path::new("/srv/lib-tmp")).is_some());
        assert_eq!(s.user.as_deref(), Some("hk"));
        assert_eq!(Sandbox::read(&[etc], "other.service"), None);
    }
}
