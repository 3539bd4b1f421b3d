//! `keyward iam …`: manage users, service ids, API keys, policies and instances of the bootstrap
//! account directly in the data directory's database, for bootstrap and recovery. Every command
//! acts as the bootstrap admin and goes through the same decision and checks as the `/v1/` API;
//! `restore-admin` is the one break-glass command that writes without asking (it needs the
//! database, which is all the power there is).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use keyward_api::iam::{Attribute, Attributes, PolicyBody, RoleRef};
use keyward_iam::{
    AccountId, Authorizer, Caller, IamStore, Policy, PolicyResource, PrincipalKind, Role,
    ServiceKind, Subject,
};
use keyward_server::iam_admin::{Admin, api_key_info, identity, open_account, policy_body};
use keyward_server::iam_service::IAM_CACHE_MAX_AGE;
use keyward_store::Store;

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
    /// Delete a user with its API keys and policies.
    DeleteUser {
        #[command(flatten)]
        target: Target,
        /// The user's IAM id.
        #[arg(long)]
        iam_id: String,
    },
    /// Delete a service id with its API keys and policies.
    DeleteServiceId {
        #[command(flatten)]
        target: Target,
        /// The service id's IAM id.
        #[arg(long)]
        iam_id: String,
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
    /// List the API keys of an identity (never the keys themselves).
    ApiKeys {
        #[command(flatten)]
        target: Target,
        /// Owner's IAM id.
        #[arg(long)]
        iam_id: String,
    },
    /// Delete an API key: it gets no more tokens and its tokens are refused within 2 s.
    DeleteApiKey {
        #[command(flatten)]
        target: Target,
        /// API key id.
        #[arg(long)]
        id: String,
    },
    /// Lock an API key: no tokens, and its tokens are refused, until it is unlocked.
    LockApiKey {
        #[command(flatten)]
        target: Target,
        /// API key id.
        #[arg(long)]
        id: String,
    },
    /// Unlock an API key.
    UnlockApiKey {
        #[command(flatten)]
        target: Target,
        /// API key id.
        #[arg(long)]
        id: String,
    },
    /// Grant roles: service roles on a KMS or configsvc instance (optionally one key ring), or
    /// platform roles (Viewer, Operator, Editor, Administrator) on iam.
    Grant {
        #[command(flatten)]
        target: Target,
        /// Grantee's IAM id.
        #[arg(long)]
        iam_id: String,
        /// Role (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// `kms`, `configsvc` or `iam`.
        #[arg(long, default_value = "kms")]
        service: String,
        /// Instance GUID (default: every instance of the service in the account).
        #[arg(long)]
        instance: Option<String>,
        /// Limit the grant to one key ring.
        #[arg(long)]
        key_ring: Option<String>,
    },
    /// Authorize the configuration service to use keys of a KMS instance (a service-to-service
    /// authorization): every configsvc instance of the account, or only `--source-instance`.
    AuthorizeService {
        #[command(flatten)]
        target: Target,
        /// The KMS instance GUID.
        #[arg(long)]
        kms_instance: String,
        /// One configsvc instance GUID (of any account).
        #[arg(long)]
        source_instance: Option<String>,
        /// Role (Reader is enough to use keys and register).
        #[arg(long, default_value = "Reader")]
        role: String,
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
    /// Break glass: give the bootstrap admin the Administrator role on IAM again (when every
    /// administrator was removed). Writes directly to the database.
    RestoreAdmin {
        #[command(flatten)]
        target: Target,
    },
    /// Make a new token signing key now; with `--revoke-tokens`, drop every other key, so that
    /// every token issued so far is refused (each node within 10 s).
    RotateSigningKey {
        #[command(flatten)]
        target: Target,
        /// Drop the old keys too.
        #[arg(long)]
        revoke_tokens: bool,
        /// Where the master key is (as `serve` was told).
        #[command(flatten)]
        master_key: crate::master_key_args::MasterKeyArgs,
    },
}

fn attr(name: &str, value: &str) -> Attribute {
    Attribute {
        name: name.into(),
        value: value.into(),
    }
}

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The bootstrap account's store, its admin as the acting caller, and the decision.
struct Session {
    store: Store,
    account: AccountId,
    caller: Caller,
    authorizer: Arc<Authorizer<Store>>,
}

impl Session {
    async fn open(target: &Target) -> Result<Self, String> {
        let (store, info) = open_account(&target.data_dir, target.database_url.as_deref())
            .await
            .map_err(text)?;
        let admin = store
            .find_principal(&info.admin_iam_id)
            .await
            .map_err(text)?
            .ok_or("the bootstrap admin no longer exists")?;
        Ok(Self {
            account: admin.account.clone(),
            caller: Caller::principal(&admin),
            authorizer: Arc::new(Authorizer::new(store.clone(), IAM_CACHE_MAX_AGE)),
            store,
        })
    }

    fn admin(&self) -> Admin<'_> {
        Admin {
            store: &self.store,
            authorizer: &self.authorizer,
            caller: &self.caller,
        }
    }
}

/// Runs one command.
pub async fn run(command: IamCommand) -> Result<(), String> {
    match command {
        IamCommand::CreateUser { target, name } => {
            let s = Session::open(&target).await?;
            let p = s
                .admin()
                .create_identity(PrincipalKind::User, &name)
                .await
                .map_err(text)?;
            json(&identity(&p));
        }
        IamCommand::CreateServiceId { target, name } => {
            let s = Session::open(&target).await?;
            let p = s
                .admin()
                .create_identity(PrincipalKind::ServiceId, &name)
                .await
                .map_err(text)?;
            json(&identity(&p));
        }
        IamCommand::List { target } => {
            let s = Session::open(&target).await?;
            let mut items = Vec::new();
            for kind in [PrincipalKind::User, PrincipalKind::ServiceId] {
                let all = s.admin().list_identities(kind).await.map_err(text)?;
                items.extend(all.iter().map(identity));
            }
            json(&items);
        }
        IamCommand::DeleteUser { target, iam_id } => {
            let s = Session::open(&target).await?;
            s.admin()
                .delete_identity(PrincipalKind::User, &iam_id)
                .await
                .map_err(text)?;
            eprintln!("deleted user {iam_id} with its API keys and policies");
        }
        IamCommand::DeleteServiceId { target, iam_id } => {
            let s = Session::open(&target).await?;
            s.admin()
                .delete_identity(PrincipalKind::ServiceId, &iam_id)
                .await
                .map_err(text)?;
            eprintln!("deleted service id {iam_id} with its API keys and policies");
        }
        IamCommand::CreateApiKey {
            target,
            iam_id,
            name,
        } => {
            let s = Session::open(&target).await?;
            let (record, secret) = s
                .admin()
                .create_api_key(Some(&iam_id), &name)
                .await
                .map_err(text)?;
            eprintln!("API key {} for {} (shown once):", record.id, record.iam_id);
            println!("{}", secret.expose_secret());
        }
        IamCommand::ApiKeys { target, iam_id } => {
            let s = Session::open(&target).await?;
            let keys = s.admin().list_api_keys(Some(&iam_id)).await.map_err(text)?;
            let items: Vec<_> = keys.iter().map(|k| api_key_info(k, &s.account)).collect();
            json(&items);
        }
        IamCommand::DeleteApiKey { target, id } => {
            let s = Session::open(&target).await?;
            s.admin().delete_api_key(&id).await.map_err(text)?;
            eprintln!("deleted API key {id}; its tokens are refused within 2 s");
        }
        IamCommand::LockApiKey { target, id } => {
            let s = Session::open(&target).await?;
            let key = s
                .admin()
                .set_api_key_locked(&id, true)
                .await
                .map_err(text)?;
            json(&api_key_info(&key, &s.account));
        }
        IamCommand::UnlockApiKey { target, id } => {
            let s = Session::open(&target).await?;
            let key = s
                .admin()
                .set_api_key_locked(&id, false)
                .await
                .map_err(text)?;
            json(&api_key_info(&key, &s.account));
        }
        IamCommand::Grant {
            target,
            iam_id,
            roles,
            service,
            instance,
            key_ring,
        } => {
            let s = Session::open(&target).await?;
            let mut resource = vec![attr("serviceName", &service)];
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
            let policy = s.admin().create_policy(&body).await.map_err(text)?;
            json(&policy_body(&policy));
        }
        IamCommand::AuthorizeService {
            target,
            kms_instance,
            source_instance,
            role,
        } => {
            let s = Session::open(&target).await?;
            let mut subject = vec![attr("serviceName", "configsvc")];
            subject.extend(
                source_instance
                    .as_deref()
                    .map(|i| attr("serviceInstance", i)),
            );
            let body = PolicyBody {
                id: None,
                kind: "authorization".into(),
                subjects: vec![Attributes {
                    attributes: subject,
                }],
                roles: vec![RoleRef { role_id: role }],
                resources: vec![Attributes {
                    attributes: vec![
                        attr("serviceName", "kms"),
                        attr("serviceInstance", &kms_instance),
                    ],
                }],
                created_at: None,
            };
            let policy = s.admin().create_policy(&body).await.map_err(text)?;
            json(&policy_body(&policy));
        }
        IamCommand::Policies { target } => {
            let s = Session::open(&target).await?;
            let policies = s.admin().list_policies().await.map_err(text)?;
            let bodies: Vec<_> = policies.iter().map(policy_body).collect();
            json(&bodies);
        }
        IamCommand::Revoke { target, policy_id } => {
            let s = Session::open(&target).await?;
            s.admin().delete_policy(&policy_id).await.map_err(text)?;
            eprintln!("deleted policy {policy_id}");
        }
        IamCommand::CreateInstance {
            target,
            name,
            service,
        } => {
            let s = Session::open(&target).await?;
            let service = match ServiceKind::parse(&service) {
                Some(s @ (ServiceKind::Kms | ServiceKind::ConfigSvc)) => s,
                _ => return Err("--service is kms or configsvc".into()),
            };
            let instance = s
                .admin()
                .create_instance(service, &name)
                .await
                .map_err(text)?;
            json(&instance_row(&instance));
        }
        IamCommand::Instances { target } => {
            let s = Session::open(&target).await?;
            let all = s.admin().list_instances().await.map_err(text)?;
            let rows: Vec<_> = all.iter().map(instance_row).collect();
            json(&rows);
        }
        IamCommand::DeleteInstance { target, guid } => {
            let s = Session::open(&target).await?;
            s.admin().delete_instance(&guid).await.map_err(text)?;
            eprintln!("deleted instance {guid}");
        }
        IamCommand::RestoreAdmin { target } => {
            let s = Session::open(&target).await?;
            let policy = Policy {
                id: uuid::Uuid::new_v4(),
                account: s.account.clone(),
                subject: Subject::Principal(s.caller.iam_id.clone()),
                roles: vec![Role::Administrator],
                resource: PolicyResource {
                    service: ServiceKind::Iam,
                    instance: None,
                    key_ring: None,
                },
                created_at: time::OffsetDateTime::now_utc(),
            };
            s.store.create_policy(&policy).await.map_err(text)?;
            json(&policy_body(&policy));
        }
        IamCommand::RotateSigningKey {
            target,
            revoke_tokens,
            master_key,
        } => {
            let s = Session::open(&target).await?;
            let master = keyward_server::bootstrap::open_existing_master_key(
                &s.store,
                &master_key.source()?,
                &target.data_dir,
            )
            .await
            .map_err(text)?;
            let master = master.as_ref();
            let now = time::OffsetDateTime::now_utc();
            if revoke_tokens {
                keyward_server::signing_keys::replace_all(&s.store, master, now)
                    .await
                    .map_err(text)?;
                eprintln!(
                    "new signing key; every earlier token is refused (each node within 10 s)"
                );
            } else {
                keyward_server::signing_keys::create(&s.store, master, now)
                    .await
                    .map_err(text)?;
                eprintln!("new signing key; earlier tokens verify until they expire");
            }
        }
    }
    Ok(())
}

fn instance_row(i: &keyward_iam::Instance) -> serde_json::Value {
    serde_json::json!({"guid": i.id.to_string(), "name": i.name, "service": i.service.as_str(), "account_id": i.account.as_str()})
}

/// Pretty-prints a result on standard output.
fn json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot print the result: {e}"),
    }
}
