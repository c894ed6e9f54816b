//! Converting a log of layout 2 (envelope frames plus a sled index) to layout 3 (the
//! same frames plus the directory store's own files), in place and crash-safe.
//!
//! The index of layout 3 is derived from the frames: the old log is copied frame by frame
//! into a fresh store in `log/upgrade/` (each frame checked: it decodes, its seq follows,
//! its hash chains; at the end the head, Merkle root included, must equal the old one).
//! The copied envelope file must equal the old one byte for byte, so only the new index
//! files move: `keys`, `streams` and `nodes` are renamed into the log directory, and the
//! rename of `head` is the switch. Before it, the directory is still a layout-2 log (the
//! sled index is there, the head file is not) and the upgrade can simply run again; after
//! it, the directory is a layout-3 log, and the sled index and the work directory are
//! leftovers removed on the way out (or by the next upgrade).

use std::path::Path;

use crate::dirstore::{is_layout_2, DirStore, HEAD_FILE, KEYS_FILE, NODES_FILE, STREAMS_FILE};
use crate::store::{SledStore, ENVELOPE_FILE, INDEX_DIR};
use crate::{Head, Log, LogError};

/// The work directory of an upgrade, inside the log directory.
const UPGRADE_DIR: &str = "upgrade";
/// Bytes compared at a time.
const COMPARE_CHUNK: usize = 1 << 20;

/// What [`upgrade`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgraded {
    /// The log already had the current layout (or there was none).
    AlreadyCurrent,
    /// The log was converted; its head, unchanged.
    Converted(Head),
}

/// Converts the log in `log_dir` from layout 2 to the current layout, in place. The caller
/// holds the ledger's exclusive lock. `progress` gets the last seq copied.
pub fn upgrade(log_dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<Upgraded, LogError> {
    if !is_layout_2(log_dir) {
        remove_leftovers(log_dir)?;
        return Ok(Upgraded::AlreadyCurrent);
    }
    let work = log_dir.join(UPGRADE_DIR);
    if work.exists() {
        arl_io::remove_dir_all(&work).map_err(|e| LogError::io(&work, e))?;
    }
    let head = {
        let old = Log::open_store(Box::new(SledStore::open(log_dir)?))?;
        crate::create_private_dir(&work)?;
        let mut new = Log::open_store(Box::new(DirStore::open(&work)?))?;
        new.copy_from(&old, progress)?
    };
    same_bytes(&log_dir.join(ENVELOPE_FILE), &work.join(ENVELOPE_FILE))?;
    for name in [KEYS_FILE, STREAMS_FILE, NODES_FILE] {
        move_file(&work, log_dir, name)?;
    }
    sync_dir(log_dir)?;
    // The switch: from here on the directory holds a layout-3 log.
    move_file(&work, log_dir, HEAD_FILE)?;
    sync_dir(log_dir)?;
    remove_leftovers(log_dir)?;
    Ok(Upgraded::Converted(head))
}

fn move_file(from_dir: &Path, to_dir: &Path, name: &str) -> Result<(), LogError> {
    let from = from_dir.join(name);
    arl_io::rename(&from, &to_dir.join(name)).map_err(|e| LogError::io(&from, e))
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    arl_io::sync_dir(dir).map_err(|e| LogError::io(dir, e))
}

/// Removes what a finished upgrade leaves: the sled index and the work directory.
fn remove_leftovers(log_dir: &Path) -> Result<(), LogError> {
    let mut removed = false;
    for name in [INDEX_DIR, UPGRADE_DIR] {
        let dir = log_dir.join(name);
        if dir.is_dir() {
            arl_io::remove_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(log_dir)?;
    }
    Ok(())
}

/// The copy's envelope file must be the original's, byte for byte: the new index points
/// into the original.
fn same_bytes(original: &Path, copy: &Path) -> Result<(), LogError> {
    use std::io::Read;
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| LogError::io(p, e));
    let (mut left, mut right) = (open(original)?, open(copy)?);
    let mut left_buf = vec![0u8; COMPARE_CHUNK];
    let mut right_buf = vec![0u8; COMPARE_CHUNK];
    loop {
        let got = read_full(&mut left, &mut left_buf).map_err(|e| LogError::io(original, e))?;
        let want = read_full(&mut right, &mut right_buf).map_err(|e| LogError::io(copy, e))?;
        if got != want || left_buf[..got] != right_buf[..want] {
            return Err(LogError::corrupt(format!(
                "the envelope file copied by the upgrade differs from {}",
                original.display()
            )));
        }
        if got == 0 {
            return Ok(());
        }
    }

    fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match f.read(&mut buf[done..])? {
                0 => break,
                n => done += n,
            }
        }
        Ok(done)
    }
}
