#!/usr/bin/env bash
# The fault kit's long form: the PostgreSQL fault test (restart, terminated connections, a 6 s
# outage, all under load) ROUNDS times in a row against the kit's private PostgreSQL, stopping
# at the first failure. Prints each round's figures and their medians at the end.
#
# Usage: tests/faults/long.sh            (ROUNDS=20 by default)
# Needs: what scripts/test needs (cargo, PostgreSQL server binaries, psql).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-20}
# shellcheck source=tests/faults/private_postgres.sh
source tests/faults/private_postgres.sh
trap private_postgres_cleanup EXIT
private_postgres_start
export KEYWARD_TEST_DATABASE_URL="${KEYWARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo build -q -p keyward-cli --tests
log=$(mktemp)
for round in $(seq "$ROUNDS"); do
    if ! cargo test -q -p keyward-cli --test fault_postgres -- --nocapture >"$log" 2>&1; then
        cat "$log"
        echo "round $round of $ROUNDS FAILED" >&2
        exit 1
    fi
    echo "round $round: $(grep -hE '_ms=' "$log" | tr '\n' ' ')"
done | tee "$log.all"
python3 - "$log.all" <<'PY'
import re, statistics, sys
values = {}
for line in open(sys.argv[1]):
    for key, value in re.findall(r"(\w+_ms)=(\d+)", line):
        values.setdefault(key, []).append(int(value))
for key, v in values.items():
    print(f"{key}: median {statistics.median(v):.0f}, min {min(v)}, max {max(v)} over {len(v)} rounds")
PY
rm -f "$log" "$log.all"
