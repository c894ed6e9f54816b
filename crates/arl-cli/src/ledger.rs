//! Finding and opening the ledger: for queries the views only (shared lock, fast), for
//! appends the writer, for the log's commands the log under the exclusive lock.

use crate::failure;
use anyhow::{Context, Result};
use arl_log::{LedgerLock, Log};
use arl_privacy::KeyHome;
use arl_views::{Ledger, LogSource, ViewError, ViewReader, LOG_DIR, VIEWS_DIR};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the ledger is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub dir: PathBuf,
    pub lock_timeout: Duration,
    pub quiet: bool,
    /// Where the log is: `<dir>/log`, or a PostgreSQL store (`--store`).
    pub source: LogSource,
    /// Where the keys are: `<dir>/keys`, or a table beside the log in PostgreSQL.
    pub keys: KeyHome,
}

/// The log store a `--store` (or `--from`, `--to`) address names: a PostgreSQL URL.
pub fn shared_store(url: &str) -> Result<Arc<arl_pg::PgSource>> {
    if !arl_pg::is_postgres_url(url) {
        return Err(failure::usage(format!(
            "--store takes a PostgreSQL URL (postgres://user@host:port/database), not {url:?}"
        )));
    }
    Ok(Arc::new(arl_pg::PgSource::new(url)?))
}

impl Ctx {
    /// The ledger directory: `--ledger`, else `$ARL_LEDGER`, else `./arl-ledger`; the log
    /// in it, or in the store `store` names (`--store`, else `$ARL_STORE`).
    pub fn new(
        ledger: Option<PathBuf>,
        lock_timeout_s: f64,
        quiet: bool,
        store: Option<&str>,
    ) -> Result<Ctx> {
        let dir = ledger
            .or_else(|| std::env::var_os("ARL_LEDGER").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(crate::cli::LEDGER_DEFAULT));
        if !(lock_timeout_s.is_finite() && (0.0..=86_400.0).contains(&lock_timeout_s)) {
            return Err(failure::usage(
                "--lock-timeout is a number of seconds between 0 and 86400",
            ));
        }
        let (source, keys) = match store {
            Some(url) => {
                let store = shared_store(url)?;
                let keys = crate::pgkeys::SharedPgKeys(arl_pg::PgKeys::new(store.as_ref().clone()));
                (LogSource::Shared(store), KeyHome::Shared(Arc::new(keys)))
            }
            None => (LogSource::Dir, KeyHome::Dir(dir.clone())),
        };
        Ok(Ctx {
            dir,
            lock_timeout: Duration::from_secs_f64(lock_timeout_s),
            quiet,
            source,
            keys,
        })
    }

    /// Fails with "no ledger at PATH" unless the directory (or the store) holds a ledger.
    pub fn require(&self) -> Result<()> {
        match &self.source {
            LogSource::Dir if self.dir.join(LOG_DIR).is_dir() => Ok(()),
            LogSource::Dir if self.dir.join(arl_views::STORE_ID_FILE).exists() => {
                Err(failure::error(format!(
                    "the log of the ledger in {} is in PostgreSQL: give --store URL (or ARL_STORE)",
                    self.dir.display()
                )))
            }
            LogSource::Dir => Err(failure::error(format!(
                "no ledger at {}; create one with arl append",
                self.dir.display()
            ))),
            LogSource::Shared(store) => {
                if self.source.exists(&self.dir)? {
                    return Ok(());
                }
                Err(failure::error(format!(
                    "no ledger in {}; create one with arl --store URL append",
                    store.describe()
                )))
            }
        }
    }

    /// The views for a query, under a shared lock. Views that were never built (a ledger
    /// whose first writer crashed) are built first, through the writer.
    pub fn reader(&self) -> Result<(LedgerLock, ViewReader)> {
        self.require()?;
        match arl_views::open_reader_in(&self.dir, self.lock_timeout, &self.source) {
            Ok(opened) => Ok(opened),
            Err(ViewError::Missing { .. }) => {
                drop(self.writer()?);
                Ok(arl_views::open_reader_in(
                    &self.dir,
                    self.lock_timeout,
                    &self.source,
                )?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The writer (creating the ledger if it is missing).
    pub fn writer(&self) -> Result<Ledger> {
        Ledger::open_in(&self.dir, self.lock_timeout, self.source.clone())
            .with_context(|| format!("opening the ledger at {}", self.dir.display()))
    }

    /// The log alone: of a directory under its exclusive lock (the storage engine allows
    /// one process); of a shared store without any lock (it serializes its writers).
    pub fn log(&self) -> Result<(Option<LedgerLock>, Log)> {
        self.require()?;
        if let LogSource::Shared(store) = &self.source {
            // This node's directory, when there is one, is locked as for a directory ledger
            // (its views are checked by verify) and must follow this store's log.
            let lock = if self.dir.is_dir() {
                self.source.committed_len(&self.dir)?;
                Some(LedgerLock::exclusive(&self.dir, self.lock_timeout)?)
            } else {
                None
            };
            let log = Log::open_store(store.open()?)
                .with_context(|| format!("opening the log in {}", store.describe()))?;
            return Ok((lock, log));
        }
        let lock = LedgerLock::exclusive(&self.dir, self.lock_timeout)?;
        let log = Log::open(&self.dir.join(LOG_DIR))
            .with_context(|| format!("opening the log of {}", self.dir.display()))?;
        Ok((Some(lock), log))
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
