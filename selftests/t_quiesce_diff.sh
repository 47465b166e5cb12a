#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: quiescing (weight 0) and deleting dests under held TCP connections, through
# stock ip_vs.ko and ipvs_rs.ko, in NAT and DR, rr over RS1 and RS2:
#  - weight 0: established connections keep flowing to the quiesced RS, new ones go elsewhere;
#  - kube-proxy's graceful termination: weight 0, close the RS's connections, wait until its
#    ActiveConn + InActConn reach 0 (RST in NAT: CLOSE, 10 s; FIN in DR: FIN_WAIT with a 1 s
#    tcpfin timeout), then delete the dest;
#  - a dest deleted under a held connection with expire_nodest_conn 0 (its packets are
#    dropped: the client times out) and 1 (the entry is expired and the packet goes to the
#    director's own stack, which has no socket there: the client is reset).
# Compared byte for byte: the answers at each step, `ipvsadm -Ln` and the connection table.
# The same over IPv6 (modes nat6 and dr6, topo.sh's IPv6 layout), and there also a persistent
# service's template on a quiesced dest with expire_quiescent_template 0 and 1 (t_persist_diff
# covers it over IPv4); make check runs NAT over IPv4 and DR over IPv6, full runs all four.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="80 81"
MODES=$(full_or_quick "nat dr nat6 dr6" "nat dr6")

# quiescent_template O FLAG (IPv6 modes; t_persist_diff covers IPv4): a persistent service's
# template whose dest is quiesced keeps its client there with expire_quiescent_template 0, and
# is expired with 1, so the next connection goes to the other real server.
quiescent_template() {
    local o=$1 flag=$2 x
    ipvs_restore "$o" <<EOF
-A -t $VIPS:81 -s rr -p 60
-a -t $VIPS:81 -r ${RS_IPS[1]}:81 $flag
-a -t $VIPS:81 -r ${RS_IPS[2]}:81 $flag
EOF
    ag_to "$o" eqtfirst tcp $VIP 81 1 100
    x=$(sed -n 's/^eqtfirst: RS\([12]\)$/\1/p' "$o" | tail -n1)
    [ -n "$x" ] || return 0
    ipvs_restore "$o" <<< "-e -t $VIPS:81 -r ${RS_IPS[$x]}:81 $flag -w 0"
    ag_to "$o" eqt0 tcp $VIP 81 1 100
    lvs sysctl -qw net.ipv4.vs.expire_quiescent_template=1
    ag_to "$o" eqt1 tcp $VIP 81 1 100
    lvs sysctl -qw net.ipv4.vs.expire_quiescent_template=0
}

# open_id O LABEL RS: the id of the last connection under LABEL answered by RS
open_id() {
    local l w id rs last=
    while read -r l w id rs; do
        [ "$l" = "$2:" ] && [ "$w" = open ] && [ "$rs" = "$3" ] && last=$id
    done < "$1"
    echo "$last"
}

# drained O RS: wait (at most 25 s) until RS has no conns; record the outcome
drained() {
    local n deadline=$((SECONDS + 25)) d=${RS_IPS[${2#RS}]}:80 arrow addr fwd w act inact
    while :; do
        n=
        while read -r arrow addr fwd w act inact _; do
            [ "$arrow" = "->" ] && [ "$addr" = "$d" ] && n=$((act + inact))
        done < <(lvs ipvsadm -Ln -t $VIPS:80)
        [ "$n" = 0 ] && { echo "$2 drained" >> "$1"; return; }
        [ $SECONDS -lt $deadline ] || break
        nap 0.2
    done
    echo "$2 not drained: $n" >> "$1"
}

one_mode() {
    local o=$1 mode=${2%6} flag end id
    if [ "$mode" = "$2" ]; then topo_family 4; else topo_family 6; fi
    case $mode in nat) flag=-m; end=reset ;; dr) flag=-g; end=close ;; esac
    echo "== mode $2" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    agent_start
    lvs sysctl -qw net.ipv4.vs.expire_nodest_conn=0
    ipvs_restore "$o" <<EOF
--set 0 1 0
-A -t $VIPS:80 -s rr
-a -t $VIPS:80 -r ${RS_IPS[1]}:80 $flag
-a -t $VIPS:80 -r ${RS_IPS[2]}:80 $flag
EOF
    ag_to "$o" held open $VIP 80 2
    ipvs_restore "$o" <<< "-e -t $VIPS:80 -r ${RS_IPS[1]}:80 $flag -w 0"
    ag_to "$o" quiesced ping all
    ag_to "$o" new open $VIP 80 2
    snapshot "$o" "RS1 quiesced"

    # Graceful termination.
    ag_to "$o" drain $end "$(open_id "$o" held RS1)"
    drained "$o" RS1
    ipvs_restore "$o" <<< "-d -t $VIPS:80 -r ${RS_IPS[1]}:80"
    ag_to "$o" afterdelete ping all
    snapshot "$o" "RS1 drained and deleted"

    # Deleted under a held connection, expire_nodest_conn 0.
    ipvs_restore "$o" <<< "-a -t $VIPS:80 -r ${RS_IPS[1]}:80 $flag"
    ag_to "$o" nodest0 open $VIP 80 2
    id=$(open_id "$o" nodest0 RS1)
    ipvs_restore "$o" <<< "-d -t $VIPS:80 -r ${RS_IPS[1]}:80"
    ag_to "$o" nodest0 ping "$id"
    snapshot "$o" "RS1 deleted, expire_nodest_conn 0"
    ag_to "$o" nodest0 reset "$id"

    # The same with expire_nodest_conn 1, on a fresh connection.
    ipvs_restore "$o" <<< "-a -t $VIPS:80 -r ${RS_IPS[1]}:80 $flag"
    ag_to "$o" nodest1 open $VIP 80 2
    id=$(open_id "$o" nodest1 RS1)
    lvs sysctl -qw net.ipv4.vs.expire_nodest_conn=1
    ipvs_restore "$o" <<< "-d -t $VIPS:80 -r ${RS_IPS[1]}:80"
    ag_to "$o" nodest1 ping "$id"
    nap 0.5
    snapshot "$o" "RS1 deleted, expire_nodest_conn 1"
    [ "$mode" = "$2" ] || quiescent_template "$o" "$flag"
    stop_servers
    cleanup_netns
}

# ---------------------------------------------------------------- validation of stock
# lines_of F LABEL: the lines under LABEL without it, joined by ";"
lines_of() {
    awk -v l="$2:" '$1 == l { $1 = ""; sub(/^ /, ""); print }' "$1" | paste -sd';'
}

expect_lines() {    # expect_lines F LABEL REGEX DESC
    local got
    got=$(lines_of "$1" "$2")
    if [[ $got =~ ^($3)$ ]]; then pass "$4"; else fail "$4: got '$got'"; fi
}

validate_mode() {
    local f=$1 m=$2 held rs1='172\.16\.1\.2'
    [ "${m%6}" = "$m" ] || rs1='\[2001:db8:1::2\]'
    # rr's first pick is the dest added last (RS2): stock inserts dests at the list's head.
    held=$(lines_of "$f" held)
    expect_lines "$f" held "open 1 RS[12];open 2 RS[12]" "$m: two held connections"
    [[ $held == *RS1* && $held == *RS2* ]] && pass "$m: rr: one on each RS" || fail "$m: rr: '$held'"
    expect_lines "$f" quiesced "${held//open/ping}" "$m: weight 0: RS1's connection keeps flowing"
    expect_lines "$f" new "open 3 RS2;open 4 RS2" "$m: weight 0: new connections go to RS2"
    expect_grep "$f" "^RS1 drained\$" "$m: RS1's ActiveConn + InActConn reached 0"
    expect_lines "$f" afterdelete "ping [12] RS2;ping 3 RS2;ping 4 RS2" "$m: RS2's connections unaffected by the delete"
    expect_lines "$f" nodest0 "open 5 RS[12];open 6 RS[12];ping [56] ERROR:TimeoutError;reset [56]" \
        "$m: expire_nodest_conn 0: the deleted dest's packets are dropped"
    expect_lines "$f" nodest1 "open 7 RS[12];open 8 RS[12];ping [78] ERROR:ConnectionResetError" \
        "$m: expire_nodest_conn 1: the entry goes, the director's stack resets the client"
    expect_grep "$f" "^  -> $rs1:80 +(Masq|Route) +0 +1 +0 *\$" "$m: -Ln: RS1 at weight 0 with its 1 active conn"
    if [ "${m%6}" != "$m" ]; then
        local first other
        first=$(lines_of "$f" eqtfirst)
        [ "$first" = RS1 ] && other=RS2 || other=RS1
        expect_lines "$f" eqt0 "$first" "$m: expire_quiescent_template 0: the template keeps the client on its quiesced dest"
        expect_lines "$f" eqt1 "$other" "$m: expire_quiescent_template 1: the template expires, the next connection goes elsewhere"
    fi
}

differential per_mode_scenario per_mode_validate
finish
