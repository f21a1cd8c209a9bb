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
        (
            "img@sha256:xyz",
            "a sha256 digest has exactly 64 hex digits",
        ),
        ("img@sha256", "the digest must be sha256:"),
        (
            "0@0:0000000000000000000000000000000000000000000000000000000000000000",
            "the digest must be sha256:",
        ),
        (
            "img@sha512:abcdef0123456789abcdef0123456789",
            "exactly 128 hex digits",
        ),
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
    assert_eq!(check_image_reference(&"a".repeat(255)), Ok(()));
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
