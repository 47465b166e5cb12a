#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: enough services to resize ipvs_rs's service table (it starts at 256 buckets and
# grows past two services a bucket), under traffic, through stock ip_vs.ko and ipvs_rs.ko.
# NSVC UDP NAT services VIP:2001... are added in one `ipvsadm -R` while a client sends to the
# first of them (new flows at a bounded rate, so that lookups run during every resize), then all
# but the first 50 are deleted in another (the table shrinks back). Compared byte for byte:
# which ports answer after each step (a datagram to a deleted service is not answered), and
# the services' listing (stock's order; the dests' connection counters left out).
# ipvs_rs only (/proc/net/ip_vs_status): the table grew, then shrank back to 256 buckets.
# tools/vm-run fails the run on any splat (lockdep, RCU, SLUB) or kmemleak report.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

NSVC=$(full_or_quick 2000 600)
LAST=$((2000 + NSVC))
PORTS="53"
PROBE="2001,2050,2051,2300,$LAST"   # the first and last of the 50 kept, then three deleted
# A dest's connection counters depend on how many of the flood's flows had started (and
# expired): the listings leave them out.
NO_COUNTS="awk '\$1 == \"->\" { \$5 = \$6 = \"\" } { print }'"

# probe FILE LABEL LIVE DEAD: a datagram from the client to each port of LIVE and DEAD (comma
# lists), appended to FILE as "LABEL: SRC PORT ANSWER" in port order. A LIVE port that does not
# answer is asked again, up to three more times: on a loaded host a datagram or its answer can
# be lost with the flood running, and only a port that never answers is a finding.
probe() {
    local f=$1 label=$2 live=$3 dead=$4 try src port ans left
    : > "$TEST_TMP/probe"
    for try in 1 2 3 4; do
        left=
        ag from udp "$VIP" "$live" 1 "$CL_IP" > "$TEST_TMP/ag.last"
        while read -r src port ans; do
            if [[ $ans == ERROR* ]] && [ "$try" -lt 4 ]; then
                left+=${left:+,}$port
            else
                echo "$src $port $ans" >> "$TEST_TMP/probe"
            fi
        done < "$TEST_TMP/ag.last"
        live=$left
        [ -n "$live" ] || break
    done
    [ -z "$dead" ] || ag from udp "$VIP" "$dead" 1 "$CL_IP" >> "$TEST_TMP/probe"
    sort -n -k2 "$TEST_TMP/probe" | sed "s/^/$label: /" >> "$f"
}

scenario() {
    local o=$1 p add= del= flood
    topo nat || { echo "topology failed" >> "$o"; return; }
    agent_start
    for ((p = 2001; p <= LAST; p++)); do
        add+="-A -u $VIPS:$p -s rr"$'\n'"-a -u $VIPS:$p -r ${RS_IPS[1]}:53 -m"$'\n'
        [ "$p" -le 2050 ] || del+="-D -u $VIPS:$p"$'\n'
    done
    ip netns exec "$CL" $TOOL flood "$VIP" 2001 600 1 100 > /dev/null 2>&1 &
    flood=$!
    echo "\$ ipvsadm -R < $NSVC services" >> "$o"
    printf '%s' "$add" | lvs ipvsadm -R >> "$o" 2>&1; echo "exit=$?" >> "$o"
    if module_loaded ipvs_rs && lvs_proc ip_vs_status; then
        printf '%s' "$LVS_PROC" > "$TEST_TMP/ours.grown"
    fi
    probe "$o" grown "$PROBE" ""
    capture_fn "$o" lvs sh -c "ipvsadm -Ln | wc -l; ipvsadm -Ln | head -n 12 | $NO_COUNTS; ipvsadm -Ln | tail -n 4 | $NO_COUNTS"
    echo "\$ ipvsadm -R < delete $((NSVC - 50)) services" >> "$o"
    printf '%s' "$del" | lvs ipvsadm -R >> "$o" 2>&1; echo "exit=$?" >> "$o"
    kill "$flood" 2> /dev/null
    wait "$flood" 2> /dev/null
    if module_loaded ipvs_rs && lvs_proc ip_vs_status; then
        printf '%s' "$LVS_PROC" > "$TEST_TMP/ours.shrunk"
    fi
    probe "$o" shrunk 2001,2050 "2051,2300,$LAST"
    capture_fn "$o" lvs sh -c "ipvsadm -Ln | wc -l; ipvsadm -Ln | tail -n 4 | $NO_COUNTS"
    stop_servers
    cleanup_netns
}

validate() {
    local f=$1 want
    want="grown: $CL_IP 2001 RS1|grown: $CL_IP 2050 RS1|grown: $CL_IP 2051 RS1|grown: $CL_IP 2300 RS1|grown: $CL_IP $LAST RS1"
    if [ "$(grep '^grown: ' "$f" | paste -sd'|')" = "$want" ]; then
        pass "with $NSVC services every probed one answers"
    else
        fail "with $NSVC services: $(grep '^grown: ' "$f" | paste -sd' ')"
    fi
    if [ "$(grep -c "^shrunk: $CL_IP 20[05][01] RS1\$" "$f")" = 2 ] && [ "$(grep -c '^shrunk: .* ERROR' "$f")" = 3 ]; then
        pass "after the deletions the 50 left answer and the deleted do not"
    else
        fail "after the deletions: $(grep '^shrunk: ' "$f" | paste -sd' ')"
    fi
}

differential scenario validate

if [ -f "$TEST_TMP/ours.grown" ] && [ -f "$TEST_TMP/ours.shrunk" ]; then
    grown=$(awk -F'\t' '$1 == "Service buckets:" { print $2 + 0 }' "$TEST_TMP/ours.grown")
    shrunk=$(awk -F'\t' '$1 == "Service buckets:" { print $2 + 0 }' "$TEST_TMP/ours.shrunk")
    if [ "${grown:-0}" -gt 256 ] && [ "$shrunk" = 256 ]; then
        pass "ipvs_rs: the service table grew to $grown buckets for $NSVC services and shrank back to 256"
    else
        fail "ipvs_rs: service buckets ${grown:-?} with $NSVC services, ${shrunk:-?} with 50 (want > 256, then 256)"
    fi
fi
finish
