//! Every rule of contract §3, broken once: the append is rejected with the typed error that
//! names the rule.

use arl_domain::{InputEvent, Recorded};
use arl_fold::{MemIndex, Source};

/// `"2023-01-05 account.opened {...}"`: effective date, type, data.
fn line(spec: &str, n: usize) -> String {
    let mut parts = spec.splitn(3, ' ');
    let (date, kind, data) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    format!(
        r#"{{"type":"{kind}","data":{data},"effective_at":"{date}","recorded_at":"2024-06-01T00:00:{n:02}.000000Z"}}"#
    )
}

fn append(index: &mut MemIndex, spec: &str, n: usize) -> Result<(), String> {
    let input = InputEvent::parse_line(&line(spec, n), true).map_err(|e| format!("shape: {e}"))?;
    let recorded_at = input.recorded_at.unwrap();
    let recorded = Recorded {
        seq: index.checkpoint() + 1,
        effective_at: input.effective_at.unwrap_or(recorded_at),
        recorded_at,
        event: input.event,
    };
    arl_fold::validate(index, &recorded).map_err(|e| format!("{}: {e}", e.rule()))?;
    index.insert(recorded);
    Ok(())
}

const BASE: &[&str] = &[
    r#"2023-01-01 person.joined {"person":"ada","name":"Ada"}"#,
    r#"2023-01-01 person.joined {"person":"ben","name":"Ben"}"#,
    r#"2023-01-01 person.joined {"person":"cy","name":"Cy"}"#,
    r#"2023-06-30 person.left {"person":"cy"}"#,
    r#"2023-01-02 account.opened {"account":"g","name":"G","scope":"global"}"#,
    r#"2023-01-02 account.opened {"account":"n","name":"N","scope":"national","parent":"g"}"#,
    r#"2023-01-02 account.opened {"account":"old","name":"Old","scope":"district"}"#,
    r#"2023-03-01 account.status_changed {"account":"old","status":"closed"}"#,
    r#"2023-01-03 team.assigned {"account":"g","person":"ada","role":"media"}"#,
    r#"2023-01-03 reporting.line_set {"person":"ben","manager":"ada","line":"solid"}"#,
    r#"2023-01-03 contact.added {"account":"g","contact":"mai","name":"Mai","role":"buyer"}"#,
    r#"2023-02-01 transaction.recorded {"account":"g","txn":"t1","kind":"sale","amount":"10.00","currency":"EUR"}"#,
    r#"2023-02-05 transaction.recorded {"account":"g","txn":"t2","kind":"sale","amount":"10.00","currency":"EUR"}"#,
    r#"2023-02-06 transaction.reversed {"account":"g","txn":"t2"}"#,
];

/// Appends BASE, then `spec`, which must fail with an error containing `expected`; the index
/// is unchanged by the failure.
fn check(spec: &str, expected: &str) {
    let mut index = MemIndex::new();
    for (n, base) in BASE.iter().enumerate() {
        append(&mut index, base, n).unwrap_or_else(|e| panic!("base line {n}: {e}"));
    }
    let before = index.checkpoint();
    match append(&mut index, spec, 59) {
        Ok(()) => panic!("{spec}: accepted, expected {expected:?}"),
        Err(message) => assert!(
            message.contains(expected),
            "{spec}: got {message:?}, expected {expected:?}"
        ),
    }
    assert_eq!(index.checkpoint(), before);
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "the table of cases, one per rule of the catalogue"
)]
fn every_rule_of_the_catalogue_rejects() {
    let cases: &[(&str, &str)] = &[
        // account.opened
        (
            r#"2022-01-01 account.opened {"account":"g","name":"G again","scope":"global"}"#,
            "account id never opened before",
        ),
        (
            r#"2023-05-01 account.opened {"account":"x","name":"X","scope":"national","parent":"nope"}"#,
            "parent exists",
        ),
        (
            r#"2023-05-01 account.opened {"account":"x","name":"X","scope":"national","parent":"old"}"#,
            "parent not closed",
        ),
        (
            r#"2022-12-01 account.opened {"account":"x","name":"X","scope":"national","parent":"g"}"#,
            "parent exists",
        ),
        // account.renamed
        (
            r#"2023-05-01 account.renamed {"account":"nope","name":"X"}"#,
            "account exists",
        ),
        (
            r#"2022-05-01 account.renamed {"account":"g","name":"X"}"#,
            "account exists",
        ),
        // account.parent_changed
        (
            r#"2023-05-01 account.parent_changed {"account":"nope","parent":"g"}"#,
            "account exists",
        ),
        (
            r#"2023-05-01 account.parent_changed {"account":"g","parent":"nope"}"#,
            "parent exists",
        ),
        (
            r#"2023-05-01 account.parent_changed {"account":"n","parent":"old"}"#,
            "parent not closed",
        ),
        (
            r#"2023-05-01 account.parent_changed {"account":"g","parent":"n"}"#,
            "no cycle in the hierarchy",
        ),
        (
            r#"2023-05-01 account.parent_changed {"account":"n","parent":"g"}"#,
            "parent differs from the current one",
        ),
        (
            r#"2023-05-01 account.parent_changed {"account":"g","parent":null}"#,
            "parent differs from the current one",
        ),
        // account.scope_changed
        (
            r#"2023-05-01 account.scope_changed {"account":"nope","scope":"global"}"#,
            "account exists",
        ),
        (
            r#"2023-05-01 account.scope_changed {"account":"g","scope":"global"}"#,
            "scope differs from the current one",
        ),
        // account.classified
        (
            r#"2023-05-01 account.classified {"account":"nope","key_account":true}"#,
            "account exists",
        ),
        (
            r#"2023-05-01 account.classified {"account":"old","key_account":true}"#,
            "account not closed",
        ),
        (
            r#"2023-05-01 account.classified {"account":"g","key_account":true,"model":"custom"}"#,
            "both, or neither",
        ),
        (
            r#"2023-05-01 account.classified {"account":"g","key_account":true,"category":"top"}"#,
            "both, or neither",
        ),
        (
            r#"2023-05-01 account.classified {"account":"g","key_account":true,"model":"st-gallen","category":"mid-kam"}"#,
            "belong to the model",
        ),
        // account.status_changed
        (
            r#"2023-05-01 account.status_changed {"account":"nope","status":"active"}"#,
            "account exists",
        ),
        (
            r#"2023-05-01 account.status_changed {"account":"g","status":"active"}"#,
            "status differs from the current one",
        ),
        // person.joined
        (
            r#"2020-01-01 person.joined {"person":"ada","name":"Ada again"}"#,
            "person id never joined before",
        ),
        // person.left
        (
            r#"2023-05-01 person.left {"person":"nope"}"#,
            "person exists",
        ),
        (
            r#"2023-08-01 person.left {"person":"cy"}"#,
            "person has not left",
        ),
        (
            r#"2022-08-01 person.left {"person":"ada"}"#,
            "person exists",
        ),
        // team.assigned
        (
            r#"2023-05-01 team.assigned {"account":"nope","person":"ada","role":"media"}"#,
            "account exists",
        ),
        (
            r#"2023-05-01 team.assigned {"account":"old","person":"ada","role":"media"}"#,
            "account not closed",
        ),
        (
            r#"2023-05-01 team.assigned {"account":"g","person":"nope","role":"media"}"#,
            "person exists",
        ),
        (
            r#"2023-07-01 team.assigned {"account":"g","person":"cy","role":"media"}"#,
            "person has not left",
        ),
        (
            r#"2023-05-01 team.assigned {"account":"g","person":"ada","role":"media"}"#,
            "assignment not already active",
        ),
        // team.unassigned
        (
            r#"2023-05-01 team.unassigned {"account":"g","person":"ben","role":"media"}"#,
            "assignment is active",
        ),
        (
            r#"2023-01-02 team.unassigned {"account":"g","person":"ada","role":"media"}"#,
            "assignment is active",
        ),
        // reporting.line_set
        (
            r#"2023-05-01 reporting.line_set {"person":"nope","manager":"ada","line":"dotted"}"#,
            "person exists",
        ),
        (
            r#"2023-05-01 reporting.line_set {"person":"ada","manager":"nope","line":"dotted"}"#,
            "person exists",
        ),
        (
            r#"2023-07-01 reporting.line_set {"person":"cy","manager":"ada","line":"dotted"}"#,
            "person has not left",
        ),
        (
            r#"2023-07-01 reporting.line_set {"person":"ada","manager":"cy","line":"dotted"}"#,
            "person has not left",
        ),
        (
            r#"2023-05-01 reporting.line_set {"person":"ada","manager":"ada","line":"solid"}"#,
            "person differs from manager",
        ),
        (
            r#"2023-05-01 reporting.line_set {"person":"ada","manager":"ben","line":"dotted"}"#,
            "no cycle in the reporting lines",
        ),
        (
            r#"2023-05-01 reporting.line_set {"person":"ben","manager":"ada","line":"dotted"}"#,
            "line not already active",
        ),
        // reporting.line_ended
        (
            r#"2023-05-01 reporting.line_ended {"person":"ada","manager":"ben"}"#,
            "line is active",
        ),
        // contact.added
        (
            r#"2023-05-01 contact.added {"account":"nope","contact":"x","name":"X","role":"user"}"#,
            "account exists",
        ),
        (
            r#"2023-05-01 contact.added {"account":"old","contact":"x","name":"X","role":"user"}"#,
            "account not closed",
        ),
        (
            r#"2023-05-01 contact.added {"account":"g","contact":"mai","name":"Mai","role":"user"}"#,
            "contact not already active",
        ),
        // contact.removed
        (
            r#"2023-05-01 contact.removed {"account":"g","contact":"nobody"}"#,
            "contact is active",
        ),
        (
            r#"2023-05-01 contact.removed {"account":"n","contact":"mai"}"#,
            "contact is active",
        ),
        // transaction.recorded
        (
            r#"2023-05-01 transaction.recorded {"account":"nope","txn":"t9","kind":"sale","amount":"1","currency":"EUR"}"#,
            "account exists",
        ),
        (
            r#"2023-05-01 transaction.recorded {"account":"old","txn":"t9","kind":"sale","amount":"1","currency":"EUR"}"#,
            "account not closed",
        ),
        (
            r#"2023-05-01 transaction.recorded {"account":"n","txn":"t1","kind":"sale","amount":"1","currency":"EUR"}"#,
            "transaction id never used before",
        ),
        (
            r#"2023-05-01 transaction.recorded {"account":"g","txn":"t9","kind":"sale","amount":"1.005","currency":"EUR"}"#,
            "more decimals than EUR",
        ),
        (
            r#"2023-05-01 transaction.recorded {"account":"g","txn":"t9","kind":"sale","amount":"1.5","currency":"JPY"}"#,
            "more decimals than JPY",
        ),
        (
            r#"2023-05-01 transaction.recorded {"account":"g","txn":"t9","kind":"sale","amount":"1","currency":"EURO"}"#,
            "unknown currency",
        ),
        (
            r#"2023-05-01 transaction.recorded {"account":"g","txn":"t9","kind":"sale","amount":"0","currency":"EUR"}"#,
            "greater than zero",
        ),
        // transaction.reversed
        (
            r#"2023-05-01 transaction.reversed {"account":"g","txn":"t9"}"#,
            "transaction exists on the account",
        ),
        (
            r#"2023-05-01 transaction.reversed {"account":"n","txn":"t1"}"#,
            "transaction exists on the account",
        ),
        (
            r#"2023-01-15 transaction.reversed {"account":"g","txn":"t1"}"#,
            "transaction effective at or before its reversal",
        ),
        (
            r#"2023-05-01 transaction.reversed {"account":"g","txn":"t2"}"#,
            "transaction never reversed",
        ),
    ];
    for (spec, expected) in cases {
        check(spec, expected);
    }
}

#[test]
fn a_rule_message_names_the_facts() {
    let mut index = MemIndex::new();
    for (n, base) in BASE.iter().enumerate() {
        append(&mut index, base, n).unwrap();
    }
    let err = append(
        &mut index,
        r#"2023-07-01 team.assigned {"account":"g","person":"cy","role":"media"}"#,
        59,
    )
    .unwrap_err();
    assert!(err.contains(r#"person "cy" left on 2023-06-30"#), "{err}");
}
