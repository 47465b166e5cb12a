# SPDX-License-Identifier: GPL-2.0
# ipvs-rs: out-of-tree build of ipvs_rs.ko, host tests, VM selftests, demo.
#
#   make            build ipvs_rs.ko (building the cached guest kernel first if needed)
#   make check      everything CI runs; ends with "N passed, N failed"
#   make demo       boot the guest and show stock ipvsadm talking to ipvs_rs.ko
#   make vm-shell   an interactive shell in the guest
#   make selftest T=t_name   one VM selftest
#   make soak       the long variants of the reliability selftests (not part of make check)
#   make bench      ipvs_rs against stock ip_vs on the bench kernel (about 25 min);
#                   QUICK=1: tiny sizes on the test kernel (a few minutes; run by make soak)
#                   ICOUNT=1: counted in guest instructions (QEMU -icount), into bench/results/icount
#   make kasan      the reliability selftests on the KASAN kernel (clang-built, cached; the
#                   first run builds it, about 25 min); any KASAN report fails the run
#   make install KOUT=/lib/modules/$(uname -r)/build     install into that kernel's
#                   /lib/modules/<release>/updates with /etc/modprobe.d/ipvs-rs.conf;
#                   make uninstall KOUT=... goes back to stock (see README, and dkms.conf)

FLAVOR ?= test
# The kernel build tree the module is built against. By default the cached guest kernel: a
# recipe asks tools/kernel-build for it (building it on first use) when it runs, which is after
# tools/setup; nothing is looked up when this file is read.
KOUT = $$(tools/kernel-build $(FLAVOR))
# For the targets that must never build a kernel: KOUT if given, else the guest kernel if built.
KOUT_BUILT = $(if $(filter command line,$(origin KOUT)),$(KOUT),$$(tools/kernel-build --cached $(FLAVOR) 2>/dev/null))
# The module is compiled through clippy-driver (same codegen as rustc) so the kernel's lints,
# undocumented_unsafe_blocks included, are errors under CONFIG_WERROR. LINT= builds with rustc.
LINT = CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver
# The kernel's compiler (CC=gcc, or LLVM=... for the clang-built kasan flavour: tools/lib.sh).
KVARS = $$(bash -c '. tools/lib.sh && kmake_cc $(FLAVOR)') RUSTC=/usr/bin/rustc RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library $(LINT)
# Every target that needs a tool runs tools/setup first (a quick no-op once all is installed).
# Package builds (dkms.conf) pass SETUP= and build with what the system has.
SETUP = setup
MODPROBE_CONF = /etc/modprobe.d/ipvs-rs.conf

.PHONY: all module bindings setup kernel check demo vm-shell selftest host-test bench soak kasan \
	install uninstall clean

all: module

setup:
	@tools/setup

kernel: | $(SETUP)
	@tools/kernel-build $(FLAVOR)

# Made against KOUT; tools/gen-bindings makes them again only if KOUT or their inputs changed.
bindings: | $(SETUP)
	@kout="$(KOUT)" && tools/gen-bindings "$$kout" rust/sys/bindings_generated.rs

module: bindings | $(SETUP)
	kout="$(KOUT)" && $(MAKE) -C "$$kout" M=$(CURDIR) $(KVARS) modules

host-test:
	cd host && cargo test --quiet

check:
	tools/check

demo: module
	tools/vm-run -- tools/demo

vm-shell: module
	tools/vm-run --timeout 3600 -- bash -i

selftest: module
	tools/vm-run -- selftests/run.sh $(T)

# Long runs kept out of make check: every selftest with all its cases (SELFTESTS_FULL=1: the
# forwarding modes and variants make check leaves out, and the tests marked "full only"),
# the race stress's full form on 4 vCPUs for 3 minutes a mode (make check runs 8 s a mode on 2
# and does not wait for the persistence templates to expire; this waits for every entry),
# many more teardown cycles and fault-injection seconds,
# 2,000,000 fuzzed netlink requests (and a 200,000-request differential), /proc/net/ip_vs_conn
# at 1,000,000 connections, the large connection table on 8 GiB, the packet fuzzer with
# 2,000,000 packets (20,000 compared with stock), and the reliability tests on the KASAN
# kernel if it is built (make kasan builds it; soak never does).
# The tests soak runs again below with larger sizes are left out of its full run.
SOAK_LONG := t_race_stress t_teardown_traffic t_failslab_conns t_genl_fuzz t_proc_conn_scale \
	t_conn_tab_bits_diff t_pkt_fuzz_diff
soak: module
	tools/vm-run --timeout 7200 -- env SELFTESTS_FULL=1 SELFTEST_TIMEOUT=1500 selftests/run.sh \
		$(filter-out $(SOAK_LONG),$(notdir $(basename $(wildcard selftests/t_*.sh))))
	tools/vm-run --cpus 4 --timeout 3600 -- env SELFTESTS_FULL=1 RACE_SECONDS=180 SELFTEST_TIMEOUT=3000 selftests/run.sh t_race_stress
	tools/vm-run --timeout 7200 -- env SELFTEST_TIMEOUT=3600 TEARDOWN_CYCLES=200 FAILSLAB_SECONDS=120 \
		selftests/run.sh t_teardown_traffic t_failslab_conns
	tools/vm-run --timeout 7200 -- env SELFTEST_TIMEOUT=6000 GENL_FUZZ_COUNT=2000000 GENL_FUZZ_DIFF=200000 \
		selftests/run.sh t_genl_fuzz
	tools/vm-run --timeout 3600 --memory 4G -- env PROC_CONN_N=1000000 SELFTEST_TIMEOUT=3000 selftests/run.sh t_proc_conn_scale
	tools/vm-run --memory 8G -- selftests/run.sh t_conn_tab_bits_diff
	tools/vm-run --timeout 3600 -- env PKT_FUZZ_N=2000000 PKT_FUZZ_DIFF_N=20000 SELFTEST_TIMEOUT=3000 \
		selftests/run.sh t_pkt_fuzz_diff
	$(MAKE) --no-print-directory bench QUICK=1
	@if tools/kernel-build --cached kasan >/dev/null; then tools/kasan; \
	else echo "soak: KASAN kernel not built, its run skipped (make kasan builds it, once)"; fi

# The reliability selftests on the KASAN kernel (tools/kasan; T=... for other tests).
kasan: | $(SETUP)
	tools/kasan $(T)

bench: | $(SETUP)
	bench/run $(if $(filter 1,$(QUICK)),--quick,$(if $(filter 1,$(ICOUNT)),--icount,$(if $(filter 1,$(TIMELINE)),--timeline)))

# Kbuild's modules_install puts ipvs_rs.ko in /lib/modules/<KOUT's release>/updates and runs
# depmod; the modprobe.d file makes `modprobe ip_vs` (and the schedulers' names) load it.
install: module
	kout="$(KOUT)" && $(MAKE) -C "$$kout" M=$(CURDIR) $(KVARS) INSTALL_MOD_DIR=updates modules_install
	packaging/modprobe-conf install $(MODPROBE_CONF)

uninstall:
	kout="$(KOUT_BUILT)"; if [ -n "$$kout" ]; then release=$$(cat "$$kout/include/config/kernel.release") && \
		rm -f /lib/modules/$$release/updates/ipvs_rs.ko* && depmod "$$release"; fi
	packaging/modprobe-conf remove $(MODPROBE_CONF)

clean:
	kout="$(KOUT_BUILT)"; if [ -n "$$kout" ]; then $(MAKE) -C "$$kout" M=$(CURDIR) $(KVARS) clean; fi
	rm -f rust/sys/bindings_generated.rs rust/sys/bindings_generated.rs.key
	-cd host && cargo clean
