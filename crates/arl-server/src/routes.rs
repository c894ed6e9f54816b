//! The handlers: each parses its request into the question the command line builds, asks
//! arl-query (on a blocking thread, over the last committed views) and writes the answer
//! exactly as `arl ... --format json` (or `csv`) prints it.

use crate::error::ApiError;
use crate::params::{Params, POINT};
use crate::stream::{self, StreamRequest, Wire};
use crate::tokens::Need;
use crate::AppState;
use arl_accounts::Filter;
use arl_query::export::EnvelopeFilter;
use arl_query::history::{Axis, DiffQuestion, HistoryQuestion};
use arl_query::teams::{AccountQuestion, PersonQuestion};
use arl_query::txns::{BalanceQuestion, RegisterQuestion};
use arl_query::{AccountsQuestion, CardQuestion, QueryError, Table};
use arl_views::ViewReader;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;
type Answer = Result<Response, ApiError>;

/// A value as the command line prints `--format json`: pretty, with a newline.
pub fn json_response<T: Serialize + ?Sized>(value: &T) -> Answer {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| ApiError::internal(format!("formatting JSON: {e}")))?;
    text.push('\n');
    Ok(typed(text, "application/json"))
}

fn typed(text: String, content_type: &'static str) -> Response {
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn csv_response(table: &Table) -> Answer {
    let text = table
        .to_csv()
        .map_err(|e| ApiError::internal(format!("formatting CSV: {e}")))?;
    Ok(typed(text, "text/csv; charset=utf-8"))
}

/// Asks `question` of the last committed views on a blocking thread.
async fn ask<T: Send + 'static>(
    state: &AppState,
    question: impl FnOnce(&ViewReader) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, ApiError> {
    let reader = state.writer.shared.published().reader;
    tokio::task::spawn_blocking(move || question(&reader))
        .await
        .map_err(|e| ApiError::internal(format!("the query's thread failed: {e}")))?
        .map_err(|e| ApiError::query(&e))
}

/// JSON of `value`, or CSV of `table(value)` when asked.
fn json_or_csv<T: Serialize>(csv: bool, value: &T, table: impl FnOnce(&T) -> Table) -> Answer {
    if csv {
        csv_response(&table(value))
    } else {
        json_response(value)
    }
}

const WITH_FORMAT: &[&str] = &["as_of", "known_at", "at_seq", "format"];

/// `GET /v1/accounts`.
pub async fn accounts(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let allowed = [
        POINT,
        &[
            "status",
            "scope",
            "key_accounts",
            "country",
            "tree",
            "format",
        ],
    ]
    .concat();
    let p = Params::parse(q.as_deref(), &allowed)?;
    let status = p
        .text("status")
        .map(|v| {
            arl_domain::Status::parse(v).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_parameter",
                    format!("status={v:?}: use prospect, active, on_hold, dormant or closed"),
                )
            })
        })
        .transpose()?;
    let scope = p
        .text("scope")
        .map(|v| {
            arl_domain::Scope::parse(v).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_parameter",
                    format!("scope={v:?}: use global, national, divisional, district or territory"),
                )
            })
        })
        .transpose()?;
    let question = AccountsQuestion {
        filter: Filter {
            status,
            scope,
            key_accounts_only: p.flag("key_accounts")?,
            country: p.text("country").map(str::to_string),
        },
        at: p.at()?,
    };
    let csv = p.csv()?;
    if p.flag("tree")? {
        let forest = ask(&s, move |r| question.tree(r)).await?;
        return json_or_csv(csv, &forest, |f| arl_query::accounts::tree_csv(f));
    }
    let cards = ask(&s, move |r| question.list(r)).await?;
    json_or_csv(csv, &cards, |c| arl_query::accounts::cards_csv(c))
}

/// `GET /v1/accounts/{id}`: the card (contract §7).
pub async fn account(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let p = Params::parse(q.as_deref(), WITH_FORMAT)?;
    let question = CardQuestion {
        account: id,
        at: p.at()?,
    };
    let card = ask(&s, move |r| question.answer(r)).await?;
    json_or_csv(p.csv()?, &card, |c| {
        arl_query::accounts::cards_csv(std::slice::from_ref(c))
    })
}

fn account_question(id: String, p: &Params) -> Result<AccountQuestion, ApiError> {
    Ok(AccountQuestion {
        account: id,
        at: p.at()?,
    })
}

/// `GET /v1/accounts/{id}/team`.
pub async fn team(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let p = Params::parse(q.as_deref(), WITH_FORMAT)?;
    let question = account_question(id, &p)?;
    let rows = ask(&s, move |r| arl_query::teams::team(r, &question)).await?;
    json_or_csv(p.csv()?, &rows, |r| arl_query::teams::team_csv(r))
}

/// `GET /v1/accounts/{id}/contacts`.
pub async fn contacts(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let p = Params::parse(q.as_deref(), WITH_FORMAT)?;
    let question = account_question(id, &p)?;
    let rows = ask(&s, move |r| arl_query::teams::contacts(r, &question)).await?;
    json_or_csv(p.csv()?, &rows, |r| arl_query::teams::contacts_csv(r))
}

/// `GET /v1/accounts/{id}/txns`.
pub async fn txns(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let p = Params::parse(q.as_deref(), &[WITH_FORMAT, &["from", "to"]].concat())?;
    let question = RegisterQuestion {
        account: id,
        from: p.input_time("from")?,
        to: p.query_time("to")?,
        at: p.at()?,
    };
    let rows = ask(&s, move |r| arl_query::txns::register(r, &question)).await?;
    json_or_csv(p.csv()?, &rows, |r| arl_query::txns::register_csv(r))
}

/// `GET /v1/accounts/{id}/history` (auditor): envelope hashes come from the log, so this
/// runs on the writer thread between commits.
pub async fn history(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    let p = Params::parse(q.as_deref(), WITH_FORMAT)?;
    let question = HistoryQuestion {
        account: id,
        at: p.at()?,
    };
    let steps = s
        .writer
        .read(move |ledger| {
            let reader = ledger
                .reader()
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let log = ledger.log();
            let mut hash_of = |seq| log.get(seq).map(|e| e.map(|e| e.hash));
            arl_query::history::history(&reader, &question, &mut hash_of)
                .map_err(|e| ApiError::query(&e))
        })
        .await??;
    json_or_csv(p.csv()?, &steps, |s| arl_query::history::history_csv(s))
}

/// `GET /v1/accounts/{id}/diff?from=T1&to=T2[&axis=valid|known]`.
pub async fn diff(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let p = Params::parse(
        q.as_deref(),
        &[WITH_FORMAT, &["from", "to", "axis"]].concat(),
    )?;
    let required = |name: &str| {
        p.query_time(name)?.ok_or_else(|| {
            ApiError::bad_request("missing_parameter", format!("{name} is required"))
                .with_fix("give from and to (dates or RFC 3339 times)")
        })
    };
    let question = DiffQuestion {
        account: id,
        from: required("from")?,
        to: required("to")?,
        axis: match p.choice("axis", &["valid", "known"])?.as_deref() {
            Some("known") => Axis::Known,
            _ => Axis::Valid,
        },
        at: p.at()?,
    };
    let diff = ask(&s, move |r| arl_query::history::diff(r, &question)).await?;
    json_or_csv(p.csv()?, &diff, arl_query::history::diff_csv)
}

/// `GET /v1/people/{id}/portfolio`.
pub async fn portfolio(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let p = Params::parse(q.as_deref(), WITH_FORMAT)?;
    let question = PersonQuestion {
        person: id,
        at: p.at()?,
    };
    let rows = ask(&s, move |r| arl_query::teams::portfolio(r, &question)).await?;
    json_or_csv(p.csv()?, &rows, |r| arl_query::teams::portfolio_csv(r))
}

/// `GET /v1/org`.
pub async fn org(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let p = Params::parse(q.as_deref(), WITH_FORMAT)?;
    let at = p.at()?;
    let chart = ask(&s, move |r| arl_query::teams::org(r, &at)).await?;
    if p.csv()? {
        return csv_response(&arl_query::teams::org_csv(&chart));
    }
    json_response(&arl_query::teams::org_json(&chart))
}

/// `GET /v1/balances` (contract §7 rows).
pub async fn balances(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Read)?;
    let allowed = [WITH_FORMAT, &["account", "period", "from", "to", "rollup"]].concat();
    let p = Params::parse(q.as_deref(), &allowed)?;
    let question = BalanceQuestion {
        account: p.text("account").map(str::to_string),
        period: p.period()?,
        from: p.input_time("from")?,
        to: p.query_time("to")?,
        rollup: p.flag("rollup")?,
        at: p.at()?,
    };
    let rows = ask(&s, move |r| arl_query::txns::balances(r, &question)).await?;
    json_or_csv(p.csv()?, &rows, |r| arl_query::txns::balances_csv(r))
}

/// `GET /v1/digest`: the committed head, as `arl digest` prints it.
pub async fn digest(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Read)?;
    Params::parse(q.as_deref(), &[])?;
    let head = s.writer.shared.published().head;
    Ok(typed(
        format!("{}\n", arl_query::integrity::digest_json(&head)),
        "application/json",
    ))
}

/// `GET /v1/proof/{seq}[?digest_seq=N]` (auditor).
pub async fn proof(
    State(s): S,
    headers: HeaderMap,
    Path(seq): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    let p = Params::parse(q.as_deref(), &["digest_seq"])?;
    let seq: u64 = seq.parse().map_err(|_| {
        ApiError::bad_request(
            "bad_parameter",
            format!("seq {seq:?} is not a non-negative integer"),
        )
    })?;
    let digest_seq = p.uint("digest_seq")?;
    let value = s
        .writer
        .read(move |ledger| {
            let log = ledger.log();
            let digest = match digest_seq {
                None => None,
                Some(size) if size > log.head().seq => {
                    return Err(ApiError::query(&QueryError::DigestBeyondHead {
                        digest_seq: size,
                        head_seq: log.head().seq,
                    }))
                }
                Some(size) => Some(digest_at(log, size)?),
            };
            arl_query::integrity::proof(log, seq, digest.as_ref()).map_err(|e| ApiError::query(&e))
        })
        .await??;
    json_response(&value)
}

fn digest_at(log: &arl_log::Log, size: u64) -> Result<arl_query::integrity::Digest, ApiError> {
    let storage = |e: arl_log::LogError| ApiError::query(&QueryError::Log(e));
    let root = log.root_at(size).map_err(storage)?;
    let envelope = log.get(size).map_err(storage)?;
    Ok(arl_query::integrity::Digest {
        seq: size,
        head: envelope.as_ref().map_or([0; 32], |e| e.hash),
        root,
        recorded_at: envelope.map_or_else(String::new, |e| arl_log::format_time(e.recorded_at)),
    })
}

/// `POST /v1/events`: one atomic batch of JSON Lines, as `arl append` takes them.
pub async fn append(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery, body: Body) -> Answer {
    let who = s.authorize(&headers, Need::Write)?;
    let p = Params::parse(q.as_deref(), &["imported"])?;
    let imported = p.flag("imported")?;
    let bytes = read_body(&s, &headers, body).await?;
    let (events, lines) =
        crate::append::parse(&bytes, imported, s.limits.batch_lines_max, &who.name)?;
    if events.is_empty() {
        return Err(
            ApiError::bad_request("empty_batch", "the body holds no event")
                .with_fix("send JSON Lines, one event per line"),
        );
    }
    let answer = s.writer.append(events, lines, imported).await?;
    json_response(&crate::append::answer_json(&answer))
}

async fn read_body(s: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let max = s.limits.body_bytes_max;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over {max} bytes, the most this server takes (--body-bytes-max)"),
        )
        .with_fix("split the events into several requests")
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("length limit") {
            too_large()
        } else {
            ApiError::bad_request("bad_body", format!("reading the body failed: {text}"))
        }
    })
}

/// `GET /v1/events?from_seq=N[&account=ID][&type=T][&follow=true]` (auditor): JSON Lines,
/// or Server-Sent Events when the client accepts `text/event-stream`.
pub async fn events(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    let p = Params::parse(q.as_deref(), &["from_seq", "account", "type", "follow"])?;
    let sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let resume = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("bad_header", "Last-Event-ID is not a seq"))
        })
        .transpose()?;
    let from_seq = match (resume, p.uint("from_seq")?) {
        (Some(last), _) => last.saturating_add(1),
        (None, Some(n)) => n,
        (None, None) => 1,
    };
    let follow = p.flag("follow")?;
    let request = StreamRequest {
        from_seq,
        until: (!follow).then(|| s.writer.shared.published().head.seq),
        follow,
        filter: EnvelopeFilter {
            account: p.text("account").map(str::to_string),
            kind: p.text("type").map(str::to_string),
        },
        wire: if sse { Wire::Sse } else { Wire::Lines },
    };
    stream::open(&s, request)
}

/// `GET /v1/export[?format=jsonl|csv]` (auditor): every envelope up to the head when asked.
pub async fn export(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    let p = Params::parse(q.as_deref(), &["format"])?;
    let csv = p.choice("format", &["jsonl", "csv"])?.as_deref() == Some("csv");
    let request = StreamRequest {
        from_seq: 1,
        until: Some(s.writer.shared.published().head.seq),
        follow: false,
        filter: EnvelopeFilter::default(),
        wire: if csv { Wire::Csv } else { Wire::Lines },
    };
    stream::open(&s, request)
}

/// `POST /v1/verify` (auditor): recomputes the hash chain, the Merkle tree and the views
/// on the writer thread (appends wait meanwhile); JSON Lines of progress, then one line
/// with the result, as `arl verify --format json` prints it.
pub async fn verify(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    Params::parse(q.as_deref(), &[])?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
    let writer = s.writer.clone();
    tokio::spawn(async move {
        let job = writer.read(move |ledger| crate::append::verify(ledger, &sender));
        if let Err(e) = job.await {
            tracing::warn!(error = %e, "verify did not run");
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut r| async move {
        r.recv().await.map(|b| (Ok::<_, std::io::Error>(b), r))
    });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// `GET /healthz`: no token needed.
pub async fn healthz(State(s): S) -> Answer {
    let head = s.writer.shared.published().head;
    json_response(&serde_json::json!({"ok": true, "seq": head.seq}))
}

/// `GET /metrics` (any token): Prometheus text.
pub async fn metrics(State(s): S, headers: HeaderMap) -> Answer {
    s.authorize(&headers, Need::Read)?;
    use std::sync::atomic::Ordering::Relaxed;
    let shared = &s.writer.shared;
    let head = shared.published().head.seq;
    let gauges = [
        ("arl_head_seq", "The last committed seq.", head),
        (
            "arl_open_subscriptions",
            "Streams open now.",
            s.subscriptions.load(Relaxed) as u64,
        ),
        (
            "arl_commits_total",
            "Group commits made (a counter).",
            shared.commits.load(Relaxed),
        ),
        (
            "arl_committed_requests_total",
            "Append requests committed (a counter).",
            shared.committed_requests.load(Relaxed),
        ),
        (
            "arl_committed_events_total",
            "Events appended (a counter).",
            shared.committed_events.load(Relaxed),
        ),
    ];
    Ok(typed(
        s.metrics.render(&gauges),
        "text/plain; version=0.0.4; charset=utf-8",
    ))
}

/// `GET /v1/openapi.json`: the API's OpenAPI 3 document (no token needed).
pub async fn openapi() -> Response {
    typed(crate::OPENAPI_JSON.to_string(), "application/json")
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_endpoint",
        "no such endpoint",
    )
    .with_fix("see GET /v1/openapi.json for the endpoints")
}

/// A known path with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
    .with_fix("see GET /v1/openapi.json for the methods of each endpoint")
}
