//! The directory store's layout: a log of layout 2 (sled index) is refused with a message
//! naming `arl upgrade` and converted in place by [`arl_log::upgrade`]; a commit whose
//! frames were synced (the commit point) but whose index and head never reached the disk
//! is indexed at the next open; a commit whose frames did not all reach the disk is undone
//! and leaves the index answering as before it.

use std::path::Path;

use arl_log::{upgrade, Envelope, Log, LogError, NewEvent, Outcome, SledStore, Upgraded};
use serde_json::json;

const T0: i64 = 1_709_366_400_000_000;
const SECOND: i64 = 1_000_000;

fn event(i: u64) -> NewEvent {
    // Seven streams of unequal length, every event with an id.
    let stream = format!("account/a{}", i % 7);
    let mut e = NewEvent::new(
        "account.renamed",
        &stream,
        "tester",
        &json!({"account": format!("a{}", i % 7), "name": format!("name {i}")}),
    )
    .expect("object data");
    e.id = Some(format!("ev-{i}"));
    e
}

fn append(log: &mut Log, from: u64, to: u64, now: i64) -> Vec<Outcome> {
    let prepared = log
        .prepare((from..to).map(event).collect(), now)
        .expect("prepare");
    let outcomes = prepared.outcomes.clone();
    log.commit(prepared).expect("commit");
    outcomes
}

fn all(log: &Log) -> Vec<Envelope> {
    log.range(1, u64::MAX)
        .collect::<Result<_, _>>()
        .expect("range")
}

/// What the log answers: every envelope, each stream's seqs and version, some ids' seqs.
type Answers = (Vec<Envelope>, Vec<(Vec<u64>, u64)>, Vec<Option<u64>>);

fn answers(log: &Log) -> Answers {
    let streams = (0..7)
        .map(|s| {
            let name = format!("account/a{s}");
            let seqs = log
                .stream(&name)
                .expect("stream")
                .iter()
                .map(|e| e.seq)
                .collect();
            (seqs, log.stream_version(&name).expect("version"))
        })
        .collect();
    let ids = [0, 1, 299, 700, 999, 5000]
        .iter()
        .map(|i| log.lookup_id(&format!("ev-{i}")).expect("lookup"))
        .collect();
    (all(log), streams, ids)
}

fn layout_2_log(dir: &Path) -> Log {
    std::fs::create_dir_all(dir).expect("log dir");
    Log::open_store(Box::new(SledStore::open(dir).expect("sled store"))).expect("open")
}

/// The frames of a log of layout 5 in the form of layout 2: compressed ones decompressed
/// with the log's dictionary, the flags of the length fields cleared. Also returns how
/// many were compressed and where the frames end (zeros written ahead may follow them).
fn canonical_frames(log_dir: &Path) -> (Vec<u8>, usize, usize) {
    let stored = std::fs::read(log_dir.join("envelopes")).expect("envelopes");
    let dict = std::fs::read(log_dir.join("dict")).expect("dict");
    let codec = arl_log::codec::Codec::of(&dict, arl_log::codec::FRAME_LEVEL).expect("codec");
    let (mut out, mut compressed) = (Vec::new(), 0);
    let mut at = 0;
    while at < stored.len() {
        let field = u32::from_le_bytes(stored[at..at + 4].try_into().expect("4 bytes"));
        if field == 0 {
            assert!(
                stored[at..].iter().all(|&b| b == 0),
                "only zeros follow the frames"
            );
            break;
        }
        let len = (field & ((1 << 30) - 1)) as usize;
        let body = &stored[at + 4..at + 4 + len];
        let mut canonical = Vec::new();
        if field & (1 << 30) != 0 {
            compressed += 1;
            codec
                .decompress_into(body, 1 << 20, &mut canonical)
                .expect("a compressed frame decompresses");
        } else {
            canonical.extend_from_slice(body);
        }
        out.extend_from_slice(&(canonical.len() as u32).to_le_bytes());
        out.extend_from_slice(&canonical);
        out.extend_from_slice(&stored[at + 4 + len..at + 4 + len + 32]);
        at += 4 + len + 32;
    }
    (out, compressed, at)
}

#[test]
fn a_layout_2_log_is_refused_then_upgraded_in_place() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("log");
    let (head, before) = {
        let mut old = layout_2_log(&dir);
        append(&mut old, 0, 300, T0);
        append(&mut old, 300, 301, T0 + SECOND);
        append(&mut old, 301, 1000, T0 + 2 * SECOND);
        (old.head(), answers(&old))
    };
    let envelopes_before = std::fs::read(dir.join("envelopes")).expect("envelopes");

    let refused = Log::open(&dir).err().expect("a layout-2 log is refused");
    assert!(matches!(refused, LogError::OldLayout { .. }), "{refused:?}");
    assert!(refused.to_string().contains("arl upgrade"), "{refused}");

    let mut seen = 0;
    let upgraded = upgrade(&dir, &mut |seq| seen = seq).expect("upgrade");
    assert_eq!(upgraded, Upgraded::Converted(head));
    assert_eq!(seen, 1000);
    assert!(!dir.join("index").exists(), "the sled index is removed");
    assert!(
        !dir.join("upgrade").exists(),
        "the work directory is removed"
    );
    let (canonical_after, compressed, stored_len) = canonical_frames(&dir);
    assert!(
        canonical_after == envelopes_before,
        "the envelope file holds the same frames, compressed"
    );
    assert_eq!(compressed, 1000, "every frame is compressed");
    assert!(
        stored_len * 2 < envelopes_before.len(),
        "{stored_len} bytes against {}",
        envelopes_before.len()
    );

    let mut log = Log::open(&dir).expect("the upgraded log opens");
    assert_eq!(log.head(), head);
    assert_eq!(log.verify(&mut |_| {}).expect("verify"), head);
    assert_eq!(answers(&log), before);
    // Ids stored before the upgrade are still found: resending one is a duplicate.
    let again = log
        .prepare(vec![event(5)], T0 + 3 * SECOND)
        .expect("prepare");
    assert_eq!(again.outcomes, vec![Outcome::Duplicate { seq: 6 }]);
    append(&mut log, 1000, 1100, T0 + 3 * SECOND);
    assert_eq!(log.verify(&mut |_| {}).expect("verify").seq, 1100);
    drop(log);
    assert_eq!(
        upgrade(&dir, &mut |_| {}).expect("a second upgrade"),
        Upgraded::AlreadyCurrent
    );
}

#[test]
fn an_upgrade_cut_short_before_the_switch_runs_again() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("log");
    let head = {
        let mut old = layout_2_log(&dir);
        append(&mut old, 0, 600, T0);
        old.head()
    };
    // What an upgrade leaves when cut before its switch: a work directory and new index
    // files beside the sled index, no head file.
    std::fs::create_dir_all(dir.join("upgrade")).expect("work dir");
    std::fs::write(dir.join("upgrade/envelopes"), b"half").expect("write");
    std::fs::write(dir.join("keys"), b"half").expect("write");
    assert!(matches!(Log::open(&dir), Err(LogError::OldLayout { .. })));
    assert_eq!(
        upgrade(&dir, &mut |_| {}).expect("upgrade"),
        Upgraded::Converted(head)
    );
    let log = Log::open(&dir).expect("open");
    assert_eq!(log.verify(&mut |_| {}).expect("verify"), head);
}

/// The index files and the head, as they are now.
fn index_files(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    ["keys", "streams", "nodes", "head"]
        .into_iter()
        .map(|name| (name, std::fs::read(dir.join(name)).expect("an index file")))
        .collect()
}

fn restore(dir: &Path, files: &[(&'static str, Vec<u8>)]) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("restoring an index file");
    }
}

#[test]
fn a_commit_whose_index_never_reached_the_disk_is_indexed_at_the_next_open() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("log");
    let mut log = Log::open(&dir).expect("open");
    append(&mut log, 0, 500, T0);
    let index = index_files(&dir);
    // The commit point is the sync of the frames: a crash right after it leaves the index
    // and the head of the commit before.
    append(&mut log, 500, 700, T0 + SECOND);
    let after = answers(&log);
    let head = log.head();
    drop(log);
    restore(&dir, &index);

    let mut log = Log::open(&dir).expect("open after the crash");
    assert_eq!(log.head(), head);
    assert_eq!(answers(&log), after);
    assert_eq!(log.verify(&mut |_| {}).expect("verify"), head);
    let outcomes = append(&mut log, 700, 710, T0 + 2 * SECOND);
    assert_eq!(outcomes[0], Outcome::Appended { seq: 701 });
    assert_eq!(log.verify(&mut |_| {}).expect("verify").seq, 710);
}

#[test]
fn a_commit_whose_frames_never_all_reached_the_disk_is_undone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("log");
    let mut log = Log::open(&dir).expect("open");
    append(&mut log, 0, 500, T0);
    let before = answers(&log);
    let head = log.head();
    let index = index_files(&dir);
    let committed_len = log.committed_len();
    append(&mut log, 500, 700, T0 + SECOND);
    let full_len = log.committed_len();
    drop(log);
    for cut in [full_len - 1, full_len - 40, (committed_len + full_len) / 2] {
        // The write of the frames cut short, before their sync: no index byte was written.
        let copy = tmp.path().join(format!("cut-{cut}"));
        std::fs::create_dir_all(&copy).expect("mkdir");
        for name in ["envelopes", "keys", "streams", "nodes", "head", "dict"] {
            std::fs::copy(dir.join(name), copy.join(name)).expect("copy");
        }
        restore(&copy, &index);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.join("envelopes"))
            .expect("envelopes");
        file.set_len(cut).expect("cut");
        drop(file);

        let mut log = Log::open(&copy).expect("open after the cut commit");
        assert_eq!(log.head(), head, "cut at {cut}");
        assert_eq!(answers(&log), before, "cut at {cut}");
        assert_eq!(log.verify(&mut |_| {}).expect("verify"), head);
        // Other events at the same seqs: the index follows them.
        let outcomes = append(&mut log, 5000, 5100, T0 + 2 * SECOND);
        assert_eq!(outcomes[0], Outcome::Appended { seq: 501 });
        assert_eq!(log.lookup_id("ev-600").expect("lookup"), None);
        assert_eq!(log.lookup_id("ev-5000").expect("lookup"), Some(501));
        assert_eq!(log.verify(&mut |_| {}).expect("verify").seq, 600);
        // And the lost batch can be appended again.
        append(&mut log, 500, 700, T0 + 3 * SECOND);
        assert_eq!(log.lookup_id("ev-600").expect("lookup"), Some(701));
        assert_eq!(log.verify(&mut |_| {}).expect("verify").seq, 800);
    }
}
