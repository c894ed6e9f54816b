//! Reading `txnids.idx`: which `txns.dat` records hold a transaction id, so that validation
//! finds a txn id (for "txn id never used" and for reversals) in a few reads whatever the
//! size of the ledger. The layout is in [`crate::format`] and `docs/FORMAT.md`; the writer
//! keeps the file up to date ([`crate::ViewWriter`]).

use crate::format::{
    decode_bucket, txn_id_hash, txnids_bucket, txnids_header, txnids_key, txnids_len, TxnIdEntry,
    TXNIDS_BUCKET_BYTES, TXNIDS_ENTRIES_AT, TXNIDS_ENTRY_BYTES, TXNIDS_FILE, TXNIDS_HEADER_BYTES,
    TXN_RECORD_BYTES,
};
use crate::{ViewError, ViewReader};
use arl_domain::Event;
use arl_fold::KnownTxn;
use std::fs::File;
use std::path::PathBuf;

/// The committed part of `txnids.idx`, mapped, with the number of entries it commits (one
/// per `txns.dat` record).
#[derive(Debug)]
pub(crate) struct TxnIdsReader {
    path: PathBuf,
    map: memmap2::Mmap,
    entries: u64,
}

impl TxnIdsReader {
    /// Maps the committed prefix of the `txnids.idx` of the views `reader` reads, and checks
    /// its header.
    pub(crate) fn open(reader: &ViewReader) -> Result<TxnIdsReader, ViewError> {
        let path = reader.dir().join(TXNIDS_FILE);
        let entries = reader.heads().txns_len / TXN_RECORD_BYTES;
        let file = File::open(&path).map_err(|e| ViewError::io(&path, e))?;
        let map = crate::reader::map_prefix(&file, txnids_len(entries))
            .map_err(|e| ViewError::io(&path, e))?
            .ok_or_else(|| ViewError::corrupt(&path, "empty"))?;
        if map[..TXNIDS_HEADER_BYTES as usize] != txnids_header() {
            return Err(ViewError::corrupt(&path, "bad header"));
        }
        Ok(TxnIdsReader { path, map, entries })
    }

    /// The `txns.dat` record numbers, newest first, whose txn id has the bucket and key of
    /// `txn`'s hash: a superset of the records of `txn` (the caller compares the ids).
    pub(crate) fn candidates(&self, txn: &str) -> Result<Vec<u64>, ViewError> {
        let hash = txn_id_hash(txn);
        let bucket = txnids_bucket(hash);
        let at = (TXNIDS_HEADER_BYTES + u64::from(bucket) * TXNIDS_BUCKET_BYTES) as usize;
        let bytes = self.map[at..at + TXNIDS_BUCKET_BYTES as usize]
            .try_into()
            .expect("a whole bucket");
        let head = decode_bucket(bucket, bytes).ok_or_else(|| self.checksum_failed(at as u64))?;
        let mut found = Vec::new();
        let mut pointer = head;
        while pointer != 0 {
            if pointer > self.entries {
                return Err(ViewError::corrupt(
                    &self.path,
                    format!("bucket {bucket} leads beyond the committed entries"),
                ));
            }
            let number = pointer - 1;
            let entry = self.entry(number)?;
            if entry.prev >= pointer {
                return Err(ViewError::corrupt(
                    &self.path,
                    format!("entry {number} points forward"),
                ));
            }
            if entry.key == txnids_key(hash) {
                found.push(number);
            }
            pointer = entry.prev;
        }
        Ok(found)
    }

    fn entry(&self, number: u64) -> Result<TxnIdEntry, ViewError> {
        let at = TXNIDS_ENTRIES_AT + number * TXNIDS_ENTRY_BYTES;
        let start = at as usize;
        let bytes = self.map[start..start + TXNIDS_ENTRY_BYTES as usize]
            .try_into()
            .expect("a whole entry");
        TxnIdEntry::decode(number, bytes).ok_or_else(|| self.checksum_failed(at))
    }

    fn checksum_failed(&self, offset: u64) -> ViewError {
        ViewError::Checksum {
            path: self.path.clone(),
            offset,
        }
    }
}

/// What the committed views know of the txn id `txn`: its `transaction.recorded` and
/// whether a reversal of it follows. Reads the candidate records `ids` names and keeps those
/// whose data names `txn`.
pub(crate) fn known_txn(
    reader: &ViewReader,
    ids: &TxnIdsReader,
    txn: &str,
) -> Result<Option<KnownTxn>, ViewError> {
    let mut reversed = false;
    // Newest first: a reversal comes before the transaction it reverses.
    for number in ids.candidates(txn)? {
        let record = reader.txn_at(number)?;
        let recorded = reader.txn_recorded(&record)?;
        match &recorded.event {
            Event::TxnReversed(d) if d.txn == txn => reversed = true,
            Event::TxnRecorded(d) if d.txn == txn => {
                return Ok(Some(KnownTxn {
                    account: d.account.clone(),
                    effective_at: recorded.effective_at,
                    reversed,
                }))
            }
            _ => {}
        }
    }
    Ok(None)
}
