//! `tamper_detection`: a ledger is changed behind arl's back — one byte of a stored event
//! (in the raw envelope file, and through the storage engine's own API), an event removed,
//! two reordered, the tail truncated, history rewritten wholesale — and `arl verify` must
//! exit 3, naming the first bad seq (or saying the store is corrupt): never a panic, never
//! exit 0. A digest saved before the tampering catches even a rewrite that is consistent in
//! itself: `arl verify --digest` and `arl proof SEQ --digest` exit 3.
//!
//! The log's layout (layout 4, `docs/FORMAT.md`): `log/envelopes` holds frames
//! `len u32 LE (flags in its two high bits) ‖ canonical JSON ‖ hash (32 bytes)`; `log/head`
//! four checksummed slots with the committed length and the head record (two taken by the
//! commits in turn, two by the checkpoints; the newest is the head); `log/keys` one 40-byte entry per seq (frame offset,
//! id and stream key hashes and chains) after the id buckets; `log/streams` the stream
//! records; `log/nodes` the stored Merkle nodes in completion order. A careful attacker
//! recomputes the head's checksum.

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
        let field = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        if field == 0 {
            // Zeros written ahead of the next commit.
            break;
        }
        let len = (field & FRAME_LEN_MASK) as usize;
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

/// A head slot's size, the bytes of it the checksum covers, and where the fields lie in it.
const HEAD_SLOT: usize = 4096;
const HEAD_BODY: usize = 4064;
const HEAD_COUNTER: usize = 32;
const HEAD_DATA_LEN: usize = 16;
/// Slots of the head file.
const HEAD_SLOTS: usize = 4;
/// The log's head record from 96 (after the dictionary's hash at 64): magic, seq, hash,
/// recorded_at, root, frontier.
const HEAD_SEQ: usize = 104;
const HEAD_HASH: usize = 112;
const HEAD_ROOT: usize = 152;
/// The length bits of a frame's length field.
const FRAME_LEN_MASK: u32 = (1 << 30) - 1;
/// The flag of a compressed frame.
const FRAME_COMPRESSED: u32 = 1 << 30;
/// Where the entries of `log/keys` start (header, then 2^18 id buckets of 16 bytes).
const ENTRIES_AT: usize = 4096 + (16 << 18);
const ENTRY_BYTES: usize = 40;

/// Where the current head slot starts: the one with the largest counter.
fn current_head_slot(bytes: &[u8]) -> usize {
    let counter = |slot: usize| {
        bytes
            .get(slot + HEAD_COUNTER..slot + HEAD_COUNTER + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    (0..HEAD_SLOTS)
        .map(|i| i * HEAD_SLOT)
        .max_by_key(|&slot| counter(slot))
        .expect("slots")
}

/// Edits the current head slot and, as a careful attacker would, recomputes its checksum.
fn edit_head(dir: &Path, edit: impl FnOnce(&mut [u8])) {
    let path = dir.join("log/head");
    let mut bytes = std::fs::read(&path).expect("head file");
    let at = current_head_slot(&bytes);
    let slot = &mut bytes[at..at + HEAD_SLOT];
    edit(slot);
    let sum = blake3::hash(&slot[..HEAD_BODY]);
    slot[HEAD_BODY..].copy_from_slice(sum.as_bytes());
    std::fs::write(&path, bytes).expect("writing the head file");
}

fn set_committed_len(dir: &Path, len: u64) {
    edit_head(dir, |b| {
        b[HEAD_DATA_LEN..HEAD_DATA_LEN + 8].copy_from_slice(&len.to_le_bytes());
    });
}

/// Flips one bit of a byte of a log file.
fn flip_byte(dir: &Path, file: &str, offset: usize, mask: u8) {
    let path = dir.join("log").join(file);
    let mut bytes = std::fs::read(&path).expect("a log file");
    bytes[offset] ^= mask;
    std::fs::write(&path, bytes).expect("writing a log file");
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
    let dict = std::fs::read(dir.join("log/dict")).expect("dict");
    let codec = arl_log::codec::Codec::of(&dict, arl_log::codec::FRAME_LEVEL).expect("codec");
    edit_file(&dir, |b| {
        let r = f[seq - 1].clone();
        let field = u32::from_le_bytes(b[r.start..r.start + 4].try_into().expect("4 bytes"));
        let stored = &b[r.start + 4..r.end - 32];
        let mut json = Vec::new();
        if field & FRAME_COMPRESSED != 0 {
            codec
                .decompress_into(stored, 1 << 20, &mut json)
                .expect("decompresses");
        } else {
            json.extend_from_slice(stored);
        }
        // Change a letter of the actor's name: still canonical JSON, other content.
        let member = b"{\"actor\":\"";
        assert_eq!(
            &json[..member.len()],
            member,
            "envelopes start with the actor"
        );
        let at = member.len();
        json[at] = if json[at] == b'x' { b'y' } else { b'x' };
        // The attacker recomputes this envelope's hash, so its own link holds, and stores
        // the frame uncompressed.
        let prev: [u8; 32] = b[f[seq - 2].end - 32..f[seq - 2].end]
            .try_into()
            .expect("hash");
        let hash = arl_log::chain_hash(&prev, &json);
        let mut frame = (json.len() as u32 | (field & !FRAME_LEN_MASK & !FRAME_COMPRESSED))
            .to_le_bytes()
            .to_vec();
        frame.extend_from_slice(&json);
        frame.extend_from_slice(&hash);
        b.splice(r, frame);
    });
    // The next envelope's hash chains from the old one: the first link that fails is 301.
    assert_detected(&dir, Some(301), "seq 300 edited and re-hashed");
}

#[test]
fn store_values_changed_through_the_store() {
    let p = pristine();
    let f = frames(&p.ledger.dir());

    // The first stored node, level 8 index 0, is the first 32 bytes of `nodes`.
    let dir = copy_of(&p, "node");
    flip_byte(&dir, "nodes", 7, 0x80);
    assert_detected(&dir, Some(256), "a stored Merkle node changed");

    let dir = copy_of(&p, "block-offset");
    let path = dir.join("log/keys");
    let mut keys = std::fs::read(&path).expect("keys");
    let at = ENTRIES_AT + 256 * ENTRY_BYTES;
    keys[at..at + 8].copy_from_slice(&(f[256].start as u64 + 1).to_le_bytes());
    std::fs::write(&path, keys).expect("writing keys");
    assert_detected(&dir, Some(257), "the offset of block 1 moved by one byte");

    let dir = copy_of(&p, "head-hash");
    edit_head(&dir, |b| b[HEAD_HASH + 3] ^= 0x01);
    assert_detected(
        &dir,
        Some(600),
        "one byte of the head record's hash changed",
    );
}

#[test]
fn index_entries_changed() {
    let p = pristine();
    // The index check reads a window's second half (here seqs 301..=600) on another thread,
    // from the offset seq 301's entry claims: a damaged entry on either side of that split,
    // or at it, is named as a one-threaded pass names it.
    for seq in [300, 301, 451] {
        // (field of the entry: offset, id hash, id chain, stream hash, stream chain)
        for (field, what) in [
            "offset",
            "id hash",
            "id chain",
            "stream hash",
            "stream chain",
        ]
        .into_iter()
        .enumerate()
        {
            let dir = copy_of(&p, &format!("entry-{seq}-{field}"));
            flip_byte(
                &dir,
                "keys",
                ENTRIES_AT + (seq - 1) * ENTRY_BYTES + field * 8,
                0x04,
            );
            assert_detected(
                &dir,
                Some(seq as u64),
                &format!("the {what} of seq {seq}'s entry"),
            );
        }
    }
    // An entry past the head is not read (a commit cut short leaves such bytes).
    let dir = copy_of(&p, "entry-past-head");
    let path = dir.join("log/keys");
    let mut keys = std::fs::read(&path).expect("keys");
    keys.extend_from_slice(&[0xa5; ENTRY_BYTES]);
    std::fs::write(&path, keys).expect("writing keys");
    assert_eq!(run_arl(&dir, &["verify", "--quiet"]).code, 0);
}

#[test]
fn bucket_tables_and_stream_records_changed() {
    let p = pristine();
    let keys = std::fs::read(p.ledger.dir().join("log/keys")).expect("keys");
    // An id bucket used once (one slot set, the other zero): its slot moved to another seq.
    let used = (4096..ENTRIES_AT)
        .step_by(16)
        .find(|&at| keys[at..at + 8] != [0; 8] && keys[at + 8..at + 16] == [0; 8])
        .expect("an id bucket used once");
    let dir = copy_of(&p, "id-bucket");
    flip_byte(&dir, "keys", used, 0x02);
    assert_detected(&dir, None, "an id bucket's slot changed");
    // An empty id bucket made to lead to seq 1.
    let empty = (4096..ENTRIES_AT)
        .step_by(16)
        .find(|&at| keys[at..at + 16] == [0; 16])
        .expect("an empty id bucket");
    let dir = copy_of(&p, "id-bucket-empty");
    flip_byte(&dir, "keys", empty, 0x01);
    assert_detected(&dir, None, "an empty id bucket made to lead to seq 1");
    // The first stream record's hash, and its latest seq.
    let records_at = 4096 + (16 << 16);
    for (what, at) in [("hash", records_at), ("latest seq", records_at + 16)] {
        let dir = copy_of(&p, &format!("record-{what}"));
        let path = dir.join("log/streams");
        let mut streams = std::fs::read(&path).expect("streams");
        let current = if what == "hash" {
            at
        } else {
            // The slot holding the current value: the larger of the two.
            let a = u64::from_le_bytes(streams[at..at + 8].try_into().expect("8 bytes"));
            let b = u64::from_le_bytes(streams[at + 8..at + 16].try_into().expect("8 bytes"));
            if a >= b {
                at
            } else {
                at + 8
            }
        };
        streams[current] ^= 0x01;
        std::fs::write(&path, streams).expect("writing streams");
        assert_detected(&dir, None, &format!("the first stream record's {what}"));
    }
}

/// Flips one bit of every head slot without fixing their checksums.
fn flip_head_record_byte(dir: &Path, offset: usize) {
    for slot in 0..HEAD_SLOTS {
        flip_byte(dir, "head", slot * HEAD_SLOT + offset, 0x01);
    }
}

/// A store so damaged that the log does not open (or does not read) is an integrity failure too: `arl verify`
/// exits 3 ("corrupt"), not 1 (which scripts read as "bad input, not found or busy").
#[test]
fn a_corrupt_store_is_an_integrity_failure_exit_3() {
    let p = pristine();
    for (name, offset) in [("root", HEAD_ROOT + 3), ("seq", HEAD_SEQ), ("magic", 0)] {
        let dir = copy_of(&p, &format!("meta-{name}"));
        flip_head_record_byte(&dir, offset);
        assert_detected(
            &dir,
            None,
            &format!("one byte of the head record's {name} changed"),
        );
    }
    // The two commit slots damaged: the head is taken from the checkpoint and the frames
    // past it indexed again (the index is derived from them): harmless.
    let dir = copy_of(&p, "commit-slots");
    for slot in 0..2 {
        flip_byte(&dir, "head", slot * HEAD_SLOT + HEAD_ROOT + 3, 0x01);
    }
    let run = run_arl(&dir, &["verify", "--quiet", "--digest", &p.digest_file]);
    assert_eq!(run.code, 0, "the commit slots damaged: {}", run.stderr);
    // With the checksum recomputed, the head's root still does not match the log.
    let dir = copy_of(&p, "meta-root-resummed");
    edit_head(&dir, |b| b[HEAD_ROOT + 3] ^= 0x01);
    assert_detected(
        &dir,
        None,
        "one byte of the head record's root changed, checksum recomputed",
    );
    // Torn: the file is shorter than the store says is committed.
    let dir = copy_of(&p, "torn");
    let end = frames(&dir).last().expect("frames").end;
    edit_file(&dir, |b| b.truncate(end - 10));
    assert_detected(&dir, None, "the last 10 bytes of the frames cut off");
    // The head file cut short.
    let dir = copy_of(&p, "bad-length");
    let path = dir.join("log/head");
    let head = std::fs::read(&path).expect("head");
    std::fs::write(&path, &head[..100]).expect("writing head");
    assert_detected(&dir, None, "the head file cut short");
    // The committed length garbled (checksum recomputed).
    let dir = copy_of(&p, "bad-committed-length");
    edit_head(&dir, |b| b[HEAD_DATA_LEN + 2] ^= 0x10);
    assert_detected(&dir, None, "the committed length garbled");
    // Every frame cut off, and the committed length set to match.
    let dir = copy_of(&p, "emptied");
    edit_file(&dir, Vec::clear);
    set_committed_len(&dir, 0);
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
    set_committed_len(&dir, len as u64);
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
    set_committed_len(&dir, f[596].end as u64);
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
