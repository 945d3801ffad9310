//! The Zabbix sender: a run's results as trapper items, over the Zabbix sender
//! protocol (`ZBXD\x01`, little-endian 64-bit length, JSON body), with a 5 s timeout. A
//! failure here is a warning for the caller, never a run failure.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;

use super::monitor::Outcome;
use crate::config::ZabbixTarget;

pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How long `probe` waits for the connection.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One trapper item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub host: String,
    pub key: String,
    pub value: String,
    pub clock: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ZabbixError {
    #[error("cannot reach Zabbix at {server}:{port}: {source}")]
    Connect {
        server: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("talking to Zabbix at {server}:{port}: {source}")]
    Io {
        server: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("Zabbix at {server}:{port} answered {answer}")]
    Refused {
        server: String,
        port: u16,
        answer: String,
    },
    #[error(
        "Zabbix at {server}:{port} did not take {failed} of the items ({info}); are they \
         defined, as trapper items, on the Zabbix host named by ZABBIX_HOST?"
    )]
    ItemsFailed {
        server: String,
        port: u16,
        failed: u64,
        info: String,
    },
}

/// The `failed: N` count of a Zabbix answer's `info` (`processed: 9; failed: 0; …`).
#[must_use]
pub fn failed_count(info: &str) -> Option<u64> {
    info.split(';')
        .find_map(|part| part.trim().strip_prefix("failed:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The key of one item: `multiflexi.housekeeper[<what>,<figure>]`.
#[must_use]
pub fn key(what: &str, figure: &str) -> String {
    format!("multiflexi.housekeeper[{what},{figure}]")
}

/// The items of a run: per duty `affected` (0 for a read-only duty), `errors`, `findings`,
/// `status`; for the run `status`, `exit` and `duration` (seconds). A run that failed before
/// its duties ran has no duty items, and sends `error` (why it stopped) instead.
#[must_use]
pub fn items(outcome: &Outcome, host: &str) -> Vec<Item> {
    let item = |key: String, value: String| Item {
        host: host.to_owned(),
        key,
        value,
        clock: outcome.clock,
    };
    let mut out = Vec::new();
    for d in &outcome.duties {
        let name = d.duty.as_str();
        out.push(item(key(name, "affected"), d.affected.to_string()));
        out.push(item(key(name, "errors"), d.errors.to_string()));
        out.push(item(key(name, "findings"), d.findings.to_string()));
        out.push(item(key(name, "status"), d.status.as_str().to_owned()));
    }
    out.push(item(
        key("run", "status"),
        outcome.status.as_str().to_owned(),
    ));
    out.push(item(key("run", "exit"), outcome.exit.code().to_string()));
    out.push(item(
        key("run", "duration"),
        format!("{:.3}", outcome.seconds),
    ));
    if !outcome.error.is_empty() {
        out.push(item(key("run", "error"), outcome.error.clone()));
    }
    out
}

/// Connects to the server (2 s at most) and closes the connection, sending nothing: whether
/// a run could reach it (`housekeeper doctor`).
///
/// # Errors
/// The name does not resolve, or the connection is refused or times out.
pub fn probe(target: &ZabbixTarget) -> Result<(), ZabbixError> {
    connect(target, PROBE_TIMEOUT).map(drop)
}

fn connect(target: &ZabbixTarget, timeout: Duration) -> Result<TcpStream, ZabbixError> {
    let connect_error = |source| ZabbixError::Connect {
        server: target.server.clone(),
        port: target.port,
        source,
    };
    let addr = (target.server.as_str(), target.port)
        .to_socket_addrs()
        .map_err(connect_error)?
        .next()
        .ok_or_else(|| {
            connect_error(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no address",
            ))
        })?;
    TcpStream::connect_timeout(&addr, timeout).map_err(connect_error)
}

/// The bytes of one sender request.
#[must_use]
pub fn frame(items: &[Item], clock: u64) -> Vec<u8> {
    let body =
        serde_json::json!({ "request": "sender data", "data": items, "clock": clock }).to_string();
    let mut out = Vec::with_capacity(13 + body.len());
    out.extend_from_slice(b"ZBXD\x01");
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

/// Reads one framed message (header, length, body) and returns the body.
///
/// # Errors
/// A short read, a bad header or an oversized body.
pub fn read_frame(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 13];
    stream.read_exact(&mut header)?;
    if &header[..4] != b"ZBXD" {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a ZBXD frame",
        ));
    }
    let flags = header[4];
    // Flag 0x04 (large packet) uses 2 × 4-byte lengths as well; we only read the first.
    let len = u32::from_le_bytes([header[5], header[6], header[7], header[8]]) as usize;
    if flags & 0x02 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "compressed frames are not supported",
        ));
    }
    if len > 64 * 1024 * 1024 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Sends the items and returns the server's `info` line.
///
/// # Errors
/// Unreachable, timeout, or a response other than `success`.
pub fn send(target: &ZabbixTarget, items: &[Item], clock: u64) -> Result<String, ZabbixError> {
    let (server, port) = (target.server.clone(), target.port);
    let io = |source| ZabbixError::Io {
        server: server.clone(),
        port,
        source,
    };
    let mut stream = connect(target, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.write_all(&frame(items, clock)).map_err(io)?;
    let body = read_frame(&mut stream).map_err(io)?;
    let answer: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if answer.get("response").and_then(|r| r.as_str()) == Some("success") {
        let info = answer
            .get("info")
            .and_then(|i| i.as_str())
            .unwrap_or("")
            .to_owned();
        match failed_count(&info) {
            Some(failed) if failed > 0 => Err(ZabbixError::ItemsFailed {
                server,
                port,
                failed,
                info,
            }),
            _ => Ok(info),
        }
    } else {
        Err(ZabbixError::Refused {
            server,
            port,
            answer: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duties::DutyName;
    use crate::exit::{Exit, Failure};
    use crate::plan::Finding;
    use crate::report::{DutyReport, Mode, RunReport};
    use std::net::TcpListener;

    fn report() -> RunReport {
        let mut r = RunReport::new(Mode::Run, "sqlite:x".into(), "2026-11-28 12:00:00".into());
        let mut d = DutyReport::new(DutyName::LogPruning);
        d.affected = 37;
        r.duties.push(d);
        r.duties.push(DutyReport::skipped(
            DutyName::DiskTempFileCleanup,
            "no temp dir",
        ));
        r.finish(false);
        r
    }

    fn outcome(report: &RunReport) -> Outcome {
        Outcome::of_report(report, Duration::from_millis(1500), 1_700_000_000)
    }

    #[test]
    fn items_cover_every_duty_and_the_run() {
        let items = items(&outcome(&report()), "mf1");
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "multiflexi.housekeeper[LogPruning,affected]",
                "multiflexi.housekeeper[LogPruning,errors]",
                "multiflexi.housekeeper[LogPruning,findings]",
                "multiflexi.housekeeper[LogPruning,status]",
                "multiflexi.housekeeper[DiskTempFileCleanup,affected]",
                "multiflexi.housekeeper[DiskTempFileCleanup,errors]",
                "multiflexi.housekeeper[DiskTempFileCleanup,findings]",
                "multiflexi.housekeeper[DiskTempFileCleanup,status]",
                "multiflexi.housekeeper[run,status]",
                "multiflexi.housekeeper[run,exit]",
                "multiflexi.housekeeper[run,duration]",
            ]
        );
        let values: Vec<&str> = items.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(values[0], "37");
        assert_eq!(values[7], "skipped");
        assert_eq!(values[8..], ["ok", "0", "1.500"]);
        assert!(items
            .iter()
            .all(|i| i.clock == 1_700_000_000 && i.host == "mf1"));
    }

    #[test]
    fn a_read_only_duty_sends_its_findings_and_affected_zero() {
        let mut r = RunReport::new(Mode::Run, "sqlite:x".into(), "2026-11-28 12:00:00".into());
        let mut d = DutyReport::new(DutyName::CredentialHealthCheck);
        d.affected = 2;
        d.findings = vec![
            Finding::new("error", "misconfigured", "credential a"),
            Finding::new("warning", "unavailable", "credential b"),
        ];
        r.duties.push(d);
        r.finish(false);
        let items = items(&outcome(&r), "mf1");
        let value = |key: &str| {
            items
                .iter()
                .find(|i| i.key == key)
                .map(|i| i.value.as_str())
        };
        assert_eq!(
            value("multiflexi.housekeeper[CredentialHealthCheck,affected]"),
            Some("0")
        );
        assert_eq!(
            value("multiflexi.housekeeper[CredentialHealthCheck,findings]"),
            Some("2")
        );
    }

    #[test]
    fn a_run_that_failed_early_sends_the_run_items_only() {
        let failure = Failure::new(Exit::Locked, "another housekeeper holds the lock");
        let outcome = Outcome::of_failure(&failure, Duration::from_millis(20), 1_700_000_000);
        let items = items(&outcome, "mf1");
        let pairs: Vec<(&str, &str)> = items
            .iter()
            .map(|i| (i.key.as_str(), i.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("multiflexi.housekeeper[run,status]", "failed"),
                ("multiflexi.housekeeper[run,exit]", "75"),
                ("multiflexi.housekeeper[run,duration]", "0.020"),
                (
                    "multiflexi.housekeeper[run,error]",
                    "another housekeeper holds the lock"
                ),
            ]
        );
    }

    #[test]
    fn failed_items_in_the_answer_are_counted() {
        assert_eq!(
            failed_count("processed: 0; failed: 33; total: 33; seconds spent: 0.000050"),
            Some(33)
        );
        assert_eq!(failed_count("processed: 9; failed: 0; total: 9"), Some(0));
        assert_eq!(failed_count("something else"), None);
    }

    #[test]
    fn a_run_stopped_by_a_signal_is_sent_as_interrupted() {
        let mut r = report();
        r.finish(true);
        let items = items(&outcome(&r), "mf1");
        let run = items
            .iter()
            .find(|i| i.key == "multiflexi.housekeeper[run,status]")
            .expect("the run's item");
        assert_eq!(run.value, "interrupted");
    }

    /// A trapper on a local port that answers one frame with `info`; returns the target and
    /// the thread that yields the frame it received.
    fn trapper(info: &str) -> (ZabbixTarget, std::thread::JoinHandle<serde_json::Value>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = serde_json::json!({ "response": "success", "info": info }).to_string();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let body = read_frame(&mut stream).unwrap();
            let mut reply = b"ZBXD\x01".to_vec();
            reply.extend_from_slice(&(answer.len() as u64).to_le_bytes());
            reply.extend_from_slice(answer.as_bytes());
            stream.write_all(&reply).unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        });
        let target = ZabbixTarget {
            server: "127.0.0.1".into(),
            port,
            host: "mf1".into(),
        };
        (target, server)
    }

    #[test]
    fn a_local_trapper_receives_the_frame_and_answers() {
        let (target, server) =
            trapper("processed: 9; failed: 0; total: 9; seconds spent: 0.000050");
        let items = items(&outcome(&report()), "mf1");
        let info = send(&target, &items, 1_700_000_000).unwrap();
        assert!(info.starts_with("processed: 9"));
        let body = server.join().unwrap();
        assert_eq!(body["request"], "sender data");
        assert_eq!(body["data"].as_array().unwrap().len(), 11);
        assert_eq!(body["data"][0]["host"], "mf1");
        assert_eq!(body["data"][0]["value"], "37");
    }

    #[test]
    fn items_the_server_did_not_take_are_an_error_saying_what_to_check() {
        let (target, server) =
            trapper("processed: 0; failed: 9; total: 9; seconds spent: 0.000050");
        let items = items(&outcome(&report()), "mf1");
        let err = send(&target, &items, 1_700_000_000).unwrap_err();
        server.join().unwrap();
        let text = err.to_string();
        assert!(text.contains("did not take 9 of the items"), "{text}");
        assert!(text.contains("ZABBIX_HOST"), "{text}");
    }

    #[test]
    fn an_unreachable_server_is_an_error_naming_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let target = ZabbixTarget {
            server: "127.0.0.1".into(),
            port,
            host: "mf1".into(),
        };
        let err = send(&target, &[], 0).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach Zabbix at 127.0.0.1:{port}")),
            "{err}"
        );
        let err = probe(&target).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach Zabbix at 127.0.0.1:{port}: ")),
            "{err}"
        );
    }

    #[test]
    fn a_listening_server_passes_the_probe() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = ZabbixTarget {
            server: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
            host: "mf1".into(),
        };
        probe(&target).unwrap();
    }
}
