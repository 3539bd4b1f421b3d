#!/usr/bin/env bash
# Runs the SDK compatibility suites against the real keyward binary: Key Protect (Node
# @ibm-cloud/ibm-key-protect 0.1.2 and Python keyprotect 3.0.1) and the OpenScale-shaped
# configuration service (Python ibm-watson-openscale 3.1.11, own venv). Each suite starts its
# own server with a fresh temp data dir and stops it at the end.
#
# Usage: tests/sdk/run.sh [node|python|openscale]...      (default: all three)
# Env:   KEYWARD_BIN           binary to test (default target/debug/keyward; relative paths
#                              are taken from the repository root)
#        KEYWARD_DATABASE_URL  passed through to the server (selects PostgreSQL)
#        KEYWARD_KEEP_DATA=1   keep the servers' temp data dirs (path is printed)
#        KEYWARD_SDK_TLS=0     serve plain HTTP (default: HTTPS with a development CA from
#                              `keyward tls self-signed`, trusted through NODE_EXTRA_CA_CERTS and
#                              REQUESTS_CA_BUNDLE)
#        PYTHON                interpreter used to create the venvs (default python3; the
#                              openscale suite needs Python >=3.11,<3.14)
#        KEYWARD_TEST_DATABASE_URL  customer PostgreSQL for the openscale data marts
#                              (default postgres://postgres@127.0.0.1:5432/test; needs psql)
#        KEYWARD_PROVISIONING_DATABASE_URL  where the openscale suite's server provisions
#                              auto-setup data marts (default: KEYWARD_TEST_DATABASE_URL)
set -euo pipefail

SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SDK_DIR/../.." && pwd)"
NODE_DIR="$SDK_DIR/node"
PY_DIR="$SDK_DIR/python"
OS_DIR="$SDK_DIR/openscale"

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then suites=(node python openscale); fi
for s in "${suites[@]}"; do
  case "$s" in node | python | openscale) ;; *) echo "run.sh: unknown suite '$s' (expected node, python or openscale)" >&2; exit 2 ;; esac
done

# ---------------------------------------------------------------- the binary
bin="${KEYWARD_BIN:-target/debug/keyward}"
case "$bin" in /*) ;; *) bin="$REPO_ROOT/$bin" ;; esac
if [ ! -x "$bin" ]; then
  echo "run.sh: ERROR: keyward binary not found or not executable: $bin" >&2
  echo "run.sh: build it (cargo build) or set KEYWARD_BIN" >&2
  exit 1
fi
export KEYWARD_BIN="$bin"
echo "run.sh: KEYWARD_BIN=$KEYWARD_BIN"
if [ -n "${KEYWARD_DATABASE_URL:-}" ]; then echo "run.sh: KEYWARD_DATABASE_URL is set (PostgreSQL)"; fi

sha() { sha256sum "$@" | sha256sum | cut -c1-64; }

# The development CA below is for the SDKs' calls to Keyward only. Package installs run with the
# certificate settings this script started with (REQUESTS_CA_BUNDLE replaces pip's roots).
orig_requests_ca="${REQUESTS_CA_BUNDLE-}"
orig_node_ca="${NODE_EXTRA_CA_CERTS-}"
installing() {
  local settings=(-u REQUESTS_CA_BUNDLE -u NODE_EXTRA_CA_CERTS)
  [ -z "$orig_requests_ca" ] || settings+=("REQUESTS_CA_BUNDLE=$orig_requests_ca")
  [ -z "$orig_node_ca" ] || settings+=("NODE_EXTRA_CA_CERTS=$orig_node_ca")
  env "${settings[@]}" "$@"
}

# ---------------------------------------------------------------- dependencies
setup_node() {
  command -v node >/dev/null || { echo "run.sh: ERROR: node not found" >&2; return 1; }
  command -v npm >/dev/null || { echo "run.sh: ERROR: npm not found" >&2; return 1; }
  local want stamp="$NODE_DIR/node_modules/.keyward-lock.sha256"
  want="$(sha "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json")"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "run.sh: npm ci in $NODE_DIR"
    (cd "$NODE_DIR" && installing npm ci --no-audit --no-fund) || return 1
    echo "$want" >"$stamp"
  fi
}

setup_venv() { # setup_venv <suite dir>: <dir>/.venv with <dir>/requirements.txt installed
  local dir="$1" py="${PYTHON:-python3}"
  local venv="$dir/.venv"
  local want stamp="$venv/.keyward-requirements.sha256"
  want="$(sha "$dir/requirements.txt")"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    echo "run.sh: creating venv $venv"
    rm -rf "$venv"
    "$py" -m venv "$venv" || return 1
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "run.sh: pip install -r $dir/requirements.txt"
    installing "$venv/bin/python" -m pip install --disable-pip-version-check -q \
      -r "$dir/requirements.txt" || return 1
    echo "$want" >"$stamp"
  fi
}

setup_python() { setup_venv "$PY_DIR"; }

# The OpenScale SDK pins ibm-cloud-sdk-core<=3.25.0 (keyprotect's suite uses 3.28.0): own venv.
setup_openscale() { setup_venv "$OS_DIR"; }

# ---------------------------------------------------------------- run
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/keyward-sdk-run.XXXXXX")"
trap 'rm -rf "$LOG_DIR"' EXIT

# HTTPS by default, with a development CA the SDKs are told to trust (KEYWARD_SDK_TLS=0: HTTP).
if [ "${KEYWARD_SDK_TLS:-1}" != 0 ]; then
  "$KEYWARD_BIN" tls self-signed --out "$LOG_DIR/tls" >/dev/null
  export KEYWARD_SDK_TLS_DIR="$LOG_DIR/tls"
  export NODE_EXTRA_CA_CERTS="$LOG_DIR/tls/ca.pem"
  export REQUESTS_CA_BUNDLE="$LOG_DIR/tls/ca.pem"
  echo "run.sh: serving HTTPS with the development CA $LOG_DIR/tls/ca.pem"
else
  echo "run.sh: serving plain HTTP (KEYWARD_SDK_TLS=0)"
fi

total_pass=0
total_fail=0
overall=0
summary=()

run_node() {
  setup_node || return 1
  echo
  echo "==================== Node SDK suite (@ibm-cloud/ibm-key-protect 0.1.2) ===================="
  (cd "$NODE_DIR" && node --test keyprotect.test.js) 2>&1 | tee "$LOG_DIR/node.log"
  return "${PIPESTATUS[0]}"
}

run_python() {
  setup_python || return 1
  echo
  echo "==================== Python SDK suite (keyprotect 3.0.1) ===================="
  (cd "$PY_DIR" && "$PY_DIR/.venv/bin/python" -m pytest) 2>&1 | tee "$LOG_DIR/python.log"
  return "${PIPESTATUS[0]}"
}

run_openscale() {
  setup_openscale || return 1
  echo
  echo "==================== OpenScale SDK suite (ibm-watson-openscale 3.1.11) ===================="
  local provisioning="${KEYWARD_PROVISIONING_DATABASE_URL:-${KEYWARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
  (cd "$OS_DIR" && KEYWARD_PROVISIONING_DATABASE_URL="$provisioning" "$OS_DIR/.venv/bin/python" -m pytest) 2>&1 | tee "$LOG_DIR/openscale.log"
  return "${PIPESTATUS[0]}"
}

count() { # count <regex-with-one-number-group> <file> -> number or empty
  grep -Eo "$1" "$2" 2>/dev/null | tail -n1 | grep -Eo '[0-9]+' | head -n1 || true
}

for s in "${suites[@]}"; do
  rc=0
  "run_$s" || rc=$?
  log="$LOG_DIR/$s.log"
  touch "$log"
  if [ "$s" = node ]; then
    p="$(count '^# pass [0-9]+' "$log")"
    f="$(count '^# fail [0-9]+' "$log")"
    c="$(count '^# cancelled [0-9]+' "$log")"
    f=$(( ${f:-0} + ${c:-0} ))
    line="$(grep -E '^# (tests|pass|fail|cancelled|skipped) ' "$log" | tr '\n' ' ' || true)"
  else
    last="$(grep -E '^=+ .*(passed|failed|error|no tests ran).* in [0-9.]+s' "$log" | tail -n1 || true)"
    p="$(echo "$last" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || true)"
    f1="$(echo "$last" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+' || true)"
    f2="$(echo "$last" | grep -Eo '[0-9]+ errors?' | grep -Eo '[0-9]+' || true)"
    f=$(( ${f1:-0} + ${f2:-0} ))
    line="$last"
  fi
  p="${p:-0}"
  # A runner that failed without reporting a failed test (crash, server did not start,
  # dependency install failed) still counts as one failure.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$rc" -ne 0 ]; then overall=1; fi
  total_pass=$(( total_pass + p ))
  total_fail=$(( total_fail + f ))
  summary+=("$s: exit $rc; ${line:-<no summary line>}")
done

echo
echo "==================== SDK compatibility summary ===================="
for l in "${summary[@]}"; do echo "  $l"; done
echo "sdk-compat: $total_pass passed, $total_fail failed"
exit "$overall"
