//! bit_flips: one bit flipped in a file of a ledger directory never gives a wrong answer
//! quietly, and `arl verify` fails whenever a flip changes or breaks an answer.
//!
//! For each flip, on a fresh copy of the ledger: every kind of question (cards at two
//! points in time, the account list and tree, a team, contacts, a portfolio, the org chart,
//! a register, balances by quarter with roll-up and by month for every account, a history)
//! asked through the query path (`arl_views::open_reader`, which catches views behind the
//! log up first), then the whole verify: the log's (`Log::verify`) and the views' against a
//! rebuild (`arl_views::check::check_against_log`), as `arl verify` runs them. A flip in
//! the log's own files (envelope file, index) is verified by the `arl verify` process,
//! since a damaged index may not even open. Counted:
//! - **quiet wrong answers**: a question answered (exit 0) differently from the untouched
//!   ledger: must be zero;
//! - **missed damage**: a question answered differently or failed while verify passed: must
//!   be zero;
//! - refusals (a question failed as an integrity error, exit 3), other failures (exit 1),
//!   flips with every answer unchanged, and verify's verdicts.
//!
//! Bounded for CI: `ARL_BIT_FLIPS_STRIDE` (default 32 on the Globex example: one flip per
//! four bytes, on a bit that moves along; 8: one per byte; 1: every bit) over the view files, and
//! `ARL_BIT_FLIPS_LOG` (default 60) flips spread over each file of the log; on the
//! generated ledger `ARL_BIT_FLIPS_RANDOM` (default 150) random bits per file.

mod support;

use arl_domain::Timestamp;
use arl_fold::{Point, Source};
use arl_views::ViewError;
use std::path::{Path, PathBuf};
use std::time::Duration;

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
const STRIDE_DEFAULT: u64 = 32;
const LOG_FLIPS_DEFAULT: u64 = 60;
const RANDOM_FLIPS_DEFAULT: u64 = 12;
/// Events of the generated ledger.
const GENERATED_EVENTS: u64 = 10_000;
/// 2023-07-01T23:59:59.999999Z and 2023-07-05T23:59:59.999999Z (end of those days, UTC).
const JULY_1_END: Timestamp = Timestamp(19_540 * 86_400 * 1_000_000 - 1);
const JULY_5_END: Timestamp = Timestamp(19_544 * 86_400 * 1_000_000 - 1);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How a question ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Answered (exit 0): the answer's debug form.
    Given(String),
    /// Refused as damage (exit 3).
    Refused,
    /// Failed otherwise (exit 1).
    Failed(String),
}

/// True when `error` or a cause of it is damage of the views or the log (what the CLI
/// reports with exit 3).
fn is_damage(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<ViewError>().is_some_and(|v| {
            v.is_damage()
                || matches!(
                    v,
                    ViewError::Log(
                        arl_log::LogError::Integrity { .. } | arl_log::LogError::Corrupt { .. }
                    )
                )
        }) {
            return true;
        }
        if let Some(arl_log::LogError::Integrity { .. } | arl_log::LogError::Corrupt { .. }) =
            e.downcast_ref::<arl_log::LogError>()
        {
            return true;
        }
        cause = e.source();
    }
    false
}

fn answer<T: std::fmt::Debug, E: std::error::Error + 'static>(result: Result<T, E>) -> Answer {
    match result {
        Ok(value) => Answer::Given(format!("{value:?}")),
        Err(e) if is_damage(&e) => Answer::Refused,
        Err(e) => Answer::Failed(e.to_string()),
    }
}

/// Every kind of question, on the ledger at `dir`, about `account` and `person`.
fn questions(dir: &Path, account: &str, person: &str) -> Vec<Answer> {
    let (_lock, reader) = match arl_views::open_reader(dir, Duration::from_secs(10)) {
        Ok(opened) => opened,
        Err(e) => return vec![answer::<(), _>(Err(e))],
    };
    let now = Point {
        as_of: Timestamp::MAX,
        at_seq: reader.checkpoint(),
    };
    let before = reader
        .seq_known_at(JULY_5_END)
        .map_err(arl_fold::SourceError::from)
        .map(|at_seq| Point {
            as_of: JULY_1_END,
            at_seq,
        });
    let filter = arl_accounts::Filter::default();
    let mut quarterly = arl_txns::BalanceQuery::new(now);
    quarterly.account = Some(account.to_string());
    quarterly.period = arl_domain::Period::Quarter;
    quarterly.rollup = true;
    let mut monthly = arl_txns::BalanceQuery::new(now);
    monthly.period = arl_domain::Period::Month;
    vec![
        answer(before.and_then(|point| arl_accounts::card(&reader, account, point))),
        answer(arl_accounts::card(&reader, account, now)),
        answer(arl_accounts::list(&reader, now, &filter)),
        answer(arl_accounts::tree(&reader, now, &filter)),
        answer(arl_teams::team(&reader, account, now)),
        answer(arl_teams::contacts(&reader, account, now)),
        answer(arl_teams::portfolio(&reader, person, now)),
        answer(arl_teams::org_chart(&reader, now)),
        answer(arl_txns::register(&reader, account, now, None, None)),
        answer(arl_txns::balances(&reader, &quarterly)),
        answer(arl_txns::balances(&reader, &monthly)),
        answer(arl_fold::query::history(&reader, account, now.at_seq)),
    ]
}

/// The whole verify, in this process (for flips in the views: the log is intact).
fn verify_in_process(dir: &Path) -> bool {
    let Ok(log) = arl_log::Log::open(&dir.join(arl_views::LOG_DIR)) else {
        return false;
    };
    log.verify(&mut |_| {}).is_ok()
        && arl_views::check::check_against_log(dir, &log, &mut |_| {}).is_ok()
}

/// The whole verify, as a process.
fn verify_process(dir: &Path) -> bool {
    let run = support::run_arl(dir, &["verify", "--quiet"]);
    assert!(
        !run.stderr.contains("panicked"),
        "arl verify panicked: {}",
        run.stderr
    );
    run.code == 0
}

#[derive(Debug, Default)]
struct Tally {
    flips: u64,
    unchanged: u64,
    refused: u64,
    failed: u64,
    verify_failed: u64,
    quiet_wrong: Vec<String>,
    missed: Vec<String>,
}

/// Where to flip: a file (relative to the ledger) and bit numbers in it.
struct Plan {
    file: PathBuf,
    bits: Vec<u64>,
    in_log: bool,
}

fn flip_all(base: &Path, expected: &[Answer], plans: &[Plan], subject: (&str, &str)) -> Tally {
    let scratch_root = scratch_dir();
    let mut tally = Tally::default();
    for plan in plans {
        let original = std::fs::read(base.join(&plan.file)).expect("reading a file to flip");
        for &bit in &plan.bits {
            let scratch = tempfile::tempdir_in(&scratch_root).expect("scratch directory");
            let dir = scratch.path().join("ledger");
            support::copy_dir(base, &dir);
            let mut bytes = original.clone();
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
            std::fs::write(dir.join(&plan.file), &bytes).expect("writing the flipped file");
            let got = questions(&dir, subject.0, subject.1);
            let verified = if plan.in_log {
                verify_process(&dir)
            } else {
                verify_in_process(&dir)
            };
            tally.add(
                &format!("{} bit {bit}", plan.file.display()),
                expected,
                &got,
                verified,
            );
        }
    }
    tally
}

impl Tally {
    fn add(&mut self, what: &str, expected: &[Answer], got: &[Answer], verified: bool) {
        self.flips += 1;
        let wrong = got
            .iter()
            .zip(expected)
            .any(|(g, e)| matches!(g, Answer::Given(_)) && g != e);
        let changed = got != expected;
        if wrong {
            self.quiet_wrong.push(what.to_string());
        }
        if changed && verified {
            self.missed.push(what.to_string());
        }
        if !changed {
            self.unchanged += 1;
        } else if got.iter().any(|g| matches!(g, Answer::Failed(_))) {
            self.failed += 1;
        } else if got.contains(&Answer::Refused) {
            self.refused += 1;
        }
        self.verify_failed += u64::from(!verified);
    }

    fn report(&self, name: &str) {
        eprintln!(
            "bit_flips {name}: {} flips; answers unchanged {}, refused as damage (exit 3) {}, failed otherwise {}; verify failed {}; quiet wrong answers {}; damage verify missed {}",
            self.flips,
            self.unchanged,
            self.refused,
            self.failed,
            self.verify_failed,
            self.quiet_wrong.len(),
            self.missed.len()
        );
        assert!(
            self.quiet_wrong.is_empty(),
            "{name}: wrong answers with exit 0: {:?}",
            self.quiet_wrong
        );
        assert!(
            self.missed.is_empty(),
            "{name}: verify passed on damage that changed answers: {:?}",
            self.missed
        );
    }
}

/// Flips happen in memory-backed storage when there is some (fsyncs cost nothing there).
fn scratch_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn relative_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    support::files(dir)
        .into_iter()
        .filter(|(_, bytes)| !bytes.is_empty())
        .map(|(path, bytes)| {
            let relative = path.strip_prefix(dir).expect("under dir").to_path_buf();
            (relative, bytes.len() as u64 * 8)
        })
        .collect()
}

fn is_log_file(path: &Path) -> bool {
    path.starts_with(arl_views::LOG_DIR)
}

/// Builds a ledger of `lines` (imported) and returns it with the untouched answers.
fn ledger_of(lines: &str, subject: (&str, &str)) -> (support::Ledger, Vec<Answer>) {
    let ledger = support::Ledger::new();
    ledger.append(lines, true);
    let expected = questions(&ledger.dir(), subject.0, subject.1);
    assert!(
        expected.iter().all(|a| matches!(a, Answer::Given(_))),
        "the untouched ledger answers every question: {expected:?}"
    );
    assert!(verify_process(&ledger.dir()));
    (ledger, expected)
}

#[test]
fn bit_flips_in_the_globex_example() {
    let subject = ("globex-de", "ben");
    let (ledger, expected) = ledger_of(FIXTURE, subject);
    let stride = env_u64("ARL_BIT_FLIPS_STRIDE", STRIDE_DEFAULT).max(1);
    let log_flips = env_u64("ARL_BIT_FLIPS_LOG", LOG_FLIPS_DEFAULT).max(1);
    let plans: Vec<Plan> = relative_files(&ledger.dir())
        .into_iter()
        .map(|(file, bits)| {
            let in_log = is_log_file(&file);
            let bits = if in_log {
                // Spread over the file, on a bit that moves along.
                (0..log_flips.min(bits))
                    .map(|k| k * bits / log_flips.min(bits) + k % 8)
                    .map(|b| b.min(bits - 1))
                    .collect()
            } else {
                // One bit per stride, the bit within the byte moving along when the stride is 8.
                (0..bits / stride)
                    .map(|k| k * stride + (k % 8) * u64::from(stride.is_multiple_of(8)))
                    .filter(|&b| b < bits)
                    .collect()
            };
            Plan { file, bits, in_log }
        })
        .collect();
    flip_all(&ledger.dir(), &expected, &plans, subject).report("Globex");
}

#[test]
#[ignore = "minutes on the shared 2-core machine: run with --ignored (see docs/RELIABILITY.md)"]
fn random_bit_flips_in_a_generated_ledger() {
    let lines = support::generated(GENERATED_EVENTS, 16);
    let (account, person) = subject_of(&lines);
    let (ledger, expected) = ledger_of(&lines, (&account, &person));
    let per_file = env_u64("ARL_BIT_FLIPS_RANDOM", RANDOM_FLIPS_DEFAULT);
    let mut rng = arl_gen::rng::Rng::new(0x16_b175);
    let plans: Vec<Plan> = relative_files(&ledger.dir())
        .into_iter()
        .map(|(file, bits)| {
            let in_log = is_log_file(&file);
            let count = if in_log { per_file / 3 } else { per_file };
            let bits = (0..count.max(1)).map(|_| rng.below(bits)).collect();
            Plan { file, bits, in_log }
        })
        .collect();
    flip_all(&ledger.dir(), &expected, &plans, (&account, &person)).report("generated 10k");
}

/// The account with the most events and a person of the generated lines.
fn subject_of(lines: &str) -> (String, String) {
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    let mut person = None;
    for line in lines.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
        if let Some(account) = value["data"]["account"].as_str() {
            *counts.entry(account.to_string()).or_default() += 1;
        }
        if value["type"] == "team.assigned" && person.is_none() {
            person = value["data"]["person"].as_str().map(str::to_string);
        }
    }
    let account = counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .expect("accounts")
        .0;
    (account, person.expect("a team assignment"))
}
