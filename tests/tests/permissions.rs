//! The ledger's files are its owner's: the directory `arl` creates is mode 0700 (and so is
//! every directory it creates on the way), and no input makes it write outside the ledger
//! directory: identifiers and streams with `../`, absolute paths, NUL and very long ids are
//! rejected or stored as data, and nothing appears anywhere else.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{arl_binary, files, Ledger};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

const ONE_EVENT: &str = r#"{"type":"person.joined","data":{"person":"p1","name":"P"}}"#;

#[test]
fn the_ledger_directory_is_created_owner_only() {
    let ledger = Ledger::new();
    ledger.append(&format!("{ONE_EVENT}\n"), false);
    assert_eq!(mode(&ledger.dir()), 0o700, "the ledger directory");
    for sub in ["log", "views"] {
        assert_eq!(mode(&ledger.dir().join(sub)), 0o700, "{sub}/");
        // Their files are the owner's alone, whatever the umask.
        for (path, _) in files(&ledger.dir().join(sub)) {
            assert_eq!(
                mode(&path) & 0o077,
                0,
                "{} is open to others",
                path.display()
            );
        }
    }
    // Missing parents are created owner-only too.
    let nested = ledger.tmp.path().join("a/b/ledger");
    let run = support::run_arl(
        &nested,
        &[
            "append",
            "--type",
            "person.joined",
            "--data",
            r#"{"person":"p1","name":"P"}"#,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for dir in ["a", "a/b", "a/b/ledger"] {
        assert_eq!(mode(&ledger.tmp.path().join(dir)), 0o700, "{dir}");
    }
    // Whatever the umask, no file of the ledger is writable by others.
    for (path, _) in files(&ledger.dir()) {
        assert_eq!(
            mode(&path) & 0o002,
            0,
            "{} is world-writable",
            path.display()
        );
    }
}

#[test]
fn a_query_on_a_missing_ledger_creates_nothing() {
    let ledger = Ledger::new();
    for args in [
        &["account", "acme"][..],
        &["verify"],
        &["digest"],
        &["export"],
    ] {
        let run = ledger.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("no ledger"), "{args:?}: {}", run.stderr);
        assert!(
            !ledger.dir().exists(),
            "{args:?} created the ledger directory"
        );
    }
}

/// Everything under `root` except the ledger directory.
fn outside(root: &Path, ledger: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = entry.path();
            if path == ledger {
                continue;
            }
            if path.is_dir() {
                todo.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn no_input_writes_outside_the_ledger_directory() {
    let ledger = Ledger::new();
    let root = ledger.tmp.path().to_path_buf();
    let cwd = root.join("cwd");
    std::fs::create_dir(&cwd).expect("cwd");
    let escaped = root.join("escaped");
    let absolute = escaped.display().to_string();
    let long_id = "i".repeat(128);
    // Stored as data: event ids (any printable ASCII), actors, reasons, names.
    let stored = [
        format!(r#"{{"id":"../../escaped","type":"person.joined","data":{{"person":"p1","name":"../../escaped"}},"actor":"../escaped","reason":"{absolute}"}}"#),
        format!(r#"{{"id":"{absolute}","type":"person.joined","data":{{"person":"p2","name":"{absolute}"}}}}"#),
        r#"{"id":"..","type":"person.joined","data":{"person":"p3","name":"nul\u0000name"}}"#.to_string(),
        format!(r#"{{"id":"{long_id}","type":"account.opened","data":{{"account":"{}","name":"/","scope":"global"}}}}"#, "a".repeat(64)),
        r#"{"id":"a/../../../escaped","type":"account.opened","data":{"account":"a..b","name":"..","scope":"global","country":"DE"}}"#.to_string(),
    ];
    let input = ledger.write("stored.jsonl", &(stored.join("\n") + "\n"));
    let run = Command::new(arl_binary())
        .current_dir(&cwd)
        .arg("--ledger")
        .arg(ledger.dir())
        .args(["append", "--actor", "../../escaped", &input])
        .output()
        .expect("arl append");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Rejected: identifiers that are paths, NUL, too long.
    let rejected = [
        r#"{"type":"person.joined","data":{"person":"../escaped","name":"X"}}"#.to_string(),
        format!(r#"{{"type":"person.joined","data":{{"person":"{absolute}","name":"X"}}}}"#),
        r#"{"type":"person.joined","data":{"person":"a/b","name":"X"}}"#.to_string(),
        r#"{"type":"person.joined","data":{"person":"a\u0000b","name":"X"}}"#.to_string(),
        format!(r#"{{"type":"person.joined","data":{{"person":"{}","name":"X"}}}}"#, "p".repeat(65)),
        format!(r#"{{"id":"{}","type":"person.joined","data":{{"person":"p9","name":"X"}}}}"#, "i".repeat(129)),
        r#"{"id":"nul\u0000id","type":"person.joined","data":{"person":"p9","name":"X"}}"#.to_string(),
        r#"{"type":"account.opened","data":{"account":"x","name":"X","scope":"global","parent":"../acme"}}"#.to_string(),
    ];
    for (n, line) in rejected.iter().enumerate() {
        let input = ledger.write(&format!("rejected-{n}.jsonl"), &format!("{line}\n"));
        let run = Command::new(arl_binary())
            .current_dir(&cwd)
            .arg("--ledger")
            .arg(ledger.dir())
            .args(["append", &input])
            .output()
            .expect("arl append");
        assert_eq!(
            run.status.code(),
            Some(1),
            "{line}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    // Queries that take ids from the command line, with the same names.
    for args in [
        &["account", "../escaped"][..],
        &["history", absolute.as_str()],
        &["portfolio", "../../escaped"],
        &["log", "--stream", "account/../../escaped"],
    ] {
        let run = Command::new(arl_binary())
            .current_dir(&cwd)
            .arg("--ledger")
            .arg(ledger.dir())
            .args(args)
            .output()
            .expect("arl query");
        assert!(
            matches!(run.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }

    assert!(!escaped.exists(), "something was written at {absolute}");
    assert_eq!(
        std::fs::read_dir(&cwd).expect("cwd").count(),
        0,
        "files in the working directory"
    );
    let mut expected: Vec<PathBuf> = vec![cwd.clone(), root.join("stored.jsonl")];
    expected.extend((0..rejected.len()).map(|n| root.join(format!("rejected-{n}.jsonl"))));
    expected.sort();
    assert_eq!(
        outside(&root, &ledger.dir()),
        expected,
        "files outside the ledger"
    );
    // The odd ids are data: stored, exported and verified like any other.
    let export = ledger.run(&["export"]);
    assert_eq!(export.code, 0);
    assert!(
        export.stdout.contains(r#""id":"../../escaped""#),
        "{}",
        export.stdout
    );
    assert!(export.stdout.contains(&format!(r#""id":"{long_id}""#)));
    assert!(
        export.stdout.contains(r#""name":"nul\u0000name""#),
        "{}",
        export.stdout
    );
    assert_eq!(ledger.run(&["verify", "--quiet"]).code, 0);
}
