//! Layer streaming tests.
