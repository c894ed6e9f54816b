//! The architecture invariants of docs/ARCHITECTURE.md that the dependency graph can show,
//! checked on the workspace as it is: `cargo metadata` gives every crate's normal
//! (non-dev, non-build) dependencies, and no crate may reach, directly or through others,
//! what its invariant forbids.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// One invariant: none of `crates` may depend, directly or transitively, on any of
/// `forbidden`.
struct Rule {
    crates: &'static [&'static str],
    forbidden: &'static [&'static str],
    why: &'static str,
}

const PROJECTIONS: &[&str] = &["arl-fold", "arl-accounts", "arl-teams", "arl-txns"];
const TERMINAL: &[&str] = &["clap", "comfy-table", "indicatif"];
const HTTP: &[&str] = &["axum", "hyper", "tower-http"];
/// The library crates: none of them talks to a terminal or over HTTP.
const LIBRARIES: &[&str] = &[
    "arl-io",
    "arl-par",
    "arl-merkle",
    "arl-log",
    "arl-pg",
    "arl-domain",
    "arl-fold",
    "arl-accounts",
    "arl-teams",
    "arl-txns",
    "arl-views",
    "arl-query",
    "arl-evidence",
    "arl-gen",
    "arl-privacy",
];

const RULES: &[Rule] = &[
    Rule {
        crates: &["arl-log", "arl-views", "arl-query", "arl-server"],
        forbidden: &["arl-pg", "postgres", "tokio-postgres"],
        why: "PostgreSQL is arl-pg's alone: the log and the server speak to any store through the Store and SharedStore traits; arl-cli wires it in",
    },
    Rule {
        crates: &["arl-pg"],
        forbidden: &[
            "arl-domain",
            "arl-fold",
            "arl-accounts",
            "arl-teams",
            "arl-txns",
            "arl-views",
            "arl-query",
        ],
        why: "arl-pg stores the log's bytes: it knows nothing of accounts, people or money, nor of the views",
    },
    Rule {
        crates: &["arl-privacy"],
        forbidden: &["sled", "memmap2", "arl-log", "arl-views", "arl-query"],
        why: "the key store and the AEAD know no storage of the log or the views: a query layer or a server wraps any Source with them",
    },
    Rule {
        crates: &["arl-log"],
        forbidden: &[
            "arl-domain",
            "arl-fold",
            "arl-accounts",
            "arl-teams",
            "arl-txns",
            "arl-views",
            "arl-query",
        ],
        why: "the log crate knows nothing of accounts, people or money",
    },
    Rule {
        crates: PROJECTIONS,
        forbidden: &[
            "sled",
            "memmap2",
            "arl-io",
            "arl-log",
            "arl-views",
            "clap",
            "comfy-table",
            "indicatif",
        ],
        why: "the projection crates read through the Source trait: no storage, no terminal",
    },
    Rule {
        crates: &["arl-evidence", "arl-merkle"],
        forbidden: &[
            "sled",
            "memmap2",
            "arl-io",
            "arl-log",
            "arl-views",
            "arl-query",
        ],
        why: "a checker embeds arl-evidence with no storage at all",
    },
    Rule {
        crates: LIBRARIES,
        forbidden: TERMINAL,
        why: "only arl-cli (and the bench tool) does terminal IO",
    },
    Rule {
        crates: LIBRARIES,
        forbidden: HTTP,
        why: "only the server crate does HTTP",
    },
    Rule {
        crates: &["arl-server"],
        forbidden: TERMINAL,
        why: "only arl-cli does terminal IO; the server logs through tracing",
    },
    Rule {
        crates: &["arl-query"],
        // Not memmap2 as well: arl-query reaches it through arl-log, whose writer maps its
        // bucket tables.
        forbidden: &["arl-views"],
        why: "arl-query knows nothing of the views' files: it reads through Source",
    },
    Rule {
        crates: &["arl-io", "arl-par", "arl-merkle"],
        forbidden: &[
            "arl-log",
            "arl-domain",
            "arl-fold",
            "arl-views",
            "arl-query",
            "arl-evidence",
        ],
        why: "the leaf crates (file writes, threads, Merkle hashes) depend on no other arl crate",
    },
    Rule {
        crates: &["arl-web"],
        forbidden: &[
            "arl-log",
            "arl-domain",
            "arl-fold",
            "arl-views",
            "arl-query",
            "arl-server",
            "axum",
            "hyper",
            "tokio",
        ],
        why: "arl-web holds only the page's files: its script asks the API, it knows no ledger crate and no HTTP crate",
    },
];

/// Crate name → names of its normal dependencies (all packages of the resolved graph).
type Graph = BTreeMap<String, BTreeSet<String>>;

fn workspace_graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let mut graph = Graph::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
    {
        let name = names[node["id"].as_str().unwrap()];
        let normal = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|kind| kind["kind"].is_null())
            })
            .map(|dep| names[dep["pkg"].as_str().unwrap()].to_string());
        graph.entry(name.to_string()).or_default().extend(normal);
    }
    graph
}

/// Everything `from` reaches through normal dependencies.
fn reach(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(name) = todo.pop() {
        for dep in graph.get(&name).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

/// Every broken rule, as "crate reaches dep: why".
fn violations(graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for rule in RULES {
        for krate in rule.crates {
            let reached = reach(graph, krate);
            for dep in rule.forbidden {
                if reached.contains(*dep) {
                    out.push(format!("{krate} depends on {dep}: {}", rule.why));
                }
            }
        }
    }
    out
}

#[test]
fn the_workspace_keeps_its_architecture_invariants() {
    let graph = workspace_graph();
    // The rules name crates that exist: a renamed crate must not make its rule vacuous.
    for rule in RULES {
        for krate in rule.crates {
            assert!(graph.contains_key(*krate), "no crate named {krate}");
        }
    }
    assert!(
        reach(&graph, "arl-cli").contains("arl-log"),
        "the graph holds transitive dependencies"
    );
    let broken = violations(&graph);
    assert!(
        broken.is_empty(),
        "broken invariants:\n{}",
        broken.join("\n")
    );
}

#[test]
fn a_forbidden_dependency_is_caught_even_through_another_crate() {
    let mut graph = workspace_graph();
    // Inject: arl-merkle → arl-gen → arl-domain; arl-evidence → arl-views (→ sled).
    graph
        .get_mut("arl-gen")
        .unwrap()
        .insert("arl-domain".to_string());
    graph
        .get_mut("arl-merkle")
        .unwrap()
        .insert("arl-gen".to_string());
    graph
        .get_mut("arl-evidence")
        .unwrap()
        .insert("arl-views".to_string());
    let broken = violations(&graph);
    assert!(
        broken
            .iter()
            .any(|b| b.starts_with("arl-merkle depends on arl-domain")),
        "{broken:?}"
    );
    assert!(
        broken
            .iter()
            .any(|b| b.starts_with("arl-evidence depends on sled")),
        "{broken:?}"
    );
}
