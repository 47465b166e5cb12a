#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the raw rows of one bench run into latest.md, runs.csv and the PNG plots.

usage: bench/report.py RAW_DIR RESULTS_DIR [--quick]

RAW_DIR holds runs.csv (one row per measurement, from bench/guest.sh) and meta.txt (from
bench/run). Every figure is the median over rounds, with min-max, and the ratio of medians
ipvs_rs/stock (and ipvs_rs/plain forwarding where that applies). Exits non-zero if a workload
produced no result for a module, or if a plot does not render to a valid PNG.
"""
import csv
import shutil
import statistics
import struct
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

MODULE_LABELS = {
    "stock": "stock ip_vs",
    "stock20": "stock ip_vs, 2^20 buckets",
    "ipvs_rs": "ipvs_rs",
    "ipvs_rs20": "ipvs_rs, 2^20 buckets",
    "plain": "plain forwarding",
    "baseline": "ipvs_rs baseline build",
}
# (workload, title, unit, where its plain-forwarding ceiling was measured (or None))
DATAPATH = [
    ("est_dr", "Established flows, DR, 64 B UDP", "pkt/s", "plain"),
    ("est_nat", "Established flows, NAT, 64 B UDP", "pkt/s", "plain"),
    ("newflow_nat", "New flows, NAT (every packet a new flow)", "flows/s", "plain"),
    ("newflow_many", "New flows, NAT, the service among {many} others", "flows/s", "plain"),
    ("tcp_nat", "TCP connect+close cycles, NAT", "conn/s", "tcp_nat"),
    ("tcp_nat_pinned", "TCP connect+close cycles, NAT, processes pinned", "conn/s", "tcp_nat_pinned"),
]
CONTROL = [
    ("ctl_restore", "ipvsadm -R of the services and dests"),
    ("ctl_list", "ipvsadm -Ln of all of them"),
    ("ctl_churn", "dest weight changes (ipvsadm -R of -e lines)"),
    ("ctl_delete", "ipvsadm -D of every fourth service (-R of -D lines)"),
    ("ctl_flush", "ipvsadm -C of the rest"),
]


def load_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load_meta(path):
    meta = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            meta[key] = value
    return meta


def num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class Results:
    """Values per (workload, module, conns level), over rounds."""

    def __init__(self, rows):
        self.values = defaultdict(list)
        self.notes = defaultdict(list)
        for r in rows:
            key = (r["workload"], r["module"], self.level(r))
            v = num(r["value"])
            if v is None:
                self.notes[key].append(r["note"])
            else:
                self.values[key].append(v)

    @staticmethod
    def level(row):
        """Scale and memory rows group by the preload level, nominal (the count reached varies)."""
        if row["workload"] not in ("scale_dr", "memory"):
            return None
        conns = num(row["conns"]) or 0
        for nominal in sorted(SCALE_LEVELS_SEEN, reverse=True):
            if conns >= nominal * 0.5:
                return nominal
        return int(conns)

    def get(self, workload, module, level=None):
        return self.values.get((workload, module, level), [])

    def median(self, workload, module, level=None):
        v = self.get(workload, module, level)
        return statistics.median(v) if v else None


SCALE_LEVELS_SEEN = []


def fmt(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 100:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.3g}"
    return s


def cell(res, workload, module, level=None):
    v = res.get(workload, module, level)
    if not v:
        notes = res.notes.get((workload, module, level))
        return f"no result ({notes[0]})" if notes else "-"
    med = statistics.median(v)
    if len(v) == 1:
        return fmt(med)
    return f"{fmt(med)} [{fmt(min(v))}-{fmt(max(v))}]"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


# ------------------------------------------------------------------ plots
def check_png(path):
    """A plot must be a real, decodable, non-blank PNG of a sane size."""
    data = path.read_bytes()
    if len(data) < 2000:
        raise ValueError(f"{path}: only {len(data)} bytes")
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    if not (300 <= width <= 5000 and 200 <= height <= 5000):
        raise ValueError(f"{path}: odd size {width}x{height}")
    pixels = matplotlib.image.imread(str(path))
    if pixels.std() == 0:
        raise ValueError(f"{path}: blank image")
    return width, height


def errorbars(values_by_x):
    med, lo, hi = [], [], []
    for v in values_by_x:
        m = statistics.median(v)
        med.append(m)
        lo.append(m - min(v))
        hi.append(max(v) - m)
    return med, [lo, hi]


def plot_scale(res, levels, modules, out):
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for mod in modules:
        xs = [lv for lv in levels if res.get("scale_dr", mod, lv)]
        if not xs:
            continue
        med, err = errorbars([res.get("scale_dr", mod, lv) for lv in xs])
        ax.errorbar(xs, med, yerr=err, marker="o", capsize=4, label=MODULE_LABELS.get(mod, mod))
    ax.set_xscale("log")
    ax.set_xlabel("live connections (preloaded)")
    ax.set_ylabel("established-flow throughput, DR (pkt/s received)")
    ax.set_title("Throughput against live connections (median, min-max over rounds)")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def plot_bars(res, panels, out, title):
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), dpi=100)
    if len(panels) == 1:
        axes = [axes]
    for ax, (workload, label, unit, ceiling) in zip(axes, panels):
        source = {"stock": workload, "ipvs_rs": workload, "plain": ceiling}
        mods = [m for m in ("stock", "ipvs_rs", "plain") if source[m] and res.get(source[m], m)]
        if mods:
            med, err = errorbars([res.get(source[m], m) for m in mods])
            ax.bar(range(len(mods)), med, yerr=err, capsize=6, color=["#888888", "#d9534f", "#5b9bd5"][: len(mods)])
            ax.set_xticks(range(len(mods)))
            ax.set_xticklabels([MODULE_LABELS[m] for m in mods], fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.set_ylabel(unit)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


# ------------------------------------------------------------------ report
def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    raw, results = Path(argv[1]), Path(argv[2])
    quick = "--quick" in argv
    rows = load_rows(raw / "runs.csv")
    meta = load_meta(raw / "meta.txt")
    results.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(raw / "runs.csv", results / "runs.csv")

    guest_info = (raw / "guest-info.txt").read_text() if (raw / "guest-info.txt").exists() else ""
    # Nominal levels: the preload targets, from the settings the guest reported.
    nominal = [int(x) for x in guest_setting(guest_info, "scale").split()]
    SCALE_LEVELS_SEEN.extend(nominal)
    res = Results(rows)
    scale_modules = [m for m in ("stock", "stock20", "ipvs_rs", "ipvs_rs20") if any(res.get("scale_dr", m, lv) for lv in nominal)]
    problems = []

    md = []
    md.append("# ipvs-rs benchmark: ipvs_rs.ko against stock ip_vs, same boot\n")
    md.append(f"Generated by `{meta.get('command', '?')}` on {meta.get('date', '?')}. "
              "Do not edit: re-run the command.\n")
    md.append("| | |\n| --- | --- |")
    md.append(f"| command | `{meta.get('command', '?')}` |")
    md.append(f"| commit | {meta.get('commit', '?')} |")
    md.append(f"| guest kernel | {meta.get('flavor', '?')} flavour, `{meta.get('kernel_dir', '?')}`, "
              f".config sha256 `{meta.get('config_sha256', '?')}` |")
    md.append(f"| ipvs_rs.ko sha256 | `{meta.get('module_sha256', '?')}` |")
    md.append(f"| guest | {guest_setting(guest_info, 'nproc') or '?'} vCPUs (QEMU TCG), "
              f"{meta.get('vm_options', '?')} |")
    md.append(f"| host | {meta.get('host_cpus', '?')} cores, load average at start {meta.get('host_load_start', '?')}, "
              f"at end {meta.get('host_load_end', '?')} |")
    md.append(f"| run | {settings_line(guest_info)}; wall time {meta.get('wall_seconds', '?')} s, "
              f"guest status {meta.get('guest_status', '?')} |")
    md.append("")
    if "-icount" in meta.get("vm_options", ""):
        md.append("**Instruction-counted run** (QEMU `-icount shift=0,sleep=off`): the guest's clock "
                  "advances 1 ns per guest instruction, so a rate here is the inverse of the "
                  "instructions each packet, flow or command costs (all CPUs' work between the "
                  "measurement's start and end, pktgen's and the stack's included), and the host's "
                  "load does not change it: rounds agree within a fraction of a percent, where "
                  "wall-clock runs spread by 10-20 %. Time idle waiting for a timer costs nothing. "
                  "TCG runs one vCPU at a time in this mode, so two-CPU parallelism is not "
                  "measured; and cache misses cost nothing, so memory-bound work (long hash "
                  "chains at 1M connections) weighs less than on hardware or in wall time. The "
                  "control plane's seconds are guest seconds: instructions, in billions.\n")
        md.append("Stock and ipvs_rs alternate within each round (A B, then B A: the order is reversed every other round), in one boot; each cell is the "
                  "median over rounds with [min-max].\n")
    else:
        md.append("The guest runs under QEMU TCG (no KVM here), so absolute numbers mean little: the "
                  "**ratios** are the result. Stock and ipvs_rs alternate within each round (A B, then B A "
                  "every other round), "
                  "in one boot; each cell is the median over rounds with [min-max]. The host is shared "
                  "with other work (see its load average above), which skews absolute numbers; the "
                  "alternation keeps the ratios roughly fair.\n")

    md.append("## Datapath\n")
    md.append("pktgen (one in-kernel thread) in a client netns sends 64-byte UDP packets through the "
              "director netns to real-server netns (round robin over the real servers); pkt/s is "
              "what the real servers received, divided by pktgen's run time. Plain forwarding "
              "sends the same packets to the real servers' own addresses with no IPVS loaded "
              "(the ceiling; one measurement per round serves every UDP row, as forwarding keeps no "
              "per-flow state). TCP: `bench/tcp_cc.c` keeps 32 connect/close cycles in flight; 'processes "
              "pinned' runs the client on the first CPU and the real servers' accept loops on the last, "
              "where otherwise the scheduler's placement of them decides whether a run settles in a fast "
              "or a slow regime (nearly 2x apart; see `tcp_layout` in bench/guest.sh).\n")
    md.append("| workload | unit | stock ip_vs | ipvs_rs | plain forwarding | ipvs_rs/stock | ipvs_rs/plain |")
    md.append("| --- | --- | --- | --- | --- | --- | --- |")
    for workload, title, unit, ceiling in DATAPATH:
        title = title.format(many=guest_setting(guest_info, "many") or "?")
        for m in ("stock", "ipvs_rs"):
            if not res.get(workload, m):
                problems.append(f"{workload}: no result for {m}")
        if not res.get(ceiling, "plain"):
            problems.append(f"{ceiling}: no plain forwarding result")
        s, o, p = res.median(workload, "stock"), res.median(workload, "ipvs_rs"), res.median(ceiling, "plain")
        md.append(f"| {title} | {unit} | {cell(res, workload, 'stock')} | {cell(res, workload, 'ipvs_rs')} | "
                  f"{cell(res, ceiling, 'plain')} | **{fmt_ratio(ratio(o, s))}** | {fmt_ratio(ratio(o, p))} |")
    md.append("")
    md.append(loss_line(rows))
    if any(r["module"] == "baseline" for r in rows):
        md.append("Another build of ipvs_rs.ko (`BENCH_BASELINE_KO`, before a change) ran alongside:\n")
        md.append("| workload | baseline build | ipvs_rs | ipvs_rs/baseline |")
        md.append("| --- | --- | --- | --- |")
        for workload in [d[0] for d in DATAPATH] + [c[0] for c in CONTROL]:
            if res.get(workload, "baseline"):
                md.append(f"| {workload} | {cell(res, workload, 'baseline')} | {cell(res, workload, 'ipvs_rs')} | "
                          f"{fmt_ratio(ratio(res.median(workload, 'ipvs_rs'), res.median(workload, 'baseline')))} |")
        md.append("")

    md.append("## Scale: established-flow throughput against live connections (DR)\n")
    md.append("Connections are preloaded with pktgen (distinct UDP flows, timeout 3600 s), then "
              "the established-flow measurement is repeated. Stock runs with its default "
              "`conn_tab_bits=12` and with 20: its table has that many buckets from the start. "
              "ipvs_rs runs with its defaults: its table starts at 2^8 buckets and grows as the "
              "connections need, up to 2^20 when `conn_tab_bits` is not given (the size it reports "
              "is still stock's 4096); a given `conn_tab_bits` bounds it (the `ipvs_rs, 2^20 "
              "buckets` variant, if run, gives 20).\n")
    both20 = "ipvs_rs20" in scale_modules
    head = "| live connections | " + " | ".join(MODULE_LABELS[m] for m in scale_modules)
    head += " | ipvs_rs/stock | ipvs_rs/stock 2^20 |" + (" ipvs_rs 2^20/stock 2^20 |" if both20 else "")
    md.append(head)
    md.append("| --- " * (len(scale_modules) + 3 + both20) + "|")
    for lv in nominal:
        cells = [cell(res, "scale_dr", m, lv) for m in scale_modules]
        o = res.median("scale_dr", "ipvs_rs", lv)
        s20 = res.median("scale_dr", "stock20", lv)
        extra = f" {fmt_ratio(ratio(res.median('scale_dr', 'ipvs_rs20', lv), s20))} |" if both20 else ""
        md.append(f"| {lv:,} | " + " | ".join(cells) +
                  f" | **{fmt_ratio(ratio(o, res.median('scale_dr', 'stock', lv)))}** | "
                  f"{fmt_ratio(ratio(o, s20))} |" + extra)
        for m in ("stock", "ipvs_rs"):
            if not res.get("scale_dr", m, lv):
                problems.append(f"scale_dr: no result for {m} at {lv}")
    if nominal:
        lo, hi = nominal[0], nominal[-1]
        flat = ", ".join(f"{MODULE_LABELS[m]} {fmt_ratio(ratio(res.median('scale_dr', m, hi), res.median('scale_dr', m, lo)))}"
                         for m in scale_modules)
        md.append(f"\nThroughput at {hi:,} connections relative to {lo:,}: {flat}.\n")
    md.append("![throughput against live connections](scale.png)\n")

    md.append("## Memory per connection\n")
    md.append("Growth of the kernel's slab memory (`Slab:` in /proc/meminfo) over the preload, "
              "divided by the connections added.\n")
    md.append("| live connections | " + " | ".join(MODULE_LABELS[m] for m in scale_modules) + " | ipvs_rs/stock |")
    md.append("| --- " * (len(scale_modules) + 2) + "|")
    for lv in nominal:
        md.append(f"| {lv:,} | " + " | ".join(cell(res, "memory", m, lv) + " B" for m in scale_modules) +
                  f" | **{fmt_ratio(ratio(res.median('memory', 'ipvs_rs', lv), res.median('memory', 'stock', lv)))}** |")
    md.append("")

    md.append("## Control plane\n")
    n_svc = guest_setting(guest_info, "ctl") or "?"
    md.append(f"Wall time of stock `ipvsadm` 1.31 commands against {n_svc} services x dests "
              "(NAT, rr), in the guest's init netns. Lower is better: a ratio above 1 means "
              "ipvs_rs is slower.\n")
    md.append("| operation | stock ip_vs (s) | ipvs_rs (s) | ipvs_rs/stock |")
    md.append("| --- | --- | --- | --- |")
    for workload, title in CONTROL:
        s, o = res.median(workload, "stock"), res.median(workload, "ipvs_rs")
        md.append(f"| {title} | {cell(res, workload, 'stock')} | {cell(res, workload, 'ipvs_rs')} | "
                  f"**{fmt_ratio(ratio(o, s))}** |")
        if workload != "ctl_flush" and s is None:
            problems.append(f"{workload}: no result for stock")
        if workload != "ctl_flush" and o is None and not res.notes.get((workload, "ipvs_rs", None)):
            problems.append(f"{workload}: no result for ipvs_rs")
    md.append("")

    md.append("## Goals\n")
    md.extend(goals(res, nominal))
    md.append("")
    md.append("![established flows](established.png)\n")
    md.append("![new flows per module](newflows.png)\n")
    md.append("Raw rows: [runs.csv](runs.csv) (one per measurement and round).\n")

    # Plots.
    plots = {
        "scale.png": lambda p: plot_scale(res, nominal, scale_modules, p),
        "newflows.png": lambda p: plot_bars(res, [("newflow_nat", "UDP, every packet a new flow (NAT)", "new flows/s", None),
                                                  ("newflow_many", "the same, among many services", "new flows/s", None),
                                                  ("tcp_nat", "TCP connect+close (NAT)", "connections/s", "tcp_nat"),
                                                  ("tcp_nat_pinned", "the same, processes pinned", "connections/s",
                                                   "tcp_nat_pinned")],
                                            p, "New-flow rate per module (median, min-max)"),
        "established.png": lambda p: plot_bars(res, [("est_dr", "DR", "pkt/s", "plain"),
                                                     ("est_nat", "NAT", "pkt/s", "plain")], p,
                                               "Established flows, 64 B UDP (median, min-max)"),
    }
    for name, draw in plots.items():
        path = results / name
        try:
            draw(path)
            w, h = check_png(path)
            print(f"report: {path} ({w}x{h}, {path.stat().st_size} bytes)")
        except Exception as e:  # a plot that does not render fails the run
            problems.append(f"plot {name}: {e}")

    if problems:
        md.append("## Missing results\n")
        md.extend(f"- {p}" for p in problems)
        md.append("")
    (results / "latest.md").write_text("\n".join(md) + "\n")
    print(f"report: {results / 'latest.md'}")
    for p in problems:
        print(f"report: MISSING: {p}", file=sys.stderr)
    return 1 if problems else 0


def guest_setting(info, key):
    """A value from guest-info.txt: 'nproc 2' lines or key=value parts of the settings line."""
    for line in info.splitlines():
        if line.startswith(key + " "):
            return line.split(" ", 1)[1]
        if line.startswith("settings "):
            rest = line[len("settings "):]
            marker = key + "="
            at = rest.find(marker)
            if at >= 0:
                value = rest[at + len(marker):]
                if value.startswith("'"):
                    return value[1:value.index("'", 1)]
                return value.split()[0]
    return ""


def settings_line(info):
    s = guest_setting
    return (f"{s(info, 'rounds')} rounds, {s(info, 'seconds')} s per measurement, {s(info, 'rs')} real servers, "
            f"{s(info, 'flows')} established flows, preload levels {s(info, 'scale')}")


def loss_line(rows):
    """Median share of sent packets that did not reach a real server, per module."""
    lost = defaultdict(list)
    for r in rows:
        sent, recv = num(r["sent"]), num(r["received"])
        if r["metric"] == "pps" and sent:
            lost[r["module"]].append(100 * (sent - recv) / sent)
    if not lost:
        return ""
    parts = ", ".join(f"{MODULE_LABELS.get(m, m)} {statistics.median(v):.2f}%" for m, v in sorted(lost.items()))
    return ("Packets sent by pktgen but not counted by a real server (director drops, median over "
            f"all UDP runs): {parts}.\n")


def goals(res, nominal):
    out = []

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    dr = ratio(res.median("est_dr", "ipvs_rs"), res.median("est_dr", "stock"))
    nat = ratio(res.median("est_nat", "ipvs_rs"), res.median("est_nat", "stock"))
    if dr is not None and nat is not None:
        out.append(f"- Established flows >= 1.2x stock pps: DR {dr:.2f}x, NAT {nat:.2f}x: {verdict(min(dr, nat) >= 1.2)}.")
    nf = ratio(res.median("newflow_nat", "ipvs_rs"), res.median("newflow_nat", "stock"))
    many = ratio(res.median("newflow_many", "ipvs_rs"), res.median("newflow_many", "stock"))
    tcp = ratio(res.median("tcp_nat", "ipvs_rs"), res.median("tcp_nat", "stock"))
    tcp_pinned = ratio(res.median("tcp_nat_pinned", "ipvs_rs"), res.median("tcp_nat_pinned", "stock"))
    if nf is not None and tcp is not None:
        worst = min(x for x in (nf, tcp, many, tcp_pinned) if x is not None)
        among = f", UDP among many services {many:.2f}x" if many is not None else ""
        pinned = f" ({tcp_pinned:.2f}x with its processes pinned)" if tcp_pinned is not None else ""
        out.append(f"- New flows >= 1.5x stock: UDP {nf:.2f}x{among}, TCP connect/close {tcp:.2f}x{pinned}: "
                   f"{verdict(worst >= 1.5)}.")
    if len(nominal) >= 2:
        lo, hi = nominal[0], nominal[-1]
        o = ratio(res.median("scale_dr", "ipvs_rs", hi), res.median("scale_dr", "ipvs_rs", lo))
        s = ratio(res.median("scale_dr", "stock", hi), res.median("scale_dr", "stock", lo))
        if o is not None and s is not None:
            out.append(f"- Flat pps from {lo:,} to {hi:,} connections (within 10%) at default settings, where "
                       f"stock at 2^12 buckets degrades: ipvs_rs keeps {o:.2f}x of its throughput, stock {s:.2f}x: "
                       f"{verdict(o >= 0.9)}.")
        o20 = ratio(res.median("scale_dr", "ipvs_rs20", hi), res.median("scale_dr", "ipvs_rs20", lo))
        if o20 is not None:
            out.append(f"  With `conn_tab_bits=20` (the table grows to at most 2^20 buckets, as it needs) "
                       f"ipvs_rs keeps {o20:.2f}x: {verdict(o20 >= 0.9)}.")
        mo, ms = res.median("memory", "ipvs_rs", hi), res.median("memory", "stock", hi)
        if mo is not None and ms is not None:
            out.append(f"- Memory per connection at or below stock's: ipvs_rs {mo:.0f} B, stock {ms:.0f} B "
                       f"at {hi:,} connections: {verdict(mo <= ms)}.")
    ctl = [(w, ratio(res.median(w, "ipvs_rs"), res.median(w, "stock"))) for w, _ in CONTROL]
    ctl = [(w, r) for w, r in ctl if r is not None]
    if ctl:
        worst = max(ctl, key=lambda c: c[1])
        restore = dict(ctl).get("ctl_restore")
        line = f"- Control plane at or below stock's time: the slowest row is {worst[0]}, {worst[1]:.2f}x: {verdict(worst[1] <= 1.0)}."
        if restore is not None:
            line += f" `ipvsadm -R` <= 0.5x: {restore:.2f}x: {verdict(restore <= 0.5)}."
        out.append(line)
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv))
