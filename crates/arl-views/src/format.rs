//! The on-disk layout of the views, in one place (documented byte by byte in
//! `docs/FORMAT.md`, section "Views"). All integers are little-endian with explicit sizes.

use crate::chunked::{Chunked, SortedNumbers};
use crate::ViewError;
use arl_domain::ids::is_valid_id_bytes;
use arl_domain::TxnKind;
use std::path::Path;
use std::sync::Arc;

/// File names inside `<ledger>/views/`.
pub const EVENTS_FILE: &str = "events.dat";
pub const TXNS_FILE: &str = "txns.dat";
pub const TXNDATA_FILE: &str = "txndata.dat";
pub const TIMES_FILE: &str = "times.dat";
/// The transaction-id index: which `txns.dat` records hold a given txn id.
pub const TXNIDS_FILE: &str = "txnids.idx";
/// The four slots the heads are written to: `heads.0` and `heads.1` take the commits in
/// turn, written without a sync ([`COMMIT_SLOTS`]); `heads.2` and `heads.3` take the
/// checkpoints in turn, each written after the data files were synced, and synced itself
/// ([`CHECKPOINT_SLOTS`]). A reader takes the valid slot with the highest generation among
/// those it trusts ([`SlotMark::trusted`]).
pub const HEADS_FILES: [&str; 4] = ["heads.0", "heads.1", "heads.2", "heads.3"];
/// The slots (indexes into [`HEADS_FILES`]) commits are written to, without a sync.
pub const COMMIT_SLOTS: [usize; 2] = [0, 1];
/// The slots checkpoints are written to, synced.
pub const CHECKPOINT_SLOTS: [usize; 2] = [2, 3];

/// First bytes of `heads`.
pub const HEADS_MAGIC: [u8; 8] = *b"ARLVIEWS";
/// Version of the layout described here. Views of an older version are rebuilt from the
/// log by the next writer (`Ledger::open`), which every query opens first when it meets them.
pub const FORMAT_VERSION: u32 = 11;

/// Bytes of an `events.dat` record header: len u32, seq u64, effective_at i64,
/// recorded_at i64, kind u8, prev1 u64, prev2 u64, prev3 u64, checksum u32.
pub const EVENT_HEADER_BYTES: u64 = 57;
/// Where the checksum lies in an `events.dat` record header.
const EVENT_CHECKSUM_AT: usize = 53;
/// Bytes of one `txns.dat` record.
pub const TXN_RECORD_BYTES: u64 = 64;
/// Where the checksum lies in a `txns.dat` record (it covers the bytes before it).
const TXN_CHECKSUM_AT: usize = 60;
/// Bytes of one `times.dat` entry: the time (i64) and its checksum (u32).
pub const TIME_BYTES: u64 = 12;
/// Bytes of the checksum after each event's data in `txndata.dat`.
pub const TXNDATA_CHECKSUM_BYTES: u64 = 4;
/// Bytes of the checksum that ends a `heads` slot.
const HEADS_CHECKSUM_BYTES: usize = 4;
/// Bytes of a `heads` slot before its tables: magic, version, generation, boot id,
/// checkpoint flag, seq checkpoint, four lengths, org, log_len, two counts.
const HEADS_FIXED_BYTES: usize = 8 + 4 + 8 + 16 + 1 + 8 * 7 + 4 + 4;
/// Largest data JSON of one event (the log's limit).
pub const DATA_BYTES_MAX: u32 = 64 * 1024;
/// Longest id in `heads` (the contract's limit on identifiers).
pub const ID_BYTES_MAX: usize = 64;
/// Most accounts or persons the views number (account numbers are u32).
pub const ENTITIES_MAX: u64 = 1 << 30;
/// Largest `heads` file accepted: ids and heads of `ENTITIES_MAX`-ish tables stay far below.
pub const HEADS_BYTES_MAX: u64 = 1 << 32;

/// Event kinds by their persisted code (the index in this table). Never reorder: append.
pub const KINDS: [&str; 17] = [
    "account.opened",
    "account.renamed",
    "account.parent_changed",
    "account.scope_changed",
    "account.classified",
    "account.status_changed",
    "person.joined",
    "person.left",
    "team.assigned",
    "team.unassigned",
    "reporting.line_set",
    "reporting.line_ended",
    "contact.added",
    "contact.removed",
    "transaction.recorded",
    "transaction.reversed",
    "subject.erased",
];

/// The [`KINDS`] codes of the two transaction events.
pub const KIND_TXN_RECORDED: u8 = 14;
pub const KIND_TXN_REVERSED: u8 = 15;

/// The persisted code of an event kind.
pub fn kind_code(kind: &str) -> Option<u8> {
    KINDS.iter().position(|k| *k == kind).map(|i| i as u8)
}

/// The kind of a persisted code.
pub fn kind_name(code: u8) -> Option<&'static str> {
    KINDS.get(usize::from(code)).copied()
}

/// Header of one `events.dat` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHeader {
    pub data_len: u32,
    pub seq: u64,
    pub effective_at: i64,
    pub recorded_at: i64,
    pub kind: u8,
    /// Offset + 1 of the previous record of the first chain (0: none).
    pub prev1: u64,
    /// Offset + 1 of the previous record of the second chain (0: none).
    pub prev2: u64,
    /// Offset + 1 of the previous record of the third chain (0: none): the account's
    /// hierarchy chain, for `account.opened`, `account.parent_changed` and
    /// `account.status_changed`.
    pub prev3: u64,
}

/// The checksum of the views' records: CRC-32 (the IEEE polynomial, crc32fast's
/// hardware-accelerated implementation). It guards against damage (a flipped bit, a torn
/// write), not against tampering: `arl verify` compares the views with the log, whose hash
/// chain is the defence against that.
pub fn checksum(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

/// The CRC-32 ([`checksum`]) of two runs of bytes one after the other, from the CRC-32
/// of each and the [`crc_shift`] of the second's length (zlib's `crc32_combine_op`).
pub fn crc_concat(first: u32, second: u32, shift_of_second: u32) -> u32 {
    crc_multiply(shift_of_second, first) ^ second
}

/// What [`crc_concat`] needs of a run of `len` bytes: x^(8·len) modulo the CRC-32
/// polynomial (bit-reflected), a product of one power of x from a table of 64 per bit set
/// in `len`. Kept with a checksum, it lets one carry-less multiplication combine that
/// checksum with the one of the bytes before it (crc32fast's `Hasher::combine` computes
/// it anew at every call, about twenty multiplications for a few kilobytes).
pub fn crc_shift(len: u64) -> u32 {
    let mut shift = X_POW_0;
    let mut rest = len;
    let mut bit = 0;
    while rest != 0 {
        if rest & 1 != 0 {
            shift = crc_multiply(X_POW_8_TIMES_2_POW[bit], shift);
        }
        rest >>= 1;
        bit += 1;
    }
    shift
}

/// The CRC-32 polynomial, bit-reflected (x^0 in the highest bit).
const CRC_POLY: u32 = 0xedb8_8320;
/// x^0, bit-reflected.
const X_POW_0: u32 = 0x8000_0000;

/// `a(x)·b(x)` modulo the CRC-32 polynomial, both bit-reflected.
const fn crc_multiply(a: u32, mut b: u32) -> u32 {
    let mut product = 0u32;
    let mut i = 0;
    while i < 32 {
        product ^= b & ((a >> (31 - i)) & 1).wrapping_neg();
        b = (b >> 1) ^ ((b & 1).wrapping_neg() & CRC_POLY);
        i += 1;
    }
    product
}

/// x^(8·2^k) modulo the CRC-32 polynomial for k = 0..64: x^8, then each the square of the
/// one before.
const X_POW_8_TIMES_2_POW: [u32; 64] = {
    let mut table = [0u32; 64];
    table[0] = X_POW_0 >> 8;
    let mut k = 1;
    while k < 64 {
        table[k] = crc_multiply(table[k - 1], table[k - 1]);
        k += 1;
    }
    table
};

/// True when a whole `events.dat` record (header and data) matches its checksum.
pub fn event_record_ok(record: &[u8]) -> bool {
    let header = EVENT_HEADER_BYTES as usize;
    assert!(
        record.len() >= header,
        "an event record is at least its header"
    );
    let stored = u32_at(record, EVENT_CHECKSUM_AT);
    checksum(&[&record[..EVENT_CHECKSUM_AT], &record[header..]]) == stored
}

/// True when a `txns.dat` record matches its checksum.
pub fn txn_record_ok(record: &[u8; TXN_RECORD_BYTES as usize]) -> bool {
    checksum(&[&record[..TXN_CHECKSUM_AT]]) == u32_at(record, TXN_CHECKSUM_AT)
}

/// The checksum stored after the data of the transaction event `seq` in `txndata.dat`.
pub fn txndata_checksum(seq: u64, data: &[u8]) -> u32 {
    checksum(&[&seq.to_le_bytes(), data])
}

/// The `times.dat` entry of `seq`: the time and its checksum.
pub fn encode_time(seq: u64, time: i64) -> [u8; TIME_BYTES as usize] {
    let mut entry = [0u8; TIME_BYTES as usize];
    entry[..8].copy_from_slice(&time.to_le_bytes());
    let sum = checksum(&[&seq.to_le_bytes(), &entry[..8]]);
    entry[8..].copy_from_slice(&sum.to_le_bytes());
    entry
}

/// The time of the `times.dat` entry of `seq`, `None` when it fails its checksum.
pub fn decode_time(seq: u64, entry: &[u8; TIME_BYTES as usize]) -> Option<i64> {
    let sum = checksum(&[&seq.to_le_bytes(), &entry[..8]]);
    (sum == u32_at(entry, 8)).then(|| u64_at(entry, 0) as i64)
}

impl EventHeader {
    /// Appends the record: this header, its checksum over the header and `data`, and `data`
    /// (`data_len` must be its length).
    pub fn encode(&self, data: &[u8], out: &mut Vec<u8>) {
        assert_eq!(
            self.data_len as usize,
            data.len(),
            "data_len is the data's length"
        );
        let start = out.len();
        out.extend_from_slice(&self.data_len.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.effective_at.to_le_bytes());
        out.extend_from_slice(&self.recorded_at.to_le_bytes());
        out.push(self.kind);
        out.extend_from_slice(&self.prev1.to_le_bytes());
        out.extend_from_slice(&self.prev2.to_le_bytes());
        out.extend_from_slice(&self.prev3.to_le_bytes());
        let sum = checksum(&[&out[start..], data]);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(data);
        debug_assert!(event_record_ok(&out[start..]));
    }

    /// Decodes the first [`EVENT_HEADER_BYTES`] of `bytes` (the caller checks the length
    /// and, with the data, the checksum: [`event_record_ok`]).
    pub fn decode(bytes: &[u8; EVENT_HEADER_BYTES as usize]) -> EventHeader {
        EventHeader {
            data_len: u32_at(bytes, 0),
            seq: u64_at(bytes, 4),
            effective_at: u64_at(bytes, 12) as i64,
            recorded_at: u64_at(bytes, 20) as i64,
            kind: bytes[28],
            prev1: u64_at(bytes, 29),
            prev2: u64_at(bytes, 37),
            prev3: u64_at(bytes, 45),
        }
    }
}

/// One `txns.dat` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnRecord {
    pub seq: u64,
    pub effective_at: i64,
    pub recorded_at: i64,
    pub amount_minor: i64,
    /// Record number + 1 of the previous record of the same account (0: none).
    pub prev: u64,
    pub data_offset: u64,
    pub data_len: u32,
    pub account: u32,
    /// 0 sale, 1 purchase (of the original, for a reversal).
    pub kind: u8,
    /// Bit 0: this is a `transaction.reversed` record.
    pub flags: u8,
    pub currency: [u8; 3],
}

pub const TXN_FLAG_REVERSAL: u8 = 1;

/// The kind a `txns.dat` record's kind code stands for.
pub fn txn_kind(code: u8) -> Option<TxnKind> {
    match code {
        0 => Some(TxnKind::Sale),
        1 => Some(TxnKind::Purchase),
        _ => None,
    }
}

/// The kind code of `kind` in a `txns.dat` record.
pub fn txn_kind_code(kind: TxnKind) -> u8 {
    u8::from(kind == TxnKind::Purchase)
}

impl TxnRecord {
    /// True for a `transaction.reversed` record.
    pub fn is_reversal(&self) -> bool {
        self.flags & TXN_FLAG_REVERSAL != 0
    }

    /// The [`KINDS`] code of the event the record stands for.
    pub fn event_kind(&self) -> u8 {
        if self.is_reversal() {
            KIND_TXN_REVERSED
        } else {
            KIND_TXN_RECORDED
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        // Assembled in place, then appended at once.
        let mut b = [0u8; TXN_RECORD_BYTES as usize];
        b[0..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..16].copy_from_slice(&self.effective_at.to_le_bytes());
        b[16..24].copy_from_slice(&self.recorded_at.to_le_bytes());
        b[24..32].copy_from_slice(&self.amount_minor.to_le_bytes());
        b[32..40].copy_from_slice(&self.prev.to_le_bytes());
        b[40..48].copy_from_slice(&self.data_offset.to_le_bytes());
        b[48..52].copy_from_slice(&self.data_len.to_le_bytes());
        b[52..56].copy_from_slice(&self.account.to_le_bytes());
        assert!(
            self.kind <= 1 && self.flags <= 1,
            "kind and flags are one bit each"
        );
        b[56] = self.kind | (self.flags << 1);
        b[57..60].copy_from_slice(&self.currency);
        let sum = checksum(&[&b[..TXN_CHECKSUM_AT]]);
        b[TXN_CHECKSUM_AT..].copy_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&b);
    }

    /// Decodes a record (the caller checks its checksum first: [`txn_record_ok`]).
    pub fn decode(bytes: &[u8; TXN_RECORD_BYTES as usize]) -> TxnRecord {
        TxnRecord {
            seq: u64_at(bytes, 0),
            effective_at: u64_at(bytes, 8) as i64,
            recorded_at: u64_at(bytes, 16) as i64,
            amount_minor: u64_at(bytes, 24) as i64,
            prev: u64_at(bytes, 32),
            data_offset: u64_at(bytes, 40),
            data_len: u32_at(bytes, 48),
            account: u32_at(bytes, 52),
            kind: bytes[56] & 1,
            flags: bytes[56] >> 1,
            currency: [bytes[57], bytes[58], bytes[59]],
        }
    }
}

/// First bytes of `txnids.idx`.
pub const TXNIDS_MAGIC: [u8; 8] = *b"ARLTXNID";
/// Bytes of the `txnids.idx` header: magic, format version u32, block bits u32 (the bucket
/// table holds `2^bits` blocks), zeros, checksum u32 (over the bytes before it) at the end.
pub const TXNIDS_HEADER_BYTES: u64 = 64;
/// Bytes of one block of the bucket table: [`TXNIDS_BLOCK_HEADS`] heads u32 (the entry
/// number of the newest entry of each bucket plus one, 0: none), then a checksum u32 over
/// the block's number u32 and the heads. A block of empty buckets is all zeros.
pub const TXNIDS_BLOCK_BYTES: u64 = 64;
/// Buckets in one block of the bucket table.
pub const TXNIDS_BLOCK_HEADS: usize = 15;
/// Block bits of the smallest table (4 blocks, 60 buckets, 256 bytes).
pub const TXNIDS_BLOCK_BITS_MIN: u32 = 2;
/// Average entries per bucket beyond which the table doubles: chains average 1 to 2.
pub const TXNIDS_LOAD_MAX: u64 = 2;
/// Most entries `txnids.idx` holds: entry numbers + 1 are u32 (in `prev` and the heads), so
/// a ledger refuses its 4,294,967,296th transaction record.
pub const TXNIDS_ENTRIES_MAX: u64 = u32::MAX as u64;
/// Block bits of the table for [`TXNIDS_ENTRIES_MAX`] entries.
pub const TXNIDS_BLOCK_BITS_MAX: u32 = 28;
/// Bytes of one entry: hash u64 (the id's whole [`txn_id_hash`], so that a table of any
/// size can be rebuilt from the entries alone), prev u32 (entry number + 1 of the next
/// older entry of the same bucket, 0: none), checksum u32 (over the entry's number u64, the
/// hash and prev).
pub const TXNIDS_ENTRY_BYTES: u64 = 16;

/// The hash of a txn id that `txnids.idx` files it under: FNV-1a (64 bits) of the id's
/// bytes, then the SplitMix64 finalizer so that every bit depends on every byte. Persisted:
/// never change it without a new [`FORMAT_VERSION`].
pub fn txn_id_hash(txn: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in txn.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The block bits of the bucket table of `txnids.idx` holding `entries` entries: the
/// smallest, at least [`TXNIDS_BLOCK_BITS_MIN`], whose buckets hold at most
/// [`TXNIDS_LOAD_MAX`] entries each on average. A function of the number of entries alone,
/// so that the file's length and layout need no field in `heads`.
pub fn txnids_block_bits(entries: u64) -> u32 {
    let mut bits = TXNIDS_BLOCK_BITS_MIN;
    while bits < TXNIDS_BLOCK_BITS_MAX
        && entries > TXNIDS_LOAD_MAX * TXNIDS_BLOCK_HEADS as u64 * (1u64 << bits)
    {
        bits += 1;
    }
    bits
}

/// Where things lie in a `txnids.idx` whose bucket table has `2^block_bits` blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnIdsLayout {
    pub block_bits: u32,
}

impl TxnIdsLayout {
    /// The layout of a file holding `entries` entries ([`txnids_block_bits`]).
    pub fn for_entries(entries: u64) -> TxnIdsLayout {
        TxnIdsLayout {
            block_bits: txnids_block_bits(entries),
        }
    }

    /// Blocks of the bucket table.
    pub fn blocks(self) -> u64 {
        1 << self.block_bits
    }

    /// Buckets of the bucket table.
    pub fn buckets(self) -> u64 {
        self.blocks() * TXNIDS_BLOCK_HEADS as u64
    }

    /// Where block `block` lies.
    pub fn block_at(self, block: u32) -> u64 {
        TXNIDS_HEADER_BYTES + u64::from(block) * TXNIDS_BLOCK_BYTES
    }

    /// Where the entries start, after the bucket table.
    pub fn entries_at(self) -> u64 {
        self.block_at(0) + self.blocks() * TXNIDS_BLOCK_BYTES
    }

    /// Where entry `number` lies.
    pub fn entry_at(self, number: u64) -> u64 {
        self.entries_at() + number * TXNIDS_ENTRY_BYTES
    }

    /// The file's length with `entries` entries.
    pub fn len(self, entries: u64) -> u64 {
        self.entry_at(entries)
    }

    /// The bucket of a [`txn_id_hash`]: its block (the low block bits) and its place in the
    /// block (the high 32 bits scaled to [`TXNIDS_BLOCK_HEADS`]).
    pub fn bucket_of(self, hash: u64) -> (u32, usize) {
        let block = (hash & (self.blocks() - 1)) as u32;
        let slot = (((hash >> 32) * TXNIDS_BLOCK_HEADS as u64) >> 32) as usize;
        (block, slot)
    }

    /// The header of a file of this layout.
    pub fn header(self) -> [u8; TXNIDS_HEADER_BYTES as usize] {
        let mut header = [0u8; TXNIDS_HEADER_BYTES as usize];
        header[..8].copy_from_slice(&TXNIDS_MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&self.block_bits.to_le_bytes());
        let at = TXNIDS_HEADER_BYTES as usize - 4;
        let sum = checksum(&[&header[..at]]);
        header[at..].copy_from_slice(&sum.to_le_bytes());
        header
    }

    /// The layout a header describes, `None` unless it is exactly the header of a layout
    /// of this format.
    pub fn of_header(bytes: &[u8]) -> Option<TxnIdsLayout> {
        let bytes = bytes.get(..TXNIDS_HEADER_BYTES as usize)?;
        let block_bits = u32_at(bytes, 12);
        let layout = TxnIdsLayout { block_bits };
        ((TXNIDS_BLOCK_BITS_MIN..=TXNIDS_BLOCK_BITS_MAX).contains(&block_bits)
            && bytes == layout.header())
        .then_some(layout)
    }
}

/// The committed length of `txnids.idx` when `txns.dat` holds `txn_records` records (one
/// entry each).
pub fn txnids_len(txn_records: u64) -> u64 {
    TxnIdsLayout::for_entries(txn_records).len(txn_records)
}

/// The heads of one block of the bucket table.
pub type TxnIdsBlock = [u32; TXNIDS_BLOCK_HEADS];

/// Block `block` of the bucket table holding `heads`.
pub fn encode_block(block: u32, heads: &TxnIdsBlock) -> [u8; TXNIDS_BLOCK_BYTES as usize] {
    let mut bytes = [0u8; TXNIDS_BLOCK_BYTES as usize];
    if heads.iter().all(|h| *h == 0) {
        return bytes;
    }
    for (i, head) in heads.iter().enumerate() {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&head.to_le_bytes());
    }
    let at = TXNIDS_BLOCK_HEADS * 4;
    let sum = checksum(&[&block.to_le_bytes(), &bytes[..at]]);
    bytes[at..].copy_from_slice(&sum.to_le_bytes());
    bytes
}

/// The heads of block `block`, `None` when it fails its checksum.
pub fn decode_block(block: u32, bytes: &[u8; TXNIDS_BLOCK_BYTES as usize]) -> Option<TxnIdsBlock> {
    let mut heads = [0u32; TXNIDS_BLOCK_HEADS];
    if bytes.iter().all(|b| *b == 0) {
        return Some(heads);
    }
    let at = TXNIDS_BLOCK_HEADS * 4;
    let sum = checksum(&[&block.to_le_bytes(), &bytes[..at]]);
    for (i, head) in heads.iter_mut().enumerate() {
        *head = u32_at(bytes, i * 4);
    }
    (sum == u32_at(bytes, at) && heads.iter().any(|h| *h != 0)).then_some(heads)
}

/// One entry of `txnids.idx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnIdEntry {
    /// [`txn_id_hash`] of the id.
    pub hash: u64,
    /// Entry number + 1 of the next older entry of the same bucket (0: none).
    pub prev: u32,
}

impl TxnIdEntry {
    /// The bytes of this entry as entry number `number`.
    pub fn encode(&self, number: u64) -> [u8; TXNIDS_ENTRY_BYTES as usize] {
        let mut bytes = [0u8; TXNIDS_ENTRY_BYTES as usize];
        bytes[..8].copy_from_slice(&self.hash.to_le_bytes());
        bytes[8..12].copy_from_slice(&self.prev.to_le_bytes());
        let sum = checksum(&[&number.to_le_bytes(), &bytes[..12]]);
        bytes[12..].copy_from_slice(&sum.to_le_bytes());
        bytes
    }

    /// Entry number `number` from its bytes, `None` when it fails its checksum or its
    /// `prev` does not lead back.
    pub fn decode(number: u64, bytes: &[u8; TXNIDS_ENTRY_BYTES as usize]) -> Option<TxnIdEntry> {
        let sum = checksum(&[&number.to_le_bytes(), &bytes[..12]]);
        let entry = TxnIdEntry {
            hash: u64_at(bytes, 0),
            prev: u32_at(bytes, 8),
        };
        (sum == u32_at(bytes, 12) && u64::from(entry.prev) <= number).then_some(entry)
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// An entity's id as the heads hold it: a range of a string that the ids of one decoded
/// slot share (one allocation for all of them, where one each was about a tenth of a
/// one-event append process at 4M generated events), or a string of its own for an id
/// numbered since. Shared, so that a reader's snapshot of the heads copies a pointer, not
/// the string. Compared, hashed and shown as the `str` it derefs to.
#[derive(Clone)]
pub struct HeadId {
    text: Arc<String>,
    start: u32,
    end: u32,
}

impl std::ops::Deref for HeadId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text[self.start as usize..self.end as usize]
    }
}

impl From<&str> for HeadId {
    fn from(id: &str) -> HeadId {
        HeadId {
            text: Arc::new(id.to_owned()),
            start: 0,
            end: u32::try_from(id.len()).expect("an id is at most 255 bytes"),
        }
    }
}

impl From<String> for HeadId {
    fn from(id: String) -> HeadId {
        HeadId::from(id.as_str())
    }
}

impl PartialEq for HeadId {
    fn eq(&self, other: &HeadId) -> bool {
        **self == **other
    }
}

impl Eq for HeadId {}

impl std::hash::Hash for HeadId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::borrow::Borrow<str> for HeadId {
    fn borrow(&self) -> &str {
        self
    }
}

impl std::fmt::Debug for HeadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// The chain heads of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountHead {
    pub id: HeadId,
    /// An `account.opened` of this id is in the views.
    pub opened: bool,
    /// Offset + 1 of the newest record of the account chain in `events.dat`.
    pub chain: u64,
    /// Offset + 1 of the newest record of the child_refs chain in `events.dat`.
    pub children: u64,
    /// Record number + 1 of the newest record of the account in `txns.dat`.
    pub txns: u64,
    /// Offset + 1 of the newest record of the account's hierarchy chain (opened, parent and
    /// status changes) in `events.dat`.
    pub hierarchy: u64,
}

#[cfg(test)]
impl AccountHead {
    /// An opened account with no events yet.
    pub(crate) fn opened(id: &str) -> AccountHead {
        AccountHead {
            id: id.into(),
            opened: true,
            chain: 0,
            children: 0,
            txns: 0,
            hierarchy: 0,
        }
    }
}

/// The chain head of one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonHead {
    pub id: HeadId,
    /// A `person.joined` of this id is in the views.
    pub joined: bool,
    /// Offset + 1 of the newest record of the person chain (`person.*` and `reporting.*`
    /// with this person as subject) in `events.dat`.
    pub chain: u64,
    /// Offset + 1 of the newest `team.*` record naming this person in `events.dat`.
    pub teams: u64,
}

/// What a heads slot says of how far it can be trusted: the boot it was written in and
/// whether it is a checkpoint (the data files were synced up to its lengths before it was
/// written, and the slot itself was synced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotMark {
    /// [`arl_io::boot_id`] when the slot was written; zeros when the kernel gave none.
    pub boot: [u8; 16],
    /// A checkpoint: everything it describes reached the disk before it was written.
    pub synced: bool,
}

impl SlotMark {
    /// The mark of a slot written now: this boot's id, and whether it is a checkpoint.
    pub fn now(synced: bool) -> SlotMark {
        SlotMark {
            boot: arl_io::boot_id().unwrap_or_default(),
            synced,
        }
    }

    /// True when what the slot describes can be read: a checkpoint, or a slot written
    /// during the running boot `boot` (written-but-unsynced bytes stay readable until the
    /// machine stops). A slot written without a sync in another boot is not trusted: a
    /// power loss may have lost or torn any of the writes it describes.
    pub fn trusted(&self, boot: Option<[u8; 16]>) -> bool {
        self.synced || (self.boot != [0u8; 16] && Some(self.boot) == boot)
    }
}

/// What the four heads slots of a views directory hold, and which one is current.
#[derive(Debug, Clone, Default)]
pub struct Slots {
    /// The valid, trusted slot with the highest generation: its index in [`HEADS_FILES`]
    /// and its heads. `None` when no slot file exists (fresh views).
    pub current: Option<(usize, Heads)>,
    /// Per slot: its generation and mark when it decodes (magic, version, checksum), else
    /// `None` (missing, torn or damaged).
    pub slots: [Option<(u64, SlotMark)>; 4],
    /// The highest generation of any slot that passes its checksum, trusted or not: a new
    /// slot is written with a higher one.
    pub generation_max: u64,
    /// True when another slot than the current one fails its checksum, or is newer than
    /// it (it could not be trusted): the writes after the current slot may be lost or torn,
    /// and the writer checks and repairs what the current slot does not describe.
    pub fell_back: bool,
    /// The generation of the newest checkpoint slot trusted, and the data bytes it commits
    /// (the sum of the four data files' lengths), for the writer's checkpoint schedule.
    pub checkpoint: Option<(u64, u64)>,
    /// The bytes of the current slot, as read (empty when there is none): the writer
    /// encodes its first commit over them ([`SlotCache::of_slot`]).
    pub bytes: Vec<u8>,
    /// Per slot: whether its checksum was checked. [`read_slots`] checks every slot;
    /// [`read_slots_quick`] only the current one, and takes the others' headers at their
    /// word ([`check_slot`] checks one later).
    pub checked: [bool; 4],
}

/// A valid slot's generation, its mark and the data bytes it commits.
type SlotPrefix = (u64, SlotMark, u64);

/// The fixed part of the slot `bytes`: generation, mark and the data bytes it commits, when
/// the slot passes its magic, version and checksum. A slot of another version is
/// `Err(Version)`. (What [`scan_slot`] says of a file, from bytes held whole.)
#[cfg(test)]
fn slot_prefix(bytes: &[u8], path: &Path) -> Result<Option<SlotPrefix>, ViewError> {
    let sum_ok = bytes.len() >= HEADS_CHECKSUM_BYTES && {
        let (body, sum) = bytes.split_at(bytes.len() - HEADS_CHECKSUM_BYTES);
        checksum(&[body]) == u32_at(sum, 0)
    };
    prefix_of(
        &bytes[..bytes.len().min(HEADS_FIXED_BYTES)],
        bytes.len(),
        sum_ok,
        path,
    )
}

/// The fixed part of a slot of `len` bytes that starts with `head` (its first
/// [`HEADS_FIXED_BYTES`], or all of it when shorter), `sum_ok` when its checksum holds:
/// generation, mark and the data bytes it commits when the slot passes its magic, version
/// and checksum; `Err(Version)` for a slot of another version.
fn prefix_of(
    head: &[u8],
    len: usize,
    sum_ok: bool,
    path: &Path,
) -> Result<Option<SlotPrefix>, ViewError> {
    if len < HEADS_FIXED_BYTES + HEADS_CHECKSUM_BYTES
        || head.len() < HEADS_FIXED_BYTES
        || head[..8] != HEADS_MAGIC
    {
        return Ok(None);
    }
    let version = u32_at(head, 8);
    if version != FORMAT_VERSION {
        return Err(ViewError::Version {
            path: path.to_path_buf(),
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    if !sum_ok || head[36] > 1 {
        return Ok(None);
    }
    let mut boot = [0u8; 16];
    boot.copy_from_slice(&head[20..36]);
    let mark = SlotMark {
        boot,
        synced: head[36] == 1,
    };
    // events, txns, txndata, times: after generation, mark and checkpoint.
    let data: u64 = (0..4)
        .map(|i| u64_at(head, 45 + 8 * i))
        .fold(0, u64::wrapping_add);
    Ok(Some((u64_at(head, 12), mark, data)))
}

/// The CRC-32 of any bytes followed by their own CRC-32, little-endian.
const CRC_RESIDUE: u32 = 0x2144_DF1C;

/// Bytes read at a time when a slot is checked without being kept.
const SLOT_SCAN_BYTES: usize = 64 * 1024;

/// The slot file at `path` opened for reading; `None` when there is no such file.
fn open_slot_file(path: &Path) -> Result<Option<std::fs::File>, ViewError> {
    match std::fs::File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ViewError::io(path, e)),
    }
}

/// Reads the slot file at `path` through `buf` (as many bytes at a time as it holds;
/// [`SLOT_SCAN_BYTES`] when empty) and returns [`prefix_of`] its bytes, without keeping
/// them; `None` when there is no such file.
fn scan_slot(path: &Path, buf: &mut Vec<u8>) -> Result<Option<Option<SlotPrefix>>, ViewError> {
    use std::io::Read;
    let io = |e| ViewError::io(path, e);
    let Some(mut file) = open_slot_file(path)? else {
        return Ok(None);
    };
    if buf.is_empty() {
        buf.resize(SLOT_SCAN_BYTES, 0);
    }
    let mut head = Vec::with_capacity(HEADS_FIXED_BYTES);
    // Over the whole slot, stored checksum included: the CRC-32 of bytes followed by their
    // own CRC-32 (little-endian) is always CRC_RESIDUE, and of no other four bytes.
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0usize;
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        let chunk = &buf[..n];
        let wanted = HEADS_FIXED_BYTES.saturating_sub(head.len()).min(n);
        head.extend_from_slice(&chunk[..wanted]);
        crc.update(chunk);
        len += n;
    }
    let sum_ok = len >= HEADS_CHECKSUM_BYTES && crc.finalize() == CRC_RESIDUE;
    prefix_of(&head, len, sum_ok, path).map(Some)
}

/// Reads the four heads slots of `dir` ([`HEADS_FILES`]) and picks the current one: the
/// valid slot with the highest generation among those this boot trusts. A slot torn by a
/// crash fails its checksum and is passed over; a slot written without a sync in another
/// boot is passed over too (a power loss came between). When slots exist but none is
/// valid and trusted the views are corrupt (the writer rebuilds them from the log).
pub fn read_slots(dir: &Path) -> Result<Slots, ViewError> {
    let boot = arl_io::boot_id();
    let mut out = Slots::default();
    let mut present = [false; 4];
    // Each slot is checked as it is read, 64 KiB at a time, and only the one chosen is read
    // whole to be decoded (at 4M events a slot is about 740 KB, and fresh memory for the
    // four was a good part of a writer's open). Older trusted ones are read whole only if
    // the newer do not decode.
    let mut candidates: Vec<(u64, usize)> = Vec::new();
    let mut scan = Vec::new();
    let mut first_error = None;
    for (i, name) in HEADS_FILES.iter().enumerate() {
        let path = dir.join(name);
        let Some(prefix) = scan_slot(&path, &mut scan)? else {
            continue;
        };
        present[i] = true;
        let Some((generation, mark, data)) = prefix else {
            first_error = first_error
                .or_else(|| Some(ViewError::corrupt(&path, "heads slot fails its checksum")));
            continue;
        };
        out.slots[i] = Some((generation, mark));
        out.generation_max = out.generation_max.max(generation);
        if mark.trusted(boot) {
            if mark.synced && out.checkpoint.is_none_or(|(g, _)| generation > g) {
                out.checkpoint = Some((generation, data));
            }
            candidates.push((generation, i));
        }
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    drop(scan);
    for (generation, i) in candidates {
        let path = dir.join(HEADS_FILES[i]);
        // Read again: it passed its checksum a moment ago; if it changed since, decoding
        // checks it again.
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ViewError::io(path, e)),
        };
        match Heads::decode(&bytes, &path) {
            Ok(heads) => {
                out.current = Some((i, heads));
                out.bytes = bytes;
                out.checked = present;
                out.fell_back = out.slots.iter().enumerate().any(|(j, slot)| {
                    j != i && present[j] && slot.is_none_or(|(g, _)| g > generation)
                });
                return Ok(out);
            }
            Err(e) => {
                out.slots[i] = None;
                first_error = first_error.or(Some(e));
            }
        }
    }
    if !present.contains(&true) {
        return Ok(out);
    }
    Err(first_error.unwrap_or_else(|| {
        ViewError::corrupt(
            dir.join(HEADS_FILES[0]),
            "no heads slot is a checkpoint or was written since the machine started",
        )
    }))
}

/// What the fixed parts of the four slots of a views directory say, and the newest slot
/// this boot trusts by its own header, read whole and decoded when it decodes.
struct Glance {
    /// Per slot: `None` when there is no file; `Some(None)` when its fixed part is not a
    /// slot's; else the generation, mark and data bytes its header claims (its checksum
    /// unchecked).
    claimed: [Option<Option<SlotPrefix>>; 4],
    /// The newest slot trusted by its header, when it decodes: its index, its heads and
    /// its bytes.
    newest: Option<(usize, Heads, Vec<u8>)>,
}

/// Reads the slots' fixed parts (four short reads) and the newest slot this boot trusts by
/// its header whole. A slot that decodes passes its checksum, so it tells its true
/// generation.
fn glance(dir: &Path) -> Result<Glance, ViewError> {
    use std::io::{Read, Seek};
    let boot = arl_io::boot_id();
    let mut claimed: [Option<Option<SlotPrefix>>; 4] = [None; 4];
    let mut newest: Option<(u64, usize, std::fs::File, usize)> = None;
    for (i, name) in HEADS_FILES.iter().enumerate() {
        let path = dir.join(name);
        let io = |e| ViewError::io(&path, e);
        let Some(mut file) = open_slot_file(&path)? else {
            continue;
        };
        let len = usize::try_from(file.metadata().map_err(io)?.len()).unwrap_or(usize::MAX);
        let mut head = Vec::with_capacity(HEADS_FIXED_BYTES);
        (&mut file)
            .take(HEADS_FIXED_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(io)?;
        // As read_slots judges the fixed part (a slot of another version is an error
        // here as there), its checksum taken as good until the slot is decoded.
        let prefix = prefix_of(&head, len, true, &path)?;
        claimed[i] = Some(prefix);
        if let Some((generation, mark, _)) = prefix {
            if mark.trusted(boot) && newest.as_ref().is_none_or(|(g, ..)| generation > *g) {
                newest = Some((generation, i, file, len));
            }
        }
    }
    let newest = newest.and_then(|(_, i, mut file, len)| {
        // Sized as the file said a moment ago (bounded: a size no slot has is only a hint).
        let mut bytes = Vec::with_capacity(len.min(1 << 30));
        let read = file
            .rewind()
            .and_then(|()| file.read_to_end(&mut bytes))
            .is_ok();
        let path = dir.join(HEADS_FILES[i]);
        let heads = read.then(|| Heads::decode(&bytes, &path).ok()).flatten()?;
        Some((i, heads, bytes))
    });
    Ok(Glance { claimed, newest })
}

/// The current heads of `dir`, the slot [`read_slots`] would choose; `Ok(None)` when no
/// slot exists (fresh views).
///
/// A reader needs no more than that slot: the slots' fixed parts are read first (four
/// short reads), and the newest one this boot trusts by its own header is read whole and
/// decoded, which checks its checksum. When it decodes, it is the one [`read_slots`]
/// chooses: a slot that passes its checksum tells its true generation, so no valid trusted
/// slot can be newer. Otherwise (a crash tore it, it was damaged, an error) the choice is
/// left to [`read_slots`], which checks all four. At 4M events that spares a query
/// process reading and checking three slots of 740 KB each.
pub fn read_heads(dir: &Path) -> Result<Option<Heads>, ViewError> {
    let glance = glance(dir)?;
    if glance.claimed.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some((_, heads, _)) = glance.newest {
        return Ok(Some(heads));
    }
    Ok(read_slots(dir)?.current.map(|(_, heads)| heads))
}

/// [`read_slots`] for a writer that opens, checking the current slot alone when the others'
/// headers all say they are older: the newest slot this boot trusts by its header is read
/// whole and decoded (which checks its checksum), and every other slot's fixed part is
/// taken at its word ([`Slots::checked`] says which were not checked). Then the current
/// slot and the generations are those [`read_slots`] finds, unless an older slot is
/// damaged past its header: it is then taken for the generation it claims where
/// [`read_slots`] would mark it invalid and report a fall-back. No crash leaves such a slot
/// (a slot is written from its first page on, and its header holds the new generation, so
/// one torn in this boot claims to be newer than the current one; after a reboot the
/// writer repairs what a slot of another boot does not describe); bit rot or an edit
/// might, and a writer checks a checkpoint slot before it chooses which to overwrite
/// ([`check_slot`]). In every other case (no trusted slot, one that claims to be newer or
/// whose header is not a slot's, the newest not decoding) the choice is [`read_slots`]'s.
/// At 4M events that spares an appending process reading and checking three slots of
/// 740 KB each, and reading its current one twice.
pub fn read_slots_quick(dir: &Path) -> Result<Slots, ViewError> {
    let glance = glance(dir)?;
    if glance.claimed.iter().all(Option::is_none) {
        return Ok(Slots::default());
    }
    let Some((current, heads, bytes)) = glance.newest else {
        return read_slots(dir);
    };
    let generation = heads.generation;
    let others_older = glance.claimed.iter().enumerate().all(|(j, claimed)| {
        j == current
            || match claimed {
                None => true,
                Some(None) => false,
                Some(Some((g, ..))) => *g < generation,
            }
    });
    if !others_older {
        return read_slots(dir);
    }
    let boot = arl_io::boot_id();
    let mut out = Slots {
        generation_max: generation,
        bytes,
        ..Slots::default()
    };
    for (j, claimed) in glance.claimed.iter().enumerate() {
        if let Some(Some((g, mark, data))) = *claimed {
            out.slots[j] = Some((g, mark));
            if mark.trusted(boot) && mark.synced && out.checkpoint.is_none_or(|(c, _)| g > c) {
                out.checkpoint = Some((g, data));
            }
        }
    }
    out.checked[current] = true;
    out.current = Some((current, heads));
    Ok(out)
}

/// The generation and mark of the slot file at `path` when it passes its magic, version
/// and checksum; `None` when it is missing or does not (a slot of another version is an
/// error, as in [`read_slots`]).
pub fn check_slot(path: &Path) -> Result<Option<(u64, SlotMark)>, ViewError> {
    let mut buf = Vec::new();
    Ok(scan_slot(path, &mut buf)?
        .flatten()
        .map(|(generation, mark, _)| (generation, mark)))
}

/// The small index every reader loads first: committed lengths, numbering and chain heads.
#[derive(Debug, Clone, Default)]
pub struct Heads {
    /// Counts the slots written: the slot written last has the highest.
    pub generation: u64,
    /// The last seq the views include (every seq 1..=checkpoint is in exactly one file).
    pub checkpoint: u64,
    pub events_len: u64,
    pub txns_len: u64,
    pub txndata_len: u64,
    pub times_len: u64,
    /// Offset + 1 of the newest `person.*`/`reporting.*` record.
    pub org: u64,
    /// The log's committed length (`arl_log::Log::committed_len`) when the views reached
    /// `checkpoint`: a query compares it with the log's ([`arl_log::committed_len_on_disk`])
    /// to tell views behind the log without opening it.
    pub log_len: u64,
    /// Accounts by number (order of first appearance), in chunks its copies share.
    pub accounts: Chunked<AccountHead>,
    /// Persons by number (order of first appearance), in chunks its copies share.
    pub persons: Chunked<PersonHead>,
    /// Account numbers in id order (not stored: sorted when first needed, then kept in
    /// order by the writer).
    pub accounts_order: IdOrder,
    /// Person numbers in id order.
    pub persons_order: IdOrder,
}

/// Heads are equal when what a slot stores of them is: the id orders are derived from the
/// ids, and one may be sorted where the other is not yet.
impl PartialEq for Heads {
    fn eq(&self, other: &Heads) -> bool {
        let fields = |h: &Heads| {
            (
                h.generation,
                h.checkpoint,
                h.events_len,
                h.txns_len,
                h.txndata_len,
                h.times_len,
                h.org,
                h.log_len,
            )
        };
        fields(self) == fields(other)
            && self.accounts == other.accounts
            && self.persons == other.persons
    }
}

impl Eq for Heads {}

impl Heads {
    /// The number of an account ([`IdOrder::find`]).
    pub fn account_number(&self, id: &str) -> Option<u32> {
        self.accounts_order.find(id, &self.accounts, |a| &a.id)
    }

    /// The number of a person.
    pub fn person_number(&self, id: &str) -> Option<u32> {
        self.persons_order.find(id, &self.persons, |p| &p.id)
    }

    /// Account numbers in the order of their ids.
    pub fn accounts_sorted(&self) -> &SortedNumbers {
        self.accounts_order.sorted(&self.accounts, |a| &a.id)
    }

    /// Person numbers in the order of their ids.
    pub fn persons_sorted(&self) -> &SortedNumbers {
        self.persons_order.sorted(&self.persons, |p| &p.id)
    }

    /// Sorts both id orders now, if not yet sorted: before heads are shared by readers
    /// that would each sort their copy.
    pub fn sort_orders(&self) {
        self.accounts_sorted();
        self.persons_sorted();
    }

    /// Account `n`, just pushed, into the id order (when it is sorted; else it is sorted
    /// with the others when first needed).
    pub fn account_added(&mut self, n: u32) {
        self.accounts_order.added(n, &self.accounts, |a| &a.id);
    }

    /// Person `n`, just pushed, into the id order.
    pub fn person_added(&mut self, n: u32) {
        self.persons_order.added(n, &self.persons, |p| &p.id);
    }

    /// The slot bytes with a zero mark (no boot, not a checkpoint).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_slot(SlotMark::default(), &mut out);
        out
    }

    /// The bytes of a slot holding these heads with `mark`, into `out` (cleared first).
    pub fn encode_slot(&self, mark: SlotMark, out: &mut Vec<u8>) {
        // A fresh cache names no buffer: `out` is cleared and encoded afresh.
        self.encode_slot_cached(mark, out, &mut SlotCache::default());
    }

    /// [`Heads::encode_slot`] into `out`, which holds the bytes `cache` was last used for
    /// (or anything else: then everything is encoded afresh): the chunks of entries that
    /// have not changed since (the same shared chunk, see [`Chunked`]) are neither encoded
    /// nor copied nor checksummed again where they lie where they lay, and the checksum is
    /// combined from the kept checksums of the chunks. The bytes are the same either way.
    /// Returns the ranges of `out` that may differ from what it held (a range may end at
    /// `usize::MAX`: everything from its start): a commit changes the header, a few chunks
    /// and, when it adds an entity, what follows the chunk that grew.
    pub fn encode_slot_cached(
        &self,
        mark: SlotMark,
        out: &mut Vec<u8>,
        cache: &mut SlotCache,
    ) -> Vec<std::ops::Range<usize>> {
        if cache.encoded != Some((out.as_ptr() as usize, out.len())) {
            out.clear();
            cache.accounts.clear();
            cache.persons.clear();
        }
        let SlotCache {
            accounts,
            persons,
            tail,
            ..
        } = cache;
        tail.clear();
        let mut header = Vec::with_capacity(HEADS_FIXED_BYTES);
        header.extend_from_slice(&HEADS_MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&self.generation.to_le_bytes());
        header.extend_from_slice(&mark.boot);
        header.push(u8::from(mark.synced));
        for v in [
            self.checkpoint,
            self.events_len,
            self.txns_len,
            self.txndata_len,
            self.times_len,
            self.org,
            self.log_len,
        ] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        header.extend_from_slice(&(self.accounts.len() as u32).to_le_bytes());
        header.extend_from_slice(&(self.persons.len() as u32).to_le_bytes());
        let mut place = Placer {
            out,
            tail,
            at: 0,
            rebuilt_from: None,
            changed: Vec::new(),
            crc: crc32fast::Hasher::new(),
        };
        place.bytes(&header);
        place_chunks(&self.accounts, accounts, &mut place, |a, out| {
            put_id(out, &a.id);
            out.push(u8::from(a.opened));
            for v in [a.chain, a.children, a.txns, a.hierarchy] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        });
        place_chunks(&self.persons, persons, &mut place, |p, out| {
            put_id(out, &p.id);
            out.push(u8::from(p.joined));
            out.extend_from_slice(&p.chain.to_le_bytes());
            out.extend_from_slice(&p.teams.to_le_bytes());
        });
        let sum = place.crc.clone().finalize();
        place.bytes(&sum.to_le_bytes());
        let (end, mut changed) = (place.at, place.changed);
        if let Some(from) = place.rebuilt_from {
            out.truncate(from);
            out.append(tail);
            changed.push(from..usize::MAX);
        }
        out.truncate(end);
        cache.encoded = Some((out.as_ptr() as usize, out.len()));
        changed
    }

    /// Decodes and checks a `heads` file: checksum, ids, sort orders, pointers in range.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Heads, ViewError> {
        let bad = |what: &str| ViewError::corrupt(path, what.to_string());
        if bytes.len() < HEADS_FIXED_BYTES + HEADS_CHECKSUM_BYTES {
            return Err(bad("heads is too short"));
        }
        if bytes[..8] != HEADS_MAGIC {
            return Err(bad("heads does not start with ARLVIEWS"));
        }
        let version = u32_at(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(ViewError::Version {
                path: path.to_path_buf(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let (body, sum) = bytes.split_at(bytes.len() - HEADS_CHECKSUM_BYTES);
        if checksum(&[body]) != u32_at(sum, 0) {
            return Err(bad("heads checksum does not match"));
        }
        if body[36] > 1 {
            return Err(bad("bad checkpoint flag"));
        }
        let mut c = Cursor {
            bytes: body,
            at: 37,
        };
        let mut heads = Heads {
            generation: u64_at(body, 12),
            checkpoint: c.u64().ok_or_else(|| bad("truncated"))?,
            events_len: c.u64().ok_or_else(|| bad("truncated"))?,
            txns_len: c.u64().ok_or_else(|| bad("truncated"))?,
            txndata_len: c.u64().ok_or_else(|| bad("truncated"))?,
            times_len: c.u64().ok_or_else(|| bad("truncated"))?,
            org: c.u64().ok_or_else(|| bad("truncated"))?,
            log_len: c.u64().ok_or_else(|| bad("truncated"))?,
            ..Heads::default()
        };
        let n_accounts = c.u32().ok_or_else(|| bad("truncated"))?;
        let n_persons = c.u32().ok_or_else(|| bad("truncated"))?;
        // Each entry takes at least 10 bytes: a cheap bound before allocating.
        if (u64::from(n_accounts) + u64::from(n_persons)) * 10 > body.len() as u64 {
            return Err(bad("entity counts exceed the file"));
        }
        let text = slot_ids(body, c.at, n_accounts, n_persons).map_err(bad)?;
        let mut next = 0;
        heads.accounts = Chunked::try_from_fn(n_accounts as usize, || {
            Some(AccountHead {
                id: c.id(&text, &mut next)?,
                opened: c.flag()?,
                chain: c.u64()?,
                children: c.u64()?,
                txns: c.u64()?,
                hierarchy: c.u64()?,
            })
        })
        .ok_or_else(|| bad("bad account entry"))?;
        heads.persons = Chunked::try_from_fn(n_persons as usize, || {
            Some(PersonHead {
                id: c.id(&text, &mut next)?,
                joined: c.flag()?,
                chain: c.u64()?,
                teams: c.u64()?,
            })
        })
        .ok_or_else(|| bad("bad person entry"))?;
        if !ids_unique(&heads.accounts, |a| &a.id) {
            return Err(bad("two accounts share an id"));
        }
        if !ids_unique(&heads.persons, |p| &p.id) {
            return Err(bad("two persons share an id"));
        }
        if c.at != body.len() {
            return Err(bad("trailing bytes"));
        }
        heads.check().map_err(|what| bad(&what))?;
        Ok(heads)
    }

    /// Checks what a reader relies on: pointers fall inside the committed lengths, lengths
    /// are whole records (the id orders were made by sorting, with no id twice).
    fn check(&self) -> Result<(), String> {
        if !self.txns_len.is_multiple_of(TXN_RECORD_BYTES)
            || self.times_len != self.checkpoint * TIME_BYTES
        {
            return Err("file lengths do not match the record sizes".into());
        }
        let events_ok = |p: u64| p <= self.events_len;
        let txns_ok = |p: u64| p <= self.txns_len / TXN_RECORD_BYTES;
        let accounts_ok = self.accounts.iter().all(|a| {
            events_ok(a.chain) && events_ok(a.children) && txns_ok(a.txns) && events_ok(a.hierarchy)
        });
        let persons_ok = self
            .persons
            .iter()
            .all(|p| events_ok(p.chain) && events_ok(p.teams));
        if !(accounts_ok && persons_ok && events_ok(self.org)) {
            return Err("a chain head points beyond the committed length".into());
        }
        Ok(())
    }
}

/// The numbers `0..count` in the order of their ids; `None` when two share an id.
fn sort_by_id<'a>(count: usize, id: impl Fn(usize) -> &'a str) -> Option<SortedNumbers> {
    let (numbers, twice) = numbers_by_id(count, id);
    (!twice).then(|| SortedNumbers::from_sorted(&numbers))
}

/// The numbers `0..count` in the order of their ids (two of one id next to each other),
/// and whether two share an id.
///
/// Each number is sorted as one `u128`: the first 12 bytes of its id (zero-padded: ids hold
/// no zero byte, so the padded prefixes order as the ids do) above the number, and the ids
/// themselves are compared only where two prefixes are equal (comparing through the
/// entries was about half of sorting a slot's entities at 4M events). One `u128` a number,
/// where a pair of a 16-byte prefix and the number took 32 bytes.
fn numbers_by_id<'a>(count: usize, id: impl Fn(usize) -> &'a str) -> (Vec<u32>, bool) {
    const PREFIX: usize = 12;
    let key = |n: usize| {
        let mut head = [0u8; 16];
        let bytes = id(n).as_bytes();
        let len = bytes.len().min(PREFIX);
        head[..len].copy_from_slice(&bytes[..len]);
        head[PREFIX..].copy_from_slice(&(n as u32).to_be_bytes());
        u128::from_be_bytes(head)
    };
    let number = |key: u128| key as u32 as usize;
    let prefix = |key: u128| key >> 32;
    let mut keyed: Vec<u128> = (0..count).map(key).collect();
    // By prefix (and number) as plain integers, then each run of one prefix by its ids.
    keyed.sort_unstable();
    let mut twice = false;
    for run in keyed.chunk_by_mut(|a, b| prefix(*a) == prefix(*b)) {
        if run.len() > 1 {
            run.sort_unstable_by(|&a, &b| id(number(a)).cmp(id(number(b))));
            twice |= run
                .windows(2)
                .any(|pair| id(number(pair[0])) == id(number(pair[1])));
        }
    }
    let numbers: Vec<u32> = keyed.into_iter().map(|key| key as u32).collect();
    (numbers, twice)
}

/// Whether no two entries share an id: the 64-bit hashes of the ids, sorted as plain
/// integers, differ from one to the next; where two are equal (two ids, or a collision),
/// the ids themselves are sorted and compared ([`sort_by_id`]). What decoding a slot
/// checks, at a fraction of the cost of sorting the ids (at 4M generated events, 16,265
/// entities, sorting them was about a tenth of a one-event append process).
fn ids_unique<T: Clone>(entries: &Chunked<T>, id: impl Fn(&T) -> &str) -> bool {
    let mut hashes: Vec<u64> = Vec::with_capacity(entries.len());
    hashes.extend(entries.iter().map(|e| id_hash(id(e).as_bytes())));
    hashes.sort_unstable();
    if hashes.windows(2).all(|pair| pair[0] != pair[1]) {
        return true;
    }
    sort_by_id(entries.len(), |n| id(&entries[n])).is_some()
}

/// A 64-bit hash of an id's bytes, eight at a time (not for untrusted keys: a slot's ids
/// were checked by its writer, and collisions cost only time). Not [`txn_id_hash`], which
/// takes a byte at a time, each step waiting on the one before, and is persisted as it is.
fn id_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = K ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = (hash ^ u64::from_le_bytes(word)).wrapping_mul(K);
        hash ^= hash >> 29;
    }
    hash.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (hash >> 32)
}

/// Lookups an [`IdOrder`] answers by going through the ids before it sorts them: about as
/// many as cost what the sort does (at 4M generated events, 13,331 accounts, a pass that
/// finds nothing took 18–20 µs, sorting the accounts and the persons 0.6–0.75 ms), so
/// that a process never pays much more than twice the cheaper of the two.
const PASSES_BEFORE_SORT: u32 = 24;

/// Entity numbers in the order of their ids, sorted when first needed rather than when a
/// slot is decoded. A process that looks up a few ids (a one-event append, a card query)
/// finds each in one pass over the ids and never sorts them. The lookup after
/// [`PASSES_BEFORE_SORT`] sorts, and so does anything that needs the order itself (listing ids).
/// Once sorted, the writer keeps it in order as it numbers new ids ([`IdOrder::added`]).
#[derive(Default)]
pub struct IdOrder {
    sorted: std::sync::OnceLock<SortedNumbers>,
    passes: std::sync::atomic::AtomicU32,
}

impl IdOrder {
    /// The number of the entry whose id is `key`: by one pass over `entries` while passes
    /// are few and the order is not sorted, else by binary search in the order.
    pub fn find<T: Clone>(
        &self,
        key: &str,
        entries: &Chunked<T>,
        id: impl Fn(&T) -> &str,
    ) -> Option<u32> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.sorted.get().is_none() && self.passes.fetch_add(1, Relaxed) < PASSES_BEFORE_SORT {
            return (entries.iter().position(|e| id(e) == key)).map(|n| n as u32);
        }
        let sorted = self.sorted(entries, &id);
        sorted.find(key, |n| id(&entries[n as usize]))
    }

    /// The order, sorted now if it was not. Two entries of one id, which decoding refuses
    /// and no writer makes, would be left next to each other.
    pub fn sorted<T: Clone>(
        &self,
        entries: &Chunked<T>,
        id: impl Fn(&T) -> &str,
    ) -> &SortedNumbers {
        self.sorted.get_or_init(|| {
            let (numbers, _) = numbers_by_id(entries.len(), |n| id(&entries[n]));
            SortedNumbers::from_sorted(&numbers)
        })
    }

    /// Entry `n`, just pushed to `entries`, into the order when it is sorted.
    pub fn added<T: Clone>(&mut self, n: u32, entries: &Chunked<T>, id: impl Fn(&T) -> &str) {
        if let Some(sorted) = self.sorted.get_mut() {
            sorted.insert(n, id(&entries[n as usize]), |m| id(&entries[m as usize]));
        }
    }
}

impl Clone for IdOrder {
    fn clone(&self) -> IdOrder {
        use std::sync::atomic::Ordering::Relaxed;
        IdOrder {
            sorted: self.sorted.clone(),
            passes: self.passes.load(Relaxed).into(),
        }
    }
}

impl std::fmt::Debug for IdOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.sorted.get() {
            Some(sorted) => sorted.fmt(f),
            None => f.write_str("(not sorted)"),
        }
    }
}

/// Where the chunks of heads entries a writer encoded last lie in the slot bytes it encoded
/// them into, each with the chunk it encoded (held, so that no other chunk can take its
/// address while it is kept) and the checksum of its bytes. The bytes themselves are the
/// slot bytes': a chunk kept where it lay is left alone, one that moved is copied from
/// where it lay.
#[derive(Debug, Default)]
pub struct SlotCache {
    accounts: Vec<EncodedChunk<AccountHead>>,
    persons: Vec<EncodedChunk<PersonHead>>,
    /// The buffer the last encoding went into (its address and length): the offsets above
    /// describe its bytes only while it is that buffer, as that encoding left it.
    encoded: Option<(usize, usize)>,
    /// Room for the part of a slot laid out anew (reused from one encoding to the next).
    tail: Vec<u8>,
}

impl SlotCache {
    /// The cache of the slot `bytes` that [`Heads::decode`] made `heads` of, as if `heads`
    /// had been encoded into them: a writer that opens the views encodes its first commit
    /// over the slot it read, so that only the chunks the commit changes are encoded and
    /// checksummed again (at 4M events a slot is about 740 KB, and encoding it whole was
    /// a tenth of a one-event append process). An empty cache (everything encoded afresh)
    /// when the entries do not fill `bytes` exactly.
    pub fn of_slot(heads: &Heads, bytes: &[u8]) -> SlotCache {
        fn section<T>(
            chunks: &[Arc<Vec<T>>],
            size: impl Fn(&T) -> usize,
            bytes: &[u8],
            at: &mut usize,
        ) -> Option<Vec<EncodedChunk<T>>> {
            let mut run = crc32fast::Hasher::new();
            let mut out = Vec::with_capacity(chunks.len());
            for chunk in chunks {
                let len: usize = chunk.iter().map(&size).sum();
                let piece = bytes.get(*at..at.checked_add(len)?)?;
                run.update(piece);
                out.push(EncodedChunk {
                    chunk: chunk.clone(),
                    len,
                    crc: checksum(&[piece]),
                    shift: None,
                    run: run.clone().finalize(),
                    at: *at,
                });
                *at += len;
            }
            Some(out)
        }
        let mut at = HEADS_FIXED_BYTES;
        let accounts = section(
            heads.accounts.chunks(),
            |a: &AccountHead| a.id.len() + ACCOUNT_ENTRY_FIXED,
            bytes,
            &mut at,
        );
        let persons = section(
            heads.persons.chunks(),
            |p: &PersonHead| p.id.len() + PERSON_ENTRY_FIXED,
            bytes,
            &mut at,
        );
        match (accounts, persons) {
            (Some(accounts), Some(persons)) if at + HEADS_CHECKSUM_BYTES == bytes.len() => {
                SlotCache {
                    accounts,
                    persons,
                    encoded: Some((bytes.as_ptr() as usize, bytes.len())),
                    tail: Vec::new(),
                }
            }
            _ => SlotCache::default(),
        }
    }
}

/// Bytes of an account entry besides its id: the id's length, the flags, four chain heads.
const ACCOUNT_ENTRY_FIXED: usize = 1 + 1 + 4 * 8;

/// Bytes of a person entry besides its id: the id's length, the flags, two chain heads.
const PERSON_ENTRY_FIXED: usize = 1 + 1 + 2 * 8;

#[derive(Debug)]
struct EncodedChunk<T> {
    chunk: Arc<Vec<T>>,
    /// The length of its bytes.
    len: usize,
    /// The CRC-32 of its bytes alone.
    crc: u32,
    /// [`crc_shift`] of its length, once a commit needed it to combine `crc`.
    shift: Option<u32>,
    /// The CRC-32 of the bytes of this chunk and of every chunk before it in its table.
    run: u32,
    /// Where its bytes lie in the slot bytes encoded last.
    at: usize,
}

/// Lays out the bytes of a slot over the bytes of the one encoded before it: the same
/// bytes at the same place are left alone, other bytes of the same length at the same
/// place written over in place, and from the first piece whose length or place differs on
/// everything is laid out anew in `tail`, which replaces the end of `out` only when all is
/// placed (until then `out` holds every byte of the slot before, for the kept chunks that
/// moved to be copied from).
struct Placer<'a> {
    out: &'a mut Vec<u8>,
    tail: &'a mut Vec<u8>,
    at: usize,
    /// Where the part laid out anew starts.
    rebuilt_from: Option<usize>,
    /// Ranges written in place.
    changed: Vec<std::ops::Range<usize>>,
    /// The checksum of everything placed so far.
    crc: crc32fast::Hasher,
}

impl Placer<'_> {
    /// Places `bytes` at the current offset, compared with what lies there.
    fn bytes(&mut self, bytes: &[u8]) {
        self.crc.update(bytes);
        self.put(bytes);
    }

    /// Places `bytes` (their checksum is the caller's) at the current offset, compared
    /// with what lies there.
    fn put(&mut self, bytes: &[u8]) {
        let range = self.at..self.at + bytes.len();
        self.at = range.end;
        if self.rebuilt_from.is_some() {
            self.tail.extend_from_slice(bytes);
            return;
        }
        match self.out.get_mut(range.clone()) {
            Some(old) if old == bytes => {}
            Some(old) => {
                old.copy_from_slice(bytes);
                self.changed.push(range);
            }
            None => {
                self.rebuilt_from = Some(range.start);
                self.tail.extend_from_slice(bytes);
            }
        }
    }

    /// Places the `len` bytes that lay at `from` in the slot encoded before: left alone
    /// where they are (then `from` is the current offset), copied when the part laid out
    /// anew started before them.
    fn keep(&mut self, from: usize, len: usize) {
        debug_assert!(self.rebuilt_from.is_some() || from == self.at);
        self.at += len;
        if self.rebuilt_from.is_some() {
            self.tail.extend_from_slice(&self.out[from..from + len]);
        }
    }

    /// Starts the part laid out anew here, unless it has started.
    fn rebuild(&mut self) {
        if self.rebuilt_from.is_none() {
            self.rebuilt_from = Some(self.at);
        }
    }
}

/// Places the encoding of every entry of `entries`, chunk by chunk: a chunk that is the
/// very one `cache` holds keeps its bytes and checksum (and is left alone where it lies
/// where it lay), any other is encoded and its place kept.
fn place_chunks<T: Clone>(
    entries: &Chunked<T>,
    cache: &mut Vec<EncodedChunk<T>>,
    place: &mut Placer,
    encode: impl Fn(&T, &mut Vec<u8>),
) {
    cache.truncate(entries.chunks().len());
    // The checksum of the section's bytes so far (of none: 0); while every chunk so far is
    // the one kept, it is the one kept with the last of them (no combining).
    let mut section = 0u32;
    let mut section_len = 0u64;
    let mut all_kept = true;
    let mut bytes = Vec::new();
    for (i, chunk) in entries.chunks().iter().enumerate() {
        let at = place.at;
        if let Some(kept) = cache.get_mut(i) {
            if Arc::ptr_eq(&kept.chunk, chunk) {
                section_len += kept.len as u64;
                if all_kept {
                    section = kept.run;
                } else {
                    let shift = *kept.shift.get_or_insert_with(|| crc_shift(kept.len as u64));
                    section = crc_concat(section, kept.crc, shift);
                    kept.run = section;
                }
                if kept.at != at {
                    place.rebuild();
                }
                place.keep(kept.at, kept.len);
                kept.at = at;
                continue;
            }
        }
        all_kept = false;
        bytes.clear();
        for entry in chunk.iter() {
            encode(entry, &mut bytes);
        }
        let same_place = cache
            .get(i)
            .is_some_and(|kept| kept.at == at && kept.len == bytes.len());
        if !same_place {
            place.rebuild();
        }
        let crc = checksum(&[&bytes]);
        let shift = crc_shift(bytes.len() as u64);
        section_len += bytes.len() as u64;
        section = crc_concat(section, crc, shift);
        place.put(&bytes);
        let fresh = EncodedChunk {
            chunk: chunk.clone(),
            len: bytes.len(),
            crc,
            shift: Some(shift),
            run: section,
            at,
        };
        match cache.get_mut(i) {
            Some(slot) => *slot = fresh,
            None => cache.push(fresh),
        }
    }
    place.crc.combine(&crc32fast::Hasher::new_with_initial_len(
        section,
        section_len,
    ));
}

fn put_id(out: &mut Vec<u8>, id: &str) {
    // Ids are checked against ID_BYTES_MAX before they enter the tables.
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64_at(b, 0))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32_at(b, 0))
    }
    fn flag(&mut self) -> Option<bool> {
        match self.take(1)?[0] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    /// The next id, at `next` in `text`, the slot's ids ([`slot_ids`]), in the order they
    /// lie in it (so, the bytes at the cursor); `next` moves past it.
    fn id(&mut self, text: &Arc<String>, next: &mut u32) -> Option<HeadId> {
        let len = self.take(1)?[0];
        self.take(usize::from(len))?;
        let start = *next;
        *next = start.checked_add(u32::from(len))?;
        Some(HeadId {
            text: text.clone(),
            start,
            end: *next,
        })
    }
}

/// The ids of a slot's entries, one after the other, each checked to be an id: the
/// entries start at `at` in `body`, `accounts` of them, then `persons`.
fn slot_ids(
    body: &[u8],
    at: usize,
    accounts: u32,
    persons: u32,
) -> Result<Arc<String>, &'static str> {
    let mut c = Cursor { bytes: body, at };
    // The entries' bytes less their fixed parts: the ids' bytes when the slot is whole
    // (the string is then allocated once at its size), at most the slot's bytes otherwise.
    let fixed = u64::from(accounts) * ACCOUNT_ENTRY_FIXED as u64
        + u64::from(persons) * PERSON_ENTRY_FIXED as u64;
    let ids = (body.len().saturating_sub(at) as u64).saturating_sub(fixed);
    let mut text = String::with_capacity(ids as usize);
    let mut entries = |count: u32, fixed: usize, what: &'static str| {
        for _ in 0..count {
            let len = c.take(1).ok_or(what)?[0];
            let id = c.take(usize::from(len)).ok_or(what)?;
            if !is_valid_id_bytes(id) {
                return Err(what);
            }
            text.push_str(ascii_text(id));
            c.take(fixed - 1).ok_or(what)?;
        }
        Ok(())
    };
    entries(accounts, ACCOUNT_ENTRY_FIXED, "bad account entry")?;
    entries(persons, PERSON_ENTRY_FIXED, "bad person entry")?;
    if u32::try_from(text.len()).is_err() {
        return Err("ids exceed the file");
    }
    Ok(Arc::new(text))
}

/// The text of `bytes` checked to be those of a valid id ([`is_valid_id_bytes`]): a slot
/// holds one id per entity (16,265 at 4M generated events), each checked as an id when it
/// is decoded, and checking them as UTF-8 again was a third of decoding them.
#[allow(
    unsafe_code,
    reason = "UTF-8 is not checked again where the id check has just passed"
)]
fn ascii_text(bytes: &[u8]) -> &str {
    assert!(bytes.is_ascii(), "only checked ids are taken as text");
    // SAFETY: ASCII bytes are UTF-8 (asserted above; the callers checked them as an id,
    // whose characters are all ASCII).
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// The checksum that ends a `heads` slot, over every byte before it (for tools that fix
/// up a changed slot, like the fuzz targets).
pub fn heads_checksum(body: &[u8]) -> u32 {
    checksum(&[body])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_concatenated_are_the_checksum_of_the_bytes_concatenated() {
        let mut rng = arl_gen::rng::Rng::new(31);
        let mut lens: Vec<usize> = vec![0, 1, 2, 3, 4, 7, 8, 15, 16, 63, 64, 4095, 4096];
        lens.extend((0..200).map(|_| rng.below(20_000) as usize));
        for len in lens {
            let first: Vec<u8> = (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect();
            let second: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let whole = checksum(&[&first, &second]);
            let concat = crc_concat(
                checksum(&[&first]),
                checksum(&[&second]),
                crc_shift(len as u64),
            );
            assert_eq!(concat, whole, "{} then {len} bytes", first.len());
        }
        // Lengths past what a slot holds combine as crc32fast's own combination does.
        for len in [1u64 << 20, (1 << 32) + 5, u64::MAX >> 1] {
            let (a, b) = (rng.next_u64() as u32, rng.next_u64() as u32);
            let mut theirs = crc32fast::Hasher::new_with_initial_len(a, 0);
            theirs.combine(&crc32fast::Hasher::new_with_initial_len(b, len));
            assert_eq!(crc_concat(a, b, crc_shift(len)), theirs.finalize(), "{len}");
        }
    }

    /// The first lookups go through the ids, the next one sorts them; an id added before
    /// the sort is sorted with the others, one added after is put in order; both find
    /// every id and list them in order, as a copy of heads does.
    #[test]
    fn ids_are_found_before_and_after_their_order_is_sorted() {
        let ids: Vec<String> = (0..1000u32)
            .map(|k| format!("acct-{:04}", k * 7919 % 1000))
            .collect();
        let mut heads = Heads::default();
        for id in &ids {
            heads.accounts.push(AccountHead::opened(id));
        }
        let mut unsorted = heads.clone();
        let is_sorted = |h: &Heads| h.accounts_order.sorted.get().is_some();
        for k in 0..PASSES_BEFORE_SORT as usize {
            let n = k * 97 % ids.len();
            assert_eq!(heads.account_number(&ids[n]), Some(n as u32));
            assert!(!is_sorted(&heads), "lookup {k} went through the ids");
        }
        assert_eq!(heads.account_number("acct-1000"), None);
        assert!(is_sorted(&heads), "the lookup after them sorted");
        assert!(
            !is_sorted(&unsorted),
            "a copy made before has its own order"
        );

        for h in [&mut heads, &mut unsorted] {
            h.accounts.push(AccountHead::opened("acct-0500x"));
            h.account_added(1000);
        }
        assert!(!is_sorted(&unsorted), "adding does not sort");
        let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
        want.push("acct-0500x");
        want.sort_unstable();
        for h in [&heads, &unsorted] {
            let listed: Vec<&str> = h
                .accounts_sorted()
                .iter()
                .map(|n| &*h.accounts[n as usize].id)
                .collect();
            assert_eq!(listed, want);
            assert!(is_sorted(h));
            for (n, id) in ids.iter().enumerate() {
                assert_eq!(h.account_number(id), Some(n as u32));
            }
            assert_eq!(h.account_number("acct-0500x"), Some(1000));
            assert_eq!(h.account_number("acct-05000"), None);
        }
        assert_eq!(heads, unsorted);
    }

    #[test]
    fn ids_sort_as_strings_whatever_their_first_sixteen_bytes() {
        // Ids shorter than the prefix, prefixes of each other, and ids that differ only
        // past their sixteenth byte, in a scrambled order.
        let mut ids: Vec<Arc<str>> = Vec::new();
        for stem in [
            "a",
            "ab",
            "abc",
            "magrizen-xx-d4",
            "magrizen-xx-d49",
            "magrizen-xx-d49z",
        ] {
            ids.push(stem.into());
        }
        for k in [9, 10, 100, 2, 11, 1] {
            ids.push(format!("a-very-long-account-{k}").into());
            ids.push(format!("a-very-long-account-{k}-sub").into());
        }
        ids.push("0".into());
        ids.push("zz".into());
        ids.reverse();
        ids.swap(2, 9);
        let sorted = sort_by_id(ids.len(), |n| &*ids[n]).expect("no id twice");
        let got: Vec<&str> = sorted.iter().map(|n| &*ids[n as usize]).collect();
        let mut want: Vec<&str> = ids.iter().map(|id| &**id).collect();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(sorted.len(), ids.len());

        // The same id twice is found, past the prefix or within it.
        for twice in ["a-very-long-account-10-sub", "ab"] {
            let mut with_twice = ids.clone();
            with_twice.push(twice.into());
            assert!(
                sort_by_id(with_twice.len(), |n| &*with_twice[n]).is_none(),
                "{twice}"
            );
        }
    }

    #[test]
    fn a_newest_slot_that_does_not_decode_falls_back_to_the_next() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let checkpoint = SlotMark {
            boot: [0; 16],
            synced: true,
        };
        let write = |slot: usize, heads: &Heads| {
            let mut bytes = Vec::new();
            heads.encode_slot(checkpoint, &mut bytes);
            std::fs::write(dir.path().join(HEADS_FILES[slot]), bytes).expect("written");
        };
        let mut good = Heads {
            generation: 5,
            ..Heads::default()
        };
        good.accounts.push(AccountHead::opened("acme"));
        write(1, &good);
        let older = Heads {
            generation: 4,
            ..Heads::default()
        };
        write(3, &older);
        // Newer, and passing its checksum, but naming one account twice.
        let mut twice = good.clone();
        twice.generation = 7;
        twice.accounts.push(AccountHead::opened("acme"));
        write(2, &twice);

        let slots = read_slots(dir.path()).expect("a slot decodes");
        let (at, heads) = slots.current.expect("a current slot");
        assert_eq!((at, heads.generation), (1, 5));
        assert_eq!(heads.account_number("acme"), Some(0));
        assert_eq!(slots.slots[2], None, "the slot that does not decode");
        assert_eq!(slots.slots[3].map(|(g, _)| g), Some(4));
        assert_eq!(slots.generation_max, 7);
        assert!(slots.fell_back);

        // With no slot that decodes, the error names why.
        std::fs::remove_file(dir.path().join(HEADS_FILES[1])).expect("removed");
        std::fs::remove_file(dir.path().join(HEADS_FILES[3])).expect("removed");
        let err = read_slots(dir.path()).expect_err("no slot decodes");
        assert!(err.to_string().contains("share an id"), "{err}");
    }

    /// Writes the four slots of `dir`, each in one of nine states drawn from `rng`:
    /// missing (0), a checkpoint (1), a commit of this boot (2), a commit of another boot
    /// (3), torn (4: checksum), cut short (5), of another version (6), passing its checksum
    /// but naming an account twice (7), or a damaged header claiming to be newer (8), with
    /// a generation from 1 to 6. Returns each slot's state and generation.
    fn write_random_slots(dir: &Path, rng: &mut arl_gen::rng::Rng) -> [(u64, u64); 4] {
        let this_boot = arl_io::boot_id();
        let heads_of = |generation: u64, twice: bool| {
            let mut heads = Heads {
                generation,
                log_len: generation * 10,
                ..Heads::default()
            };
            for id in ["acme", "globex"]
                .into_iter()
                .chain(twice.then_some("acme"))
            {
                heads.accounts.push(AccountHead::opened(id));
            }
            heads
        };
        let mut drawn = [(0, 0); 4];
        for (i, name) in HEADS_FILES.iter().enumerate() {
            let path = dir.join(name);
            let _ = std::fs::remove_file(&path);
            let state = rng.next_u64() % 9;
            let generation = 1 + rng.next_u64() % 6;
            drawn[i] = (state, generation);
            let mut mark = SlotMark {
                boot: this_boot.unwrap_or([5; 16]),
                synced: state == 1,
            };
            if state == 3 {
                mark.boot = [9; 16];
            }
            let mut bytes = Vec::new();
            heads_of(generation, state == 7).encode_slot(mark, &mut bytes);
            match state {
                0 => continue,
                4 => {
                    let at = bytes.len() - 10;
                    bytes[at] ^= 0x40;
                }
                5 => bytes.truncate(50),
                6 => {
                    bytes[8..12].copy_from_slice(&(FORMAT_VERSION - 1).to_le_bytes());
                    let body = bytes.len() - HEADS_CHECKSUM_BYTES;
                    let sum = checksum(&[&bytes[..body]]);
                    bytes[body..].copy_from_slice(&sum.to_le_bytes());
                }
                8 => bytes[12..20].copy_from_slice(&(100 + i as u64).to_le_bytes()),
                _ => {}
            }
            std::fs::write(&path, bytes).expect("written");
        }
        drawn
    }

    #[test]
    fn heads_read_alone_are_the_slot_all_four_checked_choose() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut rng = arl_gen::rng::Rng::new(11);
        let mut chosen = 0;
        for round in 0..600 {
            write_random_slots(dir.path(), &mut rng);
            let all = read_slots(dir.path()).map(|slots| slots.current.map(|(_, h)| h));
            let alone = read_heads(dir.path());
            match (&all, &alone) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "round {round}");
                    chosen += usize::from(a.is_some());
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "round {round}"),
                _ => panic!("round {round}: {all:?} against {alone:?}"),
            }
        }
        assert!(chosen > 100, "{chosen} rounds chose a slot");
    }

    /// A writer's open that checks the current slot alone finds what the check of all four
    /// finds: the same current slot, heads, bytes and generations, and the same fall-back
    /// and checkpoint, except where an older slot is torn past its header (state 4, older
    /// than the current one): that one is taken for the generation it claims, and left
    /// unchecked, for the writer to check before it chooses a checkpoint slot.
    #[test]
    fn a_writer_checking_the_current_slot_alone_finds_what_all_four_checked_find() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut rng = arl_gen::rng::Rng::new(12);
        let (mut quick, mut torn_older) = (0, 0);
        for round in 0..1000 {
            let drawn = write_random_slots(dir.path(), &mut rng);
            let (all, alone) = match (read_slots(dir.path()), read_slots_quick(dir.path())) {
                (Ok(all), Ok(alone)) => (all, alone),
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "round {round}");
                    continue;
                }
                (all, alone) => panic!("round {round}: {all:?} against {alone:?}"),
            };
            let current = |s: &Slots| s.current.as_ref().map(|(i, h)| (*i, h.clone()));
            assert_eq!(current(&all), current(&alone), "round {round}");
            assert_eq!(all.generation_max, alone.generation_max, "round {round}");
            assert_eq!(all.bytes, alone.bytes, "round {round}");
            let checked_alone = (0..4).any(|j| drawn[j].0 != 0 && !alone.checked[j]);
            quick += usize::from(checked_alone);
            let generation = all.current.as_ref().map_or(0, |(_, h)| h.generation);
            let torn = drawn.iter().any(|&(state, g)| state == 4 && g < generation);
            if torn {
                torn_older += 1;
                assert!(all.fell_back, "round {round}");
                continue;
            }
            assert_eq!(all.slots, alone.slots, "round {round}");
            assert_eq!(all.fell_back, alone.fell_back, "round {round}");
            assert_eq!(all.checkpoint, alone.checkpoint, "round {round}");
            if checked_alone {
                // A slot taken at its word is one the full check found valid.
                for (j, (state, _)) in drawn.iter().enumerate() {
                    assert!(
                        alone.checked[j] || *state == 0 || all.slots[j].is_some(),
                        "round {round}: slot {j}"
                    );
                }
            }
        }
        assert!(quick > 30, "{quick} rounds checked the current slot alone");
        assert!(
            torn_older > 20,
            "{torn_older} rounds with an older torn slot"
        );
    }

    #[test]
    fn a_slot_checked_as_it_is_read_is_judged_as_one_read_whole() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("slot");
        let mut heads = Heads {
            generation: 9,
            checkpoint: 3,
            ..Heads::default()
        };
        for k in 0..40 {
            heads
                .accounts
                .push(AccountHead::opened(&format!("account-{k}")));
        }
        let mark = SlotMark {
            boot: [7; 16],
            synced: true,
        };
        let mut slot = Vec::new();
        heads.encode_slot(mark, &mut slot);
        let mut cases: Vec<Vec<u8>> = vec![slot.clone(), Vec::new(), vec![1, 2, 3]];
        for len in [1, 3, 4, 5, 100, 101, 104, 105, slot.len() - 1] {
            cases.push(slot[..len].to_vec());
        }
        let mut longer = slot.clone();
        longer.push(0);
        cases.push(longer);
        for at in [
            0,
            8,
            12,
            20,
            36,
            45,
            100,
            101,
            slot.len() / 2,
            slot.len() - 4,
            slot.len() - 1,
        ] {
            let mut damaged = slot.clone();
            damaged[at] ^= 0x10;
            cases.push(damaged);
        }
        let mut other_version = slot.clone();
        other_version[8] ^= 1;
        cases.push(other_version);
        for bytes in &cases {
            std::fs::write(&path, bytes).expect("written");
            let whole = slot_prefix(bytes, &path);
            for step in [1, 2, 3, 5, 7, 64, 0] {
                let mut buf = vec![0u8; step];
                let scanned = scan_slot(&path, &mut buf).map(|o| o.expect("the file is there"));
                match (&whole, scanned) {
                    (Ok(whole), Ok(scanned)) => {
                        assert_eq!(*whole, scanned, "{} bytes", bytes.len());
                    }
                    (Err(ViewError::Version { .. }), Err(ViewError::Version { .. })) => {}
                    (whole, scanned) => panic!("{whole:?} against {scanned:?}"),
                }
            }
        }
        assert_eq!(
            slot_prefix(&slot, &path)
                .expect("valid")
                .map(|(g, m, _)| (g, m)),
            Some((9, mark))
        );
        std::fs::remove_file(&path).expect("removed");
        assert!(scan_slot(&path, &mut Vec::new())
            .expect("no file")
            .is_none());
    }

    #[test]
    fn kinds_cover_the_catalogue() {
        for kind in arl_domain::EVENT_TYPES {
            let code = kind_code(kind).expect("every kind has a code");
            assert_eq!(kind_name(code), Some(*kind));
        }
        assert_eq!(kind_name(17), None);
        assert_eq!(kind_name(KIND_TXN_RECORDED), Some("transaction.recorded"));
        assert_eq!(kind_name(KIND_TXN_REVERSED), Some("transaction.reversed"));
    }

    #[test]
    fn records_round_trip() {
        let h = EventHeader {
            data_len: 7,
            seq: 9,
            effective_at: -5,
            recorded_at: 1 << 50,
            kind: 3,
            prev1: 11,
            prev2: 0,
            prev3: 9,
        };
        let mut out = Vec::new();
        h.encode(b"{\"a\":1}", &mut out);
        assert_eq!(out.len() as u64, EVENT_HEADER_BYTES + 7);
        assert!(event_record_ok(&out));
        let bytes: [u8; EVENT_HEADER_BYTES as usize] =
            out[..EVENT_HEADER_BYTES as usize].try_into().unwrap();
        assert_eq!(EventHeader::decode(&bytes), h);
        for bit in 0..out.len() * 8 {
            let mut damaged = out.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(!event_record_ok(&damaged), "bit {bit}");
        }
        let t = TxnRecord {
            seq: 1,
            effective_at: 2,
            recorded_at: 3,
            amount_minor: -4,
            prev: 5,
            data_offset: 6,
            data_len: 7,
            account: 8,
            kind: 1,
            flags: TXN_FLAG_REVERSAL,
            currency: *b"EUR",
        };
        let mut out = Vec::new();
        t.encode(&mut out);
        assert_eq!(out.len() as u64, TXN_RECORD_BYTES);
        let bytes: [u8; TXN_RECORD_BYTES as usize] = out.try_into().unwrap();
        assert!(txn_record_ok(&bytes));
        assert_eq!(TxnRecord::decode(&bytes), t);
        assert!(t.is_reversal());
        assert_eq!(t.event_kind(), KIND_TXN_REVERSED);
        let recorded = TxnRecord { flags: 0, ..t };
        assert!(!recorded.is_reversal());
        assert_eq!(recorded.event_kind(), KIND_TXN_RECORDED);
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(!txn_record_ok(&damaged), "bit {bit}");
        }
        let entry = encode_time(7, -3);
        assert_eq!(decode_time(7, &entry), Some(-3));
        assert_eq!(decode_time(8, &entry), None);
    }

    #[test]
    fn a_slot_encoded_with_kept_chunks_is_the_slot_encoded_afresh() {
        let account = |n: u64| AccountHead {
            id: format!("account-{n:05}").into(),
            opened: !n.is_multiple_of(3),
            chain: n * 7,
            children: n,
            txns: n * 2,
            hierarchy: n + 1,
        };
        let person = |n: u64| PersonHead {
            id: format!("p{n:05}").into(),
            joined: true,
            chain: n * 5,
            teams: n * 11,
        };
        let mut heads = Heads {
            accounts: (0..300).map(account).collect(),
            persons: (0..1000).map(person).collect(),
            events_len: 1 << 30,
            txns_len: TXN_RECORD_BYTES << 20,
            ..Heads::default()
        };
        let mark = SlotMark {
            boot: [3; 16],
            synced: false,
        };
        let mut cache = SlotCache::default();
        let (mut cached, mut fresh) = (Vec::new(), Vec::new());
        for round in 0..5u64 {
            // A commit changes a few entries (copying their chunks) and adds some.
            let previous = heads.clone();
            heads.generation += 1;
            heads.accounts[(round * 97 % 300) as usize].chain += 1;
            heads.persons[(round * 331 % 1000) as usize].teams += 1;
            heads.persons.push(person(1000 + round));
            if round == 3 {
                heads.accounts.push(account(300));
            }
            let before = cached.clone();
            let changed = heads.encode_slot_cached(mark, &mut cached, &mut cache);
            heads.encode_slot(mark, &mut fresh);
            assert_eq!(cached, fresh, "round {round}");
            // Outside the ranges said changed, the bytes are the ones encoded before.
            for (i, byte) in cached.iter().enumerate() {
                if !changed.iter().any(|r| r.contains(&i)) {
                    assert_eq!(before.get(i), Some(byte), "round {round}: byte {i}");
                }
            }
            if round > 0 && round != 3 {
                // Only the persons table grew: what is rebuilt starts past the accounts'
                // table, of which one changed chunk was written in place.
                let accounts_end = HEADS_FIXED_BYTES
                    + heads
                        .accounts
                        .iter()
                        .map(|a| a.id.len() + 34)
                        .sum::<usize>();
                let rebuilt = changed.iter().find(|r| r.end == usize::MAX);
                assert!(
                    rebuilt.is_some_and(|r| r.start >= accounts_end),
                    "round {round}: {changed:?}"
                );
                let in_place: usize = changed
                    .iter()
                    .filter(|r| r.end < accounts_end)
                    .map(|r| r.end - r.start)
                    .sum();
                assert!(in_place < 7_000, "round {round}: {changed:?}");
            }
            drop(previous);
        }
        // A commit that adds nothing writes the header, the changed chunk and the checksum.
        heads.generation += 1;
        heads.accounts[7].chain += 1;
        let changed = heads.encode_slot_cached(mark, &mut cached, &mut cache);
        heads.encode_slot(mark, &mut fresh);
        assert_eq!(cached, fresh);
        let written: usize = changed
            .iter()
            .map(|r| r.end.min(cached.len()) - r.start)
            .sum();
        assert!(
            written < 8_000,
            "{written} of {} bytes: {changed:?}",
            cached.len()
        );
        let decoded = Heads::decode(&cached, Path::new("heads.0")).unwrap();
        assert_eq!(decoded, heads);
        // A cache used for other heads (a smaller table) gives their bytes too.
        let small = Heads {
            accounts: (0..2).map(account).collect(),
            ..Heads::default()
        };
        small.encode_slot_cached(mark, &mut cached, &mut cache);
        small.encode_slot(mark, &mut fresh);
        assert_eq!(cached, fresh);
    }

    #[test]
    fn a_slot_read_back_is_encoded_over_as_if_it_had_been_encoded_here() {
        let account = |n: u64| AccountHead {
            id: format!("acct-{}", "x".repeat((n % 40) as usize) + &n.to_string()).into(),
            opened: n % 4 != 1,
            chain: n * 3,
            children: n,
            txns: n,
            hierarchy: n * 2,
        };
        let person = |n: u64| PersonHead {
            id: format!("person-{n}").into(),
            joined: !n.is_multiple_of(5),
            chain: n * 9,
            teams: n,
        };
        let mark = SlotMark {
            boot: [7; 16],
            synced: true,
        };
        let written = Heads {
            accounts: (0..400).map(account).collect(),
            persons: (0..700).map(person).collect(),
            events_len: 1 << 32,
            txns_len: TXN_RECORD_BYTES << 20,
            ..Heads::default()
        };
        let path = Path::new("heads.2");
        // Each kind of first commit: an entry changed, a person added (the end laid out
        // anew), an account added (the persons moved), nothing but the header.
        type Change = fn(&mut Heads);
        let changes: [(&str, Change); 4] = [
            ("entry", |h| h.accounts[130].chain += 1),
            ("person", |h| {
                h.persons[3].teams += 1;
                h.persons.push(PersonHead {
                    id: "person-new".into(),
                    joined: true,
                    chain: 1,
                    teams: 0,
                });
            }),
            ("account", |h| {
                h.accounts.push(AccountHead {
                    id: "acct-new".into(),
                    opened: true,
                    chain: 5,
                    children: 0,
                    txns: 0,
                    hierarchy: 5,
                });
                h.persons[650].chain += 1;
            }),
            ("header", |h| h.log_len += 1),
        ];
        for (what, change) in changes {
            let mut read = Vec::new();
            written.encode_slot(mark, &mut read);
            let mut heads = Heads::decode(&read, path).unwrap();
            let mut cache = SlotCache::of_slot(&heads, &read);
            assert_eq!(cache.accounts.len(), heads.accounts.chunks().len());
            let before = read.clone();
            heads.generation += 1;
            change(&mut heads);
            let commit = SlotMark {
                boot: [7; 16],
                synced: false,
            };
            let changed = heads.encode_slot_cached(commit, &mut read, &mut cache);
            let mut fresh = Vec::new();
            heads.encode_slot(commit, &mut fresh);
            assert_eq!(read, fresh, "{what}");
            // The slot file read, patched where the encoding says it changed, is the new slot.
            let mut file = before.clone();
            for range in &changed {
                let end = range.end.min(read.len());
                file.resize(file.len().max(end), 0);
                file[range.start..end].copy_from_slice(&read[range.start..end]);
            }
            file.truncate(read.len());
            assert_eq!(file, read, "{what}: {changed:?}");
            let patched: usize = changed
                .iter()
                .map(|r| r.end.min(read.len()) - r.start)
                .sum();
            if what == "entry" || what == "header" {
                assert!(patched < 8_000, "{what}: {changed:?}");
            }
            // A second commit over the same cache as well.
            heads.generation += 1;
            heads.accounts[0].txns += 1;
            heads.encode_slot_cached(commit, &mut read, &mut cache);
            heads.encode_slot(commit, &mut fresh);
            assert_eq!(read, fresh, "{what}, then another");
        }
        // Bytes that are not the slot of those heads give an empty cache: all encoded anew.
        let mut read = Vec::new();
        written.encode_slot(mark, &mut read);
        read.truncate(read.len() - 1);
        let mut cache = SlotCache::of_slot(&written, &read);
        assert!(cache.encoded.is_none() && cache.accounts.is_empty());
        written.encode_slot_cached(mark, &mut read, &mut cache);
        let mut fresh = Vec::new();
        written.encode_slot(mark, &mut fresh);
        assert_eq!(read, fresh);
    }

    #[test]
    fn heads_round_trip_and_reject_damage() {
        let heads = Heads {
            generation: 5,
            checkpoint: 2,
            events_len: 100,
            txns_len: 64,
            txndata_len: 10,
            times_len: 24,
            org: 0,
            log_len: 900,
            accounts: vec![
                AccountHead {
                    id: "b".into(),
                    opened: true,
                    chain: 1,
                    children: 0,
                    txns: 1,
                    hierarchy: 1,
                },
                AccountHead {
                    id: "a".into(),
                    opened: false,
                    chain: 50,
                    children: 0,
                    txns: 0,
                    hierarchy: 0,
                },
            ]
            .into_iter()
            .collect(),
            persons: Chunked::default(),
            ..Heads::default()
        };
        let path = Path::new("heads");
        let bytes = heads.encode();
        let decoded = Heads::decode(&bytes, path).unwrap();
        assert_eq!(decoded, heads);
        let ids = (&decoded.accounts[0].id, &decoded.accounts[1].id);
        assert_eq!((&**ids.0, &**ids.1), ("b", "a"));
        assert!(
            Arc::ptr_eq(&ids.0.text, &ids.1.text),
            "one string holds them"
        );
        assert_eq!(heads.account_number("a"), Some(1));
        assert_eq!(heads.account_number("c"), None);
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            assert!(Heads::decode(&damaged, path).is_err(), "byte {i}");
        }
        for len in 0..bytes.len() {
            assert!(Heads::decode(&bytes[..len], path).is_err(), "length {len}");
        }
        // Two accounts with one id (a valid checksum over them) are refused.
        let mut twice = heads.clone();
        twice.accounts[0].id = "a".into();
        let err = Heads::decode(&twice.encode(), path).expect_err("a shared id");
        assert!(err.to_string().contains("share an id"), "{err}");
        // An id's bytes that are no id (not UTF-8, not ASCII, a character ids do not use)
        // under a valid checksum are refused, never taken as text.
        let at = HEADS_FIXED_BYTES + 1;
        assert_eq!(bytes[at], b'b');
        for byte in [0xff, 0xc3, 0x80, b' ', b'/', 0] {
            let mut body = bytes[..bytes.len() - HEADS_CHECKSUM_BYTES].to_vec();
            body[at] = byte;
            let sum = heads_checksum(&body);
            body.extend_from_slice(&sum.to_le_bytes());
            let err = Heads::decode(&body, path).expect_err("not an id");
            assert!(
                err.to_string().contains("bad account entry"),
                "{byte}: {err}"
            );
        }
    }
}
