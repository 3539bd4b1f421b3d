//! `KeyProvider` over Key Protect's v2 REST API: ours, or IBM's. The CRN's cname and region pick
//! the endpoint from configuration; the service authenticates with its own API key (tokens are
//! refreshed by the client); requests time out and are retried with backoff on 429 and 5xx.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward_client::{Client, Method, Reply, RetryPolicy};
use keyward_crypto::SecretBytes;
use serde_json::{Value, json};

use crate::crn::RootKeyCrn;
use crate::error::ProviderError;
use crate::model::{RootKey, TenantId};
use crate::provider::{KeyProvider, NewDek, OpenedDek};

/// One Key Protect endpoint.
pub struct Endpoint {
    /// CRN cname it serves (`keyward`, `bluemix`, ...).
    pub cname: String,
    /// CRN region it serves.
    pub region: String,
    /// Base URL of the KMS API.
    pub url: String,
    /// Base URL of the IAM token endpoint.
    pub iam_url: String,
}

/// The HTTP provider for customer keys. The global key is not served here.
pub struct KeyProtectProvider {
    clients: HashMap<(String, String), Client>,
    resource_crn: Box<dyn Fn(TenantId) -> String + Send + Sync>,
}

fn reason(reply: &Reply) -> String {
    reply.body["resources"][0]["reasons"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

impl KeyProtectProvider {
    /// A provider for `endpoints`, authenticating with `apikey`; `resource_crn` names a tenant's
    /// resource for registrations.
    pub fn new(
        endpoints: Vec<Endpoint>,
        apikey: &str,
        timeout: Duration,
        resource_crn: Box<dyn Fn(TenantId) -> String + Send + Sync>,
    ) -> Result<Self, ProviderError> {
        let mut clients = HashMap::new();
        for e in endpoints {
            let client = Client::new(
                &e.url,
                &e.iam_url,
                apikey.to_owned(),
                timeout,
                RetryPolicy::default(),
            )
            .map_err(|err| ProviderError::Other(err.to_string()))?;
            clients.insert((e.cname, e.region), client);
        }
        Ok(Self {
            clients,
            resource_crn,
        })
    }

    /// Whether a CRN has a configured endpoint.
    pub fn serves(&self, crn: &RootKeyCrn) -> bool {
        self.clients
            .contains_key(&(crn.cname.clone(), crn.region.clone()))
    }

    async fn call(
        &self,
        root: &RootKey,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, ProviderError> {
        let RootKey::Customer(crn) = root else {
            return Err(ProviderError::UnknownEndpoint);
        };
        let client = self
            .clients
            .get(&(crn.cname.clone(), crn.region.clone()))
            .ok_or(ProviderError::UnknownEndpoint)?;
        let instance = crn.instance.to_string();
        let reply = client
            .send(
                method,
                &format!("/api/v2/keys/{}{path}", crn.key),
                &[("bluemix-instance", instance.as_str())],
                body.as_ref(),
            )
            .await
            .map_err(|e| match e {
                keyward_client::ClientError::Unauthorized(_) => ProviderError::NotAuthorized,
                keyward_client::ClientError::Unreachable(_) => ProviderError::Unreachable,
                keyward_client::ClientError::Protocol(detail) => ProviderError::Other(detail),
            })?;
        Ok(reply)
    }

    /// Maps a refusal; a 409 asks the key's metadata whether it is disabled or expired.
    async fn refusal(&self, root: &RootKey, reply: &Reply) -> ProviderError {
        match reply.status {
            401 | 403 => ProviderError::NotAuthorized,
            404 => ProviderError::KeyNotFound,
            410 => ProviderError::KeyDeleted,
            422 => ProviderError::UnwrapFailed,
            400 if reason(reply) == "KEY_ROOT_REQ_ERR" => ProviderError::NotRootKey,
            409 => match self.check_key(root).await {
                Err(e) => e,
                Ok(()) => ProviderError::KeyExpired,
            },
            status => ProviderError::Other(format!("HTTP {status} {}", reason(reply))),
        }
    }
}

fn decode(value: &Value, field: &str) -> Result<Vec<u8>, ProviderError> {
    let text = value[field]
        .as_str()
        .ok_or_else(|| ProviderError::Other(format!("the KMS response has no {field}")))?;
    STANDARD
        .decode(text)
        .map_err(|_| ProviderError::Other(format!("the KMS response's {field} is not base64")))
}

impl KeyProvider for KeyProtectProvider {
    async fn generate_dek(&self, root: &RootKey) -> Result<NewDek, ProviderError> {
        let reply = self.call(root, Method::POST, "/actions/wrap", None).await?;
        if reply.status != 200 {
            return Err(self.refusal(root, &reply).await);
        }
        Ok(NewDek {
            dek: SecretBytes::new(decode(&reply.body, "plaintext")?),
            wrapped: decode(&reply.body, "ciphertext")?,
        })
    }

    async fn unwrap_dek(&self, root: &RootKey, wrapped: &[u8]) -> Result<OpenedDek, ProviderError> {
        let body = json!({"ciphertext": STANDARD.encode(wrapped)});
        let reply = self
            .call(root, Method::POST, "/actions/unwrap", Some(body))
            .await?;
        if reply.status != 200 {
            return Err(self.refusal(root, &reply).await);
        }
        let rewrapped = if reply.body.get("rewrappedKeyVersion").is_some() {
            Some(decode(&reply.body, "ciphertext")?)
        } else {
            None
        };
        Ok(OpenedDek {
            dek: SecretBytes::new(decode(&reply.body, "plaintext")?),
            rewrapped,
        })
    }

    async fn check_key(&self, root: &RootKey) -> Result<(), ProviderError> {
        let reply = self.call(root, Method::GET, "/metadata", None).await?;
        match reply.status {
            200 => {}
            401 | 403 => return Err(ProviderError::NotAuthorized),
            404 => return Err(ProviderError::KeyNotFound),
            410 => return Err(ProviderError::KeyDeleted),
            status => {
                return Err(ProviderError::Other(format!(
                    "HTTP {status} {}",
                    reason(&reply)
                )));
            }
        }
        let key = &reply.body["resources"][0];
        if key["extractable"].as_bool() == Some(true) {
            return Err(ProviderError::NotRootKey);
        }
        match key["state"].as_i64() {
            Some(1 | 3) => Ok(()),
            Some(2) => Err(ProviderError::KeyDisabled),
            Some(5) => Err(ProviderError::KeyDeleted),
            _ => Err(ProviderError::Other(
                "the key is in an unknown state".into(),
            )),
        }
    }

    async fn register(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let crn = (self.resource_crn)(tenant).replace('/', "%2F");
        let body = json!({"resources": [{"description": "configsvc instance secrets", "preventKeyDeletion": false}]});
        let reply = self
            .call(
                root,
                Method::POST,
                &format!("/registrations/{crn}"),
                Some(body),
            )
            .await?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(self.refusal(root, &reply).await)
        }
    }

    async fn deregister(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let crn = (self.resource_crn)(tenant).replace('/', "%2F");
        let reply = self
            .call(root, Method::DELETE, &format!("/registrations/{crn}"), None)
            .await?;
        match reply.status {
            200..=299 | 404 | 410 => Ok(()),
            _ => Err(self.refusal(root, &reply).await),
        }
    }
}
