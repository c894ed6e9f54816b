//! [`QueryError`]: why a question has no answer.

use arl_domain::Timestamp;
use arl_fold::{Point, SourceError};
use arl_log::LogError;

/// Why a question could not be answered. The messages are the command line's, word for word.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The account does not exist at the point asked.
    #[error("account \"{account}\" does not exist {}; list the accounts with arl accounts, or pick a later --as-of", describe(*point))]
    AccountMissing {
        /// The account id asked for.
        account: String,
        /// The point it was asked at.
        point: Point,
    },
    /// The person has not joined at the point asked.
    #[error("person \"{person}\" has not joined {}; see the people with arl org", describe(*point))]
    PersonMissing {
        /// The person id asked for.
        person: String,
        /// The point it was asked at.
        point: Point,
    },
    /// No event touched the account by the seq asked.
    #[error("no event touched account \"{account}\" by seq {at_seq}; list the accounts with arl accounts")]
    NoHistory {
        /// The account id asked for.
        account: String,
        /// The last seq looked at.
        at_seq: u64,
    },
    /// A diff between two points at which the account exists at neither.
    #[error("account \"{account}\" exists at neither point; list the accounts with arl accounts")]
    AtNeitherPoint {
        /// The account id asked for.
        account: String,
    },
    /// A diff along the axis of knowledge was also given a point of knowledge.
    #[error(
        "with --axis known, --from and --to are the points of knowledge: drop --known-at/--at-seq"
    )]
    KnownAxisWithKnownAt,
    /// A window of valid time that ends before it begins.
    #[error("the window ends ({}) before it begins ({}); give --from on or before --to", to.human(), from.human())]
    EmptyWindow {
        /// The start asked for.
        from: Timestamp,
        /// The end asked for.
        to: Timestamp,
    },
    /// The seq asked for is not in the tree a proof is for.
    #[error("seq {seq} is not in the tree of size {size}; pick a seq from 1 to {size}")]
    SeqNotInTree {
        /// The seq asked for.
        seq: u64,
        /// The size of the tree.
        size: u64,
    },
    /// The views name a seq the log does not hold (an integrity failure).
    #[error("the views hold seq {seq} but the log does not; run arl verify")]
    ViewsAheadOfLog {
        /// The seq the views hold.
        seq: u64,
    },
    /// A digest claims more events than the log holds (an integrity failure).
    #[error("the digest is at seq {digest_seq} but the ledger only reaches seq {head_seq}")]
    DigestBeyondHead {
        /// The digest's seq.
        digest_seq: u64,
        /// The log's head seq.
        head_seq: u64,
    },
    /// An inclusion proof the log produced does not verify (an integrity failure).
    #[error("the inclusion proof of seq {seq} in the tree of size {size} does not verify against root {root}")]
    ProofFails {
        /// The seq proven.
        seq: u64,
        /// The size of the tree.
        size: u64,
        /// The root, hex.
        root: String,
    },
    /// Reading the views (or another index of the log) failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// What kind of failure a [`QueryError`] is, for an exit code or an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The thing asked about does not exist at the point asked.
    NotFound,
    /// The question itself is malformed.
    Usage,
    /// A hash or proof does not verify, or the store is too damaged to read.
    Integrity,
    /// Reading the store failed.
    Storage,
}

impl QueryError {
    /// The kind of failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            QueryError::AccountMissing { .. }
            | QueryError::PersonMissing { .. }
            | QueryError::NoHistory { .. }
            | QueryError::AtNeitherPoint { .. }
            | QueryError::SeqNotInTree { .. } => ErrorClass::NotFound,
            QueryError::KnownAxisWithKnownAt | QueryError::EmptyWindow { .. } => ErrorClass::Usage,
            QueryError::ViewsAheadOfLog { .. }
            | QueryError::DigestBeyondHead { .. }
            | QueryError::ProofFails { .. } => ErrorClass::Integrity,
            QueryError::Log(LogError::Integrity { .. } | LogError::Corrupt { .. }) => {
                ErrorClass::Integrity
            }
            QueryError::Source(_) | QueryError::Log(_) => ErrorClass::Storage,
        }
    }
}

/// A point in words: `as of 2024-03-31, known at seq 41`.
pub fn describe(point: Point) -> String {
    let as_of = if point.as_of == Timestamp::MAX {
        "the end of time".to_string()
    } else {
        point.as_of.human()
    };
    format!("as of {as_of}, known at seq {}", point.at_seq)
}
