//! `arl replay`, `arl verify`, `arl digest`, `arl proof`, `arl upgrade`: the log's hash chain, Merkle tree,
//! digests and proofs (contract §5).

use crate::cli::{FormatOnly, ProofArgs, SummaryFormat, VerifyArgs};
use crate::failure;
use crate::ledger::Ctx;
use crate::out;
use anyhow::{Context, Result};
use arl_log::{hex, parse_hex, Head, Log};
pub use arl_query::integrity::{digest_json, Digest};
use arl_views::check::ViewsChecked;
use serde::Deserialize;
use serde_json::json;
use std::path::Path;

/// The largest digest file read, in bytes.
const DIGEST_BYTES_MAX: u64 = 64 * 1024;

#[derive(Deserialize)]
struct DigestFile {
    seq: u64,
    head: String,
    root: String,
    #[serde(default)]
    recorded_at: String,
}

pub fn read_digest(path: &Path) -> Result<Digest> {
    let meta = std::fs::metadata(path)
        .map_err(|e| failure::error(format!("cannot read digest {}: {e}", path.display())))?;
    if meta.len() > DIGEST_BYTES_MAX {
        return Err(failure::error(format!(
            "{} is not a digest (over 64 KiB)",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| failure::error(format!("cannot read digest {}: {e}", path.display())))?;
    let bad = |what: &str| {
        failure::error(format!(
            "{} is not a digest of arl digest: {what}",
            path.display()
        ))
    };
    let file: DigestFile = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    Ok(Digest {
        seq: file.seq,
        head: parse_hex(&file.head).ok_or_else(|| bad("head is not 64 hex digits"))?,
        root: parse_hex(&file.root).ok_or_else(|| bad("root is not 64 hex digits"))?,
        recorded_at: file.recorded_at,
    })
}

/// `arl digest`.
pub fn digest(ctx: &Ctx) -> Result<()> {
    let (_lock, log) = ctx.log()?;
    out::emit_line(&digest_json(&log.head()))
}

/// `arl replay`.
pub fn replay(ctx: &Ctx, args: &FormatOnly) -> Result<()> {
    ctx.require()?;
    let mut ledger = ctx.writer()?;
    let bar = out::progress(ctx.quiet, Some(ledger.log().head().seq), "replaying");
    let head = ledger.replay(&mut |seq| bar.set_position(seq));
    bar.finish_and_clear();
    let head = head?;
    match args.format {
        SummaryFormat::Json => out::emit_line(&digest_json(&head)),
        SummaryFormat::Text => out::emit_line(&format!(
            "replayed {} events into fresh views; head seq {} {}",
            head.seq,
            head.seq,
            hex(&head.hash)
        )),
    }
}

/// `arl upgrade`: converts the log of a directory ledger from an older layout in place
/// (layouts 3 and 4: the frames stay as they are, the headers, dictionary and head file are
/// written; layout 2: the index is rebuilt from the frames, copied compressed, every frame
/// and the head checked on the way).
pub fn upgrade(ctx: &Ctx, args: &FormatOnly) -> Result<()> {
    if !matches!(ctx.source, arl_views::LogSource::Dir) {
        return Err(failure::usage(
            "arl upgrade converts a directory ledger's log; a PostgreSQL store needs none",
        ));
    }
    ctx.require()?;
    let _lock = arl_log::LedgerLock::exclusive(&ctx.dir, ctx.lock_timeout)?;
    let log_dir = ctx.dir.join(arl_views::LOG_DIR);
    let bar = out::progress(ctx.quiet, None, "upgrading");
    let upgraded = arl_log::upgrade(&log_dir, &mut |seq| bar.set_position(seq));
    bar.finish_and_clear();
    let upgraded =
        upgraded.with_context(|| format!("upgrading the log of {}", ctx.dir.display()))?;
    let (converted, seq) = match upgraded {
        arl_log::Upgraded::Converted(head) => (true, Some(head)),
        arl_log::Upgraded::AlreadyCurrent => (false, None),
    };
    match args.format {
        SummaryFormat::Json => out::emit_line(
            &json!({
                "converted": converted,
                "layout": arl_log::LOG_LAYOUT,
                "seq": seq.map(|h| h.seq),
                "head": seq.map(|h| hex(&h.hash)),
            })
            .to_string(),
        ),
        SummaryFormat::Text => out::emit_line(&match seq {
            Some(head) => format!(
                "converted the log to layout {}; head seq {} {}",
                arl_log::LOG_LAYOUT,
                head.seq,
                hex(&head.hash)
            ),
            None => format!(
                "the log already has layout {}; nothing to do",
                arl_log::LOG_LAYOUT
            ),
        }),
    }
}

/// `arl verify [--digest FILE]`.
pub fn verify(ctx: &Ctx, args: &VerifyArgs) -> Result<()> {
    if args.views_only {
        return verify_views_only(ctx, args);
    }
    let digest = args.digest.as_deref().map(read_digest).transpose()?;
    let (_lock, log) = ctx.log()?;
    let total = log.head().seq;
    let bar = out::progress(ctx.quiet, Some(total), "verifying");
    let checked = log.verify(&mut |seq| bar.set_position(seq));
    bar.finish_and_clear();
    let head = checked?;
    let views = verify_views(ctx, &log, ctx.quiet)?;
    let views_checked = views.map_or(0, |v| v.checkpoint);
    if let Some(digest) = &digest {
        verify_digest(&log, &head, digest)?;
    }
    match args.format {
        SummaryFormat::Json => {
            let value = arl_query::integrity::verified_json(
                &head,
                views_checked,
                views.is_some_and(|v| v.behind_log),
                digest.as_ref().map(|d| d.seq),
            );
            out::emit_line(&value.to_string())
        }
        SummaryFormat::Text => {
            let mut text = format!(
                "ok: {} envelopes verify (hash chain, Merkle tree, views through seq {views_checked})\nhead seq {} {}\nroot {}",
                head.seq,
                head.seq,
                hex(&head.hash),
                hex(&head.root)
            );
            if let Some(d) = &digest {
                text.push_str(&format!(
                    "\nextends the digest at seq {} (consistency proof checked)",
                    d.seq
                ));
            }
            if views.is_some_and(|v| v.behind_log) {
                text.push_str(&behind_note(views_checked, head.seq));
            }
            out::emit_line(&text)
        }
    }
}

/// Checks every checksum of the views and every byte of them against a rebuild from the
/// log up to the views' checkpoint (views behind the log catch up at the next query or
/// append). `None`: no views yet.
fn verify_views(ctx: &Ctx, log: &Log, quiet: bool) -> Result<Option<ViewsChecked>> {
    let bar = out::progress(quiet, Some(log.head().seq), "views");
    let checked =
        arl_views::check::check_against_log(&ctx.dir, log, &mut |seq| bar.set_position(seq));
    bar.finish_and_clear();
    checked.map_err(views_broken)
}

/// `arl verify --views-only`: the views' checksums, without the log.
fn verify_views_only(ctx: &Ctx, args: &VerifyArgs) -> Result<()> {
    ctx.require()?;
    let lock = arl_log::LedgerLock::shared(&ctx.dir, ctx.lock_timeout)?;
    let checked = arl_views::check::check_checksums(&ctx.dir, &ctx.source).map_err(views_broken)?;
    drop(lock);
    let checkpoint = checked.map_or(0, |v| v.checkpoint);
    let behind = checked.is_some_and(|v| v.behind_log);
    match args.format {
        SummaryFormat::Json => out::emit_line(
            &json!({"ok": true, "views_checked": checkpoint, "views_behind_log": behind})
                .to_string(),
        ),
        SummaryFormat::Text => {
            let mut text = format!(
                "ok: every checksum of the views verifies, through seq {checkpoint} (the log was not read; arl verify compares the views with it)"
            );
            if behind {
                text.push_str(
                    "\nthe views are behind the log; the next query or append catches them up",
                );
            }
            out::emit_line(&text)
        }
    }
}

fn behind_note(views: u64, log: u64) -> String {
    format!("\nthe views reach seq {views}, the log seq {log}: the next query or append catches them up")
}

/// Damage to the views is an integrity failure (exit 3); anything else (a busy lock, an
/// unreadable file) keeps its own exit code.
fn views_broken(error: arl_views::ViewError) -> anyhow::Error {
    let damage = error.is_damage() || matches!(error, arl_views::ViewError::AheadOfLog { .. });
    if !damage {
        return error.into();
    }
    let mut message = format!("integrity failure in the views: {error}");
    if !message.contains("arl replay") {
        message.push_str(" (the views are derived from the log: arl replay rebuilds them)");
    }
    failure::integrity(message)
}

fn verify_digest(log: &Log, head: &Head, digest: &Digest) -> Result<()> {
    arl_query::integrity::check_extends(log, head, digest)?.map_err(failure::integrity)
}

/// `arl proof SEQ [--digest FILE]`.
pub fn proof(ctx: &Ctx, args: &ProofArgs) -> Result<()> {
    let digest = args.digest.as_deref().map(read_digest).transpose()?;
    let (_lock, log) = ctx.log()?;
    let value =
        arl_query::integrity::proof(&log, args.seq, digest.as_ref()).map_err(failure::query)?;
    out::emit_json(&value)
}
