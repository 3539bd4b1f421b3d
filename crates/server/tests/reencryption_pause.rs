//! A switch to a root key that is disabled mid-way pauses, says why in `key_protection`, and
//! resumes by itself when the key is enabled again; the root key preference deleted while it
//! waits turns it back to the global key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use axum::http::Method;
use common::byok::{admin_token, authorize, customer_key, kms_instance, tenant, wait_switched};
use keyward_crypto::SecretBytes;
use keyward_kms::{KeyId, KeyRef};
use keyward_secrets::{Progress, RootKey, SecretId, SecretsConfig, TenantId};
use keyward_server::authz::InstanceAccess;
use keyward_server::{App, ServeSettings, build};
use serde_json::Value;
use uuid::Uuid;

/// A server whose tenant's switch to a customer key paused because the key was disabled.
struct Paused {
    app: App,
    _dir: tempfile::TempDir,
    tenant: TenantId,
    key: KeyId,
    target: RootKey,
    admin: InstanceAccess,
    token: String,
    secrets: Vec<SecretId>,
    reason: String,
    progress: Progress,
}

impl Paused {
    async fn new() -> Self {
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
        let mut secrets = Vec::new();
        for i in 0..400 {
            let id = SecretId(Uuid::new_v4());
            let pw = SecretBytes::new(format!("pw-{i}").into_bytes());
            app.state
                .secrets
                .put(tenant, id, &[("username", &user), ("password", &pw)])
                .await
                .unwrap();
            secrets.push(id);
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
        // Disabled once some fields are under the new key.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let p = app.state.secrets.protection(tenant).await.unwrap();
            let (_, progress) = p.switching_to.expect("the switch finished too soon");
            if progress.done > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the switch did not start");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        app.state
            .kms
            .disable(&admin, kms_instance(&app), &KeyRef::Id(key))
            .await
            .unwrap();

        // Paused, with the reason.
        let deadline = Instant::now() + Duration::from_secs(10);
        let (reason, progress) = loop {
            let p = app.state.secrets.protection(tenant).await.unwrap();
            let (_, progress) = p
                .switching_to
                .expect("the switch finished before the key was disabled");
            if let Some(reason) = p.paused {
                break (reason, progress);
            }
            assert!(Instant::now() < deadline, "the switch did not pause");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let token = admin_token(&app).await;
        Self {
            app,
            _dir: dir,
            tenant,
            key,
            target,
            admin,
            token,
            secrets,
            reason,
            progress,
        }
    }

    /// `method` on the tenant's `user_preferences` (`suffix` appended), as the admin.
    async fn preferences(&self, method: Method, suffix: &str) -> Value {
        common::Call::new(
            self.app.router.clone(),
            method,
            &format!("/openscale/{}/v2/user_preferences{suffix}", self.tenant.0),
            Some(format!("Bearer {}", self.token)),
            None,
        )
        .send()
        .await
        .expect_status(200)
        .json()
    }

    /// Enables the key again, 31 s (of the test clock) after it was disabled.
    async fn enable_key(&self) {
        self.app
            .test_clock
            .as_ref()
            .unwrap()
            .advance(time::Duration::seconds(31));
        self.app
            .state
            .kms
            .enable(&self.admin, kms_instance(&self.app), &KeyRef::Id(self.key))
            .await
            .unwrap();
    }

    async fn all_decrypt(&self) {
        for (i, id) in self.secrets.iter().enumerate() {
            let pw = self
                .app
                .state
                .secrets
                .get(self.tenant, *id, "password")
                .await
                .unwrap();
            assert_eq!(pw.expose_secret(), format!("pw-{i}").as_bytes());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_to_a_disabled_key_pauses_visibly_and_resumes_when_enabled() {
    let paused = Paused::new().await;
    let (app, tenant) = (&paused.app, paused.tenant);
    assert!(paused.reason.contains("disabled"), "{}", paused.reason);
    // The same through the API.
    let shown = paused.preferences(Method::GET, "").await;
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
        Some(paused.progress.done),
        "no field moved while paused"
    );

    // Enabled again: the switch resumes by itself and completes.
    paused.enable_key().await;
    wait_switched(app, tenant, &paused.target).await;
    let p = app.state.secrets.protection(tenant).await.unwrap();
    assert_eq!(p.paused, None);
    paused.all_decrypt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_root_key_preference_during_a_paused_switch_turns_it_back_to_the_global_key() {
    let paused = Paused::new().await;
    let (app, tenant) = (&paused.app, paused.tenant);
    assert!(
        paused.progress.done > 0,
        "some fields moved before the key was disabled"
    );

    // While it waits, writes (which go under the new key) are refused too.
    let value = SecretBytes::new(b"after the turn".to_vec());
    let refused = app
        .state
        .secrets
        .put(tenant, SecretId(Uuid::new_v4()), &[("password", &value)])
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("disabled"), "{refused}");

    let shown = paused
        .preferences(Method::DELETE, "/user_root_key_crn")
        .await;
    assert!(shown.get("user_root_key_crn").is_none(), "{shown}");
    let protection = &shown["key_protection"];
    assert_eq!(protection["switching_to"], "global", "{shown}");
    assert_eq!(
        protection["progress"]["total"], paused.progress.done,
        "what moved goes back: {shown}"
    );
    // What went under the disabled key needs it to come back: the switch says so.
    assert_eq!(protection["state"], "paused", "{shown}");
    assert!(protection["reason"].as_str().unwrap().contains("disabled"));
    // Writes go under the global key at once.
    let fresh = SecretId(Uuid::new_v4());
    app.state
        .secrets
        .put(tenant, fresh, &[("password", &value)])
        .await
        .unwrap();
    assert_eq!(
        app.state
            .secrets
            .get(tenant, fresh, "password")
            .await
            .unwrap()
            .expose_secret(),
        value.expose_secret()
    );

    paused.enable_key().await;
    wait_switched(app, tenant, &RootKey::Global).await;
    paused.all_decrypt().await;
    let regs = app
        .state
        .kms
        .registrations(
            &paused.admin,
            kms_instance(app),
            Some(&KeyRef::Id(paused.key)),
        )
        .await
        .unwrap();
    assert!(regs.is_empty(), "the abandoned key no longer protects it");
    let shown = paused.preferences(Method::GET, "").await;
    assert_eq!(shown["key_protection"]["root_key"], "global", "{shown}");
    assert_eq!(shown["key_protection"]["state"], Value::Null, "{shown}");
}
