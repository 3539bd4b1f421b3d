#!/usr/bin/env python3
"""Groups a flat perf profile (self time per symbol) into cost buckets.

Input: the output of `perf report --no-children --sort dso,sym --stdio -g none`.
Usage: python3 bench/perf_buckets.py REPORT [US_PER_REQUEST]
With US_PER_REQUEST (server CPU per request, from perf stat or /proc), each bucket's share is also
shown as microseconds per request. Buckets are by self time, so they add up to 100 %; the first
pattern that matches a symbol wins.
"""

import re
import sys

BUCKETS = [
    # (name, dso regex, symbol regex)
    ("kernel: TCP/IP, syscalls, scheduler, IRQ", r"\[kernel", r""),
    ("Go runtime: GC, allocation, scheduler", r"", r"^runtime\.|internal/runtime|gcWriteBarrier|memeqbody|runtime/"),
    ("crypto (AES-GCM, HMAC-SHA256, SHA)", r"", r"aws_lc|ring::|^crypto/|gcm|sha256|hmac|HMAC|aes_hw|aesni|vpaes"),
    ("JSON (serde_json / encoding/json)", r"", r"serde|encoding/json|jsontext"),
    ("base64", r"", r"base64"),
    ("HTTP/1 parse+encode, routing (hyper, httparse, http, axum, tower / net/http)",
     r"", r"hyper|httparse|\bhttp::|axum|tower|matchit|net/http|bufio|textproto|net/url"),
    ("regexp (Go)", r"", r"regexp"),
    ("metrics (go-metrics, prometheus)", r"", r"metrics|perks|quantile|prometheus"),
    ("OpenBao core (router, token store, transit)", r"", r"openbao|vault|hashicorp"),
    ("async runtime (tokio, mio, futures)", r"", r"tokio|mio::|futures|parking_lot|crossbeam"),
    ("malloc/free, memcpy/memcmp (libc)", r"libc", r"malloc|free|memmove|memcpy|memcmp|memset|_int_|cfree|realloc|tcache"),
    ("Keyward code (auth, caches, handlers, KMS)", r"", r"keyward"),
    ("Rust core/std/alloc, uuid, time", r"", r"core::|std::|alloc::|uuid|time::|hashbrown|<.*>::"),
    ("libc other, vdso (clock_gettime)", r"libc|vdso", r""),
    ("unresolved addresses", r"", r"^0x[0-9a-f]+$"),
]


def main(path, us_per_req=None):
    totals = {name: 0.0 for name, _, _ in BUCKETS}
    totals["other"] = 0.0
    examples = {name: [] for name in totals}
    line_re = re.compile(r"^\s+([\d.]+)%\s+(\S.*?)\s+\[([.k])\]\s+(.*)$")
    for line in open(path, errors="replace"):
        m = line_re.match(line)
        if not m:
            continue
        pct, dso, _kind, sym = float(m.group(1)), m.group(2).strip(), m.group(3), m.group(4).strip()
        for name, dso_re, sym_re in BUCKETS:
            if (not dso_re or re.search(dso_re, dso)) and (not sym_re or re.search(sym_re, sym)):
                break
        else:
            name = "other"
        totals[name] += pct
        if len(examples[name]) < 3:
            examples[name].append(sym[:60])
    total = sum(totals.values())
    head = "| bucket (self time) | share |" + (" µs/request |" if us_per_req else "") + " top symbols |"
    print(head)
    print("|---|---:|" + ("---:|" if us_per_req else "") + "---|")
    for name, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
        if pct < 0.05:
            continue
        share = pct / total * 100 if total else 0
        us = f" {share / 100 * us_per_req:.1f} |" if us_per_req else ""
        ex = "; ".join(f"`{e}`" for e in examples[name])
        print(f"| {name} | {share:.1f} % |{us} {ex} |")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None)
