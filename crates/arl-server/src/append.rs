//! The body of `POST /v1/events` to a batch (as `arl append` reads its input), the JSON of
//! its answer, and `POST /v1/verify`'s job.

use crate::error::ApiError;
use crate::writer::AppendAnswer;
use arl_domain::InputEvent;
use arl_domain::Timestamp;
use arl_log::hex;
use arl_privacy::Subject;
use arl_query::privacy::Erasure;
use arl_views::{AppendOptions, Ledger};
use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{json, Value};

/// Parses JSON Lines (blank lines ignored) into events, each with its 1-based line; every
/// event's actor becomes `actor` (the token's name), whatever the line says.
pub fn parse(
    bytes: &[u8],
    imported: bool,
    lines_max: usize,
    actor: &str,
) -> Result<(Vec<InputEvent>, Vec<u64>), ApiError> {
    let mut texts = Vec::new();
    let mut lines = Vec::new();
    for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = n as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|_| {
            let mut e =
                ApiError::bad_request("not_utf8", format!("line {line_no}: not UTF-8 text"));
            e.line = Some(line_no);
            e.with_fix("send UTF-8 JSON Lines")
        })?;
        if line.trim().is_empty() {
            continue;
        }
        if texts.len() == lines_max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_lines",
                format!("the batch has over {lines_max} events, the most one request takes (--batch-lines-max)"),
            )
            .with_fix("split the events into several requests"));
        }
        texts.push(line);
        lines.push(line_no);
    }
    let mut events = arl_domain::parse_lines(&texts, imported).map_err(|(i, e)| {
        let line = lines[i];
        let message = e.to_string();
        let fix = match message.split_once("; ") {
            Some((_, fix)) => fix.to_string(),
            None => {
                "correct the line; nothing was appended: the whole request is one batch".to_string()
            }
        };
        let mut error = ApiError::bad_request("malformed", format!("line {line}: {message}"));
        error.line = Some(line);
        error.with_fix(fix)
    })?;
    for event in &mut events {
        event.actor = Some(actor.to_string());
    }
    Ok((events, lines))
}

/// The answer of an append: the fields of `arl append --format json`, and each event's
/// seq.
pub fn answer_json(answer: &AppendAnswer) -> Value {
    let events: Vec<Value> = answer
        .outcomes
        .iter()
        .map(|o| match o {
            arl_log::Outcome::Appended { seq } => json!({"seq": seq, "duplicate": false}),
            arl_log::Outcome::Duplicate { seq } => json!({"seq": seq, "duplicate": true}),
        })
        .collect();
    json!({
        "appended": answer.appended,
        "duplicates": answer.duplicates,
        "seq": answer.head.seq,
        "head": hex(&answer.head.hash),
        "events": events,
    })
}

/// Seqs between two progress lines of a verify.
const VERIFY_PROGRESS_SEQS: u64 = 65_536;

/// What `POST /v1/verify` checks besides the log and the views.
#[derive(Default)]
pub struct VerifyOptions {
    /// `views_only=true`: the views' checksums only, without the log (`--views-only`).
    pub views_only: bool,
    /// `digest_seq`, `digest_head`, `digest_root`: the log must extend this digest.
    pub digest: Option<arl_query::integrity::Digest>,
    /// The body: a checkpoint note the log must extend (its signatures are the client's to
    /// check, with the keys it trusts).
    pub checkpoint: Option<crate::routes::ClaimedCheckpoint>,
    /// Where the log is, for `views_only`.
    pub source: Option<arl_views::LogSource>,
}

/// `POST /v1/verify` on the writer thread: JSON Lines of progress, then the line
/// `arl verify --format json` prints (or an integrity error), then, when a checkpoint was
/// sent, a line `{"checkpoint": {...}}` saying whether the log extends it.
pub fn verify(ledger: &Ledger, out: &tokio::sync::mpsc::Sender<Bytes>, options: &VerifyOptions) {
    let line = |value: Value| Bytes::from(format!("{value}\n"));
    let last = std::cell::Cell::new(0u64);
    // One slot of the buffer stays free for each result line, so the writer never waits on
    // a client that does not read.
    let progress = |phase: &str, seq: u64| {
        if seq >= last.get() + VERIFY_PROGRESS_SEQS && out.capacity() > 2 {
            last.set(seq);
            let _ = out.try_send(line(json!({"progress": {"phase": phase, "seq": seq}})));
        }
    };
    let log = ledger.log();
    let value = if options.views_only {
        let source = options.source.clone().unwrap_or(arl_views::LogSource::Dir);
        match arl_views::check::check_checksums(ledger.dir(), &source) {
            Ok(views) => json!({
                "ok": true,
                "views_checked": views.map_or(0, |v| v.checkpoint),
                "views_behind_log": views.is_some_and(|v| v.behind_log),
            }),
            Err(e) => json!({"ok": false, "rule": "integrity", "error": views_broken(&e)}),
        }
    } else {
        let result = log
            .verify(&mut |seq| progress("log", seq))
            .map_err(|e| ("integrity", e.to_string()))
            .and_then(|head| {
                last.set(0);
                arl_views::check::check_against_log(ledger.dir(), log, &mut |seq| {
                    progress("views", seq);
                })
                .map(|views| (head, views))
                .map_err(|e| ("integrity", views_broken(&e)))
            })
            .and_then(|(head, views)| match &options.digest {
                None => Ok((head, views)),
                Some(digest) => match arl_query::integrity::check_extends(log, &head, digest) {
                    Ok(Ok(())) => Ok((head, views)),
                    Ok(Err(why)) => Err(("integrity", why)),
                    Err(e) => Err(("integrity", e.to_string())),
                },
            });
        match result {
            Ok((head, views)) => arl_query::integrity::verified_json(
                &head,
                views.map_or(0, |v| v.checkpoint),
                views.is_some_and(|v| v.behind_log),
                options.digest.as_ref().map(|d| d.seq),
            ),
            Err((rule, error)) => json!({"ok": false, "rule": rule, "error": error}),
        }
    };
    let ok = value["ok"] == Value::Bool(true);
    let _ = out.try_send(line(value));
    if let (true, Some(claimed)) = (ok, &options.checkpoint) {
        let checked = match arl_query::evidence::holds_on(log, &claimed.0) {
            Ok(()) => json!({"ok": true, "size": claimed.0.size, "log_seq": log.head().seq}),
            Err(e) => json!({"ok": false, "rule": "integrity", "error": e.to_string()}),
        };
        let _ = out.try_send(line(json!({ "checkpoint": checked })));
    }
}

/// Damage to the views as `arl verify` words it.
fn views_broken(error: &arl_views::ViewError) -> String {
    let mut message = format!("integrity failure in the views: {error}");
    let damage = error.is_damage() || matches!(error, arl_views::ViewError::AheadOfLog { .. });
    if damage && !message.contains("arl replay") {
        message.push_str(" (the views are derived from the log: arl replay rebuilds them)");
    }
    message
}

/// `POST /v1/erase` on the writer thread: erases `subject` as `arl erase` does (the audit
/// event `subject.erased` by `actor`, then the key destroyed); the answer of
/// `arl erase --format json`.
pub fn erase(
    ledger: &mut Ledger,
    keys: &arl_privacy::KeyHome,
    subject: Subject,
    reason: &str,
    actor: &str,
) -> Result<Value, ApiError> {
    let erasure = Erasure::plan(keys, ledger.log(), subject).map_err(|e| ApiError::erase(&e))?;
    let now = Timestamp::now();
    let opts = AppendOptions {
        imported: false,
        actor: actor.to_string(),
        now,
    };
    // Straight to the ledger: the append path refuses subject.erased as input.
    let report = ledger
        .append(vec![erasure.event(reason)], &opts)
        .map_err(|f| ApiError::append(&f, None))?;
    let subject = erasure.subject.clone();
    let clear_seqs = erasure.clear_seqs.clone();
    let destroyed = erasure.destroy_key(now).map_err(|e| ApiError::erase(&e))?;
    Ok(arl_query::privacy::erased_json(
        &subject,
        report.head.seq,
        destroyed,
        &clear_seqs,
    ))
}
