//! `concurrent_appends`: four writers append 500 events each to one ledger at once, through
//! the `arl` binary, in many small calls; every event is there once, in each writer's order,
//! the chain and the views verify, and the answers equal a rebuild. A query while a long
//! append runs either waits for it or fails with "ledger busy" (exit 1) after
//! `--lock-timeout`; it never answers from a half-written state.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use support::{run_arl, Ledger};

const WRITERS: u64 = 4;
const EVENTS_PER_WRITER: u64 = 500;
const EVENTS_PER_CALL: u64 = 10;

/// Writer `w`'s event `i` (an input line): its account first, then a mix of people joining
/// and sales on its account, each with its own id.
fn event(w: u64, i: u64) -> String {
    let id = format!("w{w}-e{i}");
    if i == 0 {
        return format!(
            r#"{{"id":"{id}","type":"account.opened","data":{{"account":"acct-{w}","name":"Writer {w}","scope":"global"}},"effective_at":"2024-01-01"}}"#
        );
    }
    if i.is_multiple_of(5) {
        return format!(
            r#"{{"id":"{id}","type":"person.joined","data":{{"person":"p{w}-{i}","name":"Person {w} {i}"}},"effective_at":"2024-01-01"}}"#
        );
    }
    format!(
        r#"{{"id":"{id}","type":"transaction.recorded","data":{{"account":"acct-{w}","txn":"t{w}-{i}","kind":"sale","amount":"{i}.25","currency":"EUR"}},"effective_at":"2024-02-01"}}"#
    )
}

fn expected_sales_cents(w: u64) -> u64 {
    let _ = w;
    (1..EVENTS_PER_WRITER)
        .filter(|i| !i.is_multiple_of(5))
        .map(|i| i * 100 + 25)
        .sum()
}

#[test]
fn concurrent_appends() {
    let ledger = Arc::new(Ledger::new());
    let binary = support::arl_binary();
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let ledger = Arc::clone(&ledger);
            let barrier = Arc::clone(&barrier);
            let binary = binary.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for call in 0..EVENTS_PER_WRITER / EVENTS_PER_CALL {
                    let lines: String = (call * EVENTS_PER_CALL..(call + 1) * EVENTS_PER_CALL)
                        .map(|i| event(w, i) + "\n")
                        .collect();
                    let file = ledger.write(&format!("w{w}.jsonl"), &lines);
                    let out = Command::new(&binary)
                        .arg("--ledger")
                        .arg(ledger.dir())
                        .args(["--lock-timeout", "300", "append", "--format", "json", &file])
                        .env_remove("ARL_LEDGER")
                        .output()
                        .expect("running arl append");
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    assert!(out.status.success(), "writer {w} call {call}: {stderr}");
                    let report: Value =
                        serde_json::from_slice(&out.stdout).expect("append prints JSON");
                    assert_eq!(
                        report["appended"], EVENTS_PER_CALL,
                        "writer {w} call {call}"
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("a writer failed");
    }
    let took = started.elapsed();

    // Every event once, each writer's in its order.
    let export = ledger.run(&["export"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let envelopes: Vec<Value> = export
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("export line"))
        .collect();
    assert_eq!(envelopes.len() as u64, WRITERS * EVENTS_PER_WRITER);
    let mut seen: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for (n, env) in envelopes.iter().enumerate() {
        assert_eq!(env["seq"], n as u64 + 1, "seqs have no gaps");
        let id = env["id"].as_str().expect("id");
        assert!(ids.insert(id.to_string()), "{id} stored twice");
        let (w, i) = id[1..].split_once("-e").expect("writer id");
        seen.entry(w.parse().expect("w"))
            .or_default()
            .push(i.parse().expect("i"));
    }
    for w in 0..WRITERS {
        let order = &seen[&w];
        let expected: Vec<u64> = (0..EVENTS_PER_WRITER).collect();
        assert_eq!(order, &expected, "writer {w}'s events, in its order");
    }

    // Chain, Merkle tree and views verify; the views hold everything.
    let verify = ledger.json(&["verify", "--quiet", "--format", "json"]);
    assert_eq!(verify["seq"], WRITERS * EVENTS_PER_WRITER);
    assert_eq!(verify["views_checked"], WRITERS * EVENTS_PER_WRITER);

    // The answers add up, and equal a rebuild from the log.
    let balance = ledger.json(&["balance", "--format", "json"]);
    let rows = balance.as_array().expect("rows");
    assert_eq!(rows.len() as u64, WRITERS);
    for (w, row) in rows.iter().enumerate() {
        assert_eq!(row["account"], format!("acct-{w}"));
        let sales = expected_sales_cents(w as u64);
        assert_eq!(row["sales"], format!("{}.{:02}", sales / 100, sales % 100));
    }
    let accounts = ledger.json(&["accounts", "--format", "json"]);
    let org = ledger.json(&["org", "--format", "json"]);
    assert_eq!(ledger.run(&["replay", "--quiet"]).code, 0);
    assert_eq!(ledger.json(&["balance", "--format", "json"]), balance);
    assert_eq!(ledger.json(&["accounts", "--format", "json"]), accounts);
    assert_eq!(ledger.json(&["org", "--format", "json"]), org);
    eprintln!(
        "concurrent_appends: {} events by {WRITERS} writers in {} calls took {:.1} s",
        WRITERS * EVENTS_PER_WRITER,
        WRITERS * EVENTS_PER_WRITER / EVENTS_PER_CALL,
        took.as_secs_f64()
    );
}

/// What a query said while the long append ran.
#[derive(Debug, PartialEq)]
enum Seen {
    Answer(String),
    Busy,
}

#[test]
fn a_query_during_a_long_append_waits_or_says_busy_never_half() {
    const BASE: usize = 1000;
    const LONG: usize = 30_000;
    let ledger = Ledger::new();
    let all = support::generated((BASE + LONG) as u64, 21);
    let lines: Vec<&str> = all.lines().collect();
    ledger.append(&(lines[..BASE].join("\n") + "\n"), true);
    let long_file = ledger.write("long.jsonl", &(lines[BASE..].join("\n") + "\n"));
    let queries: [&[&str]; 3] = [
        &["balance", "--format", "json"],
        &["accounts", "--format", "json"],
        &["digest"],
    ];
    let ask = |q: &[&str], timeout: &str| -> Seen {
        let mut args = vec!["--lock-timeout", timeout];
        args.extend_from_slice(q);
        let run = run_arl(&ledger.dir(), &args);
        match run.code {
            0 => Seen::Answer(run.stdout),
            1 if run.stderr.contains("ledger busy") => Seen::Busy,
            code => panic!("{q:?} exited {code} during an append: {}", run.stderr),
        }
    };
    let before: Vec<Seen> = queries.iter().map(|q| ask(q, "10")).collect();

    let mut child = Command::new(support::arl_binary())
        .arg("--ledger")
        .arg(ledger.dir())
        .args(["append", "--quiet", "--imported", long_file.as_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the long append");
    let started = Instant::now();
    let mut during: Vec<(usize, Seen)> = Vec::new();
    let mut waited: Option<Seen> = None;
    while child.try_wait().expect("polling the append").is_none() {
        for (n, q) in queries.iter().enumerate() {
            during.push((n, ask(q, "0.05")));
        }
        let told_busy = during.iter().any(|(_, seen)| *seen == Seen::Busy);
        if waited.is_none() && told_busy {
            // A query that may wait as long as it takes, asked while the writer holds the
            // lock (asked earlier, it could take the whole locked time for itself).
            waited = Some(ask(queries[0], "600"));
        }
    }
    let took = started.elapsed();
    let status = child.wait().expect("append");
    assert!(status.success(), "the long append failed");
    let after: Vec<Seen> = queries.iter().map(|q| ask(q, "10")).collect();
    assert_ne!(before, after, "the long append changed the answers");

    let busy = during.iter().filter(|(_, s)| *s == Seen::Busy).count();
    for (n, seen) in &during {
        assert!(
            *seen == Seen::Busy || *seen == before[*n] || *seen == after[*n],
            "{:?} during the append answered neither the state before nor after it",
            queries[*n]
        );
    }
    if let Some(seen) = &waited {
        assert!(
            *seen == before[0] || *seen == after[0],
            "a waiting query answered a half state"
        );
    }
    eprintln!(
        "long append of {LONG} events: {:.2} s; {} queries during it, {busy} said busy",
        took.as_secs_f64(),
        during.len()
    );
    if took > Duration::from_millis(500) {
        assert!(busy > 0, "no query was ever told the ledger is busy");
    }
}
