//! Measures what a query pays to open the views: `ViewReader::open` plus one account's
//! events (account chain, child refs, transactions), median of several reopens.
//!
//! `cargo run --release -p arl-views --example views_open -- --events N [--dir D] [--runs R]`
//! builds a ledger of N generated events in D (kept for later runs; default a temp dir) by
//! `Ledger::append --imported` in batches, then measures. `--replay` also times a replay.

use arl_domain::{InputEvent, Timestamp};
use arl_views::{open_reader, AppendOptions, Ledger, ViewReader, VIEWS_DIR};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BATCH_EVENTS: usize = 50_000;
const WAIT: Duration = Duration::from_secs(10);

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
    let runs: usize = value("--runs").unwrap_or_else(|| "11".into()).parse()?;
    let temp = tempfile::tempdir()?;
    let dir = value("--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| temp.path().join("ledger"));
    build(&dir, events)?;
    let started = Instant::now();
    let ledger = Ledger::open(&dir, WAIT)?;
    println!(
        "writer open (lock, log, catch-up, index from views): {:.0} ms",
        ms(started.elapsed())
    );
    drop(ledger);
    measure(&dir, runs)?;
    if args.iter().any(|a| a == "--replay") {
        let mut ledger = Ledger::open(&dir, WAIT)?;
        let started = Instant::now();
        let head = ledger.replay(&mut |_| {})?;
        println!(
            "replay of {} events (hash chain checked): {:.1} s",
            head.seq,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn build(dir: &Path, events: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut ledger = Ledger::open(dir, WAIT)?;
    let have = ledger.log().head().seq;
    if have == events {
        return Ok(());
    }
    if have != 0 {
        return Err(format!("{} holds {have} events, not {events}", dir.display()).into());
    }
    let opts = AppendOptions {
        imported: true,
        actor: "bench".into(),
        now: Timestamp::now(),
    };
    let started = Instant::now();
    let mut lines = arl_gen::Generator::new(arl_gen::Config::new(events, 42));
    loop {
        let batch = lines
            .by_ref()
            .take(BATCH_EVENTS)
            .map(|l| InputEvent::parse_line(&l, true))
            .collect::<Result<Vec<_>, _>>()?;
        if batch.is_empty() {
            break;
        }
        ledger.append(batch, &opts).map_err(|f| format!("{f:?}"))?;
    }
    let elapsed = started.elapsed();
    println!(
        "built {events} events in {:.1} s ({:.0} events/s, log + validation + views)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

fn measure(dir: &Path, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let views = dir.join(VIEWS_DIR);
    let reader = ViewReader::open(&views)?;
    let accounts = reader.account_ids();
    // The account with the most transactions: the slowest single-account read.
    let mut busiest = (0usize, String::new());
    for id in &accounts {
        let n = reader.txn_events(id)?.len() + reader.account_events(id)?.len();
        if n > busiest.0 {
            busiest = (n, id.clone());
        }
    }
    let typical = accounts
        .get(accounts.len() / 2)
        .cloned()
        .unwrap_or_default();
    let heads_bytes = std::fs::metadata(views.join("heads.0"))?.len();
    println!(
        "views: {} accounts, {} persons, heads {} KiB, checkpoint {}",
        accounts.len(),
        reader.person_ids().len(),
        heads_bytes / 1024,
        reader.heads().checkpoint
    );
    drop(reader);
    let mut open_only = Vec::new();
    for (label, id) in [("typical", &typical), ("busiest", &busiest.1)] {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let (_lock, reader) = open_reader(dir, WAIT)?;
            open_only.push(started.elapsed());
            n = reader.account_events(id)?.len()
                + reader.child_refs(id)?.len()
                + reader.txn_events(id)?.len();
            times.push(started.elapsed());
        }
        println!(
            "open_reader + account {id:?} ({label}, {n} events): median {:.2} ms, max {:.2} ms over {runs} runs",
            ms(median(&mut times)),
            ms(*times.iter().max().unwrap_or(&Duration::ZERO))
        );
    }
    println!(
        "open_reader alone: median {:.2} ms",
        ms(median(&mut open_only))
    );
    let reader = ViewReader::open(&views)?;
    let started = Instant::now();
    let mut rows = 0u64;
    reader.txn_rows(&mut |_| rows += 1)?;
    println!(
        "txn_rows over all {rows} rows: {:.1} ms",
        ms(started.elapsed())
    );
    let started = Instant::now();
    let mut scanned = 0u64;
    reader.scan(&mut |_| {
        scanned += 1;
        Ok(())
    })?;
    println!(
        "scan of all {scanned} events (read + parse): {:.0} ms",
        ms(started.elapsed())
    );
    let started = Instant::now();
    let mut index = arl_fold::MemIndex::without_txn_events();
    reader.scan(&mut |r| {
        index.insert(r);
        Ok(())
    })?;
    println!(
        "scan of every event into MemIndex::without_txn_events (writer open): {:.0} ms",
        ms(started.elapsed())
    );
    for name in ["events.dat", "txns.dat", "txndata.dat", "times.dat"] {
        let len = std::fs::metadata(views.join(name))?.len();
        println!("{name}: {:.1} MiB", len as f64 / f64::from(1 << 20));
    }
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
