//! Unit tests of the man page: every command, option, variable, duty and exit code appears,
//! in the usual sections, and every line is text or a known request.

use super::*;

fn page() -> String {
    let mut out = Vec::new();
    render(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The text of a roff line as a reader sees it (escapes undone).
fn plain(roff: &str) -> String {
    roff.replace("\\&", "")
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
        .replace("\\\\", "\\")
}

/// The sections of the page, by title, as plain text.
fn sections(page: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in page.lines() {
        if let Some(title) = line.strip_prefix(".SH ") {
            out.push((title.trim_matches('"').to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(&plain(line));
            body.push('\n');
        }
    }
    out
}

fn section(page: &str, title: &str) -> String {
    sections(page)
        .into_iter()
        .find(|(t, _)| t == title)
        .map(|(_, body)| body)
        .unwrap_or_else(|| panic!("no section {title}"))
}

/// Every command path (`run`, `journal list`, …), hidden ones included.
fn command_paths() -> Vec<(String, Command)> {
    let mut out = Vec::new();
    for sub in Cli::command().get_subcommands() {
        out.push((sub.get_name().to_owned(), sub.clone()));
        for nested in sub.get_subcommands() {
            out.push((
                format!("{} {}", sub.get_name(), nested.get_name()),
                nested.clone(),
            ));
        }
    }
    out
}

#[test]
fn the_sections_are_in_the_usual_order() {
    let titles: Vec<String> = sections(&page()).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        titles,
        [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "COMMANDS",
            "DUTIES",
            "UNDO",
            "ENVIRONMENT",
            "FILES",
            "EXIT STATUS",
            "SIGNALS",
            "ZABBIX ITEMS",
            "EXAMPLES",
            "SEE ALSO",
            "VERSION",
        ]
    );
}

#[test]
fn the_title_names_section_8() {
    let page = page();
    let title = page.lines().find(|l| l.starts_with(".TH ")).unwrap();
    assert!(title.starts_with(".TH housekeeper 8 "), "{title}");
}

#[test]
fn every_command_is_documented_with_its_synopsis_and_about() {
    let page = page();
    let commands = section(&page, "COMMANDS");
    let paths = command_paths();
    assert!(paths.len() >= 16, "{} commands", paths.len());
    for (path, cmd) in paths {
        let line = commands
            .lines()
            .find(|l| l.starts_with(&format!("housekeeper {path}")))
            .unwrap_or_else(|| panic!("`housekeeper {path}` is not in COMMANDS"));
        let about = cmd.get_about().unwrap().to_string();
        assert!(
            commands.contains(&about),
            "the about of `{path}` ({about}) is not in COMMANDS"
        );
        for arg in own_arguments(&cmd) {
            let shown = if arg.is_positional() {
                value_text(arg)
            } else {
                format!("--{}", arg.get_long().unwrap())
            };
            assert!(
                line.contains(&shown),
                "`{path}`: {shown} is not in its synopsis: {line}"
            );
        }
    }
}

#[test]
fn every_command_option_is_explained() {
    let page = page();
    let commands = section(&page, "COMMANDS");
    for (path, cmd) in command_paths() {
        for arg in own_arguments(&cmd) {
            if let Some(help) = arg.get_help() {
                assert!(
                    commands.contains(&help.to_string()),
                    "`{path}` {}: its help is not in COMMANDS",
                    arg.get_id()
                );
            }
            for value in possible_values(arg) {
                assert!(
                    commands.contains(value.get_name()),
                    "`{path}` {}: value {} is not in COMMANDS",
                    arg.get_id(),
                    value.get_name()
                );
            }
        }
    }
    assert!(
        commands.contains("(default: 1h)"),
        "apply --max-age default"
    );
}

#[test]
fn plain_flags_show_no_values() {
    let page = page();
    let commands = section(&page, "COMMANDS");
    assert!(!commands.contains("true; false"), "{commands}");
    assert!(commands.contains(
        "housekeeper undo [--duty NAME] [--table TABLE] [--id KEY] [--path PATH] [--dry-run] [--strict]"
    ));
}

#[test]
fn every_global_option_is_in_options() {
    let page = page();
    let options = section(&page, "OPTIONS");
    for arg in Cli::command().get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long() {
            assert!(
                options.contains(&format!("--{long}")),
                "--{long} not in OPTIONS"
            );
        }
    }
}

#[test]
fn the_compatible_entry_point_is_documented() {
    let page = page();
    assert!(section(&page, "COMMANDS").contains("multiflexi-housekeeper [--dry-run|-n]"));
    assert!(section(&page, "DESCRIPTION").contains("multiflexi-housekeeper --dry-run"));
    assert!(section(&page, "EXAMPLES").contains("multiflexi-housekeeper --dry-run"));
}

#[test]
fn every_duty_is_in_duties_in_order() {
    let page = page();
    let duties = section(&page, "DUTIES");
    let mut from = 0;
    for duty in DutyName::ALL {
        let at = duties[from..]
            .find(&format!("\n{}\n", duty.as_str()))
            .unwrap_or_else(|| panic!("{duty} missing or out of order in DUTIES"));
        from += at + 1;
        assert!(duties.contains(duty.summary()), "{duty}: summary missing");
    }
}

#[test]
fn every_variable_is_in_environment_with_its_default() {
    let page = page();
    let environment = section(&page, "ENVIRONMENT");
    for var in VARIABLES {
        assert!(
            environment.contains(&format!("\n{}\n", var.name)),
            "{} is not in ENVIRONMENT",
            var.name
        );
        assert!(environment.contains(var.help), "{}: help missing", var.name);
        if !var.default.is_empty() {
            assert!(
                environment.contains(&format!("(default: {})", var.default)),
                "{}: default missing",
                var.name
            );
        }
    }
    assert!(environment.contains("\nRUST_LOG\n"));
}

#[test]
fn every_exit_code_is_in_exit_status_with_its_meaning() {
    let page = page();
    let status = section(&page, "EXIT STATUS");
    let mut codes = Vec::new();
    let mut lines = status.lines().filter(|l| !l.starts_with('.'));
    while let (Some(code), Some(meaning)) = (lines.next(), lines.next()) {
        codes.push((code.to_owned(), meaning.to_owned()));
    }
    let expected: Vec<(String, String)> = Exit::TABLE
        .iter()
        .map(|(c, m)| (c.to_string(), (*m).to_owned()))
        .collect();
    assert_eq!(codes, expected);
    for exit in [
        Exit::Ok,
        Exit::Failed,
        Exit::Usage,
        Exit::Integrity,
        Exit::Database,
        Exit::Locked,
    ] {
        assert!(
            Exit::TABLE.iter().any(|(c, _)| *c == exit.code()),
            "{exit:?} is not in Exit::TABLE"
        );
    }
}

#[test]
fn files_name_the_default_paths() {
    let page = page();
    let files = section(&page, "FILES");
    for path in [
        "/etc/multiflexi/multiflexi.env",
        "/var/lib/multiflexi-housekeeper/journal/",
        "/var/lib/multiflexi-housekeeper/quarantine/RUN-ID/",
        "/var/lib/multiflexi-housekeeper/housekeeper.lock",
        "/var/lib/multiflexi/tmp/",
        "/var/lib/dbconfig-common/sqlite3/multiflexi/",
        "/lib/systemd/system/multiflexi-housekeeper.service",
        "/lib/systemd/system/multiflexi-housekeeper.timer",
        "/usr/share/multiflexi-housekeeper/zabbix/",
    ] {
        assert!(files.contains(&format!("{path}\n")), "{path} not in FILES");
    }
}

#[test]
fn zabbix_items_cover_the_per_duty_keys_and_the_run() {
    let page = page();
    let items = section(&page, "ZABBIX ITEMS");
    for metric in ["affected", "errors", "findings", "status"] {
        assert!(items.contains(&format!("multiflexi.housekeeper[DUTY,{metric}]")));
    }
    for metric in ["status", "exit", "duration", "error"] {
        assert!(items.contains(&format!("multiflexi.housekeeper[run,{metric}]")));
    }
}

#[test]
fn examples_use_only_real_commands() {
    let page = page();
    let examples = section(&page, "EXAMPLES");
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    let mut seen = 0;
    for line in examples.lines() {
        for part in line.split("&&") {
            let words: Vec<&str> = part.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| *w == "housekeeper") else {
                continue;
            };
            // The command is the first word after the global options.
            let mut rest = words[at + 1..].iter();
            let mut command = None;
            while let Some(word) = rest.next() {
                if *word == "--database" {
                    rest.next();
                } else {
                    command = Some(*word);
                    break;
                }
            }
            let command = command.unwrap();
            assert!(
                names.iter().any(|n| n == command),
                "example uses unknown command {command}: {line}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 8, "{seen} examples");
}

#[test]
fn every_line_is_text_or_a_known_request() {
    const REQUESTS: &[&str] = &[
        "TH", "SH", "SS", "TP", "PP", "LP", "RS", "RE", "IP", "B", "I", "BR", "ie", "el", "ds",
        "br", "sp", "nf", "fi",
    ];
    for line in page().lines() {
        if let Some(request) = line.strip_prefix('.') {
            let name = request.split_whitespace().next().unwrap_or("");
            assert!(REQUESTS.contains(&name), "unknown request: {line}");
        }
        assert!(
            !line.starts_with('\''),
            "control line by apostrophe: {line}"
        );
    }
}
