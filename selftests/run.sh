#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs the ipvs-rs VM selftests and prints TAP. Meant to run inside the guest:
#
#     tools/vm-run -- selftests/run.sh [t_NAME ...]
#
# Each selftests/t_*.sh (or each named test) runs as its own process; exit 0 is
# a pass, 4 a skip, anything else a failure. The last line is "N passed, N failed"
# and the exit status is non-zero if any test failed.
# Env: SELFTEST_TIMEOUT (s per test, default 600), SELFTESTS_VERBOSE=1 (print the
# captured outputs), SELFTESTS_SAVE_DIR=DIR (keep them as DIR/TEST.MODULE.out*),
# SELFTESTS_FULL=1 (every case of every test, as make soak runs them; see lib.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.." || exit 1

if [ -z "${IPVS_RS_IN_VM:-}" ] && [ -z "${SELFTESTS_ALLOW_HOST:-}" ]; then
    echo "Bail out! not inside the test VM: run  tools/vm-run -- selftests/run.sh" \
         "(or set SELFTESTS_ALLOW_HOST=1)"
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Bail out! must run as root"
    exit 1
fi

tests=()
if [ $# -gt 0 ]; then
    for t in "$@"; do
        t=$(basename "$t" .sh)
        case "$t" in t_*|wip_*) ;; *) t="t_$t" ;; esac
        if [ ! -f "$here/$t.sh" ]; then
            echo "Bail out! no such test: $here/$t.sh"
            exit 1
        fi
        tests+=("$t")
    done
fi

. "$here/lib.sh"
if [ ${#tests[@]} -eq 0 ]; then
    for f in "$here"/t_*.sh; do
        [ -e "$f" ] || continue
        t=$(basename "$f" .sh)
        [ "$SELFTESTS_FULL" = 1 ] || ! full_only "$t" || continue
        tests+=("$t")
    done
fi
trap - EXIT          # the runner has no per-test temp state of its own
rm -rf "$TEST_TMP"
hold_hook_branches || echo "# could not hold the netfilter hooks' static branches on (lib.sh):" \
    "a 2-vCPU guest may panic on an int3 when a test registers a hook under traffic"

echo "TAP version 13"
echo "1..${#tests[@]}"
passed=0 failed=0 skipped=0 n=0
for t in "${tests[@]}"; do
    n=$((n + 1))
    out=$(mktemp)
    start=$(date +%s)
    timeout -k 10 "${SELFTEST_TIMEOUT:-600}" bash "$here/$t.sh" > "$out" 2>&1 </dev/null
    rc=$?
    secs=$(( $(date +%s) - start ))
    # Test output as TAP diagnostics.
    sed 's/^\([^#]\)/# \1/; s/^$/#/' "$out"
    [ "$rc" -eq 124 ] && echo "# test timed out after ${SELFTEST_TIMEOUT:-600} s"
    # A test must leave no IPVS module and no netns of ours behind.
    leftover=""
    if ipvs_loaded; then
        leftover="module $(ls -d /sys/module/ip_vs /sys/module/ipvs_rs 2>/dev/null | xargs -n1 basename | xargs)"
        unload_ipvs >/dev/null 2>&1
    fi
    if ip netns list 2>/dev/null | grep -q "^$NETNS_PREFIX"; then
        leftover="$leftover netns $(ip netns list | grep "^$NETNS_PREFIX" | awk '{print $1}' | xargs)"
        cleanup_netns
    fi
    if [ -n "$leftover" ]; then
        echo "# test left state behind:$leftover"
        { [ "$rc" -eq 0 ] || [ "$rc" -eq "$KSFT_SKIP" ]; } && rc=1
    fi
    if [ "$rc" -eq 0 ]; then
        echo "ok $n - $t (${secs}s)"
        passed=$((passed + 1))
    elif [ "$rc" -eq "$KSFT_SKIP" ]; then
        reason=$(grep '^# SKIP: ' "$out" | tail -n1 | sed 's/^# SKIP: //')
        echo "ok $n - $t # SKIP ${reason:-no reason given}"
        skipped=$((skipped + 1))
    else
        echo "not ok $n - $t (exit $rc, ${secs}s)"
        failed=$((failed + 1))
    fi
    rm -f "$out"
done
echo "# $skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
