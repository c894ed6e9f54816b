//! The in-memory index loaded from the views (`ViewReader::load_index`, transactions from
//! their compact records) equals the one built by inserting every event as it was appended.

use arl_domain::{InputEvent, Timestamp};
use arl_fold::{MemIndex, Source, TxnRow};
use arl_views::{AppendOptions, Ledger};
use std::time::Duration;

fn rows(index: &MemIndex) -> Vec<TxnRow> {
    let mut out = Vec::new();
    index.txn_rows(&mut |r| out.push(*r)).unwrap();
    out
}

#[test]
fn loaded_index_equals_the_appended_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let lines: Vec<String> = arl_gen::Generator::new(arl_gen::Config::new(6_000, 3)).collect();
    let opts = AppendOptions {
        imported: true,
        actor: "test".into(),
        now: Timestamp::now(),
    };
    let mut built = MemIndex::without_txn_events();
    {
        let mut ledger = Ledger::open(&path, Duration::from_secs(5)).unwrap();
        for chunk in lines.chunks(1_000) {
            let inputs: Vec<InputEvent> = chunk
                .iter()
                .map(|l| InputEvent::parse_line(l, true).unwrap())
                .collect();
            ledger.append(inputs, &opts).unwrap();
        }
        for envelope in ledger.log().range(1, ledger.log().head().seq) {
            built.insert(arl_views::recorded_from_envelope(&envelope.unwrap()).unwrap());
        }
    }
    let ledger = Ledger::open(&path, Duration::from_secs(5)).unwrap();
    let loaded = &ledger.reader().unwrap().load_index().unwrap();
    assert_eq!(loaded.checkpoint(), built.checkpoint());
    let (loaded_rows, built_rows) = (rows(loaded), rows(&built));
    assert!(built_rows.len() > 4_000, "the history has transactions");
    // Account numbers may differ (order of first appearance): compare by account id.
    let named = |index: &MemIndex, rows: &[TxnRow]| -> Vec<(String, u64, i64, bool)> {
        rows.iter()
            .map(|r| {
                (
                    index.account_of(r.account).unwrap(),
                    r.seq,
                    r.amount_minor,
                    r.reversal,
                )
            })
            .collect()
    };
    assert_eq!(named(loaded, &loaded_rows), named(&built, &built_rows));
    assert_eq!(loaded.account_ids().unwrap(), built.account_ids().unwrap());
    for id in built.account_ids().unwrap() {
        assert_eq!(
            loaded.account_events(&id).unwrap(),
            built.account_events(&id).unwrap()
        );
        assert_eq!(loaded.status_events(&id), built.status_events(&id));
    }
    for n in 1..=200 {
        for txn in [format!("inv-{n}"), format!("po-{n}")] {
            let (a, b) = (loaded.txn(&txn), built.txn(&txn));
            assert_eq!(
                a.map(|t| (t.seq, t.reversed_seq, t.amount_minor)),
                b.map(|t| (t.seq, t.reversed_seq, t.amount_minor)),
                "{txn}"
            );
        }
    }
    assert!(
        (1..=200).any(|n| loaded.txn(&format!("inv-{n}")).is_some()),
        "txn ids look like inv-N"
    );
}
