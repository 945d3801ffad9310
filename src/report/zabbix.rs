//! The Zabbix sender: a run's results as trapper items, over the Zabbix sender
//! protocol (`ZBXD\x01`, little-endian 64-bit length, JSON body), with a 5 s timeout. A
//! failure here is a warning for the caller, never a run failure.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;

use super::RunReport;
use crate::config::ZabbixTarget;

pub const TIMEOUT: Duration = Duration::from_secs(5);

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

/// The items of a run: per duty `affected`, `errors`, `findings`, `status`, and the run's
/// status.
#[must_use]
pub fn items(report: &RunReport, host: &str, clock: u64) -> Vec<Item> {
    let item = |key: String, value: String| Item {
        host: host.to_owned(),
        key,
        value,
        clock,
    };
    let mut out = Vec::new();
    for d in &report.duties {
        let name = d.duty.as_str();
        out.push(item(
            format!("multiflexi.housekeeper[{name},affected]"),
            d.affected.to_string(),
        ));
        out.push(item(
            format!("multiflexi.housekeeper[{name},errors]"),
            d.errors.len().to_string(),
        ));
        out.push(item(
            format!("multiflexi.housekeeper[{name},findings]"),
            d.findings.len().to_string(),
        ));
        out.push(item(
            format!("multiflexi.housekeeper[{name},status]"),
            d.status.as_str().to_owned(),
        ));
    }
    out.push(item(
        "multiflexi.housekeeper[run,status]".into(),
        report.status.as_str().to_owned(),
    ));
    out
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
    let addr = (target.server.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|source| ZabbixError::Connect {
            server: server.clone(),
            port,
            source,
        })?
        .next()
        .ok_or_else(|| ZabbixError::Connect {
            server: server.clone(),
            port,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        })?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|source| ZabbixError::Connect {
            server: server.clone(),
            port,
            source,
        })?;
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
    use crate::report::{DutyReport, Mode};
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

    #[test]
    fn items_cover_every_duty_and_the_run() {
        let items = items(&report(), "mf1", 1_700_000_000);
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
            ]
        );
        assert_eq!(items[0].value, "37");
        assert_eq!(items[7].value, "skipped");
        assert_eq!(items[8].value, "ok");
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
        let items = items(&r, "mf1", 1_700_000_000);
        let run = items.last().expect("the run's item");
        assert_eq!(
            (run.key.as_str(), run.value.as_str()),
            ("multiflexi.housekeeper[run,status]", "interrupted")
        );
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
        let items = items(&report(), "mf1", 1_700_000_000);
        let info = send(&target, &items, 1_700_000_000).unwrap();
        assert!(info.starts_with("processed: 9"));
        let body = server.join().unwrap();
        assert_eq!(body["request"], "sender data");
        assert_eq!(body["data"].as_array().unwrap().len(), 9);
        assert_eq!(body["data"][0]["host"], "mf1");
        assert_eq!(body["data"][0]["value"], "37");
    }

    #[test]
    fn items_the_server_did_not_take_are_an_error_saying_what_to_check() {
        let (target, server) =
            trapper("processed: 0; failed: 9; total: 9; seconds spent: 0.000050");
        let items = items(&report(), "mf1", 1_700_000_000);
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
    }
}
