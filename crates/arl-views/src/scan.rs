//! Sequential passes over the views, in seq order: every event (for loading the in-memory
//! index at writer open, and for tests), and every transaction row (for balances).

use crate::chunked::Chunked;
use crate::format::{
    event_record_ok, kind_name, txn_kind, txn_record_ok, AccountHead, EventHeader, TxnRecord,
    DATA_BYTES_MAX, EVENTS_FILE, EVENT_HEADER_BYTES, TXNDATA_CHECKSUM_BYTES, TXNDATA_FILE,
    TXNS_FILE, TXN_RECORD_BYTES,
};
use crate::{ViewError, ViewReader};
use arl_domain::money::Currency;
use arl_domain::{Event, Recorded, Timestamp};
use arl_fold::{MemIndex, TxnFact, TxnRow};
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const SCAN_BUFFER_BYTES: usize = 1 << 20;

struct Stream {
    path: PathBuf,
    reader: BufReader<std::io::Take<File>>,
    /// Bytes read so far: the offset of the next byte.
    at: u64,
}

impl Stream {
    fn open(dir: &Path, name: &str, len: u64) -> Result<Stream, ViewError> {
        let path = dir.join(name);
        let file = File::open(&path).map_err(|e| ViewError::io(&path, e))?;
        let reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, file.take(len));
        Ok(Stream {
            path,
            reader,
            at: 0,
        })
    }

    fn checksum_failed(&self, offset: u64) -> ViewError {
        ViewError::Checksum {
            path: self.path.clone(),
            offset,
        }
    }

    /// Fills `buf`; `Ok(false)` at a clean end of the committed length.
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool, ViewError> {
        match self.reader.read_exact(buf) {
            Ok(()) => {
                self.at += buf.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(ViewError::io(&self.path, e)),
        }
    }
}

fn parse(seq: u64, kind: u8, data: &[u8], times: (i64, i64)) -> Result<Recorded, ViewError> {
    let bad = |message: String| ViewError::BadEvent { seq, message };
    let kind = kind_name(kind).ok_or_else(|| bad(format!("unknown kind code {kind}")))?;
    let data = std::str::from_utf8(data).map_err(|_| bad("data is not UTF-8".into()))?;
    let event = Event::parse(kind, data).map_err(|e| bad(e.to_string()))?;
    Ok(Recorded {
        seq,
        effective_at: Timestamp(times.0),
        recorded_at: Timestamp(times.1),
        event,
    })
}

impl ViewReader {
    /// Calls `each` for every event of the views, in seq order (1..=checkpoint, no gaps),
    /// reading `events.dat`, `txns.dat` and `txndata.dat` front to back.
    pub fn scan(
        &self,
        each: &mut dyn FnMut(Recorded) -> Result<(), ViewError>,
    ) -> Result<(), ViewError> {
        let dir = self.dir();
        let heads = self.heads();
        let mut events = Stream::open(dir, EVENTS_FILE, heads.events_len)?;
        let mut txns = Stream::open(dir, TXNS_FILE, heads.txns_len)?;
        let mut txndata = Stream::open(dir, TXNDATA_FILE, heads.txndata_len)?;
        let mut next_event = read_event(&mut events)?;
        let mut next_txn = read_txn(&mut txns, &mut txndata, &heads.accounts)?;
        for seq in 1..=heads.checkpoint {
            let recorded = if next_event.as_ref().is_some_and(|r| r.seq == seq) {
                std::mem::replace(&mut next_event, read_event(&mut events)?)
            } else if next_txn.as_ref().is_some_and(|r| r.seq == seq) {
                std::mem::replace(
                    &mut next_txn,
                    read_txn(&mut txns, &mut txndata, &heads.accounts)?,
                )
            } else {
                None
            };
            let recorded = recorded.ok_or_else(|| {
                ViewError::corrupt(
                    dir.join(EVENTS_FILE),
                    format!("seq {seq} is in no view file"),
                )
            })?;
            each(recorded)?;
        }
        if next_event.is_some() || next_txn.is_some() {
            return Err(ViewError::corrupt(
                dir.join(EVENTS_FILE),
                "records beyond the checkpoint",
            ));
        }
        Ok(())
    }
}

fn read_event(events: &mut Stream) -> Result<Option<Recorded>, ViewError> {
    let offset = events.at;
    let mut header_bytes = [0u8; EVENT_HEADER_BYTES as usize];
    if !events.fill(&mut header_bytes)? {
        return Ok(None);
    }
    let header = EventHeader::decode(&header_bytes);
    if header.data_len > DATA_BYTES_MAX {
        return Err(ViewError::corrupt(
            &events.path,
            format!("seq {}: bad length", header.seq),
        ));
    }
    let mut record = header_bytes.to_vec();
    record.resize(EVENT_HEADER_BYTES as usize + header.data_len as usize, 0);
    if !events.fill(&mut record[EVENT_HEADER_BYTES as usize..])? {
        return Err(ViewError::corrupt(
            &events.path,
            "a record crosses the committed length",
        ));
    }
    if !event_record_ok(&record) {
        return Err(events.checksum_failed(offset));
    }
    let data = &record[EVENT_HEADER_BYTES as usize..];
    let times = (header.effective_at, header.recorded_at);
    parse(header.seq, header.kind, data, times).map(Some)
}

fn read_txn(
    txns: &mut Stream,
    txndata: &mut Stream,
    accounts: &Chunked<AccountHead>,
) -> Result<Option<Recorded>, ViewError> {
    let Some(TxnEntry { record, data }) = read_txn_entry(txns, txndata, accounts)? else {
        return Ok(None);
    };
    parse(
        record.seq,
        record.event_kind(),
        &data,
        (record.effective_at, record.recorded_at),
    )
    .map(Some)
}

/// A transaction record and its data, read in seq order.
struct TxnEntry {
    record: TxnRecord,
    data: Vec<u8>,
}

/// Its data is made whole with the record's account, one of `accounts`.
fn read_txn_entry(
    txns: &mut Stream,
    txndata: &mut Stream,
    accounts: &Chunked<AccountHead>,
) -> Result<Option<TxnEntry>, ViewError> {
    let (offset, data_offset) = (txns.at, txndata.at);
    let mut bytes = [0u8; TXN_RECORD_BYTES as usize];
    if !txns.fill(&mut bytes)? {
        return Ok(None);
    }
    if !txn_record_ok(&bytes) {
        return Err(txns.checksum_failed(offset));
    }
    let record = TxnRecord::decode(&bytes);
    if record.data_len > DATA_BYTES_MAX {
        return Err(ViewError::corrupt(
            &txns.path,
            format!("seq {}: bad length", record.seq),
        ));
    }
    let mut data = vec![0u8; record.data_len as usize + TXNDATA_CHECKSUM_BYTES as usize];
    if record.data_offset != data_offset || !txndata.fill(&mut data)? {
        return Err(ViewError::corrupt(
            &txndata.path,
            format!("seq {}: data not where the record says", record.seq),
        ));
    }
    let data = crate::pack::stored_data(&record, data, accounts)
        .map_err(|e| e.at(&record, &txns.path, &txndata.path))?;
    Ok(Some(TxnEntry { record, data }))
}

/// The `txn` member of a transaction event's canonical data: its last member (keys are
/// sorted and `txn` sorts last), and ids hold no quote or backslash.
fn txn_id(data: &[u8]) -> Option<&str> {
    const MEMBER: &[u8] = b"\"txn\":\"";
    let body = data.strip_suffix(b"\"}")?;
    let at = body.windows(MEMBER.len()).rposition(|w| w == MEMBER)?;
    let id = std::str::from_utf8(&body[at + MEMBER.len()..]).ok()?;
    arl_domain::ids::is_valid_id(id).then_some(id)
}

impl ViewReader {
    /// Loads the writer's validation index ([`MemIndex::without_txn_events`]): events are
    /// parsed, transactions are taken from their compact records without parsing their data
    /// (the txn id is read from the end of the canonical data).
    pub fn load_index(&self) -> Result<MemIndex, ViewError> {
        let dir = self.dir();
        let heads = self.heads();
        let mut index = MemIndex::without_txn_events();
        let mut events = Stream::open(dir, EVENTS_FILE, heads.events_len)?;
        let mut txns = Stream::open(dir, TXNS_FILE, heads.txns_len)?;
        let mut txndata = Stream::open(dir, TXNDATA_FILE, heads.txndata_len)?;
        let mut next_event = read_event(&mut events)?;
        let mut next_txn = read_txn_entry(&mut txns, &mut txndata, &heads.accounts)?;
        for seq in 1..=heads.checkpoint {
            if next_event.as_ref().is_some_and(|r| r.seq == seq) {
                let recorded = std::mem::replace(&mut next_event, read_event(&mut events)?);
                index.insert(recorded.expect("checked above"));
                continue;
            }
            let Some(entry) = next_txn.take().filter(|t| t.record.seq == seq) else {
                return Err(ViewError::corrupt(
                    dir.join(EVENTS_FILE),
                    format!("seq {seq} is in no view file"),
                ));
            };
            let bad =
                |what: &str| ViewError::corrupt(dir.join(TXNS_FILE), format!("seq {seq}: {what}"));
            let record = &entry.record;
            let account = heads
                .accounts
                .get(record.account as usize)
                .ok_or_else(|| bad("bad account number"))?;
            let txn = txn_id(&entry.data).ok_or_else(|| bad("no txn id in the data"))?;
            let currency = std::str::from_utf8(&record.currency)
                .ok()
                .and_then(Currency::from_code)
                .ok_or_else(|| bad("bad currency"))?;
            let kind = txn_kind(record.kind).ok_or_else(|| bad("bad transaction kind"))?;
            let fact = TxnFact {
                account: &account.id,
                txn,
                kind,
                currency,
                amount_minor: record.amount_minor,
                reversal: record.is_reversal(),
            };
            index.insert_txn_fact(
                seq,
                Timestamp(record.effective_at),
                Timestamp(record.recorded_at),
                &fact,
            );
            next_txn = read_txn_entry(&mut txns, &mut txndata, &heads.accounts)?;
        }
        if next_event.is_some() || next_txn.is_some() {
            return Err(ViewError::corrupt(
                dir.join(EVENTS_FILE),
                "records beyond the checkpoint",
            ));
        }
        Ok(index)
    }
}

/// Bytes read at once when scanning `txns.dat` (a whole number of records).
const TXN_SCAN_BYTES: u64 = TXN_RECORD_BYTES * 16 * 1024;

/// The currencies of the stored codes met during one scan, by a hash of the code (open
/// addressing): a few codes recur on millions of rows.
struct Currencies {
    /// (the code as a number, never 0; its currency): more slots than there are known codes.
    slots: Box<[(u32, Option<Currency>); 256]>,
}

impl Currencies {
    fn new() -> Currencies {
        Currencies {
            slots: Box::new([(0, None); 256]),
        }
    }

    fn get(&mut self, code: [u8; 3]) -> Option<Currency> {
        let lookup = || Currency::from_code(std::str::from_utf8(&code).ok()?);
        let key = u32::from_le_bytes([code[0], code[1], code[2], 1]);
        let start = (key.wrapping_mul(0x9e37_79b1) >> 24) as usize;
        for probe in 0..256 {
            let at = (start + probe) % 256;
            match self.slots[at] {
                (k, currency) if k == key => return currency,
                (0, _) => {
                    // Only known codes are kept.
                    let currency = lookup()?;
                    self.slots[at] = (key, Some(currency));
                    return Some(currency);
                }
                _ => {}
            }
        }
        lookup()
    }
}

impl ViewReader {
    /// The transaction rows `from..to` (record numbers), read sequentially in large blocks;
    /// each record is checked as a row read alone is.
    pub fn txn_rows_between(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(&TxnRow),
    ) -> Result<(), ViewError> {
        let heads = self.heads();
        let accounts = heads.accounts.len();
        let len = (to * TXN_RECORD_BYTES).min(heads.txns_len);
        let mut at = (from * TXN_RECORD_BYTES).min(len);
        let mut buf = vec![0u8; TXN_SCAN_BYTES.min(len - at) as usize];
        let mut currencies = Currencies::new();
        while at < len {
            let n = TXN_SCAN_BYTES.min(len - at) as usize;
            self.txns_file()
                .read_exact_at(&mut buf[..n], at)
                .map_err(|e| ViewError::io(self.dir().join(TXNS_FILE), e))?;
            for (i, chunk) in buf[..n].chunks_exact(TXN_RECORD_BYTES as usize).enumerate() {
                let chunk: &[u8; TXN_RECORD_BYTES as usize] =
                    chunk.try_into().expect("a whole record");
                if !txn_record_ok(chunk) {
                    return Err(ViewError::Checksum {
                        path: self.dir().join(TXNS_FILE),
                        offset: at + i as u64 * TXN_RECORD_BYTES,
                    });
                }
                let record = TxnRecord::decode(chunk);
                let bad = |what: &str| {
                    ViewError::corrupt(
                        self.dir().join(TXNS_FILE),
                        format!("seq {}: {what}", record.seq),
                    )
                };
                let currency = currencies.get(record.currency);
                each(&txn_row(&record, currency, accounts).map_err(bad)?);
            }
            at += n as u64;
        }
        Ok(())
    }
}

/// A stored transaction record as a row, checked: its kind, currency (`None` when the
/// stored code is not one) and account number (below `accounts`) must be valid.
pub(crate) fn txn_row(
    record: &TxnRecord,
    currency: Option<Currency>,
    accounts: usize,
) -> Result<TxnRow, &'static str> {
    let kind = txn_kind(record.kind).ok_or("bad transaction kind")?;
    let currency = currency.ok_or("bad currency")?;
    if record.account as usize >= accounts || record.flags > 1 {
        return Err("bad account number or flags");
    }
    Ok(TxnRow {
        seq: record.seq,
        effective_at: Timestamp(record.effective_at),
        account: record.account,
        kind,
        reversal: record.is_reversal(),
        currency,
        amount_minor: record.amount_minor,
    })
}
