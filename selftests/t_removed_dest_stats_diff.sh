#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: what a removed dest's connections count. NAT, UDP VIP:53 with one dest,
# RS1:5353, where nothing listens. The client opens a connection from port 40000 (RS1 refuses
# the datagram; the ICMP error comes back translated); the dest is then removed, and RS1 sends
# three datagrams from :5353 to the client's port: the director still translates them (the
# connection lives on), and the client's ICMP errors about them come back to the VIP. As
# upstream's ip_vs_in_stats/ip_vs_out_stats, none of this counts once the dest is gone: the
# service's and the totals' counters stay as they were. Compared byte for byte: what the client
# received, `ipvsadm -Ln --stats` and /proc/net/ip_vs_stats's counters.
# Then a second service's dest, whose one connection has expired, is removed and added back:
# it comes back from the trash with its counters (upstream keeps an unused dest there for two
# minutes), not afresh.
# Last, a third service is deleted and added again (what `ipvsadm -C; ipvsadm -R` does) while
# a connection of its dest lives: the dest comes back from the trash into a new service, so
# its counters start again from zero (upstream's `__ip_vs_update_dest` zeroes them when the
# service differs), and the old connection's next packets count on the new service.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"

PORTS="53"

# udp_service O PORT: `ipvsadm -R` of UDP VIP:PORT, rr, with one NAT dest: RS1 on the port
# that is PORT twice over (53: 5353), where nothing listens (RS1 answers with ICMP port
# unreachable).
udp_service() {
    ipvs_restore "$1" <<EOF
-A -u $VIPS:$2 -s rr
-a -u $VIPS:$2 -r ${RS_IPS[1]}:$2$2 -m
EOF
}

scenario() {
    local o=$1
    topo nat || { echo "topology failed" >> "$o"; return; }
    agent_start
    udp_service "$o" 53
    ag_to "$o" open udp $VIP 53 1 40000
    capture_fn "$o" lvs ipvsadm -d -u $VIPS:53 -r ${RS_IPS[1]}:5353
    echo "late: $(ip netns exec "$RS1" $TOOL udp 10.0.0.2 40000 3 10 5353 2>&1 | sort | uniq -c | tr -s ' ')" >> "$o"
    nap 0.5
    estimator_rounds
    snapshot "$o" "after the late replies" --stats
    lvs_proc ip_vs_stats
    printf 'ip_vs_stats counters: %s\n' "$(printf '%s\n' "$LVS_PROC" | sed -n 3p | tr -s ' ')" >> "$o"
    # A dest that no connection uses stays in the trash too (two minutes, as upstream's): added
    # back, as a health checker does after a failure, it returns with its counters.
    capture_fn "$o" lvs ipvsadm --set 0 0 1
    udp_service "$o" 54
    ag_to "$o" open udp $VIP 54 1 40001
    wait_entries_gone '^UDP [0-9A-F]+ [0-9A-F]+ [0-9A-F]+ 0036 ' || echo "the connection to :54 did not expire" >> "$o"
    capture_fn "$o" lvs ipvsadm -d -u $VIPS:54 -r ${RS_IPS[1]}:5454
    capture_fn "$o" lvs ipvsadm -a -u $VIPS:54 -r ${RS_IPS[1]}:5454 -m
    snapshot "$o" "the unused dest added back" --stats
    capture_fn "$o" lvs ipvsadm --set 0 0 300
    udp_service "$o" 55
    ag_to "$o" open55 udp $VIP 55 1 40002
    capture_fn "$o" lvs ipvsadm -D -u $VIPS:55
    udp_service "$o" 55
    snapshot "$o" "the service added again" --stats
    ag_to "$o" again55 udp $VIP 55 1 40002
    nap 0.5
    snapshot "$o" "the old connection's packet on the new service" --stats
    stop_servers
    cleanup_netns
}

validate() {
    local o=$1
    # The connection's first datagram and RS1's ICMP error about it: 1 in, 1 out.
    expect_grep "$o" '^ip_vs_stats counters: +1 +1 +1 ' "the totals count the connection, one packet each way, and no more"
    expect_grep "$o" '^UDP +[0-9A-Z_]+ 10\.0\.0\.2:\* 10\.0\.0\.100:53 172\.16\.1\.2:5353$' "the connection outlived its dest"
    expect_grep "$o" '^  -> 172\.16\.1\.2:5454 +1 ' "the unused dest came back from the trash with its counters"
    expect_grep "$o" '^UDP +10\.0\.0\.100:55 +0 +1 +1 ' "the old connection's packet counts on the new service"
}

differential scenario validate
finish
