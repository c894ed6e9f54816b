//! Converting a log of an older layout to the current one (5), in place and crash-safe.
//!
//! A log of layout 3 or 4 has the files of layout 5 but the dictionary, with a head file
//! of its layout: it is converted by writing `log/dict`, the headers of `keys` and
//! `streams` and a new head file, renamed over the old one (`dirstore::upgrade_in_place`);
//! its frames stay as they are (not compressed). A log of layout 2 (envelope frames plus
//! a sled index) is converted as follows.
//!
//! The index is derived from the frames: the old log is copied frame by frame into a fresh
//! store in `log/upgrade/` (each frame checked: it decodes, its seq follows, its hash
//! chains; at the end the head, Merkle root included, must equal the old one). The copied
//! envelope file must hold the old one's frames, the same canonical bytes and hashes once
//! decompressed (the copy compresses them and marks the end of each commit): `dict`,
//! `keys`, `streams`, `nodes` and `envelopes` are renamed into the log directory, and the
//! rename of `head` is the switch. Before it, the directory is still a layout-2 log (the
//! sled index is there, the head file is not) and the upgrade can simply run again; after
//! it, the directory is a log of the current layout, and the sled index and the work directory are
//! leftovers removed on the way out (or by the next upgrade).

use std::path::Path;

use crate::codec::{Codec, FRAME_LEVEL};
use crate::dirstore::{
    is_layout_2, older_dir_layout, DirStore, DICT_FILE, HEAD_FILE, KEYS_FILE, NODES_FILE,
    STREAMS_FILE,
};
use crate::store::{frame_len, SledStore, ENVELOPE_FILE, FRAME_COMPRESSED, INDEX_DIR};
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
    if older_dir_layout(log_dir).is_some() {
        crate::dirstore::upgrade_in_place(log_dir)?;
        let log = Log::open(log_dir)?;
        progress(log.head().seq);
        return Ok(Upgraded::Converted(log.head()));
    }
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
        let head = new.copy_from(&old, progress)?;
        new.checkpoint()?;
        head
    };
    let dict = work.join(DICT_FILE);
    let codec = std::fs::read(&dict)
        .map_err(|e| LogError::io(&dict, e))
        .and_then(|bytes| {
            Codec::of(&bytes, FRAME_LEVEL)
                .map_err(|e| LogError::corrupt(format!("{}: {e}", dict.display())))
        })?;
    same_frames(
        &log_dir.join(ENVELOPE_FILE),
        &work.join(ENVELOPE_FILE),
        codec,
    )?;
    for name in [
        DICT_FILE,
        KEYS_FILE,
        STREAMS_FILE,
        NODES_FILE,
        ENVELOPE_FILE,
    ] {
        move_file(&work, log_dir, name)?;
    }
    sync_dir(log_dir)?;
    // The switch: from here on the directory holds a log of the current layout.
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

/// The copy's envelope file must hold the original's frames, frame for frame: the same
/// canonical bytes and hashes (the copy's frames compressed with `codec` where that is
/// shorter, and the end of each of its commits marked). The copy then replaces the
/// original.
fn same_frames(original: &Path, copy: &Path, codec: &'static Codec) -> Result<(), LogError> {
    use std::io::{BufReader, Read};
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(|f| BufReader::with_capacity(COMPARE_CHUNK, f))
            .map_err(|e| LogError::io(p, e))
    };
    let (mut left, mut right) = (open(original)?, open(copy)?);
    let differ = || {
        LogError::corrupt(format!(
            "the envelope file copied by the upgrade differs from {}",
            original.display()
        ))
    };
    let mut left_buf = Vec::new();
    let mut right_buf = Vec::new();
    let mut canonical = Vec::new();
    loop {
        let got = read_len(&mut left).map_err(|e| LogError::io(original, e))?;
        let want = read_len(&mut right).map_err(|e| LogError::io(copy, e))?;
        let (got, want) = match (got, want) {
            (None, None) => return Ok(()),
            // The copy's frames end where zeros written ahead of its next commit begin.
            (None, Some(0)) => {
                let mut rest = Vec::new();
                right
                    .read_to_end(&mut rest)
                    .map_err(|e| LogError::io(copy, e))?;
                return if rest.iter().all(|&b| b == 0) {
                    Ok(())
                } else {
                    Err(differ())
                };
            }
            (Some(g), Some(w)) => (frame_len(g), frame_len(w)),
            _ => return Err(differ()),
        };
        if got.1 & FRAME_COMPRESSED != 0
            || got.0 > crate::MAX_ENVELOPE_BYTES
            || want.0 > crate::MAX_ENVELOPE_BYTES
        {
            return Err(differ());
        }
        left_buf.resize(got.0 + 32, 0);
        right_buf.resize(want.0 + 32, 0);
        left.read_exact(&mut left_buf)
            .map_err(|e| LogError::io(original, e))?;
        right
            .read_exact(&mut right_buf)
            .map_err(|e| LogError::io(copy, e))?;
        let (body, hash) = right_buf.split_at(want.0);
        canonical.clear();
        if want.1 & FRAME_COMPRESSED != 0 {
            codec
                .decompress_into(body, crate::MAX_ENVELOPE_BYTES, &mut canonical)
                .map_err(|_| differ())?;
        } else {
            canonical.extend_from_slice(body);
        }
        if left_buf[..got.0] != canonical[..] || left_buf[got.0..] != *hash {
            return Err(differ());
        }
    }

    fn read_len(f: &mut impl Read) -> std::io::Result<Option<u32>> {
        let mut b = [0u8; 4];
        let mut done = 0;
        while done < 4 {
            match f.read(&mut b[done..])? {
                0 if done == 0 => return Ok(None),
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(Some(u32::from_le_bytes(b)))
    }
}
