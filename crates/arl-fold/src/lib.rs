//! arl-fold
pub mod source;
pub use source::{Source, SourceError, TxnRow};
