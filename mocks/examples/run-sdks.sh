#!/usr/bin/env bash
# The vendors' official SDKs against `seliq-mocks serve`: FalconPy, azure-mgmt-securityinsight
# and splunk-sdk (pinned in requirements.txt) each pull everything one mock holds and fail
# unless the count matches. Run from .ci/run under a timeout, or by hand:
#
#     bash mocks/examples/run-sdks.sh
#
# The virtualenv lives in $CARGO_TARGET_DIR (default target/) as sdk-venv and is reused while
# requirements.txt and the interpreter stay the same. splunk-sdk 3.x needs Python >= 3.13: the
# first of $SDK_PYTHON, python3.13+ on PATH, or pyenv's 3.13+ is used. Without one, or when pip
# cannot reach the package index, this fails loudly: it never skips.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
examples=mocks/examples
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
target="$(cd "$target" && pwd)"

fail() {
  echo "run-sdks: FAILED: $*" >&2
  exit 1
}

# ---- an interpreter new enough for splunk-sdk 3.x
is_new_enough() {
  [ -n "$1" ] && [ -x "$1" ] && "$1" -c 'import sys, ssl, venv; sys.exit(sys.version_info < (3, 13))' 2>/dev/null
}
python=""
candidates=("${SDK_PYTHON:-}")
for v in 3.14 3.13; do
  candidates+=("$(command -v "python$v" 2>/dev/null || true)")
done
pyenv_root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
for p in "$pyenv_root"/versions/3.1[3-9]*/bin/python3; do
  candidates+=("$p")
done
for p in "${candidates[@]}"; do
  if is_new_enough "$p"; then
    python="$p"
    break
  fi
done
[ -n "$python" ] || fail "no Python >= 3.13 found (splunk-sdk 3.0.1 needs it); set SDK_PYTHON"

# ---- the virtualenv, cached
venv="$target/sdk-venv"
stamp="$("$python" --version 2>&1) $(sha256sum "$examples/requirements.txt" | cut -d' ' -f1)"
if [ -f "$venv/.seliq-stamp" ] && [ "$(cat "$venv/.seliq-stamp")" = "$stamp" ]; then
  echo "run-sdks: reusing $venv ($("$venv/bin/python" --version))"
else
  echo "run-sdks: creating $venv with $("$python" --version) and installing $examples/requirements.txt"
  rm -rf "$venv"
  "$python" -m venv "$venv" || fail "cannot create a virtualenv with $python"
  if ! "$venv/bin/pip" install --disable-pip-version-check --quiet \
      -r "$examples/requirements.txt"; then
    rm -rf "$venv"
    fail "pip could not install $examples/requirements.txt (is the package index reachable?)"
  fi
  echo "$stamp" > "$venv/.seliq-stamp"
fi

# ---- the mock servers, one per vendor, on free ports
cargo build --quiet --locked -p seliq-mocks --bin seliq-mocks
mocks="$target/debug/seliq-mocks"
[ -x "$mocks" ] || fail "$mocks was not built"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

start() {
  local vendor=$1
  shift
  "$mocks" serve --vendor "$vendor" --port 0 "$@" > "$work/$vendor.json" 2> "$work/$vendor.err" &
  pids+=("$!")
  for _ in $(seq 100); do
    [ -s "$work/$vendor.json" ] && return 0
    kill -0 "$!" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/$vendor.err" >&2
  fail "seliq-mocks serve --vendor $vendor did not start"
}
# Two CIDs of 3,000 (offset paging stays under the 10,000 wall), two Sentinel workspaces of
# 2,500 incidents (three pages each at $top=1000), four Splunk indexes of 2,500 events plus
# 120 ES notables (three results pages each).
start crowdstrike --alerts 3000
start sentinel --alerts 2500 --workspaces 2
start splunk --alerts 2500

status=0
for pair in crowdstrike:falconpy_pull.py sentinel:sentinel_sdk_pull.py splunk:splunk_sdk_pull.py; do
  vendor=${pair%%:*}
  script=${pair#*:}
  echo "== $script against seliq-mocks serve --vendor $vendor ($(grep -o '"url":"[^"]*"' "$work/$vendor.json" | head -1))"
  if ! "$venv/bin/python" "$examples/$script" "$work/$vendor.json"; then
    echo "run-sdks: $script FAILED" >&2
    status=1
  fi
done
[ "$status" = 0 ] || fail "an SDK script failed (see above)"
echo "run-sdks: took $((SECONDS - started)) s"
echo "sdks: 3 passed, 0 failed"
