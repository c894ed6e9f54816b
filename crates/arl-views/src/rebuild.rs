//! Staging a range of the log into the views, on two threads that each keep one core busy:
//! 1. this thread reads the stored frames a block at a time and checks the hash chain over
//!    their bytes (blake3, sequential by nature), and stages the decoded events into the
//!    views, in seq order, whenever the decoder has some ready;
//! 2. a decoder decodes each envelope in place and parses its data, handing back the blocks
//!    with what it found in them (strings as places in the blocks, not copies).
//!
//! Used by a replay (chain checked from seq 1) and by a writer's catch-up. When a step fails
//! the others stop at their next hand-over; the error reported is the staging's, then the
//! decoding's, then the reading's: the one at the lowest seq (a later step only ever sees
//! seqs an earlier step passed).

use crate::format::txn_id_hash;
use crate::writer::{Place, TxnFacts};
use crate::{ViewError, ViewWriter};
use arl_domain::{Event, Recorded, Timestamp, TxnFields, TxnRecordedRef};
use arl_log::{chain_hash, CanonicalReader, EnvelopeRef, Log, LogError, RawBlock, RawFrame};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// Blocks (of up to 256 envelopes) handed from the reader to the decoder at a time.
const BLOCKS_PER_BATCH: usize = 2;
/// Batches in flight each way at most (bounds the memory of the pipeline).
const BATCHES_IN_FLIGHT: usize = 8;

/// Where the hash chain of a staged range starts: checked from the hash before `from`, or
/// not checked (the log checks its tail when it is opened).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Chain {
    From([u8; 32]),
    Unchecked,
}

/// Blocks read from the log with the events decoded from them.
struct Batch {
    blocks: Vec<RawBlock>,
    events: Vec<Decoded>,
}

/// An event decoded for staging, with its data as the log stores it (canonical JSON, the
/// bytes `Event::data_json` gives: the views copy them instead of serializing again).
enum Decoded {
    /// A `transaction.recorded` (most of a ledger), its facts read in place.
    Txn(TxnItem),
    /// Any other event, typed.
    Event(Recorded, Span),
}

/// The facts of a `transaction.recorded`; its account and data stay in the blocks.
struct TxnItem {
    place: Place,
    account: Span,
    /// `txn_id_hash` of the txn id.
    txn_hash: u64,
    facts: TxnFacts,
    data: Span,
}

/// Where a string of a batch lies: its block (index in the batch) and byte range.
#[derive(Debug, Clone, Copy)]
struct Span {
    block: u32,
    start: u32,
    len: u32,
}

impl Span {
    /// The place of `text`, which must lie inside `bytes`, the block numbered `block`.
    fn of(block: usize, bytes: &[u8], text: &str) -> Option<Span> {
        let start = (text.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
        let end = start.checked_add(text.len())?;
        (end <= bytes.len()).then_some(Span {
            block: u32::try_from(block).ok()?,
            start: u32::try_from(start).ok()?,
            len: u32::try_from(text.len()).ok()?,
        })
    }

    fn bytes<'b>(&self, blocks: &'b [RawBlock]) -> Result<&'b [u8], ViewError> {
        let start = self.start as usize;
        blocks
            .get(self.block as usize)
            .and_then(|b| b.bytes().get(start..start + self.len as usize))
            .ok_or_else(|| corrupt("a decoded event lost its place in its block".into()))
    }

    fn get<'b>(&self, blocks: &'b [RawBlock]) -> Result<&'b str, ViewError> {
        std::str::from_utf8(self.bytes(blocks)?)
            .map_err(|_| corrupt("a decoded event lost its place in its block".into()))
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
    arl_par::scope(|scope| {
        let (to_decoder, blocks) = sync_channel::<Vec<ReadBlock>>(BATCHES_IN_FLIGHT);
        let (to_stager, decoded) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        let decoder = scope
            .spawn("arl-decode", move || decode_batches(blocks, &to_stager))
            // The system refused a thread: an I/O-like failure of this rebuild, not damage.
            .map_err(|e| ViewError::io(writer.dir(), e))?;
        let mut stager = Stager {
            writer,
            decoded,
            failed: None,
        };
        let read = read_range(
            log,
            range,
            chain,
            &to_decoder,
            &mut stager,
            progress,
            progress_every,
        );
        drop(to_decoder);
        while stager.stage_next() {}
        let decoded = decoder.join();
        if let Some(e) = stager.failed {
            return Err(e);
        }
        decoded?;
        read
    })
}

/// The staging end of the pipeline, run by the reading thread between reads.
struct Stager<'w> {
    writer: &'w mut ViewWriter,
    decoded: Receiver<Batch>,
    failed: Option<ViewError>,
}

impl Stager<'_> {
    /// Waits for the next decoded batch and stages it; `false` when there is none to come or
    /// staging failed.
    fn stage_next(&mut self) -> bool {
        match self.decoded.recv() {
            Ok(batch) => self.stage(&batch),
            Err(_) => false,
        }
    }

    /// Stages the next decoded batch if one is ready; `false` only when staging failed.
    fn stage_ready(&mut self) -> bool {
        match self.decoded.try_recv() {
            Ok(batch) => self.stage(&batch),
            Err(_) => self.failed.is_none(),
        }
    }

    fn stage(&mut self, batch: &Batch) -> bool {
        if self.failed.is_none() {
            if let Err(e) = stage_batch(self.writer, batch) {
                self.failed = Some(e);
            }
        }
        self.failed.is_none()
    }

    /// Hands `blocks` to the decoder, staging decoded batches while its queue is full;
    /// `false` when the pipeline stopped (a step failed; it reports why).
    fn hand_over(&mut self, sender: &SyncSender<Vec<ReadBlock>>, blocks: Vec<ReadBlock>) -> bool {
        let mut blocks = blocks;
        loop {
            match sender.try_send(blocks) {
                Ok(()) => return self.stage_ready(),
                Err(TrySendError::Full(back)) => {
                    blocks = back;
                    if !self.stage_next() {
                        return false;
                    }
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }
}

/// A block as the reader hands it to the decoder: with the hash its chain starts from when
/// the decoder is to check it.
struct ReadBlock {
    block: RawBlock,
    check_from: Option<[u8; 32]>,
}

/// Reads the range block by block, handing the blocks on (and staging what comes back
/// decoded in between). The hash chain is checked link by link, each link against the hash
/// stored before it, so the work can be split: this thread checks every other block and the
/// decoder the rest. Returns the hash stored with the last envelope read.
fn read_range(
    log: &Log,
    (from, to): (u64, u64),
    chain: Chain,
    sender: &SyncSender<Vec<ReadBlock>>,
    stager: &mut Stager<'_>,
    progress: &mut dyn FnMut(u64),
    progress_every: u64,
) -> Result<Option<[u8; 32]>, ViewError> {
    let mut prev = match chain {
        Chain::From(hash) => Some(hash),
        Chain::Unchecked => None,
    };
    let (mut expected, mut last) = (from, None);
    let mut batch = Vec::with_capacity(BLOCKS_PER_BATCH);
    for (index, block) in log.blocks(from, to).enumerate() {
        let block = block?;
        let check_here = index % 2 == 0;
        let check_from = prev;
        for frame in block.frames() {
            let frame = frame?;
            if frame.seq != expected {
                return Err(integrity(expected, "the log skips a seq"));
            }
            if let Some(prev) = &mut prev {
                if check_here && chain_hash(prev, frame.canonical) != frame.hash {
                    return Err(integrity(frame.seq, CHAIN_BROKEN));
                }
                *prev = frame.hash;
            }
            last = Some(frame.hash);
            if expected.is_multiple_of(progress_every) {
                progress(expected);
            }
            expected += 1;
        }
        batch.push(ReadBlock {
            block,
            check_from: check_from.filter(|_| !check_here),
        });
        if batch.len() == BLOCKS_PER_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BLOCKS_PER_BATCH));
            if !stager.hand_over(sender, full) {
                // A step stopped on an error; it reports it.
                return Ok(last);
            }
        }
    }
    if expected != to.max(from - 1) + 1 {
        return Err(integrity(expected, "the log ends before its head"));
    }
    if !batch.is_empty() {
        stager.hand_over(sender, batch);
    }
    Ok(last)
}

const CHAIN_BROKEN: &str = "the hash does not chain from the previous envelope";

/// Checks the links of the chain it is given and decodes the events of each batch of
/// blocks, handing the blocks back with them.
fn decode_batches(
    batches: Receiver<Vec<ReadBlock>>,
    sender: &SyncSender<Batch>,
) -> Result<(), ViewError> {
    for batch in batches {
        let mut events = Vec::with_capacity(batch.len() * 256);
        let mut blocks = Vec::with_capacity(batch.len());
        for (i, ReadBlock { block, check_from }) in batch.into_iter().enumerate() {
            let mut prev = check_from;
            for frame in block.frames() {
                let frame = frame?;
                if let Some(prev) = &mut prev {
                    if chain_hash(prev, frame.canonical) != frame.hash {
                        return Err(integrity(frame.seq, CHAIN_BROKEN));
                    }
                    *prev = frame.hash;
                }
                events.push(decode_frame(i, block.bytes(), &frame)?);
            }
            blocks.push(block);
        }
        if sender.send(Batch { blocks, events }).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Stages every event of a decoded batch, in order.
fn stage_batch(writer: &mut ViewWriter, batch: &Batch) -> Result<(), ViewError> {
    let blocks = batch.blocks.as_slice();
    for decoded in &batch.events {
        match decoded {
            Decoded::Txn(item) => writer.stage_recorded_txn(
                item.place,
                item.account.get(blocks)?,
                item.txn_hash,
                item.facts,
                item.data.bytes(blocks)?,
            )?,
            Decoded::Event(recorded, data) => writer.stage_data(recorded, data.get(blocks)?)?,
        }
    }
    Ok(())
}

/// One stored frame of the block numbered `block` (whose bytes are `bytes`) as a typed
/// event with its times and the place of its data.
fn decode_frame(block: usize, bytes: &[u8], frame: &RawFrame<'_>) -> Result<Decoded, ViewError> {
    let envelope = EnvelopeRef::decode(frame.canonical)
        .map_err(|e| corrupt(format!("seq {}: {e}", frame.seq)))?;
    if envelope.seq != frame.seq {
        return Err(corrupt(format!(
            "the envelope stored at seq {} says seq {}",
            frame.seq, envelope.seq
        )));
    }
    let data = envelope.data;
    let place = |text: &str| {
        Span::of(block, bytes, text).ok_or_else(|| {
            corrupt(format!(
                "seq {}: the envelope's data lies outside its block",
                frame.seq
            ))
        })
    };
    let data_span = place(data)?;
    if envelope.kind == "transaction.recorded" {
        if let Some(txn) = canonical_txn(data).or_else(|| TxnRecordedRef::parse(data)) {
            return Ok(Decoded::Txn(TxnItem {
                place: Place {
                    seq: envelope.seq,
                    effective_at: envelope.effective_at,
                    recorded_at: envelope.recorded_at,
                },
                account: place(txn.account)?,
                txn_hash: txn_id_hash(txn.txn),
                facts: TxnFacts::new(txn.kind, txn.currency, txn.amount_minor),
                data: data_span,
            }));
        }
        // Anything the in-place reading does not accept takes the typed way, which also
        // explains bad data.
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
    Ok(Decoded::Event(recorded, data_span))
}

/// `transaction.recorded` data in the canonical layout (members in order, no escaped
/// strings), read directly; `None` for anything else.
fn canonical_txn(data: &str) -> Option<TxnRecordedRef<'_>> {
    let mut r = CanonicalReader::new(data);
    r.expect("{\"account\":")?;
    let account = r.string()?;
    r.expect(",\"amount\":")?;
    let amount = r.string()?;
    r.expect(",\"currency\":")?;
    let currency = r.string()?;
    let description = if r.accept(",\"description\":") {
        Some(r.string()?)
    } else {
        None
    };
    r.expect(",\"kind\":")?;
    let kind = r.string()?;
    let reference = if r.accept(",\"reference\":") {
        Some(r.string()?)
    } else {
        None
    };
    r.expect(",\"txn\":")?;
    let txn = r.string()?;
    r.expect("}")?;
    if !r.at_end() {
        return None;
    }
    TxnRecordedRef::from_fields(TxnFields {
        account,
        amount,
        currency,
        description,
        kind,
        reference,
        txn,
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

#[cfg(test)]
mod tests {
    use super::*;
    use arl_domain::InputEvent;

    /// The direct reading of `transaction.recorded` data gives what the serde reading
    /// gives, or leaves the data to it; on data as the log stores it, it always reads.
    #[test]
    fn canonical_txn_agrees_with_the_serde_reading() {
        let stored: Vec<String> = arl_gen::Generator::new(arl_gen::Config::new(3_000, 11))
            .map(|line| InputEvent::parse_line(&line, true).unwrap())
            .filter(|e| e.event.is_transaction())
            .map(|e| e.event.data_json())
            .collect();
        assert!(stored.len() > 1_000);
        for data in &stored {
            assert_eq!(canonical_txn(data), TxnRecordedRef::parse(data), "{data}");
        }
        let read = stored.iter().filter(|d| canonical_txn(d).is_some()).count();
        assert!(read > 1_000, "{read} of {} read directly", stored.len());
        // The checks after reading are shared with the serde reading (and tested with it in
        // the domain crate); what is the canonical reader's own: optional members, member
        // order, escapes, unknown members, anything after the object.
        let cases = [
            r#"{"account":"acme","amount":"3","currency":"JPY","description":"d","kind":"purchase","reference":"r","txn":"t.2"}"#,
            r#"{"account":"acme","amount":"1.005","currency":"KWD","kind":"sale","txn":"t"}"#,
            r#"{"amount":"1","account":"acme","currency":"EUR","kind":"sale","txn":"t"}"#,
            r#"{"account":"acme","amount":"1","currency":"EUR","description":"a\"b","kind":"sale","txn":"t"}"#,
            r#"{"account":"acme","amount":"1","currency":"EUR","kind":"sale","txn":"t","x":1}"#,
            r#"{"account":"acme","amount":"1","currency":"EUR","kind":"sale","txn":"t"} "#,
        ];
        for data in cases {
            if let Some(direct) = canonical_txn(data) {
                assert_eq!(Some(direct), TxnRecordedRef::parse(data), "{data}");
            }
        }
        assert!(canonical_txn(cases[0]).is_some() && canonical_txn(cases[1]).is_some());
        assert!(cases[2..].iter().all(|d| canonical_txn(d).is_none()));
    }
}
