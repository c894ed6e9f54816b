//! Where a ledger keeps its keys: the file `<ledger>/keys` of a ledger directory, or a
//! table beside a log that several nodes share ([`SharedKeys`], implemented by the
//! PostgreSQL store), so that every node opens the names any node sealed, and an erasure
//! on one node holds on all of them from their next answer on.

use crate::seal::Key;
use crate::store::{KeyReader, KeyState, KeyStore, KEYS_FILE};
use crate::{PrivacyError, Subject};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// A key store that the nodes of a shared log share. Every call is durable when it
/// returns; concurrent callers on several nodes agree (a subject gets one key, whoever
/// asks first).
pub trait SharedKeys: Send + Sync {
    /// Whether the ledger seals (sealing was turned on).
    fn seals(&self) -> Result<bool, PrivacyError>;
    /// Turns sealing on; nothing if it is on.
    fn turn_on(&self) -> Result<(), PrivacyError>;
    /// The state of the subject's key, if it ever had one.
    fn state(&self, subject: &Subject) -> Result<Option<KeyState>, PrivacyError>;
    /// The key reference and key of the subject, creating (and committing) a random key
    /// when it has none; [`PrivacyError::Erased`] when its key was destroyed.
    fn key_for(&self, subject: &Subject) -> Result<(u32, Key), PrivacyError>;
    /// Destroys the subject's key; false when it has none.
    fn erase(&self, subject: &Subject, at_micros: i64) -> Result<bool, PrivacyError>;
    /// The live key of reference `n` if it belongs to `subject`.
    fn key(&self, n: u32, subject: &Subject) -> Result<Option<Key>, PrivacyError>;
}

/// Where the keys of one ledger are.
#[derive(Clone)]
pub enum KeyHome {
    /// `<ledger>/keys` in this ledger directory.
    Dir(PathBuf),
    /// A key store shared with the other nodes of the log.
    Shared(Arc<dyn SharedKeys>),
}

impl std::fmt::Debug for KeyHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyHome::Dir(dir) => f.debug_tuple("Dir").field(dir).finish(),
            KeyHome::Shared(_) => f.write_str("Shared"),
        }
    }
}

impl KeyHome {
    /// Whether the ledger seals personal fields: it has a key store.
    pub fn seals(&self) -> Result<bool, PrivacyError> {
        match self {
            KeyHome::Dir(dir) => Ok(dir.join(KEYS_FILE).exists()),
            KeyHome::Shared(keys) => keys.seals(),
        }
    }

    /// Opens the key store for sealing and erasing, creating it (which turns sealing on).
    pub fn writer(&self) -> Result<KeyWriter, PrivacyError> {
        match self {
            KeyHome::Dir(dir) => Ok(KeyWriter::File(KeyStore::open(dir)?)),
            KeyHome::Shared(keys) => {
                keys.turn_on()?;
                Ok(KeyWriter::Shared(keys.clone()))
            }
        }
    }

    /// The unsealer of one answer: keys read when a sealed value names them, and kept
    /// for the unsealer's life (so an erasure shows from the next unsealer on).
    pub fn unsealer(&self) -> Result<crate::Unsealer, PrivacyError> {
        let keys = match self {
            KeyHome::Dir(dir) => Lookup::File(KeyReader::open(dir)?),
            KeyHome::Shared(keys) => Lookup::Shared {
                keys: keys.clone(),
                cache: Mutex::new(HashMap::new()),
            },
        };
        Ok(crate::Unsealer::with(keys))
    }
}

/// The key store opened for sealing and erasing.
pub enum KeyWriter {
    /// The file, under the ledger's exclusive lock.
    File(KeyStore),
    /// The shared store.
    Shared(Arc<dyn SharedKeys>),
}

impl KeyWriter {
    /// The state of the subject's key, if it ever had one.
    pub fn state(&self, subject: &Subject) -> Result<Option<KeyState>, PrivacyError> {
        match self {
            KeyWriter::File(store) => Ok(store.state(subject).cloned()),
            KeyWriter::Shared(keys) => keys.state(subject),
        }
    }

    /// The key of the subject, a new one staged (file) or committed (shared) if it has none.
    pub fn key_for(&mut self, subject: &Subject) -> Result<(u32, Key), PrivacyError> {
        match self {
            KeyWriter::File(store) => store.key_for(subject),
            KeyWriter::Shared(keys) => keys.key_for(subject),
        }
    }

    /// Makes the staged keys durable: before the log commits an event sealed under them.
    pub fn commit(&mut self) -> Result<(), PrivacyError> {
        match self {
            KeyWriter::File(store) => store.commit(),
            KeyWriter::Shared(_) => Ok(()),
        }
    }

    /// Destroys the subject's key; false when it has none.
    pub fn erase(&mut self, subject: &Subject, at_micros: i64) -> Result<bool, PrivacyError> {
        match self {
            KeyWriter::File(store) => store.erase(subject, at_micros),
            KeyWriter::Shared(keys) => keys.erase(subject, at_micros),
        }
    }
}

/// How an unsealer finds keys.
pub(crate) enum Lookup {
    File(KeyReader),
    Shared {
        keys: Arc<dyn SharedKeys>,
        /// Keys (or their absence) by reference, for the life of the unsealer.
        cache: Mutex<HashMap<(u32, Subject), Option<Key>>>,
    },
}

impl Lookup {
    pub(crate) fn key(&self, n: u32, subject: &Subject) -> Result<Option<Key>, PrivacyError> {
        match self {
            Lookup::File(reader) => reader.key(n, subject),
            Lookup::Shared { keys, cache } => {
                let slot = (n, subject.clone());
                if let Some(found) = cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&slot)
                {
                    return Ok(found.clone());
                }
                let found = keys.key(n, subject)?;
                cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(slot, found.clone());
                Ok(found)
            }
        }
    }
}
