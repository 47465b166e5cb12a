#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: firewall-mark services (-f) through stock ip_vs.ko and ipvs_rs.ko, in NAT and
# DR. nft on the director marks packets by client address:
#   10.0.0.2 -> mark 1 (TCP and UDP, ports 80 and 443): -f 1 rr over RS1 and RS2
#   10.0.0.3 -> mark 2 (TCP 80): -f 2 with RS1 only, beside -t VIP:80 with RS2 only
#   10.0.0.4, 10.0.0.6 -> mark 3 (TCP and UDP, 80 and 443): -f 3 rr -p 60 over RS1 and RS2
#   10.0.0.5 -> no mark: -t VIP:80 (RS2)
# Compared byte for byte: which real server answered each connection, `ipvsadm -Ln`,
# `-Ln --stats` connection counts, and the connection table with the fwmark templates
# (protocol IP, the mark as virtual address).
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

TOPO_CLIENT_ADDRS="10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6"
PORTS="80 443"
# make check: NAT; DR repeats the marks' lookups and scheduling with another transmitter,
# which t_datapath_diff covers.
MODES=$(full_or_quick "nat dr" nat)

marks() {
    local any="meta l4proto { tcp, udp } th dport { 80, 443 }"
    lvs nft -f - <<EOF
table ip mangle {
    chain prerouting {
        type filter hook prerouting priority mangle;
        ip saddr 10.0.0.2 ip daddr $VIP $any meta mark set 1
        ip saddr 10.0.0.3 ip daddr $VIP tcp dport 80 meta mark set 2
        ip saddr { 10.0.0.4, 10.0.0.6 } ip daddr $VIP $any meta mark set 3
    }
}
EOF
}

one_mode() {
    local o=$1 mode=$2 flag
    case $mode in nat) flag=-m ;; dr) flag=-g ;; esac
    echo "== mode $mode" >> "$o"
    topo "$mode" || { echo "topology failed" >> "$o"; return; }
    agent_start
    marks || echo "nft failed" >> "$o"
    ipvs_restore "$o" <<EOF
-A -f 1 -s rr
-a -f 1 -r 172.16.1.2 $flag
-a -f 1 -r 172.16.2.2 $flag
-A -f 2 -s rr
-a -f 2 -r 172.16.1.2 $flag
-A -t $VIP:80 -s rr
-a -t $VIP:80 -r 172.16.2.2:80 $flag
-A -f 3 -s rr -p 60
-a -f 3 -r 172.16.1.2 $flag
-a -f 3 -r 172.16.2.2 $flag
EOF
    ag_to "$o" mark1tcp from tcp $VIP 80,443 2 10.0.0.2
    ag_to "$o" mark1udp from udp $VIP 80,443 2 10.0.0.2
    ag_to "$o" prec from tcp $VIP 80 2 10.0.0.3 10.0.0.5
    ag_to "$o" persist from tcp $VIP 80,443 2 10.0.0.4 10.0.0.6
    ag_to "$o" persistudp from udp $VIP 80,443 1 10.0.0.4 10.0.0.6
    nap 0.5             # the last connection's closing segments
    # Stock's --stats show the traffic only once its estimator has run over it.
    estimator_rounds
    snapshot "$o" "after traffic"
    # TCP packet counts depend on ACK timing: the connection counts only.
    capture_fn "$o" lvs sh -c "ipvsadm -Ln --stats | awk '{print \$1, \$2, \$3}'"
    stop_servers
    cleanup_netns
}

# ---------------------------------------------------------------- validation of stock
# seq F LABEL [SRC]: the answers under LABEL, in order
seq_of() {
    awk -v l="$2:" -v s="${3:-}" '$1 == l && (s == "" || $2 == s) { print $4 }' "$1" | paste -sd' '
}

validate_mode() {
    local f=$1 mode=$2 a b
    for a in mark1tcp mark1udp; do
        case "$(seq_of "$f" $a)" in
            "RS1 RS2 RS1 RS2"|"RS2 RS1 RS2 RS1") pass "$mode: $a: rr alternates over ports 80 and 443" ;;
            *) fail "$mode: $a: answers '$(seq_of "$f" $a)', want rr alternation" ;;
        esac
    done
    [ "$(seq_of "$f" prec 10.0.0.3)" = "RS1 RS1" ] && pass "$mode: marked 10.0.0.3 goes to -f 2 (RS1)" \
        || fail "$mode: marked 10.0.0.3: '$(seq_of "$f" prec 10.0.0.3)', want RS1 RS1"
    [ "$(seq_of "$f" prec 10.0.0.5)" = "RS2 RS2" ] && pass "$mode: unmarked 10.0.0.5 goes to -t VIP:80 (RS2)" \
        || fail "$mode: unmarked 10.0.0.5: '$(seq_of "$f" prec 10.0.0.5)', want RS2 RS2"
    a=$( { seq_of "$f" persist 10.0.0.4; seq_of "$f" persistudp 10.0.0.4; } | tr ' ' '\n' | sort -u | paste -sd' ')
    b=$( { seq_of "$f" persist 10.0.0.6; seq_of "$f" persistudp 10.0.0.6; } | tr ' ' '\n' | sort -u | paste -sd' ')
    case "$a" in RS[12]) pass "$mode: -f 3 -p: 10.0.0.4 on one RS for TCP and UDP, both ports ($a)" ;;
        *) fail "$mode: -f 3 -p: 10.0.0.4 answers '$a'" ;; esac
    case "$b" in RS[12]) [ "$b" != "$a" ] && pass "$mode: -f 3 -p: 10.0.0.6 on the other RS ($b)" \
        || fail "$mode: 10.0.0.6 on the same RS as 10.0.0.4" ;;
        *) fail "$mode: -f 3 -p: 10.0.0.6 answers '$b'" ;; esac
    expect_grep "$f" "^IP (NONE|ASSURED) 10\.0\.0\.4:0 0\.0\.0\.3:0 172\.16\.[12]\.2:0\$" \
        "$mode: fwmark template (protocol IP, mark 3 as address) in -Lnc"
    expect_grep "$f" "^FWM  1 rr\$" "$mode: -Ln lists FWM 1"
    expect_grep "$f" "^FWM  3 rr persistent 60\$" "$mode: -Ln lists FWM 3 persistent"
    expect_grep "$f" "^UDP [A-Z_]+ 10\.0\.0\.2:\* $VIP:443 172\.16\.[12]\.2:443\$" \
        "$mode: UDP conn of the fwmark service keeps its port 443"
    if grep -q ERROR "$f"; then fail "$mode: some traffic failed"; else pass "$mode: all traffic answered"; fi
}

differential per_mode_scenario per_mode_validate
finish
