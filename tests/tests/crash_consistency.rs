//! `crash_consistency`: processes that append are killed with SIGKILL at random moments
//! (inside an append, between appends, while a restarted writer recovers), and after each
//! kill the ledger is reopened and checked:
//!
//! - every acknowledged head is still there with the same hash (the hash chain commits to
//!   every event before it, so this covers every acknowledged event), and so is every head
//!   a reopened ledger ever showed;
//! - the head is the last acknowledged one or the end of the batch in flight: no part of an
//!   unacknowledged batch is visible, in the log or in the views;
//! - `arl verify` passes (hash chain, Merkle tree, views against the log);
//! - the views, brought up to the log, are byte for byte the views a replay of the log
//!   builds;
//! - at the end, every stored event is the generator line of its seq, and the binary's
//!   answers (`arl export`, `arl balance`, `arl accounts`) are the same before and after
//!   `arl replay`.
//!
//! `ARL_CRASH_KILLS` sets the number of kills (default 20); `ARL_CRASH_SEED` repeats a run
//! (the seed is printed on failure).

mod support;

use arl_domain::InputEvent;
use arl_views::{Ledger, ViewError, ViewReader, LOG_DIR, VIEWS_DIR};
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{files, run_arl};

const KILLS_DEFAULT: u64 = 20;
/// Largest batch the child appends.
const BATCH_MAX: u64 = 64;
/// Longest a child runs after opening the ledger before it is killed, in ms.
const RUN_MS_MAX: u64 = 120;
const LOCK_WAIT: Duration = Duration::from_secs(30);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// What one child printed before it died.
#[derive(Debug, Default)]
struct ChildLog {
    open: Option<(u64, String)>,
    acks: Vec<(u64, String)>,
    /// The end seq of the batch that was in flight when the child died, if one was.
    in_flight: Option<u64>,
}

fn parse_child_output(lines: &[String]) -> ChildLog {
    let mut log = ChildLog::default();
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["open", seq, hash] => {
                log.open = Some((seq.parse().expect("open seq"), hash.to_string()));
            }
            ["begin", last] => log.in_flight = Some(last.parse().expect("begin seq")),
            ["ack", seq, hash] => {
                let seq: u64 = seq.parse().expect("ack seq");
                assert_eq!(log.in_flight, Some(seq), "ack of a batch never begun");
                log.in_flight = None;
                log.acks.push((seq, hash.to_string()));
            }
            _ => panic!("unexpected line from the crash child: {line:?}"),
        }
    }
    log
}

/// Runs the child until a random moment, kills it with SIGKILL, returns what it printed.
fn run_and_kill(dir: &Path, seed: u64, rng: &mut arl_gen::rng::Rng) -> ChildLog {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arl-crash-child"))
        .arg(dir)
        .arg(seed.to_string())
        .arg(BATCH_MAX.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the crash child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    if rng.below(5) == 0 {
        // Early: while the child opens the ledger and recovers from the last kill.
        std::thread::sleep(Duration::from_millis(rng.below(40)));
    } else {
        let started = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.starts_with("open ") => break,
                Ok(_) => {}
                Err(_) => break, // exited or stuck: the checks below say which
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "child never opened"
            );
        }
        std::thread::sleep(Duration::from_millis(rng.below(RUN_MS_MAX + 1)));
    }
    let _ = child.kill(); // SIGKILL
    let status = child.wait().expect("waiting for the child");
    let lines = reader.join().expect("reader thread");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(
        status.code().is_none(),
        "the child exited by itself ({status}) instead of being killed: {stderr}"
    );
    parse_child_output(&lines)
}

/// Bytes of every view data file, by name relative to the views directory, and the decoded
/// current heads. (The heads files are compared decoded, without their generation: which
/// heads slot holds the current heads depends on how many commits wrote them.)
fn view_bytes(dir: &Path) -> (Vec<(PathBuf, Vec<u8>)>, String) {
    let views = dir.join(VIEWS_DIR);
    let data = files(&views)
        .into_iter()
        .map(|(p, b)| {
            (
                p.strip_prefix(&views).expect("under views").to_path_buf(),
                b,
            )
        })
        .filter(|(p, _)| !p.to_string_lossy().starts_with("heads"))
        .collect();
    let reader = ViewReader::open(&views).expect("the views open");
    let mut heads = reader.heads().clone();
    heads.generation = 0; // counts commits, which a replay makes fewer of
    (data, format!("{heads:?}"))
}

/// The views' checkpoint as a reader sees it right after the crash (before any recovery).
fn views_checkpoint(dir: &Path) -> u64 {
    match ViewReader::open(&dir.join(VIEWS_DIR)) {
        Ok(reader) => reader.heads().checkpoint,
        Err(ViewError::Missing { .. }) => 0,
        Err(e) => panic!("the views are unreadable after a kill: {e}"),
    }
}

struct Tracker {
    /// The newest head known to be durable: acknowledged, or shown by a reopened ledger.
    durable: (u64, String),
    /// Every head ever acknowledged or shown after a reopen (batch boundaries).
    boundaries: BTreeSet<u64>,
    acked_total: u64,
    in_flight_committed: u64,
    in_flight_rolled_back: u64,
    views_behind: u64,
}

fn check_after_kill(dir: &Path, run: &ChildLog, t: &mut Tracker, kill: u64, seed: u64) {
    let ctx = format!("kill {kill} (ARL_CRASH_SEED={seed})");
    if let Some((seq, hash)) = &run.open {
        assert_eq!(
            (seq, hash),
            (&t.durable.0, &t.durable.1),
            "{ctx}: the child reopened at another head than the one recovered before"
        );
    }
    if let Some(last) = run.acks.last() {
        t.durable = last.clone();
    }
    for (seq, _) in &run.acks {
        t.boundaries.insert(*seq);
    }
    t.acked_total += run.acks.len() as u64;
    let views_at_crash = views_checkpoint(dir);

    let verify = run_arl(dir, &["verify", "--quiet"]);
    if dir.join(LOG_DIR).is_dir() {
        assert_eq!(verify.code, 0, "{ctx}: arl verify: {}", verify.stderr);
    } else {
        // Killed before its first open created the log (the first kill may come within
        // milliseconds): there is no ledger yet, and nothing can have been acknowledged.
        assert_eq!(t.durable.0, 0, "{ctx}: no log, yet a head was acknowledged");
        assert!(
            verify.code == 1 && verify.stderr.contains("no ledger"),
            "{ctx}: arl verify without a log: {}",
            verify.stderr
        );
    }

    let mut ledger = Ledger::open(dir, LOCK_WAIT)
        .unwrap_or_else(|e| panic!("{ctx}: the ledger does not reopen: {e}"));
    let head = ledger.log().head();
    let expected: Vec<u64> = std::iter::once(t.durable.0).chain(run.in_flight).collect();
    assert!(
        expected.contains(&head.seq),
        "{ctx}: head seq {} after the kill; acknowledged {}, in flight {:?}: part of a batch is visible or an acknowledged one is lost",
        head.seq,
        t.durable.0,
        run.in_flight
    );
    if t.durable.0 > 0 {
        let stored = ledger
            .log()
            .get(t.durable.0)
            .expect("reading the acknowledged head")
            .unwrap_or_else(|| panic!("{ctx}: acknowledged seq {} is gone", t.durable.0));
        assert_eq!(
            arl_log::hex(&stored.hash),
            t.durable.1,
            "{ctx}: acknowledged seq {} has another hash",
            t.durable.0
        );
    }
    if run.in_flight.is_some() {
        if head.seq == t.durable.0 {
            t.in_flight_rolled_back += 1;
        } else {
            t.in_flight_committed += 1;
        }
    }
    assert!(
        views_at_crash <= head.seq
            && (views_at_crash == 0
                || views_at_crash == head.seq
                || t.boundaries.contains(&views_at_crash)),
        "{ctx}: the views stopped at seq {views_at_crash}, not at a batch boundary (log head {})",
        head.seq
    );
    if views_at_crash < head.seq {
        t.views_behind += 1;
    }
    assert_eq!(
        ledger.reader().expect("views").heads().checkpoint,
        head.seq,
        "{ctx}: reopening did not bring the views to the log"
    );

    let caught_up = view_bytes(dir);
    ledger.replay(&mut |_| {}).expect("replay");
    let replayed = view_bytes(dir);
    let sizes = |files: &[(PathBuf, Vec<u8>)]| {
        files
            .iter()
            .map(|(p, b)| (p.clone(), b.len()))
            .collect::<Vec<_>>()
    };
    assert!(
        caught_up.0 == replayed.0,
        "{ctx}: the view files differ from a rebuild from the log: {:?} vs {:?}",
        sizes(&caught_up.0),
        sizes(&replayed.0)
    );
    assert_eq!(
        caught_up.1, replayed.1,
        "{ctx}: the views' heads differ from a rebuild's"
    );
    t.durable = (head.seq, arl_log::hex(&head.hash));
    t.boundaries.insert(head.seq);
}

/// Every stored event is the generator's line of its seq.
fn check_contents(dir: &Path, seed: u64) {
    let ledger = Ledger::open(dir, LOCK_WAIT).expect("open");
    let head = ledger.log().head().seq;
    let mut lines = arl_gen::Generator::new(arl_gen::Config::new(10_000_000, seed));
    for envelope in ledger.log().range(1, head) {
        let envelope = envelope.expect("reading the log");
        let line = lines.next_line().expect("generator line");
        let input = InputEvent::parse_line(line, true).expect("generator lines parse");
        let recorded = arl_views::recorded_from_envelope(&envelope).expect("typed event");
        assert_eq!(recorded.event, input.event, "seq {}", envelope.seq);
        assert_eq!(
            Some(recorded.recorded_at),
            input.recorded_at,
            "seq {}",
            envelope.seq
        );
    }
}

/// The binary's answers are the same before and after `arl replay`.
fn check_answers_survive_replay(dir: &Path) {
    let queries: [&[&str]; 4] = [
        &["export"],
        &["balance", "--format", "json", "--period", "month"],
        &["accounts", "--format", "json"],
        &["org", "--format", "json"],
    ];
    let answer = |args: &[&str]| {
        let run = run_arl(dir, args);
        assert_eq!(run.code, 0, "arl {args:?}: {}", run.stderr);
        run.stdout
    };
    let before: Vec<String> = queries.iter().map(|q| answer(q)).collect();
    assert_eq!(run_arl(dir, &["replay", "--quiet"]).code, 0);
    let after: Vec<String> = queries.iter().map(|q| answer(q)).collect();
    for ((q, b), a) in queries.iter().zip(&before).zip(&after) {
        assert!(b == a, "arl {q:?} answers differently after arl replay");
    }
}

#[test]
fn crash_consistency() {
    let kills = env_u64("ARL_CRASH_KILLS").unwrap_or(KILLS_DEFAULT);
    let seed = env_u64("ARL_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("crash_consistency: {kills} kills, ARL_CRASH_SEED={seed}");
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path().join("ledger");
    let mut rng = arl_gen::rng::Rng::new(seed);
    let mut t = Tracker {
        durable: (0, arl_log::hex(&[0; 32])),
        boundaries: BTreeSet::from([0]),
        acked_total: 0,
        in_flight_committed: 0,
        in_flight_rolled_back: 0,
        views_behind: 0,
    };
    let started = Instant::now();
    for kill in 1..=kills {
        let run = run_and_kill(&dir, seed, &mut rng);
        check_after_kill(&dir, &run, &mut t, kill, seed);
    }
    check_contents(&dir, seed);
    check_answers_survive_replay(&dir);
    eprintln!(
        "crash_consistency: {kills} kills in {:.1} s; head seq {}; {} batches acknowledged; killed inside an append {} times ({} committed, {} rolled back); views behind the log after {} kills",
        started.elapsed().as_secs_f64(),
        t.durable.0,
        t.acked_total,
        t.in_flight_committed + t.in_flight_rolled_back,
        t.in_flight_committed,
        t.in_flight_rolled_back,
        t.views_behind
    );
    assert!(t.acked_total > 0, "no append was ever acknowledged");
    assert!(t.durable.0 > 0, "nothing was appended");
}

/// The real `arl append` process, killed at fractions of the time a whole batch takes:
/// after each kill the ledger holds all of the batch or none of it, and verifies.
#[test]
fn crash_consistency_of_arl_append_processes() {
    const BATCH: u64 = 4000;
    let ledger = support::Ledger::new();
    let dir = ledger.dir();
    let seed = 11;
    let all = support::generated(BATCH * 8, seed);
    let lines: Vec<&str> = all.lines().collect();
    let batch_file = |from: u64| {
        let text: String = lines[from as usize..(from + BATCH) as usize]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        ledger.write("batch.jsonl", &text)
    };
    let head_seq = || ledger.json(&["digest"])["seq"].as_u64().expect("seq");
    // One whole batch, timed (the binary built first).
    let binary = support::arl_binary();
    let file = batch_file(0);
    let started = Instant::now();
    ledger.append(&std::fs::read_to_string(&file).expect("batch"), true);
    let whole = started.elapsed();
    let mut committed = 0;
    for percent in [5u32, 25, 50, 75, 90, 99, 130] {
        let before = head_seq();
        if before + BATCH > lines.len() as u64 {
            break;
        }
        let file = batch_file(before);
        let mut child = Command::new(&binary)
            .arg("--ledger")
            .arg(&dir)
            .args(["append", "--quiet", "--imported", file.as_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning arl append");
        std::thread::sleep(whole * percent / 100);
        let _ = child.kill();
        let _ = child.wait();
        let after = head_seq();
        assert!(
            after == before || after == before + BATCH,
            "killed at {percent}% of an append of {BATCH}: head went from {before} to {after}"
        );
        if after > before {
            committed += 1;
        }
        let verify = ledger.run(&["verify", "--quiet"]);
        assert_eq!(
            verify.code, 0,
            "after a kill at {percent}%: {}",
            verify.stderr
        );
    }
    eprintln!("arl append killed 7 times; {committed} of the batches had committed");
    // A kill between the log commit and the views commit leaves the views behind the log
    // until a writer opens the ledger; an append of nothing is such an opening.
    let empty = ledger.write("empty.jsonl", "");
    let caught_up = ledger.run(&["append", "--quiet", empty.as_str()]);
    assert_eq!(caught_up.code, 0, "{}", caught_up.stderr);
    check_answers_survive_replay(&dir);
}
