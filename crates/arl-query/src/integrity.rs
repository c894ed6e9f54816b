//! Digests and inclusion proofs of the log (contract §5).

use crate::QueryError;
use arl_log::{format_time, hex, merkle, Hash, Head, Log};
use serde::Serialize;

/// A digest as `arl digest` prints it: the head's seq, hash, Merkle root and record time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub seq: u64,
    pub head: Hash,
    pub root: Hash,
    pub recorded_at: String,
}

/// The JSON of a head, exactly as `arl digest` prints it (one line).
pub fn digest_json(head: &Head) -> String {
    format!(
        "{{\"seq\": {}, \"head\": \"{}\", \"root\": \"{}\", \"recorded_at\": \"{}\"}}",
        head.seq,
        hex(&head.hash),
        hex(&head.root),
        format_time(head.recorded_at)
    )
}

/// The JSON summary of a passed `arl verify --format json` (and of `POST /v1/verify`):
/// the head checked, how far the views were checked, and the digest's seq when the log was
/// checked to extend one.
pub fn verified_json(
    head: &Head,
    views_checked: u64,
    views_behind_log: bool,
    digest_seq: Option<u64>,
) -> serde_json::Value {
    let mut value = serde_json::json!({
        "ok": true,
        "seq": head.seq,
        "head": hex(&head.hash),
        "root": hex(&head.root),
        "recorded_at": format_time(head.recorded_at),
        "views_checked": views_checked,
        "views_behind_log": views_behind_log,
    });
    if let Some(seq) = digest_seq {
        value["extends_digest_seq"] = serde_json::json!(seq);
    }
    value
}

/// An inclusion proof as `arl proof` prints it (RFC 9162 §2.1.3: leaf index, tree size,
/// audit path; the leaf hash is blake3(0x00 ‖ envelope hash)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProofJson {
    pub seq: u64,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub root: String,
    pub envelope_hash: String,
    pub leaf_hash: String,
    pub audit_path: Vec<String>,
}

/// The tree a proof is for: a digest's, else the log's head.
fn tree_of(log: &Log, digest: Option<&Digest>) -> Result<(u64, Hash), QueryError> {
    let head = log.head();
    match digest {
        Some(d) if d.seq > head.seq => Err(QueryError::DigestBeyondHead {
            digest_seq: d.seq,
            head_seq: head.seq,
        }),
        Some(d) => Ok((d.seq, d.root)),
        None => Ok((head.seq, head.root)),
    }
}

/// The inclusion proof of envelope `seq` in the tree of `digest` (default: the head),
/// checked before it is returned.
pub fn proof(log: &Log, seq: u64, digest: Option<&Digest>) -> Result<ProofJson, QueryError> {
    let (size, root) = tree_of(log, digest)?;
    if seq == 0 || seq > size {
        return Err(QueryError::SeqNotInTree { seq, size });
    }
    let Some(envelope) = log.get(seq)? else {
        return Err(QueryError::SeqNotInTree { seq, size });
    };
    let leaf = merkle::leaf_hash(&envelope.hash);
    let path = log.inclusion_proof(seq, size)?;
    if !merkle::verify_inclusion(&leaf, seq - 1, size, &path, &root) {
        return Err(QueryError::ProofFails {
            seq,
            size,
            root: hex(&root),
        });
    }
    Ok(ProofJson {
        seq,
        leaf_index: seq - 1,
        tree_size: size,
        root: hex(&root),
        envelope_hash: hex(&envelope.hash),
        leaf_hash: hex(&leaf),
        audit_path: path.iter().map(hex).collect(),
    })
}

/// Whether the log, verified up to `head`, extends `digest` (`arl verify --digest`): the
/// digest's envelope hash and Merkle root at its seq, and a consistency proof from there to
/// the head. `Ok(Err(why))`: it does not (an integrity failure); `Err`: reading failed.
pub fn check_extends(
    log: &Log,
    head: &Head,
    digest: &Digest,
) -> Result<Result<(), String>, arl_log::LogError> {
    if digest.seq > head.seq {
        return Ok(Err(format!(
            "the digest is at seq {} but the ledger only reaches seq {}: events were removed",
            digest.seq, head.seq
        )));
    }
    if digest.seq > 0 {
        let Some(stored) = log.get(digest.seq)? else {
            return Ok(Err(format!(
                "the log has no envelope at the digest's seq {}",
                digest.seq
            )));
        };
        if stored.hash != digest.head {
            return Ok(Err(format!(
                "integrity failure at seq {}: the envelope's hash is {}, the digest says {}",
                digest.seq,
                hex(&stored.hash),
                hex(&digest.head)
            )));
        }
    }
    let root = log.root_at(digest.seq)?;
    if root != digest.root {
        return Ok(Err(format!(
            "the Merkle root at seq {} is {}, the digest says {}",
            digest.seq,
            hex(&root),
            hex(&digest.root)
        )));
    }
    let proof = log.consistency_proof(digest.seq, head.seq)?;
    if !merkle::verify_consistency(digest.seq, head.seq, &digest.root, &head.root, &proof) {
        return Ok(Err(format!(
            "the consistency proof from seq {} to seq {} does not verify",
            digest.seq, head.seq
        )));
    }
    Ok(Ok(()))
}
