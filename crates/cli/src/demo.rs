//! `keyward demo`: the two cases of the source document against a running server, step by step,
//! ending with checks that every secret still decrypts and no old wrapped DEK remains.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use keyward_client::{Client, Method, RetryPolicy};
use serde_json::{Value, json};

/// Arguments.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Data directory of the running server (for its URL, admin API key and KMS instance).
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "./keyward-data")]
    data_dir: PathBuf,
    /// The PostgreSQL the demo data marts use (the customer's database); prefer the
    /// environment variable when the URL has a password.
    #[arg(
        long,
        env = "KEYWARD_DEMO_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test",
        hide_env_values = true
    )]
    database_url: String,
    /// PEM CA certificates to trust for an HTTPS server, besides the system's and the public
    /// roots (e.g. the ca.pem of `keyward tls self-signed`).
    #[arg(long, env = "KEYWARD_CACERT")]
    cacert: Option<PathBuf>,
}

struct Demo {
    c: Client,
    kms: String,
    failures: Vec<String>,
}

fn step(text: &str) {
    println!("  - {text}");
}

fn check(ok: bool, what: &str, failures: &mut Vec<String>) {
    if ok {
        println!("    ok: {what}");
    } else {
        println!("    FAILED: {what}");
        failures.push(what.to_owned());
    }
}

fn db_credentials(url: &str) -> Result<(Value, String), String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or("the demo database URL must start with postgres://")?;
    let (auth, hostpart) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let (user, password) = auth
        .split_once(':')
        .unwrap_or((auth, "unused-with-trust-auth"));
    let (hostport, db) = hostpart.split_once('/').unwrap_or((hostpart, "postgres"));
    let db = db.split('?').next().unwrap_or(db);
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    let port: u16 = port
        .parse()
        .map_err(|_| "bad port in the demo database URL")?;
    let schema = format!(
        "keyward_demo_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    Ok((
        json!({"hostname": host, "port": port, "username": user, "password": password, "db": db, "ssl": false}),
        schema,
    ))
}

impl Demo {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let headers: Vec<(&str, &str)> = if path.starts_with("/api/v2") {
            vec![("bluemix-instance", self.kms.as_str())]
        } else {
            vec![]
        };
        let r = self
            .c
            .send(method.clone(), path, &headers, body.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        if !(200..300).contains(&r.status) {
            return Err(format!("{method} {path}: HTTP {} {}", r.status, r.body));
        }
        Ok(r.body)
    }

    async fn instance(&self, name: &str) -> Result<String, String> {
        let r = self
            .call(
                Method::POST,
                "/v2/resource_instances",
                Some(json!({"name": name, "service": "configsvc"})),
            )
            .await?;
        r["guid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no guid".into())
    }

    async fn protection(&self, instance: &str) -> Result<Value, String> {
        Ok(self
            .call(
                Method::GET,
                &format!("/openscale/{instance}/v2/user_preferences"),
                None,
            )
            .await?["key_protection"]
            .clone())
    }

    async fn wait_protected_by(&self, instance: &str, root: &str) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let p = self.protection(instance).await?;
            if p["switching_to"].is_null() && p["root_key"] == root {
                return Ok(());
            }
            if let Some(progress) = p["progress"].as_object() {
                step(&format!(
                    "re-encrypting: {} of {} fields done",
                    progress["done"], progress["total"]
                ));
            }
            if start.elapsed() > Duration::from_secs(120) {
                return Err("the re-encryption did not finish within 2 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn data_mart(
        &self,
        instance: &str,
        creds: &Value,
        schema: &str,
    ) -> Result<String, String> {
        let body = json!({"name": "demo", "database_configuration": {"database_type": "postgresql", "credentials": creds, "location": {"schema_name": schema}}});
        self.call(
            Method::POST,
            &format!("/openscale/{instance}/v2/data_marts"),
            Some(body),
        )
        .await?;
        self.wait_data_mart(instance).await
    }

    async fn wait_data_mart(&self, instance: &str) -> Result<String, String> {
        let start = Instant::now();
        loop {
            let dm = self
                .call(
                    Method::GET,
                    &format!("/openscale/{instance}/v2/data_marts/{instance}"),
                    None,
                )
                .await?;
            let state = dm["entity"]["status"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if state != "preparing" {
                if state == "error" {
                    step(&format!(
                        "data mart failure: {}",
                        dm["entity"]["status"]["failure"]["errors"][0]["message"]
                    ));
                }
                return Ok(state);
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err("the data mart stayed in preparing".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn set_key(&self, instance: &str, crn: &str) -> Result<(), String> {
        self.call(
            Method::PUT,
            &format!("/openscale/{instance}/v2/user_preferences/user_root_key_crn"),
            Some(json!({"user_root_key_crn": crn})),
        )
        .await
        .map(|_| ())
    }

    async fn final_check(&mut self, instance: &str, expected_root: &str) -> Result<(), String> {
        let r = self
            .call(
                Method::GET,
                &format!("/openscale/{instance}/v2/secrets_check"),
                None,
            )
            .await?;
        let gens = r["generations"].as_array().cloned().unwrap_or_default();
        let decrypted = r["fields_decrypted"].as_u64().unwrap_or(0);
        let failures = r["failures"].as_array().map_or(0, Vec::len);
        check(
            failures == 0 && decrypted > 0,
            &format!(
                "{instance}: all {} secrets decrypt ({decrypted} fields)",
                r["secrets"]
            ),
            &mut self.failures,
        );
        check(
            gens.len() == 1
                && gens[0]["status"] == "current"
                && gens[0]["root_key"] == expected_root,
            &format!(
                "{instance}: one DEK generation, under {expected_root}; no old wrapped DEK remains"
            ),
            &mut self.failures,
        );
        Ok(())
    }
}

/// Runs the demo; `Err` (non-zero exit) when a step or check fails.
pub async fn run(args: DemoArgs) -> Result<(), String> {
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(args.data_dir.join("bootstrap.json")).map_err(|e| {
            format!("cannot read bootstrap.json (is the server running with this --data-dir?): {e}")
        })?,
    )
    .map_err(|e| e.to_string())?;
    let url = info["url"]
        .as_str()
        .ok_or("bootstrap.json has no url")?
        .to_owned();
    let apikey = std::fs::read_to_string(args.data_dir.join("admin.apikey"))
        .map_err(|e| format!("cannot read admin.apikey: {e}"))?;
    let ca = match &args.cacert {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)
        }
        None => None,
    };
    let c = Client::trusting(
        &url,
        &url,
        apikey.trim().to_owned(),
        Duration::from_secs(30),
        RetryPolicy::default(),
        ca.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let kms = info["kms_instance_id"]
        .as_str()
        .ok_or("bootstrap.json has no kms_instance_id")?
        .to_owned();
    let mut demo = Demo {
        c,
        kms,
        failures: Vec::new(),
    };
    let (creds, schema1) = db_credentials(&args.database_url)?;

    println!(
        "Setup: the customer's root key in KMS instance {}",
        demo.kms
    );
    let key = demo
        .call(Method::POST, "/api/v2/keys", Some(json!({"resources": [{"type": "application/vnd.ibm.kms.key+json", "name": "demo-byok", "extractable": false}]})))
        .await?;
    let crn = key["resources"][0]["crn"]
        .as_str()
        .ok_or("no crn")?
        .to_owned();
    step(&format!("root key CRN: {crn}"));
    demo.call(
        Method::POST,
        "/v1/policies",
        Some(json!({"type": "authorization",
            "subjects": [{"attributes": [{"name": "serviceName", "value": "configsvc"}]}],
            "roles": [{"role_id": "crn:v1:bluemix:public:iam::::serviceRole:Reader"}],
            "resources": [{"attributes": [{"name": "serviceName", "value": "kms"}, {"name": "serviceInstance", "value": demo.kms}]}]})),
    )
    .await?;
    step(
        "granted the configuration service Reader on the KMS instance (service-to-service authorization)",
    );

    println!("\nCase 1: the key first");
    let one = demo.instance("demo-case-1").await?;
    step(&format!("provisioned configuration-service instance {one}"));
    demo.set_key(&one, &crn).await?;
    step("set user_root_key_crn before any other configuration");
    let p = demo.protection(&one).await?;
    step(&format!(
        "secrets of {one} are protected by: {}",
        p["root_key"].as_str().unwrap_or("?")
    ));
    let state = demo.data_mart(&one, &creds, &schema1).await?;
    step(&format!(
        "created the data mart; the service decrypted its password with a DEK from the customer's key and connected: state {state}"
    ));
    let mut failures = std::mem::take(&mut demo.failures);
    check(
        state == "active",
        "case 1 data mart is active",
        &mut failures,
    );
    demo.failures = failures;

    println!("\nCase 2: the key later");
    let two = demo.instance("demo-case-2").await?;
    step(&format!("provisioned configuration-service instance {two}"));
    let (_, schema2) = db_credentials(&args.database_url)?;
    let state = demo.data_mart(&two, &creds, &schema2).await?;
    demo.call(
        Method::POST,
        &format!("/openscale/{two}/v2/service_providers"),
        Some(json!({"name": "demo-ml", "service_type": "custom_machine_learning", "credentials": {"url": "https://ml.example", "username": "svc", "password": "demo-password"}})),
    )
    .await?;
    let p = demo.protection(&two).await?;
    step(&format!(
        "data mart ({state}) and a service provider created; their secrets are protected by: {}",
        p["root_key"].as_str().unwrap_or("?")
    ));
    demo.set_key(&two, &crn).await?;
    step(
        "set user_root_key_crn: all instance secrets are re-encrypted under a new DEK from the customer's key",
    );
    demo.wait_protected_by(&two, &crn).await?;
    let p = demo.protection(&two).await?;
    step(&format!(
        "secrets of {two} are now protected by: {}",
        p["root_key"].as_str().unwrap_or("?")
    ));
    demo.call(Method::PATCH, &format!("/openscale/{two}/v2/data_marts/{two}"), Some(json!([{"op": "add", "path": "/description", "value": "reconnected under the customer's key"}])))
        .await?;
    let state = demo.wait_data_mart(&two).await?;
    step(&format!(
        "the data mart reconnected with the password decrypted under the customer's key: state {state}"
    ));
    let mut failures = std::mem::take(&mut demo.failures);
    check(
        state == "active",
        "case 2 data mart is active under the customer's key",
        &mut failures,
    );
    demo.failures = failures;
    demo.call(
        Method::DELETE,
        &format!("/openscale/{two}/v2/user_preferences/user_root_key_crn"),
        None,
    )
    .await?;
    step("deleted user_root_key_crn: all instance secrets are re-encrypted under the global key");
    demo.wait_protected_by(&two, "global").await?;
    step(&format!(
        "secrets of {two} are protected by: {}",
        demo.protection(&two).await?["root_key"]
            .as_str()
            .unwrap_or("?")
    ));

    println!("\nChecks");
    demo.final_check(&one, &crn).await?;
    demo.final_check(&two, "global").await?;
    if demo.failures.is_empty() {
        println!("\nDemo passed.");
        Ok(())
    } else {
        Err(format!("{} check(s) failed", demo.failures.len()))
    }
}
