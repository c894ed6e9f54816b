#!/usr/bin/env bash
# The server's memory under a load that adds no accounts or people (docs/PERFORMANCE.md,
# "Quiet machine, before and after, 2026-12-02"): 8 card clients, and one client appending
# transactions on two existing accounts, one request at a time, for SECONDS; the server's
# VmRSS every 10 s.
#
#   crates/arl-bench/mem_flat.sh [EVENTS] [SECONDS]     (default 1000000 events, 300 s)
#
# Needs a release build (ARL=... and BENCH=... name other binaries) and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${1:-1000000}
DURATION=${2:-300}
ARL=${ARL:-target/release/arl}
BENCH=${BENCH:-target/release/arl-bench}
SERVER= CARDS= APPENDS=
WORK=$(mktemp -d /tmp/arl-mem-flat.XXXXXX)
trap 'kill "$SERVER" "$CARDS" "$APPENDS" 2>/dev/null || true; rm -rf "$WORK"' EXIT
L=$WORK/ledger
$ARL --ledger "$L" --quiet demo --events "$EVENTS" > /dev/null
TOKEN=$($ARL --ledger "$L" --quiet token add load --role admin)
ACCOUNTS=$($ARL --ledger "$L" accounts --format csv | awk -F, 'NR > 1 && $3 == "active" && n < 2 {print $1; n++}')
$ARL --ledger "$L" serve --listen 127.0.0.1:0 > "$WORK/serve.out" 2> /dev/null &
SERVER=$!
for _ in $(seq 100); do grep -q 'http://' "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed 's/.* on //' "$WORK/serve.out")
echo "# machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); accounts appended to: $(echo $ACCOUNTS)"
$BENCH http-load --url "$URL" --token "$TOKEN" --mode cards --clients 8 --seconds "$DURATION" > "$WORK/cards.json" &
CARDS=$!
(
  i=0
  end=$((SECONDS + DURATION))
  while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    for a in $ACCOUNTS; do
      curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" -X POST \
        --data-binary "{\"type\":\"transaction.recorded\",\"data\":{\"account\":\"$a\",\"txn\":\"mem-$i-$a\",\"kind\":\"sale\",\"amount\":\"10\",\"currency\":\"EUR\"}}" \
        "$URL/v1/events"
    done
  done
) > "$WORK/codes" &
APPENDS=$!
for t in $(seq 0 10 "$DURATION"); do
  echo "VmRSS at $t s: $(awk '/VmRSS/ {print $2}' /proc/$SERVER/status) kB"
  sleep 10
done
wait "$CARDS"
wait "$APPENDS" || true
echo "# cards: $(cat "$WORK/cards.json")"
echo "# appends by status: $(sort "$WORK/codes" | uniq -c | tr -s ' \n' ' ')"
echo "# server: $(grep -E 'VmRSS|VmHWM' /proc/$SERVER/status | tr -s ' \n' ' '); load $(cut -d' ' -f1-3 /proc/loadavg)"
