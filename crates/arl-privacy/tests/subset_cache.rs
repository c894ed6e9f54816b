//! Questions of one account answered from a kept subset (built once over every event, then
//! filtered by the point) against the same questions answered from a subset built for the
//! point, on generated histories: every account, at points of valid time and of knowledge
//! across the history, with the cache warm and cold.

use arl_domain::{InputEvent, Timestamp};
use arl_fold::{query, Point, Source, SubsetCache};
use arl_privacy::UnsealedSource;
use arl_views::{AppendOptions, Ledger, ViewReader};
use std::time::Duration;

/// A ledger of `events` generated events, its accounts and the valid times of its events.
fn ledger(
    dir: &std::path::Path,
    events: u64,
    seed: u64,
) -> (ViewReader, Vec<String>, Vec<Timestamp>) {
    let mut ledger = Ledger::open(dir, Duration::from_secs(5)).unwrap();
    let mut lines: Vec<InputEvent> = arl_gen::Generator::new(arl_gen::Config::new(events, seed))
        .map(|line| InputEvent::parse_line(&line, true).expect("generated lines parse"))
        .collect();
    let mut accounts = Vec::new();
    let mut times = Vec::new();
    for input in &lines {
        if let arl_domain::Event::AccountOpened(d) = &input.event {
            accounts.push(d.account.clone());
        }
        times.extend(input.effective_at.or(input.recorded_at));
    }
    times.sort();
    let options = AppendOptions {
        imported: true,
        actor: "test".into(),
        now: Timestamp::parse_input("2030-01-01").unwrap(),
    };
    while !lines.is_empty() {
        let rest = lines.split_off(lines.len().min(700));
        ledger.append(lines, &options).unwrap();
        lines = rest;
    }
    (ledger.reader().unwrap(), accounts, times)
}

#[test]
fn kept_subsets_answer_as_subsets_built_for_the_point() {
    for seed in [1, 7, 42] {
        let dir = tempfile::tempdir().unwrap();
        let (index, mut accounts, times) = ledger(dir.path(), 6_000, seed);
        accounts.push("never-opened".to_string());
        let last = index.checkpoint();
        let mut points = vec![Point::LATEST];
        for step in 1..=12u64 {
            let at_seq = last * step / 12;
            let as_of = times[(times.len() - 1) * (13 - step as usize) / 12];
            points.push(Point { as_of, at_seq });
            points.push(Point {
                as_of: Timestamp::MAX,
                at_seq,
            });
            points.push(Point {
                as_of,
                at_seq: u64::MAX,
            });
        }
        let plain = UnsealedSource::as_stored(&index);
        assert!(plain.subsets().is_none());
        let cache = SubsetCache::new();
        let (mut compared, mut found) = (0, 0);
        // Twice: the first pass fills the cache, the second reads it.
        for _ in 0..2 {
            let kept = UnsealedSource::as_stored(&index).keeping_subsets(&cache);
            for account in &accounts {
                for point in &points {
                    let expected = query::account_at(&plain, account, *point).unwrap();
                    let answer = query::account_at(&kept, account, *point).unwrap();
                    assert_eq!(answer, expected, "{account} at {point:?}, seed {seed}");
                    compared += 1;
                    found += usize::from(expected.is_some());
                }
            }
        }
        assert!(
            found > compared / 2,
            "most accounts exist at most points ({found}/{compared})"
        );
        assert!(found < compared, "some points precede some accounts");
    }
}
