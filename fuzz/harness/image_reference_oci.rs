//! Fuzz harness comparing the image-reference grammar with the image reader's (oci-client's
//! `Reference`): an environment name the core accepts must be one the image examiner can read.
//! Shared by the fuzz target and execenv-oci's regression test.

use execenv_core::image_reference::check_image_reference;

/// Checks that every reference the core accepts, oci-client parses.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if check_image_reference(text).is_ok()
        && let Err(e) = text.parse::<oci_client::Reference>()
    {
        panic!("{text:?} is a valid environment name but the image reader refuses it: {e}");
    }
}
