//! Access tokens: HS256 JWTs in the shape IBM IAM issues, so the SDKs' authenticators accept
//! them (they read `iat` and `exp`). The signing key rotates: the newest key signs, the `kid`
//! in the header names it, and older keys verify until their tokens have expired.

use std::sync::{PoisonError, RwLock};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_crypto::SecretBytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{IamError, TokenError};
use crate::principal::{Principal, PrincipalKind};

/// Lifetime of an access token.
pub const TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// The `iss` of every token.
pub const ISSUER: &str = "keyward";

/// How far ahead of this node's clock `iat` and `nbf` may be (other nodes' clocks drift).
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// The account claim, as IBM IAM writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountClaim {
    /// The account id.
    pub bss: String,
}

/// The claims we issue and verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// IAM id of the principal.
    pub iam_id: String,
    /// Same as `iam_id`.
    pub sub: String,
    /// `user` or `ServiceId`.
    pub sub_type: String,
    /// The principal's account.
    pub account: AccountClaim,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before (seconds since the epoch).
    pub nbf: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// Issuer.
    pub iss: String,
    /// The API key the token was issued for: deleting or locking it revokes the token.
    pub apikey_id: String,
    /// For Keyward's own services: the instance the service acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_instance: Option<Uuid>,
}

impl Claims {
    /// Claims for `principal` presenting API key `apikey_id`, valid from `now` for
    /// [`TOKEN_LIFETIME_SECONDS`].
    pub fn for_principal(principal: &Principal, apikey_id: Uuid, now: OffsetDateTime) -> Self {
        let iat = now.unix_timestamp();
        Self {
            iam_id: principal.iam_id.clone(),
            sub: principal.iam_id.clone(),
            sub_type: match principal.kind {
                PrincipalKind::User => "user".into(),
                PrincipalKind::ServiceId => "ServiceId".into(),
            },
            account: AccountClaim {
                bss: principal.account.as_str().to_owned(),
            },
            iat,
            nbf: iat,
            exp: iat + TOKEN_LIFETIME_SECONDS,
            jti: Uuid::new_v4().to_string(),
            iss: ISSUER.into(),
            apikey_id: apikey_id.to_string(),
            source_instance: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// One signing key. Not `Debug`, not `Clone`.
pub struct SigningKey {
    kid: String,
    key: hmac::Key,
    created_at: OffsetDateTime,
    /// The encoded header of its tokens, compared as text on the hot path.
    header_b64: String,
}

fn encoded_header(kid: &str) -> Result<String, IamError> {
    let header = serde_json::to_vec(&Header {
        alg: "HS256".into(),
        typ: "JWT".into(),
        kid: kid.to_owned(),
    })
    .map_err(|_| IamError::Crypto)?;
    Ok(URL_SAFE_NO_PAD.encode(header))
}

impl SigningKey {
    /// A key over a secret of at least 32 bytes.
    pub fn new(
        kid: String,
        secret: &SecretBytes,
        created_at: OffsetDateTime,
    ) -> Result<Self, IamError> {
        if secret.len() < 32 {
            return Err(IamError::Crypto);
        }
        Ok(Self {
            header_b64: encoded_header(&kid)?,
            kid,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret()),
            created_at,
        })
    }

    /// Its id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// When it was made.
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }
}

/// Signs with the newest key and verifies with any key it holds. Not `Debug`, not `Clone`.
pub struct TokenSigner {
    keys: RwLock<Vec<SigningKey>>,
}

impl TokenSigner {
    /// A signer over `keys` (at least one).
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, IamError> {
        let signer = Self {
            keys: RwLock::new(Vec::new()),
        };
        signer.replace_keys(keys)?;
        Ok(signer)
    }

    /// Replaces the key set (after a rotation, or a reload that sees another node's).
    pub fn replace_keys(&self, mut keys: Vec<SigningKey>) -> Result<(), IamError> {
        if keys.is_empty() {
            return Err(IamError::Crypto);
        }
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.kid.cmp(&b.kid)));
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// The kids held, newest first.
    pub fn kids(&self) -> Vec<String> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|k| k.kid.clone())
            .collect()
    }

    /// When the newest key was made.
    pub fn newest_created_at(&self) -> Option<OffsetDateTime> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .first()
            .map(|k| k.created_at)
    }

    /// The compact JWT for `claims`, signed with the newest key.
    pub fn issue(&self, claims: &Claims) -> Result<String, IamError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let newest = keys.first().ok_or(IamError::Crypto)?;
        let payload = serde_json::to_vec(claims).map_err(|_| IamError::Crypto)?;
        let mut token = format!("{}.{}", newest.header_b64, URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac::sign(&newest.key, token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(tag.as_ref()));
        Ok(token)
    }

    /// A header no key of ours has: a well-formed one of ours names a key this node does not
    /// hold; anything else (another algorithm, no `kid`) is malformed.
    fn unknown_header(header: &str) -> TokenError {
        let parsed: Option<Header> = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok());
        match parsed {
            Some(h) if h.alg == "HS256" && h.typ == "JWT" => TokenError::UnknownKey,
            _ => TokenError::Malformed,
        }
    }

    /// Verifies the header, the signature (constant time) with the key the header names, and
    /// `iss`, `iat`, `nbf` and `exp` against `now`, then returns the claims.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            // Our headers are exact texts; anything else is either another key's header or
            // not ours at all.
            let Some(key) = keys.iter().find(|k| k.header_b64 == header) else {
                return Err(Self::unknown_header(header));
            };
            hmac::verify(&key.key, signed.as_bytes(), &signature)
                .map_err(|_| TokenError::Signature)?;
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        let now = now.unix_timestamp();
        if claims.iss != ISSUER {
            return Err(TokenError::Malformed);
        }
        if claims.iat > now + CLOCK_SKEW_SECONDS
            || claims.nbf > now + CLOCK_SKEW_SECONDS
            || claims.exp - claims.iat > TOKEN_LIFETIME_SECONDS
        {
            return Err(TokenError::NotYetValid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::AccountId;

    fn key(kid: &str, byte: u8, age_s: i64) -> SigningKey {
        SigningKey::new(
            kid.into(),
            &SecretBytes::new(vec![byte; 32]),
            OffsetDateTime::now_utc() - time::Duration::seconds(age_s),
        )
        .unwrap_or_else(|_| unreachable!())
    }

    fn signer(keys: Vec<SigningKey>) -> TokenSigner {
        TokenSigner::new(keys).unwrap_or_else(|_| unreachable!())
    }

    fn claims(now: OffsetDateTime) -> Claims {
        let p = Principal::new(AccountId::new_random(), PrincipalKind::User, "u", now)
            .unwrap_or_else(|_| unreachable!());
        Claims::for_principal(&p, Uuid::new_v4(), now)
    }

    fn forge(header: &str, payload: &Claims, key: &SigningKey) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap_or_default())
        );
        let tag = hmac::sign(&key.key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    #[test]
    fn issued_tokens_verify_until_expiry() {
        let now = OffsetDateTime::now_utc();
        let s = signer(vec![key("k1", 1, 0)]);
        let c = claims(now);
        let t = s.issue(&c).unwrap_or_default();
        assert_eq!(s.verify(&t, now), Ok(c));
        let later = now + time::Duration::seconds(TOKEN_LIFETIME_SECONDS);
        assert_eq!(s.verify(&t, later), Err(TokenError::Expired));
    }

    #[test]
    fn the_newest_key_signs_and_older_keys_still_verify() {
        let now = OffsetDateTime::now_utc();
        let old = signer(vec![key("old", 1, 100)]);
        let t_old = old.issue(&claims(now)).unwrap_or_default();
        let rotated = signer(vec![key("old", 1, 100), key("new", 2, 0)]);
        let t_new = rotated.issue(&claims(now)).unwrap_or_default();
        assert!(rotated.verify(&t_old, now).is_ok());
        assert!(rotated.verify(&t_new, now).is_ok());
        assert_eq!(rotated.kids(), vec!["new".to_owned(), "old".to_owned()]);
        // Once the old key is dropped its tokens stop verifying.
        let dropped = signer(vec![key("new", 2, 0)]);
        assert_eq!(dropped.verify(&t_old, now), Err(TokenError::UnknownKey));
        assert!(dropped.verify(&t_new, now).is_ok());
    }

    #[test]
    fn other_keys_edits_and_bad_headers_are_refused() {
        let now = OffsetDateTime::now_utc();
        let k1 = key("k1", 1, 0);
        let s = signer(vec![key("k1", 1, 0)]);
        let t = s.issue(&claims(now)).unwrap_or_default();
        // Same kid, other secret.
        assert_eq!(
            signer(vec![key("k1", 2, 0)]).verify(&t, now),
            Err(TokenError::Signature)
        );
        // Swap in different claims under the old signature.
        let other = s.issue(&claims(now)).unwrap_or_default();
        let (_, sig) = t.rsplit_once('.').unwrap_or_default();
        let (signed, _) = other.rsplit_once('.').unwrap_or_default();
        assert_eq!(
            s.verify(&format!("{signed}.{sig}"), now),
            Err(TokenError::Signature)
        );
        assert_eq!(s.verify("abc", now), Err(TokenError::Malformed));
        let c = claims(now);
        for header in [
            r#"{"alg":"none","typ":"JWT","kid":"k1"}"#,
            r#"{"alg":"HS512","typ":"JWT","kid":"k1"}"#,
            r#"{"alg":"HS256","typ":"JWT"}"#,
        ] {
            assert_eq!(
                s.verify(&forge(header, &c, &k1), now),
                Err(TokenError::Malformed),
                "{header}"
            );
        }
        let valid = forge(r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#, &c, &k1);
        assert!(s.verify(&valid, now).is_ok());
    }

    #[test]
    fn issuer_issue_time_and_not_before_are_checked() {
        let now = OffsetDateTime::now_utc();
        let k1 = key("k1", 1, 0);
        let s = signer(vec![key("k1", 1, 0)]);
        let header = r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#;
        let mut other_issuer = claims(now);
        other_issuer.iss = "someone-else".into();
        assert_eq!(
            s.verify(&forge(header, &other_issuer, &k1), now),
            Err(TokenError::Malformed)
        );
        let future = claims(now + time::Duration::seconds(600));
        assert_eq!(
            s.verify(&forge(header, &future, &k1), now),
            Err(TokenError::NotYetValid)
        );
        let mut not_yet = claims(now);
        not_yet.nbf += 600;
        assert_eq!(
            s.verify(&forge(header, &not_yet, &k1), now),
            Err(TokenError::NotYetValid)
        );
        let mut too_long = claims(now);
        too_long.exp += 86_400;
        assert_eq!(
            s.verify(&forge(header, &too_long, &k1), now),
            Err(TokenError::NotYetValid)
        );
        let mut skewed = claims(now);
        skewed.iat += 30;
        skewed.nbf += 30;
        skewed.exp += 30;
        assert!(s.verify(&forge(header, &skewed, &k1), now).is_ok());
    }
}
