//! A KMS in memory, for the library's own tests: root keys with versions (real AES-GCM keys)
//! that can be rotated, disabled, enabled and deleted. A DEK is wrapped under the key's newest
//! version with the tenant as associated data, so it opens only under its key, for its tenant;
//! an unwrap by an older version also returns the DEK rewrapped under the newest. It can be
//! made unreachable. Every call is recorded.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use keyward_crypto::{AeadKey, open, peek_key_version, random_secret, seal};
use keyward_secrets::{
    KeyProvider, NewDek, OpenedDek, ProviderError, RootKey, Serves, TenantId, WrappedDek,
};
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Disabled,
    Deleted,
}

struct Key {
    /// Oldest first.
    versions: Vec<(Uuid, AeadKey)>,
    state: State,
}

/// The KMS.
pub struct FakeKms {
    /// For messages.
    pub name: &'static str,
    /// The CRN region it serves as a remote KMS (it is then polled); `None`: a local one.
    region: Option<&'static str>,
    keys: Mutex<HashMap<RootKey, Key>>,
    calls: Mutex<Vec<&'static str>>,
    /// Every call fails as if the KMS could not be reached.
    down: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn version() -> (Uuid, AeadKey) {
    let material = random_secret(32).expect("random material");
    (
        Uuid::new_v4(),
        AeadKey::new(material.expose_secret()).expect("an AES-256 key"),
    )
}

impl FakeKms {
    /// A KMS in the same process (never polled).
    pub fn local(name: &'static str) -> Self {
        Self {
            name,
            region: None,
            keys: Mutex::default(),
            calls: Mutex::default(),
            down: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A remote KMS serving the CRNs of `region`.
    pub fn remote(name: &'static str, region: &'static str) -> Self {
        Self {
            region: Some(region),
            ..Self::local(name)
        }
    }

    /// Makes `root` a key of this KMS.
    pub fn add(&self, root: &RootKey) {
        lock(&self.keys).insert(
            root.clone(),
            Key {
                versions: vec![version()],
                state: State::Active,
            },
        );
    }

    fn set(&self, root: &RootKey, state: State) {
        if let Some(key) = lock(&self.keys).get_mut(root) {
            key.state = state;
        }
    }

    /// Suspends `root`.
    pub fn disable(&self, root: &RootKey) {
        self.set(root, State::Disabled);
    }

    /// Makes `root` usable again.
    pub fn enable(&self, root: &RootKey) {
        self.set(root, State::Active);
    }

    /// Destroys `root`.
    pub fn delete(&self, root: &RootKey) {
        self.set(root, State::Deleted);
    }

    /// Adds a newest version to `root`.
    pub fn rotate(&self, root: &RootKey) {
        if let Some(key) = lock(&self.keys).get_mut(root) {
            key.versions.push(version());
        }
    }

    /// Makes every call fail as unreachable (`true`) or work again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// The calls that reached this KMS, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        lock(&self.calls).clone()
    }

    /// Records `call` and runs `f` on the key, if it is usable.
    fn with_key<T>(
        &self,
        call: &'static str,
        root: &RootKey,
        f: impl FnOnce(&Key) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        lock(&self.calls).push(call);
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ProviderError::Unreachable("the fake KMS is down".into()));
        }
        let keys = lock(&self.keys);
        let key = keys.get(root).ok_or(ProviderError::KeyNotFound)?;
        match key.state {
            State::Active => f(key),
            State::Disabled => Err(ProviderError::KeyDisabled),
            State::Deleted => Err(ProviderError::KeyDeleted),
        }
    }
}

fn sealed(key: &Key, aad: &[u8], dek: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let (id, newest) = key.versions.last().expect("a key has a version");
    seal(newest, *id, aad, dek).map_err(|e| ProviderError::Other(e.to_string()))
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

    async fn generate_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> Result<NewDek, ProviderError> {
        self.with_key("generate", root, |key| {
            let dek = random_secret(32).map_err(|e| ProviderError::Other(e.to_string()))?;
            let wrapped = sealed(key, tenant.0.as_bytes(), dek.expose_secret())?;
            Ok(NewDek { dek, wrapped })
        })
    }

    async fn unwrap_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> Result<OpenedDek, ProviderError> {
        self.with_key("unwrap", root, |key| {
            let aad: &[u8] = if wrapped.tenant_bound {
                tenant.0.as_bytes()
            } else {
                &[]
            };
            let id =
                peek_key_version(wrapped.ciphertext).map_err(|_| ProviderError::UnwrapFailed)?;
            let (_, aead) = key
                .versions
                .iter()
                .find(|(v, _)| *v == id)
                .ok_or(ProviderError::UnwrapFailed)?;
            let dek =
                open(aead, id, aad, wrapped.ciphertext).map_err(|_| ProviderError::UnwrapFailed)?;
            let newest = key.versions.last().map(|(v, _)| *v);
            let rewrapped = if newest == Some(id) {
                None
            } else {
                Some(sealed(key, aad, dek.expose_secret())?)
            };
            Ok(OpenedDek { dek, rewrapped })
        })
    }

    async fn check_key(&self, root: &RootKey, _: TenantId) -> Result<(), ProviderError> {
        self.with_key("check", root, |_| Ok(()))
    }

    async fn register(&self, root: &RootKey, _: TenantId) -> Result<(), ProviderError> {
        self.with_key("register", root, |_| Ok(()))
    }

    async fn deregister(&self, root: &RootKey, _: TenantId) -> Result<(), ProviderError> {
        self.with_key("deregister", root, |_| Ok(()))
    }
}
