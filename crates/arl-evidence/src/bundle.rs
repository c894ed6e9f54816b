//! The evidence bundle (one JSON document) and its checker.
//!
//! A bundle holds the question, the answer as the command prints it, the signed checkpoint,
//! the envelopes the answer depends on (canonical bytes, the previous envelope's hash, and an
//! inclusion proof in the checkpoint's tree), the hashes of the later envelopes of the same
//! stream parts, and a map proof for every stream part the answer reads. [`check`] trusts
//! none of it but the keys it is given.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::merkle::{leaf_hash, root_from_leaves, verify_inclusion, Hash};
use crate::note::VerifierKey;
use crate::question::{Question, QuestionError};
use crate::source::{PartSource, Parts};
use crate::streams::{keys_of, members_in_map, running_next, MapProof, RUNNING_EMPTY};
use crate::JsonHash;
use arl_domain::{Event, Recorded, Timestamp};
use arl_fold::SourceError;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The bundle format this crate writes: envelopes proven together by one multiproof.
pub const BUNDLE_FORMAT: &str = "arl-evidence/2";
/// The first format, still checked: an inclusion proof with each envelope.
pub const BUNDLE_FORMAT_1: &str = "arl-evidence/1";
/// At most this many bytes in a bundle.
pub const BUNDLE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// One envelope, in full.
#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The hash of the envelope before it (the chain's `prev`).
    pub prev: JsonHash,
    /// The envelope's canonical JSON without `hash` (contract §5), byte for byte.
    pub envelope: Box<RawValue>,
    /// Its inclusion proof in the checkpoint's tree (format 1 only; format 2 proves all
    /// envelopes together in [`Bundle::nodes`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proof: Vec<JsonHash>,
}

/// An envelope of a stream part that lies beyond the question's point, by hash only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Later {
    pub seq: u64,
    pub hash: JsonHash,
    /// The stream parts it belongs to.
    pub keys: Vec<String>,
}

/// An evidence bundle.
#[derive(Debug, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    pub question: Question,
    /// The answer exactly as the command prints it (`--format json`), as a string.
    pub answer: String,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// Envelopes in full, in seq order.
    pub envelopes: Vec<Entry>,
    /// Format 2: the multiproof of the envelopes in the checkpoint's tree — the roots of the
    /// largest subtrees that hold none of them, left to right (`arl_merkle::multiproof_ranges`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<JsonHash>,
    /// Envelopes beyond the point, in seq order.
    pub later: Vec<Later>,
    /// A map proof for every stream part the answer reads, in key order.
    pub parts: Vec<MapProof>,
    /// Format 2: the multiproof of every map leaf the part proofs name, in the checkpoint's
    /// stream map (format 1: an audit path with each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map_nodes: Vec<JsonHash>,
}

/// The first thing in a bundle that does not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The bundle is not the JSON of a bundle.
    #[error("the bundle does not parse: {0}")]
    Parse(#[from] serde_json::Error),
    /// The bundle is larger than the checker reads.
    #[error("the bundle is over {BUNDLE_BYTES_MAX} bytes")]
    TooLarge,
    /// Another format.
    #[error("the bundle's format is {found:?}, not {BUNDLE_FORMAT:?}")]
    Format {
        /// The format named.
        found: String,
    },
    /// The checkpoint's signatures or body.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// An envelope that is not a canonical envelope of a known event.
    #[error("envelope #{index} of the bundle: {reason}")]
    Envelope {
        /// 0-based place in the bundle's envelopes.
        index: usize,
        /// What does not hold.
        reason: String,
    },
    /// Envelopes not in strictly increasing seq order (reordered or repeated).
    #[error("envelope seq {seq} is out of order in the bundle")]
    Order {
        /// The seq out of place.
        seq: u64,
    },
    /// An envelope beyond the checkpoint's tree.
    #[error("envelope seq {seq} lies beyond the checkpoint's tree size {size}")]
    Beyond {
        /// The seq.
        seq: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// Format 2: the envelopes and the multiproof's nodes do not give the checkpoint's root
    /// (an envelope changed, added or left out, or a node wrong).
    #[error("the envelopes and the bundle's proof nodes do not give the checkpoint's Merkle root: an envelope or a node was changed, added or removed")]
    Tree,
    /// Format 2: the map leaves the part proofs name and the bundle's map nodes do not give
    /// the checkpoint's map root.
    #[error("the stream map leaves of the part proofs and the bundle's map nodes do not give the checkpoint's map root")]
    MapTree,
    /// An envelope whose inclusion proof does not verify.
    #[error("envelope seq {seq} is not in the checkpoint's tree (its hash or inclusion proof does not verify)")]
    NotIncluded {
        /// The seq.
        seq: u64,
    },
    /// A map proof that does not verify.
    #[error("the map proof of stream part {key} does not verify against the checkpoint")]
    MapProof {
        /// The part.
        key: String,
    },
    /// A stream part whose envelopes are not all of it, or not only it.
    #[error("stream part {key}: the bundle holds {found} envelopes with running hash {running_found}, the checkpoint commits to {expected} with {running_expected}")]
    Incomplete {
        /// The part.
        key: String,
        /// Envelopes the checkpoint commits to.
        expected: u64,
        /// Envelopes the bundle holds.
        found: u64,
        /// The running hash committed.
        running_expected: String,
        /// The running hash of the bundle's envelopes.
        running_found: String,
    },
    /// The answer reads a stream part the bundle has no proof for.
    #[error("the answer depends on stream part {key}, which the bundle does not prove")]
    MissingPart {
        /// The part.
        key: String,
    },
    /// A proof for a part the answer does not read.
    #[error("the bundle proves stream part {key}, which the answer does not read")]
    UnusedPart {
        /// The part.
        key: String,
    },
    /// An envelope the answer does not depend on.
    #[error("envelope seq {seq} is not one the answer depends on")]
    UnusedEnvelope {
        /// The seq.
        seq: u64,
    },
    /// The point of knowledge does not hold.
    #[error("the question's knowledge point does not hold: {reason}")]
    Point {
        /// What does not hold.
        reason: String,
    },
    /// The question cannot be answered from the bundle.
    #[error("the question: {0}")]
    Question(#[from] QuestionError),
    /// The envelopes answer "not found".
    #[error("the envelopes say {subject:?} does not exist at the question's point, but the bundle gives an answer")]
    NotFound {
        /// The account or person.
        subject: String,
    },
    /// The envelopes give another answer.
    #[error("the answer does not follow from the envelopes: they give {recomputed}")]
    Answer {
        /// The answer recomputed.
        recomputed: String,
    },
}

/// What a bundle proves: the answer and the checkpoint it rests on.
#[derive(Debug, Clone)]
pub struct Checked {
    pub question: Question,
    /// The answer as the command prints it.
    pub answer: String,
    pub checkpoint: Checkpoint,
    /// The checkpoint note as signed.
    pub note: String,
}

/// An envelope read from a bundle.
struct Opened {
    recorded: Arc<Recorded>,
    hash: Hash,
    keys: Vec<String>,
}

/// Checks a bundle: the checkpoint signed by `key` (and every witness), every envelope in
/// the checkpoint's tree, every stream part the answer reads complete, nothing more, and the
/// answer recomputed from the envelopes equal to the bundle's.
pub fn check(
    text: &str,
    key: &VerifierKey,
    witnesses: &[VerifierKey],
) -> Result<Checked, CheckError> {
    if text.len() > BUNDLE_BYTES_MAX {
        return Err(CheckError::TooLarge);
    }
    let bundle: Bundle = serde_json::from_str(text)?;
    let multiproof = match bundle.format.as_str() {
        BUNDLE_FORMAT => true,
        BUNDLE_FORMAT_1 => false,
        _ => {
            return Err(CheckError::Format {
                found: bundle.format,
            })
        }
    };
    let checkpoint = Checkpoint::open(&bundle.checkpoint, key, witnesses)?;
    let opened = open_envelopes(&bundle.envelopes, &checkpoint, multiproof)?;
    if multiproof {
        check_multiproof(&opened, &bundle.nodes, &checkpoint)?;
    } else if !bundle.nodes.is_empty() {
        return Err(CheckError::Tree);
    }
    let later = check_later(&bundle.later, &opened, &checkpoint)?;
    check_point(&bundle.question, &opened, checkpoint.size)?;
    let proven = check_parts(&bundle.parts, &bundle.map_nodes, &checkpoint, multiproof)?;
    check_complete(&proven, &opened, &later)?;
    let answer = recompute(&bundle.question, &opened, &proven, checkpoint.size)?;
    if answer != bundle.answer {
        return Err(CheckError::Answer { recomputed: answer });
    }
    Ok(Checked {
        question: bundle.question,
        answer,
        checkpoint,
        note: bundle.checkpoint,
    })
}

/// The canonical envelope's members (contract §4 without `hash`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CanonicalEnvelope<'a> {
    actor: String,
    #[serde(borrow)]
    data: &'a RawValue,
    effective_at: String,
    id: String,
    imported: bool,
    reason: Option<String>,
    recorded_at: String,
    seq: u64,
    stream: String,
    #[serde(rename = "type")]
    kind: String,
    version: u64,
}

/// Opens each envelope (in seq order, within the checkpoint) and, in format 1, checks its
/// own inclusion proof; format 2 envelopes carry none.
fn open_envelopes(
    entries: &[Entry],
    checkpoint: &Checkpoint,
    multiproof: bool,
) -> Result<Vec<Opened>, CheckError> {
    let mut out: Vec<Opened> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let opened = open_envelope(index, entry)?;
        let seq = opened.recorded.seq;
        if out.last().is_some_and(|last| last.recorded.seq >= seq) {
            return Err(CheckError::Order { seq });
        }
        if seq == 0 || seq > checkpoint.size {
            return Err(CheckError::Beyond {
                seq,
                size: checkpoint.size,
            });
        }
        let proof: Vec<Hash> = entry.proof.iter().map(|h| h.0).collect();
        let leaf = leaf_hash(&opened.hash);
        let included = if multiproof {
            proof.is_empty()
        } else {
            verify_inclusion(&leaf, seq - 1, checkpoint.size, &proof, &checkpoint.root)
        };
        if !included {
            return Err(CheckError::NotIncluded { seq });
        }
        out.push(opened);
    }
    Ok(out)
}

/// Format 2: the envelopes' leaves and the bundle's nodes give the checkpoint's root.
fn check_multiproof(
    opened: &[Opened],
    nodes: &[JsonHash],
    checkpoint: &Checkpoint,
) -> Result<(), CheckError> {
    let leaves: Vec<(u64, Hash)> = opened
        .iter()
        .map(|o| (o.recorded.seq - 1, leaf_hash(&o.hash)))
        .collect();
    let nodes: Vec<Hash> = nodes.iter().map(|h| h.0).collect();
    match root_from_leaves(&leaves, checkpoint.size, &nodes) {
        Some(root) if root == checkpoint.root => Ok(()),
        _ => Err(CheckError::Tree),
    }
}

fn open_envelope(index: usize, entry: &Entry) -> Result<Opened, CheckError> {
    let bad = |reason: String| CheckError::Envelope { index, reason };
    let canonical = entry.envelope.get();
    let hash = crate::chain_hash(&entry.prev.0, canonical.as_bytes());
    let envelope: CanonicalEnvelope =
        serde_json::from_str(canonical).map_err(|e| bad(e.to_string()))?;
    let event =
        Event::parse(&envelope.kind, envelope.data.get()).map_err(|e| bad(e.to_string()))?;
    if event.stream() != envelope.stream {
        return Err(bad(format!(
            "stream {:?} is not the event's subject stream",
            envelope.stream
        )));
    }
    let times = (
        Timestamp::parse_canonical(&envelope.effective_at),
        Timestamp::parse_canonical(&envelope.recorded_at),
    );
    let (Some(effective_at), Some(recorded_at)) = times else {
        return Err(bad("a time is not canonical".into()));
    };
    let keys = keys_of(&event);
    Ok(Opened {
        recorded: Arc::new(Recorded {
            seq: envelope.seq,
            effective_at,
            recorded_at,
            event,
        }),
        hash,
        keys,
    })
}

fn check_later(
    later: &[Later],
    opened: &[Opened],
    checkpoint: &Checkpoint,
) -> Result<Vec<Later>, CheckError> {
    let full: BTreeSet<u64> = opened.iter().map(|o| o.recorded.seq).collect();
    let mut last = 0;
    for entry in later {
        if entry.seq <= last || full.contains(&entry.seq) {
            return Err(CheckError::Order { seq: entry.seq });
        }
        if entry.seq > checkpoint.size {
            return Err(CheckError::Beyond {
                seq: entry.seq,
                size: checkpoint.size,
            });
        }
        last = entry.seq;
    }
    Ok(later.to_vec())
}

/// The knowledge point: `at_seq` within the tree and, for `--known-at T`, the envelope at
/// `at_seq` recorded by T and the next one after T, both in the bundle.
fn check_point(question: &Question, opened: &[Opened], size: u64) -> Result<(), CheckError> {
    let bad = |reason: String| CheckError::Point { reason };
    let at_seq = question.at_seq;
    if at_seq > size {
        return Err(bad(format!(
            "seq {at_seq} is beyond the checkpoint's {size}"
        )));
    }
    for o in opened {
        if o.recorded.seq > at_seq + 1
            || (o.recorded.seq == at_seq + 1 && question.known_at.is_none())
        {
            return Err(CheckError::UnusedEnvelope {
                seq: o.recorded.seq,
            });
        }
    }
    let Some(known_at) = question.known_at()? else {
        return Ok(());
    };
    let recorded = |seq: u64| {
        opened
            .iter()
            .find(|o| o.recorded.seq == seq)
            .map(|o| o.recorded.recorded_at)
            .ok_or_else(|| {
                bad(format!(
                    "envelope seq {seq}, which bounds --known-at, is missing"
                ))
            })
    };
    if at_seq > 0 && recorded(at_seq)? > known_at {
        return Err(bad(format!(
            "envelope seq {at_seq} was recorded after {}",
            known_at.canonical()
        )));
    }
    if at_seq < size && recorded(at_seq + 1)? <= known_at {
        return Err(bad(format!(
            "envelope seq {} was recorded by {}, so the point is later than seq {at_seq}",
            at_seq + 1,
            known_at.canonical()
        )));
    }
    Ok(())
}

/// Every part proof holds: in format 2 its members are in the map by the one multiproof
/// (`map_nodes`), in format 1 each by its own path; then what each says, in key order.
fn check_parts(
    parts: &[MapProof],
    map_nodes: &[JsonHash],
    checkpoint: &Checkpoint,
    multiproof: bool,
) -> Result<BTreeMap<String, (u64, Hash)>, CheckError> {
    if multiproof {
        let nodes: Vec<Hash> = map_nodes.iter().map(|h| h.0).collect();
        if !members_in_map(parts, checkpoint.map_size, &checkpoint.map_root, &nodes) {
            return Err(CheckError::MapTree);
        }
    } else if !map_nodes.is_empty() {
        return Err(CheckError::MapTree);
    }
    let mut proven = BTreeMap::new();
    for proof in parts {
        let key = proof.key().to_string();
        if proven
            .keys()
            .next_back()
            .is_some_and(|last: &String| *last >= key)
        {
            return Err(CheckError::MapProof { key });
        }
        let holds = if multiproof {
            proof.claim(checkpoint.map_size)
        } else {
            proof.verify(checkpoint.map_size, &checkpoint.map_root)
        };
        let Some(p) = holds else {
            return Err(CheckError::MapProof { key });
        };
        proven.insert(key, (p.count, p.running));
    }
    Ok(proven)
}

/// Every proven part's envelopes in the bundle are exactly those the checkpoint commits to,
/// and every envelope in the bundle is in a proven part (or bounds the knowledge point).
fn check_complete(
    proven: &BTreeMap<String, (u64, Hash)>,
    opened: &[Opened],
    later: &[Later],
) -> Result<(), CheckError> {
    let mut members: BTreeMap<&str, Vec<(u64, Hash)>> = BTreeMap::new();
    for o in opened {
        for key in &o.keys {
            members
                .entry(key)
                .or_default()
                .push((o.recorded.seq, o.hash));
        }
    }
    for l in later {
        for key in &l.keys {
            members.entry(key).or_default().push((l.seq, l.hash.0));
        }
    }
    for (key, (count, running)) in proven {
        let mut list = members.remove(key.as_str()).unwrap_or_default();
        list.sort_by_key(|(seq, _)| *seq);
        let found = list
            .iter()
            .fold(RUNNING_EMPTY, |r, (seq, hash)| running_next(&r, *seq, hash));
        if list.len() as u64 != *count || found != *running {
            return Err(CheckError::Incomplete {
                key: key.clone(),
                expected: *count,
                found: list.len() as u64,
                running_expected: crate::hex(running),
                running_found: crate::hex(&found),
            });
        }
    }
    if let Some(l) = later
        .iter()
        .find(|l| l.keys.iter().any(|k| !proven.contains_key(k)))
    {
        return Err(CheckError::UnusedEnvelope { seq: l.seq });
    }
    Ok(())
}

/// The parts a bundle gives the fold: the proven parts' envelopes up to the point.
struct BundleParts {
    lists: BTreeMap<String, Vec<Arc<Recorded>>>,
    missing: RefCell<Option<String>>,
    hashes: BTreeMap<u64, Hash>,
}

impl Parts for BundleParts {
    fn part(&self, key: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        if let Some(list) = self.lists.get(key) {
            Ok(list.clone())
        } else {
            self.missing
                .borrow_mut()
                .get_or_insert_with(|| key.to_string());
            Err(SourceError::new(format!(
                "stream part {key} is not in the bundle"
            )))
        }
    }
}

fn recompute(
    question: &Question,
    opened: &[Opened],
    proven: &BTreeMap<String, (u64, Hash)>,
    size: u64,
) -> Result<String, CheckError> {
    let mut lists: BTreeMap<String, Vec<Arc<Recorded>>> =
        proven.keys().map(|k| (k.clone(), Vec::new())).collect();
    for o in opened.iter().filter(|o| o.recorded.seq <= question.at_seq) {
        for key in &o.keys {
            if let Some(list) = lists.get_mut(key) {
                list.push(o.recorded.clone());
            }
        }
    }
    let parts = BundleParts {
        lists,
        missing: RefCell::new(None),
        hashes: opened.iter().map(|o| (o.recorded.seq, o.hash)).collect(),
    };
    let source = PartSource::new(parts, size);
    let hash_of = |seq: u64| source.parts().hashes.get(&seq).copied();
    let answer = question.answer(&source, &hash_of);
    if let Some(key) = source.parts().missing.borrow_mut().take() {
        return Err(CheckError::MissingPart { key });
    }
    let Some(answer) = answer? else {
        return Err(CheckError::NotFound {
            subject: question.subject.clone(),
        });
    };
    let read = source.keys_read();
    if let Some(key) = proven.keys().find(|k| !read.contains(*k)) {
        return Err(CheckError::UnusedPart { key: key.clone() });
    }
    let boundary = |seq: u64| {
        question.known_at.is_some() && (seq == question.at_seq || seq == question.at_seq + 1)
    };
    for o in opened {
        if !o.keys.iter().any(|k| proven.contains_key(k)) && !boundary(o.recorded.seq) {
            return Err(CheckError::UnusedEnvelope {
                seq: o.recorded.seq,
            });
        }
    }
    Ok(answer)
}
