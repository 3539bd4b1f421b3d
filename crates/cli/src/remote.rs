//! The connection of the commands for people: where Keyward is, which KMS instance, which
//! API key (from `keyward login` or `KEYWARD_APIKEY`), and how to print what comes back.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use keyward_client::{Client, Method, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Options every remote command takes.
#[derive(Args, Clone)]
pub struct Connection {
    /// Keyward's URL (default: the one `keyward login` saved).
    #[arg(long, env = "KEYWARD_URL", global = true)]
    url: Option<String>,
    /// The KMS instance (default: the one `keyward login` saved).
    #[arg(long, env = "KEYWARD_INSTANCE", global = true)]
    instance: Option<String>,
    /// A PEM bundle of CA certificates to trust besides the system's.
    #[arg(long, env = "KEYWARD_CACERT", global = true)]
    cacert: Option<PathBuf>,
    /// `table` for people, `json` for scripts (stable: the API's own fields).
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// The API's JSON.
    Json,
}

/// What `keyward login` keeps (0600): the URL, the instance and the API key, from which each
/// command uses the kept token until 5 minutes before it expires, then gets a new one with the
/// API key (Keyward refreshes tokens by the API key, as IBM Cloud IAM does).
#[derive(Serialize, Deserialize)]
struct Saved {
    url: String,
    instance: Option<String>,
    apikey: String,
    /// The last token, so that commands in a row do not each ask for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<SavedToken>,
}

/// A token kept with the login, and when (Unix seconds) to fetch the next one: 5 minutes
/// before it expires.
#[derive(Serialize, Deserialize, Clone)]
struct SavedToken {
    access_token: String,
    refresh_at: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl SavedToken {
    /// The client's current token, with its refresh time on the wall clock.
    async fn of(client: &Client) -> Option<Self> {
        let (token, refresh_at) = client.current_token().await?;
        let left = refresh_at.saturating_duration_since(std::time::Instant::now());
        Some(Self {
            access_token: token.to_string(),
            refresh_at: unix_now() + left.as_secs(),
        })
    }

    /// Seeds `client` with this token while it is still good.
    async fn seed(&self, client: &Client) {
        let left = self.refresh_at.saturating_sub(unix_now());
        if left > 0 {
            client
                .seed_token(
                    zeroize::Zeroizing::new(self.access_token.clone()),
                    std::time::Instant::now() + Duration::from_secs(left),
                )
                .await;
        }
    }
}

/// Where the login is kept: `$KEYWARD_CONFIG_DIR`, else `$XDG_CONFIG_HOME/keyward`, else
/// `~/.config/keyward`.
fn login_file() -> Option<PathBuf> {
    let dir = std::env::var_os("KEYWARD_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("keyward")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/keyward")))?;
    Some(dir.join("login.json"))
}

fn saved() -> Option<Saved> {
    let text = std::fs::read_to_string(login_file()?).ok()?;
    serde_json::from_str(&text).ok()
}

/// A connected client.
pub struct Remote {
    client: Client,
    instance: Option<String>,
    /// The token kept with the login, when this client uses the saved login's API key.
    kept: Option<std::sync::Mutex<Option<SavedToken>>>,
    /// How to print.
    pub output: Output,
}

impl Connection {
    /// A client: the URL and instance given or saved, the API key from `KEYWARD_APIKEY` or the
    /// saved login.
    pub async fn connect(&self) -> Result<Remote, String> {
        let saved = saved();
        let url = self
            .url
            .clone()
            .or_else(|| saved.as_ref().map(|s| s.url.clone()))
            .ok_or("no URL: give --url, set KEYWARD_URL, or run keyward login")?;
        let from_env = std::env::var("KEYWARD_APIKEY").ok();
        // The kept token is the saved login's, for its URL: not for another key or server.
        let kept = match (&from_env, &saved) {
            (None, Some(s)) if s.url == url => Some(s.token.clone()),
            _ => None,
        };
        let apikey = from_env
            .or_else(|| saved.as_ref().map(|s| s.apikey.clone()))
            .ok_or("not logged in: run keyward login, or set KEYWARD_APIKEY")?;
        let instance = self
            .instance
            .clone()
            .or_else(|| saved.and_then(|s| s.instance));
        let client = client(&url, apikey, self.cacert.as_ref())?;
        if let Some(Some(token)) = &kept {
            token.seed(&client).await;
        }
        Ok(Remote {
            client,
            instance,
            kept: kept.map(std::sync::Mutex::new),
            output: self.output,
        })
    }
}

fn client(url: &str, apikey: String, cacert: Option<&PathBuf>) -> Result<Client, String> {
    let ca = match cacert {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)
        }
        None => None,
    };
    Client::trusting(
        url,
        url,
        apikey,
        Duration::from_secs(60),
        RetryPolicy::default(),
        ca.as_deref(),
    )
    .map_err(|e| e.to_string())
}

impl Remote {
    /// The instance, required.
    pub fn instance(&self) -> Result<&str, String> {
        self.instance
            .as_deref()
            .ok_or_else(|| "no instance: give --instance, set KEYWARD_INSTANCE, or run keyward login --instance".into())
    }

    /// A call with the KMS instance header; a refusal is one line with its reason code.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        // The audit trail is the account's, not an instance's.
        if path.starts_with("/api/v2") && !path.starts_with("/api/v2/audit/") {
            all.push(("bluemix-instance", self.instance()?));
        }
        let reply = self
            .client
            .send(method.clone(), path, &all, body)
            .await
            .map_err(|e| e.to_string())?;
        self.keep_token().await;
        if !(200..300).contains(&reply.status) {
            return Err(refusal(&method, path, reply.status, &reply.body));
        }
        Ok(reply.body)
    }

    /// Saves the client's token with the login when it changed (fetched or refreshed).
    async fn keep_token(&self) {
        let Some(kept) = &self.kept else {
            return;
        };
        let current = SavedToken::of(&self.client).await;
        {
            let Ok(mut last) = kept.lock() else {
                return;
            };
            // The same token: its refresh time, read back through the clock, may differ by a
            // second; nothing to write.
            let token = |t: &Option<SavedToken>| t.as_ref().map(|t| t.access_token.clone());
            if token(&last) == token(&current) {
                return;
            }
            last.clone_from(&current);
        }
        if let Some(mut login) = saved() {
            login.token = current;
            if let Err(e) = save(&login) {
                eprintln!("warning: the token could not be kept: {e}");
            }
        }
    }
}

/// `METHOD path: HTTP status CODE message`.
pub fn refusal(method: &Method, path: &str, status: u16, body: &Value) -> String {
    let reason = &body["resources"][0]["reasons"][0];
    let code = reason["code"]
        .as_str()
        .or_else(|| body["errors"][0]["code"].as_str())
        .unwrap_or("");
    let message = reason["message"]
        .as_str()
        .or_else(|| body["errors"][0]["message"].as_str())
        .or_else(|| body["errorMessage"].as_str())
        .unwrap_or("");
    format!("{method} {path}: HTTP {status} {code} {message}")
        .trim_end()
        .to_owned()
}

/// `keyward login`.
#[derive(Args)]
pub struct LoginArgs {
    /// Keyward's URL.
    #[arg(long, env = "KEYWARD_URL")]
    url: String,
    /// The KMS instance the key commands act on.
    #[arg(long, env = "KEYWARD_INSTANCE")]
    instance: Option<String>,
    /// A PEM bundle of CA certificates to trust besides the system's.
    #[arg(long, env = "KEYWARD_CACERT")]
    cacert: Option<PathBuf>,
}

/// Checks the API key (from `KEYWARD_APIKEY`, else the first line of standard input) by getting
/// a token, then keeps the login in a 0600 file.
pub async fn login(args: LoginArgs) -> Result<(), String> {
    let apikey = match std::env::var("KEYWARD_APIKEY") {
        Ok(key) => key,
        Err(_) => {
            eprintln!("API key (one line on standard input):");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the API key: {e}"))?;
            line.trim().to_owned()
        }
    };
    if apikey.is_empty() {
        return Err("no API key given".into());
    }
    let client = client(&args.url, apikey.clone(), args.cacert.as_ref())?;
    client
        .token()
        .await
        .map_err(|e| format!("the API key was not accepted: {e}"))?;
    let saved = Saved {
        url: args.url,
        instance: args.instance,
        apikey,
        token: SavedToken::of(&client).await,
    };
    let file = save(&saved)?;
    println!(
        "Logged in to {}; kept in {} (0600).",
        saved.url,
        file.display()
    );
    Ok(())
}

/// Writes the login (0600), replacing the file; returns its path.
fn save(login: &Saved) -> Result<PathBuf, String> {
    let file = login_file().ok_or("no configuration directory: set KEYWARD_CONFIG_DIR or HOME")?;
    let dir = file.parent().ok_or("no configuration directory")?;
    keyward_server::bootstrap::ensure_data_dir(dir).map_err(|e| e.to_string())?;
    if file.exists() {
        std::fs::remove_file(&file)
            .map_err(|e| format!("cannot replace {}: {e}", file.display()))?;
    }
    let text = serde_json::to_vec_pretty(login).map_err(|e| e.to_string())?;
    keyward_server::bootstrap::write_private_file(&file, &text).map_err(|e| e.to_string())?;
    Ok(file)
}

/// `keyward logout`: forgets the saved login.
pub fn logout() -> Result<(), String> {
    match login_file() {
        Some(file) if file.exists() => {
            std::fs::remove_file(&file)
                .map_err(|e| format!("cannot remove {}: {e}", file.display()))?;
            println!("Logged out (removed {}).", file.display());
        }
        _ => println!("Not logged in."),
    }
    Ok(())
}

/// Prints rows under a header, columns aligned, for people.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(headers.iter().map(|h| (*h).to_owned()).collect())
    );
    for row in rows {
        println!("{}", line(row.clone()));
    }
}

/// A JSON value as a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}
