//! Every operation of Keyward's three APIs (KMS, IAM, configuration service) and the roles that
//! allow it. This table is the data behind the one authorization decision; the table in
//! `docs/authorization.md` is generated from it and a test keeps the two equal.

use crate::principal::ServiceKind;
use crate::role::Role;

/// What an action acts on, which decides which policies can grant it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The caller's account (identities, policies, instances): roles on IAM.
    Account,
    /// One user or service id of the caller's account: roles on IAM, or the identity itself
    /// when the action is self-service.
    Identity,
    /// A whole service instance: roles on the instance (key-ring policies do not count).
    Instance,
    /// A key ring (or a key in it): roles on the instance or on that ring.
    KeyRing,
}

impl Scope {
    /// The word used in the documentation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Identity => "identity",
            Self::Instance => "instance",
            Self::KeyRing => "key ring",
        }
    }
}

/// The authorization rule of one action.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Activity-Tracker-style name, e.g. `kms.secrets.unwrap`.
    pub name: &'static str,
    /// The service whose policies grant it.
    pub service: ServiceKind,
    /// What it acts on.
    pub scope: Scope,
    /// Roles that allow it through an access policy.
    pub roles: &'static [Role],
    /// Roles that allow it through a service-to-service authorization (empty: a service can
    /// never be authorized to do it).
    pub authorized: &'static [Role],
    /// Whether an identity may do it to itself without any role.
    pub self_service: bool,
    /// The routes that perform it.
    pub routes: &'static [&'static str],
}

macro_rules! actions {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident {
            $name:literal, $service:ident, $scope:ident,
            roles: [$($role:ident),* $(,)?],
            authorized: [$($auth:ident),* $(,)?],
            self_service: $self_service:literal,
            routes: [$($route:literal),* $(,)?] $(,)?
        }
    )*) => {
        /// One operation of one of Keyward's APIs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Action {
            /// Every action, in table order.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The action's rule.
            pub const fn rule(self) -> &'static Rule {
                match self {
                    $(Action::$variant => &Rule {
                        name: $name,
                        service: ServiceKind::$service,
                        scope: Scope::$scope,
                        roles: &[$(Role::$role),*],
                        authorized: &[$(Role::$auth),*],
                        self_service: $self_service,
                        routes: &[$($route),*],
                    },)*
                }
            }
        }
    };
}

actions! {
    /// Create or import a key.
    KmsKeysCreate { "kms.secrets.create", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys", "POST /api/v2/keys_with_policy_overrides"] }
    /// List keys (only those of rings the caller may read).
    KmsKeysList { "kms.secrets.list", Kms, KeyRing,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /api/v2/keys", "HEAD /api/v2/keys"] }
    /// Read a key's metadata.
    KmsKeysReadMetadata { "kms.secrets.readmetadata", Kms, KeyRing,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [Reader, ReaderPlus, Writer, Manager], self_service: false,
        routes: ["GET /api/v2/keys/{id}/metadata", "GET /api/v2/keys/{id}"] }
    /// Read a standard key's payload.
    KmsKeysRead { "kms.secrets.read", Kms, KeyRing,
        roles: [ReaderPlus, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /api/v2/keys/{id}"] }
    /// Wrap a DEK (or have one generated).
    KmsKeysWrap { "kms.secrets.wrap", Kms, KeyRing,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [Reader, ReaderPlus, Writer, Manager], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/wrap"] }
    /// Unwrap a DEK.
    KmsKeysUnwrap { "kms.secrets.unwrap", Kms, KeyRing,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [Reader, ReaderPlus, Writer, Manager], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/unwrap"] }
    /// Rewrap a DEK under the newest key version.
    KmsKeysRewrap { "kms.secrets.rewrap", Kms, KeyRing,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [Reader, ReaderPlus, Writer, Manager], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/rewrap"] }
    /// Rotate a key.
    KmsKeysRotate { "kms.secrets.rotate", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/rotate"] }
    /// Disable a key.
    KmsKeysDisable { "kms.secrets.disable", Kms, KeyRing,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/disable"] }
    /// Enable a disabled key.
    KmsKeysEnable { "kms.secrets.enable", Kms, KeyRing,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/enable"] }
    /// Delete a key.
    KmsKeysDelete { "kms.secrets.delete", Kms, KeyRing,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["DELETE /api/v2/keys/{id}"] }
    /// Restore a deleted key.
    KmsKeysRestore { "kms.secrets.restore", Kms, KeyRing,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys/{id}/restore"] }
    /// Purge a deleted key.
    KmsKeysPurge { "kms.secrets.purge", Kms, KeyRing,
        roles: [KeyPurge], authorized: [], self_service: false,
        routes: ["DELETE /api/v2/keys/{id}/purge"] }
    /// Move a key to another ring (needed on both rings).
    KmsKeysMove { "kms.secrets.patch", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["PATCH /api/v2/keys/{id}"] }
    /// Ask for the key's registrations to be notified again.
    KmsKeysSync { "kms.secrets.sync", Kms, KeyRing,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/sync"] }
    /// Authorize a key's deletion (dual authorization).
    KmsKeysSetForDeletion { "kms.secrets.setkeyfordeletion", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/setKeyForDeletion"] }
    /// Withdraw a deletion authorization.
    KmsKeysUnsetForDeletion { "kms.secrets.unsetkeyfordeletion", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys/{id}/actions/unsetKeyForDeletion"] }
    /// Read a key's policies.
    KmsPoliciesRead { "kms.policies.read", Kms, KeyRing,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["GET /api/v2/keys/{id}/policies"] }
    /// Set a key's policies.
    KmsPoliciesWrite { "kms.policies.write", Kms, KeyRing,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["PUT /api/v2/keys/{id}/policies"] }
    /// Read the instance's policies.
    KmsInstancePoliciesRead { "kms.instancepolicies.read", Kms, Instance,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["GET /api/v2/instance/policies"] }
    /// Set the instance's policies.
    KmsInstancePoliciesWrite { "kms.instancepolicies.write", Kms, Instance,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["PUT /api/v2/instance/policies"] }
    /// Read the port of the private endpoint under an allowedIP policy.
    KmsInstanceReadAllowedIpPort { "kms.instance.readallowedipport", Kms, Instance,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["GET /api/v2/instance/allowed_ip_port"] }
    /// Make the instance's import token.
    KmsImportTokenCreate { "kms.importtoken.create", Kms, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/import_token"] }
    /// Retrieve the instance's import token.
    KmsImportTokenRead { "kms.importtoken.read", Kms, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /api/v2/import_token"] }
    /// List a key's versions.
    KmsKeyVersionsList { "kms.secrets.listkeyversions", Kms, KeyRing,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /api/v2/keys/{id}/versions"] }
    /// Add an alias.
    KmsAliasesCreate { "kms.secrets.createalias", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/keys/{id}/aliases/{alias}"] }
    /// Remove an alias.
    KmsAliasesDelete { "kms.secrets.deletealias", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["DELETE /api/v2/keys/{id}/aliases/{alias}"] }
    /// List key rings.
    KmsKeyRingsList { "kms.keyrings.list", Kms, Instance,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /api/v2/key_rings"] }
    /// Create a key ring (a Manager of that ring name may).
    KmsKeyRingsCreate { "kms.keyrings.create", Kms, KeyRing,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["POST /api/v2/key_rings/{ring}"] }
    /// Delete a key ring (a Manager of that ring may).
    KmsKeyRingsDelete { "kms.keyrings.delete", Kms, KeyRing,
        roles: [Manager], authorized: [], self_service: false,
        routes: ["DELETE /api/v2/key_rings/{ring}"] }
    /// List registrations (of one key, or of every key the caller may read).
    KmsRegistrationsList { "kms.registrations.list", Kms, KeyRing,
        roles: [Reader, ReaderPlus, Writer, Manager], authorized: [Reader, ReaderPlus, Writer, Manager], self_service: false,
        routes: ["GET /api/v2/keys/registrations", "GET /api/v2/keys/{id}/registrations"] }
    /// Register a resource on a root key (or update the registration).
    KmsRegistrationsCreate { "kms.registrations.create", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [Reader, ReaderPlus, Writer, Manager], self_service: false,
        routes: ["POST /api/v2/keys/{id}/registrations/{crn}", "PUT /api/v2/keys/{id}/registrations/{crn}"] }
    /// Remove a registration.
    KmsRegistrationsDelete { "kms.registrations.delete", Kms, KeyRing,
        roles: [Writer, Manager], authorized: [Reader, ReaderPlus, Writer, Manager], self_service: false,
        routes: ["DELETE /api/v2/keys/{id}/registrations/{crn}"] }

    /// Create a user.
    IamUsersCreate { "user-management.user.create", Iam, Account,
        roles: [Administrator], authorized: [], self_service: false,
        routes: ["POST /v1/users"] }
    /// List users.
    IamUsersList { "user-management.user.list", Iam, Account,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: false,
        routes: ["GET /v1/users"] }
    /// Delete a user with its API keys and policies.
    IamUsersDelete { "user-management.user.delete", Iam, Identity,
        roles: [Administrator], authorized: [], self_service: false,
        routes: ["DELETE /v1/users/{id}"] }
    /// Create a service id.
    IamServiceIdsCreate { "iam-identity.serviceid.create", Iam, Account,
        roles: [Editor, Administrator], authorized: [], self_service: false,
        routes: ["POST /v1/serviceids"] }
    /// List service ids.
    IamServiceIdsList { "iam-identity.serviceid.list", Iam, Account,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: false,
        routes: ["GET /v1/serviceids"] }
    /// Delete a service id with its API keys and policies.
    IamServiceIdsDelete { "iam-identity.serviceid.delete", Iam, Identity,
        roles: [Editor, Administrator], authorized: [], self_service: false,
        routes: ["DELETE /v1/serviceids/{id}"] }
    /// Create an API key for a user.
    IamUserApiKeysCreate { "iam-identity.user-apikey.create", Iam, Identity,
        roles: [Administrator], authorized: [], self_service: true,
        routes: ["POST /v1/apikeys"] }
    /// List a user's API keys (never their secrets).
    IamUserApiKeysList { "iam-identity.user-apikey.list", Iam, Identity,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: true,
        routes: ["GET /v1/apikeys"] }
    /// Read one of a user's API keys (never its secret).
    IamUserApiKeysRead { "iam-identity.user-apikey.get", Iam, Identity,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: true,
        routes: ["GET /v1/apikeys/{id}"] }
    /// Delete one of a user's API keys.
    IamUserApiKeysDelete { "iam-identity.user-apikey.delete", Iam, Identity,
        roles: [Administrator], authorized: [], self_service: true,
        routes: ["DELETE /v1/apikeys/{id}"] }
    /// Lock one of a user's API keys (it gets no tokens until unlocked).
    IamUserApiKeysLock { "iam-identity.user-apikey.lock", Iam, Identity,
        roles: [Operator, Editor, Administrator], authorized: [], self_service: true,
        routes: ["POST /v1/apikeys/{id}/lock"] }
    /// Unlock one of a user's API keys.
    IamUserApiKeysUnlock { "iam-identity.user-apikey.unlock", Iam, Identity,
        roles: [Administrator], authorized: [], self_service: false,
        routes: ["POST /v1/apikeys/{id}/unlock"] }
    /// Create an API key for a service id.
    IamServiceIdApiKeysCreate { "iam-identity.serviceid-apikey.create", Iam, Identity,
        roles: [Editor, Administrator], authorized: [], self_service: true,
        routes: ["POST /v1/apikeys"] }
    /// List a service id's API keys (never their secrets).
    IamServiceIdApiKeysList { "iam-identity.serviceid-apikey.list", Iam, Identity,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: true,
        routes: ["GET /v1/apikeys"] }
    /// Read one of a service id's API keys (never its secret).
    IamServiceIdApiKeysRead { "iam-identity.serviceid-apikey.get", Iam, Identity,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: true,
        routes: ["GET /v1/apikeys/{id}"] }
    /// Delete one of a service id's API keys.
    IamServiceIdApiKeysDelete { "iam-identity.serviceid-apikey.delete", Iam, Identity,
        roles: [Editor, Administrator], authorized: [], self_service: true,
        routes: ["DELETE /v1/apikeys/{id}"] }
    /// Lock one of a service id's API keys.
    IamServiceIdApiKeysLock { "iam-identity.serviceid-apikey.lock", Iam, Identity,
        roles: [Operator, Editor, Administrator], authorized: [], self_service: true,
        routes: ["POST /v1/apikeys/{id}/lock"] }
    /// Unlock one of a service id's API keys.
    IamServiceIdApiKeysUnlock { "iam-identity.serviceid-apikey.unlock", Iam, Identity,
        roles: [Editor, Administrator], authorized: [], self_service: false,
        routes: ["POST /v1/apikeys/{id}/unlock"] }
    /// Create an access policy or a service-to-service authorization.
    IamPoliciesCreate { "iam-access-management.policy.create", Iam, Account,
        roles: [Administrator], authorized: [], self_service: false,
        routes: ["POST /v1/policies"] }
    /// List policies.
    IamPoliciesList { "iam-access-management.policy.list", Iam, Account,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: false,
        routes: ["GET /v1/policies"] }
    /// Delete a policy.
    IamPoliciesDelete { "iam-access-management.policy.delete", Iam, Account,
        roles: [Administrator], authorized: [], self_service: false,
        routes: ["DELETE /v1/policies/{id}"] }
    /// Provision a KMS or configuration-service instance.
    InstancesCreate { "resource-controller.instance.create", Iam, Account,
        roles: [Editor, Administrator], authorized: [], self_service: false,
        routes: ["POST /v2/resource_instances"] }
    /// List instances.
    InstancesList { "resource-controller.instance.list", Iam, Account,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: false,
        routes: ["GET /v2/resource_instances"] }
    /// Read an instance.
    InstancesRead { "resource-controller.instance.read", Iam, Account,
        roles: [Viewer, Operator, Editor, Administrator], authorized: [], self_service: false,
        routes: ["GET /v2/resource_instances/{guid}"] }
    /// Delete an instance.
    InstancesDelete { "resource-controller.instance.delete", Iam, Account,
        roles: [Editor, Administrator], authorized: [], self_service: false,
        routes: ["DELETE /v2/resource_instances/{guid}"] }
    /// Read the account's audit events.
    AuditEventsList { "keyward.audit-events.list", Iam, Account,
        roles: [Administrator], authorized: [], self_service: false,
        routes: ["GET /api/v2/audit/events"] }
    /// Move the server's test clock (only with `--unsafe-test-clock`).
    TestClockAdvance { "keyward.test-clock.advance", Iam, Account,
        roles: [Administrator], authorized: [], self_service: false,
        routes: ["POST /admin/test-clock"] }

    /// See a configuration-service instance among the caller's entitlements.
    ConfigsvcInstanceRead { "configsvc.instance.read", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /v1/entitlements"] }
    /// List monitor definitions.
    ConfigsvcMonitorDefinitionsList { "configsvc.monitor-definitions.list", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/monitor_definitions"] }
    /// List data marts.
    ConfigsvcDataMartsList { "configsvc.data-marts.list", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/data_marts"] }
    /// Read a data mart.
    ConfigsvcDataMartsRead { "configsvc.data-marts.read", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/data_marts/{id}"] }
    /// Create (or with `force` replace) the data mart.
    ConfigsvcDataMartsCreate { "configsvc.data-marts.create", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /openscale/{instance}/v2/data_marts"] }
    /// Change the data mart.
    ConfigsvcDataMartsUpdate { "configsvc.data-marts.update", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["PATCH /openscale/{instance}/v2/data_marts/{id}"] }
    /// Delete the data mart.
    ConfigsvcDataMartsDelete { "configsvc.data-marts.delete", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["DELETE /openscale/{instance}/v2/data_marts/{id}"] }
    /// List service providers.
    ConfigsvcServiceProvidersList { "configsvc.service-providers.list", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/service_providers"] }
    /// Read a service provider.
    ConfigsvcServiceProvidersRead { "configsvc.service-providers.read", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/service_providers/{id}"] }
    /// Create a service provider.
    ConfigsvcServiceProvidersCreate { "configsvc.service-providers.create", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /openscale/{instance}/v2/service_providers"] }
    /// Change a service provider.
    ConfigsvcServiceProvidersUpdate { "configsvc.service-providers.update", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["PATCH /openscale/{instance}/v2/service_providers/{id}"] }
    /// Delete a service provider.
    ConfigsvcServiceProvidersDelete { "configsvc.service-providers.delete", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["DELETE /openscale/{instance}/v2/service_providers/{id}"] }
    /// List integrated systems.
    ConfigsvcIntegratedSystemsList { "configsvc.integrated-systems.list", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/integrated_systems"] }
    /// Read an integrated system.
    ConfigsvcIntegratedSystemsRead { "configsvc.integrated-systems.read", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/integrated_systems/{id}"] }
    /// Create an integrated system.
    ConfigsvcIntegratedSystemsCreate { "configsvc.integrated-systems.create", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["POST /openscale/{instance}/v2/integrated_systems"] }
    /// Change an integrated system.
    ConfigsvcIntegratedSystemsUpdate { "configsvc.integrated-systems.update", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["PATCH /openscale/{instance}/v2/integrated_systems/{id}"] }
    /// Delete an integrated system.
    ConfigsvcIntegratedSystemsDelete { "configsvc.integrated-systems.delete", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["DELETE /openscale/{instance}/v2/integrated_systems/{id}"] }
    /// Read the user preferences and the instance's key protection.
    ConfigsvcPreferencesRead { "configsvc.user-preferences.read", ConfigSvc, Instance,
        roles: [Reader, Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/user_preferences", "GET /openscale/{instance}/v2/user_preferences/{key}"] }
    /// Set `user_root_key_crn`: re-encrypt every instance secret under the customer's key.
    ConfigsvcPreferencesUpdate { "configsvc.user-preferences.update", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["PUT /openscale/{instance}/v2/user_preferences/{key}", "PATCH /openscale/{instance}/v2/user_preferences"] }
    /// Remove `user_root_key_crn`: re-encrypt every instance secret under the global key.
    ConfigsvcPreferencesDelete { "configsvc.user-preferences.delete", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["DELETE /openscale/{instance}/v2/user_preferences/{key}"] }
    /// Decrypt every instance secret server-side and report counts (never values).
    ConfigsvcSecretsCheck { "configsvc.secrets.check", ConfigSvc, Instance,
        roles: [Writer, Manager], authorized: [], self_service: false,
        routes: ["GET /openscale/{instance}/v2/secrets_check"] }
}

impl Action {
    /// The Activity-Tracker-style name.
    pub const fn name(self) -> &'static str {
        self.rule().name
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn role_list(roles: &[Role]) -> String {
    if roles.is_empty() {
        "—".to_owned()
    } else {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The role table as Markdown, as `docs/authorization.md` shows it.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| action | routes | on | roles (access policy) | roles (service authorization) | self |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for action in Action::ALL {
        let r = action.rule();
        let routes = r
            .routes
            .iter()
            .map(|route| format!("`{route}`"))
            .collect::<Vec<_>>()
            .join("<br>");
        let roles = if r.service == ServiceKind::Iam {
            role_list(r.roles)
        } else {
            format!("{} on `{}`", role_list(r.roles), r.service.as_str())
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            r.name,
            routes,
            r.scope.as_str(),
            roles,
            role_list(r.authorized),
            if r.self_service { "yes" } else { "—" },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_roles_fit_their_service() {
        let mut names = HashSet::new();
        for a in Action::ALL {
            let r = a.rule();
            assert!(names.insert(r.name), "duplicate name {}", r.name);
            assert!(!r.routes.is_empty(), "{} has no route", r.name);
            for role in r.roles.iter().chain(r.authorized) {
                assert!(
                    role.grantable_on(r.service),
                    "{} names {role}, which cannot be granted on {}",
                    r.name,
                    r.service.as_str()
                );
            }
            if r.service == ServiceKind::Iam {
                assert!(
                    r.authorized.is_empty(),
                    "{}: IAM is never delegated",
                    r.name
                );
                assert!(matches!(r.scope, Scope::Account | Scope::Identity));
            } else {
                assert!(matches!(r.scope, Scope::Instance | Scope::KeyRing));
            }
        }
    }

    #[test]
    fn services_are_only_authorized_to_use_keys_and_register() {
        let delegated: HashSet<&str> = Action::ALL
            .iter()
            .filter(|a| !a.rule().authorized.is_empty())
            .map(|a| a.name())
            .collect();
        let expected: HashSet<&str> = [
            "kms.secrets.readmetadata",
            "kms.secrets.wrap",
            "kms.secrets.unwrap",
            "kms.secrets.rewrap",
            "kms.registrations.list",
            "kms.registrations.create",
            "kms.registrations.delete",
        ]
        .into_iter()
        .collect();
        assert_eq!(delegated, expected);
    }
}
