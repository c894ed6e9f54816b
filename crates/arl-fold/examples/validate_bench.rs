//! Validation + index update during a bulk append, alone: the projections' share of an
//! import (docs/PERFORMANCE.md, "The projections"), on the same events `views_bench` times.
//!
//! `cargo run --release -p arl-fold --example validate_bench -- [EVENTS] [RUNS]`
//! (defaults 1,000,000 events, seed 42, 3 runs) prints each run and the median in events/s.

use arl_domain::{InputEvent, Recorded};
use arl_fold::MemIndex;
use std::time::Instant;

// The allocator the writer and `views_bench` use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let lines: Vec<String> = arl_gen::Generator::new(arl_gen::Config::new(events, 42)).collect();
    let parsed: Vec<Recorded> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let input = InputEvent::parse_line(l, true).expect("generated lines parse");
            let recorded_at = input.recorded_at.expect("imported");
            Recorded {
                seq: i as u64 + 1,
                effective_at: input.effective_at.unwrap_or(recorded_at),
                recorded_at,
                event: input.event,
            }
        })
        .collect();
    drop(lines);
    let (mut rates, mut cpu_rates) = (Vec::new(), Vec::new());
    for run in 1..=runs.max(1) {
        let mut index = MemIndex::without_txn_events();
        let (t, cpu) = (Instant::now(), thread_cpu_ns());
        for r in &parsed {
            if let Err(e) = arl_fold::validate(&index, r) {
                panic!("seq {}: {e}", r.seq);
            }
            index.insert_ref(r);
        }
        let rate = parsed.len() as f64 / t.elapsed().as_secs_f64();
        rates.push(rate);
        match thread_cpu_ns().zip(cpu) {
            Some((after, before)) => {
                let cpu_rate = parsed.len() as f64 / ((after - before) as f64 / 1e9);
                cpu_rates.push(cpu_rate);
                println!(
                    "run {run}: validation + index update: {rate:.0} events/s \
                     ({cpu_rate:.0} events/s of this thread's CPU time)"
                );
            }
            None => println!("run {run}: validation + index update: {rate:.0} events/s"),
        }
        drop(index);
    }
    println!("median of {}: {:.0} events/s", rates.len(), median(rates));
    if !cpu_rates.is_empty() {
        println!("median by CPU time: {:.0} events/s", median(cpu_rates));
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Nanoseconds this thread has run on a CPU (Linux), so that a shared machine's load shows
/// apart from the figure.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
