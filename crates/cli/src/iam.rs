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
    /// Provision a service instance (`kms` or `configsvc`); the bootstrap admin gets Manager.
    CreateInstance {
        #[command(flatten)]
        target: Target,
        /// Display name.
        #[arg(long)]
        name: String,
        /// `kms` or `configsvc`.
        #[arg(long)]
        service: String,
    },
    /// List service instances.
    Instances {
        #[command(flatten)]
        target: Target,
    },
    /// Delete a service instance.
    DeleteInstance {
        #[command(flatten)]
        target: Target,
        /// Instance GUID.
        #[arg(long)]
        guid: String,
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
        IamCommand::CreateInstance {
            target,
            name,
            service,
        } => {
            let (store, account) = open(&target).await?;
            let service = match keyward_iam::ServiceKind::parse(&service) {
                Some(s @ (keyward_iam::ServiceKind::Kms | keyward_iam::ServiceKind::ConfigSvc)) => {
                    s
                }
                _ => return Err("--service is kms or configsvc".into()),
            };
            let admin = bootstrap_admin(&store).await?;
            let instance = keyward_server::iam_admin::provision_instance(
                &store, &account, service, &name, &admin,
            )
            .await
            .map_err(|e| e.to_string())?;
            json(&instance_row(&instance));
        }
        IamCommand::Instances { target } => {
            let (store, account) = open(&target).await?;
            let all = store
                .list_instances(&account)
                .await
                .map_err(|e| e.to_string())?;
            let rows: Vec<_> = all.iter().map(instance_row).collect();
            json(&rows);
        }
        IamCommand::DeleteInstance { target, guid } => {
            let (store, account) = open(&target).await?;
            let id = uuid::Uuid::parse_str(&guid)
                .map_err(|_| "the instance GUID is a UUID".to_owned())?;
            let found = store.find_instance(id).await.map_err(|e| e.to_string())?;
            if found.is_none_or(|i| i.account != account) {
                return Err(format!("no instance {id} in this account"));
            }
            store.delete_instance(id).await.map_err(|e| e.to_string())?;
            eprintln!("deleted instance {id}");
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

fn instance_row(i: &keyward_iam::Instance) -> serde_json::Value {
    serde_json::json!({"guid": i.id.to_string(), "name": i.name, "service": i.service.as_str(), "account_id": i.account.as_str()})
}

/// The bootstrap admin's IAM id (new instances are granted to it).
async fn bootstrap_admin(store: &keyward_store::Store) -> Result<String, String> {
    let raw = store
        .setting("bootstrap")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the database has not been bootstrapped")?;
    let info: keyward_server::BootstrapInfo =
        serde_json::from_slice(&raw).map_err(|e| e.to_string())?;
    Ok(info.admin_iam_id)
}

/// Pretty-prints a result on standard output.
fn json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot print the result: {e}"),
    }
}
