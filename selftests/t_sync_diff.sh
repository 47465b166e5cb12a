#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: the connection sync daemon (upstream's ip_vs_sync.c, and its genl commands in
# ip_vs_ctl.c) through stock ip_vs.ko and ipvs_rs.ko. The NAT topology of topo.sh plus a sync
# link from the director to a "peer" netns (sy0 192.168.77.1 - p0 192.168.77.2) and a backup
# director, netns "bk" (sy0 192.168.78.1 - p1 192.168.78.2 in the peer); each sy0 has MTU 9000
# and a fixed link-local address. Compared byte for byte (selftests/sync_tool.py captures,
# decodes, replays and crafts the messages):
#  - master, in the director: services (TCP, UDP, persistent TCP and UDP, a marker UDP port
#    9999), a master daemon (syncid 7) on sy0, and traffic from fixed client ports in three
#    rounds: sync_threshold "3 50" (the defaults, set: a connection is sent at its 3rd packet
#    and every 50th after, and at each TCP state change but to ESTABLISHED; a template with
#    every packet of the connections it controls): held TCP connections, one closed (FIN),
#    one reset (RST), a persistent one, UDP flows of 2, 3 and 4 datagrams; "3 0" (a count of
#    exactly 3 only: a template once, when its own count reaches 3); sync_version 0 (the old
#    format), ending with a flow to port 9999. The peer captures the datagrams until that
#    flow's entry (the master sends its buffers in order: all before it have been sent); the
#    entries, decoded, sorted and counted (`sync_tool.py decode --entries`; how they were
#    packed into datagrams depends on the timing and is left out), must be identical. Then a
#    master on an IPv6 group (ff02::81, port 8850) and one more flow, captured the same way;
#  - backup, in bk: the same services, a backup daemon (syncid 7) on sy0; the peer replays
#    stock's capture (kept as stock.out.capture, replayed to both modules' backups), then the
#    hostile and edge messages of `sync_tool.py craft all` (truncated, size field or syncid
#    wrong, unknown mandatory and optional options, an entry past the end, a version nibble,
#    a bad seq option, ONE_PACKET, NO_CPORT, protocols 47 and SCTP with a bad state, bad TCP,
#    UDP and template states, unknown type, v0 with and without seq options, IPv6, updates of
#    existing entries, entries without their service or dest, a firewall-mark service's),
#    each crafted entry from a client of its own, the last one a marker entry. Once the
#    marker is applied and the reset connection (CLOSE, 10 s) has expired, the backup's
#    connection table (expiry as whole minutes, rounded up: the timeouts applied) and its
#    services' counters (-Ln, --persistent-conn). Then an update that moves a connection to
#    another dest, and a stale expiry of the old one (craft "replace"): told by whether the
#    new one is there and established, not by a listing, as upstream may keep the replaced
#    one a minute more (its `expire_later`, when its timer runs while the backup holds it);
#  - control, in the director (after the master part): --start-daemon master and backup, one
#    state, both, twice (EEXIST), --stop-daemon of a state not running (ESRCH), an unknown
#    interface and ipvsadm's default one (ENODEV), --syncid, --sync-maxlen (a master's from
#    1 up to 65535 less the headers, 1500 at most by default; a backup's from 1024, by
#    default from the MTU), --mcast-group (IPv4 and IPv6), --mcast-port, --mcast-ttl, and
#    `ipvsadm -L --daemon` at each step; a dest of the other family refuses a daemon and a
#    running daemon refuses such a dest (EINVAL); the sync_threshold sysctl's check.
#    It runs while the backup applies the replay.
# New kernel splats since each half began fail the test. About 30 s a half under TCG.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="80 53 8080 5353 9999"
SYNC="python3 -S $REPO_ROOT/selftests/sync_tool.py"
PEER=${NETNS_PREFIX}peer BK=${NETNS_PREFIX}bk
STOCK_CAPTURE=$TEST_TMP/stock.out.capture      # kept for ours's backup (and SELFTESTS_SAVE_DIR)
CRAFTED=$TEST_TMP/crafted.hex
# The backup's marker (the last crafted message): UDP 10.0.9.9:9999 > VIP:9999, as
# /proc/net/ip_vs_conn lists it.
MARKER_RE='^UDP 0A000909 270F 0A000064 270F '
# The fuzz pass over the backup's receive path: datagrams mutated from the crafted ones and
# stock's capture (the seed is this run's unless SYNC_FUZZ_SEED is given; a failure names it),
# then the second marker, UDP 10.0.9.8:9998 > VIP:9999.
FUZZED=$TEST_TMP/fuzzed.hex MARKER2=$TEST_TMP/marker2.hex BIND=$TEST_TMP/bind.hex
REPLACE=$TEST_TMP/replace.hex
FUZZ_COUNT=3000 FUZZ_SEED=${SYNC_FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}
MARKER2_RE=$'(^|\n)UDP 0A000908 270E 0A000064 270F '
SPLAT_RE='(^|\] )(BUG[: ]|WARNING:|Oops|kernel BUG|general protection fault|Kernel panic|UBSAN:|INFO: task .* blocked|rcu: INFO:|INFO: rcu)|self-detected stall'

# The services of the master and of the backup.
RULES="-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 172.16.1.2:80 -m
-a -t 10.0.0.100:80 -r 172.16.2.2:80 -m
-A -u 10.0.0.100:53 -s rr
-a -u 10.0.0.100:53 -r 172.16.1.2:53 -m
-a -u 10.0.0.100:53 -r 172.16.2.2:53 -m
-A -t 10.0.0.100:8080 -s rr -p 60
-a -t 10.0.0.100:8080 -r 172.16.1.2:8080 -m
-a -t 10.0.0.100:8080 -r 172.16.2.2:8080 -m
-A -u 10.0.0.100:5353 -s rr -p 60
-a -u 10.0.0.100:5353 -r 172.16.1.2:5353 -m
-a -u 10.0.0.100:5353 -r 172.16.2.2:5353 -m
-A -u 10.0.0.100:9999 -s rr
-a -u 10.0.0.100:9999 -r 172.16.1.2:9999 -m
-A -t [2001:db8::100]:80 -s rr
-a -t [2001:db8::100]:80 -r [2001:db8:1::2]:80 -m
-A -f 5 -s rr
-a -f 5 -r 172.16.1.2 -g"

# sync_topo: the peer and backup netns and the two sync links (after topo). Every link's
# IPv6 link-local address is fixed and "nodad": an IPv6 group's master needs a source address,
# and a tentative one would make its start depend on the host's speed.
sync_topo() {
    {
        echo "netns add $PEER"
        echo "netns add $BK"
        echo "link add sy0 netns $LVS type veth peer name p0 netns $PEER"
        echo "link add sy0 netns $BK type veth peer name p1 netns $PEER"
    } | ip -batch - || return 1
    {
        echo "link set sy0 addrgenmode none"
        echo "link set sy0 mtu 9000"
        echo "addr add 192.168.77.1/24 dev sy0"
        echo "addr add fe80::1/64 dev sy0 nodad"
        echo "link set sy0 up"
    } | ip -n "$LVS" -batch - || return 1
    {
        echo "link set lo up"
        echo "link set sy0 addrgenmode none"
        echo "link set sy0 mtu 9000"
        echo "addr add 192.168.78.1/24 dev sy0"
        echo "addr add fe80::1/64 dev sy0 nodad"
        echo "link set sy0 up"
    } | ip -n "$BK" -batch - || return 1
    {
        echo "link set lo up"
        echo "link set p0 addrgenmode none"
        echo "link set p1 addrgenmode none"
        echo "link set p0 mtu 9000"
        echo "link set p1 mtu 9000"
        echo "addr add 192.168.77.2/24 dev p0"
        echo "addr add 192.168.78.2/24 dev p1"
        echo "addr add fe80::2/64 dev p0 nodad"
        echo "addr add fe80::2/64 dev p1 nodad"
        echo "link set p0 up"
        echo "link set p1 up"
    } | ip -n "$PEER" -batch -
}

# step FILE CMD...: "$ CMD", its output and "exit=N" into FILE; returns CMD's status
step() {
    local f=$1 rc=0; shift
    printf '$ %s\n' "$*" >> "$f"
    "$@" >> "$f" 2>&1 < /dev/null || rc=$?
    printf 'exit=%d\n' "$rc" >> "$f"
    return "$rc"
}

# control O NETNS: the daemon's control commands, in the director (its master daemon stopped)
control() {
    echo "== control" >> "$1"
    run_captures "$1" "$2" <<'EOF'
ipvsadm -C                                                      # the master part's services
ipvsadm -L --daemon                                             # none: nothing listed
ipvsadm --start-daemon master --mcast-interface sy0 --syncid 7
ipvsadm --start-daemon master --mcast-interface sy0 --syncid 8  # running: EEXIST
ipvsadm --start-daemon backup --mcast-interface sy0 --syncid 7  # both states at once
ipvsadm --start-daemon backup --mcast-interface sy0 --syncid 9  # running: EEXIST
ipvsadm -L --daemon
ipvsadm --stop-daemon master
ipvsadm --stop-daemon master                                    # not running: ESRCH
ipvsadm -L --daemon
ipvsadm --stop-daemon backup
ipvsadm --stop-daemon backup
ipvsadm --start-daemon master --mcast-interface nosuch0 --syncid 7   # ENODEV
ipvsadm --start-daemon backup --syncid 7                        # ipvsadm's default interface
ipvsadm -L --daemon
ipvsadm --start-daemon master --mcast-interface sy0 --syncid 0 --sync-maxlen 1 --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 5
ipvsadm --start-daemon backup --mcast-interface sy0 --syncid 255 --sync-maxlen 1 --mcast-group 239.1.2.3 --mcast-port 9000
ipvsadm -L --daemon                                             # maxlen 1, and 1024 for a backup
ipvsadm --stop-daemon master
ipvsadm --stop-daemon backup
ipvsadm --start-daemon master --mcast-interface sy0 --sync-maxlen 65507   # 65535 - 28: ipvsadm's limit
ipvsadm --start-daemon backup --mcast-interface sy0             # from sy0's MTU (9000)
ipvsadm -L --daemon
ipvsadm --stop-daemon master
ipvsadm --stop-daemon backup
ipvsadm --start-daemon master --mcast-interface sy0 --mcast-group ff02::81 --mcast-port 8849 --mcast-ttl 2
ipvsadm --start-daemon backup --mcast-interface sy0 --mcast-group ff02::81 --syncid 3 --sync-maxlen 65507
ipvsadm -L --daemon                                             # IPv6: 48 bytes of headers, 65487 at most
ipvsadm --stop-daemon master
ipvsadm --stop-daemon backup
ipvsadm -A -t 10.0.0.100:80 -s rr
ipvsadm -a -t 10.0.0.100:80 -r [2001:db8::5]:80 -i              # a dest of the other family
ipvsadm --start-daemon master --mcast-interface sy0             # refused: EINVAL
ipvsadm -d -t 10.0.0.100:80 -r [2001:db8::5]:80
ipvsadm --start-daemon backup --mcast-interface sy0
ipvsadm -a -t 10.0.0.100:80 -r [2001:db8::5]:80 -i              # refused while a daemon runs
ipvsadm -Ln
ipvsadm --stop-daemon backup
ipvsadm -C
cat /proc/sys/net/ipv4/vs/sync_threshold                        # "3 0" from the master part
echo 50 3 > /proc/sys/net/ipv4/vs/sync_threshold                # threshold above the period
echo 3 50 > /proc/sys/net/ipv4/vs/sync_threshold
cat /proc/sys/net/ipv4/vs/sync_threshold
ipvsadm -L --daemon
EOF
}

# The peer's captures: cap_start NAME ARGS... starts one (the Python start overlaps what
# follows), into $TEST_TMP/NAME.hex; it ends at the entry of a connection to port 9999 (the
# master sends its buffers in order: everything queued before it has been sent), or 15 s
# after the last datagram, or after 90 s. cap_result waits for it; cap_stop [NAME...] kills
# them.
declare -A CAP_PIDS=()
cap_start() {
    local name=$1; shift
    rm -f "$TEST_TMP/$name.hex" "$TEST_TMP/$name.ready"
    ip netns exec "$PEER" $SYNC capture "$@" --out "$TEST_TMP/$name.hex" --until-vport 9999 \
        --quiet-ms 15000 --max-s 90 --ready "$TEST_TMP/$name.ready" > "$TEST_TMP/$name.log" 2>&1 &
    CAP_PIDS[$name]=$!
}
cap_ready() {       # cap_ready NAME: waits (at most 60 s) until it has joined its group
    local a=0
    while [ ! -e "$TEST_TMP/$1.ready" ]; do
        a=$((a + 1))
        [ $a -le 600 ] || return 1
        nap 0.1
    done
}
cap_stop() {
    local name names=("$@")
    [ $# -gt 0 ] || names=("${!CAP_PIDS[@]}")
    for name in "${names[@]}"; do
        [ -n "${CAP_PIDS[$name]:-}" ] || continue
        kill "${CAP_PIDS[$name]}" 2> /dev/null
        wait "${CAP_PIDS[$name]}" 2> /dev/null
        unset "CAP_PIDS[$name]"
    done
}
at_exit cap_stop
# cap_result O NAME TITLE: waits for capture NAME, then its decoded entries under "-- TITLE"
cap_result() {
    local o=$1 name=$2
    wait "${CAP_PIDS[$name]}"
    unset "CAP_PIDS[$name]"
    # How the entries were packed into datagrams depends on the timing: only whether any came.
    diag "capture $name: $(< "$TEST_TMP/$name.log")"
    if [ -s "$TEST_TMP/$name.hex" ]; then echo "-- $3: datagrams received" >> "$o"
    else echo "-- $3: nothing" >> "$o"; fi
    echo "-- $3: entries (decoded, sorted, counted)" >> "$o"
    $SYNC decode --entries "$TEST_TMP/$name.hex" >> "$o" 2>&1
    if [ "${SELFTESTS_VERBOSE:-0}" != 0 ]; then
        $SYNC decode "$TEST_TMP/$name.hex" > "$TEST_TMP/$name.decoded" 2>&1
        diag "capture $name, decoded:"; diag_file "$TEST_TMP/$name.decoded"
    fi
}

# master O MOD: the master daemon in the director, the traffic, the capture in the peer
# (stock's kept as STOCK_CAPTURE); 1 if there is no master
master() {
    local o=$1 mod=$2
    echo "== master" >> "$o"
    cap_start "$mod.v4" --ifaddr 192.168.77.2
    cap_start "$mod.v6" --ifname p0 --group ff02::81 --port 8850
    ipvs_restore "$o" <<< "$RULES"
    lvs sysctl -qw "net.ipv4.vs.sync_threshold=3 50"
    if ! step "$o" lvs ipvsadm --start-daemon master --mcast-interface sy0 --syncid 7; then
        echo "-- no master daemon: nothing captured" >> "$o"
        cap_stop
        return 1
    fi
    step "$o" lvs ipvsadm -L --daemon
    cap_ready "$mod.v4" || { echo "-- the capture did not start" >> "$o"; cap_stop; return 1; }
    agent_start
    # Round 1: the defaults, set explicitly.
    ag_to "$o" r1 open $VIP 80 1 10.0.0.2 21001
    ag_to "$o" r1 open $VIP 80 1 10.0.0.2 21002
    ag_to "$o" r1 open $VIP 80 1 10.0.0.2 21003
    ag_to "$o" r1 open $VIP 8080 1 10.0.0.2 21011
    ag_to "$o" r1 ping all
    ag_to "$o" r1 ping 4
    ag_to "$o" r1 close 1
    ag_to "$o" r1 reset 2
    ag_to "$o" r1 close 4
    ag_to "$o" r1 udp $VIP 53 3 21005
    ag_to "$o" r1 udp $VIP 53 2 21006
    ag_to "$o" r1 udp $VIP 53 4 21007
    # Round 2: only a count of exactly 3 is sent (templates too). A stray late ACK of round 1
    # sends nothing from now on: every count is past 3.
    lvs sysctl -qw "net.ipv4.vs.sync_threshold=3 0"
    ag_to "$o" r2 open $VIP 80 1 10.0.0.2 21004
    ag_to "$o" r2 ping 5
    ag_to "$o" r2 open $VIP 8080 1 10.0.0.2 21012
    ag_to "$o" r2 ping 6
    ag_to "$o" r2 udp $VIP 5353 2 21021
    ag_to "$o" r2 udp $VIP 5353 2 21022
    # Round 3: the old format (the v1 buffer under way is sent first), and the marker.
    lvs sysctl -qw net.ipv4.vs.sync_version=0
    ag_to "$o" r3 udp $VIP 53 3 21031
    ag_to "$o" r3 udp $VIP 9999 3 21999
    cap_result "$o" "$mod.v4" "IPv4 group"
    [ "$mod" = stock ] && cp "$TEST_TMP/$mod.v4.hex" "$STOCK_CAPTURE"
    step "$o" lvs ipvsadm --stop-daemon master
}

# master6 O MOD: a master daemon on an IPv6 group (link-local, another port and syncid), v1
# again, and one more marker flow
master6() {
    local o=$1 mod=$2
    lvs sysctl -qw net.ipv4.vs.sync_version=1
    if ! step "$o" lvs ipvsadm --start-daemon master --mcast-interface sy0 --syncid 9 \
        --mcast-group ff02::81 --mcast-port 8850; then
        cap_stop "$mod.v6"
        return
    fi
    step "$o" lvs ipvsadm -L --daemon
    cap_ready "$mod.v6" || { echo "-- the IPv6 capture did not start" >> "$o"; cap_stop; return; }
    ag_to "$o" r4 udp $VIP 9999 3 21998
    cap_result "$o" "$mod.v6" "IPv6 group"
    step "$o" lvs ipvsadm --stop-daemon master
}

# BK_CONNS_AWK: `ipvsadm -Lnc` with the expiry as whole minutes, rounded up (sorted after)
BK_CONNS_AWK='NR > 2 { split($2, t, ":"); m = int((t[1] * 60 + t[2] + 59) / 60); print $1, "~" m "m", $3, $4, $5, $6 }'

# backup_start O: the backup daemon in bk, the replay from the peer (the director shell stays
# in the director: lvs runs these in bk, each in a process of its own); 1 if there is no daemon
backup_start() {
    local o=$1 files=() LVS=$BK
    echo "== backup" >> "$o"
    ipvs_restore "$o" <<< "$RULES"
    if ! step "$o" lvs ipvsadm --start-daemon backup --mcast-interface sy0 --syncid 7; then
        echo "-- no backup daemon: nothing replayed" >> "$o"
        return 1
    fi
    step "$o" lvs ipvsadm -L --daemon
    [ -s "$STOCK_CAPTURE" ] && files+=(--file "$STOCK_CAPTURE")
    # (Said without the paths, which are this run's.)
    if [ ${#files[@]} -gt 0 ]; then
        echo "\$ replay from the peer: the capture of stock, the crafted messages" >> "$o"
    else
        echo "\$ replay from the peer: the crafted messages (no capture of stock)" >> "$o"
    fi
    ip netns exec "$PEER" $SYNC replay "${files[@]}" --file "$CRAFTED" --ifaddr 192.168.78.2 >> "$o" 2>&1
    echo "exit=$?" >> "$o"
}

# backup_tables O: once the backup has applied what was replayed, its tables
backup_tables() {
    local o=$1 deadline line found
    # The backup reads its datagrams in order: once the marker is applied, all are.
    deadline=$((SECONDS + 60)) found=
    while [ -z "$found" ] && [ $SECONDS -lt $deadline ]; do
        lvs_proc ip_vs_conn || break
        while IFS= read -r line; do
            [[ $line =~ $MARKER_RE ]] && { found=1; break; }
        done <<< "$LVS_PROC"
        [ -n "$found" ] || nap 0.1
    done
    echo "-- marker applied: ${found:-no}" >> "$o"
    # Stock's capture holds a connection reset by its client: CLOSE, 10 s. Listed once it has
    # gone (its counters with it), and once two listings around the counters agree (an entry
    # replaced by an update expires at once, but asynchronously).
    if wait_entries_gone '^TCP 0A000002 520A ' 30; then
        echo "-- the reset connection expired" >> "$o"
    else
        echo "-- the reset connection stayed" >> "$o"
    fi
    deadline=$((SECONDS + 60))
    while :; do
        lvs sh -c "ipvsadm -Lnc | awk '$BK_CONNS_AWK' | sort; echo '%% services'; ipvsadm -Ln;
            echo '%% persistent'; ipvsadm -Ln --persistent-conn; echo '%% again';
            ipvsadm -Lnc | awk '$BK_CONNS_AWK' | sort" > "$TEST_TMP/bk.list" 2>&1
        awk '/^%% /{ p = $2; next } !p { print }' "$TEST_TMP/bk.list" > "$TEST_TMP/bk.first"
        awk '/^%% /{ p = $2; next } p == "again" { print }' "$TEST_TMP/bk.list" > "$TEST_TMP/bk.again"
        cmp -s "$TEST_TMP/bk.first" "$TEST_TMP/bk.again" && break
        [ $SECONDS -lt $deadline ] || { echo "-- the backup's table never held still in 60 s" >> "$o"; break; }
        nap 0.2
    done
    awk 'BEGIN { print "-- backup connections" }
         /^%% /{ p = $2; if (p == "services") print "-- backup services";
                 if (p == "persistent") print "-- backup services, persistent connections"; next }
         p != "again" { print }' "$TEST_TMP/bk.list" >> "$o"
    counters_vs_entries "$o" "backup"
    backup_replace "$o"
    backup_bind "$o"
    backup_fuzz "$o"
    step "$o" lvs ipvsadm --stop-daemon backup
    step "$o" lvs ipvsadm -L --daemon
}

# replay_until_listed FILE RE SECS: replays FILE from the peer to the backup, again every
# second or so (a burst may have filled the socket's buffer), until a line of the backup's
# /proc/net/ip_vs_conn (left in LVS_PROC) matches RE; 1 if none did in SECS s.
replay_until_listed() {
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt "$deadline" ]; do
        ip netns exec "$PEER" $SYNC replay --file "$1" --ifaddr 192.168.78.2 > /dev/null 2>&1
        for _ in 1 2 3 4 5; do
            lvs_proc ip_vs_conn || return 1
            [[ $LVS_PROC =~ $2 ]] && return 0
            nap 0.2
        done
    done
    return 1
}

# backup_replace O: 10.0.7.14:30142 moved to RS2 by an update, then a stale expiry of it to RS1
# (ignored: the entry found first is the new one), then a marker (UDP 10.0.9.7:9997; the
# backup reads in order: once it is applied, so are the others), sent again until applied:
# whether the entry to RS2 is then established.
backup_replace() {
    local o=$1 found=
    replay_until_listed "$REPLACE" $'\n'"UDP 0A000907 270D 0A000064 270F " 30
    [[ $LVS_PROC =~ $'\n'"TCP 0A00070E 75BE 0A000064 0050 AC100202 0050 ESTABLISHED " ]] && found=1
    echo "-- an update moved 10.0.7.14:30142 to RS2, established after its stale expiry: ${found:-no}" >> "$o"
}

# backup_bind O: a dest added for the unbound entry of 10.0.7.15:30151 (craft "nodest"),
# then an update of that entry (craft "bind", sent again until it shows): the backup binds
# the connection to the new dest, which counts it.
backup_bind() {
    local o=$1 deadline out=
    # The connection the update replaced (10.0.7.14:30142 to RS1) expires at once but
    # asynchronously, and counts as active on RS1 until it has. Should its timer fire while the
    # backup still holds it (stock's `ip_vs_proc_conn` makes it expire before dropping its
    # reference), it tries again 60 s later, in stock as here: listed after that.
    wait_entries_gone '^TCP 0A00070E 75BE 0A000064 0050 AC100102 0050 ' 75 ||
        echo "-- the replaced connection stayed" >> "$o"
    step "$o" lvs ipvsadm -a -t 10.0.0.100:80 -r 172.16.9.9:80 -m
    deadline=$((SECONDS + 30))
    while :; do
        ip netns exec "$PEER" $SYNC replay --file "$BIND" --ifaddr 192.168.78.2 > /dev/null 2>&1
        nap 0.3
        out=$(lvs ipvsadm -Ln -t 10.0.0.100:80 2>&1)
        [[ $out =~ 172\.16\.9\.9:80\ +Masq\ +1\ +1\  ]] && break
        [ $SECONDS -lt $deadline ] || break
    done
    echo "\$ ipvsadm -Ln -t 10.0.0.100:80 (after the update of the unbound entry)" >> "$o"
    echo "$out" >> "$o"
}

# backup_fuzz O: the fuzzed datagrams to the running backup, then the second marker (sent again
# until applied: a burst may have filled the socket's buffer) to see that it still applies
# messages. The kernel's log is checked for splats at the end of the half.
backup_fuzz() {
    local o=$1 found= files=(--file "$CRAFTED")
    [ -s "$STOCK_CAPTURE" ] && files+=(--file "$STOCK_CAPTURE")
    [ -e "$FUZZED" ] || $SYNC fuzz "${files[@]}" --out "$FUZZED" \
        --count "$FUZZ_COUNT" --seed "$FUZZ_SEED" > /dev/null || fail "sync_tool.py fuzz"
    echo "\$ replay from the peer: $FUZZ_COUNT fuzzed datagrams" >> "$o"
    ip netns exec "$PEER" $SYNC replay --file "$FUZZED" --ifaddr 192.168.78.2 >> "$o" 2>&1
    replay_until_listed "$MARKER2" "$MARKER2_RE" 60 && found=1
    echo "-- after the fuzzed datagrams, a message applied: ${found:-no}" >> "$o"
}

scenario() {
    local o=$1 mod marker director part mastered=0
    mod=$(basename "$o" .out)
    marker="t_sync_diff: $mod half begins ($EPOCHREALTIME)"
    echo "$marker" > /dev/kmsg
    topo nat || { echo "topology failed" >> "$o"; return; }
    sync_topo || { echo "sync topology failed" >> "$o"; return; }
    director=$LVS
    # Each part into a file of its own, put together in a fixed order at the end: the backup
    # applies the replay (and the reset connection it gets from stock's capture lives out its
    # 10 s) while the director runs the IPv6 master and the control commands.
    : > "$o.master"; : > "$o.backup"; : > "$o.control"
    master "$o.master" "$mod" && mastered=1
    if backup_start "$o.backup"; then
        [ $mastered = 0 ] || master6 "$o.master" "$mod"
        stop_servers
        control "$o.control" "$director"
        LVS=$BK
        lvs_sh_start
        backup_tables "$o.backup"
    else
        [ $mastered = 0 ] || master6 "$o.master" "$mod"
        stop_servers
        control "$o.control" "$director"
    fi
    for part in master backup control; do
        cat "$o.$part" >> "$o"
        rm -f "$o.$part"
    done
    # The netns goes (and then the module) with a master and a backup daemon running, the
    # backup's socket full of fuzzed datagrams.
    echo "== teardown with the daemons running" >> "$o"
    LVS=$BK
    step "$o" lvs ipvsadm --start-daemon master --mcast-interface sy0 --syncid 7
    step "$o" lvs ipvsadm --start-daemon backup --mcast-interface sy0 --syncid 7
    if [ -e "$FUZZED" ]; then
        ip netns exec "$PEER" $SYNC replay --file "$FUZZED" --ifaddr 192.168.78.2 >> "$o" 2>&1
    fi
    lvs_sh_stop
    lvs_holder_stop
    cleanup_netns
    if dmesg | sed -n "\\|$marker|,\$p" | grep -E "$SPLAT_RE" > "$TEST_TMP/splat"; then
        echo "-- kernel splat during the $mod half" >> "$o"
        diag "kernel splat during the $mod half:"; diag_file "$TEST_TMP/splat" 40
        fail "$mod: no kernel splat"
    fi
}

# ---------------------------------------------------------------- validation of stock
# Every check matches in bash, over arrays of lines read once (a process per check would cost
# about half a second each under TCG; this validation runs after each half).
V_C=() V_M=() V_E=() V_6=() V_B=() V_K=()
# split_output O: the sections of O into V_C (control), V_M (master), V_E (its decoded
# entries; V_6 those of the IPv6 group), V_B (backup), V_K (the backup's connections)
split_output() {
    local line sec= sub=
    V_C=() V_M=() V_E=() V_6=() V_B=() V_K=()
    while IFS= read -r line; do
        case $line in
            "== "*) sec=${line#== }; sub=; continue ;;
            "-- "*) sub=${line#-- } ;;
        esac
        case $sec in
            control) V_C+=("$line") ;;
            master)
                V_M+=("$line")
                [ "$sub" = "IPv4 group: entries (decoded, sorted, counted)" ] && [[ $line != "-- "* ]] && V_E+=("$line")
                [ "$sub" = "IPv6 group: entries (decoded, sorted, counted)" ] && [[ $line != "-- "* ]] && V_6+=("$line") ;;
            backup)
                V_B+=("$line")
                [ "$sub" = "backup connections" ] && [[ $line != "-- "* ]] && V_K+=("$line") ;;
        esac
    done < "$1"
}
count_of() {        # count_of ARRAY REGEX: how many lines of ARRAY match
    local -n _a=$1
    local l n=0
    for l in "${_a[@]}"; do [[ $l =~ $2 ]] && n=$((n + 1)); done
    echo "$n"
}
has() {             # has ARRAY REGEX DESC
    local -n _h=$1
    local l
    for l in "${_h[@]}"; do [[ $l =~ $2 ]] && { pass "$3"; return; }; done
    fail "$3 (no line matches /$2/)"
}
hasnt() {           # hasnt ARRAY REGEX DESC
    local -n _h=$1
    local l
    for l in "${_h[@]}"; do [[ $l =~ $2 ]] && { fail "$3 (/$2/ matches: $l)"; return; }; done
    pass "$3"
}
expect_n() {        # expect_n DESC GOT WANT
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got $2, want $3"; fi
}

validate() {
    local k
    split_output "$1"

    # control
    has V_C '^master sync daemon \(mcast=sy0, syncid=7, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)$' \
        "control: -L --daemon lists the master (maxlen 1500 - 28)"
    has V_C '^backup sync daemon \(mcast=sy0, syncid=7, maxlen=8972, group=224\.0\.0\.81, port=8848, ttl=1\)$' \
        "control: -L --daemon lists the backup (maxlen from the MTU 9000)"
    expect_n "control: a state started twice: 'Daemon has already run'" "$(count_of V_C '^Daemon has already run$')" 2
    expect_n "control: a state stopped when not running: 'No daemon is running'" "$(count_of V_C '^No daemon is running$')" 2
    expect_n "control: an unknown interface (twice): ENODEV" "$(count_of V_C '^No such device$')" 2
    has V_C '^master sync daemon \(mcast=sy0, syncid=0, maxlen=1, group=239\.1\.2\.3, port=9000, ttl=5\)$' \
        "control: master with --sync-maxlen 1, group, port, ttl"
    has V_C '^backup sync daemon \(mcast=sy0, syncid=255, maxlen=1024, group=239\.1\.2\.3, port=9000, ttl=1\)$' \
        "control: backup's --sync-maxlen 1 raised to 1024"
    has V_C '^master sync daemon \(mcast=sy0, syncid=0, maxlen=65507, group=224\.0\.0\.81, ' "control: --sync-maxlen 65507"
    has V_C '^master sync daemon \(mcast=sy0, syncid=0, maxlen=1452, group=ff02::81, port=8849, ttl=2\)$' \
        "control: an IPv6 group (maxlen 1500 - 48)"
    has V_C '^backup sync daemon \(mcast=sy0, syncid=3, maxlen=65487, group=ff02::81, port=8848, ttl=1\)$' \
        "control: an IPv6 group's backup, --sync-maxlen 65507 clamped to 65535 - 48"
    expect_n "control: a dest of the other family and a daemon exclude each other (EINVAL)" \
        "$(count_of V_C '^Invalid operation')" 2
    has V_C $'^3\t0$' "control: the master part's sync_threshold '3 0'"
    has V_C $'^3\t50$' "control: sync_threshold '3 50' accepted"
    has V_C 'echo: write error: Invalid argument' "control: sync_threshold '50 3' refused"

    # master
    has V_M '^-- IPv4 group: datagrams received$' "master: datagrams captured"
    expect_n "master: distinct entries (templates included)" "$(count_of V_E '^v[01] ')" 18
    hasnt V_E '\[' "master: every entry is one a backup applies"
    for k in "21001 .* state 1 ESTABLISHED fwmark 0 timeout 900" "21001 .* state 7 CLOSE_WAIT fwmark 0 timeout 60" \
        "21001 .* state 5 TIME_WAIT fwmark 0 timeout 120" "21002 .* state 1 ESTABLISHED" \
        "21002 .* state 6 CLOSE fwmark 0 timeout 10" "21003 .* state 1 ESTABLISHED" \
        "21004 .* state 1 ESTABLISHED" "21011 > 10\.0\.0\.100:8080 .* state 1 ESTABLISHED" \
        "21011 > .* state 7 CLOSE_WAIT" "21011 > .* state 5 TIME_WAIT" "21012 > 10\.0\.0\.100:8080 .* state 1 ESTABLISHED"; do
        has V_E "^v1 inet TCP 10\.0\.0\.2:$k( .*)? x1\$" "master: v1 TCP entry $k, once"
    done
    for k in 21005 21007; do
        has V_E "^v1 inet UDP 10\.0\.0\.2:$k > 10\.0\.0\.100:53 > 172\.16\.[12]\.2:53 flags 0x00000100 \(MASQ\|INACTIVE\) state 0 UDP fwmark 0 timeout 300 x1\$" \
            "master: UDP flow $k (3 or 4 datagrams) sent once"
    done
    hasnt V_E ':2100[6] |:2102[12] ' "master: flows below the threshold are not sent"
    has V_E '^v1 inet TCP 10\.0\.0\.2:0 > 10\.0\.0\.100:8080 > 172\.16\.[12]\.2:8080 flags 0x00001100 \(MASQ\|INACTIVE\|TEMPLATE\) state 0 NONE fwmark 0 timeout 60 x1$' \
        "master: the TCP template, at its first packet (NONE)"
    has V_E '^v1 inet TCP 10\.0\.0\.2:0 > 10\.0\.0\.100:8080 > .* state 1 ASSURED fwmark 0 timeout 60 x2\+$' \
        "master: the TCP template again with every later packet (ASSURED)"
    has V_E '^v1 inet UDP 10\.0\.0\.2:0 > 10\.0\.0\.100:5353 > .*TEMPLATE.* state 1 ASSURED fwmark 0 timeout 60 x1$' \
        "master: sync_threshold '3 0': the UDP template once, at its 3rd packet"
    has V_E '^v0 inet UDP 10\.0\.0\.2:21031 > 10\.0\.0\.100:53 > 172\.16\.[12]\.2:53 flags 0x0100 \(MASQ\|INACTIVE\) state 0 UDP x1$' \
        "master: sync_version 0: a v0 entry"
    has V_E '^v0 inet UDP 10\.0\.0\.2:21999 > 10\.0\.0\.100:9999 ' "master: the marker, v0"
    has V_M '^master sync daemon \(mcast=sy0, syncid=9, maxlen=1452, group=ff02::81, port=8850, ttl=1\)$' \
        "master: an IPv6 group's master"
    has V_M '^-- IPv6 group: datagrams received$' "master: datagrams captured from an IPv6 group"
    expect_n "master: the IPv6 group's entries" "$(count_of V_6 '^v')" 1
    has V_6 '^v1 inet UDP 10\.0\.0\.2:21998 > 10\.0\.0\.100:9999 > 172\.16\.1\.2:9999 flags 0x00000100 \(MASQ\|INACTIVE\) state 0 UDP fwmark 0 timeout 300 x1$' \
        "master: the IPv6 group's entry"
    has V_M '^r1: open 4 RS[12]$' "master: traffic answered"
    hasnt V_M 'ERROR' "master: all traffic answered"

    # backup
    has V_B '^-- marker applied: 1$' "backup: the marker was applied"
    has V_B '^backup sync daemon \(mcast=sy0, syncid=7, maxlen=8972, ' "backup: daemon listed"
    # from stock's capture (applied with their timeouts, and the last state of each)
    has V_K '^TCP ~15m ESTABLISHED 10\.0\.0\.2:21003 10\.0\.0\.100:80 172\.16\.[12]\.2:80$' "backup: captured ESTABLISHED"
    has V_K '^TCP ~2m TIME_WAIT 10\.0\.0\.2:21001 10\.0\.0\.100:80 ' "backup: captured TIME_WAIT (last state of 21001)"
    has V_B '^-- the reset connection expired$' "backup: the captured reset connection (CLOSE, 10 s) expired"
    has V_K '^TCP ~1m ASSURED 10\.0\.0\.2:0 10\.0\.0\.100:8080 172\.16\.[12]\.2:8080$' "backup: captured TCP template"
    has V_K '^UDP ~5m UDP 10\.0\.0\.2:21031 10\.0\.0\.100:53 ' "backup: captured v0 entry, UDP timeout from the table"
    # crafted: applied
    for k in 10.0.7.4:30042 10.0.7.4:30043 10.0.7.5:30051 10.0.7.6:30061 10.0.7.7:30071 10.0.7.8:30082 \
        10.0.7.9:30093 10.0.7.10:30104 10.0.7.11:30111 10.0.7.11:30112 10.0.7.11:30113 10.0.7.11:30115 \
        '\[2001:db8:7::12\]:30121' 10.0.7.13:30131 10.0.7.13:30133 10.0.7.16:30161 10.0.7.17:0 10.0.7.19:0 \
        10.0.9.9:9999; do
        has V_K " ${k//./\\.} " "backup: crafted entry $k applied"
    done
    # crafted: dropped or skipped
    for k in '10\.0\.7\.2:' '10\.0\.7\.3:' '10\.0\.7\.4:30041' '10\.0\.7\.5:30052' '10\.0\.7\.6:3006[23]' \
        '10\.0\.7\.7:3007[23]' '10\.0\.7\.8:30081' '10\.0\.7\.9:3009[12]' '10\.0\.7\.10:3010[1-3]' \
        '10\.0\.7\.10:0' '10\.0\.7\.11:30116' '10\.0\.7\.13:3013[245]' '10\.0\.7\.18:' \
        '10\.0\.7\.17:0 10\.0\.0\.100:8080'; do
        hasnt V_K " $k" "backup: crafted entry /$k/ not applied"
    done
    has V_K '^TCP ~([1-9]|10)m CLOSE_WAIT 10\.0\.7\.14:30141 10\.0\.0\.100:80 172\.16\.1\.2:80$' \
        "backup: an update: state, timeout and activity of an existing entry"
    has V_K '^TCP ~15m ESTABLISHED 10\.0\.7\.14:30142 10\.0\.0\.100:80 172\.16\.1\.2:80$' \
        "backup: an established entry (replaced later)"
    expect_n "backup: one entry of 10.0.7.14:30142" "$(count_of V_K ' 10\.0\.7\.14:30142 ')" 1
    has V_B '^-- an update moved 10\.0\.7\.14:30142 to RS2, established after its stale expiry: 1$' \
        "backup: an update to another dest replaces the entry; its stale expiry is ignored"
    has V_K '^TCP ~15m ESTABLISHED 10\.0\.7\.15:30151 10\.0\.0\.100:80 172\.16\.9\.9:80$' "backup: an entry without its dest"
    has V_K '^TCP ~15m ESTABLISHED 10\.0\.7\.11:30112 10\.0\.0\.100:80 172\.16\.1\.2:80$' "backup: v0 TCP, timeout from the table"
    has V_K '^TCP ~3m NONE 10\.0\.7\.11:0 10\.0\.0\.100:8080 172\.16\.1\.2:8080$' "backup: v0 template, 3 minutes"
    has V_K '^UDP ~2m NONE 10\.0\.7\.19:0 10\.0\.0\.100:5353 172\.16\.1\.2:5353$' "backup: v1 template's own timeout"
    has V_B '^  -> 172\.16\.1\.2:0 +Route +1 +1 +0 *$' "backup: the firewall-mark entry counted on its dest"
    has V_B '^  -> 172\.16\.9\.9:80 +Masq +1 +1 +0 *$' "backup: an update binds an unbound connection once its dest exists"
    has V_B "^sent $FUZZ_COUNT datagrams\$" "backup: the fuzzed datagrams sent (seed $FUZZ_SEED)"
    has V_B '^-- after the fuzzed datagrams, a message applied: 1$' "backup: still applies messages after the fuzzed ones (seed $FUZZ_SEED)"
}

pre_load() {
    [ -e "$CRAFTED" ] || $SYNC craft --out "$CRAFTED" all || fail "sync_tool.py craft"
    [ -e "$MARKER2" ] || $SYNC craft --out "$MARKER2" marker2 || fail "sync_tool.py craft marker2"
    [ -e "$BIND" ] || $SYNC craft --out "$BIND" bind || fail "sync_tool.py craft bind"
    [ -e "$REPLACE" ] || $SYNC craft --out "$REPLACE" replace || fail "sync_tool.py craft replace"
}

differential scenario validate
finish
