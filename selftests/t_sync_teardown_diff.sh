#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: the sync daemons' teardown under load, through stock ip_vs.ko and ipvs_rs.ko.
# Director netns a has a NAT UDP service whose real server sits behind a dummy device (what
# IPVS sends it is dropped: only the table and the daemons matter), a client netns c that
# opens new flows to it all along (three datagrams each, so that the master syncs them), and
# a sync link sy0 (veth) to netns b, which sends fuzzed sync datagrams (sync_tool.py fuzz)
# to a's backup all along. With a master and a backup daemon running in a, under that load:
#  1. sy0 is deleted: the daemons stay listed, and stop;
#  2. both start again on a new sy0, and netns a is deleted with them running (its exit has
#     run once b's end of sy0 is gone);
#  3. both start in the initial netns (on a veth there): each holds a reference on the
#     module while it runs (upstream's use count: rmmod answers "in use"), none once stopped.
# Compared: every command's output and exit status, the module references. Any kernel splat
# fails the run (vm-run); a daemon that held its device would hang the deletion of sy0
# ("waiting for sy0 to become free"), which the bounded waits report.
. "${0%/*}/lib.sh"

SYNC="python3 -S $REPO_ROOT/selftests/sync_tool.py"
A=${NETNS_PREFIX}sa B=${NETNS_PREFIX}sb C=${NETNS_PREFIX}sc
# The initial netns's sync link (a veth pair), left behind by a half only if it failed.
INIT_SY=ipvsrs-sy0 INIT_PEER=ipvsrs-sy1
CRAFTED=$TEST_TMP/crafted.hex FUZZED=$TEST_TMP/fuzzed.hex
FUZZ_SEED=${SYNC_FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}

# step O CMD...: CMD's output and exit status into O
step() {
    local f=$1 rc=0; shift
    printf '$ %s\n' "$*" >> "$f"
    timeout -k 5 60 "$@" >> "$f" 2>&1 < /dev/null || rc=$?
    printf 'exit=%d\n' "$rc" >> "$f"
}

counter() { ip netns exec "$A" cat "/sys/class/net/sy0/statistics/$1" 2>/dev/null || echo 0; }
# Packets a's master sent and a's backup received on sy0 since the daemons started.
syncing() { [ "$(counter tx_packets)" -ge $((TX0 + 20)) ] && [ "$(counter rx_packets)" -ge $((RX0 + 200)) ]; }
peer_gone() { ! ip -n "$B" link show sy0 > /dev/null 2>&1; }
conns_at_least() { [ "$(ip netns exec "$A" ipvsadm -Lnc 2>/dev/null | grep -c '^UDP')" -ge "$1" ]; }

topology() {
    local n
    for n in "$A" "$B" "$C"; do echo "netns add $n"; done | ip -batch - || return 1
    ip -n "$A" -batch - <<EOF || return 1
link set lo up
link add e0 type veth peer name e0 netns $C
link add rs0 type dummy
addr add 10.0.0.1/24 dev e0
addr add 10.0.0.100/32 dev e0
addr add 172.16.1.1/24 dev rs0
link set e0 up
link set rs0 up
EOF
    ip -n "$C" -batch - <<EOF || return 1
link set lo up
addr add 10.0.0.2/24 dev e0
link set e0 up
EOF
    ip netns exec "$A" sysctl -qw net.ipv4.ip_forward=1 || return 1
    sync_link
}

# sync_link: sy0 between a and b (again after it was deleted)
sync_link() {
    ip -n "$A" link add sy0 type veth peer name sy0 netns "$B" || return 1
    ip -n "$A" addr add 192.168.79.1/24 dev sy0 || return 1
    ip -n "$A" link set sy0 up || return 1
    ip -n "$B" addr add 192.168.79.2/24 dev sy0 || return 1
    ip -n "$B" link set sy0 up || return 1
    ip -n "$B" link set lo up
}

# start_daemons O NETNS DEV: a master and a backup on DEV (in NETNS, or the initial one for "")
start_daemons() {
    local o=$1 ns=()
    [ -n "$2" ] && ns=(ip netns exec "$2")
    step "$o" "${ns[@]}" ipvsadm --start-daemon master --mcast-interface "$3" --syncid 7
    step "$o" "${ns[@]}" ipvsadm --start-daemon backup --mcast-interface "$3" --syncid 7
    step "$o" "${ns[@]}" ipvsadm -L --daemon
}

# start_load: new flows from c (three datagrams each, bounded to two minutes), the fuzzed
# datagrams from b (again and again, bounded too); their pids in LOAD
start_load() {
    ip netns exec "$C" python3 -S -c '
import socket, time
end, p = time.monotonic() + 120, 10000
while time.monotonic() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("10.0.0.2", p))
        for _ in range(3):
            s.sendto(b"q", ("10.0.0.100", 53))
    except OSError:
        time.sleep(0.05)
    s.close()
    p = 10000 + (p - 9999) % 50000
' > /dev/null 2>&1 &
    LOAD=($!)
    (
        for _ in $(seq 1 200); do
            ip netns exec "$B" $SYNC replay --file "$FUZZED" --ifaddr 192.168.79.2 > /dev/null 2>&1 || sleep 0.2
        done
    ) &
    LOAD+=($!)
}

stop_load() {
    local p
    for p in "${LOAD[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    LOAD=()
}

scenario() {
    local o=$1
    topology || { echo "topology failed" >> "$o"; return; }
    step "$o" ip netns exec "$A" ipvsadm -A -u 10.0.0.100:53 -s rr
    step "$o" ip netns exec "$A" ipvsadm -a -u 10.0.0.100:53 -r 172.16.1.2:53 -m

    echo "== 1: both daemons on sy0 under load; sy0 deleted under them" >> "$o"
    TX0=$(counter tx_packets) RX0=$(counter rx_packets)
    start_daemons "$o" "$A" sy0
    start_load
    wait_for "new flows in a" 60 conns_at_least 50 && echo "-- flows: 1" >> "$o"
    wait_for "a's daemons sending and receiving" 60 syncing && echo "-- syncing: 1" >> "$o"
    step "$o" ip -n "$A" link del sy0
    step "$o" ip netns exec "$A" ipvsadm -L --daemon
    step "$o" ip netns exec "$A" ipvsadm --stop-daemon master
    step "$o" ip netns exec "$A" ipvsadm --stop-daemon backup
    step "$o" ip netns exec "$A" ipvsadm -L --daemon

    echo "== 2: both again on a new sy0 under load; netns a deleted under them" >> "$o"
    sync_link || echo "-- sync link failed" >> "$o"
    TX0=$(counter tx_packets) RX0=$(counter rx_packets)
    start_daemons "$o" "$A" sy0
    wait_for "a's daemons sending and receiving again" 60 syncing && echo "-- syncing: 1" >> "$o"
    step "$o" ip netns del "$A"
    stop_load

    # Its exit ran once its devices went: the netns core deletes them after IPVS's exit.
    wait_for "netns a's exit" 60 peer_gone && echo "-- a's exit ran: 1" >> "$o"

    echo "== 3: both in the initial netns: each holds the module while it runs" >> "$o"
    local m=ip_vs ref0
    module_loaded ipvs_rs && m=ipvs_rs
    ref0=$(< "/sys/module/$m/refcnt")
    ip link add "$INIT_SY" type veth peer name "$INIT_PEER" && ip link set "$INIT_SY" up &&
        ip link set "$INIT_PEER" up || echo "-- initial sync link failed" >> "$o"
    start_daemons "$o" "" "$INIT_SY"
    echo "-- module references taken: $(( $(< "/sys/module/$m/refcnt") - ref0 ))" >> "$o"
    step "$o" ipvsadm --stop-daemon master
    step "$o" ipvsadm --stop-daemon backup
    echo "-- module references left: $(( $(< "/sys/module/$m/refcnt") - ref0 ))" >> "$o"
    ip link del "$INIT_SY"
}

pre_load() {
    ip link del "$INIT_SY" 2> /dev/null
    [ -e "$CRAFTED" ] || $SYNC craft --out "$CRAFTED" all > /dev/null || fail "sync_tool.py craft"
    [ -e "$FUZZED" ] || $SYNC fuzz --file "$CRAFTED" --out "$FUZZED" --count 500 --seed "$FUZZ_SEED" \
        > /dev/null || fail "sync_tool.py fuzz"
}

validate() {
    local f=$1
    expect_grep "$f" '^-- flows: 1$' "new flows made connections in a"
    [ "$(grep -c '^-- syncing: 1$' "$f")" = 2 ] && pass "the daemons sent and received, twice" ||
        fail "the daemons sent and received, twice (seed $FUZZ_SEED)"
    expect_grep "$f" '^master sync daemon \(mcast=sy0, syncid=7' "a master daemon listed on sy0"
    expect_grep "$f" '^backup sync daemon \(mcast=sy0, syncid=7' "a backup daemon listed on sy0"
    expect_grep "$f" "^\\$ ip netns del $A\$" "netns a deleted with its daemons running"
    expect_grep "$f" '^-- a.s exit ran: 1$' "netns a's exit ran"
    expect_grep "$f" "^master sync daemon \\(mcast=$INIT_SY, syncid=7" "a master daemon in the initial netns"
    expect_grep "$f" "^backup sync daemon \\(mcast=$INIT_SY, syncid=7" "a backup daemon in the initial netns"
    expect_grep "$f" '^-- module references taken: 2$' "each running daemon holds the module"
    expect_grep "$f" '^-- module references left: 0$' "stopped daemons hold it no more"
    if grep -q '^exit=[^0]' "$f"; then fail "every command succeeded"; else pass "every command succeeded"; fi
}

differential scenario validate
ip link del "$INIT_SY" 2> /dev/null
finish
