//! Signed checkpoints and evidence bundles: `arl key init`, `arl checkpoint`, `arl
//! checkpoint cosign`, `arl verify --checkpoint`, `--evidence FILE` on the account, team,
//! contacts, portfolio, balance and history queries, and `arl evidence check`.
//!
//! The evidence store itself (the signing key, the stream map, the checkpoints) and the
//! building of bundles are `arl_query::evidence`, which the server shares.

use crate::cli::{Command, PeriodArg, VerifyArgs};
use crate::failure;
use crate::ledger::Ctx;
use crate::out;
use anyhow::{Context, Result};
use arl_domain::Timestamp;
use arl_evidence::note::{Note, SignerKey, VerifierKey};
use arl_evidence::Checkpoint;
use arl_query::evidence::{
    holds_on, private_dir, read_small, write_private, BundleRequest, EvidenceError, EvidenceHome,
};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// The key name (and checkpoint origin) when `--name` gives none.
const KEY_NAME_DEFAULT: &str = "arl.ledger";

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

fn home(ctx: &Ctx) -> EvidenceHome {
    EvidenceHome::new(&ctx.dir)
}

/// An error of the evidence store as the command line's: its exit code by its kind.
pub fn failed(e: EvidenceError) -> anyhow::Error {
    match e {
        EvidenceError::Usage(m) => failure::usage(m),
        EvidenceError::Refused(m) | EvidenceError::NotFound(m) => failure::error(m),
        EvidenceError::Integrity(m) => failure::integrity(m),
        EvidenceError::Log(e) => e.into(),
        EvidenceError::Source(e) => e.into(),
        EvidenceError::Prove(e) => e.into(),
        EvidenceError::Io { what, source } => anyhow::Error::new(source).context(what),
        other => failure::error(other.to_string()),
    }
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
    VerifierKey::parse(&read_small(path).map_err(failed)?)
        .map_err(|e| failure::usage(format!("{}: {e}", path.display())))
}

/// `arl key init`.
pub fn key(ctx: &Ctx, args: &KeyArgs) -> Result<()> {
    let KeyAction::Init { name, out } = &args.action;
    let path = if let Some(path) = out {
        path.clone()
    } else {
        ctx.require()?;
        private_dir(home(ctx).dir()).map_err(failed)?;
        home(ctx).key_path()
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
    write_private(&path, format!("{}\n", signer.line()).as_bytes(), true).map_err(failed)?;
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

/// `arl checkpoint` and `arl checkpoint cosign`.
pub fn checkpoint(ctx: &Ctx, args: &CheckpointArgs) -> Result<()> {
    let (_lock, log) = ctx.log()?;
    match &args.action {
        None => {
            let (note, _, _) = home(ctx).current(&log).map_err(failed)?;
            out::emit(&note)
        }
        Some(CheckpointAction::Cosign { note, witness_key }) => {
            let witness = SignerKey::parse(&read_small(witness_key).map_err(failed)?)
                .map_err(|e| failure::error(format!("{}: {e}", witness_key.display())))?;
            let mut parsed = Note::parse(&read_small(note).map_err(failed)?)
                .map_err(|e| failure::integrity(format!("{}: {e}", note.display())))?;
            let claimed = Checkpoint::parse_body(&parsed.text)
                .map_err(|e| failure::integrity(format!("{}: {e}", note.display())))?;
            holds_on(&log, &claimed).map_err(failed)?;
            parsed.sign(&witness);
            let text = parsed.render();
            let kept = home(ctx).checkpoint_path(claimed.size);
            if claimed.size <= log.head().seq && kept.is_file() {
                write_private(&kept, text.as_bytes(), false).map_err(failed)?;
            }
            out::emit(&text)
        }
    }
}

/// A checkpoint note opened with its key and the witnesses' (`arl verify --checkpoint FILE
/// --key PUBKEY [--witness PUBKEY]...`): its signatures hold.
pub struct OpenedCheckpoint {
    /// The note's text.
    pub note: String,
    claimed: Checkpoint,
    key: VerifierKey,
    witnesses: usize,
}

impl OpenedCheckpoint {
    /// The line `arl verify --checkpoint` prints once the log (at `log_seq`) extends it.
    pub fn line(&self, log_seq: u64) -> String {
        format!(
            "ok: the log (seq {}) extends the checkpoint at seq {} signed by {}{} (consistency proof and stream map checked)",
            log_seq,
            self.claimed.size,
            self.key.label(),
            if self.witnesses == 0 { String::new() } else { format!(" and {} witness(es)", self.witnesses) }
        )
    }
}

/// Reads `file` and opens it with `key` and the witnesses' keys.
pub fn open_checkpoint(
    file: &Path,
    key: Option<&str>,
    witnesses: &[String],
) -> Result<OpenedCheckpoint> {
    let Some(key) = key else {
        return Err(failure::usage("--checkpoint needs --key PUBKEY"));
    };
    let key = verifier(key)?;
    let witness_keys = witnesses
        .iter()
        .map(|w| verifier(w))
        .collect::<Result<Vec<_>>>()?;
    let note = read_small(file).map_err(failed)?;
    let claimed = Checkpoint::open(&note, &key, &witness_keys)
        .map_err(|e| failure::integrity(format!("{}: {e}", file.display())))?;
    Ok(OpenedCheckpoint {
        note,
        claimed,
        key,
        witnesses: witness_keys.len(),
    })
}

/// `arl verify --checkpoint FILE --key PUBKEY [--witness PUBKEY]`, after the log verified.
pub fn verify_checkpoint(ctx: &Ctx, args: &VerifyArgs) -> Result<()> {
    let Some(file) = &args.checkpoint else {
        return Ok(());
    };
    let opened = open_checkpoint(file, args.key.as_deref(), &args.witness)?;
    let (_lock, log) = ctx.log()?;
    holds_on(&log, &opened.claimed).map_err(failed)?;
    out::emit_line(&opened.line(log.head().seq))
}

/// What `--evidence FILE` asks for, read from a query command.
pub struct Request {
    /// The question of the bundle.
    pub bundle: BundleRequest,
    /// Where to write it.
    pub path: PathBuf,
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
        bundle: BundleRequest {
            command: ask,
            subject: subject.clone(),
            at: at.query(),
            balance,
        },
        path: path.clone(),
    })
}

/// The subject of `balance --evidence` without an account: refused.
static NO_ACCOUNT: String = String::new();

/// Writes the bundle a request asks for, against the head's checkpoint (made first if the
/// head moved), after checking it as an auditor would.
pub fn write_bundle(ctx: &Ctx, request: &Request) -> Result<()> {
    if request.bundle.subject.is_empty() {
        return Err(failed(EvidenceError::Usage(
            "--evidence on balance needs an ACCOUNT: the balances of every account read the whole ledger".into(),
        )));
    }
    let (_lock, log) = ctx.log()?;
    let reader = arl_views::ViewReader::open(&ctx.views_dir())?;
    let bundle = home(ctx)
        .bundle(&log, &reader, &request.bundle)
        .map_err(failed)?;
    save_bundle(ctx.quiet, &request.path, &bundle)
}

/// Writes a bundle to `path` and notes what it holds.
pub fn save_bundle(
    quiet: bool,
    path: &Path,
    bundle: &arl_query::evidence::BundleText,
) -> Result<()> {
    std::fs::write(path, &bundle.text).with_context(|| format!("writing {}", path.display()))?;
    out::note(
        quiet,
        &format!(
            "evidence: {} ({} envelopes, {} stream parts, checkpoint at seq {})",
            path.display(),
            bundle.envelopes,
            bundle.parts,
            bundle.checkpoint_size
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
