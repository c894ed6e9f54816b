#!/usr/bin/env bash
# The card phase of http_load.sh alone, against a ledger that exists, with the binaries of
# one directory, after 2 s of warm-up: to compare two builds on copies of one ledger.
#
#   crates/arl-bench/cards_ab.sh BIN_DIR LEDGER [SECONDS]    (default 10 s)
#
# BIN_DIR holds `arl` and `arl-bench`; LEDGER gets a token (give each run a fresh copy).
# Prints the binary directory, the load average and arl-bench's JSON line. The server
# listens on 127.0.0.1 on a free port and is stopped at the end.
set -euo pipefail
BIN=$1; L=$2; S=${3:-10}
TOKEN=$($BIN/arl --ledger "$L" --quiet token add ab$RANDOM --role admin)
$BIN/arl --ledger "$L" serve --listen 127.0.0.1:0 > "$L.serve.out" 2> "$L.serve.err" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q 'http://' "$L.serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed 's/.* on //' "$L.serve.out")
$BIN/arl-bench http-load --url "$URL" --token "$TOKEN" --mode cards --clients 64 --seconds 2 > /dev/null 2>&1
echo "$BIN $(cut -d' ' -f1 /proc/loadavg) $($BIN/arl-bench http-load --url "$URL" --token "$TOKEN" --mode cards --clients 64 --seconds "$S" 2>&1 | tail -1)"
kill -TERM "$SERVER"; wait "$SERVER" || true
