//! `keyward iam …`: manage users, service ids, API keys and access policies of the bootstrap
//! account directly in the data directory's database (the same checks as the `/v1/` API).

use std::path::PathBuf;

use clap::Subcommand;
use keyward_api::iam::{Attribute, Attributes, PolicyBody, RoleRef};
use keyward_iam::{IamStore, PrincipalKind};
use keyward_server::iam_admin::{
    create_api_key, create_identity, open_account, policy_body, policy_from_body,
};

/// Where the database is.
#[derive(clap::Args)]
pub struct Target {
    /// Data directory of the server.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "./keyward-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL, when the server uses one.
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// The IAM commands.
#[derive(Subcommand)]
pub enum IamCommand {
    /// Create a user.
    CreateUser {
        #[command(flatten)]
        target: Target,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Create a service id.
    CreateServiceId {
        #[command(flatten)]
        target: Target,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// List users and service ids.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Create an API key; it is printed once on standard output.
    CreateApiKey {
        #[command(flatten)]
        target: Target,
        /// Owner's IAM id.
        #[arg(long)]
        iam_id: String,
        /// Display name of the key.
        #[arg(long)]
        name: String,
    },
    /// Grant roles on a KMS instance (optionally one key ring).
    Grant {
        #[command(flatten)]
        target: Target,
        /// Grantee's IAM id.
        #[arg(long)]
        iam_id: String,
        /// Role: Reader, ReaderPlus, Writer, Manager or KeyPurge (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// KMS instance GUID (default: every KMS instance of the account).
        #[arg(long)]
        instance: Option<String>,
        /// Limit the grant to one key ring.
        #[arg(long)]
        key_ring: Option<String>,
    },
    /// List policies.
    Policies {
        #[command(flatten)]
        target: Target,
    },
    /// Delete a policy.
    Revoke {
        #[command(flatten)]
        target: Target,
        /// Policy id.
        #[arg(long)]
        policy_id: String,
    },
}

fn attr(name: &str, value: &str) -> Attribute {
    Attribute {
        name: name.into(),
        value: value.into(),
    }
}

/// Runs one command.
pub async fn run(command: IamCommand) -> Result<(), String> {
    let open = |t: &Target| {
        let dir = t.data_dir.clone();
        let url = t.database_url.clone();
        async move {
            open_account(&dir, url.as_deref())
                .await
                .map_err(|e| e.to_string())
        }
    };
    match command {
        IamCommand::CreateUser { target, name } => {
            let (store, account) = open(&target).await?;
            let p = create_identity(&store, &account, PrincipalKind::User, &name)
                .await
                .map_err(|e| e.to_string())?;
            json(&keyward_server::iam_admin::identity(&p));
        }
        IamCommand::CreateServiceId { target, name } => {
            let (store, account) = open(&target).await?;
            let p = create_identity(&store, &account, PrincipalKind::ServiceId, &name)
                .await
                .map_err(|e| e.to_string())?;
            json(&keyward_server::iam_admin::identity(&p));
        }
        IamCommand::List { target } => {
            let (store, account) = open(&target).await?;
            let all = store
                .list_principals(&account)
                .await
                .map_err(|e| e.to_string())?;
            let items: Vec<_> = all
                .iter()
                .map(keyward_server::iam_admin::identity)
                .collect();
            json(&items);
        }
        IamCommand::CreateApiKey {
            target,
            iam_id,
            name,
        } => {
            let (store, account) = open(&target).await?;
            let (record, secret) = create_api_key(&store, &account, &iam_id, &name)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("API key {} for {} (shown once):", record.id, record.iam_id);
            println!("{}", secret.expose_secret());
        }
        IamCommand::Grant {
            target,
            iam_id,
            roles,
            instance,
            key_ring,
        } => {
            let (store, account) = open(&target).await?;
            let mut resource = vec![attr("serviceName", "kms")];
            resource.extend(instance.as_deref().map(|i| attr("serviceInstance", i)));
            resource.extend(key_ring.as_deref().map(|r| attr("keyRing", r)));
            let body = PolicyBody {
                id: None,
                kind: "access".into(),
                subjects: vec![Attributes {
                    attributes: vec![attr("iam_id", &iam_id)],
                }],
                roles: roles
                    .into_iter()
                    .map(|role_id| RoleRef { role_id })
                    .collect(),
                resources: vec![Attributes {
                    attributes: resource,
                }],
                created_at: None,
            };
            let policy = policy_from_body(&store, &account, &body)
                .await
                .map_err(|e| e.to_string())?;
            store
                .create_policy(&policy)
                .await
                .map_err(|e| e.to_string())?;
            json(&policy_body(&policy));
        }
        IamCommand::Policies { target } => {
            let (store, account) = open(&target).await?;
            let policies = store
                .list_policies(&account)
                .await
                .map_err(|e| e.to_string())?;
            let bodies: Vec<_> = policies.iter().map(policy_body).collect();
            json(&bodies);
        }
        IamCommand::Revoke { target, policy_id } => {
            let (store, account) = open(&target).await?;
            let id = uuid::Uuid::parse_str(&policy_id)
                .map_err(|_| "the policy id is a UUID".to_owned())?;
            if !store
                .delete_policy(&account, id)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no policy {id} in this account"));
            }
            eprintln!("deleted policy {id}");
        }
    }
    Ok(())
}

/// Pretty-prints a result on standard output.
fn json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot print the result: {e}"),
    }
}
