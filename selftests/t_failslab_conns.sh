#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Fault injection: new connections while the connection allocations (GFP_ATOMIC) fail at
# random. A local client on the director (LOCAL_OUT runs in its process context, which
# failslab's task filter can target) opens UDP connections to a NAT service with 1 s
# timeouts while failslab fails a share of its non-sleeping slab allocations. Once the
# traffic stops and every entry has expired, each dest's ActiveConn/InActConn must be back to
# 0/0: a counter that a failed insert leaked would stay up forever (and skew lc/wlc and the
# thresholds). Run against stock ip_vs too, in the same boot, as the reference.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

FS=/sys/kernel/debug/failslab
[ -d "$FS" ] || skip "no $FS (CONFIG_FAILSLAB, CONFIG_FAULT_INJECTION_DEBUG_FS)"
PORTS="80"
SECONDS_OF_TRAFFIC=${FAILSLAB_SECONDS:-4}

failslab() {        # failslab on|off
    if [ "$1" = on ]; then
        echo Y > $FS/task-filter
        echo Y > $FS/ignore-gfp-wait     # only GFP_ATOMIC and friends fail
        echo 0 > $FS/verbose
        echo 1 > $FS/interval
        echo 25 > $FS/probability
        echo -1 > $FS/times
    else
        echo 0 > $FS/probability
        echo 0 > $FS/times
    fi
}
at_exit "failslab off"

# dest_counters: "RS active/inactive" of every dest of the NAT service
dest_counters() {
    lvs ipvsadm -Ln -u $VIP:80 | awk '$1 == "->" && $2 ~ /^172/ { print $2, $5 "/" $6 }'
}

scenario() {
    local o=$1 n
    topo nat || { echo "topology failed" >> "$o"; return; }
    ipvs_restore "$o" <<EOF
-A -u $VIP:80 -s rr
-a -u $VIP:80 -r 172.16.1.2:80 -m
-a -u $VIP:80 -r 172.16.2.2:80 -m
EOF
    lvs ipvsadm --set 0 0 1
    failslab on
    # The flooding process (and only it) may see its allocations fail.
    lvs sh -c "echo 1 > /proc/self/make-it-fail; exec $TOOL flood $VIP 80 $SECONDS_OF_TRAFFIC 2"
    failslab off
    # Every entry expires within a few seconds once the traffic stopped.
    for n in $(seq 1 150); do
        [ "$(lvs ipvsadm -Lnc | tail -n +3 | wc -l)" -eq 0 ] && break
        nap 0.2
    done
    echo "entries left: $(lvs ipvsadm -Lnc | tail -n +3 | wc -l)" >> "$o"
    echo "dest counters: $(dest_counters | paste -sd,)" >> "$o"
    stop_servers
    n=$(cat "$TEST_TMP"/rs*.log 2>/dev/null | wc -l)
    echo "datagrams delivered: $([ "$n" -gt 0 ] && echo some || echo none)" >> "$o"
    cleanup_netns
}

validate() {
    expect_grep "$1" "^entries left: 0$" "every connection expired"
    expect_grep "$1" "^dest counters: 172\.16\.1\.2:80 0/0,172\.16\.2\.2:80 0/0$" "every dest's counters back to 0/0"
    expect_grep "$1" "^datagrams delivered: some$" "traffic went through despite the failures"
}

differential scenario validate
finish
