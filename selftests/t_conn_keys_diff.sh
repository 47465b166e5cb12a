#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: one client source port talking to many NAT services (as an NTP client, or a
# NAT gateway's single mapping, does), through stock ip_vs.ko and ipvs_rs.ko. Compared byte
# for byte: each datagram's answer in two rounds (the second round's requests find their
# connections by their first key, the replies by a NAT connection's second key: the same real
# server answers), `ipvsadm -Ln` and the connection table.
# ipvs_rs only (/proc/net/ip_vs_status, a file of its own): each NAT connection is in the
# table twice (two links), and the connections of the one client address and port spread over
# the buckets rather than sharing one (a table hashed on the client's end alone puts all of
# them in one chain, which every one of their packets walks).
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

NPORTS=48
PORTS=$(seq -s ' ' 3001 $((3000 + NPORTS)))
SPORT=123

scenario() {
    local o=$1 p rules=
    topo nat || { echo "topology failed" >> "$o"; return; }
    agent_start
    for p in $PORTS; do
        rules+="-A -u $VIPS:$p -s rr"$'\n'
        rules+="-a -u $VIPS:$p -r ${RS_IPS[1]}:$p -m"$'\n'
        rules+="-a -u $VIPS:$p -r ${RS_IPS[2]}:$p -m"$'\n'
    done
    ipvs_restore "$o" <<< "$rules"
    ag_to "$o" round1 udpports "$VIP" "${PORTS// /,}" "$SPORT"
    ag_to "$o" round2 udpports "$VIP" "${PORTS// /,}" "$SPORT"
    snapshot "$o" "after traffic"
    if module_loaded ipvs_rs && lvs_proc ip_vs_status; then
        printf '%s' "$LVS_PROC" > "$TEST_TMP/ours.status"
    fi
    stop_servers
    cleanup_netns
}

validate() {
    local f=$1 n1 n2
    n1=$(grep -c '^round1: [0-9]* RS[12]$' "$f")
    n2=$(grep -c '^round2: [0-9]* RS[12]$' "$f")
    if [ "$n1" = "$NPORTS" ] && [ "$n2" = "$NPORTS" ]; then
        pass "every datagram of both rounds answered by a real server"
    else
        fail "answers: round 1 $n1, round 2 $n2 of $NPORTS"
    fi
    if [ "$(grep '^round1: ' "$f" | cut -d' ' -f2-)" = "$(grep '^round2: ' "$f" | cut -d' ' -f2-)" ]; then
        pass "round 2 answered by round 1's real servers (the connections held)"
    else
        fail "round 2's real servers differ from round 1's"
    fi
    expect_grep "$f" "^UDP [A-Z]+ ${CL_IP//./\\.}:\* ${VIP//./\\.}:3001 " "connections listed"
}

differential scenario validate

if [ -f "$TEST_TMP/ours.status" ]; then
    status=$TEST_TMP/ours.status
    diag_file "$status"
    links=$(awk -F'\t' '$1 == "Conn links:" { print $2 }' "$status")
    conns=$(awk -F'\t' '$1 == "Conns:" { print $2 }' "$status")
    longest=$(awk -F'\t' '$1 == "Conn longest chain:" { print $2 }' "$status")
    if [ "$conns" = "$NPORTS" ] && [ "$links" = $((2 * NPORTS)) ]; then
        pass "ipvs_rs: $conns NAT connections, each with its second key ($links links)"
    else
        fail "ipvs_rs: $conns connections with $links links, want $NPORTS with $((2 * NPORTS))"
    fi
    # 96 links in at least 256 buckets: a chain of 8 is already far beyond chance.
    if [ -n "$longest" ] && [ "$longest" -le 8 ]; then
        pass "ipvs_rs: one client port's connections spread (longest chain $longest)"
    else
        fail "ipvs_rs: longest chain '${longest}', want at most 8 (one client port's $NPORTS connections in one bucket?)"
    fi
fi
finish
