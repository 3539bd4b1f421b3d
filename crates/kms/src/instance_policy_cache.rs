//! Instance policies kept for a short time: every KMS request of an instance asks whether its
//! client address is allowed, and reading the policies from the store each time would put a
//! query on the hot path. A change made on this node is seen at once; one made on another node
//! within the key cache's time to live, the same bound as for key state.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::ids::InstanceId;
use crate::instance_policy::InstancePolicies;

/// Most instances whose policies are kept.
const MAX_INSTANCES: usize = 10_000;

pub(crate) struct InstancePolicyCache {
    ttl: Duration,
    entries: RwLock<HashMap<InstanceId, (Instant, Arc<InstancePolicies>)>>,
}

impl InstancePolicyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::default(),
        }
    }

    pub fn get(&self, instance: InstanceId) -> Option<Arc<InstancePolicies>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&instance)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, p)| Arc::clone(p))
    }

    pub fn insert(
        &self,
        instance: InstanceId,
        policies: InstancePolicies,
    ) -> Arc<InstancePolicies> {
        let policies = Arc::new(policies);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_INSTANCES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_INSTANCES {
                entries.clear();
            }
        }
        entries.insert(instance, (Instant::now(), Arc::clone(&policies)));
        policies
    }

    pub fn invalidate(&self, instance: InstanceId) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(&instance);
    }
}
