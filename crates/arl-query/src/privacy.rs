//! Personal fields on the write path, shared by the command line (`arl append`, `arl erase`)
//! and the server (`POST /v1/events`, `POST /v1/erase`), so that both seal and erase the same
//! way (docs/PRIVACY.md): [`seal_batch`] before a batch is appended, and an [`Erasure`]
//! checked before its audit event is appended and finished (the key destroyed) after.

use arl_domain::{Event, InputEvent, SubjectErased, Timestamp};
use arl_log::{Log, LogError};
use arl_privacy::{KeyHome, KeyState, KeyWriter, PrivacyError, Subject, SubjectKind};
use serde_json::{json, Value};

/// The longest reason an erasure takes, in characters.
pub const REASON_CHARS_MAX: usize = 1024;

/// Why a batch could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The event at `index` (0-based, in the batch) cannot be sealed, or may not be
    /// appended at all (`subject.erased`).
    #[error("{error}")]
    Event { index: usize, error: PrivacyError },
    /// The key store could not be opened or synced.
    #[error(transparent)]
    Keys(PrivacyError),
    /// Reading the log (to find events stored in clear) failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Seals the personal fields of a batch in place before the log plans it, when the ledger
/// whose keys are in `keys` seals; the keys of new subjects are durable before this
/// returns (so before the log commits). `subject.erased` is refused as input always. An event whose `id` the log
/// already holds with its personal fields in clear (written before sealing) is left in
/// clear, so that a resend is still recognized as a duplicate.
pub fn seal_batch(keys: &KeyHome, log: &Log, events: &mut [InputEvent]) -> Result<(), SealError> {
    refuse_erasures(events)?;
    let personal = events
        .iter()
        .any(|e| arl_privacy::subject_of(&e.event).is_some());
    if !personal || !keys.seals().map_err(SealError::Keys)? {
        return Ok(());
    }
    let mut store = keys.writer().map_err(SealError::Keys)?;
    for (index, input) in events.iter_mut().enumerate() {
        if stored_in_clear(log, input)? {
            continue;
        }
        arl_privacy::seal_event(&mut store, &mut input.event)
            .map_err(|error| SealError::Event { index, error })?;
    }
    store.commit().map_err(SealError::Keys)
}

/// Refuses a batch holding a `subject.erased` event: that event is the audit trace of an
/// erasure, never input. [`seal_batch`] checks this first; a batch appended to a ledger
/// that does not seal is checked with this alone.
pub fn refuse_erasures(events: &[InputEvent]) -> Result<(), SealError> {
    match events.iter().position(|e| is_erasure(&e.event)) {
        Some(index) => Err(SealError::Event {
            index,
            error: PrivacyError::AuditOnly,
        }),
        None => Ok(()),
    }
}

fn is_erasure(event: &Event) -> bool {
    matches!(event, Event::SubjectErased(_))
}

fn stored_in_clear(log: &Log, input: &InputEvent) -> Result<bool, LogError> {
    let Some(id) = &input.id else {
        return Ok(false);
    };
    if arl_privacy::subject_of(&input.event).is_none() {
        return Ok(false);
    }
    let Some(seq) = log.lookup_id(id)? else {
        return Ok(false);
    };
    let Some(envelope) = log.get(seq)? else {
        return Ok(false);
    };
    Ok(Event::parse(&envelope.kind, envelope.data.get())
        .is_ok_and(|e| arl_privacy::subject_of(&e).is_some() && arl_privacy::is_clear(&e)))
}

/// Why an erasure was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EraseError {
    /// The subject's key was destroyed before.
    #[error("{subject} was already erased at {at}")]
    AlreadyErased { subject: Subject, at: Timestamp },
    /// The ledger holds no data of the subject (no key, no event in clear).
    #[error("no {subject} in this ledger: nothing to erase")]
    Unknown { subject: Subject },
    /// The key store failed.
    #[error(transparent)]
    Keys(PrivacyError),
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// An erasure checked under the ledger's exclusive lock: the caller appends its
/// [`Erasure::event`] (straight to the ledger: the append path refuses `subject.erased` as
/// input), then calls [`Erasure::destroy_key`].
pub struct Erasure {
    pub subject: Subject,
    /// Seqs of the subject's events stored in clear (written before sealing): they cannot
    /// be erased and still show the data.
    pub clear_seqs: Vec<u64>,
    store: Option<KeyWriter>,
}

impl Erasure {
    /// Checks that `subject` has data in the ledger (its log `log`, its keys in `keys`) and
    /// is not erased yet. A ledger that does not seal gets no key store from an erasure.
    pub fn plan(keys: &KeyHome, log: &Log, subject: Subject) -> Result<Erasure, EraseError> {
        let store = if keys.seals().map_err(EraseError::Keys)? {
            Some(keys.writer().map_err(EraseError::Keys)?)
        } else {
            None
        };
        let state = match &store {
            Some(store) => store.state(&subject).map_err(EraseError::Keys)?,
            None => None,
        };
        if let Some(KeyState::Erased { at_micros }) = state {
            return Err(EraseError::AlreadyErased {
                at: Timestamp(at_micros),
                subject,
            });
        }
        let had_key = state.is_some();
        let clear_seqs = clear_events(log, &subject)?;
        if !had_key && clear_seqs.is_empty() {
            return Err(EraseError::Unknown { subject });
        }
        Ok(Erasure {
            subject,
            clear_seqs,
            store,
        })
    }

    /// The audit event `subject.erased`, with why.
    pub fn event(&self, reason: &str) -> InputEvent {
        let subject = &self.subject;
        let event = SubjectErased {
            contact: (subject.kind == SubjectKind::Contact).then(|| subject.id.clone()),
            person: (subject.kind == SubjectKind::Person).then(|| subject.id.clone()),
        };
        InputEvent {
            event: Event::SubjectErased(event),
            effective_at: None,
            id: None,
            actor: None,
            reason: Some(reason.to_string()),
            expected_version: None,
            recorded_at: None,
        }
    }

    /// Destroys the subject's key (once its audit event is committed); whether it had one.
    pub fn destroy_key(mut self, at: Timestamp) -> Result<bool, EraseError> {
        match self.store.as_mut() {
            Some(store) => store.erase(&self.subject, at.0).map_err(EraseError::Keys),
            None => Ok(false),
        }
    }
}

/// What an erasure did, as `arl erase --format json` prints it and `POST /v1/erase` answers.
pub fn erased_json(subject: &Subject, seq: u64, key_destroyed: bool, clear_seqs: &[u64]) -> Value {
    json!({
        "subject": subject.kind.as_str(),
        "id": subject.id,
        "seq": seq,
        "key_destroyed": key_destroyed,
        "not_erasable_seqs": clear_seqs,
    })
}

/// Seqs of the subject's events whose personal fields are stored in clear.
fn clear_events(log: &Log, subject: &Subject) -> Result<Vec<u64>, LogError> {
    let mut seqs = Vec::new();
    for envelope in log.range(1, log.head().seq) {
        let envelope = envelope?;
        if !matches!(envelope.kind.as_str(), "contact.added" | "person.joined") {
            continue;
        }
        let Ok(event) = Event::parse(&envelope.kind, envelope.data.get()) else {
            continue;
        };
        if arl_privacy::subject_of(&event).as_ref() == Some(subject)
            && arl_privacy::is_clear(&event)
        {
            seqs.push(envelope.seq);
        }
    }
    Ok(seqs)
}
