//! The secrets service: tenant secrets sealed under the tenant's current DEK generation, read
//! under whichever generation sealed them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keyward_crypto::{AeadKey, SecretBytes};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cache::DekCache;
use crate::envelope::{open_field, seal_field};
use crate::error::SecretsError;
use crate::model::{
    Generation, GenerationId, GenerationStatus, RootKey, SealedField, SecretId, TenantId, WrappedBy,
};
use crate::ports::SecretStore;
use crate::provider::{KeyProvider, OpenedDek, WrappedDek};

/// Tunables.
#[derive(Clone, Debug)]
pub struct SecretsConfig {
    /// Fields re-encrypted per transaction.
    pub batch_size: u32,
    /// Most cached DEKs.
    pub cache_entries: usize,
    /// Longest a cached DEK is used before it is unwrapped again (bounds how long a revoked
    /// root key keeps working when no key event arrives).
    pub cache_max_age: Duration,
    /// This node's name in job leases (a node that restarts with the same name takes its jobs
    /// back at once).
    pub node: String,
    /// How long a job's lease lasts without renewal: another node adopts a job within this
    /// (plus `adopt_interval`) after its owner died.
    pub job_lease: Duration,
    /// How often a node looks for jobs to adopt.
    pub adopt_interval: Duration,
    /// How often a paused job (its new root key disabled, say) tries again.
    pub pause_retry: Duration,
    /// How often the state of customer keys whose KMS sends no key events is asked for.
    pub key_poll_interval: Duration,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            cache_entries: 10_000,
            cache_max_age: Duration::from_secs(60),
            node: Uuid::new_v4().to_string(),
            job_lease: Duration::from_secs(10),
            adopt_interval: Duration::from_secs(2),
            pause_retry: Duration::from_secs(2),
            key_poll_interval: Duration::from_secs(10),
        }
    }
}

/// The secrets service.
pub struct Secrets<S, P> {
    pub(crate) store: S,
    pub(crate) provider: P,
    pub(crate) cache: DekCache,
    pub(crate) config: SecretsConfig,
    pub(crate) running: Mutex<HashSet<TenantId>>,
    pub(crate) switching: tokio::sync::Mutex<()>,
}

/// The tenant's generations, split.
pub(crate) struct Generations {
    pub current: Option<Generation>,
    pub pending: Option<Generation>,
}

impl Generations {
    fn find(&self, id: GenerationId) -> Option<&Generation> {
        [self.current.as_ref(), self.pending.as_ref()]
            .into_iter()
            .flatten()
            .find(|g| g.id == id)
    }
}

impl<S: SecretStore, P: KeyProvider> Secrets<S, P> {
    /// Builds the service.
    pub fn new(store: S, provider: P, config: SecretsConfig) -> Self {
        let cache = DekCache::new(config.cache_entries, config.cache_max_age);
        Self {
            store,
            provider,
            cache,
            config,
            running: Mutex::default(),
            switching: tokio::sync::Mutex::new(()),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// The DEK cache.
    pub fn cache(&self) -> &DekCache {
        &self.cache
    }

    pub(crate) async fn generations(&self, tenant: TenantId) -> Result<Generations, SecretsError> {
        let mut current = None;
        let mut pending = None;
        for g in self.store.generations(tenant).await? {
            match g.status {
                GenerationStatus::Current => current = Some(g),
                GenerationStatus::Pending => pending = Some(g),
            }
        }
        Ok(Generations { current, pending })
    }

    /// A new generation under `root`, its DEK cached.
    pub(crate) async fn new_generation(
        &self,
        tenant: TenantId,
        root: &RootKey,
        status: GenerationStatus,
    ) -> Result<Generation, SecretsError> {
        let fresh = self.provider.generate_dek(root, tenant).await?;
        let generation = Generation {
            id: GenerationId(Uuid::new_v4()),
            tenant,
            root: root.clone(),
            wrapped_dek: fresh.wrapped,
            status,
            created_at: OffsetDateTime::now_utc(),
            tenant_bound: true,
        };
        let key = AeadKey::new(fresh.dek.expose_secret()).map_err(|_| SecretsError::Crypto)?;
        self.cache.insert(generation.id, root.clone(), key);
        Ok(generation)
    }

    /// The DEK of a generation: from the cache, or unwrapped by the provider (storing a
    /// rewrapped DEK when the root key was rotated).
    pub(crate) async fn dek(&self, g: &Generation) -> Result<Arc<AeadKey>, SecretsError> {
        if let Some(key) = self.cache.get(g.id) {
            return Ok(key);
        }
        let epoch = self.cache.revocation_epoch();
        let wrapped = WrappedDek {
            ciphertext: &g.wrapped_dek,
            tenant_bound: g.tenant_bound,
        };
        let opened = match self.provider.unwrap_dek(&g.root, g.tenant, wrapped).await {
            Ok(opened) => opened,
            Err(e) => {
                if e.revokes_key() {
                    self.cache.forget_root(&g.root);
                }
                return Err(e.into());
            }
        };
        if let Some(rewrapped) = &opened.rewrapped {
            self.store.update_wrapped_dek(g.id, rewrapped).await?;
        }
        let key = AeadKey::new(opened.dek.expose_secret()).map_err(|_| SecretsError::Crypto)?;
        Ok(self
            .cache
            .insert_unless_revoked(epoch, g.id, g.root.clone(), key))
    }

    /// The generation new writes go to: the pending one during a switch, else the current
    /// one (created under the global key on first use).
    async fn write_generation(&self, tenant: TenantId) -> Result<Generation, SecretsError> {
        let gens = self.generations(tenant).await?;
        if let Some(g) = gens.pending.or(gens.current) {
            return Ok(g);
        }
        let first = self
            .new_generation(tenant, &RootKey::Global, GenerationStatus::Current)
            .await?;
        if self.store.insert_first_generation(&first).await? {
            return Ok(first);
        }
        // Another writer created it first.
        self.cache.forget_generation(first.id);
        self.generations(tenant)
            .await?
            .current
            .ok_or_else(|| SecretsError::Store("the first generation vanished".into()))
    }

    /// Stores (or replaces) the fields of a secret, all at once: a failure leaves the secret as
    /// it was. A field named twice keeps its last value.
    pub async fn put(
        &self,
        tenant: TenantId,
        secret: SecretId,
        fields: &[(&str, &SecretBytes)],
    ) -> Result<(), SecretsError> {
        self.put_many(tenant, &[(secret, fields)]).await
    }

    /// Stores (or replaces) the fields of many secrets of one tenant in one transaction (an
    /// import): all land or none does.
    pub async fn put_many(
        &self,
        tenant: TenantId,
        secrets: &[(SecretId, &[(&str, &SecretBytes)])],
    ) -> Result<(), SecretsError> {
        // A switch may retire the generation between reading it and writing; then write again
        // under the generation that replaced it.
        for _ in 0..3 {
            match self.put_once(tenant, secrets).await {
                Err(SecretsError::StaleGeneration) => continue,
                other => return other,
            }
        }
        Err(SecretsError::StaleGeneration)
    }

    async fn put_once(
        &self,
        tenant: TenantId,
        secrets: &[(SecretId, &[(&str, &SecretBytes)])],
    ) -> Result<(), SecretsError> {
        let g = self.write_generation(tenant).await?;
        let dek = self.dek(&g).await?;
        let mut sealed: Vec<SealedField> = Vec::new();
        let mut seen = HashSet::new();
        // Last value wins: walk backwards and keep the first occurrence of each name.
        for (secret, fields) in secrets.iter().rev() {
            for (field, value) in fields.iter().rev() {
                if !seen.insert((*secret, *field)) {
                    continue;
                }
                let ciphertext =
                    seal_field(&dek, g.id, tenant, *secret, field, value.expose_secret())?;
                sealed.push(SealedField {
                    tenant,
                    secret: *secret,
                    field: (*field).to_owned(),
                    generation: g.id,
                    ciphertext,
                });
            }
        }
        sealed.reverse();
        self.store.put_fields(&sealed).await
    }

    /// Opens one stored field.
    async fn open(&self, gens: &Generations, f: &SealedField) -> Result<SecretBytes, SecretsError> {
        let g = gens.find(f.generation).ok_or(SecretsError::Undecryptable)?;
        let dek = self.dek(g).await?;
        open_field(
            &dek,
            f.generation,
            f.tenant,
            f.secret,
            &f.field,
            &f.ciphertext,
        )
    }

    /// Opens a field whose generation's DEK is cached, without touching the store (the hot
    /// path measured by `keyward bench secrets`).
    pub fn open_cached(&self, f: &SealedField) -> Result<SecretBytes, SecretsError> {
        let dek = self
            .cache
            .get(f.generation)
            .ok_or(SecretsError::Undecryptable)?;
        open_field(
            &dek,
            f.generation,
            f.tenant,
            f.secret,
            &f.field,
            &f.ciphertext,
        )
    }

    /// One field of a secret, decrypted.
    pub async fn get(
        &self,
        tenant: TenantId,
        secret: SecretId,
        field: &str,
    ) -> Result<SecretBytes, SecretsError> {
        let f = self
            .store
            .get_field(tenant, secret, field)
            .await?
            .ok_or(SecretsError::NotFound)?;
        let gens = self.generations(tenant).await?;
        self.open(&gens, &f).await
    }

    /// All fields of a secret, decrypted.
    pub async fn get_all(
        &self,
        tenant: TenantId,
        secret: SecretId,
    ) -> Result<Vec<(String, SecretBytes)>, SecretsError> {
        let fields = self.store.get_fields(tenant, secret).await?;
        if fields.is_empty() {
            return Err(SecretsError::NotFound);
        }
        let gens = self.generations(tenant).await?;
        let mut out = Vec::with_capacity(fields.len());
        for f in &fields {
            out.push((f.field.clone(), self.open(&gens, f).await?));
        }
        Ok(out)
    }

    /// Deletes a secret.
    pub async fn delete(&self, tenant: TenantId, secret: SecretId) -> Result<(), SecretsError> {
        self.store.delete_secret(tenant, secret).await?;
        Ok(())
    }

    /// Asks the KMS whether the tenant's root keys are still usable; a revoked key's DEKs are
    /// dropped from the cache and the refusal returned.
    pub async fn verify_root_keys(&self, tenant: TenantId) -> Result<(), SecretsError> {
        let gens = self.generations(tenant).await?;
        for g in [gens.current.as_ref(), gens.pending.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = self.provider.check_key(&g.root, tenant).await {
                if e.revokes_key() {
                    self.cache.forget_root(&g.root);
                }
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// This node's lease on a job, from now.
    pub(crate) fn lease(&self) -> crate::ports::JobLease {
        crate::ports::JobLease {
            owner: self.config.node.clone(),
            until: OffsetDateTime::now_utc()
                + time::Duration::try_from(self.config.job_lease).unwrap_or(time::Duration::SECOND),
        }
    }

    /// After `root` rotated: rewraps every current and pending DEK it wrapped under its newest
    /// version (the KMS's unwrap hands the rewrapped DEK back), so that older versions are needed
    /// by nothing stored. Returns how many were rewrapped; a DEK that cannot be unwrapped now
    /// (key disabled since, KMS unreachable) is left for the next unwrap to rewrap, and logged.
    pub async fn rewrap_under(&self, root: WrappedBy) -> Result<usize, SecretsError> {
        let mut rewrapped = 0;
        for g in self.store.generations_under(root).await? {
            let wrapped = WrappedDek {
                ciphertext: &g.wrapped_dek,
                tenant_bound: g.tenant_bound,
            };
            match self.provider.unwrap_dek(&g.root, g.tenant, wrapped).await {
                Ok(OpenedDek {
                    rewrapped: Some(new),
                    ..
                }) => {
                    self.store.update_wrapped_dek(g.id, &new).await?;
                    rewrapped += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(generation = %g.id, error = %e, "cannot rewrap a DEK after a rotation");
                }
            }
        }
        Ok(rewrapped)
    }

    /// Every `key_poll_interval`, asks the KMS for the state of each customer root key in use
    /// whose KMS sends no key events (see [`KeyProvider::polled`]); a key that can no longer be
    /// used (disabled, deleted, gone, authorization withdrawn) has its DEKs dropped. Stops when
    /// the service is dropped.
    pub fn spawn_key_watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let interval = self.config.key_poll_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(me) = weak.upgrade() else { return };
                if let Err(e) = me.poll_keys().await {
                    tracing::warn!(error = %e, "cannot poll the state of customer keys");
                }
            }
        });
    }

    /// One round of [`Secrets::spawn_key_watch`]: each polled root key is asked about once.
    pub async fn poll_keys(&self) -> Result<usize, SecretsError> {
        let mut seen = HashSet::new();
        let mut revoked = 0;
        for (tenant, root) in self.store.customer_roots().await? {
            if !self.provider.polled(&root) || !seen.insert(root.clone()) {
                continue;
            }
            if let Err(e) = self.provider.check_key(&root, tenant).await
                && e.revokes_key()
            {
                self.cache.forget_root(&root);
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// Marks a tenant's job as running; `false` if it already is.
    pub(crate) fn claim(&self, tenant: TenantId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant)
    }

    pub(crate) fn release(&self, tenant: TenantId) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&tenant);
    }
}
