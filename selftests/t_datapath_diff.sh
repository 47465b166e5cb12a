#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential datapath test: the same topology and traffic through stock ip_vs.ko and
# through ipvs_rs.ko, in NAT, DR and TUN modes (DR and TUN in full runs only: see MODES). A
# client netns, a director netns and two real-server netns; TCP with wrr (weights 1:2) and
# UDP with rr, several connections each.
# Compared byte for byte: which real server answered each connection, the bytes each real
# server received, `ipvsadm -Ln` (weights, ActiveConn, InActConn), the connection counts of
# `--stats` (all counters for UDP), the connection table (`-Lnc`, client port and expiry
# left out), and a UDP flow whose dest is deleted under traffic.
# Then NAT and DR again over IPv6 (modes nat6, dr6: the same topology in IPv6, topo.sh), with
# the same TCP and UDP services and traffic (not the deleted dest's flow) and, IPv6's own: a
# source-hashing UDP service (sh) and a maglev one (mh), each reached from six client
# addresses (the keys they hash), and a persistent TCP service with an IPv6 prefix length
# (-p 60 -M 64: the clients of one /64 share a template, [2001:db8::]:0 in -Lnc), and three
# IPv6 firewall-mark services (-6 -f, marked by nft in the ip6 family) with the schedulers that
# hash the destination, dh, lblc and lblcr, reached at four addresses of 2001:db8:9::/64;
# compared as above, plus /proc/net/ip_vs and /proc/net/ip_vs_conn (their IPv6 formats; the
# client port and the expiry left out).
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

# IPv6's client addresses: two /64 (the persistent service's -M 64 groups them). sh and mh
# hash an IPv6 address folded to 32 bits (the XOR of its four words), so 2001:db8:0:1::3 has
# the key of 2001:db8::2 and 2001:db8:0:1::2 that of 2001:db8::3; ::6 and ::7 fall in sh
# buckets of the other dest (stock's table for two dests of weight 1 alternates them).
CLIENTS6="2001:db8::2 2001:db8::3 2001:db8::6 2001:db8::7 2001:db8:0:1::2 2001:db8:0:1::3"
# The firewall-mark services' destinations (dh's buckets of the first two and of the last two
# are the two dests', by the same folding).
MARKED6="2001:db8:9::1 2001:db8:9::2 2001:db8:9::6 2001:db8:9::7"

# marks6: UDP to 2001:db8:9::/64 ports 56, 57, 58 marked 9, 10, 11 in the director
marks6() {
    lvs nft -f - <<EOF
table ip6 mangle {
    chain prerouting {
        type filter hook prerouting priority mangle;
        ip6 daddr 2001:db8:9::/64 udp dport 56 meta mark set 9
        ip6 daddr 2001:db8:9::/64 udp dport 57 meta mark set 10
        ip6 daddr 2001:db8:9::/64 udp dport 58 meta mark set 11
    }
}
EOF
}

# one_mode O MODE: MODE nat, dr or tun over IPv4; nat6 or dr6 over IPv6.
one_mode() {
    local o=$1 mode=${2%6} flag tport uport first victim a fam=4 TOPO_CLIENT_ADDRS=
    [ "$mode" = "$2" ] || fam=6 TOPO_CLIENT_ADDRS=$CLIENTS6
    topo_family $fam
    case $mode in
        nat) flag=-m; tport=8080; uport=8053 ;;
        dr) flag=-g; tport=80; uport=53 ;;
        tun) flag=-i; tport=80; uport=53 ;;
    esac
    PORTS="$tport $uport"
    [ $fam = 4 ] || PORTS="$PORTS 54 55 56 57 58 81"
    [ $fam = 6 ] || modprobe -q ipip 2>/dev/null
    rm -f "$TEST_TMP"/rs*.log
    echo "== mode $2" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    agent_start
    ipvs_restore "$TEST_TMP/setup" <<EOF
-A -t $VIPS:80 -s wrr
-a -t $VIPS:80 -r ${RS_IPS[1]}:$tport $flag -w 1
-a -t $VIPS:80 -r ${RS_IPS[2]}:$tport $flag -w 2
-A -u $VIPS:53 -s rr
-a -u $VIPS:53 -r ${RS_IPS[1]}:$uport $flag
-a -u $VIPS:53 -r ${RS_IPS[2]}:$uport $flag
EOF
    [ $fam = 4 ] || ipvs_restore "$o" <<EOF
-A -u $VIPS:54 -s sh
-a -u $VIPS:54 -r ${RS_IPS[1]}:54 $flag
-a -u $VIPS:54 -r ${RS_IPS[2]}:54 $flag
-A -u $VIPS:55 -s mh
-a -u $VIPS:55 -r ${RS_IPS[1]}:55 $flag
-a -u $VIPS:55 -r ${RS_IPS[2]}:55 $flag
-A -t $VIPS:81 -s rr -p 60 -M 64
-a -t $VIPS:81 -r ${RS_IPS[1]}:81 $flag
-a -t $VIPS:81 -r ${RS_IPS[2]}:81 $flag
-A -f 9 -6 -s dh
-a -f 9 -6 -r ${RS_IPS[1]}:0 $flag
-a -f 9 -6 -r ${RS_IPS[2]}:0 $flag
-A -f 10 -6 -s lblc
-a -f 10 -6 -r ${RS_IPS[1]}:0 $flag
-a -f 10 -6 -r ${RS_IPS[2]}:0 $flag
-A -f 11 -6 -s lblcr
-a -f 11 -6 -r ${RS_IPS[1]}:0 $flag
-a -f 11 -6 -r ${RS_IPS[2]}:0 $flag
EOF
    [ $fam = 4 ] || marks6 || echo "nft failed" >> "$o"
    # The traffic from the agent (one Python start for the whole mode): TCP connections of
    # 300 bytes and UDP datagrams of 200, each from a new socket, then a UDP flow from a fixed
    # port; only the answers are kept.
    answers_of tcp $VIP 80 6 300
    echo "tcp sequence: $ANSWERS" >> "$o"
    answers_of udpnew $VIP 53 4 200
    echo "udp sequence: $ANSWERS" >> "$o"
    if [ $fam = 4 ]; then
        # A UDP flow from a fixed port, whose dest is deleted in the middle.
        answers_of udp $VIP 53 3 40000
        first=$ANSWERS
        echo "udp flow before delete: $first" >> "$o"
        victim=1; [ "${first%% *}" = RS2 ] && victim=2
        lvs ipvsadm -d -u $VIP:53 -r 172.16.$victim.2:$uport
        answers_of udp $VIP 53 3 40000
        echo "udp flow after delete: $ANSWERS" >> "$o"
    else
        ag_to "$o" sh from udp $VIP 54 1 $CLIENTS6
        ag_to "$o" mh from udp $VIP 55 1 $CLIENTS6
        ag_to "$o" persist from tcp $VIP 81 1 $CLIENTS6
        for a in $MARKED6; do ag_to "$o" "fwm $a" from udp "$a" 56,57,58 1 $CL_IP; done
    fi
    # Stock's --stats show the traffic only once its estimator has run over it.
    estimator_rounds
    capture_fn "$o" lvs ipvsadm -Ln
    # TCP packet counts depend on ACK timing; compare its connection counts, all of UDP's.
    capture_fn "$o" lvs sh -c "ipvsadm -Ln --stats -t $VIPS:80 | awk '{print \$1, \$2, \$3}'"
    capture_fn "$o" lvs ipvsadm -Ln --stats -u $VIPS:53
    # -Lnc columns: pro expire state source virtual destination; the client port is random.
    capture_fn "$o" lvs sh -c "ipvsadm -Lnc | awk 'NR>2 {sub(/:[0-9]+\$/, \"\", \$4); print \$1, \$3, \$4, \$5, \$6}' | sort | uniq -c"
    if [ $fam = 6 ]; then
        capture_fn "$o" lvs ipvsadm -Ln --persistent-conn
        # /proc/net/ip_vs lists the services in the order of stock's hash table, which mixes
        # in the netns's address: the services, each with its dests, sorted.
        lvs_proc ip_vs
        printf '%s' "$LVS_PROC" | head -n 3 >> "$o"
        printf '%s' "$LVS_PROC" | tail -n +4 |
            awk '/^  ->/ { r = r "\001" $0; next } { if (r != "") print r; r = $0 } END { if (r != "") print r }' |
            LC_ALL=C sort | tr '\001' '\n' >> "$o"
        # Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires: the client's port (but a
        # template's 0000) and the expiry left out.
        lvs_proc ip_vs_conn
        printf '%s' "$LVS_PROC" | awk 'NR > 1 { if ($3 != "0000") $3 = "*"; $NF = ""; print }' | sort | uniq -c >> "$o"
    fi
    stop_servers
    echo "rs1 received: $(received "$TEST_TMP/rs1.log")" >> "$o"
    echo "rs2 received: $(received "$TEST_TMP/rs2.log")" >> "$o"
    cleanup_netns
}

# make check leaves out IPv4's DR and TUN, which the other differential tests cover (DR: the
# persistence, conn_reuse, quiesce, thresholds, defense and race tests; IPIP: t_tun6_diff,
# t_icmp_diff, t_xmit_hygiene_diff), and keeps IPv6's own.
MODES=$(full_or_quick "nat dr tun nat6 dr6" "nat nat6 dr6")
validate_mode() {
    local f=$1 mode=$2
    expect_grep "$f" '^tcp sequence: (RS[12] ?){6}$' "$mode: every TCP connection answered"
    expect_grep "$f" '^udp sequence: (RS[12] ?){4}$' "$mode: every UDP datagram answered"
    expect_grep "$f" '^rs2 received: tcp [1-9]' "$mode: RS2 got TCP"
    if [ "${mode%6}" != "$mode" ]; then
        validate_v6 "$f" "$mode"
        return
    fi
    # Upstream drops a deleted dest's packets (expire_nodest_conn=0) without refreshing the
    # connection, so the flow gets no answers.
    expect_grep "$f" '^udp flow after delete: (ERROR:TimeoutError ?){3}$' "$mode: deleted dest's flow dropped"
}

# What stock must show over IPv6 (so the script is known to exercise it): every flow answered,
# sh using both dests for the six sources and the folded keys, one real server per /64 on
# the persistent service and its two templates, and the IPv6 forms of the listings.
validate_v6() {
    local f=$1 mode=$2 k n re
    for k in sh mh persist; do
        n=$(grep -cE "^$k: [0-9a-f:]+ [0-9]+ RS[12]$" "$f")
        [ "$n" -eq 6 ] && pass "$mode: $k: 6 flows answered" || fail "$mode: $k: $n of 6 flows answered"
    done
    n=$(awk '$1 == "sh:" { d[$2] = $4 } END { print d["2001:db8::2"], d["2001:db8::3"], d["2001:db8::6"],
        d["2001:db8::7"], d["2001:db8:0:1::3"], d["2001:db8:0:1::2"] }' "$f")
    re='^(RS[12]) (RS[12]) (RS[12]) (RS[12]) (RS[12]) (RS[12])$'
    [[ $n =~ $re ]] &&
        [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[3]}" = "${BASH_REMATCH[4]}" ] &&
        [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[3]}" ] && [ "${BASH_REMATCH[5]}" = "${BASH_REMATCH[1]}" ] &&
        [ "${BASH_REMATCH[6]}" = "${BASH_REMATCH[2]}" ] &&
        pass "$mode: sh: both dests, folded keys alike ($n)" || fail "$mode: sh: not stock's table ($n)"
    # "/64 dests" of each /64: one dest (one template) each.
    n=$(awk '$1 == "persist:" { p = $2; sub(/:[0-9a-f]*$/, "", p); if (!((p, $4) in seen)) { seen[p, $4]; d[p]++ } }
        END { for (p in d) printf "%s %d ", p, d[p] }' "$f")
    [[ $n =~ ^([^ ]+ 1 ){2}$ ]] && pass "$mode: -M 64: one dest per /64 ($n)" ||
        fail "$mode: -M 64: not one dest per /64 ($n)"
    n=$(grep -cE '^fwm 2001:db8:9::[0-9]+: [0-9a-f:]+ 5[678] RS[12]$' "$f")
    [ "$n" -eq 12 ] && pass "$mode: fwmark: 12 flows answered" || fail "$mode: fwmark: $n of 12 flows answered"
    n=$(awk '$1 == "fwm" && $4 == 56 { printf "%s ", $5 }' "$f")
    re='^(RS[12]) (RS[12]) (RS[12]) (RS[12]) $'
    [[ $n =~ $re ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
        [ "${BASH_REMATCH[3]}" = "${BASH_REMATCH[4]}" ] && [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[3]}" ] &&
        pass "$mode: dh: both dests ($n)" || fail "$mode: dh: not stock's table ($n)"
    expect_grep "$f" '^ +1 TCP ASSURED \[2001:db8::\] \[2001:db8::100\]:81 \[2001:db8:[12]::2\]:81$' "$mode: the /64 template in -Lnc"
    expect_grep "$f" '^ +1 TCP ASSURED \[2001:db8:0:1::\] \[2001:db8::100\]:81 \[2001:db8:[12]::2\]:81$' "$mode: the other /64's template"
    expect_grep "$f" '^TCP  \[2001:db8::100\]:80 wrr$' "$mode: -Ln shows the IPv6 service"
    expect_grep "$f" '^TCP  \[2001:db8::100\]:81 rr persistent 60 mask 64$' "$mode: -Ln shows the prefix length"
    expect_grep "$f" '^TCP  \[2001:0db8:0000:0000:0000:0000:0000:0100\]:0051 rr persistent 60000 40000000$' "$mode: /proc/net/ip_vs shows the persistent IPv6 service"
    expect_grep "$f" '^ +1 TCP 2001:0db8:0000:0000:0000:0000:0000:0000 0000 2001:0db8:0000:0000:0000:0000:0000:0100 0051 2001:0db8:000[12]:0000:0000:0000:0000:0002 0051 ASSURED $' "$mode: /proc/net/ip_vs_conn shows the template"
}

differential per_mode_scenario per_mode_validate
finish
