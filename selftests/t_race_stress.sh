#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# full only: its races want more CPUs than make check's guests have (make soak runs it in a
# 4-vCPU guest; make selftest T=t_race_stress in a 2-vCPU one), and even its smallest form
# (10 s of NAT churn) costs 190 s of guest time: persistence templates that still control
# connections when their timer fires wait 60 s more (upstream's expire_later), and every
# entry must be gone before the final listing.
# Race stress (issue 11): expiry timers racing with packets and with the control plane, on
# every CPU the guest has, through stock ip_vs.ko and ipvs_rs.ko. Every timeout is 1 s
# (--set 1 1 1), in NAT (UDP) and DR (UDP and TCP, whose closed connections wait 1 s in
# FIN_WAIT):
#  - UDP flows that send one datagram a second each (dp_tool.py trickle), so that a flow's
#    next packet arrives about when its entry expires, to an rr service and to a persistent
#    sh service (-p 1: its templates expire the same way), beside a flood of new flows and,
#    in DR, back-to-back TCP connections;
#  - meanwhile, for RACE_SECONDS (default 30), cycles of: a dest deleted and added back
#    (from the trash), a weight set to 0 and back, expire_nodest_conn toggled, the
#    scheduler switched and back, the TCP service's dest deleted and added back, the
#    persistent service deleted and added back, the table listed over netlink and /proc;
# then, the traffic stopped: every command of every cycle succeeded, every entry expires,
# every dest's ActiveConn/InActConn is back to 0 (a counter not given back on a racing path
# stays), the listing is the one before the traffic, and the module unloads. Compared with
# stock byte for byte; tools/vm-run fails the run on any splat (DEBUG_OBJECTS timers and
# frees, SLUB, lockdep, RCU) or kmemleak report.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

RACE_SECONDS=${RACE_SECONDS:-30}
PORTS="80 53"
MODES="nat dr"

rules() {     # rules MODE FLAG
    cat <<EOF
-A -u $VIP:53 -s rr
-a -u $VIP:53 -r 172.16.1.2:53 $2
-a -u $VIP:53 -r 172.16.2.2:53 $2
-A -u $VIP:54 -s sh -p 1
-a -u $VIP:54 -r 172.16.1.2:53 $2
-a -u $VIP:54 -r 172.16.2.2:53 $2
EOF
    [ "$1" = dr ] || return 0
    cat <<EOF
-A -t $VIP:80 -s wlc
-a -t $VIP:80 -r 172.16.1.2:80 $2
-a -t $VIP:80 -r 172.16.2.2:80 $2
EOF
}

# One cycle of control-plane churn, in the director shell; prints "fail: CMD" per failure.
# It ends where it started, so the listing after the traffic is the one before.
churn_cycle() {     # churn_cycle MODE FLAG
    local f=$2 tcp=
    [ "$1" = dr ] && tcp="
        t ipvsadm -d -t $VIP:80 -r 172.16.1.2:80
        t ipvsadm -a -t $VIP:80 -r 172.16.1.2:80 $f"
    lvs sh -c "
        t() { \"\$@\" > /dev/null 2>&1 || echo \"fail: \$*\"; }
        t ipvsadm -d -u $VIP:53 -r 172.16.2.2:53
        t ipvsadm -a -u $VIP:53 -r 172.16.2.2:53 $f
        t ipvsadm -e -u $VIP:53 -r 172.16.1.2:53 $f -w 0
        t sysctl -qw net.ipv4.vs.expire_nodest_conn=1
        t ipvsadm -e -u $VIP:53 -r 172.16.1.2:53 $f -w 1
        t ipvsadm -E -u $VIP:53 -s wrr
        t ipvsadm -Lnc
        t ipvsadm -E -u $VIP:53 -s rr
        t sysctl -qw net.ipv4.vs.expire_nodest_conn=0
        t ipvsadm -D -u $VIP:54
        t cat /proc/net/ip_vs_conn
        t ipvsadm -A -u $VIP:54 -s sh -p 1
        t ipvsadm -a -u $VIP:54 -r 172.16.1.2:53 $f
        t ipvsadm -a -u $VIP:54 -r 172.16.2.2:53 $f$tcp"
}

one_mode() {
    local o=$1 mode=$2 flag pids=() cycles=0 end fails
    case $mode in nat) flag=-m ;; dr) flag=-g ;; esac
    echo "== mode $mode" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    rules "$mode" "$flag" | lvs ipvsadm -R >> "$o" 2>&1 || echo "ipvsadm -R failed" >> "$o"
    lvs ipvsadm --set 1 1 1 >> "$o" 2>&1
    # Sorted: a dest added back is listed first.
    lvs ipvsadm -Ln | sort > "$TEST_TMP/before"
    # The traffic outlives the churn by a little, so packets keep racing it to the end.
    ip netns exec "$CL" $TOOL trickle $VIP 53,54 $((RACE_SECONDS + 2)) 32 1.0 &
    pids+=($!)
    ip netns exec "$CL" $TOOL flood $VIP 53 $((RACE_SECONDS + 2)) 4 100 &
    pids+=($!)
    if [ "$mode" = dr ]; then
        ip netns exec "$CL" timeout $((RACE_SECONDS + 2)) $TOOL tcp $VIP 80 1000000 100 > /dev/null &
        pids+=($!)
    fi
    end=$((SECONDS + RACE_SECONDS))
    : > "$TEST_TMP/churn"
    while [ $SECONDS -lt $end ]; do
        churn_cycle "$mode" "$flag" >> "$TEST_TMP/churn"
        cycles=$((cycles + 1))
    done
    wait "${pids[@]}" 2> /dev/null
    diag "$mode: $cycles churn cycles in $RACE_SECONDS s"
    fails=$(sort "$TEST_TMP/churn" | uniq -c)
    echo "churn failures: ${fails:-none}" >> "$o"
    [ "$cycles" -ge 2 ] && echo "at least 2 churn cycles" >> "$o"
    # Entries of failed handshakes (SYN_RECV) wait 60 s, whatever --set says.
    wait_entries_gone '.' 150 && echo "every entry expired" >> "$o"
    lvs ipvsadm -Ln | sort > "$TEST_TMP/after"
    if cmp -s "$TEST_TMP/before" "$TEST_TMP/after"; then
        echo "listing after the traffic: as before it, every counter 0" >> "$o"
    else
        { echo "listing before:"; cat "$TEST_TMP/before"; echo "and after:"; cat "$TEST_TMP/after"; } >> "$o"
    fi
    stop_servers
    cleanup_netns
}

validate_mode() {
    expect_grep "$1" '^churn failures: none$' "$2: every churn command succeeded"
    expect_grep "$1" '^at least 2 churn cycles$' "$2: the churn ran"
    expect_grep "$1" '^every entry expired$' "$2: every entry expired"
    expect_grep "$1" '^listing after the traffic: as before it' "$2: every dest's counters back to 0"
}

diag "$(nproc) CPUs, $RACE_SECONDS s of churn per mode"
differential per_mode_scenario per_mode_validate
finish
