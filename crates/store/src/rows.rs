//! Row types shared by both engines and their conversion to domain types.

use keyward_iam::{
    AccountId, ApiKeyHash, ApiKeyRecord, IamError, Instance, Policy, PolicyResource, Principal,
    PrincipalKind, Role, ServiceKind, Subject,
};
use keyward_kms::{
    Alias, DeletionAuthorization, InstanceId, Key, KeyId, KeyRing, KeyRingId, KeyState,
    KeyVersionId, KmsError, StoreFailure, StoredVersion, VersionInfo,
};
use uuid::Uuid;

use crate::timestamp::{from_millis, opt_from_millis};

pub(crate) fn corrupt(what: &str) -> KmsError {
    KmsError::Store(StoreFailure {
        detail: format!("corrupt row: {what}"),
        unavailable: false,
    })
}

pub(crate) fn kms_failure(e: sqlx::Error) -> KmsError {
    KmsError::Store(StoreFailure {
        unavailable: crate::is_unavailable(&e),
        detail: e.to_string(),
    })
}

pub(crate) fn iam_failure(e: sqlx::Error) -> IamError {
    if crate::is_unavailable(&e) {
        IamError::StoreUnavailable(e.to_string())
    } else {
        IamError::Store(e.to_string())
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub id: String,
    pub instance_id: String,
    pub name: String,
    pub description: Option<String>,
    pub tags: String,
    pub extractable: bool,
    pub imported: bool,
    pub state: i64,
    pub bit_length: i64,
    pub expiration: Option<i64>,
    pub key_ring: String,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub last_rotated_at: Option<i64>,
    pub state_changed_at: i64,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
    pub current_version_id: String,
    pub current_version_created_at: i64,
    pub revision: i64,
    pub policies: String,
    pub deletion_authorized_by: Option<String>,
    pub deletion_authorized_at: Option<i64>,
}

pub(crate) const KEY_COLUMNS: &str = "id, instance_id, name, description, tags, extractable, imported, state, bit_length, expiration, key_ring, created_at, created_by, updated_at, last_rotated_at, state_changed_at, deleted_at, deleted_by, current_version_id, current_version_created_at, revision, policies, deletion_authorized_by, deletion_authorized_at";

impl KeyRow {
    pub fn into_key(self, aliases: Vec<Alias>) -> Result<Key, KmsError> {
        Ok(Key {
            id: self.id.parse::<KeyId>().map_err(|_| corrupt("key id"))?,
            instance: self
                .instance_id
                .parse::<InstanceId>()
                .map_err(|_| corrupt("instance id"))?,
            name: self.name,
            description: self.description,
            tags: serde_json::from_str(&self.tags).map_err(|_| corrupt("tags"))?,
            extractable: self.extractable,
            imported: self.imported,
            state: KeyState::from_code(self.state).ok_or_else(|| corrupt("state"))?,
            bit_length: u32::try_from(self.bit_length).map_err(|_| corrupt("bit length"))?,
            expiration: opt_from_millis(self.expiration),
            key_ring: self
                .key_ring
                .parse::<KeyRingId>()
                .map_err(|_| corrupt("key ring"))?,
            aliases,
            created_at: from_millis(self.created_at),
            created_by: self.created_by,
            updated_at: from_millis(self.updated_at),
            last_rotated_at: opt_from_millis(self.last_rotated_at),
            state_changed_at: from_millis(self.state_changed_at),
            deleted_at: opt_from_millis(self.deleted_at),
            deleted_by: self.deleted_by,
            current_version: VersionInfo {
                id: self
                    .current_version_id
                    .parse::<KeyVersionId>()
                    .map_err(|_| corrupt("version id"))?,
                created_at: from_millis(self.current_version_created_at),
            },
            policies: crate::key_policies::from_column(&self.policies)?,
            deletion_authorization: match (self.deletion_authorized_by, self.deletion_authorized_at)
            {
                (Some(by), Some(at)) => Some(DeletionAuthorization {
                    by,
                    at: from_millis(at),
                }),
                _ => None,
            },
            revision: self.revision,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VersionRow {
    pub id: String,
    pub key_id: String,
    pub created_at: i64,
    pub wrapped_material: Vec<u8>,
}

impl VersionRow {
    pub fn into_version(self) -> Result<StoredVersion, KmsError> {
        Ok(StoredVersion {
            id: self.id.parse().map_err(|_| corrupt("version id"))?,
            key_id: self.key_id.parse().map_err(|_| corrupt("key id"))?,
            created_at: from_millis(self.created_at),
            wrapped_material: self.wrapped_material,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AliasRow {
    pub key_id: String,
    pub alias: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct RingRow {
    pub id: String,
    pub created_at: i64,
    pub created_by: String,
}

impl RingRow {
    pub fn into_ring(self) -> Result<KeyRing, KmsError> {
        Ok(KeyRing {
            id: self.id.parse().map_err(|_| corrupt("key ring"))?,
            created_at: from_millis(self.created_at),
            created_by: self.created_by,
        })
    }
}

fn iam_corrupt(what: &str) -> IamError {
    IamError::Store(format!("corrupt row: {what}"))
}

fn opt_uuid(s: Option<String>) -> Result<Option<Uuid>, IamError> {
    s.map(|s| Uuid::parse_str(&s).map_err(|_| iam_corrupt("uuid")))
        .transpose()
}

#[derive(sqlx::FromRow)]
pub(crate) struct PrincipalRow {
    pub iam_id: String,
    pub account_id: String,
    pub kind: String,
    pub name: String,
    pub service_name: Option<String>,
    pub created_at: i64,
}

impl PrincipalRow {
    pub fn into_principal(self) -> Result<Principal, IamError> {
        Ok(Principal {
            iam_id: self.iam_id,
            account: self.account_id.parse::<AccountId>()?,
            kind: PrincipalKind::parse(&self.kind).ok_or_else(|| iam_corrupt("principal kind"))?,
            name: self.name,
            service_name: self.service_name,
            created_at: from_millis(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    pub id: String,
    pub iam_id: String,
    pub name: String,
    pub hash: Vec<u8>,
    pub created_at: i64,
    pub locked: bool,
}

impl ApiKeyRow {
    pub fn into_record(self) -> Result<ApiKeyRecord, IamError> {
        Ok(ApiKeyRecord {
            id: Uuid::parse_str(&self.id).map_err(|_| iam_corrupt("api key id"))?,
            iam_id: self.iam_id,
            name: self.name,
            hash: ApiKeyHash(
                self.hash
                    .try_into()
                    .map_err(|_| iam_corrupt("api key hash"))?,
            ),
            created_at: from_millis(self.created_at),
            locked: self.locked,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PolicyRow {
    pub id: String,
    pub account_id: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub subject_instance: Option<String>,
    pub roles: String,
    pub resource_service: String,
    pub resource_instance: Option<String>,
    pub resource_key_ring: Option<String>,
    pub created_at: i64,
}

impl PolicyRow {
    pub fn into_policy(self) -> Result<Policy, IamError> {
        let subject = match self.subject_kind.as_str() {
            "principal" => Subject::Principal(self.subject_id),
            "service" => Subject::Service {
                service: ServiceKind::parse(&self.subject_id)
                    .ok_or_else(|| iam_corrupt("subject service"))?,
                instance: opt_uuid(self.subject_instance)?,
            },
            _ => return Err(iam_corrupt("subject kind")),
        };
        let roles = self
            .roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::parse::<Role>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            id: Uuid::parse_str(&self.id).map_err(|_| iam_corrupt("policy id"))?,
            account: self.account_id.parse()?,
            subject,
            roles,
            resource: PolicyResource {
                service: ServiceKind::parse(&self.resource_service)
                    .ok_or_else(|| iam_corrupt("resource service"))?,
                instance: opt_uuid(self.resource_instance)?,
                key_ring: self.resource_key_ring,
            },
            created_at: from_millis(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InstanceRow {
    pub id: String,
    pub account_id: String,
    pub service: String,
    pub name: String,
    pub created_at: i64,
}

impl InstanceRow {
    pub fn into_instance(self) -> Result<Instance, IamError> {
        Ok(Instance {
            id: Uuid::parse_str(&self.id).map_err(|_| iam_corrupt("instance id"))?,
            account: self.account_id.parse()?,
            service: ServiceKind::parse(&self.service).ok_or_else(|| iam_corrupt("service"))?,
            name: self.name,
            created_at: from_millis(self.created_at),
        })
    }
}
