//! Tree tests.
