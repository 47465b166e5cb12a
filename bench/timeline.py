#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reads the kprobe traces of bench/timeline_guest.sh and prints, for each module, one packet's
way through the probed functions: hit by hit (on CPU 0, pktgen's), the median distance to the
next hit in TSC ticks, which under -icount count guest instructions.

Each hit also costs its probe (an int3 and the trace event, about 1,200 instructions here): the
shortest step from a hit in the stack's functions (the same code under both modules) stands
for that cost, and the column "beyond" is what each step costs above it, roughly the
instructions of the code between two hits. Probes cost somewhat differently with the
instruction they replace (a few C wrappers' are cheaper and show below zero), so single steps
are good to 50 or so, and sums over many steps are estimates.

usage: bench/timeline.py DIR   (DIR holds probes.MODULE, trace.MODULE and stack)
"""
import collections
import re
import statistics
import sys
from pathlib import Path

HIT = re.compile(r"\[(\d+)\].*?\s(\d+): (p\d+):")
# A packet starts where the director delivers it locally (once per packet in every mode).
ANCHOR = "ip_local_deliver"


def short(name):
    """A Rust symbol's last two path segments (v0 mangling: length-prefixed identifiers after
    the crate's), prefixed "rs:"; C names as they are."""
    at = name.find("12ipvs_rs_main")
    if not name.startswith("_R") or at < 0:
        return name
    idents, i = [], at + len("12ipvs_rs_main")
    while i < len(name):
        m = re.match(r"(\d+)_?", name[i:])
        if not m:
            i += 1
            continue
        n, j = int(m.group(1)), i + m.end()
        ident = name[j : j + n]
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ident):
            idents.append(ident)
            i = j + n
        else:
            i = j
    return "rs:" + "::".join(idents[-2:])


def timeline(directory, module):
    names = dict(line.split() for line in (directory / f"probes.{module}").read_text().splitlines() if line.strip())
    hits = []
    for line in (directory / f"trace.{module}").read_text().splitlines():
        m = HIT.search(line)
        if m and m.group(1) == "000" and m.group(3) in names:
            hits.append((int(m.group(2)), names[m.group(3)]))
    starts = [i for i, (_, n) in enumerate(hits) if n == ANCHOR]
    packets = [hits[a : b + 1] for a, b in zip(starts, starts[1:])]
    if not packets:
        return None
    shapes = collections.Counter(tuple(n for _, n in p) for p in packets)
    shape, count = shapes.most_common(1)[0]
    rows = [[p[k + 1][0] - p[k][0] for k in range(len(p) - 1)] for p in packets if tuple(n for _, n in p) == shape]
    steps = [(shape[k], statistics.median(r[k] for r in rows)) for k in range(len(shape) - 1)]
    return len(packets), count, steps


def main():
    directory = Path(sys.argv[1])
    modules = sorted(p.name.split(".", 1)[1] for p in directory.glob("trace.*"))
    stack = set((directory / "stack").read_text().split()) if (directory / "stack").exists() else set()
    for module in modules:
        t = timeline(directory, module)
        if t is None:
            print(f"{module}: no packets in the trace")
            continue
        packets, count, steps = t
        floor = min((d for name, d in steps if name in stack), default=min(d for _, d in steps))
        print(f"## {module}: {count} of {packets} packets took this way ({len(steps)} hits each)")
        print(f"{'#':>3} {'ticks':>7} {'beyond':>7}  hit (then the next one)")
        for k, (name, d) in enumerate(steps):
            print(f"{k:3d} {d:7.0f} {d - floor:7.0f}  {short(name)}")
        print(f"probe cost taken as {floor:.0f} ticks; a packet's whole cost is the bench's (make bench ICOUNT=1)\n")


if __name__ == "__main__":
    main()
