#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Differential: a SYN flood from spoofed random sources at a DR VIP while the guest's memory is
# genuinely short, through stock ip_vs.ko and ipvs_rs.ko in the same boot with the same
# settings, as an operator would set them: amemthresh=$AMEMTHRESH pages (64 MiB) and
# drop_entry=1 (automatic); drop_packet and secure_tcp stay off.
# Memory is made short for the whole guest, not faked through amemthresh (t_defense_diff does
# that): huge pages are reserved (vm.nr_hugepages, defense_lib.sh) until what the defense counts
# as available (MemFree + Buffers) is $LEFT_KB kB, below the threshold; they are given back
# before the module is unloaded (and at exit, whatever happens), so later tests in the lane get
# the memory back.
#  - with plenty of memory the mode stays 1; once memory is short the defense tick switches it
#    on by itself (drop_entry reads 2);
#  - $FLOOD SYNs from spoofed sources (a raw socket in the client netns, 10.202.0.0/16) reach
#    the table as SYN_RECV entries, and the random drop of half-open entries (about 1/32 of the
#    table a second) makes their count fall by 10% within 50 s of the flood's first SYN, before
#    the 60 s SYN_RECV timeout: the flood's memory does not stay (with drop_entry=0 the
#    count stays: SYNFLOOD_DROP_ENTRY=0, written once the defense is on, before the flood,
#    shows this check failing);
#  - a legitimate client still connects through the VIP while memory is short;
#  - with the reservation released the mode returns to 1 and the memory is back (within
#    $BACK_SLACK_KB kB of what was available before the reservation: the flood's entries may
#    still be in the table).
# Only facts that do not depend on timing are compared (modes read, thresholds crossed,
# states, the client's answer); the counts and memory figures are in the diagnostics.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"
. "${0%/*}/defense_lib.sh"

PORTS="80"
# An operator's threshold: keep 64 MiB free (16384 pages of 4 KiB).
AMEMTHRESH=16384
# What the reservation leaves: 16 MiB below the threshold, so that the flood's own allocations
# and the test's processes cannot lift it back above.
LEFT_KB=$((AMEMTHRESH * 4 - 16384))
BACK_SLACK_KB=65536
FLOOD=$(full_or_quick 20000 3000)
# Only for showing that the "count falls" check can fail (drop_entry=0: no random drop).
DROP_ENTRY=${SYNFLOOD_DROP_ENTRY:-1}

# mem_diag LABEL: the memory figures now, as a diagnostic
mem_diag() {
    local k v _ slab=
    while read -r k v _; do [ "$k" = Slab: ] && slab=$v; done < /proc/meminfo
    meminfo
    diag "$1: MemFree $MEM_FREE kB, Buffers $MEM_BUFFERS kB, MemAvailable $MEM_AVAILABLE kB, Slab $slab kB, huge pages $HUGE_TOTAL"
}

scenario() {
    local o=$1 m=${1##*/} before t0 c0 n i want ans ok
    m=${m%.out}
    step "$m: topology"
    flood_topology "$o" || return
    lvs sysctl -qw net.ipv4.vs.amemthresh=$AMEMTHRESH net.ipv4.vs.drop_entry=1
    echo "settings: amemthresh $(vs amemthresh), modes $(modes)" >> "$o"
    meminfo
    before=$DEF_AVAIL_KB
    if [ "$before" -le $((AMEMTHRESH * 4)) ]; then
        echo "memory already short before the reservation ($before kB)" >> "$o"
    fi
    nap 1.5                 # more than one defense tick with plenty of memory
    echo "plenty of memory: modes $(modes)" >> "$o"
    mem_diag "$m: before the reservation"

    step "$m: reserving memory"
    if mem_reserve_down_to "$LEFT_KB"; then
        echo "memory short: available below amemthresh: $([ $((DEF_AVAIL_KB / 4)) -lt $AMEMTHRESH ] && echo yes || echo no)" >> "$o"
    else
        echo "memory short: reservation failed" >> "$o"
    fi
    mem_diag "$m: reserved"
    echo "defense on by itself: modes $(wait_modes "2 0 0" 10)" >> "$o"
    [ "$DROP_ENTRY" = 1 ] || lvs sysctl -qw net.ipv4.vs.drop_entry="$DROP_ENTRY"

    step "$m: flood"
    t0=$SECONDS
    ag "syn $VIP 80 $FLOOD 202" > "$TEST_TMP/syn"
    count_proc 'TCP 0ACA*'
    c0=$ENTRIES
    mem_diag "$m: $FLOOD SYNs sent in $((SECONDS - t0)) s, $c0 entries"
    # Some have been dropped already while the flood was sent (the defense is on): a quarter
    # of it is enough to say the flood got in.
    [ "$c0" -ge $((FLOOD / 4)) ] && echo "the flood reached the table" >> "$o"
    echo "flood states: $(states 10.202.)" >> "$o"
    # Half-open entries are dropped at random: 10% of them within 50 s of the flood's first
    # SYN, before the first entry's 60 s SYN_RECV timeout (so that only the drop can have
    # made the count fall; the last count starts before the deadline and takes well under 1 s).
    want=$((c0 * 9 / 10))
    wait_entries_le "$want" $((t0 + 50)) 'TCP 0ACA*'
    n=$ENTRIES
    diag "$m: $n entries $((SECONDS - t0)) s after the flood started (want <= $want)"
    echo "drop_entry: count fell by 10%: $([ "$n" -le "$want" ] && echo yes || echo no)" >> "$o"
    mem_diag "$m: after the fall"

    # A legitimate client still gets through (a real client retries; so do we, twice, in
    # case its own half-open entry is the one picked).
    step "$m: legitimate client"
    ok=no
    for i in 1 2 3; do
        ag "from tcp $VIP 80 1 10.0.0.2" > "$TEST_TMP/legit"
        read -r _ _ ans < "$TEST_TMP/legit"
        case $ans in RS*) ok=yes; break ;; esac
    done
    echo "legitimate client connects while memory is short: $ok" >> "$o"
    echo "still short: modes $(modes)" >> "$o"

    # Memory back: the reservation released, the mode returns to 1.
    step "$m: releasing memory"
    echo "reservation released: $(mem_release && echo yes || echo "no ($HUGE_TOTAL huge pages left)")" >> "$o"
    want="1 0 0"
    [ "$DROP_ENTRY" = 1 ] || want="$DROP_ENTRY 0 0"
    echo "memory back: modes $(wait_modes "$want" 10)" >> "$o"
    meminfo
    echo "memory back within $BACK_SLACK_KB kB of before: $([ "$DEF_AVAIL_KB" -ge $((before - BACK_SLACK_KB)) ] && echo yes || echo no)" >> "$o"
    mem_diag "$m: released ($before kB available before)"
    stop_servers
}

validate() {
    local f=$1 on="2 0 0" off="1 0 0"
    # SYNFLOOD_DROP_ENTRY other than 1: the mode reads what was written, on or off.
    [ "$DROP_ENTRY" = 1 ] || on="$DROP_ENTRY 0 0" off="$DROP_ENTRY 0 0"
    expect_grep "$f" "^settings: amemthresh $AMEMTHRESH, modes 1 0 0$" "settings"
    expect_grep "$f" "^plenty of memory: modes 1 0 0$" "no defense with plenty of memory"
    expect_grep "$f" "^memory short: available below amemthresh: yes$" "memory genuinely short"
    expect_grep "$f" "^defense on by itself: modes 2 0 0$" "drop_entry switched to 2 by itself"
    expect_grep "$f" "^the flood reached the table$" "the flood reached the table"
    expect_grep "$f" "^flood states: SYN_RECV$" "flood entries in SYN_RECV"
    expect_grep "$f" "^drop_entry: count fell by 10%: yes$" "the flood's entries are dropped"
    expect_grep "$f" "^legitimate client connects while memory is short: yes$" "legitimate client"
    expect_grep "$f" "^still short: modes $on$" "defense still on"
    expect_grep "$f" "^reservation released: yes$" "reservation released"
    expect_grep "$f" "^memory back: modes $off$" "mode back to 1"
    expect_grep "$f" "^memory back within $BACK_SLACK_KB kB of before: yes$" "memory back"
    if grep -q "^memory already short" "$f"; then fail "memory was short before the reservation"; fi
}

differential scenario validate
finish
