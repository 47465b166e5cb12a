#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: /proc/net/ip_vs on an empty table, in the init netns, in a netns
# created before the module was loaded and in one created after.
# The other IPVS proc files are compared too, but only reported (not required).
. "${0%/*}/lib.sh"

pre_load() {
    netns_add early >/dev/null || echo "netns add early failed" >> "$1"
}

scenario() {
    local o=$1 late f
    late=$(netns_add late) || { echo "netns add late failed" >> "$o"; return; }
    run_capture "$o" cat /proc/net/ip_vs
    run_capture "$o" ip netns exec "${NETNS_PREFIX}early" cat /proc/net/ip_vs
    run_capture "$o" ip netns exec "$late" cat /proc/net/ip_vs
    run_capture "$o" cat /proc/net/ip_vs
    # Extra files: informational.
    for f in ip_vs_stats ip_vs_stats_percpu ip_vs_conn ip_vs_conn_sync; do
        run_capture "$o.extra" cat "/proc/net/$f"
        run_capture "$o.extra" ip netns exec "$late" cat "/proc/net/$f"
    done
    run_capture "$o.extra" sh -c 'ls /proc/sys/net/ipv4/vs/ 2>&1'
    run_capture "$o.extra" sh -c 'cd /proc/sys/net/ipv4/vs && grep -r . . 2>&1 | sort'
    ip netns del "$late"
    ip netns del "${NETNS_PREFIX}early"
}

validate() {
    local o=$1 n
    n=$(grep -c '^IP Virtual Server version 1\.2\.1 (size=4096)$' "$o")
    if [ "$n" -eq 4 ]; then pass "4 /proc/net/ip_vs banners"; else fail "$n of 4 /proc/net/ip_vs banners"; fi
    n=$(grep -c '^Prot LocalAddress:Port Scheduler Flags$' "$o")
    if [ "$n" -eq 4 ]; then pass "4 /proc/net/ip_vs headers"; else fail "$n of 4 /proc/net/ip_vs headers"; fi
    if grep -q '^exit=[1-9]' "$o"; then fail "a cat failed"; else pass "every cat exit 0"; fi
}

differential scenario validate
if [ -f "$DIFF_STOCK_OUT.extra" ] && [ -f "$DIFF_OURS_OUT.extra" ]; then
    if diff_outputs "$DIFF_STOCK_OUT.extra" "$DIFF_OURS_OUT.extra" >/dev/null; then
        diag "other IPVS proc/sysctl files identical too"
    else
        diag "note (not a failure): other IPVS proc/sysctl files differ:"
        diff_outputs "$DIFF_STOCK_OUT.extra" "$DIFF_OURS_OUT.extra"
    fi
fi
finish
