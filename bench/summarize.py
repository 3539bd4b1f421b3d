#!/usr/bin/env python3
"""Markdown summary of a bench/http_unwrap.sh CSV: medians over rounds per server and
connection count, and the Keyward / OpenBao (or Keyward / baseline build) ratios.

Usage: python3 bench/summarize.py [--clean MAX_OTHER_CORES] bench/results/<stamp>.csv
With --clean, only runs during which no cargo/rustc process was seen and the other processes on
the machine used at most MAX_OTHER_CORES cores are kept.
"""

import csv
import sys
from collections import defaultdict
from statistics import median

TARGET_RATIO = 5.0  # the goal: keyward unwrap req/s >= 5x OpenBao transit decrypt


def fmt(x, digits=0):
    return f"{x:,.{digits}f}".replace(",", " ") if digits == 0 else f"{x:.{digits}f}"


def main(path, max_other=None):
    rows = list(csv.DictReader(open(path, newline="")))
    if max_other is not None:
        rows = [r for r in rows if float(r["other_cores"]) <= max_other
                and r["build_before"] == "-" and r["build_after"] == "-"]
    by = defaultdict(list)
    for r in rows:
        by[(r["target"], int(r["conns"]))].append(r)
    targets = sorted({t for t, _ in by}, key=lambda t: (not t.startswith("keyward"), t))
    conns = sorted({c for _, c in by})

    def med(key, t, c):
        return median(float(r[key]) for r in by[(t, c)])

    print("| server | conns | req/s (median; min–max) | p50 ms | p99 ms | server CPU µs/op "
          "| cores: server + wrk + other | errors + non-2xx | runs (with a build running) |")
    print("|---|---:|---|---:|---:|---:|---|---:|---|")
    for t in targets:
        for c in conns:
            rs = by.get((t, c))
            if not rs:
                continue
            rps = [float(r["req_s"]) for r in rs]
            errs = sum(int(r[k]) for r in rs
                       for k in ("err_connect", "err_read", "err_write", "err_timeout", "non2xx"))
            built = sum(1 for r in rs if r["build_before"] != "-" or r["build_after"] != "-")
            print(f"| {t} | {c} | {fmt(median(rps))} ({fmt(min(rps))}–{fmt(max(rps))}) "
                  f"| {med('p50_ms', t, c):.3f} | {med('p99_ms', t, c):.2f} "
                  f"| {med('server_cpu_us_per_op', t, c):.1f} "
                  f"| {med('server_cores', t, c):.2f} + {med('wrk_cores', t, c):.2f} + "
                  f"{med('other_cores', t, c):.2f} | {errs} | {len(rs)} ({built}) |")

    def ratio_table(a, b, goal=None):
        """a / b req/s per connection count, per round, and b / a server CPU µs/op."""
        if a not in targets or b not in targets:
            return
        print()
        goal_head = f" vs target {goal:g}× |" if goal else ""
        print(f"| conns | {a} / {b} req/s (medians) | per-round ratios |{goal_head} "
              f"{b} / {a} server CPU µs/op |")
        print("|---:|---:|---|" + ("---|" if goal else "") + "---:|")
        for c in conns:
            x, y = by.get((a, c)), by.get((b, c))
            if not x or not y:
                continue
            ratio = med("req_s", a, c) / med("req_s", b, c)
            per_round = {r["round"]: float(r["req_s"]) for r in x}
            rounds = [per_round[r["round"]] / float(r["req_s"]) for r in y if r["round"] in per_round]
            cpu = med("server_cpu_us_per_op", b, c) / med("server_cpu_us_per_op", a, c)
            verdict = ""
            if goal:
                verdict = " met |" if ratio >= goal else f" {100 * ratio / goal:.0f} % of it |"
            print(f"| {c} | {ratio:.3f}× | {' / '.join(f'{v:.3f}' for v in rounds)} |{verdict} "
                  f"{cpu:.3f}× |")

    ratio_table("keyward", "keyward-base")
    ratio_table("keyward", "openbao", TARGET_RATIO)
    ratio_table("keyward-tls", "openbao-tls", TARGET_RATIO)
    ratio_table("keyward", "openbao-audit")  # both auditing every request
    ratio_table("keyward-tls", "openbao-tls-audit")
    ratio_table("keyward-tls", "keyward")  # what TLS costs Keyward
    ratio_table("openbao-tls", "openbao")  # and OpenBao
    ratio_table("keyward-hsm", "keyward")  # the master key in SoftHSM2, material opened in memory
    ratio_table("keyward-hsm-strict", "keyward")  # every unwrap inside SoftHSM2
    ratio_table("keyward-hsm-strict", "openbao")

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--clean"]:
        main(args[2], float(args[1]))
    else:
        main(args[0])
