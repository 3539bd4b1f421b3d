//! The routing key provider, over two in-memory providers: each call goes to the remote one
//! when it serves the key's CRN, to the local one otherwise (the global key included); only
//! remote keys are polled; a DEK made by one provider opens through the router under the same
//! key, and nowhere else.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use keyward_crypto::{SecretBytes, random_secret};
use keyward_secrets::{
    KeyProvider, NewDek, OpenedDek, ProviderError, RootKey, Routing, Serves, TenantId, WrappedDek,
};
use uuid::Uuid;

/// An in-memory provider: it "wraps" a DEK by prefixing its own name and the tenant (enough to
/// tell which provider made it), and records which calls reached it.
struct FakeKms {
    name: &'static str,
    /// The CRN region it serves, when it is a remote KMS.
    region: Option<&'static str>,
    calls: Mutex<Vec<&'static str>>,
}

impl FakeKms {
    fn new(name: &'static str, region: Option<&'static str>) -> Self {
        Self {
            name,
            region,
            calls: Mutex::new(Vec::new()),
        }
    }

    fn called(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }

    fn prefix(&self, tenant: TenantId) -> Vec<u8> {
        format!("{}:{}:", self.name, tenant.0).into_bytes()
    }
}

impl Serves for FakeKms {
    fn serves(&self, root: &RootKey) -> bool {
        matches!((root, self.region), (RootKey::Customer(crn), Some(r)) if crn.region == r)
    }
}

impl KeyProvider for FakeKms {
    fn polled(&self, root: &RootKey) -> bool {
        self.serves(root)
    }

    async fn generate_dek(&self, _: &RootKey, tenant: TenantId) -> Result<NewDek, ProviderError> {
        self.called("generate");
        let dek = random_secret(32).unwrap();
        let wrapped = [self.prefix(tenant).as_slice(), dek.expose_secret()].concat();
        Ok(NewDek { dek, wrapped })
    }

    async fn unwrap_dek(
        &self,
        _: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> Result<OpenedDek, ProviderError> {
        self.called("unwrap");
        let dek = wrapped
            .ciphertext
            .strip_prefix(self.prefix(tenant).as_slice())
            .ok_or(ProviderError::UnwrapFailed)?;
        Ok(OpenedDek {
            dek: SecretBytes::from_slice(dek),
            rewrapped: None,
        })
    }

    async fn check_key(&self, _: &RootKey, _: TenantId) -> Result<(), ProviderError> {
        self.called("check");
        Ok(())
    }

    async fn register(&self, _: &RootKey, _: TenantId) -> Result<(), ProviderError> {
        self.called("register");
        Ok(())
    }

    async fn deregister(&self, _: &RootKey, _: TenantId) -> Result<(), ProviderError> {
        self.called("deregister");
        Ok(())
    }
}

fn customer(region: &str) -> RootKey {
    RootKey::Customer(
        format!(
            "crn:v1:keyward:public:kms:{region}:a/acme:{}:key:{}",
            Uuid::new_v4(),
            Uuid::new_v4()
        )
        .parse()
        .unwrap(),
    )
}

/// The two providers behind a router (the router owns them; the test reads their records
/// through it).
fn router() -> Routing<FakeKms, FakeKms> {
    Routing::new(
        FakeKms::new("local", None),
        Some(FakeKms::new("remote", Some("far"))),
    )
}

async fn every_call(p: &impl KeyProvider, root: &RootKey, tenant: TenantId) {
    let made = p.generate_dek(root, tenant).await.unwrap();
    let opened = p
        .unwrap_dek(
            root,
            tenant,
            WrappedDek {
                ciphertext: &made.wrapped,
                tenant_bound: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(opened.dek.expose_secret(), made.dek.expose_secret());
    p.check_key(root, tenant).await.unwrap();
    p.register(root, tenant).await.unwrap();
    p.deregister(root, tenant).await.unwrap();
}

const ALL: [&str; 5] = ["generate", "unwrap", "check", "register", "deregister"];

#[tokio::test]
async fn each_key_goes_to_the_provider_that_serves_it() {
    let tenant = TenantId(Uuid::new_v4());
    let (far, near) = (customer("far"), customer("near"));

    let routed = router();
    every_call(&routed, &far, tenant).await;
    let (local, remote) = routed.providers();
    assert_eq!(remote.unwrap().calls(), ALL, "a key the remote KMS serves");
    assert!(local.calls().is_empty());

    let routed = router();
    every_call(&routed, &near, tenant).await;
    every_call(&routed, &RootKey::Global, tenant).await;
    let (local, remote) = routed.providers();
    assert_eq!(
        local.calls(),
        [ALL, ALL].concat(),
        "other keys and the global key"
    );
    assert!(remote.unwrap().calls().is_empty());

    // Only what the remote KMS serves is polled (it sends no key events).
    let routed = router();
    assert!(routed.polled(&far));
    assert!(!routed.polled(&near) && !routed.polled(&RootKey::Global));

    // Without a remote KMS every key is local.
    let alone: Routing<FakeKms, FakeKms> = Routing::new(FakeKms::new("local", None), None);
    every_call(&alone, &far, tenant).await;
    assert_eq!(alone.providers().0.calls(), ALL);
    assert!(!alone.polled(&far));
}

#[tokio::test]
async fn a_dek_opens_only_where_it_was_made() {
    let tenant = TenantId(Uuid::new_v4());
    let routed = router();
    let far = customer("far");
    let made = routed.generate_dek(&far, tenant).await.unwrap();
    let wrapped = WrappedDek {
        ciphertext: &made.wrapped,
        tenant_bound: true,
    };
    // Named with a key the local provider serves, the same bytes go there, and do not open.
    let e = routed
        .unwrap_dek(&customer("near"), tenant, wrapped)
        .await
        .err()
        .unwrap();
    assert_eq!(e, ProviderError::UnwrapFailed);
    // Another tenant's DEK does not open either.
    let e = routed
        .unwrap_dek(&far, TenantId(Uuid::new_v4()), wrapped)
        .await
        .err()
        .unwrap();
    assert_eq!(e, ProviderError::UnwrapFailed);
}
