//! `txnids.idx` grows with the ledger: its bucket table doubles as the transactions do (the
//! file rewritten at the next layout), every layout is the one a rebuild from the log
//! writes, and a crash between the rewrite and the heads (the file at a layout other than
//! its committed entries') is repaired by the next writer.

use arl_domain::{Event, InputEvent, Timestamp};
use arl_views::format::{read_heads, TxnIdsLayout, TXNIDS_BLOCK_BITS_MIN, TXN_RECORD_BYTES};
use arl_views::{AppendOptions, Ledger, VIEWS_DIR};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn opts(imported: bool) -> AppendOptions {
    AppendOptions {
        imported,
        actor: "test".into(),
        now: Timestamp::parse_input("2030-01-01").unwrap(),
    }
}

fn generated(events: u64, seed: u64) -> Vec<InputEvent> {
    arl_gen::Generator::new(arl_gen::Config::new(events, seed))
        .map(|l| InputEvent::parse_line(&l, true).unwrap())
        .collect()
}

/// The number of `txnids.idx` entries the views in `dir` commit, and the layout its header
/// names.
fn entries_and_layout(dir: &Path) -> (u64, TxnIdsLayout) {
    let views = dir.join(VIEWS_DIR);
    let heads = read_heads(&views).unwrap().unwrap();
    let idx = std::fs::read(views.join("txnids.idx")).unwrap();
    let layout = TxnIdsLayout::of_header(&idx).expect("a txnids.idx header");
    (heads.txns_len / TXN_RECORD_BYTES, layout)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A txn id recorded in `events` is refused when appended again.
fn assert_known(ledger: &mut Ledger, events: &[InputEvent]) {
    let again = events
        .iter()
        .rev()
        .find(|e| matches!(e.event, Event::TxnRecorded(_)))
        .expect("a transaction");
    let mut again = again.clone();
    again.id = None;
    again.recorded_at = None;
    let refused = ledger.append(vec![again], &opts(false));
    assert!(refused.is_err(), "a txn id appended twice");
}

#[test]
fn the_table_grows_with_the_transactions_as_a_rebuild_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let events = generated(6_000, 11);
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    let mut layouts = Vec::new();
    for chunk in events.chunks(700) {
        ledger.append(chunk.to_vec(), &opts(true)).unwrap();
        let (entries, layout) = entries_and_layout(dir.path());
        assert_eq!(layout, TxnIdsLayout::for_entries(entries));
        layouts.push(layout.block_bits);
    }
    let (entries, layout) = entries_and_layout(dir.path());
    assert!(
        layout.block_bits >= TXNIDS_BLOCK_BITS_MIN + 3,
        "{entries} entries, {layout:?}"
    );
    assert!(layouts.windows(2).all(|w| w[0] <= w[1]), "{layouts:?}");
    assert!(
        entries <= 2 * layout.buckets() && entries > layout.buckets(),
        "between one and two entries per bucket: {entries} in {}",
        layout.buckets()
    );
    // Every byte as a rebuild from the log (in other commits) writes it.
    arl_views::check::check_against_log(dir.path(), ledger.log(), &mut |_| {}).unwrap();
    assert_known(&mut ledger, &events[..100]);
    assert_known(&mut ledger, &events);
}

#[test]
fn a_file_left_at_the_next_layout_is_rewritten_at_its_entries() {
    let events = generated(4_000, 5);
    let (first, second) = events.split_at(800);
    // The ledger after the first part, kept; then after both, at a larger table.
    let before = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(before.path(), WAIT).unwrap();
    ledger.append(first.to_vec(), &opts(true)).unwrap();
    drop(ledger);
    let after = tempfile::tempdir().unwrap();
    copy_dir(before.path(), after.path());
    let mut ledger = Ledger::open(after.path(), WAIT).unwrap();
    ledger.append(second.to_vec(), &opts(true)).unwrap();
    drop(ledger);
    let (entries, layout) = entries_and_layout(before.path());
    let (_, larger) = entries_and_layout(after.path());
    assert!(
        larger.block_bits > layout.block_bits,
        "{layout:?} {larger:?}"
    );

    // A crash after the rename of the rewritten file, before the heads that commit it.
    let idx = Path::new(VIEWS_DIR).join("txnids.idx");
    std::fs::copy(after.path().join(&idx), before.path().join(&idx)).unwrap();
    let (same, found) = entries_and_layout(before.path());
    assert_eq!(same, entries);
    assert_ne!(
        found,
        TxnIdsLayout::for_entries(entries),
        "the repair is needed"
    );
    let mut ledger = Ledger::open(before.path(), WAIT).unwrap();
    let (_, repaired) = entries_and_layout(before.path());
    assert_eq!(repaired, layout);
    arl_views::check::check_against_log(before.path(), ledger.log(), &mut |_| {}).unwrap();
    assert_known(&mut ledger, first);
    ledger.append(second.to_vec(), &opts(true)).unwrap();
    arl_views::check::check_against_log(before.path(), ledger.log(), &mut |_| {}).unwrap();
    assert_known(&mut ledger, second);
}
