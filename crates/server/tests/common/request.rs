//! Requests through the router and their replies, with the Key Protect error assertions.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::ERROR_TYPE;

/// One request being built; it owns a handle on the router, so it can be sent from a spawned
/// task.
pub struct Call {
    router: Router,
    method: Method,
    uri: String,
    authorization: Option<String>,
    instance: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    client: Option<std::net::SocketAddr>,
    private: bool,
}

impl Call {
    /// A request with an `Authorization` value and a `Bluemix-Instance`.
    pub fn new(
        router: Router,
        method: Method,
        uri: &str,
        authorization: Option<String>,
        instance: Option<String>,
    ) -> Self {
        Self {
            router,
            method,
            uri: uri.to_owned(),
            authorization,
            instance,
            headers: Vec::new(),
            body: Vec::new(),
            client: None,
            private: false,
        }
    }

    /// Uses another bearer token.
    pub fn token(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }
    /// Sends this exact `Authorization` value.
    pub fn authorization(mut self, value: &str) -> Self {
        self.authorization = Some(value.to_owned());
        self
    }
    /// Sends no `Authorization`.
    pub fn no_auth(mut self) -> Self {
        self.authorization = None;
        self
    }
    /// Uses another `Bluemix-Instance`.
    pub fn instance(mut self, instance: &str) -> Self {
        self.instance = Some(instance.to_owned());
        self
    }
    /// Sends no `Bluemix-Instance`.
    pub fn no_instance(mut self) -> Self {
        self.instance = None;
        self
    }
    /// Comes from `client`, as a request over a socket does (none by default).
    pub fn from(mut self, client: &str) -> Self {
        self.client = Some(client.parse().expect("socket address"));
        self
    }
    /// Comes in on the private endpoint (`serve --private-listen`).
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    /// A JSON body (`application/json` unless a content type was set).
    pub fn json(mut self, body: &Value) -> Self {
        self.body = serde_json::to_vec(body).expect("serialize");
        self.default_content_type("application/json")
    }
    /// A raw body, with whatever content type was set (none by default).
    pub fn raw(mut self, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self
    }
    /// A form body.
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let encoded: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        self.body = encoded.join("&").into_bytes();
        self.default_content_type("application/x-www-form-urlencoded")
    }

    fn default_content_type(mut self, content_type: &str) -> Self {
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            self.headers
                .push(("content-type".into(), content_type.into()));
        }
        self
    }

    /// Sends the request and goes away before the answer, as a client whose connection closes
    /// mid-request: the router's future is polled once, then dropped.
    pub async fn abandon(self) {
        let router = self.router.clone();
        let answer = router.oneshot(self.request());
        let _ = tokio::time::timeout(std::time::Duration::ZERO, answer).await;
    }

    /// Sends the request through the router.
    pub async fn send(self) -> Reply {
        let request = self.request();
        let response = self
            .router
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    fn request(&self) -> Request<Body> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(&self.uri);
        if let Some(a) = &self.authorization {
            builder = builder.header("authorization", a);
        }
        if let Some(i) = &self.instance {
            builder = builder.header("bluemix-instance", i);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        if let Some(client) = self.client {
            builder = builder.extension(keyward_server::listener::ClientAddr(client));
        }
        if self.private {
            builder = builder.extension(keyward_server::listener::PrivateEndpoint);
        }
        builder
            .body(Body::from(self.body.clone()))
            .expect("request")
    }
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A response.
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text (for messages).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// Asserts the status.
    pub fn expect_status(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// `resources[0]` of a collection.
    pub fn resource(&self) -> Value {
        let v = self.json();
        assert!(
            v["resources"].is_array(),
            "not a collection: {}",
            self.text()
        );
        v["resources"][0].clone()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header text").to_owned())
    }

    /// Asserts `Content-Type: application/json`.
    pub fn assert_json_content_type(&self) {
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct == "application/json" || ct.starts_with("application/json;"),
            "content type {ct:?}"
        );
    }

    /// Asserts a Key Protect error body with status and reason code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status} {code}; body: {}",
            self.text()
        );
        self.assert_json_content_type();
        let v = self.json();
        assert_eq!(v["metadata"]["collectionType"], ERROR_TYPE, "{v}");
        assert_eq!(v["metadata"]["collectionTotal"], 1, "{v}");
        let resource = &v["resources"][0];
        let msg = resource["errorMsg"].as_str().unwrap_or_default();
        assert!(msg.contains(code), "errorMsg {msg:?} lacks {code}");
        let reason = &resource["reasons"][0];
        assert_eq!(reason["code"], code, "{v}");
        assert_eq!(reason["status"], status, "{v}");
        assert!(reason["message"].is_string(), "{v}");
        assert!(reason["moreInfo"].is_string(), "{v}");
    }

    /// Asserts a Key Protect error body without reasons (401, 400 instance header).
    pub fn assert_error_without_code(&self, status: u16, msg_part: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status}; body: {}",
            self.text()
        );
        self.assert_json_content_type();
        let v = self.json();
        assert_eq!(v["metadata"]["collectionType"], ERROR_TYPE, "{v}");
        let msg = v["resources"][0]["errorMsg"].as_str().unwrap_or_default();
        assert!(
            msg.contains(msg_part),
            "errorMsg {msg:?} lacks {msg_part:?}"
        );
    }

    /// `reasons[0].code`, or an empty string.
    pub fn code(&self) -> String {
        self.json()["resources"][0]["reasons"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}
