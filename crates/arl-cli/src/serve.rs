//! `arl serve` (wiring to arl-server, log lines on standard error) and `arl token`.

use crate::cli::{Format, RoleArg, ServeArgs, TokenAction, TokenArgs};
use crate::failure;
use crate::ledger::Ctx;
use crate::out;
use anyhow::Result;
use arl_server::tokens::{self, Role};
use std::time::Duration;

/// `arl serve`: serves until SIGTERM or Ctrl-C, then exits 0 once open requests are done.
pub fn serve(ctx: &Ctx, args: &ServeArgs) -> Result<()> {
    let filter = std::env::var("ARL_LOG")
        .unwrap_or_else(|_| if ctx.quiet { "warn" } else { "info" }.to_string());
    let lines = LogLines::start();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(lines.clone())
        .with_ansi(false)
        .try_init();
    // Each limit is at least 1: the flags' parsers refuse 0 (cli.rs).
    let limits = arl_server::Limits {
        body_bytes_max: args.body_bytes_max,
        batch_lines_max: args.batch_lines_max,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        subscriptions_max: args.subscriptions_max,
        subscriber_buffer: args.subscriber_buffer,
        subscriber_stall: Duration::from_secs(args.subscriber_stall_secs),
        connections_max: args.connections_max,
        group_events_max: args.group_events_max,
        header_read_timeout: Duration::from_secs(args.header_timeout_secs),
        log_rows_max: args.log_rows_max,
    };
    let config = arl_server::Config {
        dir: ctx.dir.clone(),
        listen: args.listen,
        insecure_listen: args.insecure_listen,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(arl_server::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        lock_timeout: ctx.lock_timeout,
        limits,
        source: ctx.source.clone(),
        keys: ctx.keys.clone(),
    };
    let dir = crate::ledger::shown(&ctx.dir);
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let served = arl_server::serve_blocking(config, |addr| {
        // The one line a script waits for (the port, when --listen asked for port 0).
        let _ = out::emit_line(&format!("arl: serving {dir} on {scheme}://{addr}"));
    });
    lines.flush(Duration::from_secs(5));
    served.map_err(|e| match e {
        arl_server::ServeError::NotLoopback { .. } => failure::usage(e.to_string()),
        other => failure::error(other.to_string()),
    })
}

/// Log lines written to standard error by a thread of their own: a request formats its
/// line and hands it over; the thread writes every line waiting in one `write`, then
/// rests [`LOG_LINES_PAUSE`], so a server under load makes a hundred writes a second at
/// most instead of one per request. Lines are never dropped: when [`LOG_LINES_WAITING`]
/// wait, the next request waits its turn.
#[derive(Clone)]
struct LogLines {
    sender: std::sync::mpsc::SyncSender<LogMessage>,
}

/// Lines waiting for the log thread before a request that logs waits.
const LOG_LINES_WAITING: usize = 8_192;

/// How long the log thread rests after a write: the most a line waits under load.
const LOG_LINES_PAUSE: Duration = Duration::from_millis(10);

enum LogMessage {
    Line(Vec<u8>),
    /// Write what came before, then answer.
    Flush(std::sync::mpsc::SyncSender<()>),
}

impl LogLines {
    fn start() -> LogLines {
        let (sender, receiver) = std::sync::mpsc::sync_channel(LOG_LINES_WAITING);
        let spawned = std::thread::Builder::new()
            .name("arl-log-lines".into())
            .spawn(move || write_log_lines(&receiver));
        if let Err(e) = spawned {
            // Without the thread every line is lost (its channel is closed): say so once.
            eprintln!("arl: no thread for log lines ({e}); serving without them");
        }
        LogLines { sender }
    }

    /// Waits up to `limit` for the lines logged so far to be written.
    fn flush(&self, limit: Duration) {
        let (done, written) = std::sync::mpsc::sync_channel(1);
        if self.sender.send(LogMessage::Flush(done)).is_ok() {
            let _ = written.recv_timeout(limit);
        }
    }
}

fn write_log_lines(receiver: &std::sync::mpsc::Receiver<LogMessage>) {
    use std::io::Write;
    let mut batch = Vec::new();
    while let Ok(first) = receiver.recv() {
        let mut flushed = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                LogMessage::Line(line) => batch.extend_from_slice(&line),
                LogMessage::Flush(done) => flushed.push(done),
            }
            next = receiver.try_recv().ok();
        }
        // Standard error gone (a closed pipe): nothing else to tell it to.
        let _ = std::io::stderr().lock().write_all(&batch);
        batch.clear();
        for done in flushed {
            let _ = done.send(());
        }
        // Lines sent while this thread sleeps do not wake it (a wake is a system call and
        // a switch of threads per line): under load they wait here and go out together.
        std::thread::sleep(LOG_LINES_PAUSE);
    }
}

/// One log line, handed to the log thread when tracing is done writing it.
struct LogLine<'a> {
    sender: &'a std::sync::mpsc::SyncSender<LogMessage>,
    bytes: Vec<u8>,
}

impl std::io::Write for LogLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine<'_> {
    fn drop(&mut self) {
        if !self.bytes.is_empty() {
            let line = std::mem::take(&mut self.bytes);
            let _ = self.sender.send(LogMessage::Line(line));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> LogLine<'a> {
        LogLine {
            sender: &self.sender,
            bytes: Vec::new(),
        }
    }
}

fn role(arg: RoleArg) -> Role {
    match arg {
        RoleArg::Reader => Role::Reader,
        RoleArg::Auditor => Role::Auditor,
        RoleArg::Writer => Role::Writer,
        RoleArg::Admin => Role::Admin,
    }
}

/// `arl token add|list|revoke`.
pub fn token(ctx: &Ctx, args: &TokenArgs) -> Result<()> {
    let tokens_error = |e: tokens::TokenError| failure::error(e.to_string());
    match &args.action {
        TokenAction::Add { name, role: r } => {
            let token = tokens::add(&ctx.dir, name, role(*r)).map_err(tokens_error)?;
            out::emit_line(&token)?;
            out::note(
                ctx.quiet,
                &format!(
                    "token {name:?} ({}) made; it is shown only now: keep it (ARL_TOKEN=...)",
                    role(*r).as_str()
                ),
            );
            Ok(())
        }
        TokenAction::List { format } => {
            let list = tokens::list(&ctx.dir).map_err(tokens_error)?;
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.role.as_str().to_string(),
                        t.created_at.clone(),
                        t.revoked_at.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let header = ["name", "role", "created_at", "revoked_at"];
            match format {
                Format::Json => {
                    let values: Vec<serde_json::Value> = list
                        .iter()
                        .map(|t| {
                            serde_json::json!({"name": t.name, "role": t.role.as_str(), "created_at": t.created_at, "revoked_at": t.revoked_at})
                        })
                        .collect();
                    out::emit_json(&values)
                }
                Format::Csv => out::emit_csv(&header, &rows),
                Format::Table => {
                    let mut table = out::table(&header);
                    for row in rows {
                        table.add_row(row);
                    }
                    out::emit_table(&table)
                }
            }
        }
        TokenAction::Revoke { name } => {
            tokens::revoke(&ctx.dir, name).map_err(tokens_error)?;
            out::note(ctx.quiet, &format!("token {name:?} revoked"));
            Ok(())
        }
    }
}
