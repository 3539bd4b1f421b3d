//! Managing identities, API keys and policies of one account: shared by the `/v1/...` API and
//! the `keyward iam` commands, so both apply the same checks.

use keyward_api::iam::{Attribute, Attributes, Identity, PolicyBody, RoleRef};
use keyward_iam::{
    AccountId, ApiKeyRecord, ApiKeySecret, IamError, IamStore, Policy, Principal, PrincipalKind,
    Resource, Role, ServiceKind, Subject,
};
use keyward_store::Store;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::wire::date;

fn invalid(field: &'static str, requirement: &'static str) -> ApiError {
    ApiError::InvalidField { field, requirement }
}

/// Creates a user or service id in `account`.
pub async fn create_identity(
    store: &Store,
    account: &AccountId,
    kind: PrincipalKind,
    name: &str,
) -> Result<Principal, ApiError> {
    let p = Principal::new(account.clone(), kind, name, OffsetDateTime::now_utc())?;
    store.create_principal(&p).await?;
    Ok(p)
}

/// The wire form of a principal.
pub fn identity(p: &Principal) -> Identity {
    Identity {
        id: p.iam_id.clone(),
        iam_id: p.iam_id.clone(),
        name: p.name.clone(),
        kind: p.kind.as_str().to_owned(),
        account_id: p.account.to_string(),
        created_at: date(p.created_at),
    }
}

/// Creates an API key for a principal of `account`; the secret is returned once.
pub async fn create_api_key(
    store: &Store,
    account: &AccountId,
    iam_id: &str,
    name: &str,
) -> Result<(ApiKeyRecord, ApiKeySecret), ApiError> {
    let owner = store
        .find_principal(iam_id)
        .await?
        .filter(|p| &p.account == account)
        .ok_or(invalid(
            "iam_id",
            "the IAM id of a user or service id of this account",
        ))?;
    if name.trim().is_empty() || name.chars().count() > 128 {
        return Err(invalid("name", "1 to 128 characters"));
    }
    let secret = ApiKeySecret::generate()?;
    let record = ApiKeyRecord {
        id: Uuid::new_v4(),
        iam_id: owner.iam_id,
        name: name.to_owned(),
        hash: secret.hash(),
        created_at: OffsetDateTime::now_utc(),
    };
    store.create_api_key(&record).await?;
    Ok((record, secret))
}

fn attr<'a>(attrs: &'a Attributes, name: &str) -> Option<&'a str> {
    attrs
        .attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

fn one<'a>(list: &'a [Attributes], field: &'static str) -> Result<&'a Attributes, ApiError> {
    match list {
        [only] => Ok(only),
        _ => Err(invalid(field, "exactly one entry")),
    }
}

fn service(value: Option<&str>, field: &'static str) -> Result<ServiceKind, ApiError> {
    value.and_then(ServiceKind::parse).ok_or(invalid(
        field,
        "a serviceName attribute of kms, configsvc or iam",
    ))
}

fn instance(value: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    value
        .map(|v| {
            Uuid::parse_str(v).map_err(|_| invalid("serviceInstance", "a service instance GUID"))
        })
        .transpose()
}

/// Checks a policy body against the account and turns it into a policy.
pub async fn policy_from_body(
    store: &Store,
    account: &AccountId,
    body: &PolicyBody,
) -> Result<Policy, ApiError> {
    let subject_attrs = one(&body.subjects, "subjects")?;
    let resource_attrs = one(&body.resources, "resources")?;
    if attr(resource_attrs, "accountId").is_some_and(|a| a != account.as_str()) {
        return Err(invalid("accountId", "the caller's account"));
    }
    let subject = match body.kind.as_str() {
        "access" => {
            let iam_id =
                attr(subject_attrs, "iam_id").ok_or(invalid("subjects", "an iam_id attribute"))?;
            store
                .find_principal(iam_id)
                .await?
                .filter(|p| &p.account == account)
                .ok_or(invalid(
                    "iam_id",
                    "the IAM id of a user or service id of this account",
                ))?;
            Subject::Principal(iam_id.to_owned())
        }
        "authorization" => Subject::Service {
            service: service(attr(subject_attrs, "serviceName"), "subjects")?,
            instance: instance(attr(subject_attrs, "serviceInstance"))?,
        },
        _ => return Err(invalid("type", "access or authorization")),
    };
    let resource = Resource {
        service: service(attr(resource_attrs, "serviceName"), "resources")?,
        instance: instance(attr(resource_attrs, "serviceInstance"))?,
        key_ring: attr(resource_attrs, "keyRing").map(str::to_owned),
    };
    if let Some(id) = resource.instance {
        store
            .find_instance(id)
            .await?
            .filter(|i| &i.account == account && i.service == resource.service)
            .ok_or(invalid(
                "serviceInstance",
                "an instance of that service in this account",
            ))?;
    }
    if resource.key_ring.is_some() && resource.service != ServiceKind::Kms {
        return Err(invalid("keyRing", "only on kms resources"));
    }
    let roles = body
        .roles
        .iter()
        .map(|r| r.role_id.parse::<Role>())
        .collect::<Result<Vec<_>, IamError>>()?;
    if roles.is_empty() {
        return Err(invalid("roles", "at least one role"));
    }
    Ok(Policy {
        id: Uuid::new_v4(),
        account: account.clone(),
        subject,
        roles,
        resource,
        created_at: OffsetDateTime::now_utc(),
    })
}

fn a(name: &str, value: impl Into<String>) -> Attribute {
    Attribute {
        name: name.to_owned(),
        value: value.into(),
    }
}

/// The wire form of a policy.
pub fn policy_body(p: &Policy) -> PolicyBody {
    let (kind, subject) = match &p.subject {
        Subject::Principal(iam_id) => ("access", vec![a("iam_id", iam_id.clone())]),
        Subject::Service { service, instance } => {
            let mut attrs = vec![a("serviceName", service.as_str())];
            attrs.extend(instance.map(|i| a("serviceInstance", i.to_string())));
            ("authorization", attrs)
        }
    };
    let mut resource = vec![
        a("accountId", p.account.as_str()),
        a("serviceName", p.resource.service.as_str()),
    ];
    resource.extend(
        p.resource
            .instance
            .map(|i| a("serviceInstance", i.to_string())),
    );
    resource.extend(p.resource.key_ring.clone().map(|r| a("keyRing", r)));
    PolicyBody {
        id: Some(p.id.to_string()),
        kind: kind.to_owned(),
        subjects: vec![Attributes {
            attributes: subject,
        }],
        roles: p
            .roles
            .iter()
            .map(|r| RoleRef {
                role_id: format!("crn:v1:bluemix:public:iam::::serviceRole:{}", r.as_str()),
            })
            .collect(),
        resources: vec![Attributes {
            attributes: resource,
        }],
        created_at: Some(date(p.created_at)),
    }
}

/// The caller's account, if the caller administers it (holds a role on `iam`).
pub async fn admin_account(
    state: &crate::state::SharedState,
    claims: &keyward_iam::Claims,
) -> Result<AccountId, ApiError> {
    if !state.iam.is_account_admin(claims).await? {
        return Err(ApiError::Kms(keyward_kms::KmsError::Forbidden));
    }
    Ok(claims.account.bss.parse()?)
}

/// Creates a service instance and grants its creator Manager (and KeyPurge on a KMS).
pub async fn provision_instance(
    store: &Store,
    account: &AccountId,
    service: ServiceKind,
    name: &str,
    creator: &str,
) -> Result<keyward_iam::Instance, ApiError> {
    if name.trim().is_empty() || name.chars().count() > 128 {
        return Err(invalid("name", "1 to 128 characters"));
    }
    let now = OffsetDateTime::now_utc();
    let instance = keyward_iam::Instance {
        id: Uuid::new_v4(),
        account: account.clone(),
        service,
        name: name.to_owned(),
        created_at: now,
    };
    store.create_instance(&instance).await?;
    let mut roles = vec![Role::Manager];
    if service == ServiceKind::Kms {
        roles.push(Role::KeyPurge);
    }
    store
        .create_policy(&Policy {
            id: Uuid::new_v4(),
            account: account.clone(),
            subject: Subject::Principal(creator.to_owned()),
            roles,
            resource: Resource {
                service,
                instance: Some(instance.id),
                key_ring: None,
            },
            created_at: now,
        })
        .await?;
    Ok(instance)
}

/// Grants `service` (e.g. the configuration service) `role` on a KMS instance of `account`:
/// the customer's service-to-service authorization.
pub async fn authorize_service(
    store: &Store,
    account: &AccountId,
    service: ServiceKind,
    kms_instance: Uuid,
    role: Role,
) -> Result<Policy, ApiError> {
    let policy = Policy {
        id: Uuid::new_v4(),
        account: account.clone(),
        subject: Subject::Service {
            service,
            instance: None,
        },
        roles: vec![role],
        resource: Resource {
            service: ServiceKind::Kms,
            instance: Some(kms_instance),
            key_ring: None,
        },
        created_at: OffsetDateTime::now_utc(),
    };
    store.create_policy(&policy).await?;
    Ok(policy)
}

/// Opens the store of a data directory (or PostgreSQL) and reads the bootstrap account, for the
/// `keyward iam` commands.
pub async fn open_account(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
) -> Result<(Store, AccountId), crate::BootstrapError> {
    let store = match database_url {
        Some(url) => Store::open_postgres(url, None).await?,
        None => {
            let path = data_dir.join("keyward.db");
            if !path.exists() {
                return Err(crate::BootstrapError::Setup(format!(
                    "no database at {}: run `keyward serve` once first",
                    path.display()
                )));
            }
            Store::open_sqlite(&path).await?
        }
    };
    let raw = store.setting("bootstrap").await?.ok_or_else(|| {
        crate::BootstrapError::Setup(
            "the database has not been bootstrapped: run `keyward serve` once first".into(),
        )
    })?;
    let info: crate::BootstrapInfo =
        serde_json::from_slice(&raw).map_err(|e| crate::BootstrapError::Setup(e.to_string()))?;
    let account = info.account_id.parse()?;
    Ok((store, account))
}
