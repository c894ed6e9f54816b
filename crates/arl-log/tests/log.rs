//! Behaviour of the log as its callers see it.

use std::path::Path;
use std::time::Duration;

use arl_log::{merkle, AppendError, Envelope, Hash, LedgerLock, Log, LogError, NewEvent, Outcome};
use serde_json::{json, Value};

const T0: i64 = 1_709_366_400_000_000; // 2024-03-02T08:00:00Z
const SECOND: i64 = 1_000_000;

#[allow(clippy::needless_pass_by_value)] // called with `json!` literals
fn ev(stream: &str, kind: &str, data: Value) -> NewEvent {
    NewEvent::new(kind, stream, "tester", &data).expect("object data")
}

fn with_id(mut e: NewEvent, id: &str) -> NewEvent {
    e.id = Some(id.to_owned());
    e
}

fn append(log: &mut Log, batch: Vec<NewEvent>, now: i64) -> Vec<Outcome> {
    let prepared = log.prepare(batch, now).expect("prepare");
    let outcomes = prepared.outcomes.clone();
    log.commit(prepared).expect("commit");
    outcomes
}

fn all(log: &Log) -> Vec<Envelope> {
    log.range(1, u64::MAX)
        .collect::<Result<_, _>>()
        .expect("range")
}

fn open(dir: &Path) -> Log {
    Log::open(&dir.join("log")).expect("open")
}

/// A few events of every shape: reasons, no reasons, unicode, escapes, imported.
fn sample(log: &mut Log) {
    let mut a = with_id(
        ev(
            "account/acme",
            "account.opened",
            json!({"account": "acme", "name": "ACME \"Corp\" ü\n"}),
        ),
        "crm-1",
    );
    a.reason = Some("migration ✓".into());
    a.effective_at = Some(T0 - 86_400 * SECOND);
    let mut imported = ev(
        "person/jdoe",
        "person.joined",
        json!({"person": "jdoe", "name": "J. Doe"}),
    );
    imported.recorded_at = Some(T0 - 10 * SECOND);
    append(log, vec![imported], T0);
    let b = ev(
        "account/acme",
        "account.renamed",
        json!({"account": "acme", "name": "Acme"}),
    );
    append(log, vec![a, b], T0 + SECOND);
}

#[test]
fn export_reverifies_from_the_lines_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    sample(&mut log);
    let mut prev: Hash = [0; 32];
    for env in all(&log) {
        let line = env.to_json_line();
        assert!(!line.contains('\n'));
        let mut value: Value = serde_json::from_str(&line).unwrap();
        let obj = value.as_object_mut().unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 12);
        let hash = obj.remove("hash").unwrap();
        let mut h = blake3::Hasher::new();
        h.update(&prev);
        h.update(arl_log::canonical_json(&value).as_bytes());
        let hash_hex = h.finalize().to_hex().to_string();
        assert_eq!(hash.as_str(), Some(hash_hex.as_str()), "{line}");
        prev = arl_log::parse_hex(&hash_hex).unwrap();
        assert_eq!(Envelope::from_json_line(&line).unwrap(), env);
    }
    assert_eq!(prev, log.head().hash);
}

#[test]
fn export_line_has_the_contract_member_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    sample(&mut log);
    let line = log.get(1).unwrap().unwrap().to_json_line();
    let order = [
        "seq",
        "id",
        "type",
        "stream",
        "version",
        "recorded_at",
        "effective_at",
        "actor",
        "reason",
        "imported",
        "data",
        "hash",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| line.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
    assert!(line.contains(r#""reason":null,"imported":true"#), "{line}");
    assert!(
        line.contains(r#""recorded_at":"2024-03-02T07:59:50.000000Z""#),
        "{line}"
    );
}

#[test]
fn strict_decoder_rejects_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    sample(&mut log);
    let good = log.get(2).unwrap().unwrap().to_json_line();
    let bad = [
        good.replace("\"imported\":false", "\"imported\":false,\"extra\":1"),
        good.replace(",\"reason\":\"migration ✓\"", ""),
        good.replace(".000000Z", "Z"),
        good.replace("\"hash\":\"", "\"hash\":\"0"),
        good.replace("\"data\":{\"account\"", "\"data\":{ \"account\""),
    ];
    for line in bad {
        assert_ne!(line, good);
        assert!(
            matches!(
                Envelope::from_json_line(&line),
                Err(LogError::BadEnvelope { .. })
            ),
            "{line}"
        );
    }
}

fn fingerprint(log: &Log) -> (arl_log::Head, Vec<String>) {
    (
        log.head(),
        all(log).iter().map(Envelope::to_json_line).collect(),
    )
}

#[test]
fn stale_expected_version_leaves_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    sample(&mut log);
    let before = fingerprint(&log);
    assert_eq!(log.stream_version("account/acme").unwrap(), 2);
    let mut ok = ev("account/acme", "x", json!({"n": 1}));
    ok.expected_version = Some(2);
    let mut stale = ev("account/acme", "x", json!({"n": 2}));
    stale.expected_version = Some(2); // the first event of the batch made it 3
    match log.prepare(vec![ok, stale], T0 + 5 * SECOND) {
        Err(AppendError::StaleVersion {
            index: 1,
            expected: 2,
            actual: 3,
            stream,
        }) => assert_eq!(stream, "account/acme"),
        other => panic!("{other:?}"),
    }
    drop(log);
    let log = open(dir.path());
    assert_eq!(fingerprint(&log), before);
    log.verify(&mut |_| {}).unwrap();
}

#[test]
fn conflicting_id_leaves_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    sample(&mut log);
    let before = fingerprint(&log);
    let other = with_id(
        ev(
            "account/acme",
            "account.opened",
            json!({"account": "acme", "name": "Other"}),
        ),
        "crm-1",
    );
    match log.prepare(vec![ev("s/1", "x", json!({})), other], T0 + 5 * SECOND) {
        Err(AppendError::IdConflict {
            index: 1,
            id,
            seq: 2,
        }) => assert_eq!(id, "crm-1"),
        other => panic!("{other:?}"),
    }
    let a = with_id(ev("s/1", "x", json!({"n": 1})), "new-1");
    let b = with_id(ev("s/1", "x", json!({"n": 2})), "new-1");
    assert!(matches!(
        log.prepare(vec![a, b], T0),
        Err(AppendError::IdConflict {
            index: 1,
            seq: 4,
            ..
        })
    ));
    assert_eq!(fingerprint(&log), before);
}

#[test]
fn duplicate_with_identical_content_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    sample(&mut log);
    let head = log.head();
    // Stored with an explicit effective_at: the same one, or none, is a duplicate.
    let mut same = with_id(
        ev(
            "account/acme",
            "account.opened",
            json!({"name": "ACME \"Corp\" ü\n", "account": "acme"}),
        ),
        "crm-1",
    );
    let no_time = same.clone();
    same.effective_at = Some(T0 - 86_400 * SECOND);
    let mut other_time = same.clone();
    other_time.effective_at = Some(T0);
    let fresh = with_id(ev("s/2", "y", json!({})), "fresh");
    let outcomes = append(
        &mut log,
        vec![same, no_time, fresh.clone(), fresh],
        T0 + 9 * SECOND,
    );
    assert_eq!(
        outcomes,
        vec![
            Outcome::Duplicate { seq: 2 },
            Outcome::Duplicate { seq: 2 },
            Outcome::Appended { seq: 4 },
            Outcome::Duplicate { seq: 4 }
        ]
    );
    assert_eq!(log.head().seq, head.seq + 1);
    assert!(matches!(
        log.prepare(vec![other_time], T0 + 9 * SECOND),
        Err(AppendError::IdConflict {
            index: 0,
            seq: 2,
            ..
        })
    ));
    assert_eq!(log.lookup_id("crm-1").unwrap(), Some(2));
    assert_eq!(log.lookup_id("fresh").unwrap(), Some(4));
    assert_eq!(log.lookup_id("nope").unwrap(), None);
}

#[test]
fn duplicates_are_found_in_every_block_they_lie_in() {
    // Ids stored over several blocks of 256 envelopes; a batch resubmits some of them out of
    // order (several in one block, the first and last of a block, neighbours and far
    // apart), with new events between them: each duplicate is found at its own seq.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let event = |n: u64| with_id(ev("s/many", "x", json!({ "n": n })), &format!("id-{n}"));
    append(&mut log, (1..=1000).map(event).collect(), T0);
    let again = [999, 3, 1, 2, 256, 257, 512, 700, 1000, 255, 513, 4, 640];
    let mut batch = Vec::new();
    for (i, n) in again.iter().enumerate() {
        batch.push(event(*n));
        batch.push(with_id(
            ev("s/new", "y", json!({ "i": i })),
            &format!("new-{i}"),
        ));
    }
    let outcomes = append(&mut log, batch, T0 + SECOND);
    for (i, n) in again.iter().enumerate() {
        assert_eq!(outcomes[2 * i], Outcome::Duplicate { seq: *n }, "id-{n}");
        assert_eq!(
            outcomes[2 * i + 1],
            Outcome::Appended {
                seq: 1001 + i as u64
            }
        );
    }
    // The same id with other data, in a block read for a duplicate, is a conflict.
    let changed = with_id(ev("s/many", "x", json!({ "n": 0 })), "id-258");
    match log.prepare(vec![event(257), changed], T0 + 2 * SECOND) {
        Err(AppendError::IdConflict { index: 1, id, seq }) => {
            assert_eq!((id.as_str(), seq), ("id-258", 258));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn large_batches_link_their_ids_as_small_ones_do() {
    // Batches of more ids than 8,192 buckets link each id bucket in the writer's mapping of
    // the table, slot by slot; one-event appends between and after them read those links
    // bucket by bucket. Every id is found at its seq, the index verifies against the frames
    // (every entry's links recomputed), before and after the log is opened again.
    let dir = tempfile::tempdir().unwrap();
    let event = |name: &str| with_id(ev("s/l", "x", json!({ "id": name })), name);
    let mut log = open(dir.path());
    let mut seq_of = std::collections::HashMap::new();
    for round in 0..3i64 {
        let names: Vec<String> = (0..20_000).map(|i| format!("r{round}-{i}")).collect();
        let head = log.head().seq;
        let batch: Vec<NewEvent> = names.iter().map(|n| event(n)).collect();
        let outcomes = append(&mut log, batch, T0 + round * SECOND);
        for (i, (name, outcome)) in names.iter().zip(&outcomes).enumerate() {
            assert_eq!(
                *outcome,
                Outcome::Appended {
                    seq: head + 1 + i as u64
                }
            );
            seq_of.insert(name.clone(), head + 1 + i as u64);
        }
        let single = format!("single-{round}");
        let outcomes = append(&mut log, vec![event(&single)], T0 + round * SECOND + 1);
        let Outcome::Appended { seq } = outcomes[0] else {
            panic!("{outcomes:?}");
        };
        seq_of.insert(single, seq);
    }
    log.verify(&mut |_| {}).unwrap();
    drop(log);
    let mut log = open(dir.path());
    log.verify(&mut |_| {}).unwrap();
    // A few old ids at a time: each looked up through its bucket's chain.
    let mut names: Vec<&String> = seq_of.keys().collect();
    names.sort();
    for chunk in names.chunks(997).take(40) {
        let batch: Vec<NewEvent> = chunk.iter().take(3).map(|n| event(n)).collect();
        let outcomes = append(&mut log, batch, T0 + 10 * SECOND);
        for (name, outcome) in chunk.iter().zip(&outcomes) {
            assert_eq!(
                *outcome,
                Outcome::Duplicate { seq: seq_of[*name] },
                "{name}"
            );
        }
    }
}

#[test]
fn a_filter_of_ids_built_ahead_finds_what_a_batch_would() {
    // A writer readied for large batches builds its filter of the log's ids before the
    // first one (an import reading that batch meanwhile); the batches after find every
    // committed id at its seq through it and append the new ones, as without it. Readied
    // for small batches, or on an empty log, it builds nothing and answers the same.
    let dir = tempfile::tempdir().unwrap();
    let event = |name: &str| with_id(ev("s/f", "x", json!({ "id": name })), name);
    let names = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("{prefix}-{i}")).collect()
    };
    let mut log = open(dir.path());
    log.prepare_id_lookups(5000).unwrap();
    let first: Vec<NewEvent> = names("a", 5000).iter().map(|n| event(n)).collect();
    assert!(append(&mut log, first, T0)
        .iter()
        .all(|o| matches!(o, Outcome::Appended { .. })));
    drop(log);
    for (round, ids) in [(1i64, 10usize), (2, 5000)] {
        // A new writer each round: no filter until it is readied (or its first batch).
        let mut log = open(dir.path());
        log.prepare_id_lookups(ids).unwrap();
        let head = log.head().seq;
        let mut batch: Vec<NewEvent> = names(&format!("n{round}"), 5000)
            .iter()
            .map(|n| event(n))
            .collect();
        batch.extend((0..100).map(|i| event(&format!("a-{}", i * 49))));
        let outcomes = append(&mut log, batch, T0 + round * SECOND);
        for (i, outcome) in outcomes.iter().enumerate() {
            let expected = match i.checked_sub(5000) {
                None => Outcome::Appended {
                    seq: head + 1 + i as u64,
                },
                Some(k) => Outcome::Duplicate {
                    seq: 1 + 49 * k as u64,
                },
            };
            assert_eq!(*outcome, expected, "round {round}, event {i}");
        }
        let few = append(
            &mut log,
            vec![
                event("a-7"),
                event(&format!("n{round}-4999")),
                event(&format!("new{round}")),
            ],
            T0 + round * SECOND,
        );
        assert_eq!(
            few,
            vec![
                Outcome::Duplicate { seq: 8 },
                Outcome::Duplicate { seq: head + 5000 },
                Outcome::Appended { seq: head + 5001 },
            ],
            "round {round}"
        );
        log.verify(&mut |_| {}).unwrap();
        drop(log);
        // Another writer, not readied, finds the round's new id through its bucket.
        let mut log = open(dir.path());
        let again = append(
            &mut log,
            vec![event(&format!("new{round}"))],
            T0 + round * SECOND,
        );
        assert_eq!(again, vec![Outcome::Duplicate { seq: head + 5001 }]);
    }
}

#[test]
fn duplicates_are_found_through_the_writers_filter_of_ids() {
    // A writer's first lookup of many ids builds its filter of the log's ids; later
    // lookups, of many ids or of a few, ask it first. Ids committed before it was built,
    // after it (added by each commit), and after it was outgrown and built again larger,
    // are all found at their own seqs; new ids are appended.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let event = |name: &str| with_id(ev("s/f", "x", json!({ "id": name })), name);
    let mut seqs: Vec<(String, u64)> = Vec::new();
    let add = |log: &mut Log, names: Vec<String>, seqs: &mut Vec<(String, u64)>, now: i64| {
        let outcomes = append(log, names.iter().map(|n| event(n)).collect(), now);
        for (name, outcome) in names.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Appended { seq } => seqs.push((name, seq)),
                Outcome::Duplicate { seq } => {
                    let known = seqs.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
                    assert_eq!(known, Some(seq), "{name}");
                }
            }
        }
    };
    let names = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("{prefix}-{i}")).collect()
    };
    add(&mut log, names("a", 5000), &mut seqs, T0);
    // 5,100 ids: the filter is built; 100 of them are duplicates of the first batch.
    let mut batch = names("b", 5000);
    batch.extend((0..100).map(|i| format!("a-{}", i * 49)));
    add(&mut log, batch, &mut seqs, T0 + SECOND);
    assert_eq!(seqs.len(), 10_000);
    // A few ids: through the filter, which holds the second batch's ids too.
    let outcomes = append(
        &mut log,
        vec![event("a-7"), event("b-4999"), event("c-new")],
        T0 + 2 * SECOND,
    );
    assert_eq!(
        outcomes,
        vec![
            Outcome::Duplicate { seq: 8 },
            Outcome::Duplicate { seq: 10_000 },
            Outcome::Appended { seq: 10_001 },
        ]
    );
    seqs.push(("c-new".into(), 10_001));
    // Past the filter's room (65,536 ids): dropped, and built again larger.
    for round in 0..6 {
        let now = T0 + (3 + round) * SECOND;
        add(
            &mut log,
            names(&format!("d{round}"), 10_000),
            &mut seqs,
            now,
        );
    }
    assert_eq!(log.head().seq, 70_001);
    let again: Vec<String> = (0..seqs.len())
        .step_by(97)
        .map(|i| seqs[i].0.clone())
        .chain(names("e", 5000))
        .collect();
    let known = seqs.len();
    add(&mut log, again, &mut seqs, T0 + 10 * SECOND);
    assert_eq!(seqs.len(), known + 5000);
    for (name, seq) in seqs.iter().step_by(1013) {
        assert_eq!(log.lookup_id(name).unwrap(), Some(*seq), "{name}");
    }
    assert_eq!(log.lookup_id("never-stored").unwrap(), None);
}

#[test]
fn imported_recorded_at_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let imported = |t: i64| {
        let mut e = ev("s/1", "x", json!({"t": t}));
        e.recorded_at = Some(t);
        e
    };
    append(
        &mut log,
        vec![imported(T0 - 100), imported(T0 - 100), imported(T0 - 50)],
        T0,
    );
    let expect = |r: Result<_, AppendError>, index: usize, words: &str| match r {
        Err(AppendError::ImportedTime { index: i, reason }) => {
            assert_eq!(i, index);
            assert!(reason.contains(words), "{reason}");
        }
        other => panic!("{other:?}"),
    };
    expect(log.prepare(vec![imported(T0 + 1)], T0), 0, "future");
    expect(log.prepare(vec![imported(T0 - 60)], T0), 0, "ledger's last");
    // Within one imported batch lines may go back in record time (they keep their input order
    // as seq), but never before what the ledger held before the batch.
    let prepared = log
        .prepare(vec![imported(T0 - 10), imported(T0 - 20)], T0)
        .unwrap();
    assert_eq!(prepared.len(), 2);
    expect(
        log.prepare(vec![imported(T0 - 10), imported(T0 - 60)], T0),
        1,
        "ledger's last",
    );
    // Non-imported events never go back in time, whatever the clock says.
    append(
        &mut log,
        vec![ev("s/1", "x", json!({}))],
        T0 - 1_000 * SECOND,
    );
    let last = log.get(4).unwrap().unwrap();
    assert_eq!(
        (last.recorded_at, last.effective_at, last.imported),
        (T0 - 50, T0 - 50, false)
    );
    let envs = all(&log);
    assert!(envs[..3].iter().all(|e| e.imported));
    assert!(envs
        .windows(2)
        .all(|w| w[0].recorded_at <= w[1].recorded_at));
}

#[test]
fn streams_versions_and_ranges_across_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for round in 0..7 {
        let batch = (0..100)
            .map(|i| ev(&format!("s/{}", i % 3), "x", json!({"r": round, "i": i})))
            .collect();
        append(&mut log, batch, T0 + round);
    }
    assert_eq!(log.head().seq, 700);
    assert_eq!(log.stream_version("s/0").unwrap(), 238);
    assert_eq!(log.stream_version("absent").unwrap(), 0);
    let s1 = log.stream("s/1").unwrap();
    assert_eq!(s1.len(), 231);
    assert!(s1
        .iter()
        .enumerate()
        .all(|(i, e)| e.version == i as u64 + 1 && e.stream == "s/1"));
    let seqs: Vec<u64> = log.range(250, 520).map(|e| e.unwrap().seq).collect();
    assert_eq!(seqs, (250..=520).collect::<Vec<_>>());
    assert_eq!(log.range(690, 10_000).count(), 11);
    assert_eq!(log.range(5, 4).count(), 0);
    assert!(log.get(701).unwrap().is_none());
    let mut seen = Vec::new();
    assert_eq!(log.verify(&mut |s| seen.push(s)).unwrap(), log.head());
    assert_eq!(seen.last(), Some(&700));
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_writer_keeps_stream_versions_in_step_with_its_commits() {
    // A writer keeps the versions it committed, and takes them while nothing else was
    // appended to the stream: over commits of one event and of many, expected versions
    // right and stale (a refused batch), every version it plans is the one a fresh open
    // finds.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let mut counts = std::collections::HashMap::<String, u64>::new();
    let mut now = T0;
    for round in 0..40u64 {
        now += SECOND;
        let size = if round % 3 == 0 {
            1
        } else {
            50 + round as usize
        };
        let batch: Vec<NewEvent> = (0..size)
            .map(|i| {
                let stream = format!("s/{}", (round as usize * 7 + i * i) % 11);
                let mut e = ev(&stream, "x", json!({ "r": round, "i": i }));
                if i == 0 {
                    e.expected_version = Some(counts.get(&stream).copied().unwrap_or(0));
                }
                e
            })
            .collect();
        for e in &batch {
            *counts.entry(e.stream.clone()).or_default() += 1;
        }
        let first = batch[0].stream.clone();
        append(&mut log, batch, now);
        // A stale expected version is refused, and leaves the kept versions as they were.
        let mut stale = ev(&first, "x", json!({ "stale": round }));
        stale.expected_version = Some(counts[&first] - 1);
        assert!(matches!(
            log.prepare(vec![stale], now),
            Err(AppendError::StaleVersion { actual, .. }) if actual == counts[&first]
        ));
    }
    let fresh_dir = dir.path().to_path_buf();
    drop(log);
    let fresh = open(&fresh_dir);
    for (stream, count) in &counts {
        assert_eq!(fresh.stream_version(stream).unwrap(), *count, "{stream}");
        let envelopes = fresh.stream(stream).unwrap();
        assert_eq!(envelopes.len() as u64, *count);
        assert!(envelopes
            .iter()
            .enumerate()
            .all(|(i, e)| e.version == i as u64 + 1));
    }
}

#[test]
fn a_writer_keeps_stream_records_in_step_across_checkpoints() {
    // A writer keeps the stream records it read and committed (the latest seq of each
    // stream) and moves them with each commit; over more commits than a checkpoint's
    // interval (the slot a record's next latest seq goes into depends on the checkpoint),
    // every expected version it checks is right, and a fresh open finds the same streams.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let mut counts = std::collections::HashMap::<String, u64>::new();
    let mut now = T0;
    for round in 0..600u64 {
        now += SECOND;
        let batch: Vec<NewEvent> = (0..1 + round % 3)
            .map(|i| {
                let stream = format!("r/{}", (round + i * 2) % 5);
                let mut e = ev(&stream, "x", json!({ "r": round, "i": i }));
                e.expected_version = Some(counts.get(&stream).copied().unwrap_or(0));
                *counts.entry(stream).or_default() += 1;
                e
            })
            .collect();
        let outcomes = append(&mut log, batch, now);
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Appended { .. })));
    }
    for (stream, count) in &counts {
        assert_eq!(log.stream_version(stream).unwrap(), *count, "{stream}");
    }
    drop(log);
    let fresh = open(dir.path());
    for (stream, count) in &counts {
        assert_eq!(fresh.stream_version(stream).unwrap(), *count, "{stream}");
        assert_eq!(
            fresh.stream(stream).unwrap().len() as u64,
            *count,
            "{stream}"
        );
    }
}

/// Every root, and a spread of proofs, agree with a naive RFC 6962 tree over the stored
/// envelope hashes, including sizes whose subtrees come from stored nodes (level >= 8).
#[test]
fn stored_merkle_tree_agrees_with_naive() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for (i, size) in [1usize, 254, 3, 300, 467, 1].into_iter().enumerate() {
        let batch = (0..size)
            .map(|j| ev("s/m", "x", json!({"b": i, "j": j})))
            .collect();
        append(&mut log, batch, T0);
    }
    let d: Vec<Hash> = all(&log).iter().map(|e| e.hash).collect();
    assert_eq!(d.len(), 1026);
    for n in 0..=d.len() {
        assert_eq!(
            log.root_at(n as u64).unwrap(),
            naive_mth(&d[..n]),
            "size {n}"
        );
    }
    for n in [
        1usize, 2, 255, 256, 257, 511, 512, 513, 700, 1024, 1025, 1026,
    ] {
        let root = naive_mth(&d[..n]);
        for m in (0..n).step_by(37).chain([n - 1]) {
            let proof = log.inclusion_proof(m as u64 + 1, n as u64).unwrap();
            assert!(merkle::verify_inclusion(
                &merkle::leaf_hash(&d[m]),
                m as u64,
                n as u64,
                &proof,
                &root
            ));
        }
        for old in (0..=n).step_by(29).chain([n]) {
            let proof = log.consistency_proof(old as u64, n as u64).unwrap();
            assert!(
                merkle::verify_consistency(
                    old as u64,
                    n as u64,
                    &naive_mth(&d[..old]),
                    &root,
                    &proof
                ),
                "{old} {n}"
            );
        }
    }
    assert!(matches!(
        log.root_at(1027),
        Err(LogError::OutOfRange { .. })
    ));
    assert!(matches!(
        log.inclusion_proof(0, 5),
        Err(LogError::OutOfRange { .. })
    ));
}

fn naive_mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => *blake3::hash(b"").as_bytes(),
        1 => merkle::leaf_hash(&d[0]),
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            merkle::node_hash(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
        }
    }
}

#[test]
fn atomic_and_durable_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    sample(&mut log);
    let before = fingerprint(&log);
    // A batch that is prepared but never committed leaves no trace.
    let _ = log
        .prepare(vec![ev("s/9", "x", json!({}))], T0 + 60 * SECOND)
        .unwrap();
    drop(log);
    let log = open(dir.path());
    assert_eq!(fingerprint(&log), before);
    assert_eq!(log.verify(&mut |_| {}).unwrap(), before.0);
    // Frames written past the committed length (a crash between the file and the index
    // write) are cut off at open; zeros written ahead alone are kept.
    let committed = log.committed_len();
    drop(log);
    let path = dir.path().join("log/envelopes");
    let ahead = std::fs::metadata(&path).unwrap().len();
    assert!(ahead > committed, "zeros are written ahead of the frames");
    drop(open(dir.path()));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), ahead);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"torn frame", committed).unwrap();
    drop(file);
    let mut log = open(dir.path());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), committed);
    assert_eq!(fingerprint(&log), before);
    // A batch prepared against an older head is refused.
    let stale = log
        .prepare(vec![ev("s/9", "x", json!({}))], T0 + 60 * SECOND)
        .unwrap();
    append(&mut log, vec![ev("s/9", "y", json!({}))], T0 + 60 * SECOND);
    assert!(matches!(
        log.commit(stale),
        Err(LogError::StalePrepared { .. })
    ));
}

#[test]
fn tamper_detection_names_the_first_bad_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for round in 0..3 {
        let batch = (0..200)
            .map(|i| ev("s/t", "x", json!({"name": format!("n{round}-{i}")})))
            .collect();
        append(&mut log, batch, T0);
    }
    drop(log);
    let envelopes;
    {
        let path = dir.path().join("log/envelopes");
        let mut bytes = std::fs::read(&path).unwrap();
        envelopes = bytes.clone();
        // A byte in the middle of the stored (compressed) bytes of seq 300.
        let mut at = 0;
        for _ in 1..300 {
            at += 4
                + 32
                + (u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) & 0x3fff_ffff)
                    as usize;
        }
        let field = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_ne!(field & (1 << 30), 0, "the frame is compressed");
        let len = (field & 0x3fff_ffff) as usize;
        bytes[at + 4 + len / 2] ^= 0x10;
        std::fs::write(&path, bytes).unwrap();
    }
    let log = open(dir.path());
    match log.verify(&mut |_| {}) {
        Err(LogError::Integrity { seq: 300, .. }) => {}
        other => panic!("{other:?}"),
    }
    drop(log);
    let nodes;
    {
        // The stored node 8/0 is the first 32 bytes of the nodes file.
        let path = dir.path().join("log/nodes");
        let mut bytes = std::fs::read(&path).unwrap();
        nodes = bytes.clone();
        bytes[..32].copy_from_slice(&[7u8; 32]);
        std::fs::write(&path, bytes).unwrap();
    }
    let log = open(dir.path());
    match log.verify(&mut |_| {}) {
        Err(LogError::Integrity { seq: 256, reason }) => {
            assert!(reason.contains("Merkle node"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let head = log.head();
    drop(log);
    // The index is derived from the frames: with both commit slots of the head file
    // damaged, the open starts from the last checkpoint and indexes the frames past it.
    std::fs::write(dir.path().join("log/nodes"), &nodes).unwrap();
    std::fs::write(dir.path().join("log/envelopes"), &envelopes).unwrap();
    {
        let path = dir.path().join("log/head");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[64..71].copy_from_slice(b"garbage");
        bytes[4096 + 64..4096 + 71].copy_from_slice(b"garbage");
        std::fs::write(&path, bytes).unwrap();
    }
    let log = open(dir.path());
    assert_eq!(log.head(), head);
    assert_eq!(log.verify(&mut |_| {}).unwrap(), head);
    drop(log);
    {
        let path = dir.path().join("log/head");
        let mut bytes = std::fs::read(&path).unwrap();
        // Every slot of the head file.
        for slot in 0..4 {
            bytes[slot * 4096 + 64..slot * 4096 + 71].copy_from_slice(b"garbage");
        }
        std::fs::write(&path, bytes).unwrap();
    }
    assert!(matches!(
        Log::open(&dir.path().join("log")),
        Err(LogError::Corrupt { .. })
    ));
}

#[test]
fn limits_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let ok = with_id(
        ev("s/1", "x", json!({})),
        &"a".repeat(arl_log::MAX_ID_BYTES),
    );
    append(&mut log, vec![ok], T0);
    let long = with_id(
        ev("s/1", "x", json!({})),
        &"a".repeat(arl_log::MAX_ID_BYTES + 1),
    );
    assert!(matches!(
        log.prepare(vec![long], T0),
        Err(AppendError::InvalidEvent { index: 0, .. })
    ));
    let big = ev(
        "s/1",
        "x",
        json!({"t": "x".repeat(arl_log::MAX_DATA_BYTES - 8)}),
    );
    assert_eq!(big.data.get().len(), arl_log::MAX_DATA_BYTES);
    append(&mut log, vec![big], T0);
    let too_big = ev(
        "s/1",
        "x",
        json!({"t": "x".repeat(arl_log::MAX_DATA_BYTES - 7)}),
    );
    assert!(matches!(
        log.prepare(vec![too_big], T0),
        Err(AppendError::InvalidEvent { index: 0, .. })
    ));
    let mut early = ev("s/1", "x", json!({}));
    early.effective_at = Some(arl_log::TIME_MIN_MICROS - 1);
    assert!(matches!(
        log.prepare(vec![early], T0),
        Err(AppendError::InvalidEvent { .. })
    ));
    log.verify(&mut |_| {}).unwrap();
}

#[test]
fn lock_is_exclusive_with_a_helpful_message() {
    let dir = tempfile::tempdir().unwrap();
    let held = LedgerLock::exclusive(dir.path(), Duration::from_secs(1)).unwrap();
    let err = LedgerLock::exclusive(dir.path(), Duration::from_millis(30)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("ledger busy: another process holds")
            && text.contains("raise --lock-timeout"),
        "{text}"
    );
    assert!(LedgerLock::shared(dir.path(), Duration::from_millis(30)).is_err());
    drop(held);
    let a = LedgerLock::shared(dir.path(), Duration::from_millis(30)).unwrap();
    let b = LedgerLock::shared(dir.path(), Duration::from_millis(30)).unwrap();
    assert!(LedgerLock::exclusive(dir.path(), Duration::from_millis(30)).is_err());
    drop((a, b));
    LedgerLock::exclusive(dir.path(), Duration::from_millis(30)).unwrap();
}

const CRASH_BATCH: usize = 500;

/// Run by `crash_consistency` in a child process, which it kills mid-append.
#[test]
#[ignore = "run as a child of crash_consistency"]
fn crash_child_appends_forever() {
    let Ok(dir) = std::env::var("ARL_CRASH_DIR") else {
        return;
    };
    let mut log = Log::open(Path::new(&dir)).unwrap();
    for round in 0.. {
        let batch = (0..CRASH_BATCH)
            .map(|i| {
                ev(
                    &format!("s/{}", i % 7),
                    "x",
                    json!({"round": round, "i": i, "pad": "p".repeat(200)}),
                )
            })
            .collect();
        append(&mut log, batch, T0 + round);
    }
}

#[test]
fn crash_consistency() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    for kill_after_ms in [150u64, 400, 900] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child_appends_forever",
                "--ignored",
                "--nocapture",
            ])
            .env("ARL_CRASH_DIR", &log_dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let log = Log::open(&log_dir).unwrap();
        let head = log.verify(&mut |_| {}).unwrap();
        assert_eq!(head.seq % CRASH_BATCH as u64, 0, "a partial batch survived");
        if kill_after_ms == 900 {
            assert!(
                head.seq > 0,
                "the child appended nothing before it was killed"
            );
        }
        assert!(log.get(head.seq + 1).unwrap().is_none());
    }
}

#[test]
fn imported_batch_out_of_record_order_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let imported = |t: i64| {
        let mut e = ev("s/1", "x", json!({"t": t}));
        e.recorded_at = Some(t);
        e
    };
    append(
        &mut log,
        vec![imported(T0 - 10), imported(T0 - 30), imported(T0 - 20)],
        T0,
    );
    assert_eq!(
        log.head().recorded_at,
        T0 - 10,
        "the head keeps the latest record time"
    );
    assert_eq!(
        log.get(2).unwrap().unwrap().recorded_at,
        T0 - 30,
        "stored as given"
    );
    log.verify(&mut |_| {}).unwrap();
    // The next batch may not go back before the latest record time.
    assert!(matches!(
        log.prepare(vec![imported(T0 - 15)], T0),
        Err(AppendError::ImportedTime { index: 0, .. })
    ));
}
