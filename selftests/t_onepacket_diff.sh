#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: one-packet scheduling (-o) through stock ip_vs.ko and ipvs_rs.ko, in NAT and
# DR, over IPv4 and (full runs) IPv6 with topo.sh's IPv6 layout. Compared byte for byte:
#  - UDP :53 -o rr: datagrams from one fixed source port are scheduled one by one (rr
#    alternates), no connection entry is left, the service's full --stats;
#  - UDP :80 -o -p 60 (persistent): one template, every datagram to its RS, no conn entries;
#  - `ipvsadm -Ln` and the connection table.
# ipvsadm itself refuses -o on a TCP service ("One-Packet Scheduling is only for UDP virtual
# services"), so the kernel's handling of a TCP service with the flag (ignored for TCP
# connections) is not reached from here.
# NAT replies of one-packet "connections" find no entry on their way back, so stock lets
# them through untranslated (source: the real server): the client reads them from any source
# (IPv4's rp_filter is turned off for them; IPv6 has none).
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="80 53"
# make check: NAT, where the replies (which find no entry) matter; DR repeats the scheduling,
# and IPv6 runs the same code through the family's addresses.
MODES=$(full_or_quick "nat dr nat6 dr6" nat)

one_mode() {
    local o=$1 mode=${2%6} flag
    if [ "$mode" = "$2" ]; then topo_family 4; else topo_family 6; fi
    case $mode in nat) flag=-m ;; dr) flag=-g ;; esac
    echo "== mode $2" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    # The untranslated NAT replies come from the real servers, which the client has no route to.
    [ "$TOPO_FAMILY" = 6 ] ||
        ip netns exec "$CL" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.br0.rp_filter=0
    agent_start
    ipvs_restore "$o" <<EOF
-A -u $VIPS:53 -s rr -o
-a -u $VIPS:53 -r ${RS_IPS[1]}:53 $flag
-a -u $VIPS:53 -r ${RS_IPS[2]}:53 $flag
-A -u $VIPS:80 -s rr -o -p 60
-a -u $VIPS:80 -r ${RS_IPS[1]}:80 $flag
-a -u $VIPS:80 -r ${RS_IPS[2]}:80 $flag
EOF
    ipvs_restore "$o" <<< "-A -t $VIPS:80 -s rr -o"
    ag_to "$o" udpfixed udp $VIP 53 6 40000
    ag_to "$o" udpnew from udp $VIP 53 3 $CL_IP
    ag_to "$o" udppersist udp $VIP 80 4 40001
    nap 0.5             # the last connection's closing segments
    # Stock's --stats show the traffic only once its estimator has run over it.
    estimator_rounds
    snapshot "$o" "after traffic"
    capture_fn "$o" lvs ipvsadm -Ln --stats -u $VIPS:53
    capture_fn "$o" lvs ipvsadm -Ln --stats -u $VIPS:80
    stop_servers
    echo "rs1 received: $(received "$TEST_TMP/rs1.log")" >> "$o"
    echo "rs2 received: $(received "$TEST_TMP/rs2.log")" >> "$o"
    cleanup_netns
}

# ---------------------------------------------------------------- validation of stock
seq_of() {          # seq_of F LABEL: the answers under LABEL, in order
    awk -v l="$2:" '$1 == l { print $NF }' "$1" | paste -sd' '
}

validate_mode() {
    local f=$1 mode=$2 s vip='10\.0\.0\.100' cl='10\.0\.0\.2' rs='172\.16\.[12]\.2' any='[0-9.]*'
    if [ "${mode%6}" != "$mode" ]; then
        vip='\[2001:db8::100\]' cl='\[2001:db8::2\]' rs='\[2001:db8:[12]::2\]' any='\[[0-9a-f:]*\]'
    fi
    s=$(seq_of "$f" udpfixed)
    case "$s" in
        "RS1 RS2 RS1 RS2 RS1 RS2"|"RS2 RS1 RS2 RS1 RS2 RS1") pass "$mode: one source port, rr alternates per datagram" ;;
        *) fail "$mode: one source port: '$s', want alternation" ;;
    esac
    s=$(seq_of "$f" udppersist)
    case "$s" in
        "RS1 RS1 RS1 RS1"|"RS2 RS2 RS2 RS2") pass "$mode: -o -p: every datagram to the template's RS" ;;
        *) fail "$mode: -o -p: '$s', want one RS" ;;
    esac
    if awk '/^\$ ipvsadm -Lnc/{f=1;next} /^(\$|--)/{f=0} f' "$f" | grep -q "^UDP [A-Z]* $any:[*]"; then
        fail "$mode: UDP connection entries left in -Lnc"
    else
        pass "$mode: no UDP connection entry in -Lnc"
    fi
    expect_grep "$f" "^UDP (NONE|ASSURED) $cl:0 $vip:80 $rs:80\$" "$mode: -o -p template listed"
    expect_grep "$f" "^UDP  $vip:80 rr persistent 60 ops *\$" "$mode: -Ln shows persistent 60 ops"
    expect_grep "$f" "^UDP  $vip:53 rr ops *\$" "$mode: -Ln shows ops"
    expect_grep "$f" "^One-Packet Scheduling is only for UDP virtual services" "$mode: ipvsadm refuses -o on TCP"
    expect_grep "$f" "^UDP  $vip:53 +9 +9 " "$mode: --stats: 9 conns, 9 packets in"
    if grep -q ERROR "$f"; then fail "$mode: some traffic failed"; else pass "$mode: all traffic answered"; fi
}

differential per_mode_scenario per_mode_validate
finish
