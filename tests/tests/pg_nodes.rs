//! Three `arl serve` nodes on loopback ports over one PostgreSQL database (`--store`),
//! each with its own directory (views, tokens): concurrent appends through all three make
//! one chain that verifies; every node answers the same once caught up (`min_seq`); a
//! subscription on each node sees every node's appends, in seq order; a node killed with
//! SIGKILL during appends loses no acknowledged event and leaves no half batch.
//!
//! PostgreSQL: `$ARL_TEST_PG`, default `postgres://root@127.0.0.1:5432`, a database per
//! test; unreachable is a failure, never a skip.

use arl_testkit::{assert_no_loss_no_half_batch, run_arl, PgDatabase, Served};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const NODES: usize = 3;

/// A node's directory with a writer and an auditor token.
struct Node {
    dir: PathBuf,
    writer: String,
    auditor: String,
}

fn token(dir: &Path, url: &str, name: &str, role: &str) -> String {
    let run = run_arl(
        dir,
        &[
            "--store", url, "token", "add", name, "--role", role, "--quiet",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_string()
}

fn node(root: &Path, url: &str, i: usize) -> Node {
    let dir = root.join(format!("node{i}"));
    std::fs::create_dir_all(&dir).unwrap();
    Node {
        writer: token(&dir, url, "w", "writer"),
        auditor: token(&dir, url, "a", "auditor"),
        dir,
    }
}

fn serve(node: &Node, url: &str) -> Served {
    Served::start(&node.dir, &["--store", url], WAIT)
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_read(Duration::from_secs(30))
        .build()
}

/// POSTs one batch; the answer's JSON, or the HTTP status of a refusal.
fn append(served: &Served, token: &str, body: &str) -> Result<Value, u16> {
    match agent()
        .post(&served.url("/v1/events"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_string(body)
    {
        Ok(r) => Ok(r.into_json().unwrap()),
        Err(ureq::Error::Status(code, _)) => Err(code),
        Err(e) => panic!("append to {}: {e}", served.addr),
    }
}

fn get(served: &Served, token: &str, path: &str) -> (u16, Value) {
    match agent()
        .get(&served.url(path))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
    {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("GET {path} on {}: {e}", served.addr),
    }
}

fn joined(person: &str) -> String {
    format!(
        r#"{{"id":"{person}","type":"person.joined","data":{{"person":"{person}","name":"N"}},"effective_at":"2024-01-02"}}"#
    )
}

/// Reads a `follow=true` subscription until it has `count` envelopes; their seqs.
fn subscribe(served: &Served, token: &str, count: usize) -> std::thread::JoinHandle<Vec<u64>> {
    let url = served.url("/v1/events?from_seq=1&follow=true");
    let token = token.to_string();
    std::thread::spawn(move || {
        let reader = agent()
            .get(&url)
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .expect("subscribing")
            .into_reader();
        let mut seqs = Vec::new();
        for line in std::io::BufReader::new(reader).lines() {
            let line = line.expect("reading the stream");
            let value: Value = serde_json::from_str(&line).expect("a JSON line");
            seqs.push(value["seq"].as_u64().expect("an envelope"));
            if seqs.len() == count {
                break;
            }
        }
        seqs
    })
}

#[test]
fn three_nodes_share_one_chain() {
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = (0..NODES).map(|i| node(tmp.path(), &db.url, i)).collect();
    let served: Vec<Served> = nodes.iter().map(|n| serve(n, &db.url)).collect();
    const PER_NODE: usize = 20;
    let total = NODES * PER_NODE;
    let subscriptions: Vec<_> = served
        .iter()
        .zip(&nodes)
        .map(|(s, n)| subscribe(s, &n.auditor, total))
        .collect();
    // Concurrent appends through every node.
    let acknowledged: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = served
            .iter()
            .zip(&nodes)
            .enumerate()
            .map(|(i, (s, n))| {
                scope.spawn(move || {
                    (0..PER_NODE)
                        .map(|k| {
                            let answer = append(s, &n.writer, &joined(&format!("p{i}-{k}")))
                                .unwrap_or_else(|code| panic!("node {i} append {k}: HTTP {code}"));
                            assert_eq!(answer["appended"], 1, "{answer}");
                            answer["seq"].as_u64().unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut seqs = acknowledged.clone();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=total as u64).collect::<Vec<_>>(),
        "one chain, no gaps"
    );
    // Every node answers the same once it has applied the last seq.
    let last = total as u64;
    let answers: Vec<Value> = served
        .iter()
        .zip(&nodes)
        .map(|(s, n)| {
            let (status, digest) = get(s, &n.auditor, &format!("/v1/digest?min_seq={last}"));
            assert_eq!(status, 200, "{digest}");
            assert_eq!(digest["seq"], last);
            let (status, card) = get(
                s,
                &n.auditor,
                &format!("/v1/people/p1-3/portfolio?min_seq={last}"),
            );
            assert_eq!(status, 200, "{card}");
            serde_json::json!([digest, card])
        })
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // A seq no node has: a JSON 503 naming it, after the wait.
    let (status, error) = get(
        &served[0],
        &nodes[0].auditor,
        &format!("/v1/digest?min_seq={}", last + 100),
    );
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["rule"], "min_seq_not_reached", "{error}");
    // Each node's subscription saw every append, in seq order.
    for (i, subscription) in subscriptions.into_iter().enumerate() {
        let got = subscription.join().unwrap();
        assert_eq!(
            got,
            (1..=last).collect::<Vec<_>>(),
            "subscription on node {i}"
        );
    }
    drop(served);
    let verify = run_arl(&nodes[1].dir, &["--store", &db.url, "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}

#[test]
fn a_killed_node_loses_no_acknowledged_event() {
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = (0..2).map(|i| node(tmp.path(), &db.url, i)).collect();
    let victim = serve(&nodes[0], &db.url);
    let survivor = serve(&nodes[1], &db.url);
    // Batches of three events through the victim until it is killed.
    let acknowledged = std::thread::scope(|scope| {
        let appender = scope.spawn(|| {
            let mut done: Vec<String> = Vec::new();
            for k in 0..10_000 {
                let ids: Vec<String> = (0..3).map(|j| format!("k{k}-{j}")).collect();
                let body: String = ids.iter().map(|id| joined(id) + "\n").collect();
                let sent = agent()
                    .post(&victim.url("/v1/events"))
                    .set("Authorization", &format!("Bearer {}", nodes[0].writer))
                    .send_string(&body);
                match sent {
                    Ok(_) => done.extend(ids),
                    Err(_) => break,
                }
            }
            done
        });
        std::thread::sleep(Duration::from_millis(1500));
        victim.signal("KILL");
        appender.join().unwrap()
    });
    assert!(
        !acknowledged.is_empty(),
        "no append was acknowledged before the kill"
    );
    // The survivor appends on, and sees every acknowledged event; no batch is half there.
    append(&survivor, &nodes[1].writer, &joined("after")).expect("the survivor appends");
    // Read through the command line with no node directory (the servers hold theirs).
    let cli = tmp.path().join("cli");
    let ids = db.exported_ids(&cli);
    assert_no_loss_no_half_batch(&ids, &acknowledged, |id| id.starts_with('k'));
    let verify = run_arl(&cli, &["--store", &db.url, "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    // The killed node comes back and catches up by itself.
    let back = serve(&nodes[0], &db.url);
    let seq = ids.len() as u64;
    let started = Instant::now();
    let (status, digest) = get(
        &back,
        &nodes[0].auditor,
        &format!("/v1/digest?min_seq={seq}"),
    );
    assert_eq!(status, 200, "{digest} after {:?}", started.elapsed());
    assert_eq!(digest["seq"], seq);
}
