//! The command line: every command, flag and example, as clap derive types.

use arl_domain::Timestamp;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The ledger directory when neither `--ledger` nor `$ARL_LEDGER` names one.
pub const LEDGER_DEFAULT: &str = "./arl-ledger";
/// The demo's ledger directory when `--ledger` names none.
pub const DEMO_LEDGER_DEFAULT: &str = "./arl-demo-ledger";
/// Events the demo generates by default.
pub const DEMO_EVENTS_DEFAULT: u64 = 200_000;
/// Seconds to wait for the ledger lock by default.
pub const LOCK_TIMEOUT_S_DEFAULT: f64 = 10.0;

#[derive(Debug, Parser)]
#[command(
    name = "arl",
    version,
    about = "An event-sourced, append-only, hash-chained account relationship ledger",
    after_help = "Start with the guided tour:  arl demo\nEvery command has --help with an example.",
    propagate_version = true
)]
pub struct Cli {
    /// The ledger directory (default: $ARL_LEDGER, else ./arl-ledger).
    #[arg(long, global = true, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
    /// No progress bars and no summaries on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Seconds to wait for another process's lock on the ledger.
    #[arg(long, global = true, value_name = "SECS", default_value_t = LOCK_TIMEOUT_S_DEFAULT)]
    pub lock_timeout: f64,
    /// Ask an arl server instead of a local ledger (default: $ARL_SERVER); its token comes
    /// from $ARL_TOKEN.
    #[arg(long, global = true, value_name = "URL", env = "ARL_SERVER")]
    pub server: Option<String>,
    /// With an https server: trust the certificates (PEM) of FILE instead of the system's
    /// roots (default: $ARL_CA_CERT).
    #[arg(long, global = true, value_name = "FILE", env = "ARL_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Keep the log in PostgreSQL instead of the ledger directory (default: $ARL_STORE):
    /// postgres://user@host:port/database. The directory keeps this node's views, lock,
    /// keys and tokens.
    #[arg(long, global = true, value_name = "URL", env = "ARL_STORE")]
    pub store: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Append events (JSON Lines, one atomic batch) or one event given by flags.
    #[command(
        after_help = "Examples:\n  arl append events.jsonl\n  cat events.jsonl | arl append -\n  arl append --imported history.jsonl\n  arl append --type account.renamed --data '{\"account\":\"acme\",\"name\":\"ACME Group\"}' --effective-at 2024-03-01"
    )]
    Append(AppendArgs),
    /// The envelopes of the log, filtered.
    #[command(
        after_help = "Example:\n  arl log --account acme --effective-from 2024-01-01 --limit 20"
    )]
    Log(LogArgs),
    /// Every envelope, exactly as stored (JSON Lines) or as CSV.
    #[command(after_help = "Example:\n  arl export > ledger.jsonl")]
    Export(ExportArgs),
    /// Erase a contact's or a person's personal data: record why, destroy their key.
    #[command(
        after_help = "Example:\n  arl erase --contact k-vogel --reason \"erasure request of 2026-11-30\""
    )]
    Erase(EraseArgs),
    /// An account's card: status, hierarchy, classification, team and contacts.
    #[command(after_help = "Example:\n  arl account acme --as-of 2024-03-31 --format json")]
    Account(AccountArgs),
    /// Accounts, filtered, as a list or as the hierarchy (--tree).
    #[command(
        after_help = "Examples:\n  arl accounts --key-accounts --country DE\n  arl accounts --tree --format dot | dot -Tsvg > accounts.svg"
    )]
    Accounts(AccountsArgs),
    /// An account's team: who, in which role, since when (--timeline: who held which role
    /// between two dates, and when the ledger learned each start and end).
    #[command(
        after_help = "Examples:\n  arl team acme --as-of 2023-12-31\n  arl team acme --timeline --from 2023-01-01 --to 2023-12-31 --known-at 2023-07-08"
    )]
    Team(TeamArgs),
    /// A person's portfolio: the accounts they are assigned to.
    #[command(after_help = "Example:\n  arl portfolio jdoe")]
    Portfolio(PersonArgs),
    /// The org chart: people and their solid and dotted reporting lines.
    #[command(after_help = "Example:\n  arl org --format mermaid")]
    Org(OrgArgs),
    /// An account's active contacts (the buying center).
    #[command(after_help = "Example:\n  arl contacts acme")]
    Contacts(AccountArgs),
    /// An account's transaction register with running net per currency.
    #[command(after_help = "Example:\n  arl txns acme --from 2024-01-01 --to 2024-03-31")]
    Txns(TxnsArgs),
    /// Sales, purchases and net per account, period and currency.
    #[command(
        after_help = "Example:\n  arl balance acme --period quarter --rollup --from 2024-01-01 --to 2024-12-31"
    )]
    Balance(BalanceArgs),
    /// Every event that touched an account, in valid-time order, with what it changed.
    #[command(after_help = "Example:\n  arl history acme")]
    History(HistoryArgs),
    /// What changed on an account between two points of valid time or of knowledge.
    #[command(
        after_help = "Examples:\n  arl diff acme --from 2023-12-31 --to 2024-03-31\n  arl diff acme --axis known --from 2024-01-02 --to 2024-01-10 --as-of 2023-12-31"
    )]
    Diff(DiffArgs),
    /// Rebuild the views from the log, checking the hash chain on the way.
    #[command(after_help = "Example:\n  arl replay")]
    Replay(FormatOnly),
    /// Convert a ledger's log written by an older arl to the current layout, in place.
    #[command(after_help = "Example:\n  arl upgrade")]
    Upgrade(FormatOnly),
    /// Recompute the hash chain and Merkle tree; check the views; check a saved digest.
    #[command(
        after_help = "Examples:\n  arl verify\n  arl digest > digest.json; ...; arl verify --digest digest.json"
    )]
    Verify(VerifyArgs),
    /// The head: seq, head hash, Merkle root and record time, as JSON.
    #[command(after_help = "Example:\n  arl digest > digest-2024-03-31.json")]
    Digest,
    /// An inclusion proof of one envelope in the tree of a digest (default: the head).
    #[command(after_help = "Example:\n  arl proof 42 --digest digest.json")]
    Proof(ProofArgs),
    /// Make the ledger's checkpoint signing key (or a witness's): arl key init.
    #[command(after_help = "Example:\n  arl key init --name arl.example > ledger.pub")]
    Key(crate::evidence::KeyArgs),
    /// The signed checkpoint of the head (made now if the head moved); cosign one as a witness.
    #[command(
        after_help = "Examples:\n  arl checkpoint > checkpoint.note\n  arl checkpoint cosign checkpoint.note --witness-key witness.key"
    )]
    Checkpoint(crate::evidence::CheckpointArgs),
    /// Check an evidence bundle without the ledger.
    #[command(after_help = "Example:\n  arl evidence check card.json --key ledger.pub")]
    Evidence(crate::evidence::EvidenceArgs),
    /// Copy a ledger's log, envelope for envelope, between a directory and PostgreSQL.
    #[command(
        after_help = "Examples:\n  arl copy --from ./arl-ledger --to postgres://root@127.0.0.1:5432/ledger\n  arl copy --from postgres://root@127.0.0.1:5432/ledger --to ./restored"
    )]
    Copy(CopyArgs),
    /// Serve the ledger over HTTP: every query, appends, subscriptions; bearer tokens.
    #[command(
        after_help = "Example:\n  arl --ledger L token add ops --role writer   # prints the token once\n  arl --ledger L serve --listen 127.0.0.1:7878\n  ARL_SERVER=http://127.0.0.1:7878 ARL_TOKEN=... arl account acme --format json"
    )]
    Serve(ServeArgs),
    /// The bearer tokens of arl serve: add (prints the token once), list, revoke.
    #[command(
        after_help = "Examples:\n  arl token add auditor-1 --role auditor\n  arl token list\n  arl token revoke auditor-1"
    )]
    Token(TokenArgs),
    /// Follow an arl server's envelopes as they are appended (JSON Lines, as arl export).
    #[command(
        after_help = "Example:\n  ARL_TOKEN=... arl --server http://127.0.0.1:7878 subscribe --from-seq 1 --account acme >> acme.jsonl"
    )]
    Subscribe(SubscribeArgs),
    /// Build a demo ledger from the deterministic generator and take a guided tour.
    #[command(after_help = "Example:\n  arl demo --events 200000 --seed 42")]
    Demo(DemoArgs),
}

/// Output formats of list-like queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Output formats of graph-like queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Table,
    Json,
    Csv,
    Dot,
    Mermaid,
}

/// Output formats of summaries (append, replay, verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

/// Output formats of `arl export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// Which time axis `arl diff` moves along.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Axis {
    Valid,
    Known,
}

/// Balance periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeriodArg {
    Month,
    Quarter,
    Year,
    All,
}

fn query_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_query(text).map_err(|e| e.to_string())
}

fn input_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_input(text).map_err(|e| e.to_string())
}

/// The point of a query: valid time and knowledge.
#[derive(Debug, Clone, Default, Args)]
pub struct At {
    /// Valid time (date = end of that day UTC, or RFC 3339). Default: now.
    #[arg(long, value_name = "T", value_parser = query_time)]
    pub as_of: Option<Timestamp>,
    /// Only events recorded by then (date = end of that day UTC, or RFC 3339).
    #[arg(long, value_name = "T", value_parser = query_time, conflicts_with = "at_seq")]
    pub known_at: Option<Timestamp>,
    /// Only events up to this seq.
    #[arg(long, value_name = "N")]
    pub at_seq: Option<u64>,
}

impl At {
    /// The point as arl-query takes it.
    pub fn query(&self) -> arl_query::At {
        arl_query::At {
            as_of: self.as_of,
            known_at: self.known_at,
            at_seq: self.at_seq,
        }
    }
}

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// JSON Lines input file; `-` or nothing for standard input.
    #[arg(value_name = "FILE", conflicts_with = "kind")]
    pub file: Option<PathBuf>,
    /// One event given by flags: its type.
    #[arg(long = "type", value_name = "T", requires = "data")]
    pub kind: Option<String>,
    /// One event given by flags: its data (a JSON object).
    #[arg(long, value_name = "JSON", requires = "kind")]
    pub data: Option<String>,
    /// One event: valid time (date or RFC 3339). Default: the record time.
    #[arg(long, value_name = "T", requires = "kind")]
    pub effective_at: Option<String>,
    /// One event: idempotency key.
    #[arg(long, value_name = "ID", requires = "kind")]
    pub id: Option<String>,
    /// One event: why.
    #[arg(long, value_name = "R", requires = "kind")]
    pub reason: Option<String>,
    /// One event: the subject stream's version it expects (optimistic concurrency).
    #[arg(long, value_name = "N", requires = "kind")]
    pub expected_version: Option<u64>,
    /// Lines carry recorded_at (migrating history from another system).
    #[arg(long)]
    pub imported: bool,
    /// Who appends (default: $USER, else "unknown").
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Summary as text or JSON.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Commit every N lines as one atomic batch, reading the input as it goes (for
    /// histories larger than one batch). Lines without an id get `line-<n>-<hash>`, so a
    /// rerun after an interruption skips what was committed and goes on.
    #[arg(long, value_name = "N", conflicts_with = "kind", value_parser = clap::value_parser!(u64).range(1..=arl_log::MAX_BATCH_EVENTS as u64))]
    pub batch_size: Option<u64>,
    /// Seal personal fields from now on: creates the ledger's key store, after which every
    /// append seals names and titles (docs/PRIVACY.md).
    #[arg(long)]
    pub seal: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this stream (account/ID or person/ID).
    #[arg(long)]
    pub stream: Option<String>,
    /// Only this event type.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Only events of this account's stream.
    #[arg(long)]
    pub account: Option<String>,
    /// First seq (inclusive).
    #[arg(long, value_name = "N")]
    pub from_seq: Option<u64>,
    /// Last seq (inclusive).
    #[arg(long, value_name = "N")]
    pub to_seq: Option<u64>,
    /// Recorded at or after (date = its midnight UTC).
    #[arg(long, value_name = "T", value_parser = input_time)]
    pub recorded_from: Option<Timestamp>,
    /// Recorded at or before (date = end of that day UTC).
    #[arg(long, value_name = "T", value_parser = query_time)]
    pub recorded_to: Option<Timestamp>,
    /// Effective at or after (date = its midnight UTC).
    #[arg(long, value_name = "T", value_parser = input_time)]
    pub effective_from: Option<Timestamp>,
    /// Effective at or before (date = end of that day UTC).
    #[arg(long, value_name = "T", value_parser = query_time)]
    pub effective_to: Option<Timestamp>,
    /// At most this many envelopes.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Show personal fields in clear where their key exists (the default export carries
    /// them sealed, as stored; a decrypted export no longer verifies against the hashes).
    #[arg(long)]
    pub decrypt: bool,
}

/// `arl erase`: one data subject, a reason, and the confirmation.
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The contact (customer side) whose data to erase.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "person",
        required_unless_present = "person"
    )]
    pub contact: Option<String>,
    /// The person of staff whose data to erase.
    #[arg(long, value_name = "ID")]
    pub person: Option<String>,
    /// Why (kept in the log's audit event; no personal data here).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Who erases. Default: $USER, else unknown.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Do not ask: erasure is irreversible.
    #[arg(long)]
    pub yes: bool,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The account id.
    pub account: String,
    #[command(flatten)]
    pub at: At,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write an evidence bundle of the answer to this file.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TeamArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    /// Team over time: one row per (role, person) holding between --from and --to, with
    /// when the ledger recorded its start and end (--as-of does not apply).
    #[arg(long, conflicts_with_all = ["as_of", "evidence"])]
    pub timeline: bool,
    /// First day of the timeline (valid time; default: the first assignment).
    #[arg(long, value_name = "DATE", requires = "timeline", value_parser = input_time)]
    pub from: Option<Timestamp>,
    /// Last day of the timeline (valid time; default: the end of time).
    #[arg(long, value_name = "DATE", requires = "timeline", value_parser = query_time)]
    pub to: Option<Timestamp>,
}

#[derive(Debug, Args)]
pub struct PersonArgs {
    /// The person id.
    pub person: String,
    #[command(flatten)]
    pub at: At,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write an evidence bundle of the answer to this file.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    /// Only accounts with this status.
    #[arg(long, value_parser = parse_status)]
    pub status: Option<arl_domain::Status>,
    /// Only accounts at this scope.
    #[arg(long, value_parser = parse_scope)]
    pub scope: Option<arl_domain::Scope>,
    /// Only key accounts.
    #[arg(long)]
    pub key_accounts: bool,
    /// Only accounts in this country (ISO 3166-1 alpha-2).
    #[arg(long)]
    pub country: Option<String>,
    /// The hierarchy as a tree (accounts that fail the filter stay when a descendant passes).
    #[arg(long)]
    pub tree: bool,
    #[command(flatten)]
    pub at: At,
    /// dot and mermaid need --tree.
    #[arg(long, value_enum, default_value_t = GraphFormat::Table)]
    pub format: GraphFormat,
}

fn parse_status(text: &str) -> Result<arl_domain::Status, String> {
    arl_domain::Status::parse(text)
        .ok_or_else(|| "use prospect, active, on_hold, dormant or closed".to_string())
}

fn parse_scope(text: &str) -> Result<arl_domain::Scope, String> {
    arl_domain::Scope::parse(text)
        .ok_or_else(|| "use global, national, divisional, district or territory".to_string())
}

#[derive(Debug, Args)]
pub struct OrgArgs {
    #[command(flatten)]
    pub at: At,
    #[arg(long, value_enum, default_value_t = GraphFormat::Table)]
    pub format: GraphFormat,
}

#[derive(Debug, Args)]
pub struct TxnsArgs {
    /// The account id.
    pub account: String,
    /// First day (inclusive, from its midnight UTC).
    #[arg(long, value_name = "DATE", value_parser = input_time)]
    pub from: Option<Timestamp>,
    /// Last day (inclusive, to its end).
    #[arg(long, value_name = "DATE", value_parser = query_time)]
    pub to: Option<Timestamp>,
    #[command(flatten)]
    pub at: At,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// One account; without it, every account that has transactions.
    pub account: Option<String>,
    #[arg(long, value_enum, default_value_t = PeriodArg::All)]
    pub period: PeriodArg,
    /// First day (inclusive, from its midnight UTC).
    #[arg(long, value_name = "DATE", value_parser = input_time)]
    pub from: Option<Timestamp>,
    /// Last day (inclusive, to its end).
    #[arg(long, value_name = "DATE", value_parser = query_time)]
    pub to: Option<Timestamp>,
    /// Include every descendant's transactions (hierarchy at --as-of).
    #[arg(long)]
    pub rollup: bool,
    #[command(flatten)]
    pub at: At,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write an evidence bundle of the answer to this file.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The account id.
    pub account: String,
    #[command(flatten)]
    pub at: At,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write an evidence bundle of the answer to this file.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The account id.
    pub account: String,
    /// The earlier point (valid time, or knowledge with --axis known).
    #[arg(long, value_name = "T1", value_parser = query_time)]
    pub from: Timestamp,
    /// The later point.
    #[arg(long, value_name = "T2", value_parser = query_time)]
    pub to: Timestamp,
    /// valid: as-of T1 vs as-of T2 (knowledge from --known-at/--at-seq, default all);
    /// known: known-at T1 vs known-at T2, both at --as-of.
    #[arg(long, value_enum, default_value_t = Axis::Valid)]
    pub axis: Axis,
    #[command(flatten)]
    pub at: At,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct FormatOnly {
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A digest saved earlier (arl digest): check the ledger still extends it.
    #[arg(long, value_name = "FILE", conflicts_with = "views_only")]
    pub digest: Option<PathBuf>,
    /// Check only the views' checksums (every record of every view file and the heads),
    /// without reading the log: quick, but it does not compare the views with the log.
    #[arg(long)]
    pub views_only: bool,
    /// A signed checkpoint (arl checkpoint): check the log extends it; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub checkpoint: Option<PathBuf>,
    /// The checkpoint's public key: its line, or a file holding it.
    #[arg(long, value_name = "PUBKEY")]
    pub key: Option<String>,
    /// A witness whose cosignature the checkpoint must carry (repeatable).
    #[arg(long, value_name = "PUBKEY")]
    pub witness: Vec<String>,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct ProofArgs {
    /// The seq of the envelope.
    pub seq: u64,
    /// The digest whose tree the proof is for (default: the current head).
    #[arg(long, value_name = "FILE")]
    pub digest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Events to generate.
    #[arg(long, default_value_t = DEMO_EVENTS_DEFAULT)]
    pub events: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (loopback only unless --insecure-listen).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7878")]
    pub listen: std::net::SocketAddr,
    /// Allow a non-loopback address without TLS (clear text).
    #[arg(long)]
    pub insecure_listen: bool,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// The largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = arl_server::BODY_BYTES_MAX_DEFAULT, value_parser = positive_usize())]
    pub body_bytes_max: usize,
    /// The most events in one append request.
    #[arg(long, value_name = "N", default_value_t = arl_server::BATCH_LINES_MAX_DEFAULT, value_parser = positive_usize())]
    pub batch_lines_max: usize,
    /// The longest a request may take to start its answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = arl_server::REQUEST_TIMEOUT_S_DEFAULT, value_parser = positive_u64())]
    pub request_timeout_secs: u64,
    /// The most streams (subscriptions, exports, verifies) open at once.
    #[arg(long, value_name = "N", default_value_t = arl_server::SUBSCRIPTIONS_MAX_DEFAULT, value_parser = positive_usize())]
    pub subscriptions_max: usize,
    /// Envelopes buffered for one stream's client.
    #[arg(long, value_name = "N", default_value_t = arl_server::SUBSCRIBER_BUFFER_DEFAULT, value_parser = positive_usize())]
    pub subscriber_buffer: usize,
    /// A stream whose client reads nothing for this long is dropped, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = arl_server::SUBSCRIBER_STALL_S_DEFAULT, value_parser = positive_u64())]
    pub subscriber_stall_secs: u64,
    /// The most connections open at once (more are answered 429 and closed).
    #[arg(long, value_name = "N", default_value_t = arl_server::CONNECTIONS_MAX_DEFAULT, value_parser = positive_usize())]
    pub connections_max: usize,
    /// The time a client has to send a request's head (then the connection is closed).
    #[arg(long, value_name = "SECS", default_value_t = arl_server::HEADER_READ_TIMEOUT_S_DEFAULT, value_parser = positive_u64())]
    pub header_timeout_secs: u64,
    /// The most events one group commit carries.
    #[arg(long, value_name = "N", default_value_t = arl_server::GROUP_EVENTS_MAX_DEFAULT, value_parser = positive_usize())]
    pub group_events_max: usize,
    /// The most envelopes one `arl log` answer over the server holds (larger ones are
    /// refused: narrow them, or use `arl export`, which streams).
    #[arg(long, value_name = "N", default_value_t = arl_server::LOG_ROWS_MAX_DEFAULT, value_parser = positive_usize())]
    pub log_rows_max: usize,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: TokenAction,
}

/// Roles of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Reader,
    Auditor,
    Writer,
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token (printed once; only its hash is stored, in LEDGER/tokens.json).
    Add {
        /// The token's name: the actor of every event it appends.
        name: String,
        /// reader: queries; auditor: + history, export, proofs, verify, subscriptions;
        /// writer: + appends; admin: everything.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// The tokens: name, role, made, revoked.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Revoke a token: the server refuses it from its next request on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// The first seq to receive.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub from_seq: u64,
    /// Only envelopes of this account's stream.
    #[arg(long)]
    pub account: Option<String>,
    /// Only envelopes of this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Stop at the head instead of following new envelopes.
    #[arg(long)]
    pub no_follow: bool,
}

/// `arl copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The ledger to copy: a ledger directory or a PostgreSQL URL.
    #[arg(long, value_name = "DIR|URL")]
    pub from: String,
    /// Where to: a ledger directory without a log, or a PostgreSQL database without one.
    #[arg(long, value_name = "DIR|URL")]
    pub to: String,
}

/// A limit flag of `arl serve`: a count or a number of seconds, at least 1.
fn positive_u64() -> clap::builder::RangedU64ValueParser<u64> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

/// [`positive_u64`] for a limit the server holds as a `usize`.
fn positive_usize() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}
