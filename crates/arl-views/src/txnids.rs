//! Reading `txnids.idx`: which `txns.dat` records hold a transaction id, so that validation
//! finds a txn id (for "txn id never used" and for reversals) in a few reads whatever the
//! size of the ledger. The layout is in [`crate::format`] and `docs/FORMAT.md`; the writer
//! keeps the file up to date ([`crate::ViewWriter`]).

use crate::format::{
    decode_block, encode_block, txn_id_hash, TxnIdEntry, TxnIdsBlock, TxnIdsLayout,
    TXNIDS_BLOCK_BYTES, TXNIDS_ENTRIES_MAX, TXNIDS_ENTRY_BYTES, TXNIDS_FILE, TXNIDS_HEADER_BYTES,
    TXN_RECORD_BYTES,
};
use crate::{ViewError, ViewReader};
use arl_domain::Event;
use arl_fold::KnownTxn;
use arl_log::idfilter::IdFilter;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The committed part of `txnids.idx`, with the number of entries it commits (one per
/// `txns.dat` record) and the layout that number gives. A look-up reads one block and the
/// few entries of its bucket: with positioned reads for the first [`READS_UNMAPPED`]
/// look-ups, then from a mapping of the file while it is no longer than its reader's
/// bound ([`crate::reader::MAPPED_BYTES_MAX`]). A validation opens one per batch, and
/// unmapping a file flushes the TLB of every core: worth it for a bulk import's many
/// look-ups (a mapped read is several times cheaper than a `pread`), not for a few.
#[derive(Debug)]
pub(crate) struct TxnIdsReader {
    path: PathBuf,
    file: Arc<File>,
    entries: u64,
    layout: TxnIdsLayout,
    reads: ReadsThenMap,
    /// The longest region mapped ([`ReadsThenMap::count`]).
    mapped_max: u64,
}

/// Look-ups answered with positioned reads before [`ReadsThenMap`] maps its region.
const READS_UNMAPPED: u32 = 64;

/// Reads of the first bytes of a file: positioned reads for the first [`READS_UNMAPPED`]
/// look-ups, then from a mapping of that region, made once (a few look-ups do not pay for
/// a mapping and its unmapping; many are several times cheaper from one), unless the
/// region is longer than the caller's bound (its pages would stay resident). Used for
/// `txnids.idx` by validation ([`TxnIdsReader`]: the committed entries) and by the views
/// writer (its bucket table, read as transactions are staged).
#[derive(Debug, Default)]
pub(crate) struct ReadsThenMap {
    lookups: std::cell::Cell<u32>,
    map: std::cell::OnceCell<memmap2::Mmap>,
}

impl ReadsThenMap {
    /// Counts a look-up; past [`READS_UNMAPPED`] of them, maps the first `len` bytes of
    /// `file` (once) when they are at most `mapped_max`, and [`ReadsThenMap::read_at`]
    /// reads from the mapping from then on.
    pub(crate) fn count(&self, file: &File, len: u64, mapped_max: u64) -> std::io::Result<()> {
        if self.map.get().is_some() {
            return Ok(());
        }
        let lookups = self.lookups.get().saturating_add(1);
        self.lookups.set(lookups);
        if lookups <= READS_UNMAPPED || len > mapped_max {
            return Ok(());
        }
        if let Some(map) = crate::reader::map_prefix(file, len)? {
            let _ = self.map.set(map);
        }
        Ok(())
    }

    /// The bytes of `file` at `at`: from the mapping once there is one (an error when they
    /// lie beyond it), else with a positioned read.
    pub(crate) fn read_at(&self, file: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
        let Some(map) = self.map.get() else {
            return file.read_exact_at(buf, at);
        };
        let mapped = usize::try_from(at)
            .ok()
            .and_then(|start| map.get(start..start.checked_add(buf.len())?))
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "beyond the mapped region")
            })?;
        buf.copy_from_slice(mapped);
        Ok(())
    }
}

impl TxnIdsReader {
    /// Opens the `txnids.idx` of the views `reader` reads, and checks its header (the layout
    /// of its number of entries) and that it holds the committed entries. The file is the
    /// writer's descriptor when a writer handed `reader` out (no path look-up for each
    /// batch), else opened by its path.
    pub(crate) fn open(reader: &ViewReader) -> Result<TxnIdsReader, ViewError> {
        let path = reader.dir().join(TXNIDS_FILE);
        let entries = reader.heads().txns_len / TXN_RECORD_BYTES;
        let opened = match reader.txnids_file() {
            Some(file) => TxnIdsReader::of_file(file.clone(), path, entries),
            None => TxnIdsReader::at_path(path, entries),
        };
        Ok(opened?.with_mapped_max(reader.mapped_max()))
    }

    /// This reader, mapping at most `mapped_max` bytes of the file.
    fn with_mapped_max(mut self, mapped_max: u64) -> TxnIdsReader {
        self.mapped_max = mapped_max;
        self
    }

    /// Whether look-ups read from a mapping of the file by now.
    #[cfg(test)]
    fn mapped(&self) -> bool {
        self.reads.map.get().is_some()
    }

    /// Opens the `txnids.idx` at `path` for its first `entries` entries, and checks its
    /// header and length.
    fn at_path(path: PathBuf, entries: u64) -> Result<TxnIdsReader, ViewError> {
        let file = File::open(&path).map_err(|e| ViewError::io(&path, e))?;
        TxnIdsReader::of_file(Arc::new(file), path, entries)
    }

    /// The first `entries` entries of `file` (at `path`): checks its header and length.
    fn of_file(file: Arc<File>, path: PathBuf, entries: u64) -> Result<TxnIdsReader, ViewError> {
        let layout = TxnIdsLayout::for_entries(entries);
        let len = file.metadata().map_err(|e| ViewError::io(&path, e))?.len();
        if len == 0 {
            return Err(ViewError::corrupt(&path, "empty"));
        }
        if len < layout.len(entries) {
            return Err(ViewError::corrupt(
                &path,
                format!("{len} bytes, shorter than its committed entries"),
            ));
        }
        let mut header = [0u8; TXNIDS_HEADER_BYTES as usize];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| ViewError::io(&path, e))?;
        if TxnIdsLayout::of_header(&header) != Some(layout) {
            return Err(ViewError::corrupt(&path, "bad header"));
        }
        Ok(TxnIdsReader {
            path,
            file,
            entries,
            layout,
            reads: ReadsThenMap::default(),
            mapped_max: crate::reader::MAPPED_BYTES_MAX,
        })
    }

    /// Counts a look-up ([`ReadsThenMap::count`]), over the committed entries.
    fn count_lookup(&self) -> Result<(), ViewError> {
        let len = self.layout.len(self.entries);
        self.reads
            .count(&self.file, len, self.mapped_max)
            .map_err(|e| ViewError::io(&self.path, e))
    }

    /// The bytes at `at`, which lie within the committed entries (checked at open).
    fn read_at(&self, buf: &mut [u8], at: u64) -> Result<(), ViewError> {
        self.reads
            .read_at(&self.file, buf, at)
            .map_err(|e| ViewError::io(&self.path, e))
    }

    /// The `txns.dat` record numbers, newest first, whose txn id has the hash of `txn`: a
    /// superset of the records of `txn` (the caller compares the ids).
    pub(crate) fn candidates(&self, txn: &str) -> Result<Vec<u64>, ViewError> {
        let hash = txn_id_hash(txn);
        self.count_lookup()?;
        let (block, slot) = self.layout.bucket_of(hash);
        let at = self.layout.block_at(block);
        let mut bytes = [0u8; TXNIDS_BLOCK_BYTES as usize];
        self.read_at(&mut bytes, at)?;
        let heads = decode_block(block, &bytes).ok_or_else(|| self.checksum_failed(at))?;
        let mut found = Vec::new();
        let mut pointer = u64::from(heads[slot]);
        while pointer != 0 {
            if pointer > self.entries {
                return Err(ViewError::corrupt(
                    &self.path,
                    format!("block {block} leads beyond the committed entries"),
                ));
            }
            let number = pointer - 1;
            let entry = self.entry(number)?;
            if self.layout.bucket_of(entry.hash) != (block, slot) {
                return Err(ViewError::corrupt(
                    &self.path,
                    format!("entry {number} is not in the bucket that leads to it"),
                ));
            }
            if entry.hash == hash {
                found.push(number);
            }
            pointer = u64::from(entry.prev);
        }
        Ok(found)
    }

    /// Entry `number`, checked (its checksum, and its `prev` leading back).
    fn entry(&self, number: u64) -> Result<TxnIdEntry, ViewError> {
        let at = self.layout.entry_at(number);
        let mut bytes = [0u8; TXNIDS_ENTRY_BYTES as usize];
        self.read_at(&mut bytes, at)?;
        TxnIdEntry::decode(number, &bytes).ok_or_else(|| self.checksum_failed(at))
    }

    fn checksum_failed(&self, offset: u64) -> ViewError {
        ViewError::Checksum {
            path: self.path.clone(),
            offset,
        }
    }
}

/// What the committed views know of the txn id `txn`: its `transaction.recorded` and
/// whether a reversal of it follows. Reads the candidate records `ids` names and keeps those
/// whose data names `txn`.
pub(crate) fn known_txn(
    reader: &ViewReader,
    ids: &TxnIdsReader,
    txn: &str,
) -> Result<Option<KnownTxn>, ViewError> {
    let mut reversed = false;
    // Newest first: a reversal comes before the transaction it reverses.
    for number in ids.candidates(txn)? {
        let record = reader.txn_at(number)?;
        let recorded = reader.txn_recorded(&record)?;
        match &recorded.event {
            Event::TxnReversed(d) if d.txn == txn => reversed = true,
            Event::TxnRecorded(d) if d.txn == txn => {
                return Ok(Some(KnownTxn {
                    account: d.account.clone(),
                    effective_at: recorded.effective_at,
                    reversed,
                }))
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Validation's filter of the committed txn ids: an [`IdFilter`] of the hashes of the first
/// [`TxnFilter::covers`] entries of `txnids.idx`, so that the look-up of a new
/// transaction's id (certainly unused when the filter does not hold it) reads nothing.
/// Without it each new transaction reads a block of the bucket table and an entry or two:
/// positioned reads once the file is longer than the mapping bound (two system calls an
/// event past about 2M transactions). A filter that may hold the id changes nothing: the
/// index is read as before, and its candidates are confirmed against `txns.dat`.
///
/// The ledger keeps one for its writer, from one batch to the next, and brings it up to
/// the committed entries before each batch that holds a transaction or builds it
/// ([`TxnFilter::brought_up`]): the entries committed since are read from the file, in one
/// pass. A new writer (after a
/// refused batch, a failed commit, a rebuild) starts without one. It is built by a batch
/// of at least [`TXN_FILTER_BATCH_MIN`] events (reading every entry once: about 16 bytes a
/// transaction), so a one-event append never pays for it. Its memory is 2 to 4 bytes per
/// transaction, at most 16 MiB ([`TXN_FILTER_ROOM_MAX`]).
#[derive(Debug)]
pub(crate) struct TxnFilter {
    hashes: IdFilter,
    /// The entries it holds: the first `covers` of the file.
    covers: u64,
}

/// Batches of at least this many events build a [`TxnFilter`] when there is none.
pub(crate) const TXN_FILTER_BATCH_MIN: usize = 4096;

/// The most txn ids a [`TxnFilter`] has room for: 2^23 (16 MiB). Past it (about 13M
/// generated events) it is kept and holds more ids than its room: about 0.3% of new ids
/// seem held at 1.25 times its room (about 10M transactions), 7% at 2.5 times (20M), each
/// costing the index's look-up as without a filter (`arl_log::idfilter`'s tests). The
/// bound keeps an import's memory under 1 GB (the log's own filter of ids takes up to
/// 64 MiB).
pub(crate) const TXN_FILTER_ROOM_MAX: u64 = 1 << 23;

impl TxnFilter {
    /// `kept` brought up to the committed entries `ids` reads: extended with the entries
    /// committed since it was last brought up, or built again from every entry when it
    /// holds more than there are (another file) or has outgrown its room; built when there
    /// is none and `batch` (the events of the batch about to be checked) is at least
    /// [`TXN_FILTER_BATCH_MIN`]. `None` when there is none to keep or build, or when the
    /// entries do not read (look-ups then read the index and report what they find).
    pub(crate) fn brought_up(
        kept: Option<TxnFilter>,
        ids: &TxnIdsReader,
        batch: usize,
    ) -> Option<TxnFilter> {
        let mut filter = match kept {
            Some(kept) if kept.covers <= ids.entries && !kept.hashes.is_outgrown() => kept,
            None if batch < TXN_FILTER_BATCH_MIN => return None,
            // Room for the entries and the batch: an import's next batches fit in it too.
            _ => TxnFilter {
                hashes: IdFilter::for_ids_up_to(ids.entries + batch as u64, TXN_FILTER_ROOM_MAX),
                covers: 0,
            },
        };
        scan_entries(
            &ids.file,
            &ids.path,
            ids.layout,
            filter.covers..ids.entries,
            |_, entry| {
                filter.hashes.insert(entry.hash);
                Ok(())
            },
        )
        .ok()?;
        filter.covers = ids.entries;
        Some(filter)
    }

    /// False when no committed entry has the hash of `txn` (the first [`TxnFilter::covers`]
    /// entries).
    pub(crate) fn may_hold(&self, txn: &str) -> bool {
        self.hashes.may_hold(txn_id_hash(txn))
    }

    /// The number of entries it holds: the first of the file.
    pub(crate) fn covers(&self) -> u64 {
        self.covers
    }
}

/// Entries of `txnids.idx` read at a time when its bucket table is rebuilt.
const ENTRIES_PER_READ: u64 = 1 << 16;

/// `Ok` when `txnids.idx` can hold `entries` entries ([`TXNIDS_ENTRIES_MAX`]).
pub(crate) fn check_entries(entries: u64) -> Result<(), ViewError> {
    if entries > TXNIDS_ENTRIES_MAX {
        return Err(ViewError::Limit {
            what: "transaction records (txnids.idx entries)",
            value: entries,
            max: TXNIDS_ENTRIES_MAX,
        });
    }
    Ok(())
}

/// The layout the header of `txnids.idx` names.
pub(crate) fn read_layout(file: &File, path: &Path) -> Result<TxnIdsLayout, ViewError> {
    let mut header = [0u8; TXNIDS_HEADER_BYTES as usize];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| ViewError::io(path, e))?;
    TxnIdsLayout::of_header(&header).ok_or_else(|| ViewError::corrupt(path, "bad header"))
}

/// Calls `each` with every entry of `file` (at `layout`) numbered in `range`, in order,
/// each checked against its checksum.
fn scan_entries(
    file: &File,
    path: &Path,
    layout: TxnIdsLayout,
    range: std::ops::Range<u64>,
    mut each: impl FnMut(u64, TxnIdEntry) -> Result<(), ViewError>,
) -> Result<(), ViewError> {
    let entries = range.end;
    let mut chunk = Vec::new();
    let mut number = range.start;
    while number < entries {
        let n = (entries - number).min(ENTRIES_PER_READ);
        chunk.resize((n * TXNIDS_ENTRY_BYTES) as usize, 0);
        file.read_exact_at(&mut chunk, layout.entry_at(number))
            .map_err(|e| ViewError::io(path, e))?;
        for bytes in chunk.chunks_exact(TXNIDS_ENTRY_BYTES as usize) {
            let bytes = bytes.try_into().expect("a whole entry");
            let entry = TxnIdEntry::decode(number, bytes).ok_or_else(|| ViewError::Checksum {
                path: path.to_path_buf(),
                offset: layout.entry_at(number),
            })?;
            each(number, entry)?;
            number += 1;
        }
    }
    Ok(())
}

/// The bucket table of a layout built from the entries in order: the newest entry of each
/// bucket is its head.
struct TableBuilder {
    layout: TxnIdsLayout,
    heads: Vec<TxnIdsBlock>,
}

impl TableBuilder {
    fn new(layout: TxnIdsLayout) -> TableBuilder {
        TableBuilder {
            layout,
            heads: vec![TxnIdsBlock::default(); layout.blocks() as usize],
        }
    }

    /// Files entry `number` of hash `hash`, returning the head its bucket had.
    fn push(&mut self, number: u64, hash: u64) -> u32 {
        let (block, slot) = self.layout.bucket_of(hash);
        let head = &mut self.heads[block as usize][slot];
        let prev = *head;
        *head = u32::try_from(number + 1).expect("at most TXNIDS_ENTRIES_MAX entries");
        prev
    }

    /// The bytes of the whole table.
    fn encode(&self) -> Vec<u8> {
        let mut table = Vec::with_capacity(self.heads.len() * TXNIDS_BLOCK_BYTES as usize);
        for (block, heads) in self.heads.iter().enumerate() {
            table.extend_from_slice(&encode_block(block as u32, heads));
        }
        table
    }
}

/// Rebuilds the bucket table of `file` (at `layout`) from its first `entries` entries,
/// checking that each entry's `prev` is the head its bucket had; writes the table if it
/// differs and syncs the file. Reads every entry: about 16 MB at a million transactions.
pub(crate) fn repair_table(
    file: &File,
    path: &Path,
    layout: TxnIdsLayout,
    entries: u64,
) -> Result<(), ViewError> {
    let io = |e| ViewError::io(path, e);
    let mut table = TableBuilder::new(layout);
    scan_entries(file, path, layout, 0..entries, |number, entry| {
        if table.push(number, entry.hash) != entry.prev {
            let what = format!("entry {number} does not follow its bucket's head");
            return Err(ViewError::corrupt(path, what));
        }
        Ok(())
    })?;
    let rebuilt = table.encode();
    let mut on_disk = vec![0u8; rebuilt.len()];
    file.read_exact_at(&mut on_disk, TXNIDS_HEADER_BYTES)
        .map_err(io)?;
    if on_disk != rebuilt {
        arl_io::write_at(file, path, &rebuilt, TXNIDS_HEADER_BYTES).map_err(io)?;
        arl_io::sync_data(file, path).map_err(io)?;
    }
    Ok(())
}

/// Rewrites `txnids.idx` (`file`, at layout `from`) at the layout of its first `entries`
/// entries: into a new file next to it, every entry with its `prev` at the new layout, the
/// bucket table, synced, then renamed over the old one (the directory synced). A crash
/// leaves the old file or the new one, whole; a writer that finds a layout other than its
/// committed entries' rewrites it again. Returns the new file, open for reading and writing.
pub(crate) fn relayout(
    file: &File,
    path: &Path,
    from: TxnIdsLayout,
    entries: u64,
) -> Result<File, ViewError> {
    check_entries(entries)?;
    let to = TxnIdsLayout::for_entries(entries);
    let new_path = path.with_extension("idx.new");
    let io = |e| ViewError::io(&new_path, e);
    let new = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&new_path)
        .map_err(io)?;
    arl_io::set_len(&new, &new_path, to.len(entries)).map_err(io)?;
    arl_io::write_at(&new, &new_path, &to.header(), 0).map_err(io)?;
    let mut table = TableBuilder::new(to);
    let mut out = Vec::with_capacity((ENTRIES_PER_READ * TXNIDS_ENTRY_BYTES) as usize);
    let mut out_at = to.entries_at();
    scan_entries(file, path, from, 0..entries, |number, entry| {
        let prev = table.push(number, entry.hash);
        out.extend_from_slice(&TxnIdEntry { prev, ..entry }.encode(number));
        if out.len() as u64 >= ENTRIES_PER_READ * TXNIDS_ENTRY_BYTES {
            arl_io::write_at(&new, &new_path, &out, out_at).map_err(io)?;
            out_at += out.len() as u64;
            out.clear();
        }
        Ok(())
    })?;
    arl_io::write_at(&new, &new_path, &out, out_at).map_err(io)?;
    assert_eq!(
        out_at + out.len() as u64,
        to.len(entries),
        "every entry written"
    );
    arl_io::write_at(&new, &new_path, &table.encode(), TXNIDS_HEADER_BYTES).map_err(io)?;
    arl_io::sync_all(&new, &new_path).map_err(io)?;
    arl_io::rename(&new_path, path).map_err(|e| ViewError::io(path, e))?;
    let dir = path
        .parent()
        .expect("txnids.idx lies in the views directory");
    crate::writer::sync_dir(dir)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{
        encode_block, txnids_block_bits, TXNIDS_BLOCK_BITS_MAX, TXNIDS_BLOCK_BITS_MIN,
        TXNIDS_BLOCK_HEADS, TXNIDS_LOAD_MAX,
    };

    /// Writes a `txnids.idx` at `path` holding `hashes`, as a writer would.
    fn write_file(path: &Path, hashes: &[u64]) {
        let layout = TxnIdsLayout::for_entries(hashes.len() as u64);
        let mut table = TableBuilder::new(layout);
        let mut bytes = layout.header().to_vec();
        bytes.resize(layout.entries_at() as usize, 0);
        for (number, hash) in hashes.iter().enumerate() {
            let prev = table.push(number as u64, *hash);
            bytes.extend_from_slice(&TxnIdEntry { hash: *hash, prev }.encode(number as u64));
        }
        let encoded = table.encode();
        bytes[TXNIDS_HEADER_BYTES as usize..layout.entries_at() as usize].copy_from_slice(&encoded);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn candidates_are_the_entries_of_the_id_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TXNIDS_FILE);
        let mut hashes: Vec<u64> = (0..1_000).map(|i| txn_id_hash(&format!("t-{i}"))).collect();
        // A reversal of t-7, and t-9 again (two records of one hash, as a collision gives).
        hashes.push(txn_id_hash("t-7"));
        hashes.push(txn_id_hash("t-9"));
        write_file(&path, &hashes);
        let reader = TxnIdsReader::at_path(path.clone(), hashes.len() as u64).unwrap();
        assert_eq!(reader.candidates("t-7").unwrap(), vec![1_000, 7]);
        assert_eq!(reader.candidates("t-9").unwrap(), vec![1_001, 9]);
        assert_eq!(reader.candidates("t-500").unwrap(), vec![500]);
        assert!(reader.candidates("t-1000").unwrap().is_empty());
        // Fewer committed entries: the file of more is at another layout.
        assert!(TxnIdsReader::at_path(path.clone(), 100).is_err());
        // Every entry is found from its bucket.
        for number in 0..1_000u64 {
            let found = reader.candidates(&format!("t-{number}")).unwrap();
            assert_eq!(found.last(), Some(&number), "t-{number}");
        }
    }

    /// Past its first look-ups a reader maps the file only when the committed entries are
    /// within its bound, and finds the same candidates either way.
    #[test]
    fn a_file_longer_than_the_bound_is_read_by_positioned_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TXNIDS_FILE);
        let hashes: Vec<u64> = (0..2_000).map(|i| txn_id_hash(&format!("t-{i}"))).collect();
        write_file(&path, &hashes);
        let entries = hashes.len() as u64;
        let len = TxnIdsLayout::for_entries(entries).len(entries);
        let found = |mapped_max: u64| {
            let reader = TxnIdsReader::at_path(path.clone(), entries)
                .unwrap()
                .with_mapped_max(mapped_max);
            let mut found = Vec::new();
            for i in (0..2 * u64::from(READS_UNMAPPED)).chain([5_000]) {
                found.push(reader.candidates(&format!("t-{i}")).unwrap());
            }
            (reader.mapped(), found)
        };
        let (mapped, within) = found(len);
        let (unmapped, beyond) = found(len - 1);
        assert!(mapped, "a file of {len} bytes, within a bound of as many");
        assert!(
            !unmapped,
            "a file of {len} bytes, past a bound of one fewer"
        );
        assert_eq!(beyond, within);
        assert_eq!(within[7], vec![7]);
        assert!(within.last().unwrap().is_empty());
    }

    /// A micro-benchmark of look-ups at one and at four million entries (the buckets hold
    /// the same load at both: 1.02 entries on average).
    #[test]
    #[ignore = "a micro-benchmark: writes txnids.idx files of 1M and 4M entries (80 MB)"]
    fn lookups_cost_the_same_at_one_and_at_four_million_entries() {
        const LOOKUPS: u64 = 1_000_000;
        let mut nanos_per_lookup = Vec::new();
        for entries in [1_000_000u64, 4_000_000] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(TXNIDS_FILE);
            let hashes: Vec<u64> = (0..entries)
                .map(|i| txn_id_hash(&format!("t-{i}")))
                .collect();
            write_file(&path, &hashes);
            let reader = TxnIdsReader::at_path(path, entries).unwrap();
            for round in 0..2 {
                let start = std::time::Instant::now();
                let mut found = 0;
                for i in 0..LOOKUPS {
                    // Half present (spread over the file), half never used.
                    let id = if i % 2 == 0 {
                        format!("t-{}", i * 7919 % entries)
                    } else {
                        format!("missing-{i}")
                    };
                    found += reader.candidates(&id).unwrap().len();
                }
                let nanos = start.elapsed().as_nanos() as f64 / LOOKUPS as f64;
                assert!(found as u64 >= LOOKUPS / 2);
                eprintln!("{entries} entries, round {round}: {nanos:.0} ns per look-up");
                if round == 1 {
                    nanos_per_lookup.push(nanos);
                }
            }
        }
        eprintln!(
            "4M against 1M: {:.2}x",
            nanos_per_lookup[1] / nanos_per_lookup[0]
        );
    }

    #[test]
    fn entries_up_to_the_limit_and_not_one_more() {
        assert!(check_entries(0).is_ok());
        assert!(check_entries(TXNIDS_ENTRIES_MAX).is_ok());
        assert!(matches!(
            check_entries(TXNIDS_ENTRIES_MAX + 1),
            Err(ViewError::Limit { .. })
        ));
        // The largest layout still keeps the load: entry numbers + 1 fit the u32 heads.
        let layout = TxnIdsLayout::for_entries(TXNIDS_ENTRIES_MAX);
        assert_eq!(layout.block_bits, TXNIDS_BLOCK_BITS_MAX);
        assert!(TXNIDS_ENTRIES_MAX <= TXNIDS_LOAD_MAX * layout.buckets());
    }

    #[test]
    fn the_table_doubles_past_two_entries_per_bucket() {
        let buckets_min = TXNIDS_BLOCK_HEADS as u64 * (1 << TXNIDS_BLOCK_BITS_MIN);
        for (entries, bits) in [
            (0, TXNIDS_BLOCK_BITS_MIN),
            (2 * buckets_min, TXNIDS_BLOCK_BITS_MIN),
            (2 * buckets_min + 1, TXNIDS_BLOCK_BITS_MIN + 1),
            (4 * buckets_min, TXNIDS_BLOCK_BITS_MIN + 1),
            (4 * buckets_min + 1, TXNIDS_BLOCK_BITS_MIN + 2),
        ] {
            assert_eq!(txnids_block_bits(entries), bits, "{entries} entries");
        }
        for entries in [1_000u64, 1_000_000, 4_000_000, 3_000_000_000] {
            let layout = TxnIdsLayout::for_entries(entries);
            let load = entries as f64 / layout.buckets() as f64;
            assert!(load <= 2.0 && load > 1.0, "{entries}: {load}");
        }
    }

    #[test]
    fn every_layout_reads_its_own_header_only() {
        for bits in TXNIDS_BLOCK_BITS_MIN..=TXNIDS_BLOCK_BITS_MAX {
            let layout = TxnIdsLayout { block_bits: bits };
            assert_eq!(TxnIdsLayout::of_header(&layout.header()), Some(layout));
            let mut header = layout.header();
            for i in 0..header.len() {
                header[i] ^= 0x10;
                assert_eq!(TxnIdsLayout::of_header(&header), None, "byte {i}");
                header[i] ^= 0x10;
            }
        }
        let beyond = TxnIdsLayout {
            block_bits: TXNIDS_BLOCK_BITS_MAX + 1,
        };
        assert_eq!(TxnIdsLayout::of_header(&beyond.header()), None);
    }

    #[test]
    fn blocks_and_entries_fail_their_checksum_when_a_byte_changes() {
        let mut heads = TxnIdsBlock::default();
        heads[3] = 7;
        heads[14] = 1;
        let bytes = encode_block(9, &heads);
        assert_eq!(decode_block(9, &bytes), Some(heads));
        assert_eq!(decode_block(10, &bytes), None, "another block's");
        for i in 0..bytes.len() {
            let mut flipped = bytes;
            flipped[i] ^= 0x01;
            assert_eq!(decode_block(9, &flipped), None, "byte {i}");
        }
        assert_eq!(encode_block(9, &TxnIdsBlock::default()), [0u8; 64]);
        let entry = TxnIdEntry {
            hash: txn_id_hash("t-1"),
            prev: 5,
        };
        let bytes = entry.encode(5);
        assert_eq!(TxnIdEntry::decode(5, &bytes), Some(entry));
        assert_eq!(TxnIdEntry::decode(6, &bytes), None, "another entry's");
        assert_eq!(TxnIdEntry::decode(4, &entry.encode(4)), None, "prev ahead");
        for i in 0..bytes.len() {
            let mut flipped = bytes;
            flipped[i] ^= 0x01;
            assert_eq!(TxnIdEntry::decode(5, &flipped), None, "byte {i}");
        }
    }
}
