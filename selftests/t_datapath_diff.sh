#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Differential datapath test: the same topology and traffic through stock ip_vs.ko and
# through ipvs_rs.ko, in NAT, DR and TUN modes. A client netns, a director netns and two
# real-server netns; TCP with wrr (weights 1:2) and UDP with rr, several connections each.
# Compared byte for byte: which real server answered each connection, the bytes each real
# server received, `ipvsadm -Ln` (weights, ActiveConn, InActConn), the connection counts of
# `--stats` (all counters for UDP), the connection table (`-Lnc`, client port and expiry
# left out), and a UDP flow whose dest is deleted under traffic.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

# answers_of AGENT-COMMAND...: the answers (last word of each result line) in ANSWERS, on one
# line (not a subshell: `ag` counts its commands)
answers_of() {
    local line
    ANSWERS=
    ag "$@" > "$TEST_TMP/ag.last"
    while read -r line; do ANSWERS="$ANSWERS ${line##* }"; done < "$TEST_TMP/ag.last"
    ANSWERS=${ANSWERS# }
}

one_mode() {
    local o=$1 mode=$2 flag tport uport first victim
    case $mode in
        nat) flag=-m; tport=8080; uport=8053 ;;
        dr) flag=-g; tport=80; uport=53 ;;
        tun) flag=-i; tport=80; uport=53 ;;
    esac
    PORTS="$tport $uport"
    modprobe -q ipip 2>/dev/null
    rm -f "$TEST_TMP"/rs*.log
    echo "== mode $mode" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    agent_start
    ipvs_restore "$TEST_TMP/setup" <<EOF
-A -t $VIP:80 -s wrr
-a -t $VIP:80 -r 172.16.1.2:$tport $flag -w 1
-a -t $VIP:80 -r 172.16.2.2:$tport $flag -w 2
-A -u $VIP:53 -s rr
-a -u $VIP:53 -r 172.16.1.2:$uport $flag
-a -u $VIP:53 -r 172.16.2.2:$uport $flag
EOF
    # The traffic from the agent (one Python start for the whole mode): TCP connections of
    # 300 bytes and UDP datagrams of 200, each from a new socket, then a UDP flow from a fixed
    # port; only the answers are kept.
    answers_of tcp $VIP 80 6 300
    echo "tcp sequence: $ANSWERS" >> "$o"
    answers_of udpnew $VIP 53 4 200
    echo "udp sequence: $ANSWERS" >> "$o"
    # A UDP flow from a fixed port, whose dest is deleted in the middle.
    answers_of udp $VIP 53 3 40000
    first=$ANSWERS
    echo "udp flow before delete: $first" >> "$o"
    victim=1; [ "${first%% *}" = RS2 ] && victim=2
    lvs ipvsadm -d -u $VIP:53 -r 172.16.$victim.2:$uport
    answers_of udp $VIP 53 3 40000
    echo "udp flow after delete: $ANSWERS" >> "$o"
    # Stock's --stats show the traffic only once its estimator has run over it.
    estimator_rounds
    capture_fn "$o" lvs ipvsadm -Ln
    # TCP packet counts depend on ACK timing; compare its connection counts, all of UDP's.
    capture_fn "$o" lvs sh -c "ipvsadm -Ln --stats -t $VIP:80 | awk '{print \$1, \$2, \$3}'"
    capture_fn "$o" lvs ipvsadm -Ln --stats -u $VIP:53
    # -Lnc columns: pro expire state source virtual destination; the client port is random.
    capture_fn "$o" lvs sh -c "ipvsadm -Lnc | awk 'NR>2 {sub(/:[0-9]+\$/, \"\", \$4); print \$1, \$3, \$4, \$5, \$6}' | sort | uniq -c"
    stop_servers
    echo "rs1 received: $(received "$TEST_TMP/rs1.log")" >> "$o"
    echo "rs2 received: $(received "$TEST_TMP/rs2.log")" >> "$o"
    cleanup_netns
}

MODES="nat dr tun"
validate_mode() {
    local f=$1 mode=$2
    expect_grep "$f" '^tcp sequence: (RS[12] ?){6}$' "$mode: every TCP connection answered"
    expect_grep "$f" '^udp sequence: (RS[12] ?){4}$' "$mode: every UDP datagram answered"
    # Upstream drops a deleted dest's packets (expire_nodest_conn=0) without refreshing the
    # connection, so the flow gets no answers.
    expect_grep "$f" '^udp flow after delete: (ERROR:TimeoutError ?){3}$' "$mode: deleted dest's flow dropped"
    expect_grep "$f" '^rs2 received: tcp [1-9]' "$mode: RS2 got TCP"
}

differential per_mode_scenario per_mode_validate
finish
