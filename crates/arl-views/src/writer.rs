//! [`ViewWriter`]: appends events to the view files and commits them with a new `heads`.
//!
//! Staged records go to memory buffers (flushed to the files when large); [`ViewWriter::commit`]
//! writes what is left, then writes the heads with the next generation into the commit slot
//! (`heads.0`, `heads.1`) not written last, in place, without a sync: the log, committed
//! first, is what makes an append durable, and the views are derived from it. The slot
//! records this boot's id: a process crash keeps every write (the page cache), so the next
//! writer of the same boot trusts it; after a reboot it is not trusted. Every
//! [`CHECKPOINT_COMMITS`]th commit, or after [`CHECKPOINT_BYTES`] of data, is a checkpoint
//! instead: the data files are synced, then the heads written into a checkpoint slot
//! (`heads.2`, `heads.3`) and synced. A writer that opens views whose newest slots it cannot
//! trust (or that fail their checksum) starts from the newest one it trusts, cuts what lies
//! past its lengths, rebuilds the bucket table of `txnids.idx` from its entries (the whole
//! file, at the layout of its number of entries, when a crash left it at another), and writes
//! that state into every other slot; the caller catches up from the log, and that commit is
//! a checkpoint.

use crate::format::{
    check_slot, read_slots_quick, SlotCache, SlotMark, CHECKPOINT_SLOTS, COMMIT_SLOTS,
};
use crate::format::{
    decode_block, encode_block, txn_id_hash, txnids_len, TxnIdEntry, TxnIdsBlock, TxnIdsLayout,
    TXNIDS_BLOCK_BITS_MIN, TXNIDS_BLOCK_BYTES, TXNIDS_HEADER_BYTES,
};
use crate::format::{
    decode_time, encode_time, kind_code, txn_kind_code, txn_record_ok, txndata_checksum,
    AccountHead, EventHeader, HeadId, Heads, PersonHead, TxnRecord, DATA_BYTES_MAX, ENTITIES_MAX,
    EVENTS_FILE, EVENT_HEADER_BYTES, HEADS_FILES, ID_BYTES_MAX, TIMES_FILE, TIME_BYTES,
    TXNDATA_CHECKSUM_BYTES, TXNDATA_FILE, TXNIDS_FILE, TXNS_FILE, TXN_FLAG_REVERSAL,
    TXN_RECORD_BYTES,
};
use crate::pack::TxnContext;
use crate::reader::{DataFiles, EventCache};
use crate::{ViewError, ViewReader};
use arl_domain::money::Currency;
use arl_domain::{Event, Recorded, TxnKind};
use rustc_hash::FxHashMap as HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Staged bytes kept in memory before they are written to the files: small enough to stay
/// in the cache and to be reused rather than grown (a rebuild stages hundreds of MB).
const BUFFER_BYTES_MAX: usize = 1 << 20;
/// Most transactions the writer's map for reversals keeps (about 18 MB): when it is full it
/// is emptied, so that a writer's memory does not grow with the history it stages (a
/// server, an import of any size). A reversal of a transaction the map no longer holds
/// finds it by walking its account's chain.
const TXNS_SEEN_MAX: usize = 1 << 20;

const EV: usize = 0;
const TX: usize = 1;
const TD: usize = 2;
const TM: usize = 3;
const TI: usize = 4;
const FILES: [&str; 5] = [
    EVENTS_FILE,
    TXNS_FILE,
    TXNDATA_FILE,
    TIMES_FILE,
    TXNIDS_FILE,
];
/// Commits between two checkpoints at most: after a power loss the views catch up from the
/// log over at most this many commits.
pub const CHECKPOINT_COMMITS: u64 = 256;
/// Data bytes committed since the last checkpoint beyond which a commit is a checkpoint (a
/// large import is one).
pub const CHECKPOINT_BYTES: u64 = 4 << 20;
/// Staged blocks of the bucket table of `txnids.idx` beyond which a commit rewrites the
/// whole table in one write rather than block by block.
const BLOCKS_WRITTEN_ONE_BY_ONE_MAX: usize = 4096;

/// What a reversal copies from the transaction it reverses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxnFacts {
    kind: u8,
    currency: [u8; 3],
    amount_minor: i64,
}

impl TxnFacts {
    pub(crate) fn new(kind: TxnKind, currency: Currency, amount_minor: i64) -> TxnFacts {
        TxnFacts {
            kind: txn_kind_code(kind),
            currency: currency.code_bytes(),
            amount_minor,
        }
    }
}

/// Where a staged event stands: its seq and its two times (UTC microseconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub seq: u64,
    pub effective_at: i64,
    pub recorded_at: i64,
}

impl Place {
    pub(crate) fn of(recorded: &Recorded) -> Place {
        Place {
            seq: recorded.seq,
            effective_at: recorded.effective_at.0,
            recorded_at: recorded.recorded_at.0,
        }
    }
}

/// The single writer of a views directory (the caller holds the ledger's exclusive lock).
#[derive(Debug)]
pub struct ViewWriter {
    dir: PathBuf,
    files: [File; 5],
    /// The state including staged events.
    heads: Heads,
    /// Lengths committed in the `heads` file on disk.
    committed: [u64; 5],
    /// Lengths written to the files (committed or not); staged bytes beyond are in `buffers`.
    written: [u64; 5],
    buffers: [Vec<u8>; 5],
    /// Blocks of the bucket table of `txnids.idx` changed by staged transactions, with
    /// their new heads. Written in place at [`ViewWriter::commit`], after the entries and
    /// before the heads; a crash between leaves buckets pointing beyond the committed
    /// entries, which the next writer repairs ([`crate::txnids::repair_table`]).
    txnids_staged: HashMap<u32, TxnIdsBlock>,
    /// The layout `txnids.idx` has on disk: that of its committed entries, until a commit
    /// whose entries need a larger table rewrites the file ([`crate::txnids::relayout`]).
    txnids_layout: TxnIdsLayout,
    /// How committed blocks of the bucket table of `txnids.idx` are read: positioned reads
    /// for the writer's first few, then a mapping of the table (a bulk import reads a block
    /// for almost every transaction; a server's writer maps once). Made again when the file
    /// is rewritten at a larger table. The writer writes staged blocks in place at its
    /// commits, never while it reads them; the mapping shows what it wrote.
    txnids_table: crate::txnids::ReadsThenMap,
    /// The longest committed region of `events.dat` and of `txnids.idx` read through a
    /// mapping, by this writer and the readers it hands out
    /// ([`crate::reader::MAPPED_BYTES_MAX`] unless set).
    mapped_max: u64,
    account_numbers: IdNumbers,
    person_numbers: IdNumbers,
    /// Transactions staged by this writer, for reversals: the [`txn_key`] of the txn id to
    /// the pointer of its record, both in 32 bits to keep the map small; at most
    /// [`TXNS_SEEN_MAX`] of them. Confirmed against the record's data when used, so a
    /// colliding key only costs a walk of the account's chain, like a record beyond 32 bits
    /// or one the map no longer holds.
    txns_seen: HashMap<u32, u32>,
    /// The latest `recorded_at` staged so far (what `times.dat` holds for the last seq).
    recorded_max: i64,
    poisoned: bool,
    /// The heads slot files, opened when first written.
    slot_files: [Option<SlotFile>; 4],
    /// The generation each slot holds (`None`: missing or not valid).
    slot_generations: [Option<u64>; 4],
    /// Whether each slot's checksum was checked (or the slot written here): one that was
    /// not is checked before a checkpoint chooses which of its pair to overwrite.
    slot_checked: [bool; 4],
    /// The generation of the last checkpoint and the data bytes it commits.
    checkpoint_at: (u64, u64),
    /// This boot's id, read at open (`None`: unknown, every commit is a checkpoint).
    boot: Option<[u8; 16]>,
    /// The bytes of the slot written last, kept to be reused.
    slot_bytes: Vec<u8>,
    /// The encoded chunks of heads entries of the slot written last.
    slot_cache: SlotCache,
    /// Set when the open fell back to an older slot: the next commit (the catch-up from
    /// the log) is a checkpoint, so that what was recovered is not recovered again.
    fell_back: bool,
    /// The committed heads as handed to readers, copied once per commit and shared by
    /// every reader of that commit ([`ViewWriter::reader`]).
    snapshot: std::sync::Mutex<Option<Arc<Heads>>>,
    /// Records decoded by the readers this writer handed out ([`ViewReader`]).
    event_cache: Arc<EventCache>,
    /// The data files those readers read, opened once, and the mapping of `events.dat`
    /// they share (made with room to grow, made again when a commit outgrows it).
    reader_files: std::sync::Mutex<Option<ReaderFiles>>,
}

/// The five data files of the views in `dir`, open for reading and writing: created (mode
/// 0600) when `fresh`, with the header of an empty `txnids.idx`.
fn open_data_files(dir: &Path, fresh: bool) -> Result<[File; 5], ViewError> {
    let open = |name: &str| {
        let path = dir.join(name);
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(fresh)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ViewError::io(path, e))
    };
    let files = [
        open(FILES[EV])?,
        open(FILES[TX])?,
        open(FILES[TD])?,
        open(FILES[TM])?,
        open(FILES[TI])?,
    ];
    if fresh {
        start_txnids(&files[TI], &dir.join(FILES[TI]))?;
    }
    Ok(files)
}

/// What the readers one writer hands out share besides the heads.
#[derive(Debug)]
struct ReaderFiles {
    files: Arc<DataFiles>,
    events_map: Option<Arc<memmap2::Mmap>>,
    times_map: Option<Arc<memmap2::Mmap>>,
    /// The writer's own `txnids.idx` (a second descriptor of it), for the validations of
    /// its batches: made at the first reader after the writer opened or rewrote the file
    /// (a rewrite renames a new file over it: readers handed out before keep the old one,
    /// which matches their heads).
    txnids: Option<Arc<File>>,
}

/// The last value of `times.dat` (its committed length `len`), or `i64::MIN` when empty.
fn last_time(file: &File, dir: &Path, len: u64) -> Result<i64, ViewError> {
    if len < TIME_BYTES {
        return Ok(i64::MIN);
    }
    let path = dir.join(FILES[TM]);
    let mut entry = [0u8; TIME_BYTES as usize];
    let at = len - TIME_BYTES;
    file.read_exact_at(&mut entry, at)
        .map_err(|e| ViewError::io(&path, e))?;
    decode_time(len / TIME_BYTES, &entry).ok_or(ViewError::Checksum { path, offset: at })
}

fn lengths(heads: &Heads) -> [u64; 5] {
    [
        heads.events_len,
        heads.txns_len,
        heads.txndata_len,
        heads.times_len,
        txnids_len(heads.txns_len / TXN_RECORD_BYTES),
    ]
}

impl ViewWriter {
    /// Opens the views in `dir`, creating an empty set (directory mode 0700) when there is
    /// no `heads`, and truncating any tail beyond the committed lengths.
    pub fn open(dir: &Path) -> Result<ViewWriter, ViewError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| ViewError::io(dir, e))?;
        let slots = read_slots_quick(dir)?;
        let current = slots.current.as_ref().map(|(i, _)| *i);
        let fresh = current.is_none();
        let (heads, slot_bytes) = match slots.current {
            Some((_, heads)) => (heads, slots.bytes),
            None => Default::default(),
        };
        // The first commit is encoded over the slot read, the current one: its file holds
        // those very bytes.
        let slot_cache = SlotCache::of_slot(&heads, &slot_bytes);
        let mut slot_files: [Option<SlotFile>; 4] = Default::default();
        if let Some(current) = current {
            let path = dir.join(HEADS_FILES[current]);
            slot_files[current] = Some(SlotFile {
                file: open_slot(&path)?,
                len: slot_bytes.len() as u64,
                stale: Some(Vec::new()),
            });
        }
        let files = open_data_files(dir, fresh)?;
        let txnids_layout = crate::txnids::read_layout(&files[TI], &dir.join(FILES[TI]))?;
        let mut committed = lengths(&heads);
        let txnids_entries = heads.txns_len / TXN_RECORD_BYTES;
        // The file may be at another layout than its committed entries' if a crash came
        // between its rewrite and the heads: cut it at its own, and rewrite it below.
        committed[TI] = txnids_layout.len(txnids_entries);
        let relayout = txnids_layout != TxnIdsLayout::for_entries(txnids_entries);
        let mut txnids_tail = false;
        for (i, file) in files.iter().enumerate() {
            let cut = truncate_tail(file, &dir.join(FILES[i]), committed[i])?;
            txnids_tail |= cut && i == TI;
        }
        let boot = arl_io::boot_id();
        // A slot of another boot (trusted as a checkpoint) may have been followed by
        // writes a power loss cut or tore: buckets of `txnids.idx` among them.
        let other_boot = current
            .and_then(|i| slots.slots[i])
            .is_some_and(|(_, mark)| boot.is_none() || Some(mark.boot) != boot);
        let recorded_max = last_time(&files[TM], dir, committed[TM])?;
        let mut writer = ViewWriter {
            dir: dir.to_path_buf(),
            files,
            heads,
            committed,
            written: committed,
            buffers: Default::default(),
            txnids_staged: HashMap::default(),
            txnids_layout,
            txnids_table: crate::txnids::ReadsThenMap::default(),
            mapped_max: crate::reader::MAPPED_BYTES_MAX,
            account_numbers: IdNumbers::default(),
            person_numbers: IdNumbers::default(),
            txns_seen: HashMap::default(),
            recorded_max,
            poisoned: false,
            slot_files,
            slot_generations: slots
                .slots
                .map(|slot| slot.map(|(generation, _)| generation)),
            slot_checked: slots.checked,
            checkpoint_at: slots.checkpoint.unwrap_or_default(),
            boot,
            slot_bytes,
            slot_cache,
            fell_back: false,
            snapshot: Default::default(),
            event_cache: Default::default(),
            reader_files: Default::default(),
        };
        writer.heads.generation = slots.generation_max;
        match current {
            None => writer.write_checkpoint()?,
            Some(current) if slots.fell_back || other_boot => {
                writer.repair_txnids()?;
                writer.settle(current)?;
                writer.fell_back = true;
            }
            // A process crash in the middle of a commit: its entries are there, and maybe
            // some of its buckets, or the file rewritten at the next layout.
            Some(_) if txnids_tail || relayout => writer.repair_txnids()?,
            Some(_) => {}
        }
        debug_assert_eq!(writer.committed, lengths(&writer.heads));
        Ok(writer)
    }

    /// The directory written.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state including staged, uncommitted events.
    pub fn heads(&self) -> &Heads {
        &self.heads
    }

    /// The last seq staged (equal to the committed checkpoint after [`ViewWriter::commit`]).
    pub fn checkpoint(&self) -> u64 {
        self.heads.checkpoint
    }

    /// Sets the log's committed length the next commit records with the views
    /// ([`Heads::log_len`]); the caller passes the log's length at the last staged seq.
    pub fn set_log_len(&mut self, log_len: u64) {
        self.heads.log_len = log_len;
    }

    /// True when staged events wait for [`ViewWriter::commit`].
    pub fn has_staged(&self) -> bool {
        lengths(&self.heads) != self.committed
    }

    /// A reader of the committed state; call after [`ViewWriter::commit`].
    pub fn reader(&self) -> Result<ViewReader, ViewError> {
        if self.has_staged() || self.poisoned {
            return Err(ViewError::Poisoned);
        }
        let fresh = |snapshot: &Arc<Heads>| {
            let (then, now) = (&**snapshot, &self.heads);
            // Heads change only by staging (which moves the lengths) or by a commit
            // (which moves the generation), besides the log length set before a commit.
            (then.generation, then.log_len, lengths(then))
                == (now.generation, now.log_len, lengths(now))
        };
        let mut kept = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let snapshot = match &*kept {
            Some(snapshot) if fresh(snapshot) => snapshot.clone(),
            stale => {
                // A writer that hands out heads again (a server, an import of many
                // batches) sorts its id orders once and keeps them in order, rather than
                // each copy sorting its own ([`crate::format::IdOrder`]); the first copy,
                // all that a one-event append makes, finds its few ids without sorting.
                if stale.is_some() {
                    self.heads.sort_orders();
                }
                kept.insert(Arc::new(self.heads.clone())).clone()
            }
        };
        drop(kept);
        let mut shared = self
            .reader_files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let files = match &mut *shared {
            Some(files) => files,
            None => shared.insert(ReaderFiles {
                files: Arc::new(DataFiles::open(&self.dir)?),
                events_map: None,
                times_map: None,
                txnids: None,
            }),
        };
        let outgrown = |map: &Option<Arc<memmap2::Mmap>>, len: u64| {
            map.as_ref().is_none_or(|map| (map.len() as u64) < len)
        };
        // Each mapped with room for the file to double before the next mapping; `events.dat`
        // only while its committed length is within the bound, then read by positioned reads
        // (the old mapping goes with the last reader holding it).
        let len = snapshot.events_len;
        if len > self.mapped_max {
            files.events_map = None;
        } else if outgrown(&files.events_map, len) {
            files.events_map = files
                .files
                .map_events(&self.dir, len, len.saturating_mul(2))?;
        }
        let len = snapshot.times_len;
        if outgrown(&files.times_map, len) {
            files.times_map = files
                .files
                .map_times(&self.dir, len, len.saturating_mul(2))?;
        }
        if files.txnids.is_none() {
            let path = self.dir.join(FILES[TI]);
            let copy = self.files[TI]
                .try_clone()
                .map_err(|e| ViewError::io(path, e))?;
            files.txnids = Some(Arc::new(copy));
        }
        let reader = ViewReader::with_files(
            &self.dir,
            snapshot,
            files.files.clone(),
            files.events_map.clone(),
            files.times_map.clone(),
        );
        Ok(reader
            .with_cache(self.event_cache.clone())
            .with_txnids(files.txnids.clone(), self.mapped_max))
    }

    /// Sets the longest committed region of `events.dat` and of `txnids.idx` that this
    /// writer and the readers it hands out from now on read through a mapping
    /// ([`crate::reader::MAPPED_BYTES_MAX`] by default): the most of each file a long
    /// process holds resident. Tests set a small one to read past it.
    pub fn set_mapped_bytes_max(&mut self, bytes: u64) {
        self.mapped_max = bytes;
    }

    /// The bound [`ViewWriter::set_mapped_bytes_max`] sets.
    pub(crate) fn mapped_bytes_max(&self) -> u64 {
        self.mapped_max
    }

    /// Makes room for about `events` more staged events (a rebuild knows how many come),
    /// so the writer's map of transactions does not grow step by step.
    pub(crate) fn expect_events(&mut self, events: u64) {
        self.txns_seen.reserve(
            usize::try_from(events)
                .unwrap_or(usize::MAX)
                .min(TXNS_SEEN_MAX),
        );
    }

    /// Adds one event (the next seq) to the views, in memory until [`ViewWriter::commit`].
    /// After an error the writer refuses further work; open it again.
    pub fn stage(&mut self, recorded: &Recorded) -> Result<(), ViewError> {
        self.stage_data(recorded, &recorded.event.data_json())
    }

    /// [`ViewWriter::stage`] with the event's data already serialized: `data` must be
    /// `recorded.event.data_json()`, as the log stores it (its canonical form), so that a
    /// rebuild from the log writes the same bytes as the appends did.
    pub fn stage_data(&mut self, recorded: &Recorded, data: &str) -> Result<(), ViewError> {
        let place = Place::of(recorded);
        self.stage_with(place, data.as_bytes(), |writer| {
            if recorded.event.is_transaction() {
                writer.stage_txn(recorded, data)
            } else {
                writer.stage_event(recorded, data)
            }
        })
    }

    /// Stages a `transaction.recorded` from its facts read in place (a rebuild's fast path):
    /// the same bytes as [`ViewWriter::stage_data`] with the typed event. `txn_hash` is
    /// [`txn_id_hash`] of the txn id.
    pub(crate) fn stage_recorded_txn(
        &mut self,
        place: Place,
        account: &str,
        txn_hash: u64,
        facts: TxnFacts,
        data: &[u8],
    ) -> Result<(), ViewError> {
        self.stage_with(place, data, |writer| {
            let account = writer.account_number(account)?;
            writer.remember_txn(txn_key(txn_hash));
            writer.push_txn(place, account, facts, 0, data, txn_hash)
        })
    }

    /// What staging any event does around `body`: order and size checks, the running
    /// record time, the checkpoint, and writing the buffers out when they are full.
    fn stage_with(
        &mut self,
        place: Place,
        data: &[u8],
        body: impl FnOnce(&mut Self) -> Result<(), ViewError>,
    ) -> Result<(), ViewError> {
        if self.poisoned {
            return Err(ViewError::Poisoned);
        }
        let expected = self.heads.checkpoint + 1;
        if place.seq != expected {
            return Err(ViewError::OutOfOrder {
                expected,
                got: place.seq,
            });
        }
        if data.len() > DATA_BYTES_MAX as usize {
            return Err(ViewError::Limit {
                what: "event data bytes",
                value: data.len() as u64,
                max: u64::from(DATA_BYTES_MAX),
            });
        }
        self.poisoned = true;
        body(self)?;
        // Record times of an imported batch may go back; times.dat keeps the running maximum
        // so that `seq_known_at` stays a binary search for the longest prefix recorded by T.
        self.recorded_max = self.recorded_max.max(place.recorded_at);
        self.push(TM, &encode_time(place.seq, self.recorded_max));
        self.heads.times_len += TIME_BYTES;
        self.heads.checkpoint = place.seq;
        if self.buffers.iter().map(Vec::len).sum::<usize>() > BUFFER_BYTES_MAX {
            self.write_buffers()?;
        }
        self.poisoned = false;
        Ok(())
    }

    fn push(&mut self, file: usize, bytes: &[u8]) {
        self.buffers[file].extend_from_slice(bytes);
    }

    fn stage_event(&mut self, recorded: &Recorded, data: &str) -> Result<(), ViewError> {
        let pointer = self.heads.events_len + 1;
        let (prev1, prev2, prev3) = match &recorded.event {
            Event::PersonJoined(_)
            | Event::PersonLeft(_)
            | Event::LineSet(_)
            | Event::LineEnded(_) => {
                let subject = recorded.event.person().unwrap_or_default();
                let n = self.person_number(subject)? as usize;
                let person = &mut self.heads.persons[n];
                person.joined |= matches!(recorded.event, Event::PersonJoined(_));
                let prev1 = std::mem::replace(&mut person.chain, pointer);
                (prev1, std::mem::replace(&mut self.heads.org, pointer), 0)
            }
            // An audit record of an erasure: kept in seq order, on no chain.
            Event::SubjectErased(_) => (0, 0, 0),
            event => {
                let subject = event.account().unwrap_or_default();
                let n = self.account_number(subject)? as usize;
                let account = &mut self.heads.accounts[n];
                account.opened |= matches!(event, Event::AccountOpened(_));
                let prev1 = std::mem::replace(&mut account.chain, pointer);
                let prev3 = match event {
                    Event::AccountOpened(_) | Event::ParentChanged(_) | Event::StatusChanged(_) => {
                        std::mem::replace(&mut account.hierarchy, pointer)
                    }
                    _ => 0,
                };
                let prev2 = match event {
                    Event::AccountOpened(d) => self.link_child(d.parent.as_deref(), pointer)?,
                    Event::ParentChanged(d) => self.link_child(d.parent.as_deref(), pointer)?,
                    Event::TeamAssigned(_) | Event::TeamUnassigned(_) => {
                        let assignee = event.person().unwrap_or_default();
                        let p = self.person_number(assignee)? as usize;
                        std::mem::replace(&mut self.heads.persons[p].teams, pointer)
                    }
                    _ => 0,
                };
                (prev1, prev2, prev3)
            }
        };
        let header = EventHeader {
            data_len: data.len() as u32,
            seq: recorded.seq,
            effective_at: recorded.effective_at.0,
            recorded_at: recorded.recorded_at.0,
            kind: kind_code(recorded.event.kind()).unwrap_or(u8::MAX),
            prev1,
            prev2,
            prev3,
        };
        header.encode(data.as_bytes(), &mut self.buffers[EV]);
        self.heads.events_len += EVENT_HEADER_BYTES + data.len() as u64;
        Ok(())
    }

    /// Puts the record at `pointer` on the child_refs chain of `parent`; returns its prev2.
    fn link_child(&mut self, parent: Option<&str>, pointer: u64) -> Result<u64, ViewError> {
        let Some(parent) = parent else { return Ok(0) };
        let n = self.account_number(parent)? as usize;
        Ok(std::mem::replace(
            &mut self.heads.accounts[n].children,
            pointer,
        ))
    }

    fn stage_txn(&mut self, recorded: &Recorded, data: &str) -> Result<(), ViewError> {
        let seq = recorded.seq;
        let bad = |message: &str| ViewError::BadEvent {
            seq,
            message: message.to_string(),
        };
        let account = self.account_number(recorded.event.account().unwrap_or_default())?;
        let txn_hash = match &recorded.event {
            Event::TxnRecorded(d) => txn_id_hash(&d.txn),
            Event::TxnReversed(d) => txn_id_hash(&d.txn),
            _ => return Err(bad("not a transaction")),
        };
        let (facts, flags) = match &recorded.event {
            Event::TxnRecorded(d) => {
                let currency = d.currency().ok_or_else(|| bad("unknown currency"))?;
                let amount_minor = d.amount_minor().ok_or_else(|| bad("bad amount"))?;
                self.remember_txn(txn_key(txn_hash));
                (TxnFacts::new(d.kind, currency, amount_minor), 0)
            }
            Event::TxnReversed(d) => {
                let seen = match self.txns_seen.get(&txn_key(txn_hash)) {
                    Some(&pointer) => self.txn_at(u64::from(pointer), account, &d.txn)?.1,
                    None => None,
                };
                let facts = match seen {
                    Some(facts) => facts,
                    None => self.find_txn(account, &d.txn)?.ok_or_else(|| {
                        bad("reverses a transaction the views do not hold on that account")
                    })?,
                };
                (facts, TXN_FLAG_REVERSAL)
            }
            _ => return Err(bad("not a transaction")),
        };
        let place = Place::of(recorded);
        self.push_txn(place, account, facts, flags, data.as_bytes(), txn_hash)
    }

    /// Notes that the next transaction record is the `transaction.recorded` of the txn
    /// whose [`txn_key`] is `key`.
    fn remember_txn(&mut self, key: u32) {
        let pointer = self.heads.txns_len / TXN_RECORD_BYTES + 1;
        if let Ok(pointer) = u32::try_from(pointer) {
            if self.txns_seen.len() >= TXNS_SEEN_MAX {
                self.txns_seen.clear();
            }
            self.txns_seen.insert(key, pointer);
        }
    }

    /// Appends one transaction record and its data, on the account's chain, and its entry
    /// in `txnids.idx` under `txn_hash` ([`txn_id_hash`] of its txn id).
    fn push_txn(
        &mut self,
        place: Place,
        account: u32,
        facts: TxnFacts,
        flags: u8,
        data: &[u8],
        txn_hash: u64,
    ) -> Result<(), ViewError> {
        let index = self.heads.txns_len / TXN_RECORD_BYTES;
        self.push_txnid(index, txn_hash)?;
        let context = TxnContext {
            account: &self.heads.accounts[account as usize].id,
            kind: facts.kind,
            currency: facts.currency,
            reversal: flags & TXN_FLAG_REVERSAL != 0,
        };
        let data = &crate::pack::pack(data, &context);
        let record = TxnRecord {
            seq: place.seq,
            effective_at: place.effective_at,
            recorded_at: place.recorded_at,
            amount_minor: facts.amount_minor,
            prev: std::mem::replace(&mut self.heads.accounts[account as usize].txns, index + 1),
            data_offset: self.heads.txndata_len,
            data_len: data.len() as u32,
            account,
            kind: facts.kind,
            flags,
            currency: facts.currency,
        };
        record.encode(&mut self.buffers[TX]);
        self.push(TD, data);
        self.push(TD, &txndata_checksum(place.seq, data).to_le_bytes());
        self.heads.txns_len += TXN_RECORD_BYTES;
        self.heads.txndata_len += data.len() as u64 + TXNDATA_CHECKSUM_BYTES;
        Ok(())
    }

    /// Stages entry `number` of `txnids.idx` (for `txns.dat` record `number`) at the head of
    /// its bucket, refusing a number past [`crate::format::TXNIDS_ENTRIES_MAX`].
    fn push_txnid(&mut self, number: u64, txn_hash: u64) -> Result<(), ViewError> {
        crate::txnids::check_entries(number + 1)?;
        let (block, slot) = self.txnids_layout.bucket_of(txn_hash);
        let mut heads = self.txnids_block(block)?;
        let prev = heads[slot];
        assert!(
            u64::from(prev) <= number,
            "a bucket's head is an earlier entry"
        );
        let entry = TxnIdEntry {
            hash: txn_hash,
            prev,
        };
        self.push(TI, &entry.encode(number));
        heads[slot] = u32::try_from(number + 1).expect("checked against TXNIDS_ENTRIES_MAX");
        self.txnids_staged.insert(block, heads);
        Ok(())
    }

    /// The heads of a block of the bucket table of `txnids.idx`: staged, or as committed on
    /// disk. A head beyond the committed entries was left by a crash in the middle of a
    /// commit: damage.
    fn txnids_block(&self, block: u32) -> Result<TxnIdsBlock, ViewError> {
        if let Some(heads) = self.txnids_staged.get(&block) {
            return Ok(*heads);
        }
        let committed_entries = self.committed[TX] / TXN_RECORD_BYTES;
        if committed_entries == 0 {
            return Ok(TxnIdsBlock::default());
        }
        // The path only for an error: this runs for almost every transaction of an import.
        let path = || self.dir.join(FILES[TI]);
        let at = self.txnids_layout.block_at(block);
        let mut bytes = [0u8; TXNIDS_BLOCK_BYTES as usize];
        let file = &self.files[TI];
        let table = &self.txnids_table;
        table
            .count(file, self.txnids_layout.entries_at(), self.mapped_max)
            .and_then(|()| table.read_at(file, &mut bytes, at))
            .map_err(|e| ViewError::io(path(), e))?;
        let heads = decode_block(block, &bytes).ok_or_else(|| ViewError::Checksum {
            path: path(),
            offset: at,
        })?;
        if heads.iter().any(|h| u64::from(*h) > committed_entries) {
            let what = format!("block {block} leads beyond the committed entries");
            return Err(ViewError::corrupt(path(), what));
        }
        Ok(heads)
    }

    /// Writes the staged blocks of `txnids.idx` in place (the entries they point to are
    /// written already): one by one when few, else the whole table at once. When the
    /// entries outgrew the table, rewrites the file at their layout instead.
    fn write_txnids_blocks(&mut self) -> Result<(), ViewError> {
        let entries = self.heads.txns_len / TXN_RECORD_BYTES;
        if TxnIdsLayout::for_entries(entries) != self.txnids_layout {
            self.txnids_staged.clear();
            return self.relayout_txnids(entries);
        }
        if self.txnids_staged.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(FILES[TI]);
        let file = &self.files[TI];
        let io = |e| ViewError::io(&path, e);
        let layout = self.txnids_layout;
        let mut staged: Vec<(u32, TxnIdsBlock)> = self.txnids_staged.drain().collect();
        staged.sort_unstable();
        if staged.len() <= BLOCKS_WRITTEN_ONE_BY_ONE_MAX {
            for (block, heads) in staged {
                let bytes = encode_block(block, &heads);
                arl_io::write_at(file, &path, &bytes, layout.block_at(block)).map_err(io)?;
            }
            return Ok(());
        }
        let mut table = vec![0u8; (layout.blocks() * TXNIDS_BLOCK_BYTES) as usize];
        file.read_exact_at(&mut table, TXNIDS_HEADER_BYTES)
            .map_err(io)?;
        for (block, heads) in staged {
            let at = block as usize * TXNIDS_BLOCK_BYTES as usize;
            table[at..at + TXNIDS_BLOCK_BYTES as usize]
                .copy_from_slice(&encode_block(block, &heads));
        }
        arl_io::write_at(file, &path, &table, TXNIDS_HEADER_BYTES).map_err(io)
    }

    /// Rewrites `txnids.idx` at the layout of its first `entries` entries (all written),
    /// relinking every chain ([`crate::txnids::relayout`]), and uses the new file.
    fn relayout_txnids(&mut self, entries: u64) -> Result<(), ViewError> {
        let path = self.dir.join(FILES[TI]);
        let file = crate::txnids::relayout(&self.files[TI], &path, self.txnids_layout, entries)?;
        self.files[TI] = file;
        self.txnids_table = crate::txnids::ReadsThenMap::default();
        if let Some(files) = &mut *self
            .reader_files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            files.txnids = None;
        }
        self.txnids_layout = TxnIdsLayout::for_entries(entries);
        self.written[TI] = self.txnids_layout.len(entries);
        Ok(())
    }

    /// Looks for `transaction.recorded` of `txn` on the account's chain (older than this
    /// writer's own staging), newest first.
    fn find_txn(&self, account: u32, txn: &str) -> Result<Option<TxnFacts>, ViewError> {
        let mut pointer = self.heads.accounts[account as usize].txns;
        while pointer != 0 {
            let (prev, facts) = self.txn_at(pointer, account, txn)?;
            if facts.is_some() {
                return Ok(facts);
            }
            pointer = prev;
        }
        Ok(None)
    }

    /// The record at `pointer` (staged or written): the pointer before it on its account's
    /// chain, and its facts when it is the `transaction.recorded` of `txn` on `account`.
    fn txn_at(
        &self,
        pointer: u64,
        account: u32,
        txn: &str,
    ) -> Result<(u64, Option<TxnFacts>), ViewError> {
        let mut bytes = [0u8; TXN_RECORD_BYTES as usize];
        let at = (pointer - 1) * TXN_RECORD_BYTES;
        self.read_staged(TX, &mut bytes, at)?;
        if !txn_record_ok(&bytes) {
            return Err(ViewError::Checksum {
                path: self.dir.join(TXNS_FILE),
                offset: at,
            });
        }
        let record = TxnRecord::decode(&bytes);
        if record.prev >= pointer || record.data_len > DATA_BYTES_MAX {
            return Err(ViewError::corrupt(
                self.dir.join(TXNS_FILE),
                "bad txn chain",
            ));
        }
        if record.is_reversal() || record.account != account {
            return Ok((record.prev, None));
        }
        let mut data = vec![0u8; record.data_len as usize + TXNDATA_CHECKSUM_BYTES as usize];
        self.read_staged(TD, &mut data, record.data_offset)?;
        let data = crate::pack::stored_data(&record, data, &self.heads.accounts).map_err(|e| {
            e.at(
                &record,
                &self.dir.join(TXNS_FILE),
                &self.dir.join(TXNDATA_FILE),
            )
        })?;
        let facts = match std::str::from_utf8(&data)
            .ok()
            .and_then(|s| Event::parse("transaction.recorded", s).ok())
        {
            Some(Event::TxnRecorded(d)) if d.txn == txn => Some(TxnFacts {
                kind: record.kind,
                currency: record.currency,
                amount_minor: record.amount_minor,
            }),
            _ => None,
        };
        Ok((record.prev, facts))
    }

    /// Reads staged-or-written bytes of a file at `at`.
    fn read_staged(&self, file: usize, buf: &mut [u8], at: u64) -> Result<(), ViewError> {
        let written = self.written[file];
        let end = at + buf.len() as u64;
        let in_file = (written.min(end).saturating_sub(at)) as usize;
        if in_file > 0 {
            self.files[file]
                .read_exact_at(&mut buf[..in_file], at)
                .map_err(|e| ViewError::io(self.dir.join(FILES[file]), e))?;
        }
        let rest = &mut buf[in_file..];
        if rest.is_empty() {
            return Ok(());
        }
        // Here `at + in_file >= written`: the rest lies in the staged buffer.
        let from = (at + in_file as u64 - written) as usize;
        let staged = self.buffers[file]
            .get(from..from + rest.len())
            .ok_or_else(|| ViewError::corrupt(self.dir.join(FILES[file]), "read beyond staged"))?;
        rest.copy_from_slice(staged);
        Ok(())
    }

    fn account_number(&mut self, id: &str) -> Result<u32, ViewError> {
        let heads = &self.heads;
        let found = self.account_numbers.find(
            id,
            || heads.account_number(id),
            || numbering(heads.accounts.len(), heads.accounts.iter().map(|a| &a.id)),
        );
        if let Some(n) = found {
            return Ok(n);
        }
        let n = new_number(self.heads.accounts.len(), id)?;
        let id = HeadId::from(id);
        self.heads.accounts.push(AccountHead {
            id: id.clone(),
            opened: false,
            chain: 0,
            children: 0,
            txns: 0,
            hierarchy: 0,
        });
        self.account_numbers.added(&id, n);
        self.heads.account_added(n);
        Ok(n)
    }

    fn person_number(&mut self, id: &str) -> Result<u32, ViewError> {
        let heads = &self.heads;
        let found = self.person_numbers.find(
            id,
            || heads.person_number(id),
            || numbering(heads.persons.len(), heads.persons.iter().map(|p| &p.id)),
        );
        if let Some(n) = found {
            return Ok(n);
        }
        let n = new_number(self.heads.persons.len(), id)?;
        let id = HeadId::from(id);
        self.heads.persons.push(PersonHead {
            id: id.clone(),
            joined: false,
            chain: 0,
            teams: 0,
        });
        self.person_numbers.added(&id, n);
        self.heads.person_added(n);
        Ok(n)
    }

    fn write_buffers(&mut self) -> Result<(), ViewError> {
        for (i, name) in FILES.iter().enumerate() {
            if self.buffers[i].is_empty() {
                continue;
            }
            let path = self.dir.join(name);
            arl_io::write_at(&self.files[i], &path, &self.buffers[i], self.written[i])
                .map_err(|e| ViewError::io(path, e))?;
            self.written[i] += self.buffers[i].len() as u64;
            self.buffers[i].clear();
        }
        Ok(())
    }

    /// Commits every staged event: writes the data files and the changed buckets of
    /// `txnids.idx` in place, then the heads into a slot. Readers opened afterwards see the
    /// new events. Without a sync, unless a checkpoint is due (every
    /// [`CHECKPOINT_COMMITS`]th commit, after [`CHECKPOINT_BYTES`] of data, or always when
    /// the boot id is unknown): what a power loss takes is caught up from the log.
    pub fn commit(&mut self) -> Result<(), ViewError> {
        self.commit_as(false)
    }

    /// [`ViewWriter::commit`] as a checkpoint: every view file synced, then the heads
    /// written into a checkpoint slot and synced. Does nothing when the last slot written
    /// is a checkpoint and nothing is staged.
    pub fn commit_checkpoint(&mut self) -> Result<(), ViewError> {
        self.commit_as(true)
    }

    fn commit_as(&mut self, checkpoint: bool) -> Result<(), ViewError> {
        if self.poisoned {
            return Err(ViewError::Poisoned);
        }
        let staged = self.has_staged();
        if !staged && (!checkpoint || self.checkpoint_at.0 == self.heads.generation) {
            return Ok(());
        }
        self.poisoned = true;
        self.write_buffers()?;
        self.write_txnids_blocks()?;
        let due = checkpoint
            || self.fell_back
            || self.boot.is_none()
            || self.heads.generation + 1 - self.checkpoint_at.0 >= CHECKPOINT_COMMITS
            || data_bytes(&self.heads).saturating_sub(self.checkpoint_at.1) >= CHECKPOINT_BYTES;
        if due {
            self.write_checkpoint()?;
        } else {
            let slot = self.next_slot(COMMIT_SLOTS);
            self.write_slot(slot, false)?;
        }
        self.committed = lengths(&self.heads);
        self.poisoned = false;
        Ok(())
    }

    /// Syncs every view file, then writes the heads into the checkpoint slot not written
    /// last, synced.
    fn write_checkpoint(&mut self) -> Result<(), ViewError> {
        self.sync_files()?;
        // The one checkpoint slot to keep must be a valid one: a slot whose header the
        // open took at its word is checked first (a damaged one is overwritten first).
        for slot in CHECKPOINT_SLOTS {
            if !self.slot_checked[slot] {
                self.slot_generations[slot] = check_slot(&self.dir.join(HEADS_FILES[slot]))?
                    .map(|(generation, _)| generation);
                self.slot_checked[slot] = true;
            }
        }
        let slot = self.next_slot(CHECKPOINT_SLOTS);
        self.write_slot(slot, true)
    }

    fn sync_files(&self) -> Result<(), ViewError> {
        for (i, name) in FILES.iter().enumerate() {
            let path = self.dir.join(name);
            arl_io::sync_data(&self.files[i], &path).map_err(|e| ViewError::io(path, e))?;
        }
        Ok(())
    }

    /// Of a pair of slots, the one not written last (a missing or damaged one first).
    fn next_slot(&self, pair: [usize; 2]) -> usize {
        match (
            self.slot_generations[pair[0]],
            self.slot_generations[pair[1]],
        ) {
            (Some(a), Some(b)) if a < b => pair[0],
            (Some(_), _) => pair[1],
            (None, _) => pair[0],
        }
    }

    /// Writes the heads with the next generation into `slot`, in place. A checkpoint slot
    /// (`synced`) is synced, and says so; another records this boot's id, written without
    /// a sync. A crash mid-write leaves a slot that fails its checksum, and readers use
    /// another one.
    fn write_slot(&mut self, slot: usize, synced: bool) -> Result<(), ViewError> {
        self.heads.generation += 1;
        let mark = SlotMark {
            boot: self.boot.unwrap_or_default(),
            synced,
        };
        let path = self.dir.join(HEADS_FILES[slot]);
        let io = |e| ViewError::io(&path, e);
        let created = self.slot_files[slot].is_none() && !path.exists();
        if self.slot_files[slot].is_none() {
            let file = open_slot(&path)?;
            let len = file.metadata().map_err(io)?.len();
            self.slot_files[slot] = Some(SlotFile {
                file,
                len,
                stale: None,
            });
        }
        let changed =
            self.heads
                .encode_slot_cached(mark, &mut self.slot_bytes, &mut self.slot_cache);
        for (other, slot_file) in self.slot_files.iter_mut().enumerate() {
            if let Some(slot_file) = slot_file.as_mut().filter(|_| other != slot) {
                slot_file.mark_stale(&changed);
            }
        }
        let new_len = self.slot_bytes.len() as u64;
        let Some(slot_file) = &mut self.slot_files[slot] else {
            unreachable!("opened above");
        };
        // Unknown until the writes below all succeed.
        let stale = slot_file.stale.take();
        let mut ranges = match stale {
            Some(mut stale) => {
                stale.extend(changed);
                stale.push(slot_file.len.min(new_len) as usize..usize::MAX);
                stale
            }
            // Another writer's slot (the first write of a slot in a process): what it
            // holds is compared with the new bytes, and only the pages that differ are
            // written, as little as a commit changes instead of the whole slot (at 4M
            // events, 740 KB written and later flushed by each one-event append process).
            None => differing_pages(&slot_file.file, &self.slot_bytes, slot_file.len)
                .unwrap_or_else(|_| std::iter::once(0..usize::MAX).collect()),
        };
        write_ranges(&slot_file.file, &path, &self.slot_bytes, &mut ranges).map_err(io)?;
        if new_len < slot_file.len {
            arl_io::set_len(&slot_file.file, &path, new_len).map_err(io)?;
        }
        slot_file.len = new_len;
        slot_file.stale = Some(Vec::new());
        if synced {
            arl_io::sync_data(&slot_file.file, &path).map_err(io)?;
            self.checkpoint_at = (self.heads.generation, data_bytes(&self.heads));
            self.fell_back = false;
        }
        self.slot_generations[slot] = Some(self.heads.generation);
        self.slot_checked[slot] = true;
        if created && synced {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// After a fall-back to an older slot (the newer ones lost, torn or untrusted): with
    /// the view files cut to its lengths and the bucket table repaired, syncs the files and
    /// writes its state, as checkpoints, into every other slot, so that no newer or
    /// damaged slot is left over.
    fn settle(&mut self, current: usize) -> Result<(), ViewError> {
        self.sync_files()?;
        for slot in CHECKPOINT_SLOTS.into_iter().chain(COMMIT_SLOTS) {
            if slot != current {
                self.write_slot(slot, true)?;
            }
        }
        Ok(())
    }

    /// Rebuilds the bucket table of `txnids.idx` from its committed entries (their hashes
    /// give their buckets; the newest entry of a bucket is its head), checking on the way
    /// that each entry's `prev` is the head its bucket had, writes the blocks that differ,
    /// and syncs the file. After a power loss the blocks written since the last checkpoint
    /// may point at entries that were cut. When the file is at another layout than its
    /// committed entries' (a crash after its rewrite, before the heads), rewrites it.
    fn repair_txnids(&mut self) -> Result<(), ViewError> {
        let entries = self.committed[TX] / TXN_RECORD_BYTES;
        if TxnIdsLayout::for_entries(entries) != self.txnids_layout {
            self.relayout_txnids(entries)?;
            self.committed[TI] = self.written[TI];
            return Ok(());
        }
        let path = self.dir.join(FILES[TI]);
        crate::txnids::repair_table(&self.files[TI], &path, self.txnids_layout, entries)
    }
}

/// Opens (creates, mode 0600) the heads slot file at `path` for writing in place.
fn open_slot(path: &Path) -> Result<File, ViewError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| ViewError::io(path, e))
}

/// A heads slot file as this writer left it.
#[derive(Debug)]
struct SlotFile {
    file: File,
    len: u64,
    /// Where the file may differ from the slot bytes the writer encoded last: `None` when
    /// unknown (before its first write, after a write that failed, or after too many
    /// changes to follow); the next write of the slot writes those ranges only.
    stale: Option<Vec<std::ops::Range<usize>>>,
}

/// Ranges a slot file follows before it counts as all stale.
const STALE_RANGES_MAX: usize = 1024;

impl SlotFile {
    /// The slot bytes changed at `changed` without this file being written.
    fn mark_stale(&mut self, changed: &[std::ops::Range<usize>]) {
        if let Some(stale) = &mut self.stale {
            stale.extend_from_slice(changed);
            if stale.len() > STALE_RANGES_MAX {
                self.stale = None;
            }
        }
    }
}

/// Bytes of a slot file compared at a time, and the unit of a difference.
const DIFF_READ_BYTES: usize = 64 * 1024;
const DIFF_PAGE_BYTES: usize = 4096;

/// The ranges of `bytes` that may differ from the first `len` bytes of `file`: each page
/// (of [`DIFF_PAGE_BYTES`]) whose bytes differ, and everything from the shorter length on
/// (a range ending at `usize::MAX`). Written with [`write_ranges`], they leave the file
/// holding `bytes` (cut to its length after).
fn differing_pages(
    file: &File,
    bytes: &[u8],
    len: u64,
) -> std::io::Result<Vec<std::ops::Range<usize>>> {
    let common = usize::try_from(len).map_or(bytes.len(), |len| len.min(bytes.len()));
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut buf = vec![0u8; DIFF_READ_BYTES.min(common)];
    let mut at = 0;
    while at < common {
        let n = buf.len().min(common - at);
        file.read_exact_at(&mut buf[..n], at as u64)?;
        for start in (0..n).step_by(DIFF_PAGE_BYTES) {
            let end = (start + DIFF_PAGE_BYTES).min(n);
            if buf[start..end] == bytes[at + start..at + end] {
                continue;
            }
            match ranges.last_mut() {
                Some(last) if last.end == at + start => last.end = at + end,
                _ => ranges.push(at + start..at + end),
            }
        }
        at += n;
    }
    ranges.push(common..usize::MAX);
    Ok(ranges)
}

/// Writes the bytes of `bytes` that lie in `ranges` at the same offsets of `file`, ranges
/// closer than a page merged into one write.
fn write_ranges(
    file: &File,
    path: &Path,
    bytes: &[u8],
    ranges: &mut [std::ops::Range<usize>],
) -> std::io::Result<()> {
    const MERGE_GAP: usize = 4096;
    ranges.sort_by_key(|r| r.start);
    let mut run: Option<std::ops::Range<usize>> = None;
    let clipped = ranges
        .iter()
        .map(|r| r.start.min(bytes.len())..r.end.min(bytes.len()))
        .filter(|r| !r.is_empty());
    for range in clipped {
        match &mut run {
            Some(current) if range.start <= current.end + MERGE_GAP => {
                current.end = current.end.max(range.end);
            }
            _ => {
                if let Some(done) = run.replace(range) {
                    arl_io::write_at(file, path, &bytes[done.clone()], done.start as u64)?;
                }
            }
        }
    }
    if let Some(done) = run {
        arl_io::write_at(file, path, &bytes[done.clone()], done.start as u64)?;
    }
    Ok(())
}

/// The data bytes the heads commit: the sum of the four data files' lengths.
fn data_bytes(heads: &Heads) -> u64 {
    heads.events_len + heads.txns_len + heads.txndata_len + heads.times_len
}

/// Syncs a directory so that a rename or a new entry in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ViewError> {
    arl_io::sync_dir(dir).map_err(|e| ViewError::io(dir, e))
}

fn new_number(count: usize, id: &str) -> Result<u32, ViewError> {
    if id.is_empty() || id.len() > ID_BYTES_MAX {
        return Err(ViewError::Limit {
            what: "id bytes",
            value: id.len() as u64,
            max: ID_BYTES_MAX as u64,
        });
    }
    if count as u64 >= ENTITIES_MAX {
        return Err(ViewError::Limit {
            what: "accounts or persons",
            value: count as u64 + 1,
            max: ENTITIES_MAX,
        });
    }
    Ok(count as u32)
}

/// Lookups in the heads ([`crate::format::IdOrder`]: passes over the ids, then a binary
/// search once they are sorted) before a writer makes its map of ids: more than a
/// one-event append makes, fewer than any batch of a few hundred events.
const SEARCHES_BEFORE_MAP: u32 = 64;

/// The writer's numbers of the ids of one table (accounts or persons), for the lookups of
/// every staged event. The map is made on the writer's first lookup past
/// [`SEARCHES_BEFORE_MAP`], from the heads; before, an id is found in the heads' id order
/// (by a pass over the ids until it is sorted), which the writer keeps in step as it
/// numbers new ids once sorted. A one-event
/// append process so makes no map (at 4M events, 16,000 ids: about 1 ms and 0.5 MB of fresh
/// memory per process), a writer that stages many events makes it once.
#[derive(Debug, Default)]
struct IdNumbers {
    map: Option<HashMap<HeadId, u32>>,
    searches: u32,
}

impl IdNumbers {
    /// The number of `id`, if it has one: by `search` while the map is not made (and
    /// lookups are few), else from the map, made by `make` on first need.
    fn find(
        &mut self,
        id: &str,
        search: impl FnOnce() -> Option<u32>,
        make: impl FnOnce() -> HashMap<HeadId, u32>,
    ) -> Option<u32> {
        if self.map.is_none() {
            if self.searches < SEARCHES_BEFORE_MAP {
                self.searches += 1;
                return search();
            }
            self.map = Some(make());
        }
        self.map.as_ref().and_then(|map| map.get(id).copied())
    }

    /// A new id numbered `n` (already in the heads and their id order).
    fn added(&mut self, id: &HeadId, n: u32) {
        if let Some(map) = &mut self.map {
            map.insert(id.clone(), n);
        }
    }
}

/// Each id's number, in a map made at its full size at once (grown by doubling, it
/// allocated, faulted in and rehashed about twice its size).
fn numbering<'a>(count: usize, ids: impl Iterator<Item = &'a HeadId>) -> HashMap<HeadId, u32> {
    let mut numbers = HashMap::with_capacity_and_hasher(count, Default::default());
    numbers.extend(ids.enumerate().map(|(n, id)| (id.clone(), n as u32)));
    numbers
}

/// Cuts a file back to its committed length (a torn tail from a crash), saying whether there
/// was a tail; a file shorter than committed is corrupt.
fn truncate_tail(file: &File, path: &Path, committed: u64) -> Result<bool, ViewError> {
    let len = file.metadata().map_err(|e| ViewError::io(path, e))?.len();
    if len < committed {
        return Err(ViewError::corrupt(
            path,
            format!("{len} bytes, but heads commits {committed}"),
        ));
    }
    if len > committed {
        arl_io::set_len(file, path, committed).map_err(|e| ViewError::io(path, e))?;
        arl_io::sync_all(file, path).map_err(|e| ViewError::io(path, e))?;
    }
    Ok(len > committed)
}

/// Starts a fresh `txnids.idx`: the header of the smallest layout, then its empty blocks
/// (a hole in the file, read as zeros) up to where the entries start.
fn start_txnids(file: &File, path: &Path) -> Result<(), ViewError> {
    let io = |e| ViewError::io(path, e);
    let layout = TxnIdsLayout {
        block_bits: TXNIDS_BLOCK_BITS_MIN,
    };
    arl_io::set_len(file, path, 0).map_err(io)?;
    arl_io::set_len(file, path, layout.entries_at()).map_err(io)?;
    arl_io::write_at(file, path, &layout.header(), 0).map_err(io)?;
    arl_io::sync_all(file, path).map_err(io)
}

/// The key of a txn id in a writer's map of the transactions it staged, from its
/// [`txn_id_hash`].
pub(crate) fn txn_key(txn_hash: u64) -> u32 {
    (txn_hash ^ (txn_hash >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::read_slots;

    /// Ids are numbered the same before the writer makes its map of ids (binary search in
    /// the heads' id order) and after (the map, made from the heads, then kept in step).
    #[test]
    fn ids_keep_their_numbers_before_and_after_the_map_is_made() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut writer = ViewWriter::open(dir.path()).expect("open");
        let id = |k: u32| format!("acct-{}", (k * 7919) % 1000);
        let mut numbers = Vec::new();
        for k in 0..40 {
            numbers.push(writer.account_number(&id(k)).expect("numbered"));
            assert_eq!(writer.person_number(&id(k)).expect("numbered"), k);
        }
        assert_eq!(numbers, (0..40).collect::<Vec<_>>());
        assert!(
            writer.account_numbers.map.is_none(),
            "40 lookups, no map yet"
        );
        // Past the searches, the map is made and new ids go into it as well.
        for round in 0..3 {
            for k in 0..120 {
                let n = writer.account_number(&id(k)).expect("numbered");
                assert_eq!(n, k, "round {round}, id {}", id(k));
            }
        }
        assert!(writer.account_numbers.map.is_some(), "the map was made");
        assert!(
            writer.person_numbers.map.is_none(),
            "persons looked up 40 times"
        );
        let heads = writer.heads();
        assert_eq!(heads.accounts.len(), 120);
        for k in 0..120 {
            assert_eq!(heads.account_number(&id(k)), Some(k));
        }
    }

    /// Heads slots written over only where the heads changed since each was last written
    /// (in place, or rebuilt from a table that grew) pass their checksum and hold the
    /// heads: commits that change one entry of a table of several chunks, now and then
    /// one that adds an entry, and checkpoints between them.
    #[test]
    fn slots_written_where_they_changed_hold_the_heads() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut writer = ViewWriter::open(dir.path()).expect("open");
        let account = |n: u32| crate::format::AccountHead {
            id: format!("a{n:05}").into(),
            opened: true,
            chain: 0,
            children: 0,
            txns: 0,
            hierarchy: 0,
        };
        writer.heads.events_len = 1 << 20;
        writer.heads.accounts = (0..1000).map(account).collect();
        for round in 0..60u64 {
            let n = (round * 389 % 1000) as usize;
            writer.heads.accounts[n].chain = round + 1;
            if round % 10 == 9 {
                let next = writer.heads.accounts.len() as u32;
                writer.heads.accounts.push(account(next));
                writer.heads.account_added(next);
            }
            if round % 7 == 6 {
                let slot = writer.next_slot(CHECKPOINT_SLOTS);
                writer.write_slot(slot, true).expect("checkpoint");
            } else {
                let slot = writer.next_slot(COMMIT_SLOTS);
                writer.write_slot(slot, false).expect("commit");
            }
            let slots = read_slots(dir.path()).expect("slots");
            for (i, slot) in slots.slots.iter().enumerate() {
                let written = writer.slot_files[i].is_some();
                assert!(slot.is_some() || !written, "round {round}: slot {i}");
            }
            let current = slots.current.map(|(_, heads)| heads);
            assert_eq!(current.as_ref(), Some(&writer.heads), "round {round}");
        }
    }

    /// A checkpoint slot that the open took at its word (newer than the other checkpoint,
    /// older than the current commit slot, torn past its header) is checked before a
    /// checkpoint chooses which slot to overwrite: the torn one is, and the valid older
    /// checkpoint is kept.
    #[test]
    fn a_torn_checkpoint_slot_taken_at_its_word_is_the_one_overwritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut writer = ViewWriter::open(dir.path()).expect("open");
        for _ in 0..2 {
            let slot = writer.next_slot(CHECKPOINT_SLOTS);
            writer.write_slot(slot, true).expect("checkpoint");
        }
        let slot = writer.next_slot(COMMIT_SLOTS);
        writer.write_slot(slot, false).expect("commit");
        drop(writer);
        let slots = read_slots(dir.path()).expect("slots");
        let generation = |i: usize| slots.slots[i].expect("valid").0;
        let (older, newer) = if generation(2) < generation(3) {
            (2, 3)
        } else {
            (3, 2)
        };
        let newer_path = dir.path().join(HEADS_FILES[newer]);
        let mut torn = std::fs::read(&newer_path).expect("read");
        let at = torn.len() - 6;
        torn[at] ^= 0x20;
        std::fs::write(&newer_path, &torn).expect("write");
        let kept = std::fs::read(dir.path().join(HEADS_FILES[older])).expect("read");

        let mut writer = ViewWriter::open(dir.path()).expect("open again");
        assert!(
            !writer.slot_checked[newer],
            "the open checked the current slot alone"
        );
        writer.write_checkpoint().expect("checkpoint");
        let after = read_slots(dir.path()).expect("slots");
        assert_eq!(
            std::fs::read(dir.path().join(HEADS_FILES[older])).expect("read"),
            kept,
            "the valid checkpoint is kept"
        );
        assert_eq!(
            after.slots[newer].map(|s| s.0),
            Some(writer.heads.generation)
        );
        assert_eq!(after.current.map(|(i, _)| i), Some(newer));
    }

    /// A slot file of unknown content is written where it differs: whatever it held
    /// (longer, shorter, empty, a few bytes or many changed), writing the pages said to
    /// differ and cutting it to length leaves it holding the new bytes, and the pages said
    /// to differ are those that do (with everything past the shorter length).
    #[test]
    fn a_slot_file_of_unknown_content_is_written_where_it_differs() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("slot");
        let mut rng = arl_gen::rng::Rng::new(11);
        for round in 0..200 {
            let old_len = rng.pick(&[0, 1, 4095, 4096, 4097, 70_000, 200_000]) as usize;
            let old: Vec<u8> = (0..old_len).map(|_| rng.below(256) as u8).collect();
            let new_len = if rng.chance(500) {
                old_len
            } else {
                rng.below(200_000) as usize
            };
            let mut new: Vec<u8> = old.iter().copied().take(new_len).collect();
            new.resize_with(new_len, || rng.below(256) as u8);
            for _ in 0..rng.below(6) {
                if new_len > 0 {
                    let at = rng.below(new_len as u64) as usize;
                    new[at] ^= 1 + rng.below(255) as u8;
                }
            }
            std::fs::write(&path, &old).expect("write");
            let file = open_slot(&path).expect("open");
            let mut ranges = differing_pages(&file, &new, old_len as u64).expect("compare");
            let common = old_len.min(new_len);
            let said: std::collections::BTreeSet<usize> = ranges
                .iter()
                .filter(|r| r.end != usize::MAX)
                .flat_map(|r| r.start / DIFF_PAGE_BYTES..r.end.div_ceil(DIFF_PAGE_BYTES))
                .collect();
            // Byte by byte: the pages where the two differ before the shorter length.
            let differing: std::collections::BTreeSet<usize> = (0..common)
                .filter(|&i| old[i] != new[i])
                .map(|i| i / DIFF_PAGE_BYTES)
                .collect();
            assert_eq!(said, differing, "round {round}");
            assert_eq!(ranges.last(), Some(&(common..usize::MAX)), "round {round}");
            write_ranges(&file, &path, &new, &mut ranges).expect("write ranges");
            if new_len < old_len {
                arl_io::set_len(&file, &path, new_len as u64).expect("cut");
            }
            assert!(std::fs::read(&path).expect("read") == new, "round {round}");
        }
    }

    /// Whatever the ranges (overlapping, out of order, past the end), the file ends
    /// holding the new bytes when it held them everywhere outside the ranges.
    #[test]
    fn ranges_are_written_where_they_lie() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("slot");
        let old: Vec<u8> = (0..20_000).map(|i| (i % 251) as u8).collect();
        let cases: Vec<Vec<std::ops::Range<usize>>> = vec![
            vec![],
            vec![0..10],
            vec![5_000..5_001, 100..200, 19_990..usize::MAX],
            vec![9_000..9_100, 3_000..13_000, 12_000..12_500],
            vec![0..usize::MAX],
        ];
        for ranges in cases {
            let mut new = old.clone();
            for (i, byte) in new.iter_mut().enumerate() {
                if ranges.iter().any(|r| r.contains(&i)) {
                    *byte = !*byte;
                }
            }
            std::fs::write(&path, &old).expect("write");
            let file = OpenOptions::new().write(true).open(&path).expect("open");
            write_ranges(&file, &path, &new, &mut ranges.clone()).expect("write ranges");
            assert!(
                std::fs::read(&path).expect("read") == new,
                "ranges {ranges:?}"
            );
        }
    }
}
