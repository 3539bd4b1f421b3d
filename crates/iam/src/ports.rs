//! The persistence port of IAM.

use std::future::Future;

use uuid::Uuid;

use crate::apikey::ApiKeyHash;
use crate::error::IamError;
use crate::policy::Policy;
use crate::principal::{AccountId, Instance, Principal};

/// A stored API key (its hash only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Key id (not secret).
    pub id: Uuid,
    /// Owner.
    pub iam_id: String,
    /// Display name.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: ApiKeyHash,
    /// Creation time.
    pub created_at: time::OffsetDateTime,
    /// A locked key gets no token, and tokens issued from it are refused.
    pub locked: bool,
}

/// A token signing key, sealed under the master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (the JWT header's `kid`).
    pub kid: String,
    /// The secret, sealed.
    pub sealed: Vec<u8>,
    /// When it was made.
    pub created_at: time::OffsetDateTime,
}

/// Accounts, principals, API keys, policies, instances and named settings.
pub trait IamStore: Send + Sync + 'static {
    /// Creates an account (idempotent).
    fn create_account(
        &self,
        id: &AccountId,
        name: &str,
    ) -> impl Future<Output = Result<(), IamError>> + Send;
    /// Creates a principal.
    fn create_principal(&self, p: &Principal) -> impl Future<Output = Result<(), IamError>> + Send;
    /// Finds a principal by IAM id.
    fn find_principal(
        &self,
        iam_id: &str,
    ) -> impl Future<Output = Result<Option<Principal>, IamError>> + Send;
    /// Lists principals of an account.
    fn list_principals(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<Principal>, IamError>> + Send;
    /// Stores an API key hash.
    fn create_api_key(
        &self,
        key: &ApiKeyRecord,
    ) -> impl Future<Output = Result<(), IamError>> + Send;
    /// A presented key and its owner, by hash.
    fn api_key_by_hash(
        &self,
        hash: &ApiKeyHash,
    ) -> impl Future<Output = Result<Option<(ApiKeyRecord, Principal)>, IamError>> + Send;
    /// One API key, by id.
    fn find_api_key(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, IamError>> + Send;
    /// The API keys of a principal, oldest first.
    fn list_api_keys(
        &self,
        iam_id: &str,
    ) -> impl Future<Output = Result<Vec<ApiKeyRecord>, IamError>> + Send;
    /// Deletes an API key; `Ok(false)` if absent.
    fn delete_api_key(&self, id: Uuid) -> impl Future<Output = Result<bool, IamError>> + Send;
    /// Locks or unlocks an API key; `Ok(false)` if absent.
    fn set_api_key_locked(
        &self,
        id: Uuid,
        locked: bool,
    ) -> impl Future<Output = Result<bool, IamError>> + Send;
    /// Deletes a principal with its API keys and every policy that names it, in one
    /// transaction; `Ok(false)` if absent.
    fn delete_principal(&self, iam_id: &str)
    -> impl Future<Output = Result<bool, IamError>> + Send;
    /// Stores a policy.
    fn create_policy(&self, p: &Policy) -> impl Future<Output = Result<(), IamError>> + Send;
    /// Policies of an account.
    fn list_policies(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<Policy>, IamError>> + Send;
    /// Deletes a policy; `Ok(false)` if absent.
    fn delete_policy(
        &self,
        account: &AccountId,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, IamError>> + Send;
    /// Stores an instance.
    fn create_instance(&self, i: &Instance) -> impl Future<Output = Result<(), IamError>> + Send;
    /// Finds an instance by GUID.
    fn find_instance(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Instance>, IamError>> + Send;
    /// Instances of an account.
    fn list_instances(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<Instance>, IamError>> + Send;
    /// Deletes an instance; `Ok(false)` if absent.
    fn delete_instance(&self, id: Uuid) -> impl Future<Output = Result<bool, IamError>> + Send;
    /// Every token signing key, newest first.
    fn signing_keys(&self) -> impl Future<Output = Result<Vec<SigningKeyRecord>, IamError>> + Send;
    /// Stores a new signing key.
    fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
    ) -> impl Future<Output = Result<(), IamError>> + Send;
    /// Deletes a signing key (its tokens stop verifying); `Ok(false)` if absent.
    fn delete_signing_key(&self, kid: &str) -> impl Future<Output = Result<bool, IamError>> + Send;
    /// Reads a named setting.
    fn setting(&self, name: &str)
    -> impl Future<Output = Result<Option<Vec<u8>>, IamError>> + Send;
    /// Writes a named setting unless present; returns the value in force.
    fn setting_insert_if_absent(
        &self,
        name: &str,
        value: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, IamError>> + Send;
}
