//! The `arl` binary as a user runs it: every command, its formats, its error paths and its
//! exit codes (0 success, 1 error, 2 usage, 3 integrity), with golden outputs compared here.

mod common;

use common::{Ledger, SMALL};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// append

#[test]
fn append_reports_duplicates_and_keeps_the_ledger() {
    let ledger = Ledger::small();
    let digest = ledger.digest();
    // The same input again: every line is a duplicate (same id, same content), skipped.
    let again = ledger.run_stdin(&["append", "--imported", "-"], SMALL);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again
        .stdout
        .starts_with("appended 0, skipped 21 duplicates, head seq 21 "));
    assert_eq!(ledger.digest(), digest);
    // The same id with other content is an error.
    let conflict = SMALL
        .lines()
        .find(|l| l.contains("crm-1"))
        .unwrap_or_default()
        .replace("ACME Corp", "ACME Inc");
    let run = ledger.run_stdin(&["append", "--imported"], &conflict);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("line 1: id \"crm-1\" is already used by seq 7"),
        "{}",
        run.stderr
    );
    // The line with an id alone is a duplicate, skipped.
    let line = SMALL
        .lines()
        .find(|l| l.contains("crm-1"))
        .unwrap_or_default();
    let dup = ledger.run_stdin(&["append", "--imported", "--format", "json"], line);
    assert_eq!(dup.code, 0, "{}", dup.stderr);
    let summary: Value = serde_json::from_str(&dup.stdout).expect("JSON summary");
    assert_eq!(
        summary,
        json!({"appended": 0, "duplicates": 1, "seq": 21,
               "head": "5c4ec9860856d5b40a6bd18efc5d195445741931bfc22bb76f1dba64bb83d534"})
    );
    assert_eq!(ledger.digest(), digest);
}

#[test]
fn a_rejected_batch_names_the_line_and_rule_and_leaves_the_ledger_unchanged() {
    let ledger = Ledger::small();
    let digest = ledger.digest();
    let input = concat!(
        r#"{"type":"account.renamed","data":{"account":"acme","name":"ACME Holding"}}"#,
        "\n\n",
        r#"{"type":"team.assigned","data":{"account":"acme","person":"cy","role":"media"},"effective_at":"2024-06-01"}"#,
        "\n",
    );
    let run = ledger.run_stdin(&["append"], input);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("arl: line 3: team.assigned: person \"cy\" left on 2024-05-10"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("nothing was appended"),
        "{}",
        run.stderr
    );
    assert_eq!(ledger.digest(), digest);
    // Shape errors name the line too.
    let bad = ledger.run_stdin(
        &["append"],
        "\n{\"type\":\"account.renamed\",\"data\":{}}\n",
    );
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .starts_with("arl: line 2: account.renamed: bad data"),
        "{}",
        bad.stderr
    );
    let unknown = ledger.run_stdin(
        &["append"],
        r#"{"type":"account.renamed","data":{"account":"acme","name":"X"},"colour":"red"}"#,
    );
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("line 1: not a valid event (JSON): unknown field `colour`"),
        "{}",
        unknown.stderr
    );
    assert_eq!(ledger.digest(), digest);
}

#[test]
fn batch_size_commits_every_n_lines_and_a_rerun_goes_on() {
    // The small history without its ids: what makes a rerun safe is the id each line gets.
    let lines: Vec<String> = SMALL
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut line: Value = serde_json::from_str(l).expect("JSON line");
            line.as_object_mut().expect("an object").remove("id");
            line.to_string()
        })
        .collect();
    let whole = Ledger::new();
    let all = lines.join("\n");
    let run = whole.run_stdin(&["append", "--imported", "--batch-size", "1000"], &all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = lines.len();
    assert!(
        run.stdout
            .starts_with(&format!("appended {events}, skipped 0 duplicates")),
        "{}",
        run.stdout
    );
    // Four lines a batch; the 14th line is broken: the batches before it are committed,
    // the one holding it is not, and the error says so.
    let mut broken = lines.clone();
    broken[13] = "{not json".into();
    let ledger = Ledger::new();
    let args = [
        "append",
        "--imported",
        "--batch-size",
        "4",
        "--format",
        "json",
    ];
    let run = ledger.run_stdin(&args, &broken.join("\n"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("line 14: "), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "the batch from line 13 on was not appended; the 3 batches before it are (head seq 12)"
        ),
        "{}",
        run.stderr
    );
    // Fixed, the same command goes on: the twelve committed lines are skipped.
    let run = ledger.run_stdin(&args, &lines.join("\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: Value = serde_json::from_str(&run.stdout).expect("JSON summary");
    assert_eq!(summary["appended"], events as u64 - 12);
    assert_eq!(summary["duplicates"], 12);
    assert_eq!(summary["seq"], events as u64);
    // What a rerun skips and appends gives the ledger one batch gives, but for the ids
    // that lines without one got (`line-<n>-<hash>`): every query answer is the same.
    let card = ["account", "acme", "--format", "json"];
    assert_eq!(ledger.run(&card).stdout, whole.run(&card).stdout);
    let log = ledger.run(&["log", "--format", "json"]).stdout;
    assert!(
        log.contains("\"id\": \"line-"),
        "lines without an id got one"
    );
}

/// With `--batch-size`, a ledger that does not seal takes each batch converted by the
/// reading thread: a batch refused there (an audit-only event) or by a rule names its line,
/// and leaves the batches before it committed, as a batch converted on the appending thread
/// does.
#[test]
fn batch_size_refusals_name_the_line_and_keep_the_batches_before() {
    let lines: Vec<&str> = SMALL.lines().filter(|l| !l.trim().is_empty()).collect();
    let args = ["append", "--imported", "--batch-size", "4"];
    // `line` as line 6 of the input, appended four lines a batch to a new ledger: refused
    // with a reason that starts with `reason`, after the first batch was committed.
    let refused = |line: &str, reason: &str| {
        let mut input = lines.clone();
        input.insert(5, line);
        let ledger = Ledger::new();
        let run = ledger.run_stdin(&args, &input.join("\n"));
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.starts_with(&format!("arl: line 6: {reason}")),
            "{}",
            run.stderr
        );
        let kept =
            "the batch from line 5 on was not appended; the 1 batches before it are (head seq 4)";
        assert!(run.stderr.contains(kept), "{}", run.stderr);
        ledger
    };
    // `subject.erased` is recorded by `arl erase` only, sealing or not.
    refused(
        r#"{"type":"subject.erased","data":{"contact":"k-vogel"},"recorded_at":"2024-01-01T09:04:30Z"}"#,
        "subject.erased is recorded by arl erase only",
    );
    // A rule: a transaction on an account never opened.
    let ledger = refused(
        r#"{"type":"transaction.recorded","data":{"account":"nowhere","txn":"t-x","kind":"sale","amount":"1.00","currency":"EUR"},"recorded_at":"2024-01-01T09:04:30Z"}"#,
        "transaction.recorded: account \"nowhere\" does not exist at that time",
    );
    // The whole input without the bad line goes on from there.
    let run = ledger.run_stdin(&args, &lines.join("\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = format!("appended {}, skipped 4 duplicates", lines.len() - 4);
    assert!(run.stdout.starts_with(&summary), "{}", run.stdout);
}

#[test]
fn an_input_over_one_batch_is_refused_before_it_is_read_whole() {
    let ledger = Ledger::new();
    // One line more than a batch holds (blank lines do not count): refused while counting,
    // before any line is parsed.
    let input = format!("\n \n{}", "x\n".repeat(2_000_001));
    let path = ledger.file("big.jsonl", &input);
    let run = ledger.run(&["append", &path.to_string_lossy()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the input holds more than 2000000 events, the most one atomic batch holds; import it with --batch-size N"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_large_input_is_read_in_pieces_and_errors_name_the_input_line() {
    // About 11 MB: more than one piece of 8 MiB, with a CRLF line and a blank line.
    let line = |n: usize| {
        format!(
            r#"{{"type":"person.joined","data":{{"person":"p-{n}","name":"Person {n}","title":"Buyer"}},"effective_at":"2024-01-01"}}"#
        )
    };
    let mut lines: Vec<String> = (0..100_000).map(line).collect();
    lines[0].push('\r');
    lines.insert(50_000, String::new());
    let ledger = Ledger::small();
    let digest = ledger.digest();
    // A bad line near the end, in the second piece: named by its line in the input.
    let bad = lines.len() - 10;
    let mut broken = lines.clone();
    broken[bad] = r#"{"type":"person.joined","data":{"person":"p-x"}}"#.to_string();
    let path = ledger.file("broken.jsonl", &broken.join("\n"));
    let run = ledger.run(&["append", &path.to_string_lossy()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!("arl: line {}: ", bad + 1)),
        "{}",
        run.stderr
    );
    assert_eq!(ledger.digest(), digest, "nothing was appended");
    // The whole input, one atomic batch: every event in input order.
    let path = ledger.file("people.jsonl", &lines.join("\n"));
    let run = ledger.run(&["append", "--format", "json", &path.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: Value = serde_json::from_str(&run.stdout).expect("JSON summary");
    assert_eq!(summary["appended"], 100_000);
    assert_eq!(summary["seq"], 21 + 100_000);
    let last = ledger.run(&["log", "--from-seq", "100021", "--format", "json"]);
    assert!(
        last.stdout.contains("\"person\": \"p-99999\""),
        "{}",
        last.stdout
    );
}

#[test]
fn append_one_event_from_flags() {
    let ledger = Ledger::small();
    let run = ledger.run(&[
        "append",
        "--type",
        "account.renamed",
        "--data",
        r#"{"account":"acme-de","name":"ACME Deutschland GmbH"}"#,
        "--effective-at",
        "2024-06-01",
        "--id",
        "rename-1",
        "--reason",
        "new legal name",
        "--expected-version",
        "4",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        (summary["appended"].clone(), summary["seq"].clone()),
        (json!(1), json!(22))
    );
    let card = ledger.json(&["account", "acme-de", "--format", "json"]);
    assert_eq!(card["name"], "ACME Deutschland GmbH");
    let log = ledger.json(&["log", "--from-seq", "22", "--format", "json"]);
    assert_eq!(log[0]["actor"], "tester");
    assert_eq!(log[0]["reason"], "new legal name");
    assert_eq!(log[0]["imported"], false);
    // A stale expected_version is refused.
    let stale = ledger.run(&[
        "append",
        "--type",
        "account.renamed",
        "--data",
        r#"{"account":"acme-de","name":"Other"}"#,
        "--expected-version",
        "4",
        "--actor",
        "someone",
    ]);
    assert_eq!(stale.code, 1);
    assert!(
        stale.stderr.contains("is at version 5, not the expected 4"),
        "{}",
        stale.stderr
    );
    // --data that is not JSON.
    ledger.check_error(
        &["append", "--type", "account.renamed", "--data", "{nope"],
        1,
        "--data is not valid JSON",
    );
}

#[test]
fn append_reads_a_file_and_imported_times_must_not_go_back() {
    let ledger = Ledger::empty();
    let path = ledger.file("small.jsonl", SMALL);
    let path = path.to_string_lossy();
    ledger.check(
        &["append", "--imported", &path],
        0,
        "appended 21, skipped 0 duplicates, head seq 21 5c4ec9860856\n",
    );
    let earlier = r#"{"type":"account.renamed","data":{"account":"acme","name":"X"},"recorded_at":"2024-01-01T00:00:00Z"}"#;
    let run = ledger.run_stdin(&["append", "--imported"], earlier);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("line 1: imported recorded_at"),
        "{}",
        run.stderr
    );
    // Without --imported, recorded_at is refused; with it, it is required.
    let run = ledger.run_stdin(&["append"], earlier);
    assert!(
        run.code == 1 && run.stderr.contains("use --imported"),
        "{}",
        run.stderr
    );
    ledger.check_error(
        &["append", "no-such-file.jsonl"],
        1,
        "cannot open no-such-file.jsonl",
    );
}

// ---------------------------------------------------------------------------------------
// usage errors and missing ledgers

#[test]
fn usage_errors_exit_2() {
    let ledger = Ledger::small();
    for args in [
        &[
            "account",
            "acme",
            "--known-at",
            "2024-01-01",
            "--at-seq",
            "3",
        ][..],
        &["balance", "--at-seq", "3", "--known-at", "2024-01-01"],
        &["account"],
        &["account", "acme", "--as-of", "yesterday"],
        &["account", "acme", "--format", "dot"],
        &["balance", "--period", "week"],
        &["frobnicate"],
        &[
            "append",
            "file.jsonl",
            "--type",
            "account.renamed",
            "--data",
            "{}",
        ],
        &["accounts", "--format", "dot"],
    ] {
        let run = ledger.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    let ledger = Ledger::empty();
    for command in [
        "append",
        "log",
        "export",
        "account",
        "accounts",
        "team",
        "portfolio",
        "org",
        "contacts",
        "txns",
        "balance",
        "history",
        "diff",
        "replay",
        "verify",
        "digest",
        "proof",
        "demo",
    ] {
        let run = ledger.run(&[command, "--help"]);
        assert_eq!(run.code, 0, "{command}");
        assert!(
            run.stdout.contains(&format!("arl {command}")),
            "{command}: {}",
            run.stdout
        );
    }
}

#[test]
fn queries_on_a_missing_ledger_exit_1() {
    let ledger = Ledger::empty();
    let dir = ledger.dir();
    let expected = format!("no ledger at {}; create one with arl append", dir.display());
    for args in [
        &["account", "acme"][..],
        &["balance"],
        &["verify"],
        &["digest"],
        &["log"],
        &["history", "acme"],
    ] {
        ledger.check_error(args, 1, &expected);
    }
    assert!(!dir.exists(), "a query must not create the ledger");
}

#[test]
fn ledger_location_from_the_environment() {
    let ledger = Ledger::small();
    let mut cmd = assert_cmd::Command::cargo_bin("arl").expect("binary");
    let output = cmd
        .args(["account", "acme", "--format", "json"])
        .env("ARL_LEDGER", ledger.dir())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let card: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(card["name"], "ACME Group");
}

// ---------------------------------------------------------------------------------------
// account and accounts

const ACME_TABLE: &str = "\
┌────────────────┬─────────────────┐
│ field          ┆ value           │
╞════════════════╪═════════════════╡
│ account        ┆ acme            │
│ name           ┆ ACME Group      │
│ status         ┆ active          │
│ scope          ┆ global          │
│ country        ┆ US              │
│ parent         ┆ -               │
│ children       ┆ acme-de         │
│ key account    ┆ yes             │
│ classification ┆ st-gallen / top │
│ opened         ┆ 2024-01-02      │
└────────────────┴─────────────────┘
team (1)
┌─────────────────────┬────────┬─────────┬────────────┐
│ role                ┆ person ┆ primary ┆ since      │
╞═════════════════════╪════════╪═════════╪════════════╡
│ key_account_manager ┆ ben    ┆ primary ┆ 2024-01-03 │
└─────────────────────┴────────┴─────────┴────────────┘
contacts (1)
┌─────────┬────────┬─────────┬────────────┐
│ contact ┆ name   ┆ role    ┆ since      │
╞═════════╪════════╪═════════╪════════════╡
│ m-ng    ┆ Mai Ng ┆ decider ┆ 2024-01-04 │
└─────────┴────────┴─────────┴────────────┘
";

#[test]
fn account_in_every_format() {
    let ledger = Ledger::small();
    ledger.check(&["account", "acme"], 0, ACME_TABLE);
    ledger.check(
        &["account", "acme", "--format", "csv"],
        0,
        "account,name,status,scope,country,parent,children,key_account,model,category,opened_at,primary,team,contacts\n\
         acme,ACME Group,active,global,US,,acme-de,true,st-gallen,top,2024-01-02T00:00:00.000000Z,ben,key_account_manager:ben,decider:m-ng\n",
    );
    assert_eq!(
        ledger.json(&["account", "acme", "--format", "json"]),
        json!({"account": "acme", "name": "ACME Group", "status": "active", "scope": "global",
               "country": "US", "parent": null, "children": ["acme-de"], "key_account": true,
               "classification": {"model": "st-gallen", "category": "top"},
               "opened_at": "2024-01-02T00:00:00.000000Z",
               "team": [{"person": "ben", "role": "key_account_manager", "primary": true,
                         "since": "2024-01-03T00:00:00.000000Z"}],
               "contacts": [{"contact": "m-ng", "name": "Mai Ng", "role": "decider",
                             "since": "2024-01-04T00:00:00.000000Z"}]})
    );
}

#[test]
fn account_at_points_of_valid_time_and_knowledge() {
    let ledger = Ledger::small();
    let name = |args: &[&str]| ledger.json(args)["name"].clone();
    // A date as --as-of is the end of that day.
    assert_eq!(
        name(&[
            "account",
            "acme",
            "--as-of",
            "2024-04-14",
            "--format",
            "json"
        ]),
        "ACME Corp"
    );
    assert_eq!(
        name(&[
            "account",
            "acme",
            "--as-of",
            "2024-04-15",
            "--format",
            "json"
        ]),
        "ACME Corp".replace("Corp", "Group")
    );
    assert_eq!(
        name(&[
            "account",
            "acme",
            "--as-of",
            "2024-04-15T08:59:59Z",
            "--format",
            "json"
        ]),
        "ACME Group"
    );
    // Knowledge: the rename (seq 17) was recorded 2024-04-15T09:00.
    assert_eq!(
        name(&[
            "account",
            "acme",
            "--known-at",
            "2024-04-15T08:59:59Z",
            "--format",
            "json"
        ]),
        "ACME Corp"
    );
    assert_eq!(
        name(&["account", "acme", "--at-seq", "16", "--format", "json"]),
        "ACME Corp"
    );
    assert_eq!(
        name(&["account", "acme", "--at-seq", "17", "--format", "json"]),
        "ACME Group"
    );
    // The media assignment of cy ended when cy left (2024-05-10).
    let team = |as_of: &str| {
        ledger.json(&["account", "acme", "--as-of", as_of, "--format", "json"])["team"]
            .as_array()
            .map(Vec::len)
    };
    assert_eq!(team("2024-05-09"), Some(2));
    assert_eq!(team("2024-05-10"), Some(1));
}

#[test]
fn a_missing_account_is_an_error_with_nothing_on_stdout() {
    let ledger = Ledger::small();
    ledger.check_error(
        &[
            "account",
            "acme",
            "--as-of",
            "2024-01-01",
            "--format",
            "json",
        ],
        1,
        "account \"acme\" does not exist as of 2024-01-01 23:59:59.999999, known at seq 21",
    );
    ledger.check_error(&["account", "nope"], 1, "account \"nope\" does not exist");
    ledger.check_error(&["team", "nope"], 1, "account \"nope\" does not exist");
    ledger.check_error(&["contacts", "nope"], 1, "account \"nope\" does not exist");
    ledger.check_error(&["txns", "nope"], 1, "account \"nope\" does not exist");
    ledger.check_error(&["balance", "nope"], 1, "account \"nope\" does not exist");
    ledger.check_error(&["portfolio", "nope"], 1, "person \"nope\" has not joined");
    ledger.check_error(&["history", "nope"], 1, "no event touched account \"nope\"");
}

#[test]
fn accounts_list_filters_and_formats() {
    let ledger = Ledger::small();
    ledger.check(
        &["accounts", "--quiet"],
        0,
        "\
┌─────────┬────────────┬────────┬──────────┬─────────┬────────┬─────┬──────────┬──────┬────────────┐
│ account ┆ name       ┆ status ┆ scope    ┆ country ┆ parent ┆ key ┆ children ┆ team ┆ opened     │
╞═════════╪════════════╪════════╪══════════╪═════════╪════════╪═════╪══════════╪══════╪════════════╡
│ acme    ┆ ACME Group ┆ active ┆ global   ┆ US      ┆ -      ┆ key ┆        1 ┆    1 ┆ 2024-01-02 │
│ acme-de ┆ ACME GmbH  ┆ active ┆ national ┆ DE      ┆ acme   ┆     ┆        0 ┆    0 ┆ 2024-01-02 │
└─────────┴────────────┴────────┴──────────┴─────────┴────────┴─────┴──────────┴──────┴────────────┘
",
    );
    let ids = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["accounts"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--format", "json"]);
        ledger
            .json(&full)
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c["account"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ids(&[]), ["acme", "acme-de"]);
    assert_eq!(ids(&["--key-accounts"]), ["acme"]);
    assert_eq!(ids(&["--country", "DE"]), ["acme-de"]);
    assert_eq!(ids(&["--scope", "global"]), ["acme"]);
    assert_eq!(ids(&["--status", "closed"]), Vec::<String>::new());
    assert_eq!(ids(&["--as-of", "2024-01-01"]), Vec::<String>::new());
    let csv = ledger.run(&["accounts", "--format", "csv"]);
    assert_eq!(csv.stdout.lines().count(), 3);
    assert!(csv.stdout.starts_with("account,name,status,scope,"));
}

#[test]
fn accounts_tree_as_table_json_dot_and_mermaid() {
    let ledger = Ledger::small();
    ledger.check(
        &["accounts", "--tree"],
        0,
        "\
┌────────────┬────────────┬──────────┬────────┬─────┐
│ account    ┆ name       ┆ scope    ┆ status ┆ key │
╞════════════╪════════════╪══════════╪════════╪═════╡
│ acme       ┆ ACME Group ┆ global   ┆ active ┆ key │
│ └─ acme-de ┆ ACME GmbH  ┆ national ┆ active ┆     │
└────────────┴────────────┴──────────┴────────┴─────┘
",
    );
    ledger.check(
        &["accounts", "--tree", "--format", "dot"],
        0,
        "digraph accounts {\n  rankdir=LR;\n  node [shape=box];\n  \"acme\" [label=\"ACME Group\\nacme · global\"];\n  \"acme-de\" [label=\"ACME GmbH\\nacme-de · national\"];\n  \"acme\" -> \"acme-de\";\n}\n",
    );
    ledger.check(
        &["accounts", "--tree", "--format", "mermaid"],
        0,
        "graph TD\n  n0[\"ACME Group<br/>acme · global\"]\n  n1[\"ACME GmbH<br/>acme-de · national\"]\n  n0 --> n1\n",
    );
    let tree = ledger.json(&["accounts", "--tree", "--format", "json"]);
    assert_eq!(tree[0]["account"], "acme");
    assert_eq!(tree[0]["children"][0]["account"], "acme-de");
    ledger.check(
        &["accounts", "--tree", "--format", "csv"],
        0,
        "account,parent,depth,name,scope,status,key_account\nacme,,0,ACME Group,global,active,true\nacme-de,acme,1,ACME GmbH,national,active,false\n",
    );
}

// ---------------------------------------------------------------------------------------
// team, portfolio, org, contacts

#[test]
fn team_portfolio_and_contacts() {
    let ledger = Ledger::small();
    ledger.check(
        &["team", "acme"],
        0,
        "\
┌─────────────────────┬────────┬────────────┬─────────┬────────────┐
│ role                ┆ person ┆ name       ┆ primary ┆ since      │
╞═════════════════════╪════════╪════════════╪═════════╪════════════╡
│ key_account_manager ┆ ben    ┆ Ben Okafor ┆ primary ┆ 2024-01-03 │
└─────────────────────┴────────┴────────────┴─────────┴────────────┘
",
    );
    assert_eq!(
        ledger.json(&["team", "acme", "--as-of", "2024-05-01", "--format", "json"]),
        json!([
            {"person": "ben", "name": "Ben Okafor", "role": "key_account_manager", "primary": true, "since": "2024-01-03T00:00:00.000000Z"},
            {"person": "cy", "name": "Cy Moreau", "role": "media", "primary": false, "since": "2024-01-03T00:00:00.000000Z"}
        ])
    );
    ledger.check(
        &["team", "acme", "--format", "csv"],
        0,
        "role,person,name,primary,since\nkey_account_manager,ben,Ben Okafor,true,2024-01-03T00:00:00.000000Z\n",
    );
    ledger.check(
        &["portfolio", "ben"],
        0,
        "\
┌─────────┬────────────┬─────────────────────┬─────────┬────────────┐
│ account ┆ name       ┆ role                ┆ primary ┆ since      │
╞═════════╪════════════╪═════════════════════╪═════════╪════════════╡
│ acme    ┆ ACME Group ┆ key_account_manager ┆ primary ┆ 2024-01-03 │
└─────────┴────────────┴─────────────────────┴─────────┴────────────┘
",
    );
    assert_eq!(
        ledger.json(&[
            "portfolio",
            "cy",
            "--as-of",
            "2024-05-09",
            "--format",
            "json"
        ]),
        json!([{"account": "acme", "account_name": "ACME Group", "role": "media", "primary": false, "since": "2024-01-03T00:00:00.000000Z"}])
    );
    ledger.check(
        &["contacts", "acme", "--format", "csv"],
        0,
        "contact,name,role,since\nm-ng,Mai Ng,decider,2024-01-04T00:00:00.000000Z\n",
    );
    // The contact was added on the 4th but recorded on the 5th.
    ledger.check(
        &[
            "contacts",
            "acme",
            "--known-at",
            "2024-01-04",
            "--format",
            "json",
        ],
        0,
        "[]\n",
    );
}

#[test]
fn org_chart_tells_solid_from_dotted_lines() {
    let ledger = Ledger::small();
    let at = ["--as-of", "2024-05-01"];
    ledger.check(
        &["org", at[0], at[1]],
        0,
        "\
┌────────┬────────────┬─────────────────────┬────────────────────────┬────────────────────────┐
│ person ┆ name       ┆ title               ┆ solid line to          ┆ dotted lines to        │
╞════════╪════════════╪═════════════════════╪════════════════════════╪════════════════════════╡
│ ada    ┆ Ada Lind   ┆ Account Director    ┆                        ┆                        │
│ ben    ┆ Ben Okafor ┆ Key Account Manager ┆ ada (since 2024-01-01) ┆                        │
│ cy     ┆ Cy Moreau  ┆                     ┆                        ┆ ben (since 2024-01-01) │
└────────┴────────────┴─────────────────────┴────────────────────────┴────────────────────────┘
",
    );
    ledger.check(
        &["org", at[0], at[1], "--format", "dot"],
        0,
        "digraph org {\n  rankdir=TB;\n  node [shape=box];\n  \"ada\" [label=\"Ada Lind\\nAccount Director\"];\n  \"ben\" [label=\"Ben Okafor\\nKey Account Manager\"];\n  \"cy\" [label=\"Cy Moreau\\n\"];\n  \"ada\" -> \"ben\";\n  \"ben\" -> \"cy\" [style=dashed];\n}\n",
    );
    ledger.check(
        &["org", at[0], at[1], "--format", "mermaid"],
        0,
        "graph TD\n  p0[\"Ada Lind<br/>ada\"]\n  p1[\"Ben Okafor<br/>ben\"]\n  p2[\"Cy Moreau<br/>cy\"]\n  p0 --> p1\n  p1 -.-> p2\n",
    );
    ledger.check(
        &["org", at[0], at[1], "--format", "csv"],
        0,
        "person,manager,line,since\nben,ada,solid,2024-01-01T00:00:00.000000Z\ncy,ben,dotted,2024-01-01T00:00:00.000000Z\n",
    );
    let chart = ledger.json(&["org", "--format", "json"]);
    assert_eq!(
        chart["people"].as_array().map(Vec::len),
        Some(2),
        "cy and dan left"
    );
    assert_eq!(
        chart["lines"],
        json!([{"person": "ben", "manager": "ada", "line": "solid", "since": "2024-01-01T00:00:00.000000Z"}])
    );
}

// ---------------------------------------------------------------------------------------
// txns and balance

#[test]
fn register_with_running_net_and_reversals() {
    let ledger = Ledger::small();
    ledger.check(
        &["txns", "acme"],
        0,
        "\
┌────────────┬─────┬───────┬──────┬───────────────┬─────┬──────────────┬──────────┐
│ date       ┆ seq ┆ txn   ┆ kind ┆ amount        ┆ cur ┆ net          ┆ note     │
╞════════════╪═════╪═══════╪══════╪═══════════════╪═════╪══════════════╪══════════╡
│ 2024-02-10 ┆  14 ┆ inv-1 ┆ sale ┆  1,234,567.50 ┆ EUR ┆ 1,234,567.50 ┆ reversed │
│ 2024-03-15 ┆  18 ┆ inv-3 ┆ sale ┆         99.99 ┆ EUR ┆ 1,234,667.49 ┆          │
│ 2024-05-03 ┆  19 ┆ inv-1 ┆ sale ┆ -1,234,567.50 ┆ EUR ┆        99.99 ┆ reversal │
└────────────┴─────┴───────┴──────┴───────────────┴─────┴──────────────┴──────────┘
",
    );
    let rows = ledger.json(&[
        "txns",
        "acme",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-31",
        "--format",
        "json",
    ]);
    assert_eq!(
        rows,
        json!([{"seq": 18, "effective_at": "2024-03-15T00:00:00.000000Z", "recorded_at": "2024-05-02T09:00:00.000000Z",
                "txn": "inv-3", "kind": "sale", "reversal": false, "reversed": false, "currency": "EUR",
                "amount": "99.99", "reference": null, "description": null, "running_net": "99.99"}])
    );
    let csv = ledger.run(&["txns", "acme-de", "--format", "csv"]);
    assert_eq!(csv.code, 0);
    assert_eq!(
        csv.stdout.lines().nth(1).map(|l| l.split(',').nth(8)),
        Some(Some("1000"))
    );
}

#[test]
fn balance_in_every_format_with_dates_and_rollup() {
    let ledger = Ledger::small();
    ledger.check(
        &["balance", "--period", "quarter"],
        0,
        "\
┌─────────┬─────────┬──────────┬───────────────┬───────────┬───────────────┐
│ account ┆ period  ┆ currency ┆ sales         ┆ purchases ┆ net           │
╞═════════╪═════════╪══════════╪═══════════════╪═══════════╪═══════════════╡
│ acme    ┆ 2024-Q1 ┆ EUR      ┆  1,234,667.49 ┆      0.00 ┆  1,234,667.49 │
│ acme    ┆ 2024-Q2 ┆ EUR      ┆ -1,234,567.50 ┆      0.00 ┆ -1,234,567.50 │
│ acme-de ┆ 2024-Q1 ┆ JPY      ┆         1,000 ┆         0 ┆         1,000 │
│ acme-de ┆ 2024-Q2 ┆ EUR      ┆          0.00 ┆    200.25 ┆       -200.25 │
└─────────┴─────────┴──────────┴───────────────┴───────────┴───────────────┘
",
    );
    ledger.check(
        &["balance", "acme-de", "--format", "csv"],
        0,
        "account,period,currency,sales,purchases,net\nacme-de,all,EUR,0.00,200.25,-200.25\nacme-de,all,JPY,1000,0,1000\n",
    );
    // --from is that day's midnight, --to the end of that day: 2024-03-31 and 2024-04-01.
    assert_eq!(
        ledger.json(&[
            "balance",
            "acme",
            "--rollup",
            "--period",
            "month",
            "--from",
            "2024-03-31",
            "--to",
            "2024-04-01",
            "--format",
            "json"
        ]),
        json!([
            {"account": "acme", "period": "2024-03", "currency": "JPY", "sales": "1000", "purchases": "0", "net": "1000"},
            {"account": "acme", "period": "2024-04", "currency": "EUR", "sales": "0.00", "purchases": "200.25", "net": "-200.25"}
        ])
    );
    // Before the late invoice was recorded, March had none of it; --as-of bounds valid time.
    assert_eq!(
        ledger.json(&[
            "balance",
            "acme",
            "--period",
            "month",
            "--known-at",
            "2024-05-01",
            "--format",
            "json"
        ]),
        json!([{"account": "acme", "period": "2024-02", "currency": "EUR", "sales": "1234567.50", "purchases": "0.00", "net": "1234567.50"}])
    );
    assert_eq!(
        ledger.json(&[
            "balance",
            "acme",
            "--as-of",
            "2024-02-09",
            "--format",
            "json"
        ]),
        json!([])
    );
}

// ---------------------------------------------------------------------------------------
// history and diff

#[test]
fn history_shows_changes_skipped_events_and_hashes() {
    let ledger = Ledger::small();
    let steps = ledger.json(&["history", "acme-de", "--format", "json"]);
    let steps = steps.as_array().cloned().unwrap_or_default();
    let seqs: Vec<u64> = steps.iter().filter_map(|s| s["seq"].as_u64()).collect();
    assert_eq!(seqs, [8, 12, 15, 16]);
    assert_eq!(steps[1]["type"], "team.assigned");
    assert_eq!(steps[1]["applied"], false);
    assert_eq!(
        steps[1]["skipped"],
        "person \"dan\" left on 2024-01-04; choose someone else or back-date the event before that day"
    );
    // Hashes come from the log: the same as arl log shows.
    let log = ledger.json(&["log", "--account", "acme-de", "--format", "json"]);
    for (step, envelope) in steps
        .iter()
        .zip(log.as_array().cloned().unwrap_or_default())
    {
        assert_eq!(step["hash"], envelope["hash"]);
        // So do actor and reason.
        assert_eq!(step["actor"], "test");
        assert_eq!(step["actor"], envelope["actor"]);
        assert_eq!(step["reason"], envelope["reason"]);
    }
    assert_eq!(
        steps[2]["changes"],
        json!([{"field": "txn.inv-2", "before": null, "after": "sale JPY 1000"}])
    );
    // Known at the time of the assignment, it applied.
    let then = ledger.json(&[
        "history",
        "acme-de",
        "--known-at",
        "2024-05-01",
        "--format",
        "json",
    ]);
    assert_eq!(then[1]["applied"], true);
    let table = ledger.run(&["history", "acme-de"]);
    assert_eq!(table.code, 0);
    assert!(
        table
            .stdout
            .contains("SKIPPED: person \"dan\" left on 2024-01-04"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("9e26833dad23"), "{}", table.stdout);
    let csv = ledger.run(&["history", "acme-de", "--format", "csv"]);
    assert!(csv.stdout.starts_with(
        "seq,effective_at,recorded_at,type,skipped,field,before,after,hash,actor,reason\n"
    ));
}

#[test]
fn diff_along_valid_time_and_along_knowledge() {
    let ledger = Ledger::small();
    ledger.check(
        &["diff", "acme", "--from", "2024-01-03", "--to", "2024-05-31"],
        0,
        "\
┌───────────────┬──────────────────┬────────────────────────────────────┐
│ field         ┆ before           ┆ after                              │
╞═══════════════╪══════════════════╪════════════════════════════════════╡
│ contact.m-ng  ┆ ∅                ┆ Mai Ng (decider), since 2024-01-04 │
│ name          ┆ ACME Corp        ┆ ACME Group                         │
│ team.media.cy ┆ since 2024-01-03 ┆ ∅                                  │
│ txn.inv-1     ┆ ∅                ┆ sale EUR 1234567.50, reversed      │
│ txn.inv-3     ┆ ∅                ┆ sale EUR 99.99                     │
└───────────────┴──────────────────┴────────────────────────────────────┘
",
    );
    assert_eq!(
        ledger.json(&[
            "diff",
            "acme",
            "--axis",
            "known",
            "--from",
            "2024-04-30",
            "--to",
            "2024-05-02",
            "--as-of",
            "2024-03-31",
            "--format",
            "json"
        ]),
        json!({"account": "acme",
               "from": {"as_of": "2024-03-31T23:59:59.999999Z", "at_seq": 17},
               "to": {"as_of": "2024-03-31T23:59:59.999999Z", "at_seq": 18},
               "changes": [{"field": "txn.inv-3", "before": null, "after": "sale EUR 99.99"}]})
    );
    ledger.check(
        &[
            "diff",
            "acme",
            "--from",
            "2024-04-14",
            "--to",
            "2024-04-15",
            "--format",
            "csv",
        ],
        0,
        "field,before,after\nname,ACME Corp,ACME Group\n",
    );
    ledger.check_error(
        &[
            "diff",
            "acme",
            "--axis",
            "known",
            "--from",
            "2024-01-01",
            "--to",
            "2024-02-01",
            "--at-seq",
            "3",
        ],
        2,
        "drop --known-at/--at-seq",
    );
    ledger.check_error(
        &["diff", "nope", "--from", "2024-01-01", "--to", "2024-02-01"],
        1,
        "exists at neither point",
    );
}

// ---------------------------------------------------------------------------------------
// log and export

#[test]
fn log_filters() {
    let ledger = Ledger::small();
    let seqs = |args: &[&str]| -> Vec<u64> {
        let mut full = vec!["log"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--format", "json"]);
        ledger
            .json(&full)
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["seq"].as_u64()).collect())
            .unwrap_or_default()
    };
    assert_eq!(seqs(&["--account", "acme-de"]), [8, 12, 15, 16]);
    assert_eq!(seqs(&["--stream", "person/dan"]), [4, 21]);
    assert_eq!(seqs(&["--type", "transaction.reversed"]), [19]);
    assert_eq!(seqs(&["--from-seq", "5", "--to-seq", "7"]), [5, 6, 7]);
    assert_eq!(seqs(&["--from-seq", "20", "--limit", "5"]), [20, 21]);
    assert_eq!(seqs(&["--limit", "2"]), [1, 2]);
    assert_eq!(
        seqs(&[
            "--recorded-from",
            "2024-05-02",
            "--recorded-to",
            "2024-05-03"
        ]),
        [18, 19]
    );
    assert_eq!(
        seqs(&[
            "--effective-from",
            "2024-03-15",
            "--effective-to",
            "2024-03-31"
        ]),
        [15, 18]
    );
    ledger.check(
        &["log", "--account", "acme-de", "--to-seq", "8"],
        0,
        "\
┌─────┬─────────────────────┬────────────┬────────────────┬─────────────────┬─────┬───────┬──────────────┐
│ seq ┆ recorded            ┆ effective  ┆ type           ┆ stream          ┆ ver ┆ actor ┆ hash         │
╞═════╪═════════════════════╪════════════╪════════════════╪═════════════════╪═════╪═══════╪══════════════╡
│   8 ┆ 2024-01-02 09:01:00 ┆ 2024-01-02 ┆ account.opened ┆ account/acme-de ┆   1 ┆ test  ┆ c709755cb77a │
└─────┴─────────────────────┴────────────┴────────────────┴─────────────────┴─────┴───────┴──────────────┘
",
    );
    let csv = ledger.run(&["log", "--type", "person.left", "--format", "csv"]);
    assert_eq!(csv.stdout.lines().count(), 3);
}

#[test]
fn export_is_the_stored_envelopes_and_reverifies_from_nothing_else() {
    let ledger = Ledger::small();
    let run = ledger.run(&["export"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 21);
    assert!(lines[0].starts_with(r#"{"seq":1,"id":""#), "{}", lines[0]);
    let mut prev = [0u8; 32];
    let mut leaves = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let envelope = arl_log::Envelope::from_json_line(line).expect("an envelope");
        assert_eq!(envelope.seq, i as u64 + 1);
        assert_eq!(
            envelope.to_json_line(),
            *line,
            "exactly Envelope::to_json_line"
        );
        assert_eq!(
            envelope.compute_hash(&prev),
            envelope.hash,
            "seq {}",
            envelope.seq
        );
        prev = envelope.hash;
        leaves.push(arl_log::merkle::leaf_hash(&envelope.hash));
    }
    let digest = ledger.json(&["digest"]);
    assert_eq!(digest["head"], arl_log::hex(&prev));
    assert_eq!(digest["root"], arl_log::hex(&naive_root(&leaves)));
    let csv = ledger.run(&["export", "--format", "csv"]);
    assert_eq!(csv.code, 0);
    assert_eq!(csv.stdout.lines().count(), 22);
    assert!(csv.stdout.starts_with(
        "seq,id,type,stream,version,recorded_at,effective_at,actor,reason,imported,data,hash\n"
    ));
}

/// RFC 6962 MTH over leaf hashes, written from the RFC.
fn naive_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => arl_log::merkle::empty_root(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            arl_log::merkle::node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

// ---------------------------------------------------------------------------------------
// verify, digest, proof, replay

#[test]
fn verify_digest_and_proof() {
    let ledger = Ledger::small();
    ledger.check(
        &["verify"],
        0,
        "ok: 21 envelopes verify (hash chain, Merkle tree, views through seq 21)\n\
         head seq 21 5c4ec9860856d5b40a6bd18efc5d195445741931bfc22bb76f1dba64bb83d534\n\
         root b6bd4c165fa0aa46bf7af475c4445f82e294bbd2488a62e7311d91aa694fa856\n",
    );
    ledger.check(
        &["digest"],
        0,
        "{\"seq\": 21, \"head\": \"5c4ec9860856d5b40a6bd18efc5d195445741931bfc22bb76f1dba64bb83d534\", \"root\": \"b6bd4c165fa0aa46bf7af475c4445f82e294bbd2488a62e7311d91aa694fa856\", \"recorded_at\": \"2024-05-20T09:00:00.000000Z\"}\n",
    );
    let saved = ledger.file("digest.json", &ledger.digest());
    let saved = saved.to_string_lossy().into_owned();
    // The ledger grows; it still extends the saved digest.
    let more = ledger.run(&[
        "append",
        "--type",
        "account.renamed",
        "--data",
        r#"{"account":"acme","name":"ACME Worldwide"}"#,
    ]);
    assert_eq!(more.code, 0, "{}", more.stderr);
    let run = ledger.run(&["verify", "--digest", &saved]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("extends the digest at seq 21"),
        "{}",
        run.stdout
    );
    // A proof of seq 3 in the tree of the saved digest, checked independently.
    let proof = ledger.json(&["proof", "3", "--digest", &saved]);
    assert_eq!(
        (
            proof["seq"].clone(),
            proof["leaf_index"].clone(),
            proof["tree_size"].clone()
        ),
        (json!(3), json!(2), json!(21))
    );
    assert_eq!(
        proof["root"],
        "b6bd4c165fa0aa46bf7af475c4445f82e294bbd2488a62e7311d91aa694fa856"
    );
    let hash = |v: &Value| arl_log::parse_hex(v.as_str().unwrap_or("")).expect("hex");
    let path: Vec<[u8; 32]> = proof["audit_path"]
        .as_array()
        .map(|a| a.iter().map(hash).collect())
        .unwrap_or_default();
    let leaf = arl_log::merkle::leaf_hash(&hash(&proof["envelope_hash"]));
    assert_eq!(leaf, hash(&proof["leaf_hash"]));
    assert!(arl_log::merkle::verify_inclusion(
        &leaf,
        2,
        21,
        &path,
        &hash(&proof["root"])
    ));
    // Against the current head, the tree has 22 leaves.
    assert_eq!(ledger.json(&["proof", "22"])["tree_size"], 22);
    ledger.check_error(&["proof", "23"], 1, "seq 23 is not in the tree of size 22");
    ledger.check_error(&["proof", "0"], 1, "is not in the tree");
    // A digest the ledger does not extend is an integrity failure.
    let forged = ledger.file(
        "forged.json",
        "{\"seq\": 21, \"head\": \"5c4ec9860856d5b40a6bd18efc5d195445741931bfc22bb76f1dba64bb83d535\", \"root\": \"b6bd4c165fa0aa46bf7af475c4445f82e294bbd2488a62e7311d91aa694fa856\", \"recorded_at\": \"2024-05-20T09:00:00.000000Z\"}",
    );
    ledger.check_error(
        &["verify", "--digest", &forged.to_string_lossy()],
        3,
        "integrity failure at seq 21",
    );
    let ahead = ledger.file("ahead.json", "{\"seq\": 99, \"head\": \"5c4ec9860856d5b40a6bd18efc5d195445741931bfc22bb76f1dba64bb83d534\", \"root\": \"b6bd4c165fa0aa46bf7af475c4445f82e294bbd2488a62e7311d91aa694fa856\"}");
    ledger.check_error(
        &["verify", "--digest", &ahead.to_string_lossy()],
        3,
        "events were removed",
    );
    let junk = ledger.file("junk.json", "not a digest");
    ledger.check_error(
        &["verify", "--digest", &junk.to_string_lossy()],
        1,
        "is not a digest",
    );
}

#[test]
fn replay_rebuilds_the_views() {
    let ledger = Ledger::small();
    let before = ledger.run(&["account", "acme", "--format", "json"]).stdout;
    let run = ledger.run(&["replay"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("replayed 21 events into fresh views; head seq 21 5c4ec986"),
        "{}",
        run.stdout
    );
    assert_eq!(
        ledger.run(&["account", "acme", "--format", "json"]).stdout,
        before
    );
    assert_eq!(ledger.run(&["verify"]).code, 0);
}

#[test]
fn tampering_with_the_log_is_an_integrity_failure_exit_3() {
    let ledger = Ledger::small();
    // Change one byte of a stored event (the contact's name in seq 13): its frame (log
    // layout 5: a length field whose bit 30 marks a zstd frame of the log's dictionary,
    // the stored bytes, the hash) is opened, edited and stored back uncompressed with
    // its old hash, as someone editing the file would.
    let path = ledger.dir().join("log").join("envelopes");
    let mut bytes = std::fs::read(&path).expect("envelopes");
    let dict = std::fs::read(ledger.dir().join("log").join("dict")).expect("log/dict");
    let codec = arl_log::codec::Codec::of(&dict, arl_log::codec::FRAME_LEVEL).expect("codec");
    let (len_mask, compressed) = ((1u32 << 30) - 1, 1u32 << 30);
    let mut at = 0;
    for _ in 1..13 {
        let field = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        at += 4 + (field & len_mask) as usize + 32;
    }
    let field = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let end = at + 4 + (field & len_mask) as usize;
    let mut json = Vec::new();
    if field & compressed != 0 {
        codec
            .decompress_into(&bytes[at + 4..end], 1 << 20, &mut json)
            .expect("the frame decompresses");
    } else {
        json.extend_from_slice(&bytes[at + 4..end]);
    }
    let name = json
        .windows(7)
        .position(|w| w == b"Mai Ng\"")
        .expect("seq 13 names the contact");
    json[name] = b'K';
    let mut frame = (json.len() as u32 | (field & !len_mask & !compressed))
        .to_le_bytes()
        .to_vec();
    frame.extend_from_slice(&json);
    bytes.splice(at..end, frame);
    std::fs::write(&path, bytes).expect("write");
    let run = ledger.run(&["verify"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("integrity failure at seq 13"),
        "{}",
        run.stderr
    );
    // Queries read the views and still answer; replay refuses to build from a broken chain.
    assert_eq!(ledger.run(&["replay"]).code, 3);
}

#[test]
fn tampering_with_the_views_is_an_integrity_failure_exit_3() {
    let ledger = Ledger::small();
    let events = ledger.dir().join("views").join("events.dat");
    let mut bytes = std::fs::read(&events).expect("events.dat");
    let at = bytes
        .windows(9)
        .position(|w| w == b"ACME GmbH")
        .expect("a name in the views");
    bytes[at] = b'X';
    std::fs::write(&events, bytes).expect("write");
    let run = ledger.run(&["verify"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("integrity failure in the views") && run.stderr.contains("events.dat"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("arl replay"), "{}", run.stderr);
    // The fix the message names works.
    assert_eq!(ledger.run(&["replay"]).code, 0);
    assert_eq!(ledger.run(&["verify"]).code, 0);
    assert_eq!(
        ledger.json(&["account", "acme-de", "--format", "json"])["name"],
        "ACME GmbH"
    );
}

#[test]
fn a_busy_ledger_is_an_error_after_the_lock_timeout() {
    let ledger = Ledger::small();
    let _held = arl_log::LedgerLock::exclusive(&ledger.dir(), std::time::Duration::from_secs(1))
        .expect("lock");
    let run = ledger.run(&["--lock-timeout", "0.2", "account", "acme"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("ledger busy"), "{}", run.stderr);
    let run = ledger.run(&[
        "append",
        "--lock-timeout",
        "0.2",
        "--type",
        "person.joined",
        "--data",
        r#"{"person":"eve","name":"Eve"}"#,
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------
// demo

#[test]
fn demo_builds_a_ledger_and_shows_repeatable_commands() {
    let ledger = Ledger::empty();
    let run = ledger.run(&["demo", "--events", "3000", "--seed", "7", "--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let shown = format!("$ arl --ledger {}", ledger.dir().display());
    for what in [" account ", " balance ", " --rollup", " verify"] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&shown) && l.contains(what)),
            "no step with {what:?}: {}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("ok: 3000 envelopes verify"),
        "{}",
        run.stdout
    );
    // Run again: the old demo ledger is replaced, and the result is deterministic.
    let digest = ledger.digest();
    assert_eq!(
        ledger
            .run(&["demo", "--events", "3000", "--seed", "7", "--quiet"])
            .code,
        0
    );
    let again = ledger.digest();
    assert_eq!(
        serde_json::from_str::<Value>(&digest)
            .ok()
            .map(|d| d["seq"].clone()),
        serde_json::from_str::<Value>(&again)
            .ok()
            .map(|d| d["seq"].clone())
    );
    // A directory that is not a ledger is never replaced.
    let other = Ledger::empty();
    std::fs::create_dir_all(other.dir()).expect("dir");
    other.file("ledger/precious.txt", "keep me");
    other.check_error(&["demo", "--events", "100"], 1, "is not an arl ledger");
    assert!(other.dir().join("precious.txt").exists());
}
