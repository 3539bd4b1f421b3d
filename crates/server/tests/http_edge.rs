//! Hardening at the edge, over a real socket: a client that trickles its headers is cut off, a
//! request whose body never arrives is answered 408, and a principal (or, for the token
//! endpoint, a client address) over its rate gets 429 with `Retry-After`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::APIKEY_GRANT;
use keyward_server::listener::{ConnectionLimits, serve};
use keyward_server::rate_limit::Rate;
use keyward_server::{App, EdgeSettings, ServeSettings, build};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start(edge: EdgeSettings) -> (App, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = ServeSettings {
        edge,
        ..ServeSettings::new(dir.path())
    };
    let app = build(&settings).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ConnectionLimits {
        header_read_timeout: edge.header_read_timeout,
        shutdown_grace: Duration::from_secs(1),
    };
    tokio::spawn(serve(
        listener,
        app.router.clone(),
        limits,
        None,
        std::future::pending(),
    ));
    (app, addr, dir)
}

fn quick(header: u64, request: u64) -> EdgeSettings {
    EdgeSettings {
        header_read_timeout: Duration::from_millis(header),
        request_timeout: Duration::from_millis(request),
        ..EdgeSettings::default()
    }
}

/// Reads until the server closes the connection (or `limit` passes); returns what came.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let (_app, addr, _dir) = start(quick(400, 30_000)).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("the server closed the connection");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!answer.contains("200 OK"), "{answer}");

    // A client that sends its headers in time is served.
    let mut fine = TcpStream::connect(addr).await.unwrap();
    fine.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut fine, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_is_answered_408() {
    let (app, addr, _dir) = start(quick(10_000, 500)).await;
    let apikey = app
        .new_admin_key
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let token = reqwest_token(addr, &apikey).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v2/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Bluemix-Instance: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        app.info.kms_instance_id
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered before the client finished")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT_ERR"), "{answer}");
}

/// A token through the token endpoint over the socket.
async fn reqwest_token(addr: std::net::SocketAddr, apikey: &str) -> String {
    let client = keyward_client::Client::new(
        &format!("http://{addr}"),
        &format!("http://{addr}"),
        apikey.to_owned(),
        Duration::from_secs(10),
        keyward_client::RetryPolicy {
            attempts: 1,
            backoff: Duration::from_millis(10),
        },
    )
    .unwrap();
    client.token().await.unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_over_its_rate_gets_429_with_retry_after() {
    let edge = EdgeSettings {
        principal_rate: Rate {
            per_second: 1.0,
            burst: 3.0,
        },
        ..EdgeSettings::default()
    };
    let (app, addr, _dir) = start(edge).await;
    let apikey = app
        .new_admin_key
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let token = reqwest_token(addr, &apikey).await;
    let http = reqwest_client();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let r = http
            .get(format!("http://{addr}/v1/apikeys"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hammer_the_token_endpoint() {
    let edge = EdgeSettings {
        token_rate: Rate {
            per_second: 1.0,
            burst: 2.0,
        },
        ..EdgeSettings::default()
    };
    let (_app, addr, _dir) = start(edge).await;
    let http = reqwest_client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = http
            .post(format!("http://{addr}/identity/token"))
            .form(&[("grant_type", APIKEY_GRANT), ("apikey", "kw_wrong")])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        statuses.push((status, body["errorCode"].as_str().unwrap().to_owned()));
    }
    assert_eq!(statuses[0].0, 400);
    assert_eq!(statuses[1].0, 400);
    assert_eq!(statuses[2], (429, "BXNIM0429E".to_owned()));
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}
