//! The stored form of a transaction event's data JSON in `txndata.dat` (format 6): the
//! canonical data JSON compressed as one zstd frame with the dictionary built into arl
//! ([`TXNDATA_DICTIONARY`]), or, when that is not shorter, the JSON as it is. The two are
//! told apart by the first byte: canonical JSON starts with `{`, a zstd frame with `0x28`
//! (its magic number `28 B5 2F FD`).
//!
//! Views are derived: a later arl with another dictionary bumps the format version, and
//! views of this one are rebuilt from the log. The checksum after the stored bytes covers
//! them as stored; a reader checks it, then unpacks.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;

use crate::format::DATA_BYTES_MAX;

/// The dictionary of the stored data JSON, trained on the transaction events of a
/// generated ledger (the ignored test `make_the_txndata_dictionary` of
/// `tests/tests/views_format.rs` makes it again).
pub const TXNDATA_DICTIONARY: &[u8] = include_bytes!("../dict/txndata-1.zdict");
const LEVEL: i32 = 3;

struct Dictionaries {
    encoder: zstd::dict::EncoderDictionary<'static>,
    decoder: zstd::dict::DecoderDictionary<'static>,
}

fn dictionaries() -> &'static Dictionaries {
    static MADE: OnceLock<Dictionaries> = OnceLock::new();
    MADE.get_or_init(|| Dictionaries {
        encoder: zstd::dict::EncoderDictionary::copy(TXNDATA_DICTIONARY, LEVEL),
        decoder: zstd::dict::DecoderDictionary::copy(TXNDATA_DICTIONARY),
    })
}

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compressor() -> std::io::Result<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::with_prepared_dictionary(&dictionaries().encoder)?;
    c.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))?;
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(false))?;
    c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))?;
    Ok(c)
}

/// The stored form of a canonical data JSON.
pub fn pack(data: &[u8]) -> Vec<u8> {
    let packed = COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = compressor().ok();
        }
        let c = cell.as_mut()?;
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
        c.compress_to_buffer(data, &mut out).ok()?;
        Some(out)
    });
    match packed {
        Some(p) if p.len() < data.len() && p.first() != Some(&b'{') => p,
        _ => data.to_vec(),
    }
}

/// The canonical data JSON of a stored form; an error says why it cannot be had.
pub fn unpack(stored: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if stored.first() == Some(&b'{') {
        return Ok(Cow::Borrowed(stored));
    }
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = Some(
                zstd::bulk::Decompressor::with_prepared_dictionary(&dictionaries().decoder)
                    .map_err(|e| format!("the data dictionary: {e}"))?,
            );
        }
        let d = cell.as_mut().ok_or("no decompressor")?;
        let mut out = Vec::with_capacity(DATA_BYTES_MAX as usize);
        d.decompress_to_buffer(stored, &mut out)
            .map_err(|e| format!("the stored data does not decompress: {e}"))?;
        if out.first() != Some(&b'{') {
            return Err("the stored data is not a JSON object".into());
        }
        Ok(Cow::Owned(out))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_and_damage_is_an_error_or_other_bytes() {
        let data = br#"{"account":"magrizen-kw-1","amount":"9.455","currency":"KWD","description":"annual volume bonus","kind":"sale","txn":"inv-8"}"#;
        let stored = pack(data);
        assert!(stored.len() < data.len() / 2, "{} bytes", stored.len());
        assert_eq!(unpack(&stored).expect("unpacks").as_ref(), data);
        for at in 0..stored.len() {
            let mut flipped = stored.clone();
            flipped[at] ^= 0x02;
            let _ = unpack(&flipped);
        }
        // What does not compress is stored as it is.
        assert_eq!(pack(b"{}"), b"{}");
        assert_eq!(unpack(b"{}").expect("as it is").as_ref(), b"{}");
        assert!(unpack(b"").is_err());
    }
}
