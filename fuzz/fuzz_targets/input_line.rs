//! `arl_domain::InputEvent::parse_line` on arbitrary text, in both modes: never a panic; an
//! accepted event's data round-trips through its canonical JSON.
#![no_main]

use arl_domain::{Event, InputEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    for imported in [false, true] {
        if let Ok(input) = InputEvent::parse_line(line, imported) {
            let json = input.event.data_json();
            let again = Event::parse(input.event.kind(), &json)
                .expect("the canonical data of an accepted event parses again");
            assert_eq!(again, input.event, "data round-trips");
        }
    }
});
