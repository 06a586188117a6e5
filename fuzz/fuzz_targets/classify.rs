//! Whatever arrives at the punto di ricezione: the classifier and the signature check must
//! return an answer, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pec::classify(data);
    let _ = smime::verify(data, &smime::TrustStore::new());
});
