//! Integration tests of the `index` crate: one test binary, one module per
//! concern.

mod common;
mod errors;
mod parse;
mod shared;
mod signed;
