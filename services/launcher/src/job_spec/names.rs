//! Names derived from ids: the Job's name and the package cache's folder. Deterministic, so a
//! repeated request and a restarted launcher arrive at the same ones.

use sha2::{Digest, Sha256};

/// The Job name for a request id: `execenv-` + the first 16 hex digits of its SHA-256.
///
/// Deterministic, so a repeated launch meets its own Job (AlreadyExists → adopt it), and a valid
/// DNS-1123 label of 24 characters whatever the request id. The kind is deliberately not part of
/// the name: the request id alone is the idempotency key, so a BUILD and a RUN sent with the same
/// id collide instead of silently making two launches.
pub fn job_name(request_id: &str) -> String {
    format!("execenv-{}", short_hash(request_id, 16))
}

/// The package cache's subPath for an image: the image name made filesystem-safe, then 12 hex
/// digits of the name's SHA-256 (so two names that sanitise alike still get their own folder).
///
/// Keyed by image NAME, not environment: environments sharing an image share a cache.
pub fn cache_sub_path(image: &str) -> String {
    let mut safe: String = image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    safe = safe.trim_start_matches(['.', '-']).to_string();
    safe.truncate(100);
    if safe.is_empty() {
        format!("image-{}", short_hash(image, 12))
    } else {
        format!("{safe}-{}", short_hash(image, 12))
    }
}

fn short_hash(s: &str, hex_digits: usize) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(hex_digits);
    hex
}
