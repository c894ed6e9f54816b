//! The questions arl answers, shared by the command line (`arl-cli`) and the server
//! (`arl-server`), so both give the same JSON and CSV from the same code.
//!
//! A question is a typed value ([`CardQuestion`], [`teams::AccountQuestion`],
//! [`txns::BalanceQuestion`], ...) with the point it is asked at ([`At`]); its answer is a
//! typed value that serializes to exactly the JSON `arl ... --format json` prints, and
//! converts to the [`Table`] of rows `--format csv` prints. Questions that only need the
//! fold read through [`arl_fold::Source`], so they can be asked of the persisted views or of
//! an in-memory index ([`arl_fold::MemIndex`]) built from any set of envelopes; history takes
//! the envelope hashes from a callback; proofs need the log. No terminal, no HTTP, no clap.
//!
//! ```
//! use arl_domain::{Event, Recorded, Timestamp};
//! use arl_fold::MemIndex;
//! use arl_query::{At, CardQuestion, QueryError};
//! let mut index = MemIndex::new();
//! let at = Timestamp::parse_input("2024-01-01").unwrap();
//! let event = Event::parse("account.opened", r#"{"account":"acme","name":"ACME","scope":"global"}"#).unwrap();
//! index.insert(Recorded { seq: 1, effective_at: at, recorded_at: at, event });
//! let question = CardQuestion { account: "acme".into(), at: At::default() };
//! let card = question.answer(&index).unwrap();
//! assert_eq!(serde_json::to_value(&card).unwrap()["name"], "ACME");
//! let missing = CardQuestion { account: "nope".into(), at: At::default() };
//! assert!(matches!(missing.answer(&index), Err(QueryError::AccountMissing { .. })));
//! ```

pub mod accounts;
mod error;
pub mod evidence;
pub mod export;
pub mod history;
pub mod integrity;
mod point;
pub mod privacy;
pub mod teams;
pub mod timeline;
pub mod txns;

pub use accounts::{AccountsQuestion, CardQuestion};
pub use error::{describe, ErrorClass, QueryError};
pub use point::At;

/// Rows with a header, as `--format csv` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The column names.
    pub header: Vec<String>,
    /// The rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table of `rows` under `header`.
    pub fn new(header: &[&str], rows: Vec<Vec<String>>) -> Table {
        debug_assert!(rows.iter().all(|r| r.len() == header.len()));
        Table {
            header: header
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            rows,
        }
    }

    /// The table as CSV text (header first, RFC 4180 quoting, `\n` line ends).
    pub fn to_csv(&self) -> Result<String, std::io::Error> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&self.header)?;
        for row in &self.rows {
            writer.write_record(row)?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        String::from_utf8(bytes).map_err(std::io::Error::other)
    }
}
