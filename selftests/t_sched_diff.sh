#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential test of the 14 schedulers: the same flows through stock ip_vs.ko and through
# ipvs_rs.ko, compared byte for byte: which real server answered each flow, the service's
# dests with ActiveConn and InActConn after each step (over generic netlink) and `ipvsadm -Ln`
# at the end of each section.
#
# Topology (sched_lib.sh): a client netns (10.0.0.2 and 32 more addresses), a director netns
# (VIP 10.0.0.100) and three real-server netns (172.16.N.2, NAT), each answering every UDP
# datagram and every line on a TCP connection with "RSN:PORT" on ports 80 and 81.
# For each scheduler, on a TCP service: weights 1,2,3 with upper thresholds (-x) that make
# dests overloaded, TCP connections held open (ActiveConn) and finished ones (InActConn), a
# dest quiesced (weight 0) and restored, a dest deleted under held connections and added back
# (it returns from the trash with its counters), a new dest added mid-sequence; then a UDP
# service (InActConn only) with a quiesced, a deleted and an added dest. sh and mh also run
# with -b sh-port / sh-fallback / both (mh-port, mh-fallback). Flows are sequential, each from
# its own fixed source port, cycling through the client addresses (what sh/mh hash).
# twos picks at random: its shares over 600 UDP flows are checked against the weights and
# against stock with a tolerance (see check_twos); they are not part of the byte comparison.
# Every step runs in well under the shortest connection timeout that could change the
# counters (TIME_WAIT, 120 s), and one Python process drives all flows (see sched_tool.py).
. "${0%/*}/lib.sh"
. "${0%/*}/sched_lib.sh"

# (Overridable to debug one scheduler; the validation follows.)
SCHEDULERS=${SCHED_DIFF_SCHEDULERS-rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh}
# make check: each hash scheduler with both flags at once; make soak: each flag alone too.
VARIANTS=${SCHED_DIFF_VARIANTS-$(full_or_quick \
    "sh:sh-port sh:sh-fallback sh:sh-fallback,sh-port mh:mh-port mh:mh-fallback mh:mh-fallback,mh-port" \
    "sh:sh-fallback,sh-port mh:mh-fallback,mh-port")}
TWOS_FLOWS=600

# tcp_steps SCHED PORT [FLAGS]: the TCP sequence (script lines for sched_tool.py run).
tcp_steps() {
    local s=$1 p=$2 f=${3:-} svc="-t $VIP:$2" b=""
    [ -n "$f" ] && b="-b $f"
    cat <<EOF
echo == $s tcp ${f:--}
ctl -A $svc -s $s $b
ctl -a $svc -r 172.16.1.2:80 -m -w 1 -x 4
ctl -a $svc -r 172.16.2.2:80 -m -w 2
ctl -a $svc -r 172.16.3.2:80 -m -w 3 -x 6
hold a $VIP $p 4
tcp $VIP $p 3
ctl -L $svc
ctl -e $svc -r 172.16.2.2:80 -m -w 0
hold b $VIP $p 3
close a1 a2
tcp $VIP $p 2
ctl -L $svc
ctl -e $svc -r 172.16.2.2:80 -m -w 2
hold c $VIP $p 2
# Held connections of a deleted dest get no packets until it is back (their packets would
# be dropped and retried at times of the kernel's choosing).
ctl -d $svc -r 172.16.3.2:80
hold d $VIP $p 3
ctl -a $svc -r 172.16.1.2:81 -m -w 2
tcp $VIP $p 2
hold e $VIP $p 2
ctl -L $svc
ctl -a $svc -r 172.16.3.2:80 -m -w 1
hold f $VIP $p 3
ctl -L $svc
closeall
ipvsadm -Ln $svc
ctl -D $svc
EOF
}

# udp_steps SCHED PORT [FLAGS [MULT]]: the UDP sequence, with MULT times the flows.
udp_steps() {
    local s=$1 p=$2 f=${3:-} m=${4:-1} svc="-u $VIP:$2" b=""
    [ -n "$f" ] && b="-b $f"
    cat <<EOF
echo == $s udp ${f:--}
ctl -A $svc -s $s $b
ctl -a $svc -r 172.16.1.2:80 -m -w 1
ctl -a $svc -r 172.16.2.2:80 -m -w 2 -x 5
ctl -a $svc -r 172.16.3.2:80 -m -w 3
udp $VIP $p $((8 * m))
ctl -e $svc -r 172.16.1.2:80 -m -w 0
udp $VIP $p $((5 * m))
ctl -L $svc
ctl -d $svc -r 172.16.3.2:80
udp $VIP $p $((4 * m))
ctl -a $svc -r 172.16.3.2:80 -m -w 3
ctl -a $svc -r 172.16.2.2:81 -m -w 1
udp $VIP $p $((5 * m))
ipvsadm -Ln $svc
ctl -D $svc
EOF
}

script() {
    local s v port=1000
    echo "sources $CLIENTS"
    for s in $SCHEDULERS; do
        port=$((port + 1))
        tcp_steps "$s" "$port"
        udp_steps "$s" "$port"
    done
    for v in $VARIANTS; do
        port=$((port + 1))
        udp_steps "${v%%:*}" "$port" "${v#*:}" 2
    done
}

# The random one, apart: its flows are counted, not compared one by one.
twos_script() {
    local svc="-u $VIP:2000"
    cat <<EOF
echo == twos udp -
port 50000
ctl -A $svc -s twos
ctl -a $svc -r 172.16.1.2:80 -m -w 1
ctl -a $svc -r 172.16.2.2:80 -m -w 2
ctl -a $svc -r 172.16.3.2:80 -m -w 3
tally $VIP 2000 $TWOS_FLOWS
EOF
}

scenario() {
    local o=$1 start=$SECONDS
    topo >> "$o" 2>&1 || { echo "topology failed" >> "$o"; return; }
    diag "topology: $((SECONDS - start)) s"
    { script; twos_script; } > "$TEST_TMP/script"
    run_script "$TEST_TMP/script" "$TEST_TMP/run.out"
    stop_servers
    # twos is random: its section goes apart, for check_twos.
    section "$TEST_TMP/run.out" "twos udp -" > "$o.twos"
    awk '/^== twos / { exit } { print }' "$TEST_TMP/run.out" >> "$o"
}

validate() {
    local o=$1
    check_invariants "$o" tcp=24 udp=22 udp+=44
    # A few known answers of stock, so that the script is known to exercise what it should.
    if has_section "$o" "fo tcp -"; then
        section "$o" "fo tcp -" | grep -m1 -- '->' | grep -q 'RS3:80$' &&
            pass "fo: first flow to the heaviest dest" || fail "fo: first flow not to RS3"
    fi
    if has_section "$o" "dh tcp -"; then
        [ "$(section "$o" "dh tcp -" | grep -- ' -> RS' | head -n 4 | awk '{print $NF}' | sort -u | wc -l)" -eq 1 ] &&
            pass "dh: one VIP, one dest" || fail "dh: the first answered flows of one VIP did not all go to one dest"
    fi
    if has_section "$o" "sh udp sh-port"; then
        [ "$(section "$o" "sh udp sh-port" | grep -- ' -> RS' | awk '{print $NF}' | sort -u | wc -l)" -ge 3 ] &&
            pass "sh-port: flows spread" || fail "sh-port: flows do not spread"
    fi
    check_twos_alone "$o.twos" "$(basename "$o" .out)"
}

# twos: weights 1, 2, 3 -> expected 100, 200, 300 of 600 flows. Stock's rule (of two dests
# drawn by weight, take the one with less connections per weight) keeps the counts almost
# exactly proportional: a simulation of stock's rule over 3000 runs of 600 flows deviated from
# 100/200/300 by at most 7 (standard deviation about 1). The tolerance is 15 flows a dest:
# loose enough never to fail by chance, tight enough to fail an implementation that ignores
# weights (200/200/200) or the connection counts (pure weighted draw with stock's +1 bias:
# about 86/171/343, standard deviation 9-12).
TWOS_TOLERANCE=15
twos_count() { awk -v s="$2" '$1 == "tally" && $2 == s {print $3; f=1} END {if (!f) print 0}' "$1"; }

check_twos_alone() {        # check_twos_alone FILE WHO
    local f=$1 who=$2 i want got bad=0
    for i in 1 2 3; do
        want=$((TWOS_FLOWS * i / 6))
        got=$(twos_count "$f" "RS$i:80")
        if [ $((got - want)) -gt $TWOS_TOLERANCE ] || [ $((want - got)) -gt $TWOS_TOLERANCE ]; then
            bad=1
        fi
    done
    if [ $bad -eq 0 ] && [ "$(twos_count "$f" none)" -eq 0 ]; then
        pass "$who twos: $(grep '^tally' "$f" | awk '{print $2 "=" $3}' | xargs) within $TWOS_TOLERANCE of 100/200/300"
    else
        fail "$who twos: shares not within $TWOS_TOLERANCE of 100/200/300:"; diag_file "$f" 20
    fi
}

check_twos() {
    local i s o d bad=0
    for i in 1 2 3; do
        s=$(twos_count "$DIFF_STOCK_OUT.twos" "RS$i:80")
        o=$(twos_count "$DIFF_OURS_OUT.twos" "RS$i:80")
        d=$((s - o)); [ $d -lt 0 ] && d=$((-d))
        [ $d -gt $TWOS_TOLERANCE ] && bad=1
    done
    [ $bad -eq 0 ] && pass "twos: ours within $TWOS_TOLERANCE flows a dest of stock" ||
        fail "twos: ours differs from stock by more than $TWOS_TOLERANCE flows a dest"
}

differential scenario validate
check_twos
finish
