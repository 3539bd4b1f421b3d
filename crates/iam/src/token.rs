//! Access tokens: HS256 JWTs in the shape IBM IAM issues, so the SDKs' authenticators accept
//! them (they read `iat` and `exp`), signed and verified with a key only the server holds.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_crypto::SecretBytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{IamError, TokenError};
use crate::principal::{Principal, PrincipalKind};

/// Lifetime of an access token.
pub const TOKEN_LIFETIME_SECONDS: i64 = 3600;

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
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// Issuer.
    pub iss: String,
}

impl Claims {
    /// Claims for `principal`, valid from `now` for [`TOKEN_LIFETIME_SECONDS`].
    pub fn for_principal(principal: &Principal, now: OffsetDateTime) -> Self {
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
            exp: iat + TOKEN_LIFETIME_SECONDS,
            jti: uuid::Uuid::new_v4().to_string(),
            iss: "keyward".into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
}

/// Signs and verifies tokens. Not `Debug`, not `Clone`.
pub struct TokenSigner {
    key: hmac::Key,
    header_b64: String,
}

impl TokenSigner {
    /// A signer over a 32-byte secret.
    pub fn new(secret: &SecretBytes) -> Result<Self, IamError> {
        if secret.len() < 32 {
            return Err(IamError::Crypto);
        }
        let header = serde_json::to_vec(&Header {
            alg: "HS256".into(),
            typ: "JWT".into(),
        })
        .map_err(|_| IamError::Crypto)?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret()),
            header_b64: URL_SAFE_NO_PAD.encode(header),
        })
    }

    /// The compact JWT for `claims`.
    pub fn issue(&self, claims: &Claims) -> Result<String, IamError> {
        let payload = serde_json::to_vec(claims).map_err(|_| IamError::Crypto)?;
        let mut token = format!("{}.{}", self.header_b64, URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac::sign(&self.key, token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(tag.as_ref()));
        Ok(token)
    }

    /// Verifies signature (constant time) and expiry, then returns the claims.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        if header != self.header_b64 {
            return Err(TokenError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, signed.as_bytes(), &signature)
            .map_err(|_| TokenError::Signature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::AccountId;

    fn signer(byte: u8) -> TokenSigner {
        TokenSigner::new(&SecretBytes::new(vec![byte; 32])).unwrap_or_else(|_| unreachable!())
    }

    fn claims(now: OffsetDateTime) -> Claims {
        let p = Principal::new(AccountId::new_random(), PrincipalKind::User, "u", now)
            .unwrap_or_else(|_| unreachable!());
        Claims::for_principal(&p, now)
    }

    #[test]
    fn issued_tokens_verify_until_expiry() {
        let now = OffsetDateTime::now_utc();
        let s = signer(1);
        let c = claims(now);
        let t = s.issue(&c).unwrap_or_default();
        assert_eq!(s.verify(&t, now), Ok(c));
        let later = now + time::Duration::seconds(TOKEN_LIFETIME_SECONDS);
        assert_eq!(s.verify(&t, later), Err(TokenError::Expired));
    }

    #[test]
    fn other_keys_and_edits_are_refused() {
        let now = OffsetDateTime::now_utc();
        let t = signer(1).issue(&claims(now)).unwrap_or_default();
        assert_eq!(signer(2).verify(&t, now), Err(TokenError::Signature));
        // Swap in different claims under the old signature.
        let other = signer(1).issue(&claims(now)).unwrap_or_default();
        let (_, sig) = t.rsplit_once('.').unwrap_or_default();
        let (signed, _) = other.rsplit_once('.').unwrap_or_default();
        assert_eq!(
            signer(1).verify(&format!("{signed}.{sig}"), now),
            Err(TokenError::Signature)
        );
        assert_eq!(signer(1).verify("abc", now), Err(TokenError::Malformed));
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            t.split('.').nth(1).unwrap_or_default()
        );
        assert_eq!(signer(1).verify(&none_alg, now), Err(TokenError::Malformed));
    }
}
