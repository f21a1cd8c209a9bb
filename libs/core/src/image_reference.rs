//! The container image reference grammar, `[registry[:port]/]path[:tag][@digest]`, as Docker and
//! containerd parse it: an environment's `name` must be one, since it is the image its content
//! runs in.

/// Longest accepted image reference (as container runtimes allow).
pub const MAX_IMAGE_NAME_LEN: usize = 255;

/// Checks a container image reference: `[registry[:port]/]path[:tag][@digest]`, as Docker and
/// containerd parse it.
pub fn check_image_reference(reference: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "{reference:?} is not a valid container image reference: {why}"
        ))
    };
    if reference.is_empty() {
        return Err("is required: the container image reference, e.g. ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy".to_owned());
    }
    if reference.len() > MAX_IMAGE_NAME_LEN {
        return bad(&format!("longer than {MAX_IMAGE_NAME_LEN} characters"));
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        // The digests registries serve, and so the only ones an image can be read by.
        let hex_len = match d.split_once(':') {
            Some(("sha256", hex)) => Some((hex, 64)),
            Some(("sha384", hex)) => Some((hex, 96)),
            Some(("sha512", hex)) => Some((hex, 128)),
            _ => None,
        };
        let Some((hex, len)) = hex_len else {
            return bad("the digest must be sha256:, sha384: or sha512: and its hex digits");
        };
        if hex.len() != len || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return bad(&format!(
                "a {} digest has exactly {len} hex digits",
                &d[..d.find(':').unwrap_or(0)]
            ));
        }
    }
    // A tag follows the last ':' that comes after the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let first_ok = t
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if t.is_empty()
            || t.len() > 128
            || !first_ok
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return bad(
                "the tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
            );
        }
    }
    let mut components: Vec<&str> = repo.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            if !is_registry_host(first) {
                return bad(&format!("{first:?} is not a registry host[:port]"));
            }
            components.remove(0);
        }
    }
    for c in components {
        if !is_path_component(c) {
            return bad(&format!(
                "path component {c:?} must be lower-case letters and digits, separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn is_registry_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_path_component(c: &str) -> bool {
    if c.is_empty() {
        return false;
    }
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    let bytes: Vec<char> = c.chars().collect();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let ch = bytes[i];
        if alnum(ch) {
            i += 1;
            continue;
        }
        // separator: '.', '_', '__' or one or more '-'
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep: String = bytes[start..i].iter().collect();
        if !(sep == "." || sep == "_" || sep == "__" || sep.chars().all(|s| s == '-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
