//! Building a bundle: what a ledger must give a prover, and the prover.
//!
//! The prover answers the question through the same [`PartSource`] a checker uses, so the
//! stream parts it proves are exactly those a checker's fold will read.

use crate::bundle::{Bundle, Entry, Later, BUNDLE_FORMAT};
use crate::checkpoint::Checkpoint;
use crate::merkle::{multiproof_ranges, path_ranges, Hash, LeafRange};
use crate::question::{Question, QuestionError};
use crate::source::{PartSource, Parts};
use crate::streams::MapSnapshot;
use crate::JsonHash;
use arl_domain::Recorded;
use arl_fold::SourceError;
use serde_json::value::RawValue;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One envelope as the log stores it.
#[derive(Debug, Clone)]
pub struct StoredEnvelope {
    /// Canonical JSON without `hash`.
    pub canonical: String,
    /// The previous envelope's hash.
    pub prev: Hash,
    pub hash: Hash,
}

/// What a prover reads from a ledger at a checkpoint.
pub trait Ledger {
    /// Every envelope of the stream part `key` up to the checkpoint, in any order.
    fn part(&self, key: &str) -> Result<Vec<Arc<Recorded>>, SourceError>;
    /// The envelope `seq`.
    fn envelope(&self, seq: u64) -> Result<StoredEnvelope, SourceError>;
    /// Its inclusion proof in the tree of `size` envelopes.
    fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, SourceError>;
}

/// Why a bundle could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProveError {
    /// Reading the ledger or answering failed.
    #[error(transparent)]
    Question(#[from] QuestionError),
    /// Reading the ledger failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The subject does not exist at the point: there is no answer to prove.
    #[error("{subject:?} does not exist at the question's point: there is no answer to prove")]
    NotFound {
        /// The account or person.
        subject: String,
    },
}

/// The parts up to the question's point, remembering every part read in full.
struct ProverParts<'l> {
    ledger: &'l dyn Ledger,
    at_seq: u64,
    full: RefCell<BTreeMap<String, Vec<Arc<Recorded>>>>,
}

impl Parts for ProverParts<'_> {
    fn part(&self, key: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let mut list = self.ledger.part(key)?;
        list.sort_by_key(|r| r.seq);
        let visible = list
            .iter()
            .filter(|r| r.seq <= self.at_seq)
            .cloned()
            .collect();
        self.full.borrow_mut().insert(key.to_string(), list);
        Ok(visible)
    }
}

/// Builds the bundle of `question` against a checkpoint (its signed `note`, what it says,
/// and the stream map it commits to).
pub fn prove(
    ledger: &dyn Ledger,
    question: Question,
    note: &str,
    checkpoint: &Checkpoint,
    map: &MapSnapshot,
) -> Result<Bundle, ProveError> {
    assert_eq!(
        map.root(),
        checkpoint.map_root,
        "the map is the checkpoint's"
    );
    assert!(
        question.at_seq <= checkpoint.size,
        "the point is within the checkpoint"
    );
    let parts = ProverParts {
        ledger,
        at_seq: question.at_seq,
        full: RefCell::new(BTreeMap::new()),
    };
    let source = PartSource::new(parts, checkpoint.size);
    let hash_of = |seq: u64| ledger.envelope(seq).ok().map(|e| e.hash);
    let Some(answer) = question.answer(&source, &hash_of)? else {
        return Err(ProveError::NotFound {
            subject: question.subject.clone(),
        });
    };
    let read = source.keys_read();
    let full = source.parts().full.take();
    let boundary: BTreeSet<u64> = match question.known_at {
        Some(_) => [question.at_seq, question.at_seq + 1]
            .into_iter()
            .filter(|seq| (1..=checkpoint.size).contains(seq))
            .collect(),
        None => BTreeSet::new(),
    };
    let mut whole: BTreeSet<u64> = boundary.clone();
    let mut later: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for key in &read {
        for recorded in &full[key] {
            if recorded.seq <= question.at_seq || boundary.contains(&recorded.seq) {
                whole.insert(recorded.seq);
            } else {
                later.entry(recorded.seq).or_default().push(key.clone());
            }
        }
    }
    let mut envelopes = Vec::with_capacity(whole.len());
    for &seq in &whole {
        let stored = ledger.envelope(seq)?;
        envelopes.push(Entry {
            prev: JsonHash(stored.prev),
            envelope: RawValue::from_string(stored.canonical)
                .map_err(|e| SourceError::new(format!("envelope {seq} is not JSON: {e}")))?,
            proof: Vec::new(),
        });
    }
    let nodes = multiproof(ledger, &whole, checkpoint.size)?;
    let mut hashed = Vec::with_capacity(later.len());
    for (seq, keys) in later {
        let hash = ledger.envelope(seq)?.hash;
        hashed.push(Later {
            seq,
            hash: JsonHash(hash),
            keys,
        });
    }
    let parts: Vec<_> = read.iter().map(|key| map.prove_without_path(key)).collect();
    let members: BTreeSet<u64> = parts
        .iter()
        .flat_map(|proof| proof.members().map(|member| member.index))
        .collect();
    let map_nodes = map.multiproof(&members.into_iter().collect::<Vec<_>>());
    Ok(Bundle {
        format: BUNDLE_FORMAT.to_string(),
        question,
        answer,
        checkpoint: note.to_string(),
        envelopes,
        nodes,
        later: hashed,
        parts,
        map_nodes,
    })
}

/// The multiproof of the envelopes `seqs` in the tree of `size`: the roots of the largest
/// subtrees holding none of them, taken from their inclusion proofs (each such subtree is on
/// the audit path of one of them).
fn multiproof(
    ledger: &dyn Ledger,
    seqs: &BTreeSet<u64>,
    size: u64,
) -> Result<Vec<JsonHash>, SourceError> {
    let indices: Vec<u64> = seqs.iter().map(|seq| seq - 1).collect();
    let mut known: BTreeMap<LeafRange, Hash> = BTreeMap::new();
    for &index in &indices {
        let proof = ledger.inclusion_proof(index + 1, size)?;
        let ranges = path_ranges(index, size);
        if proof.len() != ranges.len() {
            return Err(SourceError::new(format!(
                "the inclusion proof of seq {} has {} hashes, the tree of {size} needs {}",
                index + 1,
                proof.len(),
                ranges.len()
            )));
        }
        known.extend(ranges.into_iter().zip(proof));
    }
    multiproof_ranges(&indices, size)
        .into_iter()
        .map(|range| {
            known
                .get(&range)
                .map(|hash| JsonHash(*hash))
                .ok_or_else(|| {
                    SourceError::new(format!(
                        "no inclusion proof holds the subtree of leaves {}..{}",
                        range.0, range.1
                    ))
                })
        })
        .collect()
}
