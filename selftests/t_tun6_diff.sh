#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Differential: tunnels of every family through stock ip_vs.ko and ipvs_rs.ko, in one
# topology: an IPv4 service whose real servers are RS1 over IPIP (IPv4 in IPv4) and RS2 over
# IPv6 (IPv4 in IPv6, next header 4), and an IPv6 service whose real servers are RS1 over
# IPv6 (ip6ip6, next header 41) and RS2 over IPv4 (IPv6 in IPv4, protocol 41); TCP and UDP
# each. The real servers decapsulate with tunl0 (ipip), sit0 and an ip6tnl device of mode
# any, hold both VIPs on lo and answer the client directly over its LAN (as the TUN
# topology of topo.sh). Compared byte for byte:
#  - the answers (which real server, so which tunnel, took each connection), and what each
#    real server received (bytes, from which client address: the inner packet's family);
#  - a datagram too big for the tunnel: 1450 bytes of UDP, over the 1460 bytes IPv4 in IPv6
#    and IPv6 in IPv6 leave (1500 less 40) and under IPIP's 1480: the director refuses it
#    with ICMP fragmentation needed (IPv4, DF) or ICMPv6 packet too big, the client's
#    connected socket reports EMSGSIZE, and the same datagram sent again (fragmented by the
#    client for the path MTU it learned) is tunnelled (the outer packet fragmented by the
#    director);
#  - what is refused: ipvsadm's own message for a dest of another family than its service
#    with another method than tunnel, and the kernel's errno for such requests sent as they
#    are (NEW_DEST, SET_DEST), for an IPv6 tunnel dest that is link-local or multicast, and
#    for a mixed tunnel dest added twice (and that it is added and deleted);
#  - `ipvsadm -Ln`, /proc/net/ip_vs (services sorted) and the connection table (`-Lnc`,
#    client port and expiry left out);
#  - then the same dests moved to GUE (RS1, fou on port 6080) and GRE (RS2) tunnels, with and
#    without their checksums and with remote checksum offload, in every family combination:
#    the same traffic again (including datagrams too big for the tunnels' overhead), what a
#    GUE dest without its port gets, and `ipvsadm -Ln --tun-info`;
#  - then IPsec (ESP, transport mode) between the director and RS1 over IPv6, which RS1
#    requires: the IPv6 service's traffic still reaches RS1, through ESP.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

VIP4=10.0.0.100 VIP6=2001:db8::100

# The traffic and the real servers (stdlib only; -S skips site, which costs seconds under
# TCG): "serve LOG NETNS:NAME..." serves TCP 80 and UDP 53 on both VIPs in each real server's
# netns from one process; "client CMD..." runs the client's commands in order.
cat > "$TEST_TMP/tun6.py" <<'EOF'
import ctypes, errno, os, socket, sys, threading

def in_netns(name):
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{name}") as f:
        if libc.setns(f.fileno(), 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), name)

def serve(log, specs):
    lock = threading.Lock()
    own = open("/proc/thread-self/ns/net")
    libc = ctypes.CDLL(None, use_errno=True)
    def record(name, proto, n, peer):
        if peer.startswith("::ffff:"):
            peer = peer[7:]
        with lock, open(f"{log}.{name}", "a") as f:
            f.write(f"{proto} {n} {peer}\n")
    def tcp_loop(s, name):
        while True:
            c, peer = s.accept()
            c.settimeout(10)
            total = 0
            try:
                while True:
                    d = c.recv(65536)
                    total += len(d)
                    if not d or d.endswith(b"\n"):
                        break
                c.sendall(name.encode() + b"\n")
            except OSError:
                pass
            c.close()
            record(name, "tcp", total, peer[0])
    def udp_loop(s, name):
        while True:
            d, peer = s.recvfrom(65536)
            record(name, "udp", len(d), peer[0])
            s.sendto(name.encode() + b"\n", peer)
    for spec in specs:
        ns, name = spec.split(":")
        in_netns(ns)
        for fam, vip in ((socket.AF_INET, "10.0.0.100"), (socket.AF_INET6, "2001:db8::100")):
            t = socket.socket(fam, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((vip, 80))
            t.listen(16)
            u = socket.socket(fam, socket.SOCK_DGRAM)
            u.bind((vip, 53))
            threading.Thread(target=tcp_loop, args=(t, name), daemon=True).start()
            threading.Thread(target=udp_loop, args=(u, name), daemon=True).start()
        libc.setns(own.fileno(), 0x40000000)
    open(f"{log}.ready", "w").close()
    threading.Event().wait(600)

def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

def answer(s):
    try:
        return s.recv(100).decode().strip() or "EMPTY"
    except OSError as e:
        return "ERROR:" + (errno.errorcode.get(e.errno) or type(e).__name__)

def client(cmds):
    for cmd in cmds:
        kind, addr, port, n, size = cmd.split()
        port, n, size = int(port), int(n), int(size)
        out = []
        for i in range(n):
            s = socket.socket(fam(addr), socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
            s.settimeout(20)
            try:
                if kind != "tcp":
                    # A source port of its own (sizes differ between commands): a random one
                    # could be that of an earlier datagram's connection, still in the table,
                    # which would take it to that real server and leave rr's turn unchanged.
                    s.bind(("::" if ":" in addr else "", 20000 + 4 * size + i))
                s.connect((addr, port))
                s.sendall(b"x" * (size - 1) + b"\n")
                a = answer(s)
                if kind == "big" and a == "ERROR:EMSGSIZE":
                    # The path MTU is known now: the same datagram again, in fragments.
                    s.send(b"x" * (size - 1) + b"\n")
                    a += "," + answer(s)
            except OSError as e:
                a = "ERROR:" + (errno.errorcode.get(e.errno) or type(e).__name__)
            s.close()
            out.append(a)
        print(f"{cmd}: {' '.join(out)}", flush=True)

def nl(selftests):
    """Dest requests ipvsadm would not send (it refuses a dest of another family than its
    service unless tunnelled before asking), straight to the genl family."""
    sys.path.insert(0, selftests)
    import genl_client as G
    g = G.Genl()
    g.resolve("IPVS")
    def svc(af):
        a = G.ip6(G.SVC_ADDR, "2001:db8::100") if af == G.AF_INET6 else G.ip4(G.SVC_ADDR, "10.0.0.100")
        return G.svc(G.u16(G.SVC_AF, af), G.u16(G.SVC_PROTOCOL, 6), a, G.be16(G.SVC_PORT, 80))
    def dest(af, addr, fwd):
        a = G.ip6(G.DEST_ADDR, addr) if af == G.AF_INET6 else G.ip4(G.DEST_ADDR, addr)
        return G.dest(G.u16(G.DEST_ADDR_FAMILY, af), a, G.be16(G.DEST_PORT, 80), G.u32(G.DEST_FWD_METHOD, fwd),
                      G.u32(G.DEST_WEIGHT, 1), G.u32(G.DEST_U_THRESH, 0), G.u32(G.DEST_L_THRESH, 0))
    v4, v6 = G.AF_INET, G.AF_INET6
    masq, local, tunnel, route = 0, 1, 2, 3
    for name, cmd, body in [
        ("v4svc-v6dest-masq", G.NEW_DEST, svc(v4) + dest(v6, "2001:db8:1::3", masq)),
        ("v4svc-v6dest-route", G.NEW_DEST, svc(v4) + dest(v6, "2001:db8:1::3", route)),
        ("v6svc-v4dest-localnode", G.NEW_DEST, svc(v6) + dest(v4, "172.16.1.3", local)),
        ("v6svc-v4dest-edit-to-masq", G.SET_DEST, svc(v6) + dest(v4, "172.16.2.2", masq)),
        ("v4svc-v6dest-tunnel-linklocal", G.NEW_DEST, svc(v4) + dest(v6, "fe80::9", tunnel)),
        ("v4svc-v6dest-tunnel-multicast", G.NEW_DEST, svc(v4) + dest(v6, "ff05::9", tunnel)),
        ("v6svc-v4dest-tunnel-add", G.NEW_DEST, svc(v6) + dest(v4, "172.16.1.9", tunnel)),
        ("v6svc-v4dest-tunnel-add-again", G.NEW_DEST, svc(v6) + dest(v4, "172.16.1.9", tunnel)),
        ("v6svc-v4dest-tunnel-del", G.DEL_DEST, svc(v6) + dest(v4, "172.16.1.9", masq)),
    ]:
        print(f"{name}: {g.transact(g.family, G.NLM_F_REQUEST | G.NLM_F_ACK, G.genlhdr(cmd) + body)}", flush=True)

if sys.argv[1] == "serve":
    serve(sys.argv[2], sys.argv[3:])
elif sys.argv[1] == "nl":
    nl(sys.argv[2])
else:
    client(sys.argv[2:])
EOF
TUN6="python3 -S $TEST_TMP/tun6.py"

# tun6_topo: the netns (as topo.sh names them), addresses, tunnel devices, sysctls; starts the
# real servers and the director shell. Every IPv6 address is added nodad, link-local ones by
# hand (addrgenmode none), so that nothing waits for duplicate address detection.
tun6_topo() {
    local i rs
    CL=${NETNS_PREFIX}cl LVS=${NETNS_PREFIX}lvs RS1=${NETNS_PREFIX}rs1 RS2=${NETNS_PREFIX}rs2
    {
        echo "netns add $CL"
        echo "netns add $LVS"
        echo "netns add $RS1"
        echo "netns add $RS2"
        echo "link add c0 netns $CL type veth peer name l0 netns $LVS"
        for i in 1 2; do
            echo "link add r0 netns ${NETNS_PREFIX}rs$i type veth peer name l$i netns $LVS"
            echo "link add cr$i netns $CL type veth peer name c0 netns ${NETNS_PREFIX}rs$i"
        done
    } | ip -batch - || return 1
    {
        echo "link set lo up"
        echo "link add br0 type bridge"
        for d in br0 c0 cr1 cr2; do echo "link set $d addrgenmode none"; done
        for d in c0 cr1 cr2; do echo "link set $d master br0"; echo "link set $d up"; done
        echo "link set br0 up"
        echo "addr add fe80::2/64 dev br0 nodad"
        echo "addr add 10.0.0.2/24 dev br0"
        echo "addr add 2001:db8::2/64 dev br0 nodad"
        echo "route add $VIP4 via 10.0.0.1"
        echo "route add $VIP6 via 2001:db8::1"
    } | ip -n "$CL" -batch - || return 1
    {
        echo "link set lo up"
        echo "addr add $VIP4/32 dev lo"
        echo "addr add $VIP6/128 dev lo nodad"
        for i in 0 1 2; do
            echo "link set l$i addrgenmode none"
            echo "addr add fe80::1/64 dev l$i nodad"
            echo "link set l$i up"
        done
        echo "addr add 10.0.0.1/24 dev l0"
        echo "addr add 2001:db8::1/64 dev l0 nodad"
        for i in 1 2; do
            echo "addr add 172.16.$i.1/24 dev l$i"
            echo "addr add 2001:db8:$i::1/64 dev l$i nodad"
        done
    } | ip -n "$LVS" -batch - || return 1
    for i in 1 2; do
        rs=${NETNS_PREFIX}rs$i
        {
            echo "link set lo up"
            echo "addr add $VIP4/32 dev lo"
            echo "addr add $VIP6/128 dev lo nodad"
            for d in r0 c0; do echo "link set $d addrgenmode none"; done
            echo "addr add fe80::2/64 dev r0 nodad"
            echo "addr add 172.16.$i.2/24 dev r0"
            echo "addr add 2001:db8:$i::2/64 dev r0 nodad"
            echo "link set r0 up"
            echo "addr add fe80::1$i/64 dev c0 nodad"
            echo "addr add 10.0.0.1$i/24 dev c0"
            echo "addr add 2001:db8::1$i/64 dev c0 nodad"
            echo "link set c0 up"
            # Decapsulation: IPv4 in IPv4 (tunl0), IPv6 in IPv4 (sit0), IPv4 or IPv6 in IPv6
            # (an ip6tnl of mode any, to this real server's address from anywhere).
            echo "link set tunl0 up"
            echo "link set sit0 up"
            echo "link add t6 type ip6tnl mode any local 2001:db8:$i::2"
            echo "link set t6 up"
        } | ip -n "$rs" -batch - || return 1
        # The VIP is not answered in ARP; packets from the client arrive on tunnels whose
        # reverse path is the LAN.
        ip netns exec "$rs" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
            net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.r0.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0 \
            net.ipv4.conf.t6.rp_filter=0 || return 1
    done
    rm -f "$TEST_TMP"/rs.log*
    $TUN6 serve "$TEST_TMP/rs.log" "$RS1:RS1" "$RS2:RS2" &
    SERVERS_PID=$!
    lvs_sh_start || return 1
    i=0
    while [ ! -e "$TEST_TMP/rs.log.ready" ]; do
        i=$((i + 1))
        [ $i -le 600 ] || { diag "the real servers did not start"; return 1; }
        nap 0.1
    done
}

# received6 FILE: what a real server got, one "proto bytes from" line per kind, with a count
received6() {
    local -A n=()
    local line k
    [ -f "$1" ] || { echo "nothing"; return; }
    while IFS= read -r line; do n[$line]=$((${n[$line]:-0} + 1)); done < "$1"
    for k in "${!n[@]}"; do echo "${n[$k]}x $k"; done | LC_ALL=C sort
}

scenario() {
    local o=$1
    tun6_topo || { echo "topology failed" >> "$o"; return; }
    ipvs_restore "$o" <<EOF
-A -t $VIP4:80 -s rr
-a -t $VIP4:80 -r 172.16.1.2:80 -i
-a -t $VIP4:80 -r [2001:db8:2::2]:80 -i
-A -u $VIP4:53 -s rr
-a -u $VIP4:53 -r 172.16.1.2:53 -i
-a -u $VIP4:53 -r [2001:db8:2::2]:53 -i
-A -t [$VIP6]:80 -s rr
-a -t [$VIP6]:80 -r [2001:db8:1::2]:80 -i
-a -t [$VIP6]:80 -r 172.16.2.2:80 -i
-A -u [$VIP6]:53 -s rr
-a -u [$VIP6]:53 -r [2001:db8:1::2]:53 -i
-a -u [$VIP6]:53 -r 172.16.2.2:53 -i
EOF
    # Refused, as upstream refuses them: another family than the service's, not tunnelled
    # (ipvsadm says so itself; the kernel's answers to such requests are asked below).
    capture_fn "$o" lvs ipvsadm -a -t $VIP4:80 -r [2001:db8:1::2]:80 -m
    capture_fn "$o" lvs ipvsadm -e -t [$VIP6]:80 -r 172.16.2.2:80 -g
    capture_fn "$o" ip netns exec "$CL" $TUN6 client "tcp $VIP4 80 4 300" "tcp $VIP6 80 4 500" \
        "udp $VIP4 53 4 200" "udp $VIP6 53 4 400" "big $VIP4 53 2 1450" "big $VIP6 53 2 1450"
    capture_fn "$o" lvs python3 -S "$TEST_TMP/tun6.py" nl "$SELFTESTS_DIR"
    capture_fn "$o" lvs ipvsadm -Ln
    # /proc/net/ip_vs lists the services in the order of stock's hash table, which mixes in
    # the netns's address: one line per service (its dests after it), sorted.
    capture_fn "$o" lvs sh -c "awk 'NR <= 3 { print; next } /^  ->/ { r = r \" |\" \$0; next }
        { if (r != \"\") print r; r = \$0 } END { print r }' /proc/net/ip_vs | LC_ALL=C sort"
    capture_fn "$o" conns_masked
    gue_gre "$o"
    stop_servers
    { echo "rs1 received:"; received6 "$TEST_TMP/rs.log.RS1"; echo "rs2 received:"; received6 "$TEST_TMP/rs.log.RS2"; } >> "$o"
}

# gue_gre O: the same dests moved to GUE and GRE tunnels (SET_DEST, which refiles them in the
# real-server index), each flavour of checksum, in every family combination; the same traffic
# again (other sizes, so that its lines stand apart). RS1 decapsulates GUE on port 6080 (fou,
# both families), RS2 GRE: without its checksum in IPv4 (the fallback device gre0), with it
# in IPv6 (a device that expects it: a GRE receiver drops packets whose checksum presence is
# not what its device was configured with, so one address takes one kind).
gue_gre() {
    local o=$1
    ip netns exec "$RS1" sh -c "ip fou add port 6080 gue && ip fou add port 6080 gue -6" &&
        ip -n "$RS2" -batch - <<EOF && ip netns exec "$RS2" sysctl -qw net.ipv4.conf.gre0.rp_filter=0 net.ipv4.conf.g6.rp_filter=0 ||
link set gre0 up
link add g6 type ip6gre local 2001:db8:2::2 icsum
link set g6 up
EOF
        { echo "GUE and GRE receivers failed" >> "$o"; return; }
    echo "== GUE and GRE" >> "$o"
    ipvs_restore "$o" <<EOF
-e -t $VIP4:80 -r 172.16.1.2:80 -i --tun-type gue --tun-port 6080 --tun-csum
-e -t $VIP4:80 -r [2001:db8:2::2]:80 -i --tun-type gre --tun-csum
-e -u $VIP4:53 -r 172.16.1.2:53 -i --tun-type gue --tun-port 6080
-e -u $VIP4:53 -r [2001:db8:2::2]:53 -i --tun-type gre --tun-csum
-e -t [$VIP6]:80 -r [2001:db8:1::2]:80 -i --tun-type gue --tun-port 6080 --tun-remcsum
-e -t [$VIP6]:80 -r 172.16.2.2:80 -i --tun-type gre
-e -u [$VIP6]:53 -r [2001:db8:1::2]:53 -i --tun-type gue --tun-port 6080 --tun-csum
-e -u [$VIP6]:53 -r 172.16.2.2:53 -i --tun-type gre --tun-nocsum
EOF
    # A GUE dest needs its port (EINVAL, ipvsadm's message).
    capture_fn "$o" lvs ipvsadm -e -t $VIP4:80 -r 172.16.1.2:80 -i --tun-type gue
    capture_fn "$o" ip netns exec "$CL" $TUN6 client "tcp $VIP4 80 4 301" "tcp $VIP6 80 4 501" \
        "udp $VIP4 53 4 201" "udp $VIP6 53 4 401" "big $VIP4 53 2 1451" "big $VIP6 53 2 1431"
    capture_fn "$o" lvs ipvsadm -Ln --tun-info
    ipsec "$o"
}

# ipsec O: IPsec between the director and RS1 over IPv6 (ESP in transport mode, fixed keys):
# the director's policy protects what it sends to 2001:db8:1::2, RS1's accepts nothing from
# 2001:db8:1::1 without ESP. Tunnel packets to RS1 must go through the policy lookup
# (upstream's xfrm_lookup on an IPv6 tunnel's route), else RS1 drops them.
ipsec() {
    local o=$1 n key=0x0123456789abcdef0123456789abcdef01234567
    local sel="src 2001:db8:1::1/128 dst 2001:db8:1::2/128"
    local tmpl="tmpl src 2001:db8:1::1 dst 2001:db8:1::2 proto esp mode transport"
    for n in "$LVS" "$RS1"; do
        ip -n "$n" xfrm state add src 2001:db8:1::1 dst 2001:db8:1::2 proto esp spi 0x100 mode transport \
            aead 'rfc4106(gcm(aes))' $key 128 || { echo "IPsec setup failed" >> "$o"; return; }
    done
    ip -n "$LVS" xfrm policy add $sel dir out $tmpl &&
        ip -n "$RS1" xfrm policy add $sel dir in $tmpl || { echo "IPsec setup failed" >> "$o"; return; }
    echo "== IPsec to RS1" >> "$o"
    capture_fn "$o" ip netns exec "$CL" $TUN6 client "tcp $VIP6 80 4 502" "udp $VIP6 53 4 402"
    n=$(ip -n "$RS1" -s xfrm state | awk '/lifetime current:/ { getline; print $2; exit }')
    echo "RS1's ESP state took packets: $([ "${n%(packets)}" -gt 0 ] 2>/dev/null && echo yes || echo no)" >> "$o"
}

validate() {
    local f=$1
    expect_grep "$f" "^tcp $VIP6 80 4 502: (RS[12] ){3}RS[12]\$" "IPsec: IPv6 TCP answered by both real servers"
    expect_grep "$f" "^udp $VIP6 53 4 402: RS1 RS2 RS1 RS2\$|^udp $VIP6 53 4 402: RS2 RS1 RS2 RS1\$" \
        "IPsec: IPv6 UDP to RS1 through ESP"
    expect_grep "$f" "^RS1's ESP state took packets: yes\$" "IPsec: RS1's packets went in ESP"
    expect_grep "$f" "^tcp $VIP4 80 4 301: (RS[12] ){3}RS[12]\$" "GUE and GRE: IPv4 TCP answered"
    expect_grep "$f" "^tcp $VIP6 80 4 501: (RS[12] ){3}RS[12]\$" "GUE and GRE: IPv6 TCP answered"
    expect_grep "$f" "^udp $VIP4 53 4 201: RS1 RS2 RS1 RS2\$|^udp $VIP4 53 4 201: RS2 RS1 RS2 RS1\$" \
        "IPv4 UDP over GUE (IPv4) and GRE (IPv6)"
    expect_grep "$f" "^udp $VIP6 53 4 401: RS1 RS2 RS1 RS2\$|^udp $VIP6 53 4 401: RS2 RS1 RS2 RS1\$" \
        "IPv6 UDP over GUE (IPv6) and GRE (IPv4)"
    [ "$(grep -cE "^2x tcp (301 10\.0\.0\.2|501 2001:db8::2)\$" "$f")" -eq 4 ] &&
        pass "GUE and GRE: TCP carried whole to both real servers" ||
        fail "GUE and GRE: TCP not carried whole to both real servers"
    # 1431 bytes of IPv6 UDP, which the client sends in fragments of the path MTU it learned
    # above (1460): too big still for GUE with its checksum in IPv6 (1448 left), told, then
    # carried in smaller fragments; GRE in IPv4 (1476) takes them as they are.
    expect_grep "$f" "^big $VIP6 53 2 1431: .*ERROR:EMSGSIZE,RS1" \
        "GUE in IPv6: packet too big for the tunnel's overhead, then tunnelled"
    expect_grep "$f" "^tcp $VIP4 80 4 300: (RS[12] ){3}RS[12]\$" "IPv4 TCP answered"
    expect_grep "$f" "^tcp $VIP6 80 4 500: (RS[12] ){3}RS[12]\$" "IPv6 TCP answered"
    expect_grep "$f" "^udp $VIP4 53 4 200: RS1 RS2 RS1 RS2\$|^udp $VIP4 53 4 200: RS2 RS1 RS2 RS1\$" "IPv4 UDP over both tunnels"
    expect_grep "$f" "^udp $VIP6 53 4 400: RS1 RS2 RS1 RS2\$|^udp $VIP6 53 4 400: RS2 RS1 RS2 RS1\$" "IPv6 UDP over both tunnels"
    expect_grep "$f" "^big $VIP4 53 2 1450: .*ERROR:EMSGSIZE,RS2" "IPv4 in IPv6: fragmentation needed, then tunnelled"
    expect_grep "$f" "^big $VIP6 53 2 1450: .*ERROR:EMSGSIZE,RS1" "ip6ip6: packet too big, then tunnelled"
    expect_grep "$f" "^2x tcp 500 2001:db8::2\$" "IPv6 TCP carried whole"
    expect_grep "$f" "^2x tcp 300 10.0.0.2\$" "IPv4 TCP carried whole"
    expect_grep "$f" "-> \\[2001:db8:2::2\\]:80 +Tunnel" "IPv6 tunnel dest of an IPv4 service listed"
    expect_grep "$f" "-> 172.16.2.2:80 +Tunnel" "IPv4 tunnel dest of an IPv6 service listed"
    expect_grep "$f" "^v4svc-v6dest-masq: ack=EINVAL" "NEW_DEST of another family, masquerading: EINVAL"
    expect_grep "$f" "^v6svc-v4dest-edit-to-masq: ack=EINVAL" "SET_DEST of another family to masquerading: EINVAL"
    expect_grep "$f" "^v4svc-v6dest-tunnel-linklocal: ack=EINVAL" "IPv6 link-local tunnel dest: EINVAL"
    expect_grep "$f" "^v6svc-v4dest-tunnel-add: ack=ok" "IPv4 tunnel dest added to an IPv6 service"
    expect_grep "$f" "^v6svc-v4dest-tunnel-add-again: ack=EEXIST" "added twice: EEXIST"
    expect_grep "$f" "^v6svc-v4dest-tunnel-del: ack=ok" "and deleted"
}

kmodprobe -q ipip 2> /dev/null
kmodprobe -q ip_gre 2> /dev/null
kmodprobe -q ip6_gre 2> /dev/null
differential scenario validate
finish
