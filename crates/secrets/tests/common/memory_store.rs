//! `SecretStore` in memory, with the same rules as the database adapters: one current and one
//! pending generation per tenant, a field names an existing generation, a job is held by one
//! node under a lease, a batch or a promotion by a node that lost the lease writes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use keyward_secrets::{
    FieldAt, Generation, GenerationId, GenerationStatus, JobLease, JobRecord, Reencrypted, RootKey,
    SealedField, SecretId, SecretStore, SecretsError, TenantId, WrappedBy,
};
use time::OffsetDateTime;

#[derive(Default)]
struct Inner {
    generations: Vec<Generation>,
    fields: BTreeMap<(TenantId, SecretId, String), SealedField>,
    /// Each field's row position, given at its first insert (as a row id is).
    positions: HashMap<(TenantId, SecretId, String), i64>,
    last_position: i64,
    jobs: HashMap<TenantId, JobRecord>,
}

/// The store.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert_generation(&self, g: &Generation) -> bool {
        let mut inner = self.lock();
        if inner
            .generations
            .iter()
            .any(|o| o.tenant == g.tenant && o.status == g.status)
        {
            return false;
        }
        inner.generations.push(g.clone());
        true
    }
}

/// What a job that starts (or turns back) has to move: the tenant's fields not under its
/// pending generation.
fn to_move(inner: &Inner, tenant: TenantId, pending: GenerationId) -> u64 {
    inner
        .fields
        .values()
        .filter(|f| f.tenant == tenant && f.generation != pending)
        .count() as u64
}

/// Renews `lease` when its owner holds the tenant's job.
fn renew(inner: &mut Inner, tenant: TenantId, lease: &JobLease) -> bool {
    match inner.jobs.get_mut(&tenant) {
        Some(job) if job.lease.owner == lease.owner => {
            job.lease = lease.clone();
            job.paused = None;
            true
        }
        _ => false,
    }
}

impl SecretStore for MemoryStore {
    async fn generations(&self, tenant: TenantId) -> Result<Vec<Generation>, SecretsError> {
        Ok(self
            .lock()
            .generations
            .iter()
            .filter(|g| g.tenant == tenant)
            .cloned()
            .collect())
    }

    async fn insert_first_generation(&self, g: &Generation) -> Result<bool, SecretsError> {
        Ok(self.insert_generation(g))
    }

    async fn insert_pending_generation(&self, g: &Generation) -> Result<bool, SecretsError> {
        if !self.insert_generation(g) {
            return Ok(false);
        }
        let mut inner = self.lock();
        let total = to_move(&inner, g.tenant, g.id);
        inner.jobs.insert(
            g.tenant,
            JobRecord {
                lease: JobLease {
                    owner: String::new(),
                    until: OffsetDateTime::UNIX_EPOCH,
                },
                paused: None,
                done: 0,
                total: Some(total),
            },
        );
        Ok(true)
    }

    async fn update_wrapped_dek(
        &self,
        id: GenerationId,
        wrapped: &[u8],
    ) -> Result<(), SecretsError> {
        if let Some(g) = self.lock().generations.iter_mut().find(|g| g.id == id) {
            g.wrapped_dek = wrapped.to_vec();
        }
        Ok(())
    }

    async fn put_fields(&self, fields: &[SealedField]) -> Result<(), SecretsError> {
        let mut inner = self.lock();
        let known = |f: &SealedField| inner.generations.iter().any(|g| g.id == f.generation);
        if !fields.iter().all(known) {
            return Err(SecretsError::StaleGeneration);
        }
        for f in fields {
            let key = (f.tenant, f.secret, f.field.clone());
            if !inner.positions.contains_key(&key) {
                inner.last_position += 1;
                let position = inner.last_position;
                inner.positions.insert(key.clone(), position);
            }
            inner.fields.insert(key, f.clone());
        }
        Ok(())
    }

    async fn get_field(
        &self,
        tenant: TenantId,
        secret: SecretId,
        field: &str,
    ) -> Result<Option<SealedField>, SecretsError> {
        Ok(self
            .lock()
            .fields
            .get(&(tenant, secret, field.to_owned()))
            .cloned())
    }

    async fn get_fields(
        &self,
        tenant: TenantId,
        secret: SecretId,
    ) -> Result<Vec<SealedField>, SecretsError> {
        Ok(self
            .lock()
            .fields
            .values()
            .filter(|f| f.tenant == tenant && f.secret == secret)
            .cloned()
            .collect())
    }

    async fn delete_secret(&self, tenant: TenantId, secret: SecretId) -> Result<u64, SecretsError> {
        let mut inner = self.lock();
        let before = inner.fields.len();
        inner
            .fields
            .retain(|_, f| !(f.tenant == tenant && f.secret == secret));
        inner
            .positions
            .retain(|(t, s, _), _| !(*t == tenant && *s == secret));
        Ok((before - inner.fields.len()) as u64)
    }

    async fn reverse_switch(
        &self,
        tenant: TenantId,
        current: GenerationId,
        pending: GenerationId,
    ) -> Result<bool, SecretsError> {
        let mut inner = self.lock();
        let is = |g: &Generation, id: GenerationId, status: GenerationStatus| {
            g.tenant == tenant && g.id == id && g.status == status
        };
        let both = inner
            .generations
            .iter()
            .filter(|g| {
                is(g, current, GenerationStatus::Current)
                    || is(g, pending, GenerationStatus::Pending)
            })
            .count();
        if both != 2 {
            return Ok(false);
        }
        for g in inner.generations.iter_mut().filter(|g| g.tenant == tenant) {
            g.status = if g.id == current {
                GenerationStatus::Pending
            } else {
                GenerationStatus::Current
            };
        }
        // `current` is the pending generation now.
        let back = to_move(&inner, tenant, current);
        if let Some(job) = inner.jobs.get_mut(&tenant) {
            job.done = 0;
            job.total = Some(back);
        }
        Ok(true)
    }

    async fn fields_under(
        &self,
        tenant: TenantId,
        generation: GenerationId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FieldAt>, SecretsError> {
        let inner = self.lock();
        let mut found: Vec<FieldAt> = inner
            .fields
            .iter()
            .filter(|(_, f)| f.tenant == tenant && f.generation == generation)
            .map(|(key, f)| FieldAt {
                position: inner.positions[key],
                sealed: f.clone(),
            })
            .filter(|f| f.position > after)
            .collect();
        found.sort_by_key(|f| f.position);
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn apply_batch(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        batch: &[Reencrypted],
    ) -> Result<u64, SecretsError> {
        let mut inner = self.lock();
        if !renew(&mut inner, tenant, lease) {
            return Err(SecretsError::LeaseLost);
        }
        let mut applied = 0;
        for r in batch {
            let key = (r.sealed.tenant, r.sealed.secret, r.sealed.field.clone());
            let same_row = inner.positions.get(&key) == Some(&r.position);
            if let Some(f) = inner.fields.get_mut(&key)
                && same_row
                && f.generation == r.old_generation
            {
                *f = r.sealed.clone();
                applied += 1;
            }
        }
        if let Some(job) = inner.jobs.get_mut(&tenant) {
            job.done += applied;
        }
        Ok(applied)
    }

    async fn take_job(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        now: OffsetDateTime,
    ) -> Result<bool, SecretsError> {
        let mut inner = self.lock();
        let free = inner
            .jobs
            .get(&tenant)
            .is_none_or(|j| j.lease.until < now || j.lease.owner == lease.owner);
        if free {
            let job = inner.jobs.entry(tenant).or_insert_with(|| JobRecord {
                lease: lease.clone(),
                paused: None,
                done: 0,
                total: None,
            });
            job.lease = lease.clone();
            job.paused = None;
        }
        Ok(free)
    }

    async fn pause_job(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        reason: &str,
    ) -> Result<bool, SecretsError> {
        let mut inner = self.lock();
        if !renew(&mut inner, tenant, lease) {
            return Ok(false);
        }
        if let Some(job) = inner.jobs.get_mut(&tenant) {
            job.paused = Some(reason.to_owned());
        }
        Ok(true)
    }

    async fn job(&self, tenant: TenantId) -> Result<Option<JobRecord>, SecretsError> {
        Ok(self.lock().jobs.get(&tenant).cloned())
    }

    async fn count_fields(
        &self,
        tenant: TenantId,
        generation: GenerationId,
    ) -> Result<(u64, u64), SecretsError> {
        let inner = self.lock();
        let mine = inner.fields.values().filter(|f| f.tenant == tenant);
        let (under, all) = mine.fold((0, 0), |(under, all), f| {
            (under + u64::from(f.generation == generation), all + 1)
        });
        Ok((under, all))
    }

    async fn promote(
        &self,
        tenant: TenantId,
        pending: GenerationId,
        lease: &JobLease,
    ) -> Result<bool, SecretsError> {
        let mut inner = self.lock();
        if !renew(&mut inner, tenant, lease) {
            return Err(SecretsError::LeaseLost);
        }
        let outside = inner
            .fields
            .values()
            .any(|f| f.tenant == tenant && f.generation != pending);
        let is_pending = inner
            .generations
            .iter()
            .any(|g| g.id == pending && g.status == GenerationStatus::Pending);
        if outside || !is_pending {
            return Ok(false);
        }
        inner
            .generations
            .retain(|g| g.tenant != tenant || g.id == pending);
        for g in &mut inner.generations {
            if g.id == pending {
                g.status = GenerationStatus::Current;
            }
        }
        inner.jobs.remove(&tenant);
        Ok(true)
    }

    async fn generations_under(&self, root: WrappedBy) -> Result<Vec<Generation>, SecretsError> {
        Ok(self
            .lock()
            .generations
            .iter()
            .filter(|g| match (&g.root, root) {
                (RootKey::Global, WrappedBy::Global) => true,
                (RootKey::Customer(crn), WrappedBy::CustomerKey { instance, key }) => {
                    crn.instance == instance && crn.key == key
                }
                _ => false,
            })
            .cloned()
            .collect())
    }

    async fn customer_roots(&self) -> Result<Vec<(TenantId, RootKey)>, SecretsError> {
        Ok(self
            .lock()
            .generations
            .iter()
            .filter(|g| g.root != RootKey::Global)
            .map(|g| (g.tenant, g.root.clone()))
            .collect())
    }

    async fn tenants_with_pending(&self) -> Result<Vec<TenantId>, SecretsError> {
        let mut tenants: Vec<TenantId> = self
            .lock()
            .generations
            .iter()
            .filter(|g| g.status == GenerationStatus::Pending)
            .map(|g| g.tenant)
            .collect();
        tenants.sort();
        tenants.dedup();
        Ok(tenants)
    }
}
