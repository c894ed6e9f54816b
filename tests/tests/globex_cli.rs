//! The worked Globex example through the real `arl` binary: the fixture appended with
//! `arl append --imported`, then every command of `globex.expected.json` run as a process,
//! comparing exit codes and the parsed JSON on standard output.
//!
//! The fixture lists one event out of record-time order (line 16, `globex-de-south` opened,
//! recorded 2023-02-01, comes before lines 17-21, recorded 2023-01-09..16). Contract §4 says
//! imported `recorded_at` must not decrease, so the binary rejects the file as it is (checked
//! here: line 17 named, the ledger unchanged) and the test appends it sorted by `recorded_at`
//! (stable). Sorting moves line 16 to seq 21, so `--at-seq N` of the expected file, which
//! counts file lines, is translated to the shortest prefix of the sorted ledger that holds
//! file lines 1..=N (20 becomes 21; the extra event, line 21, is on another account).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
const EXPECTED: &str = include_str!("../fixtures/globex.expected.json");

fn recorded_at(line: &str) -> String {
    let value: Value = serde_json::from_str(line).expect("fixture line is JSON");
    value["recorded_at"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// File lines (1-based) in record-time order: seq `i + 1` of the sorted ledger holds file
/// line `order[i]`.
fn sorted_order(lines: &[&str]) -> Vec<usize> {
    let mut order: Vec<usize> = (1..=lines.len()).collect();
    order.sort_by_key(|&n| recorded_at(lines[n - 1]));
    order
}

fn translate_at_seq(args: &[String], order: &[usize]) -> Vec<String> {
    let mut out = args.to_vec();
    if let Some(i) = out.iter().position(|a| a == "--at-seq") {
        let n: usize = out[i + 1].parse().expect("--at-seq takes a number");
        let covering = order
            .iter()
            .rposition(|&line| line <= n)
            .map_or(0, |p| p + 1);
        out[i + 1] = covering.to_string();
    }
    out
}

#[test]
fn globex_example_through_the_binary() {
    let lines: Vec<&str> = FIXTURE.lines().filter(|l| !l.trim().is_empty()).collect();
    let ledger = Ledger::new();
    let fixture = ledger.write("globex.jsonl", FIXTURE);

    // As given, the file breaks the imported-time rule: rejected, nothing appended.
    let rejected = ledger.run(&["append", "--imported", fixture.as_str()]);
    assert_eq!(rejected.code, 1, "{}", rejected.stderr);
    assert!(rejected.stderr.contains("line 17:"), "{}", rejected.stderr);
    assert!(
        rejected.stderr.contains("recorded_at"),
        "{}",
        rejected.stderr
    );
    assert_eq!(ledger.json(&["digest"])["seq"], 0);

    let order = sorted_order(&lines);
    let sorted: String = order
        .iter()
        .map(|&n| format!("{}\n", lines[n - 1]))
        .collect();
    let sorted_path = ledger.write("globex.sorted.jsonl", &sorted);
    let appended = ledger.run(&[
        "append",
        "--imported",
        sorted_path.as_str(),
        "--format",
        "json",
    ]);
    assert_eq!(appended.code, 0, "{}", appended.stderr);
    let summary: Value = serde_json::from_str(&appended.stdout).expect("append prints JSON");
    assert_eq!(summary["appended"], lines.len() as u64);
    assert_eq!(summary["duplicates"], 0);

    let cases: Vec<Value> = serde_json::from_str(EXPECTED).expect("expected file is JSON");
    assert!(cases.len() >= 10);
    for case in &cases {
        let args: Vec<String> = case["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("arg").to_string())
            .collect();
        let args = translate_at_seq(&args, &order);
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

/// The `arl` binary of this workspace, built (quietly, in this test's profile) if needed:
/// this package cannot name a binary of another package as a dependency.
fn arl_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "arl-cli", "--bin", "arl"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .expect("running cargo build for the arl binary");
    assert!(status.success(), "cargo build -p arl-cli failed");
    let binary = profile_dir.join(format!("arl{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "no arl binary at {}", binary.display());
    binary
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
            binary: arl_binary(),
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
