#!/usr/bin/env bash
# Two `serve` replicas on the local PostgreSQL share one set of integrations; kill -9 one and
# the other polls every integration within a minute. The README's "Several replicas" tour as
# one command:
#
#   bash mocks/examples/two-replicas.sh            # release binaries under target/release
#
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`; SELIQ_TEST_POSTGRES_URL for
# another) and python3. Makes a schema of its own there and drops it at the end. Env: CIDS
# (integrations, default 20), BIN (the directory holding seliq-gateway and seliq-mocks).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${BIN:-target/release}
CIDS=${CIDS:-20}
BASE=${SELIQ_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
GW="$BIN/seliq-gateway"
MOCKS="$BIN/seliq-mocks"
[ -x "$GW" ] && [ -x "$MOCKS" ] || { echo "build first: cargo build --release --workspace --bins" >&2; exit 2; }

work=$(mktemp -d)
schema="tour_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  psql "$BASE" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$BASE" -qc "CREATE SCHEMA $schema"

export SELIQ_DATABASE_URL="$BASE?options=-csearch_path%3D$schema"
SELIQ_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export SELIQ_MASTER_KEY
export SELIQ_ACTOR=tour

# A Falcon mock with $CIDS child CIDs under one MSSP parent client.
"$MOCKS" serve --vendor crowdstrike --port 0 --cid-count "$CIDS" --alerts 50 > "$work/falcon.json" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/falcon.json" ] && break; sleep 0.1; done
field() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])" "$work/falcon.json" "$1"; }
url=$(field url)
client_id=$(field client_id)
export FALCON_SECRET
FALCON_SECRET=$(field client_secret)
mapfile -t cids < <(python3 -c "import json,sys; print('\n'.join(json.loads(open(sys.argv[1]).readline())['cids']))" "$work/falcon.json")

SELIQ_DATA_DIR="$work/r1" "$GW" init
SELIQ_DATA_DIR="$work/r2" "$GW" init
SELIQ_DATA_DIR="$work/r1" "$GW" workspace create acme-corp > /dev/null
i=0
for cid in "${cids[@]}"; do
  SELIQ_DATA_DIR="$work/r1" "$GW" integration add acme-corp "falcon-$i" --kind crowdstrike \
    --client-id "$client_id" --cid "$cid" --base-url "$url" --allow-insecure-http \
    --secret-env FALCON_SECRET --poll-interval 10s > /dev/null
  i=$((i + 1))
done
echo "== $CIDS integrations on PostgreSQL schema $schema"

started=
start() { # data dir, port; sets $started to the pid
  SELIQ_DATA_DIR="$work/$1" RUST_LOG=info "$GW" serve --listen "127.0.0.1:$2" --lease-ttl 10s \
    2> "$work/$1.log" > /dev/null &
  started=$!
  pids+=("$started")
}
start r1 19501; r1=$started
start r2 19502; r2=$started

# status: one line per integration ending in "; replica HOST-PID" while a replica holds it.
held_by() { SELIQ_DATA_DIR="$work/r1" "$GW" status acme-corp | grep -c "replica .*-$1\$" || true; }
for _ in $(seq 1 60); do
  a=$(held_by "$r1"); b=$(held_by "$r2")
  [ $((a + b)) -eq "$CIDS" ] && [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && break
  sleep 1
done
echo "== shared: replica $r1 holds $(held_by "$r1"), replica $r2 holds $(held_by "$r2")"
[ "$(held_by "$r1")" -gt 0 ] && [ "$(held_by "$r2")" -gt 0 ] || { echo "the replicas did not share the integrations" >&2; exit 1; }

kill -9 "$r2"
killed=$(date +%s)
echo "== kill -9 $r2"
# Every integration held by r1 and polled successfully after the kill, within a minute.
polled_since_kill() {
  SELIQ_DATA_DIR="$work/r1" "$GW" status acme-corp --json | python3 -c "
import json, sys, datetime
killed = datetime.datetime.fromtimestamp(int(sys.argv[1]), datetime.timezone.utc)
items = json.load(sys.stdin)['integrations']
ok = [i for i in items if i.get('replica', '').endswith('-' + sys.argv[2])
      and i['last_poll'] and i['last_poll']['outcome'] == 'ok'
      and datetime.datetime.fromisoformat(i['last_poll']['start'].replace('Z', '+00:00')) > killed]
print(len(ok))" "$killed" "$r1"
}
while true; do
  n=$(polled_since_kill)
  waited=$(( $(date +%s) - killed ))
  [ "$n" -eq "$CIDS" ] && break
  [ "$waited" -gt 60 ] && { echo "after ${waited}s only $n of $CIDS integrations were polled by $r1" >&2; exit 1; }
  sleep 1
done
echo "== after ${waited}s replica $r1 holds and has polled all $CIDS integrations"
kill -TERM "$r1"
if wait "$r1"; then echo "== replica $r1 exited 0 on SIGTERM"; else echo "replica $r1 exited $? on SIGTERM" >&2; exit 1; fi
