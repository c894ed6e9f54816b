//! The log in PostgreSQL against the directory store, on random histories: the same
//! batches (generated lines, some dropped so that later ones break rules, cut into batches of
//! random sizes) appended to a ledger directory and to a node over PostgreSQL must meet the
//! same fate batch by batch (appended, or refused for the same event and reason) and leave
//! the same log (head hash, Merkle root) and views that equal a rebuild from the log.
//!
//! PostgreSQL: `$ARL_TEST_PG`, default `postgres://root@127.0.0.1:5432`, a database per
//! case; unreachable is a failure, never a skip.

use arl_domain::{InputEvent, Timestamp};
use arl_testkit::PgDatabase;
use arl_views::{AppendOptions, Ledger, LogSource};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const EVENTS: u64 = 1200;

fn batches(seed: u64, drop_every: usize, sizes: &[usize]) -> Vec<Vec<InputEvent>> {
    let lines: Vec<String> = arl_gen::Generator::new(arl_gen::Config::new(EVENTS, seed))
        .enumerate()
        .filter(|(i, _)| drop_every == 0 || i % drop_every != drop_every - 1)
        .map(|(_, l)| l)
        .collect();
    // Every event gets an id: the log makes one up for an event without, which would
    // differ between the two stores.
    let mut events = lines.iter().enumerate().map(|(i, l)| {
        let mut event = InputEvent::parse_line(l, true).expect("generated lines parse");
        event.id.get_or_insert_with(|| format!("g-{i}"));
        event
    });
    let mut out = Vec::new();
    for size in sizes.iter().cycle() {
        let batch: Vec<InputEvent> = events.by_ref().take(*size).collect();
        if batch.is_empty() {
            break;
        }
        out.push(batch);
    }
    out
}

/// Returns how many batches both refused.
fn check(seed: u64, drop_every: usize, sizes: &[usize]) -> usize {
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let source = LogSource::Shared(Arc::new(arl_pg::PgSource::new(&db.url).unwrap()));
    let mut on_dir = Ledger::open(&tmp.path().join("dir"), WAIT).unwrap();
    let mut on_pg = Ledger::open_in(&tmp.path().join("node"), WAIT, source).unwrap();
    // One record time for both: non-imported fields would differ otherwise.
    let opts = AppendOptions {
        imported: true,
        actor: "model".into(),
        now: Timestamp::now(),
    };
    let mut refused = 0;
    for (n, batch) in batches(seed, drop_every, sizes).into_iter().enumerate() {
        let a = on_dir.append(batch.clone(), &opts);
        let b = on_pg.append(batch, &opts);
        match (&a, &b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "batch {n}"),
            (Err(a), Err(b)) => {
                refused += 1;
                assert_eq!(
                    (a.index, a.kind, &a.message),
                    (b.index, b.kind, &b.message),
                    "batch {n}"
                );
            }
            _ => panic!("batch {n}: the directory says {a:?}, PostgreSQL {b:?}"),
        }
    }
    let head = on_dir.log().head();
    assert_eq!(on_pg.log().head(), head);
    if head.seq == 0 {
        // Every batch was refused (the first broke a rule, and the rest depend on it).
        return refused;
    }
    assert_eq!(on_pg.log().verify(&mut |_| {}).unwrap(), head);
    let checked = arl_views::check::check_against_log(on_pg.dir(), on_pg.log(), &mut |_| {})
        .unwrap()
        .expect("the node has views");
    assert_eq!(checked.checkpoint, head.seq);
    let lines = |ledger: &Ledger| -> Vec<String> {
        ledger
            .log()
            .range(1, head.seq)
            .map(|e| e.unwrap().to_json_line())
            .collect()
    };
    assert_eq!(lines(&on_pg), lines(&on_dir));
    refused
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]
    #[test]
    fn postgres_store_matches_the_directory(
        seed in any::<u64>(),
        drop_every in prop_oneof![Just(0usize), 20usize..200],
        sizes in proptest::collection::vec(1usize..300, 1..5),
    ) {
        check(seed, drop_every, &sizes);
    }
}

#[test]
fn a_history_with_broken_batches_matches() {
    let refused = check(7, 37, &[1, 50, 3, 200]);
    assert!(
        refused > 0,
        "no batch broke a rule: the case tests nothing of refusals"
    );
}

/// The writers' turn: while one store holds it, another that asks waits, and gets it as
/// soon as it is given back.
#[test]
fn a_writer_waits_for_the_turn_another_holds() {
    use arl_log::Store;
    let db = PgDatabase::create();
    let source = arl_pg::PgSource::new(&db.url).unwrap();
    let mut first = source.open_store().unwrap();
    let mut second = source.open_store().unwrap();
    first.begin_write().unwrap();
    let waiter = std::thread::spawn(move || {
        second.begin_write().unwrap();
        let got = std::time::Instant::now();
        second.end_write();
        got
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !waiter.is_finished(),
        "the second writer got the turn while the first held it"
    );
    let given_back = std::time::Instant::now();
    first.end_write();
    let got = waiter.join().unwrap();
    assert!(
        got >= given_back,
        "the second writer's turn came before the first gave it back"
    );
}

/// Two nodes appending one event at a time, back to back, on one log: every append of
/// each is acknowledged (no node starves behind the other's commits), and the log holds
/// them all, one chain.
#[test]
fn two_nodes_appending_back_to_back_all_get_through() {
    const EACH: usize = 150;
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        let source = LogSource::Shared(Arc::new(arl_pg::PgSource::new(&db.url).unwrap()));
        Ledger::open_in(&tmp.path().join(name), WAIT, source).unwrap()
    };
    let mut first = open("a");
    let second = open("b");
    let base: Vec<InputEvent> = include_str!("../fixtures/globex.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| InputEvent::parse_line(l, true).unwrap())
        .collect();
    let imported = AppendOptions {
        imported: true,
        actor: "model".into(),
        now: Timestamp::now(),
    };
    first.append(base, &imported).unwrap();
    let base_seq = first.log().head().seq;
    let run = |mut node: Ledger, name: &'static str| {
        std::thread::spawn(move || {
            for n in 0..EACH {
                let line = format!(
                    r#"{{"type": "transaction.recorded", "id": "{name}-{n}", "data": {{"account": "globex-de", "txn": "{name}-{n}", "kind": "sale", "amount": "1.00", "currency": "EUR"}}, "effective_at": "2024-01-10"}}"#
                );
                let event = InputEvent::parse_line(&line, false).unwrap();
                let opts = AppendOptions {
                    imported: false,
                    actor: name.into(),
                    now: Timestamp::now(),
                };
                if let Err(e) = node.append(vec![event], &opts) {
                    panic!("{name}: append {n} refused: {e:?}");
                }
            }
            node
        })
    };
    let a = run(first, "a");
    let b = run(second, "b");
    let mut a = a.join().expect("node a");
    let b = b.join().expect("node b");
    let head = a.sync().unwrap();
    assert_eq!(head.seq, base_seq + 2 * EACH as u64);
    assert_eq!(a.log().verify(&mut |_| {}).unwrap(), head);
    drop(b);
}
