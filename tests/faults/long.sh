#!/usr/bin/env bash
# The fault kit's long form: one fault test ROUNDS times in a row, stopping at the first failure,
# printing each round's figures and their medians at the end. FAULT_TEST names it:
#   fault_postgres   (default) PostgreSQL restarted, cut off and stopped under load, on the kit's
#                    private PostgreSQL
#   fault_node_kill  one of two nodes SIGKILLed under load and mid-switch, on a fresh database of
#                    KEYWARD_TEST_DATABASE_URL each round
#
# Usage: tests/faults/long.sh            (ROUNDS=20 by default)
#        FAULT_TEST=fault_node_kill ROUNDS=200 tests/faults/long.sh
# Needs: what scripts/test needs (cargo, PostgreSQL server binaries, psql).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-20}
FAULT_TEST=${FAULT_TEST:-fault_postgres}
# shellcheck source=tests/faults/private_postgres.sh
source tests/faults/private_postgres.sh
trap private_postgres_cleanup EXIT
private_postgres_start
export KEYWARD_TEST_DATABASE_URL="${KEYWARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo build -q -p keyward-cli --tests
log=$(mktemp)
for round in $(seq "$ROUNDS"); do
    if ! cargo test -q -p keyward-cli --test "$FAULT_TEST" -- --nocapture >"$log" 2>&1; then
        cat "$log"
        echo "round $round of $ROUNDS FAILED" >&2
        exit 1
    fi
    echo "round $round: $(grep -hoE '\w+_ms=[0-9]+' "$log" | tr '\n' ' ')"
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
