//! AES-GCM with a key object in the token, in Keyward's ciphertext format v1 (version byte, the
//! sealing key's id, a 96-bit nonce, ciphertext and tag, with the header authenticated), so that
//! what a token key seals cannot be told from what a software key seals.

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use keyward_crypto::{FORMAT_V1, HEADER_LEN, SecretBytes, TAG_LEN, fill_random};
use uuid::Uuid;

const NONCE_LEN: usize = 12;
const TAG_BITS: u64 = 128;

/// The token refused, or the input is not a ciphertext of this key and AAD.
#[derive(Debug)]
pub(crate) struct Refused;

fn header(id: Uuid) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0] = FORMAT_V1;
    header[1..].copy_from_slice(id.as_bytes());
    header
}

/// Seals `plaintext` with `key` (whose id `id` goes in the header), binding it to `aad`.
pub(crate) fn seal(
    session: &Session,
    key: ObjectHandle,
    id: Uuid,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Refused> {
    let header = header(id);
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce).map_err(|_| Refused)?;
    let gcm_aad = [header.as_slice(), aad].concat();
    let mut iv = nonce;
    let params = GcmParams::new(&mut iv, &gcm_aad, TAG_BITS.into()).map_err(|_| Refused)?;
    let sealed = session
        .encrypt(&Mechanism::AesGcm(params), key, plaintext)
        .map_err(|_| Refused)?;
    Ok([header.as_slice(), &nonce, &sealed].concat())
}

/// Opens what [`seal`] made with the same key, id and AAD.
pub(crate) fn open(
    session: &Session,
    key: ObjectHandle,
    id: Uuid,
    aad: &[u8],
    sealed: &[u8],
) -> Result<SecretBytes, Refused> {
    if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || sealed[..HEADER_LEN] != header(id) {
        return Err(Refused);
    }
    let gcm_aad = [&sealed[..HEADER_LEN], aad].concat();
    let mut iv = [0u8; NONCE_LEN];
    iv.copy_from_slice(&sealed[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
    let params = GcmParams::new(&mut iv, &gcm_aad, TAG_BITS.into()).map_err(|_| Refused)?;
    let plain = session
        .decrypt(
            &Mechanism::AesGcm(params),
            key,
            &sealed[HEADER_LEN + NONCE_LEN..],
        )
        .map_err(|_| Refused)?;
    // Moved, not copied: the only copy of the plaintext is now zeroized on drop.
    Ok(SecretBytes::new(plain))
}
