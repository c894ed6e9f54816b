//! `bad_input`: a corpus of bad input lines, each appended through the `arl` binary by one
//! helper (`check`): every one exits 1, prints nothing on standard output, names its line
//! ("line 3") and the rule on standard error, and leaves the ledger's `arl digest` as it
//! was. Each bad line sits at line 3 of its input, after a valid line and a blank one, with
//! another valid line after it, so the whole batch must be rejected (atomicity).
//!
//! Covered: malformed JSON, wrong types, unknown fields (top level and data), overlong
//! lines, names and texts, invalid ids, dates and time zones, bad enumerations, money, stale
//! `expected_version`, id conflicts, `recorded_at` where it does not belong, imported times
//! in the future or before the ledger's last `recorded_at`, and every rule of contract §3.
//! Not covered on purpose: imported times that decrease within one batch (undecided).

mod support;

use support::Ledger;

/// The state every case runs against (all valid, effective in January 2024).
const BASE: &[&str] = &[
    r#"{"type":"account.opened","data":{"account":"acme","name":"ACME Corp","scope":"global","country":"US"},"effective_at":"2024-01-01"}"#,
    r#"{"type":"account.opened","data":{"account":"acme-de","name":"ACME GmbH","scope":"national","parent":"acme","country":"DE"},"effective_at":"2024-01-02"}"#,
    r#"{"type":"account.opened","data":{"account":"shut","name":"Shut Ltd","scope":"global"},"effective_at":"2024-01-01"}"#,
    r#"{"type":"account.status_changed","data":{"account":"shut","status":"closed"},"effective_at":"2024-01-05"}"#,
    r#"{"type":"person.joined","data":{"person":"jdoe","name":"J Doe"},"effective_at":"2024-01-01"}"#,
    r#"{"type":"person.joined","data":{"person":"mgr","name":"M Gr"},"effective_at":"2024-01-01"}"#,
    r#"{"type":"person.joined","data":{"person":"gone","name":"Gone"},"effective_at":"2024-01-01"}"#,
    r#"{"type":"person.left","data":{"person":"gone"},"effective_at":"2024-01-10"}"#,
    r#"{"type":"team.assigned","data":{"account":"acme","person":"jdoe","role":"key_account_manager","primary":true},"effective_at":"2024-01-03"}"#,
    r#"{"type":"reporting.line_set","data":{"person":"jdoe","manager":"mgr","line":"solid"},"effective_at":"2024-01-03"}"#,
    r#"{"type":"contact.added","data":{"account":"acme","contact":"m-ng","name":"Mai Ng","role":"decider"},"effective_at":"2024-01-03"}"#,
    r#"{"type":"transaction.recorded","data":{"account":"acme","txn":"t1","kind":"sale","amount":"100.00","currency":"EUR"},"effective_at":"2024-01-04"}"#,
    r#"{"type":"transaction.recorded","data":{"account":"acme","txn":"t2","kind":"sale","amount":"5.00","currency":"EUR"},"effective_at":"2024-01-04"}"#,
    r#"{"type":"transaction.reversed","data":{"account":"acme","txn":"t2"},"effective_at":"2024-01-06"}"#,
    r#"{"type":"transaction.recorded","data":{"account":"acme-de","txn":"t3","kind":"sale","amount":"7.00","currency":"EUR"},"effective_at":"2024-05-01"}"#,
    r#"{"id":"known-id","type":"account.renamed","data":{"account":"acme","name":"ACME Corporation"},"effective_at":"2024-01-07"}"#,
];

/// A fresh ledger holding [`BASE`].
fn base_ledger() -> Ledger {
    let ledger = Ledger::new();
    ledger.append(&(BASE.join("\n") + "\n"), false);
    ledger
}

/// Builds a bad line from a type and data (JSON text), effective mid-2024.
fn ev(kind: &str, data: &str) -> String {
    format!(r#"{{"type":"{kind}","data":{data},"effective_at":"2024-06-01"}}"#)
}

/// One case: the bad line, and the words its message must hold (the rule).
struct Case {
    line: String,
    rule: &'static [&'static str],
}

fn case(line: impl Into<String>, rule: &'static [&'static str]) -> Case {
    Case {
        line: line.into(),
        rule,
    }
}

/// Appends `valid ⏎ ⏎ bad ⏎ valid` and checks the rejection. Returns a description of
/// what went wrong, if anything (so one run reports every failing case).
fn check(ledger: &Ledger, n: usize, bad: &str, rule: &[&str], imported: bool) -> Option<String> {
    let before = ledger.digest();
    let valid = |k: usize| {
        let recorded = if imported {
            r#","recorded_at":"2026-08-01T00:00:00Z""#
        } else {
            ""
        };
        format!(
            r#"{{"type":"person.joined","data":{{"person":"ok-{n}-{k}","name":"Ok"}},"effective_at":"2024-06-01"{recorded}}}"#
        )
    };
    let input = format!("{}\n\n{bad}\n{}\n", valid(1), valid(2));
    let file = ledger.write("bad.jsonl", &input);
    let mut args = vec!["append", file.as_str()];
    if imported {
        args.push("--imported");
    }
    let run = ledger.run(&args);
    let shown: String = bad.chars().take(160).collect();
    let mut wrong = Vec::new();
    if run.code != 1 {
        wrong.push(format!("exit {} (not 1)", run.code));
    }
    if !run.stdout.is_empty() {
        wrong.push(format!("stdout {:?}", run.stdout));
    }
    if !run.stderr.contains("line 3:") {
        wrong.push("does not name line 3".to_string());
    }
    let stderr = run.stderr.to_lowercase();
    for word in rule {
        if !stderr.contains(&word.to_lowercase()) {
            wrong.push(format!("does not say {word:?}"));
        }
    }
    if run.stderr.contains("panicked") {
        wrong.push("panicked".to_string());
    }
    if ledger.digest() != before {
        wrong.push("the ledger changed".to_string());
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "case {n}: {shown}\n    {}\n    stderr: {}",
            wrong.join("; "),
            run.stderr.trim()
        )
    })
}

fn run_cases(ledger: &Ledger, cases: &[Case], imported: bool) {
    let failures: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(n, c)| check(ledger, n, &c.line, c.rule, imported))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(ledger.run(&["verify", "--quiet"]).code, 0);
}

#[allow(
    clippy::too_many_lines,
    reason = "the table of malformed inputs, one case each"
)]
fn shape_cases() -> Vec<Case> {
    let long_reason = "r".repeat(70_000);
    let long_name = "n".repeat(201);
    vec![
        // Malformed JSON and wrong shapes.
        case(r#"{"type":"person.joined","data":{"#, &["json"]),
        case("not json at all", &["json"]),
        case(r#"[1,2,3]"#, &["json"]),
        case(r#""just a string""#, &["json"]),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"}} trailing"#,
            &["json"],
        ),
        case(r#"{"type":5,"data":{"person":"x1","name":"X"}}"#, &["json"]),
        case(r#"{"type":"person.joined","data":"x"}"#, &["person.joined"]),
        case(
            r#"{"type":"person.joined","data":null}"#,
            &["person.joined"],
        ),
        case(r#"{"type":"person.joined"}"#, &["data"]),
        case(r#"{"data":{"person":"x1","name":"X"}}"#, &["type"]),
        case(
            r#"{"type":"account.deleted","data":{"account":"acme"}}"#,
            &["unknown event type"],
        ),
        // Unknown fields.
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"extra":1}"#,
            &["extra"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"Type":"x"}"#,
            &["Type"],
        ),
        case(
            ev("person.joined", r#"{"person":"x1","name":"X","age":3}"#),
            &["age"],
        ),
        case(
            ev(
                "account.renamed",
                r#"{"account":"acme","name":"A","parent":"x"}"#,
            ),
            &["parent"],
        ),
        // Wrong types inside data and envelope.
        case(
            ev("person.joined", r#"{"person":"x1","name":5}"#),
            &["expected a string"],
        ),
        case(
            ev("person.joined", r#"{"person":7,"name":"X"}"#),
            &["person"],
        ),
        case(
            ev(
                "team.assigned",
                r#"{"account":"acme","person":"mgr","role":"media","primary":"yes"}"#,
            ),
            &["expected a boolean"],
        ),
        case(
            ev(
                "account.classified",
                r#"{"account":"acme","key_account":"true"}"#,
            ),
            &["expected a boolean"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":10.5,"currency":"EUR"}"#,
            ),
            &["expected a string"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"expected_version":"1"}"#,
            &["expected u64"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"expected_version":-1}"#,
            &["expected u64"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"id":42}"#,
            &["id"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"reason":["a"]}"#,
            &["expected a string"],
        ),
        // Limits.
        case(
            format!(
                r#"{{"type":"person.joined","data":{{"person":"x1","name":"X"}},"reason":"{long_reason}"}}"#
            ),
            &["64 KiB"],
        ),
        case(
            format!(
                r#"{{"type":"person.joined","data":{{"person":"x1","name":"X"}},"reason":"{}"}}"#,
                "r".repeat(1025)
            ),
            &["reason"],
        ),
        case(
            ev(
                "person.joined",
                &format!(r#"{{"person":"x1","name":"{long_name}"}}"#),
            ),
            &["name"],
        ),
        case(
            ev(
                "account.opened",
                &format!(r#"{{"account":"x1","name":"{long_name}","scope":"global"}}"#),
            ),
            &["name"],
        ),
        case(
            ev("person.joined", r#"{"person":"x1","name":""}"#),
            &["name"],
        ),
        case(
            format!(
                r#"{{"type":"person.joined","data":{{"person":"x1","name":"X"}},"id":"{}"}}"#,
                "i".repeat(129)
            ),
            &["id"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"id":""}"#,
            &["id"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"id":"tab\there"}"#,
            &["id"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"id":"café"}"#,
            &["id"],
        ),
        // Invalid identifiers.
        case(
            ev("person.joined", r#"{"person":"../etc","name":"X"}"#),
            &["person"],
        ),
        case(
            ev("person.joined", r#"{"person":"-lead","name":"X"}"#),
            &["person"],
        ),
        case(
            ev("person.joined", r#"{"person":"","name":"X"}"#),
            &["person"],
        ),
        case(
            ev("person.joined", r#"{"person":"a b","name":"X"}"#),
            &["person"],
        ),
        case(
            ev("person.joined", r#"{"person":"josé","name":"X"}"#),
            &["person"],
        ),
        case(
            ev("person.joined", r#"{"person":"a/b","name":"X"}"#),
            &["person"],
        ),
        case(
            ev(
                "person.joined",
                &format!(r#"{{"person":"{}","name":"X"}}"#, "p".repeat(65)),
            ),
            &["person"],
        ),
        case(
            ev(
                "account.opened",
                r#"{"account":"/abs","name":"X","scope":"global"}"#,
            ),
            &["account"],
        ),
        case(
            ev(
                "account.opened",
                r#"{"account":"nul\u0000x","name":"X","scope":"global"}"#,
            ),
            &["account"],
        ),
        // Dates and time zones.
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":"2024-13-01"}"#,
            &["effective_at", "not a valid time"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":"2024-02-30"}"#,
            &["effective_at"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":"yesterday"}"#,
            &["effective_at"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":"2024-03-01T09:30:00"}"#,
            &["effective_at"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":"2024-03-01T09:30:00+25:00"}"#,
            &["effective_at"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":"2024-03-01T09:30:00 CET"}"#,
            &["effective_at"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":"2024-03-01T25:00:00Z"}"#,
            &["effective_at"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":20240301}"#,
            &["expected a string"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"recorded_at":"2024-03-01"}"#,
            &["recorded_at", "--imported"],
        ),
        // Enumerations.
        case(
            ev(
                "account.opened",
                r#"{"account":"x1","name":"X","scope":"planet"}"#,
            ),
            &["global"],
        ),
        case(
            ev(
                "account.opened",
                r#"{"account":"x1","name":"X","scope":"global","country":"de"}"#,
            ),
            &["country"],
        ),
        case(
            ev(
                "account.opened",
                r#"{"account":"x1","name":"X","scope":"global","country":"DEU"}"#,
            ),
            &["country"],
        ),
        case(
            ev(
                "account.opened",
                r#"{"account":"x1","name":"X","scope":"global","status":"closed"}"#,
            ),
            &["status"],
        ),
        case(
            ev(
                "account.status_changed",
                r#"{"account":"acme","status":"gone"}"#,
            ),
            &["status"],
        ),
        case(
            ev(
                "team.assigned",
                r#"{"account":"acme","person":"mgr","role":"ceo"}"#,
            ),
            &["key_account_manager"],
        ),
        case(
            ev(
                "contact.added",
                r#"{"account":"acme","contact":"c9","name":"C","role":"boss"}"#,
            ),
            &["decider"],
        ),
        case(
            ev(
                "reporting.line_set",
                r#"{"person":"mgr","manager":"jdoe","line":"wavy"}"#,
            ),
            &["line"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"gift","amount":"1.00","currency":"EUR"}"#,
            ),
            &["purchase"],
        ),
        case(
            ev(
                "account.classified",
                r#"{"account":"acme","key_account":true,"model":"astrology","category":"top"}"#,
            ),
            &["millman-wilson"],
        ),
        // Money.
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"10.123","currency":"EUR"}"#,
            ),
            &["decimals"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"10.5","currency":"JPY"}"#,
            ),
            &["decimals"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"1.0001","currency":"BHD"}"#,
            ),
            &["decimals"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"0","currency":"EUR"}"#,
            ),
            &["amount"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"-5.00","currency":"EUR"}"#,
            ),
            &["amount"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"1e3","currency":"EUR"}"#,
            ),
            &["amount"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"99999999999999999999","currency":"EUR"}"#,
            ),
            &["amount"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"1.00","currency":"ABC"}"#,
            ),
            &["currency"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":"1.00","currency":"eur"}"#,
            ),
            &["currency"],
        ),
        // Concurrency and idempotency keys.
        case(
            r#"{"type":"account.renamed","data":{"account":"acme","name":"A2"},"expected_version":1}"#,
            &["expected"],
        ),
        case(
            r#"{"id":"known-id","type":"account.renamed","data":{"account":"acme","name":"Other"},"effective_at":"2024-01-07"}"#,
            &["known-id", "already used"],
        ),
    ]
}

/// Wrong types and values inside an object: the message must name the field at fault, not
/// only the expected type or values (and no parser position inside the data object).
fn field_cases() -> Vec<Case> {
    vec![
        case(
            ev("person.joined", r#"{"person":"x1","name":5}"#),
            &["name"],
        ),
        case(
            ev(
                "team.assigned",
                r#"{"account":"acme","person":"mgr","role":"media","primary":"yes"}"#,
            ),
            &["primary"],
        ),
        case(
            ev(
                "account.classified",
                r#"{"account":"acme","key_account":"true"}"#,
            ),
            &["key_account"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"sale","amount":10.5,"currency":"EUR"}"#,
            ),
            &["amount"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"expected_version":"1"}"#,
            &["expected_version"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"expected_version":-1}"#,
            &["expected_version"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"reason":["a"]}"#,
            &["reason"],
        ),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"},"effective_at":20240301}"#,
            &["effective_at"],
        ),
        case(
            ev(
                "account.opened",
                r#"{"account":"x1","name":"X","scope":"planet"}"#,
            ),
            &["scope"],
        ),
        case(
            ev(
                "team.assigned",
                r#"{"account":"acme","person":"mgr","role":"ceo"}"#,
            ),
            &["role"],
        ),
        case(
            ev(
                "contact.added",
                r#"{"account":"acme","contact":"c9","name":"C","role":"boss"}"#,
            ),
            &["role"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t9","kind":"gift","amount":"1.00","currency":"EUR"}"#,
            ),
            &["kind"],
        ),
        case(
            ev(
                "account.classified",
                r#"{"account":"acme","key_account":true,"model":"astrology","category":"top"}"#,
            ),
            &["model"],
        ),
    ]
}

#[allow(
    clippy::too_many_lines,
    reason = "the table of broken rules, one case each"
)]
fn rule_cases() -> Vec<Case> {
    vec![
        // account.opened
        case(
            ev(
                "account.opened",
                r#"{"account":"acme","name":"Again","scope":"global"}"#,
            ),
            &["already opened"],
        ),
        case(
            ev(
                "account.opened",
                r#"{"account":"x1","name":"X","scope":"national","parent":"nope"}"#,
            ),
            &["parent", "does not exist"],
        ),
        case(
            ev(
                "account.opened",
                r#"{"account":"x1","name":"X","scope":"national","parent":"shut"}"#,
            ),
            &["parent", "closed"],
        ),
        // account.renamed
        case(
            ev("account.renamed", r#"{"account":"nope","name":"X"}"#),
            &["does not exist"],
        ),
        // account.parent_changed
        case(
            ev(
                "account.parent_changed",
                r#"{"account":"nope","parent":"acme"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "account.parent_changed",
                r#"{"account":"acme-de","parent":"nope"}"#,
            ),
            &["parent", "does not exist"],
        ),
        case(
            ev(
                "account.parent_changed",
                r#"{"account":"acme-de","parent":"shut"}"#,
            ),
            &["closed"],
        ),
        case(
            ev(
                "account.parent_changed",
                r#"{"account":"acme","parent":"acme-de"}"#,
            ),
            &["cycle"],
        ),
        case(
            ev(
                "account.parent_changed",
                r#"{"account":"acme","parent":"acme"}"#,
            ),
            &["cycle"],
        ),
        case(
            ev(
                "account.parent_changed",
                r#"{"account":"acme-de","parent":"acme"}"#,
            ),
            &["already"],
        ),
        case(
            ev(
                "account.parent_changed",
                r#"{"account":"acme","parent":null}"#,
            ),
            &["already"],
        ),
        // account.scope_changed
        case(
            ev(
                "account.scope_changed",
                r#"{"account":"nope","scope":"global"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "account.scope_changed",
                r#"{"account":"acme","scope":"global"}"#,
            ),
            &["already"],
        ),
        // account.classified
        case(
            ev(
                "account.classified",
                r#"{"account":"nope","key_account":true}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "account.classified",
                r#"{"account":"shut","key_account":true}"#,
            ),
            &["closed"],
        ),
        case(
            ev(
                "account.classified",
                r#"{"account":"acme","key_account":true,"model":"st-gallen"}"#,
            ),
            &["category"],
        ),
        case(
            ev(
                "account.classified",
                r#"{"account":"acme","key_account":true,"category":"top"}"#,
            ),
            &["model"],
        ),
        case(
            ev(
                "account.classified",
                r#"{"account":"acme","key_account":true,"model":"st-gallen","category":"mid-kam"}"#,
            ),
            &["category"],
        ),
        case(
            ev(
                "account.classified",
                &format!(
                    r#"{{"account":"acme","key_account":true,"model":"custom","category":"{}"}}"#,
                    "c".repeat(65)
                ),
            ),
            &["category"],
        ),
        // account.status_changed
        case(
            ev(
                "account.status_changed",
                r#"{"account":"nope","status":"active"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "account.status_changed",
                r#"{"account":"acme","status":"active"}"#,
            ),
            &["already"],
        ),
        // person.joined / person.left
        case(
            ev("person.joined", r#"{"person":"jdoe","name":"Again"}"#),
            &["already joined"],
        ),
        case(
            ev("person.joined", r#"{"person":"gone","name":"Back"}"#),
            &["already joined"],
        ),
        case(
            ev("person.left", r#"{"person":"nope"}"#),
            &["does not exist"],
        ),
        case(ev("person.left", r#"{"person":"gone"}"#), &["left"]),
        // team.assigned / team.unassigned
        case(
            ev(
                "team.assigned",
                r#"{"account":"nope","person":"mgr","role":"media"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "team.assigned",
                r#"{"account":"shut","person":"mgr","role":"media"}"#,
            ),
            &["closed"],
        ),
        case(
            ev(
                "team.assigned",
                r#"{"account":"acme","person":"nope","role":"media"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "team.assigned",
                r#"{"account":"acme","person":"gone","role":"media"}"#,
            ),
            &["left"],
        ),
        case(
            ev(
                "team.assigned",
                r#"{"account":"acme","person":"jdoe","role":"key_account_manager"}"#,
            ),
            &["already"],
        ),
        case(
            ev(
                "team.unassigned",
                r#"{"account":"acme","person":"mgr","role":"media"}"#,
            ),
            &["not"],
        ),
        // reporting.line_set / reporting.line_ended
        case(
            ev(
                "reporting.line_set",
                r#"{"person":"nope","manager":"mgr","line":"solid"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "reporting.line_set",
                r#"{"person":"mgr","manager":"nope","line":"solid"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "reporting.line_set",
                r#"{"person":"gone","manager":"mgr","line":"dotted"}"#,
            ),
            &["left"],
        ),
        case(
            ev(
                "reporting.line_set",
                r#"{"person":"mgr","manager":"gone","line":"dotted"}"#,
            ),
            &["left"],
        ),
        case(
            ev(
                "reporting.line_set",
                r#"{"person":"mgr","manager":"mgr","line":"solid"}"#,
            ),
            &["themselves"],
        ),
        case(
            ev(
                "reporting.line_set",
                r#"{"person":"mgr","manager":"jdoe","line":"dotted"}"#,
            ),
            &["cycle"],
        ),
        case(
            ev(
                "reporting.line_set",
                r#"{"person":"jdoe","manager":"mgr","line":"dotted"}"#,
            ),
            &["already"],
        ),
        case(
            ev(
                "reporting.line_ended",
                r#"{"person":"mgr","manager":"jdoe"}"#,
            ),
            &["does not report"],
        ),
        // contact.added / contact.removed
        case(
            ev(
                "contact.added",
                r#"{"account":"nope","contact":"c9","name":"C","role":"user"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "contact.added",
                r#"{"account":"shut","contact":"c9","name":"C","role":"user"}"#,
            ),
            &["closed"],
        ),
        case(
            ev(
                "contact.added",
                r#"{"account":"acme","contact":"m-ng","name":"Mai Ng","role":"user"}"#,
            ),
            &["already active"],
        ),
        case(
            ev("contact.removed", r#"{"account":"acme","contact":"c9"}"#),
            &["not active"],
        ),
        // transaction.recorded / transaction.reversed
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"nope","txn":"t9","kind":"sale","amount":"1.00","currency":"EUR"}"#,
            ),
            &["does not exist"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"shut","txn":"t9","kind":"sale","amount":"1.00","currency":"EUR"}"#,
            ),
            &["closed"],
        ),
        case(
            ev(
                "transaction.recorded",
                r#"{"account":"acme","txn":"t1","kind":"sale","amount":"1.00","currency":"EUR"}"#,
            ),
            &["already used"],
        ),
        case(
            ev("transaction.reversed", r#"{"account":"acme","txn":"t9"}"#),
            &["does not exist"],
        ),
        case(
            ev("transaction.reversed", r#"{"account":"acme","txn":"t3"}"#),
            &["does not exist"],
        ),
        case(
            r#"{"type":"transaction.reversed","data":{"account":"acme-de","txn":"t3"},"effective_at":"2024-04-01"}"#,
            &["after this reversal"],
        ),
        case(
            ev("transaction.reversed", r#"{"account":"acme","txn":"t2"}"#),
            &["already reversed"],
        ),
    ]
}

#[test]
fn bad_lines_are_rejected_with_line_and_rule_and_change_nothing() {
    let ledger = base_ledger();
    run_cases(&ledger, &shape_cases(), false);
}

#[test]

fn a_value_of_the_wrong_type_or_variant_names_its_field() {
    let ledger = base_ledger();
    run_cases(&ledger, &field_cases(), false);
}

#[test]
fn every_rule_of_the_catalogue_is_enforced_at_append() {
    let ledger = base_ledger();
    run_cases(&ledger, &rule_cases(), false);
}

#[test]
fn imported_times_in_the_future_or_before_the_ledger_are_rejected() {
    let ledger = Ledger::new();
    ledger.append(
        r#"{"type":"person.joined","data":{"person":"first","name":"F"},"recorded_at":"2026-07-01T12:00:00Z"}
"#,
        true,
    );
    let joined = |recorded: &str| {
        format!(
            r#"{{"type":"person.joined","data":{{"person":"x1","name":"X"}},"effective_at":"2024-06-01","recorded_at":"{recorded}"}}"#
        )
    };
    let cases = vec![
        case(joined("2999-01-01T00:00:00Z"), &["recorded_at", "future"]),
        case(joined("2026-07-01T11:59:59.999999Z"), &["recorded_at"]),
        case(joined("2020-01-01"), &["recorded_at"]),
        case(joined("not a time"), &["recorded_at"]),
        case(joined("2026-08-01T00:00:00"), &["recorded_at"]),
        case(
            r#"{"type":"person.joined","data":{"person":"x1","name":"X"}}"#,
            &["recorded_at", "--imported"],
        ),
    ];
    run_cases(&ledger, &cases, true);
}
