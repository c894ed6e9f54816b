//! What the reliability tests share: the `arl` binary of this workspace and a ledger in a
//! temporary directory to run it on.

#![allow(dead_code)] // each test file uses a different part

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `arl` binary of this workspace, built (quietly, in this test's profile) once per
/// test executable: this package cannot name a binary of another package as a dependency.
pub fn arl_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_arl).clone()
}

fn build_arl() -> PathBuf {
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
    assert!(
        binary.is_file(),
        "no arl binary at {}; build it with cargo build -p arl-cli",
        binary.display()
    );
    binary
}

/// One finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A ledger directory (`<tmp>/ledger`) inside a temporary directory that also holds the
/// test's input files.
pub struct Ledger {
    pub tmp: tempfile::TempDir,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger {
            tmp: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("ledger")
    }

    /// Writes `text` to a file next to the ledger; returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, text).expect("writing an input file");
        path.to_string_lossy().into_owned()
    }

    /// Runs `arl --ledger <dir> ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        run_arl(&self.dir(), args)
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let run = self.run(args);
        assert_eq!(run.code, 0, "arl {args:?}: {}", run.stderr);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("arl {args:?} printed no JSON ({e}): {}", run.stdout))
    }

    /// Appends `lines` (JSON Lines) in one call, which must succeed.
    pub fn append(&self, lines: &str, imported: bool) {
        let file = self.write("append-input.jsonl", lines);
        let mut args = vec!["append", "--quiet", file.as_str()];
        if imported {
            args.push("--imported");
        }
        let run = self.run(&args);
        assert_eq!(run.code, 0, "append failed: {}", run.stderr);
    }

    /// `arl digest` as text (seq, head, root, recorded_at).
    pub fn digest(&self) -> String {
        let run = self.run(&["digest"]);
        assert_eq!(run.code, 0, "digest failed: {}", run.stderr);
        run.stdout
    }
}

/// Runs `arl --ledger DIR ARGS` with no ledger from the environment and no colour.
pub fn run_arl(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(arl_binary())
        .arg("--ledger")
        .arg(dir)
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

/// The first `n` lines of the deterministic generator (with `recorded_at`, for
/// `arl append --imported`), newline-terminated.
pub fn generated(n: u64, seed: u64) -> String {
    arl_gen::Generator::new(arl_gen::Config::new(n, seed))
        .map(|l| l + "\n")
        .collect()
}

/// Every file under `dir`, recursively, with its bytes.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a copy's directory");
    for entry in std::fs::read_dir(from)
        .expect("reading a directory")
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a file");
        }
    }
}
