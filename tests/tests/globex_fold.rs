//! The worked Globex example, answered in-process by the fold over an in-memory index: every
//! `account` and `balance` command's JSON equals the independent model's.

use arl_domain::{Period, Timestamp};
use arl_fold::{MemIndex, Point, Source};
use serde_json::Value;

fn point(index: &MemIndex, args: &[&str]) -> Point {
    let mut point = Point {
        as_of: Timestamp::MAX,
        at_seq: index.checkpoint(),
    };
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "--as-of" => point.as_of = Timestamp::parse_query(args[i + 1]).unwrap(),
            "--known-at" => {
                point.at_seq = index
                    .seq_known_at(Timestamp::parse_query(args[i + 1]).unwrap())
                    .unwrap();
            }
            "--at-seq" => point.at_seq = args[i + 1].parse().unwrap(),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    point
}

fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.iter().position(|a| *a == name).map(|i| args[i + 1])
}

fn run(index: &MemIndex, args: &[&str]) -> (i32, Value) {
    let point = point(index, args);
    match args[0] {
        "account" => match arl_accounts::card(index, args[1], point).unwrap() {
            Some(card) => (0, serde_json::to_value(card).unwrap()),
            None => (1, Value::Null),
        },
        "balance" => {
            let account = args
                .get(1)
                .filter(|a| !a.starts_with("--"))
                .map(ToString::to_string);
            let period = match flag(args, "--period").unwrap_or("all") {
                "month" => Period::Month,
                "quarter" => Period::Quarter,
                "year" => Period::Year,
                _ => Period::All,
            };
            let query = arl_txns::BalanceQuery {
                account,
                period,
                from: flag(args, "--from").map(|d| Timestamp::parse_input(d).unwrap()),
                to: flag(args, "--to").map(|d| Timestamp::parse_query(d).unwrap()),
                rollup: args.contains(&"--rollup"),
                point,
            };
            (
                0,
                serde_json::to_value(arl_txns::balances(index, &query).unwrap()).unwrap(),
            )
        }
        other => panic!("unexpected command {other}"),
    }
}

#[test]
fn globex_answers_match_the_independent_model() {
    let mut index = MemIndex::new();
    arl_tests::load_imported(&mut index, include_str!("../fixtures/globex.jsonl")).unwrap();
    let expected: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/globex.expected.json")).unwrap();
    assert!(expected.len() >= 10);
    for case in expected {
        let args: Vec<&str> = case["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let (exit, stdout) = run(&index, &args);
        assert_eq!(
            i64::from(exit),
            case["exit"].as_i64().unwrap(),
            "exit of {args:?}"
        );
        assert_eq!(stdout, case["stdout"], "stdout of {args:?}");
    }
}
