#!/usr/bin/env bash
# The arl phases of http_load.sh against a ledger that exists, with the binaries of one
# directory: to compare two builds on copies of one ledger, one after the other.
#
#   crates/arl-bench/http_ab.sh BIN_DIR LEDGER [SECONDS]    (default 10 s each)
#
# BIN_DIR holds `arl` and `arl-bench`; LEDGER is used up (tokens and appends are added:
# give each run a fresh copy). Cards from 64 clients for SECONDS, 2,000 single appends,
# 16 appenders for SECONDS; the server listens on 127.0.0.1 on a free port.
# CARDS_ONLY=1: the cards alone, after 2 s of them unmeasured (warm-up).
# APPENDERS_ONLY=1: the 2,000 single appends, then the 16 appenders (no cards).
set -euo pipefail
BIN=$1; L=$2; S=${3:-10}
TOKEN=$($BIN/arl --ledger "$L" --quiet token add ab$RANDOM --role admin)
$BIN/arl --ledger "$L" serve --listen 127.0.0.1:0 > "$L.serve.out" 2> "$L.serve.err" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q 'http://' "$L.serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed 's/.* on //' "$L.serve.out")
echo "## $BIN load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${CARDS_ONLY:-0}" = 1 ]; then
  $BIN/arl-bench http-load --url "$URL" --token "$TOKEN" --mode cards --clients 64 --seconds 2 > /dev/null 2>&1
  $BIN/arl-bench http-load --url "$URL" --token "$TOKEN" --mode cards --clients 64 --seconds "$S" 2>&1 | tail -1
  kill -TERM "$SERVER"; wait "$SERVER" || true
  exit 0
fi
if [ "${APPENDERS_ONLY:-0}" != 1 ]; then
  $BIN/arl-bench http-load --url "$URL" --token "$TOKEN" --mode cards --clients 64 --seconds "$S" 2>&1 | tail -2
fi
$BIN/arl-bench http-load --url "$URL" --token "$TOKEN" --mode append --count 2000 2>&1 | tail -2
$BIN/arl-bench http-load --url "$URL" --token "$TOKEN" --mode appenders --clients 16 --seconds "$S" 2>&1 | tail -2
kill -TERM "$SERVER"; wait "$SERVER" || true
