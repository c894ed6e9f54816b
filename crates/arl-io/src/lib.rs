//! `arl-io`: the file operations through which the log and the views change their files
//! and make them durable, and nothing else.
//!
//! Every write, length change and sync of a persisted file goes through one of the
//! functions here ([`write_at`], [`set_len`], [`sync_data`], [`sync_all`], [`sync_dir`],
//! [`rename`], [`remove_dir_all`]); a library that keeps its own files (the log's index)
//! reports the moment it has made a directory durable with [`synced_externally`]. Each
//! function does exactly what its `std` counterpart does. In the **recording mode** of a
//! test ([`record::start`], [`record::stop`]) each call is also appended, with the bytes
//! written, to a process-wide list of [`record::Op`]s, from which a test can build every
//! state a power loss could leave on disk (the writes not yet synced lost, reordered or
//! torn). New persisted files must be written through here, or the power-loss tests do
//! not see them.
//!
//! Reads are not recorded: they do not change what a power loss leaves.
//!
//! ```
//! use std::fs::OpenOptions;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("data");
//! let file = OpenOptions::new().read(true).write(true).create(true).open(&path).unwrap();
//! arl_io::record::start();
//! arl_io::write_at(&file, &path, b"hello", 0).unwrap();
//! arl_io::sync_data(&file, &path).unwrap();
//! let ops = arl_io::record::stop();
//! assert_eq!(ops.len(), 2);
//! assert!(matches!(&ops[1], arl_io::record::Op::Sync { .. }));
//! assert_eq!(std::fs::read(&path).unwrap(), b"hello");
//! ```

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub mod record;

/// Writes all of `bytes` at `offset` of `file` (whose path is `path`).
pub fn write_at(file: &File, path: &Path, bytes: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(bytes, offset)?;
    record::note(|| record::Op::Write {
        path: path.to_path_buf(),
        offset,
        bytes: bytes.to_vec(),
    });
    Ok(())
}

/// Sets the length of `file` (cuts it, or extends it with zeros).
pub fn set_len(file: &File, path: &Path, len: u64) -> io::Result<()> {
    file.set_len(len)?;
    record::note(|| record::Op::SetLen {
        path: path.to_path_buf(),
        len,
    });
    Ok(())
}

/// Makes the data of `file` durable (`fdatasync`).
pub fn sync_data(file: &File, path: &Path) -> io::Result<()> {
    file.sync_data()?;
    record::note(|| record::Op::Sync {
        path: path.to_path_buf(),
    });
    Ok(())
}

/// Makes the data and metadata of `file` durable (`fsync`).
pub fn sync_all(file: &File, path: &Path) -> io::Result<()> {
    file.sync_all()?;
    record::note(|| record::Op::Sync {
        path: path.to_path_buf(),
    });
    Ok(())
}

/// Makes the entries of directory `dir` durable (new files, renames).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()?;
    record::note(|| record::Op::SyncDir {
        path: dir.to_path_buf(),
    });
    Ok(())
}

/// Renames `from` to `to` (a file or a directory).
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    record::note(|| record::Op::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
    });
    Ok(())
}

/// Removes a directory and everything in it.
pub fn remove_dir_all(dir: &Path) -> io::Result<()> {
    std::fs::remove_dir_all(dir)?;
    record::note(|| record::Op::RemoveDir {
        path: dir.to_path_buf(),
    });
    Ok(())
}

/// Says that a library writing its own files under `dir` (the log's index) has just made
/// all of them durable. Does nothing outside the recording mode; in it, the files under
/// `dir` are read and recorded as they are now (a power loss from here on leaves them so
/// or newer).
pub fn synced_externally(dir: &Path) {
    record::note_snapshot(dir);
}
