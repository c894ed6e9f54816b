//! `tamper_detection`: a ledger is changed behind arl's back — one byte of a stored event
//! (in the raw envelope file, and through the storage engine's own API), an event removed,
//! two reordered, the tail truncated, history rewritten wholesale — and `arl verify` must
//! exit 3, naming the first bad seq (or saying the store is corrupt): never a panic, never
//! exit 0. A digest saved before the tampering catches even a rewrite that is consistent in
//! itself: `arl verify --digest` and `arl proof SEQ --digest` exit 3.
//!
//! The log's layout (from `arl-log`'s store): `log/envelopes` holds frames
//! `len u32 LE ‖ canonical JSON ‖ hash (32 bytes)`; `log/index` is a sled database with the
//! committed file length (`D`), block offsets (`B` ‖ block u64 BE), Merkle nodes
//! (`N` ‖ level ‖ index u64 BE) and the head record (`M`).

mod support;

use std::path::{Path, PathBuf};
use support::{copy_dir, run_arl, Ledger, Run};

/// Events in the pristine ledger: three blocks of 256, so stored Merkle nodes exist.
const EVENTS: u64 = 600;
const SEED: u64 = 3;

struct Pristine {
    ledger: Ledger,
    lines: Vec<String>,
    digest_file: String,
}

fn pristine() -> Pristine {
    let ledger = Ledger::new();
    let text = support::generated(EVENTS, SEED);
    // Two appends, so the log has more than one commit.
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let half = lines.len() / 2;
    ledger.append(&(lines[..half].join("\n") + "\n"), true);
    ledger.append(&(lines[half..].join("\n") + "\n"), true);
    let digest = ledger.digest();
    let digest_file = ledger.write("digest.json", &digest);
    assert_eq!(ledger.run(&["verify", "--quiet"]).code, 0);
    Pristine {
        ledger,
        lines,
        digest_file,
    }
}

/// A copy of the pristine ledger to damage.
fn copy_of(p: &Pristine, name: &str) -> PathBuf {
    let dir = p.ledger.tmp.path().join(name);
    copy_dir(&p.ledger.dir(), &dir);
    dir
}

/// Byte ranges of each frame in `log/envelopes`, by seq (index 0 = seq 1).
fn frames(dir: &Path) -> Vec<std::ops::Range<usize>> {
    let bytes = std::fs::read(dir.join("log/envelopes")).expect("envelope file");
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let end = at + 4 + len + 32;
        out.push(at..end);
        at = end;
    }
    assert_eq!(
        out.len() as u64,
        EVENTS,
        "the envelope file holds one frame per event"
    );
    out
}

fn edit_file(dir: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let path = dir.join("log/envelopes");
    let mut bytes = std::fs::read(&path).expect("envelope file");
    edit(&mut bytes);
    std::fs::write(&path, bytes).expect("writing the envelope file");
}

/// Runs `f` on the sled database of the log (the store's own API).
fn with_store(dir: &Path, f: impl FnOnce(&sled::Db)) {
    let db = sled::open(dir.join("log/index")).expect("opening the store");
    f(&db);
    db.flush().expect("flushing the store");
}

fn set_committed_len(db: &sled::Db, len: u64) {
    db.insert(b"D", &len.to_le_bytes()).expect("insert");
}

/// The seq an integrity message names ("... at seq N ..."), if any.
fn named_seq(stderr: &str) -> Option<u64> {
    let at = stderr.find("at seq ")? + "at seq ".len();
    let digits: String = stderr[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `arl verify` on a damaged ledger: exit 3, no panic, nothing on stdout, and the first
/// bad seq named (or, with `None`, the store called corrupt).
fn assert_detected(dir: &Path, first_bad: Option<u64>, what: &str) -> Run {
    let run = run_arl(dir, &["verify", "--quiet"]);
    assert!(
        !run.stderr.contains("panicked"),
        "{what}: arl verify panicked: {}",
        run.stderr
    );
    assert_eq!(
        run.code, 3,
        "{what}: arl verify exit code; stderr: {}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "{what}: arl verify printed a head");
    match first_bad {
        Some(seq) => assert_eq!(
            named_seq(&run.stderr),
            Some(seq),
            "{what}: the first bad seq; stderr: {}",
            run.stderr
        ),
        None => assert!(
            run.stderr.contains("corrupt") || named_seq(&run.stderr).is_some(),
            "{what}: the message says neither corrupt nor a seq: {}",
            run.stderr
        ),
    }
    run
}

#[test]
fn one_byte_of_a_stored_event_changed_in_the_raw_file() {
    let p = pristine();
    let f = frames(&p.ledger.dir());
    // (what, byte offset in the file, first bad seq)
    let data_of_300 = f[299].start + (f[299].end - f[299].start) / 2;
    let cases = [
        ("the middle of seq 300's JSON", data_of_300, 300),
        ("the first byte of seq 1's JSON", f[0].start + 4, 1),
        ("a byte of seq 300's stored hash", f[299].end - 5, 300),
        ("the length prefix of seq 300", f[299].start, 300),
        (
            "the first byte of block 1 (seq 257)",
            f[256].start + 10,
            257,
        ),
        (
            "the last byte of the file (seq 600's hash)",
            f[599].end - 1,
            600,
        ),
    ];
    for (i, (what, offset, bad)) in cases.into_iter().enumerate() {
        let dir = copy_of(&p, &format!("raw-{i}"));
        edit_file(&dir, |b| b[offset] ^= 0x01);
        assert_detected(&dir, Some(bad), what);
        // A digest saved before fails too, and so does a proof against it.
        let run = run_arl(&dir, &["verify", "--digest", &p.digest_file]);
        assert_eq!(run.code, 3, "{what}: verify --digest: {}", run.stderr);
    }
}

#[test]
fn every_sampled_byte_of_the_envelope_file_is_covered() {
    let p = pristine();
    let f = frames(&p.ledger.dir());
    let total = f[f.len() - 1].end;
    let mut rng = arl_gen::rng::Rng::new(99);
    for i in 0..24 {
        let offset = rng.below(total as u64) as usize;
        let seq = f
            .iter()
            .position(|r| r.contains(&offset))
            .expect("in a frame") as u64
            + 1;
        let dir = copy_of(&p, &format!("sweep-{i}"));
        edit_file(&dir, |b| {
            b[offset] = b[offset].wrapping_add(1 + rng.below(255) as u8);
        });
        assert_detected(
            &dir,
            Some(seq),
            &format!("byte {offset} (in seq {seq}) changed"),
        );
    }
}

#[test]
fn an_edited_event_with_a_recomputed_hash_breaks_the_next_link() {
    let p = pristine();
    let dir = copy_of(&p, "rehashed");
    let f = frames(&dir);
    let seq = 300;
    edit_file(&dir, |b| {
        let r = f[seq - 1].clone();
        let json_start = r.start + 4;
        let json_end = r.end - 32;
        // Change a letter of the actor's name: still canonical JSON, other content.
        let member = b"{\"actor\":\"";
        let at = json_start + member.len();
        assert_eq!(&b[json_start..at], member, "envelopes start with the actor");
        b[at] = if b[at] == b'x' { b'y' } else { b'x' };
        // The attacker recomputes this envelope's hash, so its own link holds.
        let prev: [u8; 32] = b[f[seq - 2].end - 32..f[seq - 2].end]
            .try_into()
            .expect("hash");
        let hash = arl_log::chain_hash(&prev, &b[json_start..json_end]);
        b[json_end..r.end].copy_from_slice(&hash);
    });
    // The next envelope's hash chains from the old one: the first link that fails is 301.
    assert_detected(&dir, Some(301), "seq 300 edited and re-hashed");
}

#[test]
fn store_values_changed_through_the_store() {
    let p = pristine();
    let f = frames(&p.ledger.dir());

    let dir = copy_of(&p, "node");
    with_store(&dir, |db| {
        let key = [b"N".as_slice(), &[8u8], &0u64.to_be_bytes()].concat();
        let mut node = db
            .get(&key)
            .expect("get")
            .expect("Merkle node 8/0")
            .to_vec();
        node[7] ^= 0x80;
        db.insert(key, node).expect("insert");
    });
    assert_detected(&dir, Some(256), "a stored Merkle node changed");

    let dir = copy_of(&p, "block-offset");
    with_store(&dir, |db| {
        let key = [b"B".as_slice(), &1u64.to_be_bytes()].concat();
        db.insert(key, &(f[256].start as u64 + 1).to_le_bytes())
            .expect("insert");
    });
    assert_detected(&dir, Some(257), "the offset of block 1 moved by one byte");

    let dir = copy_of(&p, "head-hash");
    flip_head_record_byte(&dir, 16 + 3);
    assert_detected(
        &dir,
        Some(600),
        "one byte of the head record's hash changed",
    );
}

/// The head record starts: magic (8 bytes), seq u64 LE, head hash (32), recorded_at i64,
/// Merkle root (32), frontier.
fn flip_head_record_byte(dir: &Path, offset: usize) {
    with_store(dir, |db| {
        let mut meta = db.get(b"M").expect("get").expect("head record").to_vec();
        meta[offset] ^= 0x01;
        db.insert(b"M", meta).expect("insert");
    });
}

/// A store so damaged that the log does not open (or does not read) is an integrity failure too: `arl verify`
/// exits 3 ("corrupt"), not 1 (which scripts read as "bad input, not found or busy").
#[test]

fn a_corrupt_store_is_an_integrity_failure_exit_3() {
    let p = pristine();
    for (name, offset) in [("root", 56 + 3), ("seq", 8), ("magic", 0)] {
        let dir = copy_of(&p, &format!("meta-{name}"));
        flip_head_record_byte(&dir, offset);
        assert_detected(
            &dir,
            None,
            &format!("one byte of the head record's {name} changed"),
        );
    }
    // Torn: the file is shorter than the store says is committed.
    let dir = copy_of(&p, "torn");
    edit_file(&dir, |b| b.truncate(b.len() - 10));
    assert_detected(&dir, None, "the last 10 bytes of the envelope file cut off");
    // The committed length is not 8 bytes.
    let dir = copy_of(&p, "bad-length");
    with_store(&dir, |db| {
        db.insert(b"D", b"12345".as_slice()).expect("insert");
    });
    assert_detected(&dir, None, "the committed length garbled");
    // Every frame cut off, and the committed length set to match.
    let dir = copy_of(&p, "emptied");
    edit_file(&dir, Vec::clear);
    with_store(&dir, |db| set_committed_len(db, 0));
    assert_detected(&dir, None, "every frame cut off");
}

#[test]
fn an_event_removed() {
    let p = pristine();
    let dir = copy_of(&p, "removed");
    let f = frames(&dir);
    let cut = f[299].clone();
    edit_file(&dir, |b| {
        b.drain(cut.clone());
    });
    // The store's committed length follows, as a careful attacker would make it.
    let len = f[599].end - cut.len();
    with_store(&dir, |db| set_committed_len(db, len as u64));
    assert_detected(&dir, Some(300), "seq 300 removed");
}

#[test]
fn two_events_reordered() {
    let p = pristine();
    let dir = copy_of(&p, "reordered");
    let f = frames(&dir);
    edit_file(&dir, |b| {
        let first = b[f[299].clone()].to_vec();
        let second = b[f[300].clone()].to_vec();
        let mut swapped = second;
        swapped.extend_from_slice(&first);
        b.splice(f[299].start..f[300].end, swapped);
    });
    assert_detected(&dir, Some(300), "seqs 300 and 301 swapped");
}

#[test]
fn the_tail_truncated() {
    let p = pristine();
    let f = frames(&p.ledger.dir());

    // Clean: the last three frames cut and the committed length set to match.
    let dir = copy_of(&p, "cut");
    edit_file(&dir, |b| b.truncate(f[596].end));
    with_store(&dir, |db| set_committed_len(db, f[596].end as u64));
    assert_detected(&dir, Some(598), "seqs 598..600 cut off");
}

/// A ledger rebuilt from other lines, consistent in itself, put in the place of the
/// original: `arl verify` alone cannot tell, a saved digest can.
fn forged(p: &Pristine, name: &str, lines: &[String]) -> PathBuf {
    let forger = Ledger::new();
    forger.append(&(lines.join("\n") + "\n"), true);
    let dir = p.ledger.tmp.path().join(name);
    copy_dir(&forger.dir(), &dir);
    dir
}

#[test]
fn history_rewritten_fails_against_an_older_digest() {
    let p = pristine();
    let mut lines = p.lines.clone();
    let seq = (200..lines.len())
        .find(|&i| lines[i].contains(r#""name":""#))
        .expect("a line with a name");
    lines[seq] = lines[seq].replacen(r#""name":""#, r#""name":"Forged "#, 1);
    let dir = forged(&p, "rewritten", &lines);
    assert_eq!(
        run_arl(&dir, &["verify", "--quiet"]).code,
        0,
        "the forgery is consistent in itself"
    );
    let run = run_arl(&dir, &["verify", "--quiet", "--digest", &p.digest_file]);
    assert_eq!(run.code, 3, "verify --digest: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for proved in ["1", &(seq + 1).to_string(), "600"] {
        let run = run_arl(&dir, &["proof", proved, "--digest", &p.digest_file]);
        assert_eq!(run.code, 3, "proof {proved} --digest: {}", run.stderr);
        assert_eq!(run.stdout, "", "proof {proved} printed a proof");
    }
    // The original still proves against its digest.
    let run = p.ledger.run(&["proof", "300", "--digest", &p.digest_file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = p
        .ledger
        .run(&["verify", "--quiet", "--digest", &p.digest_file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn history_truncated_and_extended_fails_against_an_older_digest() {
    let p = pristine();
    // The last ten events dropped: consistent, but shorter than the digest.
    let dir = forged(&p, "shorter", &p.lines[..590]);
    assert_eq!(run_arl(&dir, &["verify", "--quiet"]).code, 0);
    let run = run_arl(&dir, &["verify", "--quiet", "--digest", &p.digest_file]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let run = run_arl(&dir, &["proof", "5", "--digest", &p.digest_file]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    // The last event changed, then more appended: longer than the digest, not extending it.
    let mut lines = p.lines.clone();
    let last = lines.len() - 1;
    lines[last] = lines[last].replacen(r#""type":"#, r#""reason":"forged","type":"#, 1);
    lines.extend((0..50).map(|i| {
        format!(
            r#"{{"type":"person.joined","data":{{"person":"forger-{i}","name":"F"}},"recorded_at":"2026-07-01T00:00:00Z"}}"#
        )
    }));
    let dir = forged(&p, "longer", &lines);
    assert_eq!(run_arl(&dir, &["verify", "--quiet"]).code, 0);
    let run = run_arl(&dir, &["verify", "--quiet", "--digest", &p.digest_file]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let run = run_arl(&dir, &["proof", "600", "--digest", &p.digest_file]);
    assert_eq!(run.code, 3, "{}", run.stderr);
}
