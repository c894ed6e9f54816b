//! views_format: views written by earlier layouts (format 3, no record checksums; format 4,
//! no transaction-id index; format 5, `txndata.dat` holding each transaction's data JSON as
//! it is; format 7, `txnids.idx` with a fixed table of 2^18 buckets and 20-byte entries; format 8,
//! the id orders stored in the heads slots; format 9, zstd's magic number on the compressed
//! data; format 10, every transaction's data compressed)
//! are rebuilt from the log by the next query or append, which then answer as before; `arl
//! verify` names the command that rebuilds them. The fixtures were written by the code of
//! those layouts from `globex.jsonl`, imported: `views-format-3/` by main at 591ff4a,
//! `views-format-4/` by main at f424127, `views-format-5/` by main at cf04c16,
//! `views-format-7/` by main at 128e325, `views-format-8/` by main at ef7b4fe,
//! `views-format-9/` by the binary before 0efb765, `views-format-10/` by main at 2bc2c88
//! (`arl append --imported`).

mod support;

use arl_views::format::{FORMAT_VERSION, TXN_RECORD_BYTES};

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
/// The old views and their format version.
const OLD_VIEWS: [(&str, u32); 7] = [
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-3"),
        3,
    ),
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-4"),
        4,
    ),
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-5"),
        5,
    ),
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-7"),
        7,
    ),
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-8"),
        8,
    ),
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-9"),
        9,
    ),
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/views-format-10"),
        10,
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

/// The format version of every heads slot there is (two in the old formats, four since
/// format 7).
fn version_of(ledger: &support::Ledger) -> Vec<u32> {
    ["heads.0", "heads.1", "heads.2", "heads.3"]
        .iter()
        .filter_map(|name| std::fs::read(ledger.dir().join("views").join(name)).ok())
        .map(|bytes| u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")))
        .collect()
}

/// True when there are heads slots and every one holds format `version`.
fn only(versions: &[u32], version: u32) -> bool {
    !versions.is_empty() && versions.iter().all(|v| *v == version)
}

/// True when every heads slot there is holds this build's format.
fn all_current(versions: &[u32]) -> bool {
    only(versions, FORMAT_VERSION)
}

#[test]
fn old_views_are_rebuilt_by_a_query() {
    for (old, version) in OLD_VIEWS {
        let ledger = support::Ledger::new();
        ledger.append(FIXTURE, true);
        let (card, balance) = (ledger.json(CARD), ledger.json(BALANCE));
        put_old_views(&ledger, old);
        assert!(only(&version_of(&ledger), version));
        assert_eq!(ledger.json(CARD), card);
        let versions = version_of(&ledger);
        assert!(all_current(&versions), "{versions:?}");
        assert_eq!(ledger.json(BALANCE), balance);
        assert_eq!(ledger.run(&["verify"]).code, 0);
        // Since format 6 the transactions' data JSON is stored compressed, since format 11
        // as what its record does not say.
        let size = |dir: &std::path::Path| {
            std::fs::metadata(dir.join("txndata.dat"))
                .expect("txndata.dat")
                .len()
        };
        let (old_size, new_size) = (
            size(std::path::Path::new(old)),
            size(&ledger.dir().join("views")),
        );
        if version < 6 {
            assert!(new_size * 3 < old_size * 2, "{new_size} against {old_size}");
        }
        let records = std::fs::metadata(ledger.dir().join("views/txns.dat"))
            .expect("txns.dat")
            .len()
            / TXN_RECORD_BYTES;
        // Format 10's frames were magicless (four bytes less for each transaction, all of
        // the fixture's stored compressed; smaller match tables may find other matches in
        // the dictionary, a byte either way).
        if (6..10).contains(&version) {
            assert!(
                new_size + 3 * records <= old_size,
                "{new_size} against {old_size}, {records} records"
            );
        }
        // Since format 11 a transaction's data is stored as what its record does not say
        // (the fixture's: 382 -> 281 bytes for 8 records).
        if version == 10 {
            assert!(
                new_size + 8 * records <= old_size,
                "{new_size} against {old_size}, {records} records"
            );
        }
    }
}

/// The register of an account reads every transaction's data (reference, description,
/// amount as written) through its stored form: the same answer from fresh views and from
/// views of format 5 rebuilt.
#[test]
fn a_register_reads_the_same_through_compressed_data() {
    let ledger = support::Ledger::new();
    ledger.append(FIXTURE, true);
    let args = ["txns", "globex-de", "--format", "json"];
    let fresh = ledger.json(&args);
    put_old_views(&ledger, OLD_VIEWS[2].0);
    assert_eq!(ledger.json(&args), fresh);
    assert!(fresh.to_string().contains("\"reference\""), "{fresh}");
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
        let versions = version_of(&ledger);
        assert!(all_current(&versions), "{versions:?}");
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
        assert!(
            only(&version_of(&ledger), version),
            "verify changes nothing"
        );
    }
}

/// Makes the dictionary of the views' stored transaction data
/// (`crates/arl-views/dict/txndata-1.zdict`) again: the data JSON of the transaction events
/// of a 40,000-event generated ledger (seed 42), a 16 KiB dictionary trained on them.
#[test]
#[ignore = "writes crates/arl-views/dict/txndata-1.zdict; run by hand to make it again"]
fn make_the_txndata_dictionary() {
    let ledger = support::Ledger::new();
    ledger.append(&support::generated(40_000, 42), true);
    let log = arl_log::Log::open(&ledger.dir().join("log")).expect("the log");
    let samples: Vec<Vec<u8>> = log
        .range(1, u64::MAX)
        .map(|envelope| envelope.expect("an envelope"))
        .filter(|envelope| envelope.kind.starts_with("transaction."))
        .map(|envelope| envelope.data.get().as_bytes().to_vec())
        .collect();
    let dictionary = zstd::dict::from_samples(&samples, 16 * 1024).expect("training");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/arl-views/dict/txndata-1.zdict");
    std::fs::write(path, dictionary).expect("writing the dictionary");
}
