//! The worked Globex example through the real `arl` binary: the fixture appended with
//! `arl append --imported`, then every command of `globex.expected.json` run as a process,
//! comparing exit codes and the parsed JSON on standard output.
//!
//! The fixture lists one event out of record-time order (line 16, `globex-de-south` opened,
//! recorded 2023-02-01, comes before lines 17-21, recorded 2023-01-09..16). Imported lines
//! may go back in record time within one batch (docs/TIME.md); they keep their input order as
//! seq, so `--at-seq 20` means the first 20 lines of the file, as the expected answers assume.

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
const EXPECTED: &str = include_str!("../fixtures/globex.expected.json");

#[test]
fn globex_example_through_the_binary() {
    let lines: Vec<&str> = FIXTURE.lines().filter(|l| !l.trim().is_empty()).collect();
    let ledger = Ledger::new();
    let fixture = ledger.write("globex.jsonl", FIXTURE);

    let appended = ledger.run(&["append", "--imported", fixture.as_str(), "--format", "json"]);
    assert_eq!(appended.code, 0, "{}", appended.stderr);
    let summary: Value = serde_json::from_str(&appended.stdout).expect("append prints JSON");
    assert_eq!(summary["appended"], lines.len() as u64);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(ledger.json(&["digest"])["seq"], lines.len() as u64);

    let cases: Vec<Value> = serde_json::from_str(EXPECTED).expect("expected file is JSON");
    assert!(cases.len() >= 10);
    for case in &cases {
        let args: Vec<String> = case["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("arg").to_string())
            .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = ledger.run(&refs);
        assert_eq!(
            i64::from(run.code),
            case["exit"].as_i64().expect("exit"),
            "exit of {args:?}: {}",
            run.stderr
        );
        if run.code == 0 {
            let stdout: Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
            assert_eq!(stdout, case["stdout"], "stdout of {args:?}");
        } else {
            assert!(run.stdout.is_empty(), "stdout of {args:?}: {}", run.stdout);
            assert!(!run.stderr.is_empty(), "stderr of {args:?}");
        }
    }
    // The ledger verifies after all that.
    assert_eq!(ledger.run(&["verify"]).code, 0);
}

/// `arl team --timeline`: Chen's holding on globex-de ends on 30 June, recorded (back-dated)
/// on 7 July; known at 5 July it has no end yet.
#[test]
fn team_timeline_shows_when_the_end_was_learned() {
    let ledger = Ledger::new();
    let fixture = ledger.write("globex.jsonl", FIXTURE);
    let appended = ledger.run(&["append", "--imported", fixture.as_str()]);
    assert_eq!(appended.code, 0, "{}", appended.stderr);
    let ask = |known_at: &[&str]| {
        let mut args = vec!["team", "globex-de", "--timeline", "--from", "2023-01-01"];
        args.extend(["--to", "2023-12-31", "--format", "json"]);
        args.extend(known_at);
        let answer = ledger.json(&args);
        answer["intervals"]
            .as_array()
            .expect("intervals")
            .iter()
            .find(|i| i["person"] == "chen")
            .cloned()
            .expect("chen is on the timeline")
    };
    let chen = ask(&[]);
    assert_eq!(chen["valid_to"], "2023-06-30T00:00:00.000000Z");
    assert_eq!(chen["end_recorded_at"], "2023-07-07T09:00:00.000000Z");
    assert_eq!(chen["end_type"], "person.left");
    assert_eq!(chen["end_backdated"], true);
    assert_eq!(chen["start_backdated"], false);
    let earlier = ask(&["--known-at", "2023-07-05"]);
    assert_eq!(earlier["valid_to"], Value::Null);
    assert_eq!(earlier["end_backdated"], false);
    let csv = ledger.run(&["team", "globex-de", "--timeline", "--format", "csv"]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert!(csv
        .stdout
        .starts_with("role,person,name,primary,valid_from,valid_to,"));
    let reversed = ledger.run(&[
        "team",
        "globex-de",
        "--timeline",
        "--from",
        "2023-12-01",
        "--to",
        "2023-01-01",
    ]);
    assert_eq!(reversed.code, 2, "{}", reversed.stderr);
    assert!(reversed.stderr.contains("give --from on or before --to"));
    let with_as_of = ledger.run(&["team", "globex-de", "--timeline", "--as-of", "2023-07-01"]);
    assert_eq!(with_as_of.code, 2, "{}", with_as_of.stderr);
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A fresh ledger in a temporary directory, and the binary that works on it.
struct Ledger {
    dir: tempfile::TempDir,
    binary: PathBuf,
}

impl Ledger {
    fn new() -> Ledger {
        Ledger {
            dir: tempfile::tempdir().expect("temporary directory"),
            binary: support::arl_binary(),
        }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("writing a fixture copy");
        path.to_string_lossy().into_owned()
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(&self.binary)
            .arg("--ledger")
            .arg(self.dir.path().join("ledger"))
            .args(args)
            .env_remove("ARL_LEDGER")
            .env("NO_COLOR", "1")
            .output()
            .expect("running arl");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn json(&self, args: &[&str]) -> Value {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        serde_json::from_str(&run.stdout).expect("stdout is JSON")
    }
}
