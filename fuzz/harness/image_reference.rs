//! Fuzz harness of the image-reference grammar (an environment's `name`): any text is accepted or
//! refused with a reason, and what is accepted keeps the grammar's bounds. Shared by the fuzz
//! target and the core's regression test.

use execenv_core::image_reference::{MAX_IMAGE_NAME_LEN, check_image_reference};

/// Checks `data` as an image reference.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match check_image_reference(text) {
        Ok(()) => {
            assert!(text.len() <= MAX_IMAGE_NAME_LEN);
            assert!(
                text.is_ascii(),
                "{text:?} accepted with non-ASCII characters"
            );
            assert!(
                !text.chars().any(char::is_whitespace),
                "{text:?} accepted with a space"
            );
        }
        Err(why) => assert!(!why.is_empty()),
    }
}
