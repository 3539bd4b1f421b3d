//! One audit event, in the style of Activity Tracker: what was attempted, by whom, from where,
//! on what, and how it ended. Never holds a secret: no body, no token, only names and ids.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use keyward_iam::audit_note::{Note, NotedTarget};
use keyward_kms::CrnScheme;
use serde::{Deserialize, Serialize};

/// An audit event as stored (its JSON text is what the chain hashes) and exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// RFC 3339, UTC, milliseconds.
    pub event_time: String,
    /// E.g. `kms.secrets.unwrap`: the decision's action, or the route's when the request was
    /// refused before any decision (no or a bad token).
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The HTTP status and its reason.
    pub reason: Reason,
    /// Who asked, from where.
    pub initiator: Initiator,
    /// What it acted on.
    pub target: TargetRef,
    /// The request's `Correlation-Id` (given or generated, echoed in the response).
    pub correlation_id: String,
}

impl AuditEvent {
    /// The event of `action` by `initiator` (from `address`) on `target`, at `at_millis`, that
    /// ended with `status`.
    pub fn new(
        at_millis: i64,
        action: &str,
        status: axum::http::StatusCode,
        initiator: String,
        address: String,
        target: String,
        correlation_id: String,
    ) -> Self {
        Self {
            event_time: event_time(at_millis),
            action: action.to_owned(),
            outcome: if status.as_u16() < 400 {
                "success"
            } else {
                "failure"
            }
            .to_owned(),
            reason: Reason {
                reason_code: status.as_u16(),
                reason_type: status.canonical_reason().unwrap_or_default().to_owned(),
            },
            initiator: Initiator {
                id: initiator,
                host: Host { address },
            },
            target: TargetRef { id: target },
            correlation_id,
        }
    }
}

impl AuditEvent {
    /// The event a change's transaction commits with it, before its answer is known: the
    /// transaction committed (`success`), and its reason says no final event was recorded. The
    /// request's final event replaces it; it stays only if that event was never written (the
    /// node stopped in between, or the trail refused it). A request whose transaction changed
    /// no row (a delete of something already gone) also commits one: kept, it overstates.
    pub fn provisional(mut self) -> Self {
        self.outcome = "success".to_owned();
        self.reason = Reason {
            reason_code: 0,
            reason_type: PROVISIONAL_REASON.to_owned(),
        };
        self
    }
}

/// The reason of a provisional event.
pub const PROVISIONAL_REASON: &str = "the request's change committed; its final event was never recorded (the node stopped, or the trail could not take it)";

fn event_time(at_millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The outcome's reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// HTTP status.
    pub reason_code: u16,
    /// Its canonical reason phrase.
    pub reason_type: String,
}

/// The caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Initiator {
    /// IAM id; empty when the request was not authenticated.
    pub id: String,
    /// The client's address.
    pub host: Host,
}

/// A network address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Host {
    /// IP address (empty when the request did not come over a socket).
    pub address: String,
}

/// The target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetRef {
    /// CRN; empty when no target was known.
    pub id: String,
}

/// The CRN of what a request acted on: the key when the path names one (as the path names it:
/// an id or an alias), else the noted instance, identity or account.
pub fn target_crn(crn: &CrnScheme, note: &Note, key: Option<&str>) -> String {
    let (Some(account), Some(target)) = (&note.account, &note.target) else {
        return String::new();
    };
    let prefix = |service: &str, region: &str| {
        format!(
            "crn:v1:{}:{}:{service}:{region}:a/{account}",
            crn.cname, crn.ctype
        )
    };
    match target {
        NotedTarget::Account => format!("{}::", prefix("iam", "")),
        NotedTarget::Identity { kind, iam_id } => {
            format!("{}::{}:{iam_id}", prefix("iam-identity", ""), kind.as_str())
        }
        NotedTarget::Instance { service, id } => {
            let base = format!("{}:{id}", prefix(service.as_str(), &crn.region));
            match key {
                Some(key) if *service == keyward_iam::ServiceKind::Kms => {
                    format!("{base}:key:{key}")
                }
                _ => format!("{base}::"),
            }
        }
    }
}

/// A correlation id for a request that brought none: this process's random prefix and a counter
/// (unique across nodes and restarts without a system call per request).
pub(crate) fn new_correlation_id() -> String {
    static PREFIX: LazyLock<String> = LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string());
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{:016x}",
        PREFIX.as_str(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Lower-case hexadecimal (chain hashes as shown).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
