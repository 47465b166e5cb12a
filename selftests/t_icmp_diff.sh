#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: ICMP errors about packets of IPVS connections (upstream's ip_vs_in_icmp and
# ip_vs_out_icmp) through stock ip_vs.ko and ipvs_rs.ko. Compared byte for byte:
#  - from the real server's side (NAT): a UDP datagram to a dest port where nothing listens;
#    the real server's "port unreachable" reaches the client translated (from the VIP,
#    quoting the datagram the client sent), so the client's connected socket reports it
#    (ECONNREFUSED) instead of waiting;
#  - a "time exceeded" from a router between director and real server (NAT; the real server
#    fakes the router) about the request of a live connection reaches the client translated:
#    from the VIP, quoting the datagram the client sent to the VIP (a raw socket shows both);
#  - from the client's side (NAT and TUN; DR too in full runs, which relays as TUN does, to
#    the real server's own address, only without the tunnel): a "fragmentation needed" (MTU
#    1280), as a router between director and client sends it for a reply of a live UDP
#    connection, is relayed to that connection's real server (for NAT with its address and
#    port put back), whose kernel then lowers its path MTU to the client: `ip route get`
#    on the real server shows it;
#  - from a router on the tunnel path (TUN): a "fragmentation needed" (MTU 1400) about an IPIP
#    packet the director sent, carrying a client's DF datagram of a live connection (the
#    real server fakes the router): the director lowers its path MTU to the real server to
#    1400, and the client gets a "fragmentation needed" of its own, which its socket learns
#    (`ip route get` on the client). Its MTU is 1480, not 1380: stock takes the MTU of the
#    dest's cached route, which the update has just made stale (the device's 1500), less
#    the outer header; the director's own "fragmentation needed" on the client's next large
#    packet brings it down to 1380;
#  - nat_icmp_send (NAT): a real server's datagram from its service port that belongs to no
#    connection is dropped and answered "port unreachable" with 1, and passes with 0;
#  - schedule_icmp: a "fragmentation needed" about a reply of a flow the director has no
#    connection for is left to the director's stack with 0 (no connection, no real server
#    hears of it), and with 1 gets a connection scheduled for that flow (counted in the
#    service's --stats below; the entry itself lives the 3 s of a new connection) and goes to
#    its real server, whose path MTU to the client drops;
#  - forward_icmp (NAT): a "fragmentation needed" about a reply of a live connection (to a
#    third real server) that the director does not deliver but routes on, as it routes the
#    errors for a firewall-mark service whose virtual address is not local (a transparent
#    cache cluster; the test kernel has no IPv6 policy routing to build that, so the client
#    sends the error to 10.0.9.1, which the director routes to a dummy device): caught in
#    FORWARD and relayed to the connection's real server (upstream's ip_vs_forward_icmp);
#  - the ICMP packets are counted on the service (`--stats`).
# Then again over IPv6 (topo.sh's IPv6 layout; modes nat6 and dr6), with ICMPv6: port
# unreachable, packet too big (MTU 1280) and nat_icmp_send, schedule_icmp and forward_icmp
# (to 2001:db8:f::1) alike. make check runs NAT in both families and TUN; full runs add DR in both.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="80"
MODES=$(full_or_quick "nat dr tun nat6 dr6" "nat nat6 tun")

pmtu_to_client() { pmtu "$1" "$CL_IP"; }

# tunnel_error O: in TUN, a router's "fragmentation needed" about an IPIP packet
tunnel_error() {
    local o=$1 rs n i cl dir
    ag_to "$o" tunconn udpopen $VIP 80 42003
    rs=$(sed -n 's/^tunconn: udpopen RS\([12]\)$/\1/p' "$o")
    [ -n "$rs" ] || return 0
    [ "$rs" = 1 ] && n=$RS1 || n=$RS2
    ip netns exec "$n" python3 -S "$SELFTESTS_DIR/dp_tool.py" tunfrag 172.16.$rs.1 172.16.$rs.2 \
        10.0.0.2 $VIP 42003 80 1400
    for ((i = 0; i < 50; i++)); do
        cl=$(pmtu "$CL" $VIP) dir=$(pmtu "$LVS" 172.16.$rs.2)
        [ -z "$cl" ] || [ -z "$dir" ] || break
        nap 0.2
    done
    echo "tunnel error: the director's path MTU to the real server ${dir:-none}, the client's to the VIP ${cl:-none}" >> "$o"
    # The same connection's dest moved to a GRE tunnel with its checksum, then to GUE: the
    # errors quote the packets as those tunnels wrap them, and the client hears the MTU less
    # their whole overhead (20 + 8, 20 + 12).
    tunnel_error_wrapped "$o" "$rs" GRE 1350 "--tun-type gre --tun-csum" gre csum
    tunnel_error_wrapped "$o" "$rs" GUE 1300 "--tun-type gue --tun-port 6080" gue 6080
}

# tunnel_error_wrapped O RS NAME MTU TUN-OPTIONS WRAP...: RS's dest edited to TUN-OPTIONS, then
# a router's "fragmentation needed" (MTU) about a packet wrapped as WRAP (dp_tool tunfrag);
# waits until the director's path MTU to the real server is MTU and the client's has moved.
tunnel_error_wrapped() {
    local o=$1 rs=$2 name=$3 mtu=$4 opts=$5 n cl0 cl dir i; shift 5
    [ "$rs" = 1 ] && n=$RS1 || n=$RS2
    ipvs_restore "$o" <<< "-e -u $VIP:80 -r 172.16.$rs.2:80 -i $opts"
    cl0=$(pmtu "$CL" $VIP)
    ip netns exec "$n" python3 -S "$SELFTESTS_DIR/dp_tool.py" tunfrag 172.16.$rs.1 172.16.$rs.2 \
        10.0.0.2 $VIP 42003 80 "$mtu" "$@"
    for ((i = 0; i < 50; i++)); do
        cl=$(pmtu "$CL" $VIP) dir=$(pmtu "$LVS" 172.16.$rs.2)
        [ "$dir" != "$mtu" ] || [ "$cl" = "$cl0" ] || break
        nap 0.2
    done
    echo "$name tunnel error: the director's path MTU to the real server ${dir:-none}, the client's to the VIP ${cl:-none}" >> "$o"
}

# nat_icmp_probe O LABEL REFUSED: a datagram from RS1's port 81 to a client port where a socket
# listens; REFUSED (1 or 0) is what we expect of the director, which only sets how long the real
# server waits for a "port unreachable" (the outcome is recorded, checked and compared with
# stock's)
nat_icmp_probe() {
    local o=$1 label=$2 refused=$3 i pid wait got ready=$TEST_TMP/udprecv.ready
    rm -f "$ready" "$TEST_TMP/udprecv"
    ip netns exec "$CL" $TOOL udprecv 43000 20 "$ready" > "$TEST_TMP/udprecv" &
    pid=$!
    for ((i = 0; i < 100; i++)); do [ -e "$ready" ] && break; nap 0.2; done
    # A refusal comes at once; otherwise nobody answers the real server.
    [ "$refused" = 1 ] && wait=20 || wait=0.5
    echo "$label: real server $(ip netns exec "$RS1" $TOOL udpconn "$CL_IP" 43000 81 $wait)" >> "$o"
    # Refused, the datagram was dropped: the client's listener gets a moment more, then goes.
    [ "$refused" = 1 ] && { nap 0.5; kill "$pid" 2>/dev/null; }
    wait "$pid"
    got=$(cat "$TEST_TMP/udprecv")
    echo "$label: client ${got:-nothing}" >> "$o"
}

# nat_icmp_send_case O: a NAT real server's datagram that belongs to no connection, from its
# service port (81): with nat_icmp_send=1 the director drops it and tells the real server "port
# unreachable" (its connected socket reports ECONNREFUSED); with 0, the default, the datagram
# passes untranslated. Then RS1:81 is shared: by a TCP service and a second UDP service (the
# real-server index answers per protocol, for every service a real server has): the refusal
# lasts while a UDP service has it, and ends with the last one.
nat_icmp_send_case() {
    local o=$1 v
    for v in 1 0; do
        lvs sysctl -qw net.ipv4.vs.nat_icmp_send=$v
        nat_icmp_probe "$o" "nat_icmp_send=$v" $v
    done
    lvs sysctl -qw net.ipv4.vs.nat_icmp_send=1
    ipvs_restore "$o" <<RULES
-A -t $VIPS:81 -s rr
-a -t $VIPS:81 -r ${RS_IPS[1]}:81 -m
-A -u $VIPS:82 -s rr
-a -u $VIPS:82 -r ${RS_IPS[1]}:81 -m
RULES
    lvs ipvsadm -D -u $VIPS:81
    nat_icmp_probe "$o" "shared, one UDP service left" 1
    lvs ipvsadm -D -u $VIPS:82
    nat_icmp_probe "$o" "shared, a TCP service only" 0
    lvs ipvsadm -D -t $VIPS:81
    lvs sysctl -qw net.ipv4.vs.nat_icmp_send=0
}

# time_exceeded_case O: the UDP connection from client port 42002 (label "conn" in O) is on
# RS1 or RS2, which sends the client a time exceeded about that connection's request
time_exceeded_case() {
    local o=$1 rs n i pid ready=$TEST_TMP/icmpwatch.ready
    rs=$(sed -n 's/^conn: RS\([12]\)$/\1/p' "$o" | tail -n 1)
    [ -n "$rs" ] || return 0
    [ "$rs" = 1 ] && n=$RS1 || n=$RS2
    rm -f "$ready"
    ip netns exec "$CL" $TOOL icmpwatch "$TOPO_FAMILY" 20 "$ready" > "$TEST_TMP/icmpwatch" &
    pid=$!
    for ((i = 0; i < 100; i++)); do [ -e "$ready" ] && break; nap 0.2; done
    ip netns exec "$n" $TOOL timeexceeded "${RS_IP[rs]}" "$CL_IP" 42002 80
    wait "$pid"
    echo "time exceeded: the client saw $(< "$TEST_TMP/icmpwatch")" >> "$o"
}

# forward_icmp_case O: an error from the client about a reply of a connection to RS3 (whose
# path MTU to the client the cases above have left alone), sent to an address the director
# routes on
forward_icmp_case() {
    local o=$1 i m to=10.0.9.1 net=10.0.9.0/24 via=10.0.0.1
    [ "$TOPO_FAMILY" = 4 ] || to=2001:db8:f::1 net=2001:db8:f::/64 via=2001:db8::1
    ip -n "$CL" route add $net via $via
    lvs ip -batch - <<EOF
link add fwd0 type dummy
link set fwd0 up
route add $net dev fwd0
EOF
    ipvs_restore "$o" <<RULES
-A -u $VIPS:82 -s rr
-a -u $VIPS:82 -r ${RS_IPS[3]}:80 -m
RULES
    ag_to "$o" fwdconn udp $VIP 82 1 42010
    ag_to "$o" fwdicmp fragneeded $VIP 82 42010 1280 $to
    for ((i = 0; i < 50; i++)); do
        m=$(pmtu_to_client "$RS3")
        [ -z "$m" ] || break
        nap 0.2
    done
    echo "forward_icmp: RS3's path MTU to the client ${m:-none}" >> "$o"
}

# schedule_icmp_case O: errors for client ports 42008 (schedule_icmp=0) and 42009 (=1), which
# no connection has; the rr service's next dest is the real server that has not heard yet
schedule_icmp_case() {
    local o=$1 v port i m1 m2
    for v in 0 1; do
        port=4200$((8 + v))
        lvs sysctl -qw net.ipv4.vs.schedule_icmp=$v
        ag_to "$o" "sched$v" fragneeded $VIP 80 $port 1280
        # With 1 the error reaches the other real server; with 0 nothing comes, and the
        # listing below shows that no connection was made.
        for ((i = 0; i < 50 && v == 1; i++)); do
            m1=$(pmtu_to_client "$RS1") m2=$(pmtu_to_client "$RS2")
            [ -n "$m1" ] && [ -n "$m2" ] && break
            nap 0.2
        done
        echo "schedule_icmp=$v: path MTU to the client: RS1 $(pmtu_to_client "$RS1") RS2 $(pmtu_to_client "$RS2")" >> "$o"
    done
    lvs sysctl -qw net.ipv4.vs.schedule_icmp=0
}

one_mode() {
    local o=$1 mode=${2%6} flag i m1 m2 TOPO_NRS=2
    if [ "$mode" = "$2" ]; then topo_family 4; else topo_family 6; fi
    case $mode in nat) flag=-m; TOPO_NRS=3 ;; dr) flag=-g ;; tun) flag=-i ;; esac
    echo "== mode $2" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    agent_start
    ipvs_restore "$o" <<RULES
-A -u $VIPS:80 -s rr
-a -u $VIPS:80 -r ${RS_IPS[1]}:80 $flag
-a -u $VIPS:80 -r ${RS_IPS[2]}:80 $flag
RULES
    if [ "$mode" = nat ]; then
        # Nothing listens on port 81 of the real server.
        ipvs_restore "$o" <<RULES
-A -u $VIPS:81 -s rr
-a -u $VIPS:81 -r ${RS_IPS[1]}:81 -m
RULES
        ag_to "$o" closed udpconn $VIP 81 42001
        nat_icmp_send_case "$o"
    fi
    ag_to "$o" conn udp $VIP 80 1 42002
    [ "$mode" = nat ] && time_exceeded_case "$o"
    echo "path MTU to the client before: RS1 $(pmtu_to_client "$RS1") RS2 $(pmtu_to_client "$RS2")" >> "$o"
    ag_to "$o" icmp fragneeded $VIP 80 42002 1280
    # The error is relayed at once; on a slow host it may take a moment to arrive.
    for ((i = 0; i < 50; i++)); do
        m1=$(pmtu_to_client "$RS1") m2=$(pmtu_to_client "$RS2")
        [ -z "$m1$m2" ] || break
        nap 0.2
    done
    echo "path MTU to the client after: RS1 ${m1:-none} RS2 ${m2:-none}" >> "$o"
    # Before the tunnel error, whose connection would make rr pick the first real server again.
    schedule_icmp_case "$o"
    [ "$mode" = nat ] && forward_icmp_case "$o"
    [ "$mode" = tun ] && tunnel_error "$o"
    # Stock's --stats show the traffic only once its estimator has run over it.
    estimator_rounds
    capture_fn "$o" lvs ipvsadm -Ln --stats --exact -u $VIPS:80
    stop_servers
    cleanup_netns
}

validate_mode() {
    local f=$1 m=$2 mode=${2%6} rs1=172.16.1.2 vip=10.0.0.100 cl=10.0.0.2
    [ "$mode" = "$m" ] || rs1=2001:db8:1::2 vip=2001:db8::100 cl=2001:db8::2
    if [ "$mode" = nat ]; then
        expect_grep "$f" "^closed: udpconn ERROR:ConnectionRefusedError$" \
            "$m: the real server's port unreachable reached the client's socket, translated"
        expect_grep "$f" "^nat_icmp_send=1: real server ERROR:ConnectionRefusedError$" \
            "$m: nat_icmp_send=1: a real server's packet without a connection is refused"
        expect_grep "$f" "^nat_icmp_send=1: client nothing$" "$m: nat_icmp_send=1: ... and dropped"
        expect_grep "$f" "^nat_icmp_send=0: client got $rs1:81$" \
            "$m: nat_icmp_send=0: a real server's packet without a connection passes untranslated"
        expect_grep "$f" "^shared, one UDP service left: real server ERROR:ConnectionRefusedError$" \
            "$m: nat_icmp_send=1: refused while another UDP service has the real server"
        expect_grep "$f" "^shared, a TCP service only: client got $rs1:81$" \
            "$m: nat_icmp_send=1: passes once only a TCP service has it"
        expect_grep "$f" "^time exceeded: the client saw time exceeded from $vip quoting $cl:42002 > $vip:80$" \
            "$m: a router's time exceeded about a request reached the client from the VIP, quoting what the client sent"
        expect_grep "$f" "^fwdconn: RS3$" "$m: the third real server's connection was answered"
        expect_grep "$f" "^forward_icmp: RS3's path MTU to the client 1280$" \
            "$m: an error forwarded through the director reached the connection's real server"
    fi
    expect_grep "$f" "^conn: RS[12]$" "$m: the UDP connection was answered"
    expect_grep "$f" "^path MTU to the client after: RS. (1280 RS. none|none RS. 1280)$" \
        "$m: the fragmentation needed reached the connection's real server"
    expect_grep "$f" "^schedule_icmp=1: path MTU to the client: RS1 1280 RS2 1280$" \
        "$m: schedule_icmp=1: an error without a connection is scheduled to the other real server"
    [ "$mode" = tun ] && expect_grep "$f" "^tunnel error: the director's path MTU to the real server 1400, the client's to the VIP 1480$" \
        "$m: a router's fragmentation needed about an IPIP packet reached the client, less the outer header"
    [ "$mode" = tun ] && expect_grep "$f" "^GRE tunnel error: the director's path MTU to the real server 1350, the client's to the VIP 1322$" \
        "$m: ... about a GRE packet with its checksum, less 28 bytes"
    [ "$mode" = tun ] && expect_grep "$f" "^GUE tunnel error: the director's path MTU to the real server 1300, the client's to the VIP 1268$" \
        "$m: ... about a GUE packet, less 32 bytes"
}

differential per_mode_scenario per_mode_validate
finish
