//! Model-based test of the bitemporal fold.
//!
//! A deliberately naive reference, written here from the contract alone, folds every visible
//! event from scratch for each question. Random histories with back-dated events of every
//! kind are appended through the real validation; then the fast answers (cards, teams,
//! portfolios, org charts, balances with and without roll-up) must equal the reference's at
//! random (as-of, known-at) points.

use arl_domain::{Event, Period, Recorded, Timestamp};
use arl_fold::{MemIndex, Point, Source};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const DAY: i64 = 86_400_000_000;
const ACCOUNTS: &[&str] = &["a0", "a1", "a2", "a3", "a4", "a5"];
const PEOPLE: &[&str] = &["p0", "p1", "p2", "p3", "p4"];

// ---------------------------------------------------------------------------------------
// The reference: one naive fold over everything visible, rules straight from the contract.

#[derive(Debug, Clone, Default)]
struct RefAccount {
    name: String,
    scope: String,
    status: String,
    status_since: i64,
    country: Option<String>,
    parent: Option<String>,
    opened_at: i64,
    key_account: bool,
    classification: Option<(String, String)>,
    team: BTreeMap<(String, String), (bool, i64)>,
    contacts: BTreeMap<String, (String, String, i64)>,
}

#[derive(Debug, Default)]
struct World {
    accounts: BTreeMap<String, RefAccount>,
    people: BTreeMap<String, (String, Option<i64>)>,
    lines: BTreeMap<(String, String), (String, i64)>,
    txns: BTreeMap<String, (String, String, String, i64, i64)>,
    // (account, period-relevant effective_at, kind, currency, signed amount)
    movements: Vec<(String, i64, String, String, i64)>,
}

fn s<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

impl World {
    fn open(&self, a: &str) -> bool {
        self.accounts.get(a).is_some_and(|x| x.status != "closed")
    }
    fn active(&self, p: &str) -> bool {
        self.people.get(p).is_some_and(|x| x.1.is_none())
    }
    fn ancestors_include(&self, from: &str, target: &str) -> bool {
        let mut at = Some(from.to_string());
        let mut steps = 0;
        while let Some(a) = at {
            if a == target {
                return true;
            }
            steps += 1;
            if steps > 100 {
                return true;
            }
            at = self.accounts.get(&a).and_then(|x| x.parent.clone());
        }
        false
    }
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut stack = vec![from.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(at) = stack.pop() {
            if at == to {
                return true;
            }
            if seen.insert(at.clone()) {
                stack.extend(
                    self.lines
                        .keys()
                        .filter(|(p, _)| *p == at)
                        .map(|(_, m)| m.clone()),
                );
            }
        }
        false
    }

    #[allow(
        clippy::too_many_lines,
        reason = "the model's effects, one arm per event kind, as the contract lists them"
    )]
    fn apply(&mut self, r: &Recorded) {
        let t = r.effective_at.0;
        match &r.event {
            Event::AccountOpened(d) => {
                self.accounts
                    .entry(d.account.clone())
                    .or_insert(RefAccount {
                        name: d.name.clone(),
                        scope: s(d.scope),
                        status: s(d.status),
                        status_since: t,
                        country: d.country.clone(),
                        parent: d.parent.clone(),
                        opened_at: t,
                        ..RefAccount::default()
                    });
            }
            Event::AccountRenamed(d) => {
                if let Some(a) = self.accounts.get_mut(&d.account) {
                    a.name = d.name.clone();
                }
            }
            Event::ParentChanged(d) => {
                let Some(current) = self.accounts.get(&d.account) else {
                    return;
                };
                if current.parent == d.parent {
                    return;
                }
                if let Some(p) = &d.parent {
                    if !self.open(p) || self.ancestors_include(p, &d.account) {
                        return;
                    }
                }
                self.accounts.get_mut(&d.account).unwrap().parent = d.parent.clone();
            }
            Event::ScopeChanged(d) => {
                if let Some(a) = self.accounts.get_mut(&d.account) {
                    if a.scope != s(d.scope) {
                        a.scope = s(d.scope);
                    }
                }
            }
            Event::Classified(d) => {
                if self.open(&d.account) {
                    let a = self.accounts.get_mut(&d.account).unwrap();
                    a.key_account = d.key_account;
                    a.classification = d.model.map(|m| (s(m), d.category.clone().unwrap()));
                }
            }
            Event::StatusChanged(d) => {
                if let Some(a) = self.accounts.get_mut(&d.account) {
                    if a.status != s(d.status) {
                        a.status = s(d.status);
                        a.status_since = t;
                        if a.status == "closed" {
                            a.team.clear();
                            a.contacts.clear();
                        }
                    }
                }
            }
            Event::PersonJoined(d) => {
                self.people
                    .entry(d.person.clone())
                    .or_insert((d.name.clone(), None));
            }
            Event::PersonLeft(d) => {
                if self.active(&d.person) {
                    self.people.get_mut(&d.person).unwrap().1 = Some(t);
                    for a in self.accounts.values_mut() {
                        a.team.retain(|(_, p), _| *p != d.person);
                    }
                    self.lines
                        .retain(|(p, m), _| *p != d.person && *m != d.person);
                }
            }
            Event::TeamAssigned(d) => {
                let key = (s(d.role), d.person.clone());
                if self.open(&d.account)
                    && self.active(&d.person)
                    && !self.accounts[&d.account].team.contains_key(&key)
                {
                    let a = self.accounts.get_mut(&d.account).unwrap();
                    if d.primary {
                        a.team.values_mut().for_each(|v| v.0 = false);
                    }
                    a.team.insert(key, (d.primary, t));
                }
            }
            Event::TeamUnassigned(d) => {
                if let Some(a) = self.accounts.get_mut(&d.account) {
                    a.team.remove(&(s(d.role), d.person.clone()));
                }
            }
            Event::LineSet(d) => {
                let key = (d.person.clone(), d.manager.clone());
                if d.person != d.manager
                    && self.active(&d.person)
                    && self.active(&d.manager)
                    && !self.lines.contains_key(&key)
                    && !self.reaches(&d.manager, &d.person)
                {
                    if s(d.line) == "solid" {
                        self.lines
                            .retain(|(p, _), v| !(*p == d.person && v.0 == "solid"));
                    }
                    self.lines.insert(key, (s(d.line), t));
                }
            }
            Event::LineEnded(d) => {
                self.lines.remove(&(d.person.clone(), d.manager.clone()));
            }
            Event::ContactAdded(d) => {
                if self.open(&d.account)
                    && !self.accounts[&d.account].contacts.contains_key(&d.contact)
                {
                    let a = self.accounts.get_mut(&d.account).unwrap();
                    a.contacts
                        .insert(d.contact.clone(), (d.name.clone(), s(d.role), t));
                }
            }
            Event::ContactRemoved(d) => {
                if let Some(a) = self.accounts.get_mut(&d.account) {
                    a.contacts.remove(&d.contact);
                }
            }
            Event::TxnRecorded(d) => {
                let amount = d.amount_minor().unwrap();
                self.txns.insert(
                    d.txn.clone(),
                    (d.account.clone(), s(d.kind), d.currency.clone(), amount, t),
                );
                self.movements
                    .push((d.account.clone(), t, s(d.kind), d.currency.clone(), amount));
            }
            Event::TxnReversed(d) => {
                let (_, kind, currency, amount, _) = self.txns[&d.txn].clone();
                self.movements
                    .push((d.account.clone(), t, kind, currency, -amount));
            }
            Event::SubjectErased(_) => {}
        }
    }

    fn at(events: &[Recorded], point: Point) -> World {
        let mut visible: Vec<&Recorded> = events.iter().filter(|r| point.sees(r)).collect();
        visible.sort_by_key(|r| (r.effective_at, r.seq));
        let mut world = World::default();
        for r in visible {
            world.apply(r);
        }
        world
    }

    fn card(&self, id: &str) -> Option<serde_json::Value> {
        let a = self.accounts.get(id)?;
        let children: Vec<&String> = self
            .accounts
            .iter()
            .filter(|(_, x)| x.parent.as_deref() == Some(id))
            .map(|(k, _)| k)
            .collect();
        let mut team: Vec<_> = a.team.iter().collect();
        team.sort_by(|x, y| x.0.cmp(y.0));
        Some(serde_json::json!({
            "account": id, "name": a.name, "status": a.status, "scope": a.scope, "country": a.country,
            "parent": a.parent, "children": children, "key_account": a.key_account,
            "classification": a.classification.as_ref().map(|(m, c)| serde_json::json!({"model": m, "category": c})),
            "opened_at": Timestamp(a.opened_at).canonical(),
            "team": team.iter().map(|((role, person), (primary, since))| serde_json::json!({
                "person": person, "role": role, "primary": primary, "since": Timestamp(*since).canonical()})).collect::<Vec<_>>(),
            "contacts": a.contacts.iter().map(|(c, (name, role, since))| serde_json::json!({
                "contact": c, "name": name, "role": role, "since": Timestamp(*since).canonical()})).collect::<Vec<_>>(),
        }))
    }

    fn portfolio(&self, person: &str) -> Vec<(String, String, bool, i64)> {
        let mut out = Vec::new();
        for (id, a) in &self.accounts {
            for ((role, p), (primary, since)) in &a.team {
                if p == person {
                    out.push((id.clone(), role.clone(), *primary, *since));
                }
            }
        }
        out.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        out
    }

    fn balances(
        &self,
        period: Period,
        as_of: i64,
        rollup: bool,
    ) -> Vec<(String, String, String, i64, i64)> {
        let mut sums: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
        for (account, t, kind, currency, amount) in &self.movements {
            if *t > as_of {
                continue;
            }
            let mut targets = vec![account.clone()];
            if rollup {
                let mut at = self.accounts.get(account).and_then(|a| a.parent.clone());
                while let Some(p) = at {
                    targets.push(p.clone());
                    at = self.accounts.get(&p).and_then(|a| a.parent.clone());
                }
            }
            for target in targets {
                let cell = sums
                    .entry((target, period.label(Timestamp(*t)), currency.clone()))
                    .or_default();
                if kind == "sale" {
                    cell.0 += amount;
                } else {
                    cell.1 += amount;
                }
            }
        }
        sums.into_iter()
            .map(|((a, p, c), (s, pu))| (a, p, c, s, pu))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Random histories, appended through the real validation.

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

#[allow(
    clippy::too_many_lines,
    clippy::many_single_char_names,
    reason = "one arm per event kind; a, b, p, q are the accounts and people a step picks"
)]
fn candidate(rng: &mut Rng, txn_counter: &mut u32) -> (String, String) {
    let a = rng.pick(ACCOUNTS);
    let b = rng.pick(ACCOUNTS);
    let p = rng.pick(PEOPLE);
    let q = rng.pick(PEOPLE);
    let role = rng.pick(&["media", "key_account_manager", "sales_rep"]);
    let status = rng.pick(&["active", "on_hold", "closed", "dormant"]);
    let currency = rng.pick(&["EUR", "JPY"]);
    let (kind, data) = match rng.below(20) {
        0 => (
            "account.opened",
            format!(r#"{{"account":"{a}","name":"N{a}","scope":"national","parent":"{b}"}}"#),
        ),
        1 => (
            "account.opened",
            format!(r#"{{"account":"{a}","name":"N{a}","scope":"global","country":"DE"}}"#),
        ),
        2 => (
            "account.renamed",
            format!(r#"{{"account":"{a}","name":"R{}"}}"#, rng.below(9)),
        ),
        3 => (
            "account.parent_changed",
            format!(r#"{{"account":"{a}","parent":"{b}"}}"#),
        ),
        4 => (
            "account.parent_changed",
            format!(r#"{{"account":"{a}","parent":null}}"#),
        ),
        5 => (
            "account.status_changed",
            format!(r#"{{"account":"{a}","status":"{status}"}}"#),
        ),
        6 => (
            "account.classified",
            format!(
                r#"{{"account":"{a}","key_account":true,"model":"st-gallen","category":"top"}}"#
            ),
        ),
        7 => (
            "account.scope_changed",
            format!(r#"{{"account":"{a}","scope":"district"}}"#),
        ),
        8 => (
            "person.joined",
            format!(r#"{{"person":"{p}","name":"P{p}"}}"#),
        ),
        9 => ("person.left", format!(r#"{{"person":"{p}"}}"#)),
        10 | 11 => {
            let primary = rng.below(2) == 0;
            (
                "team.assigned",
                format!(
                    r#"{{"account":"{a}","person":"{p}","role":"{role}","primary":{primary}}}"#
                ),
            )
        }
        12 => (
            "team.unassigned",
            format!(r#"{{"account":"{a}","person":"{p}","role":"{role}"}}"#),
        ),
        13 => {
            let line = rng.pick(&["solid", "dotted"]);
            (
                "reporting.line_set",
                format!(r#"{{"person":"{p}","manager":"{q}","line":"{line}"}}"#),
            )
        }
        14 => (
            "reporting.line_ended",
            format!(r#"{{"person":"{p}","manager":"{q}"}}"#),
        ),
        15 => (
            "contact.added",
            format!(
                r#"{{"account":"{a}","contact":"c{}","name":"C","role":"buyer"}}"#,
                rng.below(3)
            ),
        ),
        16 => (
            "contact.removed",
            format!(r#"{{"account":"{a}","contact":"c{}"}}"#, rng.below(3)),
        ),
        17 => {
            let n = rng.below(u64::from(*txn_counter) + 1);
            (
                "transaction.reversed",
                format!(r#"{{"account":"{a}","txn":"t{n}"}}"#),
            )
        }
        _ => {
            *txn_counter += 1;
            let kind = rng.pick(&["sale", "purchase"]);
            let amount = 1 + rng.below(100_000);
            (
                "transaction.recorded",
                format!(
                    r#"{{"account":"{a}","txn":"t{txn_counter}","kind":"{kind}","amount":"{amount}","currency":"{currency}"}}"#
                ),
            )
        }
    };
    (kind.to_string(), data)
}

fn history(seed: u64, attempts: usize) -> (MemIndex, Vec<Recorded>) {
    let mut rng = Rng(seed);
    let mut index = MemIndex::new();
    let mut events = Vec::new();
    let mut txn_counter = 0;
    let mut now = 0i64;
    for _ in 0..attempts {
        now += (rng.below(3) as i64) * DAY + 1;
        let (kind, data) = candidate(&mut rng, &mut txn_counter);
        let Ok(event) = Event::parse(&kind, &data) else {
            continue;
        };
        // A fifth of events are back-dated by up to 20 days.
        let late = if rng.below(5) == 0 {
            (rng.below(20) as i64) * DAY
        } else {
            0
        };
        let recorded = Recorded {
            seq: index.checkpoint() + 1,
            effective_at: Timestamp(now - late),
            recorded_at: Timestamp(now),
            event,
        };
        let verdict = arl_fold::validate(&index, &recorded);
        assert_eq!(
            verdict.as_ref().map_err(ToString::to_string),
            arl_fold::validate_fresh(&index, &recorded)
                .as_ref()
                .map_err(ToString::to_string),
            "cached and fresh validation disagree on {recorded:?}"
        );
        if verdict.is_ok() {
            index.insert(recorded.clone());
            events.push(recorded);
        }
    }
    (index, events)
}

fn check_point(index: &MemIndex, events: &[Recorded], point: Point) {
    let world = World::at(events, point);
    for id in ACCOUNTS {
        let fast = arl_accounts::card(index, id, point)
            .unwrap()
            .map(|c| serde_json::to_value(c).unwrap());
        assert_eq!(fast, world.card(id), "card of {id} at {point:?}");
        let team = arl_teams::team(index, id, point).unwrap().map(|t| t.len());
        assert_eq!(
            team,
            world.card(id).map(|c| c["team"].as_array().unwrap().len()),
            "team of {id}"
        );
    }
    for p in PEOPLE {
        let fast: Option<Vec<_>> = arl_teams::portfolio(index, p, point).unwrap().map(|v| {
            v.into_iter()
                .map(|e| (e.account, e.role.to_string(), e.primary, e.since.0))
                .collect()
        });
        let expected = world.people.contains_key(*p).then(|| world.portfolio(p));
        assert_eq!(fast, expected, "portfolio of {p} at {point:?}");
    }
    let chart = arl_teams::org_chart(index, point).unwrap();
    let fast_lines: BTreeMap<(String, String), (String, i64)> = chart
        .lines
        .iter()
        .map(|l| {
            (
                (l.person.clone(), l.manager.clone()),
                (l.line.to_string(), l.since.0),
            )
        })
        .collect();
    assert_eq!(fast_lines, world.lines, "org lines at {point:?}");
    let fast_people: BTreeSet<String> = chart.people.iter().map(|p| p.person.clone()).collect();
    let ref_people: BTreeSet<String> = world
        .people
        .iter()
        .filter(|(_, v)| v.1.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(fast_people, ref_people);
    for rollup in [false, true] {
        for period in [Period::Quarter, Period::All] {
            let query = arl_txns::BalanceQuery {
                period,
                rollup,
                ..arl_txns::BalanceQuery::new(point)
            };
            let fast: Vec<(String, String, String, String, String)> =
                arl_txns::balances(index, &query)
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.account, r.period, r.currency, r.sales, r.purchases))
                    .collect();
            let expected: Vec<(String, String, String, String, String)> = world
                .balances(period, point.as_of.0, rollup)
                .into_iter()
                .map(|(a, p, c, sales, purchases)| {
                    let cur = arl_domain::money::Currency::from_code(&c).unwrap();
                    (
                        a,
                        p,
                        c,
                        arl_txns::format_amount(i128::from(sales), cur),
                        arl_txns::format_amount(i128::from(purchases), cur),
                    )
                })
                .collect();
            assert_eq!(
                fast, expected,
                "balances rollup={rollup} {period:?} at {point:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn fast_answers_equal_the_naive_fold(seed in any::<u64>(), picks in proptest::collection::vec((0u64..1000, 0u64..1000), 6)) {
        let (index, events) = history(seed, 400);
        prop_assume!(!events.is_empty());
        let last = events.last().unwrap().effective_at.0.max(events.last().unwrap().recorded_at.0);
        for (v, k) in picks {
            let as_of = Timestamp(last * v as i64 / 999);
            let at_seq = (events.len() as u64) * k / 999;
            check_point(&index, &events, Point { as_of, at_seq });
        }
        check_point(&index, &events, Point::LATEST);
    }
}

#[test]
fn histories_exercise_skipping_and_back_dating() {
    // The generator must actually produce the hard cases, or the property above is weak.
    let mut skipped = 0;
    let mut late = 0;
    for seed in 0..20 {
        let (index, events) = history(seed, 400);
        late += events
            .iter()
            .filter(|r| r.effective_at < r.recorded_at)
            .count();
        for id in ACCOUNTS {
            if let Ok(h) = arl_fold::query::history(&index, id, index.checkpoint()) {
                skipped += h.iter().filter(|e| e.skipped.is_some()).count();
            }
        }
    }
    assert!(late > 100, "only {late} back-dated events");
    assert!(skipped > 5, "only {skipped} skipped events");
}
