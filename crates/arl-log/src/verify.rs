//! Verification over raw stored bytes: the framing and block offsets, the hash chain, seq
//! continuity, non-decreasing `recorded_at`, the stored Merkle nodes and the head, without
//! a full JSON parse.
//!
//! The envelope file is read front to back in large windows. Within a window every
//! envelope's hash is recomputed from the *stored* hash before it, so the window splits
//! into halves checked on two threads, each also computing the Merkle leaves and the root
//! of each complete block (a level-8 subtree). When every link holds, the stored hashes
//! are the chain. The cheap, order-dependent checks (record times, stored Merkle nodes)
//! then run in order. The first failure of any check names its seq.

use crate::codec::Codec;
use crate::envelope::chain_hash;
use crate::envelope::MAX_ENVELOPE_BYTES;
use crate::merkle::{leaf_hash, node_hash, Frontier};
use crate::store::{Store, BLOCK_EVENTS, FRAME_OVERHEAD, NODE_LEVEL_MIN};
use crate::time::{parse_time, TIME_LEN};
use crate::{hex, Hash, Head, LogError};

const SEQ_MEMBER: &[u8] = b",\"seq\":";
const RECORDED_AT_MEMBER: &[u8] = b"\"recorded_at\":\"";
/// Envelopes checked per window (a multiple of a block).
const WINDOW_EVENTS: usize = 64 * BLOCK_EVENTS as usize;
/// A window ends early at a block boundary past this many bytes (large envelopes).
const WINDOW_BYTES: usize = 8 << 20;
/// Bytes read at once.
const READ_AHEAD: usize = 2 << 20;
/// The read buffer (grows when one window needs more).
const BUFFER_BYTES: usize = 12 << 20;
/// Bytes of the hash that ends a frame.
const HASH_LEN: usize = 32;

/// One parsed frame: where its stored bytes lie in the window buffer (the canonical
/// bytes, or their compressed form), and its hash.
struct Frame {
    start: usize,
    len: usize,
    hash: Hash,
    compressed: bool,
}

/// The canonical bytes of a frame: in the buffer, or decompressed into `scratch` (the
/// frames of a window are decompressed by the thread that checks them).
fn canonical_of<'a>(
    buf: &'a [u8],
    frame: &Frame,
    codec: Option<&'static Codec>,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], String> {
    let stored = &buf[frame.start..frame.start + frame.len];
    if !frame.compressed {
        return Ok(stored);
    }
    let codec = codec.ok_or("a compressed frame, which this log does not read")?;
    scratch.clear();
    codec
        .decompress_into(stored, MAX_ENVELOPE_BYTES, scratch)
        .map_err(|e| format!("the compressed frame: {e}"))?;
    Ok(scratch)
}

/// What a half-window check finds.
struct Checked {
    /// The first failing seq and why.
    failure: Option<Failure>,
    /// `recorded_at` of each frame and whether it says `"imported":true` (only looked at
    /// when it goes back).
    recorded: Vec<i64>,
    /// The roots of the complete blocks, then the leaves of a trailing partial block.
    roots: Vec<Hash>,
    leaves: Vec<Hash>,
}

/// The first failing seq of a check and why.
type Failure = (u64, String);

/// Recomputes everything from the stored frames and compares it with the stored index
/// values and `head`/`frontier`. `progress` gets the last checked seq after each window.
///
/// The parent of the phases: it owns the reading position and what carries over from one
/// window to the next (the last hash, the latest record time, the Merkle frontier); each
/// window is parsed ([`Window::parse_frames`]), its links checked on two threads
/// ([`check_links`]), then its record times and Merkle nodes in order
/// ([`Carried::check_record_times`], [`Carried::check_merkle_nodes`]). The earliest failure
/// of any of them is the answer.
pub(crate) fn verify(
    store: &dyn Store,
    head: &Head,
    frontier: &Frontier,
    progress: &mut dyn FnMut(u64),
) -> Result<(), LogError> {
    let size = head.seq;
    let data_len = store.data_len();
    let mut window = Window {
        buf: vec![0; BUFFER_BYTES],
        filled: 0,
        at: 0,
        data_len,
        consumed: 0,
    };
    let mut carried = Carried {
        next_seq: 1,
        prev: [0; 32],
        last_recorded: i64::MIN,
        tree: Frontier::default(),
    };
    let mut frames: Vec<Frame> = Vec::with_capacity(WINDOW_EVENTS);
    let codec = store.frame_codec();
    while carried.next_seq <= size {
        let first = carried.next_seq;
        let parse_failure = window.parse_frames(store, first, size, &mut frames)?;
        let bytes = &window.buf[..window.filled];
        let halves = check_links(bytes, &frames, first, carried.prev, codec);
        let link_failure = halves.iter().find_map(|half| half.failure.clone());
        let time_failure = carried.check_record_times(
            (bytes, codec),
            &frames,
            &halves,
            first,
            link_failure.as_ref(),
        );
        let merkle_failure = carried.check_merkle_nodes(store, &halves, first)?;
        let earliest = [link_failure, time_failure, merkle_failure, parse_failure]
            .into_iter()
            .flatten()
            .min_by_key(|failure| failure.0);
        if let Some((seq, reason)) = earliest {
            return Err(LogError::integrity(seq, reason));
        }
        carried.prev = frames.last().map_or(carried.prev, |f| f.hash);
        carried.next_seq += frames.len() as u64;
        progress(carried.next_seq - 1);
    }
    check_nothing_beyond_head(store, size, data_len)?;
    finish(head, frontier, carried.prev, &carried.tree)
}

/// What one window hands the next.
struct Carried {
    next_seq: u64,
    /// The stored hash of the last envelope checked.
    prev: Hash,
    /// The latest `recorded_at` so far.
    last_recorded: i64,
    /// The Merkle tree of every envelope checked so far.
    tree: Frontier,
}

impl Carried {
    /// Record times never go back, except on imported envelopes. Checked only before
    /// `link_failure` (a half stops recording times at its first failure).
    fn check_record_times(
        &mut self,
        (bytes, codec): (&[u8], Option<&'static Codec>),
        frames: &[Frame],
        halves: &[Checked],
        first: u64,
        link_failure: Option<&Failure>,
    ) -> Option<Failure> {
        let recorded = halves.iter().flat_map(|half| half.recorded.iter());
        for (i, &recorded_at) in recorded.enumerate() {
            let seq = first + i as u64;
            if link_failure.is_some_and(|failure| failure.0 <= seq) {
                return None;
            }
            if recorded_at < self.last_recorded {
                let mut scratch = Vec::new();
                let imported =
                    canonical_of(bytes, &frames[i], codec, &mut scratch).is_ok_and(is_imported);
                if !imported {
                    return Some((seq, "recorded_at decreases".into()));
                }
            }
            self.last_recorded = self.last_recorded.max(recorded_at);
        }
        None
    }

    /// Grows the tree by the window's block roots and trailing leaves, and compares every
    /// node the log stores (levels from `NODE_LEVEL_MIN` up) with the one computed.
    fn check_merkle_nodes(
        &mut self,
        store: &dyn Store,
        halves: &[Checked],
        first: u64,
    ) -> Result<Option<Failure>, LogError> {
        let mut completed: Vec<(u8, u64, Hash)> = Vec::new();
        let mut seq = first;
        for root in halves.iter().flat_map(|half| half.roots.iter()) {
            seq += BLOCK_EVENTS;
            self.tree
                .push_subtree(NODE_LEVEL_MIN, *root, &mut |level, index, node| {
                    completed.push((level, index, *node));
                });
            if let Some(failure) = compare_stored_nodes(store, &mut completed, seq - 1)? {
                return Ok(Some(failure));
            }
        }
        for leaf in halves.iter().flat_map(|half| half.leaves.iter()) {
            self.tree.push(*leaf, &mut |level, index, node| {
                if level >= NODE_LEVEL_MIN {
                    completed.push((level, index, *node));
                }
            });
            if let Some(failure) = compare_stored_nodes(store, &mut completed, seq)? {
                return Ok(Some(failure));
            }
            seq += 1;
        }
        Ok(None)
    }
}

/// Compares the nodes the envelope `seq` completed with the stored ones (and forgets them).
fn compare_stored_nodes(
    store: &dyn Store,
    completed: &mut Vec<(u8, u64, Hash)>,
    seq: u64,
) -> Result<Option<Failure>, LogError> {
    for (level, index, node) in completed.drain(..) {
        let reason = match store.node(level, index)? {
            Some(stored) if stored == node => continue,
            Some(_) => format!("the stored Merkle node (level {level}, index {index}) that this envelope completes does not match"),
            None => format!("the Merkle node (level {level}, index {index}) that this envelope completes is missing"),
        };
        return Ok(Some((seq, reason)));
    }
    Ok(None)
}

/// Checks the window's links, envelope by envelope: on two threads when it holds two
/// blocks or more (split at a block boundary, so each half computes whole block roots),
/// else on this one. The halves come back in order.
fn check_links(
    bytes: &[u8],
    frames: &[Frame],
    first: u64,
    prev: Hash,
    codec: Option<&'static Codec>,
) -> Vec<Checked> {
    let mid = if frames.len() >= 2 * BLOCK_EVENTS as usize {
        (frames.len() / 2)
            .next_multiple_of(BLOCK_EVENTS as usize)
            .min(frames.len())
    } else {
        frames.len()
    };
    let (left, right) = frames.split_at(mid);
    if right.is_empty() {
        return vec![check_frames(bytes, left, first, prev, codec)];
    }
    let right_prev = left.last().map_or(prev, |f| f.hash);
    let (left, right) = arl_par::join(
        || check_frames(bytes, left, first, prev, codec),
        || check_frames(bytes, right, first + mid as u64, right_prev, codec),
    );
    vec![left, right]
}

/// Nothing is stored past the head: no bytes after an empty log's start, and no block
/// offset past the head's last block.
fn check_nothing_beyond_head(store: &dyn Store, size: u64, data_len: u64) -> Result<(), LogError> {
    let beyond =
        (size == 0 && data_len != 0) || store.block_offset(size.div_ceil(BLOCK_EVENTS))?.is_some();
    if beyond {
        return Err(LogError::integrity(
            size + 1,
            "envelopes are stored beyond the head",
        ));
    }
    Ok(())
}

/// The part of the envelope file being checked: `buf[..filled]` holds the bytes from
/// file offset `at`.
struct Window {
    buf: Vec<u8>,
    filled: usize,
    at: u64,
    data_len: u64,
    /// Bytes of `buf` the last window's frames used.
    consumed: usize,
}

impl Window {
    /// Parses up to one window of frames from seq `first` on into `frames`, reading more of
    /// the file as needed, and checks each block's stored offset. Returns what does not
    /// hold (the frames before it are parsed).
    fn parse_frames(
        &mut self,
        store: &dyn Store,
        first: u64,
        size: u64,
        frames: &mut Vec<Frame>,
    ) -> Result<Option<Failure>, LogError> {
        frames.clear();
        let want = WINDOW_EVENTS.min((size - first + 1) as usize);
        // Drop what the last window used.
        self.buf.copy_within(self.consumed..self.filled, 0);
        self.filled -= self.consumed;
        self.at += self.consumed as u64;
        let mut at = 0usize;
        let mut failure = None;
        while frames.len() < want
            && !(frames.len().is_multiple_of(BLOCK_EVENTS as usize) && at >= WINDOW_BYTES)
        {
            let seq = first + frames.len() as u64;
            if let Some(reason) = self.check_block_start(store, seq, self.at + at as u64)? {
                failure = Some((seq, reason));
                break;
            }
            match self.frame_at(store, at)? {
                Ok(frame) => {
                    at = frame.start + frame.len + HASH_LEN;
                    frames.push(frame);
                }
                Err(reason) => {
                    failure = Some((seq, reason));
                    break;
                }
            }
        }
        self.consumed = at;
        let last_window = first + frames.len() as u64 > size;
        if failure.is_none() && last_window && self.at + at as u64 != self.data_len {
            failure = Some((size + 1, "envelopes are stored beyond the head".into()));
        }
        Ok(failure)
    }

    /// At the first seq of a block: the index's offset of the block is where its first
    /// frame is (`file_pos`).
    fn check_block_start(
        &self,
        store: &dyn Store,
        seq: u64,
        file_pos: u64,
    ) -> Result<Option<String>, LogError> {
        if !(seq - 1).is_multiple_of(BLOCK_EVENTS) {
            return Ok(None);
        }
        let block = (seq - 1) / BLOCK_EVENTS;
        Ok(match store.block_offset(block)? {
            Some(offset) if offset == file_pos => None,
            Some(offset) => Some(format!(
                "the index says block {block} starts at byte {offset}, its first frame is at byte {file_pos}"
            )),
            None => Some("the block holding this envelope is missing".into()),
        })
    }

    /// The frame (length, canonical bytes, hash) at `at` in the buffer, read in as needed.
    fn frame_at(
        &mut self,
        store: &dyn Store,
        at: usize,
    ) -> Result<Result<Frame, String>, LogError> {
        if !self.fill(store, at + 4)? {
            return Ok(Err("the envelope file ends before this envelope (a frame header is cut short or missing)".into()));
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.buf[at..at + 4]);
        let (len, flags) = crate::store::frame_len(u32::from_le_bytes(len));
        let compressed = flags & crate::store::FRAME_COMPRESSED != 0;
        if compressed && store.frame_codec().is_none() {
            return Ok(Err(
                "a compressed frame, which a log of this layout does not hold".into(),
            ));
        }
        if len > MAX_ENVELOPE_BYTES || !self.fill(store, at + len + FRAME_OVERHEAD)? {
            return Ok(Err(format!(
                "a frame claims {len} bytes that are not there"
            )));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&self.buf[at + 4 + len..at + len + FRAME_OVERHEAD]);
        Ok(Ok(Frame {
            start: at + 4,
            len,
            hash,
            compressed,
        }))
    }

    /// Makes the window hold at least `need` bytes when the committed file has them (false
    /// when it does not), reading as much as fits at once.
    fn fill(&mut self, store: &dyn Store, need: usize) -> Result<bool, LogError> {
        if self.filled >= need {
            return Ok(true);
        }
        let available = self.data_len - self.at;
        if need as u64 > available {
            return Ok(false);
        }
        if self.buf.len() < need {
            self.buf.resize(need.next_multiple_of(1 << 20), 0);
        }
        // Read ahead a little past what is needed, so that little is left over to move to
        // the front for the next window.
        let upto = self
            .buf
            .len()
            .min(available as usize)
            .min(need.max(self.filled + READ_AHEAD));
        store.read_data(
            self.at + self.filled as u64,
            &mut self.buf[self.filled..upto],
        )?;
        self.filled = upto;
        Ok(true)
    }
}

/// Checks `frames` (seqs `first ..`), the first against `prev`, each later one against the
/// stored hash before it; computes their record times, block roots and trailing leaves.
fn check_frames(
    buf: &[u8],
    frames: &[Frame],
    first: u64,
    prev: Hash,
    codec: Option<&'static Codec>,
) -> Checked {
    let mut out = Checked {
        failure: None,
        recorded: Vec::with_capacity(frames.len()),
        roots: Vec::with_capacity(frames.len() / BLOCK_EVENTS as usize),
        leaves: Vec::new(),
    };
    let mut prev = prev;
    let mut level0: Vec<Hash> = Vec::with_capacity(BLOCK_EVENTS as usize);
    let mut scratch = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let seq = first + i as u64;
        if out.failure.is_none() {
            let checked = canonical_of(buf, f, codec, &mut scratch)
                .and_then(|canonical| check_envelope(seq, canonical, &prev, &f.hash));
            match checked {
                Ok(recorded) => out.recorded.push(recorded),
                Err(reason) => out.failure = Some((seq, reason)),
            }
        }
        prev = f.hash;
        level0.push(leaf_hash(&f.hash));
        if level0.len() == BLOCK_EVENTS as usize {
            out.roots.push(block_root(&mut level0));
            level0.clear();
        }
    }
    out.leaves = level0;
    out
}

/// The root of a complete block's 256 leaves (reduces in place).
fn block_root(layer: &mut [Hash]) -> Hash {
    let mut n = layer.len();
    while n > 1 {
        for i in 0..n / 2 {
            layer[i] = node_hash(&layer[2 * i], &layer[2 * i + 1]);
        }
        n /= 2;
    }
    layer[0]
}

/// The checks of one envelope that need nothing but its bytes and the hash before it;
/// returns its `recorded_at`.
fn check_envelope(seq: u64, canonical: &[u8], prev: &Hash, hash: &Hash) -> Result<i64, String> {
    if !canonical.starts_with(b"{\"actor\":") || !canonical.ends_with(b"}") {
        return Err("the stored envelope is not a canonical JSON object".into());
    }
    let Some((embedded_seq, recorded_at)) = seq_and_recorded_at(canonical) else {
        return Err("the stored envelope has no readable seq or recorded_at".into());
    };
    if embedded_seq != seq {
        return Err(format!("the envelope stored here says seq {embedded_seq}"));
    }
    if chain_hash(prev, canonical) != *hash {
        return Err("the stored hash is not blake3(previous hash ‖ canonical envelope)".into());
    }
    Ok(recorded_at)
}

/// Compares the recomputed chain head and Merkle root with the stored head record.
fn finish(head: &Head, frontier: &Frontier, prev: Hash, tree: &Frontier) -> Result<(), LogError> {
    let seq = head.seq;
    if tree.size != seq {
        return Err(LogError::integrity(
            seq,
            "envelopes are missing before the head",
        ));
    }
    if prev != head.hash {
        return Err(LogError::integrity(
            seq,
            format!(
                "the head says hash {}, the chain ends in {}",
                hex(&head.hash),
                hex(&prev)
            ),
        ));
    }
    let root = tree.root();
    if root != head.root || tree != frontier {
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

/// True when the canonical envelope says `"imported":true`: every member after `data` is a
/// scalar and `,"` cannot occur inside a string, so the last `,"imported":` is the
/// envelope's own.
fn is_imported(canonical: &[u8]) -> bool {
    const MEMBER: &[u8] = b",\"imported\":";
    rfind(canonical, MEMBER).is_some_and(|at| canonical[at + MEMBER.len()..].starts_with(b"true"))
}

/// The last occurrence of `needle` (non-empty) in `haystack`: compares one byte per
/// position, the whole needle only where its first byte matches.
fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = haystack.len().checked_sub(needle.len())?;
    loop {
        if haystack[i] == first && haystack[i..].starts_with(needle) {
            return Some(i);
        }
        i = i.checked_sub(1)?;
    }
}

/// Reads the top-level `seq` and `recorded_at` of a canonical envelope from its bytes.
/// `,"seq":` cannot occur inside a string (its quote would be escaped), and every member
/// after `data` is a scalar, so its last occurrence is the envelope's own; `recorded_at`
/// sorts right before it.
fn seq_and_recorded_at(canonical: &[u8]) -> Option<(u64, i64)> {
    let at = rfind(canonical, SEQ_MEMBER)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfind_finds_the_last() {
        assert_eq!(rfind(b"a,b,a,b", b"a,"), Some(4));
        assert_eq!(rfind(b"a,b", b"a,b"), Some(0));
        assert_eq!(rfind(b"ab", b"abc"), None);
        assert_eq!(rfind(b"xyz", b"q"), None);
        let env = br#"{"actor":"a","data":{"k":",\"seq\":9"},"effective_at":"2024-03-02T08:00:00.000000Z","id":"x","imported":true,"reason":null,"recorded_at":"2024-03-02T08:00:00.000000Z","seq":42,"stream":"s","type":"t","version":1}"#;
        assert_eq!(seq_and_recorded_at(env), Some((42, 1_709_366_400_000_000)));
        assert!(is_imported(env));
    }
}
