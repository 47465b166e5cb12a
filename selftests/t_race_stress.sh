#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-cpus: 2
# Race stress (issue 11): expiry timers racing with packets and with the control plane, on
# every CPU the guest has, through stock ip_vs.ko and ipvs_rs.ko. Every timeout is 1 s
# (--set 1 1 1), in NAT (UDP) and DR (UDP and TCP, whose closed connections wait 1 s in
# FIN_WAIT):
#  - UDP flows that send one datagram a second each (dp_tool.py trickle), so that a flow's
#    next packet arrives about when its entry expires, to an rr service and to a persistent
#    sh service (-p 1: its templates expire the same way), beside a flood of new flows and,
#    in DR, back-to-back TCP connections (stopped by SIGTERM, on which the client finishes
#    the connection under way: no handshake is cut off);
#  - meanwhile, once every service has entries, for RACE_SECONDS (at least 2 cycles), cycles
#    of: a dest deleted and added back (from the trash), a weight set to 0 and back,
#    expire_nodest_conn toggled, the scheduler switched and back, the TCP service's dest
#    deleted and added back, the persistent service deleted and added back, the table listed
#    over netlink and /proc;
# then, the traffic stopped, every command of every cycle succeeded and:
#  - make check's form (RACE_SECONDS 8, 2 vCPUs, DR only, whose TCP connections add the TCP
#    states' timers to the races; NAT's reply path races in full runs; about 3 minutes for
#    both modules on a busy host, where a churn cycle takes 20 s or more): every
#    connection expires and every dest's ActiveConn/InActConn is back to 0 (a counter not
#    given back on a racing path stays; templates count in PersistConn only), so the listing
#    is the one before the traffic; then ipvsadm -C and the module's unload (the netns
#    deleted first) with the templates still pending: a template that still controls a
#    connection when its timer fires waits 60 s more (upstream's expire_later), which this
#    form does not wait for, and so tears down with live template timers;
#  - the full form (make soak: SELFTESTS_FULL=1, or RACE_SECONDS of 60 or more; soak runs
#    180 s a mode on 4 vCPUs): every entry expires, templates included (minutes), and the
#    listing with PersistConn is the one before.
# Compared with stock byte for byte; tools/vm-run fails the run on any splat (DEBUG_OBJECTS
# timers and frees, SLUB, lockdep, RCU) or kmemleak report.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

RACE_SECONDS=${RACE_SECONDS:-$(full_or_quick 30 8)}
RACE_FULL=0
{ [ "$SELFTESTS_FULL" = 1 ] || [ "$RACE_SECONDS" -ge 60 ]; } && RACE_FULL=1
# The final listing: with PersistConn in the full form, where the templates are gone too.
LISTING="ipvsadm -Ln"
[ $RACE_FULL = 1 ] && LISTING="ipvsadm -Ln --persistent-conn"
# /proc/net/ip_vs_conn lines of connections, not templates: by their state (templates are
# NONE or ASSURED; a TCP connection is NONE only until its first packet has been handled).
CONN_RE=' (UDP|ESTABLISHED|SYN_SENT|SYN_RECV|FIN_WAIT|TIME_WAIT|CLOSE|CLOSE_WAIT|LAST_ACK|LISTEN|SYNACK) '
PORTS="80 53"
MODES=$(full_or_quick "nat dr" dr)

rules() {     # rules MODE FLAG
    cat <<EOF
-A -u $VIP:53 -s rr
-a -u $VIP:53 -r 172.16.1.2:53 $2
-a -u $VIP:53 -r 172.16.2.2:53 $2
-A -u $VIP:54 -s sh -p 1
-a -u $VIP:54 -r 172.16.1.2:53 $2
-a -u $VIP:54 -r 172.16.2.2:53 $2
EOF
    [ "$1" = dr ] || return 0
    cat <<EOF
-A -t $VIP:80 -s wlc
-a -t $VIP:80 -r 172.16.1.2:80 $2
-a -t $VIP:80 -r 172.16.2.2:80 $2
EOF
}

# One cycle of control-plane churn, in the director shell; prints "fail: CMD" per failure.
# It ends where it started, so the listing after the traffic is the one before.
churn_cycle() {     # churn_cycle MODE FLAG
    local f=$2 tcp=
    [ "$1" = dr ] && tcp="
        t ipvsadm -d -t $VIP:80 -r 172.16.1.2:80
        t ipvsadm -a -t $VIP:80 -r 172.16.1.2:80 $f"
    lvs sh -c "
        t() { \"\$@\" > /dev/null 2>&1 || echo \"fail: \$*\"; }
        w() { echo \$2 > /proc/sys/net/ipv4/vs/\$1; }
        t ipvsadm -d -u $VIP:53 -r 172.16.2.2:53
        t ipvsadm -a -u $VIP:53 -r 172.16.2.2:53 $f
        t ipvsadm -e -u $VIP:53 -r 172.16.1.2:53 $f -w 0
        t w expire_nodest_conn 1
        t ipvsadm -e -u $VIP:53 -r 172.16.1.2:53 $f -w 1
        t ipvsadm -E -u $VIP:53 -s wrr
        t ipvsadm -Lnc
        t ipvsadm -E -u $VIP:53 -s rr
        t w expire_nodest_conn 0
        t ipvsadm -D -u $VIP:54
        t cat /proc/net/ip_vs_conn
        t ipvsadm -A -u $VIP:54 -s sh -p 1
        t ipvsadm -a -u $VIP:54 -r 172.16.1.2:53 $f
        t ipvsadm -a -u $VIP:54 -r 172.16.2.2:53 $f$tcp"
}

one_mode() {
    local o=$1 mode=$2 flag pids=() cycles=0 end fails t0 start=$SECONDS
    case $mode in nat) flag=-m ;; dr) flag=-g ;; esac
    echo "== mode $mode" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    rules "$mode" "$flag" | lvs ipvsadm -R >> "$o" 2>&1 || echo "ipvsadm -R failed" >> "$o"
    lvs ipvsadm --set 1 1 1 >> "$o" 2>&1
    # Sorted: a dest added back is listed first.
    lvs $LISTING | sort > "$TEST_TMP/before"
    # The traffic runs until the churn has ended (its durations bound it if the test dies),
    # and the churn starts once every service has entries (a Python start takes seconds
    # under TCG).
    ip netns exec "$CL" $TOOL trickle $VIP 53,54 $((RACE_SECONDS + 90)) 32 1.0 &
    pids+=($!)
    ip netns exec "$CL" $TOOL flood $VIP 53 $((RACE_SECONDS + 90)) 4 100 &
    pids+=($!)
    if [ "$mode" = dr ]; then
        ip netns exec "$CL" timeout $((RACE_SECONDS + 90)) $TOOL tcp $VIP 80 1000000 100 > /dev/null &
        pids+=($!)
    fi
    t0=$SECONDS
    wait_traffic "$mode" 60 || echo "no traffic to every service in 60 s" >> "$o"
    diag "$mode: traffic to every service after $((SECONDS - t0)) s"
    # A reader of /proc/net/ip_vs_conn a byte at a time (bash's read -d ''), so that every
    # read() leaves the walk's read-side section and the next one finds its place again while
    # entries come and go: the churn's `cat` reads a page at a time. A pause of 0.1 s between
    # passes (a read that times out on a FIFO) leaves the churn's commands their share of the
    # guest's CPUs, of which the reader would otherwise keep one busy.
    mkfifo "$TEST_TMP/reader.fifo" 2> /dev/null
    ip netns exec "$LVS" bash -c 'exec 3<> "$1"
        while :; do IFS= read -r -d "" x < /proc/net/ip_vs_conn; read -r -t 0.1 -u 3 _; done' \
        _ "$TEST_TMP/reader.fifo" &
    pids+=($!)
    end=$((SECONDS + RACE_SECONDS))
    : > "$TEST_TMP/churn"
    # At least two cycles, however slow the host.
    while [ $SECONDS -lt $end ] || [ $cycles -lt 2 ]; do
        churn_cycle "$mode" "$flag" >> "$TEST_TMP/churn"
        cycles=$((cycles + 1))
    done
    diag "$mode: $cycles churn cycles in $((SECONDS - end + RACE_SECONDS)) s"
    # The traffic outlives the churn by a little, so packets keep racing it to the end; the
    # TCP client finishes the connection under way (dp_tool.py tcp on SIGTERM).
    nap 1
    kill "${pids[@]}" 2> /dev/null
    wait "${pids[@]}" 2> /dev/null
    t0=$SECONDS
    fails=$(sort "$TEST_TMP/churn" | uniq -c)
    echo "churn failures: ${fails:-none}" >> "$o"
    [ "$cycles" -ge 2 ] && echo "at least 2 churn cycles" >> "$o"
    if [ $RACE_FULL = 1 ]; then
        # Templates that control connections when they expire wait 60 s more, and entries of
        # failed handshakes (SYN_RECV) 60 s, whatever --set says.
        wait_entries_gone '.' 150 && echo "every entry expired" >> "$o"
    else
        # Only failed handshakes can take longer than a few seconds: SYN_RECV (60 s), and
        # TIME_WAIT (120 s, not set by --set) when the client's FIN finds its connection still
        # in SYN_RECV (its handshake's ACK dropped while the dest was out of its service;
        # either module, as timing has it).
        wait_entries_gone "$CONN_RE" 150 && echo "every connection expired" >> "$o"
    fi
    # A dest's counters are given back as its entry goes, in the expiry timer just after
    # the unlink (the entry may leave the listing a moment before): bounded, not a time.
    if wait_listing "$TEST_TMP/before" 30; then
        echo "listing after the traffic: as before it, every counter 0" >> "$o"
    else
        { echo "listing before:"; cat "$TEST_TMP/before"; echo "and after:"; cat "$TEST_TMP/after"; } >> "$o"
    fi
    lvs_proc ip_vs_conn
    diag "$mode: $((SECONDS - t0)) s from the traffic's end to the final listing;" \
        "$(grep -cE ' (NONE|ASSURED) ' <<< "$LVS_PROC") templates still pending"
    if [ $RACE_FULL = 0 ]; then
        # Teardown with the templates' timers pending: the flush, then (differential) the
        # netns deleted and the module unloaded.
        lvs ipvsadm -C >> "$o" 2>&1 && echo "flushed with ipvsadm -C" >> "$o"
    fi
    stop_servers
    cleanup_netns
    diag "$mode: $((SECONDS - start)) s in all"
}

# wait_traffic MODE MAX_S: until every service of MODE has connections on its dests (the
# client's flows have started), at most MAX_S seconds
wait_traffic() {
    local deadline=$((SECONDS + $2)) want="$VIP:53 $VIP:54" busy svc s f
    [ "$1" = dr ] && want="$want $VIP:80"
    while :; do
        busy=" " svc=
        while read -r -a f; do
            case ${f[0]} in
                TCP|UDP) svc=${f[1]} ;;
                # "-> RIP:PORT FORWARD WEIGHT ACTIVECONN INACTCONN"
                '->') [[ ${f[4]}${f[5]} =~ ^[0-9]+$ ]] && [ $((f[4] + f[5])) -gt 0 ] && busy+="$svc " ;;
            esac
        done <<< "$(lvs ipvsadm -Ln)"
        for s in $want; do
            [[ $busy == *" $s "* ]] || break
        done
        [[ $busy == *" $s "* ]] && return 0
        [ $SECONDS -lt "$deadline" ] || return 1
        nap 0.2
    done
}

# wait_listing BEFORE MAX_S: until the director's (sorted) listing is BEFORE, at most MAX_S
# seconds; the last one in $TEST_TMP/after
wait_listing() {
    local deadline=$((SECONDS + $2))
    while :; do
        lvs $LISTING | sort > "$TEST_TMP/after"
        cmp -s "$1" "$TEST_TMP/after" && return 0
        [ $SECONDS -lt "$deadline" ] || return 1
        nap 0.2
    done
}

validate_mode() {
    expect_grep "$1" '^churn failures: none$' "$2: every churn command succeeded"
    expect_grep "$1" '^at least 2 churn cycles$' "$2: the churn ran"
    if [ $RACE_FULL = 1 ]; then
        expect_grep "$1" '^every entry expired$' "$2: every entry expired"
    else
        expect_grep "$1" '^every connection expired$' "$2: every connection expired"
        expect_grep "$1" '^flushed with ipvsadm -C$' "$2: flushed (templates may be pending)"
    fi
    expect_grep "$1" '^listing after the traffic: as before it' "$2: every dest's counters back to 0"
}

diag "$(nproc) CPUs, $RACE_SECONDS s of churn per mode, $([ $RACE_FULL = 1 ] && echo full || echo "make check's") form"
differential per_mode_scenario per_mode_validate
finish
