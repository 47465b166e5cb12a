#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (packaging and loading, no datapath: see selftests/markers.sh)
# ipvs_rs installed as a drop-in for ip_vs, as `make install` (or dkms) installs it: ipvs_rs.ko
# in /lib/modules/$(uname -r)/updates, depmod, and /etc/modprobe.d/ipvs-rs.conf (installed and
# removed by packaging/modprobe-conf, as make install/uninstall and dkms do). Then `modprobe
# ip_vs` (and the schedulers' names, and the genl autoload) load ipvs_rs and never stock,
# ipvsadm works, a non-root ipvsadm prints byte for byte what it prints with stock (ipvsadm's
# fallback `modprobe ip_vs` must find IPVS loaded and say nothing), modinfo shows what a
# packaged module shows, `modprobe -r ip_vs` unloads it, and uninstalling brings stock back.
# The copy and depmod are done here rather than through Kbuild's modules_install: one Kbuild
# run takes minutes in this TCG guest (a `make install` here took 281 s).
#
# Nothing reaches the host: in the guest /etc is an overlay on tmpfs (virtme-ng), and the
# kernel's module directory (read-only, in the kernel cache) is covered for the duration of the
# test by a tmpfs copy of the IPVS modules and their dependencies (depmod of the whole tree on
# 9p takes half a minute here). Both are checked before anything is installed.
. "${0%/*}/lib.sh"

NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
CONF=/etc/modprobe.d/ipvs-rs.conf
SCHEDULERS="rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos"
not() { ! "$@"; }

have_ours || skip "$(basename "$IPVS_RS_KO") not built"
kver=$(uname -r)
moddir=/lib/modules/$kver
[ -e "$moddir/modules.dep" ] || skip "$moddir is not reachable in this guest"
[ ! -e "$CONF" ] || skip "$CONF exists already"
case "$(findmnt -T /etc/modprobe.d -no FSTYPE)" in
    overlay|tmpfs) ;;
    *) skip "/etc/modprobe.d is not on a guest-only overlay: installing would write the host's" ;;
esac
unload_ipvs || { fail "could not unload IPVS before the test"; finish; }

# The test's module directory: the stock IPVS modules the test loads, with their dependencies,
# copied to a tmpfs mounted over the real (read-only) one.
realmod=$(readlink -f "$moddir")
mods=$TEST_TMP/mods
mkdir -p "$mods"
mount -t tmpfs none "$mods" || { fail "tmpfs for the module directory"; finish; }
for f in modules.order modules.builtin modules.builtin.modinfo; do
    [ -e "$moddir/$f" ] && cp -L "$moddir/$f" "$mods/"
done
for ko in $(modprobe --show-depends -a ip_vs ip_vs_rr ip_vs_ftp | sed -n "s|^insmod $moddir/||p"); do
    mkdir -p "$mods/$(dirname "$ko")" && cp -L "$moddir/$ko" "$mods/$ko"
done
mount --bind "$mods" "$realmod" || { fail "bind mount over $realmod"; umount "$mods"; finish; }
cleanup() {
    unload_ipvs
    rm -f "$CONF"
    umount "$realmod"
    umount "$mods"
}
at_exit cleanup
[ "$(findmnt -T "$moddir/" -no FSTYPE)" = tmpfs ] || { fail "$moddir is not the test's tmpfs"; finish; }
depmod "$kver" || { fail "depmod of the test's module directory"; finish; }
diag "module directory: $(find "$moddir/" -name '*.ko' | wc -l) modules"

# ipvsadm as nobody: what a user without CAP_NET_ADMIN sees.
nonroot_ipvsadm() {
    local o=$1
    run_capture "$o" "${NOBODY[@]}" ipvsadm -Ln
    run_capture "$o" "${NOBODY[@]}" ipvsadm -L --timeout
}

# ---- stock, before anything is installed: non-root ipvsadm with nothing loaded, then loaded
nonroot_ipvsadm "$TEST_TMP/stock-unloaded.out"
kmodprobe ip_vs || { fail "modprobe ip_vs (stock)"; finish; }
nonroot_ipvsadm "$TEST_TMP/stock.out"
unload_ipvs || fail "unloading stock"

# ---- install: what Kbuild's modules_install (INSTALL_MOD_DIR=updates) and make install do
t0=$SECONDS
if install -D -m 644 "$IPVS_RS_KO" "$moddir/updates/ipvs_rs.ko" && depmod "$kver" &&
   "$REPO_ROOT/packaging/modprobe-conf" install > "$TEST_TMP/install.log" 2>&1; then
    pass "installed ($((SECONDS - t0)) s)"
else
    fail "install:"; diag_file "$TEST_TMP/install.log" 20; finish
fi
check "$CONF installed" cmp -s "$CONF" "$REPO_ROOT/packaging/ipvs-rs.conf"
found=$(modinfo -n ipvs_rs 2>&1)
check "modinfo finds ipvs_rs as installed ($found)" test "$found" = "$moddir/updates/ipvs_rs.ko"

# ---- modprobe ip_vs loads ipvs_rs, not stock
out=$(modprobe ip_vs 2>&1); rc=$?
check "modprobe ip_vs: exit 0, silent (exit $rc: $out)" test "$rc" -eq 0 -a -z "$out"
check "modprobe ip_vs loaded ipvs_rs" module_loaded ipvs_rs
check "modprobe ip_vs did not load stock ip_vs" not module_loaded ip_vs
out=$(ipvsadm -Ln 2>&1); rc=$?
check "ipvsadm -Ln works (exit $rc)" test "$rc" -eq 0
expect_grep <(printf '%s\n' "$out") '^IP Virtual Server version' "ipvsadm -Ln prints the header"

# ---- non-root ipvsadm: byte-identical to stock
nonroot_ipvsadm "$TEST_TMP/ours.out"
if diff_outputs "$TEST_TMP/stock.out" "$TEST_TMP/ours.out"; then
    pass "non-root ipvsadm output identical to stock's ($(wc -l < "$TEST_TMP/stock.out") lines)"
else
    fail "non-root ipvsadm output differs from stock's (diff above: - stock, + ours)"
fi

# ---- the other names tools load IPVS by: every scheduler has its install line (all alike), and
# the ones kube-proxy loads are silent no-ops with ipvs_rs loaded
missing=""
for s in $SCHEDULERS; do
    grep -q "^install ip_vs_$s .* then /sbin/modprobe ipvs_rs;" "$CONF" || missing="$missing ip_vs_$s"
done
check "$CONF sends all 14 schedulers' names to ipvs_rs${missing:+ (not:$missing)}" test -z "$missing"
bad=""
for s in rr wrr sh; do
    out=$(modprobe "ip_vs_$s" 2>&1) || bad="$bad ip_vs_$s(exit $?)"
    [ -z "$out" ] || bad="$bad ip_vs_$s($out)"
done
module_loaded ip_vs && bad="$bad (stock ip_vs got loaded)"
check "modprobe ip_vs_rr, ip_vs_wrr, ip_vs_sh: silent no-ops with ipvs_rs loaded${bad:+:$bad}" test -z "$bad"
out=$(modprobe ip_vs_ftp 2>&1); rc=$?
check "modprobe ip_vs_ftp refused (exit $rc: $out)" test "$rc" -ne 0
check "modprobe ip_vs_ftp did not load stock ip_vs" not module_loaded ip_vs

# ---- modinfo, as for a packaged module
modinfo ipvs_rs > "$TEST_TMP/modinfo" 2>&1
want_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$REPO_ROOT/dkms.conf")
expect_grep "$TEST_TMP/modinfo" "^version: +$want_version$" "modinfo: version $want_version (dkms.conf's PACKAGE_VERSION)"
expect_grep "$TEST_TMP/modinfo" '^license: +GPL$' "modinfo: license"
expect_grep "$TEST_TMP/modinfo" '^description: +.*ip_vs' "modinfo: description"
expect_grep "$TEST_TMP/modinfo" '^parm: +conn_tab_bits:.*\(int\)$' "modinfo: parameter conn_tab_bits"
expect_grep "$TEST_TMP/modinfo" '^alias: +net-pf-16-proto-16-family-IPVS$' "modinfo: genl family alias"

# ---- modprobe -r ip_vs unloads it; options given for ip_vs reach it
out=$(modprobe -r ip_vs 2>&1); rc=$?
check "modprobe -r ip_vs: exit 0 (exit $rc: $out)" test "$rc" -eq 0
check "modprobe -r ip_vs unloaded ipvs_rs" not module_loaded ipvs_rs
modprobe ip_vs conn_tab_bits=14
bits=$(cat /sys/module/ipvs_rs/parameters/conn_tab_bits 2>&1)
check "modprobe ip_vs conn_tab_bits=14 gives ipvs_rs conn_tab_bits=14 ($bits)" test "$bits" = 14
# Given, the parameter bounds the table's growth.
expect_grep /proc/net/ip_vs_status 'at most 14 bits' "conn_tab_bits=14 given: the table grows to at most 2^14 buckets"
modprobe -r ipvs_rs
check "modprobe -r ipvs_rs unloads it" not module_loaded ipvs_rs

# ---- nothing loaded: ipvsadm's genl lookup makes the kernel autoload the module of the "IPVS"
# family (also for non-root callers), through the config alias and ip_vs's install line
unload_ipvs || fail "unloading before autoload"
nonroot_ipvsadm "$TEST_TMP/ours-unloaded.out"
if diff_outputs "$TEST_TMP/stock-unloaded.out" "$TEST_TMP/ours-unloaded.out"; then
    pass "non-root ipvsadm with nothing loaded: output identical to stock's"
else
    fail "non-root ipvsadm with nothing loaded: output differs from stock's (diff above: - stock, + ours)"
fi
check "the autoload loaded ipvs_rs, not stock" test -d /sys/module/ipvs_rs -a ! -d /sys/module/ip_vs
# Not given: stock's size is reported, and the table may grow past it (to 2^20 buckets, less
# on a small guest: 2^19 in 2 GiB).
head -n 1 /proc/net/ip_vs > "$TEST_TMP/ip_vs.head"
expect_grep "$TEST_TMP/ip_vs.head" 'size=4096)$' "no conn_tab_bits: /proc/net/ip_vs reports stock's size=4096"
expect_grep /proc/net/ip_vs_status 'at most (1[6-9]|20) bits' "no conn_tab_bits: the table may grow past 2^12 buckets"
unload_ipvs || fail "unloading after autoload"

# ---- uninstall (as make uninstall and dkms remove do): back to stock
if rm "$moddir/updates/ipvs_rs.ko" && depmod "$kver" &&
   "$REPO_ROOT/packaging/modprobe-conf" remove > "$TEST_TMP/uninstall.log" 2>&1; then
    pass "uninstalled"
else
    fail "uninstall:"; diag_file "$TEST_TMP/uninstall.log" 20
fi
check "ipvs_rs.ko gone from $moddir/updates" test ! -e "$moddir/updates/ipvs_rs.ko"
check "$CONF gone" test ! -e "$CONF"
check "modinfo no longer finds ipvs_rs" not modinfo -n ipvs_rs
modprobe ip_vs
check "after uninstall, modprobe ip_vs loads stock" module_loaded ip_vs
unload_ipvs || fail "unloading stock after uninstall"

# ---- the file on a kernel without ipvs_rs: the stock modules load as before
cp "$REPO_ROOT/packaging/ipvs-rs.conf" "$CONF"
out=$(modprobe ip_vs_rr 2>&1); rc=$?
check "without ipvs_rs, modprobe ip_vs_rr loads stock ip_vs_rr (exit $rc: $out)" \
    test "$rc" -eq 0 -a -d /sys/module/ip_vs_rr -a -d /sys/module/ip_vs
unload_ipvs || fail "unloading stock"
rm -f "$CONF"
finish
