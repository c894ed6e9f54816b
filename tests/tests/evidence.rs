//! Evidence bundles on random back-dated histories: honest bundles for every kind of
//! question at random (as-of, known-at) points check and give the ledger's own answer; a
//! bundle with any one envelope removed, added from elsewhere in the log, altered or
//! reordered, or with its checkpoint swapped for another valid one, is rejected.

use arl_domain::{InputEvent, Recorded, Timestamp};
use arl_evidence::merkle::{leaf_hash, Tree};
use arl_evidence::note::SignerKey;
use arl_evidence::{
    BalanceOptions, Checkpoint, Command, Ledger, Question, StoredEnvelope, StreamMap,
};
use arl_fold::{MemIndex, Source, SourceError};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A log held in memory: envelopes, their hashes, and the stream parts.
struct MemLog {
    envelopes: Vec<StoredEnvelope>,
    recorded: Vec<Arc<Recorded>>,
    parts: BTreeMap<String, Vec<Arc<Recorded>>>,
    index: MemIndex,
}

fn canonical(recorded: &Recorded, stream_version: u64) -> String {
    let envelope = arl_log::Envelope {
        seq: recorded.seq,
        id: format!("e-{}", recorded.seq),
        kind: recorded.event.kind().to_string(),
        stream: recorded.event.stream(),
        version: stream_version,
        recorded_at: recorded.recorded_at.0,
        effective_at: recorded.effective_at.0,
        actor: "test".into(),
        reason: None,
        imported: true,
        data: serde_json::value::RawValue::from_string(recorded.event.data_json()).unwrap(),
        hash: [0; 32],
    };
    String::from_utf8(envelope.canonical_bytes()).unwrap()
}

impl MemLog {
    fn generate(events: u64, seed: u64) -> MemLog {
        let mut log = MemLog {
            envelopes: Vec::new(),
            recorded: Vec::new(),
            parts: BTreeMap::new(),
            index: MemIndex::new(),
        };
        let mut versions: BTreeMap<String, u64> = BTreeMap::new();
        for line in arl_gen::Generator::new(arl_gen::Config::new(events, seed)) {
            let input = InputEvent::parse_line(&line, true).expect("generated lines parse");
            let recorded_at = input.recorded_at.expect("imported lines carry recorded_at");
            let recorded = Recorded {
                seq: log.index.checkpoint() + 1,
                effective_at: input.effective_at.unwrap_or(recorded_at),
                recorded_at,
                event: input.event,
            };
            if arl_fold::validate(&log.index, &recorded).is_err() {
                continue;
            }
            let version = versions.entry(recorded.event.stream()).or_default();
            *version += 1;
            let text = canonical(&recorded, *version);
            let prev = log.envelopes.last().map_or([0; 32], |e| e.hash);
            let hash = arl_evidence::chain_hash(&prev, text.as_bytes());
            log.envelopes.push(StoredEnvelope {
                canonical: text,
                prev,
                hash,
            });
            let shared = Arc::new(recorded.clone());
            for key in arl_evidence::keys_of(&recorded.event) {
                log.parts.entry(key).or_default().push(shared.clone());
            }
            log.recorded.push(shared);
            log.index.insert(recorded);
        }
        log
    }

    fn size(&self) -> u64 {
        self.envelopes.len() as u64
    }

    /// The checkpoint at `size`, signed, with its stream map.
    fn checkpoint(
        &self,
        size: u64,
        key: &SignerKey,
    ) -> (String, Checkpoint, arl_evidence::MapSnapshot) {
        let mut map = StreamMap::default();
        for (envelope, recorded) in self
            .envelopes
            .iter()
            .zip(&self.recorded)
            .take(size as usize)
        {
            map.push(recorded.seq, &envelope.hash, &recorded.event);
        }
        let snapshot = map.snapshot();
        let checkpoint = Checkpoint {
            origin: key.name.clone(),
            size,
            root: self.tree(size).root(),
            map_size: snapshot.size(),
            map_root: snapshot.root(),
        };
        (checkpoint.sign(key).render(), checkpoint, snapshot)
    }

    fn tree(&self, size: u64) -> Tree {
        Tree::new(
            self.envelopes[..size as usize]
                .iter()
                .map(|e| leaf_hash(&e.hash))
                .collect(),
        )
    }
}

impl Ledger for MemLog {
    fn part(&self, key: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self.parts.get(key).cloned().unwrap_or_default())
    }

    fn envelope(&self, seq: u64) -> Result<StoredEnvelope, SourceError> {
        Ok(self.envelopes[seq as usize - 1].clone())
    }

    fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<[u8; 32]>, SourceError> {
        Ok(self.tree(size).path(seq - 1))
    }
}

/// A question of `kind` about the `pick`-th account or person, at a point chosen by
/// `when` (valid time) and `known` (knowledge: by time, by seq, or all).
fn question(log: &MemLog, kind: usize, pick: usize, when: u64, known: (u8, u64)) -> Question {
    let accounts = log.index.account_ids().unwrap();
    let people = log.index.person_ids().unwrap();
    let first = log.recorded.first().unwrap().effective_at.0;
    let last = log
        .recorded
        .iter()
        .map(|r| r.effective_at.0.max(r.recorded_at.0))
        .max()
        .unwrap();
    let as_of = Timestamp(first + (last - first) / 1000 * when as i64);
    let size = log.size();
    let (known_at, at_seq) = match known.0 % 3 {
        0 => (None, size),
        1 => (None, size * known.1 / 1000),
        _ => {
            let t = Timestamp(first + (last - first) / 1000 * known.1 as i64);
            (Some(t), log.index.seq_known_at(t).unwrap())
        }
    };
    let command = [
        Command::Account,
        Command::Team,
        Command::Contacts,
        Command::Portfolio,
        Command::Balance,
        Command::History,
    ][kind % 6];
    let subject = if command == Command::Portfolio {
        people[pick % people.len()].clone()
    } else {
        accounts[pick % accounts.len()].clone()
    };
    Question {
        command,
        subject,
        as_of: (command != Command::History || when.is_multiple_of(2)).then(|| as_of.canonical()),
        known_at: known_at.map(Timestamp::canonical),
        at_seq,
        balance: (command == Command::Balance).then(|| BalanceOptions {
            period: ["month", "quarter", "year", "all"][pick % 4].to_string(),
            from: None,
            to: None,
            rollup: when % 2 == 1,
        }),
    }
}

fn rejected(bundle: &Value, key: &SignerKey, what: &str) {
    let text = serde_json::to_string(bundle).unwrap();
    let verdict = arl_evidence::check(&text, &key.verifier(), &[]);
    assert!(verdict.is_err(), "a bundle with {what} was accepted");
}

/// Every one-envelope tampering of an honest bundle is rejected.
fn tamper(
    log: &MemLog,
    map: &arl_evidence::MapSnapshot,
    bundle: &Value,
    key: &SignerKey,
    other_note: &str,
    outsider: u64,
) {
    // The control: the bundle, through the same JSON round trip as every tampered copy,
    // still checks, so each rejection below is the tampering's.
    let text = serde_json::to_string(bundle).unwrap();
    if let Err(e) = arl_evidence::check(&text, &key.verifier(), &[]) {
        panic!("the untampered bundle is rejected after a JSON round trip: {e}");
    }
    let envelopes = bundle["envelopes"].as_array().unwrap();
    let seqs: Vec<u64> = envelopes
        .iter()
        .map(|e| e["envelope"]["seq"].as_u64().unwrap())
        .collect();
    format_1_still_checks(log, map, bundle, key, &seqs);
    for i in 0..envelopes.len() {
        let mut removed = bundle.clone();
        removed["envelopes"].as_array_mut().unwrap().remove(i);
        rejected(&removed, key, &format!("envelope seq {} removed", seqs[i]));
        let mut altered = bundle.clone();
        let entry = &mut altered["envelopes"][i]["envelope"];
        let text = entry
            .to_string()
            .replacen("\"actor\":\"test\"", "\"actor\":\"tset\"", 1);
        *entry = serde_json::from_str(&text).unwrap();
        rejected(&altered, key, &format!("envelope seq {} altered", seqs[i]));
        if i + 1 < envelopes.len() {
            let mut reordered = bundle.clone();
            reordered["envelopes"]
                .as_array_mut()
                .unwrap()
                .swap(i, i + 1);
            rejected(
                &reordered,
                key,
                &format!("envelopes {} and {} swapped", seqs[i], seqs[i + 1]),
            );
        }
    }
    for i in 0..bundle["later"].as_array().unwrap().len() {
        let mut removed = bundle.clone();
        removed["later"].as_array_mut().unwrap().remove(i);
        rejected(&removed, key, "a later envelope's hash removed");
    }
    for list in ["nodes", "map_nodes"] {
        for i in 0..bundle[list].as_array().map_or(0, Vec::len) {
            let mut removed = bundle.clone();
            removed[list].as_array_mut().unwrap().remove(i);
            rejected(&removed, key, &format!("an entry of {list} removed"));
            let mut altered = bundle.clone();
            altered[list][i] = Value::String(arl_evidence::hex(&[7; 32]));
            rejected(&altered, key, &format!("an entry of {list} altered"));
        }
    }
    for i in 0..bundle["parts"].as_array().unwrap().len() {
        let mut removed = bundle.clone();
        removed["parts"].as_array_mut().unwrap().remove(i);
        rejected(&removed, key, "a stream part's proof removed");
    }
    let size = bundle_size(bundle);
    if !seqs.contains(&outsider) && outsider <= size {
        let stored = log.envelope(outsider).unwrap();
        let entry = serde_json::json!({
            "prev": arl_evidence::hex(&stored.prev),
            "envelope": serde_json::from_str::<Value>(&stored.canonical).unwrap(),
        });
        let mut added = bundle.clone();
        let list = added["envelopes"].as_array_mut().unwrap();
        let at = seqs.partition_point(|s| *s < outsider);
        list.insert(at, entry);
        rejected(&added, key, &format!("envelope seq {outsider} added"));
    }
    let mut swapped = bundle.clone();
    swapped["checkpoint"] = Value::String(other_note.to_string());
    rejected(&swapped, key, "another valid checkpoint");
    let mut answered = bundle.clone();
    answered["answer"] = Value::String(format!("[{}]", bundle["answer"].as_str().unwrap()));
    rejected(&answered, key, "another answer");
}

/// The same bundle in the first format (an inclusion proof with each envelope, no
/// multiproof) still checks, and an envelope without its proof does not.
fn format_1_still_checks(
    log: &MemLog,
    map: &arl_evidence::MapSnapshot,
    bundle: &Value,
    key: &SignerKey,
    seqs: &[u64],
) {
    let size = bundle_size(bundle);
    let mut old = bundle.clone();
    old["format"] = Value::String(arl_evidence::BUNDLE_FORMAT_1.to_string());
    old.as_object_mut().unwrap().remove("nodes");
    old.as_object_mut().unwrap().remove("map_nodes");
    let parts: Vec<arl_evidence::MapProof> = serde_json::from_value(old["parts"].clone()).unwrap();
    old["parts"] = serde_json::to_value(
        parts
            .iter()
            .map(|proof| map.prove(proof.key()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for (entry, seq) in old["envelopes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(seqs)
    {
        let proof = log.inclusion_proof(*seq, size).unwrap();
        entry["proof"] = proof.iter().map(arl_evidence::hex).collect();
    }
    let text = serde_json::to_string(&old).unwrap();
    if let Err(e) = arl_evidence::check(&text, &key.verifier(), &[]) {
        panic!("a format 1 bundle is rejected: {e}");
    }
    if size > 1 {
        let mut unproven = old.clone();
        unproven["envelopes"][0]["proof"] = Value::Array(Vec::new());
        rejected(&unproven, key, "a format 1 envelope without its proof");
    }
}

fn bundle_size(bundle: &Value) -> u64 {
    let note = bundle["checkpoint"].as_str().unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn honest_bundles_check_and_tampered_ones_do_not(
        seed in any::<u64>(),
        events in 150u64..400,
        asks in proptest::collection::vec((0usize..6, 0usize..1000, 0u64..1000, (0u8..3, 0u64..1000), 0u64..1000), 6),
    ) {
        let log = MemLog::generate(events, seed);
        let key = SignerKey::from_seed("arl.test", [9; 32]).unwrap();
        let size = log.size();
        let (note, checkpoint, map) = log.checkpoint(size, &key);
        let (other_note, _, _) = log.checkpoint(size - 1 - size / 3, &key);
        let mut checked = 0;
        // The generated questions may all ask about something the ledger does not hold
        // (an account opened after the chosen point, a person with no portfolio); the last
        // one always has an answer: the card of an account as of the end, everything known.
        let last = log.recorded.iter().map(|r| r.effective_at.0.max(r.recorded_at.0)).max().unwrap();
        let mut always = question(&log, 0, asks[0].1, 0, (0, 0));
        always.as_of = Some(Timestamp(last).canonical());
        let questions: Vec<(Question, u64)> = asks
            .iter()
            .map(|&(kind, pick, when, known, outsider)| (question(&log, kind, pick, when, known), outsider))
            .chain([(always, asks[0].4)])
            .collect();
        for (question, outsider) in questions {
            let expected = question.answer(&log.index, &|seq| Some(log.envelopes[seq as usize - 1].hash)).unwrap();
            let bundle = match arl_evidence::prove(&log, question.clone(), &note, &checkpoint, &map) {
                Ok(bundle) => bundle,
                Err(arl_evidence::ProveError::NotFound { .. }) => {
                    prop_assert!(expected.is_none(), "the ledger answers {question:?}");
                    continue;
                }
                Err(e) => panic!("proving {question:?}: {e}"),
            };
            prop_assert_eq!(Some(&bundle.answer), expected.as_ref(), "{:?}", question);
            prop_assert!(!bundle.envelopes.is_empty());
            let text = serde_json::to_string_pretty(&bundle).unwrap();
            let verdict = arl_evidence::check(&text, &key.verifier(), &[]);
            prop_assert!(verdict.is_ok(), "honest bundle of {:?} rejected: {}", question, verdict.unwrap_err());
            let value: Value = serde_json::from_str(&text).unwrap();
            tamper(&log, &map, &value, &key, &other_note, 1 + outsider * size / 1000);
            checked += 1;
        }
        prop_assert!(checked > 0);
    }
}
