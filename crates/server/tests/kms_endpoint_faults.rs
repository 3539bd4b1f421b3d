//! The configuration service's HTTP key provider when its KMS endpoint fails, seen through a
//! local proxy that is down, slow, or answers 503. A refused connection or a 503 is retried
//! with backoff (4 attempts), a timeout is not; the call then fails with a reason that says
//! what happened. After 3 such calls in a row the circuit opens: calls fail at once, naming the
//! cause, without reaching the endpoint; after the cooldown one call probes. Meanwhile nothing
//! changes: no key is taken for revoked, cached data keys keep serving reads, a switch of root
//! key is refused before it starts. Once the endpoint is back, the probe closes the circuit.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::byok::{customer_key, protected_by_customer_key};
use common::fault_proxy::{Fault, FaultProxy};
use keyward_client::BreakerPolicy;
use keyward_secrets::{KeyProvider, ProviderError, RootKey, SecretsConfig, SecretsError, TenantId};
use keyward_server::{App, KmsEndpoint, ServeSettings, build};

const COOLDOWN: Duration = Duration::from_millis(1500);

/// A server whose configuration service reaches its own KMS, for `keyward:local` keys, only
/// through a [`FaultProxy`].
async fn serve_behind_proxy() -> (App, tempfile::TempDir, FaultProxy) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let proxy = FaultProxy::start(addr).await;
    let settings = ServeSettings {
        listen: addr,
        secrets: SecretsConfig {
            key_poll_interval: Duration::from_secs(3600),
            ..SecretsConfig::default()
        },
        kms_endpoints: vec![KmsEndpoint {
            cname: "keyward".into(),
            region: "local".into(),
            url: format!("http://{}", proxy.addr),
        }],
        kms_timeout: Duration::from_millis(400),
        kms_breaker: BreakerPolicy {
            open_after: 3,
            cooldown: COOLDOWN,
        },
        ..ServeSettings::new(dir.path())
    };
    let app = build(&settings).await.unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (app, dir, proxy)
}

/// One call of the provider to the endpoint; its error (if any), how long it took, and how
/// many connections it opened at the proxy.
async fn call(
    app: &App,
    proxy: &FaultProxy,
    root: &RootKey,
    tenant: TenantId,
) -> (Option<ProviderError>, Duration, usize) {
    let connections = proxy.connections();
    let started = Instant::now();
    let result = app.state.secrets.provider().check_key(root, tenant).await;
    (
        result.err(),
        started.elapsed(),
        proxy.connections() - connections,
    )
}

fn unreachable_because(e: &Option<ProviderError>, words: &str) {
    match e {
        Some(ProviderError::Unreachable(why)) => assert!(why.contains(words), "{why}"),
        other => panic!("expected unreachable ({words}), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_kms_endpoint_is_retried_then_rested_and_changes_nothing() {
    let (app, _dir, proxy) = serve_behind_proxy().await;
    let (tenant, secret, customer, _) = protected_by_customer_key(&app, b"through the proxy").await;
    let read = || async { app.state.secrets.get(tenant, secret, "password").await };
    assert_eq!(read().await.unwrap().expose_secret(), b"through the proxy");
    let (ok, _, reached) = call(&app, &proxy, &customer, tenant).await;
    assert!(ok.is_none() && reached <= 1, "{ok:?}");
    let protection = app.state.secrets.protection(tenant).await.unwrap();

    // 503 on every request: each call tries 4 times, then says so.
    proxy.set(Fault::Http503).await;
    for _ in 0..3 {
        let (e, _, reached) = call(&app, &proxy, &customer, tenant).await;
        unreachable_because(&e, "HTTP 503");
        assert_eq!(reached, 4, "four attempts");
    }
    // Three in a row: the circuit is open, calls fail at once and reach nothing.
    let (e, took, reached) = call(&app, &proxy, &customer, tenant).await;
    unreachable_because(&e, "circuit open");
    unreachable_because(&e, "HTTP 503");
    assert_eq!(reached, 0);
    assert!(took < Duration::from_millis(100), "{took:?}");
    // Nothing changed: no key taken for revoked, the cached data key serves reads, a switch
    // of root key is refused before it starts.
    assert_eq!(app.state.secrets.poll_keys().await.unwrap(), 0);
    assert_eq!(read().await.unwrap().expose_secret(), b"through the proxy");
    let (_, other) = customer_key(&app).await;
    let e = app
        .state
        .secrets
        .switch_root_key(tenant, RootKey::Customer(other))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SecretsError::Provider(ProviderError::Unreachable(_))),
        "{e}"
    );
    assert_eq!(
        app.state.secrets.protection(tenant).await.unwrap(),
        protection
    );

    // Slow: after the cooldown one call probes, times out once (not retried), and the circuit
    // opens again at once.
    tokio::time::sleep(COOLDOWN).await;
    proxy.set(Fault::Slow(Duration::from_secs(5))).await;
    let (e, took, reached) = call(&app, &proxy, &customer, tenant).await;
    unreachable_because(&e, "timed out");
    assert_eq!(reached, 1, "a timeout is not retried");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let (e, _, reached) = call(&app, &proxy, &customer, tenant).await;
    unreachable_because(&e, "circuit open");
    assert_eq!(reached, 0);

    // Down: connections closed at once, retried, then refused.
    tokio::time::sleep(COOLDOWN).await;
    proxy.set(Fault::Down).await;
    let (e, _, reached) = call(&app, &proxy, &customer, tenant).await;
    unreachable_because(&e, "connection");
    assert_eq!(reached, 4);
    assert_eq!(read().await.unwrap().expose_secret(), b"through the proxy");

    // Back: the probe succeeds and closes the circuit.
    tokio::time::sleep(COOLDOWN).await;
    proxy.set(Fault::None).await;
    for _ in 0..3 {
        let (e, _, _) = call(&app, &proxy, &customer, tenant).await;
        assert!(e.is_none(), "{e:?}");
    }
    assert_eq!(
        app.state.secrets.protection(tenant).await.unwrap(),
        protection
    );
    assert_eq!(read().await.unwrap().expose_secret(), b"through the proxy");
}
