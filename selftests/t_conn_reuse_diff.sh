#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: a client reusing its source port (net.ipv4.vs.conn_reuse_mode 0, 1, 2)
# through stock ip_vs.ko and ipvs_rs.ko, in NAT and DR, rr over RS1 and RS2.
# A SYN that finds an entry is rescheduled (the old entry expired at once) when:
#  - expire_nodest_conn is 1 and the entry's dest has weight 0, whatever the mode;
#  - else, with mode 1 or 2, the entry is in TIME_WAIT or CLOSE, or (mode 2 only) in
#    FIN_WAIT without output (DR, whose replies bypass the director);
# otherwise it goes to the entry's dest, even a quiesced one. With rr over two dests a
# rescheduled connection lands on the other RS, so each case shows which rule applied.
# Cases, each on its own client port: old connection closed with FIN (NAT: TIME_WAIT on the
# director; DR: FIN_WAIT) or RST (CLOSE, 10 s), dest kept or quiesced (weight 0),
# expire_nodest_conn 0 or 1. The client keeps no TIME_WAIT socket (tcp_max_tw_buckets 0) so it can reconnect
# from the same port at once. Compared byte for byte: the RS of the old and of the new
# connection, and the director's entries of that client port (expiry left out).
# The same over IPv6 (modes nat6 and dr6, topo.sh's IPv6 layout); make check runs NAT over
# IPv6 and DR over IPv4, full runs all four.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="80"
MODES=$(full_or_quick "nat dr nat6 dr6" "nat6 dr")
# The cases that tell the rules apart in each mode (RST gives CLOSE in both; NAT's FIN gives
# TIME_WAIT, DR's FIN_WAIT without output).
CASES_nat="fin:kept:0 rst:kept:0 fin:quiesced:1"
CASES_dr="fin:kept:0 fin:quiesced:0 fin:quiesced:1"

# entries_of O PREFIX CLIENT: the director's entries of CLIENT (addr:port), expiry left out
entries_of() {
    local pro exp state src virt dst out=""
    while read -r pro exp state src virt dst; do
        [ "$src" = "$3" ] && out="$out $pro $state $src $virt $dst"
    done < <(lvs ipvsadm -Lnc)
    echo "$2$out" >> "$1"
}

one_case() {        # one_case O REUSE_MODE CASE SPORT
    local o=$1 reuse=$2 close=${3%%:*} dest nodest=${3##*:} sport=$4 old label
    dest=${3#*:}; dest=${dest%:*}
    label="m$reuse-$close-$dest-enc$nodest"
    if [ "$nodest" != "$ENC" ]; then
        lvs sysctl -qw net.ipv4.vs.expire_nodest_conn=$nodest
        ENC=$nodest
    fi
    ag_to "$o" "$label" open $VIP 80 1 $CL_IP "$sport"
    read -r _ _ old < "$TEST_TMP/ag.last"     # "open ID RSn"
    case $close in fin) ag_to "$o" "$label" close all ;; rst) ag_to "$o" "$label" reset all ;; esac
    [ "$dest" = quiesced ] && ipvs_restore "$o" <<< "-e -t $VIPS:80 -r ${RS_IPS[${old#RS}]}:80 $FLAG -w 0"
    nap 0.3             # the last closing segments
    entries_of "$o" "$label: before:" "$CL_IPS:$sport"
    ag_to "$o" "$label" open $VIP 80 1 $CL_IP "$sport"
    ag_to "$o" "$label" reset all
    nap 0.3
    entries_of "$o" "$label: after:" "$CL_IPS:$sport"
    [ "$dest" = quiesced ] && ipvs_restore "$o" <<< "-e -t $VIPS:80 -r ${RS_IPS[${old#RS}]}:80 $FLAG -w 1"
}

one_mode() {
    local o=$1 mode=${2%6} reuse c sport=40000 cases
    if [ "$mode" = "$2" ]; then topo_family 4; CL_IPS=$CL_IP; else topo_family 6; CL_IPS=[$CL_IP]; fi
    case $mode in nat) FLAG=-m ;; dr) FLAG=-g ;; esac
    echo "== mode $2" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    ip netns exec "$CL" sysctl -qw net.ipv4.tcp_max_tw_buckets=0
    lvs sysctl -qw net.ipv4.vs.expire_nodest_conn=0
    ENC=0
    agent_start
    ipvs_restore "$o" <<EOF
-A -t $VIPS:80 -s rr
-a -t $VIPS:80 -r ${RS_IPS[1]}:80 $FLAG
-a -t $VIPS:80 -r ${RS_IPS[2]}:80 $FLAG
EOF
    for reuse in 0 1 2; do
        lvs sysctl -qw net.ipv4.vs.conn_reuse_mode=$reuse
        eval "cases=\$CASES_$mode"
        for c in $cases; do
            sport=$((sport + 1))
            one_case "$o" $reuse $c $sport
        done
    done
    counters_vs_entries "$o" "end of $2"
    stop_servers
    cleanup_netns
}

# ---------------------------------------------------------------- validation of stock
# expected MODE REUSE CASE: "same" (to the old entry's dest) or "other" (rescheduled)
expected() {
    local mode=$1 reuse=$2 close=${3%%:*} dest nodest=${3##*:}
    dest=${3#*:}; dest=${dest%:*}
    if [ "$dest" = quiesced ] && [ "$nodest" = 1 ]; then echo other; return; fi
    [ "$reuse" = 0 ] && { echo same; return; }
    # NAT closes through TIME_WAIT; DR's FIN leaves FIN_WAIT (no output seen): mode 2 only.
    if [ "$close" = rst ] || [ "$mode" = nat ] || [ "$reuse" = 2 ]; then echo other; else echo same; fi
}

validate_mode() {     # validate_mode PART MODE: MODE's base (nat, dr) decides, the family only addresses
    local f=$1 m=$2 mode=${2%6} reuse c label dest close nodest a want got cases l w rs rs_re
    local -A opened=()
    # The answers of each case's two opens, in order (read in bash: a process per case costs
    # a good part of a second under TCG).
    while read -r l w _ rs _; do
        [ "$w" = open ] && opened[$l]="${opened[$l]:+${opened[$l]} }$rs"
    done < "$f"
    eval "cases=\$CASES_$mode"
    for reuse in 0 1 2; do
        for c in $cases; do
            close=${c%%:*} nodest=${c##*:}; dest=${c#*:}; dest=${dest%:*}
            label="m$reuse-$close-$dest-enc$nodest"
            a=${opened[$label:]:-}
            want=$(expected $mode $reuse $c)
            case "$a" in
                "RS1 RS1"|"RS2 RS2") got=same ;;
                "RS1 RS2"|"RS2 RS1") got=other ;;
                *) got="answers '$a'" ;;
            esac
            if [ "$got" = "$want" ]; then pass "$m: $label: $want RS"; else fail "$m: $label: $got, want $want RS"; fi
        done
    done
    if [ "$mode" = nat ]; then
        expect_grep "$f" "^m0-fin-kept-enc0: before: TCP TIME_WAIT " "$m: FIN leaves TIME_WAIT"
    else
        expect_grep "$f" "^m0-fin-kept-enc0: before: TCP FIN_WAIT " "$m: FIN leaves FIN_WAIT"
    fi
    [ "$mode" = nat ] && expect_grep "$f" "^m0-rst-kept-enc0: before: TCP CLOSE " "$m: RST leaves CLOSE"
    for rs in 1 2; do
        rs_re="172\.16\.$rs\.2"
        [ "$mode" = "$m" ] || rs_re="\[2001:db8:$rs::2\]"
        expect_grep "$f" "^$rs_re:80 match\$" "$m: RS$rs's counters match its listed entries"
    done
}

differential per_mode_scenario per_mode_validate
finish
