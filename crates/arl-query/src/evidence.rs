//! The ledger's evidence store and the bundles built from it, shared by the command line
//! (`arl checkpoint`, `arl verify --checkpoint`, `--evidence FILE`) and the server
//! (`GET /v1/checkpoint`, `GET /v1/evidence/...`, `POST /v1/verify?checkpoint=...`), so both
//! sign the same checkpoints and write the same bundles.
//!
//! What the ledger keeps, in `<ledger>/evidence/` (owner only): `signing.key` (the
//! checkpoint key), `streams.map` (the stream map at the last checkpoint, so the next one
//! reads only the envelopes after it) and `checkpoints/<size>.note` (every checkpoint made).

use crate::At;
use arl_domain::{Event, Recorded, Timestamp};
pub use arl_evidence::note::Note;
use arl_evidence::note::SignerKey;
pub use arl_evidence::{BalanceOptions, Checkpoint, Command as EvidenceCommand};
use arl_evidence::{MapSnapshot, Question, StoredEnvelope, StreamMap};
use arl_fold::{Source, SourceError};
use arl_log::{Log, LogError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The ledger's evidence directory, under the ledger directory.
pub const EVIDENCE_DIR: &str = "evidence";
/// The checkpoint signing key, in the evidence directory.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// The stream map at the last checkpoint.
const MAP_FILE: &str = "streams.map";
/// The checkpoints made.
const CHECKPOINTS_DIR: &str = "checkpoints";
/// The first bytes of the stream map file.
const MAP_MAGIC: &[u8; 8] = b"ARLMAP1\n";
/// At most this many bytes read from a key or note file.
pub const KEY_FILE_BYTES_MAX: u64 = 64 * 1024;

/// Why a checkpoint or a bundle could not be made or checked; each kind has the command
/// line's exit code and the server's status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The question cannot have evidence (exit 2, HTTP 400).
    #[error("{0}")]
    Usage(String),
    /// The ledger cannot give it now: no signing key, views behind the log (exit 1,
    /// HTTP 409).
    #[error("{0}")]
    Refused(String),
    /// The subject does not exist at that point (exit 1, HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A check failed (exit 3).
    #[error("{0}")]
    Integrity(String),
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Reading the views failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Building the bundle failed.
    #[error(transparent)]
    Prove(arl_evidence::ProveError),
    /// Reading or writing a file of the evidence store failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> EvidenceError {
    move |source| EvidenceError::Io { what, source }
}

/// Creates `dir` (and its parents), owner-only.
pub fn private_dir(dir: &Path) -> Result<(), EvidenceError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

/// Writes `bytes` to `path` through a temporary file and a rename, owner-only.
pub fn write_private(path: &Path, bytes: &[u8], create_new: bool) -> Result<(), EvidenceError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let target = if create_new {
        path.to_path_buf()
    } else {
        path.with_extension("tmp")
    };
    let mut file = options
        .open(&target)
        .map_err(io(format!("writing {}", target.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io(format!("writing {}", target.display())))?;
    if !create_new {
        std::fs::rename(&target, path).map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(())
}

/// The text of a small file (a key, a note), at most [`KEY_FILE_BYTES_MAX`] bytes of it.
pub fn read_small(path: &Path) -> Result<String, EvidenceError> {
    let file = std::fs::File::open(path).map_err(io(format!("reading {}", path.display())))?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, KEY_FILE_BYTES_MAX),
        &mut text,
    )
    .map_err(io(format!("reading {}", path.display())))?;
    Ok(text)
}

/// The stream map file: magic, size (u64 BE), parts (u64 BE), then per part the key's
/// length (u16 BE), the key, the count (u64 BE) and the running hash (32 bytes), then a
/// blake3 of everything before it.
fn encode_map(map: &StreamMap) -> Vec<u8> {
    let mut out = MAP_MAGIC.to_vec();
    out.extend_from_slice(&map.size.to_be_bytes());
    out.extend_from_slice(&(map.parts.len() as u64).to_be_bytes());
    for (key, (count, running)) in &map.parts {
        let length = u16::try_from(key.len()).expect("keys are short: ids are at most 64 bytes");
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(running);
    }
    let check = *blake3::hash(&out).as_bytes();
    out.extend_from_slice(&check);
    out
}

fn decode_map(bytes: &[u8]) -> Option<StreamMap> {
    let (body, check) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if blake3::hash(body).as_bytes() != check {
        return None;
    }
    let mut at = body.strip_prefix(MAP_MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = at.split_at_checked(n)?;
        at = rest;
        Some(head)
    };
    let size = u64::from_be_bytes(take(8)?.try_into().ok()?);
    let parts = u64::from_be_bytes(take(8)?.try_into().ok()?);
    let mut map = StreamMap {
        size,
        ..StreamMap::default()
    };
    for _ in 0..parts {
        let length = u16::from_be_bytes(take(2)?.try_into().ok()?) as usize;
        let key = std::str::from_utf8(take(length)?).ok()?.to_string();
        let count = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let running: [u8; 32] = take(32)?.try_into().ok()?;
        map.parts.insert(key, (count, running));
    }
    Some(map)
}

/// Adds the log's envelopes after the map's size up to `size`.
fn extend_map(log: &Log, map: &mut StreamMap, size: u64) -> Result<(), EvidenceError> {
    for envelope in log.range(map.size + 1, size) {
        let envelope = envelope?;
        let event = Event::parse(&envelope.kind, envelope.data.get()).map_err(|e| {
            EvidenceError::Integrity(format!("envelope seq {} does not parse: {e}", envelope.seq))
        })?;
        map.push(envelope.seq, &envelope.hash, &event);
    }
    Ok(())
}

/// The stream map at `size`, recomputed from the log alone.
fn map_from_scratch(log: &Log, size: u64) -> Result<StreamMap, EvidenceError> {
    let mut map = StreamMap::default();
    extend_map(log, &mut map, size)?;
    Ok(map)
}

/// A ledger's evidence store: its directory `<ledger>/evidence`.
#[derive(Debug, Clone)]
pub struct EvidenceHome {
    dir: PathBuf,
}

impl EvidenceHome {
    /// The evidence store of the ledger directory `ledger_dir`.
    pub fn new(ledger_dir: &Path) -> EvidenceHome {
        EvidenceHome {
            dir: ledger_dir.join(EVIDENCE_DIR),
        }
    }

    /// The evidence directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The signing key's file.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(SIGNING_KEY_FILE)
    }

    /// The ledger's checkpoint signing key.
    pub fn signer(&self) -> Result<SignerKey, EvidenceError> {
        let path = self.key_path();
        if !path.is_file() {
            return Err(EvidenceError::Refused(format!(
                "the ledger has no signing key; make one with arl key init (it goes to {})",
                path.display()
            )));
        }
        SignerKey::parse(&read_small(&path)?)
            .map_err(|e| EvidenceError::Refused(format!("{}: {e}", path.display())))
    }

    /// The stream map at the head: the saved one extended, saved again.
    fn map_at_head(&self, log: &Log) -> Result<StreamMap, EvidenceError> {
        let path = self.dir.join(MAP_FILE);
        let head = log.head().seq;
        let saved = match std::fs::read(&path) {
            Ok(bytes) => decode_map(&bytes).filter(|map| map.size <= head),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        let mut map = saved.unwrap_or_default();
        if map.size < head || !path.exists() {
            extend_map(log, &mut map, head)?;
            write_private(&path, &encode_map(&map), false)?;
        }
        Ok(map)
    }

    /// The file of the checkpoint at `size`.
    pub fn checkpoint_path(&self, size: u64) -> PathBuf {
        self.dir
            .join(CHECKPOINTS_DIR)
            .join(format!("{size:020}.note"))
    }

    /// The signed checkpoint of the head, made and kept now if there is none yet: the
    /// note's text, the checkpoint and the stream map it commits to.
    pub fn current(&self, log: &Log) -> Result<(String, Checkpoint, MapSnapshot), EvidenceError> {
        let signer = self.signer()?;
        let head = log.head();
        let map = self.map_at_head(log)?.snapshot();
        let checkpoint = Checkpoint {
            origin: signer.name.clone(),
            size: head.seq,
            root: head.root,
            map_size: map.size(),
            map_root: map.root(),
        };
        let path = self.checkpoint_path(head.seq);
        if path.is_file() {
            let kept = read_small(&path)?;
            let same = Note::parse(&kept).is_ok_and(|note| note.text == checkpoint.body());
            if same {
                return Ok((kept, checkpoint, map));
            }
        }
        let note = checkpoint.sign(&signer).render();
        private_dir(&self.dir.join(CHECKPOINTS_DIR))?;
        write_private(&path, note.as_bytes(), false)?;
        Ok((note, checkpoint, map))
    }

    /// The evidence bundle `request` asks for, against the head's checkpoint (made first if
    /// the head moved), checked as an auditor would before it is given: its text (compact
    /// JSON and a newline, as `--evidence FILE` writes it) and what it holds.
    pub fn bundle(
        &self,
        log: &Log,
        source: &dyn Source,
        request: &BundleRequest,
    ) -> Result<BundleText, EvidenceError> {
        if request.subject.is_empty() {
            return Err(EvidenceError::Usage(
                "--evidence on balance needs an ACCOUNT: the balances of every account read the whole ledger".into(),
            ));
        }
        let size = log.head().seq;
        if source.checkpoint() != size {
            return Err(EvidenceError::Refused(format!(
                "the views hold seq {} but the log {size}; bring them up with arl replay, then ask again",
                source.checkpoint()
            )));
        }
        let (note, checkpoint, map) = self.current(log)?;
        let mut at = request.at;
        let history = request.command == arl_evidence::Command::History;
        let as_of = if history {
            at.as_of.take()
        } else {
            Some(at.as_of.unwrap_or_else(Timestamp::now))
        };
        let resolved = at.point(source)?;
        let question = Question {
            command: request.command,
            subject: request.subject.clone(),
            as_of: as_of.map(Timestamp::canonical),
            known_at: at.known_at.map(Timestamp::canonical),
            at_seq: resolved.at_seq,
            balance: request.balance.clone(),
        };
        let ledger = ProverLedger { log, source, size };
        let bundle = match arl_evidence::prove(&ledger, question, &note, &checkpoint, &map) {
            Ok(bundle) => bundle,
            Err(arl_evidence::ProveError::NotFound { subject }) => {
                return Err(EvidenceError::NotFound(format!(
                    "{subject:?} does not exist at that point: there is no answer to give evidence for"
                )))
            }
            Err(e) => return Err(EvidenceError::Prove(e)),
        };
        // Compact: most of a bundle is hashes, and indentation would add a fifth to its size.
        let text = serde_json::to_string(&bundle)
            .map_err(|e| EvidenceError::Integrity(format!("formatting the bundle: {e}")))?;
        let signer = self.signer()?.verifier();
        arl_evidence::check(&text, &signer, &[]).map_err(|e| {
            EvidenceError::Integrity(format!(
                "the bundle built does not check, so it was not written: {e}"
            ))
        })?;
        Ok(BundleText {
            text: text + "\n",
            envelopes: bundle.envelopes.len(),
            parts: bundle.parts.len(),
            checkpoint_size: checkpoint.size,
        })
    }
}

/// What a witness and `arl verify --checkpoint` check: the log extends the checkpoint
/// (its root at the checkpoint's size, a consistency proof to the head) and the stream map
/// recomputed from the log is the one it commits to.
pub fn holds_on(log: &Log, claimed: &Checkpoint) -> Result<(), EvidenceError> {
    let head = log.head();
    if claimed.size > head.seq {
        return Err(EvidenceError::Integrity(format!(
            "the checkpoint commits to {} envelopes but the log holds {}",
            claimed.size, head.seq
        )));
    }
    let proof = log.consistency_proof(claimed.size, head.seq)?;
    let old_root = log.root_at(claimed.size)?;
    let extends = arl_log::merkle::verify_consistency(
        claimed.size,
        head.seq,
        &claimed.root,
        &head.root,
        &proof,
    );
    if old_root != claimed.root || !extends {
        return Err(EvidenceError::Integrity(format!(
            "the log does not extend the checkpoint: its root at seq {} is {}, the checkpoint says {}",
            claimed.size,
            arl_log::hex(&old_root),
            arl_log::hex(&claimed.root)
        )));
    }
    let map = map_from_scratch(log, claimed.size)?.snapshot();
    if map.root() != claimed.map_root || map.size() != claimed.map_size {
        return Err(EvidenceError::Integrity(format!(
            "the stream map recomputed from the log at seq {} ({} parts, root {}) is not the one the checkpoint commits to",
            claimed.size,
            map.size(),
            arl_log::hex(&map.root())
        )));
    }
    Ok(())
}

/// A bundle's text and what it holds.
#[derive(Debug, Clone)]
pub struct BundleText {
    /// Compact JSON and a newline.
    pub text: String,
    pub envelopes: usize,
    pub parts: usize,
    /// The size of the checkpoint it is proven against.
    pub checkpoint_size: u64,
}

/// What `--evidence FILE` asks for.
#[derive(Debug, Clone)]
pub struct BundleRequest {
    pub command: arl_evidence::Command,
    /// The account (the person for `portfolio`); empty for `balance` without an account,
    /// which is refused.
    pub subject: String,
    pub at: At,
    pub balance: Option<arl_evidence::BalanceOptions>,
}

/// The log and the views, as a prover reads them at a checkpoint.
struct ProverLedger<'a> {
    log: &'a Log,
    source: &'a dyn Source,
    size: u64,
}

impl arl_evidence::Ledger for ProverLedger<'_> {
    fn part(&self, key: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let bad = || SourceError::new(format!("{key:?} is not a stream part"));
        let (stream, part) = key.rsplit_once('#').ok_or_else(bad)?;
        let candidates = match (stream.split_once('/').ok_or_else(bad)?, part) {
            (("account", id), "hier") => self.source.account_hierarchy(id)?,
            (("account", id), "rest") => self.source.account_events(id)?,
            (("account", id), "txns") => self.source.txn_events(id)?,
            (("account", id), "children") => self.source.child_refs(id)?,
            (("person", id), "life") => self.source.person_lifecycle(id)?,
            (("person", id), "lines") => self.source.person_org_events(id)?,
            (("person", id), "teams") => self.source.person_events(id)?,
            _ => return Err(bad()),
        };
        let keys = |r: &Recorded| arl_evidence::keys_of(&r.event);
        Ok(candidates
            .into_iter()
            .filter(|r| r.seq <= self.size && keys(r).iter().any(|k| k == key))
            .collect())
    }

    fn envelope(&self, seq: u64) -> Result<StoredEnvelope, SourceError> {
        let get = |seq: u64| {
            self.log
                .get(seq)
                .map_err(|e| SourceError::new(e.to_string()))?
                .ok_or_else(|| SourceError::new(format!("the log has no seq {seq}")))
        };
        let envelope = get(seq)?;
        let prev = if seq == 1 {
            [0; 32]
        } else {
            get(seq - 1)?.hash
        };
        let canonical = String::from_utf8(envelope.canonical_bytes())
            .map_err(|_| SourceError::new(format!("envelope {seq} is not UTF-8")))?;
        Ok(StoredEnvelope {
            canonical,
            prev,
            hash: envelope.hash,
        })
    }

    fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<[u8; 32]>, SourceError> {
        self.log
            .inclusion_proof(seq, size)
            .map_err(|e| SourceError::new(e.to_string()))
    }
}
