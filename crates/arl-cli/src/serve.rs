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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
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
    arl_server::serve_blocking(config, |addr| {
        // The one line a script waits for (the port, when --listen asked for port 0).
        let _ = out::emit_line(&format!("arl: serving {dir} on {scheme}://{addr}"));
    })
    .map_err(|e| match e {
        arl_server::ServeError::NotLoopback { .. } => failure::usage(e.to_string()),
        other => failure::error(other.to_string()),
    })
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
