#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-cpus: 2
# The connection table's resize (issue 14) under traffic, ipvs_rs only (stock's table has a
# fixed size). NAT, UDP rr services over two real servers, a UDP timeout of 5 s. Throughout:
#  - a steady storm (bench/udp_flood.c, built here): STEADY_FLOWS fixed flows to VIP:9, 16
#    datagrams each in turn, as fast as the guest goes, so that their connections are looked
#    up all the time, during every resize (while a resize runs, new entries go to the new
#    generation and old ones move there). A lookup that missed would make a new connection:
#    the service must count exactly STEADY_FLOWS connections at the end;
#  - STICKY_FLOWS UDP flows (dp_tool.py sticky) to VIP:53, each from its own source port, one
#    datagram at a time, each waiting for its answer (the real server's name): a request-side
#    miss would give the flow another connection, which rr gives to the other server half the
#    time (a change of server less than 2 s after the flow's last answer, while its connection
#    was alive; a later one may be an expiry on a slow host, and is only reported); reply-side
#    misses would leave answers un-NATed, which the client's connected socket drops (the
#    storm may drop a few datagrams too: at most a fifth may go unanswered);
#  - a reader listing /proc/net/ip_vs_conn over and over (its walk follows the generations);
# and CYCLES cycles of: a burst of new flows to VIP:10 (dp_tool.py flood: a datagram from each
# new socket, as fast as it goes), until the table has grown past its 256 smallest buckets,
# then quiet until it has shrunk back (the burst's entries expire in 5 s; the resize work looks
# once a second). Checked: every cycle grew and shrank the table (/proc/net/ip_vs_status); the
# steady service made STEADY_FLOWS connections, the burst one no more than its flows; no sticky
# flow changed server while its connection was alive; once the traffic stops the table counts
# 0 entries at 256 buckets (the count stayed right through the moves). tools/vm-run fails the run on any splat (lockdep, RCU, SLUB,
# DEBUG_OBJECTS) or kmemleak report. About 60 s under TCG; make soak runs 8 cycles.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

CYCLES=${RESIZE_CYCLES:-$(full_or_quick 8 3)}
# What stays between the bursts (each NAT connection two links in the table, which it is sized
# by: (32 + 8) x 2 = 80) must be fewer than an eighth of the grown table's 1024 buckets, or it
# would rightly not shrink back to 256.
STEADY_FLOWS=32 STICKY_FLOWS=8
PORTS="53"
STOP=$TEST_TMP/stop
STORM=$TEST_TMP/udp_flood

have_ours || skip "$(basename "$IPVS_RS_KO") not built"
command -v gcc > /dev/null || skip "gcc not installed"
gcc -O2 -o "$STORM" "$REPO_ROOT/bench/udp_flood.c" || { fail "building bench/udp_flood.c"; finish; }
load_ours || { fail "could not load ipvs_rs"; finish; }
topo nat || { fail "topology"; finish; }
lvs ipvsadm -R <<EOF || fail "ipvsadm -R"
-A -u $VIP:53 -s rr
-a -u $VIP:53 -r 172.16.1.2:53 -m
-a -u $VIP:53 -r 172.16.2.2:53 -m
-A -u $VIP:9 -s rr
-a -u $VIP:9 -r 172.16.1.2:9 -m
-a -u $VIP:9 -r 172.16.2.2:9 -m
-A -u $VIP:10 -s rr
-a -u $VIP:10 -r 172.16.1.2:9 -m
-a -u $VIP:10 -r 172.16.2.2:9 -m
EOF
lvs ipvsadm --set 0 0 5 || fail "ipvsadm --set"

# read_status: ST_CONNS, ST_BUCKETS and ST_RESIZES from /proc/net/ip_vs_status (in this
# shell: no subshell, which would start a netns holder of its own each time)
read_status() {
    ST_CONNS= ST_BUCKETS= ST_RESIZES=
    lvs_proc ip_vs_status || return 1
    [[ $LVS_PROC =~ Conns:[[:space:]]+([0-9]+) ]] && ST_CONNS=${BASH_REMATCH[1]}
    [[ $LVS_PROC =~ Conn\ buckets:[[:space:]]+([0-9]+) ]] && ST_BUCKETS=${BASH_REMATCH[1]}
    [[ $LVS_PROC =~ resizes:[[:space:]]+([0-9]+) ]] && ST_RESIZES=${BASH_REMATCH[1]}
    [ -n "$ST_CONNS" ] && [ -n "$ST_BUCKETS" ] && [ -n "$ST_RESIZES" ]
}
grown() { read_status && [ "$ST_BUCKETS" -gt 256 ]; }
shrunk() { read_status && [ "$ST_BUCKETS" -eq 256 ]; }
empty() { read_status && [ "$ST_CONNS" -eq 0 ] && [ "$ST_BUCKETS" -eq 256 ]; }
# made PORT: the connections service VIP:PORT has made
made() { lvs ipvsadm -Ln --stats --exact -u "$VIP:$1" | awk '$1 == "UDP" { print $3 }'; }

rm -f "$STOP"
read_status || fail "no /proc/net/ip_vs_status"
diag "start: $ST_BUCKETS buckets, $ST_RESIZES resizes"
ip netns exec "$CL" $TOOL sticky $VIP 53 $STICKY_FLOWS 0.05 2 "$STOP" 600 > "$TEST_TMP/sticky.out" 2>&1 &
sticky=$!
ip netns exec "$LVS" sh -c "while [ ! -e '$STOP' ]; do cat /proc/net/ip_vs_conn > /dev/null; done" &
reader=$!
ip netns exec "$CL" "$STORM" $VIP 9 100000 10.0.0.2 20000 $STEADY_FLOWS > /dev/null &
steady=$!
at_exit "touch '$STOP'; kill $sticky $reader $steady 2> /dev/null"

burst_flows=0
for i in $(seq 1 "$CYCLES"); do
    read_status
    before=$ST_RESIZES
    ip netns exec "$CL" $TOOL flood $VIP 10 300 1 0 count > "$TEST_TMP/burst.out" &
    burst=$!
    wait_for "cycle $i: the table to grow" 120 grown; up=$?
    peak=$ST_BUCKETS conns=$ST_CONNS
    kill "$burst" 2> /dev/null
    wait "$burst" 2> /dev/null
    read -r _ n < "$TEST_TMP/burst.out" && burst_flows=$((burst_flows + n))
    wait_for "cycle $i: the table to shrink back" 60 shrunk; down=$?
    after=$ST_RESIZES
    if [ $up = 0 ] && [ $down = 0 ] && [ "$after" -ge $((before + 2)) ]; then
        pass "cycle $i: grew to $peak buckets ($conns entries) and shrank back to 256 ($((after - before)) resizes)"
    else
        fail "cycle $i: grew: $([ $up = 0 ] && echo "yes, to $peak" || echo no), shrank: $([ $down = 0 ] && echo yes || echo no), resizes $before -> $after"
    fi
    # Should the count below come out high: a miss adds one here and there, a storm that stood
    # still for the timeout (a slow guest) adds about one per flow in one cycle.
    diag "cycle $i: the steady storm's connections so far: $(made 9)"
done

kill "$steady" 2> /dev/null
wait "$steady" 2> /dev/null
steady_made=$(made 9) burst_made=$(made 10)
if [ "$steady_made" = $STEADY_FLOWS ]; then
    pass "the steady storm's $STEADY_FLOWS flows made $STEADY_FLOWS connections: no lookup missed one"
else
    fail "the steady storm's $STEADY_FLOWS flows made ${steady_made:-no} connections (one more for each missed lookup)"
fi
if [ -n "$burst_made" ] && [ "$burst_flows" -gt 0 ] && [ "$burst_made" -le "$burst_flows" ]; then
    pass "the bursts made $burst_made connections, for $burst_flows flows"
else
    fail "the bursts made ${burst_made:-no} connections, for $burst_flows flows"
fi

touch "$STOP"
wait "$sticky" "$reader"
diag_file "$TEST_TMP/sticky.out"
flows=0 bad= late=0
while read -r _ n _ sent _ answered _ switches _ early _ names; do
    flows=$((flows + 1))
    late=$((late + switches - early))
    if [ "$early" != 0 ] || [ -z "$names" ] || [ $((answered * 5)) -lt $((sent * 4)) ]; then
        bad="$bad flow $n: sent $sent answered $answered, $early early switches;"
    fi
done < "$TEST_TMP/sticky.out"
if [ "$flows" -eq $STICKY_FLOWS ] && [ -z "$bad" ]; then
    pass "$STICKY_FLOWS sticky flows kept their real server while their connections lived ($late switches after an expiry)"
else
    fail "sticky flows ($flows of $STICKY_FLOWS reported):$bad"
fi
check "every entry gone, 256 buckets again" wait_for "an empty table" 30 empty
read_status
diag "end: $ST_BUCKETS buckets, $ST_RESIZES resizes, $ST_CONNS entries"

stop_servers
cleanup_netns
unload_ipvs || fail "unload"
finish
