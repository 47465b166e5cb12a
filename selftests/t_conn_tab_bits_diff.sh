#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Differential: a large connection table (conn_tab_bits=20, clamped by the guest's memory as
# stock clamps it) loads like stock, and ipvsadm shows the same size; then a netns with a
# service and connections in it works and goes away cleanly. On an 8 GiB guest (`make soak`)
# this is a 2^20-bucket (8 MiB) table, past what kmalloc can give in one piece.
. "${0%/*}/lib.sh"

BITS=${CONN_TAB_BITS:-20}

load_with_bits() {  # load_with_bits stock|ours
    unload_ipvs || return 1
    if [ "$1" = stock ]; then
        kmodprobe ip_vs conn_tab_bits="$BITS"
    else
        ours_deps
        for m in $OURS_DEPS; do kmodprobe "$m" || return 1; done
        insmod "$IPVS_RS_KO" conn_tab_bits="$BITS"
    fi
}

for mod in stock ours; do
    if [ "$mod" = ours ] && ! have_ours; then skip "$(basename "$IPVS_RS_KO") not built"; fi
    if ! out=$(load_with_bits "$mod" 2>&1); then
        fail "$mod: load with conn_tab_bits=$BITS: $out"
        continue
    fi
    ipvsadm -Ln | head -n1 > "$TEST_TMP/$mod.size"
    diag "$mod: $(cat "$TEST_TMP/$mod.size")"
    ns=$(netns_add bits) || { fail "netns add"; continue; }
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add 10.9.0.1/32 dev lo
    ip netns exec "$ns" ipvsadm -A -u 10.9.0.1:80 -s rr
    ip netns exec "$ns" ipvsadm -a -u 10.9.0.1:80 -r 127.0.0.1:80 -m
    ip netns exec "$ns" python3 "$REPO_ROOT/selftests/dp_tool.py" flood 10.9.0.1 80 0.5 4
    n=$(ip netns exec "$ns" ipvsadm -Lnc | tail -n +3 | wc -l)
    [ "$n" -gt 0 ] && pass "$mod: connections in a netns with the large table ($n)" ||
        fail "$mod: no connections listed"
    ip netns del "$ns"
    unload_ipvs || fail "$mod: unload"
done
if [ -s "$TEST_TMP/stock.size" ] && cmp -s "$TEST_TMP/stock.size" "$TEST_TMP/ours.size"; then
    pass "ipvsadm -Ln shows the same table size: $(cat "$TEST_TMP/ours.size")"
else
    fail "table size differs: stock '$(cat "$TEST_TMP/stock.size" 2>/dev/null)' ours '$(cat "$TEST_TMP/ours.size" 2>/dev/null)'"
fi
finish
