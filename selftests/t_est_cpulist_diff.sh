#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: /proc/sys/net/ipv4/vs/est_cpulist, written with valid and hostile CPU lists
# (the kernel's cpulist grammar: ranges, "N", "all", "a-b:used/group"; CPUs past the last,
# numbers past 32 bits, malformed regions), each followed by a read: the write's errno (as
# the shell reports it) and what reads back must be stock's. A writer bound to one CPU
# (taskset) keeps only the CPUs it may run on. The guest has 2 vCPUs (vm-cpus below).
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
