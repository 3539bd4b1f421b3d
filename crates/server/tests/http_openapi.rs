//! `GET /openapi.json`: served to anyone (it describes the API, it holds nothing of an account),
//! OpenAPI 3.1, and what it says about authentication matches what the server does. The full
//! check of every described operation against the live server is `tests/openapi/run.sh`
//! (openapi-spec-validator and schemathesis).

mod common;

use common::TestServer;
use serde_json::Value;

async fn description(server: &TestServer) -> Value {
    let reply = server
        .get("/openapi.json")
        .no_auth()
        .no_instance()
        .send()
        .await
        .expect_status(200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    reply.json()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .iter()
                .map(|(method, op)| (method.to_uppercase(), path.clone(), op.clone()))
        })
        .collect()
}

#[tokio::test]
async fn the_description_is_openapi_3_1_with_the_bearer_scheme_and_the_instance_header() {
    let server = TestServer::start().await;
    let doc = description(&server).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["iam_token"]["scheme"],
        "bearer"
    );
    let ops = operations(&doc);
    assert!(ops.len() >= 60, "{} operations", ops.len());
    for (method, path, op) in &ops {
        assert!(
            op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|r| r.starts_with("#/components/schemas/")),
            "{method} {path} has no error response"
        );
        let instance_header = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "bluemix-instance" && p["in"] == "header");
        if path.starts_with("/api/v2/keys") || path.starts_with("/api/v2/key_rings") {
            assert!(instance_header, "{method} {path} lacks bluemix-instance");
        }
    }
    // The test clock's route exists only on a test server and is never described.
    assert!(doc["paths"].get("/admin/test-clock").is_none());
}

#[tokio::test]
async fn every_operation_said_to_need_a_token_refuses_a_request_without_one() {
    let server = TestServer::start().await;
    let doc = description(&server).await;
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("iam_token").is_some()));
        // Concrete values for the path's parameters; the refusal comes before they matter.
        let uri = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "00000000-0000-4000-8000-000000000000"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let status = server
            .call(method.parse().expect("method"), &uri)
            .no_auth()
            .send()
            .await
            .status
            .as_u16();
        if secured {
            assert_eq!(status, 401, "{method} {path} without a token");
            checked += 1;
        } else {
            assert_ne!(status, 401, "{method} {path} is described as public");
        }
    }
    assert!(checked >= 55, "only {checked} secured operations");
}
