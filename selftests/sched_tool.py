#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic and bookkeeping for the scheduler selftests (stdlib only, bounded in time).

  sched_tool.py flows SEED N          N distinct "client_ip client_port" lines from a fixed
                                      seed (10.1-254.x.y sources, about a quarter of them
                                      reusing an earlier address with another port)
  sched_tool.py golden OUTDIR CLIENT_NETNS N
                                      golden vectors, N flows a scenario (golden_capture.sh)
  sched_tool.py conns PROTO           "client vip dest" (ip:port each) per line of
                                      /proc/net/ip_vs_conn of this netns
  sched_tool.py serve NAME READY PORT...
                                      TCP and UDP servers: each UDP datagram and each line on
                                      a TCP connection is answered with "NAME:PORT"; creates
                                      the file READY once they listen
  sched_tool.py servens PORTS NETNS:NAME:READY...
                                      the same for several real servers in one process, each
                                      from sockets in its own netns; PORTS comma-separated
  sched_tool.py run SCRIPT            runs a scenario script (see "scenario scripts" below)
"""
import contextlib
import ctypes
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genl_client as gc  # noqa: E402


class Rng:
    """xorshift32: the same sequence on every Python version."""

    def __init__(self, seed):
        self.state = (seed * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF or 1
        for _ in range(32):  # small seeds start with low-entropy states
            self.next()

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def below(self, n):
        return self.next() % n


def flow_list(seed, count, with_daddr=False):
    """COUNT distinct (saddr, sport[, daddr]) from SEED: 10.1-254.x.y sources, about a quarter
    of them reusing an earlier address with another port; daddr in 172.20.0.0/16."""
    rng = Rng(seed)
    seen, addrs, out = set(), [], []
    while len(out) < count:
        if addrs and rng.below(4) == 0:
            addr = addrs[rng.below(len(addrs))]
        else:
            addr = f"10.{1 + rng.below(254)}.{rng.below(256)}.{1 + rng.below(254)}"
            addrs.append(addr)
        port = 1024 + rng.below(64512)
        if (addr, port) in seen:
            continue
        seen.add((addr, port))
        if with_daddr:
            out.append((addr, port, f"172.20.{rng.below(256)}.{1 + rng.below(254)}"))
        else:
            out.append((addr, port))
    return out


def flows(seed, count):
    for flow in flow_list(seed, count):
        print(" ".join(str(f) for f in flow))


CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


@contextlib.contextmanager
def in_netns(name):
    """Runs the block (sockets it creates, commands it starts) in netns NAME."""
    with open("/proc/self/ns/net") as own, open(f"/run/netns/{name}") as other:
        setns(other.fileno())
        try:
            yield
        finally:
            setns(own.fileno())


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def udp_packet(saddr, sport, daddr, dport, payload):
    src, dst = socket.inet_aton(saddr), socket.inet_aton(daddr)
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    # The kernel fills in the total length, the id and the header checksum (IP_HDRINCL).
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0x4000, 64, socket.IPPROTO_UDP, 0, src, dst)
    return ip + udp


def hexaddr(h, p):
    return f"{socket.inet_ntoa(struct.pack('!I', int(h, 16)))}:{int(p, 16)}"


def conn_table(proto):
    """{(client, vip): dest} of /proc/net/ip_vs_conn (ip:port strings)."""
    table = {}
    with open("/proc/net/ip_vs_conn") as f:
        next(f)
        for line in f:
            c = line.split()
            if c[0] == proto:
                table[(hexaddr(c[1], c[2]), hexaddr(c[3], c[4]))] = hexaddr(c[5], c[6])
    return table


def conns(proto):
    for (client, vip), dest in conn_table(proto).items():
        print(client, vip, dest)


def nft_counter():
    p = subprocess.run(["nft", "list", "chain", "ip", "golden", "input"], check=True,
                       stdout=subprocess.PIPE)
    m = re.search(rb"counter packets (\d+)", p.stdout)
    return int(m.group(1)) if m else -1


def golden(outdir, client_netns, count):
    """Runs in the director netns; reads "FILE SEED SCHED FLAGS DESTS [fwmark]" lines on stdin
    (see golden_capture.sh) and appends each scenario to OUTDIR/FILE."""
    vip, vport = "10.0.0.100", 80
    with in_netns(client_netns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    specs = [ln.split() for ln in sys.stdin if ln.strip() and not ln.startswith("#")]
    flowsets = [flow_list(int(sp[1]), count, len(sp) > 5) for sp in specs]
    # The connections of earlier scenarios stay in the table: no flow may occur twice.
    every = [f[:2] for fs in flowsets for f in fs]
    if len(set(every)) != len(every):
        raise SystemExit("flows repeat across scenarios: choose other seeds")
    sent = 0
    for (fname, _seed, sched, flags, dests, *fw), fset in zip(specs, flowsets):
        svc = ["-f", "1"] if fw else ["-u", f"{vip}:{vport}"]
        rules = ["-C", " ".join(["-A", *svc, "-s", sched] + ([] if flags == "-" else ["-b", flags]))]
        for d in dests.split(","):
            ip, port, weight = d.split(":")
            rules.append(" ".join(["-a", *svc, "-r", f"{ip}:{port}", "-m", "-w", weight]))
        subprocess.run(["ipvsadm", "-R"], input="\n".join(rules + [""]).encode(), check=True)
        for i, flow in enumerate(fset):
            dst = flow[2] if fw else vip
            raw.sendto(udp_packet(flow[0], flow[1], dst, vport, b"golden"), (dst, 0))
            # Paced so that no queue on the way can overflow.
            if i % 16 == 15:
                time.sleep(0.02)
        sent += len(fset)
        for _ in range(60):
            got = nft_counter()
            if got == sent:
                break
            time.sleep(0.5)
        if got != sent:
            raise SystemExit(f"{sched} {flags} {dests}: the director received {got} of {sent}")
        table = conn_table("UDP")
        made = 0
        with open(os.path.join(outdir, fname), "a") as out:
            out.write(f"sched={sched} flags={flags} dests={dests}\n")
            for flow in fset:
                client = f"{flow[0]}:{flow[1]}"
                vaddr = f"{flow[2] if fw else vip}:{vport}"
                dest = table.get((client, vaddr), "-")
                made += dest != "-"
                out.write(f"{client} {vaddr} {dest}\n" if fw else f"{client} {dest}\n")
        print(f"{fname}: {sched} flags={flags} dests={dests}: {made} connections, "
              f"{len(fset) - made} unscheduled", flush=True)


def serve(name, ready, ports, netns=None):
    """Binds NAME's sockets (made in NETNS if given), starts their threads, creates READY and
    returns."""
    def tcp_conn(c, port):
        c.settimeout(120)
        buf = b""
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                buf += d
                while b"\n" in buf:
                    _, buf = buf.split(b"\n", 1)
                    c.sendall(f"{name}:{port}\n".encode())
        except OSError:
            pass
        finally:
            c.close()

    def tcp_loop(s, port):
        while True:
            c, _ = s.accept()
            threading.Thread(target=tcp_conn, args=(c, port), daemon=True).start()

    def udp_loop(s, port):
        while True:
            _, peer = s.recvfrom(65536)
            s.sendto(f"{name}:{port}\n".encode(), peer)

    sockets = []
    with in_netns(netns) if netns else contextlib.nullcontext():
        for port in ports:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("0.0.0.0", port))
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(("0.0.0.0", port))
            t.listen(128)
            sockets.append((port, u, t))
    for port, u, t in sockets:
        threading.Thread(target=udp_loop, args=(u, port), daemon=True).start()
        threading.Thread(target=tcp_loop, args=(t, port), daemon=True).start()
    with open(ready, "w") as f:
        f.write("listening\n")


# ------------------------------------------------------------------ control over genl
# Under TCG an exec of ipvsadm costs about a second; the scenario steps talk generic netlink
# from this process instead (the listings carry the same kernel answers as `ipvsadm -Ln`).
SVC_FLAG_BITS = {"sh-fallback": 0x8, "mh-fallback": 0x8, "sh-port": 0x10, "mh-port": 0x10}
FWD_METHODS = {"-m": 0, "-i": 2, "-g": 3}
FWD_NAMES = {0: "Masq", 1: "Local", 2: "Tunnel", 3: "Route"}
OPS = {"-A": gc.NEW_SERVICE, "-D": gc.DEL_SERVICE, "-a": gc.NEW_DEST, "-e": gc.SET_DEST,
       "-d": gc.DEL_DEST, "-L": None}


def addr16(t, a):
    return gc.nla(t, socket.inet_aton(a) + b"\0" * 12)


class Ctl:
    """ipvsadm-like commands (-A -D -a -e -d -L with -t -u -f -s -b -r -m -g -i -w -x -y)."""

    def __init__(self, netns):
        with in_netns(netns):
            self.g = gc.Genl()
        self.g.resolve("IPVS")

    def request(self, cmd, attrs, dump=False):
        """(errno, [attribute lists of the replies])."""
        g = self.g
        seq = g.next_seq()
        flags = gc.NLM_F_REQUEST | gc.NLM_F_ACK | (gc.NLM_F_DUMP if dump else 0)
        g.send_raw(g.msg(g.family, flags, gc.genlhdr(cmd) + attrs, seq))
        replies = []
        while True:
            msgs = g.recv_msgs(timeout=10)
            if msgs is None:
                raise SystemExit("ctl: no answer from the IPVS genl family")
            for ty, _fl, sq, pl in msgs:
                if sq != seq:
                    continue
                if ty == gc.NLMSG_ERROR:
                    return -struct.unpack_from("=i", pl, 0)[0], replies
                if ty == gc.NLMSG_DONE:
                    return 0, replies
                replies.append(gc.parse_attrs(pl[4:]))

    @staticmethod
    def parse(args):
        o = {"flags": 0}
        it = iter(args)
        for a in it:
            if a in OPS:
                o["op"] = a
            elif a in ("-t", "-u"):
                o["proto"] = socket.IPPROTO_TCP if a == "-t" else socket.IPPROTO_UDP
                o["vaddr"], port = next(it).rsplit(":", 1)
                o["vport"] = int(port)
            elif a == "-f":
                o["fwmark"] = int(next(it))
            elif a == "-s":
                o["sched"] = next(it)
            elif a == "-b":
                for f in next(it).split(","):
                    o["flags"] |= SVC_FLAG_BITS[f]
            elif a == "-r":
                o["raddr"], port = next(it).rsplit(":", 1)
                o["rport"] = int(port)
            elif a in FWD_METHODS:
                o["fwd"] = FWD_METHODS[a]
            elif a in ("-w", "-x", "-y"):
                o[a] = int(next(it))
            else:
                raise SystemExit(f"ctl: unknown option {a}")
        return o

    @staticmethod
    def svc_id(o):
        attrs = gc.u16(gc.SVC_AF, gc.AF_INET)
        if "fwmark" in o:
            return attrs + gc.u32(gc.SVC_FWMARK, o["fwmark"])
        return (attrs + gc.u16(gc.SVC_PROTOCOL, o["proto"]) + addr16(gc.SVC_ADDR, o["vaddr"])
                + gc.be16(gc.SVC_PORT, o["vport"]))

    def run(self, args):
        """Runs one command; returns the lines to print."""
        o = self.parse(args)
        op = o["op"]
        svc = self.svc_id(o)
        if op == "-L":
            return self.listing(svc)
        if op == "-A":
            svc += (gc.strz(gc.SVC_SCHED_NAME, o.get("sched", "wlc"))
                    + gc.nla(gc.SVC_FLAGS, struct.pack("=II", o["flags"], 0xFFFFFFFF))
                    + gc.u32(gc.SVC_TIMEOUT, 0) + gc.be32(gc.SVC_NETMASK, 0xFFFFFFFF))
        attrs = gc.svc(svc)
        if op in ("-a", "-e", "-d"):
            dest = addr16(gc.DEST_ADDR, o["raddr"]) + gc.be16(gc.DEST_PORT, o["rport"])
            if op != "-d":
                dest += (gc.u16(gc.DEST_ADDR_FAMILY, gc.AF_INET)
                         + gc.u32(gc.DEST_FWD_METHOD, o.get("fwd", 3))
                         + gc.u32(gc.DEST_WEIGHT, o.get("-w", 1))
                         + gc.u32(gc.DEST_U_THRESH, o.get("-x", 0))
                         + gc.u32(gc.DEST_L_THRESH, o.get("-y", 0)))
            attrs += gc.dest(dest)
        err, _ = self.request(OPS[op], attrs)
        return [f"= {gc.errname(-err) if err else 'ok'}"]

    def listing(self, svc):
        err, replies = self.request(gc.GET_SERVICE, gc.svc(svc))
        if err or not replies:
            return [f"= {gc.errname(-err)}"]
        head = dict(nested(replies[0], gc.CMD_ATTR_SERVICE))
        flags = struct.unpack_from("=I", head.get(gc.SVC_FLAGS, b"\0" * 4))[0]
        lines = [f"service {head.get(gc.SVC_SCHED_NAME, b'').rstrip(bytes(1)).decode()} "
                 f"flags=0x{flags:x}"]
        err, replies = self.request(gc.GET_DEST, gc.svc(svc), dump=True)
        for r in replies:
            d = dict(nested(r, gc.CMD_ATTR_DEST))

            def num(t):
                return struct.unpack_from("=I", d.get(t, b"\0" * 4))[0]

            addr = socket.inet_ntoa(d.get(gc.DEST_ADDR, bytes(16))[:4])
            port = struct.unpack("!H", d.get(gc.DEST_PORT, bytes(2)))[0]
            lines.append(f"  -> {addr}:{port} {FWD_NAMES.get(num(gc.DEST_FWD_METHOD) & 7, '?')} "
                         f"weight={num(gc.DEST_WEIGHT)} x={num(gc.DEST_U_THRESH)} "
                         f"y={num(gc.DEST_L_THRESH)} active={num(gc.DEST_ACTIVE_CONNS)} "
                         f"inact={num(gc.DEST_INACT_CONNS)}")
        if err:
            lines.append(f"= {gc.errname(-err)}")
        return lines


def nested(attrs, kind):
    for t, v in attrs:
        if t & gc.NLA_TYPE_MASK == kind:
            return [(ct & gc.NLA_TYPE_MASK, cv) for ct, cv in gc.parse_attrs(v)]
    return []


# ------------------------------------------------------------------ scenario scripts
# A script is a list of commands, one a line ("#" starts a comment), run in order:
#   sources ADDR...            client addresses the next flows cycle through
#   targets ADDR...            destination addresses the flows to VIP "@" cycle through
#   port N                     the next flow's source port (then +1 per flow)
#   udp VIP VPORT N            N UDP flows (one datagram and its answer each)
#   tally VIP VPORT N          N UDP flows; prints only "tally SERVER COUNT" per server
#   tcp VIP VPORT N            N TCP connections, each answered once and closed
#   hold TAG VIP VPORT N       N TCP connections answered once and kept open as TAG1..TAGN
#   close TAG...               close the held connections TAG (after the server's EOF)
#   closeall                   close every held connection
#   ctl ARGS...                an ipvsadm-like command over generic netlink (see Ctl); prints
#                              "= ok" or "= ERRNO", -L prints the service and its dests
#   ipvsadm ARGS...            ipvsadm in the director netns; its output and status are printed
#   echo TEXT                  prints TEXT
# Each flow prints "proto client_ip:client_port -> SERVER", or for VIP "@"
# "proto client_ip:client_port @ADDR -> SERVER" (SERVER is "none" when the flow
# was refused or not answered within WAIT seconds). The director netns is $LVS_NETNS.
WAIT = 5.0


class Runner:
    def __init__(self, out):
        self.out = out
        self.sources = ["10.0.0.2"]
        self.next_source = 0
        self.targets = []
        self.next_target = 0
        self.sport = 20000
        self.held = {}
        self.ctl = None
        # Time spent per kind of outcome, for the caller's diagnostics (not the output).
        self.stats = {}

    def say(self, text):
        self.out.write(text + "\n")
        self.out.flush()

    def target(self, vip):
        """VIP, or for "@" the next of the targets; and how a flow line names it."""
        if vip != "@":
            return vip, ""
        addr = self.targets[self.next_target % len(self.targets)]
        self.next_target += 1
        return addr, f" @{addr}"

    def source(self):
        addr = self.sources[self.next_source % len(self.sources)]
        self.next_source += 1
        port = self.sport
        self.sport += 1
        return addr, port

    @staticmethod
    def answer(data):
        text = data.decode(errors="replace").strip()
        return text.splitlines()[0] if text else "none"

    def count(self, kind, start):
        n, t = self.stats.get(kind, (0, 0.0))
        self.stats[kind] = (n + 1, t + time.monotonic() - start)

    def udp_flow(self, vip, vport, quiet=False):
        start = time.monotonic()
        vip, shown = self.target(vip)
        addr, port = self.source()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(WAIT)
        try:
            s.bind((addr, port))
            s.connect((vip, vport))
            s.send(b"flow\n")
            ans = self.answer(s.recv(100))
            self.count("udp answered", start)
        except OSError as e:
            ans = "none"
            self.count(f"udp {type(e).__name__}", start)
        finally:
            s.close()
        if not quiet:
            self.say(f"udp {addr}:{port}{shown} -> {ans}")
        return ans

    def tcp_open(self, vip, vport):
        start = time.monotonic()
        vip, shown = self.target(vip)
        addr, port = self.source()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(WAIT)
        try:
            s.bind((addr, port))
            s.connect((vip, vport))
            # The answer proves the director saw the handshake's last ACK (same path, in
            # order), so the connection is ESTABLISHED there before the next command.
            s.sendall(b"hello\n")
            buf = b""
            while b"\n" not in buf:
                d = s.recv(100)
                if not d:
                    break
                buf += d
            ans = self.answer(buf)
            self.count("tcp answered", start)
        except OSError as e:
            ans = "none"
            self.count(f"tcp {type(e).__name__}", start)
        if ans == "none":
            s.close()
            s = None
        self.say(f"tcp {addr}:{port}{shown} -> {ans}")
        return s

    @staticmethod
    def tcp_finish(s):
        # Our FIN first, then wait for the server's: the director has seen both when recv
        # returns EOF, so its connection state no longer changes but by timers.
        try:
            s.shutdown(socket.SHUT_WR)
            while s.recv(100):
                pass
        except OSError:
            pass
        s.close()

    def command(self, words):
        start = time.monotonic()
        self.do_command(words[0], words[1:])
        if words[0] in ("ctl", "ipvsadm", "close", "closeall"):
            self.count(" ".join(words[:2]), start)

    def do_command(self, cmd, args):
        if cmd == "sources":
            self.sources, self.next_source = args, 0
        elif cmd == "targets":
            self.targets, self.next_target = args, 0
        elif cmd == "port":
            self.sport = int(args[0])
        elif cmd == "udp":
            for _ in range(int(args[2])):
                self.udp_flow(args[0], int(args[1]))
        elif cmd == "tally":
            counts = {}
            for _ in range(int(args[2])):
                ans = self.udp_flow(args[0], int(args[1]), quiet=True)
                counts[ans] = counts.get(ans, 0) + 1
            for server in sorted(counts):
                self.say(f"tally {server} {counts[server]}")
        elif cmd == "tcp":
            for _ in range(int(args[2])):
                s = self.tcp_open(args[0], int(args[1]))
                if s:
                    self.tcp_finish(s)
        elif cmd == "hold":
            for i in range(int(args[3])):
                s = self.tcp_open(args[1], int(args[2]))
                if s:
                    self.held[f"{args[0]}{i + 1}"] = s
        elif cmd == "close":
            for tag in args:
                s = self.held.pop(tag, None)
                if s:
                    self.tcp_finish(s)
                self.say(f"closed {tag}" if s else f"closed {tag} (not open)")
        elif cmd == "closeall":
            for tag in sorted(self.held):
                self.tcp_finish(self.held[tag])
            self.held.clear()
        elif cmd == "ctl":
            if self.ctl is None:
                self.ctl = Ctl(os.environ["LVS_NETNS"])
            self.say("ctl " + " ".join(args))
            for line in self.ctl.run(args):
                self.say(line)
        elif cmd == "ipvsadm":
            self.say("$ ipvsadm " + " ".join(args))
            with in_netns(os.environ["LVS_NETNS"]):
                p = subprocess.run(["ipvsadm", *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=60, check=False)
            self.out.write(p.stdout.decode(errors="replace"))
            self.say(f"exit={p.returncode}")
        elif cmd == "echo":
            self.say(" ".join(args))
        else:
            raise SystemExit(f"unknown script command {cmd}")


def run_script(path):
    r = Runner(sys.stdout)
    with open(path) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if words:
                r.command(words)
    for s in r.held.values():
        s.close()
    stats = os.environ.get("SCHED_TOOL_STATS")
    if stats:
        with open(stats, "a") as f:
            for kind, (n, t) in sorted(r.stats.items()):
                f.write(f"{kind}: {n} flows, {t:.1f} s\n")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "flows":
        flows(int(args[0]), int(args[1]))
    elif cmd == "golden":
        golden(args[0], args[1], int(args[2]))
    elif cmd == "conns":
        conns(args[0])
    elif cmd == "serve":
        serve(args[0], args[1], [int(p) for p in args[2:]])
        threading.Event().wait()
    elif cmd == "servens":
        for spec in args[1:]:
            netns, name, ready = spec.split(":", 2)
            serve(name, ready, [int(p) for p in args[0].split(",")], netns)
        threading.Event().wait()
    elif cmd == "run":
        run_script(args[0])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
