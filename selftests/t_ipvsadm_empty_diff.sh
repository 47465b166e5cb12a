#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: stock ipvsadm against an empty table, on stock ip_vs.ko and on
# ipvs_rs.ko. Every command's output and exit status must be byte-identical.
# Also shows that timeouts are per netns.
. "${0%/*}/lib.sh"

scenario() {
    local o=$1 ns
    run_capture "$o" ipvsadm -Ln
    run_capture "$o" ipvsadm -L --timeout
    run_capture "$o" ipvsadm --set 61 62 63
    run_capture "$o" ipvsadm -L --timeout
    run_capture "$o" ipvsadm -C
    run_capture "$o" ipvsadm -Z
    run_capture "$o" ipvsadm -Ln --stats
    run_capture "$o" ipvsadm -Ln --rate
    run_capture "$o" ipvsadm -S -n
    run_capture "$o" ipvsadm -L --daemon
    run_capture "$o" ipvsadm -D -t 10.0.0.1:80
    run_capture "$o" ipvsadm -E -t 10.0.0.1:80 -s rr
    run_capture "$o" ipvsadm -d -t 10.0.0.1:80 -r 10.0.0.2
    run_capture "$o" ipvsadm -Z -t 10.0.0.1:80
    run_capture "$o" ipvsadm -L -t 10.0.0.1:80
    run_capture "$o" ipvsadm --stop-daemon master
    run_capture "$o" ipvsadm --set 3000000 1 1
    run_capture "$o" ipvsadm -L --timeout
    run_capture "$o" cat /proc/net/ip_vs
    # More read-only listings ipvsadm users run.
    run_capture "$o" ipvsadm
    run_capture "$o" ipvsadm -Ln --exact
    run_capture "$o" ipvsadm -Ln --thresholds
    run_capture "$o" ipvsadm -Ln --persistent-conn
    run_capture "$o" ipvsadm -Lnc
    run_capture "$o" ipvsadm --stop-daemon backup
    # Timeouts are per netns: a fresh netns has the defaults, and setting them
    # there leaves the init netns alone.
    ns=$(netns_add t1) || { echo "netns add failed" >> "$o"; return; }
    run_capture "$o" ip netns exec "$ns" ipvsadm -L --timeout
    run_capture "$o" ip netns exec "$ns" ipvsadm --set 7 8 9
    run_capture "$o" ip netns exec "$ns" ipvsadm -L --timeout
    run_capture "$o" ip netns exec "$ns" ipvsadm -Ln
    run_capture "$o" ip netns exec "$ns" cat /proc/net/ip_vs
    run_capture "$o" ipvsadm -L --timeout
    ip netns del "$ns"
}

# The expected sequence of "-L --timeout" results (checked on stock, so the
# scenario itself is validated, and on ours).
validate() {
    local o=$1 got want
    got=$(grep '^Timeout (tcp tcpfin udp):' "$o" | sed 's/^Timeout (tcp tcpfin udp): //' | paste -sd'|')
    want='900 120 300|61 62 63|61 62 63|900 120 300|7 8 9|61 62 63'
    if [ "$got" = "$want" ]; then
        pass "timeouts sequence $want"
    else
        fail "timeouts sequence: want '$want' got '$got'"
    fi
    expect_grep "$o" '^IP Virtual Server version 1\.2\.1 \(size=[0-9]+\)$' "ipvsadm -Ln banner"
    # --set 61 62 63 succeeded, the out-of-range --set failed.
    awk '/^\$ ipvsadm --set 61 62 63$/{getline; print; exit}' "$o" | grep -qx 'exit=0' \
        && pass "--set 61 62 63 exit 0" || fail "--set 61 62 63 did not exit 0"
    if awk '/^\$ ipvsadm --set 3000000 1 1$/{f=1;next} f&&/^exit=/{print;exit}' "$o" | grep -qx 'exit=0'; then
        fail "--set 3000000 1 1 succeeded"
    else
        pass "--set 3000000 1 1 failed"
    fi
    if awk '/^\$ ipvsadm -D -t 10.0.0.1:80$/{f=1;next} f&&/^exit=/{print;exit}' "$o" | grep -qx 'exit=0'; then
        fail "-D of an absent service succeeded"
    else
        pass "-D of an absent service failed"
    fi
}

differential scenario validate
finish
