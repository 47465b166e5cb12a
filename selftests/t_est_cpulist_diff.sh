#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: /proc/sys/net/ipv4/vs/est_cpulist, written with valid and hostile CPU lists
# (the kernel's cpulist grammar: ranges, "N", "all", "a-b:used/group"; CPUs past the last,
# numbers past 32 bits, malformed regions), each followed by a read: the write's errno (as
# the shell reports it) and what reads back must be stock's. A writer bound to one CPU
# (taskset) keeps only the CPUs it may run on. Then the estimator must run on the CPU the list
# names, for each of the two: stock's estimator kthreads are kept to the list; ours is a work
# item, queued on a CPU of the list (seen by a kprobe on its function). The guest has 2 vCPUs
# (vm-cpus below).
# vm-cpus: 2
. "${0%/*}/lib.sh"

F=/proc/sys/net/ipv4/vs/est_cpulist
# Each is written with one write(2) at offset 0: like stock's, the entry ignores a write at
# a later offset (returns 0), so a writer that split a text (bash's printf does at a newline)
# would retry for ever. "A newline ends the list" is host-tested (host/tests/cpulist.rs).
INPUTS=("0" "0-1" "1" "1,0" "N" "all" "ALL" "0-N" "0-1:1/2" "0-1:0/2" " " "0 1" " 1 , 0 "
        "2" "0-2" "1-0" "x" "0x" "-1" "0-" "0-1:" "0-1:1" "0-1:2/1" "0-1:1/0" "0-1:1/2x"
        "4294967296" "4294967295" "99999999999999999999" "0;1" "0,,1" "all:1/2" "1"$'\t'"0")

try_write() {       # try_write OUT TEXT [taskset CPU]
    local o=$1 text=$2 err rc
    if [ -n "${3:-}" ]; then
        err=$(taskset -c "$3" bash -c 'printf "%s" "$1" > "$2"' _ "$text" "$F" 2>&1); rc=$?
    else
        err=$( { printf '%s' "$text" > "$F"; } 2>&1); rc=$?
    fi
    err=${err##*: }
    printf 'write %q%s: rc=%d %s\n' "$text" "${3:+ (on CPU $3)}" "$rc" "$err" >> "$o"
    printf 'read: %s\n' "$(cat "$F" 2>&1)" >> "$o"
}

scenario() {
    local o=$1 t
    echo "initial: $(cat "$F" 2>&1)" >> "$o"
    for t in "${INPUTS[@]}"; do
        try_write "$o" "$t"
    done
    try_write "$o" "0-1" 0
    try_write "$o" "1" 0
    try_write "$o" "0-1"
    # An echo's newline ends the list.
    echo 1 > "$F"
    echo "after echo 1: $(cat "$F" 2>&1)" >> "$o"
    placement
}

TRACE=/sys/kernel/tracing

# ours_est_cpus: the CPUs of the estimator's runs since the trace was cleared, one per line.
ours_est_cpus() {
    sed -n 's/.*\[0*\([0-9][0-9]*\)\].* ipvs_rs_est:.*/\1/p' "$TRACE/trace"
}

# est_runs N: the estimator ran N times since the trace was cleared.
est_runs() { [ "$(ours_est_cpus | grep -c .)" -ge "$1" ]; }

# stock_kept_to CPU: every estimator kthread may run on CPU only.
stock_kept_to() {
    local pid n=0
    for pid in $(pgrep '^ipvs-e:'); do
        [ "$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$pid/status")" = "$1" ] || return 1
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}

# set_everywhere TEXT: writes est_cpulist in this netns and in every named one (the runner
# keeps one of its own: each netns has its estimator, and its list).
set_everywhere() {
    local n
    printf '%s' "$1" > "$F"
    for n in /run/netns/*; do
        [ -e "$n" ] && ip netns exec "${n##*/}" sh -c 'printf "%s" "$1" > "$2"' _ "$1" "$F"
    done
}

# Where the estimator runs once est_cpulist names one CPU, for each CPU. Stock starts its
# kthreads with the first service.
placement() {
    local cpu sym nets
    ipvsadm -A -t 10.0.0.1:80 -s rr
    if module_loaded ipvs_rs; then
        mountpoint -q "$TRACE" || mount -t tracefs none "$TRACE"
        sym=$(awk '$3 ~ /IpvsNet14estimate_rates$/ && $4 == "[ipvs_rs]" { print $3; exit }' /proc/kallsyms)
        if [ -z "$sym" ] || ! echo "p:ipvs_rs_est $sym" >> "$TRACE/kprobe_events"; then
            fail "a kprobe on the estimator's function (${sym:-not found})"
            return
        fi
        at_exit "echo 0 > $TRACE/events/kprobes/ipvs_rs_est/enable; echo -:ipvs_rs_est >> $TRACE/kprobe_events"
        echo 1 > "$TRACE/events/kprobes/ipvs_rs_est/enable"
    fi
    for cpu in 1 0; do
        set_everywhere "$cpu"
        # This shell then waits on the other CPU (written from there, the list would lose CPU
        # $cpu: see above). Each netns's first run may still be on the CPU it was queued on;
        # the next two of each must be on $cpu, for each of the two CPUs (a work item left
        # where its timer fires, as ours was, wanders between them and fails this).
        taskset -pc "$((1 - cpu))" $$ > /dev/null
        if module_loaded ipvs_rs; then
            echo > "$TRACE/trace"
            nets=$((1 + $(find /run/netns -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
            if wait_for "three estimator runs in each netns" 60 est_runs $((3 * nets)) &&
                [ "$(ours_est_cpus | sed -n "$((nets + 1)),$((3 * nets))p" | sort -u)" = "$cpu" ]; then
                pass "est_cpulist=$cpu: our estimator runs on CPU $cpu"
            else
                fail "est_cpulist=$cpu: our estimator ran on CPUs $(ours_est_cpus | tr '\n' ' ')"
            fi
        elif wait_for "stock's estimator kthreads kept to CPU $cpu" 60 stock_kept_to "$cpu"; then
            pass "est_cpulist=$cpu: stock's estimator kthreads are kept to CPU $cpu"
        else
            fail "est_cpulist=$cpu: stock's estimator kthreads are not kept to CPU $cpu"
        fi
    done
    taskset -pc 0-1 $$ > /dev/null
    set_everywhere 0-1
    if module_loaded ipvs_rs; then
        echo 0 > "$TRACE/events/kprobes/ipvs_rs_est/enable"
        echo -:ipvs_rs_est >> "$TRACE/kprobe_events"
    fi
    ipvsadm -C
}

validate() {
    local o=$1
    expect_grep "$o" '^initial: 0-1$' "every CPU before any write"
    expect_grep "$o" "^write 2: rc=1 Numerical result out of range$" "a CPU past the last: ERANGE"
    expect_grep "$o" "^write x: rc=1 Invalid argument$" "garbage: EINVAL"
    expect_grep "$o" "^write 4294967296: rc=1 Value too large for defined data type$" "past 32 bits: EOVERFLOW"
    expect_grep "$o" '^after echo 1: 1$' "echo 1 gives CPU 1"
}

differential scenario validate
finish
