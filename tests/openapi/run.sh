#!/usr/bin/env bash
# Checks the API description against the real server: starts keyward on a fresh data dir, makes
# a root key, validates GET /openapi.json with openapi-spec-validator, then runs schemathesis
# against every described operation with the admin's token, a fixed seed and a bounded number
# of examples. It fails on a server error (5xx), a status the description does not list, a
# wrong content type, or a body that violates its schema, and prints the counts.
#
# Env: KEYWARD_BIN      binary (default target/debug/keyward, from the repository root)
#      ST_EXAMPLES      examples per operation and phase (default 15)
#      ST_SEED          hypothesis seed (default 20261130)
#      PYTHON           interpreter for the venv (default python3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
bin="${KEYWARD_BIN:-target/debug/keyward}"
case "$bin" in /*) ;; *) bin="$ROOT/$bin" ;; esac
[ -x "$bin" ] || { echo "openapi: keyward binary not found: $bin (cargo build, or set KEYWARD_BIN)" >&2; exit 1; }

# ---------------------------------------------------------------- the tools, pinned
venv="$HERE/.venv"
stamp="$venv/.keyward-requirements.sha256"
want="$(sha256sum "$HERE/requirements.txt" | cut -c1-64)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$HERE/requirements.txt"
    echo "$want" >"$stamp"
fi

# ---------------------------------------------------------------- the server
work="$(mktemp -d "${TMPDIR:-/tmp}/keyward-openapi.XXXXXX")"
pid=""
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fs "$url/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "openapi: the server exited" >&2; exit 1; }
    sleep 0.1
done
curl -fs "$url/healthz" >/dev/null || { cat "$work/server.log" >&2; echo "openapi: the server did not answer" >&2; exit 1; }

field() { "$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
kms_instance="$(field "$work/data/bootstrap.json" kms_instance_id)"
config_instance="$(field "$work/data/bootstrap.json" config_instance_id)"
# The API key goes through standard input, never a command line.
token="$(tr -d '\n' <"$work/data/admin.apikey" | curl -fs -X POST "$url/identity/token" \
    --data-urlencode 'grant_type=urn:ibm:params:oauth:grant-type:apikey' \
    --data-urlencode 'apikey@-' | field /dev/stdin access_token)"
# The token reaches curl and schemathesis through a file and the environment, never a command
# line (printf is the shell's own, not a process).
umask 077
printf 'Authorization: Bearer %s\n' "$token" >"$work/auth.header"
export KEYWARD_ST_TOKEN="$token"
key="$(curl -fs -X POST "$url/api/v2/keys" -H "@$work/auth.header" \
    -H "bluemix-instance: $kms_instance" -H 'content-type: application/vnd.ibm.kms.key+json' \
    -d '{"metadata":{"collectionType":"application/vnd.ibm.kms.key+json","collectionTotal":1},
         "resources":[{"type":"application/vnd.ibm.kms.key+json","name":"fuzzed","extractable":false}]}' |
    "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["resources"][0]["id"])')"

# ---------------------------------------------------------------- the description
curl -fs "$url/openapi.json" -o "$work/openapi.json"
echo "openapi: $("$venv/bin/python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("OpenAPI", d["openapi"] + ",", len(d["paths"]), "paths,", sum(len(p) for p in d["paths"].values()), "operations")' "$work/openapi.json")"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

# ---------------------------------------------------------------- schemathesis
# Path parameters point at real things where the description has them (the KMS instance's key,
# the configuration instance), so that operations reach past the 404. The run is without the
# stateful phase: following links from a list of API keys to their lock would suspend the
# admin's own key mid-run (the API allows that; it is not a fault).
cat >"$work/schemathesis.toml" <<TOML
[auth.openapi.iam_token]
bearer = "\${KEYWARD_ST_TOKEN}"

[[operations]]
include-path-regex = "^/api/v2/keys/\\\\{id\\\\}"
parameters = { "path.id" = "$key" }

[[operations]]
include-path-regex = "^/openscale/.*/user_preferences/"
parameters = { "path.instance" = "$config_instance", "path.key" = "user_root_key_crn" }

[[operations]]
include-path-regex = "^/openscale/"
exclude-path-regex = "/user_preferences/"
parameters = { "path.instance" = "$config_instance" }
TOML
cd "$work"
# Operations that can take the run's own access away (delete a policy, a user, a service id or an
# API key, lock an API key: schemathesis finds real ids in list responses) run last, by
# themselves, so that the rest runs with the admin's access intact.
self_harm='^(iam_delete_policy|iam_delete_user|iam_delete_service_id|iam_delete_apikey|iam_lock_apikey)$'
fuzz() { # fuzz <log> <filter args...>
    local log="$1"
    shift
    "$venv/bin/st" --config-file "$work/schemathesis.toml" run "$work/openapi.json" --url "$url" \
        -H "bluemix-instance: $kms_instance" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing --seed "${ST_SEED:-20261130}" -n "${ST_EXAMPLES:-15}" \
        --no-color "$@" 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}
rc=0
fuzz "$work/main.log" --exclude-operation-id-regex "$self_harm" || rc=1
fuzz "$work/last.log" --include-operation-id-regex "$self_harm" || rc=1
# A run that never got past authentication proves nothing: with the admin's token, no operation
# of the main pass may answer only 401.
if grep -q '401 Unauthorized (' "$work/main.log"; then
    echo "openapi: operations answered only 401: the token did not reach schemathesis" >&2
    rc=1
fi
cases() { grep -E '^ *[0-9]+ generated' "$1" | tail -n1 | sed 's/^ *//'; }
echo "openapi: schemathesis: $(cases "$work/main.log"); then the operations that take access away: $(cases "$work/last.log") (exit $rc)"
exit "$rc"
