#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: a keepalived failover that keeps established connections, through stock
# ip_vs.ko and ipvs_rs.ko. Two directors (netns d1, d2) share a LAN with the client and a DR
# real server (bridge br0 in netns sw) and an internal network with a NAT real server
# (bridge br1), and a sync link (sy0, a veth pair between them). keepalived (Debian's 2.2)
# runs in each: one VRRP instance on the LAN (d1 priority 150, d2 100) that holds the VIP
# 10.0.0.100 and the NAT real server's gateway 172.16.1.1, `lvs_sync_daemon sy0` (a master
# daemon on the VRRP master, a backup one on the other), and three virtual servers: TCP :80
# and UDP :53 in NAT to 172.16.1.2, TCP :81 in DR to 10.0.0.10.
#
# Once d1 is master and d2 a backup, the client opens a TCP stream to each TCP service
# (about 50 KB/s, a known byte pattern, from fixed ports) and a UDP flow to :53 that the
# real server echoes. When d2's table holds all three (synced), d1's LAN link goes down:
# keepalived on d2 takes the addresses and switches its daemon to master. The streams must
# go on through d2: each sink must receive more than it had at the failover, and at the
# end every byte the client sent, in order, with no reset; the UDP flow's echoes must
# resume. Compared byte for byte: the daemons and the connections (without timers) of d2
# before and after the failover, and what the client saw. Waits are for those states, with
# bounds, not for times. Without the sync daemon, d2 answers the stream's next segment
# with a reset (the VIP is local there).
. "${0%/*}/lib.sh"
command -v keepalived > /dev/null || skip "keepalived not installed"

TOOL="python3 -S $REPO_ROOT/selftests/failover_tool.py"
SW=${NETNS_PREFIX}sw CL=${NETNS_PREFIX}cl D1=${NETNS_PREFIX}d1 D2=${NETNS_PREFIX}d2
RS=${NETNS_PREFIX}rs DR=${NETNS_PREFIX}dr
SPLAT_RE='(^|\] )(BUG[: ]|WARNING:|Oops|kernel BUG|general protection fault|Kernel panic|UBSAN:|INFO: task .* blocked|rcu: INFO:|INFO: rcu)|self-detected stall'

topology() {
    local n
    for n in "$SW" "$CL" "$D1" "$D2" "$RS" "$DR"; do echo "netns add $n"; done | ip -batch - || return 1
    ip -n "$SW" -batch - <<EOF || return 1
link set lo up
link add br0 type bridge mcast_snooping 0
link add br1 type bridge mcast_snooping 0
link set br0 up
link set br1 up
link add cl0 type veth peer name e0 netns $CL
link add d1l type veth peer name lan netns $D1
link add d2l type veth peer name lan netns $D2
link add drl type veth peer name e0 netns $DR
link add d1i type veth peer name int netns $D1
link add d2i type veth peer name int netns $D2
link add rsi type veth peer name e0 netns $RS
link set cl0 master br0 up
link set d1l master br0 up
link set d2l master br0 up
link set drl master br0 up
link set d1i master br1 up
link set d2i master br1 up
link set rsi master br1 up
EOF
    ip -n "$D1" link add sy0 type veth peer name sy0 netns "$D2" || return 1
    ip -n "$CL" -batch - <<EOF || return 1
link set lo up
link set e0 up
addr add 10.0.0.1/24 dev e0
EOF
    for n in 1 2; do
        local d=$D1
        [ $n = 2 ] && d=$D2
        ip -n "$d" -batch - <<EOF || return 1
link set lo up
link set lan up
link set int up
link set sy0 up
addr add 10.0.0.$((n + 1))/24 dev lan
addr add 172.16.1.$((n + 10))/24 dev int
addr add 192.168.77.$n/24 dev sy0
EOF
        ip netns exec "$d" sysctl -qw net.ipv4.ip_forward=1 || return 1
    done
    ip -n "$RS" -batch - <<EOF || return 1
link set lo up
link set e0 up
addr add 172.16.1.2/24 dev e0
route add default via 172.16.1.1
EOF
    # The DR real server has the VIP on lo and neither answers nor announces it.
    ip -n "$DR" -batch - <<EOF || return 1
link set lo up
link set e0 up
addr add 10.0.0.10/24 dev e0
addr add 10.0.0.100/32 dev lo
EOF
    ip netns exec "$DR" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.e0.arp_ignore=1 net.ipv4.conf.e0.arp_announce=2
}

# keepalived_conf NAME PRIORITY STATE: one director's configuration.
keepalived_conf() {
    cat <<EOF
global_defs {
    router_id $1
    lvs_sync_daemon sy0 VI_1 id 7
}
vrrp_instance VI_1 {
    state $3
    interface lan
    virtual_router_id 51
    priority $2
    advert_int 1
    virtual_ipaddress {
        10.0.0.100/24 dev lan
        172.16.1.1/24 dev int
    }
}
virtual_server 10.0.0.100 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 172.16.1.2 80 {
        weight 1
    }
}
virtual_server 10.0.0.100 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 172.16.1.2 53 {
        weight 1
    }
}
virtual_server 10.0.0.100 81 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.0.10 81 {
        weight 1
    }
}
EOF
}

start_keepalived() {   # start_keepalived NETNS NAME PRIORITY STATE: echoes the pid
    local dir=$TEST_TMP/$2
    mkdir -p "$dir"
    keepalived_conf "$2" "$3" "$4" > "$dir/keepalived.conf"
    ip netns exec "$1" keepalived -f "$dir/keepalived.conf" --dont-fork --log-console --log-detail \
        -p "$dir/ka.pid" -c "$dir/ka-check.pid" -r "$dir/ka-vrrp.pid" > "$dir/keepalived.log" 2>&1 &
    echo $!
}

has_vip() { ip -n "$1" -4 addr show dev lan | grep -q ' 10\.0\.0\.100/'; }
daemons() { ip netns exec "$1" ipvsadm -L --daemon 2>&1; }
services_in() { [ "$(ip netns exec "$1" ipvsadm -Ln 2>/dev/null | grep -c '^  -> [0-9]')" -eq 3 ]; }
# Connections without their timers, sorted (`ipvsadm -Lnc`).
conns() {
    ip netns exec "$1" ipvsadm -Lnc 2>&1 | awk 'NR > 2 { $2 = ""; print }' | sort
}
synced_all() {
    local c
    c=$(conns "$D2")
    grep -q '^TCP  ESTABLISHED 10\.0\.0\.1:40080 ' <<< "$c" \
        && grep -q '^TCP  ESTABLISHED 10\.0\.0\.1:40081 ' <<< "$c" \
        && grep -q '^UDP  UDP 10\.0\.0\.1:40053 ' <<< "$c"
}
progress() { cat "$TEST_TMP/$1/sink.$2" 2>/dev/null || echo 0; }
# past_failover: both sinks hold 20 KB more than at the failover, and the UDP flow echoed.
moved_on() {
    [ "$(progress rs 80)" -gt $((RS80_AT + 20000)) ] && [ "$(progress dr 81)" -gt $((DR81_AT + 20000)) ]
}

scenario() {
    local o=$1 ka1 ka2 pids=() p
    topology || { echo "topology failed" >> "$o"; return; }
    mkdir -p "$TEST_TMP/rs" "$TEST_TMP/dr" "$TEST_TMP/cl"
    rm -f "$TEST_TMP"/{rs,dr}/sink.* "$TEST_TMP/cl/"{stop,failed-over}
    ip netns exec "$RS" $TOOL sink 80 "$TEST_TMP/rs" & pids+=($!)
    ip netns exec "$RS" $TOOL echo 53 & pids+=($!)
    ip netns exec "$DR" $TOOL sink 81 "$TEST_TMP/dr" & pids+=($!)
    ka1=$(start_keepalived "$D1" d1 150 MASTER)
    ka2=$(start_keepalived "$D2" d2 100 BACKUP)
    local settled=1
    wait_for "d1 master with the VIP, d2 a backup daemon, services on both" 90 \
        eval 'has_vip "$D1" && ! has_vip "$D2" && services_in "$D1" && services_in "$D2" \
            && daemons "$D1" | grep -q "^master sync daemon" && daemons "$D2" | grep -q "^backup sync daemon"' \
        || settled=0
    echo "== settled: $settled" >> "$o"
    echo "== d2 before the failover: daemons" >> "$o"
    daemons "$D2" >> "$o"
    ip netns exec "$CL" $TOOL stream 10.0.0.100 80 40080 "$TEST_TMP/cl" > "$TEST_TMP/cl/tcp80" 2>&1 & pids+=($!)
    local c80=$!
    ip netns exec "$CL" $TOOL stream 10.0.0.100 81 40081 "$TEST_TMP/cl" > "$TEST_TMP/cl/tcp81" 2>&1 & pids+=($!)
    local c81=$!
    ip netns exec "$CL" $TOOL udp 10.0.0.100 53 40053 "$TEST_TMP/cl" > "$TEST_TMP/cl/udp53" 2>&1 & pids+=($!)
    local c53=$!
    local synced=1
    wait_for "d2 holds the three connections" 60 synced_all || synced=0
    echo "== synced: $synced" >> "$o"
    echo "== d2 before the failover: connections" >> "$o"
    conns "$D2" >> "$o"
    RS80_AT=$(progress rs 80) DR81_AT=$(progress dr 81)
    ip -n "$D1" link set lan down
    local took=1
    wait_for "d2 takes the VIP and runs a master daemon" 60 \
        eval 'has_vip "$D2" && daemons "$D2" | grep -q "^master sync daemon"' || took=0
    touch "$TEST_TMP/cl/failed-over"
    echo "== d2 took over: $took" >> "$o"
    local moved=1
    wait_for "both streams go on through d2" 90 moved_on || moved=0
    echo "== the streams went on through d2: $moved" >> "$o"
    echo "== d2 after the failover: daemons" >> "$o"
    daemons "$D2" >> "$o"
    echo "== d2 after the failover: connections" >> "$o"
    conns "$D2" >> "$o"
    touch "$TEST_TMP/cl/stop"
    for p in $c80 $c81 $c53; do
        # The clients end by themselves (their reads are bounded); this bounds the wait.
        wait_for "client $p ends" 150 eval "! kill -0 $p 2>/dev/null" || kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    echo "== what the client saw" >> "$o"
    cat "$TEST_TMP/cl/tcp80" "$TEST_TMP/cl/tcp81" "$TEST_TMP/cl/udp53" >> "$o"
    kill "$ka1" "$ka2" 2>/dev/null
    wait "$ka1" "$ka2" 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$took" = 0 ] || [ "$moved" = 0 ] || [ "$synced" = 0 ]; then
        diag "d1's keepalived log:"; diag_file "$TEST_TMP/d1/keepalived.log" 40
        diag "d2's keepalived log:"; diag_file "$TEST_TMP/d2/keepalived.log" 40
    fi
    if dmesg | sed -n "$((DMESG_AT + 1)),\$p" | grep -Eq "$SPLAT_RE"; then
        echo "== kernel splat" >> "$o"
        dmesg | sed -n "$((DMESG_AT + 1)),\$p" | grep -E -A20 "$SPLAT_RE" | head -40 | sed 's/^/#   /'
    fi
    cleanup_netns
}

pre_load() { DMESG_AT=$(dmesg | wc -l); }

validate() {
    local f=$1
    expect_grep "$f" '^== settled: 1$' "d1 became master and d2 a backup, with the services"
    expect_grep "$f" '^backup sync daemon \(mcast=sy0, syncid=7,' "d2 ran a backup daemon"
    expect_grep "$f" '^== synced: 1$' "d2's backup daemon made the three connections"
    expect_grep "$f" '^== d2 took over: 1$' "d2 took the VIP and ran a master daemon"
    expect_grep "$f" '^== the streams went on through d2: 1$' "both TCP streams went on through d2"
    expect_grep "$f" '^tcp 80: no reset, every byte sent arrived in order: yes$' "NAT stream: no reset, no byte lost"
    expect_grep "$f" '^tcp 81: no reset, every byte sent arrived in order: yes$' "DR stream: no reset, no byte lost"
    expect_grep "$f" '^udp 53: echoes before the end: yes, after the failover: yes$' "UDP flow echoed after the failover"
    if grep -q '^== kernel splat' "$f"; then fail "no kernel splat"; else pass "no kernel splat"; fi
}

differential scenario validate
finish
