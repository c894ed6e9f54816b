#!/usr/bin/env bash
# The "several nodes over PostgreSQL" benchmark of docs/PERFORMANCE.md: on one generated
# history, the embedded store (a ledger directory) beside the log in PostgreSQL served by
# 1, 2 and 3 `arl serve --store` nodes on this machine, one after the other:
#   - import: `arl append --imported` of the whole history, into a directory and into
#     PostgreSQL (one process, views built on the way);
#   - single appends: one client per node, each appending COUNT one-event batches through
#     its node at the same time (each append is one PostgreSQL transaction);
#   - cards: 16 keep-alive clients per node asking account cards at random points for
#     SECONDS, all nodes at once.
#
#   crates/arl-bench/pg_nodes.sh [EVENTS] [SECONDS] [COUNT]   (default 100000, 5, 500)
#
# Needs a release build (cargo build --release -p arl-cli -p arl-bench; ARL=... and
# BENCH=... name other binaries), python3, and PostgreSQL at $ARL_TEST_PG (default
# postgres://root@127.0.0.1:5432) where the user may create a database (dropped at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${1:-100000}
SECONDS_EACH=${2:-5}
COUNT=${3:-500}
ARL=${ARL:-target/release/arl}
BENCH=${BENCH:-target/release/arl-bench}
BASE=${ARL_TEST_PG:-postgres://root@127.0.0.1:5432}
WORK=$(mktemp -d /tmp/arl-pg-nodes.XXXXXX)
DB=arl_bench_nodes_$$
URL=$BASE/$DB
SERVERS=()
cleanup() {
  for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql "$BASE/postgres" -qc "CREATE DATABASE $DB"

now() { date +%s.%N; }
echo "# machine: $(nproc) cores; PostgreSQL $(psql "$URL" -tAc 'SHOW server_version'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# a history of $EVENTS generated events (arl demo), as import lines"
$ARL --ledger "$WORK/demo" --quiet demo --events "$EVENTS" >/dev/null
$ARL --ledger "$WORK/demo" export | python3 -c '
import json, sys
keep = ("id", "type", "data", "effective_at", "recorded_at", "actor", "reason")
for line in sys.stdin:
    e = json.loads(line)
    print(json.dumps({k: e[k] for k in keep if e.get(k) is not None}, separators=(",", ":")))
' >"$WORK/input.jsonl"

t0=$(now); $ARL --ledger "$WORK/dir" --quiet append --imported "$WORK/input.jsonl" >/dev/null; t1=$(now)
echo "{\"measure\":\"import\",\"store\":\"directory\",\"events\":$EVENTS,\"seconds\":$(echo "$t1 - $t0" | bc)}"
t0=$(now); $ARL --ledger "$WORK/n1" --store "$URL" --quiet append --imported "$WORK/input.jsonl" >/dev/null; t1=$(now)
echo "{\"measure\":\"import\",\"store\":\"postgres\",\"events\":$EVENTS,\"seconds\":$(echo "$t1 - $t0" | bc)}"

# Starts `arl serve` on DIR (extra flags after it); adds its URL to URLS.
start() {
  local dir=$1; shift
  rm -f "$dir.out"
  $ARL --ledger "$dir" "$@" serve --listen 127.0.0.1:0 >"$dir.out" 2>"$dir.err" &
  SERVERS+=($!)
  for _ in $(seq 300); do grep -q 'http://' "$dir.out" 2>/dev/null && break; sleep 0.1; done
  URLS+=("$(sed 's/.* on //' "$dir.out")")
}
stop_all() {
  for pid in "${SERVERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  SERVERS=()
}
# Runs `arl-bench http-load MODE` against every URL at once; one JSON line each, tagged.
load() {
  local label=$1 mode=$2; shift 2
  local pids=() i=0
  for url in "${URLS[@]}"; do
    i=$((i + 1))
    $BENCH http-load --url "$url" --token "${TOKENS[$((i - 1))]}" --mode "$mode" \
      --clients 16 --seconds "$SECONDS_EACH" --count "$COUNT" \
      | sed "s/^{/{\"setup\":\"$label\",\"node\":$i,/" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

TOKENS=("$($ARL --ledger "$WORK/dir" --quiet token add bench --role admin)")
URLS=()
start "$WORK/dir"
echo "# embedded store, one server; load: $(cut -d' ' -f1-3 /proc/loadavg)"
load "directory" append
load "directory" cards
stop_all

for n in 1 2 3; do
  URLS=(); TOKENS=()
  for i in $(seq "$n"); do
    mkdir -p "$WORK/n$i"
    TOKENS+=("$($ARL --ledger "$WORK/n$i" --store "$URL" --quiet token add bench$n --role admin)")
    start "$WORK/n$i" --store "$URL"
  done
  echo "# PostgreSQL, $n node(s); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  load "postgres-$n-nodes" append
  load "postgres-$n-nodes" cards
  stop_all
done
$ARL --ledger "$WORK/n1" --store "$URL" --quiet verify >/dev/null && echo "# the shared log verifies"
