//! `arl-views`: the persisted views of the log that queries read, and the [`Ledger`] that
//! keeps them in step with the log.
//!
//! A query opens a [`ViewReader`]: it reads the small `heads` file (committed lengths,
//! chain heads per account and person) and then only the records it needs, by positioned
//! reads along per-entity back-pointer chains. It never opens the log. [`ViewWriter`] appends
//! and commits; the [`Ledger`] ties the log, the views and append validation together.
//! The byte layout is in `docs/FORMAT.md`, section "Views".
//!
//! ```
//! use arl_domain::{Event, Recorded, Timestamp};
//! use arl_views::{ViewReader, ViewWriter};
//! let dir = tempfile::tempdir().unwrap();
//! let mut writer = ViewWriter::open(dir.path()).unwrap();
//! let data = r#"{"account":"acme","name":"ACME","scope":"global"}"#;
//! let event = Event::parse("account.opened", data).unwrap();
//! let at = Timestamp(1_700_000_000_000_000);
//! writer.stage(&Recorded { seq: 1, effective_at: at, recorded_at: at, event }).unwrap();
//! writer.commit().unwrap();
//! let reader = ViewReader::open(dir.path()).unwrap();
//! assert_eq!(reader.account_ids(), vec!["acme".to_string()]);
//! assert_eq!(reader.account_events("acme").unwrap()[0].seq, 1);
//! ```

pub mod check;
pub mod chunked;
mod error;
pub mod format;
mod known;
mod ledger;
pub mod pack;
mod reader;
mod rebuild;
mod scan;
mod source;
mod txnids;
mod writer;

pub use error::ViewError;
pub use ledger::{
    open_reader, open_reader_in, recorded_from_envelope, AppendFailure, AppendOptions,
    AppendReport, Converted, FailureKind, Ledger, LOG_DIR, VIEWS_DIR,
};
pub use reader::{ViewReader, MAPPED_BYTES_MAX};
pub use source::{LogSource, STORE_ID_FILE};
pub use writer::ViewWriter;
