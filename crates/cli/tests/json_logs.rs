//! `--log-format json`: every log line on stderr is one JSON object, and the lines written while
//! a request runs carry its correlation id; no secret reaches the log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn json_log_lines_carry_the_correlation_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("KEYWARD_DATABASE_URL")
        .env("KEYWARD_LOG", "keyward_server::audit=debug,warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let info: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(data.join("bootstrap.json")) {
            break serde_json::from_str(&text).unwrap();
        }
        assert!(Instant::now() < deadline, "keyward did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let addr = info["url"]
        .as_str()
        .unwrap()
        .strip_prefix("http://")
        .unwrap()
        .to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /api/v2/keys HTTP/1.1\r\nHost: {addr}\r\nCorrelation-Id: log-check-7f3a\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    std::thread::sleep(Duration::from_millis(200));
    server.kill().unwrap();
    server.wait().unwrap();
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["fields"]["message"] == "answered")
        .unwrap_or_else(|| panic!("no 'answered' line in:\n{stderr}"));
    assert_eq!(
        answered["span"]["correlation_id"], "log-check-7f3a",
        "{answered}"
    );
    assert_eq!(answered["span"]["route"], "/api/v2/keys");
    assert_eq!(answered["fields"]["status"], 401);
    let apikey = std::fs::read_to_string(data.join("admin.apikey")).unwrap();
    assert!(
        !stderr.contains(apikey.trim()),
        "the admin API key is in the log"
    );
}
