//! Held appends (`Ledger::append_held`, the server's pipelined group commit): they settle,
//! in order, to exactly what plain appends give; nothing on disk counts on a held append
//! before its frames are synced; a ledger dropped with one held settles it.

mod common;

use arl_domain::{InputEvent, Timestamp};
use arl_fold::Source;
use arl_views::{
    AppendFailure, AppendOptions, AppendReport, Ledger, ViewReader, INLINE_EVENTS_MAX, LOG_DIR,
    VIEWS_DIR,
};
use common::dir_bytes;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn opts() -> AppendOptions {
    AppendOptions {
        imported: true,
        actor: "test".into(),
        now: Timestamp::parse_input("2030-01-01").unwrap(),
    }
}

/// A generated history, each event with an id (an event without one is given a fresh id
/// when appended, and the two ledgers compared must store the same bytes).
fn generated(n: u64, seed: u64) -> Vec<InputEvent> {
    arl_gen::Generator::new(arl_gen::Config::new(n, seed))
        .enumerate()
        .map(|(i, l)| {
            let mut event = InputEvent::parse_line(&l, true).unwrap();
            event.id = Some(format!("ev-{seed}-{i}"));
            event
        })
        .collect()
}

/// Batches cut from a generated history: small ones (the held path), now and then one of
/// more than [`INLINE_EVENTS_MAX`] events (appended durably), a batch that breaks a rule
/// (a person assigned who never joined), and a batch that repeats earlier events (every
/// generated event has an id: duplicates).
fn batches(events: &[InputEvent]) -> Vec<Vec<InputEvent>> {
    let ghost = InputEvent::parse_line(
        r#"{"type":"team.assigned","data":{"account":"nowhere","person":"ghost","role":"media"},"effective_at":"2024-01-01","recorded_at":"2024-01-01"}"#,
        true,
    )
    .unwrap();
    let mut out = Vec::new();
    let mut rest = events;
    let mut step = 0usize;
    while !rest.is_empty() {
        step += 1;
        let size = if step.is_multiple_of(17) {
            INLINE_EVENTS_MAX + 30
        } else {
            1 + step * 7 % 13
        };
        let (batch, tail) = rest.split_at(size.min(rest.len()));
        out.push(batch.to_vec());
        if step.is_multiple_of(5) {
            // Valid events, then the broken one: the whole batch is refused.
            let mut broken = tail.iter().take(2).cloned().collect::<Vec<_>>();
            broken.push(ghost.clone());
            out.push(broken);
        }
        if step.is_multiple_of(7) {
            out.push(batch.to_vec());
        }
        rest = tail;
    }
    out
}

/// What an append said, comparable across the two ways of appending.
fn outcome(result: &Result<AppendReport, AppendFailure>) -> String {
    match result {
        Ok(report) => format!("{report:?}"),
        Err(failure) => format!("{:?} {:?} {}", failure.kind, failure.index, failure.message),
    }
}

#[test]
fn held_appends_settle_in_order_to_what_plain_appends_give() {
    let (plain_dir, held_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut plain = Ledger::open(plain_dir.path(), WAIT).unwrap();
    let mut held = Ledger::open(held_dir.path(), WAIT).unwrap();
    let mut expected = Vec::new();
    let mut settled = Vec::new();
    let mut refusals = 0;
    for batch in batches(&generated(2_500, 11)) {
        let want = plain.append(batch.clone(), &opts());
        let got = held.append_held(batch, &opts());
        match (&want, &got) {
            (Ok(_), Ok(report)) => {
                // Not durable yet: the report says what the settled one will say.
                expected.push(format!("{report:?}"));
            }
            (Err(_), Err(_)) => {
                refusals += 1;
                // A refusal is answered with the appends before it settled.
                settled.extend(held.settle().iter().map(|s| outcome(&s.report)));
            }
            _ => panic!("plain {} against held {}", outcome(&want), outcome(&got)),
        }
        if want.is_err() {
            assert_eq!(outcome(&want), outcome(&got), "the same refusal");
        }
        settled.extend(held.take_settled().iter().map(|s| outcome(&s.report)));
    }
    settled.extend(held.settle().iter().map(|s| outcome(&s.report)));
    assert!(
        refusals >= 20,
        "the history has refused batches ({refusals})"
    );
    assert_eq!(settled, expected, "each append settled once, in order");
    assert_eq!(held.log().head(), plain.log().head());
    drop((plain, held));
    assert!(
        files(&plain_dir.path().join(LOG_DIR)) == files(&held_dir.path().join(LOG_DIR)),
        "the log: the same bytes on disk"
    );
    assert!(
        dir_bytes(&plain_dir.path().join(VIEWS_DIR)) == dir_bytes(&held_dir.path().join(VIEWS_DIR)),
        "the views: the same bytes on disk"
    );
}

/// Every file of `dir` with its bytes, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// The log's committed length as another process reads it (`u64::MAX`: frames lie past
/// the head, so a query goes through the writer), and the seq the views' heads on disk
/// commit.
fn on_disk(dir: &Path) -> (u64, u64) {
    let log_len = arl_log::committed_len_on_disk(&dir.join(LOG_DIR))
        .unwrap()
        .unwrap_or(0);
    let views = ViewReader::open(&dir.join(VIEWS_DIR)).unwrap();
    (log_len, Source::checkpoint(&views))
}

#[test]
fn nothing_on_disk_counts_on_a_held_append_before_it_settles() {
    let dir = tempfile::tempdir().unwrap();
    let events = generated(40, 3);
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    ledger.append(events[..20].to_vec(), &opts()).unwrap();
    assert_eq!(on_disk(dir.path()), (ledger.log().committed_len(), 20));
    let report = ledger
        .append_held(events[20..30].to_vec(), &opts())
        .unwrap();
    assert_eq!(report.head.seq, 30);
    assert!(ledger.holds());
    assert_eq!(
        on_disk(dir.path()),
        (u64::MAX, 20),
        "the held append's heads wait (its frames are past the log's head)"
    );
    // The next batch is validated against the held one, which settles before its frames
    // are written; that one is then held in turn.
    ledger.append_held(events[30..].to_vec(), &opts()).unwrap();
    let settled = ledger.take_settled();
    assert_eq!(settled.len(), 1);
    let first = settled[0].report.as_ref().unwrap();
    assert_eq!(first.head.seq, 30);
    assert_eq!(on_disk(dir.path()), (u64::MAX, 30));
    let reader = settled[0].reader.as_ref().unwrap();
    assert_eq!(
        Source::checkpoint(reader),
        30,
        "readers see the settled state"
    );
    let log = settled[0].log.as_ref().unwrap();
    assert_eq!(log.head().seq, 30);
    let settled = ledger.settle();
    assert_eq!(settled[0].report.as_ref().unwrap().head.seq, 40);
    assert!(!ledger.holds());
    assert_eq!(on_disk(dir.path()), (ledger.log().committed_len(), 40));
}

#[test]
fn a_ledger_dropped_with_a_held_append_settles_it() {
    let dir = tempfile::tempdir().unwrap();
    let events = generated(40, 5);
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    ledger.append_held(events[..30].to_vec(), &opts()).unwrap();
    assert!(ledger.holds());
    drop(ledger);
    assert_eq!(on_disk(dir.path()).1, 30);
    let ledger = Ledger::open(dir.path(), WAIT).unwrap();
    assert_eq!(ledger.log().head().seq, 30);
    // A plain append is refused while one is held, and goes in once it settled.
    let mut ledger = ledger;
    let more = &events[30..];
    ledger.append_held(more[..5].to_vec(), &opts()).unwrap();
    assert!(ledger.append(more[5..].to_vec(), &opts()).is_err());
    ledger.settle();
    assert_eq!(
        ledger.append(more[5..].to_vec(), &opts()).unwrap().head.seq,
        40
    );
}
