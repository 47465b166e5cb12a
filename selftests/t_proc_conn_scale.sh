#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# /proc/net/ip_vs_conn and ip_vs_conn_sync with many connections, read by an unprivileged user
# (issue 11, defect 5: the files are world-readable, so a read must cost what it shows, never
# walk the whole table in one RCU read-side section, nor buffer the whole table in the kernel).
#
# 1. Differential, a few connections: the raw text of both files (UDP connections and a
#    persistence template) is byte-identical to stock's, up to line order (the hash differs)
#    and the expiry seconds.
# 2. Ours, PROC_CONN_N connections (default 6,000, SELFTESTS_FULL=1: 20,000; `make soak`
#    uses 1,000,000) made by pktgen from distinct client addresses and ports, with no traffic afterwards (UDP timeout 300 s,
#    so the table cannot change):
#    - `cat` as nobody shows exactly as many lines as the control plane counts connections
#      (InActConn over netlink), without duplicates, in both files;
#    - reading ip_vs_conn in 97-byte pieces (`dd bs=97`) gives the same text as a whole read;
#    - 64 readers (one process as nobody) that stopped after 97 bytes hold small kernel
#      buffers, not the whole text each (MemFree drops by far less than 64 texts; the
#      single_open version that this replaces buffered all of it per open file, which is
#      the check that fails without the fix: 64 x 2 MB at the default size, while the
#      new one holds about 20 kB per reader, its 4 kB buffer included);
#    - while pktgen inserts PROC_CONN_CHURN new connections, a reader in 97-byte pieces
#      still shows every existing connection exactly once and no line twice;
#    - the kernel log has no RCU stall or soft lockup (tools/vm-run also fails on any splat).
. "${0%/*}/lib.sh"

# The test kernel (lockdep, kmemleak, slub_debug) under TCG makes about 2,300 connections a
# second, so make check stays at 6,000 (about 3 s of pktgen).
N=${PROC_CONN_N:-$(full_or_quick 20000 6000)}
CHURN=${PROC_CONN_CHURN:-$((N / 4))}
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
VIP=10.0.0.100
PORT=9
DEST=172.16.0.2
CL=${NETNS_PREFIX}cl
LVS=${NETNS_PREFIX}lvs
# Expiry column (the last number of a line) masked: it counts down while the test runs.
MASK_EXPIRES='s/[0-9]+$/N/'

kmodprobe pktgen || skip "no pktgen module"
kmodprobe veth || skip "no veth module"
kmodprobe dummy || skip "no dummy module"

# nap SECONDS: sleep without starting a process
mkfifo "$TEST_TMP/nap.fifo"
exec {NAP_FD}<>"$TEST_TMP/nap.fifo"
nap() { read -r -t "$1" -u "$NAP_FD" _; return 0; }

lvs() { timeout -k 5 120 ip netns exec "$LVS" "$@"; }

# Client netns --veth-- director netns (VIP on lo); the real server is an address behind a
# dummy device of the director, which drops what IPVS sends it: only the table matters here.
topo() {
    {
        echo "netns add $CL"
        echo "netns add $LVS"
        echo "link add c0 netns $CL type veth peer name l0 netns $LVS"
    } | ip -batch - || return 1
    {
        echo "link set lo up"
        echo "link set c0 up"
        echo "addr add 10.0.0.2/24 dev c0"
    } | ip -n "$CL" -batch - || return 1
    {
        echo "link set lo up"
        echo "link set l0 up"
        echo "addr add 10.0.0.1/24 dev l0"
        echo "addr add $VIP/32 dev lo"
        echo "link add dum0 type dummy"
        echo "link set dum0 up"
        echo "addr add 172.16.0.1/24 dev dum0"
    } | ip -n "$LVS" -batch - || return 1
    lvs sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.l0.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 || return 1
    DIRECTOR_MAC=$(ip -n "$LVS" -br link show l0 | awk '{ print $3 }')
    [ -n "$DIRECTOR_MAC" ]
}

# pktgen_flows COUNT BLOCK THREADS [PORT]: COUNT UDP packets to VIP:PORT, each from another
# (address, port) pair: thread t steps through 1001 addresses of 10.(64 + 2 BLOCK + t).0.0/22
# and 1000 source ports at once (coprime cycles: up to 1,001,000 distinct flows per thread).
pktgen_flows() {
    local count=$1 block=$2 threads=$3 port=${4:-$PORT} t s script=$TEST_TMP/pktgen.$block.cmd
    {
        echo "cd /proc/net/pktgen || exit 1"
        for t in $(seq 0 $((threads - 1))); do
            echo "echo rem_device_all > kpktgend_$t"
            echo "echo add_device c0@$t > kpktgend_$t"
            for s in "count $(( (count + threads - 1 - t) / threads ))" "clone_skb 0" "pkt_size 60" \
                     "delay 0" "dst_mac $DIRECTOR_MAC" "dst_min $VIP" "dst_max $VIP" \
                     "udp_dst_min $port" "udp_dst_max $port" "udp_src_min 20000" "udp_src_max 21000" \
                     "src_min 10.$((64 + 2 * block + t)).0.1" "src_max 10.$((64 + 2 * block + t)).3.233"; do
                echo "echo '$s' > c0@$t || { echo 'pktgen: $s refused' >&2; exit 1; }"
            done
        done
        echo "echo start > pgctrl"
        for t in $(seq 0 $((threads - 1))); do echo "echo rem_device_all > kpktgend_$t"; done
    } > "$script"
    ip netns exec "$CL" bash "$script"
}

# Connections as the control plane counts them (netlink, not /proc): ActiveConn + InActConn
# of every dest (persistence templates are not counted there).
conn_count() {
    lvs ipvsadm -Ln | awk '$1 == "->" && $2 != "RemoteAddress:Port" { n += $5 + $6 } END { print n + 0 }'
}

# settled_count: the connection count once it stopped changing (the director's backlog drains
# after pktgen is done), read every half second
settled_count() {
    local a b tries=0
    a=$(conn_count)
    while :; do
        nap 0.5
        b=$(conn_count)
        [ "$a" = "$b" ] && break
        a=$b tries=$((tries + 1))
        [ "$tries" -lt 240 ] || break
    done
    echo "$b"
}

# proc_masked FILE: the file's header, then its lines sorted, expiry masked
proc_masked() {
    local f=/proc/net/$1
    lvs cat "$f" > "$TEST_TMP/raw" || return 1
    head -n 1 "$TEST_TMP/raw"
    tail -n +2 "$TEST_TMP/raw" | sed -E "$MASK_EXPIRES" | sort
}

# ------------------------------------------------------------------ 1. format, against stock
scenario() {
    local o=$1
    topo || { echo "topology failed" >> "$o"; return; }
    {
        echo "-A -u $VIP:$PORT -s rr"
        echo "-a -u $VIP:$PORT -r $DEST:$PORT -m"
        # (600 s: the masked expiry keeps its width, 3 digits, however slow the guest is)
        echo "-A -u $VIP:10 -s rr -p 600"
        echo "-a -u $VIP:10 -r $DEST:10 -m"
    } | lvs ipvsadm -R >> "$o" 2>&1 || echo "ipvsadm -R failed" >> "$o"
    pktgen_flows 5 0 1 >> "$o" 2>&1 || echo "pktgen failed" >> "$o"
    pktgen_flows 3 1 1 10 >> "$o" 2>&1 || echo "pktgen failed" >> "$o"
    echo "connections: $(settled_count)" >> "$o"
    capture_fn "$o" proc_masked ip_vs_conn
    capture_fn "$o" proc_masked ip_vs_conn_sync
    cleanup_netns
}

capture_fn() {
    local f=$1 rc=0; shift
    printf '$ %s\n' "$*" >> "$f"
    "$@" >> "$f" 2>&1 </dev/null || rc=$?
    printf 'exit=%d\n' "$rc" >> "$f"
}

validate() {
    local o=$1
    expect_grep "$o" '^connections: 8$' "8 connections counted"
    expect_grep "$o" '^Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData$' \
        "ip_vs_conn header"
    expect_grep "$o" '^UDP 0A4[0-9A-F]{5} 4E[0-9A-F]{2} 0A000064 0009 AC100002 0009 UDP         +N$' \
        "a UDP connection line"
    expect_grep "$o" '^UDP 0A4[0-9A-F]{5} 0000 0A000064 000A AC100002 000A [A-Z]+ +N$' "a template line"
    expect_grep "$o" '^UDP 0A4[0-9A-F]{5} 4E[0-9A-F]{2} 0A000064 0009 AC100002 0009 UDP         LOCAL +N$' \
        "an ip_vs_conn_sync line"
    if grep -q '^exit=[1-9]' "$o"; then fail "a read failed"; else pass "every read exit 0"; fi
}

differential scenario validate

# ------------------------------------------------------------------ 2. ours, many connections
load_ours || { fail "loading ours"; finish; }
topo || { fail "topology"; finish; }
lvs ipvsadm -A -u "$VIP:$PORT" -s rr && lvs ipvsadm -a -u "$VIP:$PORT" -r "$DEST:$PORT" -m ||
    { fail "service setup"; finish; }
t0=$EPOCHREALTIME
pktgen_flows "$N" 2 "$(nproc)" > "$TEST_TMP/pktgen.out" 2>&1 || { diag_file "$TEST_TMP/pktgen.out"; fail "pktgen"; finish; }
count=$(settled_count)
diag "$count connections of $N sent (pktgen and settling: $(( ${EPOCHREALTIME%.*} - ${t0%.*} )) s)"
[ "$count" -ge $((N / 2)) ] || fail "only $count connections of $N packets"

# read_as_nobody FILE OUT [dd bs]: the file as user nobody, whole (cat) or in pieces (dd)
read_as_nobody() {
    local f=/proc/net/$1 out=$2 bs=${3:-} t=$EPOCHREALTIME rc=0
    if [ -z "$bs" ]; then
        lvs "${NOBODY[@]}" cat "$f" > "$out" || rc=$?
    else
        lvs "${NOBODY[@]}" dd if="$f" bs="$bs" status=none > "$out" || rc=$?
    fi
    diag "$1 as nobody${bs:+ in $bs-byte reads}: $(wc -l < "$out") lines, $(wc -c < "$out") bytes," \
        "$(( ${EPOCHREALTIME/./} / 1000 - ${t/./} / 1000 )) ms"
    return "$rc"
}

for file in ip_vs_conn ip_vs_conn_sync; do
    check "$file: cat as nobody exits 0" read_as_nobody $file "$TEST_TMP/$file.whole"
    lines=$(($(wc -l < "$TEST_TMP/$file.whole") - 1))
    if [ "$lines" -eq "$count" ]; then pass "$file: $lines lines, one per connection"
    else fail "$file: $lines lines for $count connections"; fi
    dups=$(tail -n +2 "$TEST_TMP/$file.whole" | sed -E "$MASK_EXPIRES" | sort | uniq -d | wc -l)
    if [ "$dups" -eq 0 ]; then pass "$file: no line twice"; else fail "$file: $dups lines twice"; fi
done
# (ip_vs_conn_sync walks the same way; small reads of it are not repeated to save time.)
check "ip_vs_conn: dd bs=97 as nobody exits 0" read_as_nobody ip_vs_conn "$TEST_TMP/ip_vs_conn.dd" 97
if cmp -s <(sed -E "$MASK_EXPIRES" "$TEST_TMP/ip_vs_conn.whole") <(sed -E "$MASK_EXPIRES" "$TEST_TMP/ip_vs_conn.dd"); then
    pass "ip_vs_conn: 97-byte reads give the text of a whole read"
else
    fail "ip_vs_conn: 97-byte reads differ from a whole read"
    diff <(sed -E "$MASK_EXPIRES" "$TEST_TMP/ip_vs_conn.whole") <(sed -E "$MASK_EXPIRES" "$TEST_TMP/ip_vs_conn.dd") |
        head -n 20 | sed 's/^/#   /'
fi

# Readers paused after their first 97 bytes: what does the kernel hold for them? HOLDERS open
# files of one process as nobody (what any user may do); MemFree is read after they opened
# and after their first read. The single_open version kept the whole text per open file.
HOLDERS=64
text_kb=$(( $(wc -c < "$TEST_TMP/ip_vs_conn.whole") / 1024 ))
memfree_kb() { awk '$1 == "MemFree:" { print $2 }' /proc/meminfo; }
mkfifo "$TEST_TMP/hold.in" "$TEST_TMP/hold.out"
lvs "${NOBODY[@]}" python3 -c '
import sys
files = [open("/proc/net/ip_vs_conn", "rb", buffering=0) for _ in range(int(sys.argv[1]))]
print("opened", flush=True)
sys.stdin.readline()
print(sum(len(f.read(97)) for f in files), flush=True)
sys.stdin.readline()
' "$HOLDERS" < "$TEST_TMP/hold.in" > "$TEST_TMP/hold.out" &
hold_pid=$!
exec {HOLD_IN}> "$TEST_TMP/hold.in"
exec {HOLD_OUT}< "$TEST_TMP/hold.out"
got=""
# The readers may be gone (killed by lvs's timeout when their reads are slow): no SIGPIPE.
trap '' PIPE
if read -r -t 120 -u "$HOLD_OUT" opened && [ "$opened" = opened ]; then
    before=$(memfree_kb)
    echo >&"$HOLD_IN"
    read -r -t 120 -u "$HOLD_OUT" got
    after=$(memfree_kb)
fi
echo >&"$HOLD_IN"
exec {HOLD_IN}>&- {HOLD_OUT}<&-
trap - PIPE
wait "$hold_pid" || fail "the paused readers failed"
held=$(( ${before:-0} - ${after:-0} ))
diag "$HOLDERS readers paused after ${got:-?} bytes in all: MemFree ${before:-?} kB -> ${after:-?} kB" \
    "(${held} kB held; the whole text is ${text_kb} kB)"
if [ "${got:-0}" -eq $((HOLDERS * 97)) ] && [ "$held" -lt 16384 ] && [ "$held" -lt $((HOLDERS * text_kb / 8)) ]; then
    pass "$HOLDERS paused readers hold small buffers, not the table's text each"
else
    fail "$HOLDERS paused readers hold ${held} kB (the table's text is ${text_kb} kB)"
fi

# New connections arrive while a reader reads in 97-byte pieces: every connection that was
# there before is shown once, and no line twice.
tail -n +2 "$TEST_TMP/ip_vs_conn.whole" | sed -E "$MASK_EXPIRES" | sort > "$TEST_TMP/before.sorted"
pktgen_flows "$CHURN" 3 1 > "$TEST_TMP/pktgen.churn" 2>&1 &
churn_pid=$!
read_as_nobody ip_vs_conn "$TEST_TMP/during" 97 || fail "dd during inserts"
during_count=$(conn_count)
wait "$churn_pid" || { diag_file "$TEST_TMP/pktgen.churn"; fail "churn pktgen"; }
after_count=$(settled_count)
tail -n +2 "$TEST_TMP/during" | sed -E "$MASK_EXPIRES" | sort > "$TEST_TMP/during.sorted"
diag "during the read the table grew from $count to $during_count (then $after_count);" \
    "the read showed $(wc -l < "$TEST_TMP/during.sorted") connections"
[ "$during_count" -gt "$count" ] || diag "note: no insert overlapped the read (host too slow or too fast)"
missing=$(comm -23 "$TEST_TMP/before.sorted" "$TEST_TMP/during.sorted" | wc -l)
dups=$(uniq -d "$TEST_TMP/during.sorted" | wc -l)
if [ "$missing" -eq 0 ]; then pass "every existing connection shown while others were inserted"
else fail "$missing existing connections missed while others were inserted"; fi
if [ "$dups" -eq 0 ]; then pass "no line shown twice while others were inserted"
else fail "$dups lines shown twice while others were inserted"; fi

if dmesg | grep -Eq 'rcu.*(stall|detected stalls)|soft lockup'; then
    fail "RCU stall or soft lockup in the kernel log"
    dmesg | grep -E 'rcu.*(stall|detected stalls)|soft lockup' | head -n 5 | sed 's/^/#   /'
else
    pass "no RCU stall or soft lockup"
fi
cleanup_netns
unload_ipvs || fail "unloading ours"
finish
