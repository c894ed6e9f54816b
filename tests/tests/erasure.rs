//! Erasure on the worked Globex example, through the real binary: the contact `k-vogel`
//! (Karl Vogel) and the person `chen` (Chen Wei) are erased. Afterwards no file of the
//! ledger holds either name, the ledger verifies, a digest taken before still verifies,
//! and every answer of `globex.expected.json` is the expected one with exactly those names
//! (and titles) shown as erased; every other name is untouched.

mod support;

use proptest::prelude::*;
use serde_json::Value;
use support::*;

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
const EXPECTED: &str = include_str!("../fixtures/globex.expected.json");
const ERASED_NAMES: [&str; 2] = ["Karl Vogel", "Chen Wei"];
const KEPT_NAMES: [&str; 3] = ["Mai Ng", "Rosa Diaz", "Ada Lind"];

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The files under the ledger that hold `name` in clear (UTF-8, as JSON writes it).
fn files_with(ledger: &Ledger, name: &str) -> Vec<String> {
    files(&ledger.dir())
        .into_iter()
        .filter(|(_, bytes)| contains(bytes, name))
        .map(|(path, _)| path.display().to_string())
        .collect()
}

/// The expected answer with the erased subjects' names and titles erased: an object that
/// names contact `k-vogel` or person `chen` and carries a `name` gets `name` (and `title`)
/// null and `"erased": true`.
fn erase_expected(value: &mut Value) {
    erase_subjects(value, &["k-vogel"], &["chen"]);
}

/// [`erase_expected`] for any erased contacts and persons.
fn erase_subjects(value: &mut Value, contacts: &[&str], persons: &[&str]) {
    let named = |map: &serde_json::Map<String, Value>, field: &str, ids: &[&str]| {
        map.get(field)
            .and_then(Value::as_str)
            .is_some_and(|id| ids.contains(&id))
    };
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| erase_subjects(v, contacts, persons)),
        Value::Object(map) => {
            let subject = named(map, "contact", contacts) || named(map, "person", persons);
            if subject && map.contains_key("name") {
                for field in ["name", "title"] {
                    if map.get(field).is_some_and(|v| !v.is_null()) {
                        map.insert(field.to_string(), Value::Null);
                    }
                }
                map.insert("erased".to_string(), Value::Bool(true));
            }
            map.values_mut()
                .for_each(|v| erase_subjects(v, contacts, persons));
        }
        _ => {}
    }
}

fn cases() -> Vec<(Vec<String>, i64, Value)> {
    let cases: Vec<Value> = serde_json::from_str(EXPECTED).expect("expected file is JSON");
    cases
        .into_iter()
        .map(|case| {
            let args = case["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(|a| a.as_str().expect("arg").to_string())
                .collect();
            (
                args,
                case["exit"].as_i64().expect("exit"),
                case["stdout"].clone(),
            )
        })
        .collect()
}

fn check_answers(ledger: &Ledger, erased: bool) -> usize {
    let mut changed = 0;
    for (args, exit, mut expected) in cases() {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = ledger.run(&refs);
        assert_eq!(
            i64::from(run.code),
            exit,
            "exit of {args:?}: {}",
            run.stderr
        );
        if run.code != 0 {
            continue;
        }
        if erased {
            let before = expected.clone();
            erase_expected(&mut expected);
            changed += usize::from(before != expected);
        }
        let stdout: Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        assert_eq!(stdout, expected, "stdout of {args:?}");
    }
    changed
}

/// The steps of a history JSON answer of type `subject.erased`, and the others.
fn split_erasures(history: &Value) -> (Vec<Value>, Vec<Value>) {
    history
        .as_array()
        .expect("a history is a list of steps")
        .iter()
        .cloned()
        .partition(|step| step["type"] == "subject.erased")
}

/// The history step that records an erasure, as `arl history --format json` prints it.
fn erasure_step(seq: &Value, actor: &str, reason: &str, field: &str) -> Value {
    serde_json::json!({
        "seq": seq,
        "type": "subject.erased",
        "actor": actor,
        "reason": reason,
        "applied": true,
        "skipped": null,
        "changes": [{"field": field, "before": null, "after": null, "erased": true}],
    })
}

/// `step` without the fields no test can predict (hash and times), for comparison with
/// [`erasure_step`].
fn predictable(step: &Value) -> Value {
    let mut step = step.clone();
    let map = step.as_object_mut().expect("a step is an object");
    for field in ["hash", "effective_at", "recorded_at"] {
        assert!(map.remove(field).is_some_and(|v| v.is_string()), "{field}");
    }
    step
}

/// The history before the erasure of `k-vogel`, as it must read afterwards: its name, in
/// the `contact.k-vogel` values, shows as `[erased]`.
fn history_after_erasure(before: &Value) -> Value {
    let text = serde_json::to_string(before).expect("JSON");
    serde_json::from_str(&text.replace("Karl Vogel", "[erased]")).expect("JSON")
}

/// `arl history globex-de` after erasing `k-vogel` (seq 42, no `--actor`) and `chen`
/// (`erased_seq`, actor `dpo`), both of its subjects: every step of before, the contact's
/// name shown as `[erased]`, then one step per erasure with its seq, actor, reason and the
/// name that became erased; in JSON and in the table.
fn check_history_lists_the_erasures(ledger: &Ledger, before: &Value, erased_seq: &Value) {
    let after = ledger.json(&["history", "globex-de", "--format", "json"]);
    let (erasures, others) = split_erasures(&after);
    assert_eq!(Value::Array(others), history_after_erasure(before));
    let actor = erasures[0]["actor"].as_str().expect("an actor").to_string();
    let expected = [
        erasure_step(
            &42.into(),
            &actor,
            "request of 2026-11-30",
            "contact.k-vogel.name",
        ),
        erasure_step(erased_seq, "dpo", "left; request", "person.chen.name"),
    ];
    let got: Vec<Value> = erasures.iter().map(predictable).collect();
    assert_eq!(got, expected);
    assert!(!after.to_string().contains("arl:erased"), "{after}");
    // The last steps, in time order: the erasures were recorded last.
    let steps = after.as_array().expect("steps");
    assert_eq!(steps[steps.len() - 2..], erasures[..]);
    let table = ledger.run(&["history", "globex-de"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    for text in [
        "subject.erased",
        "left; request",
        "request of 2026-11-30",
        "dpo",
    ] {
        assert!(table.stdout.contains(text), "{text}: {}", table.stdout);
    }
    assert!(
        table.stdout.contains("person.chen.name: ∅ → [erased]"),
        "{}",
        table.stdout
    );
    assert!(!table.stdout.contains("arl:erased"), "{}", table.stdout);
    let csv = ledger.run(&["history", "globex-de", "--format", "csv"]);
    assert!(
        csv.stdout
            .contains("subject.erased,,contact.k-vogel.name,,[erased]"),
        "{}",
        csv.stdout
    );
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "the issue's scenario, step by step, on one ledger"
)]
fn erasing_a_contact_and_a_person_keeps_every_proof_and_every_other_answer() {
    let ledger = Ledger::new();
    let fixture = ledger.write("globex.jsonl", FIXTURE);
    let appended = ledger.run(&["append", "--seal", "--imported", fixture.as_str()]);
    assert_eq!(appended.code, 0, "{}", appended.stderr);
    // The names are sealed as stored: no file holds them, yet every answer shows them.
    for name in ERASED_NAMES.iter().chain(&KEPT_NAMES) {
        assert_eq!(
            files_with(&ledger, name),
            Vec::<String>::new(),
            "{name} in clear"
        );
    }
    assert_eq!(check_answers(&ledger, false), 0);
    let decrypted = ledger.run(&["export", "--decrypt"]);
    assert!(ERASED_NAMES.iter().all(|n| decrypted.stdout.contains(n)));
    let sealed = ledger.run(&["export"]);
    assert!(!ERASED_NAMES.iter().any(|n| sealed.stdout.contains(n)));
    assert!(sealed.stdout.contains("arl:sealed:v1:"));
    let digest = ledger.write("before.json", &ledger.digest());

    // Without --yes and without "yes" on standard input, nothing is erased.
    let refused = ledger.run_stdin(&["erase", "--contact", "k-vogel", "--reason", "r"], "no\n");
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("cannot be undone"),
        "{}",
        refused.stderr
    );
    assert_eq!(ledger.json(&["digest"])["seq"], 41);
    let history = ["history", "globex-de", "--format", "json"];
    let history_before = ledger.json(&history);
    let other_before = ledger.json(&["history", "globex-fr", "--format", "json"]);
    assert!(history_before.to_string().contains("Karl Vogel"));

    let erased = ledger.run_stdin(
        &[
            "erase",
            "--contact",
            "k-vogel",
            "--reason",
            "request of 2026-11-30",
        ],
        "yes\n",
    );
    assert_eq!(erased.code, 0, "{}", erased.stderr);
    let erased = ledger.json(&[
        "erase",
        "--person",
        "chen",
        "--reason",
        "left; request",
        "--yes",
        "--actor",
        "dpo",
        "--format",
        "json",
    ]);
    assert_eq!(erased["key_destroyed"], true);
    assert_eq!(erased["not_erasable_seqs"], Value::Array(Vec::new()));
    check_history_lists_the_erasures(&ledger, &history_before, &erased["seq"]);
    // An account with neither subject has the same history; before the erasures, so has
    // globex-de.
    let other_after = ledger.json(&["history", "globex-fr", "--format", "json"]);
    assert_eq!(other_after, other_before);
    let known_before = ledger.json(&["history", "globex-de", "--at-seq", "41", "--format", "json"]);
    assert_eq!(known_before, history_after_erasure(&history_before));

    for name in ERASED_NAMES {
        assert_eq!(files_with(&ledger, name), Vec::<String>::new(), "{name}");
        let export = ledger.run(&["export", "--decrypt"]);
        assert!(
            !export.stdout.contains(name),
            "{name} in the decrypted export"
        );
    }
    let export = ledger.run(&["export", "--decrypt"]);
    assert!(KEPT_NAMES.iter().all(|n| export.stdout.contains(n)));
    assert!(export.stdout.contains("\"type\":\"subject.erased\""));
    assert!(export
        .stdout
        .contains("\"actor\":\"dpo\",\"reason\":\"left; request\""));

    assert_eq!(ledger.run(&["verify"]).code, 0);
    let extends = ledger.run(&["verify", "--digest", digest.as_str()]);
    assert_eq!(extends.code, 0, "{}", extends.stderr);
    // Every answer as expected but the erased names; some answers did change.
    assert!(check_answers(&ledger, true) >= 3);
    // Tables say [erased].
    let table = ledger.run(&["contacts", "globex-de", "--as-of", "2023-03-01"]);
    assert!(table.stdout.contains("[erased]"), "{}", table.stdout);

    // Erasure is once; an erased id takes no new personal data; replay keeps it erased.
    let again = ledger.run(&["erase", "--person", "chen", "--reason", "x", "--yes"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already erased"), "{}", again.stderr);
    let rejoin = ledger.run(&[
        "append",
        "--type",
        "contact.added",
        "--data",
        r#"{"account":"globex","contact":"k-vogel","name":"Karl Vogel","role":"user"}"#,
    ]);
    assert_eq!(rejoin.code, 1);
    assert!(rejoin.stderr.contains("was erased"), "{}", rejoin.stderr);
    let forged = ledger.run(&[
        "append",
        "--type",
        "subject.erased",
        "--data",
        r#"{"person":"ada"}"#,
    ]);
    assert_eq!(forged.code, 1, "{}", forged.stderr);
    let reserved = ledger.run(&[
        "append",
        "--type",
        "person.joined",
        "--data",
        r#"{"person":"zed","name":"arl:erased"}"#,
    ]);
    assert_eq!(reserved.code, 1, "{}", reserved.stderr);
    assert_eq!(ledger.run(&["replay"]).code, 0);
    assert!(check_answers(&ledger, true) >= 3);
    assert_eq!(ledger.run(&["verify"]).code, 0);

    // Resending an event is recognized as a duplicate: equal plaintexts seal equally.
    let add = [
        "append",
        "--type",
        "contact.added",
        "--id",
        "crm-1",
        "--format",
        "json",
        "--data",
        r#"{"account":"globex","contact":"p-neu","name":"Pia Neu","role":"user"}"#,
    ];
    assert_eq!(ledger.json(&add)["appended"], 1);
    let resent = ledger.json(&add);
    assert_eq!(
        (resent["appended"].clone(), resent["duplicates"].clone()),
        (0.into(), 1.into())
    );
    assert_eq!(files_with(&ledger, "Pia Neu"), Vec::<String>::new());
}

#[test]
fn a_ledger_that_does_not_seal_keeps_the_contract_and_names_what_it_cannot_erase() {
    let ledger = Ledger::new();
    let fixture = ledger.write("globex.jsonl", FIXTURE);
    let appended = ledger.run(&["append", "--imported", fixture.as_str()]);
    assert_eq!(appended.code, 0, "{}", appended.stderr);
    // Without --seal, data is stored as given (contract §4) and there is no key store.
    let export = ledger.run(&["export"]);
    assert!(export.stdout.contains("\"name\":\"Karl Vogel\""));
    assert!(!ledger.dir().join("keys").exists());
    let erased = ledger.json(&[
        "erase",
        "--contact",
        "k-vogel",
        "--reason",
        "request",
        "--yes",
        "--format",
        "json",
    ]);
    assert_eq!(erased["key_destroyed"], false);
    assert_eq!(erased["not_erasable_seqs"], serde_json::json!([25]));
    let text = ledger.run(&["erase", "--person", "chen", "--reason", "request", "--yes"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stderr.contains("seqs [3]") && text.stderr.contains("cannot be erased"));
    assert!(!ledger.dir().join("keys").exists());
    // Names written in clear stay readable, never silently hidden; the history lists the
    // erasure and no change.
    assert_eq!(check_answers(&ledger, false), 0);
    let history = ledger.json(&["history", "globex-de", "--format", "json"]);
    let (erasures, _) = split_erasures(&history);
    let changes: Vec<&Value> = erasures.iter().map(|s| &s["changes"]).collect();
    assert_eq!(changes, [&serde_json::json!([]); 2]);
    assert_eq!(erasures[0]["seq"], 42);
    assert_eq!(ledger.run(&["verify"]).code, 0);
    let unknown = ledger.run(&["erase", "--person", "nobody", "--reason", "r", "--yes"]);
    assert_eq!(unknown.code, 1);
}

/// The ids of the subjects of `contact.added` and `person.joined` lines.
fn subjects(lines: &str) -> (Vec<String>, Vec<String>) {
    let (mut contacts, mut persons) = (Vec::new(), Vec::new());
    for line in lines.lines() {
        let v: Value = serde_json::from_str(line).expect("generated lines are JSON");
        match v["type"].as_str() {
            Some("contact.added") => contacts.push(v["data"]["contact"].as_str().unwrap().into()),
            Some("person.joined") => persons.push(v["data"]["person"].as_str().unwrap().into()),
            _ => {}
        }
    }
    contacts.sort();
    contacts.dedup();
    (contacts, persons)
}

/// Answers that show names: every card (contacts) and the org chart (people).
fn name_answers(ledger: &Ledger) -> Vec<Value> {
    vec![
        ledger.json(&["accounts", "--format", "json"]),
        ledger.json(&["org", "--format", "json"]),
        ledger.json(&["accounts", "--as-of", "2020-06-30", "--format", "json"]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

    /// On generated histories, erasing random subjects changes no answer but their names,
    /// and a digest taken before still verifies.
    #[test]
    fn erasing_random_subjects_changes_only_their_names(
        seed in 0u64..10_000,
        events in 150u64..400,
        picks in proptest::collection::vec((any::<bool>(), 0usize..1000), 1..4),
    ) {
        let ledger = Ledger::new();
        let lines = generated(events, seed);
        let file = ledger.write("gen.jsonl", &lines);
        let appended = ledger.run(&["append", "--seal", "--imported", file.as_str()]);
        prop_assert_eq!(appended.code, 0, "{}", appended.stderr);
        let (contacts, persons) = subjects(&lines);
        let mut before = name_answers(&ledger);
        let digest = ledger.write("before.json", &ledger.digest());
        let (mut erased_contacts, mut erased_persons) = (Vec::new(), Vec::new());
        for (contact, i) in picks {
            let (ids, erased, flag) = if contact && !contacts.is_empty() {
                (&contacts, &mut erased_contacts, "--contact")
            } else {
                (&persons, &mut erased_persons, "--person")
            };
            let id = ids[i % ids.len()].as_str();
            if erased.contains(&id) {
                continue;
            }
            let run = ledger.run(&["erase", flag, id, "--reason", "test", "--yes"]);
            prop_assert_eq!(run.code, 0, "{}", run.stderr);
            erased.push(id);
        }
        for answer in &mut before {
            erase_subjects(answer, &erased_contacts, &erased_persons);
        }
        prop_assert_eq!(name_answers(&ledger), before);
        prop_assert_eq!(ledger.run(&["verify"]).code, 0);
        let extends = ledger.run(&["verify", "--digest", digest.as_str()]);
        prop_assert_eq!(extends.code, 0, "{}", extends.stderr);
    }
}

/// `GET /v1/accounts/globex-de/history` after the server erased `k-vogel`: the erasure is
/// listed with the admin token's name as the actor, counted in the pager's total, and on
/// the last page. Returns the answer's text.
fn server_history_with_the_erasure(server: &Served, auditor: &str, seq: &Value) -> String {
    use support::http::Request;
    // The history lists the erasure, with the admin token's name as the actor.
    let history = Request::get("/v1/accounts/globex-de/history")
        .bearer(Some(auditor))
        .send(&server.addr);
    assert_eq!(history.status, 200, "{}", history.text());
    let steps = history.json();
    let (erasures, _) = split_erasures(&steps);
    let expected = erasure_step(seq, "admin", "erasure request", "contact.k-vogel.name");
    assert_eq!(
        erasures.iter().map(predictable).collect::<Vec<_>>(),
        [expected]
    );
    let total = steps.as_array().map(Vec::len).map(|n| n.to_string());
    assert_eq!(history.headers.get("x-total-count").cloned(), total);
    // A page ending with the erasure: the erasure counts in the pager's total.
    let n = steps.as_array().map_or(0, Vec::len);
    let page = Request::get(&format!(
        "/v1/accounts/globex-de/history?offset={}&limit=1",
        n - 1
    ))
    .bearer(Some(auditor))
    .send(&server.addr);
    assert_eq!(page.json(), Value::Array(erasures));
    history.text()
}

/// `arl serve` on a sealing ledger: an append over HTTP seals like `arl append`, answers
/// open names like the command line's, and `POST /v1/erase` (admin only) erases like
/// `arl erase`: afterwards the server and the command line give the same JSON, with the
/// name null and `"erased": true`.
#[test]
fn the_server_seals_opens_and_erases_like_the_command_line() {
    use support::http::Request;
    let ledger = Ledger::new();
    let fixture = ledger.write("globex.jsonl", FIXTURE);
    let appended = ledger.run(&["append", "--seal", "--imported", fixture.as_str()]);
    assert_eq!(appended.code, 0, "{}", appended.stderr);
    let token = |role: &str| {
        let run = ledger.run(&["token", "add", role, "--role", role, "--quiet"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout.trim().to_string()
    };
    let (reader, writer, admin) = (token("reader"), token("writer"), token("admin"));
    let auditor = token("auditor");
    let server = Served::start(&ledger.dir(), &[], std::time::Duration::from_secs(30));
    let contacts = |token: &str| {
        let answer = Request::get("/v1/accounts/globex-de/contacts")
            .bearer(Some(token))
            .send(&server.addr);
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.text()
    };
    // Sealed on the way in, opened on the way out.
    let line = r#"{"type":"contact.added","data":{"account":"globex-de","contact":"n-okafor","name":"Nia Okafor","role":"buyer"}}"#;
    let answer = Request::post("/v1/events", line.as_bytes())
        .bearer(Some(&writer))
        .send(&server.addr);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(files_with(&ledger, "Nia Okafor"), Vec::<String>::new());
    let before = contacts(&reader);
    assert!(
        before.contains("\"Nia Okafor\"") && before.contains("\"Karl Vogel\""),
        "{before}"
    );
    // subject.erased is not input.
    let audit = r#"{"type":"subject.erased","data":{"contact":"k-vogel"}}"#;
    let refused = Request::post("/v1/events", audit.as_bytes())
        .bearer(Some(&writer))
        .send(&server.addr);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["rule"], "audit_only");
    // Only an admin erases.
    let body = br#"{"contact":"k-vogel","reason":"erasure request"}"#;
    for token in [&reader, &writer] {
        let forbidden = Request::post("/v1/erase", body)
            .bearer(Some(token))
            .send(&server.addr);
        assert_eq!(forbidden.status, 403, "{}", forbidden.text());
    }
    let erased = Request::post("/v1/erase", body)
        .bearer(Some(&admin))
        .send(&server.addr);
    assert_eq!(erased.status, 200, "{}", erased.text());
    let erased = erased.json();
    let said = [&erased["subject"], &erased["id"], &erased["key_destroyed"]];
    let meant: [Value; 3] = ["contact".into(), "k-vogel".into(), true.into()];
    assert_eq!(said, meant.each_ref(), "{erased}");
    let again = Request::post("/v1/erase", body)
        .bearer(Some(&admin))
        .send(&server.addr);
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(again.json()["rule"], "already_erased");
    // The erased contact shows as erased; the others, and the new one, do not.
    let after = contacts(&reader);
    let value: Value = serde_json::from_str(&after).expect("JSON");
    let vogel = value
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["contact"] == "k-vogel")
        .expect("k-vogel's row");
    assert_eq!(
        (vogel["name"].clone(), vogel["erased"].clone()),
        (Value::Null, Value::Bool(true))
    );
    assert!(
        after.contains("\"Nia Okafor\"") && !after.contains("Karl Vogel"),
        "{after}"
    );
    let csv = Request::get("/v1/accounts/globex-de/contacts?format=csv")
        .bearer(Some(&reader))
        .send(&server.addr)
        .text();
    assert!(
        csv.contains("[erased]") && !csv.contains("arl:erased"),
        "{csv}"
    );
    let history = server_history_with_the_erasure(&server, &auditor, &erased["seq"]);
    // Stopped, the command line answers the same bytes.
    drop(server);
    let cli = ledger.run(&["contacts", "globex-de", "--format", "json"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert_eq!(cli.stdout, after);
    assert_eq!(
        ledger
            .run(&["history", "globex-de", "--format", "json"])
            .stdout,
        history
    );
    // The audit event's actor is the admin token's name.
    let export = ledger.run(&["export"]);
    let audit = export
        .stdout
        .lines()
        .find(|l| l.contains("\"subject.erased\""))
        .expect("the audit event");
    assert!(audit.contains("\"actor\":\"admin\""), "{audit}");
}

/// `--evidence FILE` with a table or CSV on a sealing ledger: the command line prints the
/// answer over the data as stored (the bundle's answer, names sealed), and so does `arl
/// --server` (the server's `as_stored=true`); without `--evidence` both open the names.
#[test]
fn evidence_tables_over_the_server_show_the_names_as_stored_like_the_command_line() {
    let ledger = Ledger::new();
    let fixture = ledger.write("globex.jsonl", FIXTURE);
    let appended = ledger.run(&["append", "--seal", "--imported", fixture.as_str()]);
    assert_eq!(appended.code, 0, "{}", appended.stderr);
    let key = ledger.run(&["key", "init", "--name", "arl.globex"]);
    assert_eq!(key.code, 0, "{}", key.stderr);
    let token = ledger.run(&["token", "add", "auditor", "--role", "auditor", "--quiet"]);
    assert_eq!(token.code, 0, "{}", token.stderr);
    let token = token.stdout.trim().to_string();
    let asks = [
        "contacts globex-de --as-of 2023-07-01 --format csv",
        "contacts globex-de --as-of 2023-07-01 --format table",
        "account globex-de --as-of 2023-07-01 --format table",
        "team globex-de --as-of 2023-07-01 --format csv",
        "portfolio chen --as-of 2023-07-01 --format table",
        "history globex-de --format csv",
        "history globex-de --format table",
    ];
    let bundle = ledger.tmp.path().join("bundle.json");
    let bundle = bundle.to_str().expect("path");
    let args = |ask: &str, evidence: bool| -> Vec<String> {
        let mut args: Vec<String> = ask.split_whitespace().map(str::to_string).collect();
        if evidence {
            args.extend(["--evidence".to_string(), bundle.to_string()]);
        }
        args
    };
    // The local answers first (the server holds the ledger's lock).
    let mut local = Vec::new();
    for ask in asks {
        for evidence in [true, false] {
            let args = args(ask, evidence);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = ledger.run(&refs);
            assert_eq!(run.code, 0, "{ask}: {}", run.stderr);
            local.push(run.stdout);
        }
    }
    let (stored, opened) = (&local[0], &local[1]);
    assert!(
        opened.contains("Karl Vogel") && !stored.contains("Karl Vogel"),
        "locally, --evidence shows the names as stored:\n{stored}\nwithout:\n{opened}"
    );
    let server = Served::start(&ledger.dir(), &[], std::time::Duration::from_secs(30));
    let url = server.url("");
    let mut n = 0;
    for ask in asks {
        for evidence in [true, false] {
            let remote = std::process::Command::new(arl_binary())
                .args(["--server", &url])
                .args(args(ask, evidence))
                .env("ARL_TOKEN", &token)
                .env("NO_COLOR", "1")
                .env_remove("ARL_SERVER")
                .output()
                .expect("arl --server");
            let stdout = String::from_utf8_lossy(&remote.stdout);
            let stderr = String::from_utf8_lossy(&remote.stderr);
            assert_eq!(remote.status.code(), Some(0), "{ask}: {stderr}");
            assert_eq!(stdout, local[n], "{ask} (--evidence: {evidence})");
            n += 1;
        }
    }
}
