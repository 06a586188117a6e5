//! daticert.xml from another provider: read it or say why not; written back, it reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = pec::Daticert::from_xml(data) {
        let again = pec::Daticert::from_xml(d.to_xml().as_bytes()).expect("our own output reads");
        assert_eq!(again, d);
    }
});
