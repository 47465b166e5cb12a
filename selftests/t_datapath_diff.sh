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

VIP=10.0.0.100
TOOL="python3 $REPO_ROOT/selftests/dp_tool.py"

# topo MODE: builds the netns and starts the servers; sets CL LVS RS1 RS2.
topo() {
    local mode=$1 i rs port
    CL=$(netns_add cl) && LVS=$(netns_add lvs) && RS1=$(netns_add rs1) && RS2=$(netns_add rs2) || return 1
    ip link add c0 netns "$CL" type veth peer name l0 netns "$LVS"
    ip -n "$CL" link add br0 type bridge
    ip -n "$CL" link set c0 master br0
    ip -n "$CL" link set c0 up
    ip -n "$CL" link set br0 up
    ip -n "$CL" addr add 10.0.0.2/24 dev br0
    ip -n "$CL" route add "$VIP" via 10.0.0.1
    ip -n "$LVS" addr add 10.0.0.1/24 dev l0
    ip -n "$LVS" link set l0 up
    ip -n "$LVS" addr add "$VIP/32" dev lo
    ip netns exec "$LVS" sysctl -qw net.ipv4.ip_forward=1
    for i in 1 2; do
        rs=$RS1; [ $i = 2 ] && rs=$RS2
        ip link add r0 netns "$rs" type veth peer name l$i netns "$LVS"
        ip -n "$rs" addr add 172.16.$i.2/24 dev r0
        ip -n "$rs" link set r0 up
        ip -n "$LVS" addr add 172.16.$i.1/24 dev l$i
        ip -n "$LVS" link set l$i up
        if [ "$mode" = nat ]; then
            ip -n "$rs" route add default via 172.16.$i.1
        else
            # Replies bypass the director over the client's LAN, as in upstream's ipvs.sh.
            ip link add cr$i netns "$CL" type veth peer name c0 netns "$rs"
            ip -n "$CL" link set cr$i master br0
            ip -n "$CL" link set cr$i up
            ip -n "$rs" addr add 10.0.0.1$i/24 dev c0
            ip -n "$rs" link set c0 up
            ip -n "$rs" addr add "$VIP/32" dev lo
            ip netns exec "$rs" sysctl -qw net.ipv4.conf.all.arp_ignore=1
            ip netns exec "$rs" sysctl -qw net.ipv4.conf.all.arp_announce=2
            ip netns exec "$rs" sysctl -qw net.ipv4.conf.all.rp_filter=0
            ip netns exec "$rs" sysctl -qw net.ipv4.conf.r0.rp_filter=0
            if [ "$mode" = tun ]; then
                ip -n "$rs" link set tunl0 up
                ip netns exec "$rs" sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
            fi
        fi
        ip netns exec "$rs" $TOOL serve RS$i "$TEST_TMP/rs$i.log" $PORTS &
    done
    sleep 2
}

stop_servers() {
    pkill -f "dp_tool.py serve" 2>/dev/null
    sleep 0.5
}

# received LOG: "tcp BYTES udp BYTES" totals of one real server's log
received() {
    awk '{t[$1]+=$2; n[$1]++} END {printf "tcp %d/%d udp %d/%d\n", n["tcp"], t["tcp"], n["udp"], t["udp"]}' "$1" 2>/dev/null
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
    sleep 1
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

scenario() {
    local o=$1 mode
    for mode in nat dr tun; do
        one_mode "$o" $mode
    done
}

validate() {
    local o=$1 mode
    for mode in nat dr tun; do
        awk -v m="== mode $mode" '$0==m{f=1;next} /^== mode/{f=0} f' "$o" > "$TEST_TMP/$mode.part"
        expect_grep "$TEST_TMP/$mode.part" '^tcp sequence: (RS[12] ?){6}$' "$mode: every TCP connection answered"
        expect_grep "$TEST_TMP/$mode.part" '^udp sequence: (RS[12] ?){4}$' "$mode: every UDP datagram answered"
        # Upstream drops a deleted dest's packets (expire_nodest_conn=0) without refreshing the
        # connection, so the flow gets no answers.
        expect_grep "$TEST_TMP/$mode.part" '^udp flow after delete: (ERROR:TimeoutError ?){3}$' "$mode: deleted dest's flow dropped"
        expect_grep "$TEST_TMP/$mode.part" '^rs2 received: tcp [1-9]' "$mode: RS2 got TCP"
    done
}

differential scenario validate
finish
