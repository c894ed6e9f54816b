//! validation_matches_fold: the writer validates against the persisted views (and the batch
//! so far), not an index of everything; its verdicts must be exactly those of a fresh
//! in-memory fold.
//!
//! A generated ledger is imported in one batch, then its continuation is appended one event
//! at a time through `Ledger::append`. Before each event, variants of it that the rules
//! should often reject (back-dated, a used or unknown txn id, a reversal on the wrong
//! account or before its transaction, a second opening or joining, another parent, another
//! person, a closing) are offered alone: whenever the fresh fold of an in-memory index
//! (`arl_fold::validate_fresh` over a `MemIndex` of every event appended) rejects one, the
//! ledger must reject it with the same `RuleError` and stay unchanged; every generated event
//! must be accepted by both. The ledger is reopened now and then, so that answers come from
//! committed views as well as from a writer that just committed.

use arl_domain::{Event, InputEvent, Recorded, RuleError, Status, Timestamp};
use arl_fold::{MemIndex, Source};
use arl_views::{AppendOptions, FailureKind, Ledger};
use std::collections::BTreeMap;
use std::time::Duration;

const DAY: i64 = 86_400_000_000;
/// Events imported in one batch before the one-at-a-time part.
const IMPORTED_EVENTS: usize = 1_500;
/// Events of the generated history in all.
const EVENTS: u64 = 2_300;
/// One-at-a-time events between two reopenings of the ledger.
const REOPEN_EVERY: usize = 150;
const WAIT: Duration = Duration::from_secs(10);

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// What the generated history has named so far, to build variants from.
#[derive(Default)]
struct Seen {
    accounts: Vec<String>,
    people: Vec<String>,
    /// Recorded transactions: (txn id, account).
    txns: Vec<(String, String)>,
    /// Reversed transactions: (txn id, account).
    reversed: Vec<(String, String)>,
}

impl Seen {
    fn note(&mut self, event: &Event) {
        match event {
            Event::AccountOpened(d) => self.accounts.push(d.account.clone()),
            Event::PersonJoined(d) => self.people.push(d.person.clone()),
            Event::TxnRecorded(d) => self.txns.push((d.txn.clone(), d.account.clone())),
            Event::TxnReversed(d) => self.reversed.push((d.txn.clone(), d.account.clone())),
            _ => {}
        }
    }
}

fn pick<'a>(list: &'a [String], rng: &mut Rng) -> Option<&'a String> {
    (!list.is_empty()).then(|| &list[rng.below(list.len())])
}

/// Variants of `r` that the rules often reject.
fn variants(r: &Recorded, seen: &Seen, rng: &mut Rng) -> Vec<Recorded> {
    let with = |event: Event, effective_at: Timestamp| Recorded {
        event,
        effective_at,
        ..r.clone()
    };
    let back = Timestamp(r.effective_at.0 - (1 + rng.below(400) as i64) * DAY);
    let mut out = vec![with(r.event.clone(), back)];
    let used = (!seen.txns.is_empty()).then(|| seen.txns[rng.below(seen.txns.len())].clone());
    match &r.event {
        Event::TxnRecorded(d) => {
            if let Some((txn, _)) = &used {
                let mut reused = d.clone();
                reused.txn = txn.clone();
                out.push(with(Event::TxnRecorded(reused), r.effective_at));
            }
            let mut nowhere = d.clone();
            nowhere.account = "no-such-account".into();
            out.push(with(Event::TxnRecorded(nowhere), r.effective_at));
        }
        Event::TxnReversed(d) => {
            let mut unknown = d.clone();
            unknown.txn = "no-such-txn".into();
            out.push(with(Event::TxnReversed(unknown), r.effective_at));
            if let Some(other) = pick(&seen.accounts, rng) {
                let mut elsewhere = d.clone();
                elsewhere.account = other.clone();
                out.push(with(Event::TxnReversed(elsewhere), r.effective_at));
            }
        }
        Event::AccountOpened(d) => {
            if let Some(existing) = pick(&seen.accounts, rng) {
                let mut again = d.clone();
                again.account = existing.clone();
                out.push(with(Event::AccountOpened(again), r.effective_at));
                let mut under = d.clone();
                under.parent = Some(existing.clone());
                out.push(with(Event::AccountOpened(under), back));
            }
        }
        Event::PersonJoined(d) => {
            if let Some(existing) = pick(&seen.people, rng) {
                let mut again = d.clone();
                again.person = existing.clone();
                out.push(with(Event::PersonJoined(again), r.effective_at));
            }
        }
        Event::ParentChanged(d) => {
            if let Some(parent) = pick(&seen.accounts, rng) {
                let mut moved = d.clone();
                moved.parent = Some(parent.clone());
                out.push(with(Event::ParentChanged(moved), r.effective_at));
            }
        }
        Event::TeamAssigned(d) => {
            if let Some(person) = pick(&seen.people, rng) {
                let mut other = d.clone();
                other.person = person.clone();
                out.push(with(Event::TeamAssigned(other), r.effective_at));
            }
        }
        Event::StatusChanged(d) => {
            if let Some(account) = pick(&seen.accounts, rng) {
                let mut closing = d.clone();
                closing.account = account.clone();
                closing.status = Status::Closed;
                out.push(with(Event::StatusChanged(closing), back));
            }
        }
        _ => {}
    }
    // A reversal of a recorded transaction, dated before it or on another account.
    if let (Some((txn, account)), true) = (used, rng.below(3) == 0) {
        let reversal = arl_domain::TxnReversed {
            account: account.clone(),
            txn: txn.clone(),
        };
        out.push(with(Event::TxnReversed(reversal), back));
    }
    // A second reversal of a reversed transaction.
    if !seen.reversed.is_empty() && rng.below(4) == 0 {
        let (txn, account) = seen.reversed[rng.below(seen.reversed.len())].clone();
        let reversal = arl_domain::TxnReversed { account, txn };
        out.push(with(Event::TxnReversed(reversal), r.effective_at));
    }
    out
}

fn input_of(recorded: &Recorded) -> InputEvent {
    InputEvent {
        event: recorded.event.clone(),
        effective_at: Some(recorded.effective_at),
        id: None,
        actor: None,
        reason: None,
        expected_version: None,
        recorded_at: Some(recorded.recorded_at),
    }
}

fn recorded_of(input: &InputEvent, seq: u64) -> Recorded {
    let recorded_at = input.recorded_at.expect("imported lines carry recorded_at");
    Recorded {
        seq,
        effective_at: input.effective_at.unwrap_or(recorded_at),
        recorded_at,
        event: input.event.clone(),
    }
}

/// Offers `candidate` alone to the ledger; returns the ledger's verdict.
fn offer(ledger: &mut Ledger, candidate: &Recorded) -> Result<(), RuleError> {
    let opts = AppendOptions {
        imported: true,
        actor: "test".into(),
        now: Timestamp::now(),
    };
    let head = ledger.log().head();
    match ledger.append(vec![input_of(candidate)], &opts) {
        Ok(report) => {
            assert_eq!(report.head.seq, candidate.seq, "appended at its seq");
            Ok(())
        }
        Err(failure) => {
            assert_eq!(failure.kind, FailureKind::Rule, "{failure}");
            assert_eq!(
                ledger.log().head(),
                head,
                "a rejection leaves the log unchanged"
            );
            Err(failure.rule.expect("a rule failure names its rule"))
        }
    }
}

#[test]
fn validation_against_the_views_matches_a_fresh_fold() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ledger");
    let inputs: Vec<InputEvent> = arl_gen::Generator::new(arl_gen::Config::new(EVENTS, 11))
        .map(|line| InputEvent::parse_line(&line, true).expect("generated lines parse"))
        .collect();
    let (imported, one_by_one) = inputs.split_at(IMPORTED_EVENTS);
    let mut index = MemIndex::without_txn_events();
    let mut seen = Seen::default();
    let mut ledger = Ledger::open(&path, WAIT).expect("a new ledger");
    let opts = AppendOptions {
        imported: true,
        actor: "test".into(),
        now: Timestamp::now(),
    };
    ledger
        .append(imported.to_vec(), &opts)
        .expect("the generated history is valid");
    for input in imported {
        let recorded = recorded_of(input, index.checkpoint() + 1);
        arl_fold::validate_fresh(&index, &recorded).expect("valid in the fold too");
        seen.note(&recorded.event);
        index.insert(recorded);
    }
    let mut rng = Rng(0x5eed);
    let mut rejected: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (n, input) in one_by_one.iter().enumerate() {
        if n % REOPEN_EVERY == 0 {
            drop(ledger);
            ledger = Ledger::open(&path, WAIT).expect("the ledger reopens");
        }
        let recorded = recorded_of(input, index.checkpoint() + 1);
        for candidate in variants(&recorded, &seen, &mut rng) {
            let Err(expected) = arl_fold::validate_fresh(&index, &candidate) else {
                continue;
            };
            let got = offer(&mut ledger, &candidate);
            assert_eq!(
                got,
                Err(expected.clone()),
                "verdicts differ on {candidate:?}"
            );
            *rejected.entry(expected.rule()).or_default() += 1;
        }
        arl_fold::validate_fresh(&index, &recorded).expect("generated events are valid");
        assert_eq!(offer(&mut ledger, &recorded), Ok(()), "{recorded:?}");
        seen.note(&recorded.event);
        index.insert(recorded);
    }
    assert_eq!(
        ledger.log().head().seq,
        EVENTS,
        "every generated event appended"
    );
    let total: usize = rejected.values().sum();
    eprintln!("validation_matches_fold: {total} rejections compared, by rule: {rejected:?}");
    assert!(
        total > 500 && rejected.len() >= 8,
        "the variants exercise many rules: {rejected:?}"
    );
    for rule in [
        "transaction id never used before",
        "transaction exists on the account",
        "account id never opened before",
        "person id never joined before",
        "account exists",
        "transaction never reversed",
    ] {
        assert!(
            rejected.contains_key(rule),
            "{rule} is exercised: {rejected:?}"
        );
    }
}
