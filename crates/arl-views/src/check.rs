//! Checking the views: every checksum without the log (`arl verify --views-only`), and
//! every byte against a rebuild from the log (`arl verify`).

use crate::format::{
    decode_block, decode_time, read_heads, Heads, TxnIdEntry, TxnIdsLayout, EVENTS_FILE,
    HEADS_FILES, TIMES_FILE, TIME_BYTES, TXNDATA_FILE, TXNIDS_BLOCK_BYTES, TXNIDS_ENTRY_BYTES,
    TXNIDS_FILE, TXNIDS_HEADER_BYTES, TXNS_FILE, TXN_RECORD_BYTES,
};
use crate::ledger::VIEWS_DIR;
use crate::rebuild::{stage_range, Chain};
use crate::{ViewError, ViewReader, ViewWriter};
use arl_log::Log;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Where `arl verify` rebuilds the views to compare them (removed before and after).
pub const VIEWS_VERIFY_DIR: &str = "views.verify";
/// Bytes compared at a time.
const COMPARE_BYTES: usize = 1 << 20;
/// Events between two progress calls.
const PROGRESS_EVENTS: u64 = 65_536;

/// What a check of the views found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewsChecked {
    /// The views' last seq: every seq up to it was checked.
    pub checkpoint: u64,
    /// The views are behind the log (a crash between the two commits); the next query or
    /// append catches them up.
    pub behind_log: bool,
}

/// Checks every checksum of the views in `<ledger>/views` without reading the log: both
/// heads slots (a slot that fails is tolerated only while the views are behind the log,
/// as a crash in the middle of their commit leaves them), every record of `events.dat`,
/// `txns.dat`, `txndata.dat` and `times.dat` up to the committed lengths, that every
/// record decodes to an event of the catalogue in seq order, and every block and entry of
/// `txnids.idx` (and, unless the views are behind the log, every entry on its bucket's
/// chain). `Ok(None)`: no views.
pub fn check_checksums(
    ledger_dir: &Path,
    source: &crate::LogSource,
) -> Result<Option<ViewsChecked>, ViewError> {
    let log_len = source.committed_len(ledger_dir)?;
    check_checksums_at(ledger_dir, log_len)
}

/// [`check_checksums`] given the log's committed length.
fn check_checksums_at(
    ledger_dir: &Path,
    log_len: Option<u64>,
) -> Result<Option<ViewsChecked>, ViewError> {
    let views = ledger_dir.join(VIEWS_DIR);
    let Some(heads) = read_heads(&views)? else {
        return Ok(None);
    };
    let behind_log = log_len != Some(heads.log_len);
    if !behind_log {
        check_both_slots(&views)?;
    }
    let checkpoint = heads.checkpoint;
    check_times(&views, &heads)?;
    check_txnids(&views, &heads, behind_log)?;
    let reader = ViewReader::with_heads(&views, heads)?;
    let mut expected = 1;
    reader.scan(&mut |recorded| {
        assert_eq!(recorded.seq, expected, "scan hands out every seq in order");
        expected += 1;
        Ok(())
    })?;
    Ok(Some(ViewsChecked {
        checkpoint,
        behind_log,
    }))
}

/// Every heads slot that exists must decode.
fn check_both_slots(views: &Path) -> Result<(), ViewError> {
    for name in HEADS_FILES {
        let path = views.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                Heads::decode(&bytes, &path)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ViewError::io(path, e)),
        }
    }
    Ok(())
}

/// Every `times.dat` entry against its checksum, and the running maximum never decreasing.
fn check_times(views: &Path, heads: &Heads) -> Result<(), ViewError> {
    let path = views.join(TIMES_FILE);
    let bytes = read_prefix(&path, heads.times_len)?;
    let mut last = i64::MIN;
    for (i, entry) in bytes.chunks_exact(TIME_BYTES as usize).enumerate() {
        let offset = i as u64 * TIME_BYTES;
        let entry: &[u8; TIME_BYTES as usize] = entry.try_into().expect("a whole entry");
        let time = decode_time(i as u64 + 1, entry).ok_or_else(|| ViewError::Checksum {
            path: path.clone(),
            offset,
        })?;
        if time < last {
            return Err(ViewError::corrupt(
                &path,
                format!("the time at byte {offset} goes back"),
            ));
        }
        last = time;
    }
    Ok(())
}

/// The header, every block of the bucket table and every committed entry of `txnids.idx`
/// against their checksums; the layout is that of the committed entries; every chain goes
/// backwards and every entry lies in the bucket that leads to it; blocks lead to committed
/// entries only. While the views are behind the log, a crash in the middle of a commit may
/// have left blocks ahead, or the file rewritten at the next layout: the next writer
/// repairs both, and only the checksums are checked.
fn check_txnids(views: &Path, heads: &Heads, behind_log: bool) -> Result<(), ViewError> {
    let path = views.join(TXNIDS_FILE);
    let entries = heads.txns_len / TXN_RECORD_BYTES;
    let header = read_prefix(&path, TXNIDS_HEADER_BYTES)?;
    let layout = TxnIdsLayout::of_header(&header)
        .filter(|layout| behind_log || *layout == TxnIdsLayout::for_entries(entries))
        .ok_or_else(|| ViewError::corrupt(&path, "bad header"))?;
    let bytes = read_prefix(&path, layout.len(entries))?;
    let checksum_failed = |offset: u64| ViewError::Checksum {
        path: path.clone(),
        offset,
    };
    let table = &bytes[TXNIDS_HEADER_BYTES as usize..layout.entries_at() as usize];
    let mut chains = Vec::with_capacity(table.len() / 4);
    for (block, slot) in table.chunks_exact(TXNIDS_BLOCK_BYTES as usize).enumerate() {
        let block = block as u32;
        let at = layout.block_at(block);
        let slot = slot.try_into().expect("a whole block");
        let block_heads = decode_block(block, slot).ok_or_else(|| checksum_failed(at))?;
        if block_heads.iter().any(|h| u64::from(*h) > entries) && !behind_log {
            let what = format!("block {block} leads beyond the committed entries");
            return Err(ViewError::corrupt(&path, what));
        }
        chains.extend(block_heads);
    }
    let all = &bytes[layout.entries_at() as usize..];
    let mut entry_hashes = Vec::with_capacity(entries as usize);
    for (number, entry) in all.chunks_exact(TXNIDS_ENTRY_BYTES as usize).enumerate() {
        let number = number as u64;
        let entry = entry.try_into().expect("a whole entry");
        let entry = TxnIdEntry::decode(number, entry)
            .ok_or_else(|| checksum_failed(layout.entry_at(number)))?;
        entry_hashes.push(entry);
    }
    if behind_log {
        return Ok(());
    }
    check_chains(&path, layout, &chains, &entry_hashes)
}

/// Every entry lies on the chain of its bucket: walking each bucket's chain from its head
/// meets entries of that bucket only, each once, and all of them.
fn check_chains(
    path: &Path,
    layout: TxnIdsLayout,
    chains: &[u32],
    entries: &[TxnIdEntry],
) -> Result<(), ViewError> {
    let mut reached = 0usize;
    for (bucket, head) in chains.iter().enumerate() {
        let mut pointer = *head;
        while pointer != 0 {
            let number = pointer as usize - 1;
            let entry = entries[number];
            let (block, slot) = layout.bucket_of(entry.hash);
            if block as usize * crate::format::TXNIDS_BLOCK_HEADS + slot != bucket {
                let what = format!("entry {number} is not in the bucket that leads to it");
                return Err(ViewError::corrupt(path, what));
            }
            reached += 1;
            pointer = entry.prev;
        }
    }
    if reached != entries.len() {
        let what = format!("{} of {} entries on a chain", reached, entries.len());
        return Err(ViewError::corrupt(path, what));
    }
    Ok(())
}

fn read_prefix(path: &Path, len: u64) -> Result<Vec<u8>, ViewError> {
    let file = File::open(path).map_err(|e| ViewError::io(path, e))?;
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|e| ViewError::io(path, e))?;
    Ok(bytes)
}

/// [`check_checksums`], then every byte of the views against the views a rebuild from
/// `log` (already verified by the caller) writes up to the views' checkpoint: the five data
/// files up to their committed lengths, and the heads (all but the generation, which
/// counts commits, and the log's length, checked against the log's own). The rebuild is
/// written to `<ledger>/views.verify` and removed. The caller holds the exclusive lock.
pub fn check_against_log(
    ledger_dir: &Path,
    log: &Log,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<ViewsChecked>, ViewError> {
    let Some(checked) = check_checksums_at(ledger_dir, Some(log.committed_len()))? else {
        return Ok(None);
    };
    let views = ledger_dir.join(VIEWS_DIR);
    let heads = read_heads(&views)?.ok_or_else(|| ViewError::Missing {
        path: views.join(HEADS_FILES[0]),
    })?;
    let head = log.head();
    if heads.checkpoint > head.seq {
        return Err(ViewError::AheadOfLog {
            views: heads.checkpoint,
            log: head.seq,
        });
    }
    let log_len_ok = if heads.checkpoint == head.seq {
        heads.log_len == log.committed_len()
    } else {
        heads.log_len < log.committed_len()
    };
    if !log_len_ok {
        let what = "the log's length recorded in heads does not match the log";
        return Err(ViewError::corrupt(views.join(HEADS_FILES[0]), what));
    }
    let rebuilt_dir = ledger_dir.join(VIEWS_VERIFY_DIR);
    remove_if_present(&rebuilt_dir)?;
    let behind = checked.behind_log;
    let compared = rebuild_and_compare(log, &views, &rebuilt_dir, &heads, behind, progress);
    remove_if_present(&rebuilt_dir)?;
    compared?;
    Ok(Some(checked))
}

fn rebuild_and_compare(
    log: &Log,
    views: &Path,
    rebuilt_dir: &Path,
    heads: &Heads,
    behind_log: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ViewError> {
    let mut writer = ViewWriter::open(rebuilt_dir)?;
    let range = (1, heads.checkpoint);
    stage_range(
        log,
        &mut writer,
        range,
        Chain::Unchecked,
        progress,
        PROGRESS_EVENTS,
    )?;
    writer.set_log_len(heads.log_len);
    writer.commit()?;
    let mut rebuilt = writer.heads().clone();
    rebuilt.generation = heads.generation;
    if &rebuilt != heads {
        let what = "heads differ from a rebuild from the log";
        return Err(ViewError::corrupt(views.join(HEADS_FILES[0]), what));
    }
    for (name, len) in [
        (EVENTS_FILE, heads.events_len),
        (TXNS_FILE, heads.txns_len),
        (TXNDATA_FILE, heads.txndata_len),
        (TIMES_FILE, heads.times_len),
    ] {
        compare_prefix(&views.join(name), &rebuilt_dir.join(name), len)?;
    }
    compare_txnids(views, rebuilt_dir, heads, behind_log)
}

/// `txnids.idx` against a rebuild's, byte for byte, except the blocks a commit cut short
/// by a crash left leading beyond the committed entries, or the whole file when such a
/// crash left it at the next layout (only while the views are behind the log: the next
/// writer finds them and repairs them; [`check_txnids`] checked their checksums).
fn compare_txnids(
    views: &Path,
    rebuilt_dir: &Path,
    heads: &Heads,
    behind_log: bool,
) -> Result<(), ViewError> {
    let path = views.join(TXNIDS_FILE);
    let entries = heads.txns_len / TXN_RECORD_BYTES;
    let layout = TxnIdsLayout::for_entries(entries);
    let header = read_prefix(&path, TXNIDS_HEADER_BYTES)?;
    if behind_log && TxnIdsLayout::of_header(&header) != Some(layout) {
        return Ok(());
    }
    let len = layout.len(entries);
    let ours = read_prefix(&path, len)?;
    let theirs = read_prefix(&rebuilt_dir.join(TXNIDS_FILE), len)?;
    let slot = TXNIDS_BLOCK_BYTES as usize;
    let table = TXNIDS_HEADER_BYTES as usize..layout.entries_at() as usize;
    let ahead = |at: usize| {
        let block = ((at - table.start) / slot) as u32;
        let start = layout.block_at(block) as usize;
        let bytes = ours[start..start + slot].try_into().expect("a whole block");
        behind_log
            && decode_block(block, bytes)
                .is_some_and(|heads| heads.iter().any(|h| u64::from(*h) > entries))
    };
    let differs =
        (0..ours.len()).find(|&at| ours[at] != theirs[at] && !(table.contains(&at) && ahead(at)));
    match differs {
        Some(offset) => Err(ViewError::corrupt(
            path,
            format!("byte {offset} differs from a rebuild from the log"),
        )),
        None => Ok(()),
    }
}

/// The first `len` bytes of `path` must be those of `rebuilt`.
fn compare_prefix(path: &Path, rebuilt: &Path, len: u64) -> Result<(), ViewError> {
    let open = |p: &Path| File::open(p).map_err(|e| ViewError::io(p, e));
    let (file, other) = (open(path)?, open(rebuilt)?);
    let mut ours = vec![0u8; COMPARE_BYTES];
    let mut theirs = vec![0u8; COMPARE_BYTES];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(COMPARE_BYTES as u64) as usize;
        file.read_exact_at(&mut ours[..n], at)
            .map_err(|e| ViewError::io(path, e))?;
        other
            .read_exact_at(&mut theirs[..n], at)
            .map_err(|e| ViewError::io(rebuilt, e))?;
        if let Some(i) = ours[..n].iter().zip(&theirs[..n]).position(|(a, b)| a != b) {
            let offset = at + i as u64;
            let what = format!("byte {offset} differs from a rebuild from the log");
            return Err(ViewError::corrupt(path, what));
        }
        at += n as u64;
    }
    Ok(())
}

fn remove_if_present(dir: &Path) -> Result<(), ViewError> {
    match arl_io::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ViewError::io(dir, e)),
    }
}
