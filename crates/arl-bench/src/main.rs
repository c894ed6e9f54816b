//! `arl-bench`: arl against an SQLite events table, on the same generated history.
//!
//! One run generates a history with `arl-gen`, imports it into an arl ledger and into an
//! SQLite table, then times the same questions on both, checks that both give the same
//! answers, and prints a table (or, with `--json`, one JSON object). `--scale` repeats the
//! run at several sizes and states how each measure grows. See `docs/PERFORMANCE.md`.

mod arl_side;
mod http_load;
mod peer;
mod peer_fold;
mod process;
mod report;
mod run;
mod stats;
mod workload;

use anyhow::Result;

/// A faster allocator than the system's for the many small strings of events and rows.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "arl against an SQLite events table, on the same generated history"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Open a ledger's views and print an account's card at the latest point (what
    /// `arl account X --format json` does), for timing a whole process.
    ArlQuery {
        #[arg(long)]
        ledger: PathBuf,
        #[arg(long)]
        account: String,
    },
    /// Load a running `arl serve` (cards at random points, single appends, concurrent
    /// appenders) from keep-alive clients; prints one JSON object.
    HttpLoad {
        #[arg(long)]
        url: String,
        /// A token whose role allows the mode (admin for all).
        #[arg(long)]
        token: String,
        #[arg(long, value_enum)]
        mode: http_load::Mode,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Appends of `--mode append`.
        #[arg(long, default_value_t = 2000)]
        count: u64,
        /// `--mode mixed`: the server's process id, whose VmRSS is sampled every
        /// `--sample-secs` seconds.
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long, default_value_t = 10.0)]
        sample_secs: f64,
    },
    /// Open the peer's SQLite file and print an account's card at the latest point.
    PeerQuery {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        account: String,
    },
    /// Insert one line (standard input) into the peer's SQLite file as one durable
    /// transaction, for timing a whole process.
    PeerAppend {
        #[arg(long)]
        db: PathBuf,
    },
    /// Measures 6c and 6d alone, on a ledger and a peer file a run kept (`--dir`): one-event
    /// `arl append` processes of the binary `--arl`, beside one-row INSERT processes.
    AppendProcess {
        #[arg(long)]
        ledger: PathBuf,
        #[arg(long)]
        db: PathBuf,
        /// The `arl` binary to time.
        #[arg(long)]
        arl: PathBuf,
        /// An open account of the ledger.
        #[arg(long)]
        account: String,
        #[arg(long, default_value_t = 20)]
        runs: u64,
    },
    /// Measure 6 alone, on a ledger and a peer file a run kept (`--dir`): `--appends`
    /// in-process `Ledger::append` calls of one event each (a new transaction on
    /// `--account`), beside one-row INSERTs into the peer's file.
    AppendInProcess {
        #[arg(long)]
        ledger: PathBuf,
        #[arg(long)]
        db: PathBuf,
        /// An open account of the ledger.
        #[arg(long)]
        account: String,
        #[arg(long, default_value_t = 300)]
        appends: u64,
    },
}

/// What a benchmark run does.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Events in the generated history.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Seed of the generated history and of the random points.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Lines per arl import batch (one durable append each).
    #[arg(long, default_value_t = 100_000)]
    pub batch: usize,
    /// Random (as-of, known-at) points for cards and teams.
    #[arg(long, default_value_t = 1_000)]
    pub points: u64,
    /// Single durable appends.
    #[arg(long, default_value_t = 1_000)]
    pub appends: u64,
    /// Repeats of the balance queries.
    #[arg(long, default_value_t = 5)]
    pub repeats: u64,
    /// Repeats of verify, rebuild and opening the ledger for writing.
    #[arg(long, default_value_t = 3)]
    pub heavy_repeats: u64,
    /// Runs of the query as a whole process.
    #[arg(long, default_value_t = 20)]
    pub process_runs: u64,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Run at each of these sizes (events, comma-separated) and state the growth.
    #[arg(long, value_delimiter = ',', num_args = 0..=1,
          default_missing_value = "100000,1000000,4000000")]
    pub scale: Option<Vec<u64>>,
    /// Directory to build the ledger and the SQLite file in (default: a fresh temporary
    /// directory, removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::ArlQuery { ledger, account }) => {
            println!("{}", arl_side::query_process(&ledger, &account)?);
            Ok(())
        }
        Some(Command::HttpLoad {
            url,
            token,
            mode,
            clients,
            seconds,
            count,
            pid,
            sample_secs,
        }) => {
            let load = http_load::Load {
                mode,
                clients,
                seconds,
                count,
                pid,
                sample_secs,
            };
            http_load::run(&url, &token, &load)
        }
        Some(Command::PeerQuery { db, account }) => {
            println!("{}", run::peer_query_process(&db, &account)?);
            Ok(())
        }
        Some(Command::PeerAppend { db }) => run::peer_append_process(&db),
        Some(Command::AppendProcess {
            ledger,
            db,
            arl,
            account,
            runs,
        }) => {
            let processes = run::AppendProcesses {
                ledger,
                db,
                arl,
                account,
                runs,
            };
            for measure in processes.run()?.measures() {
                println!("{}", serde_json::to_string(&measure)?);
            }
            Ok(())
        }
        Some(Command::AppendInProcess {
            ledger,
            db,
            account,
            appends,
        }) => {
            let measure = run::appends_in_process(&ledger, &db, &account, appends)?;
            println!("{}", serde_json::to_string(&measure)?);
            Ok(())
        }
        None => {
            let ok = run::main(&cli.run)?;
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
