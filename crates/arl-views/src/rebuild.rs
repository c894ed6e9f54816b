//! Staging a range of the log into the views as a pipeline of three threads:
//! 1. this thread reads the stored frames a block at a time and checks the hash chain over
//!    their bytes (blake3, sequential by nature);
//! 2. a decoder decodes each envelope in place and parses its data into a typed event;
//! 3. a stager stages the events into the views, in seq order.
//!
//! Used by a replay (chain checked from seq 1) and by a writer's catch-up. When a stage
//! fails the ones before it stop at their next hand-over; the error reported is the one of
//! the latest stage, which is also the one at the lowest seq (a later stage only ever sees
//! seqs an earlier stage passed).

use crate::writer::Place;
use crate::{ViewError, ViewWriter};
use arl_domain::money::Currency;
use arl_domain::{Event, Recorded, Timestamp, TxnKind, TxnRecordedRef};
use arl_log::{chain_hash, EnvelopeRef, Log, LogError, RawBlock, RawFrame};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Blocks (of up to 256 envelopes) handed from the reader to the decoder at a time.
const BLOCKS_PER_BATCH: usize = 2;
/// Batches in flight between two stages at most (bounds the memory of the pipeline).
const BATCHES_IN_FLIGHT: usize = 8;

/// Where the hash chain of a staged range starts: checked from the hash before `from`, or
/// not checked (the log checks its tail when it is opened).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Chain {
    From([u8; 32]),
    Unchecked,
}

/// An event decoded for the stager, with its data as the log stores it (canonical JSON, the
/// bytes `Event::data_json` gives: the views copy them instead of serializing again).
enum Decoded {
    /// A `transaction.recorded` (most of a ledger), its facts read in place.
    Txn(Box<TxnItem>),
    /// Any other event, typed.
    Event(Recorded, String),
}

/// The facts of a `transaction.recorded`, with its ids copied inline (no allocation).
struct TxnItem {
    place: Place,
    account: InlineId,
    txn: InlineId,
    kind: TxnKind,
    currency: Currency,
    amount_minor: i64,
    data: String,
}

/// The longest id the domain allows, in bytes (ASCII).
const INLINE_ID_BYTES: usize = 64;

/// An id of at most [`INLINE_ID_BYTES`] bytes (every valid id), held by value.
struct InlineId {
    len: u8,
    bytes: [u8; INLINE_ID_BYTES],
}

impl InlineId {
    fn new(id: &str) -> Option<InlineId> {
        let mut bytes = [0u8; INLINE_ID_BYTES];
        bytes.get_mut(..id.len())?.copy_from_slice(id.as_bytes());
        Some(InlineId {
            len: id.len() as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        // Copied whole from a `&str`, so always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Stages seqs `from ..= to` of `log` into `writer`, which must be at checkpoint
/// `from - 1`. Returns the hash of the last envelope read (`None` for an empty range).
/// `progress` gets the last seq read every `progress_every` events.
pub(crate) fn stage_range(
    log: &Log,
    writer: &mut ViewWriter,
    range: (u64, u64),
    chain: Chain,
    progress: &mut dyn FnMut(u64),
    progress_every: u64,
) -> Result<Option<[u8; 32]>, ViewError> {
    if range.0 > range.1 {
        // Nothing to stage (a writer's open with views in step): no threads.
        return Ok(None);
    }
    writer.expect_events(range.1 + 1 - range.0);
    std::thread::scope(|scope| {
        let (to_decoder, blocks) = sync_channel::<Vec<RawBlock>>(BATCHES_IN_FLIGHT);
        let (to_stager, events) = sync_channel::<Vec<Decoded>>(BATCHES_IN_FLIGHT);
        let decoder = scope.spawn(move || decode_batches(blocks, to_stager));
        let stager = scope.spawn(move || stage_batches(events, writer));
        let read = read_range(log, range, chain, &to_decoder, progress, progress_every);
        drop(to_decoder);
        let decoded = decoder.join().unwrap_or(Err(ViewError::Poisoned));
        let staged = stager.join().unwrap_or(Err(ViewError::Poisoned));
        staged?;
        decoded?;
        read
    })
}

/// Reads the range block by block and checks the chain, handing the blocks on.
fn read_range(
    log: &Log,
    (from, to): (u64, u64),
    chain: Chain,
    sender: &SyncSender<Vec<RawBlock>>,
    progress: &mut dyn FnMut(u64),
    progress_every: u64,
) -> Result<Option<[u8; 32]>, ViewError> {
    let mut prev = match chain {
        Chain::From(hash) => Some(hash),
        Chain::Unchecked => None,
    };
    let (mut expected, mut last) = (from, None);
    let mut batch = Vec::with_capacity(BLOCKS_PER_BATCH);
    for block in log.blocks(from, to) {
        let block = block?;
        for frame in block.frames() {
            let frame = frame?;
            if frame.seq != expected {
                return Err(integrity(expected, "the log skips a seq"));
            }
            if let Some(prev) = &mut prev {
                if chain_hash(prev, frame.canonical) != frame.hash {
                    return Err(integrity(
                        frame.seq,
                        "the hash does not chain from the previous envelope",
                    ));
                }
                *prev = frame.hash;
            }
            last = Some(frame.hash);
            if expected.is_multiple_of(progress_every) {
                progress(expected);
            }
            expected += 1;
        }
        batch.push(block);
        if batch.len() == BLOCKS_PER_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BLOCKS_PER_BATCH));
            if sender.send(full).is_err() {
                // A later stage stopped on an error; it reports it.
                return Ok(last);
            }
        }
    }
    if expected != to.max(from - 1) + 1 {
        return Err(integrity(expected, "the log ends before its head"));
    }
    if !batch.is_empty() {
        let _ = sender.send(batch);
    }
    Ok(last)
}

/// Decodes each batch of blocks into typed events, handing them on.
fn decode_batches(
    blocks: Receiver<Vec<RawBlock>>,
    sender: SyncSender<Vec<Decoded>>,
) -> Result<(), ViewError> {
    for batch in blocks {
        let mut events = Vec::with_capacity(batch.len() * 256);
        for block in &batch {
            for frame in block.frames() {
                events.push(decode_frame(&frame?)?);
            }
        }
        if sender.send(events).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Stages every event received, in order.
fn stage_batches(events: Receiver<Vec<Decoded>>, writer: &mut ViewWriter) -> Result<(), ViewError> {
    for batch in events {
        for decoded in &batch {
            match decoded {
                Decoded::Txn(item) => {
                    let txn = TxnRecordedRef {
                        account: item.account.as_str(),
                        txn: item.txn.as_str(),
                        kind: item.kind,
                        currency: item.currency,
                        amount_minor: item.amount_minor,
                    };
                    writer.stage_recorded_txn(item.place, &txn, &item.data)?;
                }
                Decoded::Event(recorded, data) => writer.stage_data(recorded, data)?,
            }
        }
    }
    Ok(())
}

/// One stored frame as a typed event with its times and data.
fn decode_frame(frame: &RawFrame<'_>) -> Result<Decoded, ViewError> {
    let envelope = EnvelopeRef::decode(frame.canonical)
        .map_err(|e| corrupt(format!("seq {}: {e}", frame.seq)))?;
    if envelope.seq != frame.seq {
        return Err(corrupt(format!(
            "the envelope stored at seq {} says seq {}",
            frame.seq, envelope.seq
        )));
    }
    let data = envelope.data.get();
    if envelope.kind == "transaction.recorded" {
        if let Some(item) = txn_item(&envelope, data) {
            return Ok(Decoded::Txn(Box::new(item)));
        }
    }
    let event = Event::parse(&envelope.kind, data).map_err(|e| ViewError::BadEvent {
        seq: frame.seq,
        message: e.to_string(),
    })?;
    let recorded = Recorded {
        seq: frame.seq,
        effective_at: Timestamp(envelope.effective_at),
        recorded_at: Timestamp(envelope.recorded_at),
        event,
    };
    Ok(Decoded::Event(recorded, data.to_owned()))
}

/// A `transaction.recorded` read in place, or `None` to take the typed way (which also
/// explains bad data).
fn txn_item(envelope: &EnvelopeRef<'_>, data: &str) -> Option<TxnItem> {
    let txn = TxnRecordedRef::parse(data)?;
    Some(TxnItem {
        place: Place {
            seq: envelope.seq,
            effective_at: envelope.effective_at,
            recorded_at: envelope.recorded_at,
        },
        account: InlineId::new(txn.account)?,
        txn: InlineId::new(txn.txn)?,
        kind: txn.kind,
        currency: txn.currency,
        amount_minor: txn.amount_minor,
        data: data.to_owned(),
    })
}

fn integrity(seq: u64, reason: &str) -> ViewError {
    ViewError::Log(LogError::Integrity {
        seq,
        reason: reason.to_string(),
    })
}

fn corrupt(what: String) -> ViewError {
    ViewError::Log(LogError::Corrupt { what })
}
