//! The Zabbix templates shipped in `docs/zabbix/` (Zabbix 6.0 and 7.0 exports) against what
//! `zabbix::items` sends: every key is a trapper item of the right type, and every trigger
//! uses only the template's own items.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_yaml::Value;

use super::monitor::Outcome;
use super::{zabbix, DutyReport, Mode, RunReport};
use crate::duties::DutyName;
use crate::exit::{Exit, Failure};
use crate::plan::Finding;

const TEMPLATE: &str = "MultiFlexi housekeeper";

fn export(version: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("docs/zabbix/multiflexi-housekeeper-{version}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    doc["zabbix_export"].clone()
}

/// Every item a run sends: one through all eight duties (with findings, errors and a
/// skipped duty), and one that failed before its duties ran.
fn sent() -> Vec<zabbix::Item> {
    let mut r = RunReport::new(Mode::Run, "sqlite:x".into(), "2026-11-28 12:00:00".into());
    for name in DutyName::ALL {
        let mut d = DutyReport::new(name);
        d.affected = 3;
        d.findings.push(Finding::new("warning", "code", "found"));
        r.duties.push(d);
    }
    r.duties[1].error("failed");
    r.duties[2] = DutyReport::skipped(DutyName::ScheduleIntegrity, "schema");
    r.finish(false);
    let finished = Outcome::of_report(&r, Duration::from_millis(1234), 1_795_856_400);
    let failure = Failure::new(Exit::Database, "cannot connect");
    let early = Outcome::of_failure(&failure, Duration::from_millis(5), 1_795_856_400);
    let mut items = zabbix::items(&finished, "mf1");
    items.extend(zabbix::items(&early, "mf1"));
    items
}

/// The Zabbix type of information a sent value needs.
fn value_type(item: &zabbix::Item) -> &'static str {
    let figure = item
        .key
        .trim_end_matches(']')
        .rsplit(',')
        .next()
        .unwrap_or_default();
    match figure {
        "affected" | "errors" | "findings" | "exit" => {
            assert!(
                item.value.parse::<u64>().is_ok(),
                "{}={}",
                item.key,
                item.value
            );
            "UNSIGNED"
        }
        "duration" => {
            assert!(
                item.value.parse::<f64>().is_ok(),
                "{}={}",
                item.key,
                item.value
            );
            "FLOAT"
        }
        "status" => "CHAR",
        "error" => "TEXT",
        other => panic!("{}: no type of information known for {other}", item.key),
    }
}

/// Every `uuid` anywhere in the document.
fn uuids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                if k.as_str() == Some("uuid") {
                    out.push(v.as_str().unwrap_or("(not a string)").to_owned());
                } else {
                    uuids(v, out);
                }
            }
        }
        Value::Sequence(list) => list.iter().for_each(|v| uuids(v, out)),
        _ => {}
    }
}

/// The `(host, key)` of every item reference `function(/host/key…)` of an expression.
fn references(expression: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = expression;
    while let Some(at) = rest.find("(/") {
        let after = &rest[at + 2..];
        let Some(slash) = after.find('/') else { break };
        let host = &after[..slash];
        let tail = &after[slash + 1..];
        let end = match (tail.find('['), tail.find([',', ')'])) {
            (Some(open), Some(stop)) if open < stop => tail[open..]
                .find(']')
                .map_or(tail.len(), |close| open + close + 1),
            (_, Some(stop)) => stop,
            _ => tail.len(),
        };
        out.push((host.to_owned(), tail[..end].to_owned()));
        rest = &tail[end..];
    }
    out
}

fn str_of<'v>(value: &'v Value, field: &str) -> &'v str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {value:?}"))
}

fn check(version: &str) {
    let export = export(version);
    assert_eq!(export["version"].as_str(), Some(version));
    let (groups, other) = if version == "6.0" {
        ("groups", "template_groups")
    } else {
        ("template_groups", "groups")
    };
    assert!(
        export[groups].as_sequence().is_some_and(|g| !g.is_empty()),
        "{version}: {groups}"
    );
    assert!(export.get(other).is_none(), "{version} has no {other}");
    let templates = export["templates"].as_sequence().expect("templates");
    assert_eq!(templates.len(), 1);
    let template = &templates[0];
    assert_eq!(str_of(template, "template"), TEMPLATE);
    let group = str_of(&export[groups][0], "name");
    assert_eq!(str_of(&template["groups"][0], "name"), group);

    // Items: trapper, one per key, of the type the sent value needs.
    let mut items: BTreeMap<String, &Value> = BTreeMap::new();
    for item in template["items"].as_sequence().expect("items") {
        assert_eq!(str_of(item, "type"), "TRAP", "{version}: {item:?}");
        if version == "6.0" {
            // 6.0 defaults an item's delay to 1m and its trends to 365d: a trapper, and an
            // item of text, says 0.
            assert_eq!(str_of(item, "delay"), "0", "{version}: {item:?}");
            if matches!(str_of(item, "value_type"), "CHAR" | "TEXT") {
                assert_eq!(str_of(item, "trends"), "0", "{version}: {item:?}");
            }
        }
        let key = str_of(item, "key").to_owned();
        assert!(
            items.insert(key.clone(), item).is_none(),
            "{version}: {key} twice"
        );
    }
    let sent = sent();
    let sent_keys: BTreeSet<&str> = sent.iter().map(|i| i.key.as_str()).collect();
    for item in &sent {
        let in_template = items
            .get(&item.key)
            .unwrap_or_else(|| panic!("{version}: {} is sent but not in the template", item.key));
        assert_eq!(
            str_of(in_template, "value_type"),
            value_type(item),
            "{version}: {}",
            item.key
        );
    }
    for key in items.keys() {
        assert!(
            sent_keys.contains(key.as_str()),
            "{version}: {key} is never sent"
        );
    }

    // Triggers: only this template's items.
    let mut triggers: Vec<(String, String)> = Vec::new();
    for (key, item) in &items {
        for trigger in item["triggers"].as_sequence().into_iter().flatten() {
            let expression = str_of(trigger, "expression");
            let refs = references(expression);
            assert!(!refs.is_empty(), "{version}: {expression} names no item");
            for (host, referenced) in refs {
                assert_eq!(host, TEMPLATE, "{version}: {expression}");
                assert_eq!(
                    &referenced, key,
                    "{version}: an item's trigger uses its item"
                );
            }
            triggers.push((str_of(trigger, "name").to_owned(), expression.to_owned()));
        }
    }
    for trigger in export["triggers"].as_sequence().into_iter().flatten() {
        let expression = str_of(trigger, "expression");
        for (host, referenced) in references(expression) {
            assert_eq!(host, TEMPLATE, "{version}: {expression}");
            assert!(items.contains_key(&referenced), "{version}: {expression}");
        }
        triggers.push((str_of(trigger, "name").to_owned(), expression.to_owned()));
    }
    let run = format!("/{TEMPLATE}/multiflexi.housekeeper[run,status]");
    let mut expected = vec![
        format!("last({run})=\"failed\""),
        format!("last({run})=\"interrupted\""),
        format!("nodata({run},2h)=1"),
    ];
    for duty in DutyName::ALL {
        let name = duty.as_str();
        expected.push(format!(
            "last(/{TEMPLATE}/multiflexi.housekeeper[{name},status])=\"failed\""
        ));
        expected.push(format!(
            "last(/{TEMPLATE}/multiflexi.housekeeper[{name},findings])>0"
        ));
    }
    for expression in expected {
        assert!(
            triggers.iter().any(|(_, e)| *e == expression),
            "{version}: no trigger {expression}"
        );
    }

    // uuids: 32 lowercase hex digits, each once.
    let mut all = Vec::new();
    uuids(&export, &mut all);
    assert!(
        all.len() > items.len() + triggers.len(),
        "{version}: uuids missing"
    );
    let mut seen = BTreeSet::new();
    for uuid in &all {
        assert!(
            uuid.len() == 32 && uuid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{version}: uuid {uuid}"
        );
        assert!(seen.insert(uuid), "{version}: uuid {uuid} twice");
    }
}

#[test]
fn the_zabbix_6_0_template_holds_every_item_sent() {
    check("6.0");
}

#[test]
fn the_zabbix_7_0_template_holds_every_item_sent() {
    check("7.0");
}

#[test]
fn references_are_read_with_their_brackets() {
    assert_eq!(
        references("nodata(/T x/k[a,b],2h)=1 or last(/T x/plain)>0"),
        [
            ("T x".to_owned(), "k[a,b]".to_owned()),
            ("T x".to_owned(), "plain".to_owned())
        ]
    );
}
