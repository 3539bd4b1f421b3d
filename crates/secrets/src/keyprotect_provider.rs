//! `KeyProvider` over Key Protect's v2 REST API: ours, or IBM's. The CRN's cname and region pick
//! the endpoint from configuration; the service authenticates with its own API key (tokens are
//! refreshed by the client); requests time out and are retried with backoff on 429 and 5xx, and
//! an endpoint that keeps failing is given a rest by its circuit breaker (calls fail at once).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward_api::keyprotect::{
    CiphertextRequest, Collection, KeyStateView, REGISTRATION_TYPE, RegistrationRequest,
    UnwrapResponse, WrapRequest, WrapResponse,
};
use keyward_client::{BreakerPolicy, Client, Method, Reply, RetryPolicy};
use keyward_crypto::SecretBytes;
use serde_json::Value;

use crate::crn::RootKeyCrn;
use crate::error::ProviderError;
use crate::model::{RootKey, TenantId};
use crate::provider::{KeyProvider, NewDek, OpenedDek, WrappedDek, dek_aad};
use crate::routing::Serves;

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

/// The KMS's explanation of a refusal.
fn explanation(reply: &Reply) -> String {
    let message = &reply.body["resources"][0]["reasons"][0]["message"];
    message
        .as_str()
        .unwrap_or("the KMS refused the service's credentials")
        .chars()
        .take(512)
        .collect()
}

/// A refusal, with what the service is missing: the KMS does not tell a service whether an
/// instance it has no access to exists, but the service knows which key it asked for.
fn not_authorized(root: &RootKey, tenant: TenantId, reply: &Reply) -> ProviderError {
    let missing = match root {
        RootKey::Customer(crn) => format!(
            "no service-to-service authorization lets configsvc instance {tenant} use KMS instance {} of account {} (the KMS said: {})",
            crn.instance,
            crn.account,
            explanation(reply)
        ),
        RootKey::Global => explanation(reply),
    };
    ProviderError::NotAuthorized { missing }
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
        breaker: BreakerPolicy,
        ca_pem: Option<&[u8]>,
        resource_crn: Box<dyn Fn(TenantId) -> String + Send + Sync>,
    ) -> Result<Self, ProviderError> {
        let mut clients = HashMap::new();
        for e in endpoints {
            let client = Client::trusting(
                &e.url,
                &e.iam_url,
                apikey.to_owned(),
                timeout,
                RetryPolicy::default(),
                ca_pem,
            )
            .map_err(|err| ProviderError::Other(err.to_string()))?
            .with_breaker(breaker);
            clients.insert((e.cname, e.region), client);
        }
        Ok(Self {
            clients,
            resource_crn,
        })
    }

    /// Whether a CRN has a configured endpoint.
    pub fn serves_crn(&self, crn: &RootKeyCrn) -> bool {
        self.clients
            .contains_key(&(crn.cname.clone(), crn.region.clone()))
    }

    /// One call for `tenant`, with a token that names it as the source instance.
    async fn call(
        &self,
        root: &RootKey,
        tenant: TenantId,
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
        let source = tenant.to_string();
        let reply = client
            .send_for(
                Some(&source),
                method,
                &format!("/api/v2/keys/{}{path}", crn.key),
                &[("bluemix-instance", instance.as_str())],
                body.as_ref(),
            )
            .await
            .map_err(|e| match e {
                keyward_client::ClientError::Unauthorized(status) => ProviderError::NotAuthorized {
                    missing: format!("the KMS's IAM refused the service's API key (HTTP {status})"),
                },
                keyward_client::ClientError::Unreachable(why) => ProviderError::Unreachable(why),
                keyward_client::ClientError::Protocol(detail) => ProviderError::Other(detail),
            })?;
        Ok(reply)
    }

    /// Maps a refusal; a 409 asks the key's metadata whether it is disabled or expired.
    async fn refusal(&self, root: &RootKey, tenant: TenantId, reply: &Reply) -> ProviderError {
        match reply.status {
            401 | 403 => not_authorized(root, tenant, reply),
            404 => ProviderError::KeyNotFound,
            410 => ProviderError::KeyDeleted,
            422 => ProviderError::UnwrapFailed,
            400 if reason(reply) == "KEY_ROOT_REQ_ERR" => ProviderError::NotRootKey,
            409 => match self.check_key(root, tenant).await {
                Err(e) => e,
                Ok(()) => ProviderError::KeyExpired,
            },
            status => ProviderError::Other(format!("HTTP {status} {}", reason(reply))),
        }
    }
}

fn decode(text: &str, field: &str) -> Result<Vec<u8>, ProviderError> {
    STANDARD
        .decode(text)
        .map_err(|_| ProviderError::Other(format!("the KMS response's {field} is not base64")))
}

/// A request's body as JSON.
fn to_body(body: &impl serde::Serialize) -> Result<Value, ProviderError> {
    serde_json::to_value(body).map_err(|e| ProviderError::Other(e.to_string()))
}

/// A successful reply's body as the API describes it.
fn answer<T: serde::de::DeserializeOwned>(reply: Reply) -> Result<T, ProviderError> {
    serde_json::from_value(reply.body)
        .map_err(|e| ProviderError::Other(format!("the KMS's answer is not as described: {e}")))
}

impl Serves for KeyProtectProvider {
    fn serves(&self, root: &RootKey) -> bool {
        matches!(root, RootKey::Customer(crn) if self.serves_crn(crn))
    }
}

impl KeyProvider for KeyProtectProvider {
    fn polled(&self, root: &RootKey) -> bool {
        self.serves(root)
    }

    async fn generate_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> Result<NewDek, ProviderError> {
        let body = WrapRequest {
            plaintext: None,
            aad: Some(dek_aad(tenant)),
        };
        let reply = self
            .call(
                root,
                tenant,
                Method::POST,
                "/actions/wrap",
                Some(to_body(&body)?),
            )
            .await?;
        if reply.status != 200 {
            return Err(self.refusal(root, tenant, &reply).await);
        }
        let wrapped: WrapResponse = answer(reply)?;
        let plaintext = wrapped
            .plaintext
            .ok_or_else(|| ProviderError::Other("the KMS generated no DEK".into()))?;
        Ok(NewDek {
            dek: SecretBytes::new(decode(&plaintext, "plaintext")?),
            wrapped: decode(&wrapped.ciphertext, "ciphertext")?,
        })
    }

    async fn unwrap_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> Result<OpenedDek, ProviderError> {
        let body = CiphertextRequest {
            ciphertext: Some(STANDARD.encode(wrapped.ciphertext)),
            aad: wrapped.tenant_bound.then(|| dek_aad(tenant)),
        };
        let reply = self
            .call(
                root,
                tenant,
                Method::POST,
                "/actions/unwrap",
                Some(to_body(&body)?),
            )
            .await?;
        if reply.status != 200 {
            return Err(self.refusal(root, tenant, &reply).await);
        }
        let opened: UnwrapResponse = answer(reply)?;
        let rewrapped = match (opened.rewrapped_key_version, opened.ciphertext) {
            (Some(_), Some(ciphertext)) => Some(decode(&ciphertext, "ciphertext")?),
            _ => None,
        };
        Ok(OpenedDek {
            dek: SecretBytes::new(decode(&opened.plaintext, "plaintext")?),
            rewrapped,
        })
    }

    async fn check_key(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let reply = self
            .call(root, tenant, Method::GET, "/metadata", None)
            .await?;
        match reply.status {
            200 => {}
            401 | 403 => return Err(not_authorized(root, tenant, &reply)),
            404 => return Err(ProviderError::KeyNotFound),
            410 => return Err(ProviderError::KeyDeleted),
            status => {
                return Err(ProviderError::Other(format!(
                    "HTTP {status} {}",
                    reason(&reply)
                )));
            }
        }
        let keys: Collection<KeyStateView> = answer(reply)?;
        let key = keys
            .resources
            .first()
            .ok_or_else(|| ProviderError::Other("the KMS returned no key".into()))?;
        if key.extractable {
            return Err(ProviderError::NotRootKey);
        }
        match key.state {
            1 | 3 => Ok(()),
            2 => Err(ProviderError::KeyDisabled),
            5 => Err(ProviderError::KeyDeleted),
            _ => Err(ProviderError::Other(
                "the key is in an unknown state".into(),
            )),
        }
    }

    async fn register(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let crn = (self.resource_crn)(tenant).replace('/', "%2F");
        let body = Collection::new(
            REGISTRATION_TYPE,
            vec![RegistrationRequest {
                description: Some("configsvc instance secrets".into()),
                prevent_key_deletion: false,
            }],
        );
        let reply = self
            .call(
                root,
                tenant,
                Method::POST,
                &format!("/registrations/{crn}"),
                Some(to_body(&body)?),
            )
            .await?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(self.refusal(root, tenant, &reply).await)
        }
    }

    async fn deregister(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let crn = (self.resource_crn)(tenant).replace('/', "%2F");
        let reply = self
            .call(
                root,
                tenant,
                Method::DELETE,
                &format!("/registrations/{crn}"),
                None,
            )
            .await?;
        match reply.status {
            200..=299 | 404 | 410 => Ok(()),
            _ => Err(self.refusal(root, tenant, &reply).await),
        }
    }
}
