//! `arl serve` through the real binary on 127.0.0.1 (a free port the server picks): every
//! endpoint against the command line's JSON on the worked Globex example, the roles
//! matrix, the OpenAPI document against the running routes, subscriptions (catch-up, live
//! delivery under concurrent appenders, resume by seq, a stalled subscriber dropped), SIGKILL
//! and SIGTERM during concurrent appends, and bad requests.
//!
//! The HTTP client is the test kit's (`arl_testkit::http`, a few lines over
//! `std::net::TcpStream`), so a test can also send what no library would.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use support::http::{Lines, Request, Response};
use support::{arl_binary, run_arl, Run, Served};

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
const EXPECTED: &str = include_str!("../fixtures/globex.expected.json");
/// The longest any single wait of these tests lasts.
const WAIT: Duration = Duration::from_secs(30);

/// A ledger with the Globex example and one token per role.
struct Fixture {
    tmp: tempfile::TempDir,
    tokens: BTreeMap<&'static str, String>,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let fixture = Fixture {
            tmp,
            tokens: BTreeMap::new(),
        };
        let input = fixture.tmp.path().join("globex.jsonl");
        std::fs::write(&input, FIXTURE).expect("writing the fixture");
        let run = fixture.run(&["append", "--imported", input.to_str().expect("path")]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let mut fixture = fixture;
        for role in ["reader", "auditor", "writer", "admin"] {
            let token = fixture.token(role, role);
            fixture.tokens.insert(role, token);
        }
        fixture
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("ledger")
    }

    fn run(&self, args: &[&str]) -> Run {
        run_arl(&self.dir(), args)
    }

    fn token(&self, name: &str, role: &str) -> String {
        let run = self.run(&["token", "add", name, "--role", role, "--quiet"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let token = run.stdout.trim().to_string();
        assert!(token.starts_with("arl_"), "{token}");
        token
    }

    fn serve(&self, extra: &[&str]) -> Served {
        Served::start(&self.dir(), extra, WAIT)
    }
}

/// The requests these tests send to a running server.
trait Http {
    fn get(&self, path: &str, token: Option<&str>) -> Response;
    fn post(&self, path: &str, token: Option<&str>, body: &[u8]) -> Response;
}

impl Http for Served {
    fn get(&self, path: &str, token: Option<&str>) -> Response {
        Request::get(path).bearer(token).send(&self.addr)
    }

    fn post(&self, path: &str, token: Option<&str>, body: &[u8]) -> Response {
        Request::post(path, body).bearer(token).send(&self.addr)
    }
}

/// One request on a fresh connection; the whole answer.
fn request(addr: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Response {
    Request::new(method, path)
        .bearer(token)
        .body(body)
        .send(addr)
}

/// A streaming answer: its status and its lines.
fn open_lines(addr: &str, path: &str, token: &str, headers: &[(&str, &str)]) -> (u16, Lines) {
    Request::get(path)
        .bearer(Some(token))
        .headers(headers)
        .stream(addr)
}

/// The next envelope's seq (an SSE stream's `data:` lines are read past).
fn next_seq(lines: &mut Lines) -> Option<u64> {
    loop {
        let line = lines.next_line()?;
        let json = line.strip_prefix("data: ").unwrap_or(&line);
        if json.is_empty() || line.starts_with("id: ") || line.starts_with("event: ") {
            continue;
        }
        let value: Value = serde_json::from_str(json).expect("a JSON line");
        return Some(
            value["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("no seq: {line}")),
        );
    }
}

/// `arl ARGS --format json` (exit and standard output) on the stopped ledger.
fn cli(fixture: &Fixture, args: &[&str]) -> Run {
    fixture.run(args)
}

/// The endpoints and the command lines that must print the same bytes.
fn same_answers() -> Vec<(String, Vec<String>)> {
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |path: &str, args: &str| {
        cases.push((
            path.to_string(),
            args.split_whitespace().map(str::to_string).collect(),
        ));
    };
    add("/v1/accounts", "accounts --format json");
    add(
        "/v1/accounts?tree=true&format=csv",
        "accounts --tree --format csv",
    );
    add(
        "/v1/accounts?key_accounts=true&as_of=2023-06-30",
        "accounts --key-accounts --as-of 2023-06-30 --format json",
    );
    add(
        "/v1/accounts/globex-de/team?as_of=2023-07-01&known_at=2023-07-05",
        "team globex-de --as-of 2023-07-01 --known-at 2023-07-05 --format json",
    );
    add(
        "/v1/accounts/globex-de/contacts",
        "contacts globex-de --format json",
    );
    add(
        "/v1/accounts/globex/txns?from=2023-01-01&to=2023-06-30",
        "txns globex --from 2023-01-01 --to 2023-06-30 --format json",
    );
    add(
        "/v1/accounts/globex-de/history",
        "history globex-de --format json",
    );
    add(
        "/v1/accounts/globex-de/history?at_seq=20&format=csv",
        "history globex-de --at-seq 20 --format csv",
    );
    add(
        "/v1/accounts/globex-de/diff?from=2023-06-15&to=2023-07-01",
        "diff globex-de --from 2023-06-15 --to 2023-07-01 --format json",
    );
    add("/v1/accounts/globex-de/diff?axis=known&from=2023-07-05&to=2023-07-08&as_of=2023-07-01", "diff globex-de --axis known --from 2023-07-05 --to 2023-07-08 --as-of 2023-07-01 --format json");
    add("/v1/people/ben/portfolio", "portfolio ben --format json");
    add(
        "/v1/org?as_of=2023-06-01",
        "org --as-of 2023-06-01 --format json",
    );
    add("/v1/org?format=csv", "org --format csv");
    add("/v1/digest", "digest");
    add("/v1/proof/5", "proof 5");
    add("/v1/export", "export");
    add("/v1/export?format=csv", "export --format csv");
    add("/v1/log", "log --format json");
    add(
        "/v1/log?account=globex-de&type=team.assigned&limit=3",
        "log --account globex-de --type team.assigned --limit 3 --format json",
    );
    add(
        "/v1/log?effective_from=2023-06-01&effective_to=2023-07-01&format=csv",
        "log --effective-from 2023-06-01 --effective-to 2023-07-01 --format csv",
    );
    add(
        "/v1/log?stream=person%2Fben&from_seq=3&to_seq=30",
        "log --stream person/ben --from-seq 3 --to-seq 30 --format json",
    );
    // Every case of the worked example's expected answers.
    let expected: Vec<Value> = serde_json::from_str(EXPECTED).expect("expected answers");
    for case in expected {
        let args: Vec<String> = case["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("arg").to_string())
            .collect();
        cases.push((path_of(&args), args));
    }
    cases
}

/// The endpoint of an `account`/`balance` command line of the expected answers.
fn path_of(args: &[String]) -> String {
    let mut query = Vec::new();
    let mut path = String::new();
    let mut i = 1;
    if args[0] == "account" {
        path = format!("/v1/accounts/{}", args[1]);
        i = 2;
    } else if args[0] == "balance" {
        path = "/v1/balances".to_string();
        if !args[1].starts_with("--") {
            query.push(format!("account={}", args[1]));
            i = 2;
        }
    }
    while i < args.len() {
        let flag = args[i].trim_start_matches("--").replace('-', "_");
        if flag == "rollup" {
            query.push("rollup=true".to_string());
            i += 1;
            continue;
        }
        if flag != "format" {
            query.push(format!("{flag}={}", args[i + 1]));
        }
        i += 2;
    }
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

#[test]
fn every_endpoint_gives_the_cli_bytes_on_globex() {
    let fixture = Fixture::new();
    let cases = same_answers();
    let local: Vec<Run> = cases
        .iter()
        .map(|(_, args)| {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(&fixture, &refs)
        })
        .collect();
    let verify_local = cli(&fixture, &["verify", "--format", "json"]);
    assert_eq!(verify_local.code, 0, "{}", verify_local.stderr);
    let server = fixture.serve(&[]);
    let admin = fixture.tokens["admin"].as_str();
    let mut compared = 0;
    for ((path, args), local) in cases.iter().zip(&local) {
        let answer = server.get(path, Some(admin));
        if local.code == 0 {
            assert_eq!(answer.status, 200, "{path}: {}", answer.text());
            assert_eq!(answer.text(), local.stdout, "{path} against arl {args:?}");
            compared += 1;
        } else {
            assert_eq!(answer.status, 404, "{path}: {}", answer.text());
            let error = answer.json();
            assert_eq!(
                format!("arl: {}\n", error["error"].as_str().expect("error")),
                local.stderr,
                "{path}"
            );
        }
        // The command line pointed at the server prints the same bytes.
        let through = Command::new(arl_binary())
            .args(["--server", &server.url("")])
            .args(args)
            .env("ARL_TOKEN", admin)
            .output()
            .expect("arl --server");
        assert_eq!(
            through.status.code(),
            Some(local.code),
            "arl --server {args:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&through.stdout),
            local.stdout,
            "arl --server {args:?}"
        );
    }
    assert_eq!(compared, cases.len() - 1, "one expected case is an error");
    // verify: progress lines, then the line `arl verify --format json` prints.
    let verified = server.post("/v1/verify", Some(admin), b"");
    assert_eq!(verified.status, 200);
    let text = verified.text();
    assert_eq!(text.lines().last(), Some(verify_local.stdout.trim_end()));
}

/// What each role may do: (method, path, need) with need reader/auditor/writer.
fn matrix() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("GET", "/metrics", "reader"),
        ("GET", "/v1/accounts", "reader"),
        ("GET", "/v1/accounts/globex", "reader"),
        ("GET", "/v1/accounts/globex/team", "reader"),
        ("GET", "/v1/accounts/globex/contacts", "reader"),
        ("GET", "/v1/accounts/globex/txns", "reader"),
        (
            "GET",
            "/v1/accounts/globex/diff?from=2023-01-01&to=2023-12-31",
            "reader",
        ),
        ("GET", "/v1/people/ben/portfolio", "reader"),
        ("GET", "/v1/org", "reader"),
        ("GET", "/v1/balances", "reader"),
        ("GET", "/v1/whoami", "reader"),
        ("GET", "/v1/digest", "reader"),
        ("GET", "/v1/accounts/globex/history", "auditor"),
        ("GET", "/v1/proof/1", "auditor"),
        ("POST", "/v1/verify", "auditor"),
        ("GET", "/v1/export", "auditor"),
        ("GET", "/v1/log", "auditor"),
        ("GET", "/v1/checkpoint", "auditor"),
        (
            "GET",
            "/v1/evidence/account/globex?as_of=2023-07-01",
            "auditor",
        ),
        ("GET", "/v1/events?from_seq=1", "auditor"),
        ("POST", "/v1/events", "writer"),
        ("POST", "/v1/erase", "admin"),
    ]
}

fn allowed(role: &str, need: &str) -> bool {
    role == "admin" || need == "reader" || role == need
}

#[test]
fn roles_matrix_and_tokens() {
    let fixture = Fixture::new();
    // A checkpoint key, so that checkpoints and evidence answer the roles that may ask.
    assert_eq!(fixture.run(&["key", "init"]).code, 0);
    let server = fixture.serve(&[]);
    let body =
        br#"{"type":"account.renamed","data":{"account":"globex","name":"Globex Holdings Inc."}}"#;
    // An erasure's body for /v1/erase (the admin's erases a contact of the example).
    let erase = br#"{"contact":"k-vogel","reason":"roles matrix"}"#;
    for (method, path, need) in matrix() {
        // A verify's body, if any, is a checkpoint note: none here.
        let body: &[u8] = match path {
            "/v1/erase" => erase,
            "/v1/verify" => b"",
            _ => body,
        };
        for (role, token) in &fixture.tokens {
            let answer = request(&server.addr, method, path, Some(token), body);
            if allowed(role, need) {
                assert!(
                    answer.status < 400,
                    "{role} {method} {path}: {} {}",
                    answer.status,
                    answer.text()
                );
            } else {
                assert_eq!(answer.status, 403, "{role} {method} {path}");
                assert_eq!(answer.json()["rule"], "forbidden");
            }
        }
        for token in [None, Some("arl_0000"), Some("")] {
            let answer = request(&server.addr, method, path, token, body);
            assert_eq!(answer.status, 401, "{method} {path} with {token:?}");
            assert_eq!(answer.json()["rule"], "unauthorized");
        }
    }
    // Each token learns its own name and role.
    for (role, token) in &fixture.tokens {
        let who = server.get("/v1/whoami", Some(token)).json();
        assert_eq!(
            (who["name"].as_str(), who["role"].as_str()),
            (Some(*role), Some(*role))
        );
    }
    // Open without a token: health and the API's description.
    assert_eq!(server.get("/healthz", None).status, 200);
    assert_eq!(server.get("/v1/openapi.json", None).status, 200);
    // A revoked token is refused from the next request on, while the server runs.
    let spare = fixture.token("spare", "reader");
    assert_eq!(server.get("/v1/org", Some(&spare)).status, 200);
    let revoked = fixture.run(&["token", "revoke", "spare"]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert_eq!(server.get("/v1/org", Some(&spare)).status, 401);
    // Only hashes are stored, owner-only.
    let stored = std::fs::read_to_string(fixture.dir().join("tokens.json")).expect("tokens");
    assert!(!stored.contains(&spare));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(fixture.dir().join("tokens.json")).expect("tokens");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    // The actor of an append is the token's name, whatever the line says.
    let line = br#"{"type":"account.renamed","data":{"account":"globex","name":"Globex Group"},"actor":"mallory","id":"actor-check"}"#;
    let answer = server.post("/v1/events", Some(&fixture.tokens["writer"]), line);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seq = answer.json()["events"][0]["seq"].as_u64().expect("seq");
    let events = server.get(
        &format!("/v1/events?from_seq={seq}"),
        Some(&fixture.tokens["auditor"]),
    );
    let envelope: Value =
        serde_json::from_str(events.text().lines().next().expect("a line")).expect("JSON");
    assert_eq!(envelope["actor"], "writer");
    assert_eq!(envelope["id"], "actor-check");
}

#[test]
fn openapi_document_covers_every_running_route() {
    let fixture = Fixture::new();
    let server = fixture.serve(&[]);
    let served = server.get("/v1/openapi.json", None);
    assert_eq!(served.status, 200);
    let document = served.json();
    let kept: Value = serde_json::from_str(arl_server::OPENAPI_JSON).expect("kept document");
    assert_eq!(
        document, kept,
        "the server serves the document kept in the repository"
    );
    assert!(document["openapi"]
        .as_str()
        .expect("version")
        .starts_with("3."));
    let paths = document["paths"].as_object().expect("paths");
    let admin = fixture.tokens["admin"].as_str();
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("methods").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
            // Every documented operation exists on the running server.
            let concrete = path.replace("{id}", "globex").replace("{seq}", "1");
            let answer = request(
                &server.addr,
                &method.to_uppercase(),
                &concrete,
                Some(admin),
                b"",
            );
            assert!(
                answer.status != 404 || answer.json()["rule"] != "no_such_endpoint",
                "{method} {path} is documented but not served"
            );
            assert_ne!(answer.status, 405, "{method} {path}");
        }
    }
    // Every route the server has is documented.
    let routes: BTreeSet<(String, String)> = arl_server::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(routes, documented);
    // And a path that is not a route is a JSON 404.
    let missing = server.get("/v1/nope", Some(admin));
    assert_eq!(
        (missing.status, missing.json()["rule"].as_str()),
        (404, Some("no_such_endpoint"))
    );
}

fn rename_line(id: &str, name: &str) -> String {
    format!(
        r#"{{"type":"account.renamed","data":{{"account":"globex-fr","name":"{name}"}},"id":"{id}"}}"#
    )
}

#[test]
fn subscriptions_catch_up_follow_and_resume() {
    let fixture = Fixture::new();
    let server = fixture.serve(&[]);
    let auditor = fixture.tokens["auditor"].clone();
    let writer = fixture.tokens["writer"].clone();
    let (status, mut stream) = open_lines(
        &server.addr,
        "/v1/events?from_seq=1&follow=true",
        &auditor,
        &[],
    );
    assert_eq!(status, 200);
    for seq in 1..=41 {
        assert_eq!(next_seq(&mut stream), Some(seq), "catch-up");
    }
    // Three clients append concurrently; the subscriber gets every new seq once, in order,
    // soon after each append's answer.
    let appenders: Vec<_> = (0..3)
        .map(|client| {
            let addr = server.addr.clone();
            let writer = writer.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for n in 0..10 {
                    let line = rename_line(
                        &format!("c{client}-{n}"),
                        &format!("Globex France {client}-{n}"),
                    );
                    let answer =
                        request(&addr, "POST", "/v1/events", Some(&writer), line.as_bytes());
                    assert_eq!(answer.status, 200, "{}", answer.text());
                    let seq = answer.json()["seq"].as_u64().expect("seq");
                    acknowledged.push((seq, Instant::now()));
                }
                acknowledged
            })
        })
        .collect();
    let mut received = Vec::new();
    for _ in 0..30 {
        let seq = next_seq(&mut stream).expect("a live envelope");
        received.push((seq, Instant::now()));
    }
    let acknowledged: Vec<(u64, Instant)> = appenders
        .into_iter()
        .flat_map(|a| a.join().expect("appender"))
        .collect();
    let seqs: Vec<u64> = received.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (42..=71).collect::<Vec<_>>(),
        "every seq once, in order"
    );
    let mut worst = Duration::ZERO;
    for (seq, answered) in &acknowledged {
        let (_, got) = received.iter().find(|(s, _)| s == seq).expect("received");
        worst = worst.max(got.saturating_duration_since(*answered));
    }
    eprintln!("live delivery: at most {worst:?} after the append's answer");
    assert!(
        worst < Duration::from_secs(1),
        "live delivery took {worst:?}"
    );
    drop(stream);
    // Resume after seq 50: nothing lost, nothing repeated; then filters.
    let (_, mut resumed) = open_lines(&server.addr, "/v1/events?from_seq=51", &auditor, &[]);
    let rest: Vec<u64> = std::iter::from_fn(|| next_seq(&mut resumed)).collect();
    assert_eq!(rest, (51..=71).collect::<Vec<_>>());
    let (_, mut filtered) = open_lines(
        &server.addr,
        "/v1/events?account=globex-de&type=team.assigned",
        &auditor,
        &[],
    );
    let mut count = 0;
    while let Some(line) = filtered.next_line() {
        let v: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(
            (v["stream"].as_str(), v["type"].as_str()),
            (Some("account/globex-de"), Some("team.assigned"))
        );
        count += 1;
    }
    assert!(count > 0);
    // Server-Sent Events resume by Last-Event-ID.
    let (status, mut sse) = open_lines(
        &server.addr,
        "/v1/events?follow=true",
        &auditor,
        &[("Accept", "text/event-stream"), ("Last-Event-ID", "69")],
    );
    assert_eq!(status, 200);
    assert_eq!(sse.next_line().as_deref(), Some("id: 70"));
    assert_eq!(sse.next_line().as_deref(), Some("event: envelope"));
    assert!(sse
        .next_line()
        .expect("data")
        .starts_with("data: {\"seq\":70,"));
    assert_eq!(next_seq(&mut sse), Some(71));
}

#[test]
fn a_subscriber_that_stops_reading_is_dropped_with_a_resume_line() {
    let fixture = Fixture::new();
    // Enough envelopes to fill the kernel's socket buffers and the server's small one.
    let lines: String = (0..20_000)
        .map(|n| {
            format!(
                "{}\n",
                rename_line(
                    &format!("bulk-{n}"),
                    &format!("Globex France {n} {}", "x".repeat(150))
                )
            )
        })
        .collect();
    let server = fixture.serve(&["--subscriber-buffer", "8", "--subscriber-stall-secs", "1"]);
    let answer = server.post(
        "/v1/events",
        Some(&fixture.tokens["writer"]),
        lines.as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let auditor = fixture.tokens["auditor"].clone();
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    Request::get("/v1/events?from_seq=1&follow=true")
        .bearer(Some(&auditor))
        .write_to(&mut stream, &server.addr)
        .expect("sending a subscription");
    // Read nothing until the server has given up on this client.
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = server.get("/metrics", Some(&auditor)).text();
        if metrics.contains("arl_dropped_subscribers_total 1") {
            break;
        }
        assert!(Instant::now() < deadline, "not dropped: {metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // What was buffered still arrives, then the line that says where to resume.
    let (status, mut lines) = Lines::read(stream);
    assert_eq!(status, 200);
    let mut last_seq = 0;
    let mut last = String::new();
    while let Some(line) = lines.next_line() {
        let value: Value = serde_json::from_str(&line).expect("JSON");
        match value["seq"].as_u64() {
            Some(seq) => {
                assert_eq!(seq, last_seq + 1);
                last_seq = seq;
            }
            None => last = line,
        }
    }
    let goodbye: Value = serde_json::from_str(&last).expect("a last line");
    assert_eq!(goodbye["rule"], "stream_ended");
    assert_eq!(goodbye["resume_from_seq"], last_seq + 1);
    assert!(goodbye["error"]
        .as_str()
        .expect("error")
        .contains("dropped"));
    assert!(last_seq < 20_041, "the server kept only a bounded part");
    // The server goes on serving.
    assert_eq!(server.get("/healthz", None).status, 200);
}

/// Appends batches of three from `clients` threads until `stop`; each thread's list of
/// acknowledged batches (their ids).
fn append_until(
    addr: &str,
    token: &str,
    clients: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<Vec<String>>>> {
    (0..clients)
        .map(|client| {
            let addr = addr.to_string();
            let token = token.to_string();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for batch in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let ids: Vec<String> =
                        (0..3).map(|i| format!("k{client}-{batch}-{i}")).collect();
                    let body: String = ids
                        .iter()
                        .map(|id| rename_line(id, &format!("Globex France {id}")) + "\n")
                        .collect();
                    let sent = Request::post("/v1/events", body.as_bytes())
                        .bearer(Some(&token))
                        .try_send(&addr);
                    let Ok(answer) = sent else {
                        break;
                    };
                    if answer.status == 200 {
                        acknowledged.push(ids);
                    } else {
                        break;
                    }
                }
                acknowledged
            })
        })
        .collect()
}

/// Every acknowledged batch is in the ledger, and every batch is wholly there or absent.
fn check_batches(fixture: &Fixture, acknowledged: &[Vec<String>]) {
    let export = fixture.run(&["export"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let ids: BTreeSet<String> = export
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON")["id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    for batch in acknowledged {
        for id in batch {
            assert!(ids.contains(id), "acknowledged {id} is missing");
        }
    }
    let mut by_batch: BTreeMap<String, usize> = BTreeMap::new();
    for id in ids.iter().filter(|id| id.starts_with('k')) {
        let batch = id.rsplit_once('-').expect("batch").0.to_string();
        *by_batch.entry(batch).or_default() += 1;
    }
    for (batch, count) in by_batch {
        assert_eq!(count, 3, "batch {batch} is half there");
    }
    let verify = fixture.run(&["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}

fn kill_during_appends(signal: &str) -> (Option<i32>, usize) {
    let fixture = Fixture::new();
    let mut server = fixture.serve(&[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads = append_until(&server.addr, &fixture.tokens["writer"], 4, &stop);
    // Wait until some appends are acknowledged, then signal mid-stream.
    let deadline = Instant::now() + WAIT;
    while server
        .get("/v1/digest", Some(&fixture.tokens["reader"]))
        .json()["seq"]
        .as_u64()
        < Some(41 + 60)
    {
        assert!(Instant::now() < deadline, "appends did not progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.signal(signal);
    let code = server.wait_exit(WAIT);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let acknowledged: Vec<Vec<String>> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("appender"))
        .collect();
    check_batches(&fixture, &acknowledged);
    // The ledger serves again after the restart.
    let again = fixture.serve(&[]);
    assert_eq!(again.get("/healthz", None).status, 200);
    (code, acknowledged.len())
}

#[test]
fn sigkill_during_concurrent_appends_loses_no_acknowledged_batch() {
    let (code, acknowledged) = kill_during_appends("KILL");
    assert_eq!(code, None, "killed by a signal");
    assert!(acknowledged >= 20, "{acknowledged}");
}

#[test]
fn sigterm_during_appends_exits_zero_with_every_acknowledged_batch() {
    let (code, acknowledged) = kill_during_appends("TERM");
    assert_eq!(code, Some(0));
    assert!(acknowledged >= 20, "{acknowledged}");
}

#[test]
fn every_request_is_logged_and_the_log_is_written_out_at_sigterm() {
    let fixture = Fixture::new();
    let log_path = fixture.dir().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = Served::start_logging(
        &fixture.dir(),
        &[],
        WAIT,
        "info",
        std::process::Stdio::from(log),
    );
    let reader = fixture.tokens["reader"].as_str();
    let asked = 300;
    for _ in 0..asked {
        assert_eq!(server.get("/v1/accounts/globex", Some(reader)).status, 200);
    }
    assert_eq!(server.get("/v1/nowhere", Some(reader)).status, 404);
    server.signal("TERM");
    assert_eq!(server.wait_exit(WAIT), Some(0));
    let log = std::fs::read_to_string(&log_path).expect("the log");
    let cards = log
        .lines()
        .filter(|l| {
            l.contains("request") && l.contains("/v1/accounts/{id}") && l.contains("status=200")
        })
        .count();
    assert_eq!(cards, asked, "{log}");
    assert!(log.lines().any(|l| l.contains("status=404")), "{log}");
    // The shutdown's own line, logged after the last request, is there too.
    assert!(log.contains("stopping: no new connections"), "{log}");
    assert!(log.ends_with('\n'), "whole lines only: {log}");
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one server, one bad request after another, each with its expected answer"
)]
fn bad_requests_get_json_4xx_and_the_server_keeps_serving() {
    let fixture = Fixture::new();
    let server = fixture.serve(&[
        "--body-bytes-max",
        "4096",
        "--batch-lines-max",
        "5",
        "--connections-max",
        "40",
        "--header-timeout-secs",
        "1",
    ]);
    let writer = fixture.tokens["writer"].as_str();
    let reader = fixture.tokens["reader"].as_str();
    let check = |answer: Response, status: u16, rule: &str| {
        assert_eq!(answer.status, status, "{}", answer.text());
        assert_eq!(
            answer.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        let error = answer.json();
        assert_eq!(error["rule"], rule, "{error}");
        assert!(!error["error"].as_str().expect("error").is_empty());
        error
    };
    let e = check(
        server.post(
            "/v1/events",
            Some(writer),
            b"{\"type\":\"account.renamed\",\n",
        ),
        400,
        "malformed",
    );
    assert_eq!(e["line"], 1);
    let two = format!(
        "{}\n{{\"type\":\"account.renamed\",\"data\":{{\"account\":\"globex\"}},\"bogus\":1}}\n",
        rename_line("ok-1", "A")
    );
    let e = check(
        server.post("/v1/events", Some(writer), two.as_bytes()),
        400,
        "malformed",
    );
    assert_eq!(e["line"], 2);
    let rule = br#"{"type":"team.assigned","data":{"account":"globex","person":"chen","role":"sales_rep"},"effective_at":"2023-08-01"}"#;
    let e = check(server.post("/v1/events", Some(writer), rule), 422, "rule");
    assert_eq!(e["line"], 1);
    assert!(
        e["error"]
            .as_str()
            .expect("error")
            .contains("left on 2023-06-30"),
        "{e}"
    );
    assert!(e["fix"].as_str().expect("fix").contains("back-date"), "{e}");
    let stale = br#"{"type":"account.renamed","data":{"account":"globex","name":"G"},"expected_version":1}"#;
    check(
        server.post("/v1/events", Some(writer), stale),
        409,
        "stale_version",
    );
    check(
        server.post("/v1/events", Some(writer), &vec![b' '; 5000]),
        413,
        "body_too_large",
    );
    let six: String = (0..6)
        .map(|n| rename_line(&format!("six-{n}"), "S") + "\n")
        .collect();
    check(
        server.post("/v1/events", Some(writer), six.as_bytes()),
        413,
        "too_many_lines",
    );
    check(
        server.post("/v1/events", Some(writer), b"\n\n"),
        400,
        "empty_batch",
    );
    check(
        server.get("/v1/accounts?as_off=2023-01-01", Some(reader)),
        400,
        "unknown_parameter",
    );
    check(
        server.get("/v1/accounts/globex?as_of=2023-02-30", Some(reader)),
        400,
        "bad_parameter",
    );
    check(
        server.get("/v1/balances?period=week", Some(reader)),
        400,
        "bad_parameter",
    );
    check(
        server.get("/v1/accounts/globex/diff?from=2023-01-01", Some(reader)),
        400,
        "missing_parameter",
    );
    check(
        server.get("/v1/accounts/nope", Some(reader)),
        404,
        "not_found",
    );
    check(
        server.get("/v1/nope", Some(reader)),
        404,
        "no_such_endpoint",
    );
    check(
        request(&server.addr, "DELETE", "/v1/accounts", Some(reader), b""),
        405,
        "method_not_allowed",
    );
    // Nothing of the refused batches was appended.
    assert_eq!(server.get("/v1/digest", Some(reader)).json()["seq"], 41);
    // A client that never finishes its request's head is cut off.
    let mut slow = TcpStream::connect(&server.addr).expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("partial head");
    slow.set_read_timeout(Some(WAIT)).expect("timeout");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the slow client was not cut off"
    );
    // Connections beyond the limit get a 429 JSON answer and the server keeps serving.
    let held: Vec<TcpStream> = (0..60)
        .filter_map(|_| TcpStream::connect(&server.addr).ok())
        .collect();
    let refused = held
        .into_iter()
        .filter_map(|mut s| {
            s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text.starts_with("HTTP/1.1 429").then_some(text)
        })
        .collect::<Vec<_>>();
    assert!(!refused.is_empty(), "no connection was refused");
    assert!(
        refused[0].contains("\"rule\":\"too_many_connections\""),
        "{}",
        refused[0]
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = server.get("/healthz", None);
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the server stopped serving");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Appends still work, and an id sent twice is a duplicate, not a second event.
    let line = rename_line("twice", "Globex France Twice");
    let first = server
        .post("/v1/events", Some(writer), line.as_bytes())
        .json();
    let second = server
        .post("/v1/events", Some(writer), line.as_bytes())
        .json();
    assert_eq!(
        (first["appended"].as_u64(), second["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn tls_serves_https_and_nothing_in_clear_text() {
    let fixture = Fixture::new();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let cert = fixture.tmp.path().join("cert.pem");
    let key = fixture.tmp.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("key");
    let server = fixture.serve(&[
        "--tls-cert",
        cert.to_str().expect("path"),
        "--tls-key",
        key.to_str().expect("path"),
    ]);
    // A client that trusts the certificate gets the answers.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("a root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let connection =
        rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("a connection");
    let socket = TcpStream::connect(&server.addr).expect("connect");
    socket.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut tls = rustls::StreamOwned::new(connection, socket);
    let token = &fixture.tokens["reader"];
    let head = format!(
        "GET /v1/accounts/globex HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).expect("a request over TLS");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"account\": \"globex\""), "{text}");
    // Clear text on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(&server.addr).expect("connect");
    plain.set_read_timeout(Some(WAIT)).expect("timeout");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("a clear-text request");
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("\"ok\""));
}

#[test]
fn a_public_address_needs_tls_or_insecure_listen() {
    let fixture = Fixture::new();
    let run = fixture.run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--insecure-listen"), "{}", run.stderr);
}

#[test]
fn a_limit_of_zero_is_a_usage_error() {
    let fixture = Fixture::new();
    for flag in [
        "--body-bytes-max",
        "--batch-lines-max",
        "--request-timeout-secs",
        "--subscriptions-max",
        "--subscriber-buffer",
        "--subscriber-stall-secs",
        "--connections-max",
        "--header-timeout-secs",
        "--group-events-max",
    ] {
        let run = fixture.run(&["serve", "--listen", "127.0.0.1:0", flag, "0"]);
        assert_eq!(run.code, 2, "{flag}: {}", run.stderr);
        assert!(run.stderr.contains(flag), "{flag}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{flag}: no server started");
    }
}

/// `arl --server URL ARGS` with `token`: exit code, standard output and standard error.
fn through_server(url: &str, token: &str, extra: &[&str], args: &[&str]) -> Run {
    let out = Command::new(arl_binary())
        .args(["--server", url])
        .args(extra)
        .args(args)
        .env("ARL_TOKEN", token)
        .env("NO_COLOR", "1")
        .env_remove("ARL_SERVER")
        .env_remove("ARL_CA_CERT")
        .output()
        .expect("arl --server");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The command lines whose tables and graphs are drawn by the client from the JSON answer.
const DRAWN: &[&str] = &[
    "account globex-de",
    "account globex-de --as-of 2023-06-30 --known-at 2023-07-05",
    "account globex --format table",
    "accounts",
    "accounts --key-accounts --as-of 2023-06-30",
    "accounts --tree",
    "accounts --tree --format dot",
    "accounts --tree --format mermaid",
    "accounts --format dot",
    "team globex-de",
    "team globex-de --as-of 2023-07-01 --known-at 2023-07-05",
    "team globex-de --timeline",
    "contacts globex-de",
    "txns globex",
    "txns globex --from 2023-01-01 --to 2023-06-30",
    "balance",
    "balance globex --rollup --period quarter",
    "history globex-de",
    "history globex-de --at-seq 20",
    "diff globex-de --from 2023-06-15 --to 2023-07-01",
    "diff globex-de --from 2023-06-15 --to 2023-06-16",
    "portfolio ben",
    "org",
    "org --as-of 2023-06-01",
    "org --format dot",
    "org --format mermaid",
    "log",
    "log --account globex-de --limit 5",
    "account no-such-account",
];

#[test]
fn the_cli_over_the_server_draws_the_same_tables_and_graphs() {
    let fixture = Fixture::new();
    let local: Vec<Run> = DRAWN
        .iter()
        .map(|args| cli(&fixture, &args.split_whitespace().collect::<Vec<_>>()))
        .collect();
    let server = fixture.serve(&[]);
    let admin = fixture.tokens["admin"].as_str();
    let mut drawn = 0;
    for (args, local) in DRAWN.iter().zip(&local) {
        let args: Vec<&str> = args.split_whitespace().collect();
        let remote = through_server(&server.url(""), admin, &[], &args);
        assert_eq!(remote.code, local.code, "{args:?}: {}", remote.stderr);
        assert_eq!(remote.stdout, local.stdout, "arl --server {args:?}");
        if local.code == 0 {
            // The notes on standard error (the number of accounts, an empty diff) too.
            assert_eq!(remote.stderr, local.stderr, "arl --server {args:?}");
            assert!(!local.stdout.is_empty(), "{args:?}");
            drawn += 1;
        }
    }
    // Every case but the unknown account and the hierarchy's graph without --tree drew.
    assert_eq!(drawn, DRAWN.len() - 2);
    // The errors say the same up to the time of the question (now, on each side).
    let unknown = through_server(&server.url(""), admin, &[], &["account", "no-such-account"]);
    assert!(
        unknown
            .stderr
            .starts_with("arl: account \"no-such-account\" does not exist as of"),
        "{}",
        unknown.stderr
    );
    assert!(
        local[0].stdout.contains('│'),
        "a table: {}",
        local[0].stdout
    );
}

#[test]
fn the_cli_reaches_an_https_server_that_its_ca_cert_trusts() {
    let fixture = Fixture::new();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let cert = fixture.tmp.path().join("cert.pem");
    let key = fixture.tmp.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("key");
    let cert_arg = cert.to_str().expect("path");
    let cases = [
        "account globex-de",
        "account globex-de --format json",
        "digest",
    ];
    let local: Vec<Run> = cases
        .iter()
        .map(|args| cli(&fixture, &args.split_whitespace().collect::<Vec<_>>()))
        .collect();
    let server = fixture.serve(&[
        "--tls-cert",
        cert_arg,
        "--tls-key",
        key.to_str().expect("path"),
    ]);
    let port = server.addr.rsplit(':').next().expect("a port");
    let url = format!("https://localhost:{port}");
    let reader = fixture.tokens["reader"].as_str();
    for (args, local) in cases.iter().zip(&local) {
        let args: Vec<&str> = args.split_whitespace().collect();
        assert_eq!(local.code, 0, "{}", local.stderr);
        let remote = through_server(&url, reader, &["--ca-cert", cert_arg], &args);
        assert_eq!(remote.code, 0, "{args:?}: {}", remote.stderr);
        assert_eq!(remote.stdout, local.stdout, "arl --server {url} {args:?}");
    }
    // A CA that did not sign the server's certificate: an error, no answer.
    let other =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let other_cert = fixture.tmp.path().join("other.pem");
    std::fs::write(&other_cert, other.cert.pem()).expect("cert");
    let other_arg = other_cert.to_str().expect("path");
    let untrusted = through_server(&url, reader, &["--ca-cert", other_arg], &["digest"]);
    assert_eq!(untrusted.code, 1, "{}", untrusted.stderr);
    assert!(untrusted.stdout.is_empty());
    assert!(
        untrusted.stderr.contains("cannot reach the server"),
        "{}",
        untrusted.stderr
    );
    // Plain http to the TLS port: an error too.
    let plain = through_server(&server.url(""), reader, &[], &["digest"]);
    assert_ne!(plain.code, 0);
    assert!(plain.stdout.is_empty());
}

/// Whether the server's writer is appending a group now (`arl_writer_busy` of /metrics).
fn writer_busy(server: &Served, token: &str) -> bool {
    let metrics = server.get("/metrics", Some(token));
    assert_eq!(metrics.status, 200, "{}", metrics.text());
    metrics.text().lines().any(|l| l == "arl_writer_busy 1")
}

#[test]
fn log_reads_are_answered_while_the_writer_appends() {
    let fixture = Fixture::new();
    let server = fixture.serve(&[]);
    let writer = fixture.tokens["writer"].clone();
    let auditor = fixture.tokens["auditor"].as_str();
    // A round is conclusive when the reads were sent after the writer began a large append
    // and the writer was still at it once they were all answered. Reads queued behind the
    // writer would never be: they would run after its commit.
    let mut conclusive = 0;
    for round in 0..3 {
        let head = server.get("/v1/digest", Some(auditor)).json()["seq"]
            .as_u64()
            .expect("a head seq");
        let body: String = (0..100_000)
            .map(|i| {
                rename_line(&format!("busy-{round}-{i}"), &format!("Globex France {i}")) + "\n"
            })
            .collect();
        let (addr, token) = (server.addr.clone(), writer.clone());
        let append = std::thread::spawn(move || {
            Request::post("/v1/events", body.as_bytes())
                .bearer(Some(&token))
                .send(&addr)
        });
        let deadline = Instant::now() + WAIT;
        let mut busy = false;
        while !append.is_finished() && Instant::now() < deadline {
            busy = writer_busy(&server, auditor);
            if busy {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if busy {
            let history = server.get("/v1/accounts/globex-de/history", Some(auditor));
            let proof = server.get("/v1/proof/5", Some(auditor));
            let export = server.get("/v1/export", Some(auditor));
            let still = writer_busy(&server, auditor);
            assert_eq!(history.status, 200, "{}", history.text());
            assert_eq!(proof.status, 200, "{}", proof.text());
            assert_eq!(export.status, 200, "{}", export.text());
            // The export is the committed log before the append, whole.
            let last: Value = serde_json::from_str(export.text().lines().last().expect("a line"))
                .expect("an envelope");
            assert_eq!(last["seq"].as_u64(), Some(head), "{round}");
            assert_eq!(export.text().lines().count() as u64, head);
            if still {
                conclusive += 1;
            }
        }
        let answer = append.join().expect("the append's thread");
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["appended"].as_u64(), Some(100_000));
        if conclusive > 0 {
            break;
        }
    }
    assert!(
        conclusive > 0,
        "in 3 rounds no log read was answered while the writer appended"
    );
}

/// The command lines asked with `--evidence FILE` in the evidence test (the point fixed,
/// so the local and the served bundle answer the same question).
const EVIDENCE_ASKS: &[&str] = &[
    "account globex-de --as-of 2023-07-01 --known-at 2023-07-05 --format json",
    "team globex-de --as-of 2023-07-01 --format json",
    "contacts globex-de --as-of 2023-07-01 --at-seq 20 --format json",
    "portfolio chen --as-of 2023-07-01 --format json",
    "balance globex --period quarter --rollup --as-of 2023-12-31 --format json",
    "history globex-de --format json",
];

#[test]
fn without_a_signing_key_evidence_fails_the_same_over_the_server() {
    let fixture = Fixture::new();
    let tmp = fixture.tmp.path().to_path_buf();
    let auditor = fixture.tokens["auditor"].clone();
    let file = |name: &str| tmp.join(name).to_str().expect("path").to_string();
    // The same error (exit 1) locally and over the server.
    let no_key_local = cli(&fixture, &["checkpoint"]);
    let no_key_bundle = cli(
        &fixture,
        &["account", "globex", "--evidence", &file("x.json")],
    );
    let server = fixture.serve(&[]);
    let remote = through_server(&server.url(""), &auditor, &[], &["checkpoint"]);
    assert_eq!((remote.code, &remote.stderr), (1, &no_key_local.stderr));
    let remote = through_server(
        &server.url(""),
        &auditor,
        &[],
        &["account", "globex", "--evidence", &file("x.json")],
    );
    assert_eq!((remote.code, &remote.stderr), (1, &no_key_bundle.stderr));
    assert!(no_key_bundle.stderr.contains("no signing key"));
}

#[test]
fn evidence_and_checkpoints_over_the_server_are_the_local_ones() {
    let fixture = Fixture::new();
    let tmp = fixture.tmp.path().to_path_buf();
    let auditor = fixture.tokens["auditor"].clone();
    let file = |name: &str| tmp.join(name).to_str().expect("path").to_string();
    let with_file = |ask: &str, path: &str| -> Vec<String> {
        let mut args: Vec<String> = ask.split_whitespace().map(str::to_string).collect();
        args.extend(["--evidence".to_string(), path.to_string()]);
        args
    };
    let key = cli(&fixture, &["key", "init", "--name", "arl.globex"]);
    assert_eq!(key.code, 0, "{}", key.stderr);
    let public = key.stdout.trim().to_string();
    // The local answers and bundles first (the server holds the ledger's lock).
    let mut local = Vec::new();
    for (n, ask) in EVIDENCE_ASKS.iter().enumerate() {
        let path = file(&format!("local-{n}.json"));
        let args = with_file(ask, &path);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = cli(&fixture, &refs);
        assert_eq!(run.code, 0, "{ask}: {}", run.stderr);
        local.push((run, std::fs::read_to_string(&path).expect("local bundle")));
    }
    let local_checkpoint = cli(&fixture, &["checkpoint"]);
    assert_eq!(local_checkpoint.code, 0, "{}", local_checkpoint.stderr);
    let whole_local = cli(&fixture, &["balance", "--evidence", &file("whole.json")]);
    assert_eq!(whole_local.code, 2);
    let server = fixture.serve(&[]);
    let url = server.url("");
    for (n, (ask, (run, bundle))) in EVIDENCE_ASKS.iter().zip(&local).enumerate() {
        let path = file(&format!("served-{n}.json"));
        let args = with_file(ask, &path);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let remote = through_server(&url, &auditor, &[], &refs);
        assert_eq!(remote.code, 0, "{ask}: {}", remote.stderr);
        assert_eq!(remote.stdout, run.stdout, "{ask}: the answer");
        let local_path = file(&format!("local-{n}.json"));
        assert_eq!(
            remote.stderr.replace(&path, &local_path),
            run.stderr,
            "{ask}: the note"
        );
        let served = std::fs::read_to_string(&path).expect("served bundle");
        assert_eq!(&served, bundle, "{ask}: the served bundle is the local one");
        let checked = run_arl(
            &tmp.join("no-ledger"),
            &["evidence", "check", &path, "--key", &public],
        );
        assert_eq!(checked.code, 0, "{ask}: {}", checked.stderr);
        assert!(checked.stdout.starts_with(&run.stdout), "{ask}");
    }
    // The checkpoint of the same head is the note kept locally.
    let remote = through_server(&url, &auditor, &[], &["checkpoint"]);
    assert_eq!(remote.code, 0, "{}", remote.stderr);
    assert_eq!(remote.stdout, local_checkpoint.stdout);
    // A reader may not ask for either; a balance of every account has no evidence.
    let reader = fixture.tokens["reader"].as_str();
    let refused = through_server(&url, reader, &[], &["checkpoint"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let whole = through_server(
        &url,
        &auditor,
        &[],
        &["balance", "--evidence", &file("w.json")],
    );
    assert_eq!((whole.code, &whole.stderr), (2, &whole_local.stderr));
    for bad in [
        "/v1/evidence/nothing/globex",
        "/v1/evidence/account/no-such-account?as_of=2023-07-01",
        "/v1/evidence/account/globex?period=month",
        "/v1/evidence/balance/globex?period=week",
    ] {
        let answer = server.get(bad, Some(&auditor));
        assert!(
            matches!(answer.status, 400 | 404),
            "{bad}: {}",
            answer.text()
        );
        assert!(answer.json()["error"].is_string(), "{bad}");
    }
    // After an append the next checkpoint commits to the new head, and the server keeps
    // serving.
    let line = rename_line("evidence-rename", "Globex Evidence");
    let writer = fixture.tokens["writer"].as_str();
    assert_eq!(
        server
            .post("/v1/events", Some(writer), line.as_bytes())
            .status,
        200
    );
    let moved = server.get("/v1/checkpoint", Some(&auditor));
    assert_eq!(moved.status, 200);
    assert_ne!(moved.text(), local_checkpoint.stdout);
}

#[test]
fn verify_with_a_digest_views_only_and_a_checkpoint_over_the_server() {
    let fixture = Fixture::new();
    let tmp = fixture.tmp.path().to_path_buf();
    let path = |name: &str| tmp.join(name).to_str().expect("path").to_string();
    let key = cli(&fixture, &["key", "init"]);
    assert_eq!(key.code, 0, "{}", key.stderr);
    let public = key.stdout.trim().to_string();
    let digest = cli(&fixture, &["digest"]);
    std::fs::write(path("digest.json"), &digest.stdout).expect("digest");
    // A digest the log does not extend: its root forged.
    let value: Value = serde_json::from_str(&digest.stdout).expect("digest JSON");
    let root = value["root"].as_str().expect("root");
    let forged = digest.stdout.replace(root, &"0".repeat(64));
    std::fs::write(path("forged.json"), forged).expect("forged");
    let note = cli(&fixture, &["checkpoint"]);
    assert_eq!(note.code, 0, "{}", note.stderr);
    std::fs::write(path("checkpoint.note"), &note.stdout).expect("note");
    let (digest_file, forged_file, note_file) = (
        path("digest.json"),
        path("forged.json"),
        path("checkpoint.note"),
    );
    let cases: Vec<Vec<&str>> = vec![
        vec!["verify", "--digest", &digest_file],
        vec!["verify", "--digest", &digest_file, "--format", "json"],
        vec!["verify", "--views-only"],
        vec!["verify", "--views-only", "--format", "json"],
        vec!["verify", "--checkpoint", &note_file, "--key", &public],
        vec![
            "verify",
            "--checkpoint",
            &note_file,
            "--key",
            &public,
            "--format",
            "json",
        ],
        vec!["verify", "--digest", &forged_file],
        vec!["verify", "--checkpoint", &note_file],
    ];
    let local: Vec<Run> = cases.iter().map(|args| cli(&fixture, args)).collect();
    assert_eq!(
        local.iter().map(|r| r.code).collect::<Vec<_>>(),
        [0, 0, 0, 0, 0, 0, 3, 2]
    );
    let server = fixture.serve(&[]);
    let auditor = fixture.tokens["auditor"].as_str();
    for (args, local) in cases.iter().zip(&local) {
        let remote = through_server(&server.url(""), auditor, &[], args);
        assert_eq!(remote.code, local.code, "{args:?}: {}", remote.stderr);
        assert_eq!(remote.stdout, local.stdout, "{args:?}");
        if local.code == 3 {
            assert_eq!(remote.stderr, local.stderr, "{args:?}");
        }
    }
    // After an append the log still extends the checkpoint and the digest.
    let line = rename_line("verify-rename", "Globex Verified");
    let writer = fixture.tokens["writer"].as_str();
    assert_eq!(
        server
            .post("/v1/events", Some(writer), line.as_bytes())
            .status,
        200
    );
    let moved = through_server(
        &server.url(""),
        auditor,
        &[],
        &[
            "verify",
            "--digest",
            &digest_file,
            "--checkpoint",
            &note_file,
            "--key",
            &public,
        ],
    );
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    assert!(
        moved.stdout.contains("extends the checkpoint at seq 41"),
        "{}",
        moved.stdout
    );
    // Bad parameters and bodies are JSON 400s, and the server keeps serving.
    for (path, body) in [
        ("/v1/verify?digest_seq=3", &b""[..]),
        (
            "/v1/verify?views_only=true&digest_seq=1&digest_head=00&digest_root=00",
            b"",
        ),
        ("/v1/verify", b"not a note"),
    ] {
        let answer = server.post(path, Some(auditor), body);
        assert_eq!(answer.status, 400, "{path}: {}", answer.text());
    }
    assert_eq!(server.get("/v1/digest", Some(auditor)).status, 200);
}

#[test]
fn a_log_answer_over_the_row_limit_is_refused_and_the_server_keeps_serving() {
    let fixture = Fixture::new();
    let auditor = fixture.tokens["auditor"].clone();
    let server = fixture.serve(&["--log-rows-max", "5"]);
    let refused = server.get("/v1/log", Some(&auditor));
    assert_eq!(refused.status, 400, "{}", refused.text());
    let error = refused.json();
    assert_eq!(error["rule"], "answer_too_large", "{error}");
    assert!(error["error"]
        .as_str()
        .expect("error")
        .contains("more than 5 envelopes"));
    assert!(error["fix"].as_str().expect("fix").contains("/v1/export"));
    // Within the limit: the answer, as asked.
    let five = server.get("/v1/log?limit=5", Some(&auditor));
    assert_eq!(five.status, 200, "{}", five.text());
    assert_eq!(five.json().as_array().expect("rows").len(), 5);
    let three = server.get("/v1/log?from_seq=2&to_seq=4", Some(&auditor));
    assert_eq!(three.status, 200, "{}", three.text());
    assert_eq!(three.json().as_array().expect("rows").len(), 3);
    // A larger limit than the server's is refused only when the answer is larger.
    let larger = server.get("/v1/log?limit=500", Some(&auditor));
    assert_eq!(larger.status, 400, "{}", larger.text());
    // The command line says so, and the export still streams every envelope.
    let cli_log = through_server(&server.url(""), &auditor, &[], &["log"]);
    assert_ne!(cli_log.code, 0);
    assert!(
        cli_log.stderr.contains("--log-rows-max"),
        "{}",
        cli_log.stderr
    );
    let export = server.get("/v1/export", Some(&auditor));
    assert_eq!(export.status, 200);
    assert!(export.text().lines().count() > 5);
}
