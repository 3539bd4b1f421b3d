//! Scheduled rotation: rotates the keys whose rotation policy is due, on one node at a time.
//! Each key is checked again when it is rotated, so a key another node (or a person) rotated
//! meanwhile is not rotated twice.

use time::Duration;

use crate::envelope::Rotation;
use crate::error::KmsError;
use crate::ids::{InstanceId, KeyId, KeyRef};
use crate::key::Key;
use crate::ports::{KeyStore, MasterKey};
use crate::service::Kms;

/// The lease's name.
const LEASE: &str = "rotation-scheduler";
/// How long a node holds the lease after taking it; it renews it at every run.
pub const LEASE_TIME: Duration = Duration::seconds(60);

/// What one run did.
#[derive(Debug, Default)]
pub struct ScheduledRotations {
    /// Whether this node held the lease (and so looked for due keys).
    pub ran: bool,
    /// Keys rotated, as they now are.
    pub rotated: Vec<Key>,
    /// Keys whose rotation failed; the next run tries them again.
    pub failed: Vec<(InstanceId, KeyId, KmsError)>,
}

impl<S: KeyStore, M: MasterKey> Kms<S, M> {
    /// Rotates up to `batch` keys whose rotation policy is due, if node `node` holds (or takes)
    /// the scheduler's lease.
    pub async fn rotate_due_keys(
        &self,
        node: &str,
        batch: u32,
    ) -> Result<ScheduledRotations, KmsError> {
        let now = self.now();
        if !self
            .store
            .try_lease(LEASE, node, now, now + LEASE_TIME)
            .await?
        {
            return Ok(ScheduledRotations::default());
        }
        let mut run = ScheduledRotations {
            ran: true,
            ..ScheduledRotations::default()
        };
        for (instance, key) in self.store.keys_due_for_rotation(now, batch).await? {
            match self
                .rotate_inner(instance, &KeyRef::Id(key), None, Rotation::Scheduled)
                .await
            {
                Ok(Some(rotated)) => run.rotated.push(rotated),
                Ok(None) => {}
                Err(e) => run.failed.push((instance, key, e)),
            }
        }
        Ok(run)
    }
}
