//! Integration tests of the `smime` crate: one test binary, one module per
//! concern.

mod common;
mod fixtures;
mod malformed;
mod seal;
mod tamper;
