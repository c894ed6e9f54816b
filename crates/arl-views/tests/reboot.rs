//! After a reboot the views' commit slots of the boot before are not trusted (they were
//! written without a sync): the writer falls back to the last checkpoint, cuts what lies
//! past it, rebuilds the bucket table of `txnids.idx` from its entries and catches up from
//! the log, without rebuilding the views. Its own file: the boot id is overridden for the
//! whole process.

use arl_domain::{Event, InputEvent, Timestamp};
use arl_views::format::{decode_block, read_heads, read_slots, TxnIdsLayout, COMMIT_SLOTS};
use arl_views::{AppendOptions, Ledger, VIEWS_DIR};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn opts(imported: bool) -> AppendOptions {
    AppendOptions {
        imported,
        actor: "test".into(),
        now: Timestamp::parse_input("2030-01-01").unwrap(),
    }
}

#[test]
fn views_of_another_boot_fall_back_to_their_checkpoint_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let views = dir.path().join(VIEWS_DIR);
    let events: Vec<InputEvent> = arl_gen::Generator::new(arl_gen::Config::new(6_000, 7))
        .map(|l| InputEvent::parse_line(&l, true).unwrap())
        .collect();
    // The first half ends with some transactions, the second holds more of them.
    let first_txn = events
        .iter()
        .position(|e| matches!(e.event, Event::TxnRecorded(_)))
        .expect("transactions");
    let (first, second) = events.split_at((first_txn + 300).min(events.len() - 600));
    arl_io::override_boot_id(Some([1; 16]));
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    ledger.append(first.to_vec(), &opts(true)).unwrap();
    drop(ledger);
    // The next boot's writer makes the first half a checkpoint, then commits without a sync.
    arl_io::override_boot_id(Some([2; 16]));
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    for chunk in second.chunks(200) {
        ledger.append(chunk.to_vec(), &opts(true)).unwrap();
    }
    drop(ledger);
    let slots = read_slots(&views).unwrap();
    let (index, current) = slots.current.unwrap();
    assert!(
        COMMIT_SLOTS.contains(&index),
        "the last commit is not a checkpoint"
    );
    let inode = std::fs::metadata(&views).unwrap().ino();

    // A reboot: only the checkpoint is trusted, and it holds the first half.
    arl_io::override_boot_id(Some([3; 16]));
    let checkpoint = read_heads(&views).unwrap().unwrap();
    assert!(checkpoint.checkpoint < current.checkpoint);
    assert!(checkpoint.txns_len > 0, "transactions before it");
    assert!(
        checkpoint.txns_len < current.txns_len,
        "transactions after it"
    );
    let entries = checkpoint.txns_len / 64;
    let idx = std::fs::read(views.join("txnids.idx")).unwrap();
    let layout = TxnIdsLayout::of_header(&idx).unwrap();
    let ahead = (0..layout.blocks() as u32)
        .filter(|b| {
            let at = layout.block_at(*b) as usize;
            let bytes: [u8; 64] = idx[at..at + 64].try_into().unwrap();
            decode_block(*b, &bytes).is_some_and(|h| h.iter().any(|h| u64::from(*h) > entries))
        })
        .count();
    assert!(
        ahead > 0,
        "buckets written after the checkpoint lead beyond it"
    );
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    assert_eq!(
        ledger.reader().unwrap().heads().checkpoint,
        current.checkpoint
    );
    assert_eq!(
        std::fs::metadata(&views).unwrap().ino(),
        inode,
        "caught up from the log, not rebuilt"
    );
    // Every byte as a rebuild from the log writes it, `txnids.idx` included.
    arl_views::check::check_against_log(dir.path(), ledger.log(), &mut |_| {}).unwrap();
    // A txn id recorded after the checkpoint is still known.
    let again = second
        .iter()
        .rev()
        .find(|e| matches!(e.event, Event::TxnRecorded(_)))
        .expect("a transaction in the second half");
    let Event::TxnRecorded(data) = &again.event else {
        unreachable!()
    };
    let mut again = again.clone();
    again.id = None;
    again.recorded_at = None;
    let refused = ledger.append(vec![again], &opts(false));
    assert!(refused.is_err(), "txn id {} appended twice", data.txn);
    // Settled: the next open of this boot does not fall back again.
    drop(ledger);
    let slots = read_slots(&views).unwrap();
    assert!(!slots.fell_back);
    arl_io::override_boot_id(None);
}
