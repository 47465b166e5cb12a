# SPDX-License-Identifier: GPL-2.0
# ipvs-rs: out-of-tree build of ipvs_rs.ko, host tests, VM selftests, demo.
#
#   make            build ipvs_rs.ko (building the cached guest kernel first if needed)
#   make check      everything CI runs; ends with "N passed, N failed"
#   make demo       boot the guest and show stock ipvsadm talking to ipvs_rs.ko
#   make vm-shell   an interactive shell in the guest
#   make selftest T=t_name   one VM selftest
#   make soak       the long variants of some selftests (not part of make check)
#   make bench      ipvs_rs against stock ip_vs on the bench kernel (about 25 min);
#                   QUICK=1: tiny sizes on the test kernel (a few minutes; run by make check)

FLAVOR ?= test
# The module is compiled through clippy-driver (same codegen as rustc) so the kernel's lints,
# undocumented_unsafe_blocks included, are errors under CONFIG_WERROR.
KVARS := CC=gcc RUSTC=/usr/bin/rustc RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library \
	CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver
KOUT = $(shell tools/kernel-build $(FLAVOR))

.PHONY: all module setup kernel check demo vm-shell selftest host-test bench soak clean

all: module

setup:
	tools/setup

kernel: setup
	@tools/kernel-build $(FLAVOR)

rust/sys/bindings_generated.rs: rust/sys/bindings_helper.h c/helpers.h tools/gen-bindings tools/config/base.config tools/config/$(FLAVOR).config
	tools/gen-bindings "$(KOUT)" $@

module: rust/sys/bindings_generated.rs
	$(MAKE) -C "$(KOUT)" M=$(CURDIR) $(KVARS) modules

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

# Long runs kept out of make check: t_proc_conn_scale at 1,000,000 connections.
soak: module
	tools/vm-run --timeout 3600 --memory 4G -- env PROC_CONN_N=1000000 SELFTEST_TIMEOUT=3000 selftests/run.sh t_proc_conn_scale

bench: setup
	bench/run $(if $(filter 1,$(QUICK)),--quick)

clean:
	-$(MAKE) -C "$(KOUT)" M=$(CURDIR) $(KVARS) clean
	rm -f rust/sys/bindings_generated.rs
	cd host && cargo clean
