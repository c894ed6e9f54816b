//! The key store: `<ledger>/keys`, one fixed-size record per data subject, in order of first
//! use, so that a sealed value names its key by record number and erasing a key overwrites
//! its record in place. Layout (all integers little-endian), documented in docs/FORMAT.md:
//!
//! - header, 32 bytes: magic `ARLKEYS1`, u32 version 1, u32 record size 128, 16 zero bytes;
//! - record `n` at `32 + 128 n`: u8 state (1 live, 2 erased), u8 subject kind (1 contact,
//!   2 person), u8 id length, 64 bytes of id (zero-padded), 32 bytes of key (zeros once
//!   erased), i64 erased-at (microseconds since the epoch, 0 while live), 17 zero bytes,
//!   u32 CRC-32 of the 124 bytes before it.
//!
//! The file is created owner-only (0600). New records are written at the end and synced
//! before the log commits an event sealed under them; a record cut by a crash (the last,
//! torn) was never used and is cut at the next open for writing.

use crate::seal::{Key, KEY_BYTES};
use crate::{PrivacyError, Subject, SubjectKind};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// File name of the key store inside the ledger directory.
pub const KEYS_FILE: &str = "keys";
/// Bytes of the header.
pub const HEADER_BYTES: u64 = 32;
/// Bytes of one record.
pub const RECORD_BYTES: u64 = 128;
const MAGIC: &[u8; 8] = b"ARLKEYS1";
const VERSION: u32 = 1;
const STATE_LIVE: u8 = 1;
const STATE_ERASED: u8 = 2;
const ID_BYTES_MAX: usize = 64;
const KEY_AT: usize = 3 + ID_BYTES_MAX;
const ERASED_AT_AT: usize = KEY_AT + KEY_BYTES;
const CRC_AT: usize = RECORD_BYTES as usize - 4;

/// A key's state in the store.
#[derive(Debug, Clone)]
pub enum KeyState {
    Live(Key),
    /// Destroyed by `arl erase` at this time (microseconds since the epoch).
    Erased {
        at_micros: i64,
    },
}

#[derive(Debug, Clone)]
struct Record {
    subject: Subject,
    state: KeyState,
}

fn header() -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(RECORD_BYTES as u32).to_le_bytes());
    h
}

fn encode(record: &Record) -> Zeroizing<[u8; RECORD_BYTES as usize]> {
    let mut b = Zeroizing::new([0u8; RECORD_BYTES as usize]);
    let id = record.subject.id.as_bytes();
    assert!(id.len() <= ID_BYTES_MAX, "subject ids are checked ids");
    b[1] = record.subject.kind.code();
    b[2] = id.len() as u8;
    b[3..3 + id.len()].copy_from_slice(id);
    match &record.state {
        KeyState::Live(key) => {
            b[0] = STATE_LIVE;
            b[KEY_AT..ERASED_AT_AT].copy_from_slice(key.0.as_ref());
        }
        KeyState::Erased { at_micros } => {
            b[0] = STATE_ERASED;
            b[ERASED_AT_AT..ERASED_AT_AT + 8].copy_from_slice(&at_micros.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b[..CRC_AT]);
    b[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode(b: &[u8], path: &Path, offset: u64) -> Result<Record, PrivacyError> {
    let corrupt = |what: &'static str| PrivacyError::Corrupt {
        path: path.to_path_buf(),
        offset,
        what,
    };
    assert_eq!(b.len(), RECORD_BYTES as usize);
    let crc = u32::from_le_bytes([b[CRC_AT], b[CRC_AT + 1], b[CRC_AT + 2], b[CRC_AT + 3]]);
    if crc != crc32fast::hash(&b[..CRC_AT]) {
        return Err(corrupt("checksum mismatch"));
    }
    let kind = SubjectKind::from_code(b[1]).ok_or_else(|| corrupt("unknown subject kind"))?;
    let len = usize::from(b[2]);
    let id = std::str::from_utf8(b.get(3..3 + len).ok_or_else(|| corrupt("id length"))?)
        .ok()
        .filter(|id| arl_domain::ids::is_valid_id(id) && len <= ID_BYTES_MAX)
        .ok_or_else(|| corrupt("id"))?;
    let state = match b[0] {
        STATE_LIVE => {
            let mut key = [0u8; KEY_BYTES];
            key.copy_from_slice(&b[KEY_AT..ERASED_AT_AT]);
            KeyState::Live(Key::from_bytes(key))
        }
        STATE_ERASED => {
            let mut at = [0u8; 8];
            at.copy_from_slice(&b[ERASED_AT_AT..ERASED_AT_AT + 8]);
            KeyState::Erased {
                at_micros: i64::from_le_bytes(at),
            }
        }
        _ => return Err(corrupt("unknown state")),
    };
    Ok(Record {
        subject: Subject::new(kind, id),
        state,
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PrivacyError + '_ {
    move |source| PrivacyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn check_header(bytes: &[u8], path: &Path) -> Result<(), PrivacyError> {
    if bytes.len() < HEADER_BYTES as usize || bytes[..HEADER_BYTES as usize] != header() {
        return Err(PrivacyError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            what: "header (magic, version or record size)",
        });
    }
    Ok(())
}

/// The key store opened for writing (under the ledger's exclusive lock): every record in
/// memory, new keys staged until [`KeyStore::commit`].
pub struct KeyStore {
    path: PathBuf,
    file: File,
    records: Vec<Record>,
    by_subject: HashMap<Subject, u32>,
    /// Records on disk; those after it are staged.
    committed: usize,
}

impl KeyStore {
    /// Opens (creating, mode 0600) the key store of the ledger in `ledger_dir`.
    pub fn open(ledger_dir: &Path) -> Result<KeyStore, PrivacyError> {
        let path = ledger_dir.join(KEYS_FILE);
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        if created {
            arl_io::write_at(&file, &path, &header(), 0).map_err(io(&path))?;
            arl_io::sync_all(&file, &path).map_err(io(&path))?;
            arl_io::sync_dir(ledger_dir).map_err(io(&path))?;
        }
        let bytes = Zeroizing::new(std::fs::read(&path).map_err(io(&path))?);
        check_header(&bytes, &path)?;
        let whole = (bytes.len() as u64 - HEADER_BYTES) / RECORD_BYTES;
        let mut records = Vec::with_capacity(whole as usize);
        for n in 0..whole {
            let offset = HEADER_BYTES + n * RECORD_BYTES;
            let b = &bytes[offset as usize..(offset + RECORD_BYTES) as usize];
            match decode(b, &path, offset) {
                Ok(record) => records.push(record),
                // The last record torn by a crash before its sync: never used by the log.
                Err(_) if n + 1 == whole => break,
                Err(e) => return Err(e),
            }
        }
        let len = HEADER_BYTES + records.len() as u64 * RECORD_BYTES;
        if len != bytes.len() as u64 {
            arl_io::set_len(&file, &path, len).map_err(io(&path))?;
            arl_io::sync_all(&file, &path).map_err(io(&path))?;
        }
        let by_subject = (0u32..)
            .zip(&records)
            .map(|(n, r)| (r.subject.clone(), n))
            .collect();
        let committed = records.len();
        Ok(KeyStore {
            path,
            file,
            records,
            by_subject,
            committed,
        })
    }

    /// The state of the subject's key, if it ever had one.
    pub fn state(&self, subject: &Subject) -> Option<&KeyState> {
        let n = *self.by_subject.get(subject)?;
        Some(&self.records[n as usize].state)
    }

    /// The record number and key of the subject, staging a new random key when it has none.
    /// A subject whose key was erased gets no new one: [`PrivacyError::Erased`].
    pub fn key_for(&mut self, subject: &Subject) -> Result<(u32, Key), PrivacyError> {
        if let Some(&n) = self.by_subject.get(subject) {
            return match &self.records[n as usize].state {
                KeyState::Live(key) => Ok((n, key.clone())),
                KeyState::Erased { .. } => Err(PrivacyError::Erased {
                    subject: subject.clone(),
                }),
            };
        }
        let n = u32::try_from(self.records.len()).map_err(|_| PrivacyError::TooManyKeys)?;
        let key = Key::random()?;
        self.records.push(Record {
            subject: subject.clone(),
            state: KeyState::Live(key.clone()),
        });
        self.by_subject.insert(subject.clone(), n);
        Ok((n, key))
    }

    /// Writes the staged keys at the end of the file and syncs it: done before the log
    /// commits any event sealed under them.
    pub fn commit(&mut self) -> Result<(), PrivacyError> {
        if self.committed == self.records.len() {
            return Ok(());
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(
            (self.records.len() - self.committed) * RECORD_BYTES as usize,
        ));
        for record in &self.records[self.committed..] {
            bytes.extend_from_slice(encode(record).as_ref());
        }
        let offset = HEADER_BYTES + self.committed as u64 * RECORD_BYTES;
        arl_io::write_at(&self.file, &self.path, &bytes, offset).map_err(io(&self.path))?;
        arl_io::sync_data(&self.file, &self.path).map_err(io(&self.path))?;
        self.committed = self.records.len();
        Ok(())
    }

    /// Destroys the subject's key: overwrites its record in place (key bytes zero, state
    /// erased, the time) and syncs the file. Returns false when the subject has no key.
    pub fn erase(&mut self, subject: &Subject, at_micros: i64) -> Result<bool, PrivacyError> {
        self.commit()?;
        let Some(&n) = self.by_subject.get(subject) else {
            return Ok(false);
        };
        let record = &mut self.records[n as usize];
        record.state = KeyState::Erased { at_micros };
        let offset = HEADER_BYTES + u64::from(n) * RECORD_BYTES;
        arl_io::write_at(&self.file, &self.path, encode(record).as_ref(), offset)
            .map_err(io(&self.path))?;
        arl_io::sync_data(&self.file, &self.path).map_err(io(&self.path))?;
        Ok(true)
    }
}

/// The key store opened for reading: records read one at a time, when a sealed value names
/// them, and kept for the life of the reader. A ledger without a key store reads as one
/// with no keys (it was written before sealing, or holds no personal fields).
pub struct KeyReader {
    path: PathBuf,
    file: Option<File>,
    cache: Mutex<HashMap<u32, Option<Record>>>,
}

impl KeyReader {
    /// Opens the key store of the ledger in `ledger_dir`, if there is one.
    pub fn open(ledger_dir: &Path) -> Result<KeyReader, PrivacyError> {
        let path = ledger_dir.join(KEYS_FILE);
        let file = match File::open(&path) {
            Ok(file) => {
                let mut h = [0u8; HEADER_BYTES as usize];
                file.read_exact_at(&mut h, 0).map_err(io(&path))?;
                check_header(&h, &path)?;
                Some(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(KeyReader {
            path,
            file,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The live key of record `n` if it belongs to `subject`; `None` when the record is
    /// erased, missing or another subject's.
    pub fn key(&self, n: u32, subject: &Subject) -> Result<Option<Key>, PrivacyError> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(n) {
            slot.insert(self.read(n)?);
        }
        Ok(match cache.get(&n) {
            Some(Some(Record {
                subject: s,
                state: KeyState::Live(key),
            })) if s == subject => Some(key.clone()),
            _ => None,
        })
    }

    fn read(&self, n: u32) -> Result<Option<Record>, PrivacyError> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let offset = HEADER_BYTES + u64::from(n) * RECORD_BYTES;
        let mut b = Zeroizing::new([0u8; RECORD_BYTES as usize]);
        match file.read_exact_at(b.as_mut(), offset) {
            Ok(()) => decode(b.as_ref(), &self.path, offset).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(io(&self.path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_erase_overwrites_and_the_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let vogel = Subject::new(SubjectKind::Contact, "k-vogel");
        let chen = Subject::new(SubjectKind::Person, "chen");
        let mut store = KeyStore::open(dir.path()).unwrap();
        let (n, key) = store.key_for(&vogel).unwrap();
        let (m, _) = store.key_for(&chen).unwrap();
        assert_eq!((n, m), (0, 1));
        store.commit().unwrap();
        let mode = std::fs::metadata(dir.path().join(KEYS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let reader = KeyReader::open(dir.path()).unwrap();
        assert_eq!(reader.key(0, &vogel).unwrap().unwrap().0, key.0);
        assert!(reader.key(0, &chen).unwrap().is_none());
        assert!(reader.key(9, &chen).unwrap().is_none());

        let mut store = KeyStore::open(dir.path()).unwrap();
        assert_eq!(store.key_for(&vogel).unwrap().0, 0);
        assert!(store.erase(&vogel, 42).unwrap());
        assert!(matches!(
            store.key_for(&vogel),
            Err(PrivacyError::Erased { .. })
        ));
        let bytes = std::fs::read(dir.path().join(KEYS_FILE)).unwrap();
        assert_eq!(bytes.len() as u64, HEADER_BYTES + 2 * RECORD_BYTES);
        assert!(!bytes.windows(KEY_BYTES).any(|w| w == key.0.as_ref()));
        let reader = KeyReader::open(dir.path()).unwrap();
        assert!(reader.key(0, &vogel).unwrap().is_none());
        assert!(reader.key(1, &chen).unwrap().is_some());
        let store = KeyStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.state(&vogel),
            Some(KeyState::Erased { at_micros: 42 })
        ));
    }

    #[test]
    fn a_torn_last_record_is_cut_and_damage_elsewhere_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEYS_FILE);
        let mut store = KeyStore::open(dir.path()).unwrap();
        for id in ["a", "b"] {
            store
                .key_for(&Subject::new(SubjectKind::Person, id))
                .unwrap();
        }
        store.commit().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        assert_eq!(store.records.len(), 2);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            HEADER_BYTES + 2 * RECORD_BYTES
        );
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_BYTES as usize + 5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            KeyStore::open(dir.path()),
            Err(PrivacyError::Corrupt { offset: 32, .. })
        ));
    }
}
