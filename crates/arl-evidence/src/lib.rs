//! `arl-evidence`: signed checkpoints of the ledger and evidence bundles that anyone can
//! check without the ledger.
//!
//! A checkpoint ([`Checkpoint`]) is a signed note ([`note`]) committing to the log's Merkle
//! root and to the stream map ([`streams`]), which gives, for every list of events the fold
//! reads, how many envelopes it holds and a running hash over them. A bundle ([`Bundle`])
//! carries a question, its answer, a checkpoint, the envelopes the answer depends on with
//! inclusion proofs, and map proofs showing that no envelope of what the answer reads is
//! missing. [`check`] recomputes the answer with the ledger's own fold ([`arl_fold`] and the
//! projection crates) from the bundle alone. The crate reads no files and knows no storage.
//!
//! ```
//! use arl_evidence::note::{Note, SignerKey, VerifierKey};
//! let signer = SignerKey::from_seed("arl.example", [7; 32]).unwrap();
//! let mut note = Note::new("arl.example\n0\nrzEVMNcZT9TkSWPnoCnpOmW3sDiZr5n3p3BTK2ApjoY=\n".into());
//! note.sign(&signer);
//! let key = VerifierKey::parse(&signer.verifier().line()).unwrap();
//! Note::parse(&note.render()).unwrap().verify(&key).unwrap();
//! ```

pub mod bundle;
pub mod checkpoint;
pub use arl_merkle as merkle;
pub mod note;
pub mod prove;
pub mod question;
pub mod source;
pub mod streams;

pub use bundle::{
    check, Bundle, CheckError, Checked, Entry, Later, BUNDLE_FORMAT, BUNDLE_FORMAT_1,
};
pub use checkpoint::{Checkpoint, CheckpointError};
pub use prove::{prove, Ledger, ProveError, StoredEnvelope};
pub use question::{BalanceOptions, Command, Question, QuestionError};
pub use source::{PartSource, Parts};
pub use streams::{keys_of, MapProof, MapSnapshot, StreamMap};

use merkle::Hash;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `blake3(prev ‖ canonical)`: an envelope's hash in the chain (contract §5).
pub fn chain_hash(prev: &Hash, canonical: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(canonical);
    *h.finalize().as_bytes()
}

/// Lower-case hex of a hash.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits.
pub fn parse_hex(text: &str) -> Option<Hash> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// A hash in a bundle's JSON: written in standard base64 (44 characters, as the checkpoint
/// note writes its root); read from that or from 64 hex digits (bundle format 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct JsonHash(pub Hash);

impl Serialize for JsonHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for JsonHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text: std::borrow::Cow<'de, str> = Deserialize::deserialize(deserializer)?;
        let parsed = match text.len() {
            64 => parse_hex(&text),
            44 => base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .ok()
                .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok()),
            _ => None,
        };
        parsed.map(JsonHash).ok_or_else(|| {
            serde::de::Error::custom("a hash is 44 characters of base64 (or 64 hex digits)")
        })
    }
}
