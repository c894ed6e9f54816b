//! Verification over raw stored bytes: the hash chain, seq continuity, non-decreasing
//! `recorded_at`, the stored Merkle nodes and the head, without a full JSON parse.

use crate::envelope::chain_hash;
use crate::log::Frames;
use crate::merkle::{leaf_hash, Frontier};
use crate::store::{BLOCK_EVENTS, NODE_LEVEL_MIN};
use crate::time::{parse_time, TIME_LEN};
use crate::{hex, Hash, Head, LogError};

const SEQ_MEMBER: &[u8] = b",\"seq\":";
const RECORDED_AT_MEMBER: &[u8] = b"\"recorded_at\":\"";

pub(crate) struct Verifier {
    size: u64,
    next_seq: u64,
    prev: Hash,
    last_recorded: i64,
    frontier: Frontier,
    completed: Vec<(u8, u64, Hash)>,
    /// Envelopes up to this seq had their chain hash checked by [`Verifier::chains`].
    chain_checked: u64,
}

/// Checks `hash == blake3(prev ‖ canonical)` for each frame, `prev` being the stored hash of
/// the frame before; returns the first seq that fails.
fn first_bad_link(prev: Hash, frames: &[(u64, &[u8], Hash)]) -> Option<u64> {
    let mut prev = prev;
    for (seq, canonical, hash) in frames {
        if chain_hash(&prev, canonical) != *hash {
            return Some(*seq);
        }
        prev = *hash;
    }
    None
}

impl Verifier {
    pub(crate) fn new(size: u64) -> Self {
        Verifier {
            size,
            next_seq: 1,
            prev: [0; 32],
            last_recorded: i64::MIN,
            frontier: Frontier::default(),
            completed: Vec::new(),
            chain_checked: 0,
        }
    }

    /// The last seq checked so far.
    pub(crate) fn checked(&self) -> u64 {
        self.next_seq - 1
    }

    /// Checks the hash links of the blocks that follow the last checked seq on two threads:
    /// each frame against the stored hash of the frame before it. When every link holds,
    /// the stored hashes are the chain. The sequential pass then skips the hashing.
    pub(crate) fn chains(&mut self, blocks: &[&[u8]]) -> Result<(), LogError> {
        let mut frames = Vec::with_capacity(blocks.len() * BLOCK_EVENTS as usize);
        let mut seq = self.next_seq;
        'blocks: for block in blocks {
            for frame in Frames::new(block) {
                let Ok((canonical, hash)) = frame else {
                    break 'blocks; // the sequential pass names framing errors
                };
                frames.push((seq, canonical, hash));
                seq += 1;
            }
        }
        let mid = frames.len() / 2;
        let (first, second) = frames.split_at(mid);
        let second_prev = first.last().map_or(self.prev, |f| f.2);
        let prev = self.prev;
        let (bad_first, bad_second) = std::thread::scope(|scope| {
            let worker = scope.spawn(|| first_bad_link(prev, first));
            let bad_second = first_bad_link(second_prev, second);
            (worker.join().unwrap_or(Some(self.next_seq)), bad_second)
        });
        if let Some(seq) = bad_first.or(bad_second) {
            return Err(LogError::integrity(
                seq,
                "the stored hash is not blake3(previous hash ‖ canonical envelope)",
            ));
        }
        self.chain_checked = seq - 1;
        Ok(())
    }

    /// Checks the frames of the block that starts at `first`.
    pub(crate) fn block(
        &mut self,
        first: u64,
        bytes: &[u8],
        node: &mut dyn FnMut(u8, u64) -> Result<Option<Hash>, LogError>,
    ) -> Result<(), LogError> {
        debug_assert_eq!(first, self.next_seq);
        let expected = BLOCK_EVENTS.min(self.size - first + 1);
        let mut count = 0;
        for frame in Frames::new(bytes) {
            let seq = self.next_seq;
            if count == expected {
                return Err(LogError::integrity(
                    seq,
                    "envelopes are stored beyond the head",
                ));
            }
            let (canonical, hash) = frame.map_err(|e| LogError::integrity(seq, e))?;
            self.envelope(seq, canonical, &hash)?;
            self.merkle(seq, &hash, node)?;
            self.next_seq += 1;
            count += 1;
        }
        if count < expected {
            return Err(LogError::integrity(
                self.next_seq,
                "the block holding this envelope ends early",
            ));
        }
        Ok(())
    }

    fn envelope(&mut self, seq: u64, canonical: &[u8], hash: &Hash) -> Result<(), LogError> {
        let fail = |reason: &str| Err(LogError::integrity(seq, reason));
        if !canonical.starts_with(b"{\"actor\":") || !canonical.ends_with(b"}") {
            return fail("the stored envelope is not a canonical JSON object");
        }
        let Some((embedded_seq, recorded_at)) = seq_and_recorded_at(canonical) else {
            return fail("the stored envelope has no readable seq or recorded_at");
        };
        if embedded_seq != seq {
            return fail(&format!("the envelope stored here says seq {embedded_seq}"));
        }
        // Imported envelopes may go back in record time within their batch; a recorded one
        // never precedes anything stored before it.
        if recorded_at < self.last_recorded && !is_imported(canonical) {
            return fail("recorded_at decreases");
        }
        if seq > self.chain_checked && chain_hash(&self.prev, canonical) != *hash {
            return fail("the stored hash is not blake3(previous hash ‖ canonical envelope)");
        }
        self.last_recorded = self.last_recorded.max(recorded_at);
        self.prev = *hash;
        Ok(())
    }

    fn merkle(
        &mut self,
        seq: u64,
        hash: &Hash,
        node: &mut dyn FnMut(u8, u64) -> Result<Option<Hash>, LogError>,
    ) -> Result<(), LogError> {
        let completed = &mut self.completed;
        completed.clear();
        self.frontier.push(leaf_hash(hash), &mut |level, index, h| {
            if level >= NODE_LEVEL_MIN {
                completed.push((level, index, *h));
            }
        });
        for (level, index, h) in completed.iter() {
            match node(*level, *index)? {
                Some(stored) if stored == *h => {}
                Some(_) => {
                    return Err(LogError::integrity(
                        seq,
                        format!("the stored Merkle node (level {level}, index {index}) that this envelope completes does not match"),
                    ))
                }
                None => {
                    return Err(LogError::integrity(
                        seq,
                        format!("the Merkle node (level {level}, index {index}) that this envelope completes is missing"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Compares the recomputed chain head and Merkle root with the stored head record.
    pub(crate) fn finish(&self, head: &Head, frontier: &Frontier) -> Result<(), LogError> {
        let seq = head.seq;
        if self.next_seq - 1 != seq {
            return Err(LogError::integrity(
                seq,
                "envelopes are missing before the head",
            ));
        }
        if self.prev != head.hash {
            return Err(LogError::integrity(
                seq,
                format!(
                    "the head says hash {}, the chain ends in {}",
                    hex(&head.hash),
                    hex(&self.prev)
                ),
            ));
        }
        let root = self.frontier.root();
        if root != head.root || self.frontier != *frontier {
            return Err(LogError::integrity(
                seq,
                format!(
                    "the head says Merkle root {}, the envelopes give {}",
                    hex(&head.root),
                    hex(&root)
                ),
            ));
        }
        Ok(())
    }
}

/// True when the canonical envelope says `"imported":true`: every member after `data` is a
/// scalar and `,"` cannot occur inside a string, so the last `,"imported":` is the
/// envelope's own.
fn is_imported(canonical: &[u8]) -> bool {
    const MEMBER: &[u8] = b",\"imported\":";
    canonical
        .windows(MEMBER.len())
        .rposition(|w| w == MEMBER)
        .is_some_and(|at| canonical[at + MEMBER.len()..].starts_with(b"true"))
}

/// Reads the top-level `seq` and `recorded_at` of a canonical envelope from its bytes.
/// `,"seq":` cannot occur inside a string (its quote would be escaped), and every member
/// after `data` is a scalar, so its last occurrence is the envelope's own; `recorded_at`
/// sorts right before it.
fn seq_and_recorded_at(canonical: &[u8]) -> Option<(u64, i64)> {
    let at = canonical
        .windows(SEQ_MEMBER.len())
        .rposition(|w| w == SEQ_MEMBER)?;
    let digits = &canonical[at + SEQ_MEMBER.len()..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    let seq = std::str::from_utf8(&digits[..end]).ok()?.parse().ok()?;
    let time_start = at.checked_sub(TIME_LEN + 1)?;
    let member_start = time_start.checked_sub(RECORDED_AT_MEMBER.len())?;
    if &canonical[member_start..time_start] != RECORDED_AT_MEMBER || canonical[at - 1] != b'"' {
        return None;
    }
    let time = std::str::from_utf8(&canonical[time_start..at - 1]).ok()?;
    Some((seq, parse_time(time)?))
}
