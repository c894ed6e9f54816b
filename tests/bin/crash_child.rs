//! The child process of the `crash_consistency` test, which kills it with SIGKILL at random
//! moments. Not a user tool.
//!
//! `arl-crash-child LEDGER_DIR SEED BATCH_MAX` opens the ledger (recovering whatever the
//! last kill left), then appends the lines of the deterministic generator (seed `SEED`), in
//! batches of 1..=`BATCH_MAX` lines, as `arl append --imported` would, forever. Line `n` of
//! the generator becomes seq `n`, so after a restart it skips the `head.seq` lines already
//! stored. On standard output, flushed line by line:
//!
//! - `open SEQ HASH` once the ledger is open (its head);
//! - `begin LAST` before each append (the seq the batch ends at if it commits);
//! - `ack SEQ HASH` after each append returned success (the acknowledged head).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use arl_domain::{InputEvent, Timestamp};
use arl_views::{AppendOptions, Ledger};

/// Lines the generator is configured for: far more than any run appends.
const GENERATOR_EVENTS: u64 = 10_000_000;

fn main() {
    if let Err(message) = run() {
        eprintln!("arl-crash-child: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, seed, batch_max] = args.as_slice() else {
        return Err("usage: arl-crash-child LEDGER_DIR SEED BATCH_MAX".into());
    };
    let dir = PathBuf::from(dir);
    let seed: u64 = seed.parse().map_err(|_| "SEED is a number")?;
    let batch_max: u64 = batch_max.parse().map_err(|_| "BATCH_MAX is a number")?;
    if batch_max == 0 {
        return Err("BATCH_MAX is at least 1".into());
    }
    let mut ledger = Ledger::open(&dir, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let head = ledger.log().head();
    let mut out = std::io::stdout().lock();
    let mut say = |text: String| -> Result<(), String> {
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())
    };
    say(format!("open {} {}", head.seq, arl_log::hex(&head.hash)))?;

    let mut lines = arl_gen::Generator::new(arl_gen::Config::new(GENERATOR_EVENTS, seed));
    for _ in 0..head.seq {
        lines.next_line().ok_or("the generator ran out")?;
    }
    // Batch sizes differ after every restart, so kills land in batches of every size.
    let mut rng = arl_gen::rng::Rng::new(seed ^ head.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let opts = AppendOptions {
        imported: true,
        actor: "crash-child".into(),
        now: Timestamp::now(),
    };
    let mut next = head.seq;
    loop {
        let size = 1 + rng.below(batch_max);
        let mut batch = Vec::with_capacity(size as usize);
        for _ in 0..size {
            let line = lines.next_line().ok_or("the generator ran out")?;
            batch.push(InputEvent::parse_line(line, true).map_err(|e| e.to_string())?);
        }
        say(format!("begin {}", next + size))?;
        let report = ledger.append(batch, &opts).map_err(|e| e.to_string())?;
        next = report.head.seq;
        say(format!(
            "ack {} {}",
            report.head.seq,
            arl_log::hex(&report.head.hash)
        ))?;
    }
}
