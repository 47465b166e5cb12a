#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-cpus: 2
# Teardown under traffic: TEARDOWN_CYCLES (default 3; `make soak` runs more) cycles of
# insmod / configure / rmmod of ipvs_rs.ko while UDP floods hit the VIP all the time, both
# forwarded (from the client netns: LOCAL_IN, softirq) and from local clients on the director
# (LOCAL_OUT, process context, preemptible). Within each cycle, connections expire after 1 s
# while packets keep arriving for them, a dest is deleted and re-added (with
# expire_nodest_conn on in odd cycles, which walks the table from the control path), and in
# every third cycle a second netns with its own service and local traffic is deleted while
# its connections are alive. What it checks is what the kernel says: tools/vm-run fails the
# run on any splat (use-after-free found by SLUB/KFENCE/DEBUG_OBJECTS, lockdep, RCU) or
# kmemleak report; here each cycle must load, take its configuration and unload.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

CYCLES=${TEARDOWN_CYCLES:-3}
PORTS="80"

have_ours || skip "$(basename "$IPVS_RS_KO") not built"
unload_ipvs || { fail "could not unload IPVS before the test"; finish; }
ours_deps
for m in $OURS_DEPS; do kmodprobe "$m" || diag "modprobe $m failed"; done

topo nat || { fail "topology"; finish; }
# The floods outlive every cycle and stop by themselves after FLOOD_SECONDS. Their rate is
# bounded (FLOOD_RATE datagrams a second each): the point is packets in every hook at every
# moment of the teardown, not a saturated guest whose control commands crawl.
FLOOD_RATE=${FLOOD_RATE:-250}
FLOOD_SECONDS=$((CYCLES * 20 + 60))
ip netns exec "$CL" $TOOL flood $VIP 80 "$FLOOD_SECONDS" 4 "$FLOOD_RATE" &
fwd_flood=$!
ip netns exec "$LVS" $TOOL flood $VIP 80 "$FLOOD_SECONDS" 4 "$FLOOD_RATE" &
local_flood=$!
at_exit "kill $fwd_flood $local_flood"

rules() {
    cat <<EOF
-A -u $VIP:80 -s rr
-a -u $VIP:80 -r 172.16.1.2:80 -m
-a -u $VIP:80 -r 172.16.2.2:80 -m
-A -u $VIP:81 -s sh -p 5
-a -u $VIP:81 -r 172.16.1.2:80 -m
-A -t $VIP:80 -s wlc
-a -t $VIP:80 -r 172.16.1.2:80 -m
EOF
}

# conns_at_least N: waits (bounded) until the director lists at least N connections
conns_at_least() {
    local n=$1 tries
    for tries in $(seq 1 100); do
        [ "$(lvs ipvsadm -Lnc 2>/dev/null | tail -n +3 | wc -l)" -ge "$n" ] && return 0
        nap 0.1
    done
    return 1
}

# mark STEP: in the first cycles, how long each step took (to see where the time goes)
mark() {
    [ "$i" -le 2 ] || return 0
    local now; now=$(date +%s.%N)
    timing="$timing $1=$(printf '%.1f' "$(echo "$now - $last" | bc)")"
    last=$now
}

extra=${NETNS_PREFIX}extra
ok=0
for i in $(seq 1 "$CYCLES"); do
    err="" timing="" last=$(date +%s.%N)
    if ! out=$(insmod "$IPVS_RS_KO" 2>&1); then
        err="insmod: $out"
    elif mark insmod && ! out=$(rules | lvs ipvsadm -R 2>&1); then
        err="ipvsadm -R: $out"
    else
        mark restore
        lvs sh -c "ipvsadm --set 0 0 1 && sysctl -qw net.ipv4.vs.expire_nodest_conn=$((i % 2))" ||
            err="ipvsadm --set"
        if [ $((i % 3)) -eq 0 ]; then
            # A netns that dies with live connections and a local client inside.
            ip netns add "$extra"
            ip -n "$extra" link set lo up
            ip -n "$extra" addr add $VIP/32 dev lo
            ip -n "$extra" addr add 127.0.0.2/8 dev lo
            ip netns exec "$extra" sh -c "ipvsadm -A -u $VIP:80 -s rr &&
                ipvsadm -a -u $VIP:80 -r 127.0.0.2:80 -m && ipvsadm --set 0 0 1"
            ip netns exec "$extra" $TOOL flood $VIP 80 1 4 "$FLOOD_RATE" &
            nap 0.3
            ip netns del "$extra"
            mark extra
        fi
        mark set
        conns_at_least 4 || diag "cycle $i: few connections listed"
        mark conns
        # Dest churn under traffic.
        lvs sh -c "ipvsadm -d -u $VIP:80 -r 172.16.2.2:80 && ipvsadm -a -u $VIP:80 -r 172.16.2.2:80 -m" ||
            err="$err ipvsadm -d/-a"
        mark churn
        nap 0.$((RANDOM % 5))
    fi
    for tries in 1 2 3 4 5; do
        module_loaded ipvs_rs || break
        rmmod ipvs_rs 2>/dev/null && break
        nap 0.5     # a dying netns may hold the module for a moment
    done
    module_loaded ipvs_rs && err="$err (still loaded after rmmod)"
    mark rmmod
    if [ -n "$err" ]; then
        fail "cycle $i: $err"
        break
    fi
    ok=$i
    [ -z "$timing" ] || diag "cycle $i, seconds per step:$timing"
done
wait_gone=0
while ip netns list | grep -q "^$extra\b" && [ $wait_gone -lt 50 ]; do nap 0.1; wait_gone=$((wait_gone + 1)); done
[ "$ok" -eq "$CYCLES" ] && pass "$CYCLES insmod/configure/rmmod cycles under forwarded and local traffic"
kill "$fwd_flood" "$local_flood" 2>/dev/null
wait "$fwd_flood" "$local_flood" 2>/dev/null
stop_servers
cleanup_netns
ours_deps
for m in $OURS_DEPS; do kmodprobe -q -r "$m" 2>/dev/null; done
finish
