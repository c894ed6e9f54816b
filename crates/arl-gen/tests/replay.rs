//! An independent checker: replays generated lines against a simplified model of the rules
//! of CONTRACT §3, each event against the state as of its `effective_at` computed from the
//! earlier lines only (fold in (`effective_at`, line) order), as `arl append` does.
//!
//! It shares no code with the generator: every entity keeps a log of the events that name
//! it, and a question "as of t" folds the relevant entries with `effective_at <= t`.

use std::collections::{HashMap, HashSet};

use arl_gen::{Config, Generator};
use serde_json::Value;

fn micros(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().expect("digits");
    let day = arl_gen::time::days_from_civil(n(0..4) as i32, n(5..7) as u32, n(8..10) as u32);
    let mut us = day * 86_400_000_000;
    if s.len() > 10 {
        us += ((n(11..13) * 60 + n(14..16)) * 60 + n(17..19)) * 1_000_000 + n(20..26);
    }
    us
}

/// What an account log entry does.
#[derive(Clone, Debug)]
enum AccountFact {
    Opened {
        status: String,
        parent: Option<String>,
        scope: String,
    },
    Status(String),
    Parent(Option<String>),
    Scope(String),
    Team {
        person: String,
        role: String,
        on: bool,
    },
    Contact {
        contact: String,
        on: bool,
    },
}

/// What a person log entry does.
#[derive(Clone, Debug)]
enum PersonFact {
    Joined,
    Left,
    /// A line from `person` to `manager` set (solid or dotted) or ended (`None`).
    Line {
        person: String,
        manager: String,
        solid: Option<bool>,
    },
}

#[derive(Default)]
struct Checker {
    accounts: HashMap<String, Vec<(i64, AccountFact)>>,
    people: HashMap<String, Vec<(i64, PersonFact)>>,
    /// txn -> (account, effective_at, reversed)
    txns: HashMap<String, (String, i64, bool)>,
}

#[derive(Clone, Debug, Default)]
struct AccountNow {
    status: String,
    parent: Option<String>,
    scope: String,
}

/// Entries with `eff <= t` in (eff, line) order (the logs are in line order already).
fn as_of<T: Clone>(log: &[(i64, T)], t: i64) -> Vec<(i64, T)> {
    let mut v: Vec<(i64, T)> = log.iter().filter(|(e, _)| *e <= t).cloned().collect();
    v.sort_by_key(|(e, _)| *e);
    v
}

impl Checker {
    fn account(&self, a: &str, t: i64) -> Option<AccountNow> {
        let mut now: Option<AccountNow> = None;
        for (_, fact) in as_of(self.accounts.get(a)?, t) {
            match (fact, now.as_mut()) {
                (
                    AccountFact::Opened {
                        status,
                        parent,
                        scope,
                    },
                    _,
                ) => {
                    now = Some(AccountNow {
                        status,
                        parent,
                        scope,
                    });
                }
                (AccountFact::Status(s), Some(n)) => n.status = s,
                (AccountFact::Parent(p), Some(n)) => n.parent = p,
                (AccountFact::Scope(s), Some(n)) => n.scope = s,
                _ => {}
            }
        }
        now
    }

    fn open_account(&self, a: &str, t: i64) -> Result<AccountNow, String> {
        match self.account(a, t) {
            None => Err(format!("account {a} does not exist")),
            Some(n) if n.status == "closed" => Err(format!("account {a} is closed")),
            Some(n) => Ok(n),
        }
    }

    /// Joined by t and not left by t.
    fn person_present(&self, p: &str, t: i64) -> bool {
        let Some(log) = self.people.get(p) else {
            return false;
        };
        let mut present = false;
        for (_, fact) in as_of(log, t) {
            match fact {
                PersonFact::Joined => present = true,
                PersonFact::Left => present = false,
                PersonFact::Line { .. } => {}
            }
        }
        present
    }

    fn team_active(&self, a: &str, p: &str, role: &str, t: i64) -> bool {
        let mut events: Vec<(i64, bool)> = Vec::new();
        for (e, fact) in self.accounts.get(a).map(Vec::as_slice).unwrap_or(&[]) {
            match fact {
                AccountFact::Team {
                    person,
                    role: r,
                    on,
                } if person == p && r == role => events.push((*e, *on)),
                AccountFact::Status(s) if s == "closed" => events.push((*e, false)),
                _ => {}
            }
        }
        for (e, fact) in self.people.get(p).map(Vec::as_slice).unwrap_or(&[]) {
            if matches!(fact, PersonFact::Left) {
                events.push((*e, false));
            }
        }
        fold_flags(events, t)
    }

    fn contact_active(&self, a: &str, c: &str, t: i64) -> bool {
        let mut events: Vec<(i64, bool)> = Vec::new();
        for (e, fact) in self.accounts.get(a).map(Vec::as_slice).unwrap_or(&[]) {
            match fact {
                AccountFact::Contact { contact, on } if contact == c => events.push((*e, *on)),
                AccountFact::Status(s) if s == "closed" => events.push((*e, false)),
                _ => {}
            }
        }
        fold_flags(events, t)
    }

    /// The kind of the active line `p` → `m` at t (Some(true) = solid).
    fn line_active(&self, p: &str, m: &str, t: i64) -> Option<bool> {
        let mut entries: Vec<(i64, PersonFact)> = Vec::new();
        if let Some(log) = self.people.get(p) {
            entries.extend(log.iter().filter(|(e, _)| *e <= t).cloned());
        }
        if let Some(log) = self.people.get(m) {
            let left = log
                .iter()
                .filter(|(e, f)| *e <= t && matches!(f, PersonFact::Left));
            // A manager's leaving ends the line; mark it so it is not mistaken for p's.
            entries.extend(left.map(|(e, _)| {
                let ended = PersonFact::Line {
                    person: p.into(),
                    manager: m.into(),
                    solid: None,
                };
                (*e, ended)
            }));
        }
        // Stable sort keeps line order among equal times; entries of m were recorded
        // interleaved with p's, which only matters at identical times (rare, and a
        // leaving then ends the line either way).
        entries.sort_by_key(|(e, _)| *e);
        let mut state: Option<bool> = None;
        for (_, fact) in entries {
            match fact {
                PersonFact::Left => state = None,
                PersonFact::Line {
                    person,
                    manager,
                    solid,
                } if person == p => {
                    if manager == m {
                        state = solid;
                    } else if solid == Some(true) && state == Some(true) {
                        state = None; // a new solid line replaces this one
                    }
                }
                _ => {}
            }
        }
        state
    }

    /// Managers of `p` through active lines at t.
    fn managers(&self, p: &str, t: i64) -> Vec<String> {
        let mut candidates: Vec<String> = Vec::new();
        for (_, fact) in self.people.get(p).map(Vec::as_slice).unwrap_or(&[]) {
            if let PersonFact::Line {
                person,
                manager,
                solid: Some(_),
            } = fact
            {
                if person == p && !candidates.contains(manager) {
                    candidates.push(manager.clone());
                }
            }
        }
        candidates.retain(|m| self.line_active(p, m, t).is_some());
        candidates
    }

    fn reaches(&self, from: &str, target: &str, t: i64) -> bool {
        let mut stack = vec![from.to_owned()];
        let mut seen = HashSet::new();
        while let Some(x) = stack.pop() {
            if x == target {
                return true;
            }
            if seen.insert(x.clone()) {
                stack.extend(self.managers(&x, t));
            }
        }
        false
    }

    fn push_account(&mut self, a: &str, eff: i64, fact: AccountFact) {
        self.accounts
            .entry(a.to_owned())
            .or_default()
            .push((eff, fact));
    }

    fn push_person(&mut self, p: &str, eff: i64, fact: PersonFact) {
        self.people
            .entry(p.to_owned())
            .or_default()
            .push((eff, fact));
    }
}

fn fold_flags(mut events: Vec<(i64, bool)>, t: i64) -> bool {
    events.retain(|(e, _)| *e <= t);
    events.sort_by_key(|(e, _)| *e);
    events.last().is_some_and(|(_, on)| *on)
}

fn s<'a>(data: &'a Value, key: &str) -> &'a str {
    data[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

const MODELS: [(&str, &[&str]); 3] = [
    (
        "millman-wilson",
        &[
            "pre-kam",
            "early-kam",
            "mid-kam",
            "partnership-kam",
            "synergistic-kam",
            "uncoupling-kam",
        ],
    ),
    (
        "mcdonald-rogers",
        &[
            "exploratory",
            "basic",
            "cooperative",
            "interdependent",
            "integrated",
        ],
    ),
    ("st-gallen", &["target", "top", "basic", "question-mark"]),
];

impl Checker {
    /// Checks one event against the state as of its effective time, then records it.
    // The model of the rules: one arm per event type, as the contract lists them.
    #[allow(clippy::too_many_lines)]
    fn apply(&mut self, ty: &str, d: &Value, t: i64) -> Result<(), String> {
        match ty {
            "account.opened" => self.opened(d, t),
            "account.renamed" => self
                .account(s(d, "account"), t)
                .map(|_| ())
                .ok_or("missing".into()),
            "account.parent_changed" => self.parent_changed(d, t),
            "account.scope_changed" => {
                let a = s(d, "account");
                let now = self.account(a, t).ok_or("missing account")?;
                if now.scope == s(d, "scope") {
                    return Err("scope does not differ".into());
                }
                self.push_account(a, t, AccountFact::Scope(s(d, "scope").into()));
                Ok(())
            }
            "account.classified" => {
                self.open_account(s(d, "account"), t)?;
                match (
                    d.get("model").and_then(Value::as_str),
                    d.get("category").and_then(Value::as_str),
                ) {
                    (None, None) => Ok(()),
                    (Some("custom"), Some(c)) if !c.is_empty() && c.len() <= 64 => Ok(()),
                    (Some(m), Some(c))
                        if MODELS.iter().any(|(n, cs)| *n == m && cs.contains(&c)) =>
                    {
                        Ok(())
                    }
                    other => Err(format!("bad classification {other:?}")),
                }
            }
            "account.status_changed" => {
                let a = s(d, "account");
                let now = self.account(a, t).ok_or("missing account")?;
                if now.status == s(d, "status") {
                    return Err("status does not differ".into());
                }
                self.push_account(a, t, AccountFact::Status(s(d, "status").into()));
                Ok(())
            }
            "person.joined" => {
                let p = s(d, "person");
                if self.people.contains_key(p) {
                    return Err(format!("{p} joined before"));
                }
                self.push_person(p, t, PersonFact::Joined);
                Ok(())
            }
            "person.left" => {
                let p = s(d, "person");
                if !self.person_present(p, t) {
                    return Err(format!("{p} not present"));
                }
                self.push_person(p, t, PersonFact::Left);
                Ok(())
            }
            "team.assigned" | "team.unassigned" => self.team(ty == "team.assigned", d, t),
            "reporting.line_set" => self.line_set(d, t),
            "reporting.line_ended" => {
                let (p, m) = (s(d, "person"), s(d, "manager"));
                if self.line_active(p, m, t).is_none() {
                    return Err(format!("line {p} -> {m} not active"));
                }
                let fact = PersonFact::Line {
                    person: p.into(),
                    manager: m.into(),
                    solid: None,
                };
                self.push_person(p, t, fact);
                Ok(())
            }
            "contact.added" | "contact.removed" => {
                let (a, c) = (s(d, "account"), s(d, "contact"));
                let on = ty == "contact.added";
                if on {
                    self.open_account(a, t)?;
                }
                if self.contact_active(a, c, t) == on {
                    return Err(format!(
                        "contact {c} already {}",
                        if on { "active" } else { "gone" }
                    ));
                }
                self.push_account(
                    a,
                    t,
                    AccountFact::Contact {
                        contact: c.into(),
                        on,
                    },
                );
                Ok(())
            }
            "transaction.recorded" => self.recorded(d, t),
            "transaction.reversed" => {
                let (a, txn) = (s(d, "account"), s(d, "txn"));
                self.open_account(a, t)?; // the generator never reverses on a closed account
                match self.txns.get_mut(txn) {
                    Some((acct, eff, reversed)) if acct == a && *eff <= t && !*reversed => {
                        *reversed = true;
                        Ok(())
                    }
                    other => Err(format!("cannot reverse {txn}: {other:?}")),
                }
            }
            other => Err(format!("unknown type {other}")),
        }
    }

    fn opened(&mut self, d: &Value, t: i64) -> Result<(), String> {
        let a = s(d, "account");
        if self.accounts.contains_key(a) {
            return Err(format!("{a} opened before"));
        }
        let parent = d.get("parent").and_then(Value::as_str).map(str::to_owned);
        if let Some(p) = &parent {
            self.open_account(p, t)?;
        }
        let status = d.get("status").and_then(Value::as_str).unwrap_or("active");
        if status != "active" && status != "prospect" {
            return Err(format!("opened as {status}"));
        }
        if let Some(c) = d.get("country").and_then(Value::as_str) {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("country {c}"));
            }
        }
        let fact = AccountFact::Opened {
            status: status.into(),
            parent,
            scope: s(d, "scope").into(),
        };
        self.push_account(a, t, fact);
        Ok(())
    }

    fn parent_changed(&mut self, d: &Value, t: i64) -> Result<(), String> {
        let a = s(d, "account");
        let now = self.account(a, t).ok_or("missing account")?;
        let parent = d["parent"].as_str().map(str::to_owned);
        if now.parent == parent {
            return Err("parent does not differ".into());
        }
        if let Some(p) = &parent {
            self.open_account(p, t)?;
            let mut cur = Some(p.clone());
            let mut steps = 0;
            while let Some(x) = cur {
                if x == a {
                    return Err(format!("cycle through {a}"));
                }
                steps += 1;
                assert!(steps < 100_000, "existing cycle");
                cur = self.account(&x, t).and_then(|n| n.parent);
            }
        }
        self.push_account(a, t, AccountFact::Parent(parent));
        Ok(())
    }

    fn team(&mut self, on: bool, d: &Value, t: i64) -> Result<(), String> {
        let (a, p, role) = (s(d, "account"), s(d, "person"), s(d, "role"));
        if on {
            self.open_account(a, t)?;
            if !self.person_present(p, t) {
                return Err(format!("{p} not present"));
            }
        }
        if self.team_active(a, p, role, t) == on {
            return Err(format!(
                "({a}, {p}, {role}) already {}",
                if on { "active" } else { "inactive" }
            ));
        }
        let fact = AccountFact::Team {
            person: p.into(),
            role: role.into(),
            on,
        };
        self.push_account(a, t, fact);
        Ok(())
    }

    fn line_set(&mut self, d: &Value, t: i64) -> Result<(), String> {
        let (p, m) = (s(d, "person"), s(d, "manager"));
        if p == m || !self.person_present(p, t) || !self.person_present(m, t) {
            return Err(format!("line {p} -> {m}: people"));
        }
        if self.line_active(p, m, t).is_some() {
            return Err(format!("line {p} -> {m} already active"));
        }
        if self.reaches(m, p, t) {
            return Err(format!("line {p} -> {m} closes a cycle"));
        }
        let solid = match s(d, "line") {
            "solid" => true,
            "dotted" => false,
            other => return Err(format!("line kind {other}")),
        };
        let fact = PersonFact::Line {
            person: p.into(),
            manager: m.into(),
            solid: Some(solid),
        };
        self.push_person(p, t, fact.clone());
        self.push_person(m, t, fact);
        Ok(())
    }

    fn recorded(&mut self, d: &Value, t: i64) -> Result<(), String> {
        let (a, txn) = (s(d, "account"), s(d, "txn"));
        self.open_account(a, t)?;
        if self.txns.contains_key(txn) {
            return Err(format!("txn {txn} reused"));
        }
        let kind = s(d, "kind");
        if kind != "sale" && kind != "purchase" {
            return Err(format!("kind {kind}"));
        }
        self.txns.insert(txn.to_owned(), (a.to_owned(), t, false));
        Ok(())
    }
}

/// Replays `events` lines of `seed` and fails on the first invalid one.
fn check(events: u64, seed: u64) {
    let mut checker = Checker::default();
    let mut generator = Generator::new(Config::new(events, seed));
    let mut n = 0u64;
    while let Some(line) = generator.next_line() {
        n += 1;
        let v: Value = serde_json::from_str(line).expect("valid JSON");
        let ty = v["type"].as_str().expect("type");
        let t = micros(v["effective_at"].as_str().expect("effective_at"));
        if let Err(rule) = checker.apply(ty, &v["data"], t) {
            panic!("seed {seed}, line {n}: {rule}\n{line}");
        }
    }
    assert_eq!(n, events);
}

#[test]
fn every_event_is_valid_when_appended_in_order() {
    for seed in [1, 2, 3, 4, 5, 1234] {
        check(20_000, seed);
    }
}

#[test]
fn small_histories_are_valid_too() {
    for seed in 0..20 {
        check(1_000, seed);
    }
}

#[test]
fn checker_rejects_a_broken_history() {
    let mut checker = Checker::default();
    let d = |s: &str| serde_json::from_str::<Value>(s).expect("json");
    let day = 86_400_000_000;
    checker
        .apply("person.joined", &d(r#"{"person":"p","name":"P"}"#), day)
        .expect("join");
    checker
        .apply(
            "account.opened",
            &d(r#"{"account":"a","name":"A","scope":"global"}"#),
            day,
        )
        .expect("open");
    checker
        .apply("person.left", &d(r#"{"person":"p"}"#), 3 * day)
        .expect("left");
    let assign = d(r#"{"account":"a","person":"p","role":"media"}"#);
    assert!(checker.apply("team.assigned", &assign, 4 * day).is_err());
    checker
        .apply("team.assigned", &assign, 2 * day)
        .expect("before leaving");
    let txn = d(r#"{"account":"a","txn":"t1","kind":"sale","amount":"1","currency":"EUR"}"#);
    checker
        .apply("transaction.recorded", &txn, 2 * day)
        .expect("txn");
    assert!(checker
        .apply("transaction.recorded", &txn, 2 * day)
        .is_err());
    let reverse = d(r#"{"account":"a","txn":"t1"}"#);
    assert!(checker
        .apply("transaction.reversed", &reverse, day)
        .is_err());
    checker
        .apply("transaction.reversed", &reverse, 2 * day)
        .expect("reverse");
    assert!(checker
        .apply("transaction.reversed", &reverse, 5 * day)
        .is_err());
    checker
        .apply(
            "account.opened",
            &d(r#"{"account":"b","name":"B","scope":"national","parent":"a"}"#),
            day,
        )
        .expect("child");
    assert!(checker
        .apply(
            "account.parent_changed",
            &d(r#"{"account":"a","parent":"b"}"#),
            2 * day
        )
        .is_err());
}

/// Back-dated events never turn an earlier-recorded event invalid: replaying the whole
/// history in (`effective_at`, line) order, as a query with no `--known-at` folds it, every
/// event still holds, so no query ever has to skip one (CONTRACT §6).
#[test]
fn backdated_events_leave_the_final_fold_valid() {
    for seed in [1, 7, 99] {
        let mut events: Vec<(i64, String)> = Generator::new(Config::new(20_000, seed))
            .map(|line| {
                let v: Value = serde_json::from_str(&line).expect("valid JSON");
                (
                    micros(v["effective_at"].as_str().expect("effective_at")),
                    line,
                )
            })
            .collect();
        events.sort_by_key(|(t, _)| *t);
        let mut checker = Checker::default();
        let mut late = 0;
        for (t, line) in &events {
            let v: Value = serde_json::from_str(line).expect("valid JSON");
            let recorded = micros(v["recorded_at"].as_str().expect("recorded_at"));
            late += usize::from(recorded - t > 86_400_000_000);
            if let Err(rule) = checker.apply(v["type"].as_str().expect("type"), &v["data"], *t) {
                panic!("seed {seed}: {rule}\n{line}");
            }
        }
        assert!(late > 100, "the history has back-dated events ({late})");
    }
}
