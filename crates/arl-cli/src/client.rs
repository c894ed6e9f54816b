//! The command line as a client of `arl serve` (`--server URL` or `$ARL_SERVER`, token in
//! `$ARL_TOKEN`; https through [`crate::tls`]): the query commands, `append`, `export`,
//! `digest`, `proof`, `log`, `checkpoint`, `verify` and `subscribe`, and `--evidence FILE` print what they print against a local ledger:
//! JSON and CSV because the server answers with the same bytes, tables and graphs because
//! they are drawn from the server's JSON by the code that draws the local answer.

use crate::cli::{
    AccountArgs, AppendArgs, At, BalanceArgs, Command, ExportFormat, Format, GraphFormat,
    PeriodArg, SubscribeArgs, SummaryFormat,
};
use crate::{failure, graph, history, out, query};
use anyhow::{Context, Result};
use arl_domain::LineKind;
use arl_domain::Timestamp;
use arl_teams::{OrgChart, OrgLine, OrgPerson};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

/// The largest answer read into memory, in bytes (streams are copied, not read whole).
const ANSWER_BYTES_MAX: u64 = 1 << 30;

/// A server and the token to show it.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// An answer's status and body.
struct Answer {
    reader: Box<dyn Read + Send + Sync>,
}

impl Client {
    /// A client of `url`; the token from `$ARL_TOKEN`.
    pub fn new(url: &str, ca_cert: Option<&std::path::Path>) -> Result<Client> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(failure::usage(format!(
                "--server {url:?}: give a URL such as http://127.0.0.1:7878"
            )));
        }
        let token = std::env::var("ARL_TOKEN").ok().filter(|t| !t.is_empty());
        let mut agent = ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(10));
        if base.starts_with("https://") {
            agent = agent.tls_connector(crate::tls::connector(ca_cert)?);
        } else if ca_cert.is_some() {
            return Err(failure::usage(
                "--ca-cert is for an https server; this URL is plain http",
            ));
        }
        let agent = agent.build();
        Ok(Client { base, token, agent })
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        request
    }

    fn finish(&self, result: Result<ureq::Response, ureq::Error>) -> Result<Answer> {
        match result {
            Ok(response) => Ok(Answer {
                reader: Box::new(response.into_reader()),
            }),
            Err(ureq::Error::Status(status, response)) => {
                let mut text = String::new();
                let _ = response
                    .into_reader()
                    .take(1 << 20)
                    .read_to_string(&mut text);
                Err(server_error(status, &text))
            }
            Err(ureq::Error::Transport(t)) => Err(failure::error(format!(
                "cannot reach the server at {}: {t}",
                self.base
            ))),
        }
    }

    fn get(&self, path: &str) -> Result<Answer> {
        self.finish(self.request("GET", path).call())
    }

    fn post(&self, path: &str, body: &[u8]) -> Result<Answer> {
        self.finish(
            self.request("POST", path)
                .set("Content-Type", "application/x-ndjson")
                .send_bytes(body),
        )
    }
}

impl Answer {
    fn text(self) -> Result<String> {
        let mut text = String::new();
        self.reader
            .take(ANSWER_BYTES_MAX)
            .read_to_string(&mut text)
            .context("reading the server's answer")?;
        Ok(text)
    }

    /// Copies the answer to standard output as it arrives.
    fn copy_out(self) -> Result<()> {
        let mut reader = BufReader::new(self.reader);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        std::io::copy(&mut reader, &mut out).context("copying the server's answer")?;
        out.flush().context("writing to standard output")
    }
}

/// A server's error answer as the command line's error: its message, and the exit code of
/// its class (400 usage 2, integrity 3, else 1).
fn server_error(status: u16, text: &str) -> anyhow::Error {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = value["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("the server answered {status}: {}", text.trim()));
    let rule = value["rule"].as_str().unwrap_or("");
    match (status, rule) {
        (_, "integrity") => failure::integrity(message),
        (401 | 403, _) => failure::error(format!(
            "{message} ({})",
            value["fix"].as_str().unwrap_or("check ARL_TOKEN")
        )),
        (400, "usage") => failure::usage(message),
        _ => failure::error(message),
    }
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string built from the flags that are set.
#[derive(Default)]
struct Query(Vec<String>);

impl Query {
    fn put(&mut self, name: &str, value: Option<String>) -> &mut Query {
        if let Some(value) = value {
            self.0.push(format!("{name}={}", encode(&value)));
        }
        self
    }

    fn flag(&mut self, name: &str, on: bool) -> &mut Query {
        if on {
            self.0.push(format!("{name}=true"));
        }
        self
    }

    fn at(&mut self, at: &At) -> &mut Query {
        self.put("as_of", at.as_of.map(Timestamp::canonical))
            .put("known_at", at.known_at.map(Timestamp::canonical))
            .put("at_seq", at.at_seq.map(|n| n.to_string()))
    }

    fn format(&mut self, format: Format) -> Result<&mut Query> {
        match format {
            Format::Json => Ok(self),
            Format::Csv => Ok(self.put("format", Some("csv".into()))),
            // The table is drawn here from the JSON answer, by the code that draws it from a
            // local ledger's.
            Format::Table => Ok(self),
        }
    }

    fn path(&self, path: &str) -> String {
        if self.0.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", self.0.join("&"))
        }
    }
}

fn not_over_server(what: &str) -> anyhow::Error {
    failure::usage(format!("{what} does not work with --server yet"))
}

fn segment(id: &str) -> String {
    encode(id)
}

fn account_path(args: &AccountArgs, tail: &str) -> Result<String> {
    let mut q = Query::default();
    q.at(&args.at).format(args.format)?;
    Ok(q.path(&format!("/v1/accounts/{}{tail}", segment(&args.account))))
}

/// Runs `command` against the server; commands that only make sense locally are a usage
/// error.
pub fn run(client: &Client, command: &Command, quiet: bool) -> Result<()> {
    // As locally: the bundle is written first, then the answer printed.
    let evidence_asked = crate::evidence::request(command);
    if bundle_printed(client, command, evidence_asked.as_ref(), quiet)? {
        return Ok(());
    }
    let path = match command {
        Command::Account(a) => account_path(a, "")?,
        Command::Team(t) if t.timeline => {
            let mut q = Query::default();
            q.at(&t.account.at)
                .put("from", t.from.map(Timestamp::canonical))
                .put("to", t.to.map(Timestamp::canonical))
                .format(t.account.format)?;
            q.path(&format!(
                "/v1/accounts/{}/team/timeline",
                segment(&t.account.account)
            ))
        }
        Command::Team(t) => account_path(&t.account, "/team")?,
        Command::Contacts(a) => account_path(a, "/contacts")?,
        Command::Txns(a) => {
            let mut q = Query::default();
            q.at(&a.at)
                .put("from", a.from.map(Timestamp::canonical))
                .put("to", a.to.map(Timestamp::canonical))
                .format(a.format)?;
            q.path(&format!("/v1/accounts/{}/txns", segment(&a.account)))
        }
        Command::History(a) => {
            let mut q = Query::default();
            q.at(&a.at).format(a.format)?;
            q.path(&format!("/v1/accounts/{}/history", segment(&a.account)))
        }
        Command::Diff(a) => {
            let mut q = Query::default();
            q.at(&a.at)
                .put("from", Some(a.from.canonical()))
                .put("to", Some(a.to.canonical()))
                .put(
                    "axis",
                    matches!(a.axis, crate::cli::Axis::Known).then(|| "known".to_string()),
                )
                .format(a.format)?;
            q.path(&format!("/v1/accounts/{}/diff", segment(&a.account)))
        }
        Command::Portfolio(a) => {
            let mut q = Query::default();
            q.at(&a.at).format(a.format)?;
            q.path(&format!("/v1/people/{}/portfolio", segment(&a.person)))
        }
        Command::Org(a) => {
            let mut q = Query::default();
            q.at(&a.at).format(graph_format(a.format)?)?;
            q.path("/v1/org")
        }
        Command::Accounts(a) => {
            if !a.tree && matches!(a.format, GraphFormat::Dot | GraphFormat::Mermaid) {
                return Err(failure::usage(
                    "--format dot and mermaid draw the hierarchy: add --tree",
                ));
            }
            let mut q = Query::default();
            q.at(&a.at)
                .put("status", a.status.map(|s| s.to_string()))
                .put("scope", a.scope.map(|s| s.to_string()))
                .flag("key_accounts", a.key_accounts)
                .put("country", a.country.clone())
                .flag("tree", a.tree)
                .format(graph_format(a.format)?)?;
            q.path("/v1/accounts")
        }
        Command::Balance(a) => balance_path(a)?,
        Command::Digest => "/v1/digest".to_string(),
        Command::Log(a) => log_path(a)?,
        Command::Proof(a) => return proof(client, a),
        Command::Export(a) => {
            let format = match a.format {
                ExportFormat::Jsonl => "",
                ExportFormat::Csv => "?format=csv",
            };
            return client.get(&format!("/v1/export{format}"))?.copy_out();
        }
        Command::Append(a) => return append(client, a, quiet),
        Command::Checkpoint(a) if a.action.is_none() => {
            return client.get("/v1/checkpoint")?.copy_out()
        }
        Command::Verify(a) => return verify(client, a),
        Command::Subscribe(a) => return subscribe(client, a),
        other => {
            let name = format!("{other:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap_or("this command");
            return Err(not_over_server(&format!("arl {}", name.to_lowercase())));
        }
    };
    let path = as_stored(path, evidence_asked.is_some());
    if drawn_here(command) {
        let text = client.get(&path)?.text()?;
        return draw(command, &text, quiet);
    }
    client.get(&path)?.copy_out()
}

/// Writes the bundle `request` asks for (`--evidence FILE`), if any; with `--format json`
/// prints the bundle's answer, as the local command does (the answer over the data as
/// stored, as the bundle proves it), and says so.
fn bundle_printed(
    client: &Client,
    command: &Command,
    request: Option<&crate::evidence::Request>,
    quiet: bool,
) -> Result<bool> {
    let Some(request) = request else {
        return Ok(false);
    };
    let answer = evidence(client, request, quiet)?;
    if !evidence_json(command) {
        return Ok(false);
    }
    out::emit(&format!("{answer}\n"))?;
    Ok(true)
}

/// With `--evidence` (`evidence`), a table or CSV is the answer over the data as stored,
/// personal fields sealed, as the local command prints it: `path` with `as_stored=true`.
fn as_stored(path: String, evidence: bool) -> String {
    if !evidence {
        path
    } else if path.contains('?') {
        format!("{path}&as_stored=true")
    } else {
        format!("{path}?as_stored=true")
    }
}

/// Whether the command's output is drawn from the server's JSON answer (a table, a graph)
/// rather than copied as the server sends it (JSON, CSV).
fn drawn_here(command: &Command) -> bool {
    let graph = |f: GraphFormat| !matches!(f, GraphFormat::Json | GraphFormat::Csv);
    let table = |f: Format| matches!(f, Format::Table);
    match command {
        Command::Account(a) | Command::Contacts(a) => table(a.format),
        Command::Team(t) => table(t.account.format),
        Command::Txns(a) => table(a.format),
        Command::History(a) => table(a.format),
        Command::Diff(a) => table(a.format),
        Command::Portfolio(a) => table(a.format),
        Command::Balance(a) => table(a.format),
        Command::Org(a) => graph(a.format),
        Command::Accounts(a) => graph(a.format),
        Command::Log(a) => table(a.format),
        _ => false,
    }
}

/// Reads the server's JSON answer as the query's answer type: erased fields, which the
/// JSON shows as `null` beside `"erased": true`, are put back as the marker the local
/// answer carries, so that the drawing code shows them as it does locally.
fn answer<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    let mut value: Value = serde_json::from_str(text).context("reading the server's answer")?;
    unmark_erased(&mut value);
    serde_json::from_value(value).context("reading the server's answer")
}

/// The inverse of the answers' erasure marking for the one field it touches: `name`.
fn unmark_erased(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(unmark_erased),
        Value::Object(map) => {
            if map.get("erased") == Some(&Value::Bool(true)) {
                map.remove("erased");
                if let Some(name) = map.get_mut("name").filter(|v| v.is_null()) {
                    *name = Value::String(arl_privacy::ERASED.to_string());
                }
            }
            map.values_mut().for_each(unmark_erased);
        }
        _ => {}
    }
}

/// Draws the server's JSON answer with the code that draws the local answer.
fn draw(command: &Command, text: &str, quiet: bool) -> Result<()> {
    match command {
        Command::Account(_) => query::print_card(&answer(text)?),
        Command::Team(t) if t.timeline => query::print_timeline(Format::Table, &answer(text)?),
        Command::Team(_) => query::print_team(Format::Table, &answer::<Vec<_>>(text)?),
        Command::Contacts(_) => query::print_contacts(Format::Table, &answer::<Vec<_>>(text)?),
        Command::Txns(_) => query::print_register(&answer::<Vec<_>>(text)?),
        Command::Portfolio(_) => query::print_portfolio(Format::Table, &answer::<Vec<_>>(text)?),
        Command::Balance(_) => query::print_balances(Format::Table, &answer::<Vec<_>>(text)?),
        Command::History(_) => history::print_history_table(&answer::<Vec<_>>(text)?),
        Command::Diff(_) => history::print_diff(Format::Table, &answer(text)?, quiet),
        Command::Accounts(a) if a.tree => graph::print_tree(&answer::<Vec<_>>(text)?, a.format),
        Command::Accounts(_) => query::print_cards(&answer::<Vec<_>>(text)?, quiet),
        Command::Org(a) => graph::print_org(&org_chart(answer(text)?)?, a.format),
        Command::Log(a) => crate::logcmd::print_log(a.format, &envelopes(text)?),
        _ => Err(failure::error("nothing to draw for this command")),
    }
}

/// The org chart of its JSON form.
fn org_chart(json: arl_query::teams::OrgJson) -> Result<OrgChart> {
    let time = |text: &str| {
        Timestamp::parse_canonical(text)
            .ok_or_else(|| failure::error(format!("the server sent a bad time {text:?}")))
    };
    let mut people = Vec::with_capacity(json.people.len());
    for p in json.people {
        people.push(OrgPerson {
            joined_at: time(&p.joined_at)?,
            person: p.person,
            name: p.name,
            title: p.title,
        });
    }
    let mut lines = Vec::with_capacity(json.lines.len());
    for l in json.lines {
        lines.push(OrgLine {
            line: LineKind::parse(&l.line).ok_or_else(|| {
                failure::error(format!("the server sent a bad line kind {:?}", l.line))
            })?,
            since: time(&l.since)?,
            person: l.person,
            manager: l.manager,
        });
    }
    Ok(OrgChart { people, lines })
}

/// The envelopes of `GET /v1/log`'s JSON answer, each from its canonical JSON.
fn envelopes(text: &str) -> Result<Vec<arl_log::Envelope>> {
    let values: Vec<Value> = serde_json::from_str(text).context("reading the server's answer")?;
    values
        .iter()
        .map(|v| {
            arl_log::Envelope::from_json_line(&v.to_string())
                .map_err(|e| failure::error(format!("the server sent a bad envelope: {e}")))
        })
        .collect()
}

/// `GET /v1/log` with `arl log`'s filters.
fn log_path(a: &crate::cli::LogArgs) -> Result<String> {
    let mut q = Query::default();
    q.put("stream", a.stream.clone())
        .put("type", a.kind.clone())
        .put("account", a.account.clone())
        .put("from_seq", a.from_seq.map(|n| n.to_string()))
        .put("to_seq", a.to_seq.map(|n| n.to_string()))
        .put("recorded_from", a.recorded_from.map(Timestamp::canonical))
        .put("recorded_to", a.recorded_to.map(Timestamp::canonical))
        .put("effective_from", a.effective_from.map(Timestamp::canonical))
        .put("effective_to", a.effective_to.map(Timestamp::canonical))
        .put("limit", a.limit.map(|n| n.to_string()))
        .format(a.format)?;
    Ok(q.path("/v1/log"))
}

fn graph_format(format: GraphFormat) -> Result<Format> {
    match format {
        GraphFormat::Json => Ok(Format::Json),
        GraphFormat::Csv => Ok(Format::Csv),
        GraphFormat::Table | GraphFormat::Dot | GraphFormat::Mermaid => Ok(Format::Table),
    }
}

fn balance_path(a: &BalanceArgs) -> Result<String> {
    let period = match a.period {
        PeriodArg::Month => Some("month"),
        PeriodArg::Quarter => Some("quarter"),
        PeriodArg::Year => Some("year"),
        PeriodArg::All => None,
    };
    let mut q = Query::default();
    q.at(&a.at)
        .put("account", a.account.clone())
        .put("period", period.map(str::to_string))
        .put("from", a.from.map(Timestamp::canonical))
        .put("to", a.to.map(Timestamp::canonical))
        .flag("rollup", a.rollup)
        .format(a.format)?;
    Ok(q.path("/v1/balances"))
}

/// `--evidence FILE` over the server: the bundle the server builds and signs
/// (`GET /v1/evidence/{command}/{id}`), written to FILE as the local command writes it.
fn evidence(client: &Client, request: &crate::evidence::Request, quiet: bool) -> Result<String> {
    use arl_evidence::Command as Ask;
    let asked = &request.bundle;
    if asked.subject.is_empty() {
        return Err(crate::evidence::failed(
            arl_query::evidence::EvidenceError::Usage(
                "--evidence on balance needs an ACCOUNT: the balances of every account read the whole ledger".into(),
            ),
        ));
    }
    let command = match asked.command {
        Ask::Account => "account",
        Ask::Team => "team",
        Ask::Contacts => "contacts",
        Ask::Portfolio => "portfolio",
        Ask::History => "history",
        Ask::Balance => "balance",
    };
    let mut q = Query::default();
    q.put("as_of", asked.at.as_of.map(Timestamp::canonical))
        .put("known_at", asked.at.known_at.map(Timestamp::canonical))
        .put("at_seq", asked.at.at_seq.map(|n| n.to_string()));
    if let Some(b) = &asked.balance {
        q.put("period", Some(b.period.clone()))
            .put("from", b.from.clone())
            .put("to", b.to.clone())
            .flag("rollup", b.rollup);
    }
    let path = q.path(&format!(
        "/v1/evidence/{command}/{}",
        segment(&asked.subject)
    ));
    let text = client.get(&path)?.text()?;
    let bad = |e: String| failure::error(format!("the server sent a bad bundle: {e}"));
    let bundle: arl_evidence::Bundle =
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let note =
        arl_evidence::note::Note::parse(&bundle.checkpoint).map_err(|e| bad(e.to_string()))?;
    let checkpoint =
        arl_evidence::Checkpoint::parse_body(&note.text).map_err(|e| bad(e.to_string()))?;
    let saved = arl_query::evidence::BundleText {
        text,
        envelopes: bundle.envelopes.len(),
        parts: bundle.parts.len(),
        checkpoint_size: checkpoint.size,
    };
    crate::evidence::save_bundle(quiet, &request.path, &saved)?;
    Ok(bundle.answer)
}

/// Whether a command with `--evidence` prints JSON.
fn evidence_json(command: &Command) -> bool {
    let json = |f: Format| f == Format::Json;
    match command {
        Command::Account(a) | Command::Contacts(a) => json(a.format),
        Command::Team(t) => json(t.account.format),
        Command::Portfolio(a) => json(a.format),
        Command::Balance(a) => json(a.format),
        Command::History(a) => json(a.format),
        _ => false,
    }
}

fn proof(client: &Client, args: &crate::cli::ProofArgs) -> Result<()> {
    let digest = args
        .digest
        .as_deref()
        .map(crate::integrity::read_digest)
        .transpose()?;
    let mut q = Query::default();
    q.put("digest_seq", digest.as_ref().map(|d| d.seq.to_string()));
    let text = client
        .get(&q.path(&format!("/v1/proof/{}", args.seq)))?
        .text()?;
    if let Some(d) = &digest {
        let value: Value = serde_json::from_str(&text).context("reading the proof")?;
        let root = arl_log::hex(&d.root);
        if value["root"].as_str() != Some(root.as_str()) {
            return Err(failure::integrity(format!(
                "the server's Merkle root at seq {} is {}, the digest says {root}",
                d.seq, value["root"]
            )));
        }
    }
    out::emit(&text)
}

fn append(client: &Client, args: &AppendArgs, quiet: bool) -> Result<()> {
    if args.actor.is_some() {
        return Err(failure::usage(
            "--actor does not work with --server: the server records the token's name as the actor",
        ));
    }
    let body = crate::append::input_bytes(args)?;
    let path = if args.imported {
        "/v1/events?imported=true"
    } else {
        "/v1/events"
    };
    let answer = client.post(path, &body).map_err(|e| {
        let nothing = failure::exit_code(&e) != failure::EXIT_INTEGRITY
            && !e.to_string().contains("may or may not be stored");
        if nothing {
            failure::error(format!(
                "{e}\nnothing was appended: the whole input is one batch"
            ))
        } else {
            e
        }
    })?;
    let value: Value =
        serde_json::from_str(&answer.text()?).context("reading the server's answer")?;
    let number = |name: &str| value[name].as_u64().unwrap_or(0);
    let head = value["head"].as_str().unwrap_or_default();
    let _ = quiet;
    crate::append::print_summary(
        number("appended"),
        number("duplicates"),
        number("seq"),
        head,
        args.format,
    )
}

/// `arl verify` over the server: `--digest` sends the digest's fields, `--checkpoint` the
/// note (opened here first with `--key` and `--witness`: the signatures are the client's to
/// trust); the server checks that its log extends them. Prints what the local command
/// prints.
fn verify(client: &Client, args: &crate::cli::VerifyArgs) -> Result<()> {
    let digest = args
        .digest
        .as_deref()
        .map(crate::integrity::read_digest)
        .transpose()?;
    let mut q = Query::default();
    q.flag("views_only", args.views_only);
    if let Some(d) = &digest {
        q.put("digest_seq", Some(d.seq.to_string()))
            .put("digest_head", Some(arl_log::hex(&d.head)))
            .put("digest_root", Some(arl_log::hex(&d.root)));
    }
    let checkpoint = args
        .checkpoint
        .as_deref()
        .map(|file| crate::evidence::open_checkpoint(file, args.key.as_deref(), &args.witness))
        .transpose()?;
    let body = checkpoint
        .as_ref()
        .map_or(&[][..], |c| c.note.as_bytes())
        .to_vec();
    let answer = client.post(&q.path("/v1/verify"), &body)?;
    let mut last = Value::Null;
    let mut extends = Value::Null;
    for line in BufReader::new(answer.reader).lines() {
        let line = line.context("reading the server's answer")?;
        let value: Value = serde_json::from_str(&line).context("reading the server's answer")?;
        if value.get("progress").is_some() {
            continue;
        }
        match value.get("checkpoint") {
            Some(checked) => extends = checked.clone(),
            None => last = value,
        }
    }
    if last["ok"] != Value::Bool(true) {
        let message = last["error"]
            .as_str()
            .unwrap_or("the server's verify gave no result");
        return Err(failure::integrity(message.to_string()));
    }
    let views = last["views_checked"].as_u64().unwrap_or(0);
    let behind = last["views_behind_log"] == Value::Bool(true);
    match (args.format, args.views_only) {
        (SummaryFormat::Json, _) => out::emit_line(&last.to_string())?,
        (SummaryFormat::Text, true) => {
            let mut text = format!(
                "ok: every checksum of the views verifies, through seq {views} (the log was not read; arl verify compares the views with it)"
            );
            if behind {
                text.push_str(
                    "\nthe views are behind the log; the next query or append catches them up",
                );
            }
            out::emit_line(&text)?;
        }
        (SummaryFormat::Text, false) => {
            let text = |name: &str| last[name].as_str().unwrap_or_default().to_string();
            let seq = last["seq"].as_u64().unwrap_or(0);
            let mut out_text = format!(
                "ok: {seq} envelopes verify (hash chain, Merkle tree, views through seq {views})\nhead seq {seq} {}\nroot {}",
                text("head"),
                text("root")
            );
            if let Some(d) = &digest {
                out_text.push_str(&format!(
                    "\nextends the digest at seq {} (consistency proof checked)",
                    d.seq
                ));
            }
            if behind {
                out_text.push_str(&format!("\nthe views reach seq {views}, the log seq {seq}: the next query or append catches them up"));
            }
            out::emit_line(&out_text)?;
        }
    }
    let Some(opened) = checkpoint else {
        return Ok(());
    };
    if extends["ok"] != Value::Bool(true) {
        let message = extends["error"]
            .as_str()
            .unwrap_or("the server did not check the checkpoint");
        return Err(failure::integrity(message.to_string()));
    }
    out::emit_line(&opened.line(extends["log_seq"].as_u64().unwrap_or(0)))
}

/// `arl subscribe`: envelopes to standard output as they come; the server's last line, when
/// it ends the stream, to standard error (exit 1).
fn subscribe(client: &Client, args: &SubscribeArgs) -> Result<()> {
    let mut q = Query::default();
    q.put("from_seq", Some(args.from_seq.to_string()))
        .put("account", args.account.clone())
        .put("type", args.kind.clone())
        .flag("follow", !args.no_follow);
    let answer = client.get(&q.path("/v1/events"))?;
    let stdout = std::io::stdout();
    for line in BufReader::new(answer.reader).lines() {
        let line = line.context("reading the stream")?;
        if line.starts_with("{\"seq\":") {
            let mut out = stdout.lock();
            writeln!(out, "{line}")
                .and_then(|()| out.flush())
                .context("writing to standard output")?;
            continue;
        }
        let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let message = value["error"].as_str().unwrap_or(&line).to_string();
        let fix = value["fix"].as_str().unwrap_or_default();
        return Err(failure::error(format!("{message}; {fix}")));
    }
    Ok(())
}
