//! The log in PostgreSQL (`--store URL`), through the real `arl` binary, against the
//! machine's PostgreSQL server (`$ARL_TEST_PG`, default `postgres://root@127.0.0.1:5432`;
//! each test in a database of its own, dropped afterwards). An unreachable server fails the
//! tests, saying so.
//!
//! Every answer, the export bytes, the digest, proofs and verify must be equal to those of
//! the same input in a ledger directory.

use arl_testkit::{generated, run_arl, run_arl_with_input, PgDatabase, Run};
use serde_json::Value;
use std::path::Path;

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
const EXPECTED: &str = include_str!("../fixtures/globex.expected.json");

/// `arl --ledger DIR --store URL ARGS`.
fn on_store(dir: &Path, url: &str, args: &[&str]) -> Run {
    let mut all = vec!["--store", url];
    all.extend_from_slice(args);
    run_arl(dir, &all)
}

fn ok(run: Run, what: &str) -> String {
    assert_eq!(run.code, 0, "{what}: {}", run.stderr);
    run.stdout
}

/// The fixture with an id on every line (the log makes up ids for lines without one,
/// which would differ between the two ledgers).
fn with_ids(text: &str) -> String {
    let mut out = String::new();
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let mut value: Value = serde_json::from_str(line).unwrap();
        if value.get("id").is_none() {
            value["id"] = Value::from(format!("line-{}", n + 1));
        }
        out.push_str(&value.to_string());
        out.push('\n');
    }
    out
}

#[test]
fn globex_answers_equal_on_both_stores() {
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dir");
    let node = tmp.path().join("node");
    let fixture = tmp.path().join("globex.jsonl");
    std::fs::write(&fixture, with_ids(FIXTURE)).unwrap();
    let fixture = fixture.to_str().unwrap();
    ok(
        run_arl(&dir, &["append", "--imported", fixture]),
        "append to dir",
    );
    ok(
        on_store(&node, &db.url, &["append", "--imported", fixture]),
        "append to PostgreSQL",
    );

    let cases: Vec<Value> = serde_json::from_str(EXPECTED).unwrap();
    assert!(cases.len() >= 10);
    for case in &cases {
        let args: Vec<&str> = case["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let on_dir = run_arl(&dir, &args);
        let on_pg = on_store(&node, &db.url, &args);
        assert_eq!(
            on_pg.code, on_dir.code,
            "exit of {args:?}: {}",
            on_pg.stderr
        );
        assert_eq!(
            i64::from(on_pg.code),
            case["exit"].as_i64().unwrap(),
            "{args:?}"
        );
        assert_eq!(on_pg.stdout, on_dir.stdout, "stdout of {args:?}");
        if on_pg.code == 0 {
            let stdout: Value = serde_json::from_str(&on_pg.stdout).unwrap();
            assert_eq!(stdout, case["stdout"], "stdout of {args:?}");
        }
    }
    // The same non-empty answer from a node over PostgreSQL as from the directory ledger.
    let same_on = |node: &Path, args: &[&str]| {
        let on_dir = ok(run_arl(&dir, args), "dir");
        let on_pg = ok(on_store(node, &db.url, args), "PostgreSQL");
        assert!(!on_dir.is_empty(), "{args:?} printed nothing");
        assert_eq!(on_dir, on_pg, "{args:?}");
    };
    for args in [
        &["export"][..],
        &["export", "--format", "csv"],
        &["digest"],
        &["proof", "7"],
        &["verify", "--format", "json"],
        &["log", "--account", "globex", "--format", "json"],
    ] {
        same_on(&node, args);
    }
    // A replay rebuilds the node's views from the log in PostgreSQL.
    ok(on_store(&node, &db.url, &["replay"]), "replay");
    same_on(&node, &["account", "globex", "--format", "json"]);
    // A second node, with views of its own, gives the same answers.
    same_on(
        &tmp.path().join("second"),
        &["team", "globex", "--format", "json"],
    );
}

#[test]
fn views_stay_bound_to_their_log() {
    let one = PgDatabase::create();
    let two = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let node = tmp.path().join("node");
    let line = r#"{"type":"person.joined","data":{"person":"ann","name":"Ann"},"effective_at":"2024-01-01"}"#;
    ok(
        run_arl_with_input(&node, &["--store", &one.url, "append", "-"], line),
        "append",
    );
    let elsewhere = tmp.path().join("elsewhere");
    ok(
        run_arl_with_input(&elsewhere, &["--store", &two.url, "append", "-"], line),
        "append to the second store",
    );
    // The same directory with another store's log: refused, naming both.
    let other = on_store(&node, &two.url, &["accounts", "--format", "json"]);
    assert_eq!(other.code, 1, "{}", other.stderr);
    assert!(
        other.stderr.contains("follow the log with ledger id"),
        "{}",
        other.stderr
    );
    // Without --store: the directory says where its log is.
    let plain = run_arl(&node, &["accounts"]);
    assert_ne!(plain.code, 0);
    assert!(plain.stderr.contains("--store"), "{}", plain.stderr);
    // A directory ledger cannot serve as a node's directory.
    let dir = tmp.path().join("dir");
    ok(
        run_arl_with_input(&dir, &["append", "-"], line),
        "append to dir",
    );
    let mixed = on_store(&dir, &two.url, &["append", "-"]);
    assert_ne!(mixed.code, 0);
    assert!(mixed.stderr.contains("its own log"), "{}", mixed.stderr);
    // A URL that is not PostgreSQL's is a usage error.
    assert_eq!(on_store(&node, "mysql://x", &["digest"]).code, 2);
}

#[test]
fn unreachable_store_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = on_store(tmp.path(), "postgres://root@127.0.0.1:1/none", &["digest"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("PostgreSQL at postgres://root@127.0.0.1:1/none"),
        "{}",
        run.stderr
    );
}

/// Concurrent appends from three nodes (processes with their own directories) over one
/// store: one chain without gaps, every event there once, equal answers on every node.
#[test]
fn appends_from_three_nodes_make_one_chain() {
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let nodes: Vec<_> = (0..3)
        .map(|i| tmp.path().join(format!("node{i}")))
        .collect();
    let seed =
        r#"{"type":"person.joined","data":{"person":"p0","name":"P"},"effective_at":"2024-01-01"}"#;
    ok(
        run_arl_with_input(&nodes[0], &["--store", &db.url, "append", "-"], seed),
        "seed",
    );
    const PER_NODE: usize = 12;
    std::thread::scope(|scope| {
        for (i, node) in nodes.iter().enumerate() {
            let url = db.url.clone();
            scope.spawn(move || {
                for k in 0..PER_NODE {
                    let line = format!(
                        r#"{{"id":"n{i}-{k}","type":"person.joined","data":{{"person":"n{i}-{k}","name":"N"}},"effective_at":"2024-01-02"}}"#
                    );
                    let run = run_arl_with_input(node, &["--store", &url, "append", "-"], &line);
                    assert_eq!(run.code, 0, "node {i} append {k}: {}", run.stderr);
                }
            });
        }
    });
    let digest: Value =
        serde_json::from_str(&ok(on_store(&nodes[1], &db.url, &["digest"]), "digest")).unwrap();
    assert_eq!(digest["seq"], 1 + 3 * PER_NODE as u64);
    ok(on_store(&nodes[2], &db.url, &["verify"]), "verify");
    let export = ok(on_store(&nodes[0], &db.url, &["export"]), "export");
    let seqs: Vec<u64> = export
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=1 + 3 * PER_NODE as u64).collect::<Vec<_>>());
    let answers: Vec<String> = nodes
        .iter()
        .map(|n| {
            ok(
                on_store(n, &db.url, &["portfolio", "n2-3", "--format", "json"]),
                "portfolio",
            )
        })
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // Resending an event through another node is a duplicate there too.
    let again = r#"{"id":"n0-0","type":"person.joined","data":{"person":"n0-0","name":"N"},"effective_at":"2024-01-02"}"#;
    let run = run_arl_with_input(
        &nodes[2],
        &["--store", &db.url, "append", "-", "--format", "json"],
        again,
    );
    let summary: Value = serde_json::from_str(&ok(run, "resend")).unwrap();
    assert_eq!(summary["duplicates"], 1);
}

/// `arl copy` both ways on a generated ledger of 100k events: digests and export bytes
/// equal on all three, and the copies answer as the original does.
#[test]
fn copy_both_ways_keeps_every_byte() {
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    let input = tmp.path().join("gen.jsonl");
    std::fs::write(&input, generated(100_000, 14)).unwrap();
    ok(
        run_arl(
            &original,
            &["append", "--imported", input.to_str().unwrap(), "--quiet"],
        ),
        "import",
    );
    let node = tmp.path().join("node");
    let back = tmp.path().join("back");
    let to_pg = run_arl(
        &node,
        &[
            "copy",
            "--from",
            original.to_str().unwrap(),
            "--to",
            &db.url,
            "--quiet",
        ],
    );
    let to_pg = ok(to_pg, "copy to PostgreSQL");
    let from_pg = run_arl(
        &node,
        &[
            "copy",
            "--from",
            &db.url,
            "--to",
            back.to_str().unwrap(),
            "--quiet",
        ],
    );
    let from_pg = ok(from_pg, "copy back");
    let digest = ok(run_arl(&original, &["digest"]), "digest");
    assert_eq!(to_pg, digest);
    assert_eq!(from_pg, digest);
    assert_eq!(ok(on_store(&node, &db.url, &["digest"]), "digest"), digest);
    let export = ok(run_arl(&original, &["export"]), "export");
    assert_eq!(export.lines().count(), 100_000);
    assert_eq!(ok(on_store(&node, &db.url, &["export"]), "export"), export);
    assert_eq!(ok(run_arl(&back, &["export"]), "export"), export);
    ok(on_store(&node, &db.url, &["verify"]), "verify PostgreSQL");
    ok(run_arl(&back, &["verify"]), "verify the copy");
    let accounts = ok(
        run_arl(&original, &["accounts", "--format", "json"]),
        "accounts",
    );
    assert_eq!(
        ok(
            on_store(&node, &db.url, &["accounts", "--format", "json"]),
            "accounts"
        ),
        accounts
    );
    assert_eq!(
        ok(
            run_arl(&back, &["accounts", "--format", "json"]),
            "accounts"
        ),
        accounts
    );
    // The target must be empty.
    let again = run_arl(
        &node,
        &[
            "copy",
            "--from",
            original.to_str().unwrap(),
            "--to",
            &db.url,
        ],
    );
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("copy into an empty ledger"),
        "{}",
        again.stderr
    );
}

/// Whether any file under `dir` holds `text`'s bytes.
fn any_file_holds(dir: &Path, text: &str) -> bool {
    arl_testkit::files(dir)
        .iter()
        .any(|(_, bytes)| bytes.windows(text.len()).any(|w| w == text.as_bytes()))
}

/// `arl contacts ACCOUNT --format json` through a node.
fn contacts_of(node: &Path, url: &str, account: &str) -> Value {
    let out = ok(
        on_store(node, url, &["contacts", account, "--format", "json"]),
        "contacts",
    );
    serde_json::from_str(&out).unwrap()
}

/// The contact `k-vogel` of globex-de, as a node shows it.
fn vogel(node: &Path, url: &str) -> Value {
    contacts_of(node, url, "globex-de")
        .as_array()
        .expect("a list of contacts")
        .iter()
        .find(|c| c["contact"] == "k-vogel")
        .cloned()
        .expect("k-vogel is a contact of globex-de")
}

/// How many frame rows of the log hold `text`'s bytes.
fn frames_holding(admin: &mut postgres::Client, text: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM arl_frames WHERE position($1::bytea in bytes) > 0",
            &[&text.as_bytes()],
        )
        .unwrap()
        .get(0)
}

/// A sealing ledger on PostgreSQL keeps its keys in a table beside the log: a name sealed
/// through one node opens on another, and an erasure through one node holds on both, with
/// the key gone from the database and the log still verifying.
#[test]
fn keys_are_shared_by_the_nodes_and_an_erasure_holds_on_every_node() {
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let fixture = tmp.path().join("globex.jsonl");
    std::fs::write(&fixture, with_ids(FIXTURE)).unwrap();
    let fixture = fixture.to_str().unwrap();
    let sealing = ["append", "--seal", "--imported", fixture];
    ok(on_store(&a, &db.url, &sealing), "sealing append through a");
    assert_eq!(vogel(&b, &db.url)["name"], "Karl Vogel", "b opens a's seal");
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    assert_eq!(
        frames_holding(&mut admin, "Karl Vogel"),
        0,
        "sealed in the log"
    );
    assert!(frames_holding(&mut admin, "arl:sealed:v1:") > 0);

    let erase = [
        "erase",
        "--contact",
        "k-vogel",
        "--reason",
        "request",
        "--yes",
    ];
    let erased = ok(
        on_store(&b, &db.url, &[&erase[..], &["--format", "json"]].concat()),
        "erase through b",
    );
    let erased: Value = serde_json::from_str(&erased).unwrap();
    assert_eq!(erased["key_destroyed"], true);
    for node in [&a, &b] {
        let shown = vogel(node, &db.url);
        assert_eq!(shown["name"], Value::Null, "{}", node.display());
        assert_eq!(shown["erased"], true);
        assert!(!any_file_holds(node, "Karl Vogel"));
        // Other names still open.
        let others = contacts_of(node, &db.url, "globex").to_string();
        assert!(others.contains("Mai Ng"), "{others}");
    }
    let key: Option<Vec<u8>> = admin
        .query_one(
            "SELECT key FROM arl_keys WHERE kind = 1 AND subject = 'k-vogel'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(key, None, "the key is gone from the table");
    ok(
        on_store(&a, &db.url, &["verify"]),
        "verify after the erasure",
    );
    // The history on the other node lists the erasure, with its reason.
    let history = ok(
        on_store(&a, &db.url, &["history", "globex-de", "--format", "json"]),
        "history",
    );
    let steps: Value = serde_json::from_str(&history).unwrap();
    let erasure = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "subject.erased")
        .unwrap_or_else(|| panic!("no erasure in the history: {history}"));
    assert_eq!(erasure["reason"], "request");
    // A second erasure is refused, on any node.
    let again = on_store(&a, &db.url, &erase);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("already erased"), "{}", again.stderr);
}
