//! The Ledger: appends through the log and validation into the views; rejected batches leave
//! everything unchanged; replay and catch-up give the same bytes as incremental appends.

mod common;

use arl_domain::{InputEvent, Timestamp};
use arl_fold::{MemIndex, Source};
use arl_log::{LedgerLock, Log};
use arl_views::{
    open_reader, recorded_from_envelope, AppendFailure, AppendOptions, FailureKind, Ledger,
    ViewReader, LOG_DIR, VIEWS_DIR,
};
use common::dir_bytes;
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

fn parse(lines: &[&str]) -> Vec<InputEvent> {
    lines
        .iter()
        .map(|l| InputEvent::parse_line(l, false).unwrap())
        .collect()
}

fn generated(n: u64, seed: u64) -> Vec<InputEvent> {
    arl_gen::Generator::new(arl_gen::Config::new(n, seed))
        .map(|l| InputEvent::parse_line(&l, true).unwrap())
        .collect()
}

fn append_in_batches(dir: &Path, events: Vec<InputEvent>, batch: usize) {
    let mut ledger = Ledger::open(dir, WAIT).unwrap();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<InputEvent> = events.by_ref().take(batch).collect();
        ledger.append(chunk, &opts(true)).unwrap();
    }
}

const OPEN: &str = r#"{"type":"account.opened","data":{"account":"acme","name":"ACME","scope":"global"},"effective_at":"2024-01-01"}"#;
const JOIN: &str = r#"{"type":"person.joined","data":{"person":"jdoe","name":"J Doe"},"effective_at":"2024-01-01"}"#;
const ASSIGN: &str = r#"{"type":"team.assigned","data":{"account":"acme","person":"jdoe","role":"media"},"effective_at":"2024-02-01"}"#;
const SALE: &str = r#"{"type":"transaction.recorded","data":{"account":"acme","txn":"i1","kind":"sale","amount":"10.50","currency":"EUR"},"effective_at":"2024-02-02"}"#;

#[test]
fn append_then_query_without_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    let report = ledger
        .append(parse(&[OPEN, JOIN, ASSIGN, SALE]), &opts(false))
        .unwrap();
    assert_eq!(
        (report.appended, report.duplicates, report.head.seq),
        (4, 0, 4)
    );
    assert_eq!(
        ledger
            .reader()
            .unwrap()
            .account_events("acme")
            .unwrap()
            .len(),
        2
    );
    drop(ledger);
    let (_lock, reader) = open_reader(dir.path(), WAIT).unwrap();
    assert_eq!(reader.account_ids(), vec!["acme"]);
    assert_eq!(reader.person_events("jdoe").unwrap().len(), 2);
    assert_eq!(reader.txn_events("acme").unwrap()[0].seq, 4);
    let missing = tempfile::tempdir().unwrap();
    assert!(open_reader(&missing.path().join("nothing"), WAIT).is_err());
    assert!(
        !missing.path().join("nothing").exists(),
        "a query creates nothing"
    );
}

fn snapshot(dir: &Path) -> (u64, Vec<(String, Vec<u8>)>) {
    let reader = ViewReader::open(&dir.join(VIEWS_DIR)).unwrap();
    (Source::checkpoint(&reader), dir_bytes(&dir.join(VIEWS_DIR)))
}

fn assert_rejected(dir: &Path, lines: &[&str], kind: FailureKind, index: usize) {
    let before = snapshot(dir);
    let mut ledger = Ledger::open(dir, WAIT).unwrap();
    let head = ledger.log().head();
    let failure: AppendFailure = ledger.append(parse(lines), &opts(false)).unwrap_err();
    assert_eq!(
        (failure.kind, failure.index),
        (kind, Some(index)),
        "{failure}"
    );
    assert_eq!(ledger.log().head(), head, "log head unchanged");
    assert_eq!(
        ledger.reader().unwrap().heads().checkpoint,
        head.seq,
        "the views are at the log's head"
    );
    drop(ledger);
    assert_eq!(snapshot(dir), before, "every view file unchanged");
}

#[test]
fn rejected_batches_leave_log_and_views_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    Ledger::open(dir.path(), WAIT)
        .unwrap()
        .append(parse(&[OPEN, JOIN]), &opts(false))
        .unwrap();
    // Rule: the second event assigns a person who never joined.
    let ghost =
        r#"{"type":"team.assigned","data":{"account":"acme","person":"ghost","role":"media"}}"#;
    assert_rejected(dir.path(), &[ASSIGN, ghost], FailureKind::Rule, 1);
    // Rule within the batch: the same assignment twice.
    assert_rejected(dir.path(), &[SALE, ASSIGN, ASSIGN], FailureKind::Rule, 2);
    // Stale expected_version: the account stream is at version 1.
    let stale =
        r#"{"type":"account.renamed","data":{"account":"acme","name":"X"},"expected_version":7}"#;
    assert_rejected(dir.path(), &[SALE, stale], FailureKind::StaleVersion, 1);
    // After all that, the good batch goes in.
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    let report = ledger.append(parse(&[ASSIGN, SALE]), &opts(false)).unwrap();
    assert_eq!(report.head.seq, 4);
    let again = ledger.append(parse(&[ASSIGN]), &opts(false)).unwrap_err();
    assert_eq!(again.kind, FailureKind::Rule);
}

/// A transaction line for `txn`, effective on `date`, and a reversal of `txn` effective on
/// 2024-06-01.
fn sale(txn: &str, date: &str) -> String {
    format!(
        r#"{{"type":"transaction.recorded","data":{{"account":"acme","txn":"{txn}","kind":"sale","amount":"1.00","currency":"EUR"}},"effective_at":"{date}"}}"#
    )
}

fn reversal(txn: &str) -> String {
    format!(
        r#"{{"type":"transaction.reversed","data":{{"account":"acme","txn":"{txn}"}},"effective_at":"2024-06-01"}}"#
    )
}

/// Validation knows the batch's own transactions: a reversal finds one recorded earlier in
/// the batch, and a txn id recorded or reversed twice is refused at the second, in a small
/// batch (checked on the appending thread) and in a large one (checked beside the build).
#[test]
fn a_batchs_own_transactions_are_known_to_the_rest_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (i1, r1) = (sale("i1", "2024-02-02"), reversal("i1"));
    let report = Ledger::open(dir.path(), WAIT)
        .unwrap()
        .append(parse(&[OPEN, &i1, &r1]), &opts(false))
        .unwrap();
    assert_eq!(report.head.seq, 3);
    // Committed: reversed already.
    assert_rejected(dir.path(), &[&r1], FailureKind::Rule, 0);
    assert_rejected(dir.path(), &[&i1], FailureKind::Rule, 0);
    // Within one small batch.
    let (i2, r2) = (sale("i2", "2024-02-03"), reversal("i2"));
    assert_rejected(dir.path(), &[&i2, &i2], FailureKind::Rule, 1);
    assert_rejected(dir.path(), &[&i2, &r2, &r2], FailureKind::Rule, 2);
    // Within one large batch: 70 transactions, a reversal of the first, then an id again.
    let many: Vec<String> = (0..70)
        .map(|k| sale(&format!("m{k}"), "2024-02-04"))
        .collect();
    let mut lines: Vec<&str> = many.iter().map(String::as_str).collect();
    let (r0, again) = (reversal("m0"), sale("m1", "2024-02-05"));
    lines.push(&r0);
    lines.push(&again);
    assert_rejected(dir.path(), &lines, FailureKind::Rule, 71);
    // Without the id used again, the large batch goes in, its reversal with it.
    lines.pop();
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    let report = ledger.append(parse(&lines), &opts(false)).unwrap();
    assert_eq!(report.head.seq, 3 + 71);
    let r0_again = ledger
        .append(parse(&[&reversal("m0")]), &opts(false))
        .unwrap_err();
    assert_eq!(
        (r0_again.kind, r0_again.index),
        (FailureKind::Rule, Some(0))
    );
}

#[test]
fn replay_is_byte_identical_to_incremental_appends() {
    let dir = tempfile::tempdir().unwrap();
    append_in_batches(dir.path(), generated(3_000, 7), 37);
    let incremental = dir_bytes(&dir.path().join(VIEWS_DIR));
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    let mut calls = Vec::new();
    let head = ledger.replay(&mut |seq| calls.push(seq)).unwrap();
    assert_eq!((head.seq, calls.last().copied()), (3_000, Some(3_000)));
    assert_eq!(dir_bytes(&dir.path().join(VIEWS_DIR)), incremental);
    // The ledger goes on appending after a replay.
    let more = r#"{"type":"person.joined","data":{"person":"late-joiner","name":"L"}}"#;
    let report = ledger.append(parse(&[more]), &opts(false)).unwrap();
    assert_eq!(report.head.seq, 3_001);
    assert_eq!(
        ledger
            .reader()
            .unwrap()
            .person_events("late-joiner")
            .unwrap()
            .len(),
        1
    );
    assert!(!dir.path().join("views.new").exists() && !dir.path().join("views.old").exists());
}

#[test]
fn views_catch_up_when_the_log_is_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let events = generated(1_500, 3);
    let (first, rest) = events.split_at(900);
    append_in_batches(dir.path(), first.to_vec(), 100);
    {
        // A crash after the log commit, before the views commit: write to the log alone.
        let _lock = LedgerLock::exclusive(dir.path(), WAIT).unwrap();
        let mut log = Log::open(&dir.path().join(LOG_DIR)).unwrap();
        let batch: Vec<_> = rest
            .iter()
            .map(|input| {
                let data =
                    serde_json::value::RawValue::from_string(input.event.data_json()).unwrap();
                arl_log::NewEvent {
                    id: input.id.clone(),
                    kind: input.event.kind().into(),
                    stream: input.event.stream(),
                    effective_at: input.effective_at.map(|t| t.0),
                    recorded_at: input.recorded_at.map(|t| t.0),
                    actor: input.actor.clone().unwrap_or_else(|| "test".into()),
                    reason: input.reason.clone(),
                    data,
                    expected_version: None,
                }
            })
            .collect();
        let prepared = log.prepare(batch, opts(true).now.0).unwrap();
        log.commit(prepared).unwrap();
    }
    assert_eq!(
        snapshot(dir.path()).0,
        900,
        "a query sees the committed views"
    );
    let ledger = Ledger::open(dir.path(), WAIT).unwrap();
    assert_eq!(ledger.reader().unwrap().heads().checkpoint, 1_500);
    drop(ledger);
    // The log written alone above holds the same events in other envelopes than the
    // ledger's appends write (other hashes), and log layout 5 compresses each frame, so
    // the two logs differ in length: the views must agree on everything else.
    let without_log_len = |views: &std::path::Path| {
        let mut bytes = dir_bytes(views);
        let mut heads = arl_views::format::read_heads(views).unwrap().unwrap();
        (heads.generation, heads.log_len) = (0, 0);
        let slot = bytes.iter_mut().find(|(name, _)| name.starts_with("heads"));
        slot.expect("the heads").1 = heads.encode();
        bytes
    };
    let caught_up = without_log_len(&dir.path().join(VIEWS_DIR));
    let clean = tempfile::tempdir().unwrap();
    append_in_batches(clean.path(), events, 1_500);
    assert_eq!(caught_up, without_log_len(&clean.path().join(VIEWS_DIR)));
}

#[test]
fn views_agree_with_the_in_memory_index() {
    let dir = tempfile::tempdir().unwrap();
    append_in_batches(dir.path(), generated(4_000, 11), 500);
    let ledger = Ledger::open(dir.path(), WAIT).unwrap();
    let mut index = MemIndex::new();
    for envelope in ledger.log().range(1, u64::MAX) {
        index.insert(recorded_from_envelope(&envelope.unwrap()).unwrap());
    }
    let reader = ledger.reader().unwrap();
    let seqs = |v: Vec<std::sync::Arc<arl_domain::Recorded>>| {
        let mut s: Vec<u64> = v.iter().map(|r| r.seq).collect();
        s.sort();
        s
    };
    let accounts = reader.account_ids();
    assert_eq!(accounts, index.account_ids().unwrap());
    assert_eq!(reader.person_ids(), index.person_ids().unwrap());
    assert!(accounts.len() > 10);
    for id in &accounts {
        assert_eq!(
            seqs(reader.account_events(id).unwrap()),
            seqs(index.account_events(id).unwrap())
        );
        assert_eq!(
            seqs(reader.child_refs(id).unwrap()),
            seqs(index.child_refs(id).unwrap())
        );
        assert_eq!(
            seqs(reader.txn_events(id).unwrap()),
            seqs(index.txn_events(id).unwrap())
        );
        assert_eq!(
            seqs(Source::account_hierarchy(&reader, id).unwrap()),
            seqs(Source::account_hierarchy(&index, id).unwrap()),
            "account_hierarchy({id})"
        );
        let txn_rows_of = |s: &dyn Source| {
            let mut out = Vec::new();
            s.account_txn_rows(id, &mut |r| out.push((r.seq, r.amount_minor, r.reversal)))
                .unwrap();
            out
        };
        assert_eq!(
            txn_rows_of(&reader),
            txn_rows_of(&index),
            "account_txn_rows({id})"
        );
    }
    for id in reader.person_ids() {
        assert_eq!(
            seqs(reader.person_events(&id).unwrap()),
            seqs(index.person_events(&id).unwrap())
        );
        assert_eq!(
            seqs(Source::person_lifecycle(&reader, &id).unwrap()),
            seqs(Source::person_lifecycle(&index, &id).unwrap())
        );
        assert_eq!(
            seqs(Source::person_org_events(&reader, &id).unwrap()),
            seqs(Source::person_org_events(&index, &id).unwrap())
        );
    }
    assert_eq!(
        seqs(reader.org_events().unwrap()),
        seqs(index.org_events().unwrap())
    );
    let rows = |s: &dyn Source| {
        let mut out = Vec::new();
        s.txn_rows(&mut |r| {
            out.push((
                r.seq,
                s.account_of(r.account),
                r.kind,
                r.reversal,
                r.currency,
                r.amount_minor,
            ));
        })
        .unwrap();
        out
    };
    assert_eq!(rows(&reader), rows(&index));
    // Ranges of rows (what a balance reads from two threads) equal the default over all rows.
    let n = Source::txn_row_count(&reader);
    assert_eq!(n, Source::txn_row_count(&index));
    let range = |s: &dyn Source, from: u64, to: u64| {
        let mut out = Vec::new();
        s.txn_rows_range(from, to, &mut |r| out.push((r.seq, r.amount_minor)))
            .unwrap();
        out
    };
    for (from, to) in [(0, n / 2), (n / 2, n), (1, 2), (n - 1, n + 5)] {
        assert_eq!(
            range(&reader, from, to),
            range(&index, from, to),
            "rows {from}..{to}"
        );
    }
    assert!(reader.as_sync().is_some());
}

#[test]
fn a_second_writer_waits_for_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let _ledger = Ledger::open(dir.path(), WAIT).unwrap();
    let busy = Ledger::open(dir.path(), Duration::from_millis(50));
    assert!(busy.is_err());
    assert!(open_reader(dir.path(), Duration::from_millis(50)).is_err());
}

#[test]
fn a_torn_heads_slot_falls_back_to_the_other() {
    let dir = tempfile::tempdir().unwrap();
    append_in_batches(dir.path(), generated(300, 5), 100);
    let views = dir.path().join(VIEWS_DIR);
    let slots = arl_views::format::read_slots(&views).unwrap();
    let (index, current) = slots.current.unwrap();
    // Tear the slot written last: an older slot becomes current.
    let slot = views.join(arl_views::format::HEADS_FILES[index]);
    let mut bytes = std::fs::read(&slot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&slot, &bytes).unwrap();
    let older = arl_views::format::read_heads(&views).unwrap().unwrap();
    assert!(older.generation < current.generation);
    assert!(older.checkpoint < current.checkpoint);
    // The next writer catches the views up from the log to where they were.
    let ledger = Ledger::open(dir.path(), WAIT).unwrap();
    assert_eq!(
        ledger.reader().unwrap().heads().checkpoint,
        current.checkpoint
    );
}

/// A rebuild copies each event's data from the log instead of serializing the typed event
/// again; that gives the same view bytes only while `data_json` is already canonical.
#[test]
fn event_data_is_serialized_in_canonical_form() {
    let mut kinds = std::collections::BTreeSet::new();
    let escapes = [
        r#"{"type":"person.joined","data":{"person":"p-q","name":"Zoë \\ \"q\" \u2028 😀","title":"x/y"}}"#,
        r#"{"type":"transaction.recorded","data":{"txn":"t","account":"a","kind":"sale","amount":"1.50","currency":"EUR","description":"d","reference":"r"}}"#,
    ];
    let events = generated(5_000, 11).into_iter().chain(
        escapes
            .iter()
            .map(|l| InputEvent::parse_line(l, false).unwrap()),
    );
    for input in events {
        let data = input.event.data_json();
        let value: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(
            arl_log::canonical_json(&value),
            data,
            "{}",
            input.event.kind()
        );
        kinds.insert(input.event.kind());
    }
    assert!(
        kinds.len() >= 12,
        "the generator covers most kinds: {kinds:?}"
    );
}

/// The byte offsets of each stored frame's canonical bytes in the envelope file.
fn frame_bodies(envelopes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut bodies = Vec::new();
    let mut at = 0;
    while at < envelopes.len() {
        // The low 30 bits of a frame's length field are the length (the high two: flags).
        let field = u32::from_le_bytes(envelopes[at..at + 4].try_into().unwrap());
        if field == 0 {
            // Zeros written ahead of the next commit.
            break;
        }
        let len = (field & ((1 << 30) - 1)) as usize;
        bodies.push(at + 4..at + 4 + len);
        at += 4 + len + 32;
    }
    bodies
}

/// A replay checks every link of the hash chain, whichever thread checks which block: one
/// letter changed in any stored event stops it, naming that event, and the views stay
/// as they were.
#[test]
fn replay_names_the_event_whose_link_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    append_in_batches(dir.path(), generated(3_000, 5), 1_000);
    let views = dir_bytes(&dir.path().join(VIEWS_DIR));
    let file = dir.path().join(LOG_DIR).join("envelopes");
    let pristine = std::fs::read(&file).unwrap();
    let bodies = frame_bodies(&pristine);
    assert_eq!(bodies.len(), 3_000);
    let dict = std::fs::read(dir.path().join(LOG_DIR).join("dict")).unwrap();
    let codec = arl_log::codec::Codec::of(&dict, arl_log::codec::FRAME_LEVEL).unwrap();
    // Seqs in blocks of 256: the first block, the second, the last link of a block, the
    // first of one, and blocks further on.
    for seq in [1u64, 5, 256, 257, 300, 700, 1_100, 1_300, 2_049] {
        let mut bytes = pristine.clone();
        let body = bodies[seq as usize - 1].clone();
        edit_one_letter(&mut bytes, body, codec);
        std::fs::write(&file, &bytes).unwrap();
        let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
        match ledger.replay(&mut |_| {}) {
            Err(arl_views::ViewError::Log(arl_log::LogError::Integrity { seq: named, .. })) => {
                assert_eq!(named, seq, "the broken link");
            }
            other => panic!("seq {seq}: replay gave {other:?}"),
        }
        drop(ledger);
        assert_eq!(dir_bytes(&dir.path().join(VIEWS_DIR)), views, "seq {seq}");
        std::fs::write(&file, &pristine).unwrap();
    }
    // Untouched, the same ledger replays.
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    assert_eq!(ledger.replay(&mut |_| {}).unwrap().seq, 3_000);
}

/// A batch large enough for the append's threads (converting on two, building the log's
/// frames beside validation) is still all or nothing, and names the first bad event by its
/// position, whichever half of the batch it is in.
#[test]
fn a_large_rejected_batch_names_its_first_bad_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = generated(12_000, 9);
    let more = first.split_off(2_000);
    append_in_batches(dir.path(), first, 2_000);
    let ghost = InputEvent::parse_line(
        r#"{"type":"team.assigned","data":{"account":"nowhere","person":"ghost","role":"media"}}"#,
        false,
    )
    .unwrap();
    for at in [100usize, 7_000, 9_999] {
        let before = snapshot(dir.path());
        let mut batch = more.clone();
        // Imported: the ghost takes the record time of the event it goes before.
        let mut ghost = ghost.clone();
        ghost.recorded_at = batch[at].recorded_at;
        batch.insert(at, ghost);
        let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
        let head = ledger.log().head();
        let failure = ledger.append(batch, &opts(true)).unwrap_err();
        assert_eq!((failure.kind, failure.index), (FailureKind::Rule, Some(at)));
        assert_eq!(ledger.log().head(), head, "log head unchanged");
        drop(ledger);
        assert_eq!(snapshot(dir.path()), before, "every view file unchanged");
    }
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    assert_eq!(ledger.append(more, &opts(true)).unwrap().head.seq, 12_000);
}

/// Changes one letter of the stored event whose frame body is `body` in `bytes`, the frame
/// keeping its length: log layout 5 stores most frames compressed, so the frame is opened,
/// edited and compressed again with the log's dictionary, trying letters (the actor's first,
/// then any other) until the stored form is as long as before.
fn edit_one_letter(
    bytes: &mut [u8],
    body: std::ops::Range<usize>,
    codec: &'static arl_log::codec::Codec,
) {
    let field = u32::from_le_bytes(bytes[body.start - 4..body.start].try_into().unwrap());
    let compressed = field & (1 << 30) != 0;
    let mut json = Vec::new();
    if compressed {
        codec
            .decompress_into(&bytes[body.clone()], 1 << 20, &mut json)
            .unwrap();
    } else {
        json.extend_from_slice(&bytes[body.clone()]);
    }
    let actor = json.windows(9).position(|w| w == b"\"actor\":\"").unwrap() + 9;
    let places = std::iter::once(actor).chain(0..json.len());
    for at in places.filter(|&at| json[at].is_ascii_lowercase()) {
        for letter in (b'a'..=b'z').filter(|&l| l != json[at]) {
            let mut edited = json.clone();
            edited[at] = letter;
            let mut stored = Vec::new();
            if compressed {
                assert!(codec.compress_into(&edited, &mut stored));
            } else {
                stored = edited;
            }
            if stored.len() == body.len() {
                bytes[body].copy_from_slice(&stored);
                return;
            }
        }
    }
    panic!("no one-letter edit keeps the frame's length");
}

/// The readers a writer hands out keep the records and chains they read for the next ones
/// (the server asks the same questions of every commit): after each of many small
/// appends, every chain read through them equals the same chain read by a reader opened
/// afresh from the files, and so does a reader handed out before the appends (its own
/// commit's answers, not the newer ones the cache holds).
#[test]
fn readers_sharing_what_they_read_answer_as_fresh_readers_do() {
    let dir = tempfile::tempdir().unwrap();
    let events = generated(1_500, 11);
    let (first, rest) = events.split_at(1_000);
    append_in_batches(dir.path(), first.to_vec(), 1_000);
    let mut ledger = Ledger::open(dir.path(), WAIT).unwrap();
    let chains = all_chains;
    // The seq known at every time an event was recorded, a moment either side, and ends.
    let known = |r: &ViewReader, chains: &[Vec<arl_domain::Recorded>]| {
        let mut times = vec![i64::MIN, i64::MAX];
        for recorded in chains.iter().flatten() {
            let t = recorded.recorded_at.0;
            times.extend([t - 1, t, t + 1]);
        }
        times.sort_unstable();
        times.dedup();
        let seqs = times
            .iter()
            .map(|&t| Source::seq_known_at(r, Timestamp(t)).unwrap());
        seqs.collect::<Vec<_>>()
    };
    let early = ledger.reader().unwrap();
    let early_answers = chains(&early);
    assert!(early_answers.iter().any(|chain| chain.len() > 3));
    let early_known = known(&early, &early_answers);
    for (i, chunk) in rest.chunks(25).enumerate() {
        ledger.append(chunk.to_vec(), &opts(true)).unwrap();
        let shared = ledger.reader().unwrap();
        // Twice: the second time from what the first one kept.
        let (once, twice) = (chains(&shared), chains(&shared));
        let fresh = ViewReader::open(&dir.path().join(VIEWS_DIR)).unwrap();
        assert_eq!(once, chains(&fresh), "after append {i}");
        assert_eq!(
            known(&shared, &once),
            known(&fresh, &once),
            "known-at after append {i}"
        );
        assert_eq!(known(&early, &early_answers), early_known, "early, {i}");
        // Every heads slot on disk passes its checksum (each is written over in the
        // ranges that changed only), and the newest holds the committed heads.
        let views = dir.path().join(VIEWS_DIR);
        let slots = arl_views::format::read_slots(&views).unwrap();
        for (n, slot) in slots.slots.iter().enumerate() {
            let path = views.join(arl_views::format::HEADS_FILES[n]);
            assert!(
                slot.is_some() || !path.exists(),
                "after append {i}: {path:?}"
            );
        }
        assert_eq!(
            slots.current.as_ref().map(|(_, heads)| heads),
            Some(shared.heads()),
            "after append {i}"
        );
        assert_eq!(twice, once, "after append {i}, kept");
        assert_eq!(
            chains(&early),
            early_answers,
            "the early reader after append {i}"
        );
    }
}

/// Every chain a reader follows, as decoded events: the accounts' own events, children,
/// hierarchy and transactions, the people's events and the organization's.
fn all_chains(r: &ViewReader) -> Vec<Vec<arl_domain::Recorded>> {
    let mut out = Vec::new();
    for account in r.account_ids() {
        out.push(r.account_events(&account).unwrap());
        out.push(r.child_refs(&account).unwrap());
        out.push(r.account_hierarchy(&account).unwrap());
        out.push(r.txn_events(&account).unwrap());
    }
    for person in r.person_ids() {
        out.push(r.person_events(&person).unwrap());
    }
    out.push(r.org_events().unwrap());
    out.into_iter()
        .map(|chain| chain.iter().map(|e| (**e).clone()).collect())
        .collect()
}

/// A ledger whose files outgrow the bound on mapped regions reads them by positioned reads
/// from then on (its readers no longer map `events.dat`; validation reads `txnids.idx`
/// the same way) and answers as a ledger reading through mappings does: every batch
/// accepted by both (reversals find their transactions), a txn id used again refused by
/// both with the same failure, every chain the same.
#[test]
fn readers_past_the_mapping_bound_answer_as_mapped_ones_do() {
    let events = generated(3_000, 17);
    let (mapped_dir, bounded_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut mapped = Ledger::open(mapped_dir.path(), WAIT).unwrap();
    let mut bounded = Ledger::open(bounded_dir.path(), WAIT).unwrap();
    let (first, rest) = events.split_at(500);
    mapped.append(first.to_vec(), &opts(true)).unwrap();
    bounded.append(first.to_vec(), &opts(true)).unwrap();
    // Mapped up to what is committed now, not beyond.
    let events_len = bounded.reader().unwrap().heads().events_len;
    bounded.set_mapped_bytes_max(events_len);
    assert!(bounded.reader().unwrap().reads_events_mapped());
    assert!(mapped.reader().unwrap().reads_events_mapped());
    let mut used_again = None;
    for (i, chunk) in rest.chunks(250).enumerate() {
        mapped.append(chunk.to_vec(), &opts(true)).unwrap();
        bounded.append(chunk.to_vec(), &opts(true)).unwrap();
        let (m, b) = (mapped.reader().unwrap(), bounded.reader().unwrap());
        assert!(m.reads_events_mapped(), "after chunk {i}");
        assert!(!b.reads_events_mapped(), "after chunk {i}");
        assert_eq!(all_chains(&b), all_chains(&m), "after chunk {i}");
        let txn = chunk
            .iter()
            .find(|e| matches!(e.event, arl_domain::Event::TxnRecorded(_)));
        used_again = txn.cloned().or(used_again);
    }
    let mut again = used_again.expect("a transaction");
    again.id = None;
    again.recorded_at = None;
    let refused = |ledger: &mut Ledger| {
        let failure = ledger
            .append(vec![again.clone()], &opts(false))
            .unwrap_err();
        (failure.kind, failure.index, failure.message)
    };
    let (m, b) = (refused(&mut mapped), refused(&mut bounded));
    assert_eq!(b, m);
    assert_eq!(b.0, FailureKind::Rule, "{b:?}");
    assert_eq!(mapped.log().head().seq, bounded.log().head().seq);
}
