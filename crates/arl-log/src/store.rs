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
//! A commit appends its frames past the committed length and fsyncs the file, then applies
//! and flushes the sled batch. Bytes past the committed length are cut off at open: they
//! belong to a commit whose batch never became durable.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::{Hash, LogError};

/// Envelopes per block value.
pub(crate) const BLOCK_EVENTS: u64 = 256;
/// Merkle subtree roots are stored from this level up (a block is one level-8 subtree);
/// lower levels are recomputed from a block's envelope hashes.
pub(crate) const NODE_LEVEL_MIN: u8 = 8;
/// Entries per index chunk.
const CHUNK_ENTRIES: usize = 256;
const ENTRY_BYTES: usize = 16;
/// Bytes of a frame besides the canonical JSON: its length and the hash.
pub(crate) const FRAME_OVERHEAD: usize = 4 + 32;

/// The sled database, inside the log directory.
pub(crate) const INDEX_DIR: &str = "index";
/// The append-only file of envelope frames, inside the log directory.
pub(crate) const ENVELOPE_FILE: &str = "envelopes";
const TAG_DATA_LEN: u8 = b'D';

const TAG_META: u8 = b'M';
const TAG_BLOCK: u8 = b'B';
const TAG_NODE: u8 = b'N';
const TAG_ID: u8 = b'I';
const TAG_STREAM: u8 = b'S';
const TAG_VERSION: u8 = b'V';

/// One envelope to store.
pub(crate) struct Record<'a> {
    pub(crate) seq: u64,
    pub(crate) canonical: &'a [u8],
    pub(crate) hash: Hash,
    pub(crate) id: &'a str,
    pub(crate) stream: &'a str,
    pub(crate) version: u64,
}

/// Everything one commit writes.
pub(crate) struct CommitSet<'a> {
    pub(crate) records: Vec<Record<'a>>,
    pub(crate) nodes: Vec<(u8, u64, Hash)>,
    pub(crate) meta: Vec<u8>,
}

/// The bytes of one block value.
pub(crate) type BlockBytes = Box<dyn AsRef<[u8]> + Send + Sync>;

/// The storage a [`crate::Log`] runs on.
pub(crate) trait Store: Send {
    /// The head record, `None` for a new store.
    fn meta(&self) -> Result<Option<Vec<u8>>, LogError>;
    /// Writes all of `set` or nothing, and returns only once it is durable.
    fn commit(&mut self, set: &CommitSet) -> Result<(), LogError>;
    /// The frames of block `block` (envelopes `block*256+1 ..`).
    fn block(&self, block: u64) -> Result<Option<BlockBytes>, LogError>;
    /// A stored Merkle subtree root (`level >= NODE_LEVEL_MIN`).
    fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, LogError>;
    /// For each id, the seqs that may hold it (hash matches; the caller confirms).
    fn id_candidates(&self, ids: &[&str]) -> Result<Vec<Vec<u64>>, LogError>;
    /// The seqs that may belong to `stream`, ascending (the caller confirms).
    fn stream_candidates(&self, stream: &str) -> Result<Vec<u64>, LogError>;
    /// The version (event count) of each stream, 0 when it has none.
    fn stream_versions(&self, streams: &[&str]) -> Result<Vec<u64>, LogError>;
}

pub(crate) fn key_hash(text: &str) -> u64 {
    let h = blake3::hash(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_be_bytes(first)
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
pub(crate) struct SledStore {
    db: sled::Db,
    data: File,
    data_path: PathBuf,
    /// Bytes of the envelope file that belong to committed batches.
    data_len: u64,
}

impl SledStore {
    pub(crate) fn open(dir: &Path) -> Result<Self, LogError> {
        let db = sled::Config::new()
            .path(dir.join(INDEX_DIR))
            .mode(sled::Mode::HighThroughput)
            // Durability comes from the explicit flush in `commit`, never a timer.
            .flush_every_ms(None)
            .cache_capacity(64 * 1024 * 1024)
            .open()?;
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
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| LogError::io(dir, e))?;
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
            data.set_len(data_len)
                .map_err(|e| LogError::io(&data_path, e))?;
            data.sync_all().map_err(|e| LogError::io(&data_path, e))?;
        }
        Ok(SledStore {
            db,
            data,
            data_path,
            data_len,
        })
    }

    /// Appends the frames to the envelope file (durably) and records where each new block
    /// starts; returns the new committed length.
    fn put_frames(&self, batch: &mut sled::Batch, records: &[Record]) -> Result<u64, LogError> {
        let mut buf = Vec::with_capacity(
            records
                .iter()
                .map(|r| r.canonical.len() + FRAME_OVERHEAD)
                .sum(),
        );
        for r in records {
            if (r.seq - 1) % BLOCK_EVENTS == 0 {
                let offset = self.data_len + buf.len() as u64;
                batch.insert(
                    &block_key((r.seq - 1) / BLOCK_EVENTS),
                    &offset.to_le_bytes(),
                );
            }
            buf.extend_from_slice(&(r.canonical.len() as u32).to_le_bytes());
            buf.extend_from_slice(r.canonical);
            buf.extend_from_slice(&r.hash);
        }
        let io = |e| LogError::io(&self.data_path, e);
        self.data.write_all_at(&buf, self.data_len).map_err(io)?;
        self.data.sync_data().map_err(io)?;
        Ok(self.data_len + buf.len() as u64)
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

    /// Appends `(hash, seq)` entries to the tail chunks of their buckets.
    fn put_entries(
        &self,
        batch: &mut sled::Batch,
        tag: u8,
        entries: impl Iterator<Item = (u64, u64)>,
    ) -> Result<(), LogError> {
        let mut buckets: BTreeMap<u8, Vec<(u64, u64)>> = BTreeMap::new();
        for (hash, seq) in entries {
            buckets
                .entry(bucket_of(hash))
                .or_default()
                .push((hash, seq));
        }
        for (bucket, list) in buckets {
            let (mut chunk, mut buf) = match self.db.scan_prefix([tag, bucket]).next_back() {
                Some(kv) => {
                    let (k, v) = kv?;
                    if k.len() != 6 || v.len() % ENTRY_BYTES != 0 {
                        return Err(LogError::corrupt(format!("index chunk {k:?} is malformed")));
                    }
                    let mut c = [0u8; 4];
                    c.copy_from_slice(&k[2..6]);
                    (u32::from_be_bytes(c), v.to_vec())
                }
                None => (0, Vec::new()),
            };
            for (hash, seq) in list {
                if buf.len() >= CHUNK_ENTRIES * ENTRY_BYTES {
                    batch.insert(&chunk_key(tag, bucket, chunk), std::mem::take(&mut buf));
                    chunk += 1;
                }
                buf.extend_from_slice(&hash.to_be_bytes());
                buf.extend_from_slice(&seq.to_le_bytes());
            }
            batch.insert(&chunk_key(tag, bucket, chunk), buf);
        }
        Ok(())
    }

    fn put_versions(&self, batch: &mut sled::Batch, records: &[Record]) -> Result<(), LogError> {
        let mut buckets: BTreeMap<u8, Vec<(&str, u64)>> = BTreeMap::new();
        for r in records {
            buckets
                .entry(bucket_of(key_hash(r.stream)))
                .or_default()
                .push((r.stream, r.version));
        }
        for (bucket, updates) in buckets {
            let mut versions = self.read_versions(bucket)?;
            for (stream, version) in updates {
                versions.insert(stream.to_owned(), version);
            }
            let mut buf = Vec::new();
            for (stream, version) in &versions {
                buf.extend_from_slice(&(stream.len() as u16).to_le_bytes());
                buf.extend_from_slice(stream.as_bytes());
                buf.extend_from_slice(&version.to_le_bytes());
            }
            batch.insert(&[TAG_VERSION, bucket], buf);
        }
        Ok(())
    }

    fn read_versions(&self, bucket: u8) -> Result<BTreeMap<String, u64>, LogError> {
        let mut out = BTreeMap::new();
        let Some(value) = self.db.get([TAG_VERSION, bucket])? else {
            return Ok(out);
        };
        let corrupt = || LogError::corrupt(format!("stream version bucket {bucket} is malformed"));
        let mut rest: &[u8] = &value;
        while !rest.is_empty() {
            if rest.len() < 2 {
                return Err(corrupt());
            }
            let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
            if rest.len() < 2 + len + 8 {
                return Err(corrupt());
            }
            let name = std::str::from_utf8(&rest[2..2 + len]).map_err(|_| corrupt())?;
            out.insert(name.to_owned(), read_u64_le(&rest[2 + len..]));
            rest = &rest[2 + len + 8..];
        }
        Ok(out)
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

impl Store for SledStore {
    fn meta(&self) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.db.get([TAG_META])?.map(|v| v.to_vec()))
    }

    fn commit(&mut self, set: &CommitSet) -> Result<(), LogError> {
        let mut batch = sled::Batch::default();
        let data_len = self.put_frames(&mut batch, &set.records)?;
        let ids = set.records.iter().map(|r| (key_hash(r.id), r.seq));
        self.put_entries(&mut batch, TAG_ID, ids)?;
        let streams = set.records.iter().map(|r| (key_hash(r.stream), r.seq));
        self.put_entries(&mut batch, TAG_STREAM, streams)?;
        self.put_versions(&mut batch, &set.records)?;
        for (level, index, hash) in &set.nodes {
            batch.insert(&node_key(*level, *index), &hash[..]);
        }
        batch.insert(&[TAG_DATA_LEN], &data_len.to_le_bytes());
        batch.insert(&[TAG_META], set.meta.as_slice());
        // One batch: after a crash either all of it or none of it is recovered; the frames
        // written above count only once the committed length in this batch covers them.
        self.db.apply_batch(batch)?;
        // Explicit fsync: the commit is durable when this returns.
        self.db.flush()?;
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
        self.data
            .read_exact_at(&mut buf, start)
            .map_err(|e| LogError::io(&self.data_path, e))?;
        Ok(Some(Box::new(buf)))
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

    fn id_candidates(&self, ids: &[&str]) -> Result<Vec<Vec<u64>>, LogError> {
        let mut out = vec![Vec::new(); ids.len()];
        let mut wanted: BTreeMap<u8, HashMap<u64, Vec<usize>>> = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            let h = key_hash(id);
            wanted
                .entry(bucket_of(h))
                .or_default()
                .entry(h)
                .or_default()
                .push(i);
        }
        for (bucket, by_hash) in wanted {
            self.scan_bucket(TAG_ID, bucket, &mut |h, seq| {
                if let Some(list) = by_hash.get(&h) {
                    for &i in list {
                        out[i].push(seq);
                    }
                }
            })?;
        }
        Ok(out)
    }

    fn stream_candidates(&self, stream: &str) -> Result<Vec<u64>, LogError> {
        let want = key_hash(stream);
        let mut out = Vec::new();
        self.scan_bucket(TAG_STREAM, bucket_of(want), &mut |h, seq| {
            if h == want {
                out.push(seq);
            }
        })?;
        Ok(out)
    }

    fn stream_versions(&self, streams: &[&str]) -> Result<Vec<u64>, LogError> {
        let mut by_bucket: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for (i, s) in streams.iter().enumerate() {
            by_bucket.entry(bucket_of(key_hash(s))).or_default().push(i);
        }
        let mut out = vec![0; streams.len()];
        for (bucket, list) in by_bucket {
            let versions = self.read_versions(bucket)?;
            for i in list {
                out[i] = versions.get(streams[i]).copied().unwrap_or(0);
            }
        }
        Ok(out)
    }
}
