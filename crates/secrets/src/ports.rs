//! The persistence port of the secrets library.

use std::future::Future;

use time::OffsetDateTime;

use crate::error::SecretsError;
use crate::model::{Generation, GenerationId, RootKey, SealedField, SecretId, TenantId, WrappedBy};

/// A node's claim on a tenant's re-encryption job, valid until `until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLease {
    /// The node.
    pub owner: String,
    /// When the claim lapses unless renewed.
    pub until: OffsetDateTime,
}

/// A tenant's re-encryption job as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// The lease.
    pub lease: JobLease,
    /// Why it waits (the new root key is disabled, say), when it does.
    pub paused: Option<String>,
    /// Fields the job has re-encrypted so far.
    pub done: u64,
    /// Fields that needed re-encryption when the switch began (unknown for a switch begun
    /// before the store counted them).
    pub total: Option<u64>,
}

/// A field as a job reads it: with its row's position in the store's order (a row id, at
/// least 1), from which the next read goes on and by which its update finds the row.
#[derive(Clone, Debug)]
pub struct FieldAt {
    /// The row's position.
    pub position: i64,
    /// The field.
    pub sealed: SealedField,
}

/// One re-encrypted field: replace `old_generation`'s ciphertext with the new one.
#[derive(Clone, Debug)]
pub struct Reencrypted {
    /// The row's position, as read.
    pub position: i64,
    /// The field, as sealed by the new generation.
    pub sealed: SealedField,
    /// The generation it must still have for the update to apply.
    pub old_generation: GenerationId,
}

/// Storage of generations and sealed fields.
pub trait SecretStore: Send + Sync + 'static {
    /// The tenant's current and pending generations.
    fn generations(
        &self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Vec<Generation>, SecretsError>> + Send;

    /// Inserts the first (current) generation; `Ok(false)` when the tenant already has one.
    fn insert_first_generation(
        &self,
        g: &Generation,
    ) -> impl Future<Output = Result<bool, SecretsError>> + Send;

    /// Inserts a pending generation and records its job (free for any node to take), with the
    /// number of fields to re-encrypt; `Ok(false)` when one is already pending.
    fn insert_pending_generation(
        &self,
        g: &Generation,
    ) -> impl Future<Output = Result<bool, SecretsError>> + Send;

    /// Replaces a generation's wrapped DEK (the root key was rotated).
    fn update_wrapped_dek(
        &self,
        id: GenerationId,
        wrapped: &[u8],
    ) -> impl Future<Output = Result<(), SecretsError>> + Send;

    /// Inserts or replaces fields, all in one transaction: all land or none does. No two may
    /// name the same `(tenant, secret, field)`. [`SecretsError::StaleGeneration`] (nothing
    /// written) when one names a generation that no longer exists.
    fn put_fields(
        &self,
        fields: &[SealedField],
    ) -> impl Future<Output = Result<(), SecretsError>> + Send;

    /// Inserts or replaces one field.
    fn put_field(&self, f: &SealedField) -> impl Future<Output = Result<(), SecretsError>> + Send {
        self.put_fields(std::slice::from_ref(f))
    }

    /// One field.
    fn get_field(
        &self,
        tenant: TenantId,
        secret: SecretId,
        field: &str,
    ) -> impl Future<Output = Result<Option<SealedField>, SecretsError>> + Send;

    /// All fields of a secret.
    fn get_fields(
        &self,
        tenant: TenantId,
        secret: SecretId,
    ) -> impl Future<Output = Result<Vec<SealedField>, SecretsError>> + Send;

    /// Deletes a secret; returns how many fields went.
    fn delete_secret(
        &self,
        tenant: TenantId,
        secret: SecretId,
    ) -> impl Future<Output = Result<u64, SecretsError>> + Send;

    /// Turns a switch back, in one transaction: the pending generation becomes current and the
    /// current one pending again (a job then moves the fields already under the abandoned
    /// generation back), and the job's progress starts over with those fields. `Ok(false)`
    /// (nothing changed) when `current` and `pending` are no longer the tenant's current and
    /// pending generations.
    fn reverse_switch(
        &self,
        tenant: TenantId,
        current: GenerationId,
        pending: GenerationId,
    ) -> impl Future<Output = Result<bool, SecretsError>> + Send;

    /// Up to `limit` of the tenant's fields sealed by `generation` whose position is after
    /// `after` (0: from the start), in position order.
    fn fields_under(
        &self,
        tenant: TenantId,
        generation: GenerationId,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FieldAt>, SecretsError>> + Send;

    /// Applies a batch of `tenant`'s job in one transaction, renewing `lease` and counting the
    /// fields done in it; every field of the batch is the tenant's and moves between the same
    /// two generations. A field whose row or generation changed meanwhile is skipped.
    /// Returns how many were applied; [`SecretsError::LeaseLost`] (nothing written) when
    /// another node holds the job.
    fn apply_batch(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        batch: &[Reencrypted],
    ) -> impl Future<Output = Result<u64, SecretsError>> + Send;

    /// Takes `tenant`'s job for `lease.owner` when nobody holds it, its lease lapsed before
    /// `now`, or the owner already holds it; `Ok(false)` otherwise.
    fn take_job(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, SecretsError>> + Send;

    /// Marks the owner's job paused with `reason`, renewing the lease; `Ok(false)` when another
    /// node holds it.
    fn pause_job(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        reason: &str,
    ) -> impl Future<Output = Result<bool, SecretsError>> + Send;

    /// The tenant's job, if one is recorded.
    fn job(
        &self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Option<JobRecord>, SecretsError>> + Send;

    /// How many fields of the tenant are sealed by `generation`, and how many there are.
    fn count_fields(
        &self,
        tenant: TenantId,
        generation: GenerationId,
    ) -> impl Future<Output = Result<(u64, u64), SecretsError>> + Send;

    /// In one transaction, if `lease.owner` holds the job: if no field is outside `pending`,
    /// makes it current, deletes every other generation of the tenant and ends the job.
    /// `Ok(false)` when fields remain outside it; [`SecretsError::LeaseLost`] when another node
    /// holds the job.
    fn promote(
        &self,
        tenant: TenantId,
        pending: GenerationId,
        lease: &JobLease,
    ) -> impl Future<Output = Result<bool, SecretsError>> + Send;

    /// The current and pending generations whose DEK `root` wrapped.
    fn generations_under(
        &self,
        root: WrappedBy,
    ) -> impl Future<Output = Result<Vec<Generation>, SecretsError>> + Send;

    /// Every (tenant, root key) of a current or pending generation under a customer key.
    fn customer_roots(
        &self,
    ) -> impl Future<Output = Result<Vec<(TenantId, RootKey)>, SecretsError>> + Send;

    /// Tenants with a pending generation (re-encryptions to resume at start).
    fn tenants_with_pending(
        &self,
    ) -> impl Future<Output = Result<Vec<TenantId>, SecretsError>> + Send;
}
