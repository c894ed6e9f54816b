//! What an import must spend on each event whatever the design: each step that the contract
//! or a target fixes (and, beside the least a JSON parser does, arl's own parse and
//! conversion), timed on its own on one thread over the same input, in µs an event. The
//! fixed steps' sum is a floor under the CPU an import spends on an event; what an import
//! spends beyond it is parsing, validation, the views, the index and moving data between
//! threads.
//!
//! `cargo run --release -p arl-views --example import_floor -- INPUT LEDGER [COUNT]`
//! (`INPUT`: a file of input lines without ids, as `gen_speed N 42 --print` writes;
//! `LEDGER`: a ledger that `arl append --imported` made from it, read for its envelopes;
//! `COUNT`: the first lines and envelopes used, default 1,000,000). The ledger's files are
//! only read; the last step writes a scratch file in its directory and removes it.
//!
//! The steps: reading the input file (from the page cache); the least a JSON parser does
//! with each line (serde_json checking it and skipping every value); arl's own parse into a
//! typed event; the id `--batch-size` gives a line without one (blake3 of the line); the
//! conversion into the log's new event with its canonical data; the envelope's canonical
//! bytes (RFC 8785); the hash chain; the Merkle tree's leaf and interior nodes; each frame
//! compressed as the log stores it (what keeps the disk under the peer's); the stored
//! frames written to a file and synced.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use arl_log::codec::{Codec, ENVELOPE_DICTIONARY, FRAME_LEVEL};
use arl_views::{AppendOptions, Converted};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: import_floor INPUT LEDGER [COUNT]";
    let input = args.next().ok_or(usage)?;
    let ledger = args.next().ok_or(usage)?;
    let count: usize = match args.next() {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };

    let _ = std::fs::read(&input)?; // into the page cache
    let started = Instant::now();
    let text = std::fs::read_to_string(&input)?;
    let lines: Vec<&str> = text.lines().take(count).collect();
    let n = lines.len();
    let mut steps = Steps::default();
    steps.time("read the input, split into lines", started.elapsed());

    let log = arl_log::Log::open(&Path::new(&ledger).join("log"))?;
    let scratch = Path::new(&ledger).join("import_floor.scratch");
    let mut log_side = LogSide {
        prev: [0; 32],
        frontier: Vec::new(),
        codec: Codec::of(ENVELOPE_DICTIONARY, FRAME_LEVEL)?,
        file: std::fs::File::create(&scratch)?,
        canonical_bytes: 0,
        stored_bytes: 0,
    };
    for (c, chunk) in lines.chunks(CHUNK).enumerate() {
        let first = c * CHUNK;
        input_side(chunk, first, &mut steps)?;
        let mut envelopes = Vec::with_capacity(chunk.len());
        for seq in first as u64 + 1..=(first + chunk.len()) as u64 {
            envelopes.push(
                log.get(seq)?
                    .ok_or("the ledger holds fewer envelopes than lines")?,
            );
        }
        log_side.chunk(&envelopes, (c + 1) % SYNC_CHUNKS == 0, &mut steps)?;
    }
    drop(log_side.file);
    std::fs::remove_file(&scratch)?;

    println!(
        "{n} events in chunks of {CHUNK}, {:.1} bytes of canonical JSON and {:.1} stored bytes each",
        log_side.canonical_bytes as f64 / n as f64,
        log_side.stored_bytes as f64 / n as f64
    );
    steps.print(n);
    Ok(())
}

/// The steps from a chunk of input lines (the first numbered `first` + 1) to the log's new
/// events.
fn input_side(chunk: &[&str], first: usize, steps: &mut Steps) -> Result<(), Failure> {
    let started = Instant::now();
    for line in chunk {
        serde_json::from_str::<serde::de::IgnoredAny>(line)?;
    }
    steps.time(
        "JSON checked, every value skipped (serde_json)",
        started.elapsed(),
    );

    let started = Instant::now();
    let mut inputs = Vec::with_capacity(chunk.len());
    for line in chunk {
        inputs.push(arl_domain::InputEvent::parse_line(line, true)?);
    }
    steps.time("parsed into typed events (arl)", started.elapsed());

    let started = Instant::now();
    for (k, (line, input)) in chunk.iter().zip(inputs.iter_mut()).enumerate() {
        input.id = Some(arl_domain::line_id((first + k + 1) as u64, line));
    }
    steps.time("a line's id (blake3 of the line)", started.elapsed());

    let opts = AppendOptions {
        imported: true,
        actor: "floor".into(),
        now: arl_domain::Timestamp::now(),
    };
    let started = Instant::now();
    let converted = Converted::new(vec![inputs], &opts);
    steps.time(
        "converted: canonical data, the log's new event",
        started.elapsed(),
    );
    let started = Instant::now();
    drop(converted);
    steps.time("the converted events freed", started.elapsed());
    Ok(())
}

/// The log's side: the chain and the tree carried from chunk to chunk, the frames written
/// to a scratch file.
struct LogSide {
    prev: arl_merkle::Hash,
    frontier: Vec<(u32, arl_merkle::Hash)>,
    codec: &'static Codec,
    file: std::fs::File,
    canonical_bytes: usize,
    stored_bytes: usize,
}

impl LogSide {
    /// The steps from the envelopes of a chunk to their frames on disk (synced when `sync`).
    fn chunk(
        &mut self,
        envelopes: &[arl_log::Envelope],
        sync: bool,
        steps: &mut Steps,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let mut canonical = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            canonical.push(envelope.canonical_bytes());
        }
        steps.time(
            "the envelope's canonical bytes (RFC 8785)",
            started.elapsed(),
        );
        let bytes: usize = canonical.iter().map(Vec::len).sum();
        self.canonical_bytes += bytes;

        let started = Instant::now();
        let mut hashes = Vec::with_capacity(envelopes.len());
        for bytes in &canonical {
            self.prev = arl_log::chain_hash(&self.prev, bytes);
            hashes.push(self.prev);
        }
        steps.time("the hash chain (blake3)", started.elapsed());
        for (envelope, hash) in envelopes.iter().zip(&hashes) {
            if envelope.hash != *hash {
                return Err(
                    format!("seq {}: the chain does not give its hash", envelope.seq).into(),
                );
            }
        }

        let started = Instant::now();
        for hash in &hashes {
            let mut node = (0, arl_merkle::leaf_hash(hash));
            while self
                .frontier
                .last()
                .is_some_and(|(level, _)| *level == node.0)
            {
                let (level, left) = self.frontier.pop().ok_or("empty frontier")?;
                node = (level + 1, arl_merkle::node_hash(&left, &node.1));
            }
            self.frontier.push(node);
        }
        steps.time("the Merkle tree's leaves and nodes", started.elapsed());

        let started = Instant::now();
        let mut stored = Vec::with_capacity(bytes / 2);
        for (bytes, hash) in canonical.iter().zip(&hashes) {
            let at = stored.len();
            stored.extend_from_slice(&[0; 4]);
            if !self.codec.compress_into(bytes, &mut stored) {
                return Err("an envelope did not compress".into());
            }
            let len = (stored.len() - at - 4) as u32;
            stored[at..at + 4].copy_from_slice(&len.to_le_bytes());
            stored.extend_from_slice(hash);
        }
        steps.time(
            "each frame compressed as the log stores it",
            started.elapsed(),
        );
        self.stored_bytes += stored.len();

        let started = Instant::now();
        self.file.write_all(&stored)?;
        if sync {
            self.file.sync_data()?;
        }
        steps.time(
            "the stored frames written, synced every 100,000 (a batch)",
            started.elapsed(),
        );
        Ok(())
    }
}

/// Events a step works on at a time: each step's output of a chunk is what the next step
/// takes, and all is dropped before the next chunk, as an import works segment by segment.
const CHUNK: usize = 2_000;
/// Chunks between syncs of the scratch file: a sync a batch of 100,000.
const SYNC_CHUNKS: usize = 50;

/// Each step's name and its time, summed over the chunks, in order of first use.
#[derive(Default)]
struct Steps(Vec<(&'static str, std::time::Duration)>);

impl Steps {
    fn time(&mut self, name: &'static str, took: std::time::Duration) {
        match self.0.iter_mut().find(|(step, _)| *step == name) {
            Some((_, sum)) => *sum += took,
            None => self.0.push((name, took)),
        }
    }

    fn print(&self, n: usize) {
        println!("| step | µs an event |");
        println!("|---|---|");
        for (name, took) in &self.0 {
            println!(
                "| {name} | {:.3} |",
                took.as_secs_f64() * 1e6 / n.max(1) as f64
            );
        }
    }
}
