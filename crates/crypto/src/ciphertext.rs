//! The versioned ciphertext format (see `docs/adr/0001-ciphertext-format.md`).
//!
//! ```text
//! [0]       format version = 0x01 (FORMAT_V1)
//! [1..17]   key version id (UUID, 16 raw bytes)
//! [17..29]  random 96-bit nonce
//! [29..]    AES-GCM ciphertext || 16-byte tag
//! ```
//!
//! The GCM AAD is `bytes[0..17] || caller_aad`, so the header (format and key
//! version) is authenticated along with the caller's context.
//!
//! Nonces are random, so a key version must seal at most 2^32 messages; the
//! `kms` crate counts encryptions and rotates before that budget is reached.

use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
use uuid::Uuid;
use zeroize::Zeroize;

use crate::random::fill_random;
use crate::{AeadKey, CryptoError, SecretBytes};

/// Format version byte of the only format so far.
pub const FORMAT_V1: u8 = 0x01;

/// Length of the authenticated header: version byte and key version id.
pub const HEADER_LEN: usize = 1 + 16;

/// Length of the AES-GCM authentication tag.
pub const TAG_LEN: usize = 16;

/// Bytes a sealed ciphertext adds to its plaintext: header, nonce and tag.
pub const OVERHEAD: usize = 1 + 16 + 12 + 16;

const NONCE_START: usize = HEADER_LEN;
const BODY_START: usize = NONCE_START + NONCE_LEN;

// Caller AAD up to this size is joined with the header on the stack.
const STACK_AAD_LEN: usize = 256;

/// Encrypts `plaintext` under `key`, recording `key_version` in the header and
/// binding the result to `aad` (use [`encode_aad`](crate::encode_aad) to build it).
///
/// The output is `plaintext.len() + OVERHEAD` bytes, allocated once.
///
/// # Errors
/// [`CryptoError::Random`] if no nonce could be drawn,
/// [`CryptoError::Encrypt`] if AES-GCM refuses the input.
pub fn seal(
    key: &AeadKey,
    key_version: Uuid,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    out.push(FORMAT_V1);
    out.extend_from_slice(key_version.as_bytes());
    out.resize(BODY_START, 0);
    fill_random(&mut out[NONCE_START..BODY_START])?;
    let nonce = nonce_from(&out[NONCE_START..BODY_START]);
    out.extend_from_slice(plaintext);

    let (head, body) = out.split_at_mut(BODY_START);
    let sealed = with_gcm_aad(&head[..HEADER_LEN], aad, |gcm_aad| {
        key.less_safe_key()
            .seal_in_place_separate_tag(nonce, gcm_aad, body)
    });
    match sealed {
        Ok(tag) => {
            out.extend_from_slice(tag.as_ref());
            Ok(out)
        }
        Err(_) => {
            // `out` may still hold plaintext: wipe it before it is freed.
            out.zeroize();
            Err(CryptoError::Encrypt)
        }
    }
}

/// Reads the key version id from a ciphertext's header without decrypting,
/// so the caller can find the right key. The id is not authenticated until
/// [`open`] succeeds.
///
/// # Errors
/// [`CryptoError::Malformed`] when the input is shorter than [`OVERHEAD`]
/// (no valid ciphertext is) or the format version byte is unknown.
pub fn peek_key_version(ciphertext: &[u8]) -> Result<Uuid, CryptoError> {
    parse_header(ciphertext).ok_or(CryptoError::Malformed)
}

/// Decrypts a ciphertext made by [`seal`] with the same `key`, `key_version`
/// and `aad`.
///
/// # Errors
/// [`CryptoError::Decrypt`] for every failure: malformed input, unknown
/// format, a header key version other than `key_version`, wrong key, wrong
/// AAD, or any modified byte. The single opaque error is deliberate.
pub fn open(
    key: &AeadKey,
    key_version: Uuid,
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes, CryptoError> {
    match parse_header(ciphertext) {
        Some(found) if found == key_version => {}
        _ => return Err(CryptoError::Decrypt),
    }
    let nonce = nonce_from(&ciphertext[NONCE_START..BODY_START]);

    // Decrypt in place inside a secret buffer, so plaintext never sits in
    // memory that is not wiped on drop (also on failure).
    let body = &ciphertext[BODY_START..];
    let mut plaintext = SecretBytes::new(body.to_vec());
    let plaintext_len = with_gcm_aad(&ciphertext[..HEADER_LEN], aad, |gcm_aad| {
        key.less_safe_key()
            .open_in_place(nonce, gcm_aad, plaintext.expose_secret_mut())
            .map(|opened| opened.len())
    })
    .map_err(|_| CryptoError::Decrypt)?;
    plaintext.truncate(plaintext_len);
    Ok(plaintext)
}

/// The key version id of a well-formed header, or `None`.
fn parse_header(ciphertext: &[u8]) -> Option<Uuid> {
    if ciphertext.len() < OVERHEAD || ciphertext[0] != FORMAT_V1 {
        return None;
    }
    let id: [u8; 16] = ciphertext[1..HEADER_LEN].try_into().ok()?;
    Some(Uuid::from_bytes(id))
}

fn nonce_from(bytes: &[u8]) -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(bytes);
    Nonce::assume_unique_for_key(nonce)
}

/// Runs `f` with the GCM AAD `header || aad`, joined on the stack when small.
fn with_gcm_aad<R>(header: &[u8], aad: &[u8], f: impl FnOnce(Aad<&[u8]>) -> R) -> R {
    let len = header.len() + aad.len();
    if len <= HEADER_LEN + STACK_AAD_LEN {
        let mut buf = [0u8; HEADER_LEN + STACK_AAD_LEN];
        buf[..header.len()].copy_from_slice(header);
        buf[header.len()..len].copy_from_slice(aad);
        f(Aad::from(&buf[..len]))
    } else {
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(header);
        buf.extend_from_slice(aad);
        f(Aad::from(buf.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let key = AeadKey::new(&[1u8; 32]).expect("valid length");
        let kv = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let ct = seal(&key, kv, b"aad", b"hello").expect("seal works");
        assert_eq!(ct.len(), 5 + OVERHEAD);
        assert_eq!(ct.capacity(), ct.len(), "output allocated exactly once");
        assert_eq!(ct[0], FORMAT_V1);
        assert_eq!(&ct[1..17], kv.as_bytes());
        assert_eq!(peek_key_version(&ct).expect("well formed"), kv);
        let pt = open(&key, kv, b"aad", &ct).expect("round trip");
        assert_eq!(pt.expose_secret(), b"hello");
    }

    #[test]
    fn large_aad_takes_heap_path() {
        let key = AeadKey::new(&[1u8; 16]).expect("valid length");
        let kv = Uuid::nil();
        for aad_len in [STACK_AAD_LEN - 1, STACK_AAD_LEN, STACK_AAD_LEN + 1, 4096] {
            let aad = vec![9u8; aad_len];
            let ct = seal(&key, kv, &aad, b"x").expect("seal works");
            assert_eq!(
                open(&key, kv, &aad, &ct)
                    .expect("round trip")
                    .expose_secret(),
                b"x"
            );
            let mut other = aad.clone();
            other[aad_len - 1] ^= 1;
            assert!(matches!(
                open(&key, kv, &other, &ct),
                Err(CryptoError::Decrypt)
            ));
        }
    }

    #[test]
    fn peek_rejects_malformed() {
        assert!(matches!(peek_key_version(&[]), Err(CryptoError::Malformed)));
        assert!(matches!(
            peek_key_version(&[FORMAT_V1; OVERHEAD - 1]),
            Err(CryptoError::Malformed)
        ));
        let mut unknown = [0u8; OVERHEAD];
        unknown[0] = 0x02;
        assert!(matches!(
            peek_key_version(&unknown),
            Err(CryptoError::Malformed)
        ));
    }
}
