//! The directory store (log layout 4): the envelope frames in `envelopes` and, beside them,
//! four files of the project's own fixed-width format, so that opening the log reads a
//! few hundred bytes whatever its size and every lookup is a handful of positioned reads.
//!
//! | file | what |
//! |---|---|
//! | `envelopes` | the frames, back to back; the last frame of each commit flagged |
//! | `head` | four 4,096-byte slots (two for commits, two for checkpoints): the indexed length, the stream-record count, the head record, the boot id and a checkpoint flag, checksummed |
//! | `keys` | header, id buckets, then one 40-byte entry per seq |
//! | `streams` | header, stream buckets, then one 40-byte record per distinct stream hash |
//! | `nodes` | stored Merkle nodes (levels >= 8), 32 bytes each, in completion order |
//!
//! The byte layout is in `docs/FORMAT.md` ("The log"). A commit writes the frames, the
//! last one flagged [`FRAME_COMMIT_END`], and syncs them ([`Store::write_frames`]): the
//! commit point, its one sync. It then writes the index entries, buckets, records, nodes
//! and a head slot without a sync; every [`CHECKPOINT_COMMITS`] commits (or
//! [`CHECKPOINT_BYTES`] of frames) it syncs them and writes a checkpoint slot, synced. A
//! head slot records the boot id: unsynced bytes are read back as written within a boot,
//! not after a reboot. The open takes the newest slot it can trust, and indexes the
//! committed frames it finds past it again, from the last checkpoint (whose slot-pair values
//! no later commit writes over).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::VecDeque;

use crate::codec::{Codec, ENVELOPE_DICTIONARY, FRAME_LEVEL};
use crate::fast::{self, key_hash, FastMap, FastSet};
use crate::idfilter::IdFilter;
use crate::log::Frames;
use crate::store::{canonical_into, expand_frame, stored_frame, stored_frames, StoredFrames};
use crate::store::{BlockBytes, CommitSet, Store, BLOCK_EVENTS, NODE_LEVEL_MIN};
use crate::store::{FRAME_COMMIT_END, FRAME_OVERHEAD};
use crate::{Envelope, Hash, LogError};

/// The layout version of the directory store this module writes.
pub const LOG_LAYOUT: u32 = 5;

pub(crate) const HEAD_FILE: &str = "head";
pub(crate) const KEYS_FILE: &str = "keys";
pub(crate) const STREAMS_FILE: &str = "streams";
pub(crate) const NODES_FILE: &str = "nodes";
/// The zstd dictionary of the compressed frames (layout 5); its hash is in every head slot.
pub(crate) const DICT_FILE: &str = "dict";

const HEAD_MAGIC: &[u8; 8] = b"ARLHEAD5";
/// The magic of a layout-4 head slot (four slots, the head record at 64, no dictionary).
const HEAD_MAGIC_4: &[u8; 8] = b"ARLHEAD4";
const HEAD_RECORD_AT_4: usize = 64;
/// The magic of a layout-3 head slot (two slots of the same size, the head record at 40).
const HEAD_MAGIC_3: &[u8; 8] = b"ARLHEAD3";
const HEAD_RECORD_AT_3: usize = 40;
/// Slots of the head file: 0 and 1 take the commits in turn (written, not synced); 2 and 3
/// the checkpoints in turn (written and synced after every index file was synced).
const HEAD_SLOTS: usize = 4;
/// The flag of a head slot that is a checkpoint.
const SLOT_SYNCED: u32 = 1;
/// A commit is a checkpoint when this many commits were made since the last one ...
const CHECKPOINT_COMMITS: u64 = 256;
/// ... or when this many bytes of frames were committed since the last one.
const CHECKPOINT_BYTES: u64 = 4 << 20;
const KEYS_MAGIC: &[u8; 8] = b"ARLKEYS3";
const STREAMS_MAGIC: &[u8; 8] = b"ARLSTRM3";
/// One head slot; the head file holds [`HEAD_SLOTS`].
const HEAD_BYTES: usize = 4096;
/// Bytes of a head slot the checksum covers (the checksum ends the slot).
const HEAD_BODY: usize = HEAD_BYTES - 32;
/// Where the dictionary's hash lies in a slot.
const HEAD_DICT_AT: usize = 64;
/// Where the log's head record starts in a slot.
const HEAD_RECORD_AT: usize = 96;
const HEADER_BYTES: u64 = 4096;
/// Buckets of the id index: the top bits of an id's key hash.
const ID_BUCKET_BITS: u32 = 18;
/// Buckets of the stream registry.
const STREAM_BUCKET_BITS: u32 = 16;
/// Two slots of 8 bytes: the current value and the one before it.
const SLOT_PAIR: u64 = 16;
const ENTRY_BYTES: u64 = 40;
const RECORD_BYTES: u64 = 40;
const NODE_BYTES: u64 = 32;
/// A batch of more ids than this reads and writes the id bucket slots in the writer's
/// mapping of the table, with the new values in an array by bucket ([`BucketTable`]).
/// (The test was once the distinct buckets among the first 8,193 ids, which random ids
/// almost never pass: some of them share a bucket.)
const BULK_IDS: usize = 8192;
/// The magic of the head record `Log` encodes (then seq, hash, recorded_at, root, frontier).
const META_MAGIC: &[u8; 8] = b"ARLLOG02";
/// Zeros written past the frames when a commit reaches the end of the envelope file: the
/// commits after it write into them, and their sync does not change the file's size (on
/// this project's machine a 400-byte write and `fdatasync` took 0.09–0.13 ms inside zeros
/// synced before against 0.13–0.19 ms at the file's end; docs/PERFORMANCE.md). The open
/// reads them as the end of the frames.
const DATA_AHEAD_BYTES: u64 = 64 << 10;

fn id_bucket(hash: u64) -> u64 {
    hash >> (64 - ID_BUCKET_BITS)
}

fn stream_bucket(hash: u64) -> u64 {
    hash >> (64 - STREAM_BUCKET_BITS)
}

const ID_BUCKETS_AT: u64 = HEADER_BYTES;
const ENTRIES_AT: u64 = ID_BUCKETS_AT + (SLOT_PAIR << ID_BUCKET_BITS);
const STREAM_BUCKETS_AT: u64 = HEADER_BYTES;
const RECORDS_AT: u64 = STREAM_BUCKETS_AT + (SLOT_PAIR << STREAM_BUCKET_BITS);

fn entry_at(seq: u64) -> u64 {
    ENTRIES_AT + (seq - 1) * ENTRY_BYTES
}

fn record_at(number: u64) -> u64 {
    RECORDS_AT + (number - 1) * RECORD_BYTES
}

/// Where the stored Merkle node `(level, index)` lies in `nodes`: nodes are stored in the
/// order the tree completes them (as leaves are added, and by level at one leaf), so its
/// position is the number of stored nodes completed before it.
pub(crate) fn node_position(level: u8, index: u64) -> u64 {
    let leaves = (index + 1) << level;
    let before: u64 = (NODE_LEVEL_MIN..64).map(|l| (leaves - 1) >> l).sum::<u64>();
    before + u64::from(level - NODE_LEVEL_MIN)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(x)
}

/// One index entry: where the frame of a seq starts, and the chains it is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) offset: u64,
    pub(crate) id_hash: u64,
    /// The previous seq whose id falls in the same id bucket (0: none).
    pub(crate) id_prev: u64,
    pub(crate) stream_hash: u64,
    /// The previous seq with the same stream hash (0: none).
    pub(crate) stream_prev: u64,
}

impl Entry {
    fn encode(&self) -> [u8; ENTRY_BYTES as usize] {
        let mut b = [0u8; ENTRY_BYTES as usize];
        for (i, v) in [
            self.offset,
            self.id_hash,
            self.id_prev,
            self.stream_hash,
            self.stream_prev,
        ]
        .into_iter()
        .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    fn decode(b: &[u8]) -> Entry {
        Entry {
            offset: u64_at(b, 0),
            id_hash: u64_at(b, 8),
            id_prev: u64_at(b, 16),
            stream_hash: u64_at(b, 24),
            stream_prev: u64_at(b, 32),
        }
    }
}

/// One stream record: a distinct stream hash, the registry chain of its bucket and the
/// latest seq with that hash (two slots).
#[derive(Debug, Clone, Copy, Default)]
struct Record {
    hash: u64,
    /// The record registered before it in the same bucket (0: none).
    bucket_prev: u64,
    latest: [u64; 2],
}

impl Record {
    fn decode(b: &[u8]) -> Record {
        Record {
            hash: u64_at(b, 0),
            bucket_prev: u64_at(b, 8),
            latest: [u64_at(b, 16), u64_at(b, 24)],
        }
    }

    fn encode(&self) -> [u8; RECORD_BYTES as usize] {
        let mut b = [0u8; RECORD_BYTES as usize];
        b[..8].copy_from_slice(&self.hash.to_le_bytes());
        b[8..16].copy_from_slice(&self.bucket_prev.to_le_bytes());
        b[16..24].copy_from_slice(&self.latest[0].to_le_bytes());
        b[24..32].copy_from_slice(&self.latest[1].to_le_bytes());
        b
    }
}

/// The current value of a slot pair: the larger of the two that the committed state
/// covers (`limit`), 0 when neither does.
fn current(pair: [u64; 2], limit: u64) -> u64 {
    pair.into_iter().filter(|v| *v <= limit).max().unwrap_or(0)
}

/// The slot a new value goes to: the one not holding the current value.
fn free_slot(pair: [u64; 2], limit: u64) -> usize {
    let now = current(pair, limit);
    if now != 0 && pair[0] == now {
        1
    } else {
        0
    }
}

/// What a head slot commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    pub(crate) data_len: u64,
    pub(crate) records: u64,
    /// The head's seq (read from `meta`).
    pub(crate) seq: u64,
    /// Counts the commits; of the slots a reader trusts, the one with the largest count is
    /// the head.
    pub(crate) counter: u64,
    /// The log's head record (`"ARLLOG02"` ‖ seq ‖ hash ‖ recorded_at ‖ root ‖ frontier),
    /// empty for the empty log.
    pub(crate) meta: Vec<u8>,
    /// The boot id of the machine when the slot was written (zeros: unknown).
    pub(crate) boot: [u8; 16],
    /// True when every index byte this slot covers was synced before the slot was
    /// written, and the slot itself was synced (a checkpoint).
    pub(crate) synced: bool,
    /// The blake3 hash of `log/dict` (zeros in a slot of layout 3 or 4: no dictionary).
    pub(crate) dict: Hash,
}

impl Committed {
    fn empty() -> Committed {
        Committed {
            data_len: 0,
            records: 0,
            seq: 0,
            counter: 0,
            meta: Vec::new(),
            boot: [0; 16],
            synced: true,
            dict: [0; 32],
        }
    }

    /// The hash of the head envelope (zeros for the empty log).
    fn hash(&self) -> Hash {
        let mut h = [0u8; 32];
        if self.meta.len() >= 48 {
            h.copy_from_slice(&self.meta[16..48]);
        }
        h
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; HEAD_BYTES];
        b[..8].copy_from_slice(HEAD_MAGIC);
        b[8..12].copy_from_slice(&LOG_LAYOUT.to_le_bytes());
        b[12..16].copy_from_slice(&(self.meta.len() as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.data_len.to_le_bytes());
        b[24..32].copy_from_slice(&self.records.to_le_bytes());
        b[32..40].copy_from_slice(&self.counter.to_le_bytes());
        b[40..56].copy_from_slice(&self.boot);
        let flags: u32 = if self.synced { SLOT_SYNCED } else { 0 };
        b[56..60].copy_from_slice(&flags.to_le_bytes());
        b[HEAD_DICT_AT..HEAD_DICT_AT + 32].copy_from_slice(&self.dict);
        b[HEAD_RECORD_AT..HEAD_RECORD_AT + self.meta.len()].copy_from_slice(&self.meta);
        let sum = blake3::hash(&b[..HEAD_BODY]);
        b[HEAD_BODY..].copy_from_slice(sum.as_bytes());
        b
    }

    /// Decodes a slot of layout 5, of layout 4 (`"ARLHEAD4"`, the head record at byte 64,
    /// no dictionary) or of layout 3 (`"ARLHEAD3"`, the head record at byte 40, no boot id
    /// or flags: every layout-3 head was synced).
    pub(crate) fn decode(b: &[u8]) -> Result<Committed, LogError> {
        let bad = |what: &str| LogError::corrupt(format!("the head file: {what}"));
        let (record_at, want_layout) = match b.get(..8) {
            Some(m) if b.len() == HEAD_BYTES && m == HEAD_MAGIC => (HEAD_RECORD_AT, LOG_LAYOUT),
            Some(m) if b.len() == HEAD_BYTES && m == HEAD_MAGIC_4 => (HEAD_RECORD_AT_4, 4),
            Some(m) if b.len() == HEAD_BYTES && m == HEAD_MAGIC_3 => (HEAD_RECORD_AT_3, 3),
            _ => return Err(bad("unknown format")),
        };
        let layout = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if layout != want_layout {
            return Err(bad(&format!(
                "layout {layout}, this arl reads layout {LOG_LAYOUT}"
            )));
        }
        if blake3::hash(&b[..HEAD_BODY]).as_bytes() != &b[HEAD_BODY..] {
            return Err(bad("checksum mismatch"));
        }
        let len = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
        if len > HEAD_BODY - record_at || (len != 0 && len < 48) {
            return Err(bad("the head record's length is out of range"));
        }
        let meta = b[record_at..record_at + len].to_vec();
        let seq = if meta.is_empty() { 0 } else { u64_at(&meta, 8) };
        let mut boot = [0u8; 16];
        let mut synced = true;
        let mut dict = [0u8; 32];
        if layout >= 4 {
            boot.copy_from_slice(&b[40..56]);
            let flags = u32::from_le_bytes([b[56], b[57], b[58], b[59]]);
            if flags & !SLOT_SYNCED != 0 || b[60..64] != [0; 4] {
                return Err(bad("unknown flags"));
            }
            synced = flags & SLOT_SYNCED != 0;
        }
        if layout == LOG_LAYOUT {
            dict.copy_from_slice(&b[HEAD_DICT_AT..HEAD_DICT_AT + 32]);
        }
        Ok(Committed {
            data_len: u64_at(b, 16),
            records: u64_at(b, 24),
            seq,
            counter: u64_at(b, 32),
            meta,
            boot,
            synced,
            dict,
        })
    }

    /// True when the index bytes this slot covers can be read as they are: the slot is a
    /// checkpoint, or it was written during the running boot (bytes written but not synced
    /// are then what every process reads).
    fn trusted(&self, this_boot: Option<[u8; 16]>) -> bool {
        self.synced || this_boot == Some(self.boot)
    }
}

/// The slots of a head file, as read.
struct HeadSlots {
    /// Each slot decoded (an error for a slot never written, cut short or damaged).
    slots: Vec<Result<Committed, LogError>>,
    /// The layout of the file: 5, 4 (four slots of `"ARLHEAD4"`), or 3 (one or two slots).
    layout: u32,
}

/// What an open takes from the head file.
struct Chosen {
    /// The head: of the valid slots this boot trusts, the one with the largest count.
    head: Committed,
    /// The last checkpoint: of the valid synced slots, the one with the largest count.
    anchor: Committed,
    /// The largest count of any valid slot (a new commit counts past it).
    counter: u64,
    /// The largest committed length of any valid slot, trusted or not: the frames up to it
    /// were synced before that slot was written, so the envelope file must chain up to it.
    known_len: u64,
    /// The slot of the last checkpoint (2 or 3; none in a layout-3 file).
    anchor_slot: Option<usize>,
}

fn read_slots(head: &Part) -> Result<HeadSlots, LogError> {
    let len = head.len()?;
    let (count, mut layout) = match len {
        l if l == (HEAD_SLOTS * HEAD_BYTES) as u64 => (HEAD_SLOTS, LOG_LAYOUT),
        l if l == HEAD_BYTES as u64 => (1, 3),
        l if l == 2 * HEAD_BYTES as u64 => (2, 3),
        _ => {
            return Err(LogError::corrupt(format!(
                "{} is {len} bytes, not {HEAD_SLOTS} slots of {HEAD_BYTES}",
                head.path.display()
            )))
        }
    };
    let mut buf = vec![0u8; count * HEAD_BYTES];
    head.read(0, &mut buf)?;
    if layout == LOG_LAYOUT
        && buf
            .chunks_exact(HEAD_BYTES)
            .any(|slot| slot[..8] == *HEAD_MAGIC_4)
    {
        layout = 4;
    }
    let magic = match layout {
        3 => HEAD_MAGIC_3,
        4 => HEAD_MAGIC_4,
        _ => HEAD_MAGIC,
    };
    let slots = buf
        .chunks_exact(HEAD_BYTES)
        .map(|slot| {
            if slot[..8] != *magic {
                return Err(LogError::corrupt("the head file: a slot of another layout"));
            }
            Committed::decode(slot)
        })
        .collect();
    Ok(HeadSlots { slots, layout })
}

/// The head and the last checkpoint of a head file. A slot that fails its checksum is one
/// whose write a crash cut short, or a damaged one; a slot written during another boot
/// without a sync may cover index bytes a power loss lost or tore, and is passed over.
fn choose(slots: &HeadSlots, this_boot: Option<[u8; 16]>) -> Result<Chosen, LogError> {
    let valid = || {
        slots
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().ok().map(|c| (i, c)))
    };
    let newest = |keep: &dyn Fn(&Committed) -> bool| {
        valid()
            .filter(|(_, c)| keep(c))
            .max_by_key(|(_, c)| c.counter)
            .map(|(i, c)| (i, c.clone()))
    };
    let Some((_, head)) = newest(&|c| c.trusted(this_boot)) else {
        return Err(match slots.slots.iter().find_map(|s| s.as_ref().err()) {
            Some(e) => LogError::corrupt(e.to_string()),
            None => LogError::corrupt("the head file holds no slot to trust"),
        });
    };
    let Some((anchor_slot, anchor)) = newest(&|c| c.synced) else {
        return Err(LogError::corrupt("the head file holds no checkpoint"));
    };
    let counter = valid().map(|(_, c)| c.counter).max().unwrap_or(0);
    let known_len = valid().map(|(_, c)| c.data_len).max().unwrap_or(0);
    Ok(Chosen {
        head,
        anchor,
        counter,
        known_len,
        anchor_slot: (slots.layout >= 4).then_some(anchor_slot),
    })
}

/// A head file of layout 5 holding one checkpoint, `committed`, in slot 2.
fn head_file(committed: &Committed) -> Vec<u8> {
    let mut bytes = vec![0u8; HEAD_SLOTS * HEAD_BYTES];
    bytes[2 * HEAD_BYTES..3 * HEAD_BYTES].copy_from_slice(&committed.encode());
    bytes
}

fn header(magic: &[u8; 8], bucket_bits: u32, item_bytes: u64, layout: u32) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&layout.to_le_bytes());
    h[12..16].copy_from_slice(&bucket_bits.to_le_bytes());
    h[16..24].copy_from_slice(&item_bytes.to_le_bytes());
    h
}

/// A file of the store with its path, for messages, and the writes of a commit staged
/// for it.
struct Part {
    /// Shared with the readers made of this store ([`Store::reader`]): a reader per commit
    /// costs no system call.
    file: Arc<File>,
    path: PathBuf,
    staged: std::cell::RefCell<Vec<(u64, Vec<u8>)>>,
    /// Slot values of a large batch over the mapped bucket table (offset of the slot, its
    /// new value), written before the byte writes of `staged`, in the order staged.
    staged_slots: std::cell::RefCell<Vec<(u64, u64)>>,
    /// The bucket table of `keys` or `streams`, mapped by the log's writer.
    mirror: std::cell::RefCell<Mirror>,
}

/// A part's bucket table mapped into memory by the log's writer (the only process writing
/// the file, under the ledger's exclusive lock) once it has read [`MIRROR_AFTER_READS`]
/// slot pairs, or at its first batch of more than [`BULK_IDS`] ids (which reads and writes
/// its slots there, [`BucketTable`]): a long-lived writer (the server) then reads a bucket's
/// slot pair, about seven times per event appended, and writes the slots a commit moves,
/// about two per event, without a system call. The mapping is shared with the file's
/// pages, so positioned reads and writes (of this process's readers, of other processes,
/// of the writes that straddle the table) and the mapping see the same bytes, and the
/// checkpoint's `fdatasync` of the file writes the pages dirtied through it. Readers of
/// the log ([`Store::reader`]) map nothing.
#[derive(Default)]
struct Mirror {
    /// The table's bytes in the file: `at..at + len` (`len` 0: none is mapped).
    at: u64,
    len: u64,
    /// Reads within the table so far, while it is not mapped.
    reads: u64,
    /// The file's bytes `0..at + len`, once mapped.
    map: Option<memmap2::MmapMut>,
}

impl Mirror {
    /// Whether the bytes `offset..offset + len` lie within the table kept.
    fn covers(&self, offset: u64, len: u64) -> bool {
        self.len > 0 && offset >= self.at && offset + len <= self.at + self.len
    }
}

/// Maps the first `len` bytes of the writer's `file` for reading and writing.
///
/// Safety rests on the ledger's locking and on how the log writes its index files: the
/// caller holds the exclusive lock, so no other process writes the file (readers only
/// read it); the file holds at least `len` bytes, its blocks allocated (the caller wrote
/// them just before), and the log never shortens its index files, so no access through the
/// map falls past the end of the file or needs a block the file system could fail to
/// allocate; the map is dropped with the writer's store.
#[allow(
    unsafe_code,
    reason = "the writer's map of its bucket tables; its safety is argued above"
)]
fn map_table(file: &File, len: u64) -> std::io::Result<memmap2::MmapMut> {
    let len = usize::try_from(len).map_err(|_| std::io::Error::other("too large to map"))?;
    // SAFETY: see above.
    unsafe { memmap2::MmapOptions::new().len(len).map_mut(file) }
}

/// Reads within a bucket table after which a writer maps it: a one-event append process
/// reads a few dozen slot pairs and never pays the table's write-over (4 MiB for the ids);
/// a server maps both tables within its first few hundred appends.
const MIRROR_AFTER_READS: u64 = 4096;

/// The committed bytes of a [`Part`], for reading from several threads.
#[derive(Clone, Copy)]
struct PartBytes<'a> {
    file: &'a File,
    path: &'a Path,
}

impl PartBytes<'_> {
    /// Fills `buf` from `offset`; bytes past the end of the file read as zeros.
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), LogError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    buf[done..].fill(0);
                    return Ok(());
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LogError::io(self.path, e)),
            }
        }
        Ok(())
    }
}

/// Staged writes closer than this are merged into one, the bytes between read from the
/// file: a commit writes a few runs instead of one write per slot.
const MERGE_GAP: u64 = 4096;

impl Part {
    fn open(dir: &Path, name: &str) -> Result<Part, LogError> {
        let path = dir.join(name);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(|e| LogError::io(&path, e))?;
        Ok(Part {
            file: Arc::new(file),
            path,
            staged: std::cell::RefCell::new(Vec::new()),
            staged_slots: std::cell::RefCell::new(Vec::new()),
            mirror: Default::default(),
        })
    }

    /// Maps the bytes `at..at + len` (a bucket table) once they have been read often
    /// enough ([`Mirror`]). For the log's writer only.
    fn mirror_table(&mut self, at: u64, len: u64) {
        *self.mirror.get_mut() = Mirror {
            at,
            len,
            reads: 0,
            map: None,
        };
    }

    /// Maps the table: its bytes are first written over with themselves, which allocates
    /// every block of it (a sparse table has holes) and makes the file at least as long.
    /// When the system refuses the map, the table is read and written with positioned
    /// calls, as before it was mapped.
    fn map_mirror(&self, mirror: &mut Mirror) -> Result<(), LogError> {
        let mut bytes = vec![0u8; mirror.len as usize];
        self.bytes().read(mirror.at, &mut bytes)?;
        arl_io::write_at(&self.file, &self.path, &bytes, mirror.at)
            .map_err(|e| LogError::io(&self.path, e))?;
        match map_table(&self.file, mirror.at + mirror.len) {
            Ok(map) => mirror.map = Some(map),
            Err(_) => *mirror = Mirror::default(),
        }
        Ok(())
    }

    /// Fills `buf` from the mirrored table when it lies within it and the table is (or
    /// now gets) kept; `false`: read it from the file.
    fn read_mirrored(&self, offset: u64, buf: &mut [u8]) -> Result<bool, LogError> {
        let mut mirror = self.mirror.borrow_mut();
        if !mirror.covers(offset, buf.len() as u64) {
            return Ok(false);
        }
        if mirror.map.is_none() {
            mirror.reads += 1;
            if mirror.reads < MIRROR_AFTER_READS {
                return Ok(false);
            }
            self.map_mirror(&mut mirror)?;
        }
        let from = offset as usize;
        match &mirror.map {
            Some(map) => buf.copy_from_slice(&map[from..from + buf.len()]),
            None => return Ok(false),
        }
        Ok(true)
    }

    /// Keeps a write for [`Part::write_staged`].
    fn stage(&self, offset: u64, bytes: Vec<u8>) {
        self.staged.borrow_mut().push((offset, bytes));
    }

    /// Keeps the write of one 8-byte slot of the mapped table for [`Part::write_staged`].
    fn stage_slot(&self, offset: u64, value: u64) {
        self.staged_slots.borrow_mut().push((offset, value));
    }

    /// Forgets every staged write.
    fn clear_staged(&self) {
        self.staged.borrow_mut().clear();
        self.staged_slots.borrow_mut().clear();
    }

    /// Whether the bytes `offset..offset + len` are in the mapped table, mapping it now
    /// when they lie within the table it keeps ([`Mirror`]) but it is not mapped yet: a
    /// large batch reads and writes its slots there one by one.
    fn mapped(&self, offset: u64, len: u64) -> Result<bool, LogError> {
        let mut mirror = self.mirror.borrow_mut();
        if !mirror.covers(offset, len) {
            return Ok(false);
        }
        if mirror.map.is_none() {
            self.map_mirror(&mut mirror)?;
        }
        Ok(mirror.map.is_some())
    }

    /// Writes the staged slots, then the staged writes in offset order, merged into runs;
    /// a later write to the same bytes wins. Returns whether anything was written.
    fn write_staged(&self) -> Result<bool, LogError> {
        let slots = std::mem::take(&mut *self.staged_slots.borrow_mut());
        for &(offset, value) in &slots {
            self.write(offset, &value.to_le_bytes())?;
        }
        let mut writes = std::mem::take(&mut *self.staged.borrow_mut());
        if writes.is_empty() {
            return Ok(!slots.is_empty());
        }
        writes.sort_by_key(|w| w.0);
        let mut run: Option<(u64, Vec<u8>)> = None;
        for (offset, bytes) in writes {
            if let Some((start, buf)) = &mut run {
                let end = *start + buf.len() as u64;
                if offset <= end + MERGE_GAP {
                    if offset > end {
                        let old = buf.len();
                        buf.resize(old + (offset - end) as usize, 0);
                        self.read(end, &mut buf[old..])?;
                    }
                    let at = (offset - *start) as usize;
                    if buf.len() < at + bytes.len() {
                        buf.resize(at + bytes.len(), 0);
                    }
                    buf[at..at + bytes.len()].copy_from_slice(&bytes);
                    continue;
                }
                self.write(*start, buf)?;
            }
            run = Some((offset, bytes));
        }
        if let Some((start, buf)) = run {
            self.write(start, &buf)?;
        }
        Ok(true)
    }

    fn len(&self) -> Result<u64, LogError> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| LogError::io(&self.path, e))?
            .len())
    }

    /// Reads `buf.len()` bytes at `offset`; bytes past the end of the file read as zeros
    /// (the bucket tables are sparse).
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), LogError> {
        if self.read_mirrored(offset, buf)? {
            return Ok(());
        }
        self.bytes().read(offset, buf)
    }

    /// Reads of the file's bytes, which other threads may share (staged writes are not
    /// seen: readers read what is committed).
    fn bytes(&self) -> PartBytes<'_> {
        PartBytes {
            file: &self.file,
            path: &self.path,
        }
    }

    fn write(&self, offset: u64, bytes: &[u8]) -> Result<(), LogError> {
        let mut mirror = self.mirror.borrow_mut();
        let covered = mirror.covers(offset, bytes.len() as u64);
        if let Some(map) = mirror.map.as_mut().filter(|_| covered) {
            map[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
            return Ok(());
        }
        arl_io::write_at(&self.file, &self.path, bytes, offset).map_err(|e| {
            // What the file holds is unknown: map none of it.
            *mirror = Mirror::default();
            LogError::io(&self.path, e)
        })
    }

    fn sync(&self) -> Result<(), LogError> {
        arl_io::sync_data(&self.file, &self.path).map_err(|e| LogError::io(&self.path, e))
    }

    fn pair(&self, at: u64) -> Result<[u64; 2], LogError> {
        let mut b = [0u8; 16];
        self.read(at, &mut b)?;
        Ok([u64_at(&b, 0), u64_at(&b, 8)])
    }

    /// Checks (or, on an empty file, writes) the header: one of `layouts`.
    fn check_header(
        &self,
        magic: &[u8; 8],
        bucket_bits: u32,
        item_bytes: u64,
        layouts: &[u32],
    ) -> Result<(), LogError> {
        if self.len()? == 0 {
            self.write(0, &header(magic, bucket_bits, item_bytes, LOG_LAYOUT))?;
            return self.sync();
        }
        let mut got = vec![0u8; HEADER_BYTES as usize];
        self.read(0, &mut got)?;
        if !layouts
            .iter()
            .any(|l| got == header(magic, bucket_bits, item_bytes, *l))
        {
            return Err(LogError::corrupt(format!(
                "{} has an unknown header",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// The store of a ledger directory's log: see the module comment.
pub struct DirStore {
    dir: PathBuf,
    data: Part,
    head: Part,
    keys: Part,
    streams: Part,
    nodes: Part,
    committed: Committed,
    /// The last checkpoint: a slot pair's value current at it is never written over before
    /// the next checkpoint, so that an open after a power loss can start from it.
    anchor: Committed,
    /// The head slot (2 or 3) holding `anchor`, `None` before the first checkpoint of a
    /// log converted from layout 3.
    anchor_slot: Option<usize>,
    /// The largest count of any slot written: the next commit counts past it.
    counter: u64,
    /// The running boot's id (`None`: unknown, and every commit is a checkpoint).
    boot: Option<[u8; 16]>,
    /// Index bytes were written since the last checkpoint.
    dirty: bool,
    /// The codec of the compressed frames (`log/dict`); `None` for a log of layout 3 or 4
    /// opened to be upgraded, which holds none.
    codec: Option<&'static Codec>,
    /// Committed frames past the head that the open found, not yet indexed, in their
    /// canonical form (see [`Store::take_unindexed`]).
    unindexed: Option<Vec<u8>>,
    /// Of each of those frames: its canonical length, and where it lies in the envelope
    /// file (start, end); [`Store::adopt_frames`] takes them from the front.
    unindexed_frames: VecDeque<(u64, u64, u64)>,
    /// The frames `write_frames` wrote (or `adopt_frames` took), not yet committed.
    written: Option<Written>,
    /// Set when a write or sync failed once the frames were synced: what is on disk is
    /// then unknown until the log is opened again, and this handle writes nothing more.
    failed: bool,
    /// The length of the envelope file: the committed frames, then zeros written ahead
    /// ([`DATA_AHEAD_BYTES`]) so that a commit's sync does not also change the file's size.
    data_file_len: u64,
    /// A reader of what was committed when it was made ([`Store::reader`]): writes nothing.
    read_only: bool,
    /// The writer's filter of the ids the log holds, once a lookup of many ids built it
    /// ([`IdFilter`]); every commit adds its ids.
    id_filter: std::cell::RefCell<Option<IdFilter>>,
    /// The writer's stream versions ([`KeptVersions`]).
    kept_versions: std::cell::RefCell<KeptVersions>,
    /// The writer's stream records ([`KeptRecords`]).
    kept_records: std::cell::RefCell<KeptRecords>,
}

/// Stream records a writer read or committed, by stream hash, each with its number and as
/// the file holds it after the last commit, so that the plan of a batch (the latest seq of
/// each of its streams) and its commit (each stream's record moved to its new latest seq)
/// find a stream's record without reading it: each was a positioned read per stream per
/// batch, twice, once the bucket table was mapped (18% of an 8M-line import's reads).
/// Only the writer writes the file, under the exclusive lock, so a record kept stays what
/// the file holds; the records a commit writes are taken in once it has succeeded, and a
/// failed commit, or a recovery that clears slots, forgets them all. Emptied when it
/// reaches [`KEPT_RECORDS_MAX`] records.
#[derive(Default)]
struct KeptRecords {
    by_hash: FastMap<u64, (u64, Record)>,
    /// The records the commit under way writes: `(number, record)`.
    pending: Vec<(u64, Record)>,
}

/// Stream records a writer keeps at most (about 8 MB).
const KEPT_RECORDS_MAX: usize = 1 << 17;

impl KeptRecords {
    fn get(&self, hash: u64) -> Option<(u64, Record)> {
        self.by_hash.get(&hash).copied()
    }

    fn keep(&mut self, number: u64, record: Record) {
        if self.by_hash.len() >= KEPT_RECORDS_MAX && !self.by_hash.contains_key(&record.hash) {
            self.by_hash.clear();
        }
        self.by_hash.insert(record.hash, (number, record));
    }

    /// Takes in the records of the commit that has just succeeded.
    fn committed(&mut self) {
        for (number, record) in std::mem::take(&mut self.pending) {
            self.keep(number, record);
        }
    }

    fn forget(&mut self) {
        self.by_hash.clear();
        self.pending.clear();
    }
}

/// Stream versions a writer committed or read, by stream name, each with the latest seq of
/// the stream's key hash at the time: while that seq is still the hash's latest, nothing of
/// the stream (nor of another stream on its hash) was appended since, and the version holds,
/// so the plan of the next batch takes it instead of reading and parsing the stream's latest
/// envelope (a frame expanded per stream per batch: at 4M events most of them not in the
/// page cache). Emptied when it reaches [`KEPT_VERSIONS_MAX`] streams.
#[derive(Default)]
struct KeptVersions {
    by_name: FastMap<Box<str>, (u64, u64)>,
}

/// Streams whose versions a writer keeps at most (about 4 MB).
const KEPT_VERSIONS_MAX: usize = 1 << 16;

impl KeptVersions {
    /// The version of `name` when `latest` is still the seq kept with it.
    fn get(&self, name: &str, latest: u64) -> Option<u64> {
        match self.by_name.get(name) {
            Some(&(seq, version)) if seq == latest => Some(version),
            _ => None,
        }
    }

    fn keep(&mut self, name: &str, latest: u64, version: u64) {
        if let Some(kept) = self.by_name.get_mut(name) {
            *kept = (latest, version);
            return;
        }
        if self.by_name.len() >= KEPT_VERSIONS_MAX {
            self.by_name.clear();
        }
        self.by_name.insert(name.into(), (latest, version));
    }

    /// Keeps the versions a commit gave its streams, with the last seq of each hash in it.
    fn committed(&mut self, set: &CommitSet) {
        let mut last: FastMap<u64, u64> = fast::map_with_capacity(set.versions.len());
        for &(hash, seq) in set.streams {
            let at = last.entry(hash).or_insert(seq);
            *at = (*at).max(seq);
        }
        for (name, hash, version) in set.versions {
            if let Some(&seq) = last.get(hash) {
                self.keep(name, seq, *version);
            }
        }
    }
}

/// [`crate::committed_len_on_disk`]: the committed length of the envelope file as the head
/// file says, read without opening anything for writing.
pub(crate) fn committed_len_read_only(log_dir: &Path) -> Result<Option<u64>, LogError> {
    let data_path = log_dir.join(crate::store::ENVELOPE_FILE);
    let data = match File::open(&data_path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(&data_path, e)),
    };
    let file_len = data
        .metadata()
        .map_err(|e| LogError::io(&data_path, e))?
        .len();
    let head_path = log_dir.join(HEAD_FILE);
    let head_file = match File::open(&head_path) {
        Ok(file) => file,
        // Layout 2 keeps no zeros ahead: its file's length is its committed length.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(file_len)),
        Err(e) => return Err(LogError::io(&head_path, e)),
    };
    let head = Part {
        file: Arc::new(head_file),
        path: head_path,
        staged: Default::default(),
        staged_slots: Default::default(),
        mirror: Default::default(),
    };
    let Ok(chosen) = read_slots(&head).and_then(|slots| choose(&slots, arl_io::boot_id())) else {
        return Ok(Some(u64::MAX));
    };
    let data_len = chosen.head.data_len;
    if file_len < data_len {
        return Ok(Some(u64::MAX));
    }
    if file_len > data_len {
        let mut field = [0u8; 4];
        let bytes = PartBytes {
            file: &data,
            path: &data_path,
        };
        bytes.read(data_len, &mut field)?;
        if field != [0; 4] {
            return Ok(Some(u64::MAX));
        }
    }
    Ok(Some(data_len))
}

/// True when `log_dir` holds a log of layout 2 (a sled index and no head file).
pub fn is_layout_2(log_dir: &Path) -> bool {
    log_dir.join(crate::store::INDEX_DIR).is_dir() && !log_dir.join(HEAD_FILE).exists()
}

/// Frames written past the committed length: where each starts, and where the last ends.
struct Written {
    offsets: Vec<u64>,
    end: u64,
}

/// The layout of the log in `log_dir` when it is 3 (a head file of one or two slots) or 4
/// (four slots of `"ARLHEAD4"`): the directory-store layouts before this one.
pub fn older_dir_layout(log_dir: &Path) -> Option<u32> {
    let path = log_dir.join(HEAD_FILE);
    let len = std::fs::metadata(&path).ok()?.len();
    if len == HEAD_BYTES as u64 || len == 2 * HEAD_BYTES as u64 {
        return Some(3);
    }
    if len != (HEAD_SLOTS * HEAD_BYTES) as u64 {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    bytes
        .chunks_exact(HEAD_BYTES)
        .any(|slot| slot[..8] == *HEAD_MAGIC_4)
        .then_some(4)
}

/// Reads `log/dict` and checks it against the hash the head records.
fn read_dictionary(dir: &Path, want: &Hash) -> Result<&'static Codec, LogError> {
    let path = dir.join(DICT_FILE);
    let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LogError::corrupt(format!(
            "{} is missing: the frames cannot be read without it",
            path.display()
        )),
        _ => LogError::io(&path, e),
    })?;
    if blake3::hash(&bytes).as_bytes() != want {
        return Err(LogError::corrupt(format!(
            "{} does not match the hash the head records: the frames cannot be read with it",
            path.display()
        )));
    }
    Codec::of(&bytes, FRAME_LEVEL)
        .map_err(|e| LogError::corrupt(format!("{}: {e}", path.display())))
}

/// Writes the dictionary of a new log (or of one being upgraded) into `log/dict`, synced.
fn write_dictionary(dir: &Path) -> Result<Hash, LogError> {
    let part = Part::open(dir, DICT_FILE)?;
    arl_io::set_len(&part.file, &part.path, 0).map_err(|e| LogError::io(&part.path, e))?;
    part.write(0, ENVELOPE_DICTIONARY)?;
    part.sync()?;
    arl_io::sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
    Ok(*blake3::hash(ENVELOPE_DICTIONARY).as_bytes())
}

impl DirStore {
    /// Opens (or creates) the store in the log directory `dir`. A log of an older layout
    /// is refused with [`LogError::OldLayout`].
    pub fn open(dir: &Path) -> Result<DirStore, LogError> {
        DirStore::open_with(dir, false)
    }

    /// Opens the store; `upgrading` also opens a log of layout 3 or 4 (for
    /// [`upgrade_in_place`]).
    fn open_with(dir: &Path, upgrading: bool) -> Result<DirStore, LogError> {
        if is_layout_2(dir) {
            return Err(LogError::OldLayout {
                path: dir.to_path_buf(),
                layout: 2,
            });
        }
        let head_path = dir.join(HEAD_FILE);
        let created = !head_path.exists();
        let data = Part::open(dir, crate::store::ENVELOPE_FILE)?;
        let keys = Part::open(dir, KEYS_FILE)?;
        let streams = Part::open(dir, STREAMS_FILE)?;
        let nodes = Part::open(dir, NODES_FILE)?;
        let older = if created { None } else { older_dir_layout(dir) };
        if let (Some(layout), false) = (older, upgrading) {
            return Err(LogError::OldLayout {
                path: dir.to_path_buf(),
                layout,
            });
        }
        let layouts: &[u32] = if upgrading {
            &[3, 4, LOG_LAYOUT]
        } else {
            &[LOG_LAYOUT]
        };
        keys.check_header(KEYS_MAGIC, ID_BUCKET_BITS, ENTRY_BYTES, layouts)?;
        streams.check_header(STREAMS_MAGIC, STREAM_BUCKET_BITS, RECORD_BYTES, layouts)?;
        if created && data.len()? != 0 {
            return Err(LogError::corrupt(format!(
                "{} is missing beside {} bytes of envelopes",
                head_path.display(),
                data.len()?
            )));
        }
        if created {
            // The dictionary first: a head file names it.
            let dict = write_dictionary(dir)?;
            let head = Part::open(dir, HEAD_FILE)?;
            head.write(
                0,
                &head_file(&Committed {
                    dict,
                    ..Committed::empty()
                }),
            )?;
            head.sync()?;
            arl_io::sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        }
        let head = Part::open(dir, HEAD_FILE)?;
        let slots = read_slots(&head)?;
        let boot = arl_io::boot_id();
        let chosen = choose(&slots, boot)?;
        let codec = if slots.layout == LOG_LAYOUT {
            Some(read_dictionary(dir, &chosen.head.dict)?)
        } else {
            None
        };
        let mut store = DirStore {
            dir: dir.to_path_buf(),
            data,
            head,
            keys,
            streams,
            nodes,
            committed: chosen.head,
            anchor: chosen.anchor,
            anchor_slot: chosen.anchor_slot,
            counter: chosen.counter,
            boot,
            dirty: false,
            codec,
            unindexed: None,
            unindexed_frames: VecDeque::new(),
            written: None,
            failed: false,
            data_file_len: 0,
            read_only: false,
            id_filter: Default::default(),
            kept_versions: Default::default(),
            kept_records: Default::default(),
        };
        store.recover(slots.layout, chosen.known_len)?;
        store.data_file_len = store.data.len()?;
        (store.keys).mirror_table(ID_BUCKETS_AT, SLOT_PAIR << ID_BUCKET_BITS);
        (store.streams).mirror_table(STREAM_BUCKETS_AT, SLOT_PAIR << STREAM_BUCKET_BITS);
        Ok(store)
    }

    /// Finds what lies past the head in the envelope file. In layouts 4 and 5 the frames up to the
    /// last one marked [`FRAME_COMMIT_END`] that chain from the head are committed: they
    /// are synced and kept for the log to index ([`Store::take_unindexed`]), from the last
    /// checkpoint on; anything after them (a batch whose sync never returned) is cut off. In layout 3 nothing past the
    /// head is committed: the bucket and record slots the cut frames may have written are
    /// cleared (their frames name them), then the frames are cut off.
    fn recover(&mut self, layout: u32, known_len: u64) -> Result<(), LogError> {
        let file_len = self.data.len()?;
        let data_len = self.committed.data_len;
        if file_len < data_len {
            return Err(LogError::corrupt(format!(
                "{} holds {file_len} bytes, the head says {data_len} are committed",
                self.data.path.display()
            )));
        }
        if file_len == data_len {
            return Ok(());
        }
        let mut tail = vec![0u8; (file_len - data_len) as usize];
        self.data.read(data_len, &mut tail)?;
        let mut prev = self.committed.hash();
        let mut end = 0usize;
        let mut cut = Vec::new();
        // The frames in canonical form, and where each lies in the file.
        let mut expanded = Vec::new();
        let mut places = VecDeque::new();
        let mut expanded_end = 0;
        let mut places_end = 0;
        let mut at = 0;
        let mut seq = self.committed.seq + 1;
        while at < tail.len() {
            let Ok(frame) = stored_frame(&tail, at) else {
                break;
            };
            let start = expanded.len();
            if expand_frame(&frame, self.codec, &mut expanded).is_err() {
                break;
            }
            let canonical = &expanded[start + 4..expanded.len() - 32];
            let Ok(envelope) = Envelope::from_canonical(canonical, frame.hash) else {
                break;
            };
            if layout >= 4
                && (envelope.seq != seq || crate::chain_hash(&prev, canonical) != frame.hash)
            {
                break;
            }
            prev = frame.hash;
            cut.push((key_hash(&envelope.id), key_hash(&envelope.stream)));
            places.push_back((
                (expanded.len() - start) as u64,
                data_len + at as u64,
                data_len + frame.end as u64,
            ));
            at = frame.end;
            seq += 1;
            if layout >= 4 && frame.field & FRAME_COMMIT_END != 0 {
                end = at;
                expanded_end = expanded.len();
                places_end = places.len();
                cut.clear();
            }
        }
        if data_len + (end as u64) < known_len {
            // Frames a head slot says were synced do not chain: damage, not a crash.
            return Err(LogError::corrupt(format!(
                "{} does not chain from its head at byte {data_len} up to the {known_len} bytes a head slot committed",
                self.data.path.display()
            )));
        }
        if layout == 3 {
            for &(id_hash, stream_hash) in &cut {
                self.clear_beyond(id_hash, stream_hash)?;
            }
            if !cut.is_empty() {
                self.keys.sync()?;
                self.streams.sync()?;
            }
        }
        // Past the last commit: nothing, or the zeros a commit wrote ahead (kept), or the
        // frames of a batch whose sync never returned (cut off).
        let ahead_only = tail[end..].iter().all(|&b| b == 0);
        if data_len + (end as u64) < file_len && !ahead_only {
            arl_io::set_len(&self.data.file, &self.data.path, data_len + end as u64)
                .map_err(|e| LogError::io(&self.data.path, e))?;
            arl_io::sync_all(&self.data.file, &self.data.path)
                .map_err(|e| LogError::io(&self.data.path, e))?;
        } else if end > 0 {
            // The frames may not be durable yet (their writer may have stopped before its
            // sync): they are made so before anything counts on them.
            self.data.sync()?;
        }
        if end > 0 && self.committed.counter != self.anchor.counter {
            // Commits past the head wrote index bytes over slots the head's own values may
            // be in; the values current at the last checkpoint are never written over
            // before the next one: the frames are indexed again from there.
            self.committed = self.anchor.clone();
            return self.recover(layout, known_len);
        }
        if end > 0 {
            expanded.truncate(expanded_end);
            places.truncate(places_end);
            self.unindexed = Some(expanded);
            self.unindexed_frames = places;
        }
        Ok(())
    }

    /// Cuts the envelope file back to the committed length (after a commit that failed
    /// before its index was written).
    fn cut_tail(&mut self) -> Result<(), LogError> {
        self.written = None;
        self.data_file_len = self.committed.data_len;
        arl_io::set_len(&self.data.file, &self.data.path, self.committed.data_len)
            .map_err(|e| LogError::io(&self.data.path, e))?;
        arl_io::sync_all(&self.data.file, &self.data.path)
            .map_err(|e| LogError::io(&self.data.path, e))
    }

    /// Sets to 0 the slots of this id's and stream's buckets (and stream record) that hold
    /// values past the committed state.
    fn clear_beyond(&self, id_hash: u64, stream_hash: u64) -> Result<(), LogError> {
        let seq = self.committed.seq;
        let at = ID_BUCKETS_AT + id_bucket(id_hash) * SLOT_PAIR;
        clear_pair(&self.keys, at, self.keys.pair(at)?, seq)?;
        let at = STREAM_BUCKETS_AT + stream_bucket(stream_hash) * SLOT_PAIR;
        clear_pair(
            &self.streams,
            at,
            self.streams.pair(at)?,
            self.committed.records,
        )?;
        // The records as the file holds them, before and after the slots are cleared.
        self.kept_records.borrow_mut().forget();
        if let Some((number, record)) = self.find_record(stream_hash)? {
            clear_pair(&self.streams, record_at(number) + 16, record.latest, seq)?;
        }
        self.kept_records.borrow_mut().forget();
        Ok(())
    }

    fn entry(&self, seq: u64) -> Result<Entry, LogError> {
        if seq == 0 || seq > self.committed.seq {
            return Err(LogError::corrupt(format!(
                "the index leads to seq {seq}, past the head {}",
                self.committed.seq
            )));
        }
        let mut b = [0u8; ENTRY_BYTES as usize];
        self.keys.read(entry_at(seq), &mut b)?;
        Ok(Entry::decode(&b))
    }

    fn record(&self, number: u64) -> Result<Record, LogError> {
        let mut b = [0u8; RECORD_BYTES as usize];
        self.streams.read(record_at(number), &mut b)?;
        Ok(Record::decode(&b))
    }

    /// The committed record of a stream hash, with its number.
    fn find_record(&self, hash: u64) -> Result<Option<(u64, Record)>, LogError> {
        if let Some(kept) = self.kept_records.borrow().get(hash) {
            return Ok(Some(kept));
        }
        let limit = self.committed.records;
        let mut number = current(
            self.streams
                .pair(STREAM_BUCKETS_AT + stream_bucket(hash) * SLOT_PAIR)?,
            limit,
        );
        let mut steps = 0u64;
        while number != 0 {
            let record = self.record(number)?;
            if record.hash == hash {
                if !self.read_only {
                    self.kept_records.borrow_mut().keep(number, record);
                }
                return Ok(Some((number, record)));
            }
            if record.bucket_prev >= number || steps > limit {
                return Err(LogError::corrupt(format!(
                    "stream record {number} chains forward"
                )));
            }
            number = record.bucket_prev;
            steps += 1;
        }
        Ok(None)
    }

    /// The latest committed seq whose stream hash is `hash`.
    fn stream_latest(&self, hash: u64) -> Result<u64, LogError> {
        Ok(match self.find_record(hash)? {
            Some((_, record)) => current(record.latest, self.committed.seq),
            None => 0,
        })
    }

    /// The offset of the frame of `seq` (or the committed length past the head).
    fn offset_of(&self, seq: u64) -> Result<u64, LogError> {
        if seq > self.committed.seq {
            return Ok(self.committed.data_len);
        }
        Ok(self.entry(seq)?.offset)
    }

    /// Reads one committed frame's envelope.
    fn envelope(&self, seq: u64) -> Result<Envelope, LogError> {
        let start = self.offset_of(seq)?;
        let end = self.offset_of(seq + 1)?;
        if start > end || end > self.committed.data_len {
            return Err(LogError::corrupt(format!(
                "the frame of seq {seq} spans {start}..{end}, beyond the envelope file"
            )));
        }
        let mut buf = vec![0u8; (end - start) as usize];
        self.read_data(start, &mut buf)?;
        let bad = |e: String| LogError::corrupt(format!("seq {seq}: {e}"));
        let frame = stored_frame(&buf, 0).map_err(bad)?;
        let mut canonical = Vec::new();
        canonical_into(&frame, self.codec, &mut canonical).map_err(bad)?;
        Envelope::from_canonical(&canonical, frame.hash).map_err(bad)
    }

    /// Writes the index of a batch: entries, id buckets, stream records and buckets.
    fn write_index(&self, set: &CommitSet, offsets: &[u64]) -> Result<u64, LogError> {
        let base = self.committed.seq;
        let n = offsets.len();
        let mut id_hashes = vec![0u64; n];
        let mut stream_hashes = vec![0u64; n];
        for (list, out) in [(set.ids, &mut id_hashes), (set.streams, &mut stream_hashes)] {
            for &(hash, seq) in list {
                let slot = seq
                    .checked_sub(base + 1)
                    .map(|i| i as usize)
                    .filter(|i| *i < n)
                    .ok_or_else(|| LogError::corrupt("a key of the commit is past its batch"))?;
                out[slot] = hash;
            }
        }
        let mut entries: Vec<Entry> = (0..n)
            .map(|i| Entry {
                offset: offsets[i],
                id_hash: id_hashes[i],
                stream_hash: stream_hashes[i],
                ..Entry::default()
            })
            .collect();
        self.link_ids(base, &mut entries)?;
        let records = self.link_streams(base, &mut entries)?;
        self.filter_ids(&entries);
        let mut bytes = Vec::with_capacity(n * ENTRY_BYTES as usize);
        for e in &entries {
            bytes.extend_from_slice(&e.encode());
        }
        self.keys.stage(entry_at(base + 1), bytes);
        Ok(records)
    }

    /// Sets each entry's `id_prev` and writes the new current value of each id bucket.
    fn link_ids(&self, base: u64, entries: &mut [Entry]) -> Result<(), LogError> {
        let mut table = BucketTable::load(&self.keys, ID_BUCKETS_AT, entries.len())?;
        for (seq, entry) in (base + 1..).zip(entries.iter_mut()) {
            let bucket = id_bucket(entry.id_hash);
            entry.id_prev = table.latest(&self.keys, bucket, base)?;
            table.set(bucket, seq);
        }
        table.store(&self.keys, self.anchor.seq)
    }

    /// Sets each entry's `stream_prev`, registers new stream hashes and moves each
    /// touched record's latest seq; returns the new record count.
    fn link_streams(&self, base: u64, entries: &mut [Entry]) -> Result<u64, LogError> {
        let mut records = self.committed.records;
        // Stream hash -> (record number, record as it will be written).
        let mut touched: FastMap<u64, (u64, Record, u64)> = fast::map_with_capacity(16);
        let mut new_heads: FastMap<u64, u64> = fast::map_with_capacity(0);
        for (i, entry) in entries.iter_mut().enumerate() {
            let seq = base + 1 + i as u64;
            let hash = entry.stream_hash;
            if let Some((_, _, latest)) = touched.get_mut(&hash) {
                entry.stream_prev = *latest;
                *latest = seq;
                continue;
            }
            if let Some((number, record)) = self.find_record(hash)? {
                entry.stream_prev = current(record.latest, base);
                touched.insert(hash, (number, record, seq));
                continue;
            }
            records += 1;
            let bucket = stream_bucket(hash);
            let prev = match new_heads.get(&bucket) {
                Some(n) => *n,
                None => current(
                    self.streams.pair(STREAM_BUCKETS_AT + bucket * SLOT_PAIR)?,
                    self.committed.records,
                ),
            };
            new_heads.insert(bucket, records);
            let record = Record {
                hash,
                bucket_prev: prev,
                latest: [0, 0],
            };
            touched.insert(hash, (records, record, seq));
        }
        let mut kept = self.kept_records.borrow_mut();
        for (number, mut record, latest) in touched.into_values() {
            let slot = free_slot(record.latest, self.anchor.seq);
            record.latest[slot] = latest;
            if !self.read_only {
                kept.pending.push((number, record));
            }
            if number > self.committed.records {
                self.streams
                    .stage(record_at(number), record.encode().to_vec());
            } else {
                self.streams.stage(
                    record_at(number) + 16 + 8 * slot as u64,
                    latest.to_le_bytes().to_vec(),
                );
            }
        }
        drop(kept);
        for (bucket, number) in new_heads {
            let at = STREAM_BUCKETS_AT + bucket * SLOT_PAIR;
            let pair = self.streams.pair(at)?;
            let slot = free_slot(pair, self.anchor.records);
            self.streams
                .stage(at + 8 * slot as u64, number.to_le_bytes().to_vec());
        }
        Ok(records)
    }

    /// Every seq of an id bucket chain whose id hash is `want`'s, newest first.
    fn id_chain(&self, bucket: u64, found: &mut dyn FnMut(u64, u64)) -> Result<(), LogError> {
        let mut seq = current(
            self.keys.pair(ID_BUCKETS_AT + bucket * SLOT_PAIR)?,
            self.committed.seq,
        );
        while seq != 0 {
            let entry = self.entry(seq)?;
            found(entry.id_hash, seq);
            if entry.id_prev >= seq {
                return Err(LogError::corrupt(format!("id entry {seq} chains forward")));
            }
            seq = entry.id_prev;
        }
        Ok(())
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks every entry against its frame (where it starts, the key hashes of its id and
    /// stream, both chains), then the bucket tables and stream records against what the
    /// entries say: the index is derived from the frames, and any byte of it that differs
    /// from what they give is reported.
    fn check_entries(&self) -> Result<IndexFacts, LogError> {
        let size = self.committed.seq;
        let mut facts = IndexFacts {
            last_id: vec![0u64; 1 << ID_BUCKET_BITS],
            last_stream: fast::map_with_capacity(1024),
        };
        let mut frames =
            FrameReader::new(self.data.bytes(), 0, self.committed.data_len, self.codec);
        let mut entries = vec![0u8; (CHECK_ENTRIES * ENTRY_BYTES) as usize];
        let mut seq = 1;
        while seq <= size {
            let count = CHECK_ENTRIES.min(size - seq + 1);
            let bytes = &mut entries[..(count * ENTRY_BYTES) as usize];
            self.keys.read(entry_at(seq), bytes)?;
            let stored: Vec<Entry> = bytes
                .chunks_exact(ENTRY_BYTES as usize)
                .map(Entry::decode)
                .collect();
            let keys = self.window_keys(&mut frames, seq, &stored)?;
            for (stored, keys) in stored.iter().zip(keys) {
                let bucket = id_bucket(keys.id_hash) as usize;
                let want = Entry {
                    offset: keys.offset,
                    id_hash: keys.id_hash,
                    id_prev: facts.last_id[bucket],
                    stream_hash: keys.stream_hash,
                    stream_prev: facts
                        .last_stream
                        .get(&keys.stream_hash)
                        .copied()
                        .unwrap_or(0),
                };
                if *stored != want {
                    return Err(LogError::integrity(
                        seq,
                        "the index entry of this envelope (log/keys) does not match it",
                    ));
                }
                facts.last_id[bucket] = seq;
                facts.last_stream.insert(keys.stream_hash, seq);
                seq += 1;
            }
        }
        Ok(facts)
    }

    /// What the index check needs of the frames of seqs `first..first + stored.len()`,
    /// read by `frames` (positioned at the frame of `first`). The window's second half is
    /// read on another thread from the offset its stored entry claims; that half is used
    /// only when the first half ends exactly there, otherwise (a damaged entry, or a frame
    /// that does not decode) the window is read on by `frames` alone, so that an error
    /// names the same seq and rule as a one-threaded pass.
    fn window_keys<'a>(
        &'a self,
        frames: &mut FrameReader<'a>,
        first: u64,
        stored: &[Entry],
    ) -> Result<Vec<FrameKeys>, LogError> {
        let half = stored.len() / 2;
        let split = stored.get(half).map_or(0, |e| e.offset);
        let end = self.committed.data_len;
        let mut keys = Vec::with_capacity(stored.len());
        if stored.len() < 2 * CHECK_SPLIT_MIN || split <= frames.position() || split >= end {
            for i in 0..stored.len() as u64 {
                keys.push(frames.keys(first + i)?);
            }
            return Ok(keys);
        }
        let codec = self.codec;
        let data = self.data.bytes();
        let second = std::thread::scope(|scope| {
            let second = scope.spawn(move || {
                let mut reader = FrameReader::new(data, split, end, codec);
                let keys = (half..stored.len())
                    .map(|i| reader.keys(first + i as u64))
                    .collect::<Result<Vec<_>, _>>();
                keys.map(|keys| (keys, reader))
            });
            for i in 0..half as u64 {
                keys.push(frames.keys(first + i)?);
            }
            Ok::<_, LogError>(second.join())
        })?;
        match second {
            Ok(Ok((rest, reader))) if frames.position() == split => {
                keys.extend(rest);
                *frames = reader;
            }
            _ => {
                for i in half as u64..stored.len() as u64 {
                    keys.push(frames.keys(first + i)?);
                }
            }
        }
        Ok(keys)
    }

    fn check_buckets(&self, facts: &IndexFacts) -> Result<(), LogError> {
        let mut table = vec![0u8; (SLOT_PAIR << ID_BUCKET_BITS) as usize];
        self.keys.read(ID_BUCKETS_AT, &mut table)?;
        for (bucket, want) in facts.last_id.iter().enumerate() {
            let at = bucket * SLOT_PAIR as usize;
            let pair = [u64_at(&table, at), u64_at(&table, at + 8)];
            if current(pair, self.committed.seq) != *want {
                return Err(LogError::corrupt(format!(
                    "id bucket {bucket} of log/keys does not lead to the last envelope of its ids"
                )));
            }
        }
        Ok(())
    }

    fn check_records(&self, facts: &IndexFacts) -> Result<(), LogError> {
        let count = self.committed.records;
        if count != facts.last_stream.len() as u64 {
            return Err(LogError::corrupt(format!(
                "log/streams holds {count} stream records, the envelopes {} streams",
                facts.last_stream.len()
            )));
        }
        let mut last_in_bucket: FastMap<u64, u64> = fast::map_with_capacity(1024);
        let mut seen: FastSet<u64> = fast::set_with_capacity(count as usize);
        for number in 1..=count {
            let record = self.record(number)?;
            let bucket = stream_bucket(record.hash);
            let ok = seen.insert(record.hash)
                && facts.last_stream.get(&record.hash).copied()
                    == Some(current(record.latest, self.committed.seq))
                && record.bucket_prev == last_in_bucket.get(&bucket).copied().unwrap_or(0);
            if !ok {
                return Err(LogError::corrupt(format!(
                    "stream record {number} of log/streams does not match the envelopes"
                )));
            }
            last_in_bucket.insert(bucket, number);
        }
        let mut table = vec![0u8; (SLOT_PAIR << STREAM_BUCKET_BITS) as usize];
        self.streams.read(STREAM_BUCKETS_AT, &mut table)?;
        for bucket in 0..1u64 << STREAM_BUCKET_BITS {
            let at = (bucket * SLOT_PAIR) as usize;
            let pair = [u64_at(&table, at), u64_at(&table, at + 8)];
            let want = last_in_bucket.get(&bucket).copied().unwrap_or(0);
            if current(pair, count) != want {
                return Err(LogError::corrupt(format!(
                    "stream bucket {bucket} of log/streams does not lead to its last record"
                )));
            }
        }
        Ok(())
    }
}

/// Entries read at a time by the index check.
const CHECK_ENTRIES: u64 = 16_384;
/// A window of the index check whose halves hold at least this many frames each reads its
/// second half on another thread.
const CHECK_SPLIT_MIN: usize = 256;
/// Bytes of the envelope file read at a time by the index check.
const CHECK_READ: usize = 4 << 20;

/// What the entries say the bucket tables and records must hold.
struct IndexFacts {
    /// The last seq of each id bucket.
    last_id: Vec<u64>,
    /// The last seq of each stream hash.
    last_stream: FastMap<u64, u64>,
}

/// What the index check needs of one frame: where it starts and the index hashes of its
/// envelope's id and stream.
struct FrameKeys {
    offset: u64,
    id_hash: u64,
    stream_hash: u64,
}

/// Reads the committed frames front to back.
struct FrameReader<'a> {
    part: PartBytes<'a>,
    end: u64,
    codec: Option<&'static Codec>,
    /// The canonical bytes of the frame read last.
    canonical: Vec<u8>,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    at: u64,
    pos: usize,
}

impl<'a> FrameReader<'a> {
    /// Reads the frames from file offset `at` (where a frame starts) up to `end`.
    fn new(part: PartBytes<'a>, at: u64, end: u64, codec: Option<&'static Codec>) -> Self {
        FrameReader {
            part,
            end,
            codec,
            canonical: Vec::new(),
            buf: Vec::new(),
            at,
            pos: 0,
        }
    }

    /// The file offset of the next frame.
    fn position(&self) -> u64 {
        self.at + self.pos as u64
    }

    /// The next frame's [`FrameKeys`].
    fn keys(&mut self, seq: u64) -> Result<FrameKeys, LogError> {
        let (offset, envelope) = self.next(seq)?;
        Ok(FrameKeys {
            offset,
            id_hash: key_hash(&envelope.id),
            stream_hash: key_hash(&envelope.stream),
        })
    }

    /// Makes `buf[pos..]` hold at least `n` bytes, if the file has them.
    fn fill(&mut self, n: usize) -> Result<bool, LogError> {
        if self.buf.len() - self.pos >= n {
            return Ok(true);
        }
        self.buf.drain(..self.pos);
        self.at += self.pos as u64;
        self.pos = 0;
        let from = self.at + self.buf.len() as u64;
        let want = (n.max(CHECK_READ) - self.buf.len()).min((self.end - from) as usize);
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        self.part.read(from, &mut self.buf[old..])?;
        Ok(self.buf.len() >= n)
    }

    /// The next frame's offset and envelope.
    fn next(&mut self, seq: u64) -> Result<(u64, Envelope), LogError> {
        let short = || LogError::integrity(seq, "the envelope file ends inside this frame");
        if !self.fill(4)? {
            return Err(short());
        }
        let (len, _flags) = crate::store::frame_len(u32::from_le_bytes([
            self.buf[self.pos],
            self.buf[self.pos + 1],
            self.buf[self.pos + 2],
            self.buf[self.pos + 3],
        ]));
        if len > crate::MAX_ENVELOPE_BYTES || !self.fill(4 + len + 32)? {
            return Err(short());
        }
        let offset = self.at + self.pos as u64;
        let frame = stored_frame(&self.buf, self.pos).map_err(|e| LogError::integrity(seq, e))?;
        self.canonical.clear();
        canonical_into(&frame, self.codec, &mut self.canonical)
            .map_err(|e| LogError::integrity(seq, e))?;
        let envelope = Envelope::from_canonical(&self.canonical, frame.hash)
            .map_err(|e| LogError::integrity(seq, e))?;
        self.pos += 4 + len + 32;
        Ok((offset, envelope))
    }
}

/// A lookup of more ids than the log's size over this reads the entries in one pass.
const SCAN_RATIO: u64 = 8;
/// A lookup of at least this many ids reads the entries in one pass whatever the log's
/// size: a bucket walk costs one `pread` (about a microsecond) per entry of the bucket, a
/// pass about as much as a few dozen entries read in bulk, so with 2^18 buckets the pass
/// costs less from a few thousand ids on. A writer makes that pass once: it builds the
/// filter of the log's ids ([`IdFilter`]) on the way, and its later lookups ask the filter
/// first, so only the ids it may hold (the duplicates, and at most about one in a thousand
/// others) are looked up in the index.
const SCAN_IDS_MIN: usize = 4096;

impl DirStore {
    /// Every committed `(id hash, seq)` whose hash is in `wanted`, from one pass over the
    /// entries; `filter` takes every entry's id hash on the way.
    fn scan_ids(
        &self,
        wanted: &FastSet<u64>,
        mut filter: Option<&mut IdFilter>,
    ) -> Result<Vec<(u64, u64)>, LogError> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; (CHECK_ENTRIES * ENTRY_BYTES) as usize];
        let mut seq = 1;
        while seq <= self.committed.seq {
            let count = CHECK_ENTRIES.min(self.committed.seq - seq + 1);
            let bytes = &mut buf[..(count * ENTRY_BYTES) as usize];
            self.keys.read(entry_at(seq), bytes)?;
            for (i, entry) in bytes.chunks_exact(ENTRY_BYTES as usize).enumerate() {
                let hash = u64_at(entry, 8);
                if let Some(filter) = filter.as_deref_mut() {
                    filter.insert(hash);
                }
                if wanted.contains(&hash) {
                    out.push((hash, seq + i as u64));
                }
            }
            seq += count;
        }
        Ok(out)
    }

    /// [`DirStore::scan_ids`] of `wanted` that builds the writer's filter of ids on the way,
    /// with room for the log's ids and `ids` more, and keeps it.
    fn scan_building_filter(
        &self,
        wanted: &FastSet<u64>,
        ids: usize,
    ) -> Result<Vec<(u64, u64)>, LogError> {
        let mut filter = IdFilter::for_ids(self.committed.seq + ids as u64);
        let found = self.scan_ids(wanted, Some(&mut filter))?;
        *self.id_filter.borrow_mut() = Some(filter);
        Ok(found)
    }

    /// Adds the ids of a commit's entries to the writer's filter; a filter past its room
    /// is dropped (unless it has the most room), for the next lookup of many ids to build a
    /// larger one.
    fn filter_ids(&self, entries: &[Entry]) {
        let mut kept = self.id_filter.borrow_mut();
        if let Some(filter) = kept.as_mut() {
            for entry in entries {
                filter.insert(entry.id_hash);
            }
            if filter.is_outgrown() {
                *kept = None;
            }
        }
    }

    /// True when a lookup of `ids` ids reads the entries in one pass rather than walking
    /// their buckets.
    fn scans(&self, ids: usize) -> bool {
        ids >= SCAN_IDS_MIN || ids as u64 * SCAN_RATIO > self.committed.seq
    }

    /// Walks the bucket chains of `wanted` (or, for many, reads the entries in one pass).
    fn look_up_ids(&self, wanted: &FastSet<u64>) -> Result<Vec<(u64, u64)>, LogError> {
        if self.scans(wanted.len()) {
            return self.scan_ids(wanted, None);
        }
        let mut out = Vec::new();
        let buckets: FastSet<u64> = wanted.iter().map(|h| id_bucket(*h)).collect();
        for bucket in buckets {
            self.id_chain(bucket, &mut |hash, seq| {
                if wanted.contains(&hash) {
                    out.push((hash, seq));
                }
            })?;
        }
        Ok(out)
    }
}

fn clear_pair(part: &Part, at: u64, pair: [u64; 2], limit: u64) -> Result<(), LogError> {
    for (i, v) in pair.into_iter().enumerate() {
        if v > limit {
            part.write(at + 8 * i as u64, &0u64.to_le_bytes())?;
        }
    }
    Ok(())
}

/// The slot pairs of a bucket table a batch reads and moves: read one at a time for a
/// small batch; for a large one, in the writer's mapping of the table, with the new values
/// by bucket number, or, when the table is not mapped, read whole.
struct BucketTable {
    at: u64,
    /// The whole table when the batch is large and the table not mapped.
    whole: Option<Vec<u8>>,
    /// The new current value of each touched bucket.
    changed: Changed,
}

/// The new current value of each bucket a batch touched.
enum Changed {
    /// Few buckets: by bucket.
    Map(FastMap<u64, u64>),
    /// A large batch: `values` by bucket number (0: unchanged), and the buckets changed,
    /// in the order first changed.
    Dense { values: Vec<u64>, order: Vec<u64> },
}

impl BucketTable {
    fn load(part: &Part, at: u64, n: usize) -> Result<BucketTable, LogError> {
        let table_bytes = SLOT_PAIR << ID_BUCKET_BITS;
        if n <= BULK_IDS {
            return Ok(BucketTable {
                at,
                whole: None,
                changed: Changed::Map(fast::map_with_capacity(n)),
            });
        }
        let buckets = 1usize << ID_BUCKET_BITS;
        let changed = Changed::Dense {
            values: vec![0; buckets],
            order: Vec::with_capacity(n.min(buckets)),
        };
        if part.mapped(at, table_bytes)? {
            return Ok(BucketTable {
                at,
                whole: None,
                changed,
            });
        }
        let mut buf = vec![0u8; table_bytes as usize];
        part.read(at, &mut buf)?;
        Ok(BucketTable {
            at,
            whole: Some(buf),
            changed,
        })
    }

    fn pair(&self, part: &Part, bucket: u64) -> Result<[u64; 2], LogError> {
        match &self.whole {
            Some(buf) => {
                let at = (bucket * SLOT_PAIR) as usize;
                Ok([u64_at(buf, at), u64_at(buf, at + 8)])
            }
            None => part.pair(self.at + bucket * SLOT_PAIR),
        }
    }

    fn latest(&self, part: &Part, bucket: u64, limit: u64) -> Result<u64, LogError> {
        let changed = match &self.changed {
            Changed::Map(map) => map.get(&bucket).copied(),
            Changed::Dense { values, .. } => Some(values[bucket as usize]).filter(|v| *v != 0),
        };
        match changed {
            Some(v) => Ok(v),
            None => Ok(current(self.pair(part, bucket)?, limit)),
        }
    }

    fn set(&mut self, bucket: u64, value: u64) {
        match &mut self.changed {
            Changed::Map(map) => {
                map.insert(bucket, value);
            }
            Changed::Dense { values, order } => {
                let v = &mut values[bucket as usize];
                if *v == 0 {
                    order.push(bucket);
                }
                *v = value;
            }
        }
    }

    /// The changed buckets with their new values.
    fn changes(changed: Changed) -> Vec<(u64, u64)> {
        match changed {
            Changed::Map(map) => map.into_iter().collect(),
            Changed::Dense { values, order } => {
                order.into_iter().map(|b| (b, values[b as usize])).collect()
            }
        }
    }

    /// Writes each changed bucket's new value over its slot that is not current: staged
    /// slot by slot (into the mapped table, or by positioned writes), or, when the table
    /// was read whole, the whole table.
    fn store(self, part: &Part, limit: u64) -> Result<(), LogError> {
        let BucketTable { at, whole, changed } = self;
        // A large batch over the mapped table writes its slots there one by one.
        let in_map = whole.is_none() && matches!(changed, Changed::Dense { .. });
        let changes = BucketTable::changes(changed);
        if let Some(mut buf) = whole {
            for (bucket, value) in changes {
                let o = (bucket * SLOT_PAIR) as usize;
                let pair = [u64_at(&buf, o), u64_at(&buf, o + 8)];
                let slot = o + 8 * free_slot(pair, limit);
                buf[slot..slot + 8].copy_from_slice(&value.to_le_bytes());
            }
            part.stage(at, buf);
            return Ok(());
        }
        for (bucket, value) in changes {
            let o = at + bucket * SLOT_PAIR;
            let slot = o + 8 * free_slot(part.pair(o)?, limit) as u64;
            if in_map {
                part.stage_slot(slot, value);
            } else {
                part.stage(slot, value.to_le_bytes().to_vec());
            }
        }
        Ok(())
    }
}

impl DirStore {
    fn usable(&self) -> Result<(), LogError> {
        if self.read_only {
            return Err(LogError::Backend {
                what: "a reader of the log does not write".into(),
            });
        }
        if self.failed {
            return Err(LogError::Backend {
                what:
                    "a commit of this log failed after its frames were synced; open the log again"
                        .into(),
            });
        }
        Ok(())
    }

    /// Writes the frames past the committed length, each compressed where that is shorter
    /// and the last one marked [`FRAME_COMMIT_END`], and syncs them: the commit point.
    fn append_frames(&mut self, frames: &[Vec<u8>]) -> Result<(), LogError> {
        let mut canonical: Vec<&[u8]> = Vec::new();
        for segment in frames {
            let mut at = 0;
            for (start, frame) in Frames::new(segment).offsets() {
                let (bytes, _) =
                    frame.map_err(|e| LogError::corrupt(format!("a frame to write: {e}")))?;
                at = start + FRAME_OVERHEAD + bytes.len();
                canonical.push(&segment[start..at]);
            }
            if at != segment.len() {
                return Err(LogError::corrupt(
                    "a segment of frames to write ends inside one",
                ));
            }
        }
        let stored = stored_frames(&canonical, self.codec);
        self.append_stored(vec![stored])
    }

    /// Writes frames in their stored form past the committed length, the last one marked
    /// as a commit's end, and syncs them. The frames (and the zeros ahead, when the file
    /// grows) go in one write, as one piece of the file that a power loss keeps, loses or
    /// tears: a commit is on disk exactly when that write is whole.
    fn append_stored(&mut self, mut segments: Vec<StoredFrames>) -> Result<(), LogError> {
        if let Some(last) = segments.iter_mut().rev().find(|s| !s.offsets.is_empty()) {
            let at = last.offsets[last.offsets.len() - 1] as usize;
            let mut field = [0u8; 4];
            field.copy_from_slice(&last.bytes[at..at + 4]);
            let field = u32::from_le_bytes(field) | FRAME_COMMIT_END;
            last.bytes[at..at + 4].copy_from_slice(&field.to_le_bytes());
        }
        let base = self.committed.data_len;
        let frames_len: usize = segments.iter().map(|s| s.bytes.len()).sum();
        let end = base + frames_len as u64;
        let ahead = if end > self.data_file_len {
            DATA_AHEAD_BYTES as usize
        } else {
            0
        };
        let (mut bytes, mut offsets) = if segments.len() == 1 {
            let only = segments.pop().unwrap_or_default();
            (only.bytes, only.offsets)
        } else {
            // One buffer, each segment dropped once copied into it.
            let mut bytes = Vec::with_capacity(frames_len + ahead);
            let mut offsets = Vec::with_capacity(segments.iter().map(|s| s.offsets.len()).sum());
            for segment in segments {
                let at = bytes.len() as u64;
                offsets.extend(segment.offsets.iter().map(|o| o + at));
                bytes.extend_from_slice(&segment.bytes);
            }
            (bytes, offsets)
        };
        if ahead > 0 {
            // The file grows: zeros ahead, for the next commits to write into.
            bytes.resize(frames_len + ahead, 0);
            self.data_file_len = end + DATA_AHEAD_BYTES;
        }
        self.data.write(base, &bytes)?;
        self.data.sync()?;
        for offset in &mut offsets {
            *offset += base;
        }
        self.written = Some(Written { offsets, end });
        Ok(())
    }

    /// Writes (without a sync) the index of the frames last written; returns the head to
    /// commit.
    fn commit_index(&mut self, set: &CommitSet) -> Result<Committed, LogError> {
        let Some(written) = self.written.take() else {
            return Err(LogError::corrupt(
                "commit without the frames it covers written first",
            ));
        };
        let data_len = written.end;
        if set.meta.len() < 48
            || set.meta.len() > HEAD_BODY - HEAD_RECORD_AT
            || &set.meta[..8] != META_MAGIC
            || u64_at(&set.meta, 8) != set.seq
        {
            return Err(LogError::corrupt("the head record to commit is malformed"));
        }
        let offsets = written.offsets;
        // Frames written in their stored form come without their canonical form.
        let mut count = if set.frames.is_empty() {
            offsets.len() as u64
        } else {
            0
        };
        for segment in set.frames {
            for frame in Frames::new(segment) {
                frame.map_err(|e| LogError::corrupt(format!("a frame to commit: {e}")))?;
                count += 1;
            }
        }
        if offsets.len() as u64 != count || count != set.seq - self.committed.seq {
            return Err(LogError::corrupt(
                "the commit's frames and its seq disagree",
            ));
        }
        let records = self.write_index(set, &offsets)?;
        for (level, index, hash) in &set.nodes {
            self.nodes
                .stage(node_position(*level, *index) * NODE_BYTES, hash.to_vec());
        }
        // From here on the commit is in the log (its frames are synced): a failure leaves
        // the index behind them, which the next open brings up.
        self.failed = true;
        for part in [&self.keys, &self.streams, &self.nodes] {
            if part.write_staged()? {
                self.dirty = true;
            }
        }
        self.failed = false;
        Ok(Committed {
            data_len,
            records,
            seq: set.seq,
            counter: self.counter + 1,
            meta: set.meta.clone(),
            boot: self.boot.unwrap_or([0; 16]),
            synced: false,
            dict: self.committed.dict,
        })
    }

    /// Writes the head: into the commit slot (0 or 1) not written last, without a sync,
    /// or, when a checkpoint is due, as a checkpoint. If the write is cut short, the other
    /// slots still hold an earlier head, and the open indexes the frames past it again.
    fn commit_head(&mut self, committed: Committed) -> Result<(), LogError> {
        let checkpoint = self.boot.is_none()
            || committed.counter - self.anchor.counter >= CHECKPOINT_COMMITS
            || committed.data_len - self.anchor.data_len >= CHECKPOINT_BYTES;
        let written = if checkpoint {
            self.write_checkpoint(committed)
        } else {
            let slot = committed.counter % 2;
            let written = self
                .head
                .write(slot * HEAD_BYTES as u64, &committed.encode());
            if written.is_ok() {
                self.counter = committed.counter;
                self.committed = committed;
            }
            written
        };
        if written.is_err() {
            self.failed = true;
        }
        written
    }

    /// Syncs the index files written since the last checkpoint, then writes `committed`
    /// as a checkpoint into the checkpoint slot (2 or 3) not holding the last one, and
    /// syncs it.
    fn write_checkpoint(&mut self, mut committed: Committed) -> Result<(), LogError> {
        if self.dirty {
            for part in [&self.keys, &self.streams, &self.nodes] {
                part.sync()?;
            }
        }
        committed.synced = true;
        let slot = if self.anchor_slot == Some(2) { 3 } else { 2 };
        self.head
            .write((slot * HEAD_BYTES) as u64, &committed.encode())?;
        self.head.sync()?;
        self.dirty = false;
        self.counter = committed.counter;
        self.anchor = committed.clone();
        self.anchor_slot = Some(slot);
        self.committed = committed;
        Ok(())
    }
}

/// Converts the layout-3 or layout-4 log in `dir` to layout 5 in place: the open of the
/// older layout cuts what no head committed (layout 3) or finds the committed frames past
/// the head (layout 4, indexed by the first open of layout 5); the dictionary is written
/// into `log/dict` and synced; the headers of `keys` and `streams` are written with
/// layout 5 and synced (from here on an arl of the older layout refuses the log); then a
/// head file of layout 5, holding the old head as its checkpoint and the dictionary's
/// hash, is written beside the old one, synced and renamed over it: the switch. The frame
/// of the head is marked as the end of a commit (layout 3 did not mark them); every other
/// byte stays as it is: the frames of the older layouts are not compressed, and a log of
/// layout 5 reads a frame without [`crate::store::FRAME_COMPRESSED`] as it is. A crash
/// before the switch leaves a log the upgrade converts again.
pub(crate) fn upgrade_in_place(dir: &Path) -> Result<(), LogError> {
    let store = DirStore::open_with(dir, true)?;
    // Every index byte the head covers becomes durable: the head turns into a checkpoint.
    for part in [&store.keys, &store.streams, &store.nodes] {
        part.sync()?;
    }
    let dict = write_dictionary(dir)?;
    for (part, magic, bits, item) in [
        (&store.keys, KEYS_MAGIC, ID_BUCKET_BITS, ENTRY_BYTES),
        (
            &store.streams,
            STREAMS_MAGIC,
            STREAM_BUCKET_BITS,
            RECORD_BYTES,
        ),
    ] {
        part.write(0, &header(magic, bits, item, LOG_LAYOUT))?;
        part.sync()?;
    }
    if store.committed.seq > 0 {
        // The head's frame is marked as the end of a commit, as layout 4 writes it.
        let at = store.entry(store.committed.seq)?.offset;
        let mut field = [0u8; 4];
        store.read_data(at, &mut field)?;
        let field = u32::from_le_bytes(field) | FRAME_COMMIT_END;
        store.data.write(at, &field.to_le_bytes())?;
        store.data.sync()?;
    }
    let mut head = store.committed.clone();
    head.counter = store.counter + 1;
    head.boot = store.boot.unwrap_or([0; 16]);
    head.synced = true;
    head.dict = dict;
    let new_name = format!("{HEAD_FILE}.new");
    let new = Part::open(dir, &new_name)?;
    arl_io::set_len(&new.file, &new.path, 0).map_err(|e| LogError::io(&new.path, e))?;
    new.write(0, &head_file(&head))?;
    new.sync()?;
    arl_io::rename(&new.path, &dir.join(HEAD_FILE)).map_err(|e| LogError::io(&new.path, e))?;
    arl_io::sync_dir(dir).map_err(|e| LogError::io(dir, e))
}

impl Store for DirStore {
    fn reader(&self) -> Option<Box<dyn Store>> {
        let part = |part: &Part| {
            Some(Part {
                file: part.file.clone(),
                path: part.path.clone(),
                staged: Default::default(),
                staged_slots: Default::default(),
                mirror: Default::default(),
            })
        };
        Some(Box::new(DirStore {
            dir: self.dir.clone(),
            data: part(&self.data)?,
            head: part(&self.head)?,
            keys: part(&self.keys)?,
            streams: part(&self.streams)?,
            nodes: part(&self.nodes)?,
            committed: self.committed.clone(),
            anchor: self.anchor.clone(),
            anchor_slot: self.anchor_slot,
            counter: self.counter,
            boot: self.boot,
            dirty: false,
            codec: self.codec,
            unindexed: None,
            unindexed_frames: VecDeque::new(),
            written: None,
            failed: self.failed,
            data_file_len: self.data_file_len,
            read_only: true,
            id_filter: Default::default(),
            kept_versions: Default::default(),
            kept_records: Default::default(),
        }))
    }

    fn meta(&self) -> Result<Option<Vec<u8>>, LogError> {
        if self.committed.meta.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.committed.meta.clone()))
    }

    fn write_frames(&mut self, frames: &[Vec<u8>]) -> Result<(), LogError> {
        self.usable()?;
        let written = self.append_frames(frames);
        if written.is_err() {
            // Nothing of the index was written: cut the frames back (best effort; the next
            // open cuts a batch whose sync did not return, or indexes it if it is all on
            // disk).
            let _ = self.cut_tail();
        }
        written
    }

    fn stored_codec(&self) -> Option<&'static Codec> {
        self.codec
    }

    fn write_stored(&mut self, segments: Vec<StoredFrames>) -> Result<(), LogError> {
        self.usable()?;
        if segments
            .iter()
            .any(|s| crate::store::stored_hashes(s).is_none())
        {
            return Err(LogError::corrupt(
                "stored frames to write that do not tile their bytes",
            ));
        }
        let written = self.append_stored(segments);
        if written.is_err() {
            // As `write_frames`: the frames are cut back.
            let _ = self.cut_tail();
        }
        written
    }

    fn commit(&mut self, set: &CommitSet) -> Result<(), LogError> {
        self.usable()?;
        match self.commit_index(set) {
            Ok(committed) => {
                if let Err(e) = self.commit_head(committed) {
                    self.kept_records.get_mut().forget();
                    return Err(e);
                }
                self.kept_versions.get_mut().committed(set);
                self.kept_records.get_mut().committed();
                Ok(())
            }
            Err(e) => {
                self.kept_records.get_mut().forget();
                for part in [&self.keys, &self.streams, &self.nodes] {
                    part.clear_staged();
                }
                if !self.failed {
                    // Nothing of the index was written: the frames are cut back.
                    let _ = self.cut_tail();
                }
                Err(e)
            }
        }
    }

    fn take_unindexed(&mut self) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.unindexed.take())
    }

    fn adopt_frames(&mut self, len: u64) -> Result<(), LogError> {
        self.usable()?;
        // `len` counts the frames in the canonical form `take_unindexed` gave them.
        let mut offsets = Vec::new();
        let mut end = self.committed.data_len;
        let mut taken = 0;
        while taken < len {
            let Some((canonical, start, stop)) = self.unindexed_frames.pop_front() else {
                break;
            };
            taken += canonical;
            offsets.push(start);
            end = stop;
        }
        if taken != len
            || offsets
                .first()
                .is_some_and(|o| *o != self.committed.data_len)
        {
            return Err(LogError::corrupt(
                "frames to index that are not in the envelope file",
            ));
        }
        self.written = Some(Written { offsets, end });
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<(), LogError> {
        self.usable()?;
        if self.committed.synced {
            return Ok(());
        }
        let mut committed = self.committed.clone();
        committed.counter = self.counter + 1;
        let written = self.write_checkpoint(committed);
        if written.is_err() {
            self.failed = true;
        }
        written
    }

    fn block(&self, block: u64) -> Result<Option<BlockBytes>, LogError> {
        let Some(start) = self.block_offset(block)? else {
            return Ok(None);
        };
        let end = self.offset_of((block + 1) * BLOCK_EVENTS + 1)?;
        if start > end || end > self.committed.data_len {
            return Err(LogError::corrupt(format!(
                "block {block} spans {start}..{end}, beyond the envelope file"
            )));
        }
        let mut buf = vec![0u8; (end - start) as usize];
        self.read_data(start, &mut buf)?;
        if self.codec.is_none() {
            return Ok(Some(Box::new(buf)));
        }
        // The frames in their canonical form, as every reader above the store sees them.
        let mut out = Vec::with_capacity(buf.len() * 4);
        let mut at = 0;
        while at < buf.len() {
            let frame = stored_frame(&buf, at)
                .map_err(|e| LogError::corrupt(format!("block {block}: {e}")))?;
            expand_frame(&frame, self.codec, &mut out)
                .map_err(|e| LogError::corrupt(format!("block {block}: {e}")))?;
            at = frame.end;
        }
        Ok(Some(Box::new(out)))
    }

    fn block_offset(&self, block: u64) -> Result<Option<u64>, LogError> {
        let first = block * BLOCK_EVENTS + 1;
        if first > self.committed.seq {
            return Ok(None);
        }
        Ok(Some(self.entry(first)?.offset))
    }

    fn data_len(&self) -> u64 {
        self.committed.data_len
    }

    fn read_data(&self, offset: u64, buf: &mut [u8]) -> Result<(), LogError> {
        if offset + buf.len() as u64 > self.committed.data_len {
            return Err(LogError::corrupt(format!(
                "a read of {} bytes at {offset} goes beyond the committed {} bytes",
                buf.len(),
                self.committed.data_len
            )));
        }
        self.data
            .file
            .read_exact_at(buf, offset)
            .map_err(|e| LogError::io(&self.data.path, e))
    }

    fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, LogError> {
        let leaves = (u128::from(index) + 1) << level;
        if !(NODE_LEVEL_MIN..64).contains(&level) || leaves > u128::from(self.committed.seq) {
            return Ok(None);
        }
        let mut hash = [0u8; 32];
        self.nodes
            .read(node_position(level, index) * NODE_BYTES, &mut hash)?;
        Ok(Some(hash))
    }

    fn id_candidates(&self, wanted: &FastSet<u64>) -> Result<Vec<(u64, u64)>, LogError> {
        if wanted.is_empty() || self.committed.seq == 0 {
            return Ok(Vec::new());
        }
        let maybe: Option<FastSet<u64>> = self.id_filter.borrow().as_ref().map(|filter| {
            let held = wanted.iter().copied().filter(|h| filter.may_hold(*h));
            held.collect()
        });
        if let Some(maybe) = maybe {
            return self.look_up_ids(&maybe);
        }
        if self.read_only || wanted.len() < SCAN_IDS_MIN {
            return self.look_up_ids(wanted);
        }
        // The first lookup of many ids: its pass over the entries builds the filter, with
        // room for the batch that asks too.
        self.scan_building_filter(wanted, wanted.len())
    }

    fn prepare_id_lookups(&self, ids: usize) -> Result<(), LogError> {
        if self.read_only
            || ids < SCAN_IDS_MIN
            || self.committed.seq == 0
            || self.id_filter.borrow().is_some()
        {
            return Ok(());
        }
        // What `id_candidates` builds at its first look-up of many ids, without the ids.
        self.scan_building_filter(&FastSet::default(), ids)?;
        Ok(())
    }

    fn stream_candidates(&self, hash: u64) -> Result<Vec<u64>, LogError> {
        let mut out = Vec::new();
        let mut seq = self.stream_latest(hash)?;
        while seq != 0 {
            let entry = self.entry(seq)?;
            if entry.stream_hash != hash || entry.stream_prev >= seq {
                return Err(LogError::corrupt(format!(
                    "the stream chain through seq {seq} is broken"
                )));
            }
            out.push(seq);
            seq = entry.stream_prev;
        }
        out.reverse();
        Ok(out)
    }

    fn stream_versions(
        &self,
        hashes: &[u64],
        found: &mut dyn FnMut(&str, u64),
    ) -> Result<(), LogError> {
        // Without the names, every envelope of the chain is read (names that share a hash
        // only by a 64-bit collision); the append path asks `stream_versions_of` instead.
        for hash in hashes.iter().copied().collect::<FastSet<u64>>() {
            let mut seen: Vec<String> = Vec::new();
            let mut seq = self.stream_latest(hash)?;
            while seq != 0 {
                let envelope = self.envelope(seq)?;
                if !seen.contains(&envelope.stream) {
                    found(&envelope.stream, envelope.version);
                    seen.push(envelope.stream);
                }
                seq = self.entry(seq)?.stream_prev;
            }
        }
        Ok(())
    }

    fn frame_codec(&self) -> Option<&'static Codec> {
        self.codec
    }

    fn check_index(&self) -> Result<(), LogError> {
        if self.committed.seq > 0 {
            // The head's frame ends a commit: an open after a power loss trusts the marks.
            let mut field = [0u8; 4];
            self.read_data(self.entry(self.committed.seq)?.offset, &mut field)?;
            if u32::from_le_bytes(field) & FRAME_COMMIT_END == 0 {
                return Err(LogError::integrity(
                    self.committed.seq,
                    "the frame of the head is not marked as the end of a commit",
                ));
            }
        }
        let facts = self.check_entries()?;
        self.check_buckets(&facts)?;
        self.check_records(&facts)
    }

    fn stream_versions_of(
        &self,
        streams: &[(&str, u64)],
        found: &mut dyn FnMut(&str, u64),
    ) -> Result<(), LogError> {
        let mut kept = self.kept_versions.borrow_mut();
        for &(name, hash) in streams {
            let latest = self.stream_latest(hash)?;
            if let Some(version) = kept.get(name, latest) {
                found(name, version);
                continue;
            }
            // The latest envelope with the hash is the stream's, unless another name
            // collides on the hash: then the chain is walked back to this name's latest.
            let mut seq = latest;
            while seq != 0 {
                let envelope = self.envelope(seq)?;
                if envelope.stream == name {
                    found(name, envelope.version);
                    if !self.read_only {
                        kept.keep(name, latest, envelope.version);
                    }
                    break;
                }
                seq = self.entry(seq)?.stream_prev;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, Frontier};

    /// A writer's map of a bucket table, once taken, reads what the file holds (as
    /// positioned reads see it) through writes inside it (through the map), across its
    /// bounds and beyond it (positioned writes).
    #[test]
    fn a_mirrored_table_reads_what_the_file_holds() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut part = Part::open(dir.path(), "table").expect("open");
        let (at, len) = (64u64, 16u64 * 1024);
        part.mirror_table(at, len);
        let file_bytes = |part: &Part, offset: u64, n: usize| {
            let mut buf = vec![0u8; n];
            part.bytes().read(offset, &mut buf).expect("read");
            buf
        };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3 * MIRROR_AFTER_READS {
            let r = next();
            if round % 5 == 0 {
                // A write anywhere from before the table to past it, up to 40 bytes.
                let offset = r % (at + len + 100);
                let n = (next() % 40 + 1) as usize;
                let bytes: Vec<u8> = (0..n).map(|i| (r >> (i % 8)) as u8 ^ i as u8).collect();
                part.write(offset, &bytes).expect("write");
            }
            let offset = at + (next() % (len - 16));
            let got = {
                let mut b = [0u8; 16];
                part.read(offset, &mut b).expect("read");
                b
            };
            assert_eq!(got.to_vec(), file_bytes(&part, offset, 16), "round {round}");
        }
        let mirror = part.mirror.borrow();
        let map = mirror.map.as_ref().expect("the table was mapped");
        assert_eq!(map[at as usize..], file_bytes(&part, at, len as usize));
        // Reads outside the table never count toward taking it, nor read from it.
        let mut other = Part::open(dir.path(), "table").expect("open");
        other.mirror_table(at, len);
        for _ in 0..2 * MIRROR_AFTER_READS {
            let mut b = [0u8; 16];
            other.read(at + len, &mut b).expect("read");
        }
        assert!(other.mirror.borrow().map.is_none());
    }

    #[test]
    fn node_positions_follow_the_order_the_tree_completes_them() {
        let mut frontier = Frontier::default();
        let mut order = Vec::new();
        for i in 0..(5u64 << 10) + 77 {
            let leaf = leaf_hash(&[(i % 251) as u8; 32]);
            frontier.push(leaf, &mut |level, index, _| {
                if level >= NODE_LEVEL_MIN {
                    order.push((level, index));
                }
            });
        }
        assert!(order.len() > 20);
        for (position, (level, index)) in order.into_iter().enumerate() {
            assert_eq!(
                node_position(level, index),
                position as u64,
                "{level}/{index}"
            );
        }
    }

    #[test]
    fn a_head_slot_round_trips_and_a_flipped_bit_is_refused() {
        let mut committed = Committed::empty();
        committed.data_len = 12345;
        committed.records = 7;
        committed.seq = 99;
        committed.counter = 3;
        committed.meta = [META_MAGIC.as_slice(), &99u64.to_le_bytes(), &[5u8; 100]].concat();
        committed.boot = [9; 16];
        committed.synced = false;
        let bytes = committed.encode();
        assert_eq!(Committed::decode(&bytes).expect("decodes"), committed);
        assert!(committed.trusted(Some([9; 16])));
        assert!(!committed.trusted(Some([8; 16])));
        assert!(!committed.trusted(None));
        committed.synced = true;
        assert!(Committed::decode(&committed.encode())
            .expect("decodes")
            .trusted(None));
        for bit in [0, 70, 8 * 20 + 3, 8 * 45, 8 * 2000, 8 * 4090] {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(Committed::decode(&flipped).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn a_slot_pair_keeps_its_current_value_when_the_other_is_written() {
        // The current value is the larger one the committed state covers.
        assert_eq!(current([0, 0], 10), 0);
        assert_eq!(current([5, 0], 10), 5);
        assert_eq!(current([5, 8], 10), 8);
        assert_eq!(current([12, 8], 10), 8);
        // A new value goes over the slot that is not current.
        assert_eq!(free_slot([5, 8], 10), 0);
        assert_eq!(free_slot([8, 5], 10), 1);
        assert_eq!(free_slot([12, 8], 10), 0);
        assert_eq!(free_slot([0, 0], 10), 0);
    }
}
