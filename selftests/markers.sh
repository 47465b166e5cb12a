# SPDX-License-Identifier: GPL-2.0
# The markers a selftest's header may carry, one home for their spelling: read in the guest
# (run.sh, through lib.sh) and on the host (tools/check, which balances the lanes). Sourced;
# defines functions only.

# test_full_only FILE: "# full only": run by make soak (SELFTESTS_FULL=1) or when named, not
# by make check
test_full_only() { grep -q '^# full only' "$1"; }

# test_wants_two_cpus FILE: "# vm-cpus: 2": a race, or processes working side by side; runs in
# make check's 2-vCPU guest (lane 0)
test_wants_two_cpus() { grep -q '^# vm-cpus: 2' "$1"; }

# test_without_kmemleak FILE: "# vm-kmemleak: off": make check runs it in a guest booted without
# kmemleak, whose tracking of every allocation makes each process start under TCG about twice
# as slow. For the differential tests of behaviour, whose paths the reliability tests (races,
# teardown, fault injection, fuzzers, floods) run again with kmemleak on; make soak runs every
# test with kmemleak, as does `make selftest`.
test_without_kmemleak() { grep -q '^# vm-kmemleak: off' "$1"; }
