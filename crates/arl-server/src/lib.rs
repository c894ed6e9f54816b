//! `arl-server`: the ledger over HTTP (`arl serve`).
//!
//! One process holds the ledger open for writing. A single writer thread owns the
//! [`arl_views::Ledger`] and commits the batches of concurrent `POST /v1/events` requests in
//! groups ([`writer`]); queries are answered by the same code as the command line
//! (`arl-query`) over the last committed views, on blocking threads, so they never wait for
//! the writer ([`routes`]); subscriptions stream envelopes from a seq on and follow new
//! commits ([`stream`]). Bearer tokens carry a role ([`tokens`]). Every input an outsider
//! controls has a limit ([`Limits`]). Endpoints and examples: `docs/API.md`; the OpenAPI
//! document is [`OPENAPI_JSON`].
//!
//! ```
//! use arl_server::tokens::{Need, Role};
//! assert!(Role::Auditor.allows(Need::Audit));
//! assert!(!Role::Reader.allows(Need::Write));
//! let limits = arl_server::Limits::default();
//! assert_eq!(limits.body_bytes_max, arl_server::BODY_BYTES_MAX_DEFAULT);
//! ```

mod append;
pub mod error;
mod metrics;
pub mod params;
mod routes;
mod stream;
pub mod tokens;
pub mod writer;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::tokens::{Authenticator, Identity, Need};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The OpenAPI 3 document of the API (kept in the repository, served at
/// `GET /v1/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Default of `--body-bytes-max`: the largest request body (16 MiB).
pub const BODY_BYTES_MAX_DEFAULT: usize = 16 << 20;
/// Default of `--batch-lines-max`: the most events in one append request.
pub const BATCH_LINES_MAX_DEFAULT: usize = 100_000;
/// Default of `--request-timeout-secs`: the longest a request may take to start its answer.
pub const REQUEST_TIMEOUT_S_DEFAULT: u64 = 30;
/// Default of `--subscriptions-max`: the most streams (subscriptions, exports) open at once.
pub const SUBSCRIPTIONS_MAX_DEFAULT: usize = 256;
/// Default of `--subscriber-buffer`: envelopes buffered for one stream's client.
pub const SUBSCRIBER_BUFFER_DEFAULT: usize = 1024;
/// Default of `--subscriber-stall-secs`: a stream whose client reads nothing for this long
/// is dropped.
pub const SUBSCRIBER_STALL_S_DEFAULT: u64 = 30;
/// Default of `--connections-max`: the most connections open at once.
pub const CONNECTIONS_MAX_DEFAULT: usize = 1024;
/// Default of `--group-events-max`: the most events in one group commit.
pub const GROUP_EVENTS_MAX_DEFAULT: usize = 200_000;
/// Default of `--log-rows-max`: the most envelopes one `GET /v1/log` answer holds (the
/// answer is built in memory; `GET /v1/export` streams any number).
pub const LOG_ROWS_MAX_DEFAULT: usize = 100_000;
/// Default of `--header-timeout-secs`: the time a client has to send a request's head.
pub const HEADER_READ_TIMEOUT_S_DEFAULT: u64 = 10;
/// Seconds the server waits for open requests after SIGTERM before it closes them.
pub const SHUTDOWN_GRACE_S: u64 = 10;

/// The limits on what clients send and hold.
#[derive(Debug, Clone)]
pub struct Limits {
    pub body_bytes_max: usize,
    pub batch_lines_max: usize,
    pub request_timeout: Duration,
    pub subscriptions_max: usize,
    pub subscriber_buffer: usize,
    pub subscriber_stall: Duration,
    pub connections_max: usize,
    pub group_events_max: usize,
    pub header_read_timeout: Duration,
    pub log_rows_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes_max: BODY_BYTES_MAX_DEFAULT,
            batch_lines_max: BATCH_LINES_MAX_DEFAULT,
            request_timeout: Duration::from_secs(REQUEST_TIMEOUT_S_DEFAULT),
            subscriptions_max: SUBSCRIPTIONS_MAX_DEFAULT,
            subscriber_buffer: SUBSCRIBER_BUFFER_DEFAULT,
            subscriber_stall: Duration::from_secs(SUBSCRIBER_STALL_S_DEFAULT),
            connections_max: CONNECTIONS_MAX_DEFAULT,
            group_events_max: GROUP_EVENTS_MAX_DEFAULT,
            header_read_timeout: Duration::from_secs(HEADER_READ_TIMEOUT_S_DEFAULT),
            log_rows_max: LOG_ROWS_MAX_DEFAULT,
        }
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// The ledger directory.
    pub dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Allow a non-loopback address without TLS.
    pub insecure_listen: bool,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<TlsFiles>,
    /// How long to wait for the ledger's lock at start.
    pub lock_timeout: Duration,
    pub limits: Limits,
    /// Where the log is: in the directory, or in a store several nodes share (then a
    /// follower thread keeps this node's views up with every node's appends).
    pub source: arl_views::LogSource,
    /// Where the keys of personal fields are: the directory's key store, or the one the
    /// nodes of a shared log share.
    pub keys: arl_privacy::KeyHome,
}

/// The query parameter every endpoint takes: answer only once this node has applied the
/// given seq (read-your-writes across nodes), waiting up to [`MIN_SEQ_WAIT`].
pub const MIN_SEQ_PARAM: &str = "min_seq";
/// The longest a request waits for its `min_seq`.
pub const MIN_SEQ_WAIT: Duration = Duration::from_secs(5);
/// How often the follower asks the writer to catch up when no commit was announced (the
/// fallback for a missed notice).
pub const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// The longest pause between two attempts to reconnect the follower.
const FOLLOW_RECONNECT_MAX: Duration = Duration::from_secs(5);

/// The PEM files of `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A non-loopback address without `--insecure-listen`.
    #[error("{addr} is not a loopback address: without TLS the server listens on loopback only; add --insecure-listen to serve {addr} in clear text")]
    NotLoopback { addr: SocketAddr },
    /// The certificate or key does not load.
    #[error("TLS: {0}")]
    Tls(String),
    /// Opening the ledger failed.
    #[error("opening the ledger at {dir}: {source}")]
    Ledger {
        dir: PathBuf,
        source: arl_views::ViewError,
    },
    /// The tokens file is unreadable.
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    /// Binding or serving failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The writer thread failed.
    #[error("{0}")]
    Writer(String),
}

/// What every handler shares.
pub struct AppState {
    /// The ledger's keys, for answers that show names.
    keys: arl_privacy::KeyHome,
    /// The ledger's evidence store (checkpoint key, stream map, checkpoints).
    evidence: arl_query::evidence::EvidenceHome,
    /// Held while a checkpoint or a bundle writes the evidence store's files.
    evidence_store: Arc<std::sync::Mutex<()>>,
    /// Where the log is (for `POST /v1/verify?views_only=true`).
    source: arl_views::LogSource,
    writer: writer::WriterHandle,
    auth: Authenticator,
    limits: Limits,
    metrics: Metrics,
    subscriptions: AtomicUsize,
    shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// The identity of the request's bearer token, if its role allows `need`.
    fn authorize(&self, headers: &HeaderMap, need: Need) -> Result<Identity, ApiError> {
        self.authorize_header(headers.get(header::AUTHORIZATION), need)
    }

    /// [`AppState::authorize`] of the request's `Authorization` header, if it has one.
    fn authorize_header(
        &self,
        value: Option<&HeaderValue>,
        need: Need,
    ) -> Result<Identity, ApiError> {
        let unauthorized = |why: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why.to_string())
                .with_fix("send Authorization: Bearer TOKEN with a live token (arl token add NAME --role ROLE)")
        };
        let Some(value) = value else {
            return Err(unauthorized("no bearer token"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header is not \"Bearer TOKEN\""))?;
        let who = self
            .auth
            .identify(token)
            .map_err(|e| ApiError::internal(e.to_string()))?
            .ok_or_else(|| unauthorized("unknown or revoked token"))?;
        if !who.role.allows(need) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token {:?} has role {}, which may not do this",
                    who.name,
                    who.role.as_str()
                ),
            )
            .with_fix(format!(
                "use a token with role {}",
                need.roles().join(" or ")
            )));
        }
        Ok(who)
    }
}

/// Every route: (method, path as in the OpenAPI document).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/accounts"),
    ("GET", "/v1/accounts/{id}"),
    ("GET", "/v1/accounts/{id}/team"),
    ("GET", "/v1/accounts/{id}/team/timeline"),
    ("GET", "/v1/accounts/{id}/contacts"),
    ("GET", "/v1/accounts/{id}/txns"),
    ("GET", "/v1/accounts/{id}/history"),
    ("GET", "/v1/accounts/{id}/diff"),
    ("GET", "/v1/people/{id}/portfolio"),
    ("GET", "/v1/org"),
    ("GET", "/v1/balances"),
    ("GET", "/v1/log"),
    ("GET", "/v1/checkpoint"),
    ("GET", "/v1/evidence/{command}/{id}"),
    ("GET", "/v1/digest"),
    ("GET", "/v1/whoami"),
    ("GET", "/v1/proof/{seq}"),
    ("POST", "/v1/verify"),
    ("GET", "/v1/export"),
    ("GET", "/v1/events"),
    ("POST", "/v1/events"),
    ("POST", "/v1/erase"),
];

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .route("/v1/openapi.json", get(routes::openapi))
        .route("/v1/accounts", get(routes::accounts))
        .route("/v1/accounts/{id}", get(routes::account))
        .route("/v1/accounts/{id}/team", get(routes::team))
        .route(
            "/v1/accounts/{id}/team/timeline",
            get(routes::team_timeline),
        )
        .route("/v1/accounts/{id}/contacts", get(routes::contacts))
        .route("/v1/accounts/{id}/txns", get(routes::txns))
        .route("/v1/accounts/{id}/history", get(routes::history))
        .route("/v1/accounts/{id}/diff", get(routes::diff))
        .route("/v1/people/{id}/portfolio", get(routes::portfolio))
        .route("/v1/org", get(routes::org))
        .route("/v1/balances", get(routes::balances))
        .route("/v1/log", get(routes::log))
        .route("/v1/checkpoint", get(routes::checkpoint))
        .route("/v1/evidence/{command}/{id}", get(routes::evidence))
        .route("/v1/digest", get(routes::digest))
        .route("/v1/whoami", get(routes::whoami))
        .route("/v1/proof/{seq}", get(routes::proof))
        .route("/v1/verify", post(routes::verify))
        .route("/v1/export", get(routes::export))
        .route("/v1/events", get(routes::events).post(routes::append))
        .route("/v1/erase", post(routes::erase))
        .fallback(routes::page)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), min_seq))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Bounds the time to the response's head, counts the request and logs it (method, route,
/// status, time; never a token).
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method: Method = request.method().clone();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let limit = state.limits.request_timeout;
    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!(
                "the request took over {} s (--request-timeout-secs)",
                limit.as_secs_f64()
            ),
        )
        .with_fix("narrow the question or retry")
        .into_response(),
    };
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state
        .metrics
        .record(method.as_str(), route, status, seconds);
    tracing::info!(%method, %route, status, ms = seconds * 1000.0, "request");
    response
}

/// Holds a request with `min_seq=N` until this node has applied seq N (its published
/// head), up to [`MIN_SEQ_WAIT`]; then answers 503 `min_seq_not_reached`.
async fn min_seq(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    // A query string that does not decode is the handler's to refuse (`Params::parse`);
    // one that does not name the parameter is not decoded here (most requests).
    let wanted = request
        .uri()
        .query()
        .filter(|q| q.contains(MIN_SEQ_PARAM) || q.contains('%'))
        .and_then(|q| params::query_pairs(q).ok())
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(name, _)| name == MIN_SEQ_PARAM)
                .map(|(_, value)| value)
        });
    let Some(wanted) = wanted else {
        return next.run(request).await;
    };
    let Ok(wanted) = wanted.parse::<u64>() else {
        return ApiError::bad_request(
            "bad_parameter",
            format!("{MIN_SEQ_PARAM}={wanted:?}: not a seq (a whole number)"),
        )
        .into_response();
    };
    let mut applied = state.writer.shared.applied();
    let reached = tokio::time::timeout(MIN_SEQ_WAIT, applied.wait_for(|seq| *seq >= wanted))
        .await
        .is_ok_and(|r| r.is_ok());
    if !reached {
        let at = *applied.borrow();
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "min_seq_not_reached",
            format!(
                "this node has applied the log up to seq {at}, not yet the {MIN_SEQ_PARAM} {wanted} asked for (waited {} s)",
                MIN_SEQ_WAIT.as_secs()
            ),
        )
        .with_fix("retry, or ask the node that took the append")
        .into_response();
    }
    next.run(request).await
}

/// The follower thread of a node over a shared log: listens for every node's commits
/// and asks the writer to catch up on each notice, every [`FOLLOW_POLL`] without one, and
/// after each reconnection (notices may have been missed); reconnects by itself, pausing
/// longer after each failure. Ends when the writer is gone.
fn follow(store: &dyn arl_log::SharedStore, writer: &writer::WriterHandle) {
    let mut pause = Duration::from_millis(100);
    loop {
        let mut follower = match store.follower() {
            Ok(follower) => follower,
            Err(e) => {
                tracing::warn!(error = %e, "following the shared log: reconnecting");
                std::thread::sleep(pause);
                pause = (pause * 2).min(FOLLOW_RECONNECT_MAX);
                if !writer.request_sync() {
                    return;
                }
                continue;
            }
        };
        pause = Duration::from_millis(100);
        loop {
            if !writer.request_sync() {
                return;
            }
            if let Err(e) = follower.wait(FOLLOW_POLL) {
                tracing::warn!(error = %e, "following the shared log: connection lost");
                break;
            }
        }
    }
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    writer: std::thread::JoinHandle<()>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    /// Opens the ledger (taking its exclusive lock), starts the writer and binds.
    pub async fn bind(config: Config) -> Result<Server, ServeError> {
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        if !config.listen.ip().is_loopback() && !config.insecure_listen && tls.is_none() {
            return Err(ServeError::NotLoopback {
                addr: config.listen,
            });
        }
        let dir = config.dir.clone();
        let timeout = config.lock_timeout;
        let source = config.source.clone();
        let ledger =
            tokio::task::spawn_blocking(move || arl_views::Ledger::open_in(&dir, timeout, source))
                .await
                .map_err(|e| ServeError::Writer(e.to_string()))?
                .map_err(|source| ServeError::Ledger {
                    dir: config.dir.clone(),
                    source,
                })?;
        let auth = Authenticator::new(&config.dir)?;
        // A directory log is read by queries through handles of their own; a shared store's
        // through the writer.
        let log_dir = match &config.source {
            arl_views::LogSource::Dir => Some(config.dir.join(arl_views::LOG_DIR)),
            arl_views::LogSource::Shared(_) => None,
        };
        let (writer, thread) = writer::start(
            ledger,
            config.keys.clone(),
            config.limits.group_events_max,
            log_dir,
        )
        .map_err(|e| ServeError::Writer(e.error))?;
        if let arl_views::LogSource::Shared(store) = &config.source {
            let (store, handle) = (store.clone(), writer.clone());
            std::thread::Builder::new()
                .name("arl-follower".into())
                .spawn(move || follow(store.as_ref(), &handle))
                .map_err(|e| ServeError::Writer(format!("starting the follower thread: {e}")))?;
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Io {
                what: format!("listening on {}", config.listen),
                source,
            })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = Arc::new(AppState {
            keys: config.keys.clone(),
            evidence: arl_query::evidence::EvidenceHome::new(&config.dir),
            evidence_store: Arc::default(),
            source: config.source.clone(),
            writer,
            auth,
            limits: config.limits,
            metrics: Metrics::default(),
            subscriptions: AtomicUsize::new(0),
            shutdown: shutdown_rx,
        });
        Ok(Server {
            listener,
            state,
            shutdown,
            writer: thread,
            tls,
        })
    }

    /// The address bound (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener.local_addr().map_err(|source| ServeError::Io {
            what: "reading the bound address".into(),
            source,
        })
    }

    /// Serves until `stop` completes; then stops accepting, lets open requests finish (up
    /// to [`SHUTDOWN_GRACE_S`]; streams end with a line saying where to resume), lets the
    /// writer commit what it was given, and returns.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> Result<(), ServeError> {
        let Server {
            listener,
            state,
            shutdown,
            writer,
            tls,
        } = self;
        let app = router(state.clone());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let open = Arc::new(tokio::sync::Semaphore::new(state.limits.connections_max));
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut stop => break,
            };
            let (socket, _) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = open.clone().try_acquire_owned() else {
                state
                    .metrics
                    .refused_connections
                    .fetch_add(1, Ordering::Relaxed);
                tokio::spawn(refuse(socket, state.limits.connections_max));
                continue;
            };
            let _ = socket.set_nodelay(true);
            let watcher = graceful.watcher();
            let app = app.clone();
            let tls = tls.clone();
            let timeout = state.limits.header_read_timeout;
            let metrics_state = state.clone();
            metrics_state
                .metrics
                .open_connections
                .fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                match tls {
                    None => serve_connection(socket, app, timeout, watcher).await,
                    // The handshake has the time a request's head has.
                    Some(acceptor) => {
                        match tokio::time::timeout(timeout, acceptor.accept(socket)).await {
                            Ok(Ok(stream)) => serve_connection(stream, app, timeout, watcher).await,
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    }
                }
                metrics_state
                    .metrics
                    .open_connections
                    .fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        }
        drop(listener);
        let _ = shutdown.send(true);
        tracing::info!("stopping: no new connections; finishing open requests");
        if tokio::time::timeout(Duration::from_secs(SHUTDOWN_GRACE_S), graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "open requests did not finish within {SHUTDOWN_GRACE_S} s; closing them"
            );
        }
        // The writer commits what was queued before this and stops; requests still
        // waiting after it fail with 503 (nothing of theirs is written).
        state.writer.stop().await;
        drop(app);
        drop(state);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(|e| ServeError::Writer(e.to_string()))?
            .map_err(|_| ServeError::Writer("the writer thread panicked".into()))
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS) until it closes or the server stops.
async fn serve_connection<I>(
    io: I,
    app: Router,
    header_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let _ = watcher.watch(connection).await;
}

/// The TLS acceptor of a certificate chain and key (rustls, ring, TLS 1.2 and 1.3).
fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{crypto, ServerConfig};
    let bad = |what: &Path, e: &dyn std::fmt::Display| {
        ServeError::Tls(format!("{}: {e}", what.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad(&files.cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&files.cert, &e))?;
    if certs.is_empty() {
        return Err(bad(&files.cert, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(&files.key, &e))?;
    let provider = Arc::new(crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&files.key, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Answers a connection over the limit with a 429 and closes it.
async fn refuse(mut socket: tokio::net::TcpStream, max: usize) {
    use tokio::io::AsyncWriteExt;
    let body = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_connections",
        format!("{max} connections are open, the most this server allows (--connections-max)"),
    )
    .with_fix("retry later, or reuse a keep-alive connection")
    .body();
    let head = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        socket.write_all(head.as_bytes()).await?;
        socket.write_all(body.as_bytes()).await?;
        socket.shutdown().await
    })
    .await;
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Serves `config` until SIGTERM or Ctrl-C; `ready` gets the bound address once listening.
pub fn serve_blocking(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("arl-http")
        .build()
        .map_err(|source| ServeError::Io {
            what: "starting the runtime".into(),
            source,
        })?;
    runtime.block_on(async move {
        let server = Server::bind(config).await?;
        ready(server.local_addr()?);
        server.run(shutdown_signal()).await
    })
}

/// The tokens file of ledger `dir`.
pub fn tokens_path(dir: &Path) -> PathBuf {
    dir.join(tokens::TOKENS_FILE)
}
