//! The views against a naive model: every reader method equals a filter over all events.

mod common;

use arl_domain::{Event, Recorded, Timestamp, TxnKind};
use arl_fold::{Source, TxnRow};
use arl_views::{ViewError, ViewReader, ViewWriter};
use common::{dir_bytes, history, steps};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;

fn write(dir: &Path, events: &[Recorded], batch: usize) {
    for chunk in events.chunks(batch.max(1)) {
        // Reopen for every batch: the writer must pick up exactly where it left off.
        let mut writer = ViewWriter::open(dir).unwrap();
        for e in chunk {
            writer.stage(e).unwrap();
        }
        writer.commit().unwrap();
    }
    if events.is_empty() {
        ViewWriter::open(dir).unwrap();
    }
}

fn seqs(events: &[Arc<Recorded>]) -> Vec<u64> {
    events.iter().map(|r| r.seq).collect()
}

fn naive(events: &[Recorded], keep: impl Fn(&Event) -> bool) -> Vec<u64> {
    events
        .iter()
        .filter(|r| keep(&r.event))
        .map(|r| r.seq)
        .collect()
}

fn parent_of(event: &Event) -> Option<&str> {
    match event {
        Event::AccountOpened(d) => d.parent.as_deref(),
        Event::ParentChanged(d) => d.parent.as_deref(),
        _ => None,
    }
}

fn check_against_model(reader: &ViewReader, events: &[Recorded]) {
    assert_eq!(Source::checkpoint(reader), events.len() as u64);
    for id in ["a", "b", "c", "d-1", "e.x", "zz"] {
        let got = reader.account_events(id).unwrap();
        let want = naive(events, |e| e.account() == Some(id) && !e.is_transaction());
        assert_eq!(seqs(&got), want, "account_events({id})");
        for r in &got {
            assert_eq!(**r, events[r.seq as usize - 1], "the event itself");
        }
        let got = reader.child_refs(id).unwrap();
        assert_eq!(
            seqs(&got),
            naive(events, |e| parent_of(e) == Some(id)),
            "child_refs({id})"
        );
        let got = reader.txn_events(id).unwrap();
        let want = naive(events, |e| e.account() == Some(id) && e.is_transaction());
        assert_eq!(seqs(&got), want, "txn_events({id})");
        for r in &got {
            assert_eq!(**r, events[r.seq as usize - 1]);
        }
    }
    for id in ["p", "q", "r", "s_2", "nobody"] {
        let got = reader.person_events(id).unwrap();
        assert_eq!(
            seqs(&got),
            naive(events, |e| e.person() == Some(id)),
            "person_events({id})"
        );
    }
    let org = reader.org_events().unwrap();
    assert_eq!(seqs(&org), naive(events, |e| e.account().is_none()));
    let mut accounts: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::AccountOpened(d) => Some(d.account.clone()),
            _ => None,
        })
        .collect();
    accounts.sort();
    accounts.dedup();
    assert_eq!(reader.account_ids(), accounts);
    let mut persons: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::PersonJoined(d) => Some(d.person.clone()),
            _ => None,
        })
        .collect();
    persons.sort();
    persons.dedup();
    assert_eq!(reader.person_ids(), persons);
    check_txn_rows(reader, events);
    for r in events.iter().step_by(7).chain(events.last()) {
        for k in [r.recorded_at.0 - 1, r.recorded_at.0, r.recorded_at.0 + 1] {
            let want = events.iter().filter(|e| e.recorded_at.0 <= k).count() as u64;
            assert_eq!(reader.seq_known_at(Timestamp(k)).unwrap(), want);
        }
    }
    assert_eq!(reader.seq_known_at(Timestamp::MIN).unwrap(), 0);
    assert_eq!(
        reader.seq_known_at(Timestamp::MAX).unwrap(),
        events.len() as u64
    );
    let mut scanned = Vec::new();
    reader
        .scan(&mut |r| {
            scanned.push(r);
            Ok(())
        })
        .unwrap();
    assert_eq!(scanned, events);
}

fn check_txn_rows(reader: &ViewReader, events: &[Recorded]) {
    let mut rows: Vec<TxnRow> = Vec::new();
    reader.txn_rows(&mut |row| rows.push(*row)).unwrap();
    let txns: Vec<&Recorded> = events.iter().filter(|r| r.event.is_transaction()).collect();
    assert_eq!(rows.len(), txns.len());
    for (row, r) in rows.iter().zip(txns) {
        assert_eq!((row.seq, row.effective_at), (r.seq, r.effective_at));
        assert_eq!(reader.account_of(row.account).as_deref(), r.event.account());
        let original = match &r.event {
            Event::TxnRecorded(d) => d.clone(),
            Event::TxnReversed(d) => events
                .iter()
                .find_map(|e| match &e.event {
                    Event::TxnRecorded(o) if o.txn == d.txn => Some(o.clone()),
                    _ => None,
                })
                .unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(row.reversal, matches!(r.event, Event::TxnReversed(_)));
        assert_eq!(
            row.kind == TxnKind::Purchase,
            original.kind == TxnKind::Purchase
        );
        assert_eq!(Some(row.currency), original.currency());
        assert_eq!(Some(row.amount_minor), original.amount_minor());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn reader_equals_naive_model(steps in steps(120), batch in 1usize..40) {
        let events = history(&steps);
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &events, batch);
        let reader = ViewReader::open(dir.path()).unwrap();
        check_against_model(&reader, &events);
    }

    #[test]
    fn incremental_is_byte_identical_to_one_batch(steps in steps(120), batch in 1usize..20) {
        let events = history(&steps);
        let small = tempfile::tempdir().unwrap();
        let whole = tempfile::tempdir().unwrap();
        write(small.path(), &events, batch);
        write(whole.path(), &events, usize::MAX);
        prop_assert_eq!(dir_bytes(small.path()), dir_bytes(whole.path()));
    }
}

#[test]
fn torn_tail_is_ignored_and_truncated() {
    let events = history(&[
        (0, 0, 1, 2, 3),
        (16, 0, 1, 1, 0),
        (7, 1, 2, 3, 1),
        (9, 0, 1, 0, 2),
        (16, 2, 1, 0, 1),
        (2, 0, 0, 0, 0),
    ]);
    let (first, rest) = events.split_at(3);
    let torn = tempfile::tempdir().unwrap();
    write(torn.path(), first, usize::MAX);
    // A crash after the data files were written but before heads was replaced.
    let committed = dir_bytes(torn.path());
    for name in ["events.dat", "txns.dat", "txndata.dat", "times.dat"] {
        let path = torn.path().join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0xEE; 77]);
        std::fs::write(&path, bytes).unwrap();
    }
    let reader = ViewReader::open(torn.path()).unwrap();
    check_against_model(&reader, first);
    drop(ViewWriter::open(torn.path()).unwrap());
    assert_eq!(dir_bytes(torn.path()), committed, "the writer cut the tail");
    write(torn.path(), rest, 2);
    let clean = tempfile::tempdir().unwrap();
    write(clean.path(), &events, usize::MAX);
    assert_eq!(dir_bytes(torn.path()), dir_bytes(clean.path()));
}

#[test]
fn damaged_views_are_errors_not_panics() {
    let events = history(&[
        (0, 0, 1, 2, 3),
        (9, 0, 1, 1, 0),
        (16, 0, 1, 1, 1),
        (11, 0, 1, 2, 0),
    ]);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &events, usize::MAX);
    let clean = dir_bytes(dir.path());
    for (name, bytes) in &clean {
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x5a;
            std::fs::write(dir.path().join(name), &damaged).unwrap();
            // Any outcome but a panic: an error, or (data bytes) different but parseable events.
            if let Ok(reader) = ViewReader::open(dir.path()) {
                for id in ["a", "b", "p", "q"] {
                    let _ = reader.account_events(id);
                    let _ = reader.child_refs(id);
                    let _ = reader.person_events(id);
                    let _ = reader.txn_events(id);
                }
                let _ = reader.org_events();
                let _ = reader.txn_rows(&mut |_| {});
                let _ = reader.scan(&mut |_| Ok(()));
            }
        }
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    std::fs::write(dir.path().join("events.dat"), b"short").unwrap();
    assert!(matches!(
        ViewWriter::open(dir.path()),
        Err(ViewError::Corrupt { .. })
    ));
}

#[test]
fn out_of_order_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        ViewReader::open(dir.path()),
        Err(ViewError::Missing { .. })
    ));
    let events = history(&[(0, 0, 1, 2, 3), (2, 0, 1, 1, 0)]);
    let mut writer = ViewWriter::open(dir.path()).unwrap();
    let err = writer.stage(&events[1]).unwrap_err();
    assert!(
        matches!(
            err,
            ViewError::OutOfOrder {
                expected: 1,
                got: 2
            }
        ),
        "{err}"
    );
    writer.stage(&events[0]).unwrap();
    writer.commit().unwrap();
    assert_eq!(
        ViewReader::open(dir.path())
            .unwrap()
            .account_events("a")
            .unwrap()
            .len(),
        1
    );
}
