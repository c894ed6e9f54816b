//! Bulk import through the whole append path: parse, prepare (log), validate, commit (log,
//! fsync), views (fsync). `cargo run --release -p arl-views --example import_bench -- N [BATCH]`
//! Prints each batch's append rate and the process's resident memory after it (anonymous and
//! file-backed pages apart), to see whether batches stay as fast and as small as the
//! history grows.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use arl_domain::{InputEvent, Timestamp};
use arl_views::{AppendOptions, Ledger};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let batch: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let lines: Vec<String> = arl_gen::Generator::new(arl_gen::Config::new(n, 42)).collect();
    let dir = tempfile::tempdir()?;
    let mut ledger = Ledger::open(&dir.path().join("ledger"), Duration::from_secs(10))?;
    let opts = AppendOptions {
        imported: true,
        actor: "bench".into(),
        now: Timestamp::now(),
    };
    let (mut parse_s, mut append_s) = (0.0, 0.0);
    for (number, chunk) in lines.chunks(batch).enumerate() {
        let t = Instant::now();
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let inputs: Vec<InputEvent> =
            arl_domain::parse_lines(&texts, true).map_err(|(i, e)| format!("line {i}: {e}"))?;
        parse_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        ledger.append(inputs, &opts).map_err(|e| format!("{e:?}"))?;
        let took = t.elapsed().as_secs_f64();
        append_s += took;
        println!(
            "batch {:>3}: {:>7.0} events/s, {}",
            number + 1,
            chunk.len() as f64 / took,
            resident()
        );
    }
    println!(
        "{n} events: parse {:.2} s, append {:.2} s, total {:.0} events/s",
        parse_s,
        append_s,
        n as f64 / (parse_s + append_s)
    );
    let t = Instant::now();
    drop(ledger);
    let ledger = Ledger::open(&dir.path().join("ledger"), Duration::from_secs(10))?;
    println!(
        "writer reopen: {:.2} s (head {})",
        t.elapsed().as_secs_f64(),
        ledger.log().head().seq
    );
    Ok(())
}

/// `VmRSS`, `RssAnon` and `RssFile` of this process, in MB (Linux; empty elsewhere).
fn resident() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(|| "?".to_string(), |kb| format!("{}", kb / 1024))
    };
    format!(
        "resident {} MB (anonymous {}, files {})",
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:")
    )
}
