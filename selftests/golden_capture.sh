#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Captures golden vectors of the hashing schedulers (sh, mh, dh) from STOCK ip_vs.ko: which real
# server stock chooses for a fixed sequence of UDP flows. Run in the guest:
#
#     tools/vm-run -- selftests/golden_capture.sh host/tests/golden
#
# Writes OUTDIR/sh.txt, mh.txt, dh.txt and dh-fwmark.txt. Each scenario is a header line
#     sched=NAME flags=FLAGS dests=IP:PORT:WEIGHT,...
# (FLAGS: the ipvsadm -b flags comma-separated, or "-"; dests in the order of `ipvsadm -a`,
# which is the reverse of the kernel's list order) and one line per flow, in sending order:
#     CLIENT_IP:CLIENT_PORT DEST_IP:DEST_PORT
# where DEST is "-" if stock chose no server (the flow was dropped). The service is
# UDP 10.0.0.100:80. dh-fwmark.txt is a fwmark-1 service that nft gives to every address of
# 172.20.0.0/16, so its flow lines have the destination address too:
#     CLIENT_IP:CLIENT_PORT VIP_IP:VIP_PORT DEST_IP:DEST_PORT
#
# How: a client netns sends one UDP datagram per flow from a raw socket with the flow's
# (spoofed) source to a director netns; the director's service forwards (NAT) to real-server
# addresses routed to a dummy interface (the packets are dropped there, the connection entry
# stays); the choice per flow is read from /proc/net/ip_vs_conn. Every scenario has its own
# flows (no flow repeats, so the connections of earlier scenarios are never hit) and its own
# real-server addresses 192.168.N.x (so no dest comes back from the trash with old state).
# One Python process (sched_tool.py golden) does all scenarios: under TCG every exec counts.
. "$(dirname "$0")/lib.sh"
set -u

OUT=${1:?usage: golden_capture.sh OUTDIR}
case "$OUT" in /*) ;; *) OUT=$REPO_ROOT/$OUT ;; esac
VIP=10.0.0.100
FLOWS_PER_SCENARIO=200
TOOL=(python3 -S "$REPO_ROOT/selftests/sched_tool.py")

[ "$(id -u)" -eq 0 ] || { echo "must run as root (in the guest)"; exit 1; }
load_stock || { echo "cannot load stock ip_vs"; exit 1; }
mkdir -p "$OUT"

topo() {
    CL=$(netns_add cl) && LVS=$(netns_add lvs) || return 1
    ip link add c0 netns "$CL" type veth peer name l0 netns "$LVS" || return 1
    ip -n "$CL" -batch - <<EOF || return 1
addr add 10.0.0.2/24 dev c0
link set c0 up
route add $VIP via 10.0.0.1
route add 172.20.0.0/16 via 10.0.0.1
EOF
    ip -n "$LVS" -batch - <<EOF || return 1
addr add 10.0.0.1/24 dev l0
link set l0 up
addr add $VIP/32 dev lo
route add local 172.20.0.0/16 dev lo
link add dummy0 type dummy
addr add 192.168.0.254/16 dev dummy0
link set dummy0 up
EOF
    # The flows' sources are spoofed: no reverse-path check may drop them.
    ip netns exec "$LVS" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward
        for c in all default l0; do echo 0 > /proc/sys/net/ipv4/conf/$c/rp_filter; done' || return 1
    # Counts the flows' datagrams reaching the director (before IPVS takes them); marks the
    # fwmark service's traffic.
    ip netns exec "$LVS" nft -f - <<'EOF' || return 1
table ip golden {
    chain pre {
        type filter hook prerouting priority mangle;
        ip daddr 172.20.0.0/16 meta mark set 1
    }
    chain input {
        type filter hook input priority 0;
        udp dport 80 counter
    }
}
EOF
    # A static neighbour: no flow waits in (or overflows) the ARP queue.
    ip -n "$CL" neigh replace 10.0.0.1 dev c0 lladdr "$(ip -n "$LVS" -br link show l0 | awk '{print $3}')"
}

# dests N "HOST:PORT:WEIGHT ..." -> 192.168.N.HOST:PORT:WEIGHT,...
dests() {
    local n=$1 d out=""
    for d in $2; do out="$out,192.168.$n.$d"; done
    echo "${out#,}"
}

EQ3="1:8080:1 2:8080:1 3:8080:1"
W4="1:8080:1 2:8080:2 3:8080:3 4:8080:5"
Z4="4:8080:2 2:8080:0 3:8080:1 1:8080:3"
BIG3="3:8080:200 1:8080:30 2:8080:1"
M3="1:8080:1 2:8080:2 3:8080:3"
M5="1:8080:4 2:8080:1 1:8081:3 3:8080:0 4:9000:2"
MBIG="2:8080:1000 5:8080:300 1:8080:7"

# FILE SEED SCHED FLAGS DESTS [fwmark]; the seed also numbers the real servers' subnet.
# dh hashes the destination address: one answer per scenario for the single VIP, so several
# list sizes (the VIP's bucket modulo the number of dests; the first dest added is the last
# of the kernel's list), a quiesced dest where the VIP's bucket lands, and a fwmark service
# over many destination addresses in dh-fwmark.txt.
spec() {
    cat <<EOF
sh.txt 1 sh - $(dests 1 "$EQ3")
sh.txt 2 sh - $(dests 2 "$W4")
sh.txt 3 sh sh-port $(dests 3 "$EQ3")
sh.txt 4 sh sh-port $(dests 4 "$W4")
sh.txt 5 sh - $(dests 5 "$Z4")
sh.txt 6 sh sh-fallback $(dests 6 "$Z4")
sh.txt 7 sh sh-fallback,sh-port $(dests 7 "$Z4")
sh.txt 8 sh - $(dests 8 "$BIG3")
mh.txt 11 mh - $(dests 11 "$M3")
mh.txt 12 mh - $(dests 12 "$M5")
mh.txt 13 mh mh-port $(dests 13 "$M3")
mh.txt 14 mh mh-port $(dests 14 "$M5")
mh.txt 15 mh - $(dests 15 "$MBIG")
mh.txt 16 mh mh-port $(dests 16 "$MBIG")
dh.txt 21 dh - $(dests 21 "$EQ3")
dh.txt 22 dh - $(dests 22 "$W4")
dh.txt 23 dh - $(dests 23 "1:8080:1 2:8080:1")
dh.txt 24 dh - $(dests 24 "1:8080:1 2:8080:2 3:8080:1 4:8080:1 5:8080:1")
dh.txt 25 dh - $(dests 25 "1:8080:0 2:8080:1 3:8080:1")
dh-fwmark.txt 31 dh - $(dests 31 "$EQ3") fwmark
dh-fwmark.txt 32 dh - $(dests 32 "$Z4") fwmark
EOF
}

topo || { echo "topology failed"; exit 1; }
rm -f "$OUT/sh.txt" "$OUT/mh.txt" "$OUT/dh.txt" "$OUT/dh-fwmark.txt"
spec | ip netns exec "$LVS" "${TOOL[@]}" golden "$OUT" "$CL" "$FLOWS_PER_SCENARIO" || exit 1
cleanup_netns
unload_ipvs
echo "golden vectors written to $OUT"
