//! The handlers: each parses its request into the question the command line builds, asks
//! arl-query (on a blocking thread, over the last committed views) and writes the answer
//! exactly as `arl ... --format json` (or `csv`) prints it.

use crate::error::ApiError;
use crate::params::{Params, POINT};
use crate::stream::{self, StreamRequest, Wire};
use crate::tokens::Need;
use crate::AppState;
use arl_accounts::Filter;
use arl_fold::Source;
use arl_privacy::{Subject, SubjectKind, UnsealedSource, Unsealer, ERASED};
use arl_query::accounts::Search;
use arl_query::export::{self, EnvelopeFilter, LogQuestion};
use arl_query::history::{Axis, DiffQuestion, HistoryQuestion, Window};
use arl_query::teams::{AccountQuestion, PersonQuestion};
use arl_query::timeline::TimelineQuestion;
use arl_query::txns::{BalanceQuestion, RegisterQuestion};
use arl_query::{accounts, history, teams, timeline, txns};
use arl_query::{AccountsQuestion, CardQuestion, QueryError, Table};
use arl_views::ViewReader;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;
type Answer = Result<Response, ApiError>;

/// A value as the command line prints `--format json`: pretty, with a newline.
/// An erased personal field is `null` and its object says `"erased": true` (as the command
/// line prints it; such an object's keys come in sorted order).
pub fn json_response<T: Serialize + ?Sized>(value: &T) -> Answer {
    let formatting = |e: serde_json::Error| ApiError::internal(format!("formatting JSON: {e}"));
    let mut text = serde_json::to_string_pretty(value).map_err(formatting)?;
    if text.contains(ERASED) {
        let mut value = serde_json::to_value(value).map_err(formatting)?;
        arl_privacy::mark_erased(&mut value);
        text = serde_json::to_string_pretty(&value).map_err(formatting)?;
    }
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
    // An erased field's cell is `[erased]`, as the command line's.
    let shown;
    let table = if table.rows.iter().flatten().any(|cell| cell == ERASED) {
        let rows = table
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|cell| arl_privacy::table_text(cell))
                    .collect()
            })
            .collect();
        shown = Table {
            header: table.header.clone(),
            rows,
        };
        &shown
    } else {
        table
    };
    let text = table
        .to_csv()
        .map_err(|e| ApiError::internal(format!("formatting CSV: {e}")))?;
    Ok(typed(text, "text/csv; charset=utf-8"))
}

/// How a question runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    /// On a blocking thread: questions whose cost grows with the ledger (lists, trees,
    /// balances, the org chart).
    Blocking,
    /// On the request's own task: the questions of one account (its card, team,
    /// contacts), a fold of that account's events only, cheaper than the hop to a blocking
    /// thread and back.
    Inline,
}

/// The parameter that asks for the answer over the data as stored, personal fields sealed
/// (`as_stored=true`): what the command line prints with `--evidence FILE`, whose bundle
/// proves that answer.
const AS_STORED: &str = "as_stored";

/// Which personal fields an answer shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fields {
    /// Opened with the ledger's keys (erased ones as erased): every answer by default.
    Opened,
    /// As stored (`as_stored=true`).
    AsStored,
}

impl Fields {
    fn of(p: &Params) -> Result<Fields, ApiError> {
        Ok(if p.flag(AS_STORED)? {
            Fields::AsStored
        } else {
            Fields::Opened
        })
    }
}

/// The views as an answer reads them: through `unsealer`, or as stored without one.
fn fields_of<'a>(views: &'a ViewReader, unsealer: Option<&'a Unsealer>) -> UnsealedSource<'a> {
    match unsealer {
        Some(unsealer) => UnsealedSource::new(views, unsealer),
        None => UnsealedSource::as_stored(views),
    }
}

/// Asks `question` of the last committed views on a blocking thread.
async fn ask<T: Send + 'static>(
    state: &AppState,
    question: impl FnOnce(&dyn Source) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, ApiError> {
    ask_as(state, Run::Blocking, Fields::Opened, question).await
}

/// Asks `question` of the last committed views, as `run` says (inline only when the key
/// store is already open or not needed: opening it reads a file), showing `fields`.
async fn ask_as<T: Send + 'static>(
    state: &AppState,
    run: Run,
    fields: Fields,
    question: impl FnOnce(&dyn Source) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, ApiError> {
    let published = state.writer.shared.published();
    let reader = published.reader;
    let opened = match fields {
        Fields::Opened => published.unsealer,
        Fields::AsStored => None,
    };
    if run == Run::Inline && (fields == Fields::AsStored || opened.is_some()) {
        // The caches are of this published state, read with its unsealer or as stored.
        let subsets = match fields {
            Fields::Opened => &published.subsets.opened,
            Fields::AsStored => &published.subsets.stored,
        };
        let source = fields_of(&reader, opened.as_deref()).keeping_subsets(subsets);
        return question(&source).map_err(|e| ApiError::query(&e));
    }
    let keys = state.keys.clone();
    tokio::task::spawn_blocking(move || {
        let unsealer = match (fields, opened) {
            (Fields::AsStored, _) => None,
            (Fields::Opened, Some(unsealer)) => Some(unsealer),
            (Fields::Opened, None) => Some(Arc::new(unsealer(&keys)?)),
        };
        question(&fields_of(&reader, unsealer.as_deref())).map_err(|e| ApiError::query(&e))
    })
    .await
    .map_err(|e| ApiError::internal(format!("the query's thread failed: {e}")))?
}

/// The ledger's keys, opened for one answer (so an erasure shows from the next answer on):
/// answers show personal fields opened, and erased ones as erased, as the command line's.
fn unsealer(keys: &arl_privacy::KeyHome) -> Result<Unsealer, ApiError> {
    keys.unsealer().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "integrity",
            e.to_string(),
        )
    })
}

/// JSON of `value`, or CSV of `table(value)` when asked.
fn json_or_csv<T: Serialize>(csv: bool, value: &T, table: impl FnOnce(&T) -> Table) -> Answer {
    if csv {
        csv_response(&table(value))
    } else {
        json_response(value)
    }
}

/// What a query endpoint reads of its request besides its path: the token (in the headers)
/// and the raw query string.
pub struct Asked {
    state: Arc<AppState>,
    /// The `Authorization` header (the only one a query reads).
    authorization: Option<HeaderValue>,
    query: Option<String>,
    run: Run,
}

impl FromRequestParts<Arc<AppState>> for Asked {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Asked, Self::Rejection> {
        Ok(Asked {
            state: state.clone(),
            authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
            query: parts.uri.query().map(str::to_string),
            run: Run::Blocking,
        })
    }
}

impl Asked {
    /// The question is one account's: answered on the request's task.
    fn inline(mut self) -> Asked {
        self.run = Run::Inline;
        self
    }

    /// A reader's question as every query endpoint asks it: authorizes the token, parses
    /// the query string (only the names in `allowed`), builds the question from the
    /// parameters, asks it of the last committed views on a blocking thread, and writes the
    /// answer as JSON, or as the CSV `table` makes of it with `format=csv`.
    async fn answer<Q, T>(
        self,
        allowed: &[&str],
        question: impl FnOnce(&Params) -> Result<Q, ApiError>,
        answer: impl FnOnce(&dyn Source, &Q) -> Result<T, QueryError> + Send + 'static,
        table: impl FnOnce(&T) -> Table,
    ) -> Answer
    where
        Q: Send + 'static,
        T: Serialize + Send + 'static,
    {
        self.state
            .authorize_header(self.authorization.as_ref(), Need::Read)?;
        let p = Params::parse(self.query.as_deref(), allowed)?;
        let question = question(&p)?;
        let fields = Fields::of(&p)?;
        let value = ask_as(&self.state, self.run, fields, move |source| {
            answer(source, &question)
        })
        .await?;
        json_or_csv(p.csv()?, &value, table)
    }
}

const WITH_FORMAT: &[&str] = &["as_of", "known_at", "at_seq", "format"];
/// The parameters of an answer the command line can also give with `--evidence FILE`.
const WITH_STORED: &[&str] = &["as_of", "known_at", "at_seq", "format", AS_STORED];

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
            "root",
            "q",
            "limit",
            "offset",
            "format",
        ],
    ]
    .concat();
    let p = Params::parse(q.as_deref(), &allowed)?;
    let question = accounts_question(&p)?;
    let csv = p.csv()?;
    let search = accounts_search(&p)?;
    if p.flag("tree")? {
        if search.is_some() {
            return Err(conflict("q, limit and offset page a list, not the tree"));
        }
        let forest = match p.text("root").map(str::to_string) {
            Some(root) => ask(&s, move |r| question.tree_around(r, &root)).await?,
            None => ask(&s, move |r| question.tree(r)).await?,
        };
        return json_or_csv(csv, &forest, |f| arl_query::accounts::tree_csv(f));
    }
    if p.text("root").is_some() {
        return Err(conflict("root names the account a tree is drawn around"));
    }
    let cards = match search {
        Some(search) => ask(&s, move |r| question.search(r, &search)).await?,
        None => ask(&s, move |r| question.list(r)).await?,
    };
    json_or_csv(csv, &cards, |c| arl_query::accounts::cards_csv(c))
}

fn conflict(why: &str) -> ApiError {
    ApiError::bad_request("conflicting_parameters", why)
        .with_fix("give root with tree=true, and q, limit or offset without it")
}

/// The page of a search (`q`, `limit`, `offset`), or `None` when none of them is given:
/// then the answer is every card, as `arl accounts` prints them.
fn accounts_search(p: &Params) -> Result<Option<Search>, ApiError> {
    use arl_query::accounts::{
        SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, SEARCH_OFFSET_MAX, SEARCH_TEXT_CHARS_MAX,
    };
    let text = p.short_text("q", SEARCH_TEXT_CHARS_MAX)?;
    let limit = p.count("limit", 1, SEARCH_LIMIT_MAX)?;
    let offset = p.count("offset", 0, SEARCH_OFFSET_MAX)?;
    if text.is_none() && limit.is_none() && offset.is_none() {
        return Ok(None);
    }
    Ok(Some(Search::new(
        text.unwrap_or(""),
        limit.unwrap_or(SEARCH_LIMIT_DEFAULT),
        offset.unwrap_or(0),
    )))
}

fn accounts_question(p: &Params) -> Result<AccountsQuestion, ApiError> {
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
    Ok(AccountsQuestion {
        filter: Filter {
            status,
            scope,
            key_accounts_only: p.flag("key_accounts")?,
            country: p.text("country").map(str::to_string),
        },
        at: p.at()?,
    })
}

/// `GET /v1/accounts/{id}`: the card (contract §7).
pub async fn account(asked: Asked, Path(id): Path<String>) -> Answer {
    let question = |p: &Params| {
        Ok(CardQuestion {
            account: id,
            at: p.at()?,
        })
    };
    let answer = |source: &dyn Source, question: &CardQuestion| question.answer(source);
    let table = |card: &_| accounts::cards_csv(std::slice::from_ref(card));
    asked
        .inline()
        .answer(WITH_STORED, question, answer, table)
        .await
}

/// `GET /v1/accounts/{id}/team`.
pub async fn team(asked: Asked, Path(id): Path<String>) -> Answer {
    let question = |p: &Params| account_question(id, p);
    let table = |rows: &Vec<_>| teams::team_csv(rows);
    asked
        .inline()
        .answer(WITH_STORED, question, teams::team, table)
        .await
}

/// `GET /v1/accounts/{id}/contacts`.
pub async fn contacts(asked: Asked, Path(id): Path<String>) -> Answer {
    let question = |p: &Params| account_question(id, p);
    let table = |rows: &Vec<_>| teams::contacts_csv(rows);
    asked
        .inline()
        .answer(WITH_STORED, question, teams::contacts, table)
        .await
}

fn account_question(id: String, p: &Params) -> Result<AccountQuestion, ApiError> {
    Ok(AccountQuestion {
        account: id,
        at: p.at()?,
    })
}

/// `GET /v1/accounts/{id}/team/timeline?from=&to=` (reader): who held which role between
/// two dates, as known at `known_at`/`at_seq`, with when each start and end was recorded.
pub async fn team_timeline(asked: Asked, Path(id): Path<String>) -> Answer {
    let question = |p: &Params| {
        Ok(TimelineQuestion {
            account: id,
            from: p.input_time("from")?,
            to: p.query_time("to")?,
            at: p.at()?,
        })
    };
    let allowed = ["known_at", "at_seq", "from", "to", "format"];
    asked
        .answer(
            &allowed,
            question,
            timeline::timeline,
            timeline::timeline_csv,
        )
        .await
}

/// `GET /v1/accounts/{id}/txns`.
pub async fn txns(asked: Asked, Path(id): Path<String>) -> Answer {
    let question = |p: &Params| {
        Ok(RegisterQuestion {
            account: id,
            from: p.input_time("from")?,
            to: p.query_time("to")?,
            at: p.at()?,
        })
    };
    let allowed = [WITH_FORMAT, &["from", "to"]].concat();
    let table = |rows: &Vec<_>| txns::register_csv(rows);
    asked
        .answer(&allowed, question, txns::register, table)
        .await
}

/// `GET /v1/accounts/{id}/history` (auditor): envelope hashes come from the log, read
/// through the handle published with the views (never waiting for the writer).
pub async fn history(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    let allowed = [WITH_STORED, &["limit", "offset"]].concat();
    let p = Params::parse(q.as_deref(), &allowed)?;
    let fields = Fields::of(&p)?;
    let question = HistoryQuestion {
        account: id,
        at: p.at()?,
    };
    let window = Window {
        offset: p
            .count("offset", 0, history::HISTORY_OFFSET_MAX)?
            .unwrap_or(0),
        limit: p
            .count("limit", 1, history::HISTORY_LIMIT_MAX)?
            .unwrap_or(usize::MAX),
    };
    let keys = s.keys.clone();
    let page = s
        .writer
        .read_log(move |log, views| {
            let unsealer = match fields {
                Fields::Opened => Some(unsealer(&keys)?),
                Fields::AsStored => None,
            };
            let reader = fields_of(views, unsealer.as_ref());
            history::history_page(&reader, &question, window, log).map_err(|e| ApiError::query(&e))
        })
        .await??;
    let mut response = json_or_csv(p.csv()?, &page.steps, |s| history::history_csv(s))?;
    // The page's pager needs the whole history's length; the body stays the list of steps
    // `arl history` prints.
    response
        .headers_mut()
        .insert(TOTAL_HEADER, HeaderValue::from(page.total));
    Ok(response)
}

/// `GET /v1/log` (auditor): the envelopes `arl log` prints, with its filters as
/// parameters (`stream`, `type`, `account`, `from_seq`, `to_seq`, `recorded_from`,
/// `recorded_to`, `effective_from`, `effective_to`, `limit`), read through the log handle
/// published with the views, up to the committed head.
pub async fn log(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    let allowed = [
        "stream",
        "type",
        "account",
        "from_seq",
        "to_seq",
        "recorded_from",
        "recorded_to",
        "effective_from",
        "effective_to",
        "limit",
        "format",
    ];
    let p = Params::parse(q.as_deref(), &allowed)?;
    // The answer is built in memory: at most `max` envelopes, one more asked to tell an
    // answer of exactly `max` from a larger one.
    let max = u64::try_from(s.limits.log_rows_max).unwrap_or(u64::MAX);
    let asked = p.uint("limit")?;
    let question = LogQuestion {
        stream: p.text("stream").map(str::to_string),
        kind: p.text("type").map(str::to_string),
        account: p.text("account").map(str::to_string),
        from_seq: p.uint("from_seq")?,
        to_seq: p.uint("to_seq")?,
        recorded_from: p.input_time("recorded_from")?,
        recorded_to: p.query_time("recorded_to")?,
        effective_from: p.input_time("effective_from")?,
        effective_to: p.query_time("effective_to")?,
        limit: Some(asked.map_or(max.saturating_add(1), |l| l.min(max.saturating_add(1)))),
    };
    let csv = p.csv()?;
    let rows = s
        .writer
        .read_log(move |log, _| question.answer(log).map_err(|e| ApiError::query(&e)))
        .await??;
    if rows.len() as u64 > max {
        return Err(ApiError::bad_request(
            "answer_too_large",
            format!("the answer holds more than {max} envelopes, the most one log answer of this server holds (--log-rows-max)"),
        )
        .with_fix("narrow it (limit, from_seq and to_seq, or a filter), or stream every envelope with GET /v1/export"));
    }
    if csv {
        return csv_response(&export::log_csv(&rows));
    }
    let values = export::log_json(&rows)
        .map_err(|e| ApiError::internal(format!("formatting envelopes: {e}")))?;
    json_response(&values)
}

/// The number of steps in the whole history, on a page of it.
const TOTAL_HEADER: &str = "x-total-count";

/// `GET /v1/accounts/{id}/diff?from=T1&to=T2[&axis=valid|known]`.
pub async fn diff(asked: Asked, Path(id): Path<String>) -> Answer {
    let question = |p: &Params| {
        let required = |name: &str| {
            p.query_time(name)?.ok_or_else(|| {
                ApiError::bad_request("missing_parameter", format!("{name} is required"))
                    .with_fix("give from and to (dates or RFC 3339 times)")
            })
        };
        Ok(DiffQuestion {
            account: id,
            from: required("from")?,
            to: required("to")?,
            axis: match p.choice("axis", &["valid", "known"])?.as_deref() {
                Some("known") => Axis::Known,
                _ => Axis::Valid,
            },
            at: p.at()?,
        })
    };
    let allowed = [WITH_FORMAT, &["from", "to", "axis"]].concat();
    asked
        .answer(&allowed, question, history::diff, history::diff_csv)
        .await
}

/// `GET /v1/people/{id}/portfolio`.
pub async fn portfolio(asked: Asked, Path(id): Path<String>) -> Answer {
    let question = |p: &Params| {
        Ok(PersonQuestion {
            person: id,
            at: p.at()?,
        })
    };
    let table = |rows: &Vec<_>| teams::portfolio_csv(rows);
    asked
        .answer(WITH_STORED, question, teams::portfolio, table)
        .await
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
pub async fn balances(asked: Asked) -> Answer {
    let question = |p: &Params| {
        Ok(BalanceQuestion {
            account: p.text("account").map(str::to_string),
            period: p.period()?,
            from: p.input_time("from")?,
            to: p.query_time("to")?,
            rollup: p.flag("rollup")?,
            at: p.at()?,
        })
    };
    let allowed = [WITH_STORED, &["account", "period", "from", "to", "rollup"]].concat();
    let table = |rows: &Vec<_>| txns::balances_csv(rows);
    asked
        .answer(&allowed, question, txns::balances, table)
        .await
}

/// `GET /v1/checkpoint` (auditor): the signed checkpoint of the committed head, as
/// `arl checkpoint` prints it (made and kept in the ledger's evidence store if the head
/// moved since the last one); without a signing key, the command line's error (409).
pub async fn checkpoint(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    Params::parse(q.as_deref(), &[])?;
    let note = with_evidence(&s, |home, log, _| {
        home.current(log).map(|(note, _, _)| note)
    })
    .await?;
    Ok(typed(note, "text/plain; charset=utf-8"))
}

/// `GET /v1/evidence/{command}/{id}` (auditor): the evidence bundle of `arl COMMAND ID
/// --evidence FILE` (command: account, team, contacts, portfolio, history or balance; the
/// point as `as_of`, `known_at`, `at_seq`; balance also `period`, `from`, `to`,
/// `rollup`), built from the committed log and views and signed with the ledger's
/// checkpoint key: the bytes the command line writes to FILE.
pub async fn evidence(
    State(s): S,
    headers: HeaderMap,
    Path((command, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Answer {
    use arl_query::evidence::{BalanceOptions, BundleRequest, EvidenceCommand as Ask};
    s.authorize(&headers, Need::Audit)?;
    let ask = match command.as_str() {
        "account" => Ask::Account,
        "team" => Ask::Team,
        "contacts" => Ask::Contacts,
        "portfolio" => Ask::Portfolio,
        "history" => Ask::History,
        "balance" => Ask::Balance,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no evidence for {other:?}"),
            )
            .with_fix("ask for account, team, contacts, portfolio, history or balance"))
        }
    };
    let allowed = if ask == Ask::Balance {
        [POINT, &["period", "from", "to", "rollup"]].concat()
    } else {
        POINT.to_vec()
    };
    let p = Params::parse(q.as_deref(), &allowed)?;
    let balance = if ask == Ask::Balance {
        Some(BalanceOptions {
            period: p
                .choice("period", &["month", "quarter", "year", "all"])?
                .unwrap_or_else(|| "all".to_string()),
            from: p.input_time("from")?.map(arl_domain::Timestamp::canonical),
            to: p.query_time("to")?.map(arl_domain::Timestamp::canonical),
            rollup: p.flag("rollup")?,
        })
    } else {
        None
    };
    let request = BundleRequest {
        command: ask,
        subject: id,
        at: p.at()?,
        balance,
    };
    // The views as stored, as the command line's --evidence reads them: a bundle proves
    // what the log holds.
    let bundle = with_evidence(&s, move |home, log, views| {
        home.bundle(log, views, &request)
    })
    .await?;
    Ok(typed(bundle.text, "application/json"))
}

/// Runs `work` on the ledger's evidence store against the committed log and views (read
/// through the handle published with them), holding the store's lock: one writer of its
/// files (checkpoints, the stream map) at a time.
async fn with_evidence<T: Send + 'static>(
    s: &AppState,
    work: impl FnOnce(
            &arl_query::evidence::EvidenceHome,
            &arl_log::Log,
            &arl_views::ViewReader,
        ) -> Result<T, arl_query::evidence::EvidenceError>
        + Send
        + 'static,
) -> Result<T, ApiError> {
    let home = s.evidence.clone();
    let store = s.evidence_store.clone();
    s.writer
        .read_log(move |log, views| {
            let _held = store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&home, log, views).map_err(|e| ApiError::evidence(&e))
        })
        .await?
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
        .read_log(move |log, _| {
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

/// The body of `POST /v1/erase`: exactly one of `contact` and `person`, and why.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseRequest {
    contact: Option<String>,
    person: Option<String>,
    reason: String,
}

/// `POST /v1/erase` (admin): erases a contact's or a person's personal data as `arl erase`
/// does: appends `subject.erased` (the token's name as actor) and destroys the subject's
/// key, on the writer thread; the answer is the JSON of `arl erase --format json`.
pub async fn erase(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery, body: Body) -> Answer {
    let who = s.authorize(&headers, Need::Admin)?;
    Params::parse(q.as_deref(), &[])?;
    let bytes = read_body(&s, &headers, body).await?;
    let request: EraseRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request("malformed", format!("the body is not an erasure: {e}"))
            .with_fix(r#"send {"contact": ID, "reason": "..."} or {"person": ID, "reason": "..."}"#)
    })?;
    let subject = match (request.contact, request.person) {
        (Some(contact), None) => Subject::new(SubjectKind::Contact, &contact),
        (None, Some(person)) => Subject::new(SubjectKind::Person, &person),
        _ => {
            return Err(ApiError::bad_request(
                "malformed",
                "give exactly one of contact and person",
            ))
        }
    };
    if !arl_domain::ids::is_valid_id(&subject.id) {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("{subject}: not a valid id"),
        ));
    }
    let reason = request.reason;
    if reason.trim().is_empty() || reason.chars().count() > arl_query::privacy::REASON_CHARS_MAX {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!(
                "reason is 1-{} characters: why the data is erased",
                arl_query::privacy::REASON_CHARS_MAX
            ),
        ));
    }
    let keys = s.keys.clone();
    let answer = s
        .writer
        .write(move |ledger| crate::append::erase(ledger, &keys, subject, &reason, &who.name))
        .await??;
    json_response(&answer)
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

/// A checkpoint note sent to `POST /v1/verify`, parsed (not its signatures: the client
/// checks those with the keys it trusts).
#[derive(Debug)]
pub struct ClaimedCheckpoint(pub arl_query::evidence::Checkpoint);

/// `POST /v1/verify` (auditor): recomputes the hash chain, the Merkle tree and the views
/// on the writer thread (appends wait meanwhile); JSON Lines of progress, then one line
/// with the result, as `arl verify --format json` prints it. `views_only=true`: the views'
/// checksums only; `digest_seq`, `digest_head`, `digest_root`: the log must extend that
/// digest; a body: a checkpoint note (`arl checkpoint`) the log must extend, answered on a
/// last line `{"checkpoint": {...}}`.
pub async fn verify(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery, body: Body) -> Answer {
    s.authorize(&headers, Need::Audit)?;
    let p = Params::parse(
        q.as_deref(),
        &["views_only", "digest_seq", "digest_head", "digest_root"],
    )?;
    let views_only = p.flag("views_only")?;
    let hash = |name: &str| -> Result<Option<[u8; 32]>, ApiError> {
        p.text(name)
            .map(|v| {
                arl_log::parse_hex(v).ok_or_else(|| {
                    ApiError::bad_request("bad_parameter", format!("{name}: not 64 hex digits"))
                })
            })
            .transpose()
    };
    let digest =
        match (
            p.uint("digest_seq")?,
            hash("digest_head")?,
            hash("digest_root")?,
        ) {
            (None, None, None) => None,
            (Some(seq), Some(head), Some(root)) => Some(arl_query::integrity::Digest {
                seq,
                head,
                root,
                recorded_at: String::new(),
            }),
            _ => return Err(ApiError::bad_request(
                "bad_parameter",
                "give digest_seq, digest_head and digest_root together (the fields of arl digest)",
            )),
        };
    if views_only && digest.is_some() {
        return Err(ApiError::bad_request(
            "conflicting_parameters",
            "views_only reads no log; a digest is checked against the log",
        ));
    }
    let bytes = read_body(&s, &headers, body).await?;
    let checkpoint = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let bad = |e: String| {
            ApiError::bad_request(
                "malformed",
                format!("the body is not a checkpoint note: {e}"),
            )
            .with_fix("send the note arl checkpoint printed, or no body")
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| bad(e.to_string()))?;
        let note = arl_query::evidence::Note::parse(text).map_err(|e| bad(e.to_string()))?;
        let claimed = arl_query::evidence::Checkpoint::parse_body(&note.text)
            .map_err(|e| bad(e.to_string()))?;
        Some(ClaimedCheckpoint(claimed))
    };
    let options = crate::append::VerifyOptions {
        views_only,
        digest,
        checkpoint,
        source: Some(s.source.clone()),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
    let writer = s.writer.clone();
    tokio::spawn(async move {
        let job = writer.read(move |ledger| crate::append::verify(ledger, &sender, &options));
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

/// `GET /v1/whoami`: the token's name and role (any token), so a client knows what it may
/// show.
pub async fn whoami(State(s): S, headers: HeaderMap, RawQuery(q): RawQuery) -> Answer {
    let who = s.authorize(&headers, Need::Read)?;
    Params::parse(q.as_deref(), &[])?;
    json_response(&serde_json::json!({"name": who.name, "role": who.role.as_str()}))
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
        (
            "arl_writer_busy",
            "1 while the writer appends a group, else 0.",
            shared.busy.load(std::sync::atomic::Ordering::SeqCst),
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

/// Any other path: the web page's files (arl-web) for a `GET` or `HEAD` of a page or asset
/// path, with its security and caching headers; else a JSON 404. The page holds no data:
/// its script asks the API with the token the user signs in with.
pub async fn page(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let asset = (method == Method::GET || method == Method::HEAD)
        .then(|| arl_web::asset(uri.path()))
        .flatten();
    let Some(asset) = asset else {
        return not_found().await.into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == asset.etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Bytes::from_static(asset.body).into_response()
    };
    let out = response.headers_mut();
    if !fresh {
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    out.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    for (name, value) in arl_web::SECURITY_HEADERS {
        out.insert(*name, HeaderValue::from_static(value));
    }
    response
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
