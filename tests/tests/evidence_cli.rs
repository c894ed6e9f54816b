//! Evidence through the real `arl` binary on the Globex example: a signing key, bundles for
//! each command that takes `--evidence` whose answer is byte for byte what the command
//! prints, checked by `arl evidence check` (exit 0) and rejected when tampered with (exit 3);
//! `arl verify --checkpoint`, witnesses, and a checkpoint the log no longer extends.

mod support;

use support::{run_arl, Ledger};

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");

fn setup() -> (Ledger, String) {
    let ledger = Ledger::new();
    ledger.append(FIXTURE, true);
    let key = ledger.run(&["key", "init", "--name", "arl.globex"]);
    assert_eq!(key.code, 0, "{}", key.stderr);
    let public = key.stdout.trim().to_string();
    assert!(public.starts_with("arl.globex+"), "{public}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = ledger.dir().join("evidence/signing.key");
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is owner-only");
    }
    let whole = ledger.tmp.path().join("whole.json");
    let refused = ledger.run(&["balance", "--evidence", whole.to_str().unwrap()]);
    assert_eq!(
        refused.code, 2,
        "no bundle for every account: {}",
        refused.stderr
    );
    assert!(!whole.exists());
    let again = ledger.run(&["key", "init"]);
    assert_eq!(again.code, 1, "a second key init must not replace the key");
    (ledger, public)
}

#[test]
fn bundles_carry_the_printed_answer_and_check_without_the_ledger() {
    let (ledger, public) = setup();
    let point = [
        "--as-of",
        "2023-07-01",
        "--known-at",
        "2023-07-05",
        "--format",
        "json",
    ];
    let asks: Vec<Vec<&str>> = vec![
        vec!["account", "globex-de"],
        vec!["team", "globex-de"],
        vec!["contacts", "globex-de"],
        vec!["portfolio", "chen"],
        vec!["balance", "globex", "--period", "quarter", "--rollup"],
        vec!["history", "globex-de"],
    ];
    for (n, ask) in asks.iter().enumerate() {
        let bundle = ledger.tmp.path().join(format!("bundle-{n}.json"));
        let bundle = bundle.to_str().unwrap();
        let mut args = ask.clone();
        args.extend(point);
        args.extend(["--evidence", bundle]);
        let printed = ledger.run(&args);
        assert_eq!(printed.code, 0, "{ask:?}: {}", printed.stderr);
        let text = std::fs::read_to_string(bundle).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            format!("{}\n", value["answer"].as_str().unwrap()),
            printed.stdout,
            "{ask:?}: the bundle's answer is what the command prints"
        );
        // Checked with no ledger at all: the --ledger given does not exist.
        let nowhere = ledger.tmp.path().join("no-ledger");
        let checked = run_arl(&nowhere, &["evidence", "check", bundle, "--key", &public]);
        assert_eq!(checked.code, 0, "{ask:?}: {}", checked.stderr);
        assert!(checked.stdout.starts_with(&printed.stdout), "{ask:?}");
        assert!(checked.stdout.contains("arl-streams "), "{ask:?}");
        let tampered = text.replacen("\"actor\":", "\"actor\":\"x\",\"ignored\":", 1);
        let path = ledger.write("tampered.json", &tampered);
        let refused = run_arl(&nowhere, &["evidence", "check", &path, "--key", &public]);
        assert_eq!(refused.code, 3, "{ask:?}: {}", refused.stdout);
    }
}

#[test]
fn checkpoints_are_verified_cosigned_and_outgrown() {
    let (ledger, public) = setup();
    let made = ledger.run(&["checkpoint"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let note = ledger.write("checkpoint.note", &made.stdout);
    let verified = ledger.run(&["verify", "--checkpoint", &note, "--key", &public]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert!(verified.stdout.contains("extends the checkpoint at seq 41"));

    let witness_key = ledger.tmp.path().join("witness.key");
    let witness_key = witness_key.to_str().unwrap();
    let witness = ledger.run(&["key", "init", "--name", "witness", "--out", witness_key]);
    assert_eq!(witness.code, 0, "{}", witness.stderr);
    let witness_public = witness.stdout.trim();
    let lacking = ledger.run(&[
        "verify",
        "--checkpoint",
        &note,
        "--key",
        &public,
        "--witness",
        witness_public,
    ]);
    assert_eq!(
        lacking.code, 3,
        "a missing cosignature must fail: {}",
        lacking.stdout
    );
    let cosigned = ledger.run(&["checkpoint", "cosign", &note, "--witness-key", witness_key]);
    assert_eq!(cosigned.code, 0, "{}", cosigned.stderr);
    let cosigned_note = ledger.write("cosigned.note", &cosigned.stdout);
    let both = ledger.run(&[
        "verify",
        "--checkpoint",
        &cosigned_note,
        "--key",
        &public,
        "--witness",
        witness_public,
    ]);
    assert_eq!(both.code, 0, "{}", both.stderr);

    // A checkpoint of another ledger's history: same key, different log.
    let other = Ledger::new();
    other.append(
        &FIXTURE.lines().take(30).collect::<Vec<_>>().join("\n"),
        true,
    );
    std::fs::create_dir_all(other.dir().join("evidence")).unwrap();
    std::fs::copy(
        ledger.dir().join("evidence/signing.key"),
        other.dir().join("evidence/signing.key"),
    )
    .unwrap();
    let foreign = other.run(&["checkpoint"]);
    assert_eq!(foreign.code, 0, "{}", foreign.stderr);
    let foreign = ledger.write("foreign.note", &foreign.stdout);
    let refused = ledger.run(&["verify", "--checkpoint", &foreign, "--key", &public]);
    assert_eq!(refused.code, 3, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("does not extend"),
        "{}",
        refused.stderr
    );
}
