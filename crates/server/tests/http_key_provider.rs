//! The configuration service's HTTP key provider against this server's own KMS over a real
//! socket: the service id's token, the customer's service-to-service authorization, wrap and
//! unwrap over HTTP, registrations, and clear refusals (not authorized, disabled, unreachable).

#![allow(clippy::unwrap_used)]

mod common;

use common::byok::{authorize, customer_key, protected_by_customer_key, tenant, wait_switched};
use keyward_crypto::SecretBytes;
use keyward_kms::{InstanceId, KeyRef};
use keyward_secrets::{
    ProviderError, RootKey, RootKeyCrn, SecretId, SecretsConfig, SecretsError, TenantId,
};
use keyward_server::listener::{self, ConnectionLimits};
use keyward_server::tls::{CertStore, TlsFiles};
use keyward_server::{App, KmsEndpoint, ServeSettings, build};
use std::time::Duration;

use keyward_iam::{AccountId, IamStore};
use uuid::Uuid;

/// A server listening on a real port whose configuration service reaches its KMS over HTTP
/// for `keyward:local` keys, and over a closed port for `keyward:elsewhere` keys.
async fn serve() -> (App, tempfile::TempDir) {
    serve_with(SecretsConfig::default()).await
}

/// [`serve`] with the given secrets tunables.
async fn serve_with(secrets: SecretsConfig) -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let settings = ServeSettings {
        listen: addr,
        unsafe_test_clock: true,
        secrets,
        kms_endpoints: vec![
            KmsEndpoint {
                cname: "keyward".into(),
                region: "local".into(),
                url: format!("http://{addr}"),
            },
            KmsEndpoint {
                cname: "keyward".into(),
                region: "elsewhere".into(),
                url: format!("http://{closed}"),
            },
        ],
        ..ServeSettings::new(dir.path())
    };
    let app = build(&settings).await.unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (app, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_keys_are_used_over_http_only_with_an_authorization() {
    let (app, _dir) = serve().await;
    let tenant = tenant(&app).await;
    let secret = SecretId(Uuid::new_v4());
    let pw = SecretBytes::new(b"over-http".to_vec());
    app.state
        .secrets
        .put(tenant, secret, &[("password", &pw)])
        .await
        .unwrap();
    let (key, crn) = customer_key(&app).await;
    let customer = RootKey::Customer(crn.clone());

    // The service id has no access of its own: the KMS refuses it (403 → not authorized), and
    // the refusal names the authorization that is missing.
    let e = app
        .state
        .secrets
        .switch_root_key(tenant, customer.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SecretsError::Provider(ProviderError::NotAuthorized { .. })
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&tenant.to_string()) && text.contains("authorization"),
        "{text}"
    );

    // Authorizing invalidates the decisions cached on this node at once.
    authorize(&app).await;
    app.state
        .secrets
        .switch_root_key(tenant, customer.clone())
        .await
        .unwrap();
    wait_switched(&app, tenant, &customer).await;
    assert!(
        app.state
            .secrets
            .get(tenant, secret, "password")
            .await
            .unwrap()
            .ct_eq(b"over-http")
    );

    let instance = InstanceId::from_uuid(app.info.kms_instance_id.parse().unwrap());
    let admin = app.admin_access(instance.as_uuid()).await.unwrap();
    let regs = app
        .state
        .kms
        .registrations(&admin, instance, Some(&KeyRef::Id(key)))
        .await
        .unwrap();
    assert_eq!(regs.len(), 1, "registered over HTTP");

    // Revocation: the KMS reports the key disabled and the cached DEK is dropped.
    app.state
        .kms
        .disable(&admin, instance, &KeyRef::Id(key))
        .await
        .unwrap();
    let e = app
        .state
        .secrets
        .verify_root_keys(tenant)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SecretsError::Provider(ProviderError::KeyDisabled)),
        "{e}"
    );
    assert!(app.state.secrets.cache().is_empty());
    assert!(
        app.state
            .secrets
            .get(tenant, secret, "password")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_kms_is_refused_before_anything_changes() {
    let (app, _dir) = serve().await;
    let tenant = tenant(&app).await;
    let pw = SecretBytes::new(b"stays".to_vec());
    app.state
        .secrets
        .put(tenant, SecretId(Uuid::new_v4()), &[("password", &pw)])
        .await
        .unwrap();
    let before = app.state.secrets.protection(tenant).await.unwrap();
    let far: RootKeyCrn = format!(
        "crn:v1:keyward:local:kms:elsewhere:a/{}:{}:key:{}",
        app.info.account_id,
        app.info.kms_instance_id,
        Uuid::new_v4()
    )
    .parse()
    .unwrap();
    let e = app
        .state
        .secrets
        .switch_root_key(tenant, RootKey::Customer(far))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SecretsError::Provider(ProviderError::Unreachable(_))),
        "{e}"
    );
    assert_eq!(app.state.secrets.protection(tenant).await.unwrap(), before);
}

/// A tenant under a customer key served over HTTP, one secret read (its DEK cached), and the
/// id of the customer's authorization.
async fn protected_over_http(app: &App) -> (TenantId, SecretId, Uuid) {
    let (tenant, secret, _, policy) = protected_by_customer_key(app, b"polled").await;
    app.state
        .secrets
        .get(tenant, secret, "password")
        .await
        .unwrap();
    assert!(!app.state.secrets.cache().is_empty());
    (tenant, secret, policy)
}

/// The customer withdraws its authorization: the KMS sends no key event for that, so only
/// asking it tells.
async fn withdraw(app: &App, policy: Uuid) {
    let account: AccountId = app.info.account_id.parse().unwrap();
    assert!(app.store.delete_policy(&account, policy).await.unwrap());
    app.state.iam.invalidate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_drops_the_deks_of_a_key_the_service_may_no_longer_use() {
    let (app, _dir) = serve_with(SecretsConfig {
        key_poll_interval: Duration::from_secs(3600),
        ..SecretsConfig::default()
    })
    .await;
    let (tenant, secret, policy) = protected_over_http(&app).await;
    assert_eq!(
        app.state.secrets.poll_keys().await.unwrap(),
        0,
        "still usable"
    );
    assert!(!app.state.secrets.cache().is_empty());

    withdraw(&app, policy).await;
    // Until a poll, the cached DEK still opens the secret: that gap is what polling bounds.
    assert!(
        app.state
            .secrets
            .get(tenant, secret, "password")
            .await
            .is_ok()
    );
    assert_eq!(app.state.secrets.poll_keys().await.unwrap(), 1);
    assert!(app.state.secrets.cache().is_empty());
    let e = app
        .state
        .secrets
        .get(tenant, secret, "password")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SecretsError::Provider(ProviderError::NotAuthorized { .. })
        ),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_watch_polls_on_its_own() {
    let (app, _dir) = serve_with(SecretsConfig {
        key_poll_interval: Duration::from_millis(200),
        ..SecretsConfig::default()
    })
    .await;
    let (tenant, secret, policy) = protected_over_http(&app).await;
    withdraw(&app, policy).await;
    for _ in 0..100 {
        if app.state.secrets.cache().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        app.state.secrets.cache().is_empty(),
        "dropped within 5 s of a 200 ms poll"
    );
    assert!(
        app.state
            .secrets
            .get(tenant, secret, "password")
            .await
            .is_err()
    );
}

/// A server on a real port serving HTTPS with a development certificate, whose configuration
/// service reaches its KMS over HTTPS for `keyward:local` keys, trusting the development CA only
/// when `trust_ca`.
async fn serve_tls(trust_ca: bool) -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let certs = keyward_server::dev_cert::generate(&[]).unwrap();
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir(&tls_dir).unwrap();
    let files = TlsFiles {
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    };
    std::fs::write(tls_dir.join("ca.pem"), &certs.ca_pem).unwrap();
    std::fs::write(&files.cert, &certs.cert_pem).unwrap();
    std::fs::write(&files.key, certs.key_pem.as_bytes()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = ServeSettings {
        listen: addr,
        tls: Some(files.clone()),
        kms_ca_file: trust_ca.then(|| tls_dir.join("ca.pem")),
        kms_endpoints: vec![KmsEndpoint {
            cname: "keyward".into(),
            region: "local".into(),
            url: "self".into(),
        }],
        ..ServeSettings::new(dir.path().join("data"))
    };
    let app = build(&settings).await.unwrap();
    let acceptor = CertStore::load(files).unwrap().acceptor();
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(1),
    };
    let router = app.router.clone();
    tokio::spawn(listener::serve(
        listener,
        router,
        limits,
        Some(acceptor),
        std::future::pending(),
    ));
    (app, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_keys_are_used_over_https_trusting_the_configured_ca() {
    let (app, _dir) = serve_tls(true).await;
    let (tenant, secret, customer, _) = protected_by_customer_key(&app, b"over-https").await;
    app.state.secrets.cache().forget_root(&customer);
    assert!(
        app.state
            .secrets
            .get(tenant, secret, "password")
            .await
            .unwrap()
            .ct_eq(b"over-https")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kms_certificate_nobody_trusts_is_refused_before_anything_changes() {
    let (app, _dir) = serve_tls(false).await;
    let tenant = tenant(&app).await;
    app.state
        .secrets
        .put(
            tenant,
            SecretId(Uuid::new_v4()),
            &[("password", &SecretBytes::new(b"stays".to_vec()))],
        )
        .await
        .unwrap();
    let before = app.state.secrets.protection(tenant).await.unwrap();
    let (_, crn) = customer_key(&app).await;
    authorize(&app).await;
    let e = app
        .state
        .secrets
        .switch_root_key(tenant, RootKey::Customer(crn))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SecretsError::Provider(ProviderError::Unreachable(_))),
        "{e}"
    );
    assert_eq!(app.state.secrets.protection(tenant).await.unwrap(), before);
}
