#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Minimal generic netlink client for the "IPVS" family (stdlib only).

Sends a fixed table of well-formed and malformed requests to whichever module
currently owns the "IPVS" genl family (stock ip_vs.ko or ipvs_rs.ko) and prints
one line per case, `case-name: <result>`, so that two runs can be diffed.

Nothing printed may depend on run-specific values (family id, port id, ...).

usage: genl_client.py [--extack] [--set NAME] [--list] [--only CASE...]
  --extack   enable NETLINK_EXT_ACK and print the extended-ack TLVs too
  --set S    case set: "full" (default) or "unpriv" (the subset run without
             CAP_NET_ADMIN by t_eperm.sh)
  --list     print the case names only
  --only     run only the named cases
"""

import errno
import hashlib
import os
import select
import socket
import struct
import sys

# ---------------------------------------------------------------- constants
NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF

GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_CMD_GETPOLICY = 10
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_VERSION = 3
CTRL_ATTR_HDRSIZE = 4
CTRL_ATTR_MAXATTR = 5
CTRL_ATTR_OPS = 6
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_OP_ID = 1
CTRL_ATTR_OP_FLAGS = 2

NLMSGERR_NAMES = {1: "msg", 2: "offs", 3: "cookie", 4: "policy", 5: "miss_type", 6: "miss_nest"}

# IPVS uapi
IPVS_GENL_VERSION = 1
(CMD_UNSPEC, NEW_SERVICE, SET_SERVICE, DEL_SERVICE, GET_SERVICE, NEW_DEST, SET_DEST,
 DEL_DEST, GET_DEST, NEW_DAEMON, DEL_DAEMON, GET_DAEMON, SET_CONFIG, GET_CONFIG,
 SET_INFO, GET_INFO, ZERO, FLUSH) = range(18)
CMD_ATTR_SERVICE, CMD_ATTR_DEST, CMD_ATTR_DAEMON = 1, 2, 3
CMD_ATTR_TIMEOUT_TCP, CMD_ATTR_TIMEOUT_TCP_FIN, CMD_ATTR_TIMEOUT_UDP = 4, 5, 6
(SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT, SVC_FWMARK, SVC_SCHED_NAME, SVC_FLAGS,
 SVC_TIMEOUT, SVC_NETMASK, SVC_STATS, SVC_PE_NAME, SVC_STATS64) = range(1, 13)
(DEST_ADDR, DEST_PORT, DEST_FWD_METHOD, DEST_WEIGHT, DEST_U_THRESH, DEST_L_THRESH,
 DEST_ACTIVE_CONNS, DEST_INACT_CONNS, DEST_PERSIST_CONNS, DEST_STATS, DEST_ADDR_FAMILY,
 DEST_STATS64, DEST_TUN_TYPE, DEST_TUN_PORT, DEST_TUN_FLAGS) = range(1, 16)
(DAEMON_STATE, DAEMON_MCAST_IFN, DAEMON_SYNC_ID, DAEMON_SYNC_MAXLEN, DAEMON_MCAST_GROUP,
 DAEMON_MCAST_GROUP6, DAEMON_MCAST_PORT, DAEMON_MCAST_TTL) = range(1, 9)
AF_INET, AF_INET6 = 2, 10
IPPROTO_TCP, IPPROTO_UDP = 6, 17

TIMEOUT_S = 2.0


# ---------------------------------------------------------------- encoding
def align4(n):
    return (n + 3) & ~3


def nla(atype, payload=b"", length=None):
    """One attribute; `length` overrides nla_len (for malformed cases)."""
    if length is None:
        length = 4 + len(payload)
    raw = struct.pack("=HH", length & 0xFFFF, atype & 0xFFFF) + payload
    return raw + b"\0" * (align4(len(raw)) - len(raw))


def u8(t, v):
    return nla(t, struct.pack("=B", v))


def u16(t, v):
    return nla(t, struct.pack("=H", v))


def be16(t, v):
    return nla(t, struct.pack("!H", v))


def u32(t, v):
    return nla(t, struct.pack("=I", v & 0xFFFFFFFF))


def be32(t, v):
    return nla(t, struct.pack("!I", v))


def strz(t, s):
    return nla(t, s.encode() + b"\0")


def nest(t, *children, flag=True):
    return nla(t | (NLA_F_NESTED if flag else 0), b"".join(children))


def ip4(t, a):
    return nla(t, socket.inet_pton(socket.AF_INET, a))


def ip6(t, a):
    return nla(t, socket.inet_pton(socket.AF_INET6, a))


def genlhdr(cmd, version=IPVS_GENL_VERSION, reserved=0):
    return struct.pack("=BBH", cmd, version, reserved)


def parse_attrs(buf):
    """List of (type, payload) from an attribute stream (stops at malformed)."""
    out = []
    off = 0
    while off + 4 <= len(buf):
        ln, ty = struct.unpack_from("=HH", buf, off)
        if ln < 4 or off + ln > len(buf):
            break
        out.append((ty, buf[off + 4:off + ln]))
        off += align4(ln)
    return out


ERRNAMES = dict(errno.errorcode)
ERRNAMES[errno.EOPNOTSUPP] = "EOPNOTSUPP"  # the kernel's name; Python prefers ENOTSUP


def errname(e):
    if e == 0:
        return "ok"
    return "%s(%d)" % (ERRNAMES.get(-e, "E?"), e)


# ---------------------------------------------------------------- socket
class Genl:
    def __init__(self, extack=False):
        self.extack = extack
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        # Keep error acks small and their layout fixed: original header only.
        self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        if extack:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.sock.bind((0, 0))
        self.sock.settimeout(TIMEOUT_S)
        self.seq = 1000
        self.family = None

    def send_raw(self, data):
        self.sock.send(data)

    def msg(self, ntype, flags, body, seq, nlmsg_len=None):
        ln = 16 + len(body) if nlmsg_len is None else nlmsg_len
        return struct.pack("=IHHII", ln, ntype, flags, seq, 0) + body

    def next_seq(self):
        self.seq += 1
        return self.seq

    def recv_msgs(self, timeout=TIMEOUT_S):
        """One datagram, split into (type, flags, seq, payload). None on timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return None
        out = []
        off = 0
        while off + 16 <= len(data):
            ln, ty, fl, sq, _pid = struct.unpack_from("=IHHII", data, off)
            if ln < 16 or off + ln > len(data):
                out.append((-1, 0, 0, data[off:]))
                break
            out.append((ty, fl, sq, data[off + 16:off + ln]))
            off += align4(ln)
        return out

    def fmt_ack(self, flags, payload):
        err = struct.unpack_from("=i", payload, 0)[0] if len(payload) >= 4 else None
        if err is None:
            return "short-ack(len=%d)" % len(payload)
        s = errname(err)
        extra = []
        # With NETLINK_CAP_ACK the echoed request is its header only (16 bytes),
        # unless the kernel did not cap (success acks are never capped).
        if flags & 0x100 or err == 0:
            tlv_off = 4 + 16
        else:
            if len(payload) >= 20:
                olen = struct.unpack_from("=I", payload, 4)[0]
                tlv_off = 4 + align4(olen)
            else:
                tlv_off = len(payload)
        if flags & ~0x100:
            extra.append("flags=0x%x" % flags)
        if self.extack and (flags & 0x200):
            for ty, val in parse_attrs(payload[tlv_off:]):
                ty &= NLA_TYPE_MASK
                name = NLMSGERR_NAMES.get(ty, str(ty))
                if ty == 1:
                    extra.append("%s=%r" % (name, val.rstrip(b"\0").decode(errors="replace")))
                elif len(val) == 4:
                    extra.append("%s=%d" % (name, struct.unpack("=I", val)[0]))
                else:
                    extra.append("%s=%s" % (name, val.hex()))
        return s + ("" if not extra else " [" + " ".join(extra) + "]")

    def transact(self, ntype, flags, body, nlmsg_len=None, expect_ack=True, fmt_reply=None):
        """Send one request and describe everything that comes back for its seq."""
        self.drain()
        seq = self.next_seq()
        try:
            self.send_raw(self.msg(ntype, flags, body, seq, nlmsg_len))
        except OSError as e:
            return "send-error %s" % errno.errorcode.get(e.errno, str(e.errno))
        parts = []
        nmulti = 0
        multi_desc = []
        while True:
            msgs = self.recv_msgs()
            if msgs is None:
                parts.append("timeout")
                break
            done = False
            for ty, fl, sq, pl in msgs:
                if sq != seq:
                    continue  # a late message of an earlier case: ignore
                if ty == NLMSG_ERROR:
                    parts.append("ack=" + self.fmt_ack(fl, pl))
                    done = True
                elif ty == NLMSG_DONE:
                    derr = struct.unpack_from("=i", pl, 0)[0] if len(pl) >= 4 else None
                    d = "done=%s" % ("?" if derr is None else errname(derr))
                    if fl != NLM_F_MULTI:
                        d += " done_flags=0x%x" % fl
                    if self.extack and len(pl) > 4:
                        d += " done_tlvs=%s" % pl[4:].hex()
                    parts.append("dump msgs=%d%s %s" % (
                        nmulti, "" if not multi_desc else " [" + ",".join(multi_desc) + "]", d))
                    done = True
                elif ty == -1:
                    parts.append("garbled(%s)" % pl.hex())
                    done = True
                else:
                    if fl & NLM_F_MULTI:
                        nmulti += 1
                        multi_desc.append(describe_genl(pl, fmt_reply))
                    else:
                        parts.append("reply(type=%s flags=0x%x)%s" % (
                            "fam" if ty == self.family else str(ty), fl,
                            describe_genl(pl, fmt_reply)))
                        if not expect_ack:
                            done = True
            if done:
                break
        extra = self.drain(collect=True)
        if extra:
            parts.append("+extra[%s]" % ";".join(extra))
        return " ".join(parts)

    def drain(self, collect=False):
        """Read whatever is still queued; describe messages of the current seq.
        The kernel queues a request's answers synchronously (doit: in sendmsg;
        dump: in the recvmsg that produced NLMSG_DONE), so anything sent after
        the terminal message is already queued when we get here."""
        seen = []
        while True:
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                return seen
            msgs = self.recv_msgs(timeout=0.5) or []
            for ty, fl, sq, pl in msgs:
                if collect and sq == self.seq:
                    seen.append("type=%d flags=0x%x len=%d" % (ty, fl, len(pl)))

    # ---- ctrl
    def resolve(self, name="IPVS"):
        body = genlhdr(CTRL_CMD_GETFAMILY, 1) + strz(CTRL_ATTR_FAMILY_NAME, name)
        seq = self.next_seq()
        self.send_raw(self.msg(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, body, seq))
        info = None
        while True:
            msgs = self.recv_msgs()
            if msgs is None:
                raise SystemExit("genl_client: timeout resolving family %s" % name)
            for ty, fl, sq, pl in msgs:
                if sq != seq:
                    continue
                if ty == NLMSG_ERROR:
                    err = struct.unpack_from("=i", pl, 0)[0]
                    if err != 0:
                        raise SystemExit("genl_client: cannot resolve family %s: %s" % (
                            name, errname(err)))
                    if info is None:
                        raise SystemExit("genl_client: no family reply")
                    return info
                if ty == GENL_ID_CTRL:
                    info = dict()
                    ops = []
                    for at, val in parse_attrs(pl[4:]):
                        at &= NLA_TYPE_MASK
                        if at == CTRL_ATTR_FAMILY_ID:
                            self.family = struct.unpack("=H", val[:2])[0]
                        elif at == CTRL_ATTR_FAMILY_NAME:
                            info["name"] = val.rstrip(b"\0").decode()
                        elif at in (CTRL_ATTR_VERSION, CTRL_ATTR_HDRSIZE, CTRL_ATTR_MAXATTR):
                            key = {3: "version", 4: "hdrsize", 5: "maxattr"}[at]
                            info[key] = struct.unpack("=I", val[:4])[0]
                        elif at == CTRL_ATTR_OPS:
                            for _idx, opv in parse_attrs(val):
                                op = dict((t & NLA_TYPE_MASK, v) for t, v in parse_attrs(opv))
                                oid = struct.unpack("=I", op.get(CTRL_ATTR_OP_ID, b"\xff\xff\xff\xff")[:4])[0]
                                ofl = struct.unpack("=I", op.get(CTRL_ATTR_OP_FLAGS, b"\0\0\0\0")[:4])[0]
                                ops.append("%d:0x%x" % (oid, ofl))
                        elif at == CTRL_ATTR_MCAST_GROUPS:
                            info["mcast"] = val.hex()
                        else:
                            info["attr%d" % at] = val.hex()
                    info["ops"] = ",".join(ops)

    def policy_dump(self, name="IPVS"):
        """CTRL_CMD_GETPOLICY dump: message count and a digest of the content
        (family id attributes removed: the id is allocated at load time)."""
        body = genlhdr(CTRL_CMD_GETPOLICY, 1) + strz(CTRL_ATTR_FAMILY_NAME, name)
        self.drain()
        seq = self.next_seq()
        self.send_raw(self.msg(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK, body, seq))
        h = hashlib.sha256()
        n = 0
        while True:
            msgs = self.recv_msgs()
            if msgs is None:
                return "timeout"
            for ty, fl, sq, pl in msgs:
                if sq != seq:
                    continue
                if ty == NLMSG_ERROR:
                    return "ack=" + self.fmt_ack(fl, pl)
                if ty == NLMSG_DONE:
                    err = struct.unpack_from("=i", pl, 0)[0]
                    return "dump msgs=%d sha=%s done=%s" % (n, h.hexdigest()[:16], errname(err))
                n += 1
                h.update(pl[:4])
                for at, val in parse_attrs(pl[4:]):
                    if (at & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID:
                        continue
                    h.update(struct.pack("=HH", len(val), at) + val)


def describe_genl(pl, fmt_reply=None):
    if len(pl) < 4:
        return "{short-genl %s}" % pl.hex()
    cmd, ver, res = struct.unpack_from("=BBH", pl, 0)
    attrs = parse_attrs(pl[4:])
    s = "{cmd=%d ver=%d%s" % (cmd, ver, "" if res == 0 else " res=%d" % res)
    for ty, val in attrs:
        s += " %d%s=%s" % (ty & NLA_TYPE_MASK, "N" if ty & NLA_F_NESTED else "", val.hex())
    return s + "}"


# ---------------------------------------------------------------- the cases
# Service identifications that never exist (the tables are empty).
SVC_FWM = [u16(SVC_AF, AF_INET), u32(SVC_FWMARK, 4242)]
SVC_TCP = [u16(SVC_AF, AF_INET), u16(SVC_PROTOCOL, IPPROTO_TCP),
           ip4(SVC_ADDR, "10.0.0.1"), be16(SVC_PORT, 80)]
SVC_FULL_TAIL = [strz(SVC_SCHED_NAME, "rr"), nla(SVC_FLAGS, struct.pack("=II", 0, 0)),
                 u32(SVC_TIMEOUT, 0), be32(SVC_NETMASK, 0xFFFFFFFF)]
DEST_FULL = [ip4(DEST_ADDR, "10.0.0.2"), be16(DEST_PORT, 80), u32(DEST_FWD_METHOD, 0),
             u32(DEST_WEIGHT, 1), u32(DEST_U_THRESH, 0), u32(DEST_L_THRESH, 0)]
DEST_ID = [ip4(DEST_ADDR, "10.0.0.2"), be16(DEST_PORT, 80)]
# IPv6 (the cases that create these flush them again): a TCP service and a firewall-mark one.
SVC6_TCP = [u16(SVC_AF, AF_INET6), u16(SVC_PROTOCOL, IPPROTO_TCP),
            ip6(SVC_ADDR, "2001:db8::100"), be16(SVC_PORT, 80)]
SVC6_FWM = [u16(SVC_AF, AF_INET6), u32(SVC_FWMARK, 7)]
IP_VS_SVC_F_PERSISTENT = 0x1
FWD_MASQ, FWD_TUNNEL, FWD_DROUTE = 0, 2, 3


def svc6_tail(netmask, persistent=True):
    """Scheduler rr, flags (persistent or not, all bits in the mask), timeout 300 and NETMASK
    (for IPv6 a prefix length, sent as ipvsadm sends it: a u32 in host order)."""
    flags = IP_VS_SVC_F_PERSISTENT if persistent else 0
    return [strz(SVC_SCHED_NAME, "rr"), nla(SVC_FLAGS, struct.pack("=II", flags, 0xFFFFFFFF)),
            u32(SVC_TIMEOUT, 300), u32(SVC_NETMASK, netmask)]


def dest6(addr, fwd, af=None, port=80):
    """A full dest: ADDR (IPv6 if it has a colon, else IPv4), FWD method, ADDR_FAMILY AF if given."""
    a = ip6(DEST_ADDR, addr) if ":" in addr else ip4(DEST_ADDR, addr)
    fam = [] if af is None else [u16(DEST_ADDR_FAMILY, af)]
    return dest(a, be16(DEST_PORT, port), u32(DEST_FWD_METHOD, fwd), u32(DEST_WEIGHT, 1),
                u32(DEST_U_THRESH, 0), u32(DEST_L_THRESH, 0), *fam)


def svc(*children):
    return nest(CMD_ATTR_SERVICE, *children)


def dest(*children):
    return nest(CMD_ATTR_DEST, *children)


def daemon(*children):
    return nest(CMD_ATTR_DAEMON, *children)


def timeouts(tcp=None, fin=None, udp=None):
    out = b""
    if tcp is not None:
        out += u32(CMD_ATTR_TIMEOUT_TCP, tcp)
    if fin is not None:
        out += u32(CMD_ATTR_TIMEOUT_TCP_FIN, fin)
    if udp is not None:
        out += u32(CMD_ATTR_TIMEOUT_UDP, udp)
    return out


def build_cases():
    """(name, kind, args). kind: 'do' / 'dump' (cmd, attrs bytes, opts) or 'raw'."""
    C = []

    def do(name, cmd, *attrs, **kw):
        C.append((name, "do", (cmd, b"".join(attrs), kw)))

    def dump(name, cmd, *attrs, **kw):
        C.append((name, "dump", (cmd, b"".join(attrs), kw)))

    getcfg = lambda name: do(name, GET_CONFIG)

    # every command number, doit and dump, no attributes. NEW_SERVICE/NEW_DAEMON
    # without attributes fail validation (EINVAL) on stock before any creation.
    for c in range(0, 21):
        do("cmd-%d-do" % c, c)
    for c in range(0, 21):
        dump("cmd-%d-dump" % c, c)

    # genl header oddities
    do("genl-version-0-getinfo", GET_INFO, version=0)
    do("genl-version-255-getcfg", GET_CONFIG, version=255)
    do("genl-reserved-nonzero-getcfg", GET_CONFIG, reserved=0xBEEF)
    # resv_start_op (FLUSH + 1): from cmd 18 on, reserved and odd flags are refused
    do("genl-reserved-nonzero-flush", FLUSH, reserved=1)
    do("genl-reserved-nonzero-cmd18", 18, reserved=1)
    dump("genl-reserved-nonzero-cmd18-dump", 18, reserved=1)
    do("nlflag-replace-getcfg", GET_CONFIG, nlflags=0x100)
    do("nlflag-replace-cmd18", 18, nlflags=0x100)
    do("nlflag-root-only-getsvc", GET_SERVICE, nlflags=0x100)
    do("nlflag-match-only-getdest", GET_DEST, nlflags=0x200)
    do("nlflag-no-ack-getcfg", GET_CONFIG, noack=True)
    C.append(("genl-hdr-truncated-2", "raw", ("trunc", 2)))
    C.append(("genl-hdr-truncated-0", "raw", ("trunc", 0)))
    C.append(("nlmsg-len-below-header", "raw", ("nlmsglen", 8)))

    # top-level attribute policy (family policy: checked by genetlink)
    do("setcfg-tcp-len2", SET_CONFIG, nla(CMD_ATTR_TIMEOUT_TCP, b"\x01\x02"))
    do("setcfg-tcp-len0", SET_CONFIG, nla(CMD_ATTR_TIMEOUT_TCP, b""))
    do("setcfg-udp-len3", SET_CONFIG, nla(CMD_ATTR_TIMEOUT_UDP, b"\x01\x02\x03"))
    do("setcfg-tcp-len8", SET_CONFIG, nla(CMD_ATTR_TIMEOUT_TCP, struct.pack("=II", 77, 99)))
    getcfg("getcfg-after-len8")
    do("setcfg-nla-len-lt4", SET_CONFIG, struct.pack("=HH", 2, CMD_ATTR_TIMEOUT_TCP) + b"\0" * 8)
    do("setcfg-nla-len-gt-remaining", SET_CONFIG,
       struct.pack("=HHI", 200, CMD_ATTR_TIMEOUT_TCP, 555))
    do("setcfg-trailing-garbage", SET_CONFIG, u32(CMD_ATTR_TIMEOUT_TCP_FIN, 88) + b"\xde\xad\xbe")
    getcfg("getcfg-after-garbage")
    do("setcfg-u32-with-nested-flag", SET_CONFIG, nla(CMD_ATTR_TIMEOUT_UDP | NLA_F_NESTED, struct.pack("=I", 66)))
    do("setcfg-u32-with-byteorder-flag", SET_CONFIG, nla(CMD_ATTR_TIMEOUT_TCP | NLA_F_NET_BYTEORDER, struct.pack("=I", 65)))
    getcfg("getcfg-after-flags")
    do("setcfg-unknown-attr-type", SET_CONFIG, u32(7, 1), u32(0, 2), u32(200, 3))
    do("setcfg-huge-all", SET_CONFIG, timeouts(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
    do("setcfg-huge-udp-only", SET_CONFIG, timeouts(udp=0x80000000))
    do("setcfg-intmax-hz-plus1", SET_CONFIG, timeouts(tcp=2147484))
    do("setcfg-fin-neg", SET_CONFIG, timeouts(fin=0xFFFFFFFF))
    getcfg("getcfg-after-huge")
    do("setcfg-intmax-hz", SET_CONFIG, timeouts(2147483, 2147483, 2147483))
    getcfg("getcfg-after-intmax")
    do("setcfg-zeros", SET_CONFIG, timeouts(0, 0, 0))
    getcfg("getcfg-after-zeros")
    do("setcfg-restore", SET_CONFIG, timeouts(900, 120, 300))
    getcfg("getcfg-restored")
    do("getcfg-with-garbage-attrs", GET_CONFIG, svc(b"\xff" * 7), nla(CMD_ATTR_TIMEOUT_TCP, b"\x01"))
    do("getinfo-with-bad-attr", GET_INFO, nla(CMD_ATTR_TIMEOUT_UDP, b"\x01"))

    # SERVICE nested attribute
    dump("getsvc-dump-empty-nested", GET_SERVICE, svc())  # what moby sends
    dump("getsvc-dump-garbage", GET_SERVICE, svc(b"\xff" * 9))
    do("getsvc-no-attr", GET_SERVICE)
    do("getsvc-empty-nested", GET_SERVICE, svc())
    do("getsvc-nested-garbage", GET_SERVICE, nla(CMD_ATTR_SERVICE, b"\x07\x00\x01\x00\xff\xff\xff"))
    do("getsvc-nested-len2", GET_SERVICE, nla(CMD_ATTR_SERVICE, b"\x00\x00"))
    do("getsvc-af-only", GET_SERVICE, svc(u16(SVC_AF, AF_INET)))
    do("getsvc-missing-af", GET_SERVICE, svc(*SVC_TCP[1:]))
    do("getsvc-missing-port", GET_SERVICE, svc(*(SVC_TCP[:3])))
    do("getsvc-af7", GET_SERVICE, svc(u16(SVC_AF, 7), u32(SVC_FWMARK, 1)))
    do("getsvc-af0", GET_SERVICE, svc(u16(SVC_AF, 0), u32(SVC_FWMARK, 1)))
    do("getsvc-af-len1", GET_SERVICE, svc(nla(SVC_AF, b"\x02"), u32(SVC_FWMARK, 1)))
    do("getsvc-fwmark-absent", GET_SERVICE, svc(*SVC_FWM))
    do("getsvc-fwmark0-tcp-absent", GET_SERVICE, svc(u16(SVC_AF, AF_INET), u32(SVC_FWMARK, 0),
                                                    *SVC_TCP[1:]))
    do("getsvc-inet6-fwmark-absent", GET_SERVICE, svc(u16(SVC_AF, AF_INET6), u32(SVC_FWMARK, 9)))
    do("getsvc-tcp-absent", GET_SERVICE, svc(*SVC_TCP))
    do("getsvc-addr17", GET_SERVICE, svc(u16(SVC_AF, AF_INET), u16(SVC_PROTOCOL, 6),
                                         nla(SVC_ADDR, b"\x0a" * 17), be16(SVC_PORT, 80)))
    do("getsvc-addr4-short-ok", GET_SERVICE, svc(u16(SVC_AF, AF_INET6), u16(SVC_PROTOCOL, 6),
                                                 nla(SVC_ADDR, b"\x0a\0\0\x01"), be16(SVC_PORT, 80)))
    do("getsvc-flags9", GET_SERVICE, svc(*SVC_FWM, nla(SVC_FLAGS, b"\0" * 9)))
    do("getsvc-sched-no-nul", GET_SERVICE, svc(*SVC_FWM, nla(SVC_SCHED_NAME, b"rr")))
    do("getsvc-sched-too-long", GET_SERVICE, svc(*SVC_FWM, strz(SVC_SCHED_NAME, "s" * 16)))
    do("getsvc-sched-15-ok", GET_SERVICE, svc(*SVC_FWM, strz(SVC_SCHED_NAME, "s" * 15)))
    do("getsvc-pe-too-long", GET_SERVICE, svc(*SVC_FWM, strz(SVC_PE_NAME, "p" * 17)))
    do("getsvc-pe-16-ok", GET_SERVICE, svc(*SVC_FWM, strz(SVC_PE_NAME, "p" * 16)))
    do("getsvc-stats-len2", GET_SERVICE, svc(*SVC_FWM, nla(SVC_STATS, b"\0\0")))
    do("getsvc-stats64-garbage", GET_SERVICE, svc(*SVC_FWM, nla(SVC_STATS64, b"\x01")))
    do("getsvc-port-len1", GET_SERVICE, svc(u16(SVC_AF, AF_INET), u16(SVC_PROTOCOL, 6),
                                            ip4(SVC_ADDR, "10.0.0.1"), nla(SVC_PORT, b"\x50")))
    do("getsvc-unknown-inner-type", GET_SERVICE, svc(*SVC_FWM, u32(99, 1)))
    do("getsvc-inner-trailing", GET_SERVICE,
       nla(CMD_ATTR_SERVICE | NLA_F_NESTED, b"".join(SVC_FWM) + b"\x01\x02"))
    do("getsvc-not-nested-flag", GET_SERVICE, nest(CMD_ATTR_SERVICE, *SVC_FWM, flag=False))
    do("newsvc-no-attr", NEW_SERVICE)
    do("newsvc-empty-nested", NEW_SERVICE, svc())
    do("newsvc-id-only", NEW_SERVICE, svc(*SVC_FWM))
    do("newsvc-missing-netmask", NEW_SERVICE, svc(*SVC_TCP, *SVC_FULL_TAIL[:3]))
    do("newsvc-af7-full", NEW_SERVICE, svc(u16(SVC_AF, 7), u32(SVC_FWMARK, 1), *SVC_FULL_TAIL))
    do("newsvc-sched-no-nul", NEW_SERVICE, svc(*SVC_TCP, nla(SVC_SCHED_NAME, b"rr"), *SVC_FULL_TAIL[1:]))
    do("newsvc-sched-too-long", NEW_SERVICE, svc(*SVC_TCP, strz(SVC_SCHED_NAME, "x" * 16), *SVC_FULL_TAIL[1:]))
    do("newsvc-flags9", NEW_SERVICE, svc(*SVC_TCP, SVC_FULL_TAIL[0], nla(SVC_FLAGS, b"\0" * 9), *SVC_FULL_TAIL[2:]))
    do("newsvc-addr17", NEW_SERVICE, svc(u16(SVC_AF, AF_INET), u16(SVC_PROTOCOL, 6),
                                         nla(SVC_ADDR, b"\x0a" * 17), be16(SVC_PORT, 80), *SVC_FULL_TAIL))
    do("setsvc-full-absent", SET_SERVICE, svc(*SVC_TCP, *SVC_FULL_TAIL))
    do("setsvc-id-only", SET_SERVICE, svc(*SVC_TCP))
    do("setsvc-af7", SET_SERVICE, svc(u16(SVC_AF, 7), u32(SVC_FWMARK, 1), *SVC_FULL_TAIL))
    do("delsvc-absent", DEL_SERVICE, svc(*SVC_FWM))
    do("delsvc-empty-nested", DEL_SERVICE, svc())
    do("delsvc-af10-tcp-absent", DEL_SERVICE, svc(u16(SVC_AF, AF_INET6), u16(SVC_PROTOCOL, 6),
                                                  ip6(SVC_ADDR, "2001:db8::1"), be16(SVC_PORT, 443)))

    # DEST nested attribute
    do("newdest-no-svc", NEW_DEST, dest(*DEST_FULL))
    do("newdest-svc-absent", NEW_DEST, svc(*SVC_FWM), dest(*DEST_FULL))
    do("newdest-svc-absent-no-dest", NEW_DEST, svc(*SVC_FWM))
    do("newdest-svc-absent-dest-garbage", NEW_DEST, svc(*SVC_FWM), nla(CMD_ATTR_DEST, b"\xff" * 6))
    do("newdest-svc-bad-dest-ok", NEW_DEST, svc(u16(SVC_AF, 7), u32(SVC_FWMARK, 1)), dest(*DEST_FULL))
    do("setdest-svc-absent", SET_DEST, svc(*SVC_TCP), dest(*DEST_FULL))
    do("deldest-no-svc", DEL_DEST, dest(*DEST_ID))
    do("deldest-svc-absent", DEL_DEST, svc(*SVC_TCP), dest(*DEST_ID))
    do("deldest-svc-empty", DEL_DEST, svc(), dest(*DEST_ID))
    do("deldest-dest-only-empty", DEL_DEST, dest())
    dump("getdest-dump-no-svc", GET_DEST)
    dump("getdest-dump-svc-empty", GET_DEST, svc())
    dump("getdest-dump-svc-af7", GET_DEST, svc(u16(SVC_AF, 7), u32(SVC_FWMARK, 1)))
    dump("getdest-dump-svc-absent", GET_DEST, svc(*SVC_TCP))
    dump("getdest-dump-bad-toplevel", GET_DEST, nla(CMD_ATTR_TIMEOUT_TCP, b"\x01"), svc(*SVC_TCP))
    do("getdest-do-svc-absent", GET_DEST, svc(*SVC_TCP))

    # DAEMON nested attribute (no case may start a sync daemon)
    do("newdaemon-empty-nested", NEW_DAEMON, daemon())
    do("newdaemon-missing-state", NEW_DAEMON, daemon(strz(DAEMON_MCAST_IFN, "lo"), u32(DAEMON_SYNC_ID, 1)))
    do("newdaemon-missing-ifn", NEW_DAEMON, daemon(u32(DAEMON_STATE, 1), u32(DAEMON_SYNC_ID, 1)))
    do("newdaemon-missing-syncid", NEW_DAEMON, daemon(u32(DAEMON_STATE, 1), strz(DAEMON_MCAST_IFN, "lo")))
    do("newdaemon-non-mcast-group", NEW_DAEMON, daemon(u32(DAEMON_STATE, 1), strz(DAEMON_MCAST_IFN, "lo"),
                                                        u32(DAEMON_SYNC_ID, 1), ip4(DAEMON_MCAST_GROUP, "10.1.2.3")))
    do("newdaemon-non-mcast-group6", NEW_DAEMON, daemon(u32(DAEMON_STATE, 2), strz(DAEMON_MCAST_IFN, "lo"),
                                                         u32(DAEMON_SYNC_ID, 1), ip6(DAEMON_MCAST_GROUP6, "2001:db8::5")))
    do("newdaemon-group6-short", NEW_DAEMON, daemon(u32(DAEMON_STATE, 1), strz(DAEMON_MCAST_IFN, "lo"),
                                                     u32(DAEMON_SYNC_ID, 1), nla(DAEMON_MCAST_GROUP6, b"\xff\x02\0\0")))
    do("newdaemon-ifn-too-long", NEW_DAEMON, daemon(u32(DAEMON_STATE, 1), strz(DAEMON_MCAST_IFN, "i" * 16),
                                                     u32(DAEMON_SYNC_ID, 1)))
    do("newdaemon-ifn-no-nul", NEW_DAEMON, daemon(u32(DAEMON_STATE, 1), nla(DAEMON_MCAST_IFN, b"lo"),
                                                   u32(DAEMON_SYNC_ID, 1)))
    do("newdaemon-state-len2", NEW_DAEMON, daemon(nla(DAEMON_STATE, b"\x01\0"), strz(DAEMON_MCAST_IFN, "lo"),
                                                   u32(DAEMON_SYNC_ID, 1)))
    do("newdaemon-garbage", NEW_DAEMON, nla(CMD_ATTR_DAEMON, b"\x09\x00\x01\x00\xff"))
    do("deldaemon-no-attr", DEL_DAEMON)
    do("deldaemon-empty-nested", DEL_DAEMON, daemon())
    do("deldaemon-missing-state", DEL_DAEMON, daemon(u32(DAEMON_SYNC_ID, 1)))
    do("deldaemon-state0", DEL_DAEMON, daemon(u32(DAEMON_STATE, 0)))
    do("deldaemon-state1", DEL_DAEMON, daemon(u32(DAEMON_STATE, 1)))
    do("deldaemon-state2", DEL_DAEMON, daemon(u32(DAEMON_STATE, 2)))
    do("deldaemon-state3", DEL_DAEMON, daemon(u32(DAEMON_STATE, 3)))
    do("deldaemon-state-len1", DEL_DAEMON, daemon(nla(DAEMON_STATE, b"\x01")))
    do("deldaemon-not-nested-flag", DEL_DAEMON, nest(CMD_ATTR_DAEMON, u32(DAEMON_STATE, 1), flag=False))
    dump("getdaemon-dump-garbage", GET_DAEMON, nla(CMD_ATTR_DAEMON, b"\xff" * 5))

    # IPv6: prefix lengths (ip_vs_add_service and ip_vs_edit_service refuse 0 and above 128),
    # dests of the other family (only tunnels), addresses no dest may have, and what GET_SERVICE
    # and GET_DEST report (IPVS_DEST_ATTR_ADDR_FAMILY included). flush-with-attrs (below)
    # removes what these create.
    do("newsvc6-mask0", NEW_SERVICE, svc(*SVC6_TCP, *svc6_tail(0)))
    do("newsvc6-mask129", NEW_SERVICE, svc(*SVC6_TCP, *svc6_tail(129)))
    do("newsvc6-mask64", NEW_SERVICE, svc(*SVC6_TCP, *svc6_tail(64)))
    do("newsvc6-dup", NEW_SERVICE, svc(*SVC6_TCP, *svc6_tail(64)))
    do("setsvc6-mask0", SET_SERVICE, svc(*SVC6_TCP, *svc6_tail(0)))
    do("setsvc6-mask129", SET_SERVICE, svc(*SVC6_TCP, *svc6_tail(129)))
    do("setsvc6-mask128", SET_SERVICE, svc(*SVC6_TCP, *svc6_tail(128)))
    do("newsvc6-fwmark-mask0-not-persistent", NEW_SERVICE, svc(*SVC6_FWM, *svc6_tail(0, False)))
    do("newsvc6-fwmark", NEW_SERVICE, svc(*SVC6_FWM, *svc6_tail(128, False)))
    do("getsvc6", GET_SERVICE, svc(*SVC6_TCP))
    do("getsvc6-fwmark", GET_SERVICE, svc(*SVC6_FWM))
    do("getsvc6-as-inet", GET_SERVICE, svc(u16(SVC_AF, AF_INET), *SVC6_TCP[1:]))
    do("newdest6-inet-masq", NEW_DEST, svc(*SVC6_TCP), dest6("10.2.0.1", FWD_MASQ, AF_INET))
    do("newdest6-inet-droute", NEW_DEST, svc(*SVC6_TCP), dest6("10.2.0.1", FWD_DROUTE, AF_INET))
    do("newdest6-inet-tunnel", NEW_DEST, svc(*SVC6_TCP), dest6("10.2.0.1", FWD_TUNNEL, AF_INET))
    do("newdest6-af7", NEW_DEST, svc(*SVC6_TCP), dest6("2001:db8:1::2", FWD_MASQ, 7))
    do("newdest6-multicast", NEW_DEST, svc(*SVC6_TCP), dest6("ff02::1", FWD_DROUTE))
    do("newdest6-linklocal", NEW_DEST, svc(*SVC6_TCP), dest6("fe80::1", FWD_DROUTE))
    do("newdest6-unspecified", NEW_DEST, svc(*SVC6_TCP), dest6("::", FWD_DROUTE))
    do("newdest6-addr4-no-af", NEW_DEST, svc(*SVC6_TCP), dest6("10.2.0.2", FWD_MASQ))
    do("newdest6-masq", NEW_DEST, svc(*SVC6_TCP), dest6("2001:db8:1::2", FWD_MASQ, AF_INET6, 8080))
    do("newdest6-droute-no-af", NEW_DEST, svc(*SVC6_TCP), dest6("2001:db8:2::2", FWD_DROUTE))
    do("newdest6-dup", NEW_DEST, svc(*SVC6_TCP), dest6("2001:db8:2::2", FWD_DROUTE))
    do("newdest6-fwmark-tunnel", NEW_DEST, svc(*SVC6_FWM), dest6("2001:db8:2::3", FWD_TUNNEL, port=0))
    dump("getdest6-dump", GET_DEST, svc(*SVC6_TCP))
    dump("getdest6-fwmark-dump", GET_DEST, svc(*SVC6_FWM))
    do("setdest6-inet-masq", SET_DEST, svc(*SVC6_TCP), dest6("10.2.0.1", FWD_MASQ, AF_INET))
    do("deldest6-inet", DEL_DEST, svc(*SVC6_TCP), dest(ip4(DEST_ADDR, "10.2.0.1"), be16(DEST_PORT, 80),
                                                       u16(DEST_ADDR_FAMILY, AF_INET)))
    do("deldest6-inet-again", DEL_DEST, svc(*SVC6_TCP), dest(ip4(DEST_ADDR, "10.2.0.1"), be16(DEST_PORT, 80),
                                                             u16(DEST_ADDR_FAMILY, AF_INET)))
    dump("getsvc6-dump", GET_SERVICE)
    do("delsvc6-fwmark", DEL_SERVICE, svc(*SVC6_FWM))

    # ZERO / FLUSH
    do("zero-no-svc", ZERO)
    do("zero-svc-absent", ZERO, svc(*SVC_FWM))
    do("zero-svc-empty", ZERO, svc())
    do("zero-svc-af7", ZERO, svc(u16(SVC_AF, 7), u32(SVC_FWMARK, 1)))
    do("zero-svc-garbage", ZERO, nla(CMD_ATTR_SERVICE, b"\xff" * 2))
    do("flush-with-attrs", FLUSH, svc(*SVC_FWM), timeouts(1, 2, 3))
    getcfg("getcfg-after-flush")

    # very large messages
    do("huge-unknown-attrs-getcfg", GET_CONFIG, b"".join(nla(100 + (i % 50), b"\xab" * 60) for i in range(1100)))
    do("huge-single-attr-getinfo", GET_INFO, nla(50, b"\xcd" * 65000))
    do("huge-repeated-udp-setcfg", SET_CONFIG, b"".join(u32(CMD_ATTR_TIMEOUT_UDP, 1000 + i) for i in range(8000)))
    getcfg("getcfg-after-huge-msg")
    dump("huge-getsvc-dump", GET_SERVICE, b"".join(nla(100, b"\xef" * 60) for i in range(1100)))
    do("setcfg-restore-final", SET_CONFIG, timeouts(900, 120, 300))
    getcfg("getcfg-final")
    return C


def unpriv_cases():
    """Subset for t_eperm.sh: every command, doit and dump, plus a few with attrs."""
    keep = set("cmd-%d-do" % c for c in range(21)) | set("cmd-%d-dump" % c for c in range(21))
    keep |= {"setcfg-tcp-len2", "setcfg-restore", "getsvc-addr17", "newdaemon-non-mcast-group",
             "deldaemon-state1", "genl-hdr-truncated-2", "getdest-dump-svc-absent"}
    return [c for c in build_cases() if c[0] in keep]


def run_case(g, case):
    name, kind, args = case
    fam = g.family
    if kind in ("do", "dump"):
        cmd, attrs, kw = args
        body = genlhdr(cmd, kw.get("version", IPVS_GENL_VERSION), kw.get("reserved", 0)) + attrs
        flags = NLM_F_REQUEST | (NLM_F_DUMP if kind == "dump" else 0) | kw.get("nlflags", 0)
        if not kw.get("noack"):
            flags |= NLM_F_ACK
        return g.transact(fam, flags, body, expect_ack=not kw.get("noack"))
    if kind == "raw":
        what, n = args
        if what == "trunc":  # nlmsg_len covers only n bytes of the 4-byte genl header
            body = genlhdr(GET_INFO)[:n]
            return g.transact(fam, NLM_F_REQUEST | NLM_F_ACK, body)
        if what == "nlmsglen":  # nlmsg_len below NLMSG_HDRLEN: the core drops it silently
            return g.transact(fam, NLM_F_REQUEST | NLM_F_ACK, genlhdr(GET_INFO), nlmsg_len=n)
    raise ValueError(kind)


def main(argv):
    extack = "--extack" in argv
    which = "full"
    only = None
    if "--set" in argv:
        which = argv[argv.index("--set") + 1]
    if "--only" in argv:
        only = set(argv[argv.index("--only") + 1:])
    cases = build_cases() if which == "full" else unpriv_cases()
    if only:
        cases = [c for c in cases if c[0] in only]
    names = [c[0] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    if "--list" in argv:
        print("\n".join(names))
        return 0
    g = Genl(extack=extack)
    info = g.resolve("IPVS")
    print("family: name=%s version=%s hdrsize=%s maxattr=%s ops=%s%s" % (
        info.get("name"), info.get("version"), info.get("hdrsize"), info.get("maxattr"),
        info.get("ops"), "".join(" %s=%s" % (k, v) for k, v in sorted(info.items())
                                  if k not in ("name", "version", "hdrsize", "maxattr", "ops"))))
    print("policy: %s" % g.policy_dump("IPVS"))
    sys.stdout.flush()
    for case in cases:
        print("%s: %s" % (case[0], run_case(g, case)))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
