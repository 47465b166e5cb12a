#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: path MTU discovery through the director, end to end, with stock ip_vs.ko and
# ipvs_rs.ko. The link between the director and the real server is narrower than the
# client's (MTU 1280 at both ends; 1400 for TUN, whose tunnel header comes on top), and the
# real server still offers the client a full-size MSS (for DR and TUN its route to the client
# leaves by the client's LAN; for NAT it goes back over the narrow link, so its route says
# advmss). One TCP connection to the VIP then sends 100 KB each way, so the client's
# full-size segments reach the director, which cannot forward them as they are and must
# answer "fragmentation needed" (ICMPv6 "packet too big"), with the MTU left for the
# payload (the link's, less the outer header for TUN), until the client's TCP sends smaller
# ones. Most of what the client sends arrives as GSO packets (the veth offloads TCP
# segmentation): upstream refuses one whose segments would not fit like any other packet,
# where letting it through would have the stack fragment its segments and the client never
# hear of the MTU. Compared byte for byte: whether the transfer completed, what the real server
# received, each kind of ICMP error that reached the client (a raw socket: type, source,
# MTU, the addresses of the packet it quotes) and the path MTU the client learnt towards
# the VIP. Without the director's error the transfer would stall (a PMTU black hole) and
# time out. Modes nat, dr and tun, and nat6 and dr6 over topo.sh's IPv6 layout; make check
# runs nat and dr6 (the director's own error for TUN is t_icmp_diff's and
# t_xmit_hygiene_diff's too; PMTU_MODES="..." picks modes).
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="80"
MODES=${PMTU_MODES:-$(full_or_quick "nat dr tun nat6 dr6" "nat dr6")}
BYTES=102400

one_mode() {
    local o=$1 mode=${2%6} flag mtu=1280 hdr=20 gw=172.16.1.1 ip_fam=-4 pid i
    local stop=$TEST_TMP/icmplog.stop ready=$TEST_TMP/icmplog.ready TOPO_NRS=1
    if [ "$mode" = "$2" ]; then topo_family 4; else topo_family 6; hdr=40 gw=2001:db8:1::1 ip_fam=-6; fi
    case $mode in nat) flag=-m ;; dr) flag=-g ;; tun) flag=-i mtu=1400 ;; esac
    echo "== mode $2" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    lvs ip link set l1 mtu $mtu
    ip -n "$RS1" link set r0 mtu $mtu
    [ "$mode" != nat ] ||
        ip -n "$RS1" $ip_fam route change default via $gw advmss $((1500 - hdr - 20))
    agent_start
    ipvs_restore "$o" <<RULES
-A -t $VIPS:80 -s rr
-a -t $VIPS:80 -r ${RS_IPS[1]}:80 $flag
RULES
    rm -f "$stop" "$ready"
    ip netns exec "$CL" $TOOL icmplog "$TOPO_FAMILY" "$stop" 120 "$ready" > "$TEST_TMP/icmplog" &
    pid=$!
    for ((i = 0; i < 100; i++)); do [ -e "$ready" ] && break; nap 0.2; done
    ag_to "$o" transfer bulk $VIP 80 $BYTES $BYTES 20
    # The errors came before the transfer could complete; the log goes with it.
    touch "$stop"
    wait "$pid"
    sed 's/^/client got ICMP: /' "$TEST_TMP/icmplog" >> "$o"
    echo "client's path MTU to the VIP: $(pmtu "$CL" "$VIP")" >> "$o"
    # The server writes its line when the connection has closed on its side too.
    for ((i = 0; i < 50; i++)); do [ -s "$TEST_TMP/rs1.log" ] && break; nap 0.2; done
    sed 's/^/real server received: /' "$TEST_TMP/rs1.log" >> "$o"
    stop_servers
    cleanup_netns
}

validate_mode() {
    local f=$1 m=$2 mode=${2%6} vip=10.0.0.100 cl=10.0.0.2 error="3/4" mtu=1280
    [ "$mode" = "$m" ] || vip=2001:db8::100 cl=2001:db8::2 error="2/0"
    [ "$mode" = tun ] && mtu=1380
    expect_grep "$f" "^transfer: bulk sent $BYTES got $BYTES from RS1$" \
        "$m: 100 KB each way through a narrower link completed"
    expect_grep "$f" "^real server received: tcp $((BYTES + ${#BYTES} + 2)) $cl$" \
        "$m: the real server received all of it, from the client's address"
    expect_grep "$f" "^client got ICMP: $error from $vip info $mtu about $cl > $vip$" \
        "$m: the client was told the MTU ($mtu) by the VIP, quoting its own packet"
    expect_grep "$f" "^client's path MTU to the VIP: $mtu$" "$m: the client learnt it"
}

differential per_mode_scenario per_mode_validate
finish
