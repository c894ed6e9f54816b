//! In-memory fold benchmark: validation + index insert during a bulk import, a card at random
//! (as-of, known-at) points, quarterly balances of all accounts, on generated events.
//!
//! `cargo run --release -p arl-fold --example fold_bench -- 1000000`

use arl_domain::{InputEvent, Period, Recorded, Timestamp};
use arl_fold::{MemIndex, Point, Source};
use std::time::Instant;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let lines: Vec<String> = arl_gen::Generator::new(arl_gen::Config::new(n, 7)).collect();
    let t = Instant::now();
    let inputs: Vec<InputEvent> = lines
        .iter()
        .map(|l| InputEvent::parse_line(l, true).unwrap())
        .collect();
    let parse_s = t.elapsed().as_secs_f64();
    let mut index = MemIndex::without_txn_events();
    let t = Instant::now();
    for (i, input) in inputs.into_iter().enumerate() {
        let recorded_at = input.recorded_at.unwrap();
        let r = Recorded {
            seq: i as u64 + 1,
            effective_at: input.effective_at.unwrap_or(recorded_at),
            recorded_at,
            event: input.event,
        };
        if let Err(e) = arl_fold::validate(&index, &r) {
            panic!("line {}: {}: {e}", i + 1, r.event.kind());
        }
        index.insert(r);
    }
    let validate_s = t.elapsed().as_secs_f64();
    println!(
        "events {n}: parse {:.0}/s, validate+insert {:.0}/s",
        n as f64 / parse_s,
        n as f64 / validate_s
    );
    let ids = index.account_ids().unwrap();
    let last = index.last_recorded_at().unwrap();
    let mut rng = 12345u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut times = Vec::new();
    for _ in 0..1000 {
        let id = &ids[(next() % ids.len() as u64) as usize];
        let as_of = Timestamp((next() % last.0 as u64) as i64);
        let at_seq = next() % n + 1;
        let t = Instant::now();
        let _ = arl_accounts::card(&index, id, Point { as_of, at_seq }).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("card at random point: median {:.3} ms", median(times));
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let q = arl_txns::BalanceQuery {
            period: Period::Quarter,
            ..arl_txns::BalanceQuery::new(Point::LATEST)
        };
        let rows = arl_txns::balances(&index, &q).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!rows.is_empty());
    }
    println!(
        "quarterly balances all accounts: median {:.1} ms",
        median(times)
    );
}
