//! `arl-log`: the append-only, hash-chained, Merkle-committed event log under the ledger.
//!
//! Events are opaque here: a type string, a stream string and a canonical JSON object. The
//! log numbers them (`seq`, and `version` within a stream), stamps the record time, chains
//! them with blake3 and commits to them with an RFC 6962 Merkle tree, and stores them in
//! the directory's own files behind a narrow storage trait. Main types: [`Log`] (open, prepare, commit, read,
//! prove, verify), [`NewEvent`] (input), [`Envelope`] (stored event), [`Head`] (the log's
//! state), [`LedgerLock`] (the ledger's advisory lock), and [`merkle`] (proof checking for
//! third parties). The byte-level format is in `docs/FORMAT.md`.
//!
//! ```
//! use arl_log::{Log, NewEvent, Outcome, merkle};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir()?;
//! let mut log = Log::open(&dir.path().join("log"))?;
//! let mut event = NewEvent::new("note.added", "note/1", "me", &json!({"text": "hi"})).unwrap();
//! event.id = Some("n-1".into());
//! let prepared = log.prepare(vec![event.clone()], 1_700_000_000_000_000)?;
//! assert_eq!(prepared.outcomes, vec![Outcome::Appended { seq: 1 }]);
//! let head = log.commit(prepared)?;
//!
//! // The same id with the same content is a duplicate, not a second event.
//! let again = log.prepare(vec![event], 1_700_000_000_000_001)?;
//! assert_eq!(again.outcomes, vec![Outcome::Duplicate { seq: 1 }]);
//!
//! let stored = log.get(1)?.unwrap();
//! assert!(stored.to_json_line().starts_with(r#"{"seq":1,"id":"n-1","type":"note.added""#));
//! let proof = log.inclusion_proof(1, head.seq)?;
//! assert!(merkle::verify_inclusion(&merkle::leaf_hash(&stored.hash), 0, 1, &proof, &head.root));
//! assert_eq!(log.verify(&mut |_| {})?, head);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod codec;
mod dirstore;
mod envelope;
mod error;
mod fast;
pub mod idfilter;
mod jcs;
mod lock;
mod log;
pub mod merkle;
mod store;
mod time;
mod upgrade;
mod verify;

use std::path::Path;

pub use dirstore::{is_layout_2, DirStore, LOG_LAYOUT};
pub use envelope::{chain_hash, Envelope, EnvelopeRef, NewEvent};
pub use envelope::{MAX_ACTOR_BYTES, MAX_DATA_BYTES, MAX_ENVELOPE_BYTES, MAX_ID_BYTES};
pub use envelope::{MAX_KIND_BYTES, MAX_REASON_BYTES, MAX_STREAM_BYTES};
pub use error::{AppendError, LogError};
pub use fast::{FastHasher, FastSet};
pub use jcs::{canonical_json, is_canonical_object, CanonicalReader};
pub use lock::LedgerLock;
pub use log::{Head, Log, Outcome, PlannedBatch, Prepared, RawBlock, RawFrame};
pub use log::{COPY_BATCH_EVENTS, MAX_BATCH_EVENTS};
pub use store::StoredFrames;
pub use store::{BlockBytes, CommitSet, Follower, SharedState, SharedStore, SledStore, Store};
pub use store::{BLOCK_EVENTS, NODE_LEVEL_MIN};
pub use time::{format_time, parse_time, TIME_MAX_MICROS, TIME_MIN_MICROS};
pub use upgrade::{upgrade, Upgraded};

/// A blake3 digest.
pub type Hash = [u8; 32];

/// Lower-case hex of a hash (64 digits).
pub fn hex(h: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in h {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Parses 64 hex digits (either case) into a hash.
pub fn parse_hex(s: &str) -> Option<Hash> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// What a query reads of the log in `log_dir` without opening it: [`Log::committed_len`]
/// as the head file says, when no frame lies past it (the envelope file may end with zeros
/// written ahead); `Some(u64::MAX)` when the log must be opened to know it (frames past
/// the head, from a commit cut short or not yet indexed, or a head file that does not
/// read); `None` when there is no log. The views compare it with the length they recorded
/// to tell that they are behind. A log of layout 2 (no head file) gives its file's length.
pub fn committed_len_on_disk(log_dir: &Path) -> Result<Option<u64>, LogError> {
    dirstore::committed_len_read_only(log_dir)
}

/// Creates `dir` and its missing parents with mode 0700 (owner only).
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), LogError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| LogError::io(dir, e))
}
