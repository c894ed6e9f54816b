//! power_loss: every state a power loss in the middle of an append could leave on disk, and
//! that the ledger recovers from each: no acknowledged event lost, no batch half there,
//! `arl verify` passing after the open's own recovery, every query answering as the
//! recovered log says.
//!
//! The append runs in this process with `arl_io`'s recording on: every write, length change
//! and sync of the log's files (envelope frames, index files, head) and of the view files,
//! with its bytes. From that list, for every crash point (every prefix of the operations)
//! the states a power loss could leave are built: writes and length changes already synced
//! are on disk; those not yet synced are all lost, all kept, each kept alone (the others
//! lost: writes reordered), or torn at a 512-byte boundary. The log's commit point is the
//! sync of its envelope frames (the last frame of a commit marked as such): the batch is in
//! the log once that sync was issued, or once every write of its frames is on disk whole,
//! kept by luck. The log's index and head, and the views (data files, `txnids.idx` buckets,
//! heads slot), are written without a sync: the one-event append syncs once
//! ([`an_append_of_one_event_syncs_once`]). Directory entries are taken as durable (the
//! files written exist before the append starts), except a rename (`txnids.idx` rewritten at
//! a larger table): lost or kept until its directory is synced.
//!
//! A power loss is a reboot: the ledger is written by this process as another boot
//! ([`arl_io::override_boot_id`]), and checked by `arl`, which reads the machine's boot id:
//! the head slots written without a sync are not trusted, and the log's index is brought up
//! from its last checkpoint; so are the views' commit slots, and the views fall back to their
//! last checkpoint (the empty one made at creation), rebuild the bucket table of
//! `txnids.idx` and catch up from the log. A process crash keeps every write (the page
//! cache survives it): those states are checked too, as the same boot, where the unsynced
//! head is trusted.
//!
//! `ARL_POWER_LOSS_STATES=N` bounds the states checked per append (default 60, spread
//! evenly over all of them; `0` checks every one).

mod support;

use arl_domain::{InputEvent, Timestamp};
use arl_io::record::{self, Op};
use arl_views::{AppendOptions, Ledger};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::run_arl;

/// States checked per append unless `ARL_POWER_LOSS_STATES` says otherwise.
const STATES_DEFAULT: usize = 60;
/// Sector size a torn write is cut at.
const SECTOR_BYTES: usize = 512;
/// Cut points tried per torn write (the first, last and middle sectors).
const TEARS_PER_WRITE_MAX: usize = 3;
/// Generator seed of the ledgers.
const SEED: u64 = 16;

/// A directory's files by path relative to it.
type Files = BTreeMap<PathBuf, Vec<u8>>;

fn snapshot(dir: &Path) -> Files {
    support::files(dir)
        .into_iter()
        .map(|(path, bytes)| {
            (
                path.strip_prefix(dir).expect("under dir").to_path_buf(),
                bytes,
            )
        })
        .collect()
}

fn materialize(files: &Files, dir: &Path) {
    for (path, bytes) in files {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("creating a directory");
        std::fs::write(&target, bytes).expect("writing a file");
    }
}

/// What an append recorded, and the ledger before and after it.
struct Recording {
    base: Files,
    ops: Vec<Op>,
    /// The ledger directory the paths in `ops` are under.
    dir: PathBuf,
}

/// `arl_io`'s recording is global to the process: one recorded append at a time, or the
/// tests running in parallel would mix their operations.
static ONE_RECORDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The boot id this process writes as when it plays a boot before a power loss.
const OTHER_BOOT: [u8; 16] = [0xab; 16];
/// The boot id the first half of the ledger before the recorded append is written in: the
/// next open, as [`OTHER_BOOT`], finds views of another boot and falls back to their last
/// checkpoint (the empty one made at creation), clearing the buckets of `txnids.idx` the
/// first half wrote, and catches the first half up from the log.
const EARLIER_BOOT: [u8; 16] = [0xcd; 16];

/// Appends `lines` to the ledger in `dir` through `Ledger` in this process.
fn append_here(dir: &Path, lines: &str) -> Result<u64, String> {
    let batch: Vec<InputEvent> = lines
        .lines()
        .map(|l| InputEvent::parse_line(l, true).expect("a generated line parses"))
        .collect();
    let opts = AppendOptions {
        imported: true,
        actor: "power-loss".into(),
        now: Timestamp::now(),
    };
    let mut ledger = Ledger::open(dir, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    ledger
        .append(batch, &opts)
        .map(|report| report.appended)
        .map_err(|e| e.to_string())
}

/// Appends `base_lines` to a new ledger in `dir`, then `lines`, recording the operations
/// of the second append; both as `boot` (`None`: this boot).
fn record_append(dir: &Path, base_lines: &str, lines: &str, boot: Option<[u8; 16]>) -> Recording {
    let _one_at_a_time = ONE_RECORDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let created = match boot {
        Some(boot) => {
            let half = base_lines.len() / 2;
            let cut = base_lines[..half].rfind('\n').map_or(0, |at| at + 1);
            arl_io::override_boot_id(Some(EARLIER_BOOT));
            let first = append_here(dir, &base_lines[..cut]);
            arl_io::override_boot_id(Some(boot));
            first.and_then(|_| append_here(dir, &base_lines[cut..]))
        }
        None => append_here(dir, base_lines),
    };
    let base = snapshot(dir);
    record::start();
    let appended = created.and_then(|_| append_here(dir, lines));
    let ops = record::stop();
    arl_io::override_boot_id(None);
    let appended = appended.expect("the appends");
    assert!(appended > 0, "the append appended nothing");
    Recording {
        base,
        ops,
        dir: dir.to_path_buf(),
    }
}

/// What happens to one write or length change not yet synced when the power goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Lost,
    Kept,
    /// The first this many bytes of the write reach the disk.
    Torn(usize),
}

/// One state a power loss could leave: the operations before `crash` were issued; the
/// unsynced ones meet `fates` (by operation index).
#[derive(Debug, Clone)]
struct CrashState {
    crash: usize,
    fates: BTreeMap<usize, Fate>,
}

fn op_path(op: &Op) -> Option<&Path> {
    match op {
        Op::Write { path, .. } | Op::SetLen { path, .. } => Some(path),
        _ => None,
    }
}

/// The writes and length changes among the first `crash` operations that no later sync
/// (before `crash`) of their file made durable, and the renames no later sync of their
/// directory did.
fn unsynced(ops: &[Op], crash: usize) -> Vec<usize> {
    (0..crash)
        .filter(|&i| {
            if let Op::Rename { to, .. } = &ops[i] {
                let dir = to.parent().expect("a renamed file lies in a directory");
                return !ops[i + 1..crash]
                    .iter()
                    .any(|later| matches!(later, Op::SyncDir { path: p } if p == dir));
            }
            let Some(path) = op_path(&ops[i]) else {
                return false;
            };
            !ops[i + 1..crash]
                .iter()
                .any(|later| matches!(later, Op::Sync { path: p } if p == path))
        })
        .collect()
}

fn tears(bytes: usize) -> Vec<usize> {
    let sectors = bytes.div_ceil(SECTOR_BYTES);
    if sectors < 2 {
        return Vec::new();
    }
    let mut cuts = vec![1, sectors / 2, sectors - 1];
    cuts.dedup();
    cuts.truncate(TEARS_PER_WRITE_MAX);
    cuts.into_iter().map(|s| s * SECTOR_BYTES).collect()
}

/// Every crash state of `ops`.
fn crash_states(ops: &[Op]) -> Vec<CrashState> {
    let mut states = Vec::new();
    for crash in 0..=ops.len() {
        let pending = unsynced(ops, crash);
        let all = |fate: Fate| {
            pending
                .iter()
                .map(|&i| (i, fate))
                .collect::<BTreeMap<_, _>>()
        };
        let mut variants = vec![all(Fate::Lost)];
        if !pending.is_empty() {
            variants.push(all(Fate::Kept));
        }
        for &alone in &pending {
            let mut fates = all(Fate::Lost);
            fates.insert(alone, Fate::Kept);
            if pending.len() > 1 {
                variants.push(fates.clone());
            }
            if let Op::Write { bytes, .. } = &ops[alone] {
                for cut in tears(bytes.len()) {
                    let mut torn = all(Fate::Kept);
                    torn.insert(alone, Fate::Torn(cut));
                    variants.push(torn);
                }
            }
        }
        for fates in variants {
            states.push(CrashState { crash, fates });
        }
    }
    states
}

/// The files a crash state leaves, relative to the ledger directory.
fn apply(recording: &Recording, state: &CrashState) -> Files {
    let mut files = recording.base.clone();
    let relative = |path: &Path| {
        path.strip_prefix(&recording.dir)
            .expect("in the ledger")
            .to_path_buf()
    };
    let ops = &recording.ops;
    for (i, op) in ops[..state.crash].iter().enumerate() {
        let fate = state.fates.get(&i).copied().unwrap_or(Fate::Kept);
        match (op, fate) {
            (_, Fate::Lost) => {}
            (
                Op::Write {
                    path,
                    offset,
                    bytes,
                },
                fate,
            ) => {
                let keep = match fate {
                    Fate::Torn(n) => &bytes[..n],
                    _ => &bytes[..],
                };
                let file = files.entry(relative(path)).or_default();
                let end = *offset as usize + keep.len();
                if file.len() < end {
                    file.resize(end, 0);
                }
                file[*offset as usize..end].copy_from_slice(keep);
            }
            (Op::SetLen { path, len }, _) => {
                files
                    .entry(relative(path))
                    .or_default()
                    .resize(*len as usize, 0);
            }
            (Op::Snapshot { dir, files: snap }, _) => {
                let under = relative(dir);
                files.retain(|path, _| !path.starts_with(&under));
                for (path, bytes) in snap {
                    files.insert(under.join(path), bytes.clone());
                }
            }
            (Op::Rename { from, to }, _) => {
                let moved = files.remove(&relative(from)).unwrap_or_default();
                files.insert(relative(to), moved);
            }
            (Op::Sync { .. } | Op::SyncDir { .. }, _) => {}
            (other, _) => {
                panic!("an append made an operation the harness does not model: {other:?}")
            }
        }
    }
    files
}

/// What the queries of the check answer on a ledger.
#[derive(Debug, Clone, PartialEq)]
struct Answers {
    seq: u64,
    head: String,
    balance: Value,
    accounts: Value,
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let run = run_arl(dir, args);
    assert_eq!(
        run.code,
        0,
        "arl {args:?} on {}: {}",
        dir.display(),
        run.stderr
    );
    serde_json::from_str(&run.stdout).expect("JSON")
}

/// Asks the queries first (on the state as the power loss left it: the query path itself
/// must catch the views up), then `arl verify`.
fn answers(dir: &Path) -> Answers {
    let balance = json_of(dir, &["balance", "--period", "month", "--format", "json"]);
    let accounts = json_of(dir, &["accounts", "--format", "json"]);
    let verify = json_of(dir, &["verify", "--format", "json"]);
    assert_eq!(verify["views_behind_log"], Value::Bool(false), "{verify}");
    assert_eq!(verify["views_checked"], verify["seq"], "{verify}");
    Answers {
        seq: verify["seq"].as_u64().expect("seq"),
        head: verify["head"].as_str().expect("head").to_string(),
        balance,
        accounts,
    }
}

fn is_log_frames(path: &Path) -> bool {
    path.ends_with("log/envelopes")
}

/// The index of the sync of the log's envelope frames: from there on the batch is
/// committed. The only sync of the log in the append (no checkpoint is due).
fn log_commit_point(ops: &[Op]) -> usize {
    let syncs: Vec<usize> = (0..ops.len())
        .filter(|&i| match &ops[i] {
            Op::Sync { path } => path
                .components()
                .rev()
                .nth(1)
                .is_some_and(|c| c.as_os_str() == "log"),
            _ => false,
        })
        .collect();
    assert!(
        syncs.len() == 1 && matches!(&ops[syncs[0]], Op::Sync { path } if is_log_frames(path)),
        "the append synced the log once, its frames: {:?}",
        syncs.iter().map(|&i| &ops[i]).collect::<Vec<_>>()
    );
    syncs[0]
}

/// True when the batch is in the log in `state`: the frames' sync was issued, or every
/// write of the frames was issued and reached the disk whole on its own.
fn committed_in(ops: &[Op], commit_point: usize, state: &CrashState) -> bool {
    if state.crash > commit_point {
        return true;
    }
    (0..commit_point)
        .filter(|&i| matches!(&ops[i], Op::Write { path, .. } if is_log_frames(path)))
        .all(|i| {
            i < state.crash && state.fates.get(&i).copied().unwrap_or(Fate::Kept) == Fate::Kept
        })
}

fn states_limit() -> usize {
    std::env::var("ARL_POWER_LOSS_STATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(STATES_DEFAULT)
}

/// What a crash leaves of the writes not yet synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// A power loss: each lost, kept, reordered or torn; checked after a reboot.
    PowerLoss,
    /// The process killed: every write kept; checked in the same boot.
    Process,
}

/// The answers on a copy of `files`.
fn answers_of(files: &Files) -> Answers {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path().join("ledger");
    materialize(files, &dir);
    answers(&dir)
}

/// Records an append of `lines` to a ledger of `base_lines`, then checks every (or a
/// spread of) crash states against the answers before and after the append.
fn check_append(name: &str, base_lines: &str, lines: &str, crash: Crash) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path().join("ledger");
    let boot = match crash {
        Crash::PowerLoss => Some(OTHER_BOOT),
        Crash::Process => None,
    };
    let recording = record_append(&dir, base_lines, lines, boot);
    let before = answers_of(&recording.base);
    let after = answers(&dir);
    assert!(after.seq > before.seq);
    let states: Vec<CrashState> = match crash {
        Crash::PowerLoss => crash_states(&recording.ops),
        Crash::Process => (0..=recording.ops.len())
            .map(|crash| CrashState {
                crash,
                fates: BTreeMap::new(),
            })
            .collect(),
    };
    let limit = match states_limit() {
        0 => states.len(),
        n => n.min(states.len()),
    };
    let commit_point = log_commit_point(&recording.ops);
    let (mut at_before, mut at_after) = (0, 0);
    for k in 0..limit {
        // Spread evenly, always including the first and the last state.
        let state = &states[if limit < 2 {
            0
        } else {
            k * (states.len() - 1) / (limit - 1)
        }];
        let crashed = tempfile::tempdir().expect("temporary directory");
        let crashed_dir = crashed.path().join("ledger");
        materialize(&apply(&recording, state), &crashed_dir);
        let found = answers(&crashed_dir);
        let what = format!(
            "{name}: crash after {} of {} operations, {state:?}",
            state.crash,
            recording.ops.len()
        );
        // The batch is in the log exactly when its head record is on disk.
        if committed_in(&recording.ops, commit_point, state) {
            assert_eq!(found, after, "{what}: the committed batch is not all there");
            at_after += 1;
        } else {
            assert_eq!(
                found, before,
                "{what}: part of an uncommitted batch is there"
            );
            at_before += 1;
        }
    }
    assert!(
        at_before > 0 && at_after > 0,
        "{name}: the states checked cover both sides"
    );
    eprintln!(
        "power_loss {name}: {} operations, {} crash states, {limit} checked ({at_before} before the batch, {at_after} after)",
        recording.ops.len(),
        states.len()
    );
}

/// One durable append is one sync: the log's frames. The views and the log's index are
/// written without one (neither checkpoint is due), so a single append costs what one
/// write and one fdatasync cost on the disk.
#[test]
fn an_append_of_one_event_syncs_once() {
    let all = support::generated(401, SEED);
    let (base, last) = all.split_at(all.trim_end().rfind('\n').expect("lines") + 1);
    for boot in [Some(OTHER_BOOT), None] {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let recording = record_append(&tmp.path().join("ledger"), base, last, boot);
        let syncs: Vec<&Op> = recording
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Sync { .. } | Op::SyncDir { .. }))
            .collect();
        assert_eq!(syncs.len(), 1, "{syncs:?}");
        assert!(matches!(syncs[0], Op::Sync { path } if is_log_frames(path)));
        let views_writes = recording
            .ops
            .iter()
            .filter(|op| {
                op_path(op).is_some_and(|p| p.components().any(|c| c.as_os_str() == "views"))
            })
            .count();
        assert!(views_writes > 0, "the append wrote the views");
    }
}

#[test]
fn power_loss_during_an_append_of_one_event() {
    let all = support::generated(401, SEED);
    let (base, last) = all.split_at(all.trim_end().rfind('\n').expect("lines") + 1);
    check_append("one event", base, last, Crash::PowerLoss);
}

#[test]
fn power_loss_during_an_append_of_a_large_batch() {
    let all = support::generated(6_400, SEED);
    let cut = all.match_indices('\n').nth(399).expect("400 lines").0 + 1;
    check_append(
        "a batch of 6,000 events",
        &all[..cut],
        &all[cut..],
        Crash::PowerLoss,
    );
}

#[test]
fn process_crash_during_an_append_of_one_event() {
    let all = support::generated(401, SEED);
    let (base, last) = all.split_at(all.trim_end().rfind('\n').expect("lines") + 1);
    check_append("one event, process crash", base, last, Crash::Process);
}
