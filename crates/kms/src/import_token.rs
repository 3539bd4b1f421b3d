//! Import tokens and secure import: an instance's RSA-4096 key pair and nonce, with which a
//! client brings key material without exposing it. The client encrypts the material with the
//! token's public key (RSA-OAEP with SHA-256) and the token's nonce under the material
//! (AES-GCM); Keyward opens the material with the private key, held sealed under the master
//! key, and accepts it only if the nonce opens and matches. A token serves one import.

use std::ops::RangeInclusive;

use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use base64::Engine as _;
use keyward_crypto::SecretBytes;
use keyward_iam::Action as Op;
use time::{Duration, OffsetDateTime};

use crate::error::KmsError;
use crate::ids::InstanceId;
use crate::ports::{Access, KeyStore, MasterKey};
use crate::service::Kms;

/// Seconds a token may live, and the default.
pub const TOKEN_LIFETIME_SECONDS: RangeInclusive<i64> = 300..=86_400;
/// The default lifetime, in seconds.
pub const DEFAULT_TOKEN_LIFETIME_SECONDS: i64 = 600;
/// How many times a token may be retrieved, and the default.
pub const TOKEN_RETRIEVALS: RangeInclusive<i64> = 1..=500;
/// The default number of retrievals.
pub const DEFAULT_TOKEN_RETRIEVALS: i64 = 1;
/// The one algorithm `encryptionAlgorithm` may name.
pub const SECURE_IMPORT_ALGORITHM: &str = "RSAES_OAEP_SHA_256";
/// Bytes of a token's nonce.
pub const NONCE_BYTES: usize = 12;
/// AAD domain of a token's sealed private key.
const PRIVATE_KEY_AAD: &str = "keyward.kms.import-token.v1";

/// An instance's import token, as stored (its private key sealed under the master key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportToken {
    /// The instance.
    pub instance: InstanceId,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stops serving.
    pub expires_at: OffsetDateTime,
    /// Retrievals allowed.
    pub max_retrievals: u32,
    /// Retrievals left.
    pub remaining: u32,
    /// The public key, DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    /// The nonce the client encrypts under the material.
    pub nonce: Vec<u8>,
    /// The PKCS#8 private key, sealed by [`MasterKey::wrap`].
    pub sealed_private_key: Vec<u8>,
    /// Who made it.
    pub created_by: String,
}

impl ImportToken {
    /// Whether it no longer serves at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`), as Key Protect hands it out.
    pub fn public_key_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.public_key);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    fn aad(instance: InstanceId, created_at: OffsetDateTime) -> Vec<u8> {
        let millis = created_at.unix_timestamp_nanos() / 1_000_000;
        format!("{PRIVATE_KEY_AAD}|{instance}|{millis}").into_bytes()
    }
}

/// Key material brought through an import token, as the client sent it (base64-decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecureImport {
    /// RSA-OAEP-SHA-256 of the material under the token's public key.
    pub payload: Vec<u8>,
    /// AES-GCM of the token's nonce under the material, with its 16-byte tag.
    pub encrypted_nonce: Vec<u8>,
    /// The 12-byte AES-GCM IV.
    pub iv: Vec<u8>,
}

fn invalid(field: &'static str, requirement: &'static str) -> KmsError {
    KmsError::InvalidField { field, requirement }
}

/// Opens the material of `import` with the token's PKCS#8 private key and checks that the
/// nonce it carries is `nonce`. Any change to payload, encrypted nonce or IV is refused.
pub fn open_secure_import(
    private_pkcs8: &[u8],
    nonce: &[u8],
    import: &SecureImport,
) -> Result<SecretBytes, KmsError> {
    let private =
        PrivateDecryptingKey::from_pkcs8(private_pkcs8).map_err(|_| KmsError::Internal)?;
    let private = OaepPrivateDecryptingKey::new(private).map_err(|_| KmsError::Internal)?;
    let mut out = vec![0u8; private.min_output_size()];
    let material = match private.decrypt(&OAEP_SHA256_MGF1SHA256, &import.payload, &mut out, None) {
        Ok(m) => SecretBytes::new(m.to_vec()),
        Err(_) => {
            return Err(invalid(
                "payload",
                "key material encrypted with the import token's public key (RSAES_OAEP_SHA_256)",
            ));
        }
    };
    zeroize::Zeroize::zeroize(&mut out);
    let algorithm = match material.len() {
        16 => &AES_128_GCM,
        24 => &AES_192_GCM,
        32 => &AES_256_GCM,
        _ => return Err(invalid("payload", "key material of 16, 24 or 32 bytes")),
    };
    let iv: [u8; NONCE_BYTES] = import
        .iv
        .as_slice()
        .try_into()
        .map_err(|_| invalid("iv", "12 bytes, base64"))?;
    let key =
        UnboundKey::new(algorithm, material.expose_secret()).map_err(|_| KmsError::Internal)?;
    let key = LessSafeKey::new(key);
    let mut sealed = import.encrypted_nonce.clone();
    let opened = key
        .open_in_place(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut sealed)
        .map_err(|_| KmsError::NonceIvMismatch)?;
    if !keyward_crypto::ct_eq(opened, nonce) {
        return Err(KmsError::NonceMismatch);
    }
    Ok(material)
}

/// The client's side of a secure import: encrypts `material` (16, 24 or 32 bytes) for the
/// token whose PEM public key and nonce are given, with a fresh random IV.
pub fn seal_for_import(
    public_key_pem: &str,
    nonce: &[u8],
    material: &SecretBytes,
) -> Result<SecureImport, KmsError> {
    let der = pem_body(public_key_pem)
        .ok_or_else(|| invalid("payload", "a PEM public key (-----BEGIN PUBLIC KEY-----)"))?;
    let public =
        PublicEncryptingKey::from_der(&der).map_err(|_| invalid("payload", "an RSA public key"))?;
    let public = OaepPublicEncryptingKey::new(public).map_err(|_| KmsError::Internal)?;
    let mut payload = vec![0u8; public.ciphertext_size()];
    let payload = public
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            material.expose_secret(),
            &mut payload,
            None,
        )
        .map_err(|_| invalid("payload", "key material of 16, 24 or 32 bytes"))?
        .to_vec();
    let algorithm = match material.len() {
        16 => &AES_128_GCM,
        24 => &AES_192_GCM,
        32 => &AES_256_GCM,
        _ => return Err(invalid("payload", "key material of 16, 24 or 32 bytes")),
    };
    let mut iv = [0u8; NONCE_BYTES];
    keyward_crypto::fill_random(&mut iv).map_err(|_| KmsError::Internal)?;
    let key = LessSafeKey::new(
        UnboundKey::new(algorithm, material.expose_secret()).map_err(|_| KmsError::Internal)?,
    );
    let mut encrypted_nonce = nonce.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(iv),
        Aad::empty(),
        &mut encrypted_nonce,
    )
    .map_err(|_| KmsError::Internal)?;
    Ok(SecureImport {
        payload,
        encrypted_nonce,
        iv: iv.to_vec(),
    })
}

/// The DER inside a PEM block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

impl<S: KeyStore, M: MasterKey> Kms<S, M> {
    /// Makes the instance's import token (replacing any other): a fresh RSA-4096 key pair and
    /// nonce, living `lifetime` seconds and retrievable `retrievals` times.
    pub async fn create_import_token(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        lifetime: Option<i64>,
        retrievals: Option<i64>,
    ) -> Result<ImportToken, KmsError> {
        Self::require_instance(access, Op::KmsImportTokenCreate)?;
        let lifetime = lifetime.unwrap_or(DEFAULT_TOKEN_LIFETIME_SECONDS);
        if !TOKEN_LIFETIME_SECONDS.contains(&lifetime) {
            return Err(invalid(
                "expiration",
                "an integer from 300 to 86400 (seconds)",
            ));
        }
        let retrievals = retrievals.unwrap_or(DEFAULT_TOKEN_RETRIEVALS);
        if !TOKEN_RETRIEVALS.contains(&retrievals) {
            return Err(invalid("maxAllowedRetrievals", "an integer from 1 to 500"));
        }
        let retrievals = u32::try_from(retrievals).map_err(|_| KmsError::Internal)?;
        // RSA-4096 generation takes a good part of a second: not on the request threads.
        let (public_key, private_pkcs8) = tokio::task::spawn_blocking(|| {
            let private =
                PrivateDecryptingKey::generate(KeySize::Rsa4096).map_err(|_| KmsError::Internal)?;
            let public = private
                .public_key()
                .as_der()
                .map_err(|_| KmsError::Internal)?
                .as_ref()
                .to_vec();
            let pkcs8 = private.as_der().map_err(|_| KmsError::Internal)?;
            Ok::<_, KmsError>((public, SecretBytes::new(pkcs8.as_ref().to_vec())))
        })
        .await
        .map_err(|_| KmsError::Internal)??;
        let now = self.now();
        let token = ImportToken {
            instance,
            created_at: now,
            expires_at: now + Duration::seconds(lifetime),
            max_retrievals: retrievals,
            remaining: retrievals,
            public_key,
            nonce: keyward_crypto::random_bytes(NONCE_BYTES).map_err(|_| KmsError::Internal)?,
            sealed_private_key: self
                .master
                .wrap(&ImportToken::aad(instance, now), &private_pkcs8)?,
            created_by: access.principal().to_owned(),
        };
        self.store.put_import_token(&token).await?;
        Ok(token)
    }

    /// Hands out the instance's import token, counting the retrieval; refused once it expired
    /// or was retrieved as often as allowed.
    pub async fn retrieve_import_token(
        &self,
        access: &dyn Access,
        instance: InstanceId,
    ) -> Result<ImportToken, KmsError> {
        Self::require_instance(access, Op::KmsImportTokenRead)?;
        let now = self.now();
        if let Some(token) = self.store.retrieve_import_token(instance, now).await? {
            return Ok(token);
        }
        self.usable_token(instance).await?;
        Err(KmsError::ImportTokenExpired)
    }

    /// The instance's token, while it serves; an expired one is removed.
    async fn usable_token(&self, instance: InstanceId) -> Result<ImportToken, KmsError> {
        let token = self
            .store
            .import_token(instance)
            .await?
            .ok_or(KmsError::ImportTokenNotFound)?;
        if token.is_expired(self.now()) {
            self.store
                .delete_import_token(instance, token.created_at)
                .await?;
            return Err(KmsError::ImportTokenExpired);
        }
        Ok(token)
    }

    /// Opens material brought through the instance's import token for a caller who may perform
    /// `action` (creating or rotating keys) somewhere, and spends the token.
    pub async fn open_secure_import(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        action: Op,
        import: &SecureImport,
    ) -> Result<SecretBytes, KmsError> {
        Self::require_somewhere(access, action)?;
        self.open_and_spend(instance, import).await
    }

    /// Opens material brought through the instance's import token and spends the token (for a
    /// caller already authorized).
    pub(crate) async fn open_and_spend(
        &self,
        instance: InstanceId,
        import: &SecureImport,
    ) -> Result<SecretBytes, KmsError> {
        let token = self.usable_token(instance).await?;
        let private = self.master.unwrap(
            &ImportToken::aad(instance, token.created_at),
            &token.sealed_private_key,
        )?;
        let material = open_secure_import(private.expose_secret(), &token.nonce, import)?;
        // Spent by this import; if another import spent it first, this one is refused.
        if !self
            .store
            .delete_import_token(instance, token.created_at)
            .await?
        {
            return Err(KmsError::ImportTokenExpired);
        }
        Ok(material)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    struct Fixture {
        pkcs8: Vec<u8>,
        nonce: Vec<u8>,
        material: Vec<u8>,
        import: SecureImport,
    }

    /// One RSA-4096 pair for every case (generation is slow), and an import as a client makes it.
    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let private = PrivateDecryptingKey::generate(KeySize::Rsa4096).expect("rsa");
            let public_der = private
                .public_key()
                .as_der()
                .expect("der")
                .as_ref()
                .to_vec();
            let pkcs8 = private.as_der().expect("pkcs8").as_ref().to_vec();
            let nonce = keyward_crypto::random_bytes(NONCE_BYTES).expect("nonce");
            let material = keyward_crypto::random_bytes(32).expect("material");
            let token = ImportToken {
                instance: InstanceId::new_random(),
                created_at: OffsetDateTime::UNIX_EPOCH,
                expires_at: OffsetDateTime::UNIX_EPOCH,
                max_retrievals: 1,
                remaining: 1,
                public_key: public_der,
                nonce: nonce.clone(),
                sealed_private_key: vec![],
                created_by: String::new(),
            };
            let import = seal_for_import(
                &token.public_key_pem(),
                &nonce,
                &SecretBytes::new(material.clone()),
            )
            .expect("client side");
            Fixture {
                pkcs8,
                nonce,
                material,
                import,
            }
        })
    }

    #[test]
    fn a_well_made_import_opens_to_its_material_of_every_size() {
        let f = fixture();
        let opened = open_secure_import(&f.pkcs8, &f.nonce, &f.import).expect("opens");
        assert_eq!(opened.expose_secret(), f.material.as_slice());
        let private = PrivateDecryptingKey::from_pkcs8(&f.pkcs8).expect("pkcs8");
        let public = private
            .public_key()
            .as_der()
            .expect("der")
            .as_ref()
            .to_vec();
        let pem = ImportToken {
            public_key: public,
            ..ImportToken {
                instance: InstanceId::new_random(),
                created_at: OffsetDateTime::UNIX_EPOCH,
                expires_at: OffsetDateTime::UNIX_EPOCH,
                max_retrievals: 1,
                remaining: 1,
                public_key: vec![],
                nonce: vec![],
                sealed_private_key: vec![],
                created_by: String::new(),
            }
        }
        .public_key_pem();
        for size in [16, 24] {
            let material = SecretBytes::new(keyward_crypto::random_bytes(size).expect("material"));
            let import = seal_for_import(&pem, &f.nonce, &material).expect("sealed");
            let opened = open_secure_import(&f.pkcs8, &f.nonce, &import).expect("opens");
            assert_eq!(opened.expose_secret(), material.expose_secret());
        }
        let odd = SecretBytes::new(vec![1; 20]);
        assert!(seal_for_import(&pem, &f.nonce, &odd).is_err());
    }

    #[test]
    fn another_nonce_or_a_short_iv_is_refused() {
        let f = fixture();
        let other_nonce = vec![0u8; NONCE_BYTES];
        assert!(matches!(
            open_secure_import(&f.pkcs8, &other_nonce, &f.import),
            Err(KmsError::NonceMismatch)
        ));
        let mut short = f.import.clone();
        short.iv.pop();
        assert!(matches!(
            open_secure_import(&f.pkcs8, &f.nonce, &short),
            Err(KmsError::InvalidField { field: "iv", .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_flipped_bit_in_payload_nonce_or_iv_is_refused(part in 0usize..3, bit in any::<prop::sample::Index>()) {
            let f = fixture();
            let mut import = f.import.clone();
            let field = match part {
                0 => &mut import.payload,
                1 => &mut import.encrypted_nonce,
                _ => &mut import.iv,
            };
            let at = bit.index(field.len() * 8);
            field[at / 8] ^= 1 << (at % 8);
            prop_assert!(open_secure_import(&f.pkcs8, &f.nonce, &import).is_err());
        }
    }
}
