#!/usr/bin/env bash
# The web page's first load (docs/PERFORMANCE.md, "The web page at 1M events"): headless
# Chromium, driven through WebDriver (chromedriver), opens each page of `arl serve` in a
# fresh browser (empty cache) and reads, from the page itself, the time from navigation
# start to the first view shown (the performance mark `arl:rendered` the script sets) and
# the bytes transferred (navigation and every resource, headers included).
#
#   crates/arl-bench/web_load.sh LEDGER [RUNS]      (default 5 runs per page)
#   SCREENS=docs/web crates/arl-bench/web_load.sh LEDGER 0
#                     (no timing: a screenshot of each page at 1280 and 390 px wide)
#
# LEDGER is built once when missing: `arl --ledger LEDGER demo --events ${EVENTS:-1000000}`
# (a generated history, seed 42). Needs a release build (cargo build --release -p arl-cli;
# ARL=... names another binary), jq, curl, and Debian's chromium and chromium-driver.
# Prints one line per page and run, then the medians per page.
set -euo pipefail
cd "$(dirname "$0")/../.."
LEDGER=${1:?usage: web_load.sh LEDGER [RUNS]}
RUNS=${2:-5}
ARL=${ARL:-target/release/arl}
EVENTS=${EVENTS:-1000000}
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
WORK=$(mktemp -d /tmp/arl-web-load.XXXXXX)
SERVER=
DRIVER=
trap 'kill $SERVER $DRIVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ ! -d "$LEDGER" ]; then
  echo "# building a ledger of $EVENTS generated events in $LEDGER"
  $ARL --ledger "$LEDGER" --quiet demo --events "$EVENTS" > /dev/null
fi
TOKEN=$($ARL --ledger "$LEDGER" --quiet token add "web-load-$$" --role auditor)
# The root account with the most subsidiaries and the first person on its team.
ACCOUNT=${ACCOUNT:-$($ARL --ledger "$LEDGER" accounts --format json |
  jq -r '[.[] | select(.parent == null)] | max_by(.children | length) | .account')}
PERSON=${PERSON:-$($ARL --ledger "$LEDGER" team "$ACCOUNT" --format json | jq -r '.[0].person // empty')}
PERSON=${PERSON:-$($ARL --ledger "$LEDGER" org --format json | jq -r '.people[0].person')}

$ARL --ledger "$LEDGER" serve --listen 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER=$!
for _ in $(seq 300); do grep -q 'http://' "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed 's/.* on //' "$WORK/serve.out")
PORT=$((20000 + $$ % 20000))
$CHROMEDRIVER --port=$PORT > "$WORK/driver.log" 2>&1 &
DRIVER=$!
WD=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf "$WD/status" > /dev/null && break; sleep 0.1; done

wd() { # METHOD PATH [BODY]
  local body='{}'
  [ $# -ge 3 ] && body=$3
  curl -sf -X "$1" -H 'Content-Type: application/json' "$WD$2" -d "$body"
}

CAPS=$(jq -nc --arg bin "$CHROMIUM" '{capabilities: {alwaysMatch: {browserName: "chrome",
  "goog:chromeOptions": {binary: $bin, args: ["--headless=new", "--no-sandbox",
  "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]}}}}')
# What the page measured: ms from navigation start to the first view, bytes transferred.
MEASURE='const m = performance.getEntriesByName("arl:rendered")[0];
if (!m) return null;
const all = performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"));
return { ms: m.startTime, bytes: all.reduce((n, e) => n + (e.transferSize || 0), 0),
         requests: all.length, title: document.title };'

one() { # PAGE-PATH -> "ms bytes requests"
  local session out
  session=$(wd POST /session "$CAPS" | jq -r .value.sessionId)
  wd POST "/session/$session/url" "$(jq -nc --arg u "$URL/healthz" '{url: $u}')" > /dev/null
  wd POST "/session/$session/execute/sync" "$(jq -nc --arg t "$TOKEN" \
    '{script: "sessionStorage.setItem(\"arl.token\", arguments[0])", args: [$t]}')" > /dev/null
  wd POST "/session/$session/url" "$(jq -nc --arg u "$URL$1" '{url: $u}')" > /dev/null
  out=null
  for _ in $(seq 600); do
    out=$(wd POST "/session/$session/execute/sync" "$(jq -nc --arg s "$MEASURE" '{script: $s, args: []}')" | jq -c .value)
    [ "$out" != null ] && break
    sleep 0.05
  done
  wd DELETE "/session/$session" > /dev/null
  echo "$out" | jq -r '"\(.ms|floor) \(.bytes) \(.requests)"'
}

shoot() { # PAGE-PATH NAME: NAME-1280.png and NAME-390.png in $SCREENS
  local session width
  session=$(wd POST /session "$CAPS" | jq -r .value.sessionId)
  wd POST "/session/$session/url" "$(jq -nc --arg u "$URL/healthz" '{url: $u}')" > /dev/null
  wd POST "/session/$session/execute/sync" "$(jq -nc --arg t "$TOKEN" \
    '{script: "sessionStorage.setItem(\"arl.token\", arguments[0])", args: [$t]}')" > /dev/null
  for width in 1280 390; do
    wd POST "/session/$session/window/rect" "$(jq -nc --argjson w $width \
      '{width: $w, height: (if $w > 600 then 900 else 844 end)}')" > /dev/null
    wd POST "/session/$session/url" "$(jq -nc --arg u "$URL$1" '{url: $u}')" > /dev/null
    for _ in $(seq 600); do
      [ "$(wd POST "/session/$session/execute/sync" \
        '{"script": "return performance.getEntriesByName(\"arl:rendered\").length > 0", "args": []}' |
        jq .value)" = true ] && break
      sleep 0.05
    done
    sleep 0.3
    wd GET "/session/$session/screenshot" | jq -r .value | base64 -d > "$SCREENS/$2-$width.png"
    echo "# $SCREENS/$2-$width.png: $URL$1"
  done
  wd DELETE "/session/$session" > /dev/null
}

if [ -n "${SCREENS:-}" ]; then
  mkdir -p "$SCREENS"
  shoot "/" search
  shoot "/accounts/$ACCOUNT" account
  shoot "/accounts/$ACCOUNT/tree" hierarchy
  shoot "/accounts/$ACCOUNT/team" team
  shoot "/accounts/$ACCOUNT/balances?period=quarter&rollup=true" balances
  shoot "/accounts/$ACCOUNT/history" history
  shoot "/people/$PERSON" person
fi
[ "$RUNS" -gt 0 ] || exit 0

echo "# machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# arl serve at $URL; ledger $LEDGER ($(curl -s "$URL/healthz" | jq -r .seq) events); account $ACCOUNT, person $PERSON"
PAGES=(
  "/"
  "/accounts/$ACCOUNT"
  "/accounts/$ACCOUNT/tree"
  "/accounts/$ACCOUNT/team"
  "/accounts/$ACCOUNT/balances?period=quarter"
  "/accounts/$ACCOUNT/balances?period=quarter&rollup=true"
  "/accounts/$ACCOUNT/history"
  "/people/$PERSON"
)
printf '%-58s %8s %10s %8s\n' page ms bytes requests
SUMMARY=$WORK/summary
for page in "${PAGES[@]}"; do
  for run in $(seq "$RUNS"); do
    read -r ms bytes requests < <(one "$page")
    printf '%-58s %8s %10s %8s\n' "$page" "$ms" "$bytes" "$requests"
    echo "$page $ms $bytes" >> "$SUMMARY"
  done
done
echo "# medians of $RUNS runs; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for page in "${PAGES[@]}"; do
  ms=$(awk -v p="$page" '$1 == p {print $2}' "$SUMMARY" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  bytes=$(awk -v p="$page" '$1 == p {print $3}' "$SUMMARY" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-58s median %6s ms %10s bytes\n' "$page" "$ms" "$bytes"
done
kill -TERM "$SERVER"; wait "$SERVER" || true
