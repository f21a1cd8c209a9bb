//! The container image reference grammar, `[registry[:port]/]path[:tag][@digest]`, as Docker and
//! containerd parse it: an environment's `name` must be one, since it is the image its content
//! runs in.

/// Longest accepted image reference (as container runtimes allow).
pub const MAX_IMAGE_NAME_LEN: usize = 255;

/// The digest algorithms of an image reference and the hex digits of each.
const DIGEST_ALGORITHMS: [(&str, usize); 3] = [("sha256", 64), ("sha384", 96), ("sha512", 128)];

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
        let Some((alg, hex)) = d.split_once(':') else {
            return bad("the digest must be ALGORITHM:HEX, e.g. sha256:…");
        };
        // Docker and containerd (and the image examiner's reader) know these three algorithms
        // only, each with its exact length of lower-case hex.
        let Some(&(_, digits)) = DIGEST_ALGORITHMS.iter().find(|(name, _)| *name == alg) else {
            return bad("the digest algorithm must be sha256, sha384 or sha512");
        };
        if hex.len() != digits || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return bad(&format!(
                "the digest must be ALGORITHM:HEX; a {alg} digest is {digits} lower-case hex digits"
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
    let mut host = false;
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            if !is_registry_host(first) {
                return bad(&format!("{first:?} is not a registry host[:port]"));
            }
            components.remove(0);
            host = true;
        }
    }
    // Readers name an official image `library/NAME` (on Docker Hub); the repository path they
    // read is at most MAX_IMAGE_NAME_LEN long.
    let library = if !host && components.len() == 1 {
        "library/".len()
    } else {
        0
    };
    let repository = components.iter().map(|c| c.len() + 1).sum::<usize>() - 1 + library;
    if repository > MAX_IMAGE_NAME_LEN {
        return bad(&format!(
            "the repository path (with Docker Hub's library/ for a one-name image) is longer than {MAX_IMAGE_NAME_LEN} characters"
        ));
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
