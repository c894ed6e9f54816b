//! The bitemporal fold of arl: the state of accounts, people, teams, reporting lines and
//! transactions at any point of valid time (`as_of`) and of knowledge (`at_seq`).
//!
//! The state at a point is the fold of the visible events in (`effective_at`, `seq`) order,
//! events whose §3 rule no longer holds in that order skipped (contract §6). A question does
//! not replay the log: [`SubsetBuilder`] picks the few events the answer depends on from a
//! [`Source`] (an index of the log by entity) and [`State`] folds just those. Validation at
//! append asks [`Facts`] (a source with a few "at any time" answers) through a [`Validator`].
//!
//! Main types: [`State`] (check and apply one event), [`MemIndex`] (an in-memory [`Source`]),
//! [`validate`] (rules at append), [`Point`], and the questions in [`query`].
//!
//! ```
//! use arl_domain::{Event, Recorded, Timestamp};
//! use arl_fold::{query, MemIndex, Point};
//! let mut index = MemIndex::new();
//! let opened = Event::parse("account.opened", r#"{"account":"acme","name":"ACME","scope":"global"}"#).unwrap();
//! let at = Timestamp::parse_input("2024-01-01").unwrap();
//! let recorded = Recorded { seq: 1, effective_at: at, recorded_at: at, event: opened };
//! arl_fold::validate(&index, &recorded).unwrap();
//! index.insert(recorded);
//! let view = query::account_at(&index, "acme", Point::LATEST).unwrap().unwrap();
//! assert_eq!(view.account.name, "ACME");
//! ```

pub mod facts;
pub mod index;
pub mod query;
pub mod source;
pub mod state;
pub mod subset;
mod validate;

pub use facts::{Facts, KnownTxn, StatusStep, ValidationError};
pub use index::{MemIndex, TxnFact, TxnInfo};
pub use source::{Source, SourceError, TxnRow};
pub use state::{AccountState, Applied, Assignment, Contact, Line, PersonState, State, TxnState};
pub use subset::{Point, Subset, SubsetBuilder, SubsetCache};
pub use validate::{check_fresh, validate, validate_fresh, Validator};
