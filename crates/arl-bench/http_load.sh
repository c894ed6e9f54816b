#!/usr/bin/env bash
# The HTTP load benchmark of docs/PERFORMANCE.md ("arl serve under load"): arl serve against
# PostgreSQL on the same generated history, on this machine, one after the other.
#
#   crates/arl-bench/http_load.sh [EVENTS] [SECONDS]     (default 1000000 events, 10 s each)
#
# Then a mixed run of MIXED_SECONDS (default 600; 0 skips it): 8 card clients, 2 appenders
# and a live subscriber at once, the server's VmRSS sampled every 10 s.
#
# Needs a release build (cargo build --release -p arl-cli -p arl-bench; ARL=... and BENCH=...
# name other binaries), and for the peer a
# PostgreSQL server at 127.0.0.1:5432 that `psql` and `pgbench` reach as the current user
# (PGUSER/PGPASSWORD/PGDATABASE as usual). Bounded: each load runs SECONDS; the single
# appends are 2,000.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${1:-1000000}
SECONDS_EACH=${2:-10}
MIXED_SECONDS=${MIXED_SECONDS:-600}
ARL=${ARL:-target/release/arl}
BENCH=${BENCH:-target/release/arl-bench}
WORK=$(mktemp -d /tmp/arl-http-load.XXXXXX)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
L=$WORK/ledger

echo "# machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# building a ledger of $EVENTS generated events"
$ARL --ledger "$L" --quiet demo --events "$EVENTS" > /dev/null
$ARL --ledger "$L" export --format csv > "$WORK/events.csv"
TOKEN=$($ARL --ledger "$L" --quiet token add load --role admin)

$ARL --ledger "$L" serve --listen 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER=$!
for _ in $(seq 100); do grep -q 'http://' "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed 's/.* on //' "$WORK/serve.out")

echo "# arl serve at $URL: cards, 64 clients; load: $(cut -d' ' -f1-3 /proc/loadavg)"
$BENCH http-load --url "$URL" --token "$TOKEN" --mode cards --clients 64 --seconds "$SECONDS_EACH"
echo "# arl serve: single appends, one client; load: $(cut -d' ' -f1-3 /proc/loadavg)"
$BENCH http-load --url "$URL" --token "$TOKEN" --mode append --count 2000
echo "# arl serve: 16 concurrent appenders; load: $(cut -d' ' -f1-3 /proc/loadavg)"
$BENCH http-load --url "$URL" --token "$TOKEN" --mode appenders --clients 16 --seconds "$SECONDS_EACH"
echo "# server memory (VmRSS, VmHWM): $(grep -E 'VmRSS|VmHWM' /proc/$SERVER/status | tr -s ' \n' ' ')"
if [ "$MIXED_SECONDS" != 0 ]; then
  echo "# arl serve: mixed, 8 card clients + 2 appenders + 1 subscriber for $MIXED_SECONDS s, VmRSS every 10 s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
  $BENCH http-load --url "$URL" --token "$TOKEN" --mode mixed --clients 8 --seconds "$MIXED_SECONDS" --pid "$SERVER" --sample-secs 10
  echo "# after the mixed run: load $(cut -d' ' -f1-3 /proc/loadavg); memory: $(grep -E 'VmRSS|VmHWM' /proc/$SERVER/status | tr -s ' \n' ' ')"
fi
kill -TERM "$SERVER"; wait "$SERVER" || true

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "# no PostgreSQL at 127.0.0.1:5432: peer not measured"; exit 0
fi
DB=arl_http_load_$$
createdb -h 127.0.0.1 "$DB"
trap 'kill "$SERVER" 2>/dev/null || true; dropdb -h 127.0.0.1 --if-exists "$DB" || true; rm -rf "$WORK"' EXIT
PSQL="psql -h 127.0.0.1 -d $DB -q -v ON_ERROR_STOP=1"
echo "# PostgreSQL $($PSQL -tAc 'SHOW server_version'): loading the same envelopes"
$PSQL <<SQL
CREATE TABLE events (seq bigint PRIMARY KEY, id text, type text NOT NULL, stream text NOT NULL,
  version bigint, recorded_at timestamptz NOT NULL, effective_at timestamptz NOT NULL,
  actor text, reason text, imported boolean, data jsonb NOT NULL, hash text);
\copy events FROM '$WORK/events.csv' WITH (FORMAT csv, HEADER true)
CREATE INDEX events_entity ON events(stream, effective_at, seq)
  WHERE type NOT IN ('transaction.recorded', 'transaction.reversed');
CREATE TABLE accts AS SELECT row_number() OVER (ORDER BY stream) AS i, stream,
  extract(epoch FROM min(effective_at))::bigint AS opened
  FROM events WHERE type = 'account.opened' GROUP BY stream;
CREATE UNIQUE INDEX ON accts(i);
CREATE TABLE inserts (seq bigserial PRIMARY KEY, id text, type text NOT NULL, stream text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(), effective_at timestamptz NOT NULL DEFAULT now(),
  actor text, data jsonb NOT NULL);
ANALYZE;
SQL
N=$($PSQL -tAc 'SELECT count(*) FROM accts')
HEAD=$($PSQL -tAc 'SELECT extract(epoch FROM max(recorded_at))::bigint FROM events')
cat > "$WORK/card.sql" <<SQL
\set i random(1, $N)
\set r random(0, 1000000)
SELECT seq, type, effective_at, recorded_at, data FROM events
 WHERE stream = (SELECT stream FROM accts WHERE i = :i)
   AND effective_at <= to_timestamp((SELECT opened FROM accts WHERE i = :i) + ($HEAD - (SELECT opened FROM accts WHERE i = :i)) * :r / 1000000)
   AND recorded_at <= to_timestamp($HEAD)
   AND type NOT IN ('transaction.recorded', 'transaction.reversed')
 ORDER BY effective_at, seq;
SQL
cat > "$WORK/insert.sql" <<'SQL'
INSERT INTO inserts (id, type, stream, actor, data) VALUES
  (gen_random_uuid()::text, 'person.joined', 'person/load', 'load', '{"person":"load","name":"Load"}');
SQL
echo "# PostgreSQL: the bare query of an account's non-transaction rows at a point, 64 clients; load: $(cut -d' ' -f1-3 /proc/loadavg)"
pgbench -h 127.0.0.1 -n -M prepared -c 64 -j 2 -T "$SECONDS_EACH" -f "$WORK/card.sql" -r "$DB" | grep -E 'tps|latency|number of transactions actually'
echo "# PostgreSQL: one-row INSERTs, 16 clients; load: $(cut -d' ' -f1-3 /proc/loadavg)"
pgbench -h 127.0.0.1 -n -M prepared -c 16 -j 2 -T "$SECONDS_EACH" -f "$WORK/insert.sql" "$DB" | grep -E 'tps|latency|number of transactions actually'
echo "# PostgreSQL: one-row INSERTs, 1 client; load: $(cut -d' ' -f1-3 /proc/loadavg)"
pgbench -h 127.0.0.1 -n -M prepared -c 1 -t 2000 -f "$WORK/insert.sql" --log --log-prefix="$WORK/ins" "$DB" | grep -E 'tps|latency'
awk '{print $3}' "$WORK"/ins.* | sort -n | awk '{a[NR]=$1} END {printf "# PostgreSQL single INSERT p50 %.3f ms p99 %.3f ms\n", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}'
