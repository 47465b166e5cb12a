#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential test of the destination-address schedulers (lblc, lblcr, dh) as users run
# them: one fwmark service for a range of destination addresses (nft `meta mark set` on the
# director), through stock ip_vs.ko and through ipvs_rs.ko, compared byte for byte: which
# real server answered each flow and the service's dests with ActiveConn and InActConn.
# rr runs the same way, as a baseline of fwmark services alone. Kept apart from
# t_sched_diff.sh so that a failure of fwmark services does not hide scheduler results.
#
# Topology as in t_sched_diff.sh (sched_lib.sh). Section K uses fwmark K, given by nft to
# 10.9.K.0/24; its flows cycle through six of those addresses, so lblc and lblcr keep one
# cache entry per address: a second round of flows finds them, held TCP connections make
# dests overloaded (ActiveConn above the weight) and a quiesced, deleted and re-added dest
# invalidates them.
. "${0%/*}/lib.sh"
. "${0%/*}/sched_lib.sh"

# make check: the destination-address schedulers; make soak: rr too (fwmark services with
# rr are t_fwmark_diff's).
SCHEDULERS=${SCHED_FWMARK_SCHEDULERS-$(full_or_quick "rr lblc lblcr dh" "lblc lblcr dh")}

marks() {           # the nft rules: 10.9.K.0/24 gets mark K, for K = 1..number of sections
    local k=0 s
    echo "table ip sched_marks {"
    echo "    chain pre {"
    echo "        type filter hook prerouting priority mangle;"
    for s in $SCHEDULERS; do
        k=$((k + 1))
        echo "        ip daddr 10.9.$k.0/24 meta mark set $k"
    done
    echo "    }"
    echo "}"
}

# fwmark_steps SCHED MARK: one section (script lines for sched_tool.py run).
fwmark_steps() {
    local s=$1 k=$2 svc="-f $2"
    cat <<EOF
echo == $s fwmark -
targets $(seq -f "10.9.$k.%g" 1 6 | xargs)
ctl -A $svc -s $s
ctl -a $svc -r 172.16.1.2:80 -m -w 1
ctl -a $svc -r 172.16.2.2:80 -m -w 2
ctl -a $svc -r 172.16.3.2:80 -m -w 3 -x 10
hold a @ 80 6
udp @ 80 6
ctl -L $svc
hold b @ 80 6
ctl -L $svc
ctl -e $svc -r 172.16.2.2:80 -m -w 0
tcp @ 80 6
udp @ 80 6
close a1 a2 a3 b1
ctl -L $svc
# Held connections of a deleted dest get no packets until it is back.
ctl -d $svc -r 172.16.1.2:80
hold c @ 80 6
ctl -e $svc -r 172.16.2.2:80 -m -w 2
ctl -a $svc -r 172.16.1.2:80 -m -w 1
udp @ 80 6
hold d @ 80 6
ctl -L $svc
closeall
ipvsadm -Ln $svc
ctl -D $svc
EOF
}

scenario() {
    local o=$1 start=$SECONDS s k=0
    topo >> "$o" 2>&1 || { echo "topology failed" >> "$o"; return; }
    marks | ip netns exec "$LVS" nft -f - >> "$o" 2>&1 || { echo "nft failed" >> "$o"; return; }
    diag "topology: $((SECONDS - start)) s"
    {
        echo "sources $CLIENTS"
        for s in $SCHEDULERS; do
            k=$((k + 1))
            fwmark_steps "$s" "$k"
        done
    } > "$TEST_TMP/script"
    run_script "$TEST_TMP/script" "$TEST_TMP/run.out"
    stop_servers
    cat "$TEST_TMP/run.out" >> "$o"
}

# round FILE "SECTION" FIRST: "@address server" of that section's flows in the round
# of 6 starting at flow index FIRST (0-based).
round() {
    section "$1" "$2" | awk -v first="$3" '/^(tcp|udp) .* -> / { if (n >= first && n < first + 6) print $3, $NF; n++ }'
}

validate() {
    local o=$1 s same
    check_invariants "$o" fwmark=48
    # Known behaviour of stock, so that the script is known to exercise it.
    if has_section "$o" "dh fwmark -"; then
        [ "$(section "$o" "dh fwmark -" | awk '/ -> RS/ {print $NF}' | sort -u | wc -l)" -ge 2 ] &&
            pass "dh: the destination addresses spread over several dests" ||
            fail "dh: all destination addresses went to one dest"
    fi
    for s in lblc lblcr; do
        has_section "$o" "$s fwmark -" || continue
        # Round a (flows 0-5) and round b (flows 12-17) hit the same six addresses: the cache
        # sends most of them to the same dest again.
        round "$o" "$s fwmark -" 0 > "$TEST_TMP/a"
        round "$o" "$s fwmark -" 12 > "$TEST_TMP/b"
        same=$(paste -d' ' "$TEST_TMP/a" "$TEST_TMP/b" | awk '$1 == $3 && $2 == $4 && $2 ~ /^RS/' | wc -l)
        [ "$same" -ge 3 ] && pass "$s: $same of 6 addresses kept their dest in the second round" ||
            fail "$s: only $same of 6 addresses kept their dest in the second round"
    done
}

differential scenario validate
finish
