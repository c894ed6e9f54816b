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

/// The boot id a test set with [`override_boot_id`] (`None`: the kernel's).
static BOOT_OVERRIDE: std::sync::Mutex<Option<[u8; 16]>> = std::sync::Mutex::new(None);

/// The id of the running boot of the machine: the 16 bytes of
/// `/proc/sys/kernel/random/boot_id` (a UUID, new at every boot), or `None` where the
/// kernel does not give one. Written-but-unsynced bytes of a file are what a reader sees
/// for as long as the machine runs (the page cache), whatever process wrote them; after a
/// reboot they may be lost or torn. A file that records the boot id beside bytes it did not
/// sync lets a later open tell the two apart.
pub fn boot_id() -> Option<[u8; 16]> {
    if let Some(id) = *BOOT_OVERRIDE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Some(id);
    }
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    parse_uuid(text.trim())
}

/// For tests: makes [`boot_id`] return `id` in this process (`None`: the kernel's again),
/// so that a test can write files as another boot would and open them as this one (a
/// simulated reboot).
pub fn override_boot_id(id: Option<[u8; 16]>) {
    *BOOT_OVERRIDE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = id;
}

fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_boot_id_is_read_and_can_be_overridden() {
        assert_eq!(
            super::parse_uuid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
            Some([
                0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2,
                0xe1, 0xf0
            ])
        );
        assert_eq!(super::parse_uuid("not a uuid"), None);
        let real = super::boot_id();
        assert!(
            real.is_some(),
            "this test runs on a kernel that gives a boot id"
        );
        assert_eq!(super::boot_id(), real, "the same boot, the same id");
        super::override_boot_id(Some([7; 16]));
        assert_eq!(super::boot_id(), Some([7; 16]));
        super::override_boot_id(None);
        assert_eq!(super::boot_id(), real);
    }
}
