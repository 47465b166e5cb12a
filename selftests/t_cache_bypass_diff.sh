#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: cache_bypass (a transparent cache cluster's fall-through). NAT layout; the
# director marks the client's packets to RS1's own address (172.16.1.2, TCP 80 and UDP 53)
# with mark 7 and delivers marked packets locally (policy route), where a firewall-mark
# service -f 7 takes them; its only dest has weight 0, so no dest takes a new flow.
#  - cache_bypass=0: the client is refused (ICMP port unreachable: TCP and UDP time out);
#  - cache_bypass=1: each flow gets a bypass connection and its packets go on, unchanged, to
#    RS1, which answers the client directly (through the director as a router); a TCP
#    connection's later packets find the connection. The connection table lists the bypass
#    entries (real server 0.0.0.0:0), and they count in no stats.
# Compared byte for byte: every answer, `ipvsadm -Ln --stats` and the masked connection table.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="80 53"
RS1_IP=172.16.1.2

setup_marks() {
    lvs nft -f - <<EOF
table ip mangle {
    chain prerouting {
        type filter hook prerouting priority mangle;
        ip daddr $RS1_IP meta l4proto { tcp, udp } th dport { 80, 53 } meta mark set 7
    }
}
EOF
    lvs ip rule add fwmark 7 lookup 107 &&
        lvs ip route add local 0.0.0.0/0 dev lo table 107
}

scenario() {
    local o=$1
    topo nat || { echo "topology failed" >> "$o"; return; }
    # The client reaches RS1's address through the director, as a router.
    ip -n "$CL" route add 172.16.1.0/24 via 10.0.0.1 || echo "client route failed" >> "$o"
    agent_start
    setup_marks || echo "marks failed" >> "$o"
    ipvs_restore "$o" <<EOF
-A -f 7 -s rr
-a -f 7 -r 172.16.2.2 -m -w 0
EOF
    echo "== cache_bypass=0" >> "$o"
    ag_to "$o" refused-udp udp $RS1_IP 53 2 40000
    ag_to "$o" refused-tcp tcp $RS1_IP 80 2 10
    lvs sysctl -qw net.ipv4.vs.cache_bypass=1
    echo "== cache_bypass=1" >> "$o"
    ag_to "$o" bypass-udp udp $RS1_IP 53 3 40001
    ag_to "$o" bypass-tcp tcp $RS1_IP 80 3 20000
    nap 0.5             # the last connection's closing segments
    estimator_rounds
    snapshot "$o" "after bypassed traffic" --stats
    stop_servers
    echo "rs1 received: $(received "$TEST_TMP/rs1.log")" >> "$o"
    echo "rs2 received: $(received "$TEST_TMP/rs2.log")" >> "$o"
    cleanup_netns
}

validate() {
    local o=$1 n
    # Refused with ICMP port unreachable, which neither an unconnected UDP socket nor a
    # connecting TCP one takes as final: both time out.
    n=$(grep -Ec '^refused-(tcp|udp): ERROR:TimeoutError$' "$o")
    check "cache_bypass=0: no flow answered ($n of 4 timed out)" test "$n" -eq 4
    n=$(grep -c '^bypass-[a-z]*: RS1' "$o")
    check "cache_bypass=1: every flow answered by RS1 ($n of 6)" test "$n" -eq 6
    expect_grep "$o" '^(TCP|UDP) .* 172\.16\.1\.2:(80|53) +0\.0\.0\.0:0' "bypass entries in the connection table"
    expect_grep "$o" '^rs2 received: (tcp 0/0 udp 0/0)?$' "nothing went to the weight-0 dest"
}

differential scenario validate
finish
