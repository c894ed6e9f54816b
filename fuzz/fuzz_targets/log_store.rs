//! The log's envelope file with bytes from the fuzzer: `Log::open`, `verify`, `get`,
//! `range`, `stream` and proofs return values or errors, never a panic; and a changed file
//! never verifies.
//!
//! Input: bytes 0..2 an offset (u16 LE) into the envelope file; the rest is XORed in there
//! (the file keeps its committed length, so the decoders of the frames are reached).
#![no_main]

use arl_log::{Log, NewEvent};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A log of a few hundred events, built once; its directory and envelope file bytes.
fn pristine() -> &'static (PathBuf, Vec<u8>) {
    static P: OnceLock<(PathBuf, Vec<u8>)> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let mut log = Log::open(&dir.join("log")).expect("open");
        for round in 0..3u64 {
            let batch = (0..100u64)
                .map(|i| {
                    let data = serde_json_value(round * 100 + i);
                    NewEvent::new("note.added", &format!("note/{}", i % 7), "fuzz", &data)
                        .expect("event")
                })
                .collect();
            let prepared = log
                .prepare(batch, 1_700_000_000_000_000 + round as i64)
                .expect("prepare");
            log.commit(prepared).expect("commit");
        }
        let committed = log.committed_len() as usize;
        drop(log);
        // The frames alone: the zeros written ahead of the next commit are cut, so that
        // every byte the fuzzer changes is a committed one.
        let path = dir.join("log/envelopes");
        let mut bytes = std::fs::read(&path).expect("envelopes");
        bytes.truncate(committed);
        std::fs::write(&path, &bytes).expect("envelopes");
        (dir, bytes)
    })
}

fn serde_json_value(n: u64) -> arl_log_json::Value {
    arl_log_json::json!({"n": n, "text": format!("note {n}")})
}

mod arl_log_json {
    pub use serde_json::{json, Value};
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (dir, bytes) = pristine();
    let offset = usize::from(u16::from_le_bytes([data[0], data[1]])) % bytes.len();
    let mut changed = bytes.clone();
    for (i, b) in data[2..].iter().enumerate() {
        if let Some(slot) = changed.get_mut(offset + i) {
            *slot ^= b;
        }
    }
    let path = dir.join("log/envelopes");
    std::fs::write(&path, &changed).expect("write");
    if let Ok(log) = Log::open(&dir.join("log")) {
        let verified = log.verify(&mut |_| {});
        if changed != *bytes {
            assert!(verified.is_err(), "a changed envelope file verified");
        }
        let size = log.head().seq;
        for seq in [1, 2, size / 2, size] {
            let _ = log.get(seq);
            let _ = log.inclusion_proof(seq.max(1), size);
        }
        for e in log.range(1, size) {
            if e.is_err() {
                break;
            }
        }
        let _ = log.stream("note/3");
        let _ = log.consistency_proof(size / 3, size);
    }
    std::fs::write(&path, bytes).expect("restore");
});
