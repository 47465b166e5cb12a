#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Packet fuzzer (issue #11): malformed and edge-case IPv4/TCP/UDP/ICMP packets, generated from
# a seed by selftests/pkt_fuzz.c and sent as Ethernet frames from the client netns into the
# director's l0, with NAT, DR and TUN services (TCP and UDP, persistent ones, a firewall mark).
# (The issue asks for a tun device; the test kernel has no CONFIG_TUN, and its config is the
# cache key of everyone's guest kernel. A veth peer enters the same receive path from
# netif_rx on; only tun's own checks of what it is given are missing.)
#  - Differential: the same PKT_FUZZ_DIFF_N packets (seed PKT_FUZZ_SEED) against stock ip_vs
#    and ipvs_rs, each from a fresh topology and module. Per packet the verdict is what the
#    director transmitted because of it: on which device (l0 back towards the clients, l1..l3
#    to the real servers), and for each packet its protocol (ICMP: type.code), length and a
#    hash of its bytes (IP ID and header checksum left out). pkt_fuzz knows the director is
#    done with a packet when it has answered the echo request sent after it (see pkt_fuzz.c).
#    The verdict lists must be identical; the first differences are printed with the
#    packet's description and hex.
#  - Robustness: PKT_FUZZ_N packets (another seed) into ipvs_rs; no splat (the runner fails
#    the run on any), and afterwards a real client connection through the NAT service works
#    and ipvsadm -Lnc and /proc/net/ip_vs_conn can be read.
# What would answer on its own time is kept quiet: the real servers answer only the real
# client (10.0.0.0/23; every other destination is a blackhole there) and decapsulate IPIP
# silently; the client netns does not forward; every neighbour the director uses is
# permanent (no ARP); ICMP is not rate-limited (icmp_ratemask=0), redirects are off, and
# incomplete fragment queues outlive the test (ipfrag_time). Each flow of the generator
# lives within 64 packets, far from every IPVS timeout, so no verdict depends on the host's
# speed. pkt_fuzz reports anything that still came after the last packet ("late"), which
# must be nothing.
# Env: PKT_FUZZ_N (robustness packets, default 6000; SELFTESTS_FULL=1: 20000; make soak:
# 2,000,000), PKT_FUZZ_DIFF_N (default 600; make soak: 20,000), PKT_FUZZ_SEED (default 11;
# the robustness run uses SEED+1).
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

command -v gcc >/dev/null || skip "gcc not installed"
command -v nft >/dev/null || skip "nft not installed"
PORTS="80 443 8080 53"
TOPO_NRS=3
N_ROBUST=${PKT_FUZZ_N:-$(full_or_quick 20000 6000)}
N_DIFF=${PKT_FUZZ_DIFF_N:-600}
SEED=${PKT_FUZZ_SEED:-11}
FUZZ=$TEST_TMP/pkt_fuzz
TAPS="l0 l1 l2 l3"

gcc -O2 -Wall -Wextra -Werror -o "$FUZZ" "$SELFTESTS_DIR/pkt_fuzz.c" || { fail "building pkt_fuzz"; finish; }
kmodprobe ipip || diag "modprobe ipip failed"

# fuzz_topo O: topo nat with three real servers, fixed MACs and permanent neighbours, the
# fuzzer's clients (10.9.0.0/24) and everything else routed to 10.0.0.2, the services, and
# the quiet real servers described above.
fuzz_topo() {
    local o=$1 i
    topo nat || return 1
    for i in 1 2 3; do
        {
            echo "link set r0 address 02:00:00:00:0$i:02"
            echo "route replace blackhole default"
            echo "route add 10.0.0.0/23 via 172.16.$i.1"
            echo "link set tunl0 up"
        } | ip -n "${NETNS_PREFIX}rs$i" -batch - || return 1
    done
    ip -n "$CL" link set br0 address 02:00:00:00:00:02 || return 1
    {
        echo "link set l0 address 02:00:00:00:00:01"
        echo "route add default via 10.0.0.2"
        echo "neigh replace 10.0.0.2 lladdr 02:00:00:00:00:02 dev l0 nud permanent"
        for i in 1 2 3; do echo "neigh replace 172.16.$i.2 lladdr 02:00:00:00:0$i:02 dev l$i nud permanent"; done
    } | ip -n "$LVS" -batch - || return 1
    lvs sysctl -qw net.ipv4.icmp_ratemask=0 net.ipv4.ipfrag_time=600 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.l0.rp_filter=0 \
        net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
        net.ipv4.conf.l0.send_redirects=0 > /dev/null || return 1
    lvs nft -f - <<EOF || return 1
table ip fuzz {
    chain pre {
        type filter hook prerouting priority mangle;
        ip daddr $VIP tcp dport 8080 meta mark set 1
    }
}
EOF
    ipvs_restore "$o" <<EOF
-A -t $VIP:80 -s rr
-a -t $VIP:80 -r 172.16.1.2:80 -m
-a -t $VIP:80 -r 172.16.2.2:80 -m
-A -t $VIP:443 -s rr -p 3600
-a -t $VIP:443 -r 172.16.1.2:443 -m
-a -t $VIP:443 -r 172.16.2.2:443 -g
-a -t $VIP:443 -r 172.16.3.2:443 -i
-A -f 1 -s rr
-a -f 1 -r 172.16.1.2:0 -m
-a -f 1 -r 172.16.3.2:0 -i
-A -u $VIP:80 -s rr
-a -u $VIP:80 -r 172.16.1.2:80 -m
-a -u $VIP:80 -r 172.16.3.2:80 -i
-A -u $VIP:53 -s rr -p 3600
-a -u $VIP:53 -r 172.16.2.2:53 -g
-a -u $VIP:53 -r 172.16.3.2:53 -i
EOF
    grep -q '^exit=0$' "$o" || return 1
}

# classes VERDICTS: how many packets went where ("drop": nothing came out; else the devices)
classes() {
    awk '{ c = ""; for (i = 3; i <= NF; i++) { d = $i; sub(/:.*/, "", d); if (index(c, d) == 0) c = c (c == "" ? "" : "+") d }
           n[c == "" ? "drop" : c]++ }
         END { for (k in n) printf "%s=%d\n", k, n[k] }' "$1" | sort | paste -sd' '
}

# fuzz_diff MOD: the differential sample against MOD (already loaded)
fuzz_diff() {
    local mod=$1 o=$TEST_TMP/$1.setup sum
    : > "$o"
    if ! fuzz_topo "$o"; then
        fail "$mod: topology"; diag_file "$o"; return 1
    fi
    sum=$(lvs "$FUZZ" -v "$TEST_TMP/$mod.verdicts" -l "$TEST_TMP/$mod.log" -o "$TEST_TMP/$mod.outs" "/run/netns/$CL" "$SEED" "$N_DIFF" c0 $TAPS) ||
        { fail "$mod: pkt_fuzz failed: $sum"; return 1; }
    diag "$mod: $sum"
    diag "$mod verdicts: $(classes "$TEST_TMP/$mod.verdicts")"
    case $sum in *"markers_lost 0 late 0 "*) pass "$mod: every marker answered, nothing came late" ;;
        *) fail "$mod: a marker was not answered or something came late (a verdict missed it)" ;; esac
    stop_servers
    cleanup_netns
}

# 1. Differential sample.
differential_sample() {
    local mod nmis nicmp badlines l
    for mod in stock ours; do
        if [ "$mod" = ours ] && ! have_ours; then skip "$(basename "$IPVS_RS_KO") not built (stock half ran)"; fi
        cleanup_netns
        load_module "$mod" || { fail "loading $mod"; finish; }
        fuzz_diff "$mod" || finish
        unload_ipvs || fail "unloading $mod"
    done
    # The two runs must have sent the same packets (same seed), described in the logs.
    cmp -s "$TEST_TMP/stock.log" "$TEST_TMP/ours.log" || fail "the two runs did not send the same packets"
    # Every packet's verdict must be stock's, ICMP errors (relayed and translated for
    # connections, dropped when their ICMP header is cut) included. Those of packets that are
    # ICMP (protocol 1 in the header sent, or a fragment of an ICMP error the generator made)
    # are counted too, to show the sample has them.
    awk 'FILENAME == ARGV[1] { icmp[FNR] = (substr($NF, 19, 2) == "01" || $0 ~ / of \[icmp /); next }
         FILENAME == ARGV[2] { s[FNR] = $0; next }
         { k += icmp[FNR] }
         s[FNR] != $0 { n++; if (n <= 8) bad = bad FNR " " }
         END { print n + 0, k + 0, bad }' "$TEST_TMP/ours.log" "$TEST_TMP/stock.verdicts" \
        "$TEST_TMP/ours.verdicts" > "$TEST_TMP/mism"
    read -r nmis nicmp badlines < "$TEST_TMP/mism"
    diag "differential: $N_DIFF packets (seed $SEED, $nicmp of them ICMP), $nmis mismatches, $((SECONDS - t0)) s"
    if [ "$nmis" -eq 0 ] && [ "$(wc -l < "$TEST_TMP/ours.verdicts")" -eq "$N_DIFF" ]; then
        pass "ipvs_rs's verdicts equal stock's for all $N_DIFF packets ($nicmp ICMP)"
    else
        fail "$nmis of $N_DIFF verdicts differ from stock's; the first ones:"
        for l in $badlines; do
            diag "packet $(sed -n "${l}p" "$TEST_TMP/ours.log" | cut -c1-400)"
            diag "  stock: $(sed -n "${l}p" "$TEST_TMP/stock.verdicts")"
            diag "  ours:  $(sed -n "${l}p" "$TEST_TMP/ours.verdicts")"
            # What each sent, from the first byte that differs (ICMP errors quote a lot).
            awk -v n=$((l - 1)) '$1 == n { k = FILENAME ~ /stock/ ? "stock" : "ours"; h[k] = h[k] " " $2 ":" $3 }
                END { a = h["stock"]; b = h["ours"]; for (i = 1; i <= length(a) && substr(a, i, 1) == substr(b, i, 1); i++);
                      s = i > 40 ? i - 40 : 1
                      printf "  sent, from char %d: stock ...%s\n  ours ...%s\n", i, substr(a, s, 160), substr(b, s, 160) }' \
                "$TEST_TMP/stock.outs" "$TEST_TMP/ours.outs" | while IFS= read -r x; do diag "$x"; done
        done
    fi
}
t0=$SECONDS
[ "$N_DIFF" -eq 0 ] || differential_sample

# 2. Robustness: many packets into ipvs_rs, then it must still work.
t0=$SECONDS
load_ours || { fail "loading ours"; finish; }
o=$TEST_TMP/robust.setup
: > "$o"
fuzz_topo "$o" || { fail "robustness: topology"; diag_file "$o"; finish; }
sum=$(timeout -k 5 900 ip netns exec "$LVS" "$FUZZ" "/run/netns/$CL" $((SEED + 1)) "$N_ROBUST" c0 $TAPS) || fail "robustness: pkt_fuzz failed: $sum"
diag "robustness: $sum, $((SECONDS - t0)) s"
ans=$(timeout -k 5 60 ip netns exec "$CL" $TOOL tcp $VIP 80 2 10 2>&1 | paste -sd' ')
case $ans in *RS1*RS2*|*RS2*RS1*) pass "after the fuzzing a client still connects through NAT ($ans)" ;;
    *) fail "after the fuzzing the client's connections failed: $ans" ;; esac
if lvs ipvsadm -Lnc > "$TEST_TMP/lnc" 2>&1; then
    pass "ipvsadm -Lnc lists $(($(wc -l < "$TEST_TMP/lnc") - 2)) connections"
else
    fail "ipvsadm -Lnc failed: $(head -3 "$TEST_TMP/lnc")"
fi
if lvs_proc ip_vs_conn && [[ $LVS_PROC == "Pro "* ]]; then
    pass "/proc/net/ip_vs_conn readable"
else
    fail "/proc/net/ip_vs_conn not readable"
fi
stop_servers
cleanup_netns
unload_ipvs || fail "unloading ours"
finish
