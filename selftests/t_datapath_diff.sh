#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Differential datapath test: the same topology and traffic through stock ip_vs.ko and
# through ipvs_rs.ko, in NAT, DR and TUN modes. A client netns, a director netns and two
# real-server netns; TCP with wrr (weights 1:2) and UDP with rr, several connections each.
# Compared byte for byte: which real server answered each connection, the bytes each real
# server received, `ipvsadm -Ln` (weights, ActiveConn, InActConn), the connection counts of
# `--stats` (all counters for UDP), the connection table (`-Lnc`, client port and expiry
# left out), and a UDP flow whose dest is deleted under traffic.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/topo.sh"

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
    local a=(ip netns exec "$LVS" ipvsadm)
    "${a[@]}" -A -t $VIP:80 -s wrr
    "${a[@]}" -a -t $VIP:80 -r 172.16.1.2:$tport $flag -w 1
    "${a[@]}" -a -t $VIP:80 -r 172.16.2.2:$tport $flag -w 2
    "${a[@]}" -A -u $VIP:53 -s rr
    "${a[@]}" -a -u $VIP:53 -r 172.16.1.2:$uport $flag
    "${a[@]}" -a -u $VIP:53 -r 172.16.2.2:$uport $flag
    echo "tcp sequence: $(ip netns exec "$CL" $TOOL tcp $VIP 80 6 300 | paste -sd' ')" >> "$o"
    echo "udp sequence: $(ip netns exec "$CL" $TOOL udp $VIP 53 4 200 | paste -sd' ')" >> "$o"
    # A UDP flow from a fixed port, whose dest is deleted in the middle.
    first=$(ip netns exec "$CL" $TOOL udp $VIP 53 3 100 40000 | paste -sd' ')
    echo "udp flow before delete: $first" >> "$o"
    victim=1; [ "${first%% *}" = RS2 ] && victim=2
    "${a[@]}" -d -u $VIP:53 -r 172.16.$victim.2:$uport
    echo "udp flow after delete: $(ip netns exec "$CL" $TOOL udp $VIP 53 3 100 40000 | paste -sd' ')" >> "$o"
    # Stock's --stats show the traffic only once its estimator has run over it.
    estimator_rounds
    run_capture "$o" "${a[@]}" -Ln
    # TCP packet counts depend on ACK timing; compare its connection counts, all of UDP's.
    run_capture "$o" sh -c "ip netns exec $LVS ipvsadm -Ln --stats -t $VIP:80 | awk '{print \$1, \$2, \$3}'"
    run_capture "$o" "${a[@]}" -Ln --stats -u $VIP:53
    # -Lnc columns: pro expire state source virtual destination; the client port is random.
    run_capture "$o" sh -c "ip netns exec $LVS ipvsadm -Lnc | awk 'NR>2 {sub(/:[0-9]+\$/, \"\", \$4); print \$1, \$3, \$4, \$5, \$6}' | sort | uniq -c"
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
