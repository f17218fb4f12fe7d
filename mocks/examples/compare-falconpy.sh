#!/usr/bin/env bash
# Side by side, on this machine, at this moment: `seliq-gateway pull` and FalconPy
# (falconpy_to_file.py) each writing the same CrowdStrike alerts from `seliq-mocks serve` into a
# file, one JSON line per alert. Each tool gets a fresh mock with the same seed, whose request
# quota is lifted (FalconPy has no pacing of its own and would spend its time in 429 waits).
# The gateway keeps pacing itself at the highest quota it accepts, the vendor's 6,000 requests a
# minute per account: at 1,000 alerts a page that caps it at 100k alerts/s, so for alerts/s read
# the wall time with that in mind; the CPU figures are not affected. CPU and peak RSS come from
# /usr/bin/time (user + system of the whole process: the gateway's `pull` includes opening the
# vault and the SQLite checkpoint and SLA ledger writes; FalconPy's includes its interpreter).
# Each run prints one JSON line per tool; at the end, the medians (mocks/examples/medians.py) and
# two ratios: gateway alerts/s ÷ FalconPy alerts/s, and FalconPy CPU per alert ÷ the gateway's.
#
#   bash mocks/examples/compare-falconpy.sh            # 200,000 alerts, 3 runs each
#   ALERTS=50000 RUNS=1 bash mocks/examples/compare-falconpy.sh
#
# Needs the release binaries (cargo build --release --workspace --bins) and a Python >= 3.13
# virtualenv with mocks/examples/requirements.txt: the one run-sdks.sh caches in
# $CARGO_TARGET_DIR/sdk-venv is used when present, else $PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
alerts=${ALERTS:-200000}
runs=${RUNS:-3}
target=${CARGO_TARGET_DIR:-target}
bin="$target/release"
python=${PYTHON:-$target/sdk-venv/bin/python}
[ -x "$python" ] || python=python3
for b in seliq-gateway seliq-mocks; do
  [ -x "$bin/$b" ] || { echo "compare-falconpy: $bin/$b is missing; run cargo build --release --workspace --bins" >&2; exit 1; }
done
"$python" -c 'import falconpy' 2>/dev/null || { echo "compare-falconpy: $python cannot import falconpy; pip install -r mocks/examples/requirements.txt" >&2; exit 1; }

work=$(mktemp -d)
mock_pid=
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start_mock() {
  "$bin/seliq-mocks" serve --vendor crowdstrike --port 0 --alerts "$alerts" --cid-count 1 \
    --seed 7 --rate-limit 1000000 > "$work/mock.json" 2>/dev/null &
  mock_pid=$!
  for _ in $(seq 1 100); do [ -s "$work/mock.json" ] && break; sleep 0.1; done
  [ -s "$work/mock.json" ] || { echo "compare-falconpy: the mock did not start" >&2; exit 1; }
}
stop_mock() { kill "$mock_pid"; wait "$mock_pid" 2>/dev/null || true; mock_pid=; }
field() { "$python" -c 'import json,sys; v=json.loads(open(sys.argv[1]).readline())[sys.argv[2]]; print(v[0] if isinstance(v, list) else v)' "$work/mock.json" "$1"; }
lines() { wc -l < "$1" | tr -d ' '; }
# One JSON line per tool and run, kept for the medians at the end.
report() {
  local e u s m
  read -r e u s m < "$3"
  awk -v tool="$1" -v run="$2" -v n="$alerts" -v e="$e" -v u="$u" -v s="$s" -v m="$m" 'BEGIN {
    printf "{\"tool\":\"%s\",\"vendor\":\"crowdstrike\",\"run\":%d,\"alerts\":%d,\"wall_s\":%.2f,\"cpu_s\":%.2f,\"peak_rss_mib\":%.1f,\"alerts_per_s\":%d}\n",
      tool, run, n, e, u + s, m / 1024, (e > 0 ? n / e : 0) }' | tee -a "$work/results.ndjson"
}

for run in $(seq 1 "$runs"); do
  # The gateway: a fresh data dir, one workspace, one integration, one pull into a file.
  start_mock
  export SELIQ_DATA_DIR="$work/data-$run"
  "$bin/seliq-gateway" init > /dev/null
  "$bin/seliq-gateway" workspace create acme-corp > /dev/null
  FALCON_SECRET=$(field client_secret) "$bin/seliq-gateway" integration add acme-corp falcon \
    --kind crowdstrike --client-id "$(field client_id)" --cid "$(field cids)" \
    --base-url "$(field url)" --allow-insecure-http --rate-limit 6000 \
    --secret-env FALCON_SECRET > /dev/null
  /usr/bin/time -f '%e %U %S %M' -o "$work/gw.time" \
    "$bin/seliq-gateway" pull acme-corp --since 2d --output "$work/gw.ndjson" > /dev/null \
    2> "$work/gw.err" || { cat "$work/gw.err" >&2; exit 1; }
  stop_mock
  [ "$(lines "$work/gw.ndjson")" = "$alerts" ] || { echo "compare-falconpy: the gateway wrote $(lines "$work/gw.ndjson") lines, expected $alerts" >&2; exit 1; }
  report seliq-gateway "$run" "$work/gw.time"

  # FalconPy against a fresh mock with the same data.
  start_mock
  /usr/bin/time -f '%e %U %S %M' -o "$work/py.time" \
    "$python" mocks/examples/falconpy_to_file.py "$work/mock.json" "$work/py.ndjson" > /dev/null
  stop_mock
  [ "$(lines "$work/py.ndjson")" = "$alerts" ] || { echo "compare-falconpy: FalconPy wrote $(lines "$work/py.ndjson") lines, expected $alerts" >&2; exit 1; }
  report falconpy "$run" "$work/py.time"
  rm -rf "$work/gw.ndjson" "$work/py.ndjson" "$SELIQ_DATA_DIR"
done

# Medians per tool, and the two ratios (from the medians).
"$python" mocks/examples/medians.py "$work/results.ndjson"
