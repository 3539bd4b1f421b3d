//! Tolerant request bodies: any content type, and an empty body or the literal `null` mean
//! "no body" (what the Node, Python and Go clients send for bodyless actions).

use axum::body::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a JSON body if there is one.
pub fn optional_json<T: DeserializeOwned>(body: &Bytes) -> Result<Option<T>, ApiError> {
    let text = body.trim_ascii();
    if text.is_empty() || text == b"null" {
        return Ok(None);
    }
    serde_json::from_slice(text)
        .map(Some)
        .map_err(|_| ApiError::BadBody("the body is not the JSON this endpoint takes"))
}

/// Parses a JSON body, refusing a missing one.
pub fn required_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    optional_json(body)?.ok_or(ApiError::NoBody)
}

/// The resources of a Key Protect collection body, refusing a missing body, a `collectionTotal`
/// that is not their number, and an empty collection.
pub fn collection_resources<T: DeserializeOwned + Default>(
    body: &Bytes,
) -> Result<Vec<T>, ApiError> {
    let collection: keyward_api::keyprotect::IncomingCollection<T> = required_json(body)?;
    let declared = collection
        .metadata
        .as_ref()
        .and_then(|m| m.collection_total);
    if declared.is_some_and(|total| total != collection.resources.len() as u64) {
        return Err(ApiError::CollectionTotalMismatch);
    }
    if collection.resources.is_empty() {
        return Err(ApiError::BadBody("at least one resource is required"));
    }
    Ok(collection.resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, Default)]
    struct B {
        #[serde(default)]
        x: Option<u8>,
    }

    #[test]
    fn empty_null_and_braces_are_no_body() {
        for raw in ["", "  ", "null", " null\n"] {
            assert!(
                matches!(optional_json::<B>(&Bytes::from(raw)), Ok(None)),
                "{raw:?}"
            );
        }
        assert!(matches!(
            optional_json::<B>(&Bytes::from("{}")),
            Ok(Some(B { x: None }))
        ));
        assert!(matches!(
            optional_json::<B>(&Bytes::from("{\"x\":1}")),
            Ok(Some(B { x: Some(1) }))
        ));
        assert!(matches!(
            optional_json::<B>(&Bytes::from("{")),
            Err(ApiError::BadBody(_))
        ));
        assert!(matches!(
            required_json::<B>(&Bytes::from("")),
            Err(ApiError::NoBody)
        ));
    }
}
