//! views_format: views written by earlier layouts (format 3, no record checksums; format 4,
//! no transaction-id index) are rebuilt from the log by the next query or append, which then
//! answer as before; `arl verify` names the command that rebuilds them. The fixtures were
//! written by the code of those layouts from `globex.jsonl`, imported: `views-format-3/` by
//! main at 591ff4a, `views-format-4/` by main at f424127.

mod support;

use arl_views::format::FORMAT_VERSION;

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
/// The old views and their format version.
const OLD_VIEWS: [(&str, u32); 2] = [
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-3"),
        3,
    ),
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-4"),
        4,
    ),
];
const CARD: &[&str] = &[
    "account",
    "globex-de",
    "--as-of",
    "2023-07-01",
    "--known-at",
    "2023-07-05",
    "--format",
    "json",
];
const BALANCE: &[&str] = &[
    "balance", "globex", "--period", "quarter", "--rollup", "--format", "json",
];

fn put_old_views(ledger: &support::Ledger, old: &str) {
    let views = ledger.dir().join("views");
    std::fs::remove_dir_all(&views).expect("removing the views");
    support::copy_dir(std::path::Path::new(old), &views);
}

fn version_of(ledger: &support::Ledger) -> Vec<u32> {
    ["heads.0", "heads.1"]
        .iter()
        .filter_map(|name| std::fs::read(ledger.dir().join("views").join(name)).ok())
        .map(|bytes| u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")))
        .collect()
}

#[test]
fn old_views_are_rebuilt_by_a_query() {
    for (old, version) in OLD_VIEWS {
        let ledger = support::Ledger::new();
        ledger.append(FIXTURE, true);
        let (card, balance) = (ledger.json(CARD), ledger.json(BALANCE));
        put_old_views(&ledger, old);
        assert_eq!(version_of(&ledger), vec![version, version]);
        assert_eq!(ledger.json(CARD), card);
        assert_eq!(version_of(&ledger), vec![FORMAT_VERSION, FORMAT_VERSION]);
        assert_eq!(ledger.json(BALANCE), balance);
        assert_eq!(ledger.run(&["verify"]).code, 0);
    }
}

#[test]
fn old_views_are_rebuilt_by_an_append() {
    for (old, _) in OLD_VIEWS {
        let ledger = support::Ledger::new();
        ledger.append(FIXTURE, true);
        let card = ledger.json(CARD);
        put_old_views(&ledger, old);
        let line = r#"{"type":"person.joined","data":{"person":"zoe","name":"Zoe Park"},"effective_at":"2024-01-02"}"#;
        ledger.append(line, false);
        assert_eq!(version_of(&ledger), vec![FORMAT_VERSION, FORMAT_VERSION]);
        assert_eq!(ledger.json(CARD), card);
        let verify = ledger.json(&["verify", "--format", "json"]);
        assert_eq!(verify["views_checked"], verify["seq"]);
    }
}

#[test]
fn verify_names_the_command_that_rebuilds_old_views() {
    for (old, version) in OLD_VIEWS {
        let ledger = support::Ledger::new();
        ledger.append(FIXTURE, true);
        put_old_views(&ledger, old);
        for args in [&["verify"][..], &["verify", "--views-only"][..]] {
            let run = ledger.run(args);
            assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
            let named = format!("format version {version}");
            assert!(run.stderr.contains(&named), "{}", run.stderr);
            assert!(run.stderr.contains("arl replay"), "{}", run.stderr);
        }
        assert_eq!(
            version_of(&ledger),
            vec![version, version],
            "verify changes nothing"
        );
    }
}
