//! huge_pages: a command runs without transparent huge pages (each touched 2 MiB of the
//! allocator's arena would otherwise be made resident and zeroed); `arl serve` gets back
//! the setting it was started with. Read from `/proc/PID/status` (`THP_enabled`, Linux 5.0
//! and later) of the running processes.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{arl_binary, Served};

/// `THP_enabled` of process `pid`, `None` when it cannot be read (the process is gone).
fn huge_pages_enabled(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
    Some(line.split_whitespace().nth(1)? == "1")
}

/// Reads `pid`'s setting until it is `want` or 10 s have passed; the last value read.
fn wait_for(pid: u32, want: bool) -> Option<bool> {
    let start = Instant::now();
    loop {
        let now = huge_pages_enabled(pid);
        if now == Some(want) || start.elapsed() > Duration::from_secs(10) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_command_runs_without_huge_pages_and_the_server_keeps_its_setting() {
    let inherited = huge_pages_enabled(std::process::id())
        .expect("this kernel reports THP_enabled in /proc/self/status");
    let ledger = tempfile::tempdir().expect("temporary directory");
    // `arl append -` waits for its standard input to end: it is read meanwhile.
    let mut append = Command::new(arl_binary())
        .arg("--ledger")
        .arg(ledger.path())
        .args(["append", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting arl append");
    let seen = wait_for(append.id(), false);
    let line = r#"{"type":"person.joined","data":{"person":"p1","name":"P One"}}"#;
    let mut stdin = append.stdin.take().expect("its standard input");
    writeln!(stdin, "{line}").expect("writing a line");
    drop(stdin);
    let out = append.wait_with_output().expect("arl append ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seen, Some(false), "a command runs without huge pages");

    let served = Served::start(ledger.path(), &[], Duration::from_secs(30));
    assert_eq!(
        huge_pages_enabled(served.pid()),
        Some(inherited),
        "the server has the setting it was started with"
    );
}
