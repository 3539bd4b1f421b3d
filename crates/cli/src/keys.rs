//! `keyward keys`: key commands for people, over HTTP. For now `import`, the client's side of
//! secure import: it makes an import token, encrypts the material for it on this machine, and
//! creates (or rotates) a root key with it, so the material never crosses the wire in the clear.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use keyward_client::{Client, Method, RetryPolicy};
use keyward_crypto::SecretBytes;
use keyward_kms::seal_for_import;
use serde_json::{Value, json};

/// Key commands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Import root key material through an import token (secure import): creates a root key
    /// named NAME, or with `--rotate KEY` gives an imported key new material. The API key comes
    /// from `KEYWARD_APIKEY`, never from a flag.
    Import(ImportArgs),
}

/// `keyward keys import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The new key's name (not with `--rotate`).
    #[arg(required_unless_present = "rotate")]
    name: Option<String>,
    /// Rotate this imported key (id or alias) to the material instead of creating a key.
    #[arg(long, conflicts_with = "name")]
    rotate: Option<String>,
    /// A file holding the material: 16, 24 or 32 raw bytes; `-` reads standard input.
    #[arg(long)]
    material_file: PathBuf,
    /// Keyward's URL.
    #[arg(long, env = "KEYWARD_URL")]
    url: String,
    /// The KMS instance.
    #[arg(long, env = "KEYWARD_INSTANCE")]
    instance: String,
    /// A PEM bundle of CA certificates to trust besides the system's.
    #[arg(long, env = "KEYWARD_CACERT")]
    cacert: Option<PathBuf>,
}

/// Runs a keys command.
pub async fn run(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Import(args) => import(args).await,
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

async fn import(args: ImportArgs) -> Result<(), String> {
    let material = read_material(&args.material_file)?;
    let apikey = std::env::var("KEYWARD_APIKEY")
        .map_err(|_| "set KEYWARD_APIKEY to the API key to act with".to_owned())?;
    let ca = match &args.cacert {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)
        }
        None => None,
    };
    let client = Client::trusting(
        &args.url,
        &args.url,
        apikey,
        Duration::from_secs(60),
        RetryPolicy::default(),
        ca.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let call = |method: Method, path: &'static str, body: Option<Value>| {
        let client = &client;
        let instance = args.instance.clone();
        async move {
            let path = path.to_owned();
            let reply = client
                .send(
                    method,
                    &path,
                    &[("bluemix-instance", &instance)],
                    body.as_ref(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if !(200..300).contains(&reply.status) {
                return Err(refusal(&path, reply.status, &reply.body));
            }
            Ok::<Value, String>(reply.body)
        }
    };
    call(
        Method::POST,
        "/api/v2/import_token",
        Some(json!({"expiration": 600, "maxAllowedRetrievals": 1})),
    )
    .await?;
    let token = call(Method::GET, "/api/v2/import_token", None).await?;
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
    let key = match (&args.name, &args.rotate) {
        (_, Some(key)) => {
            let path = format!("/api/v2/keys/{key}/actions/rotate");
            let reply = client
                .send(
                    Method::POST,
                    &path,
                    &[
                        ("bluemix-instance", args.instance.as_str()),
                        ("prefer", "return=representation"),
                    ],
                    Some(&fields),
                )
                .await
                .map_err(|e| e.to_string())?;
            if !(200..300).contains(&reply.status) {
                return Err(refusal(&path, reply.status, &reply.body));
            }
            reply.body
        }
        (Some(name), None) => {
            let mut resource = fields;
            resource["type"] = json!("application/vnd.ibm.kms.key+json");
            resource["name"] = json!(name);
            resource["extractable"] = json!(false);
            call(
                Method::POST,
                "/api/v2/keys",
                Some(
                    json!({"metadata": {"collectionType": "application/vnd.ibm.kms.key+json",
                    "collectionTotal": 1}, "resources": [resource]}),
                ),
            )
            .await?
        }
        (None, None) => return Err("give a NAME or --rotate KEY".into()),
    };
    let resource = &key["resources"][0];
    println!(
        "{}",
        json!({
            "id": resource["id"],
            "crn": resource["crn"],
            "imported": resource["imported"],
            "keyVersion": resource["keyVersion"]["id"],
        })
    );
    Ok(())
}

/// One line: the endpoint, the status and Key Protect's reason code.
fn refusal(path: &str, status: u16, body: &Value) -> String {
    let reason = &body["resources"][0]["reasons"][0];
    format!(
        "{path}: HTTP {status} {} {}",
        reason["code"].as_str().unwrap_or(""),
        reason["message"].as_str().unwrap_or("")
    )
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
