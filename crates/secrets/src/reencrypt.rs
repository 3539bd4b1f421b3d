//! Switching a tenant to another root key, crash-safely:
//!
//! 1. obtain a new DEK from the new root key (and check the old DEK still unwraps) — if either
//!    fails, nothing has changed;
//! 2. persist the new generation as *pending*;
//! 3. re-encrypt fields in batches, each batch one transaction (a field whose generation changed
//!    meanwhile is skipped and picked up again);
//! 4. in one transaction, make the pending generation current and drop the old wrapped DEK.
//!
//! A crash anywhere leaves every field readable (each row names its generation) and the job is
//! resumed from the pending generation at the next start. KMS calls are O(1) per tenant.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::envelope::{open_field, seal_field};
use crate::error::SecretsError;
use crate::model::{
    Generation, GenerationStatus, Progress, Protection, RootKey, SealedField, TenantId,
};
use crate::ports::{FieldAt, Reencrypted, SecretStore};
use crate::provider::KeyProvider;
use crate::service::Secrets;

impl<S: SecretStore, P: KeyProvider> Secrets<S, P> {
    /// Which root key protects the tenant, and the progress of a running switch.
    pub async fn protection(&self, tenant: TenantId) -> Result<Protection, SecretsError> {
        let gens = self.generations(tenant).await?;
        let current = gens.current.map(|g| g.root).unwrap_or(RootKey::Global);
        let (switching_to, paused) = match gens.pending {
            None => (None, None),
            Some(p) => {
                let job = self.store.job(tenant).await?;
                let counted = job.as_ref().and_then(|j| j.total.map(|t| (j.done, t)));
                let (done, total) = match counted {
                    Some((done, total)) => (done.min(total), total),
                    // A switch begun before the store counted its fields: count them now.
                    None => self.store.count_fields(tenant, p.id).await?,
                };
                (
                    Some((p.root, Progress { done, total })),
                    job.and_then(|j| j.paused),
                )
            }
        };
        Ok(Protection {
            current,
            switching_to,
            paused,
        })
    }

    /// Starts switching `tenant` to `target` (the global key or a customer key). Refused with
    /// nothing changed when the new key cannot produce a DEK, or the current DEK no longer
    /// unwraps. Returns once the pending generation is persisted; the re-encryption runs in
    /// the background (see [`Secrets::protection`]).
    pub async fn switch_root_key(
        self: &Arc<Self>,
        tenant: TenantId,
        target: RootKey,
    ) -> Result<Protection, SecretsError> {
        let _one_switch_at_a_time = self.switching.lock().await;
        let gens = self.generations(tenant).await?;
        if let Some(pending) = &gens.pending {
            match &gens.current {
                _ if pending.root == target => {}
                // Back to the key the switch began from (the customer removed the key it was
                // switching to, say while the switch waited for that key): the switch turns
                // back. New writes go to the old generation at once; the fields already moved
                // go back as soon as the abandoned key lets them be read.
                Some(current) if current.root == target => {
                    if !self
                        .store
                        .reverse_switch(tenant, current.id, pending.id)
                        .await?
                    {
                        return Err(SecretsError::ReencryptionInProgress);
                    }
                    tracing::info!(%tenant, "switch turned back to the key it began from");
                }
                _ => return Err(SecretsError::ReencryptionInProgress),
            }
            // Make sure the job runs (it may have stopped on an error).
            self.spawn_job(tenant);
            return self.protection(tenant).await;
        }
        match gens.current {
            Some(current) if current.root == target => {}
            None => {
                let first = self
                    .new_generation(tenant, &target, GenerationStatus::Current)
                    .await?;
                self.provider.register(&target, tenant).await?;
                if !self.store.insert_first_generation(&first).await? {
                    self.cache.forget_generation(first.id);
                    return Err(SecretsError::ReencryptionInProgress);
                }
            }
            Some(current) => {
                self.dek(&current).await?;
                let pending = self
                    .new_generation(tenant, &target, GenerationStatus::Pending)
                    .await?;
                self.provider.register(&target, tenant).await?;
                if !self.store.insert_pending_generation(&pending).await? {
                    self.cache.forget_generation(pending.id);
                    return Err(SecretsError::ReencryptionInProgress);
                }
                self.spawn_job(tenant);
            }
        }
        self.protection(tenant).await
    }

    /// Resumes every interrupted switch this node can take (call once at start).
    pub async fn resume_all(self: &Arc<Self>) -> Result<usize, SecretsError> {
        let tenants = self.store.tenants_with_pending().await?;
        for tenant in &tenants {
            self.spawn_job(*tenant);
        }
        Ok(tenants.len())
    }

    /// Every `adopt_interval`, takes up the switches whose owner stopped renewing its lease (a
    /// node that died): within the lease time, a surviving node finishes them. Stops when the
    /// service is dropped.
    pub fn spawn_adopter(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let interval = self.config.adopt_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(me) = weak.upgrade() else { return };
                match me.store.tenants_with_pending().await {
                    Ok(tenants) => {
                        for tenant in tenants {
                            me.spawn_job(tenant);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot look for re-encryptions to adopt"),
                }
            }
        });
    }

    /// Runs the tenant's job in the background unless it already runs here or another node
    /// holds its lease.
    pub fn spawn_job(self: &Arc<Self>, tenant: TenantId) {
        if !self.claim(tenant) {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let result = me.run_leased(tenant).await;
                me.release(tenant);
                match result {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "re-encryption stopped; a node takes it up again within the lease time");
                        return;
                    }
                }
                // A switch that began while this job was finishing saw it still running and
                // left the work to it: pick that work up.
                let pending = match me.generations(tenant).await {
                    Ok(gens) => gens.pending.is_some(),
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "cannot read the generations after a re-encryption");
                        return;
                    }
                };
                if !pending || !me.claim(tenant) {
                    return;
                }
            }
        });
    }

    /// Takes the job's lease and runs it to the end; `Ok(false)` when another node holds it.
    /// While the new (or old) root key refuses (disabled, deleted, not authorized, KMS
    /// unreachable), the job is paused, visibly, and tries again every `pause_retry`.
    async fn run_leased(&self, tenant: TenantId) -> Result<bool, SecretsError> {
        if !self
            .store
            .take_job(tenant, &self.lease(), OffsetDateTime::now_utc())
            .await?
        {
            return Ok(false);
        }
        loop {
            match self.run_job(tenant).await {
                Ok(()) => return Ok(true),
                Err(SecretsError::LeaseLost) => return Ok(false),
                Err(SecretsError::Provider(refusal)) => {
                    let reason = refusal.to_string();
                    if !self.store.pause_job(tenant, &self.lease(), &reason).await? {
                        return Ok(false);
                    }
                    tracing::info!(%tenant, %reason, "re-encryption paused");
                    tokio::time::sleep(self.config.pause_retry).await;
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Re-encrypts until the pending generation is current. Safe to run again after a crash.
    ///
    /// Reads the old generation's fields in position order, and reads and re-seals the next
    /// batch while the store applies the last one. A pass that reached the end starts once
    /// more from the beginning (a write that began before the switch may have landed under
    /// the old generation behind it); the generation is promoted when that pass finds nothing.
    pub async fn run_job(&self, tenant: TenantId) -> Result<(), SecretsError> {
        loop {
            let gens = self.generations(tenant).await?;
            let Some(pending) = &gens.pending else {
                return Ok(());
            };
            let old = gens.current.as_ref().filter(|g| g.id != pending.id);
            if let Some(old) = old {
                self.convert_pass(tenant, old, pending, 0).await?;
                // Whatever landed under the old generation behind the first pass.
                self.convert_pass(tenant, old, pending, 0).await?;
            }
            if self
                .store
                .promote(tenant, pending.id, &self.lease())
                .await?
            {
                if let Some(old) = &gens.current {
                    self.cache.forget_generation(old.id);
                    if old.root != pending.root
                        && let Err(e) = self.provider.deregister(&old.root, tenant).await
                    {
                        tracing::warn!(%tenant, error = %e, "could not remove the registration on the old root key");
                    }
                }
                tracing::info!(%tenant, "re-encryption complete");
                return Ok(());
            }
        }
    }

    /// Moves every field of `old` after position `after` to `pending`, batch by batch.
    async fn convert_pass(
        &self,
        tenant: TenantId,
        old: &Generation,
        pending: &Generation,
        mut after: i64,
    ) -> Result<(), SecretsError> {
        let mut ready = self.next_batch(tenant, old, pending, after).await?;
        while let Some(last) = ready.last() {
            after = last.position;
            let lease = self.lease();
            let (applied, next) = tokio::join!(
                self.store.apply_batch(tenant, &lease, &ready),
                self.next_batch(tenant, old, pending, after)
            );
            applied?;
            ready = next?;
        }
        Ok(())
    }

    /// Reads up to a batch of `old`'s fields after `after` and seals them under `pending`. Asks
    /// for both DEKs each time, so that a revoked key stops the job at the next batch.
    async fn next_batch(
        &self,
        tenant: TenantId,
        old: &Generation,
        pending: &Generation,
        after: i64,
    ) -> Result<Vec<Reencrypted>, SecretsError> {
        let old_dek = self.dek(old).await?;
        let new_dek = self.dek(pending).await?;
        let batch = self
            .store
            .fields_under(tenant, old.id, after, self.config.batch_size)
            .await?;
        batch
            .into_iter()
            .map(
                |FieldAt {
                     position,
                     sealed: f,
                 }| {
                    let plain = open_field(
                        &old_dek,
                        f.generation,
                        f.tenant,
                        f.secret,
                        &f.field,
                        &f.ciphertext,
                    )?;
                    let ciphertext = seal_field(
                        &new_dek,
                        pending.id,
                        f.tenant,
                        f.secret,
                        &f.field,
                        plain.expose_secret(),
                    )?;
                    Ok(Reencrypted {
                        position,
                        old_generation: f.generation,
                        sealed: SealedField {
                            generation: pending.id,
                            ciphertext,
                            ..f
                        },
                    })
                },
            )
            .collect()
    }
}
