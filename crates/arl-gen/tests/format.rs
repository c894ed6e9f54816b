//! The shape of the output: determinism, count, fields, times, amounts, the event mix.

use std::collections::HashSet;

use arl_gen::{Config, Generator};
use serde_json::Value;

fn lines(events: u64, seed: u64) -> Vec<String> {
    Generator::new(Config::new(events, seed)).collect()
}

const TOP_LEVEL: [&str; 7] = [
    "type",
    "data",
    "effective_at",
    "id",
    "actor",
    "reason",
    "recorded_at",
];

/// (type, required data fields, optional data fields)
const DATA_FIELDS: [(&str, &[&str], &[&str]); 16] = [
    (
        "account.opened",
        &["account", "name", "scope"],
        &["parent", "country", "status"],
    ),
    ("account.renamed", &["account", "name"], &[]),
    ("account.parent_changed", &["account", "parent"], &[]),
    ("account.scope_changed", &["account", "scope"], &[]),
    (
        "account.classified",
        &["account", "key_account"],
        &["model", "category"],
    ),
    ("account.status_changed", &["account", "status"], &[]),
    ("person.joined", &["person", "name"], &["title"]),
    ("person.left", &["person"], &[]),
    (
        "team.assigned",
        &["account", "person", "role"],
        &["primary"],
    ),
    ("team.unassigned", &["account", "person", "role"], &[]),
    ("reporting.line_set", &["person", "manager", "line"], &[]),
    ("reporting.line_ended", &["person", "manager"], &[]),
    (
        "contact.added",
        &["account", "contact", "name", "role"],
        &[],
    ),
    ("contact.removed", &["account", "contact"], &[]),
    (
        "transaction.recorded",
        &["account", "txn", "kind", "amount", "currency"],
        &["reference", "description"],
    ),
    ("transaction.reversed", &["account", "txn"], &[]),
];

fn is_canonical_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 27
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            26 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// Microseconds since the epoch of a date or canonical timestamp.
fn micros(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().expect("digits");
    let day = arl_gen::time::days_from_civil(n(0..4) as i32, n(5..7) as u32, n(8..10) as u32);
    let mut us = day * 86_400_000_000;
    if s.len() > 10 {
        us += ((n(11..13) * 60 + n(14..16)) * 60 + n(17..19)) * 1_000_000 + n(20..26);
    }
    us
}

#[test]
fn same_seed_gives_same_lines_and_other_seeds_differ() {
    let a = lines(3000, 11);
    assert_eq!(a, lines(3000, 11));
    assert_ne!(a, lines(3000, 12));
    assert_ne!(lines(3000, 12), lines(3000, 13));
}

#[test]
fn exact_count_at_several_sizes() {
    for events in [0, 1, 5, 999, 1000, 4321] {
        let generator = Generator::new(Config::new(events, 3));
        assert_eq!(generator.len() as u64, events);
        assert_eq!(generator.count() as u64, events);
    }
}

#[test]
fn every_line_has_only_allowed_fields_and_canonical_times() {
    let mut last_recorded = String::new();
    let mut ids = HashSet::new();
    for line in lines(20_000, 5) {
        assert!(line.len() < 64 * 1024);
        let v: Value = serde_json::from_str(&line).expect("valid JSON");
        let obj = v.as_object().expect("an object");
        for key in obj.keys() {
            assert!(TOP_LEVEL.contains(&key.as_str()), "field {key} in {line}");
        }
        let ty = obj["type"].as_str().expect("type");
        let (_, required, optional) = DATA_FIELDS
            .iter()
            .find(|(t, _, _)| *t == ty)
            .unwrap_or_else(|| panic!("unknown type {ty}"));
        let data = obj["data"].as_object().expect("data");
        for key in *required {
            assert!(data.contains_key(*key), "missing {key} in {line}");
        }
        for key in data.keys() {
            let k = key.as_str();
            assert!(
                required.contains(&k) || optional.contains(&k),
                "{k} in {line}"
            );
        }
        let recorded = obj["recorded_at"].as_str().expect("recorded_at");
        assert!(is_canonical_timestamp(recorded), "{recorded}");
        assert!(
            recorded >= last_recorded.as_str(),
            "recorded_at decreases: {line}"
        );
        assert!(recorded < "2026-06-30", "{recorded}");
        last_recorded = recorded.to_owned();
        let eff = obj["effective_at"].as_str().expect("effective_at");
        assert!(is_date(eff) || is_canonical_timestamp(eff), "{eff}");
        assert!(
            micros(eff) <= micros(recorded),
            "effective after recorded: {line}"
        );
        assert!(obj["actor"].is_string());
        if let Some(id) = obj.get("id") {
            assert!(ids.insert(id.as_str().expect("id").to_owned()), "id reused");
        }
    }
}

fn minor_digits(currency: &str) -> usize {
    match currency {
        "JPY" | "KRW" => 0,
        "KWD" | "BHD" => 3,
        "EUR" | "USD" | "GBP" | "CHF" | "SEK" | "NOK" | "DKK" | "PLN" | "CAD" | "AUD" | "BRL"
        | "INR" | "CNY" | "SGD" | "AED" | "MXN" | "ZAR" => 2,
        other => panic!("unexpected currency {other}"),
    }
}

#[test]
fn amounts_respect_minor_units_and_currencies_vary() {
    let mut currencies = HashSet::new();
    let mut seen_fraction = [false; 4];
    for line in lines(20_000, 9) {
        let v: Value = serde_json::from_str(&line).expect("valid JSON");
        if v["type"] != "transaction.recorded" {
            continue;
        }
        let amount = v["data"]["amount"].as_str().expect("amount");
        let currency = v["data"]["currency"].as_str().expect("currency");
        currencies.insert(currency.to_owned());
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        assert!(!whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()));
        assert!(fraction.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            fraction.len() <= minor_digits(currency),
            "{amount} {currency}"
        );
        seen_fraction[fraction.len()] = true;
        assert!(
            amount.bytes().any(|b| (b'1'..=b'9').contains(&b)),
            "zero amount"
        );
    }
    assert!(currencies.len() >= 6, "{currencies:?}");
    assert!(currencies.contains("JPY") && currencies.contains("KWD"));
    assert!(seen_fraction[0] && seen_fraction[2]);
}

#[test]
fn mix_at_100k_is_mostly_transactions_with_a_few_late_events() {
    let mut generator = Generator::new(Config::new(100_000, 21));
    let mut late = 0u64;
    let mut txns = 0u64;
    let mut total = 0u64;
    while let Some(line) = generator.next_line() {
        let v: Value = serde_json::from_str(line).expect("valid JSON");
        total += 1;
        if v["type"] == "transaction.recorded" {
            txns += 1;
        }
        let eff = micros(v["effective_at"].as_str().expect("eff"));
        let recorded = micros(v["recorded_at"].as_str().expect("recorded"));
        if recorded - eff > 86_400_000_000 {
            late += 1;
        }
    }
    assert_eq!(total, 100_000);
    let txn_per_mille = txns * 1000 / total;
    let late_per_mille = late * 1000 / total;
    assert!((820..=890).contains(&txn_per_mille), "{txn_per_mille}");
    assert!((10..=30).contains(&late_per_mille), "{late_per_mille}");
    assert_eq!(generator.stats().late, late);
    assert!(generator.accounts().count() >= 300);
    assert!(generator.global_accounts().count() > 0);
    assert!(generator.people().count() >= 20);
}

#[test]
fn history_grows_with_events_and_ends_before_the_bound() {
    let last = |events: u64| {
        let mut generator = Generator::new(Config::new(events, 1));
        let mut last = String::new();
        while let Some(line) = generator.next_line() {
            last = line.to_owned();
        }
        let v: Value = serde_json::from_str(&last).expect("valid JSON");
        v["recorded_at"].as_str().expect("recorded_at").to_owned()
    };
    let small = last(1_000);
    let large = last(200_000);
    assert!(small.as_str() < "2020-04-15", "{small}");
    assert!(large > small && large.as_str() < "2026-06-30", "{large}");
}
