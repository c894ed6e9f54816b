//! `arl_log::Envelope::from_json_line` (the strict decoder of export lines) on arbitrary
//! text: never a panic; an accepted line re-encodes to a line that decodes to the same
//! envelope and re-encodes identically.
#![no_main]

use arl_log::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(envelope) = Envelope::from_json_line(line) {
        let encoded = envelope.to_json_line();
        let again = Envelope::from_json_line(&encoded).expect("a re-encoded envelope decodes");
        assert_eq!(again.to_json_line(), encoded, "encoding is stable");
        let _ = envelope.canonical_bytes();
    }
});
