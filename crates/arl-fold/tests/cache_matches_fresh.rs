//! The validation caches against a fresh fold, on generated histories: every event, and
//! variants of it that the rules should often reject (back-dated, another parent, another
//! person, a closing), must get the same verdict and message from [`arl_fold::validate`] as
//! from [`arl_fold::validate_fresh`]. The rejected variants are checked and never inserted,
//! as at append; they exercise what the caches take in while checking.

use arl_domain::{Event, InputEvent, Recorded, Status, Timestamp};
use arl_fold::{MemIndex, Source};

const DAY: i64 = 86_400_000_000;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// The account of the latest hierarchy event inserted, and that event's valid time.
type Latest = Option<(String, Timestamp)>;

fn variants(
    r: &Recorded,
    accounts: &[String],
    people: &[String],
    latest_hierarchy: &Latest,
    rng: &mut Rng,
) -> Vec<Recorded> {
    let mut out = vec![r.clone()];
    // A move under the account whose hierarchy changed last, just before that change: the
    // new parent's facts must be taken as they were then.
    if let (Some(account), Some((parent, at))) = (r.event.account(), latest_hierarchy) {
        if !r.event.is_transaction() {
            let event = Event::ParentChanged(arl_domain::ParentChanged {
                account: account.to_string(),
                parent: Some(parent.clone()),
            });
            out.push(Recorded {
                effective_at: Timestamp(at.0 - 1),
                event,
                ..r.clone()
            });
        }
    }
    let mut back_dated = r.clone();
    back_dated.effective_at = Timestamp(r.effective_at.0 - (1 + rng.below(60) as i64) * DAY);
    out.push(back_dated);
    // Variants a little back-dated, most of them still after the account's latest event.
    let a_little = Timestamp(r.effective_at.0 - rng.below(4) as i64 * DAY);
    let with = |event: Event| Recorded {
        event,
        effective_at: a_little,
        ..r.clone()
    };
    let mut account = || accounts[rng.below(accounts.len())].clone();
    match &r.event {
        Event::ParentChanged(d) if !accounts.is_empty() => {
            let mut d = d.clone();
            d.parent = Some(account());
            out.push(with(Event::ParentChanged(d)));
        }
        Event::AccountOpened(d) if !accounts.is_empty() => {
            let mut d = d.clone();
            d.parent = Some(account());
            out.push(with(Event::AccountOpened(d)));
        }
        Event::TeamAssigned(d) if !people.is_empty() => {
            let mut d = d.clone();
            d.person = people[rng.below(people.len())].clone();
            out.push(with(Event::TeamAssigned(d)));
        }
        Event::TeamUnassigned(d) if !people.is_empty() => {
            let mut d = d.clone();
            d.person = people[rng.below(people.len())].clone();
            out.push(with(Event::TeamUnassigned(d)));
        }
        Event::StatusChanged(d) if !accounts.is_empty() => {
            let mut d = d.clone();
            d.account = account();
            d.status = Status::Closed;
            out.push(with(Event::StatusChanged(d)));
        }
        _ => {}
    }
    out
}

/// What [`walk`] saw: the candidates its visitor found rejected, and the accounts opened.
struct Walked {
    rejected: usize,
    accounts: usize,
}

/// Walks the generated history of `events` events (seed `seed`) into an index. Before each
/// event goes in, `visit` gets the index, the event and the candidates to check against it:
/// the event and its variants, or none for a transaction (19 times in 20); it returns how
/// many of them it found rejected.
fn walk(
    events: u64,
    seed: u64,
    mut visit: impl FnMut(&MemIndex, &Recorded, &[Recorded]) -> usize,
) -> Walked {
    let mut index = MemIndex::without_txn_events();
    let (mut accounts, mut people) = (Vec::new(), Vec::new());
    let mut rng = Rng(seed | 1);
    let mut rejected = 0;
    let mut latest_hierarchy: Latest = None;
    for line in arl_gen::Generator::new(arl_gen::Config::new(events, seed)) {
        let input = InputEvent::parse_line(&line, true).expect("generated lines parse");
        let recorded_at = input.recorded_at.expect("imported");
        let recorded = Recorded {
            seq: index.checkpoint() + 1,
            effective_at: input.effective_at.unwrap_or(recorded_at),
            recorded_at,
            event: input.event,
        };
        let candidates = if recorded.event.is_transaction() && rng.below(20) != 0 {
            Vec::new()
        } else {
            variants(&recorded, &accounts, &people, &latest_hierarchy, &mut rng)
        };
        rejected += visit(&index, &recorded, &candidates);
        if matches!(
            recorded.event,
            Event::AccountOpened(_) | Event::ParentChanged(_) | Event::StatusChanged(_)
        ) {
            let account = recorded.event.account().unwrap_or_default().to_string();
            latest_hierarchy = Some((account, recorded.effective_at));
        }
        match &recorded.event {
            Event::AccountOpened(d) => accounts.push(d.account.clone()),
            Event::PersonJoined(d) => people.push(d.person.clone()),
            _ => {}
        }
        index.insert_ref(&recorded);
    }
    Walked {
        rejected,
        accounts: accounts.len(),
    }
}

fn check(events: u64, seed: u64) {
    let walked = walk(events, seed, |index, recorded, candidates| {
        let mut rejected = 0;
        for candidate in candidates {
            let cached = arl_fold::validate(index, candidate).map_err(|e| e.to_string());
            let fresh = arl_fold::validate_fresh(index, candidate).map_err(|e| e.to_string());
            assert_eq!(
                cached, fresh,
                "cached and fresh validation disagree on {candidate:?}"
            );
            rejected += usize::from(cached.is_err());
        }
        arl_fold::validate(index, recorded).expect("generated events are valid");
        rejected
    });
    assert!(
        walked.rejected > 1000,
        "the variants exercise rejections ({})",
        walked.rejected
    );
}

#[test]
fn cached_validation_equals_a_fresh_fold_on_generated_histories() {
    check(40_000, 42);
    check(40_000, 7);
}

/// Validators that keep only a few account states and status timelines, in step with the
/// index, give the fresh fold's verdict on every event and variant too: what the bounds drop
/// is folded again, never answered from a stale or partial state.
#[test]
fn bounded_caches_match_a_fresh_fold() {
    let mut validators = [
        arl_fold::Validator::with_bounds(1, 1),
        arl_fold::Validator::with_bounds(3, 2),
        arl_fold::Validator::with_bounds(8, 4),
        arl_fold::Validator::with_bounds(64, 4).with_cached_events(40),
    ];
    let mut weighed = 0;
    let walked = walk(6_000, 11, |index, recorded, candidates| {
        let mut rejected = 0;
        let alone = [recorded.clone()];
        let candidates = if candidates.is_empty() {
            &alone[..]
        } else {
            candidates
        };
        for candidate in candidates {
            let fresh = arl_fold::validate_fresh(index, candidate).map_err(|e| e.to_string());
            for validator in &mut validators {
                let bounded = validator.check(index, candidate).map_err(|e| e.to_string());
                assert_eq!(
                    bounded, fresh,
                    "a bounded validator and the fresh fold disagree on {candidate:?}"
                );
            }
            rejected += usize::from(fresh.is_err());
        }
        for validator in &mut validators {
            validator.inserting(recorded);
        }
        let (states, events) = validators[3].cached();
        assert!(
            states <= 64 && (events <= 40 || states == 1),
            "the bounds hold: {states} states of {events} events"
        );
        weighed = weighed.max(events);
        rejected
    });
    assert!(
        weighed > 20,
        "the states come near the bound on their events ({weighed})"
    );
    assert!(
        walked.accounts > 8,
        "the history names more accounts than the largest bound ({})",
        walked.accounts
    );
    assert!(
        walked.rejected > 100,
        "the variants exercise rejections ({})",
        walked.rejected
    );
}

/// A history built event by event: each event is checked by the cached validator and by a
/// fresh fold (the same verdict), then inserted when `insert` says so and it is valid.
struct Steps {
    index: MemIndex,
}

impl Steps {
    fn new() -> Steps {
        Steps {
            index: MemIndex::without_txn_events(),
        }
    }

    /// Checks the event of `kind` with `data` at day `day` both ways; inserts it when valid
    /// and `insert`. Returns the verdict.
    fn step(&mut self, day: i64, kind: &str, data: &str, insert: bool) -> Result<(), String> {
        self.step_with(None, day, kind, data, insert)
    }

    /// [`Steps::step`] with the cached verdict from `validator` (which then takes the event
    /// in too) rather than the index's own.
    fn step_with(
        &mut self,
        validator: Option<&mut arl_fold::Validator>,
        day: i64,
        kind: &str,
        data: &str,
        insert: bool,
    ) -> Result<(), String> {
        let recorded = Recorded {
            seq: self.index.checkpoint() + 1,
            effective_at: Timestamp(day * DAY),
            recorded_at: Timestamp(0),
            event: Event::parse(kind, data).expect("a well-formed event"),
        };
        let fresh = arl_fold::validate_fresh(&self.index, &recorded).map_err(|e| e.to_string());
        let cached = match validator {
            Some(validator) => {
                let cached = validator.check(&self.index, &recorded);
                if insert && cached.is_ok() {
                    validator.inserting(&recorded);
                }
                cached.map_err(|e| e.to_string())
            }
            None => arl_fold::validate(&self.index, &recorded).map_err(|e| e.to_string()),
        };
        assert_eq!(cached, fresh, "cached and fresh disagree on {recorded:?}");
        if insert && cached.is_ok() {
            self.index.insert_ref(&recorded);
        }
        cached
    }

    /// Inserts an event the rules must accept.
    fn accept(&mut self, day: i64, kind: &str, data: &str) {
        if let Err(e) = self.step(day, kind, data, true) {
            panic!("{kind} {data} on day {day} is refused: {e}");
        }
    }

    /// Accounts `a`, `b` and `c` opened on day 1, `b` moved under `a` on day 10 and `c`
    /// under `b` on day 15.
    fn in_a_line() -> Steps {
        let mut steps = Steps::new();
        for account in ["a", "b", "c"] {
            steps.open(1, account);
        }
        let kind = "account.parent_changed";
        steps.accept(10, kind, r#"{"account":"b","parent":"a"}"#);
        steps.accept(15, kind, r#"{"account":"c","parent":"b"}"#);
        steps
    }

    fn open(&mut self, day: i64, account: &str) {
        let data =
            format!(r#"{{"account":"{account}","name":"N","scope":"national","status":"active"}}"#);
        self.accept(day, "account.opened", &data);
    }
}

/// Whether a parent change applied depends on the new parent's facts at its point: a
/// closing of that parent back-dated before the change undoes it in the fold, and the
/// cached state of the moved account must not keep it. Here the account's later move back
/// to no parent is then "unchanged".
#[test]
fn a_back_dated_closing_of_the_parent_undoes_a_cached_parent_change() {
    let mut steps = Steps::new();
    steps.open(1, "p");
    steps.open(1, "x");
    steps.accept(
        10,
        "account.parent_changed",
        r#"{"account":"x","parent":"p"}"#,
    );
    // The account's state is cached with its parent.
    steps.accept(12, "account.renamed", r#"{"account":"x","name":"X"}"#);
    steps.accept(
        5,
        "account.status_changed",
        r#"{"account":"p","status":"closed"}"#,
    );
    let to_none = r#"{"account":"x","parent":null}"#;
    let verdict = steps.step(20, "account.parent_changed", to_none, false);
    assert!(verdict.is_err(), "x has no parent in the fold: {verdict:?}");
}

/// The same for the hierarchy facts the parent rules read of other accounts: `b`'s move
/// under `a` is undone by `a`'s closing back-dated before it, so that `a` may then move
/// under `c` (a child of `b`), which would otherwise close a cycle.
#[test]
fn a_back_dated_closing_undoes_a_parent_change_the_parent_rules_read() {
    let mut steps = Steps::in_a_line();
    // Checked now, the move closes a cycle (a above b above c), and the parent rules keep
    // the facts they read.
    let a_under_c = r#"{"account":"a","parent":"c"}"#;
    assert!(steps
        .step(16, "account.parent_changed", a_under_c, false)
        .is_err());
    steps.accept(
        5,
        "account.status_changed",
        r#"{"account":"a","status":"closed"}"#,
    );
    let verdict = steps.step(20, "account.parent_changed", a_under_c, false);
    assert!(
        verdict.is_ok(),
        "b is under no parent in the fold: {verdict:?}"
    );
}

/// The same for a validator started on a history it did not take in (a writer opened on a
/// ledger): the facts it read for `c`'s parent rules hold `b`'s move under `a`, which the
/// back-dated closing of `a` undoes.
#[test]
fn a_validator_started_on_a_history_forgets_what_a_back_dated_closing_undoes() {
    let mut steps = Steps::in_a_line();
    let mut late = arl_fold::Validator::new();
    let a_under_c = r#"{"account":"a","parent":"c"}"#;
    let kind = "account.parent_changed";
    assert!(steps
        .step_with(Some(&mut late), 16, kind, a_under_c, false)
        .is_err());
    let closed = r#"{"account":"a","status":"closed"}"#;
    let inserted = steps.step_with(Some(&mut late), 5, "account.status_changed", closed, true);
    assert!(inserted.is_ok(), "a was open: {inserted:?}");
    let verdict = steps.step_with(Some(&mut late), 20, kind, a_under_c, false);
    assert!(
        verdict.is_ok(),
        "b is under no parent in the fold: {verdict:?}"
    );
}

/// A person's joining and leaving, read once for the folds of every account that names
/// the person, are read again when one of them comes: `p` serves `a` and `b` while the
/// validator keeps what it read of `p`, then leaves, and an assignment to `c` after that
/// (whose cached state takes `p`'s lifecycle when the assignment names `p`) is refused,
/// while one dated before the leaving is accepted.
#[test]
fn a_person_who_left_is_refused_though_their_joining_was_read_before() {
    let mut steps = Steps::new();
    let joined = r#"{"person":"p","name":"P","title":"Sales"}"#;
    steps.accept(1, "person.joined", joined);
    for account in ["a", "b", "c"] {
        steps.open(1, account);
    }
    let assign =
        |account: &str| format!(r#"{{"account":"{account}","person":"p","role":"sales_rep"}}"#);
    steps.accept(2, "team.assigned", &assign("a"));
    steps.accept(3, "team.assigned", &assign("b"));
    steps.accept(4, "person.left", r#"{"person":"p"}"#);
    let verdict = steps.step(5, "team.assigned", &assign("c"), false);
    let refused = verdict.expect_err("p left on day 4");
    assert!(
        refused.starts_with("person \"p\" left on 1970-01-05"),
        "the refusal says when the person left: {refused}"
    );
    // Before the leaving, `p` serves `c` too.
    steps.accept(3, "team.assigned", &assign("c"));
}
