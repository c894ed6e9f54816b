//! Durable single-event appends on an existing ledger, each its own `Ledger::append` call.
//! `cargo run --release -p arl-views --example single_appends -- DIR [COUNT]`

use arl_domain::{InputEvent, Timestamp};
use arl_views::{AppendOptions, Ledger};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: single_appends DIR [COUNT]")?;
    let count: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let t = Instant::now();
    let mut ledger = Ledger::open(std::path::Path::new(&dir), Duration::from_secs(10))?;
    println!("writer open: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let opts = AppendOptions {
        imported: false,
        actor: "bench".into(),
        now: Timestamp::now(),
    };
    let tag = Timestamp::now().0;
    let mut times = Vec::new();
    for i in 0..count {
        let line = format!(
            r#"{{"type":"person.joined","data":{{"person":"single-{tag}-{i}","name":"S"}}}}"#
        );
        let input = InputEvent::parse_line(&line, false)?;
        let opts = AppendOptions {
            now: Timestamp::now(),
            ..opts.clone()
        };
        let t = Instant::now();
        ledger
            .append(vec![input], &opts)
            .map_err(|e| format!("{e:?}"))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "single durable append: median {:.3} ms, p90 {:.3} ms",
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
    Ok(())
}
