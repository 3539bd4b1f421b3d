//! The rotation scheduler: every few seconds, the node that holds the scheduler's lease rotates
//! the keys whose rotation policy is due, and records each rotation in the audit trail as done
//! by the service itself.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use keyward_kms::{KmsError, ScheduledRotations};

use crate::audit::{AuditEvent, now_millis};
use crate::authz::kms_instance;
use crate::state::SharedState;

/// Who the audit trail names for a scheduled rotation.
pub const SCHEDULER_ID: &str = "keyward:rotation-scheduler";
/// Keys rotated per run at most.
const BATCH: u32 = 100;
/// Time between runs.
const PERIOD: Duration = Duration::from_secs(10);

/// Runs the scheduler until the application is dropped.
pub fn spawn(state: &SharedState) {
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            if let Err(e) = run_once(&state).await {
                tracing::warn!(error = %e, "the rotation scheduler cannot run");
            }
        }
    });
}

/// One run: rotates the keys due (if this node holds the lease) and records each rotation.
pub async fn run_once(state: &SharedState) -> Result<ScheduledRotations, KmsError> {
    let run = state.kms.rotate_due_keys(&state.node, BATCH).await?;
    for key in &run.rotated {
        let account = match kms_instance(state.iam.authorizer(), key.instance.as_uuid()).await {
            Ok(Some(instance)) => instance.account.as_str().to_owned(),
            _ => continue,
        };
        let at = now_millis();
        let event = AuditEvent::new(
            at,
            keyward_iam::Action::KmsKeysRotate.name(),
            StatusCode::OK,
            SCHEDULER_ID.to_owned(),
            String::new(),
            state.crn.key_crn(&account, key.instance, key.id),
            uuid::Uuid::new_v4().to_string(),
        );
        if !state.audit.record(Some(account), at, &event).await {
            tracing::warn!(key = %key.id, "cannot record a scheduled rotation in the audit trail");
        }
        tracing::info!(key = %key.id, instance = %key.instance, "rotated on schedule");
    }
    for (instance, key, error) in &run.failed {
        tracing::warn!(%instance, %key, %error, "a scheduled rotation failed; retried next run");
    }
    Ok(run)
}
