#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: what the director does around the rewrite itself, through stock ip_vs.ko and
# ipvs_rs.ko. Compared byte for byte:
#  - dests that are not unicast addresses (multicast, limited and subnet broadcast, zero) are
#    refused with stock's errno and message;
#  - NAT through a director with nf_conntrack and an nft masquerade rule towards the real
#    servers (a docker or kube node): with conntrack=0 the packets IPVS sends are untracked,
#    so the real server sees the client; with conntrack=1 their conntrack entries learn the
#    NAT, so the masquerade applies and the replies still find their way back. TCP and UDP
#    must work both ways, and the real server must see the same source as with stock. With
#    conntrack=1, the conntrack entries go with the IPVS connections that kept them (2 s UDP
#    timeout; counted with ctnetlink once `ipvsadm -Lnc` lists no UDP entry): a stale entry,
#    whose reply tuple IPVS altered, would catch the next flow from the same client port;
#  - the same over IPv6 (an ip6 masquerade; conntrack=1 in make check, 0 too in full runs): the
#    traffic, a fragmented reply gathered and translated, the source the real server sees, and
#    the conntrack entries going with the connections;
#  - with conntrack=1, a SYN on an established connection's tuple after its dest was quiesced
#    (expire_nodest_conn=1) is dropped while the connection's live conntrack entry still
#    points at the old dest, and that entry goes with the connection; the next SYN is
#    scheduled afresh (upstream's "old conntrack" rule, rust/dp/mod.rs replace_conn);
#  - a NAT reply of 3000 bytes, which the real server sends in fragments, reaches the client
#    whole and from the VIP (the director gathers the fragments before translating);
#  - snat_reroute: with a policy rule sending traffic from the VIP to the clients' subnet into
#    a dummy device, a NAT reply is routed again from its new source (the VIP) and follows
#    the rule (snat_reroute=1, the default); with snat_reroute=0 it keeps the route it came
#    with and reaches the client;
#  - ignore_tunneled (TUN topology): a datagram the director decapsulates from an IPIP packet is
#    scheduled with 0, and with 1 too (6.12's decapsulation clears the mark), as with stock;
#  - TUN with pmtu_disc=0: a DF datagram that only fits without the outer header is sent on
#    (the outer packet may be fragmented) instead of answered with "fragmentation needed";
#    with pmtu_disc=1 (the default) it is refused as stock refuses it.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

command -v nft >/dev/null || skip "nft not installed"
kmodprobe nf_conntrack_netlink || skip "no nf_conntrack_netlink"
at_exit "kmodprobe -r nf_conntrack_netlink 2>/dev/null"
PORTS="80"

# received_from LOG: "proto source" of each connection or datagram a real server saw
received_from() { awk '{print $1, $3}' "$1" 2>/dev/null | sort | uniq -c; }

# nat_masquerade O CONNTRACK FAMILY: the labels of the IPv6 pass end in 6 ("tcp6: ...").
nat_masquerade() {
    local o=$1 ct=$2 fam=$3 v= nftfam=ip
    topo_family "$fam"
    [ "$fam" = 6 ] && v=6 nftfam=ip6
    echo "== nat, IPv$fam, masquerade towards the real servers, conntrack=$ct" >> "$o"
    topo nat || { echo "topology failed" >> "$o"; return; }
    lvs nft -f - <<EOF
table $nftfam hyg {
    chain post {
        type nat hook postrouting priority srcnat;
        oifname { "l1", "l2" } masquerade
    }
}
EOF
    capture_fn "$o" lvs sysctl -w net.ipv4.vs.conntrack="$ct"
    [ "$ct" = 1 ] && capture_fn "$o" lvs ipvsadm --set 0 0 2
    agent_start
    ipvs_restore "$o" <<EOF
-A -t $VIPS:80 -s rr
-a -t $VIPS:80 -r ${RS_IPS[1]}:80 -m
-a -t $VIPS:80 -r ${RS_IPS[2]}:80 -m
-A -u $VIPS:80 -s rr
-a -u $VIPS:80 -r ${RS_IPS[1]}:80 -m
-a -u $VIPS:80 -r ${RS_IPS[2]}:80 -m
EOF
    ag_to "$o" tcp$v from tcp $VIP 80 2 $CL_IP
    ag_to "$o" udp$v from udp $VIP 80 2 $CL_IP
    # A reply too large for one packet: its fragments must all leave translated.
    ag_to "$o" big$v udpbig $VIP 80
    [ "$fam$ct" = 40 ] && dest_addresses "$o" && snat_reroute "$o"
    [ "$ct" = 1 ] && conntrack_after_expiry "$o" "$v"
    [ "$fam$ct" = 41 ] && syn_on_live_conntrack "$o"
    stop_servers
    echo "rs1 saw$v: $(received_from "$TEST_TMP/rs1.log" | paste -sd,)" >> "$o"
    echo "rs2 saw$v: $(received_from "$TEST_TMP/rs2.log" | paste -sd,)" >> "$o"
    cleanup_netns
    topo_family 4
}

# conntrack_after_expiry O SUFFIX: UDP entries to the VIP once IPVS's are gone
conntrack_after_expiry() {
    local o=$1 i n
    for ((i = 0; i < 300; i++)); do
        n=$(lvs ipvsadm -Lnc | grep -c '^UDP')
        [ "$n" -eq 0 ] && break
        sleep 0.1
    done
    echo "udp$2 connections listed: $n" >> "$o"
    echo "udp$2 conntrack entries to the VIP: $(lvs python3 -S "$SELFTESTS_DIR/dp_tool.py" ctcount udp $VIP 2>&1)" >> "$o"
}

# syn_on_live_conntrack O (conntrack=1): a SYN on the tuple of an established connection
# whose dest was quiesced, with expire_nodest_conn=1. Its conntrack entry is live (conntrack
# lets such a SYN through as belonging to it), and its reply tuple points at the old dest: so
# the SYN is dropped and the old connection expires now, taking the entry with it; the next
# SYN (the client's retransmission) is a new flow, scheduled to the other dest.
syn_on_live_conntrack() {
    local o=$1 id rs sport=41000 sport_hex
    printf -v sport_hex %04X "$sport"     # as /proc/net/ip_vs_conn shows it
    echo "-- a SYN on a live conntrack entry, its dest quiesced, expire_nodest_conn=1" >> "$o"
    lvs sysctl -qw net.ipv4.vs.expire_nodest_conn=1
    ag_to "$o" reuse open $VIP 80 1 10.0.0.2 "$sport"
    read -r _ id rs < "$TEST_TMP/ag.last"     # "open ID RSn"
    ipvs_restore "$o" <<< "-e -t $VIP:80 -r 172.16.${rs#RS}.2:80 -m -w 0"
    ag_to "$o" reuse synon "$id"
    # The old connection goes at once (at most 10 s on a slow host), and no new one takes its
    # place.
    if wait_entries_gone "^TCP 0A000002 $sport_hex " 10; then
        echo "after the first SYN: no connection from port $sport" >> "$o"
    else
        lvs_entry_of_port "$o" "$sport"
    fi
    echo "conntrack entries from port $sport: $(lvs python3 -S "$SELFTESTS_DIR/dp_tool.py" ctcount tcp $VIP "$sport" 2>&1)" >> "$o"
    ag_to "$o" reuse synon "$id"
    lvs_entry_of_port "$o" "$sport"
    ag_to "$o" reuse reset "$id"
}

# lvs_entry_of_port O PORT: the director's connection from client port PORT, once listed
# (its state left out: the client's socket answers the new flow's SYN-ACK as it likes)
lvs_entry_of_port() {
    local o=$1 port=$2 i line=
    for ((i = 0; i < 100; i++)); do
        line=$(lvs ipvsadm -Lnc | awk -v p=":$port" 'substr($4, length($4) - length(p) + 1) == p { print $1, $4, $5, $6 }')
        [ -z "$line" ] || break
        nap 0.1
    done
    echo "entry from port $port: ${line:-none}" >> "$o"
}

# snat_reroute O: in the NAT topology, with its UDP service. "from the VIP" goes to a dummy
# device, where a rerouted reply is counted.
snat_reroute() {
    local o=$1 v i sent=/sys/class/net/rr0/statistics/tx_packets before after
    echo "-- snat_reroute" >> "$o"
    # No IPv6 on the dummy device: its router solicitations and MLD reports, sent at random times
    # after it comes up, would count as packets into it.
    lvs sh -c "ip link add rr0 type dummy && sysctl -qw net.ipv6.conf.rr0.disable_ipv6=1 && ip link set rr0 up &&
        ip route add 10.0.0.0/24 dev rr0 table 100 && ip rule add from $VIP table 100 pref 100" >> "$o" 2>&1
    for v in 1 0; do
        lvs sysctl -qw net.ipv4.vs.snat_reroute=$v
        before=$(lvs cat $sent)
        ag_to "$o" "snat_reroute=$v" udp $VIP 80 1 $((41100 + v))
        # A reply that reached the client was routed already; one that did not may still
        # be on its way on a slow host.
        for ((i = 0; i < 50; i++)); do
            after=$(lvs cat $sent)
            [ "$after" = "$before" ] && [ "$v" = 1 ] || break
            nap 0.2
        done
        echo "snat_reroute=$v: replies into the dummy device: $((after - before))" >> "$o"
    done
    lvs sh -c "ip rule del pref 100; ip link del rr0; sysctl -qw net.ipv4.vs.snat_reroute=1"
}

dest_addresses() {  # dest_addresses O: in the NAT topology, with its TCP service
    local o=$1 a
    echo "-- dest addresses" >> "$o"
    # multicast, limited broadcast, the director's subnet broadcast, zero
    for a in 224.0.0.1 239.1.2.3 255.255.255.255 10.0.0.255 0.0.0.0; do
        capture_fn "$o" lvs ipvsadm -a -t $VIP:80 -r $a:80 -m
    done
    capture_fn "$o" lvs ipvsadm -Ln -t $VIP:80
}

# ignore_tunneled O: in the TUN topology, the client sends the director IPIP packets carrying
# UDP datagrams to the VIP (from 10.0.0.51 with ignore_tunneled=1, from 10.0.0.52 with 0); the
# director's fallback tunnel decapsulates them. With 1 IPVS marks the IPIP packet as its own,
# but in 6.12 every tunnel's decapsulation clears that mark (skb_scrub_packet), so with either
# value the datagram inside is scheduled, by stock as by ipvs_rs: what is compared is that the
# two agree (the mark's one remaining reader upstream is xt_ipvs, which needs ip_vs.ko).
ignore_tunneled() {
    local o=$1 v i
    lvs sh -c "ip link set tunl0 up && sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0"
    for v in 1 0; do
        lvs sysctl -qw net.ipv4.vs.ignore_tunneled=$v
        ip netns exec "$CL" $TOOL ipip 10.0.0.1 10.0.0.5$((2 - v)) $VIP 41300 80
    done
    for ((i = 0; i < 50; i++)); do
        grep -q " 10.0.0.52$" "$TEST_TMP/rs1.log" 2>/dev/null && break
        nap 0.2
    done
    for v in 1 0; do
        echo "ignore_tunneled=$v: the real server got the tunneled datagram: $(grep -c " 10.0.0.5$((2 - v))$" "$TEST_TMP/rs1.log")" >> "$o"
    done
}

tun_pmtu() {        # tun_pmtu O: pmtu_disc 0, then 1 (the default), in one TUN topology
    local o=$1 pd
    echo "== tun" >> "$o"
    topo tun || { echo "topology failed" >> "$o"; return; }
    agent_start
    ipvs_restore "$o" <<EOF
-A -u $VIP:80 -s rr
-a -u $VIP:80 -r 172.16.1.2:80 -i
EOF
    for pd in 0 1; do
        echo "-- pmtu_disc=$pd" >> "$o"
        capture_fn "$o" lvs sysctl -w net.ipv4.vs.pmtu_disc="$pd"
        # 1472 bytes of payload: a 1500-byte datagram, which fits the link but not the tunnel.
        ag_to "$o" df udpdf $VIP 80 1472
        ag_to "$o" small udpdf $VIP 80 100
    done
    ignore_tunneled "$o"
    stop_servers
    echo "rs1 received: $(received "$TEST_TMP/rs1.log")" >> "$o"
    cleanup_netns
}

# IPv6 with conntrack=1 in make check (a dual-stack kube node); with 0 too in full runs.
NAT6_CONNTRACK=$(full_or_quick "0 1" "1")

scenario() {
    local o=$1 ct
    nat_masquerade "$o" 0 4
    nat_masquerade "$o" 1 4
    for ct in $NAT6_CONNTRACK; do nat_masquerade "$o" "$ct" 6; done
    tun_pmtu "$o"
}

# validate_nat6 F: the IPv6 passes, each checked in its own section of F
validate_nat6() {
    local f=$1 ct s
    for ct in $NAT6_CONNTRACK; do
        s=$TEST_TMP/nat6.$ct
        awk -v h="== nat, IPv6, masquerade towards the real servers, conntrack=$ct" \
            '$0 == h {f=1; next} /^== /{f=0} f' "$f" > "$s"
        if grep -E "^(tcp6|udp6): " "$s" | grep -q ERROR ||
                [ "$(grep -cE '^(tcp6|udp6): .*RS[12]$' "$s")" -ne 4 ]; then
            fail "IPv6, conntrack=$ct: some NAT traffic failed"
        else
            pass "IPv6, conntrack=$ct: NAT traffic answered"
        fi
        expect_grep "$s" "^big6: udpbig 3000 2001:db8::100$" \
            "IPv6, conntrack=$ct: a fragmented NAT reply arrives whole from the VIP"
    done
    [ -f "$TEST_TMP/nat6.0" ] &&
        expect_grep "$TEST_TMP/nat6.0" "^rs1 saw6: .*tcp 2001:db8::2" "IPv6, conntrack=0: the real server sees the client"
    s=$TEST_TMP/nat6.1
    expect_grep "$s" "^rs1 saw6: .*tcp 2001:db8:1::1" "IPv6, conntrack=1: the real server sees the masquerade"
    expect_grep "$s" "^udp6 connections listed: 0$" "IPv6, conntrack=1: the UDP connections expired"
    expect_grep "$s" "^udp6 conntrack entries to the VIP: 0$" "IPv6, conntrack=1: their conntrack entries went with them"
}

validate() {
    local f=$1
    validate_nat6 "$f"
    expect_grep "$f" "^udp connections listed: 0$" "conntrack=1: the UDP connections expired"
    expect_grep "$f" "^udp conntrack entries to the VIP: 0$" "conntrack=1: their conntrack entries went with them"
    expect_grep "$f" "^after the first SYN: no connection from port 41000$" \
        "conntrack=1: a SYN on a live entry to a quiesced dest was dropped, its connection expired"
    expect_grep "$f" "^conntrack entries from port 41000: 0$" \
        "conntrack=1: a SYN on a live entry to a quiesced dest took the entry away with the old connection"
    local first second
    first=$(sed -n 's/^reuse: open [0-9]* //p' "$f")
    second=$(sed -n 's/^entry from port 41000: TCP 10\.0\.0\.2:41000 10\.0\.0\.100:80 172\.16\.\([12]\)\.2:80$/RS\1/p' "$f")
    [ -n "$first" ] && [ -n "$second" ] && [ "$first" != "$second" ] &&
        pass "conntrack=1: the SYN after it went to the other dest ($first, then $second)" ||
        fail "conntrack=1: the SYN after the live entry's: first '$first', then '$second'"
    expect_grep "$f" "^ignore_tunneled=0: the real server got the tunneled datagram: 1$" \
        "ignore_tunneled=0: a datagram decapsulated on the director is scheduled"
    expect_grep "$f" "^ignore_tunneled=1: the real server got the tunneled datagram: 1$" \
        "ignore_tunneled=1: ... and also with 1 (6.12 clears the mark at decapsulation)"
    expect_grep "$f" "^snat_reroute=1: ERROR:TimeoutError$" "snat_reroute=1: the rerouted NAT reply does not reach the client"
    expect_grep "$f" "^snat_reroute=1: replies into the dummy device: 1$" \
        "snat_reroute=1: a NAT reply is routed again from the VIP (a 'from VIP' rule applies)"
    expect_grep "$f" "^snat_reroute=0: RS[12]$" "snat_reroute=0: the NAT reply keeps its route to the client"
    expect_grep "$f" "^ +-> 172\.16\.1\.2:80 " "the unicast dest was added"
    [ "$(grep -c '^exit=255$' "$f")" -eq 5 ] && pass "ipvsadm refused the five special addresses" ||
        fail "ipvsadm did not refuse the special addresses"
    expect_grep "$f" "^rs1 saw: .*tcp 10\.0\.0\.2" "conntrack=0: the real server sees the client"
    expect_grep "$f" "^rs1 saw: .*tcp 172\.16\.1\.1" "conntrack=1: the real server sees the masquerade"
    [ "$(grep -c "^big: udpbig 3000 $VIP\$" "$f")" -eq 2 ] && pass "fragmented NAT replies arrive whole from the VIP" ||
        fail "fragmented NAT replies did not arrive whole from the VIP"
    if grep -E "^(tcp|udp): " "$f" | grep -q ERROR; then fail "some NAT traffic failed"; else pass "NAT traffic answered"; fi
    expect_grep "$f" "^df: udpdf 1472 RS1" "pmtu_disc=0: the large DF datagram went through the tunnel"
    expect_grep "$f" "^df: udpdf 1472 ERROR" "pmtu_disc=1: the large DF datagram was refused"
    [ "$(grep -c '^small: udpdf 100 RS1' "$f")" -eq 2 ] && pass "small datagrams went through" ||
        fail "small datagrams did not go through"
}

differential scenario validate
finish
