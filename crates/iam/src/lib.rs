//! IAM of Keyward: accounts, principals, API keys, access tokens, roles, policies and the
//! authorization decision. No I/O: persistence is the [`IamStore`] port.

pub mod apikey;
pub mod error;
pub mod policy;
pub mod ports;
pub mod principal;
pub mod token;

pub use apikey::{ApiKeyHash, ApiKeySecret};
pub use error::{IamError, TokenError};
pub use policy::{Grants, Policy, Resource, Role, Subject};
pub use ports::{ApiKeyRecord, IamStore};
pub use principal::{AccountId, Instance, Principal, PrincipalKind, ServiceKind};
pub use token::{Claims, TOKEN_LIFETIME_SECONDS, TokenSigner};
