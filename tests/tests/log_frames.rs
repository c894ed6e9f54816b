//! log_frames: the compressed frames of log layout 5 seen from the command line. A ledger
//! built from the same `--imported` input exports the same bytes and has the same digest
//! as the arl of layout 4 made (frames uncompressed); a damaged or missing `log/dict` is
//! refused with a message naming it; a byte flipped inside a compressed frame is found by
//! `arl verify`, naming the seq; a compressed frame torn at the tail by a crash is cut off
//! at the next open. A log the arl before wrote at layout 5 (its frames compressed at
//! level 3, `fixtures/layout5`) is read as it is and takes this arl's frames (level 1).

mod support;

use sha2::Digest;
use std::path::Path;
use support::Ledger;

const COMPRESSED: u32 = 1 << 30;
const LEN_MASK: u32 = (1 << 30) - 1;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/layout4")
        .join(name);
    std::fs::read_to_string(path).expect("a fixture file")
}

/// The ledger of `fixtures/layout4/import.jsonl`, imported by this arl.
fn imported() -> Ledger {
    let ledger = Ledger::new();
    ledger.append(&fixture("import.jsonl"), true);
    ledger
}

/// `(offset, length field)` of each frame of the envelope file.
fn frames(envelopes: &[u8]) -> Vec<(usize, u32)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < envelopes.len() {
        let field = u32::from_le_bytes(envelopes[at..at + 4].try_into().expect("4 bytes"));
        if field == 0 {
            break;
        }
        out.push((at, field));
        at += 4 + (field & LEN_MASK) as usize + 32;
    }
    assert!(
        envelopes[at..].iter().all(|&b| b == 0),
        "the frames fill the file, then zeros written ahead"
    );
    out
}

/// Where the frames of an envelope file end (zeros written ahead follow).
fn frames_end(envelopes: &[u8]) -> usize {
    frames(envelopes)
        .last()
        .map_or(0, |&(at, field)| at + 4 + (field & LEN_MASK) as usize + 32)
}

/// Asserts that `ledger` has the digest and the export of the fixture's input as the arl of
/// layout 4 made them; returns the export.
fn assert_the_fixture_input(ledger: &Ledger) -> String {
    let want: serde_json::Value =
        serde_json::from_str(&fixture("import.digest.json")).expect("JSON");
    assert_eq!(ledger.json(&["digest"]), want);
    let export = ledger.run(&["export"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let sha: String = sha2::Sha256::digest(export.stdout.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sha, fixture("import.export.sha256").trim());
    export.stdout
}

#[test]
fn an_imported_input_gives_the_digest_and_export_of_layout_4() {
    let ledger = imported();
    assert_the_fixture_input(&ledger);
    // Every frame is stored compressed, and the file is under a third of the canonical
    // bytes (283,817 bytes at layout 4).
    let envelopes = std::fs::read(ledger.dir().join("log/envelopes")).expect("envelopes");
    let frames = frames(&envelopes);
    assert_eq!(frames.len(), 701);
    assert!(frames.iter().all(|(_, field)| field & COMPRESSED != 0));
    let stored = frames_end(&envelopes);
    assert!(stored < 283_817 / 3, "{stored} bytes");
    assert_eq!(ledger.json(&["verify", "--format", "json"])["ok"], true);
}

/// The fixture `fixtures/layout5`: the log of `fixtures/layout4/import.jsonl` as the arl
/// before this one wrote it, each frame compressed at level 3 (this arl compresses at
/// level 1: other bytes for the same frames), its last commit's head slot lost (see its
/// README). Opened as it is: the digest and export of the input, `arl verify` clean; then an
/// append of this arl goes on from it and `arl verify` checks the old frames and the new.
#[test]
fn a_log_the_arl_before_wrote_is_read_and_appended_to() {
    use support::copy_dir;
    let ledger = Ledger::new();
    let dir = ledger.dir();
    let layout5 = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/layout5/log");
    copy_dir(&layout5, &dir.join("log"));
    let old = std::fs::read(dir.join("log/envelopes")).expect("envelopes");
    let old_frames = frames(&old);
    assert_eq!(old_frames.len(), 701);
    assert!(old_frames.iter().all(|(_, field)| field & COMPRESSED != 0));
    // This arl stores the same frames in other bytes.
    let mine = std::fs::read(imported().dir().join("log/envelopes")).expect("envelopes");
    assert_ne!(old[..frames_end(&old)], mine[..frames_end(&mine)]);
    let export = assert_the_fixture_input(&ledger);
    assert_eq!(ledger.json(&["verify", "--format", "json"])["ok"], true);

    let run = ledger.run(&[
        "append",
        "--type",
        "person.joined",
        "--data",
        r#"{"person":"zz-new","name":"Z"}"#,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = std::fs::read(dir.join("log/envelopes")).expect("envelopes");
    assert_eq!(after[..frames_end(&old)], old[..frames_end(&old)]);
    assert_eq!(frames(&after).len(), 702);
    let verify = ledger.json(&["verify", "--format", "json"]);
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(verify["seq"], 702);
    let longer = ledger.run(&["export"]);
    assert_eq!(longer.code, 0, "{}", longer.stderr);
    assert!(longer.stdout.len() > export.len());
    assert!(longer.stdout.starts_with(export.as_str()));
}

#[test]
fn a_damaged_or_missing_dictionary_is_refused_naming_it() {
    let ledger = imported();
    let dict = ledger.dir().join("log/dict");
    let good = std::fs::read(&dict).expect("dict");
    for damage in [
        |b: &mut Vec<u8>| b[100] ^= 0x01,
        |b: &mut Vec<u8>| b.truncate(1000),
        |b: &mut Vec<u8>| b.push(0),
    ] {
        let mut bad = good.clone();
        damage(&mut bad);
        std::fs::write(&dict, &bad).expect("write");
        for args in [vec!["verify"], vec!["export"], vec!["digest"]] {
            let run = ledger.run(&args);
            assert_eq!(run.code, 3, "arl {args:?}: {}", run.stderr);
            assert!(
                run.stderr.contains("log/dict") && !run.stderr.contains("panicked"),
                "arl {args:?}: {}",
                run.stderr
            );
        }
    }
    std::fs::remove_file(&dict).expect("remove");
    let run = ledger.run(&["verify"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("log/dict is missing"), "{}", run.stderr);
    std::fs::write(&dict, &good).expect("write");
    assert_eq!(ledger.json(&["verify", "--format", "json"])["ok"], true);
}

#[test]
fn a_byte_flipped_in_a_compressed_frame_is_found_by_verify() {
    let ledger = imported();
    let path = ledger.dir().join("log/envelopes");
    let good = std::fs::read(&path).expect("envelopes");
    let (at, field) = frames(&good)[299];
    let len = (field & LEN_MASK) as usize;
    for (i, bit) in [(0, 0), (1, 3), (len / 2, 5), (len - 1, 7)] {
        let mut bad = good.clone();
        bad[at + 4 + i] ^= 1 << bit;
        std::fs::write(&path, &bad).expect("write");
        let run = ledger.run(&["verify", "--format", "json"]);
        assert_eq!(run.code, 3, "byte {i}: {}", run.stderr);
        assert!(
            run.stderr.contains("seq 300") && !run.stderr.contains("panicked"),
            "byte {i}: {}",
            run.stderr
        );
    }
    std::fs::write(&path, &good).expect("write");
    assert_eq!(ledger.json(&["verify", "--format", "json"])["ok"], true);
}

#[test]
fn a_compressed_frame_torn_at_the_tail_is_cut_at_the_next_open() {
    let ledger = imported();
    let snapshot = Ledger::new();
    support::copy_dir(&ledger.dir(), &snapshot.dir());
    let before = std::fs::read(ledger.dir().join("log/envelopes")).expect("envelopes");
    let before = before[..frames_end(&before)].to_vec();
    let run = ledger.run(&[
        "append",
        "--type",
        "person.joined",
        "--data",
        r#"{"person":"torn-one","name":"Torn One"}"#,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = std::fs::read(ledger.dir().join("log/envelopes")).expect("envelopes");
    let frame = &after[before.len()..frames_end(&after)];
    let field = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes"));
    assert_ne!(field & COMPRESSED, 0, "the appended frame is compressed");
    let digest = snapshot.digest();
    // The next commit's frame written in part: what a crash before its sync leaves.
    for cut in [4, 6, frame.len() / 2, frame.len() - 33, frame.len() - 1] {
        let torn = Ledger::new();
        support::copy_dir(&snapshot.dir(), &torn.dir());
        let mut bytes = before.clone();
        bytes.extend_from_slice(&frame[..cut]);
        std::fs::write(torn.dir().join("log/envelopes"), &bytes).expect("write");
        let verify = torn.run(&["verify", "--format", "json"]);
        assert_eq!(verify.code, 0, "cut at {cut}: {}", verify.stderr);
        assert_eq!(torn.digest(), digest, "cut at {cut}");
        assert_eq!(
            std::fs::read(torn.dir().join("log/envelopes")).expect("envelopes"),
            before,
            "cut at {cut}: the torn frame is cut off"
        );
    }
}

/// Trains the envelope dictionary built into arl again, on the envelopes of a generated
/// ledger, into `crates/arl-log/dict/envelopes-1.zdict`. A new dictionary changes what new
/// logs store, never how an existing log is read (each keeps its own `log/dict`).
#[test]
#[ignore = "writes crates/arl-log/dict/envelopes-1.zdict; run by hand"]
fn make_the_envelope_dictionary() {
    let ledger = Ledger::new();
    ledger.append(&support::generated(40_000, 42), true);
    let log = arl_log::Log::open(&ledger.dir().join("log")).expect("the log");
    let samples: Vec<Vec<u8>> = log
        .range(1, u64::MAX)
        .map(|envelope| envelope.expect("an envelope").canonical_bytes())
        .collect();
    let dictionary = zstd::dict::from_samples(&samples, 32 * 1024).expect("training");
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/arl-log/dict/envelopes-1.zdict");
    std::fs::write(path, dictionary).expect("writing the dictionary");
}
