//! `Pkcs11MasterKey`: the master key as an AES-256 key object in a PKCS#11 token, made there on
//! first use (sensitive, never extractable) and found again by its label. Sealing and opening
//! run in the token with AES-GCM; the sealed form is the same as the software master key's
//! (format v1: version byte, the master key's id, a 96-bit nonce, ciphertext and tag, with the
//! header authenticated), so data does not say which backend sealed it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use keyward_crypto::{FORMAT_V1, HEADER_LEN, SecretBytes, TAG_LEN, fill_random};
use keyward_kms::{KmsError, MasterKey};
use uuid::Uuid;

use crate::error::HsmError;

const NONCE_LEN: usize = 12;
const TAG_BITS: u64 = 128;

/// Where the master key lives.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The key object's label.
    pub key_label: String,
    /// The user PIN.
    pub pin: std::sync::Arc<SecretBytes>,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("pin", &"<redacted>")
            .finish()
    }
}

/// How the token says the key is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyProtection {
    /// Its value can never be read in clear (`CKA_SENSITIVE`).
    pub sensitive: bool,
    /// It can be wrapped out of the token (`CKA_EXTRACTABLE`).
    pub extractable: bool,
    /// It has never been extractable (`CKA_NEVER_EXTRACTABLE`).
    pub never_extractable: bool,
}

/// The master key in a PKCS#11 token.
pub struct Pkcs11MasterKey {
    id: Uuid,
    key: ObjectHandle,
    session: Mutex<Session>,
}

impl fmt::Debug for Pkcs11MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The module at `path`, loaded and initialised once per process: a module is initialised
/// once, not once per key, and never by two threads at the same time.
fn loaded(path: &Path) -> Result<Pkcs11, HsmError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(pkcs11) = modules.get(path) {
        return Ok(pkcs11.clone());
    }
    let module = |source| HsmError::Module {
        module: path.to_owned(),
        source,
    };
    let pkcs11 = Pkcs11::new(path).map_err(module)?;
    // Another part of this process may have initialised the module through another path.
    tolerate(
        pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)),
        RvError::CryptokiAlreadyInitialized,
    )
    .map_err(module)?;
    modules.insert(path.to_owned(), pkcs11.clone());
    Ok(pkcs11)
}

fn tolerate(result: Result<(), CkError>, harmless: RvError) -> Result<(), CkError> {
    match result {
        Err(CkError::Pkcs11(rv, _)) if rv == harmless => Ok(()),
        other => other,
    }
}

impl Pkcs11MasterKey {
    /// Logs in to the token and finds the key labelled `config.key_label`, making it first when
    /// there is none.
    pub fn open(config: &Pkcs11Config) -> Result<Self, HsmError> {
        let pkcs11 = loaded(&config.module)?;
        let mut slot = None;
        for candidate in pkcs11.get_slots_with_token()? {
            if pkcs11.get_token_info(candidate)?.label().trim_end() == config.token_label {
                slot = Some(candidate);
                break;
            }
        }
        let slot = slot.ok_or_else(|| HsmError::NoToken(config.token_label.clone()))?;
        let login = |source| HsmError::Login {
            token: config.token_label.clone(),
            source,
        };
        let session = pkcs11.open_rw_session(slot).map_err(login)?;
        let pin = std::str::from_utf8(config.pin.expose_secret())
            .map_err(|_| HsmError::Unusable {
                label: config.key_label.clone(),
                reason: "the PIN is not UTF-8",
            })?
            .to_owned();
        tolerate(
            session.login(UserType::User, Some(&AuthPin::new(pin.into()))),
            RvError::UserAlreadyLoggedIn,
        )
        .map_err(login)?;

        let label = config.key_label.as_bytes().to_vec();
        let found = session.find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.clone()),
        ])?;
        let key = match found.as_slice() {
            [] => generate(&session, label)?,
            [key] => *key,
            many => {
                return Err(HsmError::AmbiguousKey(many.len(), config.key_label.clone()));
            }
        };
        let unusable = |reason| HsmError::Unusable {
            label: config.key_label.clone(),
            reason,
        };
        let mut id = None;
        let mut length = None;
        let mut key_type = None;
        for attribute in session.get_attributes(
            key,
            &[
                AttributeType::Id,
                AttributeType::ValueLen,
                AttributeType::KeyType,
            ],
        )? {
            match attribute {
                Attribute::Id(bytes) => id = Uuid::from_slice(&bytes).ok(),
                Attribute::ValueLen(len) => length = Some(u64::from(len)),
                Attribute::KeyType(t) => key_type = Some(t),
                _ => {}
            }
        }
        if key_type != Some(KeyType::AES) || length != Some(32) {
            return Err(unusable("it is not an AES-256 key"));
        }
        let id = id.ok_or_else(|| unusable("its CKA_ID is not a 16-byte id"))?;
        let master = Self {
            id,
            key,
            session: Mutex::new(session),
        };
        if master.protection()?.extractable {
            return Err(unusable("it is extractable"));
        }
        Ok(master)
    }

    /// What the token reports about the key's protection.
    pub fn protection(&self) -> Result<KeyProtection, HsmError> {
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let mut protection = KeyProtection {
            sensitive: false,
            extractable: true,
            never_extractable: false,
        };
        for attribute in session.get_attributes(
            self.key,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
            ],
        )? {
            match attribute {
                Attribute::Sensitive(v) => protection.sensitive = v,
                Attribute::Extractable(v) => protection.extractable = v,
                Attribute::NeverExtractable(v) => protection.never_extractable = v,
                _ => {}
            }
        }
        Ok(protection)
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[0] = FORMAT_V1;
        header[1..].copy_from_slice(self.id.as_bytes());
        header
    }
}

/// A new AES-256 key in the token: persistent, private, sensitive, never extractable, usable
/// only to encrypt and decrypt; its `CKA_ID` is a fresh id.
fn generate(session: &Session, label: Vec<u8>) -> Result<ObjectHandle, HsmError> {
    let id = Uuid::new_v4();
    let length = cryptoki::types::Ulong::try_from(32usize)?;
    Ok(session.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(length),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Label(label),
            Attribute::Id(id.as_bytes().to_vec()),
        ],
    )?)
}

impl MasterKey for Pkcs11MasterKey {
    fn id(&self) -> Uuid {
        self.id
    }

    fn wrap(&self, aad: &[u8], material: &SecretBytes) -> Result<Vec<u8>, KmsError> {
        let header = self.header();
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce).map_err(|_| KmsError::Internal)?;
        let gcm_aad = [header.as_slice(), aad].concat();
        let mut iv = nonce;
        let params =
            GcmParams::new(&mut iv, &gcm_aad, TAG_BITS.into()).map_err(|_| KmsError::Internal)?;
        let sealed = {
            let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
            session
                .encrypt(
                    &Mechanism::AesGcm(params),
                    self.key,
                    material.expose_secret(),
                )
                .map_err(|_| KmsError::Internal)?
        };
        Ok([header.as_slice(), &nonce, &sealed].concat())
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KmsError> {
        if wrapped.len() < HEADER_LEN + NONCE_LEN + TAG_LEN
            || wrapped[..HEADER_LEN] != self.header()
        {
            return Err(KmsError::Internal);
        }
        let gcm_aad = [&wrapped[..HEADER_LEN], aad].concat();
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(&wrapped[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
        let params =
            GcmParams::new(&mut iv, &gcm_aad, TAG_BITS.into()).map_err(|_| KmsError::Internal)?;
        let plain = {
            let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
            session
                .decrypt(
                    &Mechanism::AesGcm(params),
                    self.key,
                    &wrapped[HEADER_LEN + NONCE_LEN..],
                )
                .map_err(|_| KmsError::Internal)?
        };
        // Moved, not copied: the only copy of the plaintext is now zeroized on drop.
        Ok(SecretBytes::new(plain))
    }
}
