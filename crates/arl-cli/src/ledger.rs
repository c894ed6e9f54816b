//! Finding and opening the ledger: for queries the views only (shared lock, fast), for
//! appends the writer, for the log's commands the log under the exclusive lock.

use crate::failure;
use anyhow::{Context, Result};
use arl_log::{LedgerLock, Log};
use arl_views::{Ledger, ViewError, ViewReader, LOG_DIR, VIEWS_DIR};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the ledger is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub dir: PathBuf,
    pub lock_timeout: Duration,
    pub quiet: bool,
}

impl Ctx {
    /// The ledger directory: `--ledger`, else `$ARL_LEDGER`, else `./arl-ledger`.
    pub fn new(ledger: Option<PathBuf>, lock_timeout_s: f64, quiet: bool) -> Result<Ctx> {
        let dir = ledger
            .or_else(|| std::env::var_os("ARL_LEDGER").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(crate::cli::LEDGER_DEFAULT));
        if !(lock_timeout_s.is_finite() && (0.0..=86_400.0).contains(&lock_timeout_s)) {
            return Err(failure::usage(
                "--lock-timeout is a number of seconds between 0 and 86400",
            ));
        }
        Ok(Ctx {
            dir,
            lock_timeout: Duration::from_secs_f64(lock_timeout_s),
            quiet,
        })
    }

    /// Fails with "no ledger at PATH" unless the directory holds a ledger.
    pub fn require(&self) -> Result<()> {
        if self.dir.join(LOG_DIR).is_dir() {
            return Ok(());
        }
        Err(failure::error(format!(
            "no ledger at {}; create one with arl append",
            self.dir.display()
        )))
    }

    /// The views for a query, under a shared lock. Views that were never built (a ledger
    /// whose first writer crashed) are built first, through the writer.
    pub fn reader(&self) -> Result<(LedgerLock, ViewReader)> {
        self.require()?;
        match arl_views::open_reader(&self.dir, self.lock_timeout) {
            Ok(opened) => Ok(opened),
            Err(ViewError::Missing { .. }) => {
                drop(self.writer()?);
                Ok(arl_views::open_reader(&self.dir, self.lock_timeout)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The writer (creating the ledger if it is missing).
    pub fn writer(&self) -> Result<Ledger> {
        Ledger::open(&self.dir, self.lock_timeout)
            .with_context(|| format!("opening the ledger at {}", self.dir.display()))
    }

    /// The log alone, under the exclusive lock (the storage engine allows one process).
    pub fn log(&self) -> Result<(LedgerLock, Log)> {
        self.require()?;
        let lock = LedgerLock::exclusive(&self.dir, self.lock_timeout)?;
        let log = Log::open(&self.dir.join(LOG_DIR))
            .with_context(|| format!("opening the log of {}", self.dir.display()))?;
        Ok((lock, log))
    }

    /// The views directory.
    pub fn views_dir(&self) -> PathBuf {
        self.dir.join(VIEWS_DIR)
    }
}

/// The ledger directory as shown in example command lines.
pub fn shown(dir: &Path) -> String {
    let text = dir.display().to_string();
    if text.contains(char::is_whitespace) {
        format!("'{text}'")
    } else {
        text
    }
}
