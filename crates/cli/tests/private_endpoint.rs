//! `serve --private-listen`: the API on a second address, the private endpoint, where an
//! instance with an `allowedNetwork: private-only` policy is served, and only there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use keyward_client::Method;
use serde_json::json;

#[tokio::test]
async fn a_private_only_instance_is_served_on_the_private_endpoint_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = common::serve(&data, "127.0.0.1:0", &["--private-listen", "127.0.0.1:0"]);
    let public = common::started(&data, &mut server);
    let private = common::bootstrap(&data, "private_url");
    assert_ne!(public, private);
    let instance = common::bootstrap(&data, "kms_instance_id");
    let headers = [("bluemix-instance", instance.as_str())];
    let (on_public, on_private) = (
        common::admin_client(&public, &data, None),
        common::admin_client(&private, &data, None),
    );
    let policy = json!({"resources": [{"policy_type": "allowedNetwork",
        "policy_data": {"enabled": true, "attributes": {"allowed_network": "private-only"}}}]});
    let set = on_public
        .send(
            Method::PUT,
            "/api/v2/instance/policies",
            &headers,
            Some(&policy),
        )
        .await
        .unwrap();
    assert_eq!(set.status, 204, "{}", set.body);
    let refused = on_public
        .send(Method::GET, "/api/v2/keys", &headers, None)
        .await
        .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        refused.body["resources"][0]["reasons"][0]["code"],
        "PRIVATE_ENDPOINT_REQUIRED_ERR"
    );
    let served = on_private
        .send(Method::GET, "/api/v2/keys", &headers, None)
        .await
        .unwrap();
    assert_eq!(served.status, 200, "{}", served.body);
    common::stop(server);
}
