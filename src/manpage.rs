//! The man page `housekeeper(8)`, generated from the clap definitions and the variable table
//! so that it cannot drift from `--help`.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_mangen::roff::{bold, roman, Roff};

use crate::cli::Cli;
use crate::config::VARIABLES;
use crate::duties::DutyName;
use crate::exit::Exit;

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
    man.render_description_section(out)?;
    man.render_options_section(out)?;

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        roff.control("TP", []);
        roff.text([bold(format!("housekeeper {}", sub.get_name()))]);
        roff.text([roman(
            sub.get_about().map(ToString::to_string).unwrap_or_default(),
        )]);
        for nested in sub.get_subcommands() {
            roff.control("TP", []);
            roff.text([bold(format!(
                "housekeeper {} {}",
                sub.get_name(),
                nested.get_name()
            ))]);
            roff.text([roman(
                nested
                    .get_about()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )]);
        }
    }
    roff.control("SH", ["DUTIES"]);
    roff.text([roman("Performed in this order; names are case-insensitive in --duty, --skip and MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES.")]);
    for duty in DutyName::ALL {
        roff.control("TP", []);
        roff.text([bold(duty.as_str())]);
        roff.text([roman(duty.summary())]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    roff.text([roman("Read from the command line, the process environment, the env file and defaults, in that order. Booleans are true/false, 1/0, yes/no or on/off; an empty value means unset.")]);
    for var in VARIABLES {
        roff.control("TP", []);
        roff.text([bold(var.name)]);
        let default = if var.default.is_empty() {
            String::new()
        } else {
            format!(" (default: {})", var.default)
        };
        roff.text([roman(format!("{}{default}", var.help))]);
    }
    roff.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/multiflexi/multiflexi.env",
            "the env file shared with MultiFlexi",
        ),
        (
            "/var/lib/multiflexi-housekeeper/journal/",
            "the hash-chained journal and its payloads",
        ),
        (
            "/var/lib/multiflexi-housekeeper/quarantine/RUN-ID/",
            "files moved out of MULTIFLEXI_TMP by a run",
        ),
        ("/var/lib/multiflexi/tmp/", "the MultiFlexi temp directory"),
    ] {
        roff.control("TP", []);
        roff.text([bold(path)]);
        roff.text([roman(what)]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in Exit::TABLE {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(*meaning)]);
    }
    roff.control("SH", ["EXAMPLES"]);
    for (command, what) in [
        (
            "housekeeper demo /tmp/hk-demo",
            "Build a throw-away database with realistic mess and clean it up.",
        ),
        (
            "housekeeper plan --duty LogPruning",
            "Show which log rows a run would delete.",
        ),
        (
            "housekeeper plan --out /tmp/plan.json && housekeeper apply /tmp/plan.json",
            "Review a plan, then apply exactly it.",
        ),
        (
            "housekeeper journal list",
            "List the runs and whether they can be undone.",
        ),
        (
            "housekeeper undo RUN-ID --dry-run",
            "Show what undoing a run would restore.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(command)]);
        roff.text([roman(what)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "systemctl(1), multiflexi-housekeeper.service, multiflexi-housekeeper.timer",
    )]);
    roff.to_writer(out)?;
    man.render_version_section(out)?;
    Ok(())
}
