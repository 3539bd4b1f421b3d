//! Canonical, injective encoding of additional authenticated data (AAD).
//!
//! ```text
//! u32 BE len(domain) || domain || u32 BE count(parts) || for each part: u32 BE len(part) || part
//! ```
//!
//! Every field is length-prefixed, so the encoding is injective: distinct
//! `(domain, parts)` pairs never produce the same bytes. `["ab", "c"]`,
//! `["a", "bc"]` and `["abc"]` all differ, and the same parts under another
//! domain differ too. A ciphertext bound to one record therefore cannot be
//! moved to another record, nor to another use (domain).

/// Encodes `domain` and `parts` canonically (see the [module docs](self)).
///
/// # Panics
/// If `domain`, any part, or the number of parts exceeds `u32::MAX` (4 GiB);
/// such AAD is a programming error, never caller input.
#[must_use]
pub fn encode_aad(domain: &str, parts: &[&[u8]]) -> Vec<u8> {
    let capacity = 4 + domain.len() + 4 + parts.iter().map(|p| 4 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(capacity);
    put_len(&mut out, domain.len());
    out.extend_from_slice(domain.as_bytes());
    put_len(&mut out, parts.len());
    for part in parts {
        put_len(&mut out, part.len());
        out.extend_from_slice(part);
    }
    out
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths beyond u32::MAX would make the encoding ambiguous; refusing
    // them loudly is the only safe option (documented under "Panics").
    let len = u32::try_from(len).expect("AAD field longer than u32::MAX bytes");
    out.extend_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encoding() {
        assert_eq!(
            encode_aad("kms", &[b"ab", b""]),
            [
                0, 0, 0, 3, b'k', b'm', b's', // domain
                0, 0, 0, 2, // count
                0, 0, 0, 2, b'a', b'b', // part 0
                0, 0, 0, 0, // part 1
            ]
        );
    }

    #[test]
    fn splits_differ() {
        let a = encode_aad("d", &[b"ab", b"c"]);
        let b = encode_aad("d", &[b"a", b"bc"]);
        let c = encode_aad("d", &[b"abc"]);
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(a, c);
        assert_ne!(encode_aad("d", &[]), encode_aad("d", &[b""]));
        assert_ne!(encode_aad("d1", &[b"x"]), encode_aad("d2", &[b"x"]));
    }
}
