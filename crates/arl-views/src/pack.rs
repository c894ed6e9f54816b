//! The stored form of a transaction event's data JSON in `txndata.dat` (format 10): the
//! canonical data JSON compressed as one magicless zstd frame with the dictionary built
//! into arl ([`TXNDATA_DICTIONARY`]) and the log's small match tables, or, when that is not
//! shorter, the JSON as it is. The two are told apart by the first byte: canonical JSON
//! starts with `{`, a magicless frame with its frame header descriptor, which is never `{`
//! (`0x7B` sets the descriptor's reserved bit, which zstd refuses).
//!
//! Views are derived: a later arl with another dictionary bumps the format version, and
//! views of this one are rebuilt from the log. The checksum after the stored bytes covers
//! them as stored; a reader checks it, then unpacks.

use std::borrow::Cow;
use std::sync::OnceLock;

use arl_log::codec::Codec;

use crate::format::DATA_BYTES_MAX;

/// The dictionary of the stored data JSON, trained on the transaction events of a
/// generated ledger (the ignored test `make_the_txndata_dictionary` of
/// `tests/tests/views_format.rs` makes it again).
pub const TXNDATA_DICTIONARY: &[u8] = include_bytes!("../dict/txndata-1.zdict");
const LEVEL: i32 = 3;

/// The codec of [`TXNDATA_DICTIONARY`]: the log's frame parameters (magicless frames, match
/// tables of 2^14 and 2^13 entries, [`Codec::of`]), where format 6 to 9 kept the magic
/// number and the level's tables of 2^16 and 2^15: four bytes less per transaction, and
/// a context that an appending process prepares (and whose tables it keeps in cache) in
/// a quarter of the memory. `None` if zstd were to refuse the built-in dictionary.
fn codec() -> Option<&'static Codec> {
    static MADE: OnceLock<Option<&'static Codec>> = OnceLock::new();
    *MADE.get_or_init(|| Codec::of(TXNDATA_DICTIONARY, LEVEL).ok())
}

/// The stored form of a canonical data JSON.
pub fn pack(data: &[u8]) -> Vec<u8> {
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

/// The canonical data JSON of a stored form; an error says why it cannot be had.
pub fn unpack(stored: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if stored.first() == Some(&b'{') {
        return Ok(Cow::Borrowed(stored));
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
        // A magicless frame: neither zstd's magic number nor `{` first.
        assert_ne!(&stored[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        assert_ne!(stored[0], b'{');
        // What does not compress is stored as it is.
        assert_eq!(pack(b"{}"), b"{}");
        assert_eq!(unpack(b"{}").expect("as it is").as_ref(), b"{}");
        assert!(unpack(b"").is_err());
    }
}
