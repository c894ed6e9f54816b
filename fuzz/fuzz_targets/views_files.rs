//! The views as a query reads them, with one file's bytes changed by the fuzzer (the
//! `heads` checksum fixed up so its other checks are reached): opening and every read of
//! `ViewReader` return values or errors, never a panic or a hang.
//!
//! Input: byte 0 picks the file, bytes 1..3 an offset (u16 LE), the rest is XORed in there.
#![no_main]

use arl_domain::{Event, Recorded, Timestamp};
use arl_views::format::{heads_checksum, EVENTS_FILE, HEADS_FILES, TIMES_FILE, TXNDATA_FILE, TXNS_FILE};
use arl_views::{ViewReader, ViewWriter};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FILES: [&str; 6] = [
    HEADS_FILES[0],
    HEADS_FILES[1],
    EVENTS_FILE,
    TXNS_FILE,
    TXNDATA_FILE,
    TIMES_FILE,
];

const EVENTS: &[(&str, &str)] = &[
    (
        "account.opened",
        r#"{"account":"acme","name":"ACME","scope":"global"}"#,
    ),
    (
        "account.opened",
        r#"{"account":"acme-de","name":"ACME DE","scope":"national","parent":"acme"}"#,
    ),
    ("person.joined", r#"{"person":"jdoe","name":"J"}"#),
    ("person.joined", r#"{"person":"mgr","name":"M"}"#),
    (
        "team.assigned",
        r#"{"account":"acme","person":"jdoe","role":"media","primary":true}"#,
    ),
    (
        "reporting.line_set",
        r#"{"person":"jdoe","manager":"mgr","line":"solid"}"#,
    ),
    (
        "transaction.recorded",
        r#"{"account":"acme","txn":"t1","kind":"sale","amount":"1.50","currency":"EUR"}"#,
    ),
    ("transaction.reversed", r#"{"account":"acme","txn":"t1"}"#),
    (
        "contact.added",
        r#"{"account":"acme-de","contact":"c1","name":"C","role":"user"}"#,
    ),
];

/// The pristine views files, built once.
fn pristine() -> &'static Vec<(&'static str, Vec<u8>)> {
    static FILES_BYTES: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    FILES_BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut writer = ViewWriter::open(dir.path()).expect("writer");
        for (i, (kind, data)) in EVENTS.iter().enumerate() {
            let at = Timestamp(1_700_000_000_000_000 + i as i64);
            let event = Event::parse(kind, data).expect("valid event");
            let recorded = Recorded {
                seq: i as u64 + 1,
                effective_at: at,
                recorded_at: at,
                event,
            };
            writer.stage(&recorded).expect("stage");
            if i == 4 {
                writer.commit().expect("commit");
            }
        }
        writer.commit().expect("commit");
        FILES
            .iter()
            .filter_map(|f| Some((*f, std::fs::read(dir.path().join(f)).ok()?)))
            .collect()
    })
}

fn work_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        dir
    })
}

fn read_everything(dir: &Path) {
    let Ok(reader) = ViewReader::open(dir) else {
        return;
    };
    let _ = reader.scan(&mut |_| Ok(()));
    for id in reader
        .account_ids()
        .iter()
        .map(String::as_str)
        .chain(["acme", "nope"])
    {
        let _ = reader.account_events(id);
        let _ = reader.child_refs(id);
        let _ = reader.txn_events(id);
    }
    for id in reader
        .person_ids()
        .iter()
        .map(String::as_str)
        .chain(["jdoe", "nope"])
    {
        let _ = reader.person_events(id);
    }
    let _ = reader.org_events();
    let _ = reader.txn_rows(&mut |_| {});
    let _ = reader.seq_known_at(Timestamp(1_700_000_000_000_004));
    let _ = reader.account_of(0);
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let which = usize::from(data[0]) % FILES.len();
    let offset = usize::from(u16::from_le_bytes([data[1], data[2]]));
    let dir = work_dir();
    for (name, bytes) in pristine() {
        let mut bytes = bytes.clone();
        if *name == FILES[which] {
            if offset > bytes.len() {
                bytes.resize(offset, 0);
            }
            for (i, b) in data[3..].iter().enumerate() {
                match bytes.get_mut(offset + i) {
                    Some(slot) => *slot ^= b,
                    None => bytes.push(*b),
                }
            }
            if name.starts_with("heads") && bytes.len() >= 20 {
                let body = bytes.len() - 4;
                let sum = heads_checksum(&bytes[..body]);
                bytes[body..].copy_from_slice(&sum.to_le_bytes());
            }
        }
        std::fs::write(dir.join(name), bytes).expect("write");
    }
    read_everything(dir);
});
