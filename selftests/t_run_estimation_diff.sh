#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: the run_estimation sysctl. With it at 0 the rate estimator is suspended: UDP
# traffic through a NAT service leaves the rates of /proc/net/ip_vs_stats at zero for three
# estimator periods (6 s; a slower host only makes this part weaker, never wrong). Back at 1,
# estimation resumes: the next traffic gives rates. The same checks hold for stock ip_vs
# (whose estimator kthreads stop) and ipvs_rs (whose estimator work leaves the rates alone).
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
rates_nonzero() { rates && [[ $RATES =~ [1-9A-F] ]]; }

scenario() {
    local o=$1 t
    topo nat || { echo "topology failed" >> "$o"; return; }
    agent_start
    ipvs_restore "$o" <<EOF2
-A -u $VIPS:53 -s rr
-a -u $VIPS:53 -r ${RS_IPS[1]}:53 -m
-a -u $VIPS:53 -r ${RS_IPS[2]}:53 -m
EOF2
    lvs sysctl -qw net.ipv4.vs.run_estimation=0
    echo "run_estimation: $(lvs sysctl -n net.ipv4.vs.run_estimation)" >> "$o"
    ag_to "$o" burst1 udpnew $VIP 53 20 10
    t=$((SECONDS + 6))
    while [ $SECONDS -lt $t ]; do
        if rates_nonzero; then echo "suspended: rates changed: $RATES" >> "$o"; break; fi
        nap 0.3
    done
    rates_nonzero || echo "suspended: rates stayed zero" >> "$o"
    lvs sysctl -qw net.ipv4.vs.run_estimation=1
    ag_to "$o" burst2 udpnew $VIP 53 20 10
    if wait_for "rates after resuming" 60 rates_nonzero; then
        echo "resumed: rates nonzero" >> "$o"
    else
        echo "resumed: rates still zero: $RATES" >> "$o"
    fi
    stop_servers
    cleanup_netns
}

validate() {
    local o=$1
    expect_grep "$o" '^run_estimation: 0$' "the sysctl reads back 0"
    expect_grep "$o" '^suspended: rates stayed zero$' "run_estimation=0: traffic leaves the rates at zero"
    expect_grep "$o" '^resumed: rates nonzero$' "run_estimation=1: estimation resumes"
    n=$(grep -c '^burst[12]: RS' "$o")
    check "every datagram answered ($n of 40)" test "$n" -eq 40
}

differential scenario validate
finish
