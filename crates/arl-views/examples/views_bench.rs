//! The projections' benchmark on a persisted ledger (issue targets in docs/PERFORMANCE.md):
//! an account card at random (as-of, known-at) points, quarterly balances of all accounts,
//! opening the views, validation plus index update during a bulk load, and a full rebuild.
//!
//! `cargo run --release -p arl-views --example views_bench -- --events N [--dir D]`
//! builds D (default a temporary directory) with N generated events if it is empty.

use arl_domain::{InputEvent, Period, Recorded, Timestamp};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use arl_fold::{MemIndex, Point};
use arl_views::{AppendOptions, Ledger, ViewReader, VIEWS_DIR};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[allow(
    clippy::too_many_lines,
    reason = "a benchmark script, read top to bottom: each measure in the order it prints"
)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let events: u64 = value("--events")
        .unwrap_or_else(|| "100000".into())
        .parse()?;
    let temp = tempfile::tempdir()?;
    let dir = value("--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| temp.path().join("ledger"));
    let lines: Vec<String> = arl_gen::Generator::new(arl_gen::Config::new(events, 42)).collect();
    {
        let mut ledger = Ledger::open(&dir, WAIT)?;
        if ledger.log().head().seq == 0 {
            let opts = AppendOptions {
                imported: true,
                actor: "bench".into(),
                now: Timestamp::now(),
            };
            let t = Instant::now();
            for chunk in lines.chunks(100_000) {
                let inputs: Vec<InputEvent> = chunk
                    .iter()
                    .map(|l| InputEvent::parse_line(l, true))
                    .collect::<Result<_, _>>()?;
                ledger.append(inputs, &opts).map_err(|e| format!("{e:?}"))?;
            }
            println!(
                "import (parse, validate, log, views; batches of 100k): {:.0} events/s",
                events as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    // Validation plus index update alone, on parsed events (the part of an import the
    // projections own).
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
    let mut index = MemIndex::without_txn_events();
    let t = Instant::now();
    for r in &parsed {
        arl_fold::validate(&index, r).map_err(|e| format!("seq {}: {e}", r.seq))?;
        index.insert_ref(r);
    }
    println!(
        "validation + index update: {:.0} events/s",
        events as f64 / t.elapsed().as_secs_f64()
    );

    // Staging the persisted views alone (what an append's staging thread does with the
    // checked events, the data already in canonical form), committed once at the end.
    let datas: Vec<String> = parsed.iter().map(|r| r.event.data_json()).collect();
    let staging_dir = tempfile::tempdir()?;
    let mut writer = arl_views::ViewWriter::open(staging_dir.path())?;
    let t = Instant::now();
    for (r, data) in parsed.iter().zip(&datas) {
        writer.stage_data(r, data)?;
    }
    writer.commit()?;
    println!(
        "views staging (the persisted views' share, one thread, commit included): {:.0} events/s",
        events as f64 / t.elapsed().as_secs_f64()
    );
    drop(writer);

    let views = dir.join(VIEWS_DIR);
    let mut opens = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        let reader = ViewReader::open(&views)?;
        let _ = reader.account_ids();
        opens.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("views open + account list: median {:.2} ms", median(opens));
    let reader = ViewReader::open(&views)?;
    let ids = reader.account_ids();
    let last = index.last_recorded_at().unwrap_or(Timestamp(0));
    let first = parsed.first().map(|r| r.recorded_at.0).unwrap_or(0);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut cards = Vec::new();
    let mut teams = Vec::new();
    for _ in 0..1000 {
        let id = &ids[(next() % ids.len() as u64) as usize];
        let span = (last.0 - first).max(1) as u64;
        let as_of = Timestamp(first + (next() % span) as i64);
        let known_at = Timestamp(first + (next() % span) as i64);
        let t = Instant::now();
        let point = Point {
            as_of,
            at_seq: reader.seq_known_at(known_at)?,
        };
        let _card = arl_accounts::card(&reader, id, point)?;
        cards.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let _team = arl_teams::team(&reader, id, point)?;
        teams.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let card_ms = median(cards.clone());
    cards.sort_by(f64::total_cmp);
    println!(
        "card at a random (as-of, known-at) point: median {card_ms:.3} ms, p90 {:.3} ms",
        cards[cards.len() * 9 / 10]
    );
    println!(
        "team at a random (as-of, known-at) point: median {:.3} ms",
        median(teams)
    );
    let mut balances = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let query = arl_txns::BalanceQuery {
            period: Period::Quarter,
            ..arl_txns::BalanceQuery::new(Point::LATEST)
        };
        let rows = arl_txns::balances(&reader, &query)?;
        balances.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!rows.is_empty());
    }
    println!(
        "quarterly balances of all accounts: median {:.1} ms",
        median(balances)
    );
    let mut ledger = Ledger::open(&dir, WAIT)?;
    let t = Instant::now();
    let head = ledger.replay(&mut |_| {})?;
    println!(
        "rebuild of all views from the log (replay, hash chain checked): {:.0} events/s",
        head.seq as f64 / t.elapsed().as_secs_f64()
    );
    Ok(())
}
