//! The query side: opening sealed fields for an answer, through a [`Source`] that hands the
//! fold events with their personal fields opened (or [`ERASED`]), and the passes that show
//! an erased field as `null` with `"erased": true` (JSON) or `[erased]` (tables).

use crate::home::Lookup;
use crate::{seal, unseal_event, KeyHome, PrivacyError, Subject};
use arl_domain::{Recorded, Timestamp};
use arl_fold::{Source, SourceError, SubsetCache, TxnRow};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// What an opened personal field holds once its key was destroyed. Input may not start a
/// personal field with `arl:` ([`crate::RESERVED_PREFIX`]), so no name is ever this.
pub const ERASED: &str = "arl:erased";
/// An erased field in a table or CSV cell.
pub const ERASED_CELL: &str = "[erased]";

/// Opens sealed values with the keys of one ledger.
pub struct Unsealer {
    keys: Lookup,
}

impl Unsealer {
    /// The unsealer of the ledger directory `ledger_dir` (no key store: no keys); see
    /// [`KeyHome::unsealer`] for a ledger whose keys are shared.
    pub fn open_ledger(ledger_dir: &Path) -> Result<Unsealer, PrivacyError> {
        KeyHome::Dir(ledger_dir.to_path_buf()).unsealer()
    }

    pub(crate) fn with(keys: Lookup) -> Unsealer {
        Unsealer { keys }
    }

    /// The plaintext of a sealed value of `subject`, or `None` when its key is gone (or
    /// the value does not open with it).
    pub fn open(&self, subject: &Subject, value: &str) -> Result<Option<String>, PrivacyError> {
        let Some(n) = seal::key_ref(value) else {
            return Ok(None);
        };
        Ok(self
            .keys
            .key(n, subject)?
            .and_then(|key| seal::open(&key, subject, value)))
    }
}

/// A [`Source`] whose events carry their personal fields opened: what every answer that
/// shows names reads through. Events without sealed fields pass as they are.
pub struct UnsealedSource<'a> {
    inner: &'a (dyn Source + Sync),
    unsealer: Option<&'a Unsealer>,
    /// Where questions of one account keep what they read through this source.
    subsets: Option<&'a SubsetCache>,
}

impl<'a> UnsealedSource<'a> {
    pub fn new(inner: &'a (dyn Source + Sync), unsealer: &'a Unsealer) -> UnsealedSource<'a> {
        UnsealedSource {
            inner,
            unsealer: Some(unsealer),
            subsets: None,
        }
    }

    /// The source as stored: personal fields stay sealed (the answer an evidence bundle
    /// proves, which a checker without keys recomputes).
    pub fn as_stored(inner: &'a (dyn Source + Sync)) -> UnsealedSource<'a> {
        UnsealedSource {
            inner,
            unsealer: None,
            subsets: None,
        }
    }

    /// This source keeping the subsets of accounts' questions in `cache`, which must hold
    /// only subsets read through a source like this one: the same inner state, opened with
    /// the same keys, or as stored alike ([`Source::subsets`]).
    pub fn keeping_subsets(self, cache: &'a SubsetCache) -> UnsealedSource<'a> {
        UnsealedSource {
            subsets: Some(cache),
            ..self
        }
    }

    fn open(&self, events: Vec<Arc<Recorded>>) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let Some(unsealer) = self.unsealer else {
            return Ok(events);
        };
        events
            .into_iter()
            .map(|recorded| {
                // An event without personal fields is clear.
                if crate::is_clear(&recorded.event) {
                    return Ok(recorded);
                }
                let mut opened = (*recorded).clone();
                unseal_event(unsealer, &mut opened.event)
                    .map_err(|e| SourceError::caused_by("opening sealed fields", e))?;
                Ok(Arc::new(opened))
            })
            .collect()
    }
}

impl Source for UnsealedSource<'_> {
    fn checkpoint(&self) -> u64 {
        self.inner.checkpoint()
    }
    fn seq_known_at(&self, known_at: Timestamp) -> Result<u64, SourceError> {
        self.inner.seq_known_at(known_at)
    }
    fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.open(self.inner.account_events(account)?)
    }
    fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.inner.child_refs(account)
    }
    fn person_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.open(self.inner.person_events(person)?)
    }
    fn org_events(&self) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.open(self.inner.org_events()?)
    }
    fn account_ids(&self) -> Result<Vec<String>, SourceError> {
        self.inner.account_ids()
    }
    fn person_ids(&self) -> Result<Vec<String>, SourceError> {
        self.inner.person_ids()
    }
    fn txn_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.inner.txn_events(account)
    }
    fn txn_rows(&self, each: &mut dyn FnMut(&TxnRow)) -> Result<(), SourceError> {
        self.inner.txn_rows(each)
    }
    fn account_of(&self, number: u32) -> Option<String> {
        self.inner.account_of(number)
    }
    fn account_number(&self, account: &str) -> Option<u32> {
        self.inner.account_number(account)
    }
    fn account_txn_rows(
        &self,
        account: &str,
        each: &mut dyn FnMut(&TxnRow),
    ) -> Result<(), SourceError> {
        self.inner.account_txn_rows(account, each)
    }
    fn txn_row_count(&self) -> u64 {
        self.inner.txn_row_count()
    }
    fn txn_rows_range(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(&TxnRow),
    ) -> Result<(), SourceError> {
        self.inner.txn_rows_range(from, to, each)
    }
    fn as_sync(&self) -> Option<&(dyn Source + Sync)> {
        Some(self)
    }
    fn subsets(&self) -> Option<&SubsetCache> {
        self.subsets
    }
    fn account_hierarchy(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.inner.account_hierarchy(account)
    }
    fn person_lifecycle(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.open(self.inner.person_lifecycle(person)?)
    }
    fn person_org_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.open(self.inner.person_org_events(person)?)
    }
}

/// Shows erased fields in a JSON answer: every string equal to [`ERASED`] becomes `null`,
/// and its object gains `"erased": true`. Returns whether anything was erased.
pub fn mark_erased(value: &mut Value) -> bool {
    match value {
        Value::Array(items) => items.iter_mut().fold(false, |any, v| mark_erased(v) | any),
        Value::Object(map) => {
            let (mut here, mut below) = (false, false);
            for v in map.values_mut() {
                if v.as_str() == Some(ERASED) {
                    *v = Value::Null;
                    here = true;
                } else {
                    below |= mark_erased(v);
                }
            }
            if here {
                map.insert("erased".to_string(), Value::Bool(true));
            }
            here || below
        }
        _ => false,
    }
}

/// A table or CSV cell's text: [`ERASED_CELL`] for an erased field, else as it is.
pub fn table_text(text: &str) -> String {
    if text == ERASED {
        ERASED_CELL.to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erased_fields_become_null_with_a_flag_and_others_stay() {
        let mut card = serde_json::json!({"account": "globex-de", "contacts": [
            {"contact": "k-vogel", "name": ERASED, "role": "influencer"},
            {"contact": "m-ng", "name": "Mai Ng", "role": "decider"}]});
        assert!(mark_erased(&mut card));
        assert_eq!(card["contacts"][0]["name"], Value::Null);
        assert_eq!(card["contacts"][0]["erased"], Value::Bool(true));
        assert_eq!(card["contacts"][1]["name"], "Mai Ng");
        assert!(card["contacts"][1].get("erased").is_none());
        assert!(card.get("erased").is_none());
        let mut clean = serde_json::json!({"name": "Mai Ng"});
        assert!(!mark_erased(&mut clean));
        assert_eq!(table_text(ERASED), ERASED_CELL);
        assert_eq!(table_text("Mai Ng"), "Mai Ng");
    }
}
