//! Credentials taken out of a request: each top-level field becomes one secret field holding
//! its JSON value. Never printed, never returned.

use std::collections::BTreeMap;

use keyward_crypto::SecretBytes;
use serde_json::{Map, Value};

use crate::error::ConfigError;

/// Decrypted or incoming credentials.
#[derive(Default)]
pub struct Credentials {
    fields: BTreeMap<String, SecretBytes>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// From an object of the request.
    pub fn from_object(object: Map<String, Value>) -> Result<Self, ConfigError> {
        let mut credentials = Self::default();
        for (name, value) in object {
            credentials.set(&name, &value)?;
        }
        Ok(credentials)
    }

    /// Sets one member (a JSON value from a request).
    pub fn set(&mut self, name: &str, value: &Value) -> Result<(), ConfigError> {
        if name.is_empty() || name.len() > 128 {
            return Err(ConfigError::Invalid(
                "credential field names are 1 to 128 characters",
            ));
        }
        let bytes = serde_json::to_vec(value)
            .map_err(|_| ConfigError::Invalid("credentials must be JSON"))?;
        self.fields.insert(name.to_owned(), SecretBytes::new(bytes));
        Ok(())
    }

    /// Removes one member; `false` if there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        self.fields.remove(name).is_some()
    }

    /// From decrypted secret fields.
    pub fn from_fields(fields: Vec<(String, SecretBytes)>) -> Self {
        Self {
            fields: fields.into_iter().collect(),
        }
    }

    /// The fields, to seal.
    pub fn fields(&self) -> Vec<(&str, &SecretBytes)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v)).collect()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// A field as text, for connecting to a database (the only declassification: the value
    /// goes to the database driver, nowhere else). Strings come without quotes; numbers and
    /// booleans as their JSON text.
    pub fn reveal(&self, name: &str) -> Option<String> {
        let raw = self.fields.get(name)?;
        match serde_json::from_slice::<Value>(raw.expose_secret()).ok()? {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

/// Takes the credentials object at `path` out of `entity`, leaving nothing there.
pub fn take_credentials(
    entity: &mut Map<String, Value>,
    path: &[&str],
) -> Result<Option<Credentials>, ConfigError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(None);
    };
    let mut node = entity;
    for p in parents {
        match node.get_mut(*p) {
            Some(Value::Object(next)) => node = next,
            _ => return Ok(None),
        }
    }
    match node.remove(*last) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Credentials::from_object(object).map(Some),
        Some(_) => Err(ConfigError::Invalid("credentials must be an object")),
    }
}

/// Puts `{"secret_id": id}` at `path` (creating parents).
pub fn put_secret_ref(entity: &mut Map<String, Value>, path: &[&str], secret_id: &str) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = entity;
    for p in parents {
        let next = node
            .entry((*p).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(next) = next else { return };
        node = next;
    }
    let mut reference = Map::new();
    reference.insert("secret_id".into(), Value::String(secret_id.to_owned()));
    node.insert((*last).to_owned(), Value::Object(reference));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_move_out_and_a_reference_moves_in() {
        let mut entity =
            json!({"name": "dm", "database_configuration": {"database_type": "postgresql",
            "credentials": {"hostname": "h", "password": "p", "port": 5432}}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let path = ["database_configuration", "credentials"];
        let creds = take_credentials(&mut entity, &path).ok().flatten();
        let creds = creds.unwrap_or_default();
        assert_eq!(creds.reveal("password").as_deref(), Some("p"));
        assert_eq!(creds.reveal("port").as_deref(), Some("5432"));
        assert!(!format!("{creds:?}").contains("\"p\""));
        put_secret_ref(&mut entity, &path, "s1");
        let text = Value::Object(entity).to_string();
        assert!(!text.contains("\"p\""));
        assert!(text.contains(r#""credentials":{"secret_id":"s1"}"#));
    }
}
