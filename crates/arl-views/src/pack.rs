//! The stored form of a transaction event's data JSON in `txndata.dat` (format 11).
//!
//! The data of a transaction event says little that its record in `txns.dat` does not: the
//! account (the record's account number), the currency and the kind are the record's. So
//! the stored form is, where it can be, **compact**: a tag byte, then the members the record
//! does not hold, as they are written in the canonical JSON (escapes and all), separated by
//! a zero byte, which canonical JSON never holds raw (control characters are escaped):
//!
//! - `transaction.recorded`: tag `0x08`, plus 1 when there is a `description`, plus 2 when
//!   there is a `reference`; then `amount` (as given: `"15"` and `"15.00"` are different
//!   data), the description if any, the reference if any, `txn`;
//! - `transaction.reversed`: tag `0x0C`, then `txn`.
//!
//! Reading puts the JSON together again from the record ([`TxnContext`]) and those
//! members. A writer stores the compact form only when it gives back the canonical bytes
//! exactly; otherwise, as format 10 did, the canonical JSON compressed as one magicless zstd
//! frame with the dictionary built into arl ([`TXNDATA_DICTIONARY`]) and the log's small
//! match tables, or, when that is not shorter, the JSON as it is. The first byte tells the
//! three apart: `{` is JSON; `0x08`–`0x0C` are compact; anything else is a magicless frame,
//! whose first byte (its frame header descriptor) never has bit 3 set, zstd's reserved bit,
//! which both `{` (`0x7B`) and the tags set.
//!
//! Views are derived: a later arl with another stored form bumps the format version, and
//! views of this one are rebuilt from the log. The checksum after the stored bytes covers
//! them as stored; a reader checks it, then unpacks.

use std::borrow::Cow;
use std::path::Path;
use std::sync::OnceLock;

use arl_log::codec::Codec;

use crate::chunked::Chunked;
use crate::format::{
    txn_kind, txndata_checksum, AccountHead, TxnRecord, DATA_BYTES_MAX, TXNDATA_CHECKSUM_BYTES,
};
use crate::ViewError;
use arl_domain::TxnKind;

/// The dictionary of the stored data JSON, trained on the transaction events of a
/// generated ledger (the ignored test `make_the_txndata_dictionary` of
/// `tests/tests/views_format.rs` makes it again).
pub const TXNDATA_DICTIONARY: &[u8] = include_bytes!("../dict/txndata-1.zdict");
const LEVEL: i32 = 3;

/// The compact form of a `transaction.recorded`'s data; bits 0 and 1 say whether the
/// description and the reference are there.
const TAG_RECORDED: u8 = 0x08;
const HAS_DESCRIPTION: u8 = 1;
const HAS_REFERENCE: u8 = 2;
/// The compact form of a `transaction.reversed`'s data.
const TAG_REVERSED: u8 = 0x0C;
/// Between two members of a compact form.
const SEPARATOR: u8 = 0;

/// What a transaction's record says of its data: the id of its account (the record's
/// account number) and the record's kind, currency and reversal flag.
#[derive(Debug, Clone, Copy)]
pub struct TxnContext<'a> {
    pub account: &'a str,
    /// 0 sale, 1 purchase.
    pub kind: u8,
    pub currency: [u8; 3],
    pub reversal: bool,
}

impl<'a> TxnContext<'a> {
    /// The context of `record`, whose account's id is `account`.
    pub fn of(record: &TxnRecord, account: &'a str) -> TxnContext<'a> {
        TxnContext {
            account,
            kind: record.kind,
            currency: record.currency,
            reversal: record.is_reversal(),
        }
    }
}

/// The codec of [`TXNDATA_DICTIONARY`]: the log's frame parameters (magicless frames, match
/// tables of 2^14 and 2^13 entries, [`Codec::of`]). `None` if zstd were to refuse the
/// built-in dictionary.
fn codec() -> Option<&'static Codec> {
    static MADE: OnceLock<Option<&'static Codec>> = OnceLock::new();
    *MADE.get_or_init(|| Codec::of(TXNDATA_DICTIONARY, LEVEL).ok())
}

/// The stored form of the canonical data JSON of the transaction `context` describes.
pub fn pack(data: &[u8], context: &TxnContext) -> Vec<u8> {
    if let Some(compact) = compact(data, context) {
        return compact;
    }
    let mut packed = Vec::new();
    match codec() {
        Some(codec)
            if codec.compress_into(data, &mut packed)
                && packed.len() < data.len()
                && packed.first() != Some(&b'{') =>
        {
            packed
        }
        _ => data.to_vec(),
    }
}

/// Why the bytes of a transaction record's data do not read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StoredDataError {
    /// The checksum after the data does not match it.
    Checksum,
    /// The record's account number is not one of the heads' accounts.
    Account,
    /// The stored form does not unpack: why.
    Unpack(String),
}

impl StoredDataError {
    /// The views' error for `record`, whose record is in the file `txns` and its data in
    /// `txndata` (paths made only for an error).
    pub(crate) fn at(self, record: &TxnRecord, txns: &Path, txndata: &Path) -> ViewError {
        match self {
            StoredDataError::Checksum => ViewError::Checksum {
                path: txndata.to_path_buf(),
                offset: record.data_offset,
            },
            StoredDataError::Account => {
                ViewError::corrupt(txns, format!("seq {}: bad account number", record.seq))
            }
            StoredDataError::Unpack(e) => {
                ViewError::corrupt(txndata, format!("seq {}: {e}", record.seq))
            }
        }
    }
}

/// The canonical data JSON of the transaction `record` from what `txndata.dat` holds for it
/// (`stored`: the stored form, then its checksum): the checksum checked, the record's
/// account found by its number among `accounts`, the stored form unpacked (a JSON form
/// handed back without a copy). What every reader of `txndata.dat` does with a record.
pub(crate) fn stored_data(
    record: &TxnRecord,
    mut stored: Vec<u8>,
    accounts: &Chunked<AccountHead>,
) -> Result<Vec<u8>, StoredDataError> {
    let sum = stored.split_off(stored.len().saturating_sub(TXNDATA_CHECKSUM_BYTES as usize));
    if txndata_checksum(record.seq, &stored).to_le_bytes()[..] != sum[..] {
        return Err(StoredDataError::Checksum);
    }
    let account = accounts
        .get(record.account as usize)
        .ok_or(StoredDataError::Account)?;
    let context = TxnContext::of(record, &account.id);
    let expanded = match unpack(&stored, &context).map_err(StoredDataError::Unpack)? {
        Cow::Owned(json) => Some(json),
        Cow::Borrowed(_) => None,
    };
    Ok(expanded.unwrap_or(stored))
}

/// The canonical data JSON of a stored form, for the transaction `context` describes; an
/// error says why it cannot be had.
pub fn unpack<'s>(stored: &'s [u8], context: &TxnContext) -> Result<Cow<'s, [u8]>, String> {
    match stored.first() {
        Some(b'{') => return Ok(Cow::Borrowed(stored)),
        Some(&tag) if (TAG_RECORDED..=TAG_REVERSED).contains(&tag) => {
            return expand(tag, &stored[1..], context).map(Cow::Owned);
        }
        _ => {}
    }
    let codec = codec().ok_or("zstd does not take the built-in data dictionary")?;
    let mut out = Vec::new();
    codec
        .decompress_into(stored, DATA_BYTES_MAX as usize, &mut out)
        .map_err(|e| format!("the stored data: {e}"))?;
    if out.first() != Some(&b'{') {
        return Err("the stored data is not a JSON object".into());
    }
    Ok(Cow::Owned(out))
}

/// The compact form of `data`, when it has one that gives `data` back exactly.
fn compact(data: &[u8], context: &TxnContext) -> Option<Vec<u8>> {
    let members = string_members(data)?;
    let mut out = Vec::with_capacity(data.len() / 2);
    let kept: Vec<&[u8]> = if context.reversal {
        let [(b"account", _), (b"txn", txn)] = members.as_slice() else {
            return None;
        };
        out.push(TAG_REVERSED);
        vec![*txn]
    } else {
        // The values the form keeps, by the order canonical JSON writes the members in;
        // whether the account, currency, kind and nothing else are the record's is for
        // the read-back below to say.
        let mut members = members.into_iter().peekable();
        let mut next = |key: &[u8]| members.next_if(|(k, _)| *k == key).map(|(_, v)| v);
        next(b"account")?;
        let amount = next(b"amount")?;
        next(b"currency")?;
        let description = next(b"description");
        next(b"kind")?;
        let reference = next(b"reference");
        let txn = next(b"txn")?;
        let flags = if description.is_some() {
            HAS_DESCRIPTION
        } else {
            0
        } | if reference.is_some() {
            HAS_REFERENCE
        } else {
            0
        };
        out.push(TAG_RECORDED | flags);
        [Some(amount), description, reference, Some(txn)]
            .into_iter()
            .flatten()
            .collect()
    };
    for (i, value) in kept.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        out.extend_from_slice(value);
    }
    // The form is kept only when it reads back as the very bytes given.
    let back = expand(out[0], &out[1..], context).ok()?;
    (back == data).then_some(out)
}

/// The canonical data JSON of the compact form `tag` ‖ `body` for `context`.
fn expand(tag: u8, body: &[u8], context: &TxnContext) -> Result<Vec<u8>, String> {
    let mut values = body.split(|b| *b == SEPARATOR);
    let mut out = Vec::with_capacity(body.len() + context.account.len() + 96);
    let member = |out: &mut Vec<u8>, key: &str, value: &[u8]| {
        out.extend_from_slice(if out.is_empty() { b"{\"" } else { b",\"" });
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":\"");
        out.extend_from_slice(value);
        out.push(b'"');
    };
    let mut value = |what: &str| {
        values
            .next()
            .ok_or_else(|| format!("the compact data has no {what}"))
    };
    if tag == TAG_REVERSED {
        if !context.reversal {
            return Err("the compact data of a reversal on a transaction's record".into());
        }
        member(&mut out, "account", context.account.as_bytes());
        member(&mut out, "txn", value("txn")?);
    } else if tag & !(HAS_DESCRIPTION | HAS_REFERENCE) == TAG_RECORDED {
        if context.reversal {
            return Err("the compact data of a transaction on a reversal's record".into());
        }
        let currency = std::str::from_utf8(&context.currency)
            .ok()
            .filter(|c| c.bytes().all(|b| b.is_ascii_uppercase()))
            .ok_or("the record's currency is not a currency code")?;
        let kind = txn_kind(context.kind)
            .map(TxnKind::as_str)
            .ok_or("the record's kind is neither sale nor purchase")?;
        member(&mut out, "account", context.account.as_bytes());
        member(&mut out, "amount", value("amount")?);
        member(&mut out, "currency", currency.as_bytes());
        if tag & HAS_DESCRIPTION != 0 {
            member(&mut out, "description", value("description")?);
        }
        member(&mut out, "kind", kind.as_bytes());
        if tag & HAS_REFERENCE != 0 {
            member(&mut out, "reference", value("reference")?);
        }
        member(&mut out, "txn", value("txn")?);
    } else {
        return Err(format!("unknown compact data tag {tag:#04x}"));
    }
    if values.next().is_some() {
        return Err("the compact data holds more members than its tag says".into());
    }
    out.push(b'}');
    Ok(out)
}

/// The members of a JSON object whose values are all strings, written as canonical JSON
/// writes them (`{"key":"value",...}`, no white space), as the bytes between the quotes:
/// `None` for anything else, or for a member holding a zero byte.
fn string_members(data: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut members = Vec::with_capacity(8);
    let mut at = 1;
    if data.first() != Some(&b'{') {
        return None;
    }
    loop {
        let key = quoted(data, at)?;
        at = key.1 + 1;
        if data.get(at) != Some(&b':') {
            return None;
        }
        let value = quoted(data, at + 1)?;
        members.push((key.0, value.0));
        at = value.1 + 1;
        match data.get(at) {
            Some(b',') => at += 1,
            Some(b'}') if at + 1 == data.len() => return Some(members),
            _ => return None,
        }
    }
}

/// The string that starts with the quote at `at` (its bytes between the quotes, escapes
/// as written) and where its closing quote is.
fn quoted(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    if data.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        match *data.get(i)? {
            b'"' => return Some((&data[at + 1..i], i)),
            b'\\' => i += 2,
            SEPARATOR => return None,
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale<'a>(account: &'a str, currency: &[u8; 3]) -> TxnContext<'a> {
        TxnContext {
            account,
            kind: 0,
            currency: *currency,
            reversal: false,
        }
    }

    /// What `txndata.dat` holds for a record: its stored form, then the checksum.
    fn with_checksum(seq: u64, stored: &[u8]) -> Vec<u8> {
        let mut bytes = stored.to_vec();
        bytes.extend_from_slice(&txndata_checksum(seq, stored).to_le_bytes());
        bytes
    }

    #[test]
    fn a_records_stored_data_is_checked_then_unpacked() {
        let data = br#"{"account":"magrizen-kw-1","amount":"9.455","currency":"KWD","kind":"sale","txn":"inv-8"}"#;
        let accounts: Chunked<AccountHead> = ["other-1", "magrizen-kw-1"]
            .into_iter()
            .map(AccountHead::opened)
            .collect();
        let record = TxnRecord {
            seq: 7,
            effective_at: 0,
            recorded_at: 0,
            amount_minor: 9455,
            prev: 0,
            data_offset: 0,
            data_len: 0,
            account: 1,
            kind: 0,
            flags: 0,
            currency: *b"KWD",
        };
        let compact = pack(data, &TxnContext::of(&record, "magrizen-kw-1"));
        assert_eq!(compact[0] & 0xFC, TAG_RECORDED, "compact");
        for stored in [&compact[..], &data[..]] {
            let read = stored_data(&record, with_checksum(7, stored), &accounts);
            assert_eq!(read.as_deref(), Ok(&data[..]));
        }
        // The checksum covers the seq: another record's bytes do not pass.
        assert_eq!(
            stored_data(&record, with_checksum(8, &compact), &accounts),
            Err(StoredDataError::Checksum)
        );
        let mut flipped = with_checksum(7, &compact);
        flipped[2] ^= 1;
        assert_eq!(
            stored_data(&record, flipped, &accounts),
            Err(StoredDataError::Checksum)
        );
        let nobody = TxnRecord {
            account: 2,
            ..record
        };
        assert_eq!(
            stored_data(&nobody, with_checksum(7, &compact), &accounts),
            Err(StoredDataError::Account)
        );
        let error = StoredDataError::Account.at(
            &nobody,
            Path::new("v/txns.dat"),
            Path::new("v/txndata.dat"),
        );
        assert!(error.to_string().contains("txns.dat"), "{error}");
        assert!(
            error.to_string().contains("seq 7: bad account number"),
            "{error}"
        );
        assert!(matches!(
            StoredDataError::Checksum.at(&nobody, Path::new("t"), Path::new("d")),
            ViewError::Checksum { ref path, offset: 0 } if path == Path::new("d")
        ));
        // Read for the other account, the compact form gives that account's JSON, which
        // is other data, never this record's: the log's chain is what tells them apart.
        let other = TxnRecord {
            account: 0,
            ..record
        };
        let read = stored_data(&other, with_checksum(7, &compact), &accounts).expect("reads");
        assert_ne!(read, data);
        assert!(matches!(
            stored_data(&record, with_checksum(7, b"\x0A"), &accounts),
            Err(StoredDataError::Unpack(_))
        ));
    }

    #[test]
    fn a_transaction_is_stored_as_what_its_record_does_not_say() {
        let context = sale("magrizen-kw-1", b"KWD");
        for data in [
            &br#"{"account":"magrizen-kw-1","amount":"9.455","currency":"KWD","kind":"sale","txn":"inv-8"}"#[..],
            br#"{"account":"magrizen-kw-1","amount":"9.4","currency":"KWD","description":"annual \"volume\" bonus \\ \u00e9","kind":"sale","txn":"inv-8"}"#,
            br#"{"account":"magrizen-kw-1","amount":"15","currency":"KWD","kind":"sale","reference":"INV-2020-000007","txn":"inv-8"}"#,
            br#"{"account":"magrizen-kw-1","amount":"15","currency":"KWD","description":"","kind":"sale","reference":"R","txn":"inv-8"}"#,
        ] {
            let stored = pack(data, &context);
            assert!(
                (TAG_RECORDED..TAG_REVERSED).contains(&stored[0]),
                "compact: {stored:?}"
            );
            assert!(stored.len() + 50 < data.len(), "{} bytes", stored.len());
            assert_eq!(unpack(&stored, &context).expect("unpacks").as_ref(), data);
        }
        let reversal = TxnContext {
            reversal: true,
            ..context
        };
        let data = br#"{"account":"magrizen-kw-1","txn":"inv-8"}"#;
        let stored = pack(data, &reversal);
        assert_eq!(stored, b"\x0Cinv-8");
        assert_eq!(unpack(&stored, &reversal).expect("unpacks").as_ref(), data);
        // Read with a record that does not match, it is an error, not other data.
        assert!(unpack(&stored, &context).is_err());
    }

    /// Every transaction of a generated history takes the compact form: the members as
    /// the domain writes its data are the ones the form knows, in its order.
    #[test]
    fn a_generated_history_is_stored_compact() {
        use crate::format::txn_kind_code;
        use arl_domain::{Event, InputEvent};
        let mut seen = [0usize; 2];
        for line in arl_gen::Generator::new(arl_gen::Config::new(20_000, 5)) {
            let input = InputEvent::parse_line(&line, true).expect("a generated line");
            let (account, kind, currency, reversal) = match &input.event {
                Event::TxnRecorded(d) => {
                    let code = d.currency().expect("a currency").code_bytes();
                    (&d.account, txn_kind_code(d.kind), code, false)
                }
                Event::TxnReversed(d) => (&d.account, 0, *b"EUR", true),
                _ => continue,
            };
            let context = TxnContext {
                account,
                kind,
                currency,
                reversal,
            };
            let data = input.event.data_json();
            let stored = pack(data.as_bytes(), &context);
            assert!(
                (TAG_RECORDED..=TAG_REVERSED).contains(&stored[0]),
                "not compact: {data}"
            );
            let back = unpack(&stored, &context).expect("unpacks");
            assert_eq!(back.as_ref(), data.as_bytes());
            seen[usize::from(reversal)] += 1;
        }
        assert!(seen[0] > 1_000 && seen[1] > 10, "{seen:?}");
    }

    #[test]
    fn data_its_record_does_not_match_is_compressed_as_before() {
        let data = br#"{"account":"magrizen-kw-1","amount":"9.455","currency":"KWD","description":"annual volume bonus","kind":"sale","txn":"inv-8"}"#;
        for context in [
            sale("magrizen-kw-2", b"KWD"),
            sale("magrizen-kw-1", b"EUR"),
            TxnContext {
                kind: 1,
                ..sale("magrizen-kw-1", b"KWD")
            },
        ] {
            let stored = pack(data, &context);
            assert!(stored.len() < data.len() / 2, "{} bytes", stored.len());
            // A magicless frame: neither zstd's magic number, nor `{`, nor a tag first.
            assert_ne!(&stored[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
            assert_eq!(stored[0] & 0x08, 0, "{:#04x}", stored[0]);
            assert_eq!(unpack(&stored, &context).expect("unpacks").as_ref(), data);
        }
        // Members out of order, another member, a value that is not a string: not compact.
        let context = sale("a", b"EUR");
        for data in [
            &br#"{"amount":"1","account":"a","currency":"EUR","kind":"sale","txn":"t"}"#[..],
            br#"{"account":"a","amount":"1","currency":"EUR","kind":"sale","note":"n","txn":"t"}"#,
            br#"{"account":"a","amount":1,"currency":"EUR","kind":"sale","txn":"t"}"#,
            br#"{"account":"a","amount":"1","currency":"EUR","kind":"sale","txn":"t"} "#,
        ] {
            let stored = pack(data, &context);
            assert!(stored[0] & 0x08 == 0 || stored[0] == b'{', "{stored:?}");
            assert_eq!(unpack(&stored, &context).expect("unpacks").as_ref(), data);
        }
        // What does not compress is stored as it is.
        assert_eq!(pack(b"{}", &context), b"{}");
        assert_eq!(unpack(b"{}", &context).expect("as it is").as_ref(), b"{}");
        assert!(unpack(b"", &context).is_err());
    }

    #[test]
    fn damaged_stored_data_is_an_error_or_other_bytes() {
        let context = sale("magrizen-kw-1", b"KWD");
        let data = br#"{"account":"magrizen-kw-1","amount":"9.455","currency":"KWD","description":"annual volume bonus","kind":"sale","reference":"R-1","txn":"inv-8"}"#;
        let compressed = pack(data, &sale("other", b"KWD"));
        for stored in [pack(data, &context), compressed] {
            for at in 0..stored.len() {
                for bit in [0x01, 0x02, 0x04, 0x08, 0x80] {
                    let mut flipped = stored.clone();
                    flipped[at] ^= bit;
                    let _ = unpack(&flipped, &context);
                }
            }
        }
        // A tag naming more members than there are, or fewer.
        assert!(unpack(b"\x0B1\x00t", &context).is_err());
        assert!(unpack(b"\x081\x00t\x00u", &context).is_err());
        assert!(unpack(b"\x0D1", &context).is_err());
        let bad_kind = TxnContext { kind: 7, ..context };
        assert!(unpack(b"\x081\x00t", &bad_kind).is_err());
    }
}
