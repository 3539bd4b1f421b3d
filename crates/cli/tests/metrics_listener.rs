//! `serve --metrics-listen`: `/metrics` answers on its own address (named in bootstrap.json),
//! and without the flag there is no metrics address at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

fn get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn metrics_answer_on_their_own_address_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = common::serve(&data, "127.0.0.1:0", &["--metrics-listen", "127.0.0.1:0"]);
    let url = common::started(&data, &mut server);
    let metrics = common::bootstrap(&data, "metrics_url");
    assert_ne!(
        metrics.split('/').nth(2),
        url.split('/').nth(2),
        "a port of its own"
    );
    let reply = get(&metrics);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("keyward_http_requests_total"), "{reply}");
    assert!(reply.contains("keyward_dek_cache_entries"), "{reply}");
    let api = get(&format!("{url}/metrics"));
    assert!(api.starts_with("HTTP/1.1 404"), "{api}");
    common::stop(server);

    let plain = tempfile::tempdir().unwrap();
    let data = plain.path().join("data");
    let mut server = common::serve(&data, "127.0.0.1:0", &[]);
    common::started(&data, &mut server);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("bootstrap.json")).unwrap())
            .unwrap();
    assert!(info.get("metrics_url").is_none(), "{info}");
    common::stop(server);
}
