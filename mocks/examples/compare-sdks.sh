#!/usr/bin/env bash
# Side by side, on this machine, at this moment: `seliq-gateway pull` and the vendor's official
# Python SDK each writing the same Sentinel incidents (azure-mgmt-securityinsight,
# sentinel_sdk_to_file.py) or Splunk events (splunk-sdk, splunk_sdk_to_file.py) from
# `seliq-mocks serve` into a file, one JSON line per alert, fsynced at the end. The companion of
# compare-falconpy.sh. Per vendor and run, alternating: the gateway against a fresh mock (a fresh
# data dir, `init`, `workspace create`, `integration add`, then `pull <ws> --since 2d --output
# FILE` under /usr/bin/time), then the SDK script against another fresh mock with the same seed;
# both files must hold exactly the alerts the mock holds. Each tool prints one JSON line per run;
# at the end, per vendor, the medians and two ratios: gateway alerts/s ÷ SDK alerts/s, and SDK
# CPU per alert ÷ gateway CPU per alert.
#
# What is lifted, and why:
# - The gateway's own pacing. Neither SDK paces itself, and the gateway accepts any
#   `--rate-limit` for these kinds, so it gets the highest it accepts (4294967295 a minute, in
#   effect no pacing). Its defaults (Sentinel 120 ARM reads a minute, 60 % of ARM's legacy
#   12,000 an hour; Splunk 1,200 a minute) would turn 100 Sentinel pages into 50 s of waiting;
#   ARM's documented quotas would not throttle the 100 reads a 100,000-incident pull takes. The
#   Sentinel and Splunk mocks enforce no request quota (only injected faults throttle).
# - Splunk's search time. The mock runs with `--job-polls 0,0`: a job is done at its first
#   status poll, and the SDK's `exec_mode=blocking` create returns at once. A real search head
#   takes the same time to run the search for either tool, and the gateway's status-poll backoff
#   (200 ms doubling) would otherwise measure the mock's simulated QUEUED/RUNNING steps.
# - Splunk's per-job limits apply to both alike: both set `max_count` to 1,000,000 (Splunk keeps
#   10,000 events of a job by default) and read results pages of 50,000 rows (`maxresultrows`).
#   The gateway narrows its `_indextime` window when a job finds more than 10,000 rows, so it
#   runs several jobs where the SDK script runs one: that is its design and counts against it.
# Data: Sentinel, one workspace of ALERTS incidents (modified between 2 h and 1 h ago); Splunk,
# one index `acme_prod` of ALERTS raw events (`_time` over the last 20 h), no ES notables. Both
# fit `--since 2d`, and the SDK scripts ask for the same 2 days. CPU and peak RSS come from
# /usr/bin/time (user + system of the whole process: the gateway's `pull` includes opening the
# vault, normalising every alert, the SQLite checkpoint and SLA ledger writes and an fsync every
# 2,000 alerts; the SDK's includes starting its interpreter and importing the SDK).
#
#   bash mocks/examples/compare-sdks.sh                         # both vendors, 100,000 alerts, 3 runs
#   VENDOR=splunk ALERTS=10000 RUNS=1 bash mocks/examples/compare-sdks.sh
#
# Needs the release binaries (cargo build --release --workspace --bins) and the virtualenv
# run-sdks.sh caches in $CARGO_TARGET_DIR/sdk-venv (Python >= 3.13, mocks/examples/
# requirements.txt), or $PYTHON naming an interpreter that has those packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
vendors=${VENDOR:-sentinel splunk}
vendors=${vendors//,/ }
alerts=${ALERTS:-100000}
runs=${RUNS:-3}
target=${CARGO_TARGET_DIR:-target}
bin="$target/release"
python=${PYTHON:-$target/sdk-venv/bin/python}
python=$(command -v "$python" || echo "$python")
rate=4294967295
for b in seliq-gateway seliq-mocks; do
  [ -x "$bin/$b" ] || { echo "compare-sdks: $bin/$b is missing; run cargo build --release --workspace --bins" >&2; exit 1; }
done
[ -x "$python" ] || { echo "compare-sdks: $python is missing; run bash mocks/examples/run-sdks.sh once to build the SDK virtualenv, or set PYTHON" >&2; exit 1; }
for v in $vendors; do
  case $v in
    sentinel) module=azure.mgmt.securityinsight ;;
    splunk) module=splunklib ;;
    *) echo "compare-sdks: VENDOR must be sentinel, splunk or both, not $v" >&2; exit 2 ;;
  esac
  "$python" -c "import $module" 2>/dev/null || { echo "compare-sdks: $python cannot import $module; pip install -r mocks/examples/requirements.txt" >&2; exit 1; }
done

work=$(mktemp -d)
mock_pid=
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start_mock() {
  local vendor=$1
  case $vendor in
    sentinel) set -- --alerts "$alerts" ;;
    splunk) set -- --indexes acme_prod --alerts "$alerts" --job-polls 0,0 ;;
  esac
  "$bin/seliq-mocks" serve --vendor "$vendor" --port 0 --seed 7 "$@" \
    > "$work/mock.json" 2> "$work/mock.err" &
  mock_pid=$!
  # Generating 100,000 events takes the Splunk mock a second or two; allow 30 s on a busy machine.
  for _ in $(seq 1 300); do
    [ -s "$work/mock.json" ] && break
    kill -0 "$mock_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$work/mock.json" ] || { cat "$work/mock.err" >&2; echo "compare-sdks: the $vendor mock did not start" >&2; exit 1; }
}
stop_mock() { kill "$mock_pid"; wait "$mock_pid" 2>/dev/null || true; mock_pid=; }
# field a.0.b: a value of the mock's JSON line, list items by position.
field() {
  "$python" -c 'import json,sys
v = json.loads(open(sys.argv[1]).readline())
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$work/mock.json" "$1"
}
lines() { wc -l < "$1" | tr -d ' '; }
# report TOOL VENDOR RUN TIMEFILE: one JSON line, also kept for the summary.
report() {
  local e u s m
  read -r e u s m < "$4"
  awk -v tool="$1" -v vendor="$2" -v run="$3" -v n="$alerts" -v e="$e" -v u="$u" -v s="$s" -v m="$m" 'BEGIN {
    printf "{\"tool\":\"%s\",\"vendor\":\"%s\",\"run\":%d,\"alerts\":%d,\"wall_s\":%.2f,\"cpu_s\":%.2f,\"peak_rss_mib\":%.1f,\"alerts_per_s\":%d}\n",
      tool, vendor, run, n, e, u + s, m / 1024, (e > 0 ? n / e : 0) }' | tee -a "$work/results.ndjson"
}

add_integration() {
  case $1 in
    sentinel)
      SENTINEL_SECRET=$(field client_secret) "$bin/seliq-gateway" integration add acme-corp sentinel \
        --kind sentinel --tenant-id "$(field tenant_id)" --client-id "$(field client_id)" \
        --subscription-id "$(field workspaces.0.subscription_id)" \
        --resource-group "$(field workspaces.0.resource_group)" \
        --workspace-name "$(field workspaces.0.workspace_name)" \
        --authority-url "$(field url)" --management-url "$(field url)" \
        --allow-insecure-http --rate-limit "$rate" --secret-env SENTINEL_SECRET > /dev/null ;;
    splunk)
      SPLUNK_PASSWORD=$(field password) "$bin/seliq-gateway" integration add acme-corp splunk \
        --kind splunk --url "$(field url)" --app search --index acme_prod \
        --username "$(field username)" \
        --allow-insecure-http --rate-limit "$rate" --secret-env SPLUNK_PASSWORD > /dev/null ;;
  esac
}

for vendor in $vendors; do
  case $vendor in
    sentinel) sdk=azure-mgmt-securityinsight script=sentinel_sdk_to_file.py ;;
    splunk) sdk=splunk-sdk script=splunk_sdk_to_file.py ;;
  esac
  for run in $(seq 1 "$runs"); do
    # The gateway: a fresh data dir, one workspace, one integration, one pull into a file.
    start_mock "$vendor"
    export SELIQ_DATA_DIR="$work/data-$vendor-$run"
    "$bin/seliq-gateway" init > /dev/null
    "$bin/seliq-gateway" workspace create acme-corp > /dev/null
    add_integration "$vendor"
    /usr/bin/time -f '%e %U %S %M' -o "$work/gw.time" \
      "$bin/seliq-gateway" pull acme-corp --since 2d --output "$work/gw.ndjson" > /dev/null \
      2> "$work/gw.err" || { cat "$work/gw.err" >&2; echo "compare-sdks: seliq-gateway pull failed against the $vendor mock" >&2; exit 1; }
    stop_mock
    [ "$(lines "$work/gw.ndjson")" = "$alerts" ] || { echo "compare-sdks: the gateway wrote $(lines "$work/gw.ndjson") $vendor lines, expected $alerts" >&2; exit 1; }
    report seliq-gateway "$vendor" "$run" "$work/gw.time"

    # The SDK against a fresh mock with the same data.
    start_mock "$vendor"
    /usr/bin/time -f '%e %U %S %M' -o "$work/py.time" \
      "$python" "mocks/examples/$script" "$work/mock.json" "$work/py.ndjson" > /dev/null \
      || { echo "compare-sdks: $script failed against the $vendor mock" >&2; exit 1; }
    stop_mock
    [ "$(lines "$work/py.ndjson")" = "$alerts" ] || { echo "compare-sdks: $sdk wrote $(lines "$work/py.ndjson") $vendor lines, expected $alerts" >&2; exit 1; }
    report "$sdk" "$vendor" "$run" "$work/py.time"
    rm -rf "$work/gw.ndjson" "$work/py.ndjson" "$SELIQ_DATA_DIR"
  done
done

# Medians per vendor and tool, and the two ratios (from the medians).
"$python" mocks/examples/medians.py "$work/results.ndjson"
