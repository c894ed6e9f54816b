//! PostgreSQL restarted (`pg_ctlcluster 15 main restart`) under two running `arl serve
//! --store` nodes while clients append through both: no acknowledged event is lost, no
//! batch is half there, and the nodes reconnect and catch up by themselves.
//!
//! Alone in its test binary: the restart cuts every connection to the server, so no other
//! test of this workspace may use PostgreSQL at the same time (cargo runs test binaries one
//! after the other). Set `ARL_TEST_PG_RESTART` to another command to restart a server that
//! is not the machine's cluster 15/main.

use arl_testkit::{
    assert_no_loss_no_half_batch, pg_admin, pg_base_url, run_arl, PgDatabase, Served,
};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn token(dir: &Path, url: &str) -> String {
    let run = run_arl(
        dir,
        &[
            "--store", url, "token", "add", "t", "--role", "admin", "--quiet",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_string()
}

fn joined(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"person.joined","data":{{"person":"{id}","name":"N"}},"effective_at":"2024-01-02"}}"#
    )
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

/// Appends batches of three through `served` until `stop`; the ids acknowledged.
fn append_until(served: &Served, token: &str, prefix: &str, stop: &AtomicBool) -> Vec<String> {
    let mut acknowledged = Vec::new();
    let mut k = 0;
    while !stop.load(Ordering::SeqCst) {
        k += 1;
        let ids: Vec<String> = (0..3).map(|j| format!("{prefix}{k}-{j}")).collect();
        let body: String = ids.iter().map(|id| joined(id) + "\n").collect();
        let sent = agent()
            .post(&served.url("/v1/events"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_string(&body);
        match sent {
            Ok(_) => acknowledged.extend(ids),
            // Refused while the server is away: not acknowledged; try again a little later.
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    acknowledged
}

fn restart_postgres() {
    let command = std::env::var("ARL_TEST_PG_RESTART")
        .unwrap_or_else(|_| "pg_ctlcluster 15 main restart".to_string());
    let status = std::process::Command::new("sh")
        .args(["-c", &command])
        .status()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
    // Wait until it answers again.
    drop(pg_admin(&pg_base_url()));
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one scenario: start, append, restart PostgreSQL under the nodes, check"
)]
fn nodes_survive_a_postgres_restart() {
    let db = PgDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..2)
        .map(|i| tmp.path().join(format!("node{i}")))
        .collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir).unwrap();
    }
    let tokens: Vec<String> = dirs.iter().map(|d| token(d, &db.url)).collect();
    let served: Vec<Served> = dirs
        .iter()
        .map(|d| Served::start(d, &["--store", &db.url], WAIT))
        .collect();
    let stop = AtomicBool::new(false);
    let acknowledged: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = served
            .iter()
            .zip(&tokens)
            .enumerate()
            .map(|(i, (s, t))| {
                let stop = &stop;
                scope.spawn(move || append_until(s, t, &format!("n{i}k"), stop))
            })
            .collect();
        std::thread::sleep(Duration::from_secs(2));
        restart_postgres();
        // Both nodes must take appends again by themselves.
        std::thread::sleep(Duration::from_secs(5));
        stop.store(true, Ordering::SeqCst);
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    // After the restart, each node appends and answers (reconnected by itself).
    let mut last = 0;
    for (i, (s, t)) in served.iter().zip(&tokens).enumerate() {
        let started = Instant::now();
        let answer: Value = loop {
            let sent = agent()
                .post(&s.url("/v1/events"))
                .set("Authorization", &format!("Bearer {t}"))
                .send_string(&joined(&format!("after-{i}")));
            match sent {
                Ok(r) => break r.into_json().unwrap(),
                Err(e) => {
                    assert!(
                        started.elapsed() < WAIT,
                        "node {i} does not append again: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        last = last.max(answer["seq"].as_u64().unwrap());
    }
    let cli = tmp.path().join("cli");
    let ids = db.exported_ids(&cli);
    assert!(
        acknowledged.len() > 6,
        "too few appends went through: {}",
        acknowledged.len()
    );
    assert_no_loss_no_half_batch(&ids, &acknowledged, |id| !id.starts_with("after"));
    let verify = run_arl(&cli, &["--store", &db.url, "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    // Both nodes caught up: equal digests at the last seq.
    let digests: Vec<Value> = served
        .iter()
        .zip(&tokens)
        .map(|(s, t)| {
            agent()
                .get(&s.url(&format!("/v1/digest?min_seq={last}")))
                .set("Authorization", &format!("Bearer {t}"))
                .call()
                .expect("digest")
                .into_json()
                .unwrap()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(digests[0]["seq"], ids.len() as u64);
}
