//! zstd with a dictionary, for short records compressed one by one: the frames of the log
//! (layout 5) and, through the same helper, any other crate's. A [`Codec`] is made once
//! per distinct dictionary in a process (interned by its blake3 hash) and each thread keeps
//! its own compression and decompression context for it.
//!
//! A compressed record is one zstd frame without a dictionary id or a checksum, with the
//! content size, in the magicless format (zstd's experimental `ZSTD_f_zstd1_magicless`:
//! the 4-byte magic number left out): the frame header, then the blocks. Its first byte,
//! the frame header descriptor, is never `{` (`0x7B` sets the descriptor's reserved bit),
//! so a stored form may tell a compressed record from a JSON one by it.

use std::cell::RefCell;
use std::sync::{Mutex, OnceLock};

use zstd::zstd_safe::{CCtx, CParameter, DCtx, DDict, DParameter, FrameFormat};

use crate::Hash;

/// The dictionary of envelope frames that a new log is created with, trained on the
/// envelopes of a generated ledger (the ignored test `make_the_envelope_dictionary` of
/// `tests/tests/log_frames.rs` makes it again). A log keeps its own copy in `log/dict`,
/// which is the one its frames are read with.
pub const ENVELOPE_DICTIONARY: &[u8] = include_bytes!("../dict/envelopes-1.zdict");
/// The compression level of the log's frames: level 1 compressed an envelope 0.3 us faster
/// than level 3 for 2 bytes more (docs/PERFORMANCE.md, "The log's frames at level 1"); a reader
/// decompresses frames of any level alike.
pub const FRAME_LEVEL: i32 = 1;
/// The log's frames' match tables: a hash table of 2^14 entries and a chain table of 2^13
/// (the level's defaults are 2^16 and 2^15). See [`Codec::of`].
pub const FRAME_HASH_LOG: u32 = 14;
/// See [`FRAME_HASH_LOG`].
pub const FRAME_CHAIN_LOG: u32 = 13;

/// A zstd dictionary for compressing (at one level; each thread's context prepares it) and
/// decompressing (prepared once).
pub struct Codec {
    hash: Hash,
    level: i32,
    /// The dictionary, which each thread's compression context loads once.
    dictionary: Box<[u8]>,
    /// Made once: its entropy tables.
    decoder: DDict<'static>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Codec({}, level {})", crate::hex(&self.hash), self.level)
    }
}

thread_local! {
    /// A context per codec this thread used (an append compresses with the log's and the
    /// views' dictionaries in turn): making one costs more than a small frame's compression.
    static COMPRESSOR: RefCell<Vec<(usize, CCtx<'static>)>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSOR: RefCell<Vec<(usize, DCtx<'static>)>> = const { RefCell::new(Vec::new()) };
    /// The output of one call, copied to the caller's buffer.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What zstd's error `code` means.
fn zstd_error(code: usize) -> String {
    zstd::zstd_safe::get_error_name(code).to_string()
}

/// The context this thread keeps for the codec `key`, made by `make` on first use.
fn context<T>(
    kept: &mut Vec<(usize, T)>,
    key: usize,
    make: impl FnOnce() -> Result<T, String>,
) -> Result<&mut T, String> {
    let at = if let Some(at) = kept.iter().position(|(k, _)| *k == key) {
        at
    } else {
        kept.push((key, make()?));
        kept.len() - 1
    };
    Ok(&mut kept[at].1)
}

/// A compression context for records: `dictionary` at `level`, magicless frames with the
/// content size and without a dictionary id or a checksum, and the match tables `tables`
/// (hash log, chain log; `None`: the level's). What [`Codec`] compresses with (its tables
/// are [`FRAME_HASH_LOG`] and [`FRAME_CHAIN_LOG`]), public for measuring other ways of
/// grouping records under the same parameters (the example `frame_groups`).
pub fn compressor(
    dictionary: &[u8],
    level: i32,
    tables: Option<(u32, u32)>,
) -> Result<CCtx<'static>, String> {
    let mut c = CCtx::try_create().ok_or("no memory for a compression context")?;
    c.set_parameter(CParameter::CompressionLevel(level))
        .map_err(zstd_error)?;
    c.set_parameter(CParameter::Format(FrameFormat::Magicless))
        .map_err(zstd_error)?;
    if let Some((hash_log, chain_log)) = tables {
        c.set_parameter(CParameter::HashLog(hash_log))
            .map_err(zstd_error)?;
        c.set_parameter(CParameter::ChainLog(chain_log))
            .map_err(zstd_error)?;
    }
    // Prepared (its match tables) when this context first compresses, not when it is
    // made: a process that only reads never pays for them.
    c.load_dictionary(dictionary).map_err(zstd_error)?;
    c.set_parameter(CParameter::DictIdFlag(false))
        .map_err(zstd_error)?;
    c.set_parameter(CParameter::ChecksumFlag(false))
        .map_err(zstd_error)?;
    c.set_parameter(CParameter::ContentSizeFlag(true))
        .map_err(zstd_error)?;
    Ok(c)
}

impl Codec {
    /// The codec of `dictionary` at `level`: made on first use in this process, then
    /// shared (a process uses a handful of dictionaries: each is kept for its lifetime).
    /// An error when zstd does not take the bytes as a dictionary.
    ///
    /// Its match tables are sized for a record of a few hundred bytes after a dictionary
    /// of 16 KiB ([`FRAME_HASH_LOG`], [`FRAME_CHAIN_LOG`]) instead of the level's defaults,
    /// which a one-event append process spent 384 KB of fresh memory on (for each of the
    /// log's and the views' dictionaries): the log's frames are 0.3 bytes larger on
    /// average. The log's frames are read back whatever parameters wrote them; the views'
    /// transaction data (`arl_views::pack`) is compared with a rebuild's byte for byte, so
    /// these parameters are part of the views' format: changing them changes its version.
    pub fn of(dictionary: &[u8], level: i32) -> Result<&'static Codec, String> {
        static MADE: OnceLock<Mutex<Vec<&'static Codec>>> = OnceLock::new();
        let hash = *blake3::hash(dictionary).as_bytes();
        let mut made = MADE
            .get_or_init(|| Mutex::new(Vec::new()))
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(codec) = made.iter().find(|c| c.hash == hash && c.level == level) {
            return Ok(codec);
        }
        let Some(decoder) = DDict::try_create(dictionary) else {
            return Err("zstd does not take it as a dictionary".into());
        };
        let codec: &'static Codec = Box::leak(Box::new(Codec {
            hash,
            level,
            dictionary: dictionary.into(),
            decoder,
        }));
        made.push(codec);
        Ok(codec)
    }

    /// The blake3 hash of the dictionary.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    fn key(&'static self) -> usize {
        self as *const Codec as usize
    }

    /// Appends the compressed form of `data` to `out`; `false` (and `out` unchanged) when
    /// it cannot be compressed.
    pub fn compress_into(&'static self, data: &[u8], out: &mut Vec<u8>) -> bool {
        COMPRESSOR.with(|cell| {
            let mut kept = cell.borrow_mut();
            let Ok(c) = context(&mut kept, self.key(), || self.compressor()) else {
                return false;
            };
            SCRATCH.with(|buf| {
                let mut buf = buf.borrow_mut();
                buf.clear();
                buf.reserve(zstd::zstd_safe::compress_bound(data.len()));
                let done = c.compress2(&mut *buf, data).is_ok();
                if done {
                    out.extend_from_slice(&buf);
                } else {
                    // A failed call leaves its frame open, and zstd refuses most setters in
                    // the middle of one: abandon it (resetting the session cannot fail).
                    let _ = c.reset(zstd::zstd_safe::ResetDirective::SessionOnly);
                }
                done
            })
        })
    }

    /// A compression context with the dictionary (its level comes with it) and the frame
    /// parameters of a record, with the codec's small match tables.
    fn compressor(&'static self) -> Result<CCtx<'static>, String> {
        compressor(
            &self.dictionary,
            self.level,
            Some((FRAME_HASH_LOG, FRAME_CHAIN_LOG)),
        )
    }

    /// Appends to `out` the decompressed `data`, at most `max` bytes; an error says why it
    /// cannot be had (damaged bytes may also decompress to other bytes: the caller checks
    /// what it gets).
    pub fn decompress_into(
        &'static self,
        data: &[u8],
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        DECOMPRESSOR.with(|cell| {
            let mut kept = cell.borrow_mut();
            let d = context(&mut kept, self.key(), || {
                let mut d = DCtx::try_create().ok_or("no memory for a decompression context")?;
                d.ref_ddict(&self.decoder).map_err(zstd_error)?;
                d.set_parameter(DParameter::Format(FrameFormat::Magicless))
                    .map_err(zstd_error)?;
                Ok(d)
            })
            .map_err(|e| format!("the dictionary: {e}"))?;
            SCRATCH.with(|buf| {
                let mut buf = buf.borrow_mut();
                buf.clear();
                buf.reserve(max);
                match d.decompress(&mut *buf, data) {
                    Ok(n) if n <= max => {
                        out.extend_from_slice(&buf[..n]);
                        Ok(())
                    }
                    Ok(n) => Err(format!("it decompresses to {n} bytes, over {max}")),
                    Err(code) => Err(format!("it does not decompress: {}", zstd_error(code))),
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_compress_with_small_match_tables() {
        let log = Codec::of(ENVELOPE_DICTIONARY, FRAME_LEVEL).expect("a dictionary");
        let data = br#"{"actor":"generator","data":{"account":"eltas-bh-2","name":"Eltas Bahrain"},"id":"e-1","recorded_at":"2026-12-02T00:50:31.761312Z","seq":1,"stream":"account/eltas-bh-2","type":"account.opened","version":1}"#;
        let mut out = Vec::new();
        assert!(log.compress_into(data, &mut out));
        let small = COMPRESSOR.with(|cell| {
            let kept = cell.borrow();
            let (_, c) = kept.iter().find(|(k, _)| *k == log.key()).expect("kept");
            c.sizeof()
        });
        // The same dictionary at level 3 with that level's tables (2^16 + 2^15 four-byte
        // entries), what the first writers of layout 5 used.
        let mut other = CCtx::create();
        other
            .set_parameter(CParameter::CompressionLevel(3))
            .expect("a level");
        other
            .load_dictionary(ENVELOPE_DICTIONARY)
            .expect("a dictionary");
        let mut buf = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
        other.compress2(&mut buf, data).expect("compresses");
        let default = other.sizeof();
        assert!(small + 250_000 < default, "{small} against {default}");
        assert!(small < 160_000, "{small}");
    }

    #[test]
    fn a_record_round_trips_and_damage_is_an_error_or_other_bytes() {
        let codec = Codec::of(ENVELOPE_DICTIONARY, FRAME_LEVEL).expect("a dictionary");
        assert!(std::ptr::eq(
            codec,
            Codec::of(ENVELOPE_DICTIONARY, FRAME_LEVEL).expect("a dictionary")
        ));
        let data = br#"{"actor":"generator","data":{"account":"eltas-bh-2","name":"Eltas Bahrain"},"id":"e-1","recorded_at":"2026-12-02T00:50:31.761312Z","seq":1,"stream":"account/eltas-bh-2","type":"account.opened","version":1}"#;
        let mut out = b"before".to_vec();
        assert!(codec.compress_into(data, &mut out));
        assert_eq!(&out[..6], b"before");
        let stored = out[6..].to_vec();
        assert!(stored.len() < data.len() / 2, "{} bytes", stored.len());
        assert_ne!(&stored[..4], &[0x28, 0xb5, 0x2f, 0xfd], "no magic number");
        let mut back = b"x".to_vec();
        codec
            .decompress_into(&stored, data.len(), &mut back)
            .expect("decompresses");
        assert_eq!(&back[1..], data);
        let mut short = Vec::new();
        assert!(codec
            .decompress_into(&stored, data.len() - 1, &mut short)
            .is_err());
        for at in 0..stored.len() {
            for bit in 0..8 {
                let mut flipped = stored.clone();
                flipped[at] ^= 1 << bit;
                let mut got = Vec::new();
                if codec.decompress_into(&flipped, 4096, &mut got).is_ok() {
                    assert!(got.len() <= 4096);
                }
            }
        }
        let mut nothing = Vec::new();
        if codec.decompress_into(&[], 100, &mut nothing).is_ok() {
            assert!(nothing.is_empty());
        }
        // A damaged dictionary is refused or gives another codec, never a panic.
        let mut damaged = ENVELOPE_DICTIONARY.to_vec();
        damaged[40] ^= 0xff;
        if let Ok(other) = Codec::of(&damaged, FRAME_LEVEL) {
            assert_ne!(other.hash(), codec.hash());
        }
        assert!(Codec::of(&ENVELOPE_DICTIONARY[..64], FRAME_LEVEL).is_err());
    }
}
