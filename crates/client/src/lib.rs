//! A small Rust client for Keyward's (and IBM's) IAM and JSON APIs: API-key → bearer token with
//! refresh, timeouts, retries with backoff on connection errors, 429 and 5xx (a timed-out
//! attempt is not retried: it already waited its whole timeout), and a circuit breaker that
//! refuses calls at once while the service keeps failing.

mod breaker;

pub use breaker::BreakerPolicy;

use std::collections::HashMap;
use std::sync::Once;
use std::time::{Duration, Instant};

pub use reqwest::Method;
use serde_json::Value;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection, timeout, or repeated 429/5xx.
    #[error("the service is unreachable: {0}")]
    Unreachable(String),
    /// The token request was refused.
    #[error("the API key was refused (HTTP {0})")]
    Unauthorized(u16),
    /// The response was not what the API promises.
    #[error("unexpected response: {0}")]
    Protocol(String),
}

/// A JSON response.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Parsed body (`Null` when empty or not JSON).
    pub body: Value,
}

/// How requests are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all.
    pub attempts: u32,
    /// First backoff; doubled each time.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            backoff: Duration::from_millis(100),
        }
    }
}

/// A client authenticated by an API key.
pub struct Client {
    http: reqwest::Client,
    base: String,
    iam: String,
    apikey: Zeroizing<String>,
    tokens: Mutex<HashMap<Option<String>, CachedToken>>,
    retry: RetryPolicy,
    breaker: breaker::Breaker,
}

/// What went wrong with a request, without its URL (which may carry a query), with its causes.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A token and when to fetch a new one.
type CachedToken = (Zeroizing<String>, Instant);

/// Most cached tokens (one per source instance a service acts for).
const MAX_CACHED_TOKENS: usize = 10_000;

static CRYPTO: Once = Once::new();

impl Client {
    /// A client for `base_url` whose tokens come from `<iam_url>/identity/token`.
    pub fn new(
        base_url: &str,
        iam_url: &str,
        apikey: String,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, ClientError> {
        Self::trusting(base_url, iam_url, apikey, timeout, retry, None)
    }

    /// [`Client::new`] that also trusts the CA certificates of a PEM bundle (a private CA, or
    /// the one `keyward tls self-signed` writes). Certificates are always verified: against the
    /// system's roots, the public web roots, and these.
    pub fn trusting(
        base_url: &str,
        iam_url: &str,
        apikey: String,
        timeout: Duration,
        retry: RetryPolicy,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        CRYPTO.call_once(|| {
            // Ignored if another part of the process installed it first.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        });
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout);
        if let Some(pem) = ca_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Protocol(format!("CA certificates: {e}")))?;
            if roots.is_empty() {
                return Err(ClientError::Protocol(
                    "CA certificates: no PEM certificate found".into(),
                ));
            }
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            iam: iam_url.trim_end_matches('/').to_owned(),
            apikey: Zeroizing::new(apikey),
            tokens: Mutex::new(HashMap::new()),
            retry,
            breaker: breaker::Breaker::new(BreakerPolicy::default()),
        })
    }

    /// The same client with another circuit breaker policy.
    #[must_use]
    pub fn with_breaker(mut self, policy: BreakerPolicy) -> Self {
        self.breaker = breaker::Breaker::new(policy);
        self
    }

    /// Takes a token obtained earlier (a command-line login keeps one between commands) as the
    /// current one until `refresh_at`; a 401 still fetches a new one.
    pub async fn seed_token(&self, token: Zeroizing<String>, refresh_at: Instant) {
        self.tokens.lock().await.insert(None, (token, refresh_at));
    }

    /// The current token (of the API key itself, not acting for an instance) and when it will
    /// be fetched again.
    pub async fn current_token(&self) -> Option<(Zeroizing<String>, Instant)> {
        self.tokens.lock().await.get(&None).cloned()
    }

    /// A bearer token, fetched again 5 minutes before it expires.
    pub async fn token(&self) -> Result<Zeroizing<String>, ClientError> {
        self.token_for(None).await
    }

    /// A bearer token for a service acting for `source_instance` (Keyward's own services only:
    /// the KMS then applies the service-to-service authorizations that name that instance).
    pub async fn token_for(
        &self,
        source_instance: Option<&str>,
    ) -> Result<Zeroizing<String>, ClientError> {
        let mut cached = self.tokens.lock().await;
        let slot = source_instance.map(str::to_owned);
        if let Some((token, until)) = cached.get(&slot)
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let mut form = vec![
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", self.apikey.as_str()),
        ];
        if let Some(source) = source_instance {
            form.push(("source_instance", source));
        }
        let url = format!("{}/identity/token", self.iam);
        let mut last = String::new();
        for attempt in 0..self.retry.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.retry.backoff * 2u32.pow(attempt - 1)).await;
            }
            let response = match self.http.post(&url).form(&form).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = describe(&e);
                    if e.is_timeout() {
                        break;
                    }
                    continue;
                }
            };
            let status = response.status().as_u16();
            if status == 429 || status >= 500 {
                last = format!("HTTP {status}");
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(ClientError::Unauthorized(status));
            }
            let body: Value = response
                .json()
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            let token = body
                .get("access_token")
                .and_then(Value::as_str)
                .ok_or_else(|| ClientError::Protocol("no access_token".into()))?;
            let lifetime = body
                .get("expires_in")
                .and_then(Value::as_u64)
                .unwrap_or(3600);
            let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(300).max(30));
            let token = Zeroizing::new(token.to_owned());
            if cached.len() >= MAX_CACHED_TOKENS {
                let now = Instant::now();
                cached.retain(|_, (_, until)| *until > now);
                if cached.len() >= MAX_CACHED_TOKENS {
                    cached.clear();
                }
            }
            cached.insert(slot, (token.clone(), until));
            return Ok(token);
        }
        Err(ClientError::Unreachable(last))
    }

    /// Sends a JSON request to `path` (relative to the base URL) with the bearer token and
    /// `headers`; retries on connection errors, 429 and 5xx. A 401 refreshes the token once.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        self.send_for(None, method, path, headers, body).await
    }

    /// [`Client::send`] with a token for `source_instance` (see [`Client::token_for`]). While
    /// the circuit is open (the last calls all found the service unreachable), it fails at once.
    pub async fn send_for(
        &self,
        source_instance: Option<&str>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        if let Err(refused) = self.breaker.admit() {
            return Err(ClientError::Unreachable(format!(
                "the last {} calls failed (last: {}); calls are refused for {} s more (circuit open)",
                self.breaker.policy().open_after,
                refused.cause,
                refused.wait.as_secs_f64().ceil()
            )));
        }
        let result = self
            .send_attempts(source_instance, method, path, headers, body)
            .await;
        self.breaker.record(match &result {
            Err(ClientError::Unreachable(why)) => Some(why),
            _ => None,
        });
        result
    }

    async fn send_attempts(
        &self,
        source_instance: Option<&str>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut last = String::new();
        let mut refreshed = false;
        let mut attempt = 0;
        while attempt < self.retry.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.retry.backoff * 2u32.pow(attempt - 1)).await;
            }
            attempt += 1;
            let token = self.token_for(source_instance).await?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.as_str());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = describe(&e);
                    if e.is_timeout() {
                        break;
                    }
                    continue;
                }
            };
            let status = response.status().as_u16();
            if status == 401 && !refreshed {
                refreshed = true;
                self.tokens
                    .lock()
                    .await
                    .remove(&source_instance.map(str::to_owned));
                attempt -= 1;
                continue;
            }
            if status == 429 || status >= 500 {
                last = format!("HTTP {status}");
                continue;
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Ok(Reply { status, body });
        }
        Err(ClientError::Unreachable(last))
    }
}
