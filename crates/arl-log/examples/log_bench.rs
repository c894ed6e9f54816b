//! Benchmark of the log: bulk append, verify, reopen, single durable appends, disk use.
//!
//! `cargo run --release -p arl-log --example log_bench -- --events 1000000 [--batch 100000] [--dir PATH]`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arl_log::{Log, NewEvent};
use serde_json::json;

const T0: i64 = 1_709_366_400_000_000;

struct Args {
    events: u64,
    batch: u64,
    dir: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        events: 1_000_000,
        batch: 100_000,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--events" => args.events = value.parse().expect("--events N"),
            "--batch" => args.batch = value.parse().expect("--batch N"),
            "--dir" => args.dir = Some(PathBuf::from(value)),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// An event whose envelope is about 350 bytes of JSON.
fn event(i: u64) -> NewEvent {
    let data = json!({
        "account": format!("a{:05}", i % 20_000),
        "amount": format!("{}.{:02}", 100 + i % 9_000, i % 100),
        "currency": "EUR",
        "txn": format!("t{i:08}"),
    });
    let mut e = NewEvent::new(
        "transaction.recorded",
        &format!("account/a{:05}", i % 20_000),
        "bench",
        &data,
    )
    .expect("object");
    e.id = Some(format!("i{i:08}"));
    e.effective_at = Some(T0 - 86_400_000_000 + i as i64);
    e
}

/// CPU time (user + system) of this process so far, from /proc (Linux), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn main() {
    let args = parse_args();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().join("log"));
    let mut log = Log::open(&dir).expect("open");

    let (mut append_time, mut gen_time) = (Duration::ZERO, Duration::ZERO);
    let mut prepare_time = Duration::ZERO;
    let mut append_cpu = 0.0;
    let mut next = 0;
    while next < args.events {
        let n = args.batch.min(args.events - next);
        let t = Instant::now();
        let batch: Vec<NewEvent> = (next..next + n).map(event).collect();
        gen_time += t.elapsed();
        let t = Instant::now();
        let cpu = cpu_seconds();
        let prepared = log.prepare(batch, T0).expect("prepare");
        prepare_time += t.elapsed();
        if std::env::var_os("BENCH_TRACE").is_some() {
            eprintln!("batch at {next}: prepare {:?}", t.elapsed());
        }
        log.commit(prepared).expect("commit");
        append_time += t.elapsed();
        append_cpu += cpu_seconds() - cpu;
        next += n;
    }
    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "bulk append: {} events in batches of {}: {:.2} s (prepare {:.2} s), {:.0} events/s; CPU {:.2} s = {:.0} events per CPU-second (generating the input: {:.2} s, not counted)",
        args.events,
        args.batch,
        append_time.as_secs_f64(),
        prepare_time.as_secs_f64(),
        rate(args.events, append_time),
        append_cpu,
        args.events as f64 / append_cpu,
        gen_time.as_secs_f64()
    );

    let t = Instant::now();
    let cpu = cpu_seconds();
    let head = log.verify(&mut |_| {}).expect("verify");
    let d = t.elapsed();
    let verify_cpu = cpu_seconds() - cpu;
    println!(
        "verify: {:.2} s, {:.0} events/s; CPU {:.2} s (both threads) = {:.0} events per CPU-second",
        d.as_secs_f64(),
        rate(head.seq, d),
        verify_cpu,
        head.seq as f64 / verify_cpu
    );

    let t = Instant::now();
    let mut json_bytes = 0u64;
    for env in log.range(1, head.seq) {
        json_bytes += env.expect("range").to_json_line().len() as u64 + 1;
    }
    let d = t.elapsed();
    println!(
        "range (decode + to_json_line): {:.2} s, {:.0} events/s; export {} bytes, {:.0} bytes/event",
        d.as_secs_f64(),
        rate(head.seq, d),
        json_bytes,
        json_bytes as f64 / head.seq as f64
    );
    drop(log);

    let disk = dir_bytes(&dir);
    println!(
        "disk: {} bytes = {:.2}x the export JSON",
        disk,
        disk as f64 / json_bytes as f64
    );

    let mut opens = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let log = Log::open(&dir).expect("reopen");
        let env = log.get(head.seq / 2).expect("get");
        opens.push(t.elapsed());
        assert!(env.is_some());
    }
    println!(
        "reopen + one get: median of 5: {:.1} ms",
        median(opens).as_secs_f64() * 1e3
    );

    let mut log = Log::open(&dir).expect("reopen");
    let mut singles = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let prepared = log
            .prepare(vec![event(args.events + i)], T0)
            .expect("prepare");
        log.commit(prepared).expect("commit");
        singles.push(t.elapsed());
    }
    singles.sort();
    println!(
        "single durable append: median of 200: {:.3} ms (p90 {:.3} ms, max {:.3} ms)",
        singles[100].as_secs_f64() * 1e3,
        singles[180].as_secs_f64() * 1e3,
        singles[199].as_secs_f64() * 1e3
    );
}
