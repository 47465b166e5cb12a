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
  sched_tool.py serve NAME PORT...    TCP and UDP servers: each UDP datagram and each line on
                                      a TCP connection is answered with "NAME:PORT"
  sched_tool.py run SCRIPT            runs a scenario script (see run_script) from the client
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


def serve(name, ports):
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

    def tcp_loop(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(128)
        while True:
            c, _ = s.accept()
            threading.Thread(target=tcp_conn, args=(c, port), daemon=True).start()

    def udp_loop(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        while True:
            _, peer = s.recvfrom(65536)
            s.sendto(f"{name}:{port}\n".encode(), peer)

    for port in ports:
        threading.Thread(target=udp_loop, args=(port,), daemon=True).start()
        threading.Thread(target=tcp_loop, args=(port,), daemon=True).start()
    threading.Event().wait()


# ------------------------------------------------------------------ scenario scripts
# A script is a list of commands, one a line ("#" starts a comment), run in order:
#   sources ADDR...            client addresses the next flows cycle through
#   port N                     the next flow's source port (then +1 per flow)
#   udp VIP VPORT N            N UDP flows (one datagram and its answer each)
#   tcp VIP VPORT N            N TCP connections, each answered once and closed
#   hold TAG VIP VPORT N       N TCP connections answered once and kept open as TAG1..TAGN
#   close TAG...               close the held connections TAG (after the server's EOF)
#   closeall                   close every held connection
#   ipvsadm ARGS...            ipvsadm in the director netns; its output and status are printed
#   echo TEXT                  prints TEXT
# Each flow prints "proto client_ip:client_port -> SERVER" (SERVER is "none" when the flow
# was refused or not answered within WAIT seconds). The director netns is $LVS_NETNS.
WAIT = 3.0


class Runner:
    def __init__(self, out):
        self.out = out
        self.sources = ["10.0.0.2"]
        self.next_source = 0
        self.sport = 20000
        self.held = {}

    def say(self, text):
        self.out.write(text + "\n")
        self.out.flush()

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

    def udp_flow(self, vip, vport):
        addr, port = self.source()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(WAIT)
        try:
            s.bind((addr, port))
            s.connect((vip, vport))
            s.send(b"flow\n")
            ans = self.answer(s.recv(100))
        except OSError:
            ans = "none"
        finally:
            s.close()
        self.say(f"udp {addr}:{port} -> {ans}")

    def tcp_open(self, vip, vport):
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
        except OSError:
            ans = "none"
        if ans == "none":
            s.close()
            s = None
        self.say(f"tcp {addr}:{port} -> {ans}")
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
        cmd, args = words[0], words[1:]
        if cmd == "sources":
            self.sources, self.next_source = args, 0
        elif cmd == "port":
            self.sport = int(args[0])
        elif cmd == "udp":
            for _ in range(int(args[2])):
                self.udp_flow(args[0], int(args[1]))
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
        elif cmd == "ipvsadm":
            netns = os.environ["LVS_NETNS"]
            self.say("$ ipvsadm " + " ".join(args))
            p = subprocess.run(["ip", "netns", "exec", netns, "ipvsadm", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                               check=False)
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


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "flows":
        flows(int(args[0]), int(args[1]))
    elif cmd == "golden":
        golden(args[0], args[1], int(args[2]))
    elif cmd == "conns":
        conns(args[0])
    elif cmd == "serve":
        serve(args[0], [int(p) for p in args[1:]])
    elif cmd == "run":
        run_script(args[0])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
