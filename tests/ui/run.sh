#!/usr/bin/env bash
# Headless-browser test of the web console (/ui/): drives Debian's Chromium with playwright-core
# (pinned in package-lock.json; no browser is ever downloaded) against the real keyward binary.
#
# Usage: tests/ui/run.sh
# Env:   KEYWARD_BIN              binary to test (default target/debug/keyward; a relative path is
#                                 taken from the repository root). The script never builds it.
#        CHROMIUM                 the browser (default /usr/bin/chromium)
#        KEYWARD_UI_SCREENSHOTS   where the test writes its PNGs (default: a temp dir, removed
#                                 unless a step failed). KEYWARD_UI_SCREENSHOTS=docs/screenshots
#                                 refreshes the committed ones (relative to the repository root)
#        KEYWARD_UI_URL           test an already running server (e.g. a development proxy) instead
#                                 of starting one; needs KEYWARD_UI_APIKEY (an administrator's API
#                                 key) and takes KEYWARD_UI_KMS_INSTANCE (default: the first KMS
#                                 instance listed)
#        KEYWARD_DATABASE_URL     passed through to the server (selects PostgreSQL)
#        KEYWARD_KEEP_DATA=1      keep the server's temp data dir (its path is printed)
set -euo pipefail

UI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$UI_DIR/../.." && pwd)"
READY_SECONDS=30

fail() {
  echo "run.sh: ERROR: $*" >&2
  exit 1
}

log_tail() { # log_tail <lines> <file>: the end of the server log, API keys redacted
  tail -n "$1" "$2" | sed -E 's/kw_[A-Za-z0-9_-]+/kw_<redacted>/g' >&2 || true
}

from_root() { # from_root <path>: absolute, relative paths taken from the repository root
  case "$1" in /*) echo "$1" ;; *) echo "$REPO_ROOT/$1" ;; esac
}

# ---------------------------------------------------------------- the browser and node
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  fail "Chromium not found at $chromium. Install Debian's package: sudo apt-get install chromium
       (or point CHROMIUM at a Chromium binary). The test never downloads a browser."
fi
export CHROMIUM="$chromium"
command -v node >/dev/null || fail "node not found (Node.js 20 or later is needed)"
command -v npm >/dev/null || fail "npm not found"

# ---------------------------------------------------------------- dependencies
stamp="$UI_DIR/node_modules/.keyward-lock.sha256"
want="$(cat "$UI_DIR/package.json" "$UI_DIR/package-lock.json" | sha256sum | cut -c1-64)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "run.sh: npm ci in $UI_DIR"
  (cd "$UI_DIR" && npm ci --no-audit --no-fund) || fail "npm ci failed"
  echo "$want" >"$stamp"
fi

# ---------------------------------------------------------------- clean-up on exit
server_pid=""
data_dir=""
shots_tmp=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$data_dir" ]; then
    if [ -n "${KEYWARD_KEEP_DATA:-}" ]; then echo "run.sh: data dir kept: $data_dir"; else rm -rf "$data_dir"; fi
  fi
  if [ -n "$shots_tmp" ]; then
    if [ -f "$shots_tmp/failed.png" ]; then
      echo "run.sh: screenshots kept in $shots_tmp (failed.png: the page when a step failed)" >&2
    else
      rm -rf "$shots_tmp"
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- screenshots
if [ -n "${KEYWARD_UI_SCREENSHOTS:-}" ]; then
  KEYWARD_UI_SCREENSHOTS="$(from_root "$KEYWARD_UI_SCREENSHOTS")"
  mkdir -p "$KEYWARD_UI_SCREENSHOTS"
else
  shots_tmp="$(mktemp -d "${TMPDIR:-/tmp}/keyward-ui-shots.XXXXXX")"
  KEYWARD_UI_SCREENSHOTS="$shots_tmp"
fi
export KEYWARD_UI_SCREENSHOTS

# ---------------------------------------------------------------- the server
json_field() { # json_field <file> <field>: prints the field, fails on a missing file or field
  node -e 'const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]];
           if (v === undefined) process.exit(1); console.log(v);' "$1" "$2" 2>/dev/null
}

start_server() {
  local bin
  bin="$(from_root "${KEYWARD_BIN:-target/debug/keyward}")"
  [ -x "$bin" ] || fail "keyward binary not found or not executable: $bin
       build it (cargo build) or set KEYWARD_BIN"
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/keyward-ui.XXXXXX")"
  local log="$data_dir/server.log"
  # Port 0: the system picks a free port; bootstrap.json names the address actually bound.
  "$bin" serve --data-dir "$data_dir" --listen 127.0.0.1:0 >"$log" 2>&1 </dev/null &
  server_pid=$!
  local url="" ready="" deadline=$((SECONDS + READY_SECONDS))
  while [ -z "$ready" ] && [ $SECONDS -lt $deadline ]; do
    kill -0 "$server_pid" 2>/dev/null || { log_tail 40 "$log"; fail "keyward exited during start"; }
    if [ -z "$url" ]; then url="$(json_field "$data_dir/bootstrap.json" url || true)"; fi
    if [ -n "$url" ] && [ -s "$data_dir/admin.apikey" ] &&
      node -e 'fetch(process.argv[1] + "/healthz").then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url"; then
      ready=1
    else
      sleep 0.2
    fi
  done
  [ -n "$ready" ] || { log_tail 40 "$log"; fail "keyward did not become ready in ${READY_SECONDS}s"; }
  KEYWARD_UI_URL="$url"
  KEYWARD_UI_APIKEY="$(head -n1 "$data_dir/admin.apikey")"
  KEYWARD_UI_KMS_INSTANCE="$(json_field "$data_dir/bootstrap.json" kms_instance_id)"
  echo "run.sh: keyward $bin serving $url (data dir $data_dir)"
}

if [ -n "${KEYWARD_UI_URL:-}" ]; then
  [ -n "${KEYWARD_UI_APIKEY:-}" ] || fail "KEYWARD_UI_URL needs KEYWARD_UI_APIKEY (an administrator's API key)"
  echo "run.sh: testing the running server at $KEYWARD_UI_URL"
else
  start_server
fi
export KEYWARD_UI_URL KEYWARD_UI_APIKEY KEYWARD_UI_KMS_INSTANCE="${KEYWARD_UI_KMS_INSTANCE:-}"

# ---------------------------------------------------------------- the test
rc=0
(cd "$UI_DIR" && node --test --test-reporter=spec console.test.mjs) || rc=$?
if [ "$rc" -ne 0 ] && [ -z "$shots_tmp" ]; then
  echo "run.sh: failed.png in $KEYWARD_UI_SCREENSHOTS is the page when a step failed" >&2
fi
if [ "$rc" -ne 0 ] && [ -n "$data_dir" ]; then
  echo "run.sh: last lines of the server log:" >&2
  log_tail 30 "$data_dir/server.log"
fi
if [ -z "$shots_tmp" ]; then echo "run.sh: screenshots in $KEYWARD_UI_SCREENSHOTS"; fi
exit "$rc"
