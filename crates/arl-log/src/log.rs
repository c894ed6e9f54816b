//! [`Log`]: prepare a batch (assign seq, version, times and hashes, with no writes), commit
//! it (one atomic, durable write), read it back, prove and verify it.

use std::collections::HashMap;
use std::path::Path;

use crate::envelope::{chain_hash, check_data, check_text};
use crate::envelope::{MAX_ACTOR_BYTES, MAX_ENVELOPE_BYTES, MAX_ID_BYTES, MAX_KIND_BYTES};
use crate::envelope::{MAX_REASON_BYTES, MAX_STREAM_BYTES};
use crate::merkle::{self, Frontier, SubtreeSource};
use crate::store::{BlockBytes, CommitSet, Record, SledStore, Store};
use crate::store::{BLOCK_EVENTS, FRAME_OVERHEAD, NODE_LEVEL_MIN};
use crate::time::{TIME_MAX_MICROS, TIME_MIN_MICROS};
use crate::{AppendError, Envelope, Hash, LogError, NewEvent};

/// Most events one batch may hold.
pub const MAX_BATCH_EVENTS: usize = 2_000_000;
const META_MAGIC: &[u8; 8] = b"ARLLOG01";
/// Blocks read and hash-checked together (on two threads) by `verify`.
const VERIFY_CHUNK_BLOCKS: u64 = 32;

/// The state of the log after its last commit. `seq` 0 is the empty log: zero hash, the
/// empty tree's root, `recorded_at` 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
    pub root: Hash,
    pub recorded_at: i64,
}

impl Head {
    fn empty() -> Head {
        Head {
            seq: 0,
            hash: [0; 32],
            root: merkle::empty_root(),
            recorded_at: 0,
        }
    }
}

/// What became of one input event, in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Appended as envelope `seq`.
    Appended { seq: u64 },
    /// Its id is already stored (or earlier in the batch) with the same content, at `seq`.
    Duplicate { seq: u64 },
}

/// A batch ready to commit: the envelopes it will append and the outcome of each input.
/// The public fields are for reading: `commit` writes the bytes `prepare` computed and
/// refuses a batch whose seqs or hashes were changed in between.
#[derive(Debug)]
pub struct Prepared {
    pub envelopes: Vec<Envelope>,
    pub outcomes: Vec<Outcome>,
    base: Head,
    canonical: Vec<String>,
    hashes: Vec<Hash>,
}

/// The append-only, hash-chained, Merkle-committed event log.
pub struct Log {
    store: Box<dyn Store>,
    head: Head,
    frontier: Frontier,
}

/// An id seen while preparing: stored, or earlier in this batch.
enum Prior {
    Stored(Box<Envelope>),
    Batch(usize),
}

impl Log {
    /// Opens the log in `log_dir`, creating it (mode 0700) if missing. The caller holds the
    /// ledger's exclusive [`crate::LedgerLock`] for as long as it writes.
    pub fn open(log_dir: &Path) -> Result<Log, LogError> {
        crate::create_private_dir(log_dir)?;
        let store = SledStore::open(log_dir)?;
        let (head, frontier) = match store.meta()? {
            Some(bytes) => decode_meta(&bytes)?,
            None => (Head::empty(), Frontier::default()),
        };
        Ok(Log {
            store: Box::new(store),
            head,
            frontier,
        })
    }

    /// The head after the last commit.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Assigns seq, version, record time and hash to each new event, and finds duplicates.
    /// Writes nothing. `now_micros` is the record time of non-imported events (never below
    /// the last one stored).
    pub fn prepare(&self, batch: Vec<NewEvent>, now_micros: i64) -> Result<Prepared, AppendError> {
        if batch.len() > MAX_BATCH_EVENTS {
            return Err(AppendError::BatchTooLarge {
                len: batch.len(),
                max: MAX_BATCH_EVENTS,
            });
        }
        for (index, ev) in batch.iter().enumerate() {
            check_new_event(ev).map_err(|reason| AppendError::InvalidEvent { index, reason })?;
        }
        let mut priors = self.stored_priors(&batch)?;
        let mut versions = self.current_versions(&batch)?;
        let mut state = PrepareState {
            base: self.head,
            now: now_micros.clamp(TIME_MIN_MICROS, TIME_MAX_MICROS),
            last_recorded: (self.head.seq > 0).then_some(self.head.recorded_at),
            base_recorded: (self.head.seq > 0).then_some(self.head.recorded_at),
            prev: self.head.hash,
            envelopes: Vec::with_capacity(batch.len()),
            canonical: Vec::with_capacity(batch.len()),
            outcomes: Vec::with_capacity(batch.len()),
        };
        for (index, ev) in batch.into_iter().enumerate() {
            if let Some(id) = &ev.id {
                if let Some(prior) = priors.get(id.as_str()) {
                    let seq = state.check_duplicate(prior, &ev, index)?;
                    state.outcomes.push(Outcome::Duplicate { seq });
                    continue;
                }
            }
            if !versions.contains_key(ev.stream.as_str()) {
                versions.insert(ev.stream.clone(), 0);
            }
            let version = versions.get_mut(ev.stream.as_str()).ok_or_else(|| {
                LogError::corrupt("stream version table lost an entry during prepare")
            })?;
            let id = state.push(ev, index, version)?;
            priors.insert(id, Prior::Batch(state.envelopes.len() - 1));
        }
        Ok(Prepared {
            hashes: state.envelopes.iter().map(|e| e.hash).collect(),
            envelopes: state.envelopes,
            outcomes: state.outcomes,
            base: state.base,
            canonical: state.canonical,
        })
    }

    /// The stored envelopes whose ids occur in the batch.
    fn stored_priors(&self, batch: &[NewEvent]) -> Result<HashMap<String, Prior>, LogError> {
        let ids: Vec<&str> = batch.iter().filter_map(|e| e.id.as_deref()).collect();
        let candidates = self.store.id_candidates(&ids)?;
        let mut priors = HashMap::with_capacity(batch.len());
        for (id, seqs) in ids.iter().zip(candidates) {
            for seq in seqs {
                if let Some(env) = self.get(seq)? {
                    if env.id == *id {
                        priors.insert(env.id.clone(), Prior::Stored(Box::new(env)));
                    }
                }
            }
        }
        Ok(priors)
    }

    fn current_versions(&self, batch: &[NewEvent]) -> Result<HashMap<String, u64>, LogError> {
        let mut streams: Vec<&str> = batch.iter().map(|e| e.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        let versions = self.store.stream_versions(&streams)?;
        Ok(streams
            .into_iter()
            .map(str::to_owned)
            .zip(versions)
            .collect())
    }

    /// Writes a prepared batch atomically and durably; returns the new head.
    pub fn commit(&mut self, prepared: Prepared) -> Result<Head, LogError> {
        if prepared.base != self.head {
            return Err(LogError::StalePrepared {
                prepared_at: prepared.base.seq,
                head: self.head.seq,
            });
        }
        let Some(last) = prepared.envelopes.last() else {
            return Ok(self.head);
        };
        let mut frontier = self.frontier.clone();
        let mut nodes = Vec::new();
        let mut records = Vec::with_capacity(prepared.envelopes.len());
        for (i, (env, canonical)) in prepared
            .envelopes
            .iter()
            .zip(&prepared.canonical)
            .enumerate()
        {
            if env.seq != self.head.seq + 1 + i as u64 || prepared.hashes.get(i) != Some(&env.hash)
            {
                return Err(altered("seq or hash"));
            }
            debug_assert_eq!(
                &env.canonical_string(),
                canonical,
                "prepared envelope changed"
            );
            frontier.push(merkle::leaf_hash(&env.hash), &mut |level, index, hash| {
                if level >= NODE_LEVEL_MIN {
                    nodes.push((level, index, *hash));
                }
            });
            records.push(Record {
                seq: env.seq,
                canonical: canonical.as_bytes(),
                hash: env.hash,
                id: &env.id,
                stream: &env.stream,
                version: env.version,
            });
        }
        let head = Head {
            seq: last.seq,
            hash: last.hash,
            root: frontier.root(),
            // The latest record time: the last envelope's, unless an imported batch came out
            // of record-time order.
            recorded_at: prepared
                .envelopes
                .iter()
                .map(|e| e.recorded_at)
                .fold(self.head.recorded_at.max(last.recorded_at), i64::max),
        };
        let meta = encode_meta(&head, &frontier);
        self.store.commit(&CommitSet {
            records,
            nodes,
            meta,
        })?;
        self.head = head;
        self.frontier = frontier;
        Ok(head)
    }

    /// The envelope `seq`, or `None` beyond the head.
    pub fn get(&self, seq: u64) -> Result<Option<Envelope>, LogError> {
        if seq == 0 || seq > self.head.seq {
            return Ok(None);
        }
        let block = self.read_block(seq)?;
        let want = ((seq - 1) % BLOCK_EVENTS) as usize;
        let frame = Frames::new((*block).as_ref())
            .nth(want)
            .ok_or_else(|| LogError::corrupt(format!("block of seq {seq} is short")))?;
        decode_frame(frame, seq).map(Some)
    }

    fn read_block(&self, seq: u64) -> Result<BlockBytes, LogError> {
        let block = (seq - 1) / BLOCK_EVENTS;
        self.store
            .block(block)?
            .ok_or_else(|| LogError::corrupt(format!("block {block} holding seq {seq} is missing")))
    }

    /// Envelopes `from_seq ..= to_seq_inclusive` (clamped to the head), block by block.
    pub fn range(
        &self,
        from_seq: u64,
        to_seq_inclusive: u64,
    ) -> impl Iterator<Item = Result<Envelope, LogError>> + '_ {
        RangeIter {
            log: self,
            next: from_seq.max(1),
            last: to_seq_inclusive.min(self.head.seq),
            block: None,
            failed: false,
        }
    }

    /// Every envelope of `stream`, in seq order.
    pub fn stream(&self, stream: &str) -> Result<Vec<Envelope>, LogError> {
        let mut out = Vec::new();
        let mut cached: Option<(u64, BlockBytes)> = None;
        for seq in self.store.stream_candidates(stream)? {
            if seq == 0 || seq > self.head.seq {
                continue;
            }
            let block_no = (seq - 1) / BLOCK_EVENTS;
            if cached.as_ref().is_none_or(|(b, _)| *b != block_no) {
                cached = Some((block_no, self.read_block(seq)?));
            }
            let Some((_, block)) = &cached else { continue };
            let want = ((seq - 1) % BLOCK_EVENTS) as usize;
            let frame = Frames::new((**block).as_ref())
                .nth(want)
                .ok_or_else(|| LogError::corrupt(format!("block of seq {seq} is short")))?;
            let env = decode_frame(frame, seq)?;
            if env.stream == stream {
                out.push(env);
            }
        }
        Ok(out)
    }

    /// The number of events in `stream`.
    pub fn stream_version(&self, stream: &str) -> Result<u64, LogError> {
        Ok(self.store.stream_versions(&[stream])?[0])
    }

    /// The seq of the event with this id.
    pub fn lookup_id(&self, id: &str) -> Result<Option<u64>, LogError> {
        for seq in self.store.id_candidates(&[id])?.remove(0) {
            if let Some(env) = self.get(seq)? {
                if env.id == id {
                    return Ok(Some(seq));
                }
            }
        }
        Ok(None)
    }

    /// MTH of envelopes `1..=size`.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        self.check_size("tree size", size)?;
        if size == self.head.seq {
            return Ok(self.head.root);
        }
        merkle::range_root(&mut self.subtrees(), 0, size)
    }

    /// RFC 6962 PATH of envelope `seq` (leaf index `seq - 1`) in the tree of `size` leaves.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size("tree size", size)?;
        if seq == 0 || seq > size {
            return Err(LogError::OutOfRange {
                what: "seq",
                value: seq,
                size,
            });
        }
        let mut out = Vec::new();
        merkle::inclusion_path(&mut self.subtrees(), seq - 1, 0, size, &mut out)?;
        Ok(out)
    }

    /// RFC 6962 PROOF that the tree of `new_size` extends the tree of `old_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size("tree size", new_size)?;
        if old_size > new_size {
            return Err(LogError::OutOfRange {
                what: "old tree size",
                value: old_size,
                size: new_size,
            });
        }
        let mut out = Vec::new();
        if old_size > 0 && old_size < new_size {
            merkle::consistency_path(&mut self.subtrees(), old_size, 0, new_size, true, &mut out)?;
        }
        Ok(out)
    }

    fn check_size(&self, what: &'static str, size: u64) -> Result<(), LogError> {
        if size > self.head.seq {
            return Err(LogError::OutOfRange {
                what,
                value: size,
                size: self.head.seq,
            });
        }
        Ok(())
    }

    fn subtrees(&self) -> LogSubtrees<'_> {
        LogSubtrees {
            log: self,
            leaves: HashMap::new(),
        }
    }

    /// Recomputes the hash chain and the Merkle tree from the stored frames and compares
    /// them with every stored hash, Merkle node and the head. `progress` gets the last
    /// checked seq after each block. The first failure names its seq.
    pub fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<Head, LogError> {
        let mut check = crate::verify::Verifier::new(self.head.seq);
        let blocks = self.head.seq.div_ceil(BLOCK_EVENTS);
        let mut next_block = 0;
        while next_block < blocks {
            let end = (next_block + VERIFY_CHUNK_BLOCKS).min(blocks);
            let mut chunk = Vec::with_capacity((end - next_block) as usize);
            for block in next_block..end {
                let bytes = self.store.block(block)?.ok_or_else(|| {
                    LogError::integrity(
                        block * BLOCK_EVENTS + 1,
                        "the block holding this envelope is missing",
                    )
                })?;
                chunk.push(bytes);
            }
            let slices: Vec<&[u8]> = chunk.iter().map(|b| (**b).as_ref()).collect();
            let chained = check.chains(&slices);
            for (i, bytes) in slices.iter().enumerate() {
                let first = (next_block + i as u64) * BLOCK_EVENTS + 1;
                check.block(first, bytes, &mut |level, index| {
                    self.store.node(level, index)
                })?;
            }
            chained?;
            progress(check.checked());
            next_block = end;
        }
        if self.store.block(blocks)?.is_some() {
            return Err(LogError::integrity(
                self.head.seq + 1,
                "envelopes are stored beyond the head",
            ));
        }
        check.finish(&self.head, &self.frontier)?;
        Ok(self.head)
    }
}

fn altered(what: &str) -> LogError {
    LogError::corrupt(format!(
        "the prepared batch was changed after prepare ({what}); prepare it again"
    ))
}

struct PrepareState {
    base: Head,
    now: i64,
    /// The latest record time stored or prepared so far (record times of imported lines may
    /// go back within a batch; this never does).
    last_recorded: Option<i64>,
    /// The latest record time stored before this batch.
    base_recorded: Option<i64>,
    prev: Hash,
    envelopes: Vec<Envelope>,
    canonical: Vec<String>,
    outcomes: Vec<Outcome>,
}

impl PrepareState {
    fn check_duplicate(
        &self,
        prior: &Prior,
        ev: &NewEvent,
        index: usize,
    ) -> Result<u64, AppendError> {
        let env = match prior {
            Prior::Stored(env) => env.as_ref(),
            Prior::Batch(i) => &self.envelopes[*i],
        };
        let same = env.kind == ev.kind
            && env.data.get() == ev.data.get()
            && ev.effective_at.is_none_or(|t| t == env.effective_at);
        if !same {
            return Err(AppendError::IdConflict {
                index,
                id: env.id.clone(),
                seq: env.seq,
            });
        }
        Ok(env.seq)
    }

    fn recorded_at(&self, ev: &NewEvent, index: usize) -> Result<i64, AppendError> {
        let Some(r) = ev.recorded_at else {
            return Ok(self.last_recorded.map_or(self.now, |l| l.max(self.now)));
        };
        let err = |reason: String| Err(AppendError::ImportedTime { index, reason });
        let t = crate::format_time;
        if r > self.now {
            return err(format!(
                "{} lies in the future (now is {}); import only past events",
                t(r),
                t(self.now)
            ));
        }
        // Imported lines may come out of record-time order within one batch (exports of other
        // systems often do; the worked example of the contract does); they keep their input
        // order as seq. None may precede what the ledger held before the batch.
        match self.base_recorded {
            Some(l) if r < l => err(format!(
                "{} precedes the ledger's last recorded_at {}; import only history newer than the ledger",
                t(r),
                t(l)
            )),
            _ => Ok(r),
        }
    }

    /// Builds, hashes and keeps the envelope of `ev`; returns its id.
    fn push(
        &mut self,
        ev: NewEvent,
        index: usize,
        version: &mut u64,
    ) -> Result<String, AppendError> {
        if let Some(expected) = ev.expected_version {
            if expected != *version {
                return Err(AppendError::StaleVersion {
                    index,
                    stream: ev.stream,
                    expected,
                    actual: *version,
                });
            }
        }
        let recorded_at = self.recorded_at(&ev, index)?;
        *version += 1;
        let mut env = Envelope {
            seq: self.base.seq + 1 + self.envelopes.len() as u64,
            id: ev.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            kind: ev.kind,
            stream: ev.stream,
            version: *version,
            recorded_at,
            effective_at: ev.effective_at.unwrap_or(recorded_at),
            actor: ev.actor,
            reason: ev.reason,
            imported: ev.recorded_at.is_some(),
            data: ev.data,
            hash: [0; 32],
        };
        let canonical = env.canonical_string();
        if canonical.len() > MAX_ENVELOPE_BYTES {
            return Err(AppendError::InvalidEvent {
                index,
                reason: format!(
                    "the envelope would be {} bytes, over {MAX_ENVELOPE_BYTES}",
                    canonical.len()
                ),
            });
        }
        env.hash = chain_hash(&self.prev, canonical.as_bytes());
        self.prev = env.hash;
        self.last_recorded = Some(
            self.last_recorded
                .map_or(recorded_at, |l| l.max(recorded_at)),
        );
        let id = env.id.clone();
        self.envelopes.push(env);
        self.canonical.push(canonical);
        self.outcomes.push(Outcome::Appended {
            seq: self.base.seq + self.envelopes.len() as u64,
        });
        Ok(id)
    }
}

fn check_new_event(ev: &NewEvent) -> Result<(), String> {
    if let Some(id) = &ev.id {
        check_text("id", id, 1, MAX_ID_BYTES)?;
    }
    check_text("type", &ev.kind, 1, MAX_KIND_BYTES)?;
    check_text("stream", &ev.stream, 1, MAX_STREAM_BYTES)?;
    check_text("actor", &ev.actor, 0, MAX_ACTOR_BYTES)?;
    if let Some(r) = &ev.reason {
        check_text("reason", r, 0, MAX_REASON_BYTES)?;
    }
    check_data(ev.data.get())?;
    debug_assert!(
        crate::jcs::is_canonical_object(ev.data.get()),
        "NewEvent.data must be canonical JSON: {}",
        ev.data.get()
    );
    for (what, t) in [
        ("effective_at", ev.effective_at),
        ("recorded_at", ev.recorded_at),
    ] {
        if t.is_some_and(|t| !(TIME_MIN_MICROS..=TIME_MAX_MICROS).contains(&t)) {
            return Err(format!("{what} must lie in the years 0000 to 9999"));
        }
    }
    Ok(())
}

/// Iterates the frames of a block: `(canonical bytes, hash)`, or an error for bad framing.
pub(crate) struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    pub(crate) fn new(block: &'a [u8]) -> Self {
        Frames { rest: block }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<(&'a [u8], Hash), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((len, body)) = self.rest.split_first_chunk::<4>() else {
            self.rest = &[];
            return Some(Err("a frame header is cut short".into()));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > MAX_ENVELOPE_BYTES || body.len() < len + FRAME_OVERHEAD - 4 {
            self.rest = &[];
            return Some(Err(format!(
                "a frame claims {len} bytes that are not there"
            )));
        }
        let (canonical, after) = body.split_at(len);
        let (hash, after) = after.split_at(32);
        self.rest = after;
        let mut h = [0u8; 32];
        h.copy_from_slice(hash);
        Some(Ok((canonical, h)))
    }
}

fn decode_frame(frame: Result<(&[u8], Hash), String>, seq: u64) -> Result<Envelope, LogError> {
    let (canonical, hash) = frame.map_err(|e| LogError::corrupt(format!("seq {seq}: {e}")))?;
    let env = Envelope::from_canonical(canonical, hash)
        .map_err(|e| LogError::corrupt(format!("seq {seq}: {e}")))?;
    if env.seq != seq {
        return Err(LogError::corrupt(format!(
            "the envelope stored at seq {seq} says seq {}",
            env.seq
        )));
    }
    Ok(env)
}

struct RangeIter<'a> {
    log: &'a Log,
    next: u64,
    last: u64,
    block: Option<(BlockBytes, usize)>,
    failed: bool,
}

impl Iterator for RangeIter<'_> {
    type Item = Result<Envelope, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next > self.last {
            return None;
        }
        let seq = self.next;
        let in_block = ((seq - 1) % BLOCK_EVENTS) as usize;
        if self.block.is_none() || in_block == 0 {
            match self.log.read_block(seq) {
                Ok(bytes) => {
                    let offset = skip_frames((*bytes).as_ref(), in_block);
                    self.block = Some((bytes, offset));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let (bytes, offset) = self.block.as_mut()?;
        let rest = &(**bytes).as_ref()[*offset..];
        let mut frames = Frames::new(rest);
        let frame = frames
            .next()
            .unwrap_or_else(|| Err("the block ends early".into()));
        *offset = (**bytes).as_ref().len() - frames.rest.len();
        self.next += 1;
        let result = decode_frame(frame, seq);
        self.failed = result.is_err();
        Some(result)
    }
}

/// Byte offset of frame `n` in a block (the block's end if it is shorter).
fn skip_frames(block: &[u8], n: usize) -> usize {
    let mut frames = Frames::new(block);
    for _ in 0..n {
        if frames.next().is_none() {
            break;
        }
    }
    block.len() - frames.rest.len()
}

/// Serves subtree roots for proofs: stored nodes from level 8 up, below that recomputed from
/// the leaves of one block (cached per proof).
struct LogSubtrees<'a> {
    log: &'a Log,
    leaves: HashMap<u64, Vec<Hash>>,
}

impl SubtreeSource for LogSubtrees<'_> {
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash, LogError> {
        if level >= NODE_LEVEL_MIN {
            return self.log.store.node(level, index)?.ok_or_else(|| {
                LogError::corrupt(format!(
                    "Merkle node at level {level}, index {index} is missing"
                ))
            });
        }
        let first_leaf = index << level;
        let block = first_leaf / BLOCK_EVENTS;
        if !self.leaves.contains_key(&block) {
            let bytes = self.log.read_block(first_leaf + 1)?;
            let leaves = Frames::new((*bytes).as_ref())
                .map(|f| f.map(|(_, h)| merkle::leaf_hash(&h)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| LogError::corrupt(format!("block {block}: {e}")))?;
            self.leaves.insert(block, leaves);
        }
        let leaves = &self.leaves[&block];
        let start = (first_leaf % BLOCK_EVENTS) as usize;
        let mut layer: Vec<Hash> = leaves
            .get(start..start + (1usize << level))
            .ok_or_else(|| LogError::corrupt(format!("block {block} is short")))?
            .to_vec();
        while layer.len() > 1 {
            layer = layer
                .chunks_exact(2)
                .map(|p| merkle::node_hash(&p[0], &p[1]))
                .collect();
        }
        Ok(layer[0])
    }
}

fn encode_meta(head: &Head, frontier: &Frontier) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 8 + 32 + 8 + 32 + 1 + 32 * frontier.roots.len());
    out.extend_from_slice(META_MAGIC);
    out.extend_from_slice(&head.seq.to_le_bytes());
    out.extend_from_slice(&head.hash);
    out.extend_from_slice(&head.recorded_at.to_le_bytes());
    out.extend_from_slice(&head.root);
    out.push(frontier.roots.len() as u8);
    for r in &frontier.roots {
        out.extend_from_slice(r);
    }
    out
}

fn decode_meta(bytes: &[u8]) -> Result<(Head, Frontier), LogError> {
    let corrupt = |what: &str| LogError::corrupt(format!("head record: {what}"));
    if bytes.len() < 89 || &bytes[..8] != META_MAGIC {
        return Err(corrupt("unknown format"));
    }
    let u64_at = |o: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&bytes[o..o + 8]);
        x
    };
    let hash_at = |o: usize| {
        let mut x = [0u8; 32];
        x.copy_from_slice(&bytes[o..o + 32]);
        x
    };
    let seq = u64::from_le_bytes(u64_at(8));
    let head = Head {
        seq,
        hash: hash_at(16),
        recorded_at: i64::from_le_bytes(u64_at(48)),
        root: hash_at(56),
    };
    let count = usize::from(bytes[88]);
    if count != seq.count_ones() as usize || bytes.len() != 89 + 32 * count {
        return Err(corrupt("the Merkle frontier does not match the size"));
    }
    let frontier = Frontier {
        size: seq,
        roots: (0..count).map(|i| hash_at(89 + 32 * i)).collect(),
    };
    if frontier.root() != head.root {
        return Err(corrupt(
            "the stored root does not match the stored frontier",
        ));
    }
    Ok((head, frontier))
}
