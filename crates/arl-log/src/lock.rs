//! The ledger's advisory lock: `<ledger>/LOCK`, held exclusively by a writer or shared by
//! readers, released when the [`LedgerLock`] is dropped (or the process dies).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::LogError;

/// How often a waiting process retries the lock.
const LOCK_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// An advisory lock on `<ledger>/LOCK`. Held until dropped.
#[derive(Debug)]
pub struct LedgerLock {
    _file: File,
    path: PathBuf,
}

impl LedgerLock {
    /// Takes the lock for writing, waiting up to `timeout` for other holders to finish.
    /// Creates the ledger directory (mode 0700) if it is missing.
    pub fn exclusive(ledger_dir: &Path, timeout: Duration) -> Result<Self, LogError> {
        Self::acquire(ledger_dir, timeout, true)
    }

    /// Takes the lock for reading: many readers at once, no writer.
    pub fn shared(ledger_dir: &Path, timeout: Duration) -> Result<Self, LogError> {
        Self::acquire(ledger_dir, timeout, false)
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn acquire(ledger_dir: &Path, timeout: Duration, exclusive: bool) -> Result<Self, LogError> {
        crate::create_private_dir(ledger_dir)?;
        let path = ledger_dir.join("LOCK");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LogError::io(&path, e))?;
        let started = Instant::now();
        loop {
            let attempt = if exclusive {
                file.try_lock()
            } else {
                file.try_lock_shared()
            };
            match attempt {
                Ok(()) => return Ok(LedgerLock { _file: file, path }),
                Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(LOCK_POLL_INTERVAL);
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(LogError::Busy {
                        path,
                        waited_s: timeout.as_secs_f64(),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(LogError::io(&path, e)),
            }
        }
    }
}
