//! The API's description, OpenAPI 3.1, served at `GET /openapi.json`.
//!
//! Each documented route carries its own `#[utoipa::path]` (path, parameters, request body,
//! success responses) and is registered through `utoipa_axum`'s router, so the routes served
//! and the routes described are one list. What every operation of a family shares is added here,
//! once: the bearer token, the `bluemix-instance` header of the KMS, and the error envelope each
//! family answers with (Key Protect's, IAM's token errors, the configuration service's).

mod shapes;

use keyward_api::keyprotect::ErrorResource;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, RefOr, Required, ResponseBuilder, Schema,
};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

pub use shapes::*;

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward",
        description = "A KMS speaking Key Protect's v2 API, an IAM issuing bearer tokens, and a \
                       configuration service whose instance secrets are protected by the \
                       customer's root key.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "kms", description = "Key Protect v2: keys, key rings, policies, registrations, import tokens"),
        (name = "iam", description = "Tokens, users, service ids, API keys, access policies, instances"),
        (name = "configuration", description = "The configuration service's instances, resources and root key"),
        (name = "operations", description = "Health, audit trail, this document"),
    ),
    modifiers(&Shared)
)]
struct ApiDoc;

/// The fixed parts of the document, for [`crate::routes::router`] to add its paths to.
pub fn base() -> Document {
    ApiDoc::openapi()
}

/// Name of the bearer token's security scheme.
const BEARER: &str = "iam_token";

/// Routes anyone may call.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/identity/token" | "/v2/fairness/heartbeat"
    )
}

/// The API family a path belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Kms,
    Token,
    Configuration,
    Other,
}

fn family(path: &str) -> Family {
    if path.starts_with("/openscale/") || path == "/v1/entitlements" {
        Family::Configuration
    } else if path == "/identity/token" {
        Family::Token
    } else if path.starts_with("/api/v2/") && path != "/api/v2/audit/events" {
        Family::Kms
    } else {
        Family::Other
    }
}

/// Adds what operations share: the security scheme and requirement, the instance header, the
/// error responses.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A token from POST /identity/token (the API key grant).",
                    ))
                    .build(),
            ),
        );
        let mut schemas = Vec::new();
        with_dependencies::<ErrorResource>(&mut schemas);
        schemas.push((
            KEY_PROTECT_ERROR.into(),
            <KeyProtectError as PartialSchema>::schema(),
        ));
        with_dependencies::<ConfigurationError>(&mut schemas);
        schemas.push((IAM_ERROR.into(), keyward_api::iam::IamErrorBody::schema()));
        components.schemas.extend(schemas);
    }
}

/// Adds `T` and the schemas it refers to.
fn with_dependencies<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    T::schemas(schemas);
    schemas.push((T::name().into(), T::schema()));
}

/// Completes every operation of `doc` with what its family shares; called once the router has
/// added the paths.
pub fn complete(doc: &mut Document) {
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let family = family(path);
        let public = is_public(path);
        for (method, operation) in operations(item) {
            // A handler serving two methods (a registration's POST and PUT) names both alike.
            if let Some(id) = operation.operation_id.as_mut()
                && !ids.insert(id.clone())
            {
                id.push('_');
                id.push_str(method);
            }
            if !public {
                operation.security =
                    Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            }
            if family == Family::Kms && path != "/api/v2/instance/allowed_ip_port" {
                push_parameter(operation, instance_header());
            }
            let tag = match family {
                Family::Kms => "kms",
                Family::Configuration => "configuration",
                Family::Token => "iam",
                Family::Other if path.starts_with("/v1/") || path.starts_with("/v2/") => "iam",
                Family::Other => "operations",
            };
            operation.tags.get_or_insert_with(Vec::new).push(tag.into());
            let error = match family {
                Family::Configuration => ConfigurationError::name(),
                Family::Token => IAM_ERROR.into(),
                Family::Kms | Family::Other => KEY_PROTECT_ERROR.into(),
            };
            operation.responses.responses.insert(
                "default".into(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description("A refusal or a failure, in the family's error envelope.")
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(RefOr::<Schema>::Ref(
                                    utoipa::openapi::Ref::from_schema_name(error),
                                )))
                                .build(),
                        )
                        .build(),
                ),
            );
        }
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
}

fn push_parameter(operation: &mut Operation, parameter: Parameter) {
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(parameter);
}

fn instance_header() -> Parameter {
    ParameterBuilder::new()
        .name("bluemix-instance")
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some("The KMS instance's id."))
        .schema(Some(String::schema()))
        .build()
}

/// The document as served, built once per server.
pub fn to_json(doc: &Document) -> String {
    doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the API description could not be written");
        String::from("{}")
    })
}
