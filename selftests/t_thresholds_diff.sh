#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: connection thresholds (-x upper, -y lower) through stock ip_vs.ko and
# ipvs_rs.ko, with rr and then wlc, in DR. RS1 has -x 3 -y 2 (back under 2 conns), RS2 -x 4
# and no lower mark (back under 75% of 4, i.e. 2 conns); then RS1's thresholds are edited. TCP connections are held open and
# closed one by one; a dest is marked overloaded when a conn binds and it has reached its
# upper mark, and cleared only when a conn is freed. Closed conns wait in FIN_WAIT (DR sees
# no replies) with a 1 s tcpfin timeout, so each close is followed by a wait until the entry has gone.
# Compared byte for byte: which real server (or refusal) each new connection got at each
# step and `ipvsadm -Ln --thresholds` after each step.
# Over IPv4 and IPv6 (topo.sh's IPv6 layout) with rr and wlc in full runs; make check runs
# IPv6 with rr only (the thresholds are the same code for both families, and t_sched_diff
# runs every scheduler with an upper threshold).
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="80"
FAMILIES=$(full_or_quick "4 6" 6)
SCHEDULERS=$(full_or_quick "rr wlc" rr)

# first_open O LABEL RS: the first connection under LABEL answered by RS and not closed yet
first_open() {
    local l w id rs
    while read -r l w id rs; do
        [ "$l" = "$2:" ] && [ "$w" = open ] && [ "$rs" = "$3" ] && [[ $CLOSED != *" $id "* ]] && { echo "$id"; return; }
    done < "$1"
}

# close_one O LABEL RS: close the oldest open conn on RS, wait until its entry expired
close_one() {
    local id
    id=$(first_open "$1" "$2" "$3")
    echo "close on $3: ${id:-none}" >> "$1"
    ag_to "$1" "$2" close "${id:-0}"
    CLOSED="$CLOSED$id "
    wait_entries_gone "$TCP_NOT_EST_RE" || echo "closed conn's entry did not expire" >> "$1"
}

steps() {       # steps O SCHED: in the family of the current topology
    local o=$1 sched=$2 l=$2
    CLOSED=" "
    echo "== $sched IPv$TOPO_FAMILY" >> "$o"
    ipvs_restore "$o" <<EOF
-A -t $VIPS:80 -s $sched
-a -t $VIPS:80 -r ${RS_IPS[1]}:80 -g -x 3 -y 2
-a -t $VIPS:80 -r ${RS_IPS[2]}:80 -g -x 4
EOF
    echo "step a: fill up" >> "$o"
    ag_to "$o" "$l" open $VIP 80 8
    snapshot "$o" "$sched: full" --thresholds
    echo "step b: RS1 at 2, lower mark 2" >> "$o"
    close_one "$o" "$l" RS1
    ag_to "$o" "$l" open $VIP 80 1
    echo "step c: RS1 at 1" >> "$o"
    close_one "$o" "$l" RS1
    ag_to "$o" "$l" open $VIP 80 3
    snapshot "$o" "$sched: RS1 back" --thresholds
    echo "step d: RS2 at 3, 75% of 4 is 3" >> "$o"
    close_one "$o" "$l" RS2
    ag_to "$o" "$l" open $VIP 80 1
    echo "step e: RS2 at 2" >> "$o"
    close_one "$o" "$l" RS2
    ag_to "$o" "$l" open $VIP 80 2
    snapshot "$o" "$sched: RS2 back" --thresholds
    # Editing the thresholds re-evaluates the flag: set at the upper mark, cleared under the
    # lower one, kept in between (RS1 at 3 under -x 5 -y 2 stays overloaded).
    echo "step f: RS1 edited to -x 5 -y 2" >> "$o"
    ipvs_restore "$o" <<< "-e -t $VIPS:80 -r ${RS_IPS[1]}:80 -g -x 5 -y 2"
    ag_to "$o" "$l" open $VIP 80 1
    echo "step g: RS1 edited to -x 5 -y 4" >> "$o"
    ipvs_restore "$o" <<< "-e -t $VIPS:80 -r ${RS_IPS[1]}:80 -g -x 5 -y 4"
    ag_to "$o" "$l" open $VIP 80 3
    snapshot "$o" "$sched: edited" --thresholds
    ag_to "$o" "$l" close all
    # A deleted service's dests wait in the trash with their counters and come back from it.
    wait_entries_gone . || echo "closed conns' entries did not expire" >> "$o"
    ipvs_restore "$o" <<< "-D -t $VIPS:80"
}

scenario() {
    local o=$1 fam s
    for fam in $FAMILIES; do
        topo_family "$fam"
        topo dr || { echo "topology failed" >> "$o"; return; }
        agent_start
        ipvs_restore "$o" <<< "--set 0 1 0"
        for s in $SCHEDULERS; do steps "$o" "$s"; done
        stop_servers
        cleanup_netns
    done
}

# ---------------------------------------------------------------- validation of stock
# step_answers F "SCHED IPvN" STEP: the answers of the "open" lines of that step
step_answers() {
    awk -v s="== $2" -v st="step $3:" '$0 == s {f = 1; next} /^== / {f = 0}
        f && index($0, st) == 1 {g = 1; next} f && /^step / {g = 0}
        f && g && $2 == "open" {print $4}' "$1" | paste -sd' '
}

expect_step() {     # expect_step F SCHED STEP REGEX DESC
    local got
    got=$(step_answers "$1" "$2" "$3")
    if [[ $got =~ ^($4)$ ]]; then pass "$2: $5 ($got)"; else fail "$2: $5: got '$got'"; fi
}

validate() {
    local f=$1 s fam rs refused=ERROR:ConnectionRefusedError
    for fam in $FAMILIES; do
        for s in $SCHEDULERS; do
            s="$s IPv$fam"
            # 3 on RS1 and 4 on RS2 in some order, then nothing is left.
            expect_step "$f" "$s" a "(RS[12] ){7}$refused" "7 conns fit (3+4), the 8th is refused"
            [ "$(step_answers "$f" "$s" a | tr ' ' '\n' | grep -c RS1)" = 3 ] \
                && pass "$s: RS1 took 3" || fail "$s: RS1 did not take 3"
            expect_step "$f" "$s" b "$refused" "RS1 at its lower mark 2: still overloaded"
            expect_step "$f" "$s" c "RS1 RS1 $refused" "RS1 under its lower mark: used again up to 3"
            expect_step "$f" "$s" d "$refused" "RS2 at 3 (not under 75% of 4): still overloaded"
            expect_step "$f" "$s" e "RS2 RS2" "RS2 under 75%: used again"
            expect_step "$f" "$s" f "$refused" "RS1 edited to -x 5 -y 2 at 3 conns: stays overloaded"
            expect_step "$f" "$s" g "RS1 RS1 $refused" "RS1 edited to -x 5 -y 4: used again up to 5"
        done
        rs='172\.16\.'
        [ "$fam" = 4 ] || rs='\[2001:db8:'
        expect_grep "$f" "^  -> ${rs}1(\.2|::2\]):80 +3 +2 +3 +0 *\$" "IPv$fam: --thresholds: RS1 with -x 3 -y 2 and 3 active conns"
        expect_grep "$f" "^  -> ${rs}2(\.2|::2\]):80 +4 +0 +4 +0 *\$" "IPv$fam: --thresholds: RS2 with -x 4 and 4 active conns"
    done
    expect_grep "$f" "Uthreshold +Lthreshold" "--thresholds listing"
}

differential scenario validate
finish
