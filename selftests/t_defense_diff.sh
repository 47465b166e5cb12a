#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Differential: the DoS defense sysctls (amemthresh, am_droprate, drop_entry, drop_packet,
# secure_tcp) through stock ip_vs.ko and ipvs_rs.ko, in one DR topology per module.
# "Memory is short" is made without exhausting memory: amemthresh set to INT_MAX pages.
#  - values 4 and -1 are refused (EINVAL); with plenty of memory the automatic modes (1)
#    stay 1; with amemthresh huge the defense tick (once a second) rewrites drop_entry,
#    drop_packet and secure_tcp to 2, and a write of 1 reads back 2 at once; with memory
#    back they return to 1;
#  - SYN flood from spoofed sources (a raw socket in the client netns, 10.200.0.0/16 and
#    10.201.0.0/16): with plenty of memory drop_entry=1 drops nothing (the count stays);
#    once memory is short the half-open entries are dropped at random (about 1/32 of the
#    table a second); the second batch, sent with secure_tcp in effect, sits in SYNACK (the
#    secure input-only table) rather than SYN_RECV, and its count falls by 10% well before
#    its 120 s SYNACK timeout; a legitimate client still connects;
#  - drop_packet=3 with am_droprate=4: of 8 new UDP connections the 1st and 5th are dropped.
# Only facts that do not depend on timing are compared (states present, thresholds crossed,
# values read back); the counts themselves are in the diagnostics.
. "${0%/*}/lib.sh"
. "${0%/*}/topo.sh"
. "${0%/*}/defense_lib.sh"

PORTS="80 53"
FLOOD=600

# write_mode O KEY VALUE: a write as an operator makes it, its exit status and error
write_mode() {
    local rc=0 err
    err=$(lvs bash -c "echo $3 > /proc/sys/net/ipv4/vs/$2" 2>&1) || rc=$?
    case $err in *"Invalid argument"*) err="EINVAL" ;; "") ;; *) err="other error" ;; esac
    echo "write $2=$3: exit=$rc $err" >> "$1"
}

scenario() {
    local o=$1 t1 c0 c1 n i want ans ok
    step "$(basename "$o" .out): topology"
    flood_topology "$o" || return
    ipvs_restore "$o" <<EOF
-A -u $VIP:53 -s rr
-a -u $VIP:53 -r 172.16.1.2:53 -g
-a -u $VIP:53 -r 172.16.2.2:53 -g
EOF
    echo "defaults: $(vs amemthresh) $(vs am_droprate) $(modes)" >> "$o"
    write_mode "$o" drop_entry 4
    write_mode "$o" secure_tcp -1
    echo "after refused writes: $(modes)" >> "$o"

    # Plenty of memory: automatic modes stay 1, and nothing is dropped.
    lvs sysctl -qw net.ipv4.vs.drop_entry=1 net.ipv4.vs.secure_tcp=1
    step "first flood"
    ag "syn $VIP 80 $FLOOD 200" > "$TEST_TMP/syn"
    nap 0.5
    count_proc 'TCP 0AC8*'     # from 10.200.0.0/16
    c0=$ENTRIES
    diag "$(basename "$o" .out): first batch: $c0 entries"
    [ "$c0" -ge $((FLOOD * 9 / 10)) ] && echo "first batch: at least 90% in the table" >> "$o"
    echo "first batch states: $(states 10.200.)" >> "$o"
    nap 2.5                 # more than two defense ticks
    count_proc 'TCP 0AC8*'
    c1=$ENTRIES
    echo "plenty of memory: modes $(modes), entries kept: $([ "$c1" -eq "$c0" ] && echo yes || echo "no ($c0 -> $c1)")" >> "$o"

    # Memory short: the tick rewrites the automatic modes to 2.
    lvs sysctl -qw net.ipv4.vs.drop_packet=1 net.ipv4.vs.amemthresh=2147483647
    step "memory short"
    echo "memory short: $(wait_modes "2 2 2" 10)" >> "$o"
    # drop_packet at 2 with INT_MAX would drop every new connection (rate 1): off again.
    lvs sysctl -qw net.ipv4.vs.drop_packet=0 net.ipv4.vs.secure_tcp=3
    echo "secure_tcp=3: $(modes)" >> "$o"
    lvs sysctl -qw net.ipv4.vs.secure_tcp=1
    echo "secure_tcp=1 written, read at once: $(modes)" >> "$o"
    step "second flood"
    t1=$SECONDS
    ag "syn $VIP 80 $FLOOD 201" > "$TEST_TMP/syn"
    nap 0.5
    echo "second batch states (secure_tcp on): $(states 10.201.)" >> "$o"
    count_proc 'TCP 0AC9*'     # from 10.201.0.0/16
    c0=$ENTRIES
    diag "$(basename "$o" .out): second batch: $c0 entries"
    # Half-open entries are dropped at random: 10% of the second batch's well before their
    # own timeout (SYNACK: 120 s), so that only the drop can have made the count fall: counted
    # until 90 s after the batch was sent (the first batch's SYN_RECV entries may have timed
    # out by then, so they are not counted).
    want=$((c0 * 9 / 10))
    wait_entries_le "$want" $((t1 + 90)) 'TCP 0AC9*'
    n=$ENTRIES
    diag "$(basename "$o" .out): $n entries $((SECONDS - t1)) s after the second batch (want <= $want)"
    echo "drop_entry: count fell by 10%: $([ "$n" -le "$want" ] && echo yes || echo no)" >> "$o"
    # A legitimate client still gets through (a real client retries; so do we, twice, in
    # case its own half-open entry is the one picked).
    step "legitimate client"
    ok=no
    for i in 1 2 3; do
        ag "from tcp $VIP 80 1 10.0.0.2" > "$TEST_TMP/legit"
        read -r _ _ ans < "$TEST_TMP/legit"
        case $ans in RS*) ok=yes; break ;; esac
    done
    echo "legitimate client connects: $ok" >> "$o"

    # Memory back: the automatic modes return to 1.
    lvs sysctl -qw net.ipv4.vs.amemthresh=1024
    echo "memory back: $(wait_modes "1 0 1" 10)" >> "$o"

    # drop_packet=3: one new connection in am_droprate is dropped (written in this order, the
    # mode's write applies the rate at once).
    lvs sysctl -qw net.ipv4.vs.drop_entry=0 net.ipv4.vs.secure_tcp=0
    lvs sysctl -qw net.ipv4.vs.am_droprate=4
    lvs sysctl -qw net.ipv4.vs.drop_packet=3
    step "drop_packet=3"
    ag "from udp $VIP 53 8 10.0.0.2" > "$TEST_TMP/udp"
    awk '{ print "drop_packet=3:", ($3 ~ /^RS/ ? "answered" : "dropped") }' "$TEST_TMP/udp" >> "$o"
    echo "final: $(vs amemthresh) $(vs am_droprate) $(modes)" >> "$o"
    stop_servers
}

validate() {
    local f=$1
    expect_grep "$f" "^defaults: 1024 10 0 0 0$" "defaults"
    expect_grep "$f" "^write drop_entry=4: exit=1 EINVAL$" "drop_entry=4 refused"
    expect_grep "$f" "^write secure_tcp=-1: exit=1 EINVAL$" "secure_tcp=-1 refused"
    expect_grep "$f" "^first batch: at least 90%" "the flood reached the table"
    expect_grep "$f" "^first batch states: SYN_RECV$" "first batch in SYN_RECV"
    expect_grep "$f" "^plenty of memory: modes 1 0 1, entries kept: yes$" "no defense with plenty of memory"
    expect_grep "$f" "^memory short: 2 2 2$" "modes rewritten to 2"
    expect_grep "$f" "^secure_tcp=1 written, read at once: 2 0 2$" "a write of 1 reads back 2"
    expect_grep "$f" "^second batch states \(secure_tcp on\): SYNACK$" "secure table: SYNACK"
    expect_grep "$f" "^drop_entry: count fell by 10%: yes$" "random drop"
    expect_grep "$f" "^legitimate client connects: yes$" "legitimate client"
    expect_grep "$f" "^memory back: 1 0 1$" "modes back to 1"
    if [ "$(grep -c '^drop_packet=3: ' "$f")" = 8 ] &&
        [ "$(grep '^drop_packet=3: ' "$f" | awk '{ print ($2 == "answered") ? "a" : "d" }' | paste -sd '')" = daaadaaa ]; then
        pass "drop_packet=3 am_droprate=4: 1st and 5th dropped"
    else
        fail "drop_packet=3 am_droprate=4: $(grep '^drop_packet=3: ' "$f" | paste -sd' ')"
    fi
}

differential scenario validate
finish
