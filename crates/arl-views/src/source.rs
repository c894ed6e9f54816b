//! [`LogSource`]: where a ledger's log lives. In the ledger directory (`<ledger>/log`, the
//! default), or in a store that several nodes share ([`arl_log::SharedStore`], e.g.
//! PostgreSQL): then the directory keeps only what is the node's own (views, lock, keys,
//! tokens) and the file [`STORE_ID_FILE`] binds its views to that log, so that views
//! built from one log are never read as another's.

use crate::ledger::{LOG_DIR, VIEWS_DIR};
use crate::ViewError;
use arl_log::{Log, SharedStore};
use std::path::Path;
use std::sync::Arc;

/// The file, in the ledger directory, that names the shared log its views follow.
pub const STORE_ID_FILE: &str = "store.id";

/// Where a ledger's log lives.
#[derive(Clone, Default)]
pub enum LogSource {
    /// `<ledger>/log`.
    #[default]
    Dir,
    /// A store several nodes share.
    Shared(Arc<dyn SharedStore>),
}

impl std::fmt::Debug for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogSource::Dir => f.write_str("Dir"),
            LogSource::Shared(s) => write!(f, "Shared({})", s.describe()),
        }
    }
}

impl LogSource {
    /// Opens the log of the ledger in `ledger_dir`; for a shared store, binds the directory
    /// to it (first use) or checks that it is bound to it. The caller holds the exclusive
    /// lock.
    pub fn open_log(&self, ledger_dir: &Path) -> Result<Log, ViewError> {
        match self {
            LogSource::Dir => {
                refuse_bound_dir(ledger_dir)?;
                Ok(Log::open(&ledger_dir.join(LOG_DIR))?)
            }
            LogSource::Shared(store) => {
                let log = Log::open_store(store.open()?)?;
                let state = store.state()?.ok_or_else(|| {
                    binding(format!(
                        "{} holds no arl log after opening it",
                        store.describe()
                    ))
                })?;
                bind(ledger_dir, &state.ledger_id, store.as_ref())?;
                Ok(log)
            }
        }
    }

    /// The committed length of the log, read without opening it (for a query to tell views
    /// behind it); `None` when there is no log. For a shared store: `Some(u64::MAX)` (views
    /// to be caught up by the writer) when the directory is not bound yet; an error when it
    /// is bound to another log.
    pub fn committed_len(&self, ledger_dir: &Path) -> Result<Option<u64>, ViewError> {
        match self {
            LogSource::Dir => {
                refuse_bound_dir(ledger_dir)?;
                Ok(arl_log::committed_len_on_disk(&ledger_dir.join(LOG_DIR))?)
            }
            LogSource::Shared(store) => {
                let Some(state) = store.state()? else {
                    return Ok(None);
                };
                match read_bound_id(ledger_dir)? {
                    Some(id) if id == state.ledger_id => Ok(Some(state.data_len)),
                    Some(id) => Err(other_log(ledger_dir, &id, &state.ledger_id, store.as_ref())),
                    None => Ok(Some(u64::MAX)),
                }
            }
        }
    }

    /// Whether a log exists there.
    pub fn exists(&self, ledger_dir: &Path) -> Result<bool, ViewError> {
        match self {
            LogSource::Dir => Ok(ledger_dir.join(LOG_DIR).is_dir()),
            LogSource::Shared(store) => Ok(store.state()?.is_some()),
        }
    }

    /// Whether the log is in a shared store.
    pub fn is_shared(&self) -> bool {
        matches!(self, LogSource::Shared(_))
    }
}

fn binding(message: String) -> ViewError {
    ViewError::Binding { message }
}

fn other_log(dir: &Path, bound: &str, found: &str, store: &dyn SharedStore) -> ViewError {
    binding(format!(
        "the views in {} follow the log with ledger id {bound}, but {} holds ledger id {found}; give another --ledger directory for this store (its views are built from the log)",
        dir.display(),
        store.describe()
    ))
}

fn read_bound_id(ledger_dir: &Path) -> Result<Option<String>, ViewError> {
    let path = ledger_dir.join(STORE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ViewError::io(path, e)),
    }
}

/// A directory bound to a shared log must not be opened as a directory ledger.
fn refuse_bound_dir(ledger_dir: &Path) -> Result<(), ViewError> {
    match read_bound_id(ledger_dir)? {
        Some(id) => Err(binding(format!(
            "the log of the ledger in {} is in a shared store (ledger id {id}): give --store URL (or ARL_STORE)",
            ledger_dir.display()
        ))),
        None => Ok(()),
    }
}

/// Binds `ledger_dir` to the shared log `ledger_id`, or checks that it is bound to it.
/// Views found in a directory that was never bound are dropped (they are derived: the
/// writer builds them again from the log).
fn bind(ledger_dir: &Path, ledger_id: &str, store: &dyn SharedStore) -> Result<(), ViewError> {
    if ledger_dir.join(LOG_DIR).exists() {
        return Err(binding(format!(
            "{} holds a ledger with its own log; give another --ledger directory for {}",
            ledger_dir.display(),
            store.describe()
        )));
    }
    match read_bound_id(ledger_dir)? {
        Some(id) if id == ledger_id => Ok(()),
        Some(id) => Err(other_log(ledger_dir, &id, ledger_id, store)),
        None => {
            let views = ledger_dir.join(VIEWS_DIR);
            if views.exists() {
                arl_io::remove_dir_all(&views).map_err(|e| ViewError::io(&views, e))?;
            }
            let path = ledger_dir.join(STORE_ID_FILE);
            let tmp = ledger_dir.join(format!("{STORE_ID_FILE}.tmp"));
            std::fs::write(&tmp, format!("{ledger_id}\n")).map_err(|e| ViewError::io(&tmp, e))?;
            arl_io::rename(&tmp, &path).map_err(|e| ViewError::io(&path, e))?;
            crate::writer::sync_dir(ledger_dir)
        }
    }
}
