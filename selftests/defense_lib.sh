# SPDX-License-Identifier: GPL-2.0
# Shared by the DoS defense selftests (t_defense_diff.sh, t_synflood_mem.sh). Sourced after
# lib.sh and topo.sh, not run.
#
# The defense (upstream's update_defense_level, once a second) compares the memory the kernel
# calls available, si_meminfo's freeram + bufferram (MemFree + Buffers in /proc/meminfo), with
# net.ipv4.vs.amemthresh in pages, and rewrites the automatic modes (1 and 2) of drop_entry,
# drop_packet and secure_tcp to 2 while it is below, to 1 while it is not.

# vs KEY: net.ipv4.vs.KEY of the director
vs() { lvs sysctl -n "net.ipv4.vs.$1"; }
# flood_topology O: the DR topology for a SYN flood from spoofed sources (no reverse-path filter
# on the director, as they are not routable back), the traffic agent, and the TCP service
# VIP:80 on both real servers (its rules and ipvsadm's answer in O). 1 if the topology failed.
flood_topology() {
    local o=$1
    topo dr || { echo "topology failed" >> "$o"; return 1; }
    lvs sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.l0.rp_filter=0
    agent_start
    ipvs_restore "$o" <<EOF
-A -t $VIP:80 -s rr
-a -t $VIP:80 -r 172.16.1.2:80 -g
-a -t $VIP:80 -r 172.16.2.2:80 -g
EOF
}

step() { printf '# %(%T)T %s\n' -1 "$*"; }
modes() { echo "$(vs drop_entry) $(vs drop_packet) $(vs secure_tcp)"; }

# wait_modes WANT BOUND: poll (every 0.2 s, at most BOUND s) until "drop_entry drop_packet
# secure_tcp" reads WANT; prints what it read last
wait_modes() {
    local want=$1 bound=$2 got i
    for i in $(seq 1 $((bound * 5))); do
        got=$(modes)
        [ "$got" = "$want" ] && break
        nap 0.2
    done
    echo "$got"
}

# count_proc GLOB: ENTRIES, the number of the director's entries whose /proc/net/ip_vs_conn
# line (upper-case hex addresses) matches GLOB, e.g. 'TCP 0ACA*' for TCP from 10.202.0.0/16.
# Read without starting a process, so it stays quick with thousands of entries (a listing
# through ipvsadm and awk takes seconds under TCG). Call it in the test's own shell, never in
# $(...): lvs_proc's holder process, started on the first call, must belong to that shell.
ENTRIES=
count_proc() {
    local l lines
    ENTRIES=
    lvs_proc ip_vs_conn || return 1
    mapfile -t lines <<< "$LVS_PROC"
    ENTRIES=0
    for l in "${lines[@]}"; do
        # shellcheck disable=SC2053 # GLOB is a pattern
        [[ $l == $1 ]] && ENTRIES=$((ENTRIES + 1))
    done
    return 0
}

# wait_entries_le WANT DEADLINE GLOB: polls count_proc GLOB every 0.2 s until ENTRIES is at
# most WANT, or until $SECONDS reaches DEADLINE (checked before each poll, so none starts after
# it); leaves the last count in ENTRIES. Half-open entries also go by their own timeout
# (SYN_RECV: 60 s), so a caller that wants to see the defense's drops sets DEADLINE well before
# the first of them could have timed out.
wait_entries_le() {
    local want=$1 deadline=$2 glob=$3
    while :; do
        count_proc "$glob" || return 1
        [ "$ENTRIES" -le "$want" ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || return 0
        nap 0.2
    done
}

# states PREFIX: the distinct states of the entries from sources starting with PREFIX
states() { lvs ipvsadm -Lnc | awk -v p="$1" 'NR > 2 && index($4, p) == 1 { print $3 }' | sort -u | paste -sd' '; }

# ------------------------------------------------------------------ real memory shortage
# The guest's memory, read without a process (/proc/meminfo, in kB).
# meminfo: sets MEM_FREE, MEM_BUFFERS, MEM_AVAILABLE, HUGE_TOTAL (pages), HUGE_KB (one
# huge page's size) and DEF_AVAIL_KB (MemFree + Buffers: what the defense counts as available)
meminfo() {
    local k v _
    while read -r k v _; do
        case $k in
            MemFree:) MEM_FREE=$v ;;
            Buffers:) MEM_BUFFERS=$v ;;
            MemAvailable:) MEM_AVAILABLE=$v ;;
            HugePages_Total:) HUGE_TOTAL=$v ;;
            Hugepagesize:) HUGE_KB=$v ;;
        esac
    done < /proc/meminfo
    DEF_AVAIL_KB=$((MEM_FREE + MEM_BUFFERS))
}

# mem_reserve_down_to KB: makes memory genuinely short for the whole guest by reserving huge
# pages (vm.nr_hugepages) until what the defense counts as available is at most KB. A reserved
# huge page is taken from the free memory (the kernel reclaims and compacts to find it) and
# given back at once by mem_release; nothing touches its contents, so reserving is quick even
# under TCG. Tops up a few times (a reservation may fall short while memory is fragmented, and
# other allocations move the figure); fails, with a diagnostic, if it cannot get there.
# Registers mem_release to run at exit, so a failing test leaves the guest's memory as it was.
MEM_HUGE_BEFORE=
mem_reserve_down_to() {
    local target=$1 want try
    if [ -z "$MEM_HUGE_BEFORE" ]; then
        read -r MEM_HUGE_BEFORE < /proc/sys/vm/nr_hugepages
        at_exit mem_release
    fi
    for try in 1 2 3 4 5 6; do
        meminfo
        [ "$DEF_AVAIL_KB" -le "$target" ] && return 0
        # The difference in huge pages, rounded, and one more: one round usually does it.
        want=$((HUGE_TOTAL + (DEF_AVAIL_KB - target + HUGE_KB / 2) / HUGE_KB + 1))
        echo "$want" > /proc/sys/vm/nr_hugepages 2> /dev/null ||
            diag "mem_reserve_down_to: writing nr_hugepages=$want failed"
    done
    meminfo
    [ "$DEF_AVAIL_KB" -le "$target" ] && return 0
    diag "mem_reserve_down_to: $DEF_AVAIL_KB kB still available (want <= $target) with $HUGE_TOTAL huge pages"
    return 1
}

# mem_release: gives the reserved huge pages back (0 once the pool is as it was before)
mem_release() {
    [ -n "$MEM_HUGE_BEFORE" ] || return 0
    echo "$MEM_HUGE_BEFORE" > /proc/sys/vm/nr_hugepages
    meminfo
    [ "$HUGE_TOTAL" = "$MEM_HUGE_BEFORE" ]
}
