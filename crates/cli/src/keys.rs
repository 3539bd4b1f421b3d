//! `keyward keys`: the key commands for people and scripts, over HTTP, in the manner of
//! `ibmcloud kp`. `import` does the client's side of secure import: it makes an import token,
//! encrypts the material for it on this machine, and creates (or rotates) a root key with it, so
//! the material never crosses the wire in the clear.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;
use keyward_client::Method;
use keyward_crypto::SecretBytes;
use keyward_kms::seal_for_import;
use serde_json::{Value, json};

use crate::key_settings::{AliasCommand, PolicyCommand, run_alias, run_policy};
use crate::remote::{Output, Remote, cell, table};

const KEY_TYPE: &str = "application/vnd.ibm.kms.key+json";

/// Key commands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a root key (or `--standard` key) named NAME.
    Create {
        /// Its name.
        name: String,
        /// A standard key (its material can be read back) instead of a root key.
        #[arg(long)]
        standard: bool,
        /// An alias (repeatable).
        #[arg(long = "alias")]
        aliases: Vec<String>,
    },
    /// Import root key material through an import token (secure import): creates a root key
    /// named NAME, or with `--rotate KEY` gives an imported key new material.
    Import {
        /// The new key's name (not with `--rotate`).
        #[arg(required_unless_present = "rotate")]
        name: Option<String>,
        /// Rotate this imported key (id or alias) to the material instead of creating a key.
        #[arg(long, conflicts_with = "name")]
        rotate: Option<String>,
        /// A file holding the material: 16, 24 or 32 raw bytes; `-` reads standard input.
        #[arg(long)]
        material_file: PathBuf,
    },
    /// List the instance's keys.
    List,
    /// Show a key (id or alias).
    Show {
        /// The key.
        id: String,
    },
    /// Wrap a DEK (a new 32-byte one when `--plaintext` is not given).
    Wrap {
        /// The root key.
        id: String,
        /// The DEK, base64.
        #[arg(long)]
        plaintext: Option<String>,
        /// Additional authenticated data (repeatable).
        #[arg(long)]
        aad: Vec<String>,
    },
    /// Unwrap a wrapped DEK.
    Unwrap {
        /// The root key.
        id: String,
        /// The wrapped DEK, base64, as `wrap` printed it.
        #[arg(long)]
        ciphertext: String,
        /// The additional authenticated data it was wrapped with (repeatable).
        #[arg(long)]
        aad: Vec<String>,
    },
    /// Rewrap a wrapped DEK under the key's newest version (after a rotation).
    Rewrap {
        /// The root key.
        id: String,
        /// The wrapped DEK, base64.
        #[arg(long)]
        ciphertext: String,
        /// The additional authenticated data it was wrapped with (repeatable).
        #[arg(long)]
        aad: Vec<String>,
    },
    /// Rotate a root key (a new version; old ciphertexts still unwrap).
    Rotate {
        /// The key.
        id: String,
    },
    /// Disable a root key: it no longer wraps or unwraps.
    Disable {
        /// The key.
        id: String,
    },
    /// Enable a disabled root key.
    Enable {
        /// The key.
        id: String,
    },
    /// Delete a key (restorable for 30 days).
    Delete {
        /// The key.
        id: String,
        /// Also when resources are registered on it (removes the registrations).
        #[arg(long)]
        force: bool,
    },
    /// Restore a deleted key.
    Restore {
        /// The key.
        id: String,
    },
    /// Purge a deleted key for good (KeyPurge role, 4 hours after its deletion).
    Purge {
        /// The key.
        id: String,
    },
    /// Add or remove an alias.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Show or set a key's rotation and dual-authorization policies.
    #[command(subcommand)]
    Policies(PolicyCommand),
    /// List a key's versions, newest first.
    Versions {
        /// The key.
        id: String,
    },
    /// Let the configuration service use this instance's keys for its tenants' secrets (a
    /// service-to-service authorization, made through the IAM API).
    AuthorizeConfigsvc {
        /// Reader is enough to wrap, unwrap and register.
        #[arg(long, default_value = "Reader")]
        role: String,
    },
}

/// Runs a keys command.
pub async fn run(remote: &Remote, command: KeysCommand) -> Result<(), String> {
    use KeysCommand as K;
    match command {
        K::Create {
            name,
            standard,
            aliases,
        } => {
            let mut resource = json!({"type": KEY_TYPE, "name": name, "extractable": standard});
            if !aliases.is_empty() {
                resource["aliases"] = json!(aliases);
            }
            let body = collection(resource);
            let made = remote
                .call(Method::POST, "/api/v2/keys", &[], Some(&body))
                .await?;
            print_keys(remote.output, &made);
        }
        K::Import {
            name,
            rotate,
            material_file,
        } => import(remote, name, rotate, &material_file).await?,
        K::List => keys_call(remote, Method::GET, "/api/v2/keys?limit=5000", &[]).await?,
        K::Show { id } => show(remote, &id).await?,
        K::Wrap { id, plaintext, aad } => {
            let body = envelope_body(plaintext.map(|p| ("plaintext", p)), aad);
            let out = remote
                .call(Method::POST, &action(&id, "wrap"), &[], Some(&body))
                .await?;
            print_fields(
                remote.output,
                &out,
                &["ciphertext", "plaintext", "keyVersion"],
            );
        }
        K::Unwrap {
            id,
            ciphertext,
            aad,
        } => {
            let fields = ["plaintext", "keyVersion", "rewrappedKeyVersion"];
            on_ciphertext(remote, &id, "unwrap", ciphertext, aad, &fields).await?;
        }
        K::Rewrap {
            id,
            ciphertext,
            aad,
        } => {
            let fields = ["ciphertext", "keyVersion", "rewrappedKeyVersion"];
            on_ciphertext(remote, &id, "rewrap", ciphertext, aad, &fields).await?;
        }
        K::Purge { id } => {
            keys_call(
                remote,
                Method::DELETE,
                &format!("/api/v2/keys/{id}/purge"),
                &[("prefer", "return=representation")],
            )
            .await?;
        }
        K::Alias(command) => run_alias(remote, command).await?,
        K::Policies(command) => run_policy(remote, command).await?,
        K::Rotate { id } => state_change(remote, &id, "rotate").await?,
        K::Disable { id } => state_change(remote, &id, "disable").await?,
        K::Enable { id } => state_change(remote, &id, "enable").await?,
        K::Delete { id, force } => {
            let path = format!(
                "/api/v2/keys/{id}{}",
                if force { "?force=true" } else { "" }
            );
            keys_call(
                remote,
                Method::DELETE,
                &path,
                &[("prefer", "return=representation")],
            )
            .await?;
        }
        K::Restore { id } => {
            keys_call(
                remote,
                Method::POST,
                &format!("/api/v2/keys/{id}/restore"),
                &[],
            )
            .await?;
        }
        K::AuthorizeConfigsvc { role } => {
            let body = json!({"type": "authorization",
                "subjects": [{"attributes": [{"name": "serviceName", "value": "configsvc"}]}],
                "roles": [{"role_id": format!("crn:v1:bluemix:public:iam::::serviceRole:{role}")}],
                "resources": [{"attributes": [{"name": "serviceName", "value": "kms"},
                    {"name": "serviceInstance", "value": remote.instance()?}]}]});
            let made = remote
                .call(Method::POST, "/v1/policies", &[], Some(&body))
                .await?;
            match remote.output {
                Output::Json => println!("{made}"),
                Output::Table => println!(
                    "policy {}: configsvc has {role} on KMS instance {}",
                    cell(&made["id"]),
                    remote.instance()?
                ),
            }
        }
        K::Versions { id } => {
            let versions = remote
                .call(
                    Method::GET,
                    &format!("/api/v2/keys/{id}/versions"),
                    &[],
                    None,
                )
                .await?;
            match remote.output {
                Output::Json => println!("{versions}"),
                Output::Table => {
                    let rows: Vec<Vec<String>> = list(&versions)
                        .iter()
                        .map(|v| vec![cell(&v["id"]), cell(&v["creationDate"])])
                        .collect();
                    table(&["VERSION", "CREATED"], &rows);
                }
            }
        }
    }
    Ok(())
}

/// Prints a key's metadata (never its material).
async fn show(remote: &Remote, id: &str) -> Result<(), String> {
    keys_call(
        remote,
        Method::GET,
        &format!("/api/v2/keys/{id}/metadata"),
        &[],
    )
    .await
}

/// A call whose answer is a key collection, printed.
async fn keys_call(
    remote: &Remote,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(), String> {
    let body = remote.call(method, path, headers, None).await?;
    print_keys(remote.output, &body);
    Ok(())
}

/// Unwrap or rewrap: the ciphertext and its AAD in, `fields` of the answer printed.
async fn on_ciphertext(
    remote: &Remote,
    id: &str,
    name: &str,
    ciphertext: String,
    aad: Vec<String>,
    fields: &[&str],
) -> Result<(), String> {
    let body = envelope_body(Some(("ciphertext", ciphertext)), aad);
    let out = remote
        .call(Method::POST, &action(id, name), &[], Some(&body))
        .await?;
    print_fields(remote.output, &out, fields);
    Ok(())
}

/// A wrap or unwrap body: one base64 field, if any, and the AAD, if any.
fn envelope_body(field: Option<(&str, String)>, aad: Vec<String>) -> Value {
    let mut body = json!({});
    if let Some((name, value)) = field {
        body[name] = json!(value);
    }
    if !aad.is_empty() {
        body["aad"] = json!(aad);
    }
    body
}

fn collection(resource: Value) -> Value {
    json!({"metadata": {"collectionType": KEY_TYPE, "collectionTotal": 1}, "resources": [resource]})
}

fn action(id: &str, action: &str) -> String {
    format!("/api/v2/keys/{id}/actions/{action}")
}

fn list(body: &Value) -> Vec<Value> {
    body["resources"].as_array().cloned().unwrap_or_default()
}

async fn state_change(remote: &Remote, id: &str, name: &str) -> Result<(), String> {
    let key = remote
        .call(
            Method::POST,
            &action(id, name),
            &[("prefer", "return=representation")],
            None,
        )
        .await?;
    if key.is_null() {
        // Actions without a representation answer 204; show the key as it now is.
        show(remote, id).await?;
    } else {
        print_keys(remote.output, &key);
    }
    Ok(())
}

fn print_keys(output: Output, body: &Value) {
    match output {
        Output::Json => println!("{body}"),
        Output::Table => {
            let rows: Vec<Vec<String>> = list(body)
                .iter()
                .map(|k| {
                    vec![
                        cell(&k["id"]),
                        cell(&k["name"]),
                        state_name(&k["state"]).to_owned(),
                        if k["extractable"] == true {
                            "standard"
                        } else {
                            "root"
                        }
                        .to_owned(),
                        cell(&k["keyVersion"]["id"]),
                        cell(&k["aliases"]),
                    ]
                })
                .collect();
            table(
                &["ID", "NAME", "STATE", "TYPE", "VERSION", "ALIASES"],
                &rows,
            );
        }
    }
}

fn state_name(state: &Value) -> &'static str {
    match state.as_i64() {
        Some(0) => "Pre-activation",
        Some(1) => "Active",
        Some(2) => "Suspended",
        Some(3) => "Deactivated",
        Some(5) => "Destroyed",
        _ => "?",
    }
}

fn print_fields(output: Output, body: &Value, fields: &[&str]) {
    match output {
        Output::Json => println!("{body}"),
        Output::Table => {
            for field in fields {
                let value = match &body[*field] {
                    Value::Object(o) => o.get("id").map(cell).unwrap_or_default(),
                    other => cell(other),
                };
                if !value.is_empty() {
                    println!("{field}: {value}");
                }
            }
        }
    }
}

fn read_material(path: &PathBuf) -> Result<SecretBytes, String> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the material from standard input: {e}"))?;
    } else {
        bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the material from {}: {e}", path.display()))?;
    }
    let material = SecretBytes::new(bytes);
    if ![16, 24, 32].contains(&material.len()) {
        return Err(format!(
            "the material is {} bytes; a root key takes 16, 24 or 32 raw bytes",
            material.len()
        ));
    }
    Ok(material)
}

async fn import(
    remote: &Remote,
    name: Option<String>,
    rotate: Option<String>,
    material_file: &PathBuf,
) -> Result<(), String> {
    let material = read_material(material_file)?;
    let token_body = json!({"expiration": 600, "maxAllowedRetrievals": 1});
    remote
        .call(Method::POST, "/api/v2/import_token", &[], Some(&token_body))
        .await?;
    let token = remote
        .call(Method::GET, "/api/v2/import_token", &[], None)
        .await?;
    let pem = decode(&token["payload"], "payload")?;
    let pem = String::from_utf8(pem).map_err(|_| "the token's public key is not PEM text")?;
    let nonce = decode(&token["nonce"], "nonce")?;
    let sealed = seal_for_import(&pem, &nonce, &material).map_err(|e| e.to_string())?;
    let fields = json!({
        "payload": encode(&sealed.payload),
        "encryptedNonce": encode(&sealed.encrypted_nonce),
        "iv": encode(&sealed.iv),
        "encryptionAlgorithm": "RSAES_OAEP_SHA_256",
    });
    let key = match (name, rotate) {
        (_, Some(key)) => {
            remote
                .call(
                    Method::POST,
                    &action(&key, "rotate"),
                    &[("prefer", "return=representation")],
                    Some(&fields),
                )
                .await?
        }
        (Some(name), None) => {
            let mut resource = fields;
            resource["type"] = json!(KEY_TYPE);
            resource["name"] = json!(name);
            resource["extractable"] = json!(false);
            remote
                .call(
                    Method::POST,
                    "/api/v2/keys",
                    &[],
                    Some(&collection(resource)),
                )
                .await?
        }
        (None, None) => return Err("give a NAME or --rotate KEY".into()),
    };
    print_keys(remote.output, &key);
    Ok(())
}

fn decode(value: &Value, what: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    value
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or_else(|| format!("the import token has no base64 {what}"))
}

fn encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
