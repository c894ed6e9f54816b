//! [`Log`]: prepare a batch (assign seq, version, times and hashes, with no writes), commit
//! it (one atomic, durable write), read it back, prove and verify it.

use std::collections::HashMap;

use crate::fast::{self, key_hash, FastMap, FastSet};
use std::path::Path;

use crate::codec::Codec;
use crate::dirstore::DirStore;
use crate::envelope::{chain_hash, check_data, check_text};
use crate::envelope::{MAX_ACTOR_BYTES, MAX_ENVELOPE_BYTES, MAX_ID_BYTES, MAX_KIND_BYTES};
use crate::envelope::{MAX_REASON_BYTES, MAX_STREAM_BYTES};
use crate::merkle::{self, Frontier, SubtreeSource};
use crate::store::{BlockBytes, CommitSet, Store, StoredFrames};
use crate::store::{BLOCK_EVENTS, FRAME_OVERHEAD, NODE_LEVEL_MIN};
use crate::time::{TIME_MAX_MICROS, TIME_MIN_MICROS};
use crate::{AppendError, Envelope, Hash, LogError, NewEvent};

/// Most events one batch may hold.
pub const MAX_BATCH_EVENTS: usize = 2_000_000;
const META_MAGIC: &[u8; 8] = b"ARLLOG02";

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

/// A batch ready to commit: its frames (canonical bytes and hashes) and the outcome of each
/// input. What a commit needs of the envelopes is kept beside the frames, not the envelopes
/// themselves: a large batch would hold every event twice, as an envelope and as its
/// frame. `commit` writes the bytes `prepare` computed and checks them against the seqs and
/// hashes it kept.
pub struct Prepared {
    pub outcomes: Vec<Outcome>,
    base: Head,
    /// The hash of each envelope to append, in seq order (the first follows `base`).
    hashes: Vec<Hash>,
    /// The latest `recorded_at` of the envelopes (`i64::MIN` for none).
    recorded_at: i64,
    /// The frames of the envelopes, back to back, hashes included, in segments; either
    /// canonical or, for a store that takes them so, in their stored form.
    frames: BuiltFrames,
    /// `(key_hash(id), key_hash(stream))` of each envelope.
    keys: Vec<(u64, u64)>,
    /// `(stream, key_hash(stream), version)` after the batch, for each stream it appends to.
    versions: Vec<(String, u64, u64)>,
}

/// A batch's frames, in segments: canonical, or as the store keeps them
/// ([`Store::stored_codec`]), compressed while the batch is built rather than at its
/// commit, and held in memory at their stored size.
enum BuiltFrames {
    Canonical(Vec<Vec<u8>>),
    Stored(Vec<StoredFrames>),
}

impl BuiltFrames {
    fn bytes(&self) -> usize {
        match self {
            BuiltFrames::Canonical(segments) => segments.iter().map(Vec::len).sum(),
            BuiltFrames::Stored(segments) => segments.iter().map(|s| s.bytes.len()).sum(),
        }
    }
}

impl Prepared {
    /// How many envelopes the batch appends (its duplicates left out).
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// The batch appends nothing (every event a duplicate).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("envelopes", &self.hashes.len())
            .field("outcomes", &self.outcomes)
            .field("base", &self.base)
            .field("frame_bytes", &self.frames.bytes())
            .finish_non_exhaustive()
    }
}

/// The append-only, hash-chained, Merkle-committed event log.
pub struct Log {
    store: Box<dyn Store>,
    head: Head,
    frontier: Frontier,
}

/// What `prepare` decided for one new envelope before building it.
struct Planned {
    /// Position in the input batch.
    index: usize,
    version: u64,
    recorded_at: i64,
    effective_at: i64,
}

/// A batch planned by [`Log::plan`], to be built ([`PlannedBatch::build`]) and then
/// committed ([`Log::commit`]).
pub struct PlannedBatch {
    batch: Vec<NewEvent>,
    plan: Plan,
    base: Head,
    /// The store's codec when it takes frames in their stored form.
    codec: Option<&'static Codec>,
}

impl PlannedBatch {
    /// What becomes of each input event, in input order.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.plan.outcomes
    }

    /// The record and valid time (`(recorded_at, effective_at)`, microseconds) of each event
    /// to append, in seq order.
    pub fn times(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.plan
            .planned
            .iter()
            .map(|p| (p.recorded_at, p.effective_at))
    }

    /// The second half of [`Log::prepare`], consuming the batch: envelopes, their frames
    /// and the hash chain. Needs nothing of the log (any thread may run it). The envelopes
    /// are made a segment at a time and dropped once serialized.
    pub fn build(self) -> Result<Prepared, AppendError> {
        let PlannedBatch {
            batch,
            plan,
            base,
            codec,
        } = self;
        let Plan {
            planned,
            outcomes,
            id_hashes,
            stream_hashes,
            mut versions,
        } = plan;
        let mut keys = Vec::with_capacity(planned.len());
        let mut inputs = batch.into_iter().enumerate();
        let mut plans = planned.iter();
        let mut seq = base.seq;
        let segments = std::iter::from_fn(|| {
            let mut segment = Vec::with_capacity(SEGMENT_EVENTS.min(planned.len()));
            while segment.len() < SEGMENT_EVENTS {
                let Some(p) = plans.next() else { break };
                // The inputs before this one are duplicates: dropped.
                let Some(ev) = inputs.find_map(|(index, ev)| (index == p.index).then_some(ev))
                else {
                    break;
                };
                let imported = ev.recorded_at.is_some();
                let (id, id_hash) = if let Some(id) = ev.id {
                    (id, id_hashes[p.index])
                } else {
                    let id = uuid::Uuid::now_v7().to_string();
                    let h = key_hash(&id);
                    (id, h)
                };
                seq += 1;
                segment.push(Envelope {
                    seq,
                    id,
                    kind: ev.kind,
                    stream: ev.stream,
                    version: p.version,
                    recorded_at: p.recorded_at,
                    effective_at: p.effective_at,
                    actor: ev.actor,
                    reason: ev.reason,
                    imported,
                    data: ev.data,
                    hash: [0; 32],
                });
                keys.push((id_hash, stream_hashes[p.index]));
            }
            (!segment.is_empty()).then_some(segment)
        });
        let parallel = planned.len() >= PARALLEL_MIN_EVENTS;
        let (frames, hashes) = chain_frames(segments, planned.len(), parallel, base.hash, codec)
            .map_err(|(i, len)| AppendError::InvalidEvent {
                index: planned[i].index,
                reason: format!("the envelope would be {len} bytes, over {MAX_ENVELOPE_BYTES}"),
            })?;
        let recorded_at = planned
            .iter()
            .map(|p| p.recorded_at)
            .max()
            .unwrap_or(i64::MIN);
        versions.sort_by_key(|v| crate::store::bucket_of_hash(v.1));
        Ok(Prepared {
            outcomes,
            base,
            hashes,
            recorded_at,
            frames,
            keys,
            versions,
        })
    }
}

/// Envelopes [`Log::copy_from`] commits at a time.
pub const COPY_BATCH_EVENTS: usize = 16_384;

/// Envelopes read for [`Log::copy_from`], with their frames verbatim.
struct CopyBatch {
    /// The hash of each envelope read, in seq order.
    hashes: Vec<Hash>,
    /// The latest `recorded_at` of the envelopes read (`i64::MIN` for none).
    recorded_at: i64,
    frames: Vec<u8>,
    keys: Vec<(u64, u64)>,
    /// The stream version after the batch, by stream.
    versions: HashMap<String, u64>,
}

impl Default for CopyBatch {
    fn default() -> CopyBatch {
        CopyBatch {
            hashes: Vec::new(),
            recorded_at: i64::MIN,
            frames: Vec::new(),
            keys: Vec::new(),
            versions: HashMap::new(),
        }
    }
}

impl CopyBatch {
    /// Adds a stored frame; its seq must follow `base_seq` and the envelopes before it.
    fn push(&mut self, frame: RawFrame<'_>, base_seq: u64) -> Result<(), LogError> {
        let envelope = Envelope::from_canonical(frame.canonical, frame.hash)
            .map_err(|e| LogError::integrity(frame.seq, e))?;
        let seq = base_seq + 1 + self.hashes.len() as u64;
        if envelope.seq != seq || frame.seq != seq {
            return Err(LogError::integrity(
                frame.seq,
                format!("the envelope says seq {}", envelope.seq),
            ));
        }
        let len = u32::try_from(frame.canonical.len())
            .map_err(|_| LogError::integrity(seq, "the envelope is too long"))?;
        self.frames.extend_from_slice(&len.to_le_bytes());
        self.frames.extend_from_slice(frame.canonical);
        self.frames.extend_from_slice(&frame.hash);
        self.keys
            .push((key_hash(&envelope.id), key_hash(&envelope.stream)));
        self.recorded_at = self.recorded_at.max(envelope.recorded_at);
        self.versions.insert(envelope.stream, envelope.version);
        self.hashes.push(frame.hash);
        Ok(())
    }
}

/// Batches at least this large use a second thread in `commit`.
const PARALLEL_MIN_EVENTS: usize = 4096;

impl Log {
    /// Opens the log in `log_dir`, creating it (mode 0700) if missing. The caller holds the
    /// ledger's exclusive [`crate::LedgerLock`] for as long as it writes.
    pub fn open(log_dir: &Path) -> Result<Log, LogError> {
        crate::create_private_dir(log_dir)?;
        let store = DirStore::open(log_dir)?;
        Log::open_store(Box::new(store))
    }

    /// Opens the log kept in `store` (a directory's [`DirStore`], or a store that several
    /// processes share, such as a database server).
    pub fn open_store(store: Box<dyn Store>) -> Result<Log, LogError> {
        let (head, frontier) = match store.meta()? {
            Some(bytes) => decode_meta(&bytes)?,
            None => (Head::empty(), Frontier::default()),
        };
        let mut log = Log {
            store,
            head,
            frontier,
        };
        if let Some(frames) = log.store.take_unindexed()? {
            log.index_committed(&frames)?;
        }
        Ok(log)
    }

    /// Indexes committed frames that the store holds past its head (a crash between the
    /// commit point and the index): each checked as [`Log::copy_from`] checks a frame (it
    /// decodes, its seq follows, its hash chains), then committed as a batch is, without
    /// writing the frames again.
    fn index_committed(&mut self, frames: &[u8]) -> Result<(), LogError> {
        let mut batch = CopyBatch::default();
        let mut prev = self.head.hash;
        for frame in Frames::new(frames) {
            let seq = self.head.seq + 1 + batch.hashes.len() as u64;
            let (canonical, hash) = frame.map_err(|e| LogError::integrity(seq, e))?;
            if chain_hash(&prev, canonical) != hash {
                return Err(LogError::integrity(
                    seq,
                    "the stored hash does not chain from the envelope before",
                ));
            }
            prev = hash;
            batch.push(
                RawFrame {
                    seq,
                    canonical,
                    hash,
                },
                self.head.seq,
            )?;
            if batch.hashes.len() >= COPY_BATCH_EVENTS {
                self.commit_copied(std::mem::take(&mut batch), true)?;
            }
        }
        if !batch.hashes.is_empty() {
            self.commit_copied(batch, true)?;
        }
        Ok(())
    }

    /// Makes everything committed durable in the store's index as well
    /// ([`Store::checkpoint`]); a commit is durable without it.
    pub fn checkpoint(&mut self) -> Result<(), LogError> {
        self.store.checkpoint()
    }

    /// Reads the head again from the store, which other writers sharing it may have moved
    /// (the head only ever grows: a head older than this log's is an error). Returns the
    /// head.
    pub fn refresh(&mut self) -> Result<Head, LogError> {
        let (head, frontier) = match self.store.refresh()? {
            Some(bytes) => decode_meta(&bytes)?,
            None => (Head::empty(), Frontier::default()),
        };
        if head.seq < self.head.seq {
            return Err(LogError::corrupt(format!(
                "the store's head went back from seq {} to {}",
                self.head.seq, head.seq
            )));
        }
        self.head = head;
        self.frontier = frontier;
        Ok(head)
    }

    /// Waits for this writer's turn among the writers of a shared store
    /// ([`Store::begin_write`]); returns at once for a directory log.
    pub fn begin_write(&mut self) -> Result<(), LogError> {
        self.store.begin_write()
    }

    /// Gives back the turn taken by [`Log::begin_write`].
    pub fn end_write(&mut self) {
        self.store.end_write();
    }

    /// Copies every envelope of `source` into this log, which must be empty: the stored
    /// frames verbatim (the same canonical bytes and hashes), each checked on the way (it
    /// decodes, its seq follows, its hash chains from the one before), committed
    /// [`COPY_BATCH_EVENTS`] at a time. At the end this log's head must equal the source's
    /// (seq, hash, Merkle root, record time). `progress` gets the last seq copied.
    pub fn copy_from(
        &mut self,
        source: &Log,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Head, LogError> {
        if self.head.seq != 0 {
            return Err(LogError::BadEnvelope {
                reason: format!(
                    "the target log holds {} envelopes; copy into an empty one",
                    self.head.seq
                ),
            });
        }
        let want = source.head();
        let mut batch = CopyBatch::default();
        let mut prev = [0u8; 32];
        for block in source.blocks(1, want.seq) {
            let block = block?;
            for frame in block.frames() {
                let frame = frame?;
                if chain_hash(&prev, frame.canonical) != frame.hash {
                    return Err(LogError::integrity(
                        frame.seq,
                        "the stored hash does not chain from the envelope before",
                    ));
                }
                prev = frame.hash;
                batch.push(frame, self.head.seq)?;
                if batch.hashes.len() >= COPY_BATCH_EVENTS {
                    self.commit_copied(std::mem::take(&mut batch), false)?;
                    progress(self.head.seq);
                }
            }
        }
        if !batch.hashes.is_empty() {
            self.commit_copied(batch, false)?;
        }
        progress(self.head.seq);
        if self.head != want {
            return Err(LogError::integrity(
                self.head.seq,
                "the copy's head differs from the source's",
            ));
        }
        Ok(self.head)
    }

    /// Commits copied frames; `in_store`: they are already in the store past its head.
    fn commit_copied(&mut self, batch: CopyBatch, in_store: bool) -> Result<Head, LogError> {
        let CopyBatch {
            hashes,
            recorded_at,
            frames,
            keys,
            versions,
        } = batch;
        let mut versions: Vec<(String, u64, u64)> = versions
            .into_iter()
            .map(|(stream, version)| {
                let hash = key_hash(&stream);
                (stream, hash, version)
            })
            .collect();
        versions.sort_by_key(|v| crate::store::bucket_of_hash(v.1));
        let base = self.head;
        let outcomes = (base.seq + 1..=base.seq + hashes.len() as u64)
            .map(|seq| Outcome::Appended { seq })
            .collect();
        let prepared = Prepared {
            outcomes,
            base,
            hashes,
            recorded_at,
            frames: BuiltFrames::Canonical(vec![frames]),
            keys,
            versions,
        };
        self.commit_with(prepared, in_store)
    }

    /// Readies the store for batches of about `ids` ids each ([`Store::prepare_id_lookups`]):
    /// what the first such batch would build, built before it.
    pub fn prepare_id_lookups(&self, ids: usize) -> Result<(), LogError> {
        self.store.prepare_id_lookups(ids)
    }

    /// The store under the log, for tools that copy it.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A log that reads what this one has committed now and writes nothing, sharing its
    /// store's files ([`Store::reader`]); `None` when the store cannot make one.
    pub fn reader(&self) -> Option<Log> {
        Some(Log {
            store: self.store.reader()?,
            head: self.head,
            frontier: self.frontier.clone(),
        })
    }

    /// The head after the last commit.
    pub fn head(&self) -> Head {
        self.head
    }

    /// A number that grows with every commit: the committed length of the envelope file.
    /// The views record it with each of their commits, and a query compares it with
    /// [`crate::committed_len_on_disk`] to tell views behind the log without opening it.
    pub fn committed_len(&self) -> u64 {
        self.store.data_len()
    }

    /// Assigns seq, version, record time and hash to each new event, and finds duplicates.
    /// Writes nothing. `now_micros` is the record time of non-imported events (never below
    /// the last one stored).
    pub fn prepare(&self, batch: Vec<NewEvent>, now_micros: i64) -> Result<Prepared, AppendError> {
        self.plan(batch, now_micros)?.build()
    }

    /// The first half of [`Log::prepare`]: seqs, versions, record times and duplicates
    /// decided, nothing serialized or hashed yet. A caller with other work on the batch
    /// (checking it) does that while [`PlannedBatch::build`] runs on another thread.
    pub fn plan(&self, batch: Vec<NewEvent>, now_micros: i64) -> Result<PlannedBatch, AppendError> {
        if batch.len() > MAX_BATCH_EVENTS {
            return Err(AppendError::BatchTooLarge {
                len: batch.len(),
                max: MAX_BATCH_EVENTS,
            });
        }
        for (index, ev) in batch.iter().enumerate() {
            check_new_event(ev).map_err(|reason| AppendError::InvalidEvent { index, reason })?;
        }
        let plan = self.plan_events(&batch, now_micros)?;
        Ok(PlannedBatch {
            batch,
            plan,
            base: self.head,
            codec: self.store.stored_codec(),
        })
    }

    /// The first pass over the batch, reading it only: duplicates, versions, times.
    ///
    /// The parent owns the batch's running state (stream versions, record times, the ids
    /// seen so far); each event is either a duplicate of an earlier one with its id
    /// ([`Log::earlier_with_id`], [`same_content`]) or planned as the next seq.
    fn plan_events(&self, batch: &[NewEvent], now_micros: i64) -> Result<Plan, AppendError> {
        let n = batch.len();
        let streams = StreamSlots::of(batch);
        let mut versions = self.stored_versions(&streams)?;
        let initial = versions.clone();
        let id_hashes: Vec<u64> = batch
            .iter()
            .map(|e| e.id.as_deref().map_or(0, key_hash))
            .collect();
        let stored = self.stored_with_ids(batch, &id_hashes)?;
        let mut times = Times {
            now: now_micros.clamp(TIME_MIN_MICROS, TIME_MAX_MICROS),
            last_recorded: (self.head.seq > 0).then_some(self.head.recorded_at),
            base_recorded: (self.head.seq > 0).then_some(self.head.recorded_at),
        };
        let mut planned: Vec<Planned> = Vec::with_capacity(n);
        let mut outcomes = Vec::with_capacity(n);
        let mut in_batch = StrIndex::with_capacity(n);
        for (index, event) in batch.iter().enumerate() {
            if let Some(id) = event.id.as_deref() {
                let earlier = match stored.get(id) {
                    Some(envelope) => Some(Earlier::stored(envelope)),
                    None => in_batch.get(id, id_hashes[index]).map(|k| {
                        let plan = &planned[k as usize];
                        Earlier::planned(self.head.seq + 1 + u64::from(k), batch, plan)
                    }),
                };
                if let Some(earlier) = earlier {
                    if !same_content(&earlier, event) {
                        return Err(AppendError::IdConflict {
                            index,
                            id: id.to_owned(),
                            seq: earlier.seq,
                        });
                    }
                    outcomes.push(Outcome::Duplicate { seq: earlier.seq });
                    continue;
                }
            }
            let slot = streams.event_slot[index] as usize;
            if let Some(expected) = event.expected_version {
                if expected != versions[slot] {
                    return Err(AppendError::StaleVersion {
                        index,
                        stream: event.stream.clone(),
                        expected,
                        actual: versions[slot],
                    });
                }
            }
            let recorded_at = times.recorded_at(event, index)?;
            times.last_recorded = Some(
                times
                    .last_recorded
                    .map_or(recorded_at, |l| l.max(recorded_at)),
            );
            versions[slot] += 1;
            if let Some(id) = event.id.as_deref() {
                in_batch.insert(id, id_hashes[index], planned.len() as u32);
            }
            planned.push(Planned {
                index,
                version: versions[slot],
                recorded_at,
                effective_at: event.effective_at.unwrap_or(recorded_at),
            });
            outcomes.push(Outcome::Appended {
                seq: self.head.seq + planned.len() as u64,
            });
        }
        let touched = streams
            .slots
            .iter()
            .zip(versions.iter().zip(&initial))
            .filter(|(_, (now, before))| now != before)
            .map(|((name, hash), (version, _))| ((*name).to_owned(), *hash, *version))
            .collect();
        Ok(Plan {
            planned,
            outcomes,
            id_hashes,
            stream_hashes: streams.stream_hashes,
            versions: touched,
        })
    }

    /// The stored version of each stream of the batch, by slot.
    fn stored_versions(&self, streams: &StreamSlots<'_>) -> Result<Vec<u64>, LogError> {
        let mut versions = vec![0u64; streams.slots.len()];
        self.store
            .stream_versions_of(&streams.slots, &mut |name, version| {
                if let Some(slot) = streams.slot_of.get(name, key_hash(name)) {
                    versions[slot as usize] = version;
                }
            })?;
        Ok(versions)
    }

    /// The stored envelopes whose ids the batch uses: candidates by id hash, confirmed by
    /// the envelope's own id.
    fn stored_with_ids(
        &self,
        batch: &[NewEvent],
        id_hashes: &[u64],
    ) -> Result<FastMap<String, Envelope>, LogError> {
        let mut stored: FastMap<String, Envelope> = fast::map_with_capacity(0);
        if self.head.seq == 0 {
            return Ok(stored);
        }
        let mut wanted: FastSet<u64> = fast::set_with_capacity(batch.len());
        for (event, hash) in batch.iter().zip(id_hashes) {
            if event.id.is_some() {
                wanted.insert(*hash);
            }
        }
        // Block by block: a block is read (and its frames expanded) once for all the
        // candidates it holds, where reading it for each one made a rerun of an import
        // (every line a duplicate) expand 256 frames per line.
        let mut seqs: Vec<u64> = self
            .store
            .id_candidates(&wanted)?
            .into_iter()
            .map(|(_, seq)| seq)
            .filter(|seq| (1..=self.head.seq).contains(seq))
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        let block_of = |seq: u64| (seq - 1) / BLOCK_EVENTS;
        for in_block in seqs.chunk_by(|a, b| block_of(*a) == block_of(*b)) {
            self.in_block(in_block, &mut |envelope| {
                stored.insert(envelope.id.clone(), envelope);
            })?;
        }
        Ok(stored)
    }

    /// Writes a prepared batch atomically and durably; returns the new head.
    pub fn commit(&mut self, prepared: Prepared) -> Result<Head, LogError> {
        self.commit_with(prepared, false)
    }

    /// [`Log::commit`]; `in_store`: the frames are already in the store past its head
    /// ([`Store::adopt_frames`]), and only the index is written.
    fn commit_with(&mut self, prepared: Prepared, in_store: bool) -> Result<Head, LogError> {
        if prepared.base != self.head {
            return Err(LogError::StalePrepared {
                prepared_at: prepared.base.seq,
                head: self.head.seq,
            });
        }
        let Prepared {
            hashes,
            recorded_at,
            frames,
            keys,
            versions,
            ..
        } = prepared;
        let Some(&last_hash) = hashes.last() else {
            return Ok(self.head);
        };
        let n = hashes.len();
        let last_seq = self.head.seq + n as u64;
        if keys.len() != n {
            return Err(altered("envelopes"));
        }
        let block_starts = self.block_starts(&frames, &hashes)?;
        let base = self.head.seq;
        let by_bucket = |pick: fn(&(u64, u64)) -> u64| {
            let mut entries: Vec<(u64, u64)> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (pick(k), base + 1 + i as u64))
                .collect();
            entries.sort_by_key(|e| e.0 >> 56);
            entries
        };
        // The latest record time: the last envelope's, unless an imported batch came out of
        // record-time order.
        let recorded_at = self.head.recorded_at.max(recorded_at);
        let frontier = self.frontier.clone();
        let frame_bytes = frames.bytes() as u64;
        let (canonical, stored) = match frames {
            BuiltFrames::Canonical(segments) => (segments, None),
            BuiltFrames::Stored(segments) => (Vec::new(), Some(segments)),
        };
        let store = &mut self.store;
        let frames = canonical.as_slice();
        let write = move || match stored {
            _ if in_store => store.adopt_frames(frame_bytes),
            Some(stored) => store.write_stored(stored),
            None => store.write_frames(frames),
        };
        let hashes = hashes.as_slice();
        let (written, ids, streams, tree) = if n >= PARALLEL_MIN_EVENTS {
            // The Merkle tree while the frames are written.
            let ((written, ids, streams), tree) = arl_par::join(
                || {
                    let written = write();
                    (written, by_bucket(|k| k.0), by_bucket(|k| k.1))
                },
                || grow_tree(frontier, hashes),
            );
            (written, ids, streams, tree)
        } else {
            let written = write();
            let tree = grow_tree(frontier, hashes);
            (written, by_bucket(|k| k.0), by_bucket(|k| k.1), tree)
        };
        written?;
        let (frontier, nodes) = tree;
        let head = Head {
            seq: last_seq,
            hash: last_hash,
            root: frontier.root(),
            recorded_at,
        };
        let meta = encode_meta(&head, &frontier);
        self.store.commit(&CommitSet {
            seq: last_seq,
            frames,
            block_starts: &block_starts,
            ids: &ids,
            streams: &streams,
            versions: &versions,
            nodes,
            meta,
        })?;
        self.head = head;
        self.frontier = frontier;
        Ok(head)
    }

    /// Where each block that the prepared canonical frames start begins, relative to the
    /// end of the stored file; checks on the way that the frames are one per envelope, with
    /// the envelope's hash. Frames in their stored form are checked the same way; their
    /// store places blocks itself (none are returned).
    fn block_starts(
        &self,
        frames: &BuiltFrames,
        hashes: &[Hash],
    ) -> Result<Vec<(u64, u64)>, LogError> {
        let segments = match frames {
            BuiltFrames::Canonical(segments) => segments,
            BuiltFrames::Stored(segments) => {
                let mut expected = hashes.iter();
                for segment in segments {
                    let found = crate::store::stored_hashes(segment)
                        .ok_or_else(|| altered("stored frames"))?;
                    if !found.iter().all(|hash| expected.next() == Some(hash)) {
                        return Err(altered("hash"));
                    }
                }
                if expected.next().is_some() {
                    return Err(altered("frames"));
                }
                return Ok(Vec::new());
            }
        };
        let mut block_starts = Vec::with_capacity(hashes.len() / BLOCK_EVENTS as usize + 1);
        let mut expected = hashes.iter().enumerate();
        let mut offset = 0u64;
        for segment in segments {
            for (at, frame) in Frames::new(segment).offsets() {
                let (_, hash) = frame.map_err(|_| altered("frames"))?;
                let Some((i, expected)) = expected.next() else {
                    return Err(altered("frames"));
                };
                if hash != *expected {
                    return Err(altered("hash"));
                }
                let seq = self.head.seq + 1 + i as u64;
                if (seq - 1).is_multiple_of(BLOCK_EVENTS) {
                    let block = (seq - 1) / BLOCK_EVENTS;
                    block_starts.push((block, offset + at as u64));
                }
            }
            offset += segment.len() as u64;
        }
        if expected.next().is_some() {
            return Err(altered("frames"));
        }
        Ok(block_starts)
    }

    /// The envelope `seq`, or `None` beyond the head.
    pub fn get(&self, seq: u64) -> Result<Option<Envelope>, LogError> {
        if seq == 0 || seq > self.head.seq {
            return Ok(None);
        }
        let mut found = None;
        self.in_block(&[seq], &mut |envelope| found = Some(envelope))?;
        Ok(found)
    }

    /// Hands `each` the envelopes of `seqs` (ascending, committed, all in one block), the
    /// block read and its frames expanded once for all of them.
    fn in_block(&self, seqs: &[u64], each: &mut dyn FnMut(Envelope)) -> Result<(), LogError> {
        let Some(&first) = seqs.first() else {
            return Ok(());
        };
        let block = self.read_block(first)?;
        let mut frames = Frames::new((*block).as_ref());
        let mut next = 0;
        for &seq in seqs {
            let want = ((seq - 1) % BLOCK_EVENTS) as usize;
            let frame = frames
                .nth(want - next)
                .ok_or_else(|| LogError::corrupt(format!("block of seq {seq} is short")))?;
            next = want + 1;
            each(decode_frame(frame, seq)?);
        }
        Ok(())
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

    /// The stored frames of `from_seq ..= to_seq_inclusive` (clamped to the head), a block
    /// at a time, undecoded: for readers of the whole log that decode and check in place.
    pub fn blocks(
        &self,
        from_seq: u64,
        to_seq_inclusive: u64,
    ) -> impl Iterator<Item = Result<RawBlock, LogError>> + '_ {
        let last = to_seq_inclusive.min(self.head.seq);
        let mut next = from_seq.max(1);
        std::iter::from_fn(move || {
            if next > last {
                return None;
            }
            let first_seq = next;
            let block_last = ((first_seq - 1) / BLOCK_EVENTS + 1) * BLOCK_EVENTS;
            let last_seq = block_last.min(last);
            next = last_seq + 1;
            let block = self.read_block(first_seq).map(|bytes| RawBlock {
                skip: ((first_seq - 1) % BLOCK_EVENTS) as usize,
                bytes,
                first_seq,
                last_seq,
            });
            if block.is_err() {
                next = last + 1;
            }
            Some(block)
        })
    }

    /// Every envelope of `stream`, in seq order.
    pub fn stream(&self, stream: &str) -> Result<Vec<Envelope>, LogError> {
        let mut out = Vec::new();
        let mut cached: Option<(u64, BlockBytes)> = None;
        for seq in self.store.stream_candidates(key_hash(stream))? {
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
        let mut version = 0;
        self.store
            .stream_versions_of(&[(stream, key_hash(stream))], &mut |name, v| {
                if name == stream {
                    version = v;
                }
            })?;
        Ok(version)
    }

    /// The seq of the event with this id.
    pub fn lookup_id(&self, id: &str) -> Result<Option<u64>, LogError> {
        let mut wanted = fast::set_with_capacity(1);
        wanted.insert(key_hash(id));
        for (_, seq) in self.store.id_candidates(&wanted)? {
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
        crate::verify::verify(self.store.as_ref(), &self.head, &self.frontier, progress)?;
        self.store.check_index()?;
        Ok(self.head)
    }
}

/// Frame segments and the envelopes' hashes.
type Chained = (BuiltFrames, Vec<Hash>);

/// Envelopes serialized per segment of frames.
const SEGMENT_EVENTS: usize = 2048;

/// Serializes the `n` envelopes that `segments` gives into frames and chains their hashes
/// from `prev`; with `codec`, each segment is then put in the store's form (compressed),
/// so that the canonical bytes of a large batch are never all held at once. `parallel`:
/// three threads in a row, one writes the canonical bytes of segment after segment (each
/// segment's envelopes dropped once written), the next hashes each segment as it arrives
/// (the chain itself is sequential), the last compresses the hashed segments (on two
/// threads, [`crate::store::stored_frames`]), so that the chain never waits for the
/// compression. Returns the segments and the hashes, or `(position, length)` of an
/// envelope over the size limit.
fn chain_frames(
    segments: impl Iterator<Item = Vec<Envelope>> + Send,
    n: usize,
    parallel: bool,
    prev: Hash,
    codec: Option<&'static Codec>,
) -> Result<Chained, (usize, usize)> {
    let mut hashes = Vec::with_capacity(n);
    let mut prev = prev;
    let mut hash_segment = |buf: &mut [u8], hashes: &mut Vec<Hash>| {
        let mut at = 0;
        let mut spans = Vec::new();
        while at < buf.len() {
            let mut len = [0u8; 4];
            len.copy_from_slice(&buf[at..at + 4]);
            let len = u32::from_le_bytes(len) as usize;
            if len > MAX_ENVELOPE_BYTES {
                return Err((hashes.len(), len));
            }
            let body = at + 4;
            prev = chain_hash(&prev, &buf[body..body + len]);
            buf[body + len..body + len + 32].copy_from_slice(&prev);
            hashes.push(prev);
            spans.push((at, body + len + 32));
            at = body + len + 32;
        }
        Ok(spans)
    };
    // The hashed segments, each put in the store's form as it comes (its canonical bytes
    // then dropped).
    let build = |hashed: &mut dyn Iterator<Item = (Vec<u8>, Spans)>| match codec {
        Some(codec) => BuiltFrames::Stored(
            hashed
                .map(|(buf, spans)| {
                    let frames: Vec<&[u8]> =
                        spans.iter().map(|&(start, end)| &buf[start..end]).collect();
                    crate::store::stored_frames(&frames, Some(codec))
                })
                .collect(),
        ),
        None => BuiltFrames::Canonical(hashed.map(|(buf, _)| buf).collect()),
    };
    let frames = if !parallel {
        let mut refused = None;
        let frames = build(&mut segments.map_while(|segment| {
            let mut buf = serialize_segment(&segment);
            match hash_segment(&mut buf, &mut hashes) {
                Ok(spans) => Some((buf, spans)),
                Err(e) => {
                    refused = Some(e);
                    None
                }
            }
        }));
        if let Some(e) = refused {
            return Err(e);
        }
        frames
    } else {
        let (serialized, to_hash) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let (hashed, to_store) = std::sync::mpsc::sync_channel::<(Vec<u8>, Spans)>(8);
        let ((chained, frames), ()) = arl_par::join(
            || {
                arl_par::join(
                    || {
                        for mut buf in to_hash {
                            let spans = hash_segment(&mut buf, &mut hashes)?;
                            // The storing side stops only when this side has.
                            let _ = hashed.send((buf, spans));
                        }
                        drop(hashed);
                        Ok::<(), (usize, usize)>(())
                    },
                    move || build(&mut to_store.into_iter()),
                )
            },
            move || {
                for segment in segments {
                    // A closed channel means the hashing side refused a frame and stopped:
                    // nothing more is wanted.
                    if serialized.send(serialize_segment(&segment)).is_err() {
                        return;
                    }
                }
            },
        );
        chained?;
        frames
    };
    if hashes.len() != n {
        // The serializing thread stopped early (it cannot fail otherwise).
        return Err((hashes.len(), 0));
    }
    Ok((frames, hashes))
}

/// Where each frame of a serialized segment starts and ends.
type Spans = Vec<(usize, usize)>;

/// The frames of `envelopes` with zero bytes in place of their hashes. A length field
/// holds the real length even above the limit (the hashing side refuses it).
fn serialize_segment(envelopes: &[Envelope]) -> Vec<u8> {
    let capacity = envelopes
        .iter()
        .map(|e| {
            e.data.get().len()
                + e.id.len()
                + e.kind.len()
                + e.stream.len()
                + e.actor.len()
                + e.reason.as_ref().map_or(0, String::len)
                + 240
        })
        .sum();
    let mut buf = Vec::with_capacity(capacity);
    let mut times = crate::time::TimeCache::default();
    for env in envelopes {
        let start = buf.len();
        buf.extend_from_slice(&[0; 4]);
        env.write_canonical_bytes(&mut buf, &mut times);
        let len = buf.len() - start - 4;
        buf[start..start + 4].copy_from_slice(&(len.min(u32::MAX as usize) as u32).to_le_bytes());
        buf.extend_from_slice(&[0; 32]);
    }
    buf
}

/// Appends the leaves of the envelopes with `hashes` to `frontier`; returns it with the
/// completed subtree roots that are stored (levels >= 8).
fn grow_tree(mut frontier: Frontier, hashes: &[Hash]) -> (Frontier, Vec<(u8, u64, Hash)>) {
    let mut nodes = Vec::with_capacity(hashes.len() / BLOCK_EVENTS as usize * 2 + 8);
    for hash in hashes {
        frontier.push(merkle::leaf_hash(hash), &mut |level, index, hash| {
            if level >= NODE_LEVEL_MIN {
                nodes.push((level, index, *hash));
            }
        });
    }
    (frontier, nodes)
}

fn altered(what: &str) -> LogError {
    LogError::corrupt(format!(
        "the prepared batch was changed after prepare ({what}); prepare it again"
    ))
}

/// Small strings to `u32`, keyed by their [`key_hash`]; strings whose hash is taken by
/// another string go to an exact map.
struct StrIndex<'a> {
    by_hash: FastMap<u64, (&'a str, u32)>,
    collided: FastMap<&'a str, u32>,
}

impl<'a> StrIndex<'a> {
    fn with_capacity(n: usize) -> Self {
        StrIndex {
            by_hash: fast::map_with_capacity(n),
            collided: fast::map_with_capacity(0),
        }
    }

    fn get(&self, s: &str, hash: u64) -> Option<u32> {
        match self.by_hash.get(&hash) {
            Some((k, v)) if *k == s => Some(*v),
            Some(_) => self.collided.get(s).copied(),
            None => None,
        }
    }

    fn insert(&mut self, s: &'a str, hash: u64, value: u32) {
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((s, value));
            }
            std::collections::hash_map::Entry::Occupied(mut e) => {
                if e.get().0 == s {
                    e.get_mut().1 = value;
                } else {
                    self.collided.insert(s, value);
                }
            }
        }
    }
}

/// The output of `plan`.
struct Plan {
    planned: Vec<Planned>,
    outcomes: Vec<Outcome>,
    /// `key_hash` of each input event's id (0 without one).
    id_hashes: Vec<u64>,
    /// `key_hash` of each input event's stream.
    stream_hashes: Vec<u64>,
    versions: Vec<(String, u64, u64)>,
}

/// The streams of a batch, one slot each in order of first use.
struct StreamSlots<'a> {
    slot_of: StrIndex<'a>,
    /// Name and `key_hash` of each slot's stream.
    slots: Vec<(&'a str, u64)>,
    /// The slot of each input event.
    event_slot: Vec<u32>,
    /// `key_hash` of each input event's stream.
    stream_hashes: Vec<u64>,
}

impl<'a> StreamSlots<'a> {
    fn of(batch: &'a [NewEvent]) -> StreamSlots<'a> {
        let mut streams = StreamSlots {
            slot_of: StrIndex::with_capacity(batch.len().min(1 << 16)),
            slots: Vec::new(),
            event_slot: Vec::with_capacity(batch.len()),
            stream_hashes: Vec::with_capacity(batch.len()),
        };
        for event in batch {
            let hash = key_hash(&event.stream);
            let slot = if let Some(slot) = streams.slot_of.get(&event.stream, hash) {
                slot
            } else {
                let slot = streams.slots.len() as u32;
                streams.slot_of.insert(&event.stream, hash, slot);
                streams.slots.push((event.stream.as_str(), hash));
                slot
            };
            streams.event_slot.push(slot);
            streams.stream_hashes.push(hash);
        }
        streams
    }
}

/// The earlier event with an id: stored, or planned earlier in the same batch.
struct Earlier<'a> {
    seq: u64,
    kind: &'a str,
    data: &'a str,
    effective_at: i64,
}

impl<'a> Earlier<'a> {
    fn stored(envelope: &'a Envelope) -> Earlier<'a> {
        Earlier {
            seq: envelope.seq,
            kind: envelope.kind.as_str(),
            data: envelope.data.get(),
            effective_at: envelope.effective_at,
        }
    }

    fn planned(seq: u64, batch: &'a [NewEvent], plan: &Planned) -> Earlier<'a> {
        let event = &batch[plan.index];
        Earlier {
            seq,
            kind: event.kind.as_str(),
            data: event.data.get(),
            effective_at: plan.effective_at,
        }
    }
}

/// An event with the id of `earlier` is its duplicate when it says the same: type, data,
/// and valid time (when it gives one).
fn same_content(earlier: &Earlier<'_>, event: &NewEvent) -> bool {
    earlier.kind == event.kind
        && earlier.data == event.data.get()
        && event.effective_at.is_none_or(|t| t == earlier.effective_at)
}

/// Record-time bookkeeping of `plan`.
struct Times {
    now: i64,
    /// The latest record time stored or prepared so far (record times of imported lines may
    /// go back within a batch; this never does).
    last_recorded: Option<i64>,
    /// The latest record time stored before this batch.
    base_recorded: Option<i64>,
}

impl Times {
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
/// Stored frames of one block, as [`Log::blocks`] reads them.
pub struct RawBlock {
    bytes: BlockBytes,
    skip: usize,
    first_seq: u64,
    last_seq: u64,
}

/// One stored frame: the envelope's canonical bytes and the hash stored after them.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    pub seq: u64,
    pub canonical: &'a [u8],
    pub hash: Hash,
}

impl RawBlock {
    /// The stored bytes of the whole block; every [`RawFrame::canonical`] of
    /// [`RawBlock::frames`] lies inside them, so a reader may keep a frame as an offset.
    pub fn bytes(&self) -> &[u8] {
        (*self.bytes).as_ref()
    }

    /// The seq of the first frame [`RawBlock::frames`] yields.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// The frames of the range in this block, in seq order; a frame that cannot be cut
    /// from the bytes, or a block that ends early, is an error naming the seq.
    pub fn frames(&self) -> impl Iterator<Item = Result<RawFrame<'_>, LogError>> + '_ {
        let mut frames = Frames::new((*self.bytes).as_ref()).skip(self.skip);
        let mut seq = self.first_seq;
        std::iter::from_fn(move || {
            if seq > self.last_seq {
                return None;
            }
            let this = seq;
            let frame = match frames.next() {
                Some(Ok((canonical, hash))) => Ok(RawFrame {
                    seq: this,
                    canonical,
                    hash,
                }),
                Some(Err(e)) => Err(LogError::corrupt(format!("seq {this}: {e}"))),
                None => Err(LogError::corrupt(format!(
                    "the block holding seq {this} ends early"
                ))),
            };
            seq = if frame.is_ok() { this + 1 } else { u64::MAX };
            Some(frame)
        })
    }
}

pub(crate) struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    pub(crate) fn new(block: &'a [u8]) -> Self {
        Frames { rest: block }
    }
}

impl<'a> Frames<'a> {
    /// The frames with their byte offsets in the block.
    pub(crate) fn offsets(
        self,
    ) -> impl Iterator<Item = (usize, Result<(&'a [u8], Hash), String>)> + 'a {
        let total = self.rest.len();
        let mut frames = self;
        std::iter::from_fn(move || {
            let at = total - frames.rest.len();
            frames.next().map(|f| (at, f))
        })
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
        let (len, flags) = crate::store::frame_len(u32::from_le_bytes(*len));
        if flags & crate::store::FRAME_COMPRESSED != 0 {
            self.rest = &[];
            return Some(Err(
                "a compressed frame, which this build does not read".into()
            ));
        }
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
