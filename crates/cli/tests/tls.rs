//! TLS from the outside: `keyward tls self-signed` writes a CA, a certificate and a private
//! key; `keyward serve --tls-cert --tls-key` speaks only HTTPS with them, swaps them on SIGHUP
//! without dropping open connections, and refuses a key that is not the certificate's; plain
//! HTTP on an address other machines can reach is refused unless asked for.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{admin_client as client, bootstrap, keyward, serve, started, stop};
use keyward_client::{ClientError, Method};

fn self_signed(dir: &Path) {
    let out = keyward(&["tls", "self-signed", "--out", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn self_signed_writes_a_ca_a_certificate_and_a_private_key_only_it_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("tls");
    self_signed(&out_dir);
    for name in ["ca.pem", "cert.pem"] {
        let text = std::fs::read_to_string(out_dir.join(name)).unwrap();
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{name}");
    }
    let key = std::fs::read_to_string(out_dir.join("key.pem")).unwrap();
    assert!(key.contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(out_dir.join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwritten.
    let again = keyward(&["tls", "self-signed", "--out", out_dir.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("key.pem")).unwrap(),
        key
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_speaks_only_https_and_swaps_its_certificate_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    self_signed(&first);
    self_signed(&second);
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    for name in ["cert.pem", "key.pem"] {
        std::fs::copy(first.join(name), live.join(name)).unwrap();
    }
    let data = dir.path().join("data");
    let mut server = serve(
        &data,
        "127.0.0.1:0",
        &[
            "--tls-cert",
            live.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            live.join("key.pem").to_str().unwrap(),
        ],
    );
    let url = started(&data, &mut server);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // Trusting the CA: a token and a call. The connection stays open in the client's pool.
    let kept = client(&url, &data, Some(&first.join("ca.pem")));
    kept.token().await.unwrap();
    // Trusting only the system's and public roots: refused.
    let e = client(&url, &data, None).token().await.unwrap_err();
    assert!(matches!(e, ClientError::Unreachable(_)), "{e}");
    // Plain HTTP is answered 400 with what to do instead, and never routed.
    let addr = url.trim_start_matches("https://");
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /api/v2/keys HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(
        answer.contains("HTTPS only") && answer.contains("https://"),
        "{answer}"
    );
    assert!(!answer.contains("resources"), "{answer}");

    // New files, then SIGHUP: new connections get the second certificate.
    for name in ["cert.pem", "key.pem"] {
        std::fs::copy(second.join(name), live.join(name)).unwrap();
    }
    let status = Command::new("kill")
        .args(["-HUP", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if client(&url, &data, Some(&second.join("ca.pem")))
            .token()
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second certificate never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = client(&url, &data, Some(&first.join("ca.pem")))
        .token()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Unreachable(_)), "{e}");
    // The connection opened under the first certificate still serves requests (a new one
    // would be refused: its client trusts only the first CA).
    let instance = bootstrap(&data, "kms_instance_id");
    let reply = kept
        .send(
            Method::GET,
            "/api/v2/keys",
            &[("bluemix-instance", &instance)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);

    // A broken file on SIGHUP: the certificate in use stays, and the log says why.
    std::fs::write(live.join("cert.pem"), "garbage").unwrap();
    Command::new("kill")
        .args(["-HUP", &server.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client(&url, &data, Some(&second.join("ca.pem")))
        .token()
        .await
        .unwrap();
    let log = stop(server);
    assert!(log.contains("not reloaded"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
}

#[test]
fn a_key_that_is_not_the_certificates_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    self_signed(&a);
    self_signed(&b);
    let data = dir.path().join("data");
    let server = serve(
        &data,
        "127.0.0.1:0",
        &[
            "--tls-cert",
            a.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            b.join("key.pem").to_str().unwrap(),
        ],
    );
    let out = server.into_child().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    assert!(!data.exists(), "nothing was set up");
}

#[test]
fn plain_http_on_a_reachable_address_is_refused_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(&data)
        .env_remove("KEYWARD_DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("--insecure-http"),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing was set up");

    let mut server = serve(&data, "0.0.0.0:0", &["--insecure-http"]);
    let url = started(&data, &mut server);
    assert!(url.starts_with("http://0.0.0.0:"), "{url}");
    stop(server);
}
