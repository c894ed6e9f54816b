//! Signed checkpoints and evidence bundles: `arl key init`, `arl checkpoint`, `arl
//! checkpoint cosign`, `arl verify --checkpoint`, `--evidence FILE` on the account, team,
//! contacts, portfolio, balance and history queries, and `arl evidence check`.
//!
//! What the ledger keeps, in `<ledger>/evidence/` (owner only): `signing.key` (the
//! checkpoint key), `streams.map` (the stream map at the last checkpoint, so the next one
//! reads only the envelopes after it) and `checkpoints/<size>.note` (every checkpoint made).

use crate::cli::{Command, PeriodArg, VerifyArgs};
use crate::failure;
use crate::ledger::Ctx;
use crate::out;
use anyhow::{Context, Result};
use arl_domain::{Event, Recorded, Timestamp};
use arl_evidence::note::{Note, SignerKey, VerifierKey};
use arl_evidence::{Checkpoint, MapSnapshot, Question, StoredEnvelope, StreamMap};
use arl_fold::{Source, SourceError};
use arl_log::Log;
use arl_views::ViewReader;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The ledger's evidence directory.
const EVIDENCE_DIR: &str = "evidence";
/// The checkpoint signing key, in the evidence directory.
const SIGNING_KEY_FILE: &str = "signing.key";
/// The stream map at the last checkpoint.
const MAP_FILE: &str = "streams.map";
/// The checkpoints made.
const CHECKPOINTS_DIR: &str = "checkpoints";
/// The key name (and checkpoint origin) when `--name` gives none.
const KEY_NAME_DEFAULT: &str = "arl.ledger";
/// The first bytes of the stream map file.
const MAP_MAGIC: &[u8; 8] = b"ARLMAP1\n";
/// At most this many bytes read from a key or note file.
const KEY_FILE_BYTES_MAX: u64 = 64 * 1024;

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub action: KeyAction,
}

#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Make an Ed25519 signing key (owner-only file) and print its public key line.
    Init {
        /// The key's name, which is also the checkpoints' origin line.
        #[arg(long, default_value = KEY_NAME_DEFAULT)]
        name: String,
        /// Write the key here instead of the ledger's (a witness's key).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    #[command(subcommand)]
    pub action: Option<CheckpointAction>,
}

#[derive(Debug, Subcommand)]
pub enum CheckpointAction {
    /// As a witness: check a checkpoint against this ledger's log and add your signature.
    Cosign {
        /// The checkpoint note.
        note: PathBuf,
        /// The witness's signing key file (from arl key init --out FILE).
        #[arg(long, value_name = "FILE")]
        witness_key: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    pub action: EvidenceAction,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceAction {
    /// Check a bundle without the ledger: signature, proofs, completeness, the answer.
    Check {
        /// The bundle (from --evidence FILE).
        bundle: PathBuf,
        /// The ledger's public key: the line arl key init printed, or a file holding it.
        #[arg(long, value_name = "PUBKEY")]
        key: String,
        /// A witness whose cosignature is required (repeatable).
        #[arg(long, value_name = "PUBKEY")]
        witness: Vec<String>,
    },
}

fn evidence_dir(ctx: &Ctx) -> PathBuf {
    ctx.dir.join(EVIDENCE_DIR)
}

fn private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes `bytes` to `path` through a temporary file and a rename, owner-only.
fn write_private(path: &Path, bytes: &[u8], create_new: bool) -> Result<()> {
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
        .with_context(|| format!("writing {}", target.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", target.display()))?;
    if !create_new {
        std::fs::rename(&target, path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn read_small(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, KEY_FILE_BYTES_MAX),
        &mut text,
    )
    .with_context(|| format!("reading {}", path.display()))?;
    Ok(text)
}

/// A verifier key given as its line or as a file holding it.
fn verifier(text: &str) -> Result<VerifierKey> {
    if let Ok(key) = VerifierKey::parse(text) {
        return Ok(key);
    }
    let path = Path::new(text);
    if !path.is_file() {
        return Err(failure::usage(format!(
            "--key {text:?} is neither a public key line (<name>+<id>+<base64>) nor a file"
        )));
    }
    VerifierKey::parse(&read_small(path)?)
        .map_err(|e| failure::usage(format!("{}: {e}", path.display())))
}

/// `arl key init`.
pub fn key(ctx: &Ctx, args: &KeyArgs) -> Result<()> {
    let KeyAction::Init { name, out } = &args.action;
    let path = if let Some(path) = out {
        path.clone()
    } else {
        ctx.require()?;
        private_dir(&evidence_dir(ctx))?;
        evidence_dir(ctx).join(SIGNING_KEY_FILE)
    };
    if path.exists() {
        return Err(failure::error(format!(
            "{} already holds a key; a ledger keeps its key (remove the file yourself to replace it)",
            path.display()
        )));
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| failure::error(format!("reading the system's random source: {e}")))?;
    let signer = SignerKey::from_seed(name, seed).map_err(|e| failure::usage(e.to_string()))?;
    write_private(&path, format!("{}\n", signer.line()).as_bytes(), true)?;
    out::emit_line(&signer.verifier().line())?;
    out::note(
        ctx.quiet,
        &format!(
            "wrote the signing key to {} (owner only); give auditors the line above",
            path.display()
        ),
    );
    Ok(())
}

fn signer(ctx: &Ctx) -> Result<SignerKey> {
    let path = evidence_dir(ctx).join(SIGNING_KEY_FILE);
    if !path.is_file() {
        return Err(failure::error(format!(
            "the ledger has no signing key; make one with arl key init (it goes to {})",
            path.display()
        )));
    }
    SignerKey::parse(&read_small(&path)?)
        .map_err(|e| failure::error(format!("{}: {e}", path.display())))
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
fn extend_map(log: &Log, map: &mut StreamMap, size: u64) -> Result<()> {
    for envelope in log.range(map.size + 1, size) {
        let envelope = envelope?;
        let event = Event::parse(&envelope.kind, envelope.data.get()).map_err(|e| {
            failure::integrity(format!("envelope seq {} does not parse: {e}", envelope.seq))
        })?;
        map.push(envelope.seq, &envelope.hash, &event);
    }
    Ok(())
}

/// The stream map at `size`, recomputed from the log alone.
fn map_from_scratch(log: &Log, size: u64) -> Result<StreamMap> {
    let mut map = StreamMap::default();
    extend_map(log, &mut map, size)?;
    Ok(map)
}

/// The stream map at the head: the saved one extended, saved again.
fn map_at_head(ctx: &Ctx, log: &Log) -> Result<StreamMap> {
    let path = evidence_dir(ctx).join(MAP_FILE);
    let head = log.head().seq;
    let saved = match std::fs::read(&path) {
        Ok(bytes) => decode_map(&bytes).filter(|map| map.size <= head),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut map = saved.unwrap_or_default();
    if map.size < head || !path.exists() {
        extend_map(log, &mut map, head)?;
        write_private(&path, &encode_map(&map), false)?;
    }
    Ok(map)
}

fn checkpoint_path(ctx: &Ctx, size: u64) -> PathBuf {
    evidence_dir(ctx)
        .join(CHECKPOINTS_DIR)
        .join(format!("{size:020}.note"))
}

/// The signed checkpoint of the head, made and kept now if there is none yet.
fn current(ctx: &Ctx, log: &Log) -> Result<(String, Checkpoint, MapSnapshot)> {
    let signer = signer(ctx)?;
    let head = log.head();
    let map = map_at_head(ctx, log)?.snapshot();
    let checkpoint = Checkpoint {
        origin: signer.name.clone(),
        size: head.seq,
        root: head.root,
        map_size: map.size(),
        map_root: map.root(),
    };
    let path = checkpoint_path(ctx, head.seq);
    if path.is_file() {
        let kept = read_small(&path)?;
        let same = Note::parse(&kept).is_ok_and(|note| note.text == checkpoint.body());
        if same {
            return Ok((kept, checkpoint, map));
        }
    }
    let note = checkpoint.sign(&signer).render();
    private_dir(&evidence_dir(ctx).join(CHECKPOINTS_DIR))?;
    write_private(&path, note.as_bytes(), false)?;
    Ok((note, checkpoint, map))
}

/// `arl checkpoint` and `arl checkpoint cosign`.
pub fn checkpoint(ctx: &Ctx, args: &CheckpointArgs) -> Result<()> {
    let (_lock, log) = ctx.log()?;
    match &args.action {
        None => {
            let (note, _, _) = current(ctx, &log)?;
            out::emit(&note)
        }
        Some(CheckpointAction::Cosign { note, witness_key }) => {
            let witness = SignerKey::parse(&read_small(witness_key)?)
                .map_err(|e| failure::error(format!("{}: {e}", witness_key.display())))?;
            let mut parsed = Note::parse(&read_small(note)?)
                .map_err(|e| failure::integrity(format!("{}: {e}", note.display())))?;
            let claimed = Checkpoint::parse_body(&parsed.text)
                .map_err(|e| failure::integrity(format!("{}: {e}", note.display())))?;
            holds_on(&log, &claimed)?;
            parsed.sign(&witness);
            let text = parsed.render();
            if claimed.size <= log.head().seq && checkpoint_path(ctx, claimed.size).is_file() {
                write_private(&checkpoint_path(ctx, claimed.size), text.as_bytes(), false)?;
            }
            out::emit(&text)
        }
    }
}

/// What a witness and `arl verify --checkpoint` check: the log extends the checkpoint
/// (its root at the checkpoint's size, a consistency proof to the head) and the stream map
/// recomputed from the log is the one it commits to.
fn holds_on(log: &Log, claimed: &Checkpoint) -> Result<()> {
    let head = log.head();
    if claimed.size > head.seq {
        return Err(failure::integrity(format!(
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
        return Err(failure::integrity(format!(
            "the log does not extend the checkpoint: its root at seq {} is {}, the checkpoint says {}",
            claimed.size,
            arl_log::hex(&old_root),
            arl_log::hex(&claimed.root)
        )));
    }
    let map = map_from_scratch(log, claimed.size)?.snapshot();
    if map.root() != claimed.map_root || map.size() != claimed.map_size {
        return Err(failure::integrity(format!(
            "the stream map recomputed from the log at seq {} ({} parts, root {}) is not the one the checkpoint commits to",
            claimed.size,
            map.size(),
            arl_log::hex(&map.root())
        )));
    }
    Ok(())
}

/// `arl verify --checkpoint FILE --key PUBKEY [--witness PUBKEY]`, after the log verified.
pub fn verify_checkpoint(ctx: &Ctx, args: &VerifyArgs) -> Result<()> {
    let Some(file) = &args.checkpoint else {
        return Ok(());
    };
    let Some(key) = &args.key else {
        return Err(failure::usage("--checkpoint needs --key PUBKEY"));
    };
    let key = verifier(key)?;
    let witnesses = args
        .witness
        .iter()
        .map(|w| verifier(w))
        .collect::<Result<Vec<_>>>()?;
    let claimed = Checkpoint::open(&read_small(file)?, &key, &witnesses)
        .map_err(|e| failure::integrity(format!("{}: {e}", file.display())))?;
    let (_lock, log) = ctx.log()?;
    holds_on(&log, &claimed)?;
    out::emit_line(&format!(
        "ok: the log (seq {}) extends the checkpoint at seq {} signed by {}{} (consistency proof and stream map checked)",
        log.head().seq,
        claimed.size,
        key.label(),
        if witnesses.is_empty() { String::new() } else { format!(" and {} witness(es)", witnesses.len()) }
    ))
}

/// The log and the views, as a prover reads them at a checkpoint.
struct CliLedger<'a> {
    log: &'a Log,
    reader: &'a ViewReader,
    size: u64,
}

impl arl_evidence::Ledger for CliLedger<'_> {
    fn part(&self, key: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let bad = || SourceError::new(format!("{key:?} is not a stream part"));
        let (stream, part) = key.rsplit_once('#').ok_or_else(bad)?;
        let candidates = match (stream.split_once('/').ok_or_else(bad)?, part) {
            (("account", id), "hier") => self.reader.account_hierarchy(id)?,
            (("account", id), "rest") => self.reader.account_events(id)?,
            (("account", id), "txns") => self.reader.txn_events(id)?,
            (("account", id), "children") => self.reader.child_refs(id)?,
            (("person", id), "life") => self.reader.person_lifecycle(id)?,
            (("person", id), "lines") => self.reader.person_org_events(id)?,
            (("person", id), "teams") => self.reader.person_events(id)?,
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

/// What `--evidence FILE` asks for, read from a query command.
pub struct Request {
    command: arl_evidence::Command,
    subject: String,
    at: crate::cli::At,
    balance: Option<arl_evidence::BalanceOptions>,
    path: PathBuf,
}

/// The evidence request of a command line, if it has `--evidence FILE`.
pub fn request(command: &Command) -> Option<Request> {
    use arl_evidence::Command as Ask;
    let (ask, subject, at, path, balance) = match command {
        Command::Account(a) => (Ask::Account, &a.account, &a.at, a.evidence.as_ref()?, None),
        Command::Team(t) => {
            let a = &t.account;
            (Ask::Team, &a.account, &a.at, a.evidence.as_ref()?, None)
        }
        Command::Contacts(a) => (Ask::Contacts, &a.account, &a.at, a.evidence.as_ref()?, None),
        Command::Portfolio(a) => (Ask::Portfolio, &a.person, &a.at, a.evidence.as_ref()?, None),
        Command::History(a) => (Ask::History, &a.account, &a.at, a.evidence.as_ref()?, None),
        Command::Balance(a) => {
            let options = arl_evidence::BalanceOptions {
                period: match a.period {
                    PeriodArg::Month => "month",
                    PeriodArg::Quarter => "quarter",
                    PeriodArg::Year => "year",
                    PeriodArg::All => "all",
                }
                .to_string(),
                from: a.from.map(Timestamp::canonical),
                to: a.to.map(Timestamp::canonical),
                rollup: a.rollup,
            };
            // Without an account the answer reads every account; write_bundle refuses it.
            let account = a.account.as_ref().unwrap_or(&NO_ACCOUNT);
            (
                Ask::Balance,
                account,
                &a.at,
                a.evidence.as_ref()?,
                Some(options),
            )
        }
        _ => return None,
    };
    Some(Request {
        command: ask,
        subject: subject.clone(),
        at: at.clone(),
        balance,
        path: path.clone(),
    })
}

/// The subject of `balance --evidence` without an account: refused.
static NO_ACCOUNT: String = String::new();

/// Writes the bundle a request asks for, against the head's checkpoint (made first if the
/// head moved), after checking it as an auditor would.
pub fn write_bundle(ctx: &Ctx, request: &Request) -> Result<()> {
    if request.subject.is_empty() {
        return Err(failure::usage(
            "--evidence on balance needs an ACCOUNT: the balances of every account read the whole ledger",
        ));
    }
    let (_lock, log) = ctx.log()?;
    let reader = ViewReader::open(&ctx.views_dir())?;
    let size = log.head().seq;
    if reader.checkpoint() != size {
        return Err(failure::error(format!(
            "the views hold seq {} but the log {size}; bring them up with arl replay, then ask again",
            reader.checkpoint()
        )));
    }
    let (note, checkpoint, map) = current(ctx, &log)?;
    let mut at = request.at.clone();
    let history = request.command == arl_evidence::Command::History;
    let as_of = if history {
        at.as_of.take()
    } else {
        Some(at.as_of.unwrap_or_else(Timestamp::now))
    };
    let resolved = at.query().point(&reader)?;
    let question = Question {
        command: request.command,
        subject: request.subject.clone(),
        as_of: as_of.map(Timestamp::canonical),
        known_at: at.known_at.map(Timestamp::canonical),
        at_seq: resolved.at_seq,
        balance: request.balance.clone(),
    };
    let ledger = CliLedger {
        log: &log,
        reader: &reader,
        size,
    };
    let bundle = match arl_evidence::prove(&ledger, question, &note, &checkpoint, &map) {
        Ok(bundle) => bundle,
        Err(arl_evidence::ProveError::NotFound { subject }) => {
            return Err(failure::error(format!(
                "{subject:?} does not exist at that point: there is no answer to give evidence for"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    // Compact: most of a bundle is hashes, and indentation would add a fifth to its size.
    let text = serde_json::to_string(&bundle).context("formatting the bundle")?;
    let signer = signer(ctx)?.verifier();
    arl_evidence::check(&text, &signer, &[]).map_err(|e| {
        failure::integrity(format!(
            "the bundle built does not check, so it was not written: {e}"
        ))
    })?;
    std::fs::write(&request.path, text + "\n")
        .with_context(|| format!("writing {}", request.path.display()))?;
    out::note(
        ctx.quiet,
        &format!(
            "evidence: {} ({} envelopes, {} stream parts, checkpoint at seq {})",
            request.path.display(),
            bundle.envelopes.len(),
            bundle.parts.len(),
            checkpoint.size
        ),
    );
    Ok(())
}

/// `arl evidence check BUNDLE --key PUBKEY [--witness PUBKEY]...`.
pub fn evidence(_ctx: &Ctx, args: &EvidenceArgs) -> Result<()> {
    let EvidenceAction::Check {
        bundle,
        key,
        witness,
    } = &args.action;
    let key = verifier(key)?;
    let witnesses = witness
        .iter()
        .map(|w| verifier(w))
        .collect::<Result<Vec<_>>>()?;
    let file =
        std::fs::File::open(bundle).with_context(|| format!("reading {}", bundle.display()))?;
    let limit = arl_evidence::bundle::BUNDLE_BYTES_MAX as u64 + 1;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, limit), &mut text)
        .with_context(|| format!("reading {}", bundle.display()))?;
    let checked = arl_evidence::check(&text, &key, &witnesses)
        .map_err(|e| failure::integrity(format!("{}: {e}", bundle.display())))?;
    out::emit_line(&checked.answer)?;
    out::emit(&format!(
        "\nok: the answer follows from the bundle's envelopes, complete for every stream part it reads, in the log of this checkpoint:\n{}",
        checked.note
    ))
}
