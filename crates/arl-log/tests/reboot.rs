//! A reboot: index bytes and head slots written without a sync during another boot are
//! not trusted; the open starts from the last checkpoint and indexes the committed frames
//! past it again, and the log answers and verifies as before. In its own test binary: the
//! boot id it sets is the whole process's.

use arl_log::{Log, NewEvent};
use serde_json::json;

const T0: i64 = 1_709_366_400_000_000;

fn event(i: u64) -> NewEvent {
    let mut e = NewEvent::new(
        "thing.noted",
        &format!("thing/{}", i % 13),
        "tester",
        &json!({ "n": i }),
    )
    .expect("event");
    e.id = Some(format!("ev-{i}"));
    e
}

#[test]
fn after_a_reboot_the_index_is_rebuilt_from_the_last_checkpoint() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("log");
    arl_io::override_boot_id(Some([1; 16]));
    let mut log = Log::open(&dir).expect("open");
    // Many small commits: some are checkpoints, the last ones are not.
    for i in 0..300u64 {
        let prepared = log.prepare(vec![event(i)], T0 + i as i64).expect("prepare");
        log.commit(prepared).expect("commit");
    }
    let head = log.head();
    drop(log);
    // Damage every index byte past the last checkpoint, as a power loss may have: the
    // entries of the last 30 seqs zeroed.
    let keys = dir.join("keys");
    let mut bytes = std::fs::read(&keys).expect("keys");
    let end = bytes.len();
    bytes[end - 30 * 40..].fill(0);
    std::fs::write(&keys, &bytes).expect("keys");

    arl_io::override_boot_id(Some([2; 16]));
    let mut log = Log::open(&dir).expect("open after the reboot");
    assert_eq!(log.head(), head);
    assert_eq!(log.verify(&mut |_| {}).expect("verify"), head);
    for i in [0u64, 250, 299] {
        assert_eq!(
            log.lookup_id(&format!("ev-{i}")).expect("lookup"),
            Some(i + 1)
        );
    }
    assert_eq!(log.stream("thing/5").expect("stream").len(), 23);
    let prepared = log
        .prepare(vec![event(300), event(7)], T0 + 400)
        .expect("prepare");
    assert_eq!(prepared.len(), 1, "ev-7 is a duplicate");
    log.commit(prepared).expect("commit");
    assert_eq!(log.verify(&mut |_| {}).expect("verify").seq, 301);
    arl_io::override_boot_id(None);
}
