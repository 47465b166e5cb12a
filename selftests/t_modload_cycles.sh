#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# ipvs_rs.ko load/unload: 15 insmod + ipvsadm -Ln + rmmod cycles (SELFTESTS_FULL=1: 50)
# without a failure or a new kmemleak report; and refusing to load next to stock ip_vs.
. "${0%/*}/lib.sh"

CYCLES=${MODLOAD_CYCLES:-$(full_or_quick 50 15)}
KMEMLEAK=/sys/kernel/debug/kmemleak

have_ours || skip "$(basename "$IPVS_RS_KO") not built"
unload_ipvs || { fail "could not unload IPVS before the test"; finish; }

# Dependencies insmod would not load (none, unless the module declares some),
# loaded once so that the cycles measure ipvs_rs alone.
ours_deps
for m in $OURS_DEPS; do kmodprobe "$m" || diag "modprobe $m failed"; done

kmemleak_scan() {   # two scans, as kmemleak only reports objects seen unreferenced twice
    echo scan > "$KMEMLEAK"; sleep 6; echo scan > "$KMEMLEAK"
}
leak_addrs() { grep -o 'unreferenced object 0x[0-9a-f]*' "$1" | sort -u; }

use_kmemleak=0
if [ -w "$KMEMLEAK" ] && echo scan > "$KMEMLEAK" 2>/dev/null; then
    use_kmemleak=1
    kmemleak_scan
    cat "$KMEMLEAK" > "$TEST_TMP/leaks.before"
    diag "kmemleak baseline: $(leak_addrs "$TEST_TMP/leaks.before" | wc -l) old reports (cleared)"
    echo clear > "$KMEMLEAK"
else
    diag "kmemleak not available: leak check skipped"
fi

# ---- cycles (with a second netns around, so per-netns init/exit runs twice)
cns=$(netns_add cycles) || fail "netns add"
ok_cycles=0
for i in $(seq 1 "$CYCLES"); do
    err=""
    if ! out=$(insmod "$IPVS_RS_KO" 2>&1); then
        err="insmod: $out"
    elif ! out=$(timeout 30 ipvsadm -Ln 2>&1); then
        err="ipvsadm -Ln: $out"
    elif ! printf '%s\n' "$out" | grep -q '^IP Virtual Server version'; then
        err="ipvsadm -Ln printed: $out"
    elif [ $((i % 10)) -eq 0 ] && ! out=$(ip netns exec "$cns" ipvsadm -L --timeout 2>&1); then
        err="ipvsadm in netns: $out"
    fi
    if module_loaded ip_vs; then
        err="$err (stock ip_vs got loaded)"
    fi
    if module_loaded ipvs_rs && ! out2=$(rmmod ipvs_rs 2>&1); then
        err="$err rmmod: $out2"
    fi
    if module_loaded ipvs_rs; then
        err="$err (still loaded after rmmod)"
    fi
    # Nothing of it may outlive the module.
    [ -e /proc/net/ip_vs ] && err="$err (/proc/net/ip_vs left after rmmod)"
    [ -e /proc/sys/net/ipv4/vs ] && err="$err (/proc/sys/net/ipv4/vs left after rmmod)"
    if [ -n "$err" ]; then
        fail "cycle $i: $err"
        unload_ipvs
        break
    fi
    ok_cycles=$i
done
[ "$ok_cycles" -eq "$CYCLES" ] && pass "$CYCLES insmod/ipvsadm -Ln/rmmod cycles"
ip netns del "$cns"

# ---- leaks
if [ "$use_kmemleak" = 1 ]; then
    kmemleak_scan
    cat "$KMEMLEAK" > "$TEST_TMP/leaks.after"
    new=$(comm -13 <(leak_addrs "$TEST_TMP/leaks.before") <(leak_addrs "$TEST_TMP/leaks.after") | wc -l)
    if [ "$new" -eq 0 ]; then
        pass "no new kmemleak reports after the cycles"
    else
        fail "$new new kmemleak reports after the cycles:"
        diag_file "$TEST_TMP/leaks.after" 120
    fi
fi

# ---- refuse to load while stock ip_vs owns the "IPVS" family
if load_stock; then
    marker="ipvs-selftest-marker-$$-$RANDOM"
    echo "$marker" > /dev/kmsg
    if out=$(insmod "$IPVS_RS_KO" 2>&1); then
        fail "insmod ipvs_rs.ko succeeded while ip_vs is loaded"
    else
        pass "insmod ipvs_rs.ko fails while ip_vs is loaded ($out)"
    fi
    module_loaded ipvs_rs && fail "ipvs_rs is loaded next to ip_vs"
    dmesg | sed -n "/$marker/,\$p" > "$TEST_TMP/dmesg.conflict"
    if grep -Eq 'ipvs_rs.*already registered' "$TEST_TMP/dmesg.conflict"; then
        pass "dmesg: $(grep -E 'ipvs_rs.*already registered' "$TEST_TMP/dmesg.conflict" | head -n1)"
    else
        fail "dmesg has no /ipvs_rs.*already registered/ line after the failed insmod:"
        diag_file "$TEST_TMP/dmesg.conflict" 40
    fi
    # Stock is unaffected.
    if out=$(ipvsadm -Ln 2>&1) && printf '%s\n' "$out" | grep -q '^IP Virtual Server'; then
        pass "stock ip_vs still answers after the refused insmod"
    else
        fail "stock ip_vs broken after the refused insmod: $out"
    fi
    unload_ipvs || fail "unloading stock"
else
    fail "could not load stock ip_vs"
fi

# The other way round (modprobe ip_vs while ipvs_rs is loaded) is not tried:
# stock ip_vs creates /proc/net/ip_vs in its per-netns init before it
# registers its genl family, so it hits "proc_dir_entry 'net/ip_vs' already
# registered" and a WARNING in proc_register() (fs/proc/generic.c) before
# failing, and vm-run fails any run with a kernel WARNING.

ours_deps
for m in $OURS_DEPS; do kmodprobe -q -r "$m" 2>/dev/null; done
finish
