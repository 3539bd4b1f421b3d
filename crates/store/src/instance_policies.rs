//! Instance policies as stored: one row per instance and kind, the attributes as JSON.

use keyward_kms::{
    AllowedNetwork, InstanceAttributes, InstanceId, InstancePolicies, InstancePolicy,
    InstancePolicyKind, InstanceSetting, KeyCreateImportAccess, KmsError, PolicyStamp,
};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::audit_pending::change;
use crate::db::with_pool;
use crate::rows::{corrupt, kms_failure};
use crate::timestamp::{from_millis, to_millis};

/// The attributes column.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Attributes {
    Rotation {
        interval_month: u8,
    },
    AllowedNetwork {
        allowed_network: String,
    },
    AllowedIp {
        allowed_ip: Vec<String>,
    },
    KeyCreateImportAccess {
        create_root_key: bool,
        create_standard_key: bool,
        import_root_key: bool,
        import_standard_key: bool,
        enforce_token: bool,
    },
}

fn to_column(attributes: &InstanceAttributes) -> String {
    let stored = match attributes {
        InstanceAttributes::Rotation { interval_month } => Attributes::Rotation {
            interval_month: *interval_month,
        },
        InstanceAttributes::AllowedNetwork(n) => Attributes::AllowedNetwork {
            allowed_network: n.as_str().to_owned(),
        },
        InstanceAttributes::AllowedIp(blocks) => Attributes::AllowedIp {
            allowed_ip: blocks.iter().map(ToString::to_string).collect(),
        },
        InstanceAttributes::KeyCreateImportAccess(a) => Attributes::KeyCreateImportAccess {
            create_root_key: a.create_root_key,
            create_standard_key: a.create_standard_key,
            import_root_key: a.import_root_key,
            import_standard_key: a.import_standard_key,
            enforce_token: a.enforce_token,
        },
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

fn from_column(text: &str) -> Result<InstanceAttributes, KmsError> {
    let bad = || corrupt("instance policy attributes");
    Ok(
        match serde_json::from_str::<Attributes>(text).map_err(|_| bad())? {
            Attributes::Rotation { interval_month } => {
                InstanceAttributes::Rotation { interval_month }
            }
            Attributes::AllowedNetwork { allowed_network } => InstanceAttributes::AllowedNetwork(
                AllowedNetwork::parse(&allowed_network).ok_or_else(bad)?,
            ),
            Attributes::AllowedIp { allowed_ip } => InstanceAttributes::AllowedIp(
                allowed_ip
                    .iter()
                    .map(|b| b.parse().map_err(|_| bad()))
                    .collect::<Result<_, _>>()?,
            ),
            Attributes::KeyCreateImportAccess {
                create_root_key,
                create_standard_key,
                import_root_key,
                import_standard_key,
                enforce_token,
            } => InstanceAttributes::KeyCreateImportAccess(KeyCreateImportAccess {
                create_root_key,
                create_standard_key,
                import_root_key,
                import_standard_key,
                enforce_token,
            }),
        },
    )
}

#[derive(sqlx::FromRow)]
struct Row {
    policy_type: String,
    enabled: bool,
    attributes: Option<String>,
    created_at: i64,
    created_by: String,
    updated_at: i64,
    updated_by: String,
}

impl Row {
    fn into_policy(self) -> Result<InstancePolicy, KmsError> {
        Ok(InstancePolicy {
            setting: InstanceSetting {
                kind: InstancePolicyKind::parse(&self.policy_type)
                    .ok_or_else(|| corrupt("instance policy type"))?,
                enabled: self.enabled,
                attributes: self.attributes.as_deref().map(from_column).transpose()?,
            },
            stamp: PolicyStamp {
                created_at: from_millis(self.created_at),
                created_by: self.created_by,
                updated_at: from_millis(self.updated_at),
                updated_by: self.updated_by,
            },
        })
    }
}

impl Store {
    pub(crate) async fn read_instance_policies(
        &self,
        instance: InstanceId,
    ) -> Result<InstancePolicies, KmsError> {
        let rows: Vec<Row> = with_pool!(self, pool => sqlx::query_as(
            "SELECT policy_type, enabled, attributes, created_at, created_by, updated_at, updated_by \
             FROM instance_policies WHERE instance_id = $1 ORDER BY policy_type",
        )
        .bind(instance.to_string())
        .fetch_all(pool)
        .await)
        .map_err(kms_failure)?;
        rows.into_iter()
            .map(Row::into_policy)
            .collect::<Result<_, _>>()
            .map(InstancePolicies)
    }

    pub(crate) async fn write_instance_policies(
        &self,
        instance: InstanceId,
        policies: &[InstancePolicy],
    ) -> Result<(), KmsError> {
        change!(self, tx => {
            for p in policies {
                sqlx::query(
                    "INSERT INTO instance_policies (instance_id, policy_type, enabled, attributes, \
                     created_at, created_by, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (instance_id, policy_type) DO UPDATE SET enabled = excluded.enabled, \
                     attributes = excluded.attributes, updated_at = excluded.updated_at, \
                     updated_by = excluded.updated_by",
                )
                .bind(instance.to_string())
                .bind(p.setting.kind.as_str())
                .bind(p.setting.enabled)
                .bind(p.setting.attributes.as_ref().map(to_column))
                .bind(to_millis(p.stamp.created_at))
                .bind(&p.stamp.created_by)
                .bind(to_millis(p.stamp.updated_at))
                .bind(&p.stamp.updated_by)
                .execute(&mut *tx)
                .await?;
            }
        })
        .map_err(kms_failure)
    }
}
