#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic for the datapath selftests (stdlib only, bounded in time).

  dp_tool.py serve NAME LOG PORT...  TCP and UDP servers on each PORT: answer each connection
                                     or datagram with NAME, append "proto bytes peer" lines to
                                     LOG (peer: the client address the server saw)
  dp_tool.py servens [-6] PORTS NETNS:NAME:LOG...
                                     the same for several real servers, each in its own netns
                                     (named as in /run/netns), in one process; PORTS comma-
                                     separated (a Python start costs seconds under TCG); with
                                     -6 on IPv6 sockets (::) instead of IPv4 ones (0.0.0.0)
  dp_tool.py tcp ADDR PORT N SIZE    N sequential TCP connections, each sends SIZE bytes and
                                     prints the answer (the real server's name); SIGTERM
                                     ends it after the connection under way
  dp_tool.py udp ADDR PORT N SIZE [SPORT]
                                     N datagrams, each from a new socket (a new connection),
                                     or all from source port SPORT; prints each answer
  dp_tool.py from PROTO ADDR PORTS N SRC...
                                     for each SRC address in turn, N connections (TCP) or
                                     datagrams from a new socket (UDP) to each of the comma-
                                     separated PORTS; prints "SRC PORT ANSWER" per connection
  dp_tool.py flood ADDR PORT SECONDS [PERSOCKET [RATE [count]]]
                                     UDP datagrams for SECONDS, at most RATE a second (0, the
                                     default: as fast as it can), from a new socket (a new
                                     connection) every PERSOCKET datagrams; send errors are
                                     ignored (the load balancer may be going away); "count":
                                     SIGTERM ends it too, and it prints "flows N" (sockets)
  dp_tool.py ctcount PROTO DADDR [SPORT]
                                     number of conntrack entries (ctnetlink dump; needs
                                     nf_conntrack_netlink) whose original direction is PROTO
                                     (tcp or udp) to DADDR (from source port SPORT)
  dp_tool.py tunfrag DIP RIP CIP VIP CPORT VPORT MTU [gue PORT|gre [csum]]
                                     an ICMP fragmentation needed to DIP about an IPIP packet
                                     (or GUE to PORT, or GRE) DIP -> RIP carrying UDP
                                     CIP:CPORT -> VIP:VPORT (DF)
  dp_tool.py sticky ADDR PORT FLOWS INTERVAL ALIVE STOP SECONDS
                                     FLOWS UDP flows, each from a socket of its own (a fixed
                                     source port), that in turn send a datagram and wait up to
                                     1 s for its answer, every INTERVAL s, until the file STOP
                                     exists (at most SECONDS): "flow I sent N answered M
                                     switches S early E by NAME[,NAME]" per flow, S the times
                                     the answering server changed, E those of them less than
                                     ALIVE s after the flow's last answer (its connection was
                                     alive then: a lookup missed it)
  dp_tool.py udpconn ADDR PORT SPORT WAIT
                                     one datagram from a socket on SPORT connected to
                                     ADDR:PORT: the answer, or ERROR:<the socket's error>
  dp_tool.py udprecv PORT WAIT READY waits for one datagram on PORT (creates READY once bound):
                                     "got ADDR:PORT" of its sender, or "nothing"
  dp_tool.py timeexceeded RIP CIP CPORT RPORT
                                     an ICMP time exceeded (ICMPv6 for IPv6 addresses) to CIP,
                                     as a router between director and real server sends it
                                     about a NAT request CIP:CPORT -> RIP:RPORT (UDP)
  dp_tool.py bulk ADDR PORT UP DOWN WAIT
                                     one TCP connection that sends UP bytes and receives DOWN
                                     (see "G" below), each socket call bounded by WAIT s:
                                     "bulk sent UP got N from NAME", or ERROR:<exception>
  dp_tool.py icmplog 4|6 STOP WAIT READY
                                     the ICMP (ICMPv6) errors that reach this netns until the
                                     file STOP exists (at most WAIT s; creates READY once
                                     listening), each kind once, sorted: "TYPE/CODE from SRC
                                     info INFO about SRC > DST" (INFO: a next-hop MTU, or 0)
  dp_tool.py icmpwatch 4|6 WAIT READY
                                     waits up to WAIT s for one ICMP (ICMPv6) time exceeded
                                     (creates READY once listening): "time exceeded from SRC
                                     quoting A:P > B:Q" (the quoted UDP datagram), or "nothing"
  dp_tool.py ipip TO SRC DST SPORT DPORT
                                     an IPIP packet to TO carrying UDP SRC:SPORT -> DST:DPORT
  dp_tool.py agent FIFO OUT          runs traffic commands read from FIFO, results appended
                                     to OUT (see agent()): one Python start for a whole test

A TCP connection whose first line starts with "K" is kept open by the server: each line gets
the server's name as answer, until the client closes. One whose first line is "G<N>" is read
to its end, then answered with N bytes that end in the server's name and a newline (a bulk
transfer each way). Any other connection gets one answer after its first line and is closed
by the server (the old protocol).

Client commands take IPv4 or IPv6 addresses (tcp, udp, udpnew, from, open): the socket's family
is the destination's.
"""
import os
import select
import signal
import struct
import time
import socket
import sys
import threading


def family(addr):
    """The socket family of address ADDR (IPv6 if it has a colon)."""
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def any_addr(addr):
    """The wildcard address of ADDR's family."""
    return "::" if ":" in addr else "0.0.0.0"


def serve(name, log, ports, netns=None, fam=socket.AF_INET):
    """Binds NAME's sockets (in NETNS if given: only the sockets are made there, this thread
    goes back to its own netns), starts their threads, writes LOG.ready and returns."""
    lock = threading.Lock()

    def record(proto, n, peer):
        with lock, open(log, "a") as f:
            f.write(f"{proto} {n} {peer}\n")

    def tcp_conn(c, peer):
        c.settimeout(5)
        total = 0
        buf = b""
        keep = False
        bulk = None
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                total += len(d)
                if bulk is not None:
                    continue
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.startswith(b"G") and not keep:
                        bulk = int(line[1:])
                        break
                    if line.startswith(b"K") and not keep:
                        keep = True
                        c.settimeout(300)
                    c.sendall(name.encode() + b"\n")
                    if not keep:
                        raise StopIteration
            if bulk is not None:
                tail = name.encode() + b"\n"
                c.sendall(b"d" * max(0, bulk - len(tail)) + tail)
        except (OSError, StopIteration, ValueError):
            pass
        finally:
            c.close()
            record("tcp", total, peer)

    def tcp_loop(s):
        while True:
            c, peer = s.accept()
            threading.Thread(target=tcp_conn, args=(c, peer[0]), daemon=True).start()

    def udp_loop(s):
        while True:
            d, peer = s.recvfrom(65536)
            record("udp", len(d), peer[0])
            answer = name.encode() + b"\n"
            if d.startswith(b"BIG"):
                # A reply that leaves the server in fragments.
                answer = answer.ljust(3000, b".")
            try:
                s.sendto(answer, peer)
            except OSError:
                # No route back (a test's blackhole for senders it ignores): keep serving.
                pass

    def bind_all():
        socks = []
        wild = "::" if fam == socket.AF_INET6 else "0.0.0.0"
        for port in ports:
            u = socket.socket(fam, socket.SOCK_DGRAM)
            u.bind((wild, port))
            t = socket.socket(fam, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((wild, port))
            t.listen(64)
            socks.append((u, t))
        return socks

    if netns is None:
        socks = bind_all()
    else:
        with in_netns(netns):
            socks = bind_all()
    for u, t in socks:
        threading.Thread(target=udp_loop, args=(u,), daemon=True).start()
        threading.Thread(target=tcp_loop, args=(t,), daemon=True).start()
    # Every socket is bound and listening: tell the test.
    open(log + ".ready", "w").close()


CLONE_NEWNET = 0x40000000


class in_netns:
    """Sockets made inside the block belong to netns NAME (setns of this thread; ctypes is
    imported only here, by servens)."""

    def __init__(self, name):
        import ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.errno = ctypes.get_errno
        self.name = name

    def setns(self, f):
        if self.libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise OSError(self.errno(), f"setns {self.name}")

    def __enter__(self):
        self.own = open("/proc/thread-self/ns/net")
        with open(f"/run/netns/{self.name}") as other:
            self.setns(other)

    def __exit__(self, *exc):
        self.setns(self.own)
        self.own.close()


def tcp(addr, port, n, size):
    # SIGTERM: no new connection, the one under way finishes (its socket calls resume after
    # the handler), so a stop cuts no handshake off.
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    for _ in range(n):
        if stop:
            break
        try:
            c = socket.create_connection((addr, port), timeout=5)
            c.sendall(b"x" * (size - 1) + b"\n")
            c.shutdown(socket.SHUT_WR)
            ans = c.recv(100).decode().strip() or "EMPTY"
            c.close()
        except OSError as e:
            ans = f"ERROR:{type(e).__name__}"
        print(ans, flush=True)


def udp(addr, port, n, size, sport=None, wait=2.0):
    fixed = None
    if sport is not None:
        fixed = socket.socket(family(addr), socket.SOCK_DGRAM)
        fixed.bind((any_addr(addr), sport))
        fixed.settimeout(wait)
    for _ in range(n):
        s = fixed or socket.socket(family(addr), socket.SOCK_DGRAM)
        s.settimeout(wait)
        try:
            s.sendto(b"u" * size, (addr, port))
            ans = s.recv(100).decode().strip()
        except OSError as e:
            ans = f"ERROR:{type(e).__name__}"
        if fixed is None:
            s.close()
        print(ans, flush=True)


def tcp_once(addr, port, src=None, sport=0, size=100):
    try:
        c = socket.socket(family(addr), socket.SOCK_STREAM)
        c.settimeout(5)
        if src or sport:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            c.bind((src or any_addr(addr), sport))
        c.connect((addr, port))
        c.sendall(b"x" * (size - 1) + b"\n")
        c.shutdown(socket.SHUT_WR)
        ans = c.recv(100).decode().strip() or "EMPTY"
        c.close()
    except OSError as e:
        ans = f"ERROR:{type(e).__name__}"
    return ans


def udp_once(addr, port, src=None, size=100, wait=2.0):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(wait)
    try:
        if src:
            s.bind((src, 0))
        s.sendto(b"u" * size, (addr, port))
        ans = s.recv(100).decode().strip()
    except OSError as e:
        ans = f"ERROR:{type(e).__name__}"
    s.close()
    return ans


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_packet(src, sport, dst, dport, seq):
    """An IPv4 TCP SYN from SRC:SPORT to DST:DPORT (addresses as 4 bytes), for a raw socket
    (the kernel fills in the IP checksum and the total length)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum16(pseudo + tcp)) + tcp[18:]
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, socket.IPPROTO_TCP, 0, src, dst) + tcp


def syn_flood(addr, port, n, net):
    """N SYNs to ADDR:PORT, each from a distinct spoofed source in 10.NET.0.0/16."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    dst = socket.inet_aton(addr)
    for i in range(n):
        src = socket.inet_aton(f"10.{net}.{(i + 1) // 256}.{(i + 1) % 256}")
        sport = 1024 + (i * 7919) % 60000
        s.sendto(syn_packet(src, sport, dst, port, 0x10000 * i + 1), (addr, 0))
    s.close()


def syn_on(c):
    """A SYN on open connection C's own addresses and ports (a new connection's first packet
    on a tuple whose old flow is still live), from a raw socket."""
    (src, sport), (dst, dport) = c.getsockname(), c.getpeername()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.sendto(syn_packet(socket.inet_aton(src), sport, socket.inet_aton(dst), dport, 0x5EED), (dst, 0))
    s.close()


def udp_connected(addr, port, sport, wait=2.0):
    """One datagram from a UDP socket connected to ADDR:PORT from SPORT, so that an ICMP error
    quoting it reaches the socket: the answer, or ERROR:<the error>."""
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(wait)
    try:
        s.bind((any_addr(addr), sport))
        s.connect((addr, port))
        s.send(b"u" * 100)
        ans = s.recv(100).decode().strip()
    except OSError as e:
        ans = f"ERROR:{type(e).__name__}"
    s.close()
    return ans


def udp_recv(port, wait, ready):
    """Waits up to WAIT s for one datagram on UDP port PORT, creating the file READY once the
    socket is bound: "got ADDR:PORT" (the sender), or "nothing". Both families (an IPv4
    sender as its dotted quad)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", port))
    open(ready, "w").close()
    s.settimeout(wait)
    try:
        _, (addr, sport, *_) = s.recvfrom(2048)
        if addr.startswith("::ffff:") and "." in addr:
            addr = addr[len("::ffff:"):]
        ans = f"got {addr}:{sport}"
    except OSError:
        ans = "nothing"
    s.close()
    return ans


def ipv4_header(src, dst, proto, length):
    """An IPv4 header SRC -> DST (dotted quads) with DF set and its checksum, as an ICMP error
    quotes one."""
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 0, 0x4000, 63, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum16(h)) + h[12:]


def send_icmp_error(to, icmp_type, code, info, quoted):
    """An ICMP error (ICMPv6 when TO is an IPv6 address) of ICMP_TYPE and CODE, with INFO as its
    second word (a next-hop MTU, or 0) and quoting QUOTED, through a raw socket to TO: the
    kernel adds the outer header, and computes an ICMPv6 checksum itself."""
    icmp = struct.pack("!BBHI", icmp_type, code, 0, info) + quoted
    if family(to) == socket.AF_INET6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    else:
        icmp = icmp[:2] + struct.pack("!H", csum16(icmp)) + icmp[4:]
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.sendto(icmp, (to, 0))
    s.close()


def ipv6_header(src, dst, proto, payload_len):
    """An IPv6 header SRC -> DST, as an ICMPv6 error quotes one."""
    return struct.pack("!IHBB16s16s", 6 << 28, payload_len, proto, 63,
                       socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))


def time_exceeded(rip, cip, cport, rport):
    """An ICMP time exceeded (ICMPv6 for IPv6) to CIP, quoting a UDP datagram CIP:CPORT ->
    RIP:RPORT, as a router between the director and the real server RIP sends it about a NAT
    request (the kernel fills in the outer header, and for ICMPv6 the checksum)."""
    udp = struct.pack("!HHHH", cport, rport, 108, 0)
    if family(rip) == socket.AF_INET6:
        send_icmp_error(cip, 3, 0, 0, ipv6_header(cip, rip, socket.IPPROTO_UDP, 108) + udp)
    else:
        send_icmp_error(cip, 11, 0, 0, ipv4_header(cip, rip, socket.IPPROTO_UDP, 128) + udp)


def icmp_watch(fam, wait, ready):
    """The first ICMP (FAM 4) or ICMPv6 (6) time exceeded within WAIT s, as seen by a raw
    socket: its source and the UDP datagram it quotes."""
    v6 = fam == "6"
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    open(ready, "w").close()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, peer = s.recvfrom(2048)
        except OSError:
            break
        if not v6:
            data = data[(data[0] & 0xF) * 4:]       # the raw IPv4 socket sees the IP header
        if len(data) < 8 or data[0] != (3 if v6 else 11):
            continue
        q = data[8:]
        if v6 and len(q) >= 48:
            src, dst = (socket.inet_ntop(socket.AF_INET6, q[o:o + 16]) for o in (8, 24))
            l4 = q[40:48]
        elif not v6 and len(q) >= 28:
            src, dst = socket.inet_ntoa(q[12:16]), socket.inet_ntoa(q[16:20])
            l4 = q[(q[0] & 0xF) * 4:][:8]
        else:
            continue
        sport, dport = struct.unpack("!HH", l4[:4])
        return f"time exceeded from {peer[0]} quoting {src}:{sport} > {dst}:{dport}"
    return "nothing"


def bulk(addr, port, up, down, wait):
    """UP bytes to ADDR:PORT and DOWN bytes back on one TCP connection (the server's "G"
    protocol), each socket call bounded by WAIT s: a path MTU black hole times out."""
    try:
        c = socket.create_connection((addr, port), timeout=wait)
        c.sendall(f"G{down}\n".encode() + b"u" * up)
        c.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        c.close()
    except OSError as e:
        return f"ERROR:{type(e).__name__}"
    name = got.rstrip(b"\n").rsplit(b"d", 1)[-1].decode(errors="replace")
    return f"bulk sent {up} got {len(got)} from {name}"


def icmp_log(fam, stop, wait, ready):
    """The ICMP (FAM 4) or ICMPv6 (6) errors this netns receives until file STOP exists (at
    most WAIT s), as a raw socket sees them: each kind once, sorted."""
    v6 = fam == "6"
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        errors, af, alen, hlen = (1, 2, 3, 4), socket.AF_INET6, 16, 40
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        errors, af, alen, hlen = (3, 11, 12), socket.AF_INET, 4, 20
    s.settimeout(0.1)
    open(ready, "w").close()
    seen = set()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not os.path.exists(stop):
        try:
            data, peer = s.recvfrom(2048)
        except OSError:
            continue
        if not v6:
            data = data[(data[0] & 0xF) * 4:]       # the raw IPv4 socket sees the IP header
        if len(data) < 8 + hlen or data[0] not in errors:
            continue
        info = struct.unpack("!I", data[4:8])[0]
        q = data[8:]
        off = 8 if v6 else 12
        src, dst = (socket.inet_ntop(af, q[o:o + alen]) for o in (off, off + alen))
        seen.add(f"{data[0]}/{data[1]} from {peer[0]} info {info} about {src} > {dst}")
    s.close()
    return sorted(seen)


def frag_needed(vip, vport, cport, mtu, to=None):
    """An ICMP "fragmentation needed" (MTU MTU) to VIP (or to TO), as a router on the way back
    would send it, quoting a 1500-byte UDP datagram from VIP:VPORT to this host's CPORT; for an
    IPv6 VIP, an ICMPv6 "packet too big" (the kernel computes its checksum over the
    pseudo-header)."""
    to = to or vip
    probe = socket.socket(family(vip), socket.SOCK_DGRAM)
    probe.connect((vip, vport))
    me = probe.getsockname()[0]
    probe.close()
    if family(vip) == socket.AF_INET6:
        quoted = ipv6_header(vip, me, socket.IPPROTO_UDP, 1460) + struct.pack("!HHHH", vport, cport, 1460, 0)
        send_icmp_error(to, 2, 0, mtu, quoted)
        return
    quoted = ipv4_header(vip, me, socket.IPPROTO_UDP, 1500) + struct.pack("!HHHH", vport, cport, 1480, 0)
    send_icmp_error(to, 3, 4, mtu, quoted)


def tunnel_frag_needed(dip, rip, cip, vip, cport, vport, mtu, wrap=()):
    """An ICMP "fragmentation needed" (MTU MTU) to DIP, as a router between the director and a
    real server sends it about a tunnel packet DIP -> RIP carrying a 1480-byte UDP datagram
    CIP:CPORT -> VIP:VPORT with DF set: IPIP, or with WRAP ("gue PORT", "gre", "gre csum") in
    UDP to PORT behind a GUE header or behind a GRE header, as the director wraps them."""
    if wrap and wrap[0] == "gue":
        proto, hdr = socket.IPPROTO_UDP, struct.pack("!HHHHBBH", 40000, int(wrap[1]), 1492, 0, 0, 4, 0)
    elif wrap and wrap[0] == "gre":
        proto, hdr = 47, struct.pack("!HH", 0x8000 if wrap[1:] == ["csum"] else 0, 0x0800)
        hdr += b"\0\0\0\0" if wrap[1:] == ["csum"] else b""
    else:
        proto, hdr = 4, b""
    quoted = ipv4_header(dip, rip, proto, 1500) + hdr + ipv4_header(cip, vip, socket.IPPROTO_UDP, 1480)
    quoted += struct.pack("!HHHH", cport, vport, 1460, 0)
    send_icmp_error(dip, 3, 4, mtu, quoted)


def ipip_udp(to, src, dst, sport, dport, size=100):
    """An IPIP packet to TO carrying a UDP datagram SRC:SPORT -> DST:DPORT of SIZE bytes (no
    UDP checksum), through a raw socket (the kernel adds the outer header)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + size, 0) + b"t" * size
    inner = ipv4_header(src, dst, socket.IPPROTO_UDP, 20 + len(udp)) + udp
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
    s.sendto(inner, (to, 0))
    s.close()


def from_sources(proto, addr, ports, n, srcs):
    for src in srcs:
        for _ in range(n):
            for port in ports:
                if proto == "tcp":
                    ans = tcp_once(addr, port, src)
                else:
                    ans = udp_once(addr, port, src)
                print(f"{src} {port} {ans}", flush=True)


def agent(fifo, out, lifetime=600):
    """Runs commands read from FIFO, one a line, for as long as a test needs (one Python
    start instead of one per step). Each command appends its result lines and then "done N"
    (N counts the commands) to OUT. Long-lived TCP connections are numbered from 1 in the
    order they were opened.

      from PROTO ADDR PORTS N SRC...  as the "from" command: "SRC PORT ANSWER" lines
      udpports ADDR PORTS SPORT       one UDP socket on source port SPORT sends a datagram to
                                      each of the comma-separated PORTS: "PORT ANSWER" lines
      udp ADDR PORT N SPORT           N datagrams from source port SPORT: "ANSWER" lines
      tcp ADDR PORT N SIZE            as the "tcp" command: N connections of SIZE bytes, each
                                      answered and closed: "ANSWER" lines
      udpnew ADDR PORT N SIZE         as the "udp" command without SPORT: N datagrams of SIZE
                                      bytes, each from a new socket: "ANSWER" lines
      udpbig ADDR PORT                one datagram asking for a 3000-byte answer: "udpbig
                                      LENGTH SOURCE" of the answer
      udpdf ADDR PORT SIZE            one datagram of SIZE bytes with DF set (path MTU
                                      discovery on): "udpdf SIZE ANSWER"
      open ADDR PORT N [SRC [SPORT]]  open N connections (from SRC, SPORT with SO_REUSEADDR),
                                      each sends a "K" line: "open ID ANSWER" (the real
                                      server's name, or ERROR:...)
      ping ID...|all                  one more line on each: "ping ID ANSWER"
      close ID...|all                 orderly close (our FIN first, then wait for the
                                      server's): "close ID"
      reset ID...|all                 close with SO_LINGER 0 (RST): "reset ID"
      syn ADDR PORT N NET             N TCP SYNs through a raw socket, each from its own spoofed
                                      source 10.NET.x.y (x.y counting up from 0.1), as a SYN
                                      flood: "syn N" once sent (nothing waits for answers)
      synon ID                        a raw SYN on open connection ID's addresses and ports:
                                      "synon ID" once sent
      udpconn ADDR PORT SPORT         one datagram from a connected socket (ICMP errors reach
                                      it): "udpconn ANSWER" (ERROR:ConnectionRefusedError for
                                      a port unreachable)
      fragneeded VIP VPORT CPORT MTU [TO]
                                      an ICMP fragmentation needed (ICMPv6 packet too big) to
                                      VIP (or TO) quoting a UDP datagram VIP:VPORT -> this
                                      host:CPORT: "fragneeded MTU"
      udpopen ADDR PORT SPORT         one datagram from a socket bound to SPORT that stays open
                                      (ICMP errors about its packets find it): "udpopen ANSWER"
      bulk ADDR PORT UP DOWN WAIT     as the "bulk" command: "bulk ..." or ERROR:...
      quit                            close everything, exit
    OUT may be a FIFO. The process exits by itself after LIFETIME seconds.
    """
    conns = {}
    kept = []       # UDP sockets of udpopen, closed when the agent exits
    next_id = 1
    ncmd = 0
    # O_RDWR: the FIFO never reads as closed between two writers. Lines are split here (not
    # by a buffered reader, which would hide buffered lines from select).
    fd = os.open(fifo, os.O_RDWR)
    out_fd = os.open(out, os.O_RDWR | os.O_APPEND)
    pending = b""
    deadline = time.monotonic() + lifetime
    results = []

    def emit(line):
        results.append(line)

    def ids(args):
        if args == ["all"]:
            return sorted(conns)
        return [int(a) for a in args if int(a) in conns]

    def ask(c):
        try:
            c.sendall(b"K\n")
            return c.recv(100).decode().strip() or "EMPTY"
        except OSError as e:
            return f"ERROR:{type(e).__name__}"

    while time.monotonic() < deadline:
        if b"\n" not in pending:
            r, _, _ = select.select([fd], [], [], 1.0)
            if r:
                pending += os.read(fd, 4096)
            continue
        raw, pending = pending.split(b"\n", 1)
        words = raw.decode().split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        if cmd == "from":
            ports = [int(p) for p in args[2].split(",")]
            for src in args[4:]:
                for _ in range(int(args[3])):
                    for port in ports:
                        if args[0] == "tcp":
                            ans = tcp_once(args[1], port, src)
                        else:
                            ans = udp_once(args[1], port, src)
                        emit(f"{src} {port} {ans}")
        elif cmd == "udp":
            s = socket.socket(family(args[0]), socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((any_addr(args[0]), int(args[3])))
            s.settimeout(1.0)
            for _ in range(int(args[2])):
                try:
                    s.sendto(b"u" * 100, (args[0], int(args[1])))
                    ans = s.recv(100).decode().strip()
                except OSError as e:
                    ans = f"ERROR:{type(e).__name__}"
                emit(ans)
            s.close()
        elif cmd == "udpports":
            # One socket on source port args[2], a datagram to each of the ports args[1].
            s = socket.socket(family(args[0]), socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((any_addr(args[0]), int(args[2])))
            s.settimeout(2.0)
            for port in args[1].split(","):
                try:
                    s.sendto(b"u" * 100, (args[0], int(port)))
                    ans = s.recv(100).decode().strip()
                except OSError as e:
                    ans = f"ERROR:{type(e).__name__}"
                emit(f"{port} {ans}")
            s.close()
        elif cmd == "tcp":
            for _ in range(int(args[2])):
                emit(tcp_once(args[0], int(args[1]), size=int(args[3])))
        elif cmd == "bulk":
            emit(bulk(args[0], int(args[1]), int(args[2]), int(args[3]), float(args[4])))
        elif cmd == "udpnew":
            for _ in range(int(args[2])):
                emit(udp_once(args[0], int(args[1]), size=int(args[3])))
        elif cmd == "udpbig":
            s = socket.socket(family(args[0]), socket.SOCK_DGRAM)
            s.settimeout(2.0)
            try:
                s.sendto(b"BIG\n", (args[0], int(args[1])))
                d, peer = s.recvfrom(65536)
                ans = f"{len(d)} {peer[0]}"
            except OSError as e:
                ans = f"ERROR:{type(e).__name__}"
            s.close()
            emit(f"udpbig {ans}")
        elif cmd == "udpdf":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            # IP_MTU_DISCOVER = IP_PMTUDISC_DO: DF on every datagram, never fragmented here.
            s.setsockopt(socket.IPPROTO_IP, 10, 2)
            s.settimeout(2.0)
            try:
                s.sendto(b"d" * int(args[2]), (args[0], int(args[1])))
                ans = s.recv(100).decode().strip()
            except OSError as e:
                ans = f"ERROR:{type(e).__name__}"
            s.close()
            emit(f"udpdf {args[2]} {ans}")
        elif cmd == "open":
            addr, port = args[0], int(args[1])
            src = args[3] if len(args) > 3 else None
            sport = int(args[4]) if len(args) > 4 else 0
            for _ in range(int(args[2])):
                c = socket.socket(family(addr), socket.SOCK_STREAM)
                c.settimeout(5)
                ans = None
                try:
                    if src or sport:
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        c.bind((src or any_addr(addr), sport))
                    c.connect((addr, port))
                except OSError as e:
                    ans = f"ERROR:{type(e).__name__}"
                    c.close()
                if ans is None:
                    ans = ask(c)
                    conns[next_id] = c
                emit(f"open {next_id} {ans}")
                next_id += 1
        elif cmd == "syn":
            syn_flood(args[0], int(args[1]), int(args[2]), int(args[3]))
            emit(f"syn {args[2]}")
        elif cmd == "synon":
            for i in ids(args):
                syn_on(conns[i])
                emit(f"synon {i}")
        elif cmd == "udpconn":
            emit(f"udpconn {udp_connected(args[0], int(args[1]), int(args[2]))}")
        elif cmd == "udpopen":
            s = socket.socket(family(args[0]), socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(2.0)
            s.bind((any_addr(args[0]), int(args[2])))
            kept.append(s)
            try:
                s.sendto(b"u" * 100, (args[0], int(args[1])))
                ans = s.recv(100).decode().strip()
            except OSError as e:
                ans = f"ERROR:{type(e).__name__}"
            emit(f"udpopen {ans}")
        elif cmd == "fragneeded":
            frag_needed(args[0], int(args[1]), int(args[2]), int(args[3]), *args[4:5])
            emit(f"fragneeded {args[3]}")
        elif cmd == "ping":
            for i in ids(args):
                emit(f"ping {i} {ask(conns[i])}")
        elif cmd in ("close", "reset", "quit"):
            targets = sorted(conns) if cmd == "quit" else ids(args)
            for i in targets:
                c = conns.pop(i)
                try:
                    if cmd == "reset":
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    else:
                        c.shutdown(socket.SHUT_WR)
                        while c.recv(100):
                            pass
                except OSError:
                    pass
                c.close()
                emit(f"{cmd} {i}")
        else:
            emit(f"unknown {cmd}")
        ncmd += 1
        emit(f"done {ncmd}")
        os.write(out_fd, "".join(line + "\n" for line in results).encode())
        results.clear()
        if cmd == "quit":
            break
    for c in conns.values():
        c.close()


def flood(addr, port, seconds, per_socket=8, rate=0, count=False):
    """With COUNT, SIGTERM ends it too, and it prints "flows N": the sockets it sent from."""
    start = time.monotonic()
    deadline = start + seconds
    sent = 0
    flows = 0
    stopped = []
    if count:
        signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
    s = None
    while time.monotonic() < deadline and not stopped:
        if rate and sent > rate * (time.monotonic() - start):
            time.sleep(per_socket / rate)
            continue
        sent += per_socket
        if s is not None:
            s.close()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        flows += 1
        for _ in range(per_socket):
            try:
                s.sendto(b"f" * 32, (addr, port))
            except OSError:
                pass
    if s is not None:
        s.close()
    if count:
        print(f"flows {flows}", flush=True)


def sticky(addr, port, flows, interval, alive, stop, seconds):
    """FLOWS UDP flows to ADDR:PORT that each keep their source port, each datagram waiting up
    to 1 s for its answer, until file STOP exists (at most SECONDS). A flow whose connection a
    lookup failed to find gets a new connection, which the scheduler may give to another real
    server: a change of the answering server less than ALIVE s (less than the connection
    timeout) after the flow's last answer tells; a later one may be the connection's expiry
    on a slow host."""
    socks = []
    for _ in range(flows):
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.connect((addr, port))
        s.settimeout(1.0)
        socks.append(s)
    sent = [0] * flows
    answered = [0] * flows
    switches = [0] * flows
    early = [0] * flows
    names = [set() for _ in range(flows)]
    last = [None] * flows       # (name, time of the answer)
    start = time.monotonic()
    while not os.path.exists(stop) and time.monotonic() - start < seconds:
        for i, s in enumerate(socks):
            sent_at = time.monotonic()
            try:
                s.send(b"s" * 16)
                sent[i] += 1
                data = s.recv(256)
            except OSError:
                continue
            answered[i] += 1
            name = data.decode(errors="replace").strip()
            names[i].add(name)
            if last[i] is not None and last[i][0] != name:
                switches[i] += 1
                if sent_at - last[i][1] < alive:
                    early[i] += 1
            last[i] = (name, time.monotonic())
        time.sleep(interval)
    for i, s in enumerate(socks):
        s.close()
        print(f"flow {i} sent {sent[i]} answered {answered[i]} switches {switches[i]} early {early[i]}"
              f" by {','.join(sorted(names[i]))}", flush=True)


def trickle(addr, ports, seconds, flows, interval):
    """FLOWS UDP flows to each of PORTS, each from its own socket (a fixed source port) and
    sending one datagram every INTERVAL seconds, the flows spread evenly over the interval,
    for SECONDS. With a connection timeout of INTERVAL, a flow's next packet arrives about
    when its entry expires: the packet path and the expiry timer race on every flow."""
    socks = []
    for port in ports:
        for _ in range(flows):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            socks.append((s, port))
    start = time.monotonic()
    k = 0
    while time.monotonic() - start < seconds:
        s, port = socks[k % len(socks)]
        delay = start + k * interval / len(socks) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            s.sendto(b"t" * 32, (addr, port))
        except OSError:
            pass
        k += 1
    for s, _ in socks:
        s.close()


def nla_walk(data):
    """(type, payload) of each netlink attribute in DATA, nesting flags cleared."""
    while len(data) >= 4:
        length, kind = struct.unpack_from("=HH", data)
        if length < 4:
            return
        yield kind & 0x3FFF, data[4:length]
        data = data[(length + 3) & ~3:]


def ct_entries(proto, daddr):
    """(client port, reply source address) of each conntrack entry whose original tuple is
    PROTO to DADDR, from a ctnetlink dump."""
    want_proto = {"tcp": 6, "udp": 17}[proto]
    fam = family(daddr)
    want_dst = socket.inet_pton(fam, daddr)
    # CTA_IP_V4_SRC/DST are 1 and 2, CTA_IP_V6_SRC/DST 3 and 4
    src_attr, dst_attr = (3, 4) if fam == socket.AF_INET6 else (1, 2)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    s.settimeout(10)
    # IPCTNL_MSG_CT_GET of NFNL_SUBSYS_CTNETLINK, NLM_F_REQUEST | NLM_F_DUMP; nfgenmsg of the family
    s.send(struct.pack("=IHHII", 20, (1 << 8) | 1, 0x301, 1, 0) + struct.pack("=BBH", fam, 0, 0))
    found = []
    while True:
        buf = s.recv(1 << 16)
        while len(buf) >= 16:
            length, kind = struct.unpack_from("=IH", buf)
            if kind == 3:  # NLMSG_DONE
                return found
            if kind == 2:  # NLMSG_ERROR
                sys.exit(f"ctnetlink: error {-struct.unpack_from('=i', buf, 16)[0]}")
            tuples = {}
            for k, v in nla_walk(buf[20:length]):
                if k not in (1, 2):  # CTA_TUPLE_ORIG, CTA_TUPLE_REPLY
                    continue
                t = tuples.setdefault(k, {})
                for k2, v2 in nla_walk(v):
                    if k2 == 1:  # CTA_TUPLE_IP: the addresses
                        t["ip"] = dict(nla_walk(v2))
                    elif k2 == 2:  # CTA_TUPLE_PROTO: CTA_PROTO_NUM, CTA_PROTO_SRC_PORT
                        t["l4"] = dict(nla_walk(v2))
            orig, reply = tuples.get(1, {}), tuples.get(2, {})
            num = orig.get("l4", {}).get(1)
            if orig.get("ip", {}).get(dst_attr) == want_dst and num is not None and num[0] == want_proto:
                sport = struct.unpack("!H", orig["l4"].get(2, b"\0\0"))[0]
                rsrc = reply.get("ip", {}).get(src_attr)
                found.append((sport, socket.inet_ntop(fam, rsrc) if rsrc else "?"))
            buf = buf[(length + 3) & ~3:]


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(args[0], args[1], [int(p) for p in args[2:]])
        threading.Event().wait()
    elif cmd == "servens":
        fam = socket.AF_INET
        if args[0] == "-6":
            fam, args = socket.AF_INET6, args[1:]
        ports = [int(p) for p in args[0].split(",")]
        for spec in args[1:]:
            netns, name, log = spec.split(":", 2)
            serve(name, log, ports, netns, fam)
        threading.Event().wait()
    elif cmd == "tcp":
        tcp(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "udp":
        sport = int(args[4]) if len(args) > 4 else None
        udp(args[0], int(args[1]), int(args[2]), int(args[3]), sport, 1.0 if sport else 2.0)
    elif cmd == "from":
        ports = [int(p) for p in args[2].split(",")]
        from_sources(args[0], args[1], ports, int(args[3]), args[4:])
    elif cmd == "flood":
        flood(args[0], int(args[1]), float(args[2]), *(int(a) for a in args[3:5]), count=args[5:6] == ["count"])
    elif cmd == "trickle":
        ports = [int(p) for p in args[1].split(",")]
        trickle(args[0], ports, float(args[2]), int(args[3]), float(args[4]))
    elif cmd == "sticky":
        sticky(args[0], int(args[1]), int(args[2]), float(args[3]), float(args[4]), args[5], float(args[6]))
    elif cmd == "udpconn":
        print(udp_connected(args[0], int(args[1]), int(args[2]), float(args[3])))
    elif cmd == "udprecv":
        print(udp_recv(int(args[0]), float(args[1]), args[2]))
    elif cmd == "ipip":
        ipip_udp(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif cmd == "timeexceeded":
        time_exceeded(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "bulk":
        print(bulk(args[0], int(args[1]), int(args[2]), int(args[3]), float(args[4])), flush=True)
    elif cmd == "icmplog":
        for line in icmp_log(args[0], args[1], float(args[2]), args[3]):
            print(line, flush=True)
    elif cmd == "icmpwatch":
        print(icmp_watch(args[0], float(args[1]), args[2]))
    elif cmd == "tunfrag":
        tunnel_frag_needed(*args[:4], *(int(a) for a in args[4:7]), wrap=args[7:])
    elif cmd == "ctcount":
        print(sum(1 for sport, _ in ct_entries(args[0], args[1]) if len(args) < 3 or sport == int(args[2])))
    elif cmd == "agent":
        agent(args[0], args[1])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
