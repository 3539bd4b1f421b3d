//! AES key objects in the token: made there (generated, or imported once from material that the
//! caller then drops) as persistent, private, sensitive, never-extractable keys usable only to
//! encrypt and decrypt; found again by label or id; described by what the token reports;
//! destroyed.
//!
//! Making, finding and destroying objects take turns within the process: SoftHSM2's file store
//! answers `CKR_GENERAL_ERROR` when sessions make objects at the same time (the test
//! `versions_are_made_and_destroyed_from_many_threads_at_once` failed 4 runs in 4 without the
//! turns). Encryption and decryption do not wait on this.

use std::sync::{Mutex, MutexGuard, PoisonError};

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use keyward_crypto::SecretBytes;

/// How the token says a key is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyProtection {
    /// Its value can never be read in clear (`CKA_SENSITIVE`).
    pub sensitive: bool,
    /// It can be wrapped out of the token (`CKA_EXTRACTABLE`).
    pub extractable: bool,
    /// It has never been extractable (`CKA_NEVER_EXTRACTABLE`).
    pub never_extractable: bool,
}

static OBJECTS: Mutex<()> = Mutex::new(());

fn objects() -> MutexGuard<'static, ()> {
    OBJECTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The attributes every key Keyward makes carries, besides its label and id.
fn template(label: Vec<u8>, id: Vec<u8>) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Label(label),
        Attribute::Id(id),
    ]
}

/// A new AES-256 key generated in the token.
pub(crate) fn generate(
    session: &Session,
    label: Vec<u8>,
    id: Vec<u8>,
) -> Result<ObjectHandle, cryptoki::error::Error> {
    let mut attributes = template(label, id);
    attributes.push(Attribute::ValueLen(32.into()));
    let _turn = objects();
    session.generate_key(&Mechanism::AesKeyGen, &attributes)
}

/// A key made in the token from `material` (16, 24 or 32 bytes). The token reports it as
/// sensitive and not extractable, though (having been given) not as never extractable.
pub(crate) fn import(
    session: &Session,
    label: Vec<u8>,
    id: Vec<u8>,
    material: &SecretBytes,
) -> Result<ObjectHandle, cryptoki::error::Error> {
    let mut attributes = template(label, id);
    attributes.push(Attribute::Value(material.expose_secret().to_vec()));
    let made = {
        let _turn = objects();
        session.create_object(&attributes)
    };
    // The attribute list held a copy of the material.
    for attribute in &mut attributes {
        if let Attribute::Value(value) = attribute {
            zeroize::Zeroize::zeroize(value);
        }
    }
    made
}

/// The secret keys carrying `attribute` (a label or an id).
pub(crate) fn find(
    session: &Session,
    attribute: Attribute,
) -> Result<Vec<ObjectHandle>, cryptoki::error::Error> {
    let _turn = objects();
    session.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), attribute])
}

/// Destroys `key`.
pub(crate) fn destroy(session: &Session, key: ObjectHandle) -> Result<(), cryptoki::error::Error> {
    let _turn = objects();
    session.destroy_object(key)
}

/// What the token reports about `key`'s protection.
pub(crate) fn protection(
    session: &Session,
    key: ObjectHandle,
) -> Result<KeyProtection, cryptoki::error::Error> {
    let mut protection = KeyProtection {
        sensitive: false,
        extractable: true,
        never_extractable: false,
    };
    for attribute in session.get_attributes(
        key,
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
