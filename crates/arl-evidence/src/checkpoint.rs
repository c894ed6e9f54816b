//! The ledger's checkpoint: a C2SP tlog-checkpoint body (origin, tree size, base64 Merkle
//! root of the log) with one extension line, `arl-streams <size> <base64 root>`, the stream
//! map's commitment (see [`crate::streams`]).

use crate::merkle::Hash;
use crate::note::{Note, NoteError, SignerKey, VerifierKey};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

/// The extension line's keyword.
const STREAMS_LINE: &str = "arl-streams";

/// What a checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (the signing key's name).
    pub origin: String,
    /// Envelopes `1..=size` are committed.
    pub size: u64,
    /// The RFC 6962 root of the log (contract §5) at `size`.
    pub root: Hash,
    /// Leaves of the stream map.
    pub map_size: u64,
    /// The root of the stream map at `size`.
    pub map_root: Hash,
}

/// A checkpoint that does not parse or verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note's signatures.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A line of the body.
    #[error("checkpoint line {line}: {reason}")]
    Body {
        /// 1-based line of the body.
        line: usize,
        /// What does not hold.
        reason: &'static str,
    },
    /// The origin is not the key's name.
    #[error("the checkpoint's origin {origin:?} is not the name of key {key:?}")]
    Origin {
        /// The origin line.
        origin: String,
        /// The key's name.
        key: String,
    },
}

impl Checkpoint {
    /// The note's text.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n{STREAMS_LINE} {} {}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root),
            self.map_size,
            BASE64.encode(self.map_root)
        )
    }

    /// The checkpoint signed by `key` (whose name is the origin).
    pub fn sign(&self, key: &SignerKey) -> Note {
        assert_eq!(
            self.origin, key.name,
            "the origin is the signing key's name"
        );
        let mut note = Note::new(self.body());
        note.sign(key);
        note
    }

    /// Parses a note's text.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |line, reason| CheckpointError::Body { line, reason };
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != 4 {
            return Err(bad(
                lines.len(),
                "four lines expected: origin, size, root, arl-streams",
            ));
        }
        let size = parse_size(lines[1]).ok_or(bad(2, "the tree size is not a decimal number"))?;
        let root = parse_hash(lines[2]).ok_or(bad(3, "the root is not 32 bytes of base64"))?;
        let mut words = lines[3].split(' ');
        if words.next() != Some(STREAMS_LINE) {
            return Err(bad(4, "an arl-streams line expected"));
        }
        let map_size = words
            .next()
            .and_then(parse_size)
            .ok_or(bad(4, "the map's size is not a decimal number"))?;
        let map_root = words
            .next()
            .and_then(parse_hash)
            .ok_or(bad(4, "the map's root is not 32 bytes of base64"))?;
        if words.next().is_some() {
            return Err(bad(4, "more than size and root"));
        }
        Ok(Checkpoint {
            origin: lines[0].to_string(),
            size,
            root,
            map_size,
            map_root,
        })
    }

    /// Parses a signed note and checks it is signed by `key` and by every witness.
    pub fn open(
        note: &str,
        key: &VerifierKey,
        witnesses: &[VerifierKey],
    ) -> Result<Checkpoint, CheckpointError> {
        let note = Note::parse(note)?;
        note.verify(key)?;
        for witness in witnesses {
            note.verify(witness)?;
        }
        let checkpoint = Checkpoint::parse_body(&note.text)?;
        if checkpoint.origin != key.name {
            return Err(CheckpointError::Origin {
                origin: checkpoint.origin,
                key: key.name.clone(),
            });
        }
        Ok(checkpoint)
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let canonical = !text.is_empty() && (text == "0" || !text.starts_with('0'));
    if canonical && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn parse_hash(text: &str) -> Option<Hash> {
    BASE64.decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_needs_its_signatures() {
        let key = SignerKey::from_seed("arl", [1; 32]).unwrap();
        let witness = SignerKey::from_seed("witness", [2; 32]).unwrap();
        let checkpoint = Checkpoint {
            origin: "arl".into(),
            size: 41,
            root: [3; 32],
            map_size: 12,
            map_root: [4; 32],
        };
        let mut note = checkpoint.sign(&key);
        let text = note.render();
        assert_eq!(
            Checkpoint::open(&text, &key.verifier(), &[]).unwrap(),
            checkpoint
        );
        let lacking = Checkpoint::open(&text, &key.verifier(), &[witness.verifier()]);
        assert!(matches!(
            lacking,
            Err(CheckpointError::Note(NoteError::Unsigned { .. }))
        ));
        note.sign(&witness);
        let cosigned = note.render();
        Checkpoint::open(&cosigned, &key.verifier(), &[witness.verifier()]).unwrap();
        assert!(Checkpoint::parse_body("arl\n01\nAA==\n").is_err());
    }
}
