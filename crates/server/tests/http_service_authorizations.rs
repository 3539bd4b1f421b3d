//! Service-to-service authorizations honour their scope, over HTTP through the configuration
//! service's API: an authorization naming one source instance serves only that instance, an
//! account-wide one only the account's own instances, another account's instance only when an
//! authorization names it; refusals say which authorization is missing and are the same whether
//! or not the key exists; a wrapped DEK is bound to its tenant.

#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use keyward_iam::ServiceKind;
use keyward_secrets::{KeyProvider, RootKey, SecretStore, TenantId, WrappedDek};
use uuid::Uuid;

async fn registrations(server: &TestServer, key: &str) -> Vec<String> {
    server
        .get(&format!("/api/v2/keys/{key}/registrations"))
        .send()
        .await
        .expect_status(200)
        .json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resourceCrn"].as_str().unwrap().to_owned())
        .collect()
}

fn error_code(reply: &common::Reply) -> String {
    reply.json()["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn message(reply: &common::Reply) -> String {
    reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The hole: an authorization scoped to one configuration-service instance let every instance
/// of the service use (and register on) the key.
#[tokio::test]
async fn an_authorization_naming_one_instance_serves_only_that_instance() {
    let server = TestServer::start().await;
    let a = server.config_instance("tenant-a").await;
    let b = server.config_instance("tenant-b").await;
    let key = server.root_key("customer").await;
    let crn = server.crn_of(&key).await;
    server
        .authorize_configsvc(Some(&a), "crn:v1:bluemix:public:iam::::serviceRole:Reader")
        .await;

    let refused = server.set_root_key(&b, &crn, None).await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.text());
    assert_eq!(error_code(&refused), "KMS_NOT_AUTHORIZED");
    let why = message(&refused);
    assert!(
        why.contains(&b) && why.contains("authoriz"),
        "the refusal names the tenant and the missing authorization: {why}"
    );
    assert!(
        registrations(&server, &key).await.is_empty(),
        "a refused tenant registered on the key"
    );

    server.set_root_key(&a, &crn, None).await.expect_status(200);
    let regs = registrations(&server, &key).await;
    assert_eq!(regs.len(), 1);
    assert!(regs[0].contains(&a), "{regs:?}");
}

#[tokio::test]
async fn another_accounts_instance_needs_an_authorization_that_names_it() {
    let server = TestServer::start().await;
    let (foreign, manager) = server.foreign_instance_of(ServiceKind::ConfigSvc).await;
    let key = server.root_key("customer").await;
    let crn = server.crn_of(&key).await;
    // Every configuration-service instance *of this account*: not the foreign one.
    server.authorize_configsvc(None, "Reader").await;
    let refused = server
        .set_root_key(&foreign, &crn, Some(&manager.token))
        .await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.text());
    assert!(registrations(&server, &key).await.is_empty());

    // The key's owner names the foreign instance: now it may.
    server.authorize_configsvc(Some(&foreign), "Reader").await;
    server
        .set_root_key(&foreign, &crn, Some(&manager.token))
        .await
        .expect_status(200);
    assert_eq!(registrations(&server, &key).await.len(), 1);
}

#[tokio::test]
async fn refusals_do_not_reveal_whether_the_key_exists() {
    let server = TestServer::start().await;
    let (foreign, manager) = server.foreign_instance_of(ServiceKind::ConfigSvc).await;
    let key = server.root_key("customer").await;
    let crn = server.crn_of(&key).await;
    let missing_key = crn.replace(&key, &Uuid::new_v4().to_string());
    let missing_instance = crn.replace(&server.instance, &Uuid::new_v4().to_string());
    let wrong_account = crn.replace(server.account.as_str(), "0123456789abcdef0123456789abcdef");
    let mut answers = Vec::new();
    for target in [&crn, &missing_key, &missing_instance, &wrong_account] {
        let reply = server
            .set_root_key(&foreign, target, Some(&manager.token))
            .await;
        let instance_in_crn = target.split(':').nth(7).unwrap().to_owned();
        let account_in_crn = target.split(':').nth(6).unwrap().trim_start_matches("a/");
        // The same answer, naming only what the caller sent.
        let normalized = message(&reply)
            .replace(&instance_in_crn, "<instance>")
            .replace(account_in_crn, "<account>");
        answers.push((reply.status.as_u16(), error_code(&reply), normalized));
    }
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "different answers: {answers:#?}"
    );
    assert_eq!(answers[0].0, 403);
}

#[tokio::test]
async fn a_wrapped_dek_does_not_unwrap_for_another_tenant() {
    let server = TestServer::start().await;
    let a = server.config_instance("tenant-a").await;
    let b = server.config_instance("tenant-b").await;
    let key = server.root_key("customer").await;
    let crn = server.crn_of(&key).await;
    server.authorize_configsvc(None, "Reader").await;
    for tenant in [&a, &b] {
        server
            .set_root_key(tenant, &crn, None)
            .await
            .expect_status(200);
    }
    let (ta, tb) = (TenantId(a.parse().unwrap()), TenantId(b.parse().unwrap()));
    let generation = server.store.generations(ta).await.unwrap().remove(0);
    assert!(generation.tenant_bound);
    let root = RootKey::Customer(crn.parse().unwrap());
    let wrapped = WrappedDek {
        ciphertext: &generation.wrapped_dek,
        tenant_bound: true,
    };
    let provider = server.state.secrets.provider();
    assert!(provider.unwrap_dek(&root, ta, wrapped).await.is_ok());
    let copied = provider.unwrap_dek(&root, tb, wrapped).await;
    assert!(
        matches!(copied, Err(keyward_secrets::ProviderError::UnwrapFailed)),
        "tenant B unwrapped tenant A's DEK: {:?}",
        copied.err()
    );
    // The global key binds its DEKs the same way.
    let c = server.config_instance("tenant-c").await;
    let tc = TenantId(c.parse().unwrap());
    let global_dek = server
        .state
        .secrets
        .provider()
        .generate_dek(&RootKey::Global, tc)
        .await
        .unwrap();
    let as_c = WrappedDek {
        ciphertext: &global_dek.wrapped,
        tenant_bound: true,
    };
    assert!(
        provider
            .unwrap_dek(&RootKey::Global, tc, as_c)
            .await
            .is_ok()
    );
    assert!(
        provider
            .unwrap_dek(&RootKey::Global, ta, as_c)
            .await
            .is_err()
    );
}
