//! Whole processes timed from start to exit, with their peak resident memory.
//!
//! The memory comes from GNU time (`/usr/bin/time -f %M`), which forks the process: the
//! kernel's peak for a process started straight from this one (`posix_spawn`, sharing this
//! process's memory until `exec`) would count this process's own peak too. Without
//! `/usr/bin/time` it is `wait4`'s `ru_maxrss`, an upper bound (see [`ProcessRun`]).

use anyhow::{anyhow, Context, Result};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

/// One run of a whole process.
#[derive(Debug, Clone)]
pub struct ProcessRun {
    /// From spawning to reaping, in milliseconds.
    pub wall_ms: f64,
    /// Peak resident memory, in megabytes (10^6 bytes).
    pub max_rss_mb: f64,
    /// False when the peak is `wait4`'s, which may include this process's own.
    pub rss_exact: bool,
    pub stdout: String,
}

/// Runs `cmd` with `input` on its standard input; an exit other than 0 is an error that
/// quotes the process's standard error.
pub fn run_measured(cmd: &mut Command, input: &[u8]) -> Result<ProcessRun> {
    let time = std::path::Path::new(GNU_TIME);
    if !time.is_file() {
        return run_reaped(cmd, input);
    }
    let report = tempfile::NamedTempFile::new().context("a file for time's report")?;
    let mut timed = Command::new(time);
    timed
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let mut run = run_reaped(&mut timed, input)?;
    let text = std::fs::read_to_string(report.path()).context("time's report")?;
    let max_rss_kb: f64 = text
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .with_context(|| format!("time's report {text:?}"))?;
    run.max_rss_mb = max_rss_kb * 1024.0 / 1e6;
    run.rss_exact = true;
    Ok(run)
}

/// GNU time, which reports the peak resident memory of the process it forks.
const GNU_TIME: &str = "/usr/bin/time";

/// [`run_measured`] without GNU time: the peak is `wait4`'s.
fn run_reaped(cmd: &mut Command, input: &[u8]) -> Result<ProcessRun> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("start {cmd:?}"))?;
    let mut stdin = child.stdin.take().context("the child's standard input")?;
    stdin.write_all(input).context("write the child's input")?;
    drop(stdin);
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .context("the child's standard output")?
        .read_to_string(&mut stdout)?;
    child
        .stderr
        .take()
        .context("the child's standard error")?
        .read_to_string(&mut stderr)?;
    let (status, max_rss_kb) = reap(child.id()).context("wait for the child")?;
    let wall_ms = start.elapsed().as_secs_f64() * 1e3;
    if status != 0 {
        return Err(anyhow!(
            "{cmd:?} exited with status {status}: {}",
            stderr.trim()
        ));
    }
    Ok(ProcessRun {
        wall_ms,
        max_rss_mb: max_rss_kb as f64 * 1024.0 / 1e6,
        rss_exact: false,
        stdout,
    })
}

/// Waits for the child `pid` (not reaped yet) and returns its exit code (-1 when a signal
/// ended it) and its peak resident memory in KiB.
#[allow(unsafe_code)]
fn reap(pid: u32) -> std::io::Result<(i32, u64)> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, for which all zeros is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types; `pid` is our own
        // child, which nothing else waits for.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((code, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}
