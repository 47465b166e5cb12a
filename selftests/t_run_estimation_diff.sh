#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# vm-cpus: 2
# Differential: what suspends the rate estimator. With run_estimation at 0, and again with an
# empty est_cpulist, UDP traffic through a NAT service leaves the rates of
# /proc/net/ip_vs_stats as they were for three estimator periods (6 s; a slower host only
# makes this part weaker, never wrong). Back at 1 (at "0-1"), estimation resumes: the next
# traffic changes the rates. The same checks hold for stock ip_vs (whose estimator kthreads
# stop) and ipvs_rs (whose estimator work leaves the rates alone).
# Stock also stops updating the counters it reports while suspended (they are copied by its
# estimator); ipvs_rs reads them at once, so counters are not compared.
# The sysctl is set after the first service: stock applies a write made before it only at the
# next reload of its kthreads.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="53"

rates() {           # rates: the rates line of the director's /proc/net/ip_vs_stats
    lvs_proc ip_vs_stats || return 1
    RATES=$(printf '%s\n' "${LVS_PROC##*Bytes/s}" | tr -s ' \n' ' ')
}
rates_changed() { rates && [ "$RATES" != "$BEFORE" ]; }

# burst OUT: 20 datagrams, each from a new socket, and how many were answered. Which real
# server answers is not recorded: a new socket may reuse the source port of an earlier flow
# whose connection is still there (not scheduled again), so rr's order differs between runs.
burst() {
    ag udpnew $VIP 53 20 10 > "$TEST_TMP/burst"
    echo "burst: $(grep -c '^RS[12]$' "$TEST_TMP/burst") of 20 answered" >> "$1"
}

# suspended OUT LABEL: a burst of traffic must leave the rates as they are for 6 s.
suspended() {
    local o=$1 t
    rates; BEFORE=$RATES
    burst "$o"
    t=$((SECONDS + 6))
    while [ $SECONDS -lt $t ]; do
        if rates_changed; then echo "$2: rates changed: $BEFORE -> $RATES" >> "$o"; return; fi
        nap 0.3
    done
    echo "$2: rates unchanged" >> "$o"
}

# resumed OUT LABEL: the next burst changes the rates.
resumed() {
    local o=$1
    rates; BEFORE=$RATES
    burst "$o"
    if wait_for "rates after resuming" 60 rates_changed; then
        echo "$2: rates changed" >> "$o"
    else
        echo "$2: rates unchanged: $RATES" >> "$o"
    fi
}

scenario() {
    local o=$1
    topo nat || { echo "topology failed" >> "$o"; return; }
    agent_start
    ipvs_restore "$o" <<EOF2
-A -u $VIPS:53 -s rr
-a -u $VIPS:53 -r ${RS_IPS[1]}:53 -m
-a -u $VIPS:53 -r ${RS_IPS[2]}:53 -m
EOF2
    lvs sysctl -qw net.ipv4.vs.run_estimation=0
    echo "run_estimation: $(lvs sysctl -n net.ipv4.vs.run_estimation)" >> "$o"
    suspended "$o" "run_estimation=0"
    lvs sysctl -qw net.ipv4.vs.run_estimation=1
    resumed "$o" "run_estimation=1"
    lvs bash -c 'echo > /proc/sys/net/ipv4/vs/est_cpulist'
    echo "est_cpulist: '$(lvs cat /proc/sys/net/ipv4/vs/est_cpulist)'" >> "$o"
    suspended "$o" "est_cpulist empty"
    lvs bash -c 'echo 0-1 > /proc/sys/net/ipv4/vs/est_cpulist'
    resumed "$o" "est_cpulist 0-1"
    stop_servers
    cleanup_netns
}

validate() {
    local o=$1 n
    expect_grep "$o" '^run_estimation: 0$' "the sysctl reads back 0"
    expect_grep "$o" '^run_estimation=0: rates unchanged$' "run_estimation=0: traffic leaves the rates alone"
    expect_grep "$o" '^run_estimation=1: rates changed$' "run_estimation=1: estimation resumes"
    expect_grep "$o" "^est_cpulist: ''$" "est_cpulist reads back empty"
    expect_grep "$o" '^est_cpulist empty: rates unchanged$' "an empty est_cpulist: traffic leaves the rates alone"
    expect_grep "$o" '^est_cpulist 0-1: rates changed$' "est_cpulist 0-1: estimation resumes"
    n=$(grep -c '^burst: 20 of 20 answered$' "$o")
    check "every datagram answered ($n of 4 bursts whole)" test "$n" -eq 4
}

differential scenario validate
finish
