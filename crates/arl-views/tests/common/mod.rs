//! Random event histories for the view tests: shapes valid, rules not (the views index
//! whatever the log holds).
#![allow(dead_code)]

use arl_domain::{Event, Recorded, Timestamp};
use proptest::prelude::*;
use std::path::Path;

const ACCOUNTS: [&str; 5] = ["a", "b", "c", "d-1", "e.x"];
const PERSONS: [&str; 4] = ["p", "q", "r", "s_2"];

/// One step of a history: an operation code and three small operands.
pub type Step = (u8, u8, u8, u8, u8);

pub fn steps(max: usize) -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(any::<Step>(), 0..max)
}

/// Turns steps into events with seqs 1.., non-decreasing recorded_at and any effective_at.
#[allow(
    clippy::too_many_lines,
    clippy::many_single_char_names,
    reason = "one arm per event kind; a, b, p, m are the accounts and people a step picks"
)]
pub fn history(steps: &[Step]) -> Vec<Recorded> {
    let mut out = Vec::new();
    let mut txns: Vec<(usize, String)> = Vec::new();
    let mut recorded_at = 1_600_000_000_000_000i64;
    for &(op, x, y, z, dt) in steps {
        let a = ACCOUNTS[usize::from(x) % ACCOUNTS.len()];
        let b = ACCOUNTS[usize::from(y) % ACCOUNTS.len()];
        let p = PERSONS[usize::from(y) % PERSONS.len()];
        let m = PERSONS[usize::from(z) % PERSONS.len()];
        let (kind, data) = match op % 17 {
            0 if a != b => (
                "account.opened",
                format!(r#"{{"account":"{a}","name":"N {z}","parent":"{b}","scope":"national"}}"#),
            ),
            0 | 1 => (
                "account.opened",
                format!(
                    r#"{{"account":"{a}","country":"DE","name":"N","scope":"global","status":"prospect"}}"#
                ),
            ),
            2 => (
                "account.renamed",
                format!(r#"{{"account":"{a}","name":"R{z}"}}"#),
            ),
            3 if z % 2 == 0 => (
                "account.parent_changed",
                format!(r#"{{"account":"{a}","parent":null}}"#),
            ),
            3 if a != b => (
                "account.parent_changed",
                format!(r#"{{"account":"{a}","parent":"{b}"}}"#),
            ),
            3 | 4 => (
                "account.scope_changed",
                format!(r#"{{"account":"{a}","scope":"district"}}"#),
            ),
            5 => (
                "account.classified",
                format!(
                    r#"{{"account":"{a}","category":"top","key_account":true,"model":"st-gallen"}}"#
                ),
            ),
            6 => (
                "account.status_changed",
                format!(r#"{{"account":"{a}","status":"on_hold"}}"#),
            ),
            7 => (
                "person.joined",
                format!(r#"{{"name":"P","person":"{p}","title":"T"}}"#),
            ),
            8 => ("person.left", format!(r#"{{"person":"{p}"}}"#)),
            9 => (
                "team.assigned",
                format!(r#"{{"account":"{a}","person":"{p}","primary":true,"role":"media"}}"#),
            ),
            10 => (
                "team.unassigned",
                format!(r#"{{"account":"{a}","person":"{p}","role":"media"}}"#),
            ),
            11 => (
                "reporting.line_set",
                format!(r#"{{"line":"solid","manager":"{m}","person":"{p}"}}"#),
            ),
            12 => (
                "reporting.line_ended",
                format!(r#"{{"manager":"{m}","person":"{p}"}}"#),
            ),
            13 => (
                "contact.added",
                format!(r#"{{"account":"{a}","contact":"c{z}","name":"C","role":"buyer"}}"#),
            ),
            14 => (
                "contact.removed",
                format!(r#"{{"account":"{a}","contact":"c{z}"}}"#),
            ),
            15 if !txns.is_empty() && z % 3 == 0 => {
                let (i, txn) = &txns[usize::from(y) % txns.len()];
                (
                    "transaction.reversed",
                    format!(r#"{{"account":"{}","txn":"{txn}"}}"#, ACCOUNTS[*i]),
                )
            }
            _ => {
                let txn = format!("t{}", out.len());
                txns.push((usize::from(x) % ACCOUNTS.len(), txn.clone()));
                let (currency, amount, kind) = match z % 3 {
                    // Never "0.00": an amount is above zero.
                    0 => (
                        "EUR",
                        format!("{}.{:02}", u32::from(y) + 1, z % 100),
                        "sale",
                    ),
                    1 => ("JPY", format!("{}", u32::from(y) * 1000 + 1), "purchase"),
                    _ => ("KWD", format!("0.{:03}", u32::from(z) + 1), "sale"),
                };
                (
                    "transaction.recorded",
                    format!(
                        r#"{{"account":"{a}","amount":"{amount}","currency":"{currency}","kind":"{kind}","txn":"{txn}"}}"#
                    ),
                )
            }
        };
        let event = Event::parse(kind, &data).unwrap_or_else(|e| panic!("{kind} {data}: {e}"));
        recorded_at += i64::from(dt % 4) * 1_000_000;
        let effective_at = recorded_at - i64::from(z) * 86_400_000_000 + i64::from(dt);
        out.push(Recorded {
            seq: out.len() as u64 + 1,
            effective_at: Timestamp(effective_at),
            recorded_at: Timestamp(recorded_at),
            event,
        });
    }
    out
}

/// Every file of a directory, by name, with its bytes.
pub fn dir_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    // The heads slots alternate and count commits; what they say (the latest, without its
    // generation) is compared instead of their bytes.
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with("heads"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    let mut heads = arl_views::format::read_heads(dir)
        .unwrap()
        .expect("views have heads");
    heads.generation = 0;
    out.push(("heads (latest, generation 0)".into(), heads.encode()));
    out.sort();
    out
}
