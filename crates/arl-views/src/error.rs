//! The crate's error enum.

use std::path::PathBuf;

/// What went wrong while opening, reading or writing the views, or while tying them to the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// A file system operation failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A record of a view file fails its checksum: the file is damaged.
    #[error("checksum mismatch in {} at byte {offset}: the views are damaged; rebuild them from the log with arl replay", path.display())]
    Checksum { path: PathBuf, offset: u64 },
    /// A view file holds bytes this crate cannot decode.
    #[error("corrupt view file {}: {what}; rebuild the views from the log (arl replay)", path.display())]
    Corrupt { path: PathBuf, what: String },
    /// The views directory has no `heads` file: the views were never built.
    #[error("no views in {}: append an event or run arl replay to build them", path.display())]
    Missing { path: PathBuf },
    /// The views were written by another version of the format.
    #[error("views in {} are format version {found}, this build reads version {expected}; run arl replay", path.display())]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    /// Events were handed to the writer out of order (a programming error upstream).
    #[error("views expect seq {expected} next, got seq {got}")]
    OutOfOrder { expected: u64, got: u64 },
    /// The views include events the log does not have.
    #[error("the views reach seq {views} but the log only seq {log}; run arl replay")]
    AheadOfLog { views: u64, log: u64 },
    /// A stored event that is not a valid event of the catalogue.
    #[error("seq {seq}: stored event does not parse: {message}")]
    BadEvent { seq: u64, message: String },
    /// A limit of the format would be exceeded (ids, data size, number of entities).
    #[error("{what}: {value} exceeds the view format's limit of {max}")]
    Limit {
        what: &'static str,
        value: u64,
        max: u64,
    },
    /// An earlier write failed half way; the writer must be opened again.
    #[error("the view writer failed earlier and must be reopened")]
    Poisoned,
    /// The ledger directory and the log given do not belong together (views bound to
    /// another shared log, a directory log where a shared one was given, or the reverse).
    #[error("{message}")]
    Binding { message: String },
    /// The log failed (opening, reading, locking, verifying).
    #[error(transparent)]
    Log(#[from] arl_log::LogError),
}

impl ViewError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ViewError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn corrupt(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        ViewError::Corrupt {
            path: path.into(),
            what: what.into(),
        }
    }
}

impl ViewError {
    /// True when the views are damaged (a checksum, a record or a structure that does not
    /// hold): an integrity failure that `arl replay` repairs.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            ViewError::Checksum { .. } | ViewError::Corrupt { .. } | ViewError::BadEvent { .. }
        )
    }
}

impl From<ViewError> for arl_fold::SourceError {
    fn from(e: ViewError) -> Self {
        arl_fold::SourceError::caused_by("reading the views", e)
    }
}
