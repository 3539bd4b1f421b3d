//! A key's policies as stored: one JSON document in `keys.policies`, read and written with the
//! key's other columns.

use keyward_kms::{KeyPolicies, KmsError, PolicyStamp, RotationSchedule, Stamped};
use serde::{Deserialize, Serialize};

use crate::rows::corrupt;
use crate::timestamp::{from_millis, to_millis};

#[derive(Default, Serialize, Deserialize)]
struct Document {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation: Option<Stored>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dual_auth_delete: Option<Stored>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval_month: Option<u8>,
    created_at: i64,
    created_by: String,
    updated_at: i64,
    updated_by: String,
}

impl Stored {
    fn new(enabled: bool, interval_month: Option<u8>, stamp: &PolicyStamp) -> Self {
        Self {
            enabled,
            interval_month,
            created_at: to_millis(stamp.created_at),
            created_by: stamp.created_by.clone(),
            updated_at: to_millis(stamp.updated_at),
            updated_by: stamp.updated_by.clone(),
        }
    }

    fn stamp(&self) -> PolicyStamp {
        PolicyStamp {
            created_at: from_millis(self.created_at),
            created_by: self.created_by.clone(),
            updated_at: from_millis(self.updated_at),
            updated_by: self.updated_by.clone(),
        }
    }
}

/// The column's text for `policies`.
pub(crate) fn to_column(policies: &KeyPolicies) -> String {
    let document = Document {
        rotation: policies
            .rotation
            .as_ref()
            .map(|p| Stored::new(p.value.enabled, Some(p.value.interval_month), &p.stamp)),
        dual_auth_delete: policies
            .dual_auth_delete
            .as_ref()
            .map(|p| Stored::new(p.value, None, &p.stamp)),
    };
    serde_json::to_string(&document).unwrap_or_else(|_| "{}".to_owned())
}

/// The policies in the column's text.
pub(crate) fn from_column(text: &str) -> Result<KeyPolicies, KmsError> {
    let document: Document = serde_json::from_str(text).map_err(|_| corrupt("key policies"))?;
    let rotation = match document.rotation {
        Some(stored) => Some(Stamped {
            value: RotationSchedule {
                enabled: stored.enabled,
                interval_month: stored
                    .interval_month
                    .ok_or_else(|| corrupt("rotation policy"))?,
            },
            stamp: stored.stamp(),
        }),
        None => None,
    };
    Ok(KeyPolicies {
        rotation,
        dual_auth_delete: document.dual_auth_delete.map(|stored| Stamped {
            value: stored.enabled,
            stamp: stored.stamp(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn policies_survive_the_column() {
        let at = |s| OffsetDateTime::from_unix_timestamp(s).expect("time");
        let stamp = PolicyStamp {
            created_at: at(1_700_000_000),
            created_by: "IBMid-a".into(),
            updated_at: at(1_700_000_100),
            updated_by: "iam-ServiceId-b".into(),
        };
        let policies = KeyPolicies {
            rotation: Some(Stamped {
                value: RotationSchedule {
                    enabled: true,
                    interval_month: 7,
                },
                stamp: stamp.clone(),
            }),
            dual_auth_delete: Some(Stamped { value: true, stamp }),
        };
        assert_eq!(from_column(&to_column(&policies)).expect("read"), policies);
        assert_eq!(from_column("{}").expect("none"), KeyPolicies::default());
        assert!(from_column("{\"rotation\":{\"enabled\":true}}").is_err());
    }
}
