//! Data mart connections against the real binary: the server's own PostgreSQL environment never
//! reaches a customer's database. A fake PostgreSQL server records the password a data mart
//! sends; `PGPASSWORD` in the server's environment must not be it. A setting that every
//! connection would inherit (`PGSSLCERT`) stops the server at start with a message saying why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keyward_client::{Client, Method, RetryPolicy};
use serde_json::{Value, json};

/// A one-connection PostgreSQL stand-in: declines TLS, asks for a cleartext password, sends the
/// password it got down `seen`, and refuses the login.
fn fake_postgres() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let read_message = |s: &mut std::net::TcpStream| -> Option<Vec<u8>> {
                    let mut len = [0u8; 4];
                    s.read_exact(&mut len).ok()?;
                    let len = u32::from_be_bytes(len) as usize;
                    let mut body = vec![0u8; len.saturating_sub(4)];
                    s.read_exact(&mut body).ok()?;
                    Some(body)
                };
                // SSLRequest (code 80877103) or StartupMessage.
                let Some(first) = read_message(&mut s) else {
                    return;
                };
                if first == 80_877_103u32.to_be_bytes() {
                    s.write_all(b"N").ok();
                    if read_message(&mut s).is_none() {
                        return;
                    }
                }
                // AuthenticationCleartextPassword.
                s.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).ok();
                let mut tag = [0u8; 1];
                if s.read_exact(&mut tag).is_err() || tag[0] != b'p' {
                    return;
                }
                let Some(body) = read_message(&mut s) else {
                    return;
                };
                let password =
                    String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body)).into_owned();
                tx.send(password).ok();
                let fields = b"SFATAL\0C28P01\0Mpassword authentication failed\0\0";
                let mut error = vec![b'E'];
                error.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
                error.extend_from_slice(fields);
                s.write_all(&error).ok();
            });
        }
    });
    (port, rx)
}

fn serve(dir: &Path, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("KEYWARD_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn wait_started(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("bootstrap.json").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("keyward exited during start: {status}");
        }
        assert!(Instant::now() < deadline, "keyward did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_pgpassword_never_reaches_a_data_mart() {
    let (port, seen) = fake_postgres();
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(
        dir.path(),
        &[("PGPASSWORD", "operator-secret-pw"), ("PGUSER", "operator")],
    );
    wait_started(dir.path(), &mut server);
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bootstrap.json")).unwrap())
            .unwrap();
    let url = info["url"].as_str().unwrap();
    let apikey = std::fs::read_to_string(dir.path().join("admin.apikey")).unwrap();
    let client = Client::new(
        url,
        url,
        apikey.trim().to_owned(),
        Duration::from_secs(30),
        RetryPolicy::default(),
    )
    .unwrap();
    let instance = info["config_instance_id"].as_str().unwrap();
    // No password in the credentials: the data mart must not borrow the server's.
    let body = json!({"name": "dm", "database_configuration": {"database_type": "postgresql",
        "credentials": {"hostname": "127.0.0.1", "port": port, "username": "tenant", "db": "x"}}});
    let reply = client
        .send(
            Method::POST,
            &format!("/openscale/{instance}/v2/data_marts"),
            &[],
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 201, "{}", reply.body);
    let sent = seen
        .recv_timeout(Duration::from_secs(20))
        .expect("the data mart connected to the fake server");
    assert_eq!(sent, "", "the data mart sent the server's PGPASSWORD");
    // The failure is reported with a stable code and without the OS error text.
    let deadline = Instant::now() + Duration::from_secs(20);
    let failure = loop {
        let dm = client
            .send(
                Method::GET,
                &format!("/openscale/{instance}/v2/data_marts/{instance}"),
                &[],
                None,
            )
            .await
            .unwrap();
        if dm.body["entity"]["status"]["state"] == "error" {
            break dm.body["entity"]["status"]["failure"]["errors"][0].clone();
        }
        assert!(Instant::now() < deadline, "no error state: {}", dm.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failure["code"], "DATABASE_AUTH_FAILED", "{failure}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_client_certificate_in_the_environment_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path(), &[("PGSSLCERT", "/etc/ssl/operator.crt")]);
    let status = server.wait().unwrap();
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("PGSSLCERT") && stderr.contains("unset"),
        "{stderr}"
    );
}
