//! The crate's two error enums: [`LogError`] for storage, integrity and locking, and
//! [`AppendError`] for a batch that cannot be appended as given.

use std::path::PathBuf;

/// What went wrong while opening, reading, writing or verifying the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Another process holds the ledger lock for longer than the caller was willing to wait.
    #[error("ledger busy: another process holds {}; waited {waited_s} s (raise --lock-timeout)", path.display())]
    Busy { path: PathBuf, waited_s: f64 },
    /// A file system operation failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The storage engine reported an error.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// The store holds bytes this crate cannot decode: a damaged or foreign store.
    #[error("corrupt log store: {what}; restore the ledger from a backup or an export")]
    Corrupt { what: String },
    /// The log directory holds a log of an older layout, which this arl does not read.
    #[error("the log in {} has layout {layout}; this arl reads layout {}: run `arl upgrade` to convert it in place", path.display(), crate::LOG_LAYOUT)]
    OldLayout { path: PathBuf, layout: u32 },
    /// The stored events do not verify: the first failing `seq` and why.
    #[error("integrity failure at seq {seq}: {reason}")]
    Integrity { seq: u64, reason: String },
    /// An export line that is not a valid envelope.
    #[error("invalid envelope: {reason}")]
    BadEnvelope { reason: String },
    /// A size or seq beyond the current head.
    #[error("{what} {value} is beyond the log's head (size {size})")]
    OutOfRange {
        what: &'static str,
        value: u64,
        size: u64,
    },
    /// Another writer sharing the store committed after this one last read the head: the
    /// batch was not written. [`crate::Log::refresh`], then plan it again.
    #[error("another writer appended to the log (its committed length is {found}, this writer planned from {planned}); refresh and plan the batch again")]
    Moved { planned: u64, found: u64 },
    /// A store outside this process (a database server) failed or cannot be reached.
    #[error("log store: {what}")]
    Backend { what: String },
    /// `commit` was given a batch prepared against an older head.
    #[error("the log moved from seq {prepared_at} to {head} after this batch was prepared; prepare it again")]
    StalePrepared { prepared_at: u64, head: u64 },
}

impl LogError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        LogError::Corrupt { what: what.into() }
    }
    pub(crate) fn integrity(seq: u64, reason: impl Into<String>) -> Self {
        LogError::Integrity {
            seq,
            reason: reason.into(),
        }
    }
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LogError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Why a batch cannot be appended. `index` is the 0-based position of the offending event
/// in the batch; the caller maps it to an input line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// `expected_version` did not match the stream's version before the event.
    #[error("event {index}: stream \"{stream}\" is at version {actual}, not the expected {expected}; read the stream again and resend with expected_version {actual}, or drop expected_version")]
    StaleVersion {
        index: usize,
        stream: String,
        expected: u64,
        actual: u64,
    },
    /// The id is already used by another event with different type, data or effective_at.
    #[error("event {index}: id \"{id}\" is already used by seq {seq} with a different type, data or effective_at; use a new id, or resend the original event unchanged")]
    IdConflict { index: usize, id: String, seq: u64 },
    /// An imported `recorded_at` breaks the ordering rules.
    #[error("event {index}: imported recorded_at {reason}")]
    ImportedTime { index: usize, reason: String },
    /// A field of the event breaks a limit of the log (empty, too long, out of range).
    #[error("event {index}: {reason}")]
    InvalidEvent { index: usize, reason: String },
    /// The batch holds more events than one commit may.
    #[error("a batch holds at most {max} events, this one {len}; split the input")]
    BatchTooLarge { len: usize, max: usize },
    /// Reading the log failed while preparing.
    #[error(transparent)]
    Log(#[from] LogError),
}
