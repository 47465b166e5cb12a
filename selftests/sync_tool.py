#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""IPVS connection synchronisation messages for the selftests (stdlib only, bounded in time).

An independent reading of the protocol of upstream's net/netfilter/ipvs/ip_vs_sync.c (nothing
of the project's is imported): a capture of what a master daemon multicasts, a decoder, a
replayer for a backup daemon, and an encoder of well-formed and hostile messages.

  sync_tool.py capture --ifaddr A | --ifname IF  [--group G] [--port P] --out FILE
                       [--quiet-ms N] [--max-s M] [--until-vport V] [--ready FILE]
      joins group G (default 224.0.0.81; an IPv6 group needs --ifname) on the interface with
      address A (or named IF), and writes each datagram received on port P (default 8848)
      as one hex line to FILE, until no datagram arrived for N ms after at least one (default
      2000), or a datagram carried a connection entry for virtual port V (all that the master
      queued before that entry has then been sent: it sends its buffers in order), or M s
      passed (default 30). Creates READY once it has joined. Prints "captured N datagrams".
  sync_tool.py decode [--entries] [--ephemeral LO-HI] [--summary] FILE
      each datagram as text: its header (version, syncid, nr_conns, size) and one line per
      connection entry (family, protocol, flags in hex and by name, state by number and name,
      client > virtual > destination, fwmark, timeout, sequence options), and what a backup
      would make of anything malformed. With --entries only the connection lines, sorted and
      without message boundaries, each distinct line once with its count ("x3"; a template's
      count as "x1" or "x2+": a master sends a template again with every packet of its
      connections, however many the client's stack sent). With --ephemeral, client ports in
      LO..HI become tokens (p1, p2, ... in port order for each client address). --summary
      (with --entries) adds "datagrams N v0 N v1 N" and "entries N templates N" (totals that
      depend on the packing and on the timing: for diagnostics, not comparisons).
      Lines of FILE starting with "#" are labels (craft writes them): decode prints them.
  sync_tool.py replay --file FILE... [--group G] [--port P] --ifaddr A | --ifname IF [--ttl T]
      sends each hex line of each FILE as one UDP datagram to group G port P, out of the
      interface with address A (or named IF), multicast loop off. Prints "sent N datagrams".
  sync_tool.py craft --out FILE [--syncid N] KIND...|all
      writes hex lines (each datagram after a "# KIND: what it holds" label) of messages for a
      backup daemon with syncid N (default 7), built by the encoder below ("all": the kinds of
      KINDS, in order, the marker last).
  sync_tool.py craft --list
      the kinds, each datagram's label: what it holds and what a stock backup does with it.
  sync_tool.py fuzz --file FILE... --out FILE [--count N] [--seed S]
      writes N (default 2000) hex lines, each a datagram mutated from one of FILEs' (flipped
      bytes, header and entry fields at edge values, cuts, extensions, splices, random bytes),
      reproducibly from seed S. None carries the client of craft's "marker2", the message a
      test sends after the burst to see that the backup still applies messages.

Addresses of the crafted entries (the services a test's backup has): VIP 10.0.0.100, real
servers 172.16.1.2 and 172.16.2.2, IPv6 VIP 2001:db8::100 and real server 2001:db8:1::2, a
firewall-mark service (mark 5) over 172.16.1.2. Every crafted connection has a client of its
own, 10.0.7.K:30000+K*10+N, so that the backup's connection table shows which entries were
applied.
"""
import random
import select
import socket
import struct
import sys
import time

SYNC_GROUP = "224.0.0.81"
SYNC_PORT = 8848

# Connection flags (include/uapi/linux/ip_vs.h)
F_FWD_MASK = 0x0007
FWD_NAMES = {0: "MASQ", 1: "LOCALNODE", 2: "TUNNEL", 3: "DROUTE", 4: "BYPASS"}
FLAG_NAMES = [(0x0020, "SYNC"), (0x0040, "HASHED"), (0x0080, "NOOUTPUT"), (0x0100, "INACTIVE"),
              (0x0200, "OUT_SEQ"), (0x0400, "IN_SEQ"), (0x0800, "NO_CPORT"),
              (0x1000, "TEMPLATE"), (0x2000, "ONE_PACKET"), (0x10000, "NFCT")]
F_INACTIVE, F_SEQ_MASK, F_NO_CPORT, F_TEMPLATE, F_ONE_PACKET = 0x0100, 0x0600, 0x0800, 0x1000, 0x2000
F_DROUTE = 0x0003
# Options of a v1 entry
OPT_SEQ_DATA, OPT_PE_DATA, OPT_PE_NAME, OPT_F_PARAM = 1, 2, 3, 0x40
OPT_NAMES = {OPT_SEQ_DATA: "seq", OPT_PE_DATA: "pe_data", OPT_PE_NAME: "pe_name"}

PROTO_NAMES = {6: "TCP", 17: "UDP", 132: "SCTP", 50: "ESP", 51: "AH"}
TCP_STATES = ["NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE",
              "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK"]
UDP_STATES = ["UDP"]
SCTP_STATES = ["NONE", "INIT1", "INIT", "C-SENT", "C-REPLIED", "C-WAIT", "C-RECV", "C-ECHOED",
               "ESTABLISHED", "S-SENT", "S-RECV", "S-ACK-SENT", "REJECTED", "CLOSED"]
TPL_STATES = ["NONE", "ASSURED"]

V1_HDR, V0_HDR = 8, 4
V1_V4_LEN, V1_V6_LEN = 36, 72
V0_LEN, SEQ_LEN = 24, 24


def die(msg):
    sys.exit(f"sync_tool: {msg}")


# ---------------------------------------------------------------- naming
def flag_names(flags):
    names = [FWD_NAMES.get(flags & F_FWD_MASK, f"FWD{flags & F_FWD_MASK}")]
    rest = flags & ~F_FWD_MASK
    for bit, name in FLAG_NAMES:
        if rest & bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(f"0x{rest:x}")
    return "|".join(names)


def state_name(proto, flags, state):
    if flags & F_TEMPLATE:
        table = TPL_STATES
    else:
        table = {6: TCP_STATES, 17: UDP_STATES, 132: SCTP_STATES}.get(proto, [])
    return table[state] if state < len(table) else "?"


def proto_name(proto):
    return PROTO_NAMES.get(proto, f"proto{proto}")


def hostport(af, addr, port):
    a = socket.inet_ntop(af, addr)
    return f"[{a}]:{port}" if af == socket.AF_INET6 else f"{a}:{port}"


# ---------------------------------------------------------------- decoding
class Entry:
    """One connection entry: its fields, as a backup reads them."""

    def __init__(self, ver, af, proto, flags, state, caddr, cport, vaddr, vport, daddr, dport,
                 fwmark=None, timeout=None, seq=None, opts=()):
        self.ver, self.af, self.proto, self.flags, self.state = ver, af, proto, flags, state
        self.caddr, self.cport, self.vaddr, self.vport = caddr, cport, vaddr, vport
        self.daddr, self.dport, self.fwmark, self.timeout = daddr, dport, fwmark, timeout
        self.seq, self.opts = seq, list(opts)

    def client(self, port=None):
        return hostport(self.af, self.caddr, self.cport if port is None else port)

    def text(self, cport=None):
        fam = "inet6" if self.af == socket.AF_INET6 else "inet"
        width = 8 if self.ver == 1 else 4
        s = (f"v{self.ver} {fam} {proto_name(self.proto)} {self.client(cport)} > "
             f"{hostport(self.af, self.vaddr, self.vport)} > {hostport(self.af, self.daddr, self.dport)} "
             f"flags 0x{self.flags:0{width}x} ({flag_names(self.flags)}) "
             f"state {self.state} {state_name(self.proto, self.flags, self.state)}")
        if self.fwmark is not None:
            s += f" fwmark {self.fwmark} timeout {self.timeout}"
        if self.seq is not None:
            s += " seq in {}/{}/{} out {}/{}/{}".format(*self.seq)
        for o in self.opts:
            s += f" opt {o}"
        return s


def parse_seq(b):
    return struct.unpack("!6I", b[:SEQ_LEN])


def decode(d):
    """(header text, [(Entry or None, note)]): the datagram D read as upstream's
    ip_vs_process_message() reads it. A note says what a backup does about an entry ("" for
    one it would apply)."""
    out = []
    if len(d) < V0_HDR:
        return "shorter than a header (a backup drops it)", out
    size = struct.unpack_from("!H", d, 2)[0]
    sizenote = "" if size == len(d) else f" (size field {size} != {len(d)} bytes: a backup drops it)"
    if len(d) >= V1_HDR and d[0] == 0 and d[5] == 1 and d[6:8] == b"\0\0":
        hdr = f"v1 syncid {d[1]} nr_conns {d[4]} size {size}{sizenote}"
        p = V1_HDR
        for _ in range(d[4]):
            if p + V1_V4_LEN > len(d):
                out.append((None, "fatal: entry header past the end (rest dropped)"))
                break
            ver_size = struct.unpack_from("!H", d, p + 2)[0]
            esize, ever = ver_size & 0x0FFF, ver_size >> 12
            end = p + esize
            if end > len(d):
                out.append((None, f"fatal: entry size {esize} runs past the end (rest dropped)"))
                break
            if ever:
                out.append((None, f"fatal: entry version {ever} (rest dropped)"))
                break
            e, note = decode_v1_entry(d, p, end)
            out.append((e, note))
            if note.startswith("fatal"):
                break
            p += (esize + 3) & ~3
        return hdr, out
    hdr = f"v0 syncid {d[1]} nr_conns {d[0]} size {size}{sizenote}"
    if d[0] == 0 and len(d) >= V1_HDR and d[5] == 1:
        hdr += " (a v1 header whose reserved or spare bytes are not zero: read as v0)"
    p = V0_HDR
    for _ in range(d[0]):
        if p + V0_LEN > len(d):
            out.append((None, "fatal: entry past the end (rest dropped)"))
            break
        (_, proto, cport, vport, dport, caddr, vaddr, daddr, flags,
         state) = struct.unpack_from("!BBHHH4s4s4sHH", d, p)
        seq = None
        if flags & F_SEQ_MASK:
            if p + V0_LEN + SEQ_LEN > len(d):
                out.append((None, "fatal: sequence options past the end (rest dropped)"))
                break
            seq = parse_seq(d[p + V0_LEN:])
            p += V0_LEN + SEQ_LEN
        else:
            p += V0_LEN
        e = Entry(0, socket.AF_INET, proto, flags, state, caddr, cport, vaddr, vport, daddr, dport,
                  seq=seq)
        out.append((e, skip_note(e)))
    return hdr, out


def decode_v1_entry(d, p, end):
    typ, proto = d[p], d[p + 1]
    flags, state, cport, vport, dport, fwmark, timeout = struct.unpack_from("!IHHHHII", d, p + 4)
    if typ & 1:
        if p + V1_V6_LEN > end or p + V1_V6_LEN > len(d):
            return None, "fatal: IPv6 entry shorter than its addresses (rest dropped)"
        af, alen, q = socket.AF_INET6, 16, p + V1_V6_LEN
    elif typ == 0:
        if p + V1_V4_LEN > end:
            return None, "fatal: entry shorter than its addresses (rest dropped)"
        af, alen, q = socket.AF_INET, 4, p + V1_V4_LEN
    else:
        return None, f"fatal: entry type {typ} (rest dropped)"
    a = p + 24
    caddr, vaddr, daddr = d[a:a + alen], d[a + alen:a + 2 * alen], d[a + 2 * alen:a + 3 * alen]
    seq, opts, note = None, [], ""
    seen = set()
    while q < end:
        if q + 2 > end:
            return None, "fatal: option header past the entry (rest dropped)"
        ptype, plen = d[q], d[q + 1]
        q += 2
        if plen == 0 or q + plen > end:
            return None, f"fatal: option {ptype} length {plen} (rest dropped)"
        kind = ptype & ~OPT_F_PARAM
        if kind in OPT_NAMES:
            if kind in seen:
                return None, f"fatal: option {OPT_NAMES[kind]} twice (rest dropped)"
            seen.add(kind)
        if kind == OPT_SEQ_DATA:
            if plen != SEQ_LEN:
                return None, f"fatal: seq option length {plen} (rest dropped)"
            seq = parse_seq(d[q:])
        elif kind in (OPT_PE_DATA, OPT_PE_NAME):
            if plen > (255 if kind == OPT_PE_DATA else 16):
                return None, f"fatal: {OPT_NAMES[kind]} length {plen} (rest dropped)"
            opts.append(f"{OPT_NAMES[kind]}={d[q:q + plen].hex()}")
        elif ptype & OPT_F_PARAM:
            opts.append(f"optional{kind}/{plen}")
        else:
            # The backup stops reading the entry's options here and skips it.
            opts.append(f"mandatory{kind}/{plen}")
            note = f"skipped: unknown mandatory option {kind}"
            break
        q += plen
    e = Entry(1, af, proto, flags, state, caddr, cport, vaddr, vport, daddr, dport, fwmark,
              timeout, seq, opts)
    if not note and any(o.startswith("pe_data=") for o in opts):
        note = "skipped: persistence engine data (applied only with that engine loaded)"
    return e, note or skip_note(e)


def skip_note(e):
    """Why a backup skips entry E (and goes on with the next), or ""."""
    if e.flags & F_ONE_PACKET or (e.flags & F_NO_CPORT and e.flags & F_TEMPLATE):
        return "skipped: flags"
    if e.flags & F_TEMPLATE:
        return "skipped: template state" if e.state >= len(TPL_STATES) else ""
    states = {6: TCP_STATES, 17: UDP_STATES, 132: SCTP_STATES, 50: ["ESP"], 51: ["AH"]}.get(e.proto)
    if states is None:
        return f"skipped: protocol {e.proto}"
    if e.state >= len(states):
        return f"skipped: {proto_name(e.proto)} state {e.state}"
    return ""


def read_hex(path):
    """[(label or None, bytes)] of a hex file ("#" lines are labels of what follows)."""
    items = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                items.append((line, None))
            else:
                items.append((None, bytes.fromhex(line)))
    return items


def cmd_decode(args):
    entries_only = summary = False
    eph = None
    files = []
    it = iter(args)
    for a in it:
        if a == "--entries":
            entries_only = True
        elif a == "--summary":
            summary = True
        elif a == "--ephemeral":
            lo, hi = next(it).split("-")
            eph = (int(lo), int(hi))
        else:
            files.append(a)
    if len(files) != 1:
        die("decode [--entries] [--ephemeral LO-HI] [--summary] FILE")
    items = read_hex(files[0])
    if not entries_only:
        n = 0
        for label, d in items:
            if d is None:
                print(label)
                continue
            n += 1
            hdr, ents = decode(d)
            print(f"datagram {n}: {len(d)} bytes: {hdr}")
            for i, (e, note) in enumerate(ents, 1):
                print(f"  conn {i}: {e.text() if e else '-'}{' [' + note + ']' if note else ''}")
        return
    # Entries only: every entry a backup would look at (with its note if it would not apply
    # it), counted.
    found = []
    nd = {0: 0, 1: 0}
    for _, d in items:
        if d is None:
            continue
        hdr, ents = decode(d)
        nd[1 if hdr.startswith("v1") else 0] += 1
        dropped = "message dropped: size field" if "size field" in hdr else ""
        found.extend((e, dropped or note) for e, note in ents if e is not None)
    tokens = {}
    if eph:
        ports = sorted({(e.client(0), e.cport) for e, _ in found if eph[0] <= e.cport <= eph[1]})
        for c, port in ports:
            tokens[(c, port)] = f"p{sum(1 for k in tokens if k[0] == c) + 1}"
    counts = {}
    templates = 0
    for e, note in found:
        tok = tokens.get((e.client(0), e.cport))
        line = e.text(tok) + (f" [{note}]" if note else "")
        tpl = bool(e.flags & F_TEMPLATE)
        counts[line] = (counts.get(line, (0, tpl))[0] + 1, tpl)
        templates += tpl
    for line in sorted(counts):
        n, tpl = counts[line]
        print(f"{line} x{'2+' if tpl and n > 1 else n}")
    if summary:
        print(f"datagrams {nd[0] + nd[1]} v0 {nd[0]} v1 {nd[1]}")
        print(f"entries {len(found)} templates {templates}")


# ---------------------------------------------------------------- sockets
def mcast_socket(group, ifaddr, ifname, port=None):
    """A UDP socket of GROUP's family: joined to GROUP on the interface (and bound to PORT)
    when PORT is given, else set to send to it out of that interface."""
    v6 = ":" in group
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6:
        if not ifname:
            die("an IPv6 group needs --ifname")
        idx = socket.if_nametoindex(ifname)
        if port is not None:
            s.bind((group, port, 0, idx))
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                         socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", idx))
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        return s
    if ifaddr is None:
        die("an IPv4 group needs --ifaddr")
    if port is not None:
        s.bind((group, port))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     socket.inet_aton(group) + socket.inet_aton(ifaddr))
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.bind((ifaddr, 0))
    return s


def options(args, spec):
    """Long options of ARGS as a dict; SPEC: name -> default (a list: repeatable)."""
    got = {k: (list(v) if isinstance(v, list) else v) for k, v in spec.items()}
    it = iter(args)
    rest = []
    for a in it:
        if a.startswith("--") and a[2:] in spec:
            v = next(it, None)
            if v is None:
                die(f"{a} needs a value")
            if isinstance(spec[a[2:]], list):
                got[a[2:]].append(v)
            else:
                got[a[2:]] = v
        else:
            rest.append(a)
    return got, rest


def cmd_capture(args):
    o, rest = options(args, {"ifaddr": None, "ifname": None, "group": SYNC_GROUP, "port": SYNC_PORT,
                             "out": None, "quiet-ms": 2000, "max-s": 30, "until-vport": None,
                             "ready": None})
    if rest or not o["out"]:
        die("capture: --out FILE is needed; unknown arguments: " + " ".join(rest))
    s = mcast_socket(o["group"], o["ifaddr"], o["ifname"], int(o["port"]))
    if o["ready"]:
        open(o["ready"], "w").close()
    quiet = int(o["quiet-ms"]) / 1000.0
    until = int(o["until-vport"]) if o["until-vport"] is not None else None
    deadline = time.monotonic() + float(o["max-s"])
    n = 0
    last = None
    with open(o["out"], "w") as f:
        while True:
            now = time.monotonic()
            wait = deadline - now
            if last is not None:
                wait = min(wait, last + quiet - now)
            if wait <= 0:
                break
            r, _, _ = select.select([s], [], [], wait)
            if not r:
                continue
            d = s.recv(65535)
            f.write(d.hex() + "\n")
            f.flush()
            n += 1
            last = time.monotonic()
            if until is not None and any(e is not None and e.vport == until for e, _ in decode(d)[1]):
                break
    print(f"captured {n} datagrams")


def cmd_replay(args):
    o, rest = options(args, {"file": [], "ifaddr": None, "ifname": None, "group": SYNC_GROUP,
                             "port": SYNC_PORT, "ttl": 1})
    if rest or not o["file"]:
        die("replay: --file FILE is needed; unknown arguments: " + " ".join(rest))
    s = mcast_socket(o["group"], o["ifaddr"], o["ifname"])
    if ":" in o["group"]:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, int(o["ttl"]))
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, int(o["ttl"]))
    n = 0
    for path in o["file"]:
        for _, d in read_hex(path):
            if d is not None:
                s.sendto(d, (o["group"], int(o["port"])))
                n += 1
    print(f"sent {n} datagrams")


# ---------------------------------------------------------------- encoding
def v1_entry(proto, caddr, cport, vaddr, vport, daddr, dport, state=1, flags=0, fwmark=0,
             timeout=0, typ=None, ver=0, size=None, seq=None, opts=b""):
    """A v1 connection entry (unpadded). SIZE (default: its length) and VER go into ver_size;
    TYP (default: the addresses' family) is the type byte; OPTS are raw option TLVs appended
    after the sequence option (SEQ: six numbers)."""
    af = socket.AF_INET6 if ":" in caddr else socket.AF_INET
    if typ is None:
        typ = 1 if af == socket.AF_INET6 else 0
    body = struct.pack("!IHHHHII", flags, state, cport, vport, dport, fwmark, timeout)
    body += b"".join(socket.inet_pton(af, a) for a in (caddr, vaddr, daddr))
    if seq is not None:
        body += bytes([OPT_SEQ_DATA, SEQ_LEN]) + struct.pack("!6I", *seq)
    body += opts
    length = 4 + len(body)
    if size is None:
        size = length
    return struct.pack("!BBH", typ, proto, (ver << 12) | (size & 0x0FFF)) + body


def v1_message(entries, syncid=7, nr=None, size=None, reserved=0, version=1, spare=0):
    """A v1 message: the header, then ENTRIES each padded to 4 bytes. NR and SIZE default to
    the truth."""
    body = b""
    for e in entries:
        body += e + b"\0" * ((4 - len(e)) & 3)
    total = V1_HDR + len(body)
    return struct.pack("!BBHBBH", reserved, syncid, total if size is None else size,
                       len(entries) if nr is None else nr, version, spare) + body


def v0_entry(proto, caddr, cport, vaddr, vport, daddr, dport, state=1, flags=0, seq=None):
    e = struct.pack("!BBHHH4s4s4sHH", 0, proto, cport, vport, dport, socket.inet_aton(caddr),
                    socket.inet_aton(vaddr), socket.inet_aton(daddr), flags, state)
    if seq is not None:
        e += struct.pack("!6I", *seq)
    return e


def v0_message(entries, syncid=7, nr=None, size=None):
    body = b"".join(entries)
    return struct.pack("!BBH", len(entries) if nr is None else nr, syncid,
                       V0_HDR + len(body) if size is None else size) + body


VIP, RS1, RS2 = "10.0.0.100", "172.16.1.2", "172.16.2.2"
VIP6, RS6 = "2001:db8::100", "2001:db8:1::2"
TCP, UDP = 6, 17
EST, CLOSE_WAIT = 1, 7
SEQ = (1000, 10, 5, 2000, 20, 15)


def cl(k, n):
    """The client of crafted kind K's entry N: 10.0.7.K:30000+K*10+N."""
    return f"10.0.7.{k}", 30000 + k * 10 + n


def tcp80(k, n, rs=RS1, **kw):
    c, p = cl(k, n)
    return v1_entry(TCP, c, p, VIP, 80, rs, 80, timeout=kw.pop("timeout", 900), **kw)


def udp53(k, n, rs=RS1, **kw):
    c, p = cl(k, n)
    return v1_entry(UDP, c, p, VIP, 53, rs, 53, state=kw.pop("state", 0), timeout=kw.pop("timeout", 300), **kw)


def craft(kind, sid):
    """[(datagram, comment)] of KIND (see KINDS)."""
    if kind == "short":
        return [(bytes([0, sid, 0]), "3 bytes")]
    if kind == "size":
        good = v1_message([tcp80(2, 1)], sid)
        return [(v1_message([tcp80(2, 1)], sid, size=len(good) + 4), "size field 4 more than sent"),
                (v1_message([tcp80(2, 2)], sid, size=len(good) - 4), "size field 4 less than sent")]
    if kind == "syncid":
        return [(v1_message([tcp80(3, 1)], (sid + 1) & 0xFF), f"syncid {(sid + 1) & 0xFF}"),
                (v1_message([tcp80(3, 2)], 0), "syncid 0")]
    if kind == "mandopt":
        return [(v1_message([tcp80(4, 1, opts=bytes([5, 2, 0xAB, 0xCD])), tcp80(4, 2),
                             tcp80(4, 3, opts=bytes([5 | OPT_F_PARAM, 2, 0xAB, 0xCD]))], sid),
                 "unknown mandatory option 5 (skipped), a plain entry, unknown optional option 5 (applied)")]
    if kind == "overrun":
        bad = tcp80(5, 2, size=200)
        return [(v1_message([tcp80(5, 1), bad], sid), "good entry, then one whose size (200) runs past the end")]
    if kind == "version":
        return [(v1_message([tcp80(6, 1), tcp80(6, 2, ver=1), tcp80(6, 3)], sid),
                 "good, version nibble 1 (fatal), good (dropped)")]
    if kind == "seqlen":
        c, p = cl(7, 2)
        badseq = v1_entry(TCP, c, p, VIP, 80, RS1, 80, flags=F_SEQ_MASK, timeout=900,
                          opts=bytes([OPT_SEQ_DATA, 20]) + bytes(20))
        return [(v1_message([tcp80(7, 1, flags=F_SEQ_MASK, seq=SEQ), badseq, tcp80(7, 3)], sid),
                 "good with seq option, seq option of length 20 (fatal), good (dropped)")]
    if kind == "onepacket":
        return [(v1_message([udp53(8, 1, flags=F_ONE_PACKET | F_INACTIVE), udp53(8, 2, flags=F_INACTIVE)], sid),
                 "ONE_PACKET (skipped), good")]
    if kind == "proto":
        c1, p1 = cl(9, 1)
        c2, p2 = cl(9, 2)
        return [(v1_message([v1_entry(47, c1, p1, VIP, 80, RS1, 80, timeout=300),
                             v1_entry(132, c2, p2, VIP, 80, RS1, 80, state=99, timeout=300),
                             tcp80(9, 3)], sid),
                 "protocol 47 (skipped), SCTP in state 99 (skipped), good")]
    if kind == "state":
        c, _ = cl(10, 0)
        return [(v1_message([tcp80(10, 1, state=99), udp53(10, 2, state=1),
                             v1_entry(TCP, c, 0, VIP, 8080, RS1, 8080, state=2,
                                      flags=F_TEMPLATE | F_INACTIVE, timeout=60),
                             tcp80(10, 4)], sid),
                 "TCP state 99, UDP state 1, template state 2 (each skipped), good")]
    if kind == "v0":
        c, p = cl(11, 0)
        return [(v0_message([v0_entry(UDP, c, p + 1, VIP, 53, RS1, 53, state=0, flags=F_INACTIVE),
                             v0_entry(TCP, c, p + 2, VIP, 80, RS1, 80, state=EST),
                             v0_entry(TCP, c, p + 3, VIP, 80, RS2, 80, state=EST, flags=F_SEQ_MASK, seq=SEQ),
                             v0_entry(TCP, c, 0, VIP, 8080, RS1, 8080, state=0,
                                      flags=F_TEMPLATE | F_INACTIVE)], sid),
                 "UDP, TCP, TCP with seq options, template (all applied, timeouts from the tables)"),
                (v0_message([v0_entry(TCP, c, p + 5, VIP, 80, RS1, 80),
                             v0_entry(TCP, c, p + 6, VIP, 80, RS1, 80, flags=F_SEQ_MASK)], sid),
                 "good, then seq flags without room for the options (fatal)")]
    if kind == "ipv6":
        return [(v1_message([v1_entry(TCP, "2001:db8:7::12", 30121, VIP6, 80, RS6, 80, timeout=900),
                             v1_entry(UDP, "2001:db8:7::12", 30122, VIP6, 53, RS6, 53, state=0,
                                      flags=F_INACTIVE, timeout=300)], sid),
                 "IPv6 TCP (to an IPv6 service) and UDP (no such service: unbound)")]
    if kind == "mixed":
        c, p = cl(13, 4)
        return [(v1_message([tcp80(13, 1), tcp80(13, 2, flags=F_ONE_PACKET), tcp80(13, 3),
                             v1_entry(TCP, c, p, VIP, 80, RS1, 80, typ=2, timeout=900), tcp80(13, 5)], sid),
                 "good, ONE_PACKET (skipped), good, type 2 (fatal), good (dropped)")]
    if kind == "update":
        return [(v1_message([tcp80(14, 1), tcp80(14, 2)], sid), "two established entries to RS1"),
                # Ten minutes: it must still be there, inactive, when the half lists the
                # service's counters, however slow the guest (a KASAN kernel takes minutes).
                (v1_message([tcp80(14, 1, state=CLOSE_WAIT, flags=F_INACTIVE, timeout=600)], sid),
                 "first: now CLOSE_WAIT and inactive")]
    if kind == "replace":
        return [(v1_message([tcp80(14, 2, rs=RS2)], sid),
                 "update's second entry, now to RS2 (the one to RS1 expires)"),
                (v1_message([tcp80(14, 2, state=CLOSE_WAIT, flags=F_INACTIVE, timeout=60)], sid),
                 "inactive, to RS1 again: the expiry of the replaced one (ignored)"),
                (v1_message([v1_entry(UDP, "10.0.9.7", 9997, VIP, 9999, RS1, 9999, state=0,
                                      flags=F_INACTIVE, timeout=300)], sid),
                 "a marker after them: UDP 10.0.9.7:9997 > VIP:9999")]
    if kind == "nodest":
        c, p = cl(15, 1)
        return [(v1_message([v1_entry(TCP, c, p, VIP, 80, "172.16.9.9", 80, timeout=900),
                             v1_entry(TCP, c, p + 1, "10.0.0.99", 80, RS1, 80, timeout=900)], sid),
                 "no such real server, no such service (both unbound)")]
    if kind == "fwmark":
        c, p = cl(16, 1)
        return [(v1_message([v1_entry(TCP, c, p, "10.0.5.1", 80, RS1, 80, flags=F_DROUTE,
                                      fwmark=5, timeout=900)], sid),
                 "a firewall-mark service's connection (DR, mark 5)")]
    if kind == "nocport":
        c, _ = cl(17, 0)
        return [(v1_message([v1_entry(TCP, c, 0, VIP, 8080, RS1, 8080, state=0,
                                      flags=F_TEMPLATE | F_NO_CPORT | F_INACTIVE, timeout=60),
                             v1_entry(UDP, c, 0, VIP, 53, RS2, 53, state=0,
                                      flags=F_NO_CPORT | F_INACTIVE, timeout=300)], sid),
                 "template with NO_CPORT (skipped), connection with NO_CPORT (applied)")]
    if kind == "spare":
        return [(v1_message([tcp80(18, 1)], sid, spare=1), "v1 header with spare 1: read as v0, nr_conns 0"),
                (v1_message([tcp80(18, 2)], sid, reserved=1, size=None), "v1 header with reserved 1: read as v0 with 1 entry (of protocol 1: skipped)")]
    if kind == "template":
        c, _ = cl(19, 0)
        return [(v1_message([v1_entry(TCP, c, 0, VIP, 8080, RS2, 8080, state=1,
                                      flags=F_TEMPLATE | F_INACTIVE, timeout=60),
                             v1_entry(UDP, c, 0, VIP, 5353, RS1, 5353, state=0,
                                      flags=F_TEMPLATE | F_INACTIVE, timeout=120)], sid),
                 "an assured TCP template and a UDP template of 120 s")]
    if kind == "sctp":
        c, p = cl(20, 1)
        return [(v1_message([v1_entry(132, c, p, VIP, 80, RS1, 80, state=8, timeout=900)], sid),
                 "an established SCTP entry (stock applies it when it has SCTP)")]
    if kind == "bind":
        c, p = cl(15, 1)
        return [(v1_message([v1_entry(TCP, c, p, VIP, 80, "172.16.9.9", 80, timeout=900)], sid),
                 "an update of nodest's unbound entry (sent once its dest exists: bound to it)")]
    if kind == "marker2":
        return [(v1_message([v1_entry(UDP, "10.0.9.8", 9998, VIP, 9999, RS1, 9999, state=0,
                                      flags=F_INACTIVE, timeout=300)], sid),
                 "sent after a fuzz burst: UDP 10.0.9.8:9998 > VIP:9999")]
    if kind == "marker":
        return [(v1_message([v1_entry(UDP, "10.0.9.9", 9999, VIP, 9999, RS1, 9999, state=0,
                                      flags=F_INACTIVE, timeout=300)], sid),
                 "the last message: UDP 10.0.9.9:9999 > VIP:9999")]
    die(f"craft: unknown kind {kind}")


# The kinds of "all", in order (sctp is left out: stock applies an SCTP entry when its SCTP
# support is built, so what a backup does with it depends on the kernel's configuration).
KINDS = ["short", "size", "syncid", "mandopt", "overrun", "version", "seqlen", "onepacket",
         "proto", "state", "v0", "ipv6", "mixed", "update", "nodest", "fwmark", "nocport",
         "spare", "template", "marker"]


def cmd_craft(args):
    if args == ["--list"]:
        for kind in KINDS + ["sctp", "replace"]:
            for _, comment in craft(kind, 7):
                print(f"{kind}: {comment}")
        return
    o, kinds = options(args, {"out": None, "syncid": 7})
    if not o["out"] or not kinds:
        die("craft --out FILE [--syncid N] KIND...|all")
    if kinds == ["all"]:
        kinds = KINDS
    with open(o["out"], "w") as f:
        for kind in kinds:
            for d, comment in craft(kind, int(o["syncid"])):
                f.write(f"# {kind}: {comment}\n{d.hex()}\n")


# ---------------------------------------------------------------- fuzzing
# The second marker (craft "marker2"): sent after a fuzz burst, applied only by a backup that
# still reads its socket. Fuzzed datagrams never carry its client (10.0.9.8, port 9998).
MARKER2_CLIENT = socket.inet_aton("10.0.9.8") + struct.pack("!H", 9998)


def mutate(rng, d, corpus):
    """One datagram made from D: byte flips, a header or entry field set to an edge value,
    a cut, an extension, a splice with another datagram, or random bytes."""
    how = rng.randrange(8)
    b = bytearray(d)
    if how == 0 or not b:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 3, 4, 7, 8, 12, 44, rng.randrange(1500)])))
    if how == 1:
        for _ in range(rng.randrange(1, 9)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif how == 2:
        # a 16-bit field of the header or of the first entries (counts, sizes, ver_size,
        # flags, state, option type and length) set to an edge value
        off = rng.choice([0, 2, 4, 6, 8, 10, 12, 14, 44, 46, 48, 80, 82]) + rng.choice([0, 0, 1])
        if off + 2 <= len(b):
            b[off:off + 2] = struct.pack("!H", rng.choice([0, 1, 2, 0x7F, 0x80, 0xFF, 0x0FFF, 0x1000,
                                                            0x8000, 0xFFFF, len(b), len(b) + 4]))
    elif how == 3:
        del b[rng.randrange(len(b) + 1):]
    elif how == 4:
        b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    elif how == 5:
        o = rng.choice(corpus)
        b = b[:rng.randrange(len(b) + 1)] + o[rng.randrange(len(o) + 1):]
    elif how == 6:
        # the header's count and size kept true to the bytes, the bytes after them random
        if len(b) >= V1_HDR:
            p = rng.randrange(V1_HDR, len(b) + 1)
            b[p:] = bytes(rng.randrange(256) for _ in range(len(b) - p))
    else:
        # the size field made to match whatever the other mutations left
        b = bytearray(mutate(rng, d, corpus))
        if len(b) >= 4:
            b[2:4] = struct.pack("!H", len(b) & 0xFFFF)
    return bytes(b)


def cmd_fuzz(args):
    o, rest = options(args, {"file": [], "out": None, "count": 2000, "seed": 1})
    if rest or not o["file"] or not o["out"]:
        die("fuzz --file FILE... --out FILE [--count N] [--seed S]")
    rng = random.Random(int(o["seed"]))
    corpus = [d for path in o["file"] for _, d in read_hex(path) if d]
    if not corpus:
        die("fuzz: no datagram to start from")
    n = 0
    with open(o["out"], "w") as f:
        while n < int(o["count"]):
            d = mutate(rng, rng.choice(corpus), corpus)
            if MARKER2_CLIENT in d or not d or len(d) > 65507:
                continue
            f.write(d.hex() + "\n")
            n += 1
    print(f"wrote {n} fuzzed datagrams")


def main():
    if len(sys.argv) < 2:
        die("usage: capture|decode|replay|craft|fuzz ... (see the docstring)")
    cmd, args = sys.argv[1], sys.argv[2:]
    handlers = {"capture": cmd_capture, "decode": cmd_decode, "replay": cmd_replay, "craft": cmd_craft,
                "fuzz": cmd_fuzz}
    if cmd not in handlers:
        die(f"unknown command {cmd}")
    handlers[cmd](args)


if __name__ == "__main__":
    main()
