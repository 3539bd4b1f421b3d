//! Shared steps of the BYOK tests that drive the services directly: a customer root key, the
//! customer's authorization for the configuration service, and waiting for a switch.

use std::time::Duration;

use keyward_crypto::SecretBytes;
use keyward_iam::{AccountId, Role, ServiceKind};
use keyward_kms::{InstanceId, KeyId, NewKey};
use keyward_secrets::{RootKey, RootKeyCrn, SecretId, TenantId};
use keyward_server::App;

/// The bootstrap KMS instance.
pub fn kms_instance(app: &App) -> InstanceId {
    InstanceId::from_uuid(
        app.info
            .kms_instance_id
            .parse()
            .expect("bootstrap instance id"),
    )
}

/// A customer root key in the bootstrap KMS instance, and its CRN.
pub async fn customer_key(app: &App) -> (KeyId, RootKeyCrn) {
    let instance = kms_instance(app);
    let access = app
        .admin_access(instance.as_uuid())
        .await
        .expect("the admin's access");
    let key = app
        .state
        .kms
        .create_key(&access, instance, NewKey::root("customer-root"))
        .await
        .expect("create the customer key");
    let crn = app
        .state
        .crn
        .key_crn(&app.info.account_id, instance, key.key.id);
    (key.key.id, crn.parse().expect("our own CRN parses"))
}

/// The customer's service-to-service authorization for `configsvc` (every configuration-service
/// instance of the account) on its KMS instance; the policy's id.
pub async fn authorize(app: &App) -> uuid::Uuid {
    let account: AccountId = app.info.account_id.parse().expect("bootstrap account");
    let policy = keyward_server::iam_admin::authorize_service(
        &app.store,
        &account,
        ServiceKind::ConfigSvc,
        None,
        kms_instance(app).as_uuid(),
        Role::Reader,
    )
    .await
    .expect("create the authorization");
    app.state.iam.invalidate();
    policy.id
}

/// A new tenant: a configuration-service instance of the bootstrap account.
pub async fn tenant(app: &App) -> TenantId {
    TenantId(app.create_tenant("tenant").await.expect("create a tenant"))
}

/// Waits (up to 12 s) until the tenant is under `target` with no switch running.
pub async fn wait_switched(app: &App, tenant: TenantId, target: &RootKey) {
    wait_switched_state(&app.state, tenant, target).await;
}

/// [`wait_switched`] given the application's state.
pub async fn wait_switched_state(
    state: &keyward_server::state::SharedState,
    tenant: TenantId,
    target: &RootKey,
) {
    for _ in 0..600 {
        let p = state.secrets.protection(tenant).await.expect("protection");
        if p.switching_to.is_none() && &p.current == target {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the re-encryption did not finish");
}

/// A tenant under a new customer key, with one secret whose `password` is `password`: the
/// customer authorizes the configuration service, the tenant switches to the key, the switch
/// finishes. Returns the tenant, the secret, the key and the authorization's id.
pub async fn protected_by_customer_key(
    app: &App,
    password: &[u8],
) -> (TenantId, SecretId, RootKey, uuid::Uuid) {
    let tenant = tenant(app).await;
    let secret = SecretId(uuid::Uuid::new_v4());
    let pw = SecretBytes::new(password.to_vec());
    app.state
        .secrets
        .put(tenant, secret, &[("password", &pw)])
        .await
        .expect("store the secret");
    let (_, crn) = customer_key(app).await;
    let customer = RootKey::Customer(crn);
    let policy = authorize(app).await;
    app.state
        .secrets
        .switch_root_key(tenant, customer.clone())
        .await
        .expect("switch to the customer key");
    wait_switched(app, tenant, &customer).await;
    (tenant, secret, customer, policy)
}

/// A token of the bootstrap admin, from `/identity/token` through the app's router.
pub async fn admin_token(app: &App) -> String {
    let apikey = app
        .new_admin_key
        .as_ref()
        .expect("a new server prints its admin key")
        .expose_secret()
        .to_owned();
    super::Call::new(
        app.router.clone(),
        axum::http::Method::POST,
        "/identity/token",
        None,
        None,
    )
    .form(&[("grant_type", super::APIKEY_GRANT), ("apikey", &apikey)])
    .send()
    .await
    .expect_status(200)
    .json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}
