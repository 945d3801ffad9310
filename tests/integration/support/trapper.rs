//! A Zabbix trapper on a local port: accepts one sender connection, answers it the way a
//! Zabbix server does (`success` with the given `info`) and hands over the request it
//! received, so a test sees the real frame housekeeper sent.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use housekeeper::report::zabbix::read_frame;

/// How long the trapper waits for housekeeper to connect.
const WAIT: Duration = Duration::from_secs(60);

pub struct Trapper {
    pub port: u16,
    request: JoinHandle<Option<serde_json::Value>>,
}

impl Trapper {
    /// Listens on 127.0.0.1 and answers the first request with `info`.
    #[must_use]
    pub fn answering(info: &str) -> Trapper {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the trapper");
        let port = listener.local_addr().expect("the trapper's address").port();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let answer = serde_json::json!({ "response": "success", "info": info }).to_string();
        let request = std::thread::spawn(move || {
            let until = Instant::now() + WAIT;
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > until {
                            return None;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("trapper: accept: {e}"),
                }
            };
            stream.set_nonblocking(false).expect("a blocking stream");
            let body = read_frame(&mut stream).expect("a sender frame");
            let mut reply = b"ZBXD\x01".to_vec();
            reply.extend_from_slice(&(answer.len() as u64).to_le_bytes());
            reply.extend_from_slice(answer.as_bytes());
            stream.write_all(&reply).expect("answer the sender");
            Some(serde_json::from_slice(&body).expect("a JSON request"))
        });
        Trapper { port, request }
    }

    /// `ZABBIX_SERVER` for this trapper.
    #[must_use]
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The request received; panics when none came.
    #[must_use]
    pub fn received(self) -> Request {
        Request(
            self.request
                .join()
                .expect("the trapper thread")
                .expect("housekeeper sent nothing to the trapper"),
        )
    }
}

/// A sender request as the trapper received it.
#[derive(Debug)]
pub struct Request(pub serde_json::Value);

impl Request {
    /// The `data` items as `(key, value)`, in the order sent.
    #[must_use]
    pub fn items(&self) -> Vec<(String, String)> {
        self.0["data"]
            .as_array()
            .expect("a data array")
            .iter()
            .map(|item| {
                (
                    item["key"].as_str().expect("a key").to_owned(),
                    item["value"].as_str().expect("a value").to_owned(),
                )
            })
            .collect()
    }

    /// The value sent for `key`.
    #[must_use]
    pub fn value(&self, key: &str) -> Option<String> {
        self.items()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}
