//! IAM of Keyward: accounts, principals, API keys, access tokens, roles, policies and the one
//! authorization decision ([`decide`], with cached lookups in [`Authorizer`]). No I/O:
//! persistence is the [`IamStore`] port.

pub mod action;
pub mod apikey;
pub mod audit_note;
pub mod authorizer;
pub mod cache;
pub mod caller;
pub mod decision;
pub mod error;
pub mod grants;
pub mod policy;
pub mod ports;
pub mod principal;
pub mod role;
pub mod token;

pub use action::{Action, Rule, Scope, markdown_table};
pub use apikey::{ApiKeyHash, ApiKeySecret};
pub use authorizer::{Authorizer, Target};
pub use caller::{Caller, IdentityRef};
pub use decision::{Basis, Decision, Denial, Resource, decide, refusal};
pub use error::{IamError, TokenError};
pub use grants::{Grants, Rings, RoleSet};
pub use policy::{Policy, PolicyResource, Subject};
pub use ports::{ApiKeyRecord, IamStore, SigningKeyRecord};
pub use principal::{AccountId, Instance, Principal, PrincipalKind, ServiceKind};
pub use role::{Role, RoleKind};
pub use token::{Claims, ISSUER, SigningKey, TOKEN_LIFETIME_SECONDS, TokenSigner};
