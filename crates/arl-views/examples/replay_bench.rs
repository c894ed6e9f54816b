//! Times a full rebuild of the views from the log (`Ledger::replay`, hash chain checked) on
//! an existing ledger: median of `--runs` (default 3) replays in one process.
//!
//! `cargo run --release -p arl-views --example replay_bench -- --dir D [--runs N]`
//! (build D first, for instance with the `views_bench` example).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use arl_views::Ledger;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let dir = PathBuf::from(value("--dir").ok_or("--dir D is required")?);
    let runs: usize = value("--runs").unwrap_or_else(|| "3".into()).parse()?;
    let mut ledger = Ledger::open(&dir, Duration::from_secs(10))?;
    let mut rates = Vec::new();
    for _ in 0..runs {
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let head = ledger.replay(&mut |_| {})?;
        let rate = head.seq as f64 / t.elapsed().as_secs_f64();
        let per_cpu = head.seq as f64 / (cpu_seconds() - cpu);
        println!(
            "replay of {} events: {rate:.0} events/s, {per_cpu:.0} events per CPU-second",
            head.seq
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} events/s", rates[rates.len() / 2]);
    Ok(())
}

/// User plus system CPU time of this process so far, in seconds (Linux, clock ticks of
/// 10 ms), to tell the work done from the wait on a shared machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command's closing parenthesis: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}
