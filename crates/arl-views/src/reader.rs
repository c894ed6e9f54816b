//! [`ViewReader`]: reads `heads`, then only the records a query needs, by positioned reads.

use crate::format::{
    decode_time, event_record_ok, kind_name, txn_record_ok, EventHeader, Heads, TxnRecord,
    DATA_BYTES_MAX, EVENTS_FILE, EVENT_HEADER_BYTES, HEADS_FILES, TIMES_FILE, TIME_BYTES,
    TXNDATA_CHECKSUM_BYTES, TXNDATA_FILE, TXNS_FILE, TXN_RECORD_BYTES,
};
use crate::ViewError;
use arl_domain::money::Currency;
use arl_domain::{Event, Recorded, Timestamp};
use arl_fold::{Source, SourceError, TxnRow};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes read at once for an event record: most records fit, longer ones take a second read.
const EVENT_READ_BYTES: u64 = 512;

/// The longest committed region of a data file (`events.dat`, `txnids.idx`) that the
/// readers a writer hands out read through a mapping; past it, positioned reads. Every page
/// a mapping has touched stays in the process's resident memory while the mapping lives,
/// and a read maps the cached pages around it too (16 of them), so a bulk import, whose
/// validation reads old records and transaction ids all over both files, held nearly the
/// whole of each resident (about 17 bytes an event each: 1.1 GB at 32M events). Below the
/// bound mappings keep their speed for the ledgers most users have (32 MiB: about 2M events
/// of `events.dat`); past it the process holds at most this much of each file, and reads
/// cost a system call each (the cache of decoded records in front of `events.dat` answers
/// most of a server's).
pub const MAPPED_BYTES_MAX: u64 = 32 << 20;

/// A read-only view of one committed state of the views: the `heads` it was opened with and
/// the four data files, read no further than the lengths `heads` commits.
#[derive(Debug)]
pub struct ViewReader {
    dir: PathBuf,
    /// Shared with the writer that handed it out and with the other readers of its commit.
    heads: Arc<Heads>,
    /// The data files, shared by the readers one writer hands out.
    files: Arc<DataFiles>,
    /// `events.dat` mapped at least up to its committed length (`None`: positioned reads):
    /// a card follows a few dozen back-pointers through it, and a system call per record
    /// cost more than the parse. Shared by the readers one writer hands out, which map it
    /// only up to [`MAPPED_BYTES_MAX`].
    events_map: Option<Arc<memmap2::Mmap>>,
    /// `times.dat` mapped at least up to its committed length, when the writer that handed
    /// this reader out shares one (a `known_at` is a binary search of about twenty
    /// entries: a system call each without it).
    times_map: Option<Arc<memmap2::Mmap>>,
    /// Records of `events.dat` already read and decoded, shared with the other readers of
    /// the same writer (`None`: every record is read and decoded when asked for).
    cache: Option<Arc<EventCache>>,
    /// `txnids.idx` as the writer that handed this reader out holds it (`None`: opened
    /// by its path when a validation first asks for a txn id).
    txnids: Option<Arc<File>>,
    /// The longest region of `txnids.idx` a validation through this reader maps
    /// ([`MAPPED_BYTES_MAX`] unless its writer was given another bound).
    mapped_max: u64,
}

/// The four data files of a views directory, open for reading (positioned reads only, so
/// that readers on several threads share them).
#[derive(Debug)]
pub(crate) struct DataFiles {
    events: File,
    txns: File,
    txndata: File,
    times: File,
}

impl DataFiles {
    pub(crate) fn open(views_dir: &Path) -> Result<DataFiles, ViewError> {
        let open = |name: &str| {
            let path = views_dir.join(name);
            File::open(&path).map_err(|e| ViewError::io(path, e))
        };
        Ok(DataFiles {
            events: open(EVENTS_FILE)?,
            txns: open(TXNS_FILE)?,
            txndata: open(TXNDATA_FILE)?,
            times: open(TIMES_FILE)?,
        })
    }

    /// `events.dat` mapped over `map_len` bytes, of which it holds at least `len` (see
    /// [`map_ahead`]).
    pub(crate) fn map_events(
        &self,
        views_dir: &Path,
        len: u64,
        map_len: u64,
    ) -> Result<Option<Arc<memmap2::Mmap>>, ViewError> {
        map_shared(&self.events, &views_dir.join(EVENTS_FILE), len, map_len)
    }

    /// `times.dat` mapped the same way.
    pub(crate) fn map_times(
        &self,
        views_dir: &Path,
        len: u64,
        map_len: u64,
    ) -> Result<Option<Arc<memmap2::Mmap>>, ViewError> {
        map_shared(&self.times, &views_dir.join(TIMES_FILE), len, map_len)
    }
}

/// `file` (at `path`) mapped over `map_len` bytes for readers to share (see [`map_ahead`]).
fn map_shared(
    file: &File,
    path: &Path,
    len: u64,
    map_len: u64,
) -> Result<Option<Arc<memmap2::Mmap>>, ViewError> {
    map_ahead(file, len, map_len)
        .map(|map| map.map(Arc::new))
        .map_err(|e| ViewError::io(path.to_path_buf(), e))
}

/// Shards of each map of an [`EventCache`], each behind its own lock.
const CACHE_SHARDS: usize = 16;

/// What a shard keeps before it forgets it all: records (131,072 in all, about 40 MB of
/// decoded events at the sizes the generator makes), and chains holding events (262,144 in
/// all, each chain counting one more than its events): a chain keeps its decoded events
/// alive after the records' shard forgets them, and an account's chain grows with its
/// history, so chains are bounded by the events they hold, not by their number.
const CACHE_SHARD_RECORDS: usize = 8_192;
const CACHE_SHARD_CHAIN_EVENTS: usize = 16_384;

/// Ids a shard of [`Numbers`] keeps before it forgets them all (65,536 accounts and as
/// many people in all).
const CACHE_SHARD_NUMBERS: usize = 4_096;

/// Decoded records of `events.dat` by offset, and the chains followed from a record, kept
/// by a [`crate::ViewWriter`] for the readers it hands out, so that a long-running process
/// (the server: cards at random points read the same accounts' and people's chains again
/// and again) reads, checks and parses each record once and follows each chain once. A
/// committed record never changes at its offset while its writer lives (records are only
/// ever appended; a replay swaps in new files under a new writer), and a chain followed
/// from a record is the same whenever it is followed, so what is kept is never stale.
/// Bounded: a full shard is emptied.
#[derive(Default)]
pub struct EventCache {
    records: Shards<(EventHeader, Arc<Recorded>)>,
    chains: Shards<Arc<Vec<Arc<Recorded>>>>,
    /// The numbers of the accounts and people looked up: a card names a few dozen ids,
    /// each a binary search over the sorted order otherwise.
    account_numbers: Numbers,
    person_numbers: Numbers,
}

impl std::fmt::Debug for EventCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCache").finish_non_exhaustive()
    }
}

/// A map from a u64 key, in [`CACHE_SHARDS`] shards behind locks of their own.
struct Shards<V> {
    shards: [std::sync::Mutex<Shard<V>>; CACHE_SHARDS],
}

/// One shard of [`Shards`]: its values by key, each with its weight, and their sum.
struct Shard<V> {
    values: rustc_hash::FxHashMap<u64, (V, usize)>,
    weight: usize,
}

impl<V> Default for Shard<V> {
    fn default() -> Self {
        Shard {
            values: Default::default(),
            weight: 0,
        }
    }
}

impl<V> Default for Shards<V> {
    fn default() -> Self {
        Shards {
            shards: std::array::from_fn(|_| Default::default()),
        }
    }
}

impl<V: Clone> Shards<V> {
    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, Shard<V>> {
        // Keys are offsets of records at least a header long: dividing by 64 spreads them.
        let shard = &self.shards[(key / 64) as usize % CACHE_SHARDS];
        shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: u64) -> Option<V> {
        self.shard(key)
            .values
            .get(&key)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value` of `weight` at `key` (in place of what it held); a shard whose values
    /// would weigh more than `per_shard` forgets all the others.
    fn put(&self, key: u64, value: V, weight: usize, per_shard: usize) {
        let mut shard = self.shard(key);
        let replaced = shard
            .values
            .insert(key, (value, weight))
            .map_or(0, |(_, w)| w);
        shard.weight = shard.weight - replaced + weight;
        if shard.weight > per_shard && shard.values.len() > 1 {
            shard.values.retain(|kept, _| *kept == key);
            shard.weight = weight;
        }
    }
}

/// Numbers by id, in [`CACHE_SHARDS`] shards behind locks of their own. An id's number
/// never changes once it is given (entities are only ever pushed onto the heads), but a
/// reader takes a number from here only after checking that its own heads hold that id at
/// that number, so what is kept can never answer wrongly.
#[derive(Default)]
struct Numbers {
    shards: [std::sync::Mutex<rustc_hash::FxHashMap<Box<str>, u32>>; CACHE_SHARDS],
}

impl Numbers {
    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, rustc_hash::FxHashMap<Box<str>, u32>> {
        use std::hash::BuildHasher;
        let hash = rustc_hash::FxBuildHasher.hash_one(id);
        // Middle bits: the map inside the shard places a key by the low bits and tags it
        // with the top seven, which would be nearly the same for every key of a shard
        // chosen by them (long probes, a string compare at each).
        let shard = &self.shards[(hash >> 32) as usize % CACHE_SHARDS];
        shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, id: &str) -> Option<u32> {
        self.shard(id).get(id).copied()
    }

    fn put(&self, id: &str, number: u32) {
        let mut shard = self.shard(id);
        if shard.len() >= CACHE_SHARD_NUMBERS {
            shard.clear();
        }
        shard.insert(id.into(), number);
    }
}

/// The number of `id`: the one `numbers` keeps when `holds` it (the reader's heads have
/// that id at that number), else the one `search` finds, then kept.
fn cached_number(
    numbers: Option<&Numbers>,
    id: &str,
    search: impl FnOnce() -> Option<u32>,
    holds: impl FnOnce(u32) -> bool,
) -> Option<u32> {
    let Some(numbers) = numbers else {
        return search();
    };
    match numbers.get(id) {
        Some(n) if holds(n) => Some(n),
        _ => {
            let n = search()?;
            numbers.put(id, n);
            Some(n)
        }
    }
}

/// Maps the first `len` bytes of `file` read-only (`None` when empty).
pub(crate) fn map_prefix(file: &File, len: u64) -> std::io::Result<Option<memmap2::Mmap>> {
    map_ahead(file, len, len)
}

/// Maps `file` read-only over `map_len` bytes, at least its committed length `len`, which
/// the file must hold (`None` when `len` is 0).
///
/// Safety of the mapping rests on the ledger's locking: readers hold the shared lock, so no
/// writer runs meanwhile; writers only ever append beyond the committed length or truncate
/// back to it, and a replay swaps in new files (the mapped ones stay as they were). A file
/// shorter than its committed length is reported corrupt before it is mapped. A mapping
/// longer than the file (a writer maps `events.dat` and `times.dat` with room to grow, for
/// the readers of its later commits to share) is never read past the committed length of
/// the reader using it, which the file holds; the writer's appends beyond it show through
/// the shared mapping. The one region written in place, the bucket table of `txnids.idx`,
/// is written by the writer at its commits, not while the writer reads its own mapping of
/// it, and is replaced by a new file when it grows.
#[allow(
    unsafe_code,
    reason = "the one memory map of the project; its safety is argued above"
)]
pub(crate) fn map_ahead(
    file: &File,
    len: u64,
    map_len: u64,
) -> std::io::Result<Option<memmap2::Mmap>> {
    if len == 0 {
        return Ok(None);
    }
    if file.metadata()?.len() < len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "shorter than its committed length",
        ));
    }
    let map_len =
        usize::try_from(map_len.max(len)).map_err(|_| std::io::Error::other("too large to map"))?;
    // SAFETY: see above; readers read only committed bytes, which nothing rewrites.
    let map = unsafe { memmap2::MmapOptions::new().len(map_len).map(file)? };
    Ok(Some(map))
}

/// Which of the three back-pointers of a record continues a chain.
#[derive(Clone, Copy)]
enum Link {
    First,
    Second,
    Third,
}

impl ViewReader {
    /// Opens the views in `views_dir`: reads and checks `heads`, opens the data files.
    pub fn open(views_dir: &Path) -> Result<ViewReader, ViewError> {
        let heads = crate::format::read_heads(views_dir)?.ok_or_else(|| ViewError::Missing {
            path: views_dir.join(HEADS_FILES[0]),
        })?;
        ViewReader::with_heads(views_dir, heads)
    }

    /// A reader of the state `heads` describes (the writer hands out its committed heads).
    pub fn with_heads(views_dir: &Path, heads: Heads) -> Result<ViewReader, ViewError> {
        ViewReader::with_shared_heads(views_dir, Arc::new(heads))
    }

    /// A reader of the state `heads` describes, sharing them with whoever else holds them.
    pub fn with_shared_heads(views_dir: &Path, heads: Arc<Heads>) -> Result<ViewReader, ViewError> {
        let files = DataFiles::open(views_dir)?;
        let events_map = files.map_events(views_dir, heads.events_len, heads.events_len)?;
        Ok(ViewReader::with_files(
            views_dir,
            heads,
            Arc::new(files),
            events_map,
            None,
        ))
    }

    /// A reader of the state `heads` describes over files already open, a map of
    /// `events.dat` that covers at least its committed length and, optionally, one of
    /// `times.dat` that does (a writer keeps them for the readers it hands out).
    pub(crate) fn with_files(
        views_dir: &Path,
        heads: Arc<Heads>,
        files: Arc<DataFiles>,
        events_map: Option<Arc<memmap2::Mmap>>,
        times_map: Option<Arc<memmap2::Mmap>>,
    ) -> ViewReader {
        let covers = |map: &Option<Arc<memmap2::Mmap>>, len: u64| {
            map.as_ref().is_some_and(|m| m.len() as u64 >= len)
        };
        debug_assert!(events_map.is_none() || covers(&events_map, heads.events_len));
        debug_assert!(times_map.is_none() || covers(&times_map, heads.times_len));
        ViewReader {
            dir: views_dir.to_path_buf(),
            heads,
            files,
            events_map,
            times_map,
            cache: None,
            txnids: None,
            mapped_max: MAPPED_BYTES_MAX,
        }
    }

    /// This reader, reading `txnids.idx` through `file` (the writer's) and mapping at most
    /// `mapped_max` bytes of it.
    pub(crate) fn with_txnids(mut self, file: Option<Arc<File>>, mapped_max: u64) -> ViewReader {
        self.txnids = file;
        self.mapped_max = mapped_max;
        self
    }

    /// The longest region of `txnids.idx` a validation through this reader maps.
    pub(crate) fn mapped_max(&self) -> u64 {
        self.mapped_max
    }

    /// Whether this reader reads `events.dat` through a mapping (else by positioned reads).
    pub fn reads_events_mapped(&self) -> bool {
        self.events_map.is_some()
    }

    /// `txnids.idx` as the writer that handed this reader out holds it, if it did.
    pub(crate) fn txnids_file(&self) -> Option<&Arc<File>> {
        self.txnids.as_ref()
    }

    /// This reader, keeping the records and chains it reads in `cache` and taking them
    /// from there.
    pub(crate) fn with_cache(mut self, cache: Arc<EventCache>) -> ViewReader {
        self.cache = Some(cache);
        self
    }

    /// The record at byte `offset` of `events.dat`, from the cache when it holds it (and
    /// it lies within this reader's committed length), else read, checked and kept.
    fn event_shared(&self, offset: u64) -> Result<(EventHeader, Arc<Recorded>), ViewError> {
        let Some(cache) = &self.cache else {
            let (header, recorded) = self.event_at(offset)?;
            return Ok((header, Arc::new(recorded)));
        };
        if let Some((header, recorded)) = cache.records.get(offset) {
            let end = offset + EVENT_HEADER_BYTES + u64::from(header.data_len);
            if end <= self.heads.events_len {
                return Ok((header, recorded));
            }
        }
        let (header, recorded) = self.event_at(offset)?;
        let recorded = Arc::new(recorded);
        cache
            .records
            .put(offset, (header, recorded.clone()), 1, CACHE_SHARD_RECORDS);
        Ok((header, recorded))
    }

    /// The views directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `heads` this reader was opened with.
    pub fn heads(&self) -> &Heads {
        &self.heads
    }

    /// `txns.dat`, open at its committed state (for the sequential scan of its rows).
    pub(crate) fn txns_file(&self) -> &File {
        &self.files.txns
    }

    fn corrupt(&self, file: &str, what: impl Into<String>) -> ViewError {
        ViewError::corrupt(self.dir.join(file), what)
    }

    fn checksum_failed(&self, file: &str, offset: u64) -> ViewError {
        ViewError::Checksum {
            path: self.dir.join(file),
            offset,
        }
    }

    fn read_at(&self, file: &File, name: &str, buf: &mut [u8], at: u64) -> Result<(), ViewError> {
        file.read_exact_at(buf, at)
            .map_err(|e| ViewError::io(self.dir.join(name), e))
    }

    /// The record at byte `offset` of `events.dat`.
    pub(crate) fn event_at(&self, offset: u64) -> Result<(EventHeader, Recorded), ViewError> {
        let len = self.heads.events_len;
        if offset
            .checked_add(EVENT_HEADER_BYTES)
            .is_none_or(|end| end > len)
        {
            return Err(self.corrupt(EVENTS_FILE, format!("record at {offset} beyond the end")));
        }
        let mut first = [0u8; (EVENT_HEADER_BYTES + EVENT_READ_BYTES) as usize];
        let mut owned = Vec::new();
        let buf: &[u8] = if let Some(map) = &self.events_map {
            &map[offset as usize..len as usize]
        } else {
            let first =
                &mut first[..(EVENT_HEADER_BYTES + EVENT_READ_BYTES).min(len - offset) as usize];
            self.read_at(&self.files.events, EVENTS_FILE, first, offset)?;
            first
        };
        let mut header_bytes = [0u8; EVENT_HEADER_BYTES as usize];
        header_bytes.copy_from_slice(&buf[..EVENT_HEADER_BYTES as usize]);
        let header = EventHeader::decode(&header_bytes);
        let total = EVENT_HEADER_BYTES + u64::from(header.data_len);
        if header.data_len > DATA_BYTES_MAX || total > len - offset {
            return Err(self.corrupt(EVENTS_FILE, format!("record at {offset} has a bad length")));
        }
        let buf: &[u8] = if total as usize > buf.len() {
            owned.resize(total as usize, 0);
            self.read_at(&self.files.events, EVENTS_FILE, &mut owned, offset)?;
            &owned
        } else {
            buf
        };
        if !event_record_ok(&buf[..total as usize]) {
            return Err(self.checksum_failed(EVENTS_FILE, offset));
        }
        let data = &buf[EVENT_HEADER_BYTES as usize..total as usize];
        let recorded = self.recorded(
            EVENTS_FILE,
            header.seq,
            header.kind,
            data,
            (header.effective_at, header.recorded_at),
        )?;
        if recorded.event.is_transaction() {
            return Err(self.corrupt(EVENTS_FILE, "a transaction event in events.dat"));
        }
        Ok((header, recorded))
    }

    fn recorded(
        &self,
        file: &str,
        seq: u64,
        kind: u8,
        data: &[u8],
        (effective_at, recorded_at): (i64, i64),
    ) -> Result<Recorded, ViewError> {
        if seq == 0 || seq > self.heads.checkpoint {
            return Err(self.corrupt(
                file,
                format!("seq {seq} outside 1..={}", self.heads.checkpoint),
            ));
        }
        let kind = kind_name(kind)
            .ok_or_else(|| self.corrupt(file, format!("unknown kind code {kind}")))?;
        let data = std::str::from_utf8(data).map_err(|_| ViewError::BadEvent {
            seq,
            message: "data is not UTF-8".into(),
        })?;
        let event = Event::parse(kind, data).map_err(|e| ViewError::BadEvent {
            seq,
            message: e.to_string(),
        })?;
        Ok(Recorded {
            seq,
            effective_at: Timestamp(effective_at),
            recorded_at: Timestamp(recorded_at),
            event,
        })
    }

    /// Follows a chain from `head` (offset + 1), keeping events for which `belongs` holds
    /// (anything else is corruption); returns them in seq order.
    fn walk(
        &self,
        head: u64,
        link: Link,
        belongs: impl Fn(&Event) -> bool,
    ) -> Result<Vec<Arc<Recorded>>, ViewError> {
        // A chain is known by the record it is followed from and the link followed (each
        // record is on one chain per link); taken from the cache only when that record lies
        // within this reader's committed length, as every record on the chain then does.
        let key = head.wrapping_mul(4) + link as u64;
        let cache = self.cache.as_ref().filter(|_| head != 0);
        if let Some(cache) = cache {
            if head <= self.heads.events_len {
                if let Some(chain) = cache.chains.get(key) {
                    return Ok(chain.as_ref().clone());
                }
            }
        }
        let mut out = Vec::new();
        let mut pointer = head;
        while pointer != 0 {
            let (header, recorded) = self.event_shared(pointer - 1)?;
            if !belongs(&recorded.event) {
                return Err(self.corrupt(
                    EVENTS_FILE,
                    format!("seq {} is on the wrong chain", header.seq),
                ));
            }
            let next = match link {
                Link::First => header.prev1,
                Link::Second => header.prev2,
                Link::Third => header.prev3,
            };
            if next >= pointer {
                return Err(self.corrupt(EVENTS_FILE, format!("seq {} points forward", header.seq)));
            }
            pointer = next;
            out.push(recorded);
        }
        out.reverse();
        if let Some(cache) = cache {
            let weight = out.len() + 1;
            cache
                .chains
                .put(key, Arc::new(out.clone()), weight, CACHE_SHARD_CHAIN_EVENTS);
        }
        Ok(out)
    }

    /// The transaction record with number `index` (0-based).
    pub(crate) fn txn_at(&self, index: u64) -> Result<TxnRecord, ViewError> {
        if (index + 1) * TXN_RECORD_BYTES > self.heads.txns_len {
            return Err(self.corrupt(TXNS_FILE, format!("record {index} beyond the end")));
        }
        let mut bytes = [0u8; TXN_RECORD_BYTES as usize];
        let at = index * TXN_RECORD_BYTES;
        self.read_at(&self.files.txns, TXNS_FILE, &mut bytes, at)?;
        if !txn_record_ok(&bytes) {
            return Err(self.checksum_failed(TXNS_FILE, at));
        }
        Ok(TxnRecord::decode(&bytes))
    }

    pub(crate) fn txn_recorded(&self, record: &TxnRecord) -> Result<Recorded, ViewError> {
        let end = record
            .data_offset
            .checked_add(u64::from(record.data_len) + TXNDATA_CHECKSUM_BYTES);
        if record.data_len > DATA_BYTES_MAX || end.is_none_or(|end| end > self.heads.txndata_len) {
            return Err(self.corrupt(
                TXNS_FILE,
                format!("seq {}: data beyond txndata.dat", record.seq),
            ));
        }
        let mut data = vec![0u8; record.data_len as usize + TXNDATA_CHECKSUM_BYTES as usize];
        self.read_at(
            &self.files.txndata,
            TXNDATA_FILE,
            &mut data,
            record.data_offset,
        )?;
        let data = crate::pack::stored_data(record, data, &self.heads.accounts).map_err(|e| {
            e.at(
                record,
                &self.dir.join(TXNS_FILE),
                &self.dir.join(TXNDATA_FILE),
            )
        })?;
        let times = (record.effective_at, record.recorded_at);
        self.recorded(TXNDATA_FILE, record.seq, record.event_kind(), &data, times)
    }

    fn txn_row(&self, record: &TxnRecord) -> Result<TxnRow, ViewError> {
        crate::scan::txn_row(
            record,
            currency_of(record.currency),
            self.heads.accounts.len(),
        )
        .map_err(|what| self.corrupt(TXNS_FILE, format!("seq {}: {what}", record.seq)))
    }

    fn account(&self, id: &str) -> Option<&crate::format::AccountHead> {
        let n = self.account_number_cached(id)?;
        self.heads.accounts.get(n as usize)
    }

    /// The number of an account, from the cache when this reader's heads agree with it.
    fn account_number_cached(&self, id: &str) -> Option<u32> {
        let heads = &self.heads;
        cached_number(
            self.cache.as_deref().map(|c| &c.account_numbers),
            id,
            || heads.account_number(id),
            |n| heads.accounts.get(n as usize).is_some_and(|a| &*a.id == id),
        )
    }

    /// The number of a person, from the cache when this reader's heads agree with it.
    fn person_number_cached(&self, id: &str) -> Option<u32> {
        let heads = &self.heads;
        cached_number(
            self.cache.as_deref().map(|c| &c.person_numbers),
            id,
            || heads.person_number(id),
            |n| heads.persons.get(n as usize).is_some_and(|p| &*p.id == id),
        )
    }

    /// The largest seq recorded at or before `known_at`, by binary search over `times.dat`.
    pub fn seq_known_at(&self, known_at: Timestamp) -> Result<u64, ViewError> {
        let (mut lo, mut hi) = (0u64, self.heads.checkpoint);
        // Invariant: seqs 1..=lo are known at `known_at`; seqs beyond hi are not.
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let mut entry = [0u8; TIME_BYTES as usize];
            let at = (mid - 1) * TIME_BYTES;
            match &self.times_map {
                // The map covers the committed length, and `mid` ≤ the checkpoint.
                Some(map) => entry.copy_from_slice(&map[at as usize..(at + TIME_BYTES) as usize]),
                None => self.read_at(&self.files.times, TIMES_FILE, &mut entry, at)?,
            }
            let time =
                decode_time(mid, &entry).ok_or_else(|| self.checksum_failed(TIMES_FILE, at))?;
            if time <= known_at.0 {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    pub fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, ViewError> {
        let Some(head) = self.account(account) else {
            return Ok(Vec::new());
        };
        self.walk(head.chain, Link::First, |e| {
            e.account() == Some(account) && !e.is_transaction()
        })
    }

    pub fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, ViewError> {
        let Some(head) = self.account(account) else {
            return Ok(Vec::new());
        };
        self.walk(head.children, Link::Second, |e| match e {
            Event::AccountOpened(d) => d.parent.as_deref() == Some(account),
            Event::ParentChanged(d) => d.parent.as_deref() == Some(account),
            _ => false,
        })
    }

    pub fn person_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, ViewError> {
        let mut events = self.person_org_events(person)?;
        if let Some(n) = self.person_number_cached(person) {
            let head = self.heads.persons[n as usize].teams;
            events.extend(self.walk(head, Link::Second, |e| {
                matches!(e, Event::TeamAssigned(_) | Event::TeamUnassigned(_))
                    && e.person() == Some(person)
            })?);
        }
        events.sort_by_key(|r| r.seq);
        Ok(events)
    }

    /// The `person.*` and `reporting.*` events whose subject is the person.
    pub fn person_org_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, ViewError> {
        let Some(n) = self.person_number_cached(person) else {
            return Ok(Vec::new());
        };
        let head = self.heads.persons[n as usize].chain;
        self.walk(head, Link::First, |e| {
            e.account().is_none() && e.person() == Some(person)
        })
    }

    /// The account's `account.opened`, `account.parent_changed` and `account.status_changed`.
    pub fn account_hierarchy(&self, account: &str) -> Result<Vec<Arc<Recorded>>, ViewError> {
        let Some(head) = self.account(account) else {
            return Ok(Vec::new());
        };
        self.walk(head.hierarchy, Link::Third, |e| {
            e.account() == Some(account) && arl_fold::subset::is_hierarchy(e)
        })
    }

    pub fn org_events(&self) -> Result<Vec<Arc<Recorded>>, ViewError> {
        self.walk(self.heads.org, Link::Second, |e| e.account().is_none())
    }

    pub fn account_ids(&self) -> Vec<String> {
        let accounts = &self.heads.accounts;
        let ids = self
            .heads
            .accounts_sorted()
            .iter()
            .map(|n| &accounts[n as usize]);
        ids.filter(|a| a.opened).map(|a| a.id.to_string()).collect()
    }

    pub fn person_ids(&self) -> Vec<String> {
        let persons = &self.heads.persons;
        let ids = self
            .heads
            .persons_sorted()
            .iter()
            .map(|n| &persons[n as usize]);
        ids.filter(|p| p.joined).map(|p| p.id.to_string()).collect()
    }

    pub fn txn_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, ViewError> {
        let Some(n) = self.account_number_cached(account) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut pointer = self.heads.accounts[n as usize].txns;
        while pointer != 0 {
            let record = self.txn_at(pointer - 1)?;
            let recorded = self.txn_recorded(&record)?;
            if record.account != n
                || recorded.event.account() != Some(account)
                || record.prev >= pointer
            {
                return Err(self.corrupt(
                    TXNS_FILE,
                    format!("seq {} is on the wrong chain", record.seq),
                ));
            }
            pointer = record.prev;
            out.push(Arc::new(recorded));
        }
        out.reverse();
        Ok(out)
    }

    /// Every transaction row in seq order, read sequentially in large blocks.
    pub fn txn_rows(&self, each: &mut dyn FnMut(&TxnRow)) -> Result<(), ViewError> {
        self.txn_rows_between(0, self.heads.txns_len / TXN_RECORD_BYTES, each)
    }

    pub fn account_of(&self, number: u32) -> Option<String> {
        self.heads
            .accounts
            .get(number as usize)
            .map(|a| a.id.to_string())
    }
}

/// The currency of a stored code; a few codes recur on millions of rows, so the last ones
/// looked up are kept per thread.
fn currency_of(code: [u8; 3]) -> Option<Currency> {
    thread_local! {
        static RECENT: std::cell::RefCell<Vec<Currency>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some(hit) = recent.iter().find(|c| c.code_bytes() == code) {
            return Some(*hit);
        }
        let found = Currency::from_code(std::str::from_utf8(&code).ok()?)?;
        if recent.len() >= 16 {
            recent.remove(0);
        }
        recent.push(found);
        Some(found)
    })
}

impl Source for ViewReader {
    fn txn_row_count(&self) -> u64 {
        self.heads.txns_len / TXN_RECORD_BYTES
    }
    fn txn_rows_range(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(&TxnRow),
    ) -> Result<(), SourceError> {
        Ok(self.txn_rows_between(from, to, each)?)
    }
    fn as_sync(&self) -> Option<&(dyn Source + Sync)> {
        Some(self)
    }
    fn account_hierarchy(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(ViewReader::account_hierarchy(self, account)?)
    }
    fn person_org_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(ViewReader::person_org_events(self, person)?)
    }
    fn person_lifecycle(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let mut events = ViewReader::person_org_events(self, person)?;
        events.retain(|r| matches!(r.event, Event::PersonJoined(_) | Event::PersonLeft(_)));
        Ok(events)
    }
    fn account_number(&self, account: &str) -> Option<u32> {
        self.account_number_cached(account)
    }
    fn account_txn_rows(
        &self,
        account: &str,
        each: &mut dyn FnMut(&TxnRow),
    ) -> Result<(), SourceError> {
        let Some(n) = self.account_number_cached(account) else {
            return Ok(());
        };
        let mut rows = Vec::new();
        let mut pointer = self.heads.accounts[n as usize].txns;
        while pointer != 0 {
            let record = self.txn_at(pointer - 1)?;
            if record.account != n || record.prev >= pointer {
                return Err(self
                    .corrupt(
                        TXNS_FILE,
                        format!("seq {} is on the wrong chain", record.seq),
                    )
                    .into());
            }
            pointer = record.prev;
            rows.push(self.txn_row(&record)?);
        }
        rows.iter().rev().for_each(each);
        Ok(())
    }
    fn checkpoint(&self) -> u64 {
        self.heads.checkpoint
    }
    fn seq_known_at(&self, known_at: Timestamp) -> Result<u64, SourceError> {
        Ok(ViewReader::seq_known_at(self, known_at)?)
    }
    fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(ViewReader::account_events(self, account)?)
    }
    fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(ViewReader::child_refs(self, account)?)
    }
    fn person_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(ViewReader::person_events(self, person)?)
    }
    fn org_events(&self) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(ViewReader::org_events(self)?)
    }
    fn account_ids(&self) -> Result<Vec<String>, SourceError> {
        Ok(ViewReader::account_ids(self))
    }
    fn person_ids(&self) -> Result<Vec<String>, SourceError> {
        Ok(ViewReader::person_ids(self))
    }
    fn txn_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(ViewReader::txn_events(self, account)?)
    }
    fn txn_rows(&self, each: &mut dyn FnMut(&TxnRow)) -> Result<(), SourceError> {
        Ok(ViewReader::txn_rows(self, each)?)
    }
    fn account_of(&self, number: u32) -> Option<String> {
        ViewReader::account_of(self, number)
    }
}

#[cfg(test)]
mod tests {
    use super::{Shards, CACHE_SHARDS};

    #[test]
    fn a_shard_forgets_its_values_when_they_would_weigh_more_than_its_bound() {
        let shards: Shards<u32> = Shards::default();
        // Keys are spread over the shards by `key / 64`: these all fall on the first one.
        let key = |n: u64| n * 64 * CACHE_SHARDS as u64;
        shards.put(key(0), 0, 6, 10);
        shards.put(key(1), 1, 4, 10);
        assert_eq!((shards.get(key(0)), shards.get(key(1))), (Some(0), Some(1)));
        // A value put again weighs what it weighs now, not twice.
        shards.put(key(1), 2, 4, 10);
        assert_eq!((shards.get(key(0)), shards.get(key(1))), (Some(0), Some(2)));
        // Past the bound, the shard forgets what it held first.
        shards.put(key(2), 3, 1, 10);
        let held = [key(0), key(1), key(2)].map(|k| shards.get(k));
        assert_eq!(held, [None, None, Some(3)]);
        // The other shards keep theirs.
        shards.put(64, 9, 10, 10);
        shards.put(key(3), 4, 10, 10);
        assert_eq!((shards.get(64), shards.get(key(2))), (Some(9), None));
        // A value heavier than the bound is kept alone.
        shards.put(key(4), 5, 11, 10);
        assert_eq!((shards.get(key(3)), shards.get(key(4))), (None, Some(5)));
    }
}
