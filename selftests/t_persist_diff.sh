#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: persistent services (-p, -M) through stock ip_vs.ko and ipvs_rs.ko, in NAT
# and DR. Clients 10.0.0.2-.5 and 10.0.1.2-.3 (two /24 groups). Compared byte for byte:
#  - TCP :80 -p 60 (no netmask) and UDP :53 -p 60 -M 255.255.255.0, rr over two real
#    servers: which real server answered each connection of each client;
#  - a persistent port-zero TCP service (VIP:0 -p) reached on two ports;
#  - `ipvsadm -Ln` (persistent/mask flags), `-Ln --persistent-conn`, the connection table
#    with its templates (`-Lnc`);
#  - the template's dest quiesced with expire_quiescent_template 0 then 1, and deleted;
#  - a template expiring (-p 3 with a 1 s UDP timeout; TCP too in DR, whose closed
#    connections wait in FIN_WAIT with the 1 s tcpfin timeout) and the next connection.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

TOPO_CLIENT_ADDRS="10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.1.2 10.0.1.3"
CLIENTS="10.0.0.2 10.0.0.3 10.0.0.4 10.0.1.2 10.0.1.3"
PORTS="80 443 53"

# rs_of O LABEL SRC: the answer of SRC's last connection under LABEL
rs_of() {
    awk -v l="$2:" -v s="$3" '$1 == l && $2 == s { a = $4 } END { print a }' "$1"
}

one_mode() {
    local o=$1 mode=$2 flag x y
    case $mode in nat) flag=-m ;; dr) flag=-g ;; esac
    echo "== mode $mode" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    agent_start
    lvs sysctl -qw net.ipv4.vs.expire_quiescent_template=0
    # Port zero (-t VIP:0): the template holds port 0, so one client reaches one RS on any port.
    ipvs_restore "$o" <<EOF
-A -t $VIP:80 -s rr -p 60
-a -t $VIP:80 -r 172.16.1.2:80 $flag
-a -t $VIP:80 -r 172.16.2.2:80 $flag
-A -u $VIP:53 -s rr -p 60 -M 255.255.255.0
-a -u $VIP:53 -r 172.16.1.2:53 $flag
-a -u $VIP:53 -r 172.16.2.2:53 $flag
-A -t $VIP:0 -s rr -p 60
-a -t $VIP:0 -r 172.16.1.2 $flag
-a -t $VIP:0 -r 172.16.2.2 $flag
EOF
    ag_to "$o" tcp80 from tcp $VIP 80 2 $CLIENTS
    ag_to "$o" udp53 from udp $VIP 53 2 $CLIENTS
    ag_to "$o" port0 from tcp $VIP 443,53 1 10.0.0.2 10.0.0.3 10.0.1.2
    nap 0.5             # the last connection's closing segments
    snapshot "$o" "after first traffic" --persistent-conn

    # The dest of 10.0.0.2's :80 template, quiesced.
    x=$(rs_of "$o" tcp80 10.0.0.2)
    echo "quiesce $x" >> "$o"
    ipvs_restore "$o" <<< "-e -t $VIP:80 -r 172.16.${x#RS}.2:80 $flag -w 0"
    ag_to "$o" eqt0 from tcp $VIP 80 1 10.0.0.2 10.0.0.3
    nap 0.5
    snapshot "$o" "weight 0, expire_quiescent_template 0" --persistent-conn
    lvs sysctl -qw net.ipv4.vs.expire_quiescent_template=1
    ag_to "$o" eqt1 from tcp $VIP 80 1 10.0.0.2 10.0.0.3 10.0.0.4
    nap 0.5
    snapshot "$o" "weight 0, expire_quiescent_template 1" --persistent-conn
    lvs sysctl -qw net.ipv4.vs.expire_quiescent_template=0

    # The dest of the 10.0.0.0/24 UDP template, deleted.
    y=$(rs_of "$o" udp53 10.0.0.2)
    echo "delete $y" >> "$o"
    ipvs_restore "$o" <<EOF
-e -t $VIP:80 -r 172.16.${x#RS}.2:80 $flag -w 1
-d -u $VIP:53 -r 172.16.${y#RS}.2:53
EOF
    ag_to "$o" udpdel from udp $VIP 53 1 10.0.0.3 10.0.0.5 10.0.1.2
    snapshot "$o" "UDP template's dest deleted" --persistent-conn

    # Expiry (-p 3; UDP and tcpfin timeouts 1 s). The conns must go before their template:
    # a template that still controls a conn when its timer fires is kept 60 s more.
    ipvs_restore "$o" <<EOF
--set 0 1 1
-A -u $VIP:443 -s rr -p 3
-a -u $VIP:443 -r 172.16.1.2:443 $flag
-a -u $VIP:443 -r 172.16.2.2:443 $flag
-A -t $VIP:443 -s rr -p 3
-a -t $VIP:443 -r 172.16.1.2:443 $flag
-a -t $VIP:443 -r 172.16.2.2:443 $flag
EOF
    # Both datagrams (each from a new socket) and both connections on one RS: the templates
    # exist (checked below). They are not listed here: a 3 s template may already be gone by
    # the time a slow host lists it (the -p 60 templates above show how they are listed).
    ag_to "$o" exp1u from udp $VIP 443 2 10.0.0.5
    ag_to "$o" exp1t from tcp $VIP 443 2 10.0.0.5
    # At most 6 s (checked below: conns 1 s, template 3 s), as soon as they have gone.
    wait_entries_gone "^UDP 0A000005 [0-9A-F]{4} 0A000064 01BB " 7
    echo "-- UDP of 10.0.0.5 after 6 s" >> "$o"
    lvs ipvsadm -Lnc | awk "$CONNS_AWK" | grep "^UDP [A-Z]* 10\.0\.0\.5:[0-9*]* $VIP:443 " | sort >> "$o"
    ag_to "$o" exp2u from udp $VIP 443 1 10.0.0.5
    ag_to "$o" exp2t from tcp $VIP 443 1 10.0.0.5
    # Listed once the new templates have expired too (3 s; in NAT the TCP one stays, kept by
    # its conns in TIME_WAIT): a listing taken while one is about to expire would depend on
    # the speed of the run.
    if [ "$mode" = nat ]; then
        wait_entries_gone "^UDP 0A000005 [0-9A-F]{4} 0A000064 01BB "
    else
        wait_entries_gone "^(UDP|TCP) 0A000005 [0-9A-F]{4} 0A000064 01BB "
    fi
    snapshot "$o" "after expiry" --persistent-conn

    stop_servers
    echo "rs1 received: $(received "$TEST_TMP/rs1.log")" >> "$o"
    echo "rs2 received: $(received "$TEST_TMP/rs2.log")" >> "$o"
    cleanup_netns
}

# ---------------------------------------------------------------- validation of stock
# answers O LABEL [SRC-REGEX]: the distinct answers under LABEL (from matching sources),
# sorted (bash only: every process costs about a second under TCG on a busy host)
answers() {
    local l src port a seen=" " out="" x
    while read -r l src port a; do
        [ "$l" = "$2:" ] && [[ $src =~ ^(${3:-.*})$ ]] && [[ $seen != *" $a "* ]] && seen="$seen$a "
    done < "$1"
    for x in RS1 RS2; do [[ $seen == *" $x "* ]] && out="$out $x" && seen=${seen/ $x / }; done
    [ "$seen" = " " ] || out="$out${seen% }"
    echo "${out# }"
}

expect_eq() {       # expect_eq DESC GOT WANT
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

expect_one_rs() {   # expect_one_rs DESC ANSWERS: exactly one real server
    case "$2" in RS[12]) pass "$1 ($2)" ;; *) fail "$1: answers '$2'" ;; esac
}

validate_mode() {
    local f=$1 mode=$2 s x y other all
    for s in $CLIENTS; do
        expect_one_rs "$mode: TCP :80 client $s stays on one RS" "$(answers "$f" tcp80 "$s")"
    done
    all=$(answers "$f" tcp80)
    expect_eq "$mode: TCP :80 clients spread over both RS" "$all" "RS1 RS2"
    expect_one_rs "$mode: UDP :53 10.0.0.0/24 on one RS" "$(answers "$f" udp53 '10\.0\.0\..*')"
    expect_one_rs "$mode: UDP :53 10.0.1.0/24 on one RS" "$(answers "$f" udp53 '10\.0\.1\..*')"
    expect_eq "$mode: UDP :53 the two /24 groups on different RS" "$(answers "$f" udp53)" "RS1 RS2"
    for s in 10.0.0.2 10.0.0.3 10.0.1.2; do
        expect_one_rs "$mode: port 0: client $s on one RS for ports 443 and 53" \
            "$(answers "$f" port0 "$s")"
    done
    expect_grep "$f" "^TCP (NONE|ASSURED) 10\.0\.0\.2:0 $VIP:80 172\.16\.[12]\.2:80\$" \
        "$mode: TCP :80 template of 10.0.0.2 in -Lnc"
    # A template is ASSURED once a TCP conn it controls is established, or a UDP reply passed
    # the director (NAT); DR's UDP templates stay NONE.
    local uassured=NONE; [ "$mode" = nat ] && uassured=ASSURED
    expect_grep "$f" "^UDP $uassured 10\.0\.0\.0:0 $VIP:53 172\.16\.[12]\.2:53\$" \
        "$mode: UDP template of 10.0.0.0/24 (masked client, port 0, $uassured) in -Lnc"
    expect_grep "$f" "^TCP (NONE|ASSURED) 10\.0\.0\.2:0 $VIP:0 172\.16\.[12]\.2:0\$" \
        "$mode: port-zero template in -Lnc"
    expect_grep "$f" "^TCP  $VIP:80 rr persistent 60\$" "$mode: -Ln shows 'persistent 60'"
    expect_grep "$f" "^UDP  $VIP:53 rr persistent 60 mask 255\.255\.255\.0\$" \
        "$mode: -Ln shows 'persistent 60 mask 255.255.255.0'"
    expect_grep "$f" "PersistConn" "$mode: --persistent-conn lists PersistConn"
    if [ "$mode" = nat ]; then
        expect_grep "$f" "^TCP ASSURED 10\.0\.0\.2:0 $VIP:80 " "$mode: TCP template assured once established"
    fi
    x=$(awk '$1 == "quiesce" { print $2 }' "$f")
    other=RS1; [ "$x" = RS1 ] && other=RS2
    expect_eq "$mode: weight 0 + expire_quiescent_template 0: 10.0.0.2 stays on $x" \
        "$(answers "$f" eqt0 10.0.0.2)" "$x"
    expect_eq "$mode: weight 0 + expire_quiescent_template 1: 10.0.0.2 moves to $other" \
        "$(answers "$f" eqt1 10.0.0.2)" "$other"
    expect_eq "$mode: expire_quiescent_template 1: every client on the weighted RS" \
        "$(answers "$f" eqt1)" "$other"
    expect_grep "$f" "^TCP (NONE|ASSURED) 10\.0\.0\.2:0 $VIP:65535 172\.16\.${x#RS}\.2:65535\$" \
        "$mode: the quiesced template is left invalidated (ports 65535) in -Lnc"
    y=$(awk '$1 == "delete" { print $2 }' "$f")
    other=RS1; [ "$y" = RS1 ] && other=RS2
    expect_eq "$mode: UDP template's dest deleted: 10.0.0.x moves to $other" \
        "$(answers "$f" udpdel '10\.0\.0\..*')" "$other"
    expect_one_rs "$mode: expiry: UDP before on one RS" "$(answers "$f" exp1u)"
    expect_one_rs "$mode: expiry: TCP before on one RS" "$(answers "$f" exp1t)"
    # After 6 s no UDP entry of the -p 3 service is left (conns 1 s, template 3 s).
    if awk '/^-- UDP of 10.0.0.5 after 6 s/{f=1;next} /^--/{f=0} f' "$f" | grep -q '^UDP'; then
        fail "$mode: expiry: UDP entries left after 6 s"
    else
        pass "$mode: expiry: UDP template and conns gone after 6 s"
    fi
    # rr's next pick is the other RS: a new template was made.
    expect_eq "$mode: expiry: next UDP datagram rescheduled to the other RS" \
        "$(answers "$f" exp2u)" "$( [ "$(answers "$f" exp1u)" = RS1 ] && echo RS2 || echo RS1)"
    if [ "$mode" = dr ]; then
        expect_eq "$mode: expiry: next TCP connection rescheduled to the other RS" \
            "$(answers "$f" exp2t)" "$( [ "$(answers "$f" exp1t)" = RS1 ] && echo RS2 || echo RS1)"
    else
        # NAT: closed conns wait 120 s in TIME_WAIT and keep their template alive.
        expect_eq "$mode: TIME_WAIT conns keep the TCP template" \
            "$(answers "$f" exp2t)" "$(answers "$f" exp1t)"
    fi
    if grep -q ERROR "$f"; then fail "$mode: some traffic failed"; else pass "$mode: all traffic answered"; fi
}

differential per_mode_scenario per_mode_validate
finish
