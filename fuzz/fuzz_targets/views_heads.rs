//! `arl_views::format::Heads::decode` on arbitrary bytes, with the checksum fixed up so the
//! decoder's checks past it are reached: never a panic; accepted heads re-encode to bytes
//! that decode to the same heads.
#![no_main]

use arl_views::format::{heads_checksum, Heads};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("heads");
    let _ = Heads::decode(data, path);
    if data.len() >= 20 {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let sum = heads_checksum(&fixed[..body]);
        fixed[body..].copy_from_slice(&sum.to_le_bytes());
        if let Ok(heads) = Heads::decode(&fixed, path) {
            let again = Heads::decode(&heads.encode(), path).expect("re-encoded heads decode");
            assert_eq!(again, heads);
        }
    }
});
