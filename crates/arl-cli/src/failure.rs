//! How a command fails: an error with the exit code it maps to (contract §7).

use std::fmt;

/// Exit code of an error: bad input, a broken rule, not found, the ledger busy.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of a usage error (clap's own errors exit with it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of an integrity failure: a hash or proof does not verify.
pub const EXIT_INTEGRITY: u8 = 3;

/// Exit code of an internal error: a bug of arl (a panic, on any of its threads). It is an
/// error like any other for a script, and never the integrity code: a bug is not damage.
pub const EXIT_INTERNAL: u8 = EXIT_ERROR;

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

/// Runs a command and returns its exit code: 0 on success (or when the reader of standard
/// output went away), the error's own code otherwise (printed on standard error), and
/// [`EXIT_INTERNAL`] when the command panicked, on this thread or on a worker whose panic was
/// re-raised here (every worker of the workspace is joined through `arl_par`, which does
/// that). The panic itself is described on standard error by the hook of
/// [`report_panics_as_internal_errors`].
pub fn guarded(command: impl FnOnce() -> anyhow::Result<()>) -> u8 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(command)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) if is_broken_pipe(&e) => 0,
        Ok(Err(e)) => {
            crate::out::stderr_line(&format!("arl: {e:#}"));
            exit_code(&e)
        }
        Err(_panic) => EXIT_INTERNAL,
    }
}

/// Describes any panic as an internal error of arl: where it happened and what to do, in
/// place of the standard library's message.
pub fn report_panics_as_internal_errors() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("a worker");
        crate::out::stderr_line(&format!(
            "arl: internal error (thread {thread}{place}): {message}\n\
             This is a bug in arl, not damage to the ledger: nothing half-done was committed. \
             Please report it with the command that caused it."
        ));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_s_panic_is_an_internal_error_not_an_integrity_failure() {
        let code = guarded(|| {
            let (here, there) = arl_par::join(|| 1, || -> u32 { panic!("a bug in a worker") });
            assert_eq!(here + there, 0, "not reached: the worker panicked");
            Ok(())
        });
        assert_eq!(code, EXIT_INTERNAL);
        assert_ne!(code, EXIT_INTEGRITY);
    }

    #[test]
    fn errors_keep_their_exit_codes() {
        assert_eq!(guarded(|| Ok(())), 0);
        assert_eq!(guarded(|| Err(usage("a bad flag"))), EXIT_USAGE);
        assert_eq!(
            guarded(|| Err(arl_log::LogError::Corrupt {
                what: "a damaged frame".into()
            }
            .into())),
            EXIT_INTEGRITY
        );
        assert_eq!(guarded(|| Err(error("not found"))), EXIT_ERROR);
        let broken = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader went away");
        assert_eq!(guarded(|| Err(broken.into())), 0);
    }
}
