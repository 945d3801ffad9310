//! DiskTempFileCleanup: files of `MULTIFLEXI_TMP` older than `TMP_AGE_HOURS`
//! (host clock, by mtime) are planned for the quarantine, unless an unfinished job refers to
//! them in its `env`. The walk uses `lstat` and never follows a symbolic link: an old link is
//! itself quarantined, its target untouched. Directories stay.
//!
//! Refused outright for system directories and for a directory that contains the state dir
//! or the SQLite database; skipped when the directory does not exist. An unreadable
//! directory is an error and the walk goes on. This duty only reads the filesystem; moving
//! is the quarantine's job.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use housekeeper_journal::{PathBytes, Value};

use super::common::{self, Need};
use super::job_env;
use super::{Duty, DutyContext, DutyName, Pending};
use crate::config::{Config, DbTarget};
use crate::db::{DbResult, ReadView, SchemaFacts};
use crate::plan::{DutyPlan, FileItem, Item, Op, Reason};

pub struct DiskTempFileCleanup;

/// What it may change: files of the temp directory, moved to the quarantine; no rows.
pub const SCOPE: super::Scope = super::Scope {
    deletes: &[],
    updates: &[],
    records: &[],
    files: true,
};

const NEEDS: &[Need] = &[
    Need {
        table: "job",
        column: Some("env"),
        since: "the first job table",
    },
    Need {
        table: "job",
        column: Some("exitcode"),
        since: "the first job table",
    },
];

/// Directories that are never swept, whatever `MULTIFLEXI_TMP` says.
pub const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/local",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/tmp",
    "/var/cache",
    "/var/lib/multiflexi",
];

/// A file or link seen by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub item: FileItem,
    pub mtime: SystemTime,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<Seen>,
    pub errors: Vec<String>,
}

impl Duty for DiskTempFileCleanup {
    fn name(&self) -> DutyName {
        DutyName::DiskTempFileCleanup
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        common::require(schema, NEEDS)
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        let dir = &ctx.config.tmp_dir;
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return DutyPlan::skipped(
                    self.name(),
                    ctx.now,
                    format!("temp directory {} does not exist", dir.display()),
                );
            }
            Err(e) => {
                return DutyPlan::failed(
                    self.name(),
                    ctx.now,
                    format!("temp directory {}: {e}", dir.display()),
                )
            }
            Ok(m) if !m.is_dir() => {
                return DutyPlan::failed(
                    self.name(),
                    ctx.now,
                    format!("temp directory {} is not a directory", dir.display()),
                );
            }
            Ok(_) => {}
        }
        if let Err(refusal) = refuse(dir, ctx.config) {
            return DutyPlan::failed(self.name(), ctx.now, refusal);
        }
        let protected = match gather_references(view, dir, ctx.pending) {
            Ok(p) => p,
            Err(e) => {
                return DutyPlan::failed(
                    self.name(),
                    ctx.now,
                    format!("reading unfinished jobs: {e}"),
                )
            }
        };
        let walk = walk(dir);
        let age = Duration::from_secs(ctx.config.tmp_age_hours.saturating_mul(3600));
        let cutoff = ctx
            .host_now
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        decide(walk, &protected, cutoff, ctx.config.tmp_age_hours, ctx.now)
    }
}

/// Refuses system directories and directories containing the state dir or the database.
///
/// # Errors
/// The refusal, naming the directory and why.
pub fn refuse(dir: &Path, config: &Config) -> Result<(), String> {
    let real = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| job_env::normalize(&crate::config::absolute(dir)));
    if SYSTEM_DIRS.iter().any(|s| real == Path::new(s)) {
        return Err(format!(
            "refusing to sweep {} (MULTIFLEXI_TMP={}): it is a system directory",
            real.display(),
            dir.display()
        ));
    }
    let inside = |other: &Path| {
        let other = std::fs::canonicalize(other)
            .unwrap_or_else(|_| job_env::normalize(&crate::config::absolute(other)));
        other.starts_with(&real)
    };
    if inside(&config.state_dir) {
        return Err(format!(
            "refusing to sweep {}: it contains the state directory {}",
            real.display(),
            config.state_dir.display()
        ));
    }
    if let Some(DbTarget::Sqlite { path }) = &config.database {
        if inside(path) {
            return Err(format!(
                "refusing to sweep {}: it contains the database {}",
                real.display(),
                path.display()
            ));
        }
    }
    Ok(())
}

/// Paths inside `dir` referenced by unfinished jobs, as they will be when this duty runs
/// (`pending`: jobs an earlier duty's plan deletes refer to nothing, an anonymized `env` to
/// what it will hold).
///
/// # Errors
/// The query failed.
pub fn gather_references(
    view: &mut dyn ReadView,
    dir: &Path,
    pending: &Pending,
) -> DbResult<BTreeSet<PathBuf>> {
    let d = *view.dialect();
    let sql = format!(
        "SELECT {}, {} FROM {} WHERE {} IS NULL AND {} IS NOT NULL",
        d.quote("id"),
        d.quote("env"),
        d.quote("job"),
        d.quote("exitcode"),
        d.quote("env")
    );
    let mut out = BTreeSet::new();
    let dirs = [
        dir.to_owned(),
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()),
    ];
    view.query_each(&sql, &[], &mut |row| {
        if pending.gone("job", &row[0]) {
            return Ok(());
        }
        let bytes: Vec<u8> = match pending.value("job", &row[0], "env", &row[1]) {
            Value::Text(s) | Value::Json(s) => s.as_bytes().to_vec(),
            Value::Bytes(b) => b.clone(),
            _ => return Ok(()),
        };
        for d in &dirs {
            out.extend(job_env::referenced_paths(&bytes, d));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Walks `dir` with `lstat`, collecting regular files and symbolic links; unreadable
/// directories become errors and the walk goes on. Sorted by path.
#[must_use]
pub fn walk(dir: &Path) -> Walk {
    let mut out = Walk::default();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) => {
                out.errors.push(format!(
                    "cannot read directory {}: {e}",
                    crate::text::PathText(&PathBytes::from(current.as_path()))
                ));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    out.errors.push(format!(
                        "cannot read directory {}: {e}",
                        crate::text::PathText(&PathBytes::from(current.as_path()))
                    ));
                    break;
                }
            };
            let path = entry.path();
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                // Vanished while walking: nothing to do.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    out.errors.push(format!(
                        "cannot stat {}: {e}",
                        crate::text::PathText(&PathBytes::from(path.as_path()))
                    ));
                    continue;
                }
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if !kind.is_file() && !kind.is_symlink() {
                continue; // sockets, FIFOs, devices stay
            }
            // Names are bytes: one that is not UTF-8 is planned, moved and shown like any other.
            let relative = path
                .strip_prefix(dir)
                .map(PathBytes::from)
                .unwrap_or_default();
            out.files.push(Seen {
                item: FileItem {
                    path: PathBytes::from(path.as_path()),
                    relative,
                    size: meta.len(),
                    mtime_ns: crate::quarantine::mtime_ns(&meta),
                    dev: meta.dev(),
                    inode: meta.ino(),
                    is_symlink: kind.is_symlink(),
                },
                mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
    }
    out.files.sort_by(|a, b| a.item.path.cmp(&b.item.path));
    out
}

/// Whether `path` is referenced (equal to, or inside, a referenced path).
fn is_referenced(path: &Path, protected: &BTreeSet<PathBuf>) -> bool {
    protected.iter().any(|p| path == p || path.starts_with(p))
}

/// The plan: every old, unreferenced file or link to the quarantine.
#[must_use]
pub fn decide(
    walk: Walk,
    protected: &BTreeSet<PathBuf>,
    cutoff: SystemTime,
    hours: u64,
    now: housekeeper_journal::DateTimeValue,
) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::DiskTempFileCleanup, now);
    plan.errors = walk.errors;
    let mut kept = 0;
    for seen in walk.files {
        if seen.mtime >= cutoff {
            continue;
        }
        if is_referenced(seen.item.path.as_path(), protected) {
            kept += 1;
            plan.notes.push(format!(
                "{} is referenced by an unfinished job; kept",
                crate::text::PathText(&seen.item.path)
            ));
            continue;
        }
        let age_hours = cutoff
            .duration_since(seen.mtime)
            .map_or(hours, |d| d.as_secs() / 3600 + hours);
        let what = if seen.item.is_symlink {
            "symbolic link"
        } else {
            "file"
        };
        plan.items.push(
            Item::new(
                Op::Quarantine(seen.item),
                Reason::new(
                    "old_temp_file",
                    format!("{what} last modified about {age_hours} h ago, older than {hours} h"),
                ),
            )
            .category("files"),
        );
    }
    if kept > 0 {
        plan.notes.push(format!(
            "{kept} old file(s) kept because unfinished jobs refer to them"
        ));
    }
    plan
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // fixtures: files of real ages
mod tests {
    use super::*;
    use std::fs;

    fn touch_old(path: &Path, hours: u64) {
        let when = SystemTime::now() - Duration::from_secs(hours * 3600);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn old_files_and_links_go_new_and_referenced_stay() {
        let root = tempfile::tempdir().unwrap();
        let tmp = root.path().join("tmp");
        let outside = root.path().join("outside.txt");
        fs::create_dir_all(tmp.join("sub")).unwrap();
        fs::write(&outside, "keep me").unwrap();
        for name in ["old.txt", "sub/old2.txt", "running.json", "new.txt"] {
            fs::write(tmp.join(name), name).unwrap();
        }
        for name in ["old.txt", "sub/old2.txt", "running.json"] {
            touch_old(&tmp.join(name), 72);
        }
        std::os::unix::fs::symlink(&outside, tmp.join("link")).unwrap();
        // A link's own mtime cannot be set portably from std; an old target must not matter.
        touch_old(&outside, 72);
        let protected: BTreeSet<PathBuf> = [tmp.join("running.json")].into();
        let cutoff = SystemTime::now() - Duration::from_secs(24 * 3600);
        let plan = decide(
            walk(&tmp),
            &protected,
            cutoff,
            24,
            housekeeper_journal::DateTimeValue::date(2026, 1, 1),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        let paths: Vec<String> = plan
            .items
            .iter()
            .map(|i| match &i.op {
                Op::Quarantine(f) => crate::text::PathText(&f.relative).to_string(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            paths,
            ["old.txt", "sub/old2.txt"],
            "the fresh link (its own mtime) and the referenced file stay"
        );
        assert!(plan.notes.iter().any(|n| n.contains("running.json")));
    }

    #[test]
    fn system_directories_are_refused() {
        let config = crate::config::Config::load(&Default::default(), &Default::default(), &[])
            .unwrap()
            .config;
        for dir in ["/tmp", "/", "/var/tmp", "/etc"] {
            let err = refuse(Path::new(dir), &config).unwrap_err();
            assert!(err.contains("system directory"), "{err}");
        }
    }

    #[test]
    fn a_directory_holding_the_state_dir_or_database_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::load(&Default::default(), &Default::default(), &[])
            .unwrap()
            .config;
        config.state_dir = root.path().join("state");
        let err = refuse(root.path(), &config).unwrap_err();
        assert!(err.contains("contains the state directory"), "{err}");
        config.state_dir = "/var/lib/multiflexi-housekeeper".into();
        config.database = Some(DbTarget::Sqlite {
            path: root.path().join("db/multiflexi.sqlite"),
        });
        let err = refuse(root.path(), &config).unwrap_err();
        assert!(err.contains("contains the database"), "{err}");
    }
}
