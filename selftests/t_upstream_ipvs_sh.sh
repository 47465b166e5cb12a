#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Upstream's own IPVS selftest (tools/testing/selftests/net/netfilter/ipvs.sh), unchanged from
# the kernel source the guest runs, with ipvs_rs.ko loaded and stock ip_vs absent: TCP over
# IPv4 in DR, NAT and TUN modes, 32 random bytes that must arrive byte-identical.
# tools/upstream-selftests copies it to build/upstream-selftests/ before the VM boots.
# full only: upstream's script waits fixed times (its server gets 0.2 s to start listening, its
# client 2 s), so on a busy or slow host it fails by itself: a run with the host twice as slow
# (hypervisor steal) failed it with ipvs_rs. t_datapath_diff covers the same modes with more
# traffic, against stock, waiting for conditions. make soak runs this one, as does
# make selftest T=t_upstream_ipvs_sh.
. "${0%/*}/lib.sh"

dir=$REPO_ROOT/build/upstream-selftests/net/netfilter
[ -f "$dir/ipvs.sh" ] || skip "no $dir/ipvs.sh (run tools/upstream-selftests on the host)"
have_ours || skip "ipvs_rs.ko not built"
load_ours || { fail "loading ipvs_rs"; finish; }
module_loaded ip_vs && { fail "stock ip_vs is loaded"; finish; }
out=$TEST_TMP/ipvs.sh.out
(cd "$dir" && timeout -k 10 600 bash ./ipvs.sh) > "$out" 2>&1
rc=$?
diag_file "$out" 40
if [ $rc -eq 0 ] && grep -q "PASS" "$out"; then
    pass "upstream ipvs.sh: DR, NAT and TUN"
else
    fail "upstream ipvs.sh exited $rc"
fi
for mode in DR NAT Tunnel; do
    expect_grep "$out" "^Testing $mode mode" "$mode mode ran"
done
module_loaded ip_vs && fail "stock ip_vs got loaded during the test"
unload_ipvs || fail "unloading ipvs_rs"
finish
