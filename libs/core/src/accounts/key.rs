//! The API key format: `ee_` and 32 random bytes in base64url without padding. Only a SHA-256
//! digest and a short prefix are ever stored.
//!
//! A plain SHA-256 is the right hash here, not a slow password hash (argon2, bcrypt): those
//! exist to make guessing low-entropy passwords expensive, but a key holds 256 random bits, so
//! no guess from its digest can succeed however fast the hash is, and authenticating stays a
//! single index lookup.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What every key starts with, so a leaked one is recognisable (e.g. by secret scanners).
pub const KEY_PREFIX: &str = "ee_";
/// How many random bytes a key holds.
pub const KEY_BYTES: usize = 32;
/// How many characters of the key [`prefix`] keeps: `ee_` and 6 more (36 bits, far too few to
/// help a guess of the remaining 220).
const SHOWN_CHARS: usize = KEY_PREFIX.len() + 6;

/// The secret for `random` (which must come from a CSPRNG).
pub fn format(random: &[u8; KEY_BYTES]) -> String {
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random))
}

/// The lower-case hex SHA-256 of the secret, as stored and looked up.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The non-secret start of a key, shown in lists.
pub fn prefix(secret: &str) -> String {
    secret.chars().take(SHOWN_CHARS).collect()
}

/// Whether `s` has the shape of a key (cheap to check before touching the database).
pub fn is_well_formed(s: &str) -> bool {
    s.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        URL_SAFE_NO_PAD
            .decode(rest)
            .is_ok_and(|bytes| bytes.len() == KEY_BYTES)
    })
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_ee_and_43_base64url_characters() {
        let key = format(&[0xff; KEY_BYTES]);
        assert!(key.starts_with("ee_"), "{key}");
        assert_eq!(key.len(), 3 + 43);
        assert!(!key.contains('=') && !key.contains('+') && !key.contains('/'));
        assert!(is_well_formed(&key));
    }

    #[test]
    fn malformed_keys_are_recognised() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("ee_"));
        assert!(!is_well_formed(
            "xx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ));
        assert!(!is_well_formed("ee_AAAA"));
        assert!(!is_well_formed(
            "ee_!!!!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ));
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn prefix_keeps_only_the_start() {
        let key = format(&[7; KEY_BYTES]);
        let p = prefix(&key);
        assert_eq!(p.len(), 9);
        assert!(key.starts_with(&p));
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
