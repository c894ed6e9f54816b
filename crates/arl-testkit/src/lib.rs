//! What the tests that drive the `arl` binary share (those of `arl-cli` and of `tests/`):
//! the binary of this workspace, a ledger in a temporary directory to run it on, the runs,
//! and the small fixture; [`Served`], a running `arl serve`, and [`http`], the HTTP/1.1 client
//! the tests talk to it (and to a WebDriver server) with.

pub mod http;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

/// The small fixture: people, reporting lines (solid and dotted), two accounts, a team,
/// a contact, transactions in EUR and JPY, a reversal, a late transaction and a late
/// `person.left` that makes an earlier assignment skipped.
pub const SMALL: &str = include_str!("../fixtures/small.jsonl");

/// A ledger directory (`<tmp>/ledger`, not created until the first append) inside a
/// temporary directory that also holds the test's input files.
pub struct Ledger {
    pub tmp: tempfile::TempDir,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new()
    }
}

impl Ledger {
    /// No ledger yet.
    pub fn new() -> Ledger {
        Ledger {
            tmp: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// No ledger yet (the name the command-line tests use).
    pub fn empty() -> Ledger {
        Ledger::new()
    }

    /// The small fixture appended with `--imported`.
    pub fn small() -> Ledger {
        let ledger = Ledger::new();
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

    /// Writes `text` to a file next to the ledger; returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, text).expect("writing an input file");
        path.to_string_lossy().into_owned()
    }

    /// A file in the temporary directory, written; returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        PathBuf::from(self.write(name, text))
    }

    /// Runs `arl --ledger <dir> ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        run_arl(&self.dir(), args)
    }

    /// Runs `arl --ledger <dir> ARGS` with `stdin` on its standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        run_arl_with_input(&self.dir(), args, stdin)
    }

    /// Runs and compares the exit code and standard output exactly (the golden output).
    pub fn check(&self, args: &[&str], code: i32, stdout: &str) {
        let run = self.run(args);
        assert_eq!(run.code, code, "exit of {args:?}; stderr: {}", run.stderr);
        assert_eq!(run.stdout, stdout, "stdout of {args:?}");
    }

    /// Runs, expects exit `code` with nothing on stdout and `message` in stderr.
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
    run_arl_with_input(dir, args, "")
}

/// [`run_arl`] with `stdin` on the standard input.
pub fn run_arl_with_input(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(arl_binary())
        .arg("--ledger")
        .arg(dir)
        .args(args)
        .env_remove("ARL_LEDGER")
        .env("NO_COLOR", "1")
        .env("USER", "tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running arl");
    let mut input = child.stdin.take().expect("arl's standard input");
    let stdin = stdin.as_bytes().to_vec();
    // Written on a thread: arl may print (and fill its pipe) before it has read everything.
    let writer = std::thread::spawn(move || {
        // arl may exit without reading its input (a usage error): not this test's concern.
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("waiting for arl");
    writer.join().expect("writing arl's standard input");
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

/// A running `arl serve --listen 127.0.0.1:0` (the server picks a free port and prints its
/// address first), killed when dropped.
pub struct Served {
    child: Option<std::process::Child>,
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

impl Served {
    /// Starts `arl --ledger DIR serve --listen 127.0.0.1:0 EXTRA…` and waits up to `wait`
    /// for the address it prints.
    pub fn start(dir: &Path, extra: &[&str], wait: std::time::Duration) -> Served {
        Served::start_logging(dir, extra, wait, "warn", Stdio::inherit())
    }

    /// [`Served::start`] with `ARL_LOG=log` and its standard error going to `stderr`.
    pub fn start_logging(
        dir: &Path,
        extra: &[&str],
        wait: std::time::Duration,
        log: &str,
        stderr: Stdio,
    ) -> Served {
        let mut child = Command::new(arl_binary())
            .arg("--ledger")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("ARL_LOG", log)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting arl serve");
        let stdout = child.stdout.take().expect("arl serve's standard output");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            // A server that dies before printing closes the pipe: the wait below says so.
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
            let _ = sender.send(line);
        });
        // Killed on drop, even when the checks below fail.
        let mut served = Served {
            child: Some(child),
            addr: String::new(),
        };
        let line = receiver
            .recv_timeout(wait)
            .expect("arl serve printed its address");
        served.addr = line
            .trim()
            .rsplit("://")
            .next()
            .expect("an address")
            .to_string();
        assert!(served.addr.starts_with("127.0.0.1:"), "{line}");
        served
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends the signal `name` (`TERM`, `KILL`, …) to the server.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits up to `wait` for the server to exit; its exit code.
    pub fn wait_exit(&mut self, wait: std::time::Duration) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(status) = child.try_wait().expect("waiting") {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already gone is fine: the point is that no server outlives its test.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The PostgreSQL server the store tests use: `$ARL_TEST_PG`, else
/// `postgres://root@127.0.0.1:5432` (no database in the URL).
pub fn pg_base_url() -> String {
    std::env::var("ARL_TEST_PG")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// A database of its own for one test (`arl_t_<pid>_<n>`), created through the
/// `postgres` database and dropped (with its connections) when this is dropped. A test
/// that cannot reach PostgreSQL fails here, saying so: it is never skipped.
pub struct PgDatabase {
    pub name: String,
    /// `postgres://…/<name>`, for `--store`.
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("arl_t_{}_{n}", std::process::id());
        let base = pg_base_url();
        let mut admin = pg_admin(&base);
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        // Databases created at once from the same template may collide: retry a little.
        let mut tries = 0;
        while let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
            tries += 1;
            let message = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string());
            assert!(
                tries < 50,
                "creating the test database {name} on {base}: {message}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        PgDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

/// A connection to the `postgres` database of the test server; panics, saying that
/// PostgreSQL is unreachable, when it is.
pub fn pg_admin(base: &str) -> postgres::Client {
    let url = format!("{base}/postgres");
    let mut last = None;
    // A server that is restarting (the restart test) answers again within seconds.
    for _ in 0..60 {
        match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(client) => return client,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!(
        "PostgreSQL is unreachable at {url} ({}); the store tests need it: start it (pg_ctlcluster 15 main start) or set ARL_TEST_PG",
        last.map(|e| e.to_string()).unwrap_or_default()
    )
}

impl PgDatabase {
    /// The ids of the envelopes of the log in this database, in seq order, read through
    /// `arl --store URL export` run in `dir` (any directory: the command needs no views).
    pub fn exported_ids(&self, dir: &Path) -> Vec<String> {
        let export = run_arl(dir, &["--store", &self.url, "export"]);
        assert_eq!(export.code, 0, "arl --store export: {}", export.stderr);
        export
            .stdout
            .lines()
            .map(|line| {
                let envelope: Value = serde_json::from_str(line).expect("an exported line");
                envelope["id"]
                    .as_str()
                    .expect("an envelope's id")
                    .to_string()
            })
            .collect()
    }
}

/// After a crash or a restart under appends of batches of three (ids `<batch>-<j>`): every
/// acknowledged id is in `ids`, and the ids `batched` selects come in whole batches.
pub fn assert_no_loss_no_half_batch(
    ids: &[String],
    acknowledged: &[String],
    batched: impl Fn(&str) -> bool,
) {
    for id in acknowledged {
        assert!(ids.contains(id), "acknowledged {id} is lost");
    }
    let mut per_batch = std::collections::BTreeMap::<&str, usize>::new();
    for id in ids.iter().filter(|id| batched(id)) {
        let batch = id.split('-').next().unwrap_or(id);
        *per_batch.entry(batch).or_default() += 1;
    }
    assert!(
        per_batch.values().all(|n| *n == 3),
        "a half batch: {per_batch:?}"
    );
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let base = pg_base_url();
        if let Ok(mut admin) =
            postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
        {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
