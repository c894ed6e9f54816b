//! Streams of envelopes: `GET /v1/events` (a subscription: catch-up from a seq, then, with
//! `follow=true`, each envelope as its commit lands) and `GET /v1/export`.
//!
//! A stream's task reads the log in chunks through the log handle published with the last
//! commit (never waiting for the writer), then
//! follows the writer's broadcast of committed envelopes. It subscribes to the broadcast
//! before it catches up, and tracks the next seq it owes, so nothing is lost or sent twice;
//! when it lags behind the broadcast it catches up from the log again. What it sends goes
//! through a bounded buffer: a client that stops reading holds at most that many envelopes
//! of the server's memory, and after `subscriber_stall` without progress it is dropped with
//! a last line saying where to resume.

use crate::error::ApiError;
use crate::AppState;
use arl_log::Envelope;
use arl_query::export::{envelope_csv_row, envelope_line, EnvelopeFilter, ENVELOPE_CSV_HEADER};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Envelopes read from the log per blocking read.
pub const CATCH_UP_CHUNK: u64 = 2048;
/// Seconds between SSE keep-alive comments on an idle subscription.
pub const SSE_KEEPALIVE_S: u64 = 15;

/// How the envelopes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// JSON Lines, exactly as `arl export` writes them.
    Lines,
    /// Server-Sent Events: `id: SEQ`, `event: envelope`, `data: LINE`.
    Sse,
    /// CSV rows with a header, as `arl export --format csv`.
    Csv,
}

/// What a stream sends.
#[derive(Debug, Clone)]
pub struct StreamRequest {
    pub from_seq: u64,
    /// Stop after this seq (catch-up only); `None` with `follow`.
    pub until: Option<u64>,
    pub follow: bool,
    pub filter: EnvelopeFilter,
    pub wire: Wire,
}

/// Decrements the open-subscription count when the stream ends.
struct SlotGuard(Arc<AppState>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.subscriptions.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Opens a stream: takes a subscription slot (429 when none is free), starts its task and
/// returns the streaming response.
pub fn open(state: &Arc<AppState>, request: StreamRequest) -> Result<Response, ApiError> {
    let max = state.limits.subscriptions_max;
    let taken = state.subscriptions.fetch_add(1, Ordering::SeqCst);
    let guard = SlotGuard(state.clone());
    if taken >= max {
        drop(guard);
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_subscriptions",
            format!("{max} streams are open, the most this server allows (--subscriptions-max)"),
        )
        .with_fix("close another stream or retry later"));
    }
    let (sender, receiver) = mpsc::channel::<Bytes>(state.limits.subscriber_buffer.max(1));
    let last: Arc<Mutex<Option<Bytes>>> = Arc::new(Mutex::new(None));
    let wire = request.wire;
    let live = state.writer.committed.subscribe();
    let task_last = last.clone();
    tokio::spawn(async move {
        let mut pump = Pump {
            state: guard.0.clone(),
            sender,
            next: request.from_seq.max(1),
            request,
        };
        if let Some(message) = pump.run(live).await {
            *task_last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(message);
        }
        drop(guard);
    });
    let body = futures_util::stream::unfold(
        (receiver, last, false),
        |(mut receiver, last, done)| async move {
            if done {
                return None;
            }
            if let Some(bytes) = receiver.recv().await {
                Some((Ok::<_, std::io::Error>(bytes), (receiver, last, false)))
            } else {
                let message = last
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()?;
                Some((Ok(message), (receiver, last, true)))
            }
        },
    );
    let content_type = match wire {
        Wire::Lines => "application/x-ndjson",
        Wire::Sse => "text/event-stream",
        Wire::Csv => "text/csv; charset=utf-8",
    };
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Why a stream ended early.
enum Stop {
    /// The client went away: nothing more to say.
    Gone,
    /// Say this as the last line.
    Say(Bytes),
}

struct Pump {
    state: Arc<AppState>,
    sender: mpsc::Sender<Bytes>,
    request: StreamRequest,
    /// The next seq owed to the client.
    next: u64,
}

impl Pump {
    /// Runs the stream; returns the last line to send, if any.
    async fn run(
        &mut self,
        mut live: broadcast::Receiver<Arc<crate::writer::Committed>>,
    ) -> Option<Bytes> {
        if self.request.wire == Wire::Csv {
            let header: Vec<String> = ENVELOPE_CSV_HEADER
                .iter()
                .map(|s| (*s).to_string())
                .collect();
            let header = csv_line(&header);
            if let Err(stop) = self.send(header).await {
                return stop_line(stop);
            }
        }
        let until = self.request.until;
        if let Err(stop) = self.catch_up(until).await {
            return stop_line(stop);
        }
        if !self.request.follow {
            return None;
        }
        match self.follow(&mut live).await {
            Ok(()) => None,
            Err(stop) => stop_line(stop),
        }
    }

    async fn follow(
        &mut self,
        live: &mut broadcast::Receiver<Arc<crate::writer::Committed>>,
    ) -> Result<(), Stop> {
        let mut shutdown = self.state.shutdown.clone();
        let keepalive = Duration::from_secs(SSE_KEEPALIVE_S);
        loop {
            if *shutdown.borrow() {
                return Err(self.goodbye("the server is shutting down"));
            }
            tokio::select! {
                received = live.recv() => match received {
                    Ok(committed) => self.deliver(&committed.envelopes).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(None).await?,
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(self.goodbye("the server's writer stopped"));
                    }
                },
                _ = shutdown.changed() => {
                    return Err(self.goodbye("the server is shutting down"));
                }
                _ = tokio::time::sleep(keepalive), if self.request.wire == Wire::Sse => {
                    self.send(Bytes::from_static(b": keep-alive\n\n")).await?;
                }
            }
        }
    }

    /// Sends what a commit carried from `next` on; a gap (a commit this task never saw)
    /// is filled from the log first.
    async fn deliver(&mut self, envelopes: &[Envelope]) -> Result<(), Stop> {
        let Some(first) = envelopes.first() else {
            return Ok(());
        };
        if first.seq > self.next {
            self.catch_up(Some(first.seq - 1)).await?;
        }
        for e in envelopes {
            if e.seq < self.next {
                continue;
            }
            debug_assert_eq!(e.seq, self.next);
            self.emit(e).await?;
        }
        Ok(())
    }

    /// Sends every envelope from `next` up to `until` (default: the head when read), in
    /// chunks read from the published log.
    async fn catch_up(&mut self, until: Option<u64>) -> Result<(), Stop> {
        loop {
            let from = self.next;
            let last = until
                .unwrap_or(u64::MAX)
                .min(from.saturating_add(CATCH_UP_CHUNK - 1));
            if from > last {
                return Ok(());
            }
            let chunk = self
                .state
                .writer
                .read_log(move |log, _| log.range(from, last).collect::<Result<Vec<_>, _>>())
                .await;
            let chunk = match chunk {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => return Err(self.error_line(&ApiError::internal(e.to_string()))),
                Err(e) => return Err(self.error_line(&e)),
            };
            if chunk.is_empty() {
                return Ok(());
            }
            for e in &chunk {
                self.emit(e).await?;
            }
        }
    }

    async fn emit(&mut self, e: &Envelope) -> Result<(), Stop> {
        debug_assert!(e.seq >= self.next);
        if !self.request.filter.accepts(e) {
            self.next = e.seq + 1;
            return Ok(());
        }
        let bytes = match self.request.wire {
            Wire::Lines => Bytes::from(format!("{}\n", envelope_line(e))),
            Wire::Sse => Bytes::from(format!(
                "id: {}\nevent: envelope\ndata: {}\n\n",
                e.seq,
                envelope_line(e)
            )),
            Wire::Csv => csv_line(&envelope_csv_row(e)),
        };
        // Owed until it is in the client's buffer: a stream that ends here resumes at it.
        self.send(bytes).await?;
        self.next = e.seq + 1;
        Ok(())
    }

    /// Sends through the bounded buffer, waiting at most `subscriber_stall` for room.
    async fn send(&self, bytes: Bytes) -> Result<(), Stop> {
        let stall = self.state.limits.subscriber_stall;
        match tokio::time::timeout(stall, self.sender.send(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => {
                self.state
                    .metrics
                    .dropped_subscribers
                    .fetch_add(1, Ordering::Relaxed);
                Err(self.goodbye(&format!(
                    "dropped: the client read nothing for {} s while {} envelopes waited",
                    stall.as_secs_f64(),
                    self.state.limits.subscriber_buffer
                )))
            }
        }
    }

    /// The last line of a stream that ends early: why, and where to resume.
    fn goodbye(&self, why: &str) -> Stop {
        let error = ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "stream_ended",
            why.to_string(),
        )
        .with_fix(format!("reconnect with from_seq={}", self.next));
        self.error_line(&error)
    }

    fn error_line(&self, error: &ApiError) -> Stop {
        let mut value = serde_json::to_value(error).unwrap_or_default();
        value["resume_from_seq"] = self.next.into();
        let text = value.to_string();
        Stop::Say(Bytes::from(match self.request.wire {
            Wire::Sse => format!("event: error\ndata: {text}\n\n"),
            _ => format!("{text}\n"),
        }))
    }
}

fn stop_line(stop: Stop) -> Option<Bytes> {
    match stop {
        Stop::Gone => None,
        Stop::Say(bytes) => Some(bytes),
    }
}

fn csv_line(row: &[String]) -> Bytes {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(row);
    Bytes::from(writer.into_inner().unwrap_or_default())
}
