//! What the CLI tests share: a ledger in a temporary directory and one way to run `arl`.

#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The small fixture: people, reporting lines (solid and dotted), two accounts, a team,
/// a contact, transactions in EUR and JPY, a reversal, a late transaction and a late
/// `person.left` that makes an earlier assignment skipped.
pub const SMALL: &str = include_str!("../fixtures/small.jsonl");

/// The result of one run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A ledger directory (not created until the first append) inside a temporary directory.
pub struct Ledger {
    pub tmp: tempfile::TempDir,
}

impl Ledger {
    /// No ledger yet.
    pub fn empty() -> Ledger {
        Ledger {
            tmp: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The small fixture appended with `--imported`.
    pub fn small() -> Ledger {
        let ledger = Ledger::empty();
        let run = ledger.run_stdin(&["append", "--imported", "-"], SMALL);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            run.stdout,
            "appended 21, skipped 0 duplicates, head seq 21 5c4ec9860856\n"
        );
        ledger
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("ledger")
    }

    /// A file in the temporary directory, written.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, text).expect("writing a test file");
        path
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::cargo_bin("arl").expect("the arl binary");
        cmd.arg("--ledger")
            .arg(self.dir())
            .env_remove("ARL_LEDGER")
            .env("NO_COLOR", "1")
            .env("USER", "tester");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, "")
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let output = self
            .command()
            .args(args)
            .write_stdin(stdin.as_bytes().to_vec())
            .output()
            .expect("running arl");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs and compares the exit code and standard output exactly (the golden output).
    pub fn check(&self, args: &[&str], code: i32, stdout: &str) {
        let run = self.run(args);
        assert_eq!(run.code, code, "exit of {args:?}; stderr: {}", run.stderr);
        assert_eq!(run.stdout, stdout, "stdout of {args:?}");
    }

    /// Runs, expects exit 1 or more with nothing on stdout and `message` in stderr.
    pub fn check_error(&self, args: &[&str], code: i32, message: &str) {
        let run = self.run(args);
        assert_eq!(run.code, code, "exit of {args:?}; stderr: {}", run.stderr);
        assert_eq!(run.stdout, "", "stdout of {args:?}");
        assert!(
            run.stderr.contains(message),
            "stderr of {args:?} lacks {message:?}: {}",
            run.stderr
        );
    }

    /// Runs expecting success and parses stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let run = self.run(args);
        assert_eq!(run.code, 0, "exit of {args:?}; stderr: {}", run.stderr);
        serde_json::from_str(&run.stdout).expect("stdout is JSON")
    }

    /// The digest, as text.
    pub fn digest(&self) -> String {
        let run = self.run(&["digest"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    }
}

/// Every file below `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
