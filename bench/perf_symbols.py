#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Names the ipvs_rs.ko addresses of a perf report.

perf in the guest shows samples in ipvs_rs as bare offsets (`[ipvs_rs] [k] 0x...`): it finds
no symbols for them. Those offsets are from the start of the module's text, which is where
`nm` places the .ko's text symbols, so this sums each report line into the function of the
built .ko that holds it.

usage: bench/perf_symbols.py IPVS_RS_KO REPORT [TOP]
   (REPORT: a `perf report --stdio --sort dso,sym` or `--sort sym` output, as BENCH_PERF=1
   writes to BENCH_OUT/perf/)
"""
import bisect
import collections
import re
import subprocess
import sys


def text_symbols(ko):
    out = subprocess.run(["nm", "-n", "--defined-only", "-C", ko], capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTW":
            syms.append((int(parts[0], 16), re.sub(r"::h[0-9a-f]{16}$", "", parts[2])))
    syms.sort()
    return syms


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    syms = text_symbols(sys.argv[1])
    starts = [a for a, _ in syms]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    share = collections.Counter()
    with open(sys.argv[2]) as report:
        for line in report:
            m = re.match(r"\s+([\d.]+)%\s+(?:\[ipvs_rs\]\s+)?\[k\]\s+0x([0-9a-f]+)\s*$", line)
            if not m:
                continue
            i = bisect.bisect_right(starts, int(m.group(2), 16)) - 1
            share[syms[i][1] if i >= 0 else "?"] += float(m.group(1))
    for name, pct in share.most_common(top):
        print(f"{pct:6.2f}%  {name[:120]}")
    print(f"{sum(share.values()):6.2f}%  in all (lines above perf's --percent-limit only)")


if __name__ == "__main__":
    main()
