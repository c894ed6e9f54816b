//! How a command fails: an error with the exit code it maps to (contract §7).

use std::fmt;

/// Exit code of an error: bad input, a broken rule, not found, the ledger busy.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of a usage error (clap's own errors exit with it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of an integrity failure: a hash or proof does not verify.
pub const EXIT_INTEGRITY: u8 = 3;

/// An error that knows its exit code. Other errors exit 1, or 3 when they are an integrity
/// failure of the log.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error (exit 1).
pub fn error(message: impl Into<String>) -> anyhow::Error {
    Failure {
        code: EXIT_ERROR,
        message: message.into(),
    }
    .into()
}

/// A usage error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure {
        code: EXIT_USAGE,
        message: message.into(),
    }
    .into()
}

/// An integrity failure (exit 3).
pub fn integrity(message: impl Into<String>) -> anyhow::Error {
    Failure {
        code: EXIT_INTEGRITY,
        message: message.into(),
    }
    .into()
}

/// A query's error as the command line reports it: the log's and the views' own errors as
/// they are (their exit codes follow from them), the others with the exit code of their
/// class.
pub fn query(e: arl_query::QueryError) -> anyhow::Error {
    use arl_query::{ErrorClass, QueryError};
    match e {
        QueryError::Log(e) => e.into(),
        QueryError::Source(e) => e.into(),
        other => match other.class() {
            ErrorClass::Integrity => integrity(other.to_string()),
            ErrorClass::Usage => usage(other.to_string()),
            _ => error(other.to_string()),
        },
    }
}

/// The exit code of an error: its own when it is a [`Failure`], 3 for an integrity error
/// or a corrupt store of the log anywhere in its chain, else 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.code;
        }
        if is_integrity(cause) {
            return EXIT_INTEGRITY;
        }
    }
    EXIT_ERROR
}

/// A hash that does not verify, or a store too damaged to read: both are integrity
/// failures (exit 3), wherever they surface.
fn is_integrity(cause: &(dyn std::error::Error + 'static)) -> bool {
    use arl_log::LogError;
    let log_integrity =
        |e: &LogError| matches!(e, LogError::Integrity { .. } | LogError::Corrupt { .. });
    if let Some(e) = cause.downcast_ref::<LogError>() {
        return log_integrity(e);
    }
    match cause.downcast_ref::<arl_views::ViewError>() {
        Some(arl_views::ViewError::Log(e)) => log_integrity(e),
        Some(e) => e.is_damage(),
        None => false,
    }
}

/// True when writing to standard output failed because the reader went away (`| head`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
