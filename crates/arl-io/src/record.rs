//! The recording mode: every operation of this crate, with its bytes, in the order the
//! process made them (across threads). For tests only; off unless [`start`]ed, and then
//! for the whole process.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Largest directory a snapshot reads (a test's ledger stays far below).
const SNAPSHOT_BYTES_MAX: u64 = 1 << 30;

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// `bytes` written at `offset` of the file at `path`.
    Write {
        path: PathBuf,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The file at `path` cut or extended to `len` bytes.
    SetLen { path: PathBuf, len: u64 },
    /// The file at `path` made durable: every earlier `Write` and `SetLen` of it survives.
    Sync { path: PathBuf },
    /// The entries of the directory at `path` made durable.
    SyncDir { path: PathBuf },
    /// `from` renamed to `to`.
    Rename { from: PathBuf, to: PathBuf },
    /// The directory at `path` removed with everything in it.
    RemoveDir { path: PathBuf },
    /// Every file under `dir` made durable by a library that writes them itself, with
    /// their contents at that moment (paths relative to `dir`).
    Snapshot {
        dir: PathBuf,
        files: Vec<(PathBuf, Vec<u8>)>,
    },
}

static ON: AtomicBool = AtomicBool::new(false);
static OPS: Mutex<Vec<Op>> = Mutex::new(Vec::new());

/// Starts recording (dropping anything recorded before).
pub fn start() {
    let mut ops = OPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ops.clear();
    ON.store(true, Ordering::SeqCst);
}

/// Stops recording and returns what was recorded, in order.
pub fn stop() -> Vec<Op> {
    let mut ops = OPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ON.store(false, Ordering::SeqCst);
    std::mem::take(&mut *ops)
}

/// True while recording.
pub fn is_on() -> bool {
    ON.load(Ordering::Relaxed)
}

pub(crate) fn note(op: impl FnOnce() -> Op) {
    if !is_on() {
        return;
    }
    let op = op();
    let mut ops = OPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ops.push(op);
}

pub(crate) fn note_snapshot(dir: &Path) {
    if !is_on() {
        return;
    }
    let mut files = Vec::new();
    let mut total = 0u64;
    collect(dir, Path::new(""), &mut files, &mut total);
    note(|| Op::Snapshot {
        dir: dir.to_path_buf(),
        files,
    });
}

/// Reads every file under `dir` (a test's directory: a file that cannot be read is left
/// out, and the test that looks at the snapshot finds it missing).
fn collect(dir: &Path, relative: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>, total: &mut u64) {
    let Ok(entries) = std::fs::read_dir(dir.join(relative)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = relative.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect(dir, &name, files, total);
        } else if let Ok(bytes) = std::fs::read(dir.join(&name)) {
            *total += bytes.len() as u64;
            assert!(
                *total <= SNAPSHOT_BYTES_MAX,
                "a recorded snapshot of {} exceeds {SNAPSHOT_BYTES_MAX} bytes",
                dir.display()
            );
            files.push((name, bytes));
        }
    }
    files.sort();
}
