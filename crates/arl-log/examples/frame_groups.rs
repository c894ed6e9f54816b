//! What compressing a log's envelopes in groups would buy, measured on a real log: for the
//! canonical envelopes of `LOG_DIR` (the first `COUNT`, default 400,000), each compressed
//! on its own as layout 5 stores them (the log's dictionary, its small match tables, at
//! level 3 as before 2026-12-05 and at level 1 as since), then in groups of 16, 64 and 256 consecutive envelopes (one zstd frame each,
//! the same dictionary, levels 3 and 1). Prints, for each way, the compressed bytes per
//! envelope, the compression time per envelope, and the time to decompress every envelope
//! of one 256-event block (what `Store::block`, hence every read of the log, pays).
//!
//! `cargo run --release -p arl-log --example frame_groups -- LOG_DIR [COUNT]`
//! (`LOG_DIR` is a ledger's `log` directory, no writer running; nothing is written to it).

use std::path::Path;
use std::time::Instant;

use arl_log::codec::{Codec, ENVELOPE_DICTIONARY, FRAME_LEVEL};
use arl_log::{Log, BLOCK_EVENTS};
use zstd::zstd_safe::{DCtx, DDict, DParameter, FrameFormat};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: frame_groups LOG_DIR [COUNT]")?;
    let count: u64 = match args.next() {
        Some(n) => n.parse()?,
        None => 400_000,
    };
    let log = Log::open(Path::new(&dir))?;
    let mut envelopes = Vec::new();
    for block in log.blocks(1, count) {
        for frame in block?.frames() {
            envelopes.push(frame?.canonical.to_vec());
        }
    }
    // Whole blocks only, so that every way decompresses the same blocks.
    let blocks = envelopes.len() / BLOCK_EVENTS as usize;
    envelopes.truncate(blocks * BLOCK_EVENTS as usize);
    if blocks == 0 {
        return Err(format!("the log holds fewer than {BLOCK_EVENTS} envelopes").into());
    }
    let n = envelopes.len() as f64;
    let canonical: usize = envelopes.iter().map(Vec::len).sum();
    println!(
        "{} envelopes ({blocks} blocks), {:.1} bytes of canonical JSON each",
        envelopes.len(),
        canonical as f64 / n
    );
    println!("| way | bytes per envelope | compress, us per envelope | decompress a block of {BLOCK_EVENTS}, us |");
    println!("|---|---|---|---|");
    for level in [3, FRAME_LEVEL] {
        one_by_one(&envelopes, level)?;
    }
    for group in [16, 64, 256] {
        for level in [3, 1] {
            grouped(&envelopes, group, level)?;
        }
    }
    Ok(())
}

/// Layout 5: each envelope its own zstd frame, through the log's own codec at `level`.
fn one_by_one(envelopes: &[Vec<u8>], level: i32) -> Result<(), Failure> {
    let codec = Codec::of(ENVELOPE_DICTIONARY, level)?;
    let mut stored = Vec::with_capacity(envelopes.len());
    let started = Instant::now();
    for envelope in envelopes {
        let mut out = Vec::with_capacity(envelope.len());
        if !codec.compress_into(envelope, &mut out) {
            return Err("an envelope did not compress".into());
        }
        stored.push(out);
    }
    let compress = started.elapsed().as_secs_f64();
    let bytes: usize = stored.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut out = Vec::new();
    for (frame, envelope) in stored.iter().zip(envelopes) {
        out.clear();
        codec.decompress_into(frame, envelope.len(), &mut out)?;
        if out != *envelope {
            return Err("a frame did not decompress to its envelope".into());
        }
    }
    let decompress = started.elapsed().as_secs_f64();
    report(
        &format!("each on its own (layout 5), level {level}"),
        bytes,
        compress,
        decompress,
        envelopes.len(),
    );
    Ok(())
}

/// Groups of `group` consecutive envelopes, one zstd frame each (groups never span a block).
fn grouped(envelopes: &[Vec<u8>], group: usize, level: i32) -> Result<(), Failure> {
    let mut c = arl_log::codec::compressor(ENVELOPE_DICTIONARY, level, None)?;
    let mut joined = Vec::new();
    let mut stored = Vec::with_capacity(envelopes.len() / group);
    let started = Instant::now();
    for members in envelopes.chunks(group) {
        joined.clear();
        for envelope in members {
            joined.extend_from_slice(envelope);
        }
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(joined.len()));
        c.compress2(&mut out, &joined).map_err(zstd_error)?;
        stored.push((out, joined.len()));
    }
    let compress = started.elapsed().as_secs_f64();
    let bytes: usize = stored.iter().map(|(out, _)| out.len()).sum();
    let ddict = DDict::try_create(ENVELOPE_DICTIONARY).ok_or("no decompression dictionary")?;
    let mut d = DCtx::try_create().ok_or("no decompression context")?;
    d.ref_ddict(&ddict).map_err(zstd_error)?;
    d.set_parameter(DParameter::Format(FrameFormat::Magicless))
        .map_err(zstd_error)?;
    let mut out = Vec::new();
    let started = Instant::now();
    for ((frame, len), members) in stored.iter().zip(envelopes.chunks(group)) {
        out.clear();
        out.reserve(*len);
        d.decompress(&mut out, frame).map_err(zstd_error)?;
        if out.len() != *len || !out.starts_with(&members[0]) {
            return Err("a group did not decompress to its envelopes".into());
        }
    }
    let decompress = started.elapsed().as_secs_f64();
    report(
        &format!("groups of {group}, level {level}"),
        bytes,
        compress,
        decompress,
        envelopes.len(),
    );
    Ok(())
}

/// zstd's name of the error `code`.
fn zstd_error(code: usize) -> Failure {
    zstd::zstd_safe::get_error_name(code).into()
}

fn report(way: &str, bytes: usize, compress: f64, decompress: f64, envelopes: usize) {
    let n = envelopes as f64;
    let blocks = n / BLOCK_EVENTS as f64;
    println!(
        "| {way} | {:.1} | {:.3} | {:.1} |",
        bytes as f64 / n,
        compress * 1e6 / n,
        decompress * 1e6 / blocks
    );
}
