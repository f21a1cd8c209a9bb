#![allow(clippy::unwrap_used)]

use super::*;

fn sha(hex_digit: char) -> String {
    std::iter::repeat_n(hex_digit, 64).collect()
}

#[test]
fn common_image_references_are_accepted() {
    let digest = format!("img@sha256:{}", sha('a'));
    let tag_and_digest = format!("img:tag@sha256:{}", sha('0'));
    for name in [
        "ubuntu",
        "ubuntu:22.04",
        "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy",
        "localhost:5000/team/img:v1",
        "registry.example.com:8443/a/b/c",
        digest.as_str(),
        tag_and_digest.as_str(),
        "my_org/my__img",
        "a-b--c/x",
    ] {
        assert_eq!(check_image_reference(name), Ok(()), "{name:?}");
    }
}

#[test]
fn an_empty_reference_is_required_with_an_example() {
    let why = check_image_reference("").unwrap_err();
    assert!(why.starts_with("is required"), "{why}");
    assert!(why.contains("e.g. ghcr.io/"), "{why}");
}

#[test]
fn malformed_image_references_are_rejected_naming_the_problem() {
    let too_long = "a".repeat(256);
    for (name, why) in [
        ("Ubuntu", "path component \"Ubuntu\""),
        ("bad image", "path component \"bad image\""),
        ("img:", "the tag must be"),
        ("img:-x", "the tag must be"),
        ("/img", "path component \"\""),
        ("img/", "path component \"\""),
        ("a//b", "path component \"\""),
        ("img@sha256:xyz", "the digest must be"),
        (
            "img@sha256:0123456789abcdef0123456789abcdef",
            "a sha256 digest is 64 lower-case hex digits",
        ),
        ("img@sha256", "the digest must be ALGORITHM:HEX"),
        (
            "myhost:port/x",
            "\"myhost:port\" is not a registry host[:port]",
        ),
        ("localhost:/x", "is not a registry host[:port]"),
        (too_long.as_str(), "longer than 255 characters"),
        ("-img", "path component \"-img\""),
        ("img-", "path component \"img-\""),
        ("a._b", "path component \"a._b\""),
        ("a___b", "path component \"a___b\""),
    ] {
        let description = check_image_reference(name).unwrap_err();
        assert!(
            description.contains("is not a valid container image reference"),
            "{name:?}: {description}"
        );
        assert!(
            description.contains(why),
            "{name:?}: {description:?} should contain {why:?}"
        );
    }
}

#[test]
fn image_reference_of_exactly_255_characters_is_accepted() {
    assert_eq!(MAX_IMAGE_NAME_LEN, 255);
    assert_eq!(
        check_image_reference(&format!("a/{}", "b".repeat(253))),
        Ok(())
    );
}

#[test]
fn a_one_name_image_counts_docker_hubs_library_prefix_in_its_length() {
    // Found by the image_reference fuzz target: a one-name image of 248 to 255 characters was
    // accepted, but readers take it as library/NAME, over 255, and refuse it.
    assert_eq!(check_image_reference(&"a".repeat(247)), Ok(()));
    let why = check_image_reference(&"a".repeat(248)).unwrap_err();
    assert!(why.contains("library/"), "{why}");
    assert!(check_image_reference(&format!("{}:tag", "a".repeat(248))).is_err());
}

#[test]
fn tag_longer_than_128_characters_is_rejected() {
    let why = check_image_reference(&format!("img:{}", "t".repeat(129))).unwrap_err();
    assert!(why.contains("the tag must be 1-128"), "{why}");
    assert_eq!(
        check_image_reference(&format!("img:{}", "t".repeat(128))),
        Ok(())
    );
}

#[test]
fn digests_are_sha256_sha384_or_sha512_of_their_exact_length_in_lower_case_hex() {
    // Found by the image_reference fuzz target: "x@sha512:" and 32 hex digits was accepted, but
    // the image examiner's reader (and Docker, containerd) refuse it.
    for (name, accepted) in [
        (format!("img@sha256:{}", "a".repeat(64)), true),
        (format!("img@sha384:{}", "0".repeat(96)), true),
        (format!("img@sha512:{}", "f".repeat(128)), true),
        (format!("img@sha512:{}", "f".repeat(32)), false),
        (format!("img@sha256:{}", "a".repeat(65)), false),
        (format!("img@sha256:{}", "A".repeat(64)), false),
        (format!("img@md5:{}", "a".repeat(32)), false),
        (format!("img@sha1:{}", "a".repeat(40)), false),
    ] {
        assert_eq!(check_image_reference(&name).is_ok(), accepted, "{name}");
    }
    let why = check_image_reference(&format!("img@md5:{}", "a".repeat(32))).unwrap_err();
    assert!(
        why.ends_with("the digest algorithm must be sha256, sha384 or sha512"),
        "{why}"
    );
}
