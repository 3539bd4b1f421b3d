//! `/metrics`: requests counted by route template and status with their latency, the DEK cache
//! and re-encryption gauges, in Prometheus's text format; served by the metrics router only,
//! never on the API's port.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestServer;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let server = TestServer::start().await;
    let key = server.root_key("measured").await;
    for _ in 0..3 {
        server.wrap_new(&key).await;
    }
    server.action(&key, "disable").await.expect_status(204);
    server
        .get("/no/such/path/with/a/tenant/id/in/it")
        .send()
        .await
        .expect_status(404);
    let text = keyward_server::metrics::render(&server.state).await;

    let create = r#"keyward_http_requests_total{method="POST",route="/api/v2/keys",status="201"}"#;
    assert_eq!(value(&text, create), Some(1.0), "{text}");
    let wraps = r#"{method="POST",route="/api/v2/keys/{id}/actions/{action}",status="200"}"#;
    assert_eq!(
        value(&text, &format!("keyward_http_requests_total{wraps}")),
        Some(3.0)
    );
    assert_eq!(
        value(
            &text,
            &format!("keyward_http_request_duration_seconds_count{wraps}")
        ),
        Some(3.0)
    );
    let inf = r#"keyward_http_request_duration_seconds_bucket{method="POST",route="/api/v2/keys/{id}/actions/{action}",status="200",le="+Inf"}"#;
    assert_eq!(value(&text, inf), Some(3.0));
    // Buckets only grow, and every path no route matched is one series.
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("keyward_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v2/keys/{id}/actions/{action}\",status=\"200\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(text.contains(r#"route="unmatched",status="404""#));
    assert!(!text.contains("/no/such/path"));
    assert!(!text.contains(&key), "no key id in a label");

    for gauge in [
        "keyward_dek_cache_hits_total",
        "keyward_dek_cache_misses_total",
        "keyward_dek_cache_evictions_total",
        "keyward_dek_cache_entries",
        "keyward_reencryption_jobs",
        "keyward_reencryption_fields_done",
        "keyward_reencryption_fields_total",
    ] {
        assert!(value(&text, gauge).is_some(), "{gauge} missing:\n{text}");
    }
    assert_eq!(value(&text, "keyward_metrics_database_up"), Some(1.0));
    // The disable's key event was heard, and how late.
    assert!(
        value(&text, "keyward_key_event_lag_seconds_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(text.contains(r#"keyward_key_event_lag_seconds_bucket{le="+Inf"}"#));
    // Every sample line is `name{labels} value` or `name value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, number) = line.rsplit_once(' ').expect("a value");
        assert!(number.parse::<f64>().is_ok(), "{line}");
        assert!(
            series
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase()),
            "{line}"
        );
    }
}

#[tokio::test]
async fn key_provider_calls_are_counted_by_operation() {
    let server = TestServer::start().await;
    let before = keyward_server::metrics::render(&server.state).await;
    let registered = r#"keyward_key_provider_calls_total{operation="register"}"#;
    assert_eq!(value(&before, registered), Some(0.0), "{before}");
    // A tenant put under a customer key: the key is registered and a DEK made under it.
    let _tenant = server.customer_tenant().await;
    let after = keyward_server::metrics::render(&server.state).await;
    for operation in ["register", "generate_dek"] {
        let calls = format!(r#"keyward_key_provider_calls_total{{operation="{operation}"}}"#);
        assert!(
            value(&after, &calls).is_some_and(|n| n >= 1.0),
            "{operation}:\n{after}"
        );
    }
    for operation in keyward_secrets::OPERATIONS {
        let errors = format!(r#"keyward_key_provider_errors_total{{operation="{operation}"}}"#);
        assert!(value(&after, &errors).is_some(), "{errors}");
    }
}

#[tokio::test]
async fn an_instance_with_the_metrics_policy_gets_its_own_counters() {
    let server = TestServer::start().await;
    let (foreign, manager) = server.foreign_instance().await;
    let key = server.root_key("counted").await;
    let before = keyward_server::metrics::render(&server.state).await;
    assert!(
        !before.contains(&server.instance),
        "no counters before the policy"
    );
    server
        .call(axum::http::Method::PUT, "/api/v2/instance/policies")
        .json(&serde_json::json!({"resources": [{"policy_type": "metrics",
            "policy_data": {"enabled": true}}]}))
        .send()
        .await
        .expect_status(204);
    for _ in 0..2 {
        server.wrap_new(&key).await;
    }
    server
        .get("/api/v2/keys")
        .token(&manager.token)
        .instance(&foreign)
        .send()
        .await
        .expect_status(200);
    let text = keyward_server::metrics::render(&server.state).await;
    let wraps = format!(
        r#"keyward_instance_requests_total{{instance="{}",method="POST",route="/api/v2/keys/{{id}}/actions/{{action}}"}}"#,
        server.instance
    );
    assert_eq!(value(&text, &wraps), Some(2.0), "{text}");
    assert!(
        !text.contains(&foreign),
        "an instance without the policy is not counted"
    );
}

#[tokio::test]
async fn metrics_are_served_by_their_own_router_only() {
    let server = TestServer::start().await;
    // Not on the API's port, not even for the administrator.
    server.get("/metrics").send().await.expect_status(404);
    server
        .get("/metrics")
        .no_auth()
        .no_instance()
        .send()
        .await
        .expect_status(404);
    let reply = keyward_server::metrics::router(server.state.clone())
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain; version=0.0.4")
    );
    let body = reply.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("# TYPE keyward_http_requests_total counter"));
}
