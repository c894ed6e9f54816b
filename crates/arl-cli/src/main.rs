//! `arl`: the command line of the account relationship ledger.
//!
//! Thin by design: argument parsing (clap), wiring to the crates that answer, and output
//! formatting. Data goes to standard output, messages to standard error; exit codes are
//! 0 success, 1 an error, 2 a usage error, 3 an integrity failure (contract §7); a panic
//! is a bug, reported as an internal error with exit code 1 (`failure::guarded`).
//! Every command is described, with an example, in `docs/CLI.md`.

mod alloc;
mod append;
mod batches;
mod cli;
mod client;
mod demo;
mod evidence;
mod failure;
mod graph;
mod history;
mod integrity;
mod ledger;
mod logcmd;
mod out;
mod pgkeys;
mod privacy;
mod query;
mod serve;
mod tls;

use clap::Parser;

/// A faster allocator than the system's for the many small strings of events and rows.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use cli::{Cli, Command};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) && !STARTED_SMALL.load(Ordering::Relaxed) {
        let _ = rustix::thread::disable_transparent_huge_pages(false);
    }
    failure::report_panics_as_internal_errors();
    ExitCode::from(failure::guarded(|| run(cli)))
}

/// Whether the process was started with transparent huge pages off (its parent's setting).
static STARTED_SMALL: AtomicBool = AtomicBool::new(true);

/// Run by the loader before anything of the program, and so before its first allocation:
/// the runtime allocates before `main` (the main thread's name), and that first allocation
/// reserves the allocator's arena and touches it. Linux only (where the setting exists);
/// the function itself is safe, calls only system calls and allocates nothing.
#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "a function run by the loader at start; it only makes two system calls"
)]
#[used]
#[link_section = ".init_array"]
static SMALL_PAGES_AT_START: extern "C" fn() = small_pages;

/// Asks the kernel not to back this process's memory with transparent huge pages. The
/// allocator reserves one large arena and asks for huge pages on it; the first touch of
/// each 2 MiB of that arena then makes all of it resident and zeroes it, which doubled the
/// resident memory of a one-event `arl append` at 1M events (about 30 MB instead of 17–19)
/// and, done before `main` for the runtime's first allocation, was a tenth of its CPU time
/// (two 2 MiB pages zeroed). Short commands touch little memory and gain nothing from huge
/// pages; the server, which lives long and keeps its heap, turns them back on once its
/// arguments are parsed, unless its parent had them off. Nothing to do where the kernel
/// has no such setting. Allocates nothing: it runs before the runtime is set up.
extern "C" fn small_pages() {
    let already = rustix::thread::transparent_huge_pages_are_disabled().unwrap_or(true);
    STARTED_SMALL.store(already, Ordering::Relaxed);
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let demo_dir = match &cli.command {
        Command::Demo(_) => Some(
            cli.ledger
                .clone()
                .unwrap_or_else(|| cli::DEMO_LEDGER_DEFAULT.into()),
        ),
        _ => None,
    };
    let ctx = ledger::Ctx::new(
        demo_dir.or(cli.ledger),
        cli.lock_timeout,
        cli.quiet,
        cli.store.as_deref(),
    )?;
    match (&cli.command, &cli.server) {
        (Command::Serve(args), _) => return serve::serve(&ctx, args),
        (Command::Token(args), _) => return serve::token(&ctx, args),
        (Command::Subscribe(_), None) => {
            return Err(failure::usage(
                "arl subscribe follows a server: give --server URL (or ARL_SERVER) and ARL_TOKEN",
            ))
        }
        (Command::Demo(_), _) => {}
        (command, Some(url)) => {
            return client::run(
                &client::Client::new(url, cli.ca_cert.as_deref())?,
                command,
                cli.quiet,
            );
        }
        _ => {}
    }
    if let Some(request) = evidence::request(&cli.command) {
        privacy::answer_as_stored();
        evidence::write_bundle(&ctx, &request)?;
    }
    match &cli.command {
        Command::Append(args) => append::run(&ctx, args),
        Command::Log(args) => logcmd::log(&ctx, args),
        Command::Export(args) => logcmd::export(&ctx, args),
        Command::Erase(args) => privacy::erase(&ctx, args),
        Command::Account(args) => query::account(&ctx, args),
        Command::Accounts(args) => query::accounts(&ctx, args),
        Command::Team(args) if args.timeline => query::timeline(&ctx, args),
        Command::Team(args) => query::team(&ctx, &args.account),
        Command::Portfolio(args) => query::portfolio(&ctx, args),
        Command::Org(args) => query::org(&ctx, args),
        Command::Contacts(args) => query::contacts(&ctx, args),
        Command::Txns(args) => query::txns(&ctx, args),
        Command::Balance(args) => query::balance(&ctx, args),
        Command::History(args) => history::history(&ctx, args),
        Command::Diff(args) => history::diff(&ctx, args),
        Command::Replay(args) => integrity::replay(&ctx, args),
        Command::Upgrade(args) => integrity::upgrade(&ctx, args),
        Command::Verify(args) => {
            integrity::verify(&ctx, args)?;
            evidence::verify_checkpoint(&ctx, args)
        }
        Command::Digest => integrity::digest(&ctx),
        Command::Copy(args) => logcmd::copy(&ctx, args),
        Command::Proof(args) => integrity::proof(&ctx, args),
        Command::Key(args) => evidence::key(&ctx, args),
        Command::Checkpoint(args) => evidence::checkpoint(&ctx, args),
        Command::Evidence(args) => evidence::evidence(&ctx, args),
        Command::Demo(args) => demo::run(&ctx, args),
        Command::Serve(_) | Command::Token(_) | Command::Subscribe(_) => {
            unreachable!("handled before the ledger is opened")
        }
    }
}
