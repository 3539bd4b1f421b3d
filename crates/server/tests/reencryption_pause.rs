//! A switch to a root key that is disabled mid-way pauses, says why in `key_protection`, and
//! resumes by itself when the key is enabled again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::byok::{authorize, customer_key, kms_instance, tenant, wait_switched};
use keyward_crypto::SecretBytes;
use keyward_kms::KeyRef;
use keyward_secrets::{RootKey, SecretId, SecretsConfig};
use keyward_server::{ServeSettings, build};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_to_a_disabled_key_pauses_visibly_and_resumes_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ServeSettings {
        unsafe_test_clock: true,
        secrets: SecretsConfig {
            batch_size: 2,
            pause_retry: Duration::from_millis(100),
            ..SecretsConfig::default()
        },
        ..ServeSettings::new(dir.path())
    };
    let app = build(&settings).await.unwrap();
    let tenant = tenant(&app).await;
    let user = SecretBytes::new(b"user".to_vec());
    for i in 0..400 {
        let pw = SecretBytes::new(format!("pw-{i}").into_bytes());
        app.state
            .secrets
            .put(
                tenant,
                SecretId(Uuid::new_v4()),
                &[("username", &user), ("password", &pw)],
            )
            .await
            .unwrap();
    }
    let (key, crn) = customer_key(&app).await;
    authorize(&app).await;
    let target = RootKey::Customer(crn);
    app.state
        .secrets
        .switch_root_key(tenant, target.clone())
        .await
        .unwrap();
    let admin = app
        .admin_access(kms_instance(&app).as_uuid())
        .await
        .unwrap();
    app.state
        .kms
        .disable(&admin, kms_instance(&app), &KeyRef::Id(key))
        .await
        .unwrap();

    // Paused, with the reason, and stays there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let paused = loop {
        let p = app.state.secrets.protection(tenant).await.unwrap();
        assert!(
            p.switching_to.is_some(),
            "the switch finished before the key was disabled"
        );
        if let Some(reason) = p.paused {
            break p.switching_to.map(|(_, progress)| (reason, progress));
        }
        assert!(Instant::now() < deadline, "the switch did not pause");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (reason, progress) = paused.unwrap();
    assert!(reason.contains("disabled"), "{reason}");
    // The same through the API.
    let apikey = app
        .new_admin_key
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let token = common::Call::new(
        app.router.clone(),
        axum::http::Method::POST,
        "/identity/token",
        None,
        None,
    )
    .form(&[("grant_type", common::APIKEY_GRANT), ("apikey", &apikey)])
    .send()
    .await
    .expect_status(200)
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = common::Call::new(
        app.router.clone(),
        axum::http::Method::GET,
        &format!("/openscale/{}/v2/user_preferences", tenant.0),
        Some(format!("Bearer {token}")),
        None,
    )
    .send()
    .await
    .expect_status(200)
    .json();
    assert_eq!(shown["key_protection"]["state"], "paused", "{shown}");
    assert!(
        shown["key_protection"]["reason"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = app.state.secrets.protection(tenant).await.unwrap();
    assert_eq!(
        later.switching_to.map(|(_, p)| p.done),
        Some(progress.done),
        "no field moved while paused"
    );

    // Enabled again (30 s after the disable): the switch resumes by itself and completes.
    app.test_clock
        .as_ref()
        .unwrap()
        .advance(time::Duration::seconds(31));
    app.state
        .kms
        .enable(&admin, kms_instance(&app), &KeyRef::Id(key))
        .await
        .unwrap();
    wait_switched(&app, tenant, &target).await;
    let p = app.state.secrets.protection(tenant).await.unwrap();
    assert_eq!(p.paused, None);
}
