//! The breve transformation runs on messages users submitted: any bytes, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pec::breve(data, pec::HashAlg::Sha1);
});
