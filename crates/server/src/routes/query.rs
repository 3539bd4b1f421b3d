//! Query-string and header parsing shared by the key routes.

use std::collections::HashMap;

use axum::http::HeaderMap;
use keyward_kms::{KeyQuery, KeyRef, KeyRingId, KeyState};

use crate::error::ApiError;

/// Default and maximum page sizes.
const DEFAULT_LIMIT: u32 = 200;
const MAX_LIMIT: u32 = 5000;

/// The key named in the path.
pub fn key_ref(id: &str) -> Result<KeyRef, ApiError> {
    // A name that is neither a UUID nor a valid alias cannot name any key.
    id.parse::<KeyRef>()
        .map_err(|_| ApiError::Kms(keyward_kms::KmsError::KeyNotFound))
}

/// `true` for `return=representation`, `false` for `return=minimal`, `None` when absent.
pub fn prefer_representation(headers: &HeaderMap) -> Option<bool> {
    let value = headers.get("prefer")?.to_str().ok()?;
    if value.contains("return=representation") {
        Some(true)
    } else if value.contains("return=minimal") {
        Some(false)
    } else {
        None
    }
}

/// `X-Kms-Key-Ring`, if sent.
pub fn key_ring_header(headers: &HeaderMap) -> Result<Option<KeyRingId>, ApiError> {
    match headers.get("x-kms-key-ring").and_then(|v| v.to_str().ok()) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::InvalidField {
                field: "X-Kms-Key-Ring",
                requirement: "a key ring id of 2 to 100 letters, digits and '-'",
            }),
    }
}

fn parse_u32(
    q: &HashMap<String, String>,
    name: &'static str,
    default: u32,
    max: u32,
) -> Result<u32, ApiError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or(ApiError::InvalidField {
                field: name,
                requirement: "a non-negative integer within the allowed range",
            }),
    }
}

/// `limit` and `offset`.
pub fn paging(q: &HashMap<String, String>) -> Result<(u32, u32), ApiError> {
    Ok((
        parse_u32(q, "limit", DEFAULT_LIMIT, MAX_LIMIT)?,
        parse_u32(q, "offset", 0, u32::MAX)?,
    ))
}

/// A boolean query flag (`true`/`false`, empty = absent).
pub fn flag(q: &HashMap<String, String>, name: &'static str) -> Result<Option<bool>, ApiError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::InvalidField {
            field: name,
            requirement: "true or false",
        }),
    }
}

/// The filters of `GET /keys`: states default to everything but Destroyed.
pub fn key_query(
    q: &HashMap<String, String>,
    ring: Option<KeyRingId>,
) -> Result<KeyQuery, ApiError> {
    let (limit, offset) = paging(q)?;
    let states = match q.get("state").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => vec![
            KeyState::PreActivation,
            KeyState::Active,
            KeyState::Suspended,
            KeyState::Deactivated,
        ],
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<i64>().ok().and_then(KeyState::from_code))
            .collect::<Option<Vec<_>>>()
            .ok_or(ApiError::InvalidField {
                field: "state",
                requirement: "a comma-separated list of 0, 1, 2, 3 and 5",
            })?,
    };
    Ok(KeyQuery {
        states,
        extractable: flag(q, "extractable")?,
        key_ring: ring,
        rings: None,
        limit,
        offset,
    })
}
