//! Where the log keeps its bytes: a narrow [`Store`] trait (append a batch atomically and
//! durably; read blocks of envelopes, Merkle nodes, id and stream indexes, the head record)
//! and its sled implementation. Another backend implements the same trait.
//!
//! Envelope frames go to the append-only file `envelopes`; a frame is
//! canonical length u32 LE ‖ canonical JSON of the envelope ‖ hash (32 bytes). Everything
//! else is in the sled database `index/` (one tree, so that one `apply_batch` covers every
//! key of a commit, including the committed length of the envelope file):
//!
//! | key | value |
//! |---|---|
//! | `"M"` | the head record (see `log.rs`) |
//! | `"D"` | committed length of the envelope file, u64 LE |
//! | `"B"` ‖ block u64 BE | file offset (u64 LE) of the frame of seq `block*256+1` |
//! | `"N"` ‖ level u8 ‖ index u64 BE | Merkle subtree root (32 bytes), levels >= 8 |
//! | `"I"` ‖ bucket u8 ‖ chunk u32 BE | up to 256 entries: id hash u64 BE ‖ seq u64 LE |
//! | `"S"` ‖ bucket u8 ‖ chunk u32 BE | up to 256 entries: stream hash u64 BE ‖ seq u64 LE |
//! | `"V"` ‖ bucket u8 | stream versions: (len u16 LE ‖ name ‖ version u64 LE)*, sorted by name |
//!
//! The id and stream hash is [`crate::fast::key_hash`]; the bucket is its top byte. A
//! commit reads each bucket's tail chunk once and writes each changed key once.
//!
//! A commit appends its frames past the committed length and fsyncs the file
//! ([`Store::write_frames`]), then applies and flushes the sled batch ([`Store::commit`]). Bytes past the committed length are cut off at open: they
//! belong to a commit whose batch never became durable.

use crate::fast::FastSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::codec::Codec;
use crate::{Hash, LogError};

/// Envelopes per block value.
pub const BLOCK_EVENTS: u64 = 256;
/// Merkle subtree roots are stored from this level up (a block is one level-8 subtree);
/// lower levels are recomputed from a block's envelope hashes.
pub const NODE_LEVEL_MIN: u8 = 8;
/// Entries per index chunk.
const CHUNK_ENTRIES: usize = 256;
const ENTRY_BYTES: usize = 16;
/// Bytes of a frame besides the canonical JSON: its length and the hash.
pub(crate) const FRAME_OVERHEAD: usize = 4 + 32;
/// A frame's u32 LE length field: the low 30 bits are the length of the bytes between it
/// and the hash; the two high bits are flags. The one place that says so: every reader and
/// writer of frames uses these.
pub(crate) const FRAME_LEN_MASK: u32 = (1 << 30) - 1;
/// Flag of a frame's length field: the frame's bytes are compressed (log layout 5: one
/// magicless zstd frame with the log's dictionary, see [`crate::codec`]).
pub(crate) const FRAME_COMPRESSED: u32 = 1 << 30;
/// Flag of a frame's length field: the last frame of a commit (log layout 4, directory
/// store). A commit's frames are in the log once this frame is on disk with every frame
/// before it chaining: the sync of `envelopes` after it is the commit point.
pub(crate) const FRAME_COMMIT_END: u32 = 1 << 31;

/// The length and the flags of a frame's length field.
pub(crate) fn frame_len(field: u32) -> (usize, u32) {
    ((field & FRAME_LEN_MASK) as usize, field & !FRAME_LEN_MASK)
}

/// One frame as the envelope file stores it: its length field (flags included), its body
/// (the canonical bytes, or their compressed form when [`FRAME_COMPRESSED`] is set) and the
/// hash after it.
pub(crate) struct StoredFrame<'a> {
    pub(crate) field: u32,
    pub(crate) body: &'a [u8],
    pub(crate) hash: Hash,
    /// Where the frame ends in the bytes it was read from.
    pub(crate) end: usize,
}

/// The stored frame at `at` of `bytes`, or why there is none.
pub(crate) fn stored_frame(bytes: &[u8], at: usize) -> Result<StoredFrame<'_>, String> {
    let Some(head) = bytes.get(at..).and_then(|b| b.first_chunk::<4>()) else {
        return Err("a frame header is cut short".into());
    };
    let field = u32::from_le_bytes(*head);
    let (len, _) = frame_len(field);
    let rest = bytes.len() - at - 4;
    if len > crate::MAX_ENVELOPE_BYTES || rest < len + 32 {
        return Err(format!("a frame claims {len} bytes that are not there"));
    }
    let body = &bytes[at + 4..at + 4 + len];
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[at + 4 + len..at + 4 + len + 32]);
    Ok(StoredFrame {
        field,
        body,
        hash,
        end: at + 4 + len + 32,
    })
}

/// Appends the canonical bytes of a stored frame to `out`: its body, decompressed with
/// `codec` when the frame is compressed (a log without a codec has no compressed frame).
pub(crate) fn canonical_into(
    frame: &StoredFrame,
    codec: Option<&'static Codec>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if frame.field & FRAME_COMPRESSED == 0 {
        out.extend_from_slice(frame.body);
        return Ok(());
    }
    match codec {
        None => Err("a compressed frame, which a log of this layout does not hold".into()),
        Some(codec) => codec
            .decompress_into(frame.body, crate::MAX_ENVELOPE_BYTES, out)
            .map_err(|e| format!("a compressed frame: {e}")),
    }
}

/// Appends a stored frame to `out` in its canonical form (the length field without
/// [`FRAME_COMPRESSED`], the canonical bytes, the hash).
pub(crate) fn expand_frame(
    frame: &StoredFrame,
    codec: Option<&'static Codec>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    if let Err(e) = canonical_into(frame, codec, out) {
        out.truncate(at);
        return Err(e);
    }
    let field = (out.len() - at - 4) as u32 | (frame.field & FRAME_COMMIT_END);
    out[at..at + 4].copy_from_slice(&field.to_le_bytes());
    out.extend_from_slice(&frame.hash);
    Ok(())
}

/// Appends the stored form of the canonical frame `frame` (length field, canonical bytes,
/// hash) to `out`: compressed with `codec` when that is shorter.
pub(crate) fn compress_frame(frame: &[u8], codec: &'static Codec, out: &mut Vec<u8>) {
    let canonical = &frame[4..frame.len() - 32];
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let field = if codec.compress_into(canonical, out) && out.len() - at - 4 < canonical.len() {
        (out.len() - at - 4) as u32 | FRAME_COMPRESSED
    } else {
        out.truncate(at + 4);
        out.extend_from_slice(canonical);
        canonical.len() as u32
    };
    out[at..at + 4].copy_from_slice(&field.to_le_bytes());
    out.extend_from_slice(&frame[frame.len() - 32..]);
}

/// Frames in their stored form, back to back, and where each starts in `bytes`.
#[derive(Debug, Default)]
pub struct StoredFrames {
    pub bytes: Vec<u8>,
    pub offsets: Vec<u64>,
}

/// A number of frames from which [`stored_frames`] compresses on two threads.
const PARALLEL_COMPRESS_MIN: usize = 512;

/// The stored form of canonical frames (each compressed where that is shorter, when there
/// is a codec), and where each starts in it; many frames are compressed on two threads.
pub(crate) fn stored_frames(frames: &[&[u8]], codec: Option<&'static Codec>) -> StoredFrames {
    let store = |frames: &[&[u8]]| {
        let total: usize = frames.iter().map(|f| f.len()).sum();
        let mut out = Vec::with_capacity(if codec.is_some() { total / 2 } else { total });
        let mut offsets = Vec::with_capacity(frames.len());
        for frame in frames {
            offsets.push(out.len() as u64);
            match codec {
                Some(codec) => compress_frame(frame, codec, &mut out),
                None => out.extend_from_slice(frame),
            }
        }
        StoredFrames {
            bytes: out,
            offsets,
        }
    };
    if codec.is_none() || frames.len() < PARALLEL_COMPRESS_MIN {
        return store(frames);
    }
    let (left, right) = frames.split_at(frames.len() / 2);
    let (mut stored, more) = arl_par::join(|| store(left), || store(right));
    let base = stored.bytes.len() as u64;
    stored
        .offsets
        .extend(more.offsets.into_iter().map(|o| o + base));
    stored.bytes.extend_from_slice(&more.bytes);
    stored
}

/// The hash at the end of each stored frame of `stored`, in order; `None` when the offsets
/// do not tile the bytes with whole frames.
pub(crate) fn stored_hashes(stored: &StoredFrames) -> Option<Vec<Hash>> {
    let mut hashes = Vec::with_capacity(stored.offsets.len());
    let mut expected = 0usize;
    for &offset in &stored.offsets {
        let at = usize::try_from(offset).ok()?;
        if at != expected {
            return None;
        }
        let field = u32::from_le_bytes(stored.bytes.get(at..at + 4)?.try_into().ok()?);
        let (len, _) = frame_len(field);
        let end = at.checked_add(FRAME_OVERHEAD + len)?;
        hashes.push(stored.bytes.get(end - 32..end)?.try_into().ok()?);
        expected = end;
    }
    (expected == stored.bytes.len()).then_some(hashes)
}

/// The sled database of layout 2, inside the log directory.
pub(crate) const INDEX_DIR: &str = "index";
/// The append-only file of envelope frames, inside the log directory.
pub(crate) const ENVELOPE_FILE: &str = "envelopes";
const TAG_DATA_LEN: u8 = b'D';
/// How long `open` waits for sled's file lock to be released by a dropped handle.
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

const TAG_META: u8 = b'M';
const TAG_BLOCK: u8 = b'B';
const TAG_NODE: u8 = b'N';
const TAG_ID: u8 = b'I';
const TAG_STREAM: u8 = b'S';
const TAG_VERSION: u8 = b'V';

/// Everything one commit writes.
pub struct CommitSet<'a> {
    /// The seq of the last envelope of the batch (the new head's).
    pub seq: u64,
    /// The batch's frames, back to back in seq order (possibly in several segments).
    pub frames: &'a [Vec<u8>],
    /// `(block, offset of its first frame counted from the start of this batch's frames)`
    /// for each block that starts in this batch.
    pub block_starts: &'a [(u64, u64)],
    /// `(key_hash(id), seq)` of each new envelope.
    pub ids: &'a [(u64, u64)],
    /// `(key_hash(stream), seq)` of each new envelope.
    pub streams: &'a [(u64, u64)],
    /// `(stream, key_hash(stream), version)`: the new version of each stream the batch touches.
    pub versions: &'a [(String, u64, u64)],
    pub nodes: Vec<(u8, u64, Hash)>,
    pub meta: Vec<u8>,
}

/// The bytes of one block value.
pub type BlockBytes = Box<dyn AsRef<[u8]> + Send + Sync>;

/// The storage a [`crate::Log`] runs on: the directory store (log layout 4) that
/// [`crate::Log::open`] uses, [`SledStore`] (layout 2, opened only by `arl upgrade`), or another
/// implementation (a database server) given to [`crate::Log::open_store`].
///
/// The envelope frames form one byte space: the frames of seq 1, 2, … back to back;
/// [`Store::data_len`] is its committed length and [`Store::block_offset`] where each
/// block of [`BLOCK_EVENTS`] envelopes starts in it.
pub trait Store: Send {
    /// The head record, `None` for a new store.
    fn meta(&self) -> Result<Option<Vec<u8>>, LogError>;
    /// Appends the frames past the committed length and makes them durable; they become
    /// part of the log only with the next successful [`Store::commit`].
    fn write_frames(&mut self, frames: &[Vec<u8>]) -> Result<(), LogError>;
    /// The codec with which [`Store::write_stored`] takes frames already in their stored
    /// form, compressed by the writer before the commit; `None`: the store takes
    /// canonical frames only ([`Store::write_frames`]).
    fn stored_codec(&self) -> Option<&'static Codec> {
        None
    }
    /// [`Store::write_frames`] of frames already in their stored form (each compressed
    /// with [`Store::stored_codec`] where that is shorter), in segments.
    fn write_stored(&mut self, _segments: Vec<StoredFrames>) -> Result<(), LogError> {
        Err(LogError::Backend {
            what: "this store takes canonical frames only".into(),
        })
    }
    /// Commits the frames last written and every index key of `set` at once, or nothing,
    /// and returns only once it is durable.
    ///
    /// A store that several writers share refuses the commit with [`LogError::Moved`]
    /// when another writer committed since this one last read the head ([`Store::refresh`]).
    fn commit(&mut self, set: &CommitSet) -> Result<(), LogError>;
    /// Committed frames that the store found past its head when it opened, not yet
    /// indexed (a crash between the commit point and the index), back to back; taken once.
    /// The log indexes them at once, with [`Store::adopt_frames`] in place of
    /// [`Store::write_frames`]. A store whose commit point is its index has none.
    fn take_unindexed(&mut self) -> Result<Option<Vec<u8>>, LogError> {
        Ok(None)
    }
    /// Takes the next `len` bytes of frames already in the store past the committed length
    /// (from [`Store::take_unindexed`]) as the frames the next [`Store::commit`] covers.
    fn adopt_frames(&mut self, _len: u64) -> Result<(), LogError> {
        Err(LogError::Backend {
            what: "this store has no frames to index again".into(),
        })
    }
    /// Makes everything committed durable in the store's own index too (a store whose
    /// commits are always so has nothing to do).
    fn checkpoint(&mut self) -> Result<(), LogError> {
        Ok(())
    }
    /// Reads the head record and the committed length again, as other writers may have
    /// moved them, and returns the head record. A store with one writer has nothing to
    /// reload.
    fn refresh(&mut self) -> Result<Option<Vec<u8>>, LogError> {
        self.meta()
    }
    /// Waits for this writer's turn among the writers that share the store, and holds it
    /// until [`Store::end_write`]: while it is held no other writer commits, so a batch
    /// planned on the head read under the turn commits. A writer takes it after it lost a
    /// race ([`LogError::Moved`]): without it, a writer that has just caught up may lose
    /// the head again to one that was already up to date, as often as that one appends.
    /// A store with one writer (the caller holds the ledger's lock) has nothing to wait for.
    fn begin_write(&mut self) -> Result<(), LogError> {
        Ok(())
    }
    /// Gives the turn taken by [`Store::begin_write`] back; nothing if none is held.
    fn end_write(&mut self) {}
    /// The frames of block `block` (envelopes `block*256+1 ..`).
    fn block(&self, block: u64) -> Result<Option<BlockBytes>, LogError>;
    /// Where block `block` starts in the envelope file, as the index says.
    fn block_offset(&self, block: u64) -> Result<Option<u64>, LogError>;
    /// Committed bytes of the envelope file.
    fn data_len(&self) -> u64;
    /// A store that reads what this one has committed now, sharing its files, and writes
    /// nothing (for readers in the writing process: made without opening anything); `None`
    /// when the store cannot make one.
    fn reader(&self) -> Option<Box<dyn Store>> {
        None
    }
    /// Reads committed bytes of the envelope file at `offset`.
    fn read_data(&self, offset: u64, buf: &mut [u8]) -> Result<(), LogError>;
    /// A stored Merkle subtree root (`level >= NODE_LEVEL_MIN`).
    fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, LogError>;
    /// Every stored `(hash, seq)` id entry whose hash is in `wanted` (the caller confirms).
    fn id_candidates(&self, wanted: &FastSet<u64>) -> Result<Vec<(u64, u64)>, LogError>;
    /// Readies look-ups of about `ids` ids at a time (a writer about to append batches
    /// that large): a store that keeps a filter of its ids builds it now, as its first
    /// look-up of that many would. By default nothing.
    fn prepare_id_lookups(&self, _ids: usize) -> Result<(), LogError> {
        Ok(())
    }
    /// The seqs that may belong to the stream with this key hash, ascending.
    fn stream_candidates(&self, hash: u64) -> Result<Vec<u64>, LogError>;
    /// Calls `found(name, version)` for every stored stream in the buckets of `hashes`.
    fn stream_versions(
        &self,
        hashes: &[u64],
        found: &mut dyn FnMut(&str, u64),
    ) -> Result<(), LogError>;
    /// The codec of the store's compressed frames ([`FRAME_COMPRESSED`]), which
    /// [`Store::read_data`] gives as they are stored; `None` for a store that holds none.
    fn frame_codec(&self) -> Option<&'static Codec> {
        None
    }
    /// Checks the store's own index against the committed frames (a store whose index is
    /// derived from them); called by [`crate::Log::verify`] once the frames verified.
    fn check_index(&self) -> Result<(), LogError> {
        Ok(())
    }
    /// Calls `found(name, version)` for each stored stream of `streams` (`(name,
    /// key_hash(name))`); a stream never appended to may be left out (version 0). A store
    /// that finds a stream by name cheaper than by bucket overrides it.
    fn stream_versions_of(
        &self,
        streams: &[(&str, u64)],
        found: &mut dyn FnMut(&str, u64),
    ) -> Result<(), LogError> {
        let hashes: Vec<u64> = streams.iter().map(|s| s.1).collect();
        self.stream_versions(&hashes, found)
    }
}

/// A store that lives outside the ledger directory and that several processes (nodes)
/// share, reached by an address: each [`SharedStore::open`] gives a [`Store`] of its own.
pub trait SharedStore: Send + Sync {
    /// Connects and returns a store for one [`crate::Log`], creating what the store
    /// needs (its schema) on first use.
    fn open(&self) -> Result<Box<dyn Store>, LogError>;
    /// The identity and committed length of the log there, in one cheap read, without
    /// creating anything: `None` when no log was ever created there.
    fn state(&self) -> Result<Option<SharedState>, LogError>;
    /// A connection that hears of every writer's commits (see [`Follower`]).
    fn follower(&self) -> Result<Box<dyn Follower>, LogError>;
    /// The address, without any password, for messages.
    fn describe(&self) -> String;
}

/// What [`SharedStore::state`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedState {
    /// Generated when the log was created there; views record it to stay bound to it.
    pub ledger_id: String,
    /// The committed length of the frames ([`Store::data_len`]).
    pub data_len: u64,
    /// The head seq.
    pub seq: u64,
}

/// Waits for the commits of every writer of a [`SharedStore`].
pub trait Follower: Send {
    /// Waits up to `timeout`; `Ok(Some(seq))` when a commit up to `seq` was announced,
    /// `Ok(None)` on timeout. An error means the connection was lost: the caller opens a
    /// new follower (and catches up, as announcements may have been missed).
    fn wait(&mut self, timeout: std::time::Duration) -> Result<Option<u64>, LogError>;
}

fn bucket_of(hash: u64) -> u8 {
    (hash >> 56) as u8
}

fn block_key(block: u64) -> [u8; 9] {
    let mut k = [TAG_BLOCK; 9];
    k[1..].copy_from_slice(&block.to_be_bytes());
    k
}

fn node_key(level: u8, index: u64) -> [u8; 10] {
    let mut k = [TAG_NODE; 10];
    k[1] = level;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

fn chunk_key(tag: u8, bucket: u8, chunk: u32) -> [u8; 6] {
    let mut k = [tag, bucket, 0, 0, 0, 0];
    k[2..].copy_from_slice(&chunk.to_be_bytes());
    k
}

fn read_u64_le(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_le_bytes(x)
}

/// The sled implementation of [`Store`]: envelope frames in an append-only file, everything
/// else in sled.
pub struct SledStore {
    db: sled::Db,
    data: File,
    data_path: PathBuf,
    /// sled's directory (for the power-loss tests' recording: `arl_io::synced_externally`).
    index_dir: PathBuf,
    /// Bytes of the envelope file that belong to committed batches.
    data_len: u64,
    /// The envelope file's length after the frames written by `write_frames` and not yet
    /// committed.
    written_len: Option<u64>,
}

impl SledStore {
    /// Opens (or creates) the store in the log directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        let config = sled::Config::new()
            .path(dir.join(INDEX_DIR))
            .mode(sled::Mode::HighThroughput)
            // Durability comes from the explicit flush in `commit`, never a timer.
            .flush_every_ms(None)
            .cache_capacity(64 * 1024 * 1024);
        // The caller holds the ledger lock, so sled's own file lock can only be held by a
        // handle this process just dropped, whose I/O threads release it a moment later.
        let started = std::time::Instant::now();
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && started.elapsed() < SLED_LOCK_WAIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                other => break other?,
            }
        };
        let data_path = dir.join(ENVELOPE_FILE);
        let created = !data_path.exists();
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let data = options
            .open(&data_path)
            .map_err(|e| LogError::io(&data_path, e))?;
        let data_len = match db.get([TAG_DATA_LEN])? {
            Some(v) if v.len() == 8 => read_u64_le(&v),
            Some(_) => {
                return Err(LogError::corrupt(
                    "the committed envelope length is not 8 bytes",
                ))
            }
            None => 0,
        };
        if created {
            // Make the new file's directory entry durable too.
            arl_io::sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        }
        let file_len = data
            .metadata()
            .map_err(|e| LogError::io(&data_path, e))?
            .len();
        if file_len < data_len {
            return Err(LogError::corrupt(format!(
                "{} holds {file_len} bytes, the index says {data_len} are committed",
                data_path.display()
            )));
        }
        if file_len > data_len {
            // Bytes of a commit whose index batch never became durable: not part of the log.
            arl_io::set_len(&data, &data_path, data_len)
                .map_err(|e| LogError::io(&data_path, e))?;
            arl_io::sync_all(&data, &data_path).map_err(|e| LogError::io(&data_path, e))?;
        }
        Ok(SledStore {
            db,
            data,
            data_path,
            index_dir: dir.join(INDEX_DIR),
            data_len,
            written_len: None,
        })
    }

    /// Appends `(hash, seq)` entries to the tail chunks of their buckets. `entries` is
    /// sorted by bucket (stable, so seqs ascend within a bucket).
    fn put_entries(
        &self,
        batch: &mut sled::Batch,
        tag: u8,
        entries: &[(u64, u64)],
    ) -> Result<(), LogError> {
        let mut rest = entries;
        while let Some(&(first, _)) = rest.first() {
            let bucket = bucket_of(first);
            let n = rest
                .iter()
                .position(|(h, _)| bucket_of(*h) != bucket)
                .unwrap_or(rest.len());
            let (list, after) = rest.split_at(n);
            rest = after;
            let (mut chunk, mut buf) = match self.db.scan_prefix([tag, bucket]).next_back() {
                Some(kv) => {
                    let (k, v) = kv?;
                    if k.len() != 6 || v.len() % ENTRY_BYTES != 0 {
                        return Err(LogError::corrupt(format!("index chunk {k:?} is malformed")));
                    }
                    let mut c = [0u8; 4];
                    c.copy_from_slice(&k[2..6]);
                    let mut buf = Vec::with_capacity(CHUNK_ENTRIES * ENTRY_BYTES);
                    buf.extend_from_slice(&v);
                    (u32::from_be_bytes(c), buf)
                }
                None => (0, Vec::with_capacity(CHUNK_ENTRIES * ENTRY_BYTES)),
            };
            for (hash, seq) in list {
                if buf.len() >= CHUNK_ENTRIES * ENTRY_BYTES {
                    let full = std::mem::replace(
                        &mut buf,
                        Vec::with_capacity(CHUNK_ENTRIES * ENTRY_BYTES),
                    );
                    batch.insert(&chunk_key(tag, bucket, chunk), full);
                    chunk += 1;
                }
                buf.extend_from_slice(&hash.to_be_bytes());
                buf.extend_from_slice(&seq.to_le_bytes());
            }
            batch.insert(&chunk_key(tag, bucket, chunk), buf);
        }
        Ok(())
    }

    /// Rewrites the version buckets the batch touches. `versions` is sorted by bucket.
    fn put_versions(
        &self,
        batch: &mut sled::Batch,
        versions: &[(String, u64, u64)],
    ) -> Result<(), LogError> {
        let mut rest = versions;
        while let Some((_, first, _)) = rest.first() {
            let bucket = bucket_of(*first);
            let n = rest
                .iter()
                .position(|(_, h, _)| bucket_of(*h) != bucket)
                .unwrap_or(rest.len());
            let (list, after) = rest.split_at(n);
            rest = after;
            let mut updates: Vec<(&[u8], u64)> =
                list.iter().map(|(s, _, v)| (s.as_bytes(), *v)).collect();
            updates.sort_unstable();
            let stored = self.db.get([TAG_VERSION, bucket])?;
            let mut old = Vec::new();
            if let Some(value) = &stored {
                parse_versions(bucket, value, &mut |name, v| old.push((name, v)))?;
            }
            // Merge two lists sorted by name; an update replaces the stored entry.
            let mut buf =
                Vec::with_capacity(stored.as_ref().map_or(0, |v| v.len()) + updates.len() * 32);
            let (mut next_old, mut next_update) = (0, 0);
            while next_old < old.len() || next_update < updates.len() {
                let take_update = match (old.get(next_old), updates.get(next_update)) {
                    (Some(stored), Some(update)) => {
                        if stored.0 == update.0 {
                            next_old += 1;
                        }
                        update.0 <= stored.0
                    }
                    (None, Some(_)) => true,
                    _ => false,
                };
                let (name, version) = if take_update {
                    next_update += 1;
                    updates[next_update - 1]
                } else {
                    next_old += 1;
                    old[next_old - 1]
                };
                buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
                buf.extend_from_slice(name);
                buf.extend_from_slice(&version.to_le_bytes());
            }
            batch.insert(&[TAG_VERSION, bucket], buf);
        }
        Ok(())
    }

    /// Calls `found(hash, seq)` for every entry of `bucket` under `tag`.
    fn scan_bucket(
        &self,
        tag: u8,
        bucket: u8,
        found: &mut dyn FnMut(u64, u64),
    ) -> Result<(), LogError> {
        for kv in self.db.scan_prefix([tag, bucket]) {
            let (k, v) = kv?;
            if v.len() % ENTRY_BYTES != 0 {
                return Err(LogError::corrupt(format!("index chunk {k:?} is malformed")));
            }
            for e in v.chunks_exact(ENTRY_BYTES) {
                let mut h = [0u8; 8];
                h.copy_from_slice(&e[..8]);
                found(u64::from_be_bytes(h), read_u64_le(&e[8..]));
            }
        }
        Ok(())
    }
}

/// Calls `found(name, version)` for each entry of a stream version bucket.
fn parse_versions<'a>(
    bucket: u8,
    value: &'a [u8],
    found: &mut dyn FnMut(&'a [u8], u64),
) -> Result<(), LogError> {
    let corrupt = || LogError::corrupt(format!("stream version bucket {bucket} is malformed"));
    let mut rest = value;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(corrupt());
        }
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        if rest.len() < 2 + len + 8 {
            return Err(corrupt());
        }
        found(&rest[2..2 + len], read_u64_le(&rest[2 + len..]));
        rest = &rest[2 + len + 8..];
    }
    Ok(())
}

impl Store for SledStore {
    fn meta(&self) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.db.get([TAG_META])?.map(|v| v.to_vec()))
    }

    fn write_frames(&mut self, frames: &[Vec<u8>]) -> Result<(), LogError> {
        let io = |e| LogError::io(&self.data_path, e);
        let mut at = self.data_len;
        for segment in frames {
            arl_io::write_at(&self.data, &self.data_path, segment, at).map_err(io)?;
            at += segment.len() as u64;
        }
        arl_io::sync_data(&self.data, &self.data_path).map_err(io)?;
        self.written_len = Some(at);
        Ok(())
    }

    fn commit(&mut self, set: &CommitSet) -> Result<(), LogError> {
        let written: u64 = set.frames.iter().map(|f| f.len() as u64).sum();
        let data_len = match self.written_len.take() {
            Some(len) if len == self.data_len + written => len,
            _ => {
                return Err(LogError::corrupt(
                    "commit without the frames it covers written first",
                ))
            }
        };
        let mut batch = sled::Batch::default();
        for (block, offset) in set.block_starts {
            batch.insert(&block_key(*block), &(self.data_len + offset).to_le_bytes());
        }
        self.put_entries(&mut batch, TAG_ID, set.ids)?;
        self.put_entries(&mut batch, TAG_STREAM, set.streams)?;
        self.put_versions(&mut batch, set.versions)?;
        for (level, index, hash) in &set.nodes {
            batch.insert(&node_key(*level, *index), &hash[..]);
        }
        batch.insert(&[TAG_DATA_LEN], &data_len.to_le_bytes());
        batch.insert(&[TAG_META], set.meta.as_slice());
        // One batch: after a crash either all of it or none of it is recovered; the frames
        // written before count only once the committed length in this batch covers them.
        self.db.apply_batch(batch)?;
        // Explicit fsync: the commit is durable when this returns.
        self.db.flush()?;
        arl_io::synced_externally(&self.index_dir);
        self.data_len = data_len;
        Ok(())
    }

    fn block(&self, block: u64) -> Result<Option<BlockBytes>, LogError> {
        let Some(start) = self.block_offset(block)? else {
            return Ok(None);
        };
        let end = self.block_offset(block + 1)?.unwrap_or(self.data_len);
        if start > end || end > self.data_len {
            return Err(LogError::corrupt(format!(
                "block {block} spans {start}..{end}, beyond the envelope file"
            )));
        }
        let mut buf = vec![0u8; (end - start) as usize];
        self.read_data(start, &mut buf)?;
        Ok(Some(Box::new(buf)))
    }

    fn block_offset(&self, block: u64) -> Result<Option<u64>, LogError> {
        match self.db.get(block_key(block))? {
            Some(v) if v.len() == 8 => Ok(Some(read_u64_le(&v))),
            Some(_) => Err(LogError::corrupt(format!(
                "the offset of block {block} is not 8 bytes"
            ))),
            None => Ok(None),
        }
    }

    fn data_len(&self) -> u64 {
        self.data_len
    }

    fn read_data(&self, offset: u64, buf: &mut [u8]) -> Result<(), LogError> {
        if offset + buf.len() as u64 > self.data_len {
            return Err(LogError::corrupt(format!(
                "a read of {} bytes at {offset} goes beyond the committed {} bytes",
                buf.len(),
                self.data_len
            )));
        }
        self.data
            .read_exact_at(buf, offset)
            .map_err(|e| LogError::io(&self.data_path, e))
    }

    fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, LogError> {
        let Some(v) = self.db.get(node_key(level, index))? else {
            return Ok(None);
        };
        let hash: Hash = v.as_ref().try_into().map_err(|_| {
            LogError::corrupt(format!("Merkle node {level}/{index} is not 32 bytes"))
        })?;
        Ok(Some(hash))
    }

    fn id_candidates(&self, wanted: &FastSet<u64>) -> Result<Vec<(u64, u64)>, LogError> {
        let mut buckets = [false; 256];
        for h in wanted {
            buckets[usize::from(bucket_of(*h))] = true;
        }
        let mut out = Vec::new();
        for (bucket, _) in buckets.iter().enumerate().filter(|(_, b)| **b) {
            self.scan_bucket(TAG_ID, bucket as u8, &mut |h, seq| {
                if wanted.contains(&h) {
                    out.push((h, seq));
                }
            })?;
        }
        Ok(out)
    }

    fn stream_candidates(&self, want: u64) -> Result<Vec<u64>, LogError> {
        let mut out = Vec::new();
        self.scan_bucket(TAG_STREAM, bucket_of(want), &mut |h, seq| {
            if h == want {
                out.push(seq);
            }
        })?;
        Ok(out)
    }

    fn stream_versions(
        &self,
        hashes: &[u64],
        found: &mut dyn FnMut(&str, u64),
    ) -> Result<(), LogError> {
        let mut buckets = [false; 256];
        for h in hashes {
            buckets[usize::from(bucket_of(*h))] = true;
        }
        for (bucket, _) in buckets.iter().enumerate().filter(|(_, b)| **b) {
            let bucket = bucket as u8;
            let Some(value) = self.db.get([TAG_VERSION, bucket])? else {
                continue;
            };
            let mut bad = false;
            parse_versions(
                bucket,
                &value,
                &mut |name, v| match std::str::from_utf8(name) {
                    Ok(name) => found(name, v),
                    Err(_) => bad = true,
                },
            )?;
            if bad {
                return Err(LogError::corrupt(format!(
                    "stream version bucket {bucket} holds a name that is not UTF-8"
                )));
            }
        }
        Ok(())
    }
}

/// The bucket of an id or stream hash in the sled store: its top byte.
pub fn bucket_of_hash(hash: u64) -> u8 {
    bucket_of(hash)
}
