//! `arl-pg`: the log of an arl ledger in PostgreSQL, shared by several `arl` processes
//! (nodes), each with its own views on its own disk.
//!
//! [`PgStore`] implements [`arl_log::Store`]: the same byte space of envelope frames, block
//! offsets, Merkle nodes, id and stream indexes and head record as the directory store,
//! in tables of a schema this crate creates and versions itself (`docs/FORMAT.md`).
//! A commit is one transaction that locks the head row first and refuses to go on when
//! another writer moved the head since this one read it ([`arl_log::LogError::Moved`]), so
//! that the chain never forks and seqs have no gaps; it ends with a `NOTIFY` on
//! [`CHANNEL`] that [`PgFollower`]s hear. [`PgSource`] is the address
//! ([`arl_log::SharedStore`]) from which each process opens its own store. [`PgKeys`] is
//! the key store of a sealing ledger, in a table beside the log that every node shares.
//!
//! ```no_run
//! use arl_log::{Log, SharedStore};
//! let source = arl_pg::PgSource::new("postgres://root@127.0.0.1:5432/ledger")?;
//! let log = Log::open_store(source.open()?)?;
//! println!("head seq {}", log.head().seq);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod keys;
mod schema;
mod store;

pub use keys::{KeyRow, PgKeys};
pub use schema::{SCHEMA_V1, SCHEMA_V2, SCHEMA_VERSION};
pub use store::{PgFollower, PgSource, PgStore, CHANNEL};

/// Whether `address` names a PostgreSQL store (`postgres://` or `postgresql://`) rather
/// than a directory.
pub fn is_postgres_url(address: &str) -> bool {
    address.starts_with("postgres://") || address.starts_with("postgresql://")
}
