#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The guest half of `bench/run --timeline` (under QEMU's -icount): where an established or new
# flow's packet spends its instructions, stock ip_vs against ipvs_rs, in the network of
# bench/guest.sh. For each module: the UDP service in place and its flows warm, an entry kprobe
# goes on every function of the module (ip_vs.ko's, or ipvs_rs.ko's and the kernel's
# rust_helper_* it calls) and on the stack's functions every packet passes; TIMELINE_PKTS
# packets are sent, and each probe hit is kept with the TSC clock, which under -icount counts
# guest instructions. bench/timeline.py cuts the trace into packets and prints, hit by hit,
# how far the next one is.
#
# Settings: BENCH_OUT (required), TIMELINE_PKTS (2000), TIMELINE_FWD (-g: DR, -m: NAT),
# TIMELINE_FLOWS (fixed: the bench's 64 established flows; new: a new flow per packet),
# TIMELINE_MODULES ("stock ipvs_rs").
set -uo pipefail
BENCH_LIB_ONLY=1 . "${BENCH_REPO:?}/bench/guest.sh"

PKTS=${TIMELINE_PKTS:-2000}
FWD=${TIMELINE_FWD:--g}
FLOW_KIND=${TIMELINE_FLOWS:-fixed}
T=/sys/kernel/tracing
# Functions of the stack each packet passes, from the client's veth to the real server's.
STACK="ip_rcv ip_local_deliver nf_hook_slow ip_local_out ip_output ip_finish_output2 __dev_queue_xmit
       veth_xmit mod_timer kmem_cache_alloc_noprof kmem_cache_free kfree"

# The bench's own flows (bench/guest.sh), PKTS packets of them.
send() {
    case "$FLOW_KIND" in
        new) pktgen_new_flows "count=$PKTS" "$VIP" > /dev/null ;;
        *) pktgen_fixed_flows "count=$PKTS" "$VIP" > /dev/null ;;
    esac
}

# The text symbols of module MOD, but its init and exit code (gone after loading, or at the
# end of its text, where 6.12's kprobe optimizer reads past it and oopses).
module_functions() {
    awk -v m="[$1]" '$4 == m && ($2 == "t" || $2 == "T") && $3 !~ /init|cleanup|exit/ { print $3 }' /proc/kallsyms
}

mountpoint -q $T || mount -t tracefs none $T || die_bench "no tracefs"
# Every probe an int3 (an optimized one costs less, and differently from one to another).
sysctl -qw debug.kprobes-optimization=0
echo x86-tsc > $T/trace_clock
echo 65536 > $T/buffer_size_kb
topo_up
echo $STACK > "$OUT/stack"
for mod in ${TIMELINE_MODULES:-stock ipvs_rs}; do
    load_variant "$mod" || die_bench "cannot load $mod"
    setup_service -u "$UDP_PORT" "$FWD" || die_bench "$mod: service setup failed"
    send || die_bench "$mod: pktgen failed"
    case $mod in
        stock) syms="$(module_functions ip_vs) $STACK" ;;
        *) syms="$(module_functions ipvs_rs) $(awk '$3 ~ /^rust_helper_/ { print $3 }' /proc/kallsyms) $STACK" ;;
    esac
    echo > $T/kprobe_events
    : > "$OUT/probes.$mod"
    i=0
    for s in $syms; do
        i=$((i + 1))
        echo "p:p$i $s" >> $T/kprobe_events 2> /dev/null && echo "p$i $s" >> "$OUT/probes.$mod"
    done
    log "$mod: $(wc -l < "$OUT/probes.$mod") probes"
    echo > $T/trace
    echo 1 > $T/events/kprobes/enable
    send || die_bench "$mod: pktgen failed"
    echo 0 > $T/events/kprobes/enable
    cp $T/trace "$OUT/trace.$mod"
    echo > $T/kprobe_events
done
unload_all
log "timeline done"
