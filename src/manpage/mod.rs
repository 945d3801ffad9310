//! The man page `housekeeper(8)`, generated from the clap definitions, the variable table,
//! the duty list and the exit-code table, so that it cannot drift from `--help`.
//!
//! Owns the page's text and layout only: it reads no configuration, touches no file and
//! prints nothing itself (the caller passes the writer). Every subcommand — hidden ones
//! included, a man page is the full reference — every option, every variable of
//! `config::VARIABLES` and every exit code of `Exit::TABLE` appears; the tests (`tests.rs`) hold
//! that line.

use std::io::{self, Write};

use clap::{Arg, Command, CommandFactory};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};

use crate::cli::Cli;
use crate::config::{VarDoc, VARIABLES};
use crate::duties::DutyName;
use crate::exit::Exit;

/// The variables read that are not configuration proper, so not in `VARIABLES`.
const EXTRA_VARIABLES: &[(&str, &str)] = &[
    (
        "RUST_LOG",
        "log filter in env_logger syntax (e.g. debug, or housekeeper=trace); wins over -v, -q and APP_DEBUG",
    ),
];

/// Where the Debian package puts things; the state and temp paths are the defaults of
/// their variables.
const UNIT_DIR: &str = "/lib/systemd/system";
const SQLITE_DIR: &str = "/var/lib/dbconfig-common/sqlite3/multiflexi/";
/// Where the package installs the Zabbix templates (debian/rules).
const ZABBIX_TEMPLATES: &str = "/usr/share/multiflexi-housekeeper/zabbix/";

/// Writes the whole man page as roff.
///
/// # Errors
/// Writing to `out` failed.
pub fn render(out: &mut dyn Write) -> io::Result<()> {
    let cmd = Cli::command().name("housekeeper");
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("MultiFlexi");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;

    let mut roff = Roff::new();
    description(&mut roff);
    roff.to_writer(out)?;

    man.render_options_section(out)?;

    let mut roff = Roff::new();
    commands(&mut roff, &cmd);
    duties(&mut roff);
    undo(&mut roff);
    environment(&mut roff);
    files(&mut roff);
    exit_status(&mut roff);
    signals(&mut roff);
    zabbix(&mut roff);
    examples(&mut roff);
    see_also(&mut roff);
    roff.to_writer(out)?;
    man.render_version_section(out)?;
    Ok(())
}

fn signals(roff: &mut Roff) {
    roff.control("SH", ["SIGNALS"]);
    entry(
        roff,
        vec![bold("SIGTERM"), roman(", "), bold("SIGINT")],
        "finish the chunk or file batch in progress, start nothing more, and end the run \
         properly: its status is interrupted (summary, JSON, journal, log row, Zabbix) and the \
         rest is left for the next run; exit 0 unless a duty failed. A database statement \
         still running 2 seconds after the signal (one waiting for a lock, say) is cancelled \
         (PostgreSQL cancel request, KILL QUERY on MariaDB and MySQL) and its chunk rolled \
         back; so is every statement the stopping run still makes after another 2 seconds. In \
         daemon mode, during the pause between cycles, the process ends at once. A second \
         signal ends the process at once; the next start recovers what was open.",
    );
    entry(
        roff,
        vec![bold("SIGHUP")],
        "in daemon mode, re-read the configuration (environment and env file) before the next \
         cycle; a configuration that does not load is reported and the previous one kept. A \
         single run ignores it, so a closed terminal does not stop it.",
    );
}

fn paragraph(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.text([roman(text)]);
}

fn entry(roff: &mut Roff, term: Vec<Inline>, text: &str) {
    roff.control("TP", []);
    roff.text(term);
    roff.text([roman(text)]);
}

fn default_of(name: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|v| v.name == name)
        .map_or("", |v: &VarDoc| v.default)
}

fn description(roff: &mut Roff) {
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([roman(
        "housekeeper keeps a MultiFlexi database (MySQL/MariaDB, PostgreSQL or SQLite) and \
         its temp directory clean. It performs eight duties (see DUTIES), in a fixed order.",
    )]);
    paragraph(
        roff,
        "Nothing is changed without a plan: every duty first decides the exact rows and \
         files it will change, with a reason for each, and writes that plan to a \
         hash-chained journal in the state directory. The plan is then applied in short \
         database transactions that capture a full image of every row they delete or \
         update; files are moved to a quarantine, never deleted. Any run can be undone \
         with housekeeper undo, for MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS days.",
    );
    paragraph(
        roff,
        "Without a command, housekeeper performs a run. Installed from the Debian package, \
         multiflexi-housekeeper.timer starts multiflexi-housekeeper.service, which runs \
         housekeeper run, every hour. housekeeper plan shows what a run would change \
         and changes nothing anywhere: each duty is planned after what the earlier duties \
         will have changed, so its items are the ones the run changes; findings are counted \
         apart from changes.",
    );
    paragraph(
        roff,
        "Invoked as multiflexi-housekeeper (the name of the PHP tool it replaces), \
         housekeeper behaves as housekeeper run: multiflexi-housekeeper --dry-run (or -n) \
         only plans.",
    );
    paragraph(
        roff,
        "Text housekeeper did not write itself (names, keys and values from the database, \
         file paths and link targets, reasons and errors that quote them) is escaped in every \
         text output and log line, so it cannot forge a line or send the terminal a control \
         sequence: a backslash as \\\\, newline, carriage return and tab as \\n, \\r and \\t, \
         other control characters and bytes that are not UTF-8 as \\xHH, C1 and \
         bidirectional controls as \\u{HEX}. --format json keeps the exact text.",
    );
}

/// `[--flag VALUE]`, `[-n|--dry-run]`, `NAME` or `[DIR]` for one argument.
fn synopsis_of(arg: &Arg) -> String {
    let value = value_text(arg);
    if arg.is_positional() {
        return if arg.is_required_set() {
            value
        } else {
            format!("[{value}]")
        };
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}"));
    }
    let flag = names.join("|");
    let text = if arg.get_action().takes_values() {
        format!("{flag} {value}")
    } else {
        flag
    };
    if arg.is_required_set() {
        text
    } else {
        format!("[{text}]")
    }
}

/// The value an argument takes: its possible values (`text|json`) or its value name.
fn value_text(arg: &Arg) -> String {
    let possible: Vec<String> = possible_values(arg)
        .iter()
        .map(|v| v.get_name().to_owned())
        .collect();
    if !possible.is_empty() && !arg.is_positional() {
        return possible.join("|");
    }
    arg.get_value_names()
        .and_then(|names| names.first())
        .map_or_else(
            || arg.get_id().as_str().to_ascii_uppercase(),
            ToString::to_string,
        )
}

/// The values an argument that takes a value accepts (none for plain flags, whose
/// `true`/`false` are an implementation detail).
fn possible_values(arg: &Arg) -> Vec<clap::builder::PossibleValue> {
    if !arg.get_action().takes_values() {
        return Vec::new();
    }
    arg.get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .collect()
}

/// The arguments a subcommand documents itself (not the global ones, not help).
fn own_arguments(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        !a.is_hide_set() && !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version")
    })
}

fn argument_help(arg: &Arg) -> String {
    let mut help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    let possible: Vec<String> = possible_values(arg)
        .iter()
        .map(|v| match v.get_help() {
            Some(h) => format!("{}: {h}", v.get_name()),
            None => v.get_name().to_owned(),
        })
        .collect();
    if !possible.is_empty() {
        if !help.is_empty() {
            help.push_str(". ");
        }
        help.push_str(&format!("One of: {}", possible.join("; ")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() {
        if !help.is_empty() {
            help.push(' ');
        }
        help.push_str(&format!("(default: {})", defaults.join(",")));
    }
    help
}

fn command_entry(roff: &mut Roff, path: &str, cmd: &Command) {
    let mut synopsis = format!("housekeeper {path}");
    for arg in own_arguments(cmd).filter(|a| !a.is_positional()) {
        synopsis.push(' ');
        synopsis.push_str(&synopsis_of(arg));
    }
    for arg in own_arguments(cmd).filter(|a| a.is_positional()) {
        synopsis.push(' ');
        synopsis.push_str(&synopsis_of(arg));
    }
    if cmd.has_subcommands() {
        synopsis.push_str(" COMMAND");
    }
    roff.control("TP", []);
    roff.text([bold(synopsis)]);
    let about = cmd
        .get_long_about()
        .or_else(|| cmd.get_about())
        .map(ToString::to_string)
        .unwrap_or_default();
    roff.text([roman(about)]);
    let args: Vec<&Arg> = own_arguments(cmd).collect();
    if !args.is_empty() {
        roff.control("RS", []);
        for arg in args {
            let name = if arg.is_positional() {
                value_text(arg)
            } else {
                synopsis_of(arg)
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned()
            };
            roff.control("TP", []);
            roff.text([italic(name)]);
            roff.text([roman(argument_help(arg))]);
        }
        roff.control("RE", []);
    }
}

fn commands(roff: &mut Roff, cmd: &Command) {
    roff.control("SH", ["COMMANDS"]);
    roff.text([roman(
        "The options of OPTIONS above are accepted by every command, before or after it.",
    )]);
    for sub in cmd.get_subcommands() {
        command_entry(roff, sub.get_name(), sub);
        for nested in sub.get_subcommands() {
            command_entry(
                roff,
                &format!("{} {}", sub.get_name(), nested.get_name()),
                nested,
            );
        }
    }
    entry(
        roff,
        vec![bold("multiflexi-housekeeper [--dry-run|-n] [OPTIONS]")],
        "The entry point of the PHP tool, kept for existing scripts and cron jobs: the same \
         as housekeeper run [--dry-run]. A symbolic link to housekeeper.",
    );
}

fn duties(roff: &mut Roff) {
    roff.control("SH", ["DUTIES"]);
    roff.text([roman("Performed in this order; names are case-insensitive in --duty, --skip and MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES. A failing duty is reported and the others still run.")]);
    for duty in DutyName::ALL {
        entry(roff, vec![bold(duty.as_str())], duty.summary());
    }
}

fn undo(roff: &mut Roff) {
    roff.control("SH", ["UNDO"]);
    paragraph(
        roff,
        "housekeeper undo RUN-ID verifies the journal and the run's row images, then re-inserts \
         the rows the run deleted with their original keys and every column (parents before \
         children), restores the columns it updated where they still hold what the run wrote, \
         and moves its quarantined files back with their bytes, mode, owner and times. The undo \
         is itself a run in the journal. Rows a run wrote as its own record (its log rows, \
         anchors, retention_cleanup_jobs and data_archive rows) stay.",
    );
    paragraph(
        roff,
        "An item that cannot be restored is reported with its reason and left as it is, and \
         the rest is restored (exit status 1): key reused, unique value taken, parent row gone \
         (PostgreSQL and MySQL), value changed since, row gone since, path exists, hash \
         mismatch, payload expired. --strict restores nothing when anything would conflict; \
         --dry-run only shows. An interrupted undo is finished by running it again. Restored \
         items are held for MULTIFLEXI_HOUSEKEEPER_HOLD_DAYS: later runs leave them alone and \
         report them as held.",
    );
    paragraph(
        roff,
        "--table TABLE --id KEY (repeatable, in pairs) and --path PATH (repeatable) restore only \
         those rows and files, and the rows a duty deleted together with a selected row (a job \
         with its queue rows and output lines); --dry-run and --strict judge only the \
         selection. A key or path the run did not change is a usage error (exit status 2) and \
         nothing changes. Every item is restored at most once: a later undo of the same run \
         restores what is left (not selected yet, or a conflict whose cause was fixed) until the \
         run's undo window ends; journal list and journal show say per run and duty what is \
         restored, what remains and until when.",
    );
    paragraph(
        roff,
        "Before acting, run (and each daemon cycle), apply, undo and quarantine expire check the \
         journal: the hash chain from the last anchored checkpoint to the head, every record the \
         database anchors (present, with the anchored hash, none past the journal's end), and \
         that an incomplete tail lies after the last anchored record before cutting it. A \
         re-hashed journal, one restored from an older backup, cut records or a journal \
         replaced by another stop the command with exit status 3 and nothing changed. After such damage, \
         restore a newer backup of the state directory, or run housekeeper journal reset \
         --reason TEXT: it keeps the damaged journal read-only in STATE_DIR/set-aside/, starts a \
         new journal whose first record names the old one, its last verifiable record, the \
         damage and the reason, and anchors the reset; runs of the set-aside journal can be \
         listed and shown, not undone.",
    );
}

fn environment(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    roff.text([roman("Read from the command line, the process environment, the env file and defaults, in that order. Booleans are true/false, 1/0, yes/no or on/off; an empty value means unset. An invalid value is an error naming the variable (exit status 2).")]);
    for var in VARIABLES {
        let default = if var.default.is_empty() {
            String::new()
        } else {
            format!(" (default: {})", var.default)
        };
        entry(
            roff,
            vec![bold(var.name)],
            &format!("{}{default}", var.help),
        );
    }
    for (name, help) in EXTRA_VARIABLES {
        entry(roff, vec![bold(*name)], help);
    }
}

fn files(roff: &mut Roff) {
    let state = default_of("MULTIFLEXI_HOUSEKEEPER_STATE_DIR").trim_end_matches('/');
    let tmp = default_of("MULTIFLEXI_TMP").trim_end_matches('/');
    roff.control("SH", ["FILES"]);
    let rows: Vec<(String, String)> = vec![
        (
            crate::config::SYSTEM_ENV_FILE.to_owned(),
            "the env file shared with MultiFlexi (read by systemd for the service too; when the service user may not read it and the environment already holds the database settings, housekeeper says so only with -v)".into(),
        ),
        (
            "./.env".into(),
            "read instead when the file above does not exist".into(),
        ),
        (
            format!("{state}/"),
            "the state directory (MULTIFLEXI_HOUSEKEEPER_STATE_DIR), readable by the service user only. Run as root, housekeeper reads its configuration, then becomes the owner of this directory (that user's groups and uid), so every file it creates here belongs to the service user".into(),
        ),
        (
            format!("{state}/journal/"),
            "the hash-chained journal and the payloads holding row images".into(),
        ),
        (
            format!("{state}/journal-index"),
            "what the last run derived from the journal, so the next one reads only the newer records; used only when the database vouches for it (its digest is in the anchor of that run's end), read again from the journal otherwise".into(),
        ),
        (
            format!("{state}/quarantine/RUN-ID/"),
            "files moved out of MULTIFLEXI_TMP by a run, kept for undo".into(),
        ),
        (
            format!("{state}/housekeeper.lock"),
            "the host lock: one housekeeper at a time on this host".into(),
        ),
        (
            format!("{tmp}/"),
            "the MultiFlexi temp directory (MULTIFLEXI_TMP)".into(),
        ),
        (
            SQLITE_DIR.into(),
            "where the MultiFlexi SQLite database lives when it was installed with dbconfig-common; the database lock file is created beside the database".into(),
        ),
        (
            format!("{UNIT_DIR}/multiflexi-housekeeper.service"),
            "one run, as the multiflexi user, hardened".into(),
        ),
        (
            format!("{UNIT_DIR}/multiflexi-housekeeper.timer"),
            "starts the service every hour".into(),
        ),
        (
            ZABBIX_TEMPLATES.to_owned(),
            "the Zabbix templates of the items below: multiflexi-housekeeper-7.0.yaml for Zabbix 7.0, multiflexi-housekeeper-6.0.yaml for Zabbix 6.0 LTS".into(),
        ),
    ];
    for (path, what) in rows {
        entry(roff, vec![bold(path)], &what);
    }
}

fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in Exit::TABLE {
        entry(roff, vec![bold(code.to_string())], meaning);
    }
}

fn zabbix(roff: &mut Roff) {
    roff.control("SH", ["ZABBIX ITEMS"]);
    roff.text([roman(
        "With ZABBIX_SERVER and ZABBIX_HOST set, every run sends these trapper items \
         (Zabbix sender protocol, 5 s timeout; a failure to send, or items the server did not \
         take, is a warning only):",
    )]);
    for (key, what) in [
        (
            "multiflexi.housekeeper[DUTY,affected]",
            "items the duty changed (numeric; 0 for CredentialHealthCheck, which only reports)",
        ),
        (
            "multiflexi.housekeeper[DUTY,errors]",
            "errors that stopped work in the duty (numeric)",
        ),
        (
            "multiflexi.housekeeper[DUTY,findings]",
            "problems found in the data but not fixed (numeric)",
        ),
        (
            "multiflexi.housekeeper[DUTY,status]",
            "ok, skipped or failed (text)",
        ),
        (
            "multiflexi.housekeeper[run,status]",
            "ok, failed or interrupted (text)",
        ),
        (
            "multiflexi.housekeeper[run,exit]",
            "the exit status, see EXIT STATUS (numeric)",
        ),
        (
            "multiflexi.housekeeper[run,duration]",
            "seconds the run took (numeric, float)",
        ),
        (
            "multiflexi.housekeeper[run,error]",
            "why a run stopped before its duties ran (text; sent only then)",
        ),
    ] {
        entry(roff, vec![bold(key)], what);
    }
    paragraph(roff, "DUTY is one of the names in DUTIES.");
    paragraph(
        roff,
        &format!(
            "A run that stops before its duties run (exit status 2, 3, 4 or 75) sends run,status \
             failed with run,exit, run,duration and run,error, when the Zabbix variables can be \
             read. The template in {ZABBIX_TEMPLATES} holds every item and the triggers: run \
             failed, a duty failed, findings present, run interrupted, no data for 2 hours. \
             housekeeper doctor checks that the server accepts connections."
        ),
    );
    paragraph(
        roff,
        "MULTIFLEXI_HOUSEKEEPER_METRICS_FILE writes the same figures for Prometheus \
         (node_exporter's textfile collector) after every run, replacing the file atomically: \
         housekeeper_last_run_timestamp_seconds, housekeeper_run_duration_seconds, \
         housekeeper_run_status{status}, housekeeper_run_interrupted, housekeeper_run_exit_code, \
         and per duty housekeeper_duty_status{duty,status}, housekeeper_duty_affected{duty}, \
         housekeeper_duty_errors{duty}, housekeeper_duty_findings{duty}.",
    );
}

fn examples(roff: &mut Roff) {
    roff.control("SH", ["EXAMPLES"]);
    for (command, what) in [
        (
            "housekeeper demo /tmp/hk-demo",
            "Build a throw-away database with realistic mess and clean it up: the first command to try.",
        ),
        (
            "housekeeper doctor",
            "Show the configuration with the source of each value and check database, schema, directories, the installed unit's sandbox, the last run and the journal; changes nothing.",
        ),
        (
            "housekeeper plan",
            "Show, row by row, what the next run would change and why.",
        ),
        (
            "housekeeper plan --duty LogPruning --format json",
            "The same for one duty, as JSON.",
        ),
        (
            "housekeeper plan --out /tmp/plan.json && housekeeper apply /tmp/plan.json",
            "Review a plan, then apply it: only what the duties still plan now is changed; the rest of the file is reported as not planned now.",
        ),
        (
            "housekeeper --database sqlite:/var/lib/dbconfig-common/sqlite3/multiflexi/multiflexi plan",
            "Plan against a database given as a URL instead of DB_* variables.",
        ),
        (
            "systemctl start multiflexi-housekeeper.service",
            "A run now, exactly as the timer starts it (as the multiflexi user, hardened).",
        ),
        (
            "systemd-run --wait --pipe --uid=multiflexi --gid=multiflexi -p EnvironmentFile=/etc/multiflexi/multiflexi.env housekeeper run --skip DiskTempFileCleanup",
            "A run with options, as the service user, so the journal stays the service's own.",
        ),
        (
            "multiflexi-housekeeper --dry-run",
            "The PHP tool's dry run: plans and changes nothing.",
        ),
        (
            "housekeeper journal list",
            "List the runs and whether they can be undone.",
        ),
        (
            "housekeeper undo RUN-ID --dry-run",
            "Show what undoing a run would restore, and what conflicts.",
        ),
        (
            "housekeeper journal show RUN-ID",
            "Everything one run did: plan items with reasons, deleted rows, before → after of updates, files.",
        ),
        (
            "housekeeper journal find --table job --id 42",
            "Which runs changed job 42, and what the row looked like.",
        ),
        (
            "housekeeper journal verify",
            "Check the hash chain, payloads, quarantine and database anchors (exit 3 on damage).",
        ),
        (
            "housekeeper journal erasures --since 2026-01-01 --format csv",
            "Proof of erasure for an audit: per retention policy and table the keys deleted, anonymized or archived, when and by which run, and whether their row images were destroyed or still allow an undo, after the journal's verification (exit 3 when it fails).",
        ),
        (
            "housekeeper quarantine list",
            "Quarantined files per run, and until when they can be restored.",
        ),
        (
            "housekeeper quarantine expire --older-than 7d",
            "Destroy row images and quarantined files of runs older than a week, ahead of the undo window.",
        ),
        (
            "systemctl list-timers multiflexi-housekeeper.timer",
            "When the next run is due.",
        ),
        (
            "journalctl -u multiflexi-housekeeper.service --since today",
            "What today's runs reported.",
        ),
    ] {
        entry(roff, vec![bold(command)], what);
    }
}

fn see_also(roff: &mut Roff) {
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "systemctl(1), journalctl(1), systemd.timer(5), systemd.exec(5), and \
         /usr/share/doc/multiflexi-housekeeper/OPERATIONS.md.gz (installing, hardening, \
         upgrading from the PHP tool, monitoring).",
    )]);
}

#[cfg(test)]
mod tests;
