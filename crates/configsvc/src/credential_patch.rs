//! JSON patches against a resource whose credentials are write-only. The patch is split: the
//! operations on the rest of the entity apply to the entity document; the operations on the
//! credentials apply to the typed [`Credentials`], never to a JSON document. Nothing can read a
//! credential: `copy`, `move` and `test` that name one (or a parent of one) are refused.

use serde_json::{Map, Value};

use crate::credentials::Credentials;
use crate::error::ConfigError;
use crate::model::ResourceKind;
use crate::patch::{PatchOp, tokens};

/// One change to the credentials.
#[derive(Debug, PartialEq)]
pub(crate) enum CredentialOp {
    /// Replace them whole with this object.
    ReplaceAll(Map<String, Value>),
    /// Remove them.
    RemoveAll,
    /// Set one member.
    Set(String, Value),
    /// Remove one member.
    Remove(String),
}

/// A patch split at the credentials.
#[derive(Debug, Default)]
pub(crate) struct SplitPatch {
    /// Operations on the rest of the entity, in order.
    pub entity: Vec<PatchOp>,
    /// Operations on the credentials, in order.
    pub credentials: Vec<CredentialOp>,
}

/// Where a JSON pointer points relative to the credentials.
enum Place {
    Outside,
    /// The credentials object, a parent of it, or the whole document.
    Parent,
    Whole,
    Member(String),
    /// Below a member.
    Deeper,
}

fn place(pointer: &str, credentials: &[&str]) -> Result<Place, ConfigError> {
    let path = tokens(pointer)?;
    let shared = path
        .iter()
        .zip(credentials)
        .take_while(|(a, b)| a.as_str() == **b)
        .count();
    if shared < path.len().min(credentials.len()) {
        return Ok(Place::Outside);
    }
    Ok(match path.len().cmp(&credentials.len()) {
        std::cmp::Ordering::Less => Place::Parent,
        std::cmp::Ordering::Equal => Place::Whole,
        std::cmp::Ordering::Greater if path.len() == credentials.len() + 1 => {
            Place::Member(path[credentials.len()].clone())
        }
        std::cmp::Ordering::Greater => Place::Deeper,
    })
}

const WRITE_ONLY: &str = "credentials are write-only: copy, move and test cannot name them";

/// Splits `ops` for a resource of `kind`.
pub(crate) fn split(kind: ResourceKind, ops: &[PatchOp]) -> Result<SplitPatch, ConfigError> {
    let creds = kind.credentials_path();
    let mut out = SplitPatch::default();
    for op in ops {
        if let Some(from) = &op.from
            && !matches!(place(from, creds)?, Place::Outside)
        {
            return Err(ConfigError::Invalid(WRITE_ONLY));
        }
        let target = place(&op.path, creds)?;
        if matches!(target, Place::Outside) {
            out.entity.push(op.clone());
            continue;
        }
        let value = || {
            op.value
                .clone()
                .ok_or(ConfigError::Invalid("add and replace need \"value\""))
        };
        let change = match (op.op.as_str(), target) {
            ("copy" | "move" | "test", _) => return Err(ConfigError::Invalid(WRITE_ONLY)),
            (_, Place::Parent) => {
                return Err(ConfigError::Invalid(
                    "a patch cannot replace or remove a parent of the credentials: patch its other members one by one",
                ));
            }
            (_, Place::Deeper) => {
                return Err(ConfigError::Invalid(
                    "credential members are replaced whole: patch .../credentials/<member>",
                ));
            }
            ("add" | "replace", Place::Whole) => match value()? {
                Value::Object(object) => CredentialOp::ReplaceAll(object),
                _ => return Err(ConfigError::Invalid("credentials must be an object")),
            },
            ("remove", Place::Whole) => CredentialOp::RemoveAll,
            ("add" | "replace", Place::Member(name)) => CredentialOp::Set(name, value()?),
            ("remove", Place::Member(name)) => CredentialOp::Remove(name),
            _ => {
                return Err(ConfigError::Invalid(
                    "patch operations are add, replace, remove, copy, move and test",
                ));
            }
        };
        out.credentials.push(change);
    }
    Ok(out)
}

/// Credential members that say where a data mart connects and as whom: changing one without
/// sending the password would send the stored password somewhere else.
const CONNECTION_MEMBERS: &[&str] = &[
    "hostname", "host", "port", "db", "database", "dbname", "username", "user",
];

/// Refuses a change of where a data mart connects that does not also set the password.
pub(crate) fn require_password_with_new_target(
    kind: ResourceKind,
    ops: &[CredentialOp],
) -> Result<(), ConfigError> {
    if kind != ResourceKind::DataMart {
        return Ok(());
    }
    let member = |op: &CredentialOp| match op {
        CredentialOp::Set(name, _) | CredentialOp::Remove(name) => Some(name.clone()),
        _ => None,
    };
    let retargets = ops
        .iter()
        .filter_map(member)
        .any(|m| CONNECTION_MEMBERS.contains(&m.as_str()));
    let sets_password = ops.iter().any(|op| {
        matches!(op, CredentialOp::Set(name, _) if name == "password")
            || matches!(op, CredentialOp::ReplaceAll(_))
    });
    if retargets && !sets_password {
        return Err(ConfigError::Invalid(
            "changing the hostname, port, database or username of a data mart needs the password in the same request",
        ));
    }
    Ok(())
}

/// Applies the credential changes; `current` gives the stored credentials when a member change
/// needs them. `None` in the result: no credentials any more.
pub(crate) async fn apply_credentials<F, Fut>(
    ops: Vec<CredentialOp>,
    current: F,
) -> Result<Option<Credentials>, ConfigError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Credentials>, ConfigError>>,
{
    let mut current = Some(current);
    let mut result: Option<Option<Credentials>> = None;
    for op in ops {
        match op {
            CredentialOp::ReplaceAll(object) => {
                result = Some(Some(Credentials::from_object(object)?));
            }
            CredentialOp::RemoveAll => result = Some(None),
            CredentialOp::Set(name, value) => {
                let creds = member_target(&mut result, &mut current).await?;
                creds.set(&name, &value)?;
            }
            CredentialOp::Remove(name) => {
                let creds = member_target(&mut result, &mut current).await?;
                if !creds.remove(&name) {
                    return Err(ConfigError::Invalid(
                        "a patch removes a credential member that does not exist",
                    ));
                }
            }
        }
    }
    Ok(result.flatten().filter(|c| !c.is_empty()))
}

async fn member_target<'a, F, Fut>(
    result: &'a mut Option<Option<Credentials>>,
    current: &mut Option<F>,
) -> Result<&'a mut Credentials, ConfigError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Credentials>, ConfigError>>,
{
    if result.is_none() {
        let load = current
            .take()
            .ok_or(ConfigError::Invalid("credentials changed twice"))?;
        *result = Some(load().await?);
    }
    let slot = result.get_or_insert(None);
    Ok(slot.get_or_insert_with(Credentials::default))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::ops;
    use serde_json::json;

    fn refused(kind: ResourceKind, patch: Value) -> bool {
        split(kind, &ops(patch)).is_err()
    }

    #[test]
    fn nothing_reads_a_credential() {
        let dm = ResourceKind::DataMart;
        for bad in [
            json!([{"op": "copy", "from": "/database_configuration/credentials/password", "path": "/description"}]),
            json!([{"op": "move", "from": "/database_configuration/credentials", "path": "/description"}]),
            json!([{"op": "copy", "from": "/database_configuration", "path": "/x"}]),
            json!([{"op": "copy", "from": "", "path": "/x"}]),
            json!([{"op": "test", "path": "/database_configuration/credentials/password", "value": "guess"}]),
            json!([{"op": "test", "path": "/database_configuration", "value": {}}]),
            json!([{"op": "replace", "path": "/database_configuration", "value": {}}]),
            json!([{"op": "remove", "path": "/database_configuration"}]),
            json!([{"op": "replace", "path": "/database_configuration/credentials/password/0", "value": "x"}]),
            json!([{"op": "copy", "from": "/description", "path": "/database_configuration/credentials/password"}]),
        ] {
            assert!(refused(dm, bad.clone()), "{bad}");
        }
        let sp = ResourceKind::ServiceProvider;
        assert!(refused(
            sp,
            json!([{"op": "copy", "from": "/credentials/apikey", "path": "/name"}])
        ));
        // Escaped pointers are the same member.
        assert!(refused(
            dm,
            json!([{"op": "test", "path": "/database_configuration/credentials/pass~1word", "value": 1}])
        ));
    }

    #[test]
    fn entity_and_credential_operations_are_split() {
        let p = split(
            ResourceKind::DataMart,
            &ops(json!([
                {"op": "replace", "path": "/description", "value": "d"},
                {"op": "replace", "path": "/database_configuration/credentials/password", "value": "p"},
                {"op": "add", "path": "/database_configuration/location/schema_name", "value": "s"},
                {"op": "copy", "from": "/description", "path": "/name"},
                {"op": "remove", "path": "/database_configuration/credentials/ssl"},
                {"op": "replace", "path": "/database_configuration/credentials", "value": {"a": 1}},
            ])),
        )
        .unwrap_or_default();
        assert_eq!(p.entity.len(), 3);
        assert_eq!(
            p.credentials,
            vec![
                CredentialOp::Set("password".into(), json!("p")),
                CredentialOp::Remove("ssl".into()),
                CredentialOp::ReplaceAll(json!({"a": 1}).as_object().cloned().unwrap_or_default()),
            ]
        );
    }

    #[test]
    fn a_new_target_needs_the_password() {
        let dm = ResourceKind::DataMart;
        let host = CredentialOp::Set("hostname".into(), json!("elsewhere"));
        let password = CredentialOp::Set("password".into(), json!("p"));
        assert!(require_password_with_new_target(dm, std::slice::from_ref(&host)).is_err());
        assert!(require_password_with_new_target(dm, &[host, password]).is_ok());
        let other = CredentialOp::Set("sslmode".into(), json!("require"));
        assert!(require_password_with_new_target(dm, &[other]).is_ok());
        let user = CredentialOp::Remove("username".into());
        assert!(require_password_with_new_target(dm, std::slice::from_ref(&user)).is_err());
        assert!(require_password_with_new_target(ResourceKind::ServiceProvider, &[user]).is_ok());
    }
}
