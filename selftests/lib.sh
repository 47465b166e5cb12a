# SPDX-License-Identifier: GPL-2.0
# Shared helpers of the ipvs-rs VM selftests. Sourced, not run.
#
# A test script exits 0 (pass), 4 (skip: the last "# SKIP: reason" line it
# printed is the reason) or anything else (fail). Diagnostics start with "# ".

SELFTESTS_DIR=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
REPO_ROOT=$(cd "$SELFTESTS_DIR/.." && pwd)
KSFT_SKIP=4
# Our module (built by the top-level Makefile into the repo root).
IPVS_RS_KO=${IPVS_RS_KO:-$REPO_ROOT/ipvs_rs.ko}
# Everything of stock IPVS that can hold a reference on ip_vs.ko.
STOCK_IPVS_HELPERS="ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_fo ip_vs_ovf ip_vs_lblc
 ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_mh ip_vs_sed ip_vs_nq ip_vs_twos ip_vs_ftp ip_vs_pe_sip"
# Prefix of every netns a test creates (so leftovers can be found and removed).
NETNS_PREFIX=ipvsst-
# SELFTESTS_FULL=1 (make soak): every case of every test. Without it (make check, make
# selftest) a few tests leave out cases that only repeat, in another forwarding mode or
# variant, what the cases they keep already cover (each says which, through full_or_quick),
# and the tests marked "# full only" in their header do not run unless named.
SELFTESTS_FULL=${SELFTESTS_FULL:-0}
full_or_quick() {   # full_or_quick FULL QUICK: FULL with SELFTESTS_FULL=1, else QUICK
    if [ "$SELFTESTS_FULL" = 1 ]; then echo "$1"; else echo "$2"; fi
}
. "$SELFTESTS_DIR/markers.sh"
# full_only TEST: whether TEST's header marks it "# full only"
full_only() { test_full_only "$SELFTESTS_DIR/$1.sh"; }

cd "$REPO_ROOT" || exit 1

# modprobe for the guest kernel. virtme-ng links /lib/modules/$(uname -r) to
# $IPVS_RS_KOUT/.virtme_mods/lib/modules/0.0.0, but mounts a tmpfs over
# /var/cache in the guest, which hides the kernel build cache. If the modules
# cannot be reached, look at the 9p root filesystem without the guest's
# overlays (a non-recursive bind mount of /) and point modprobe there.
MODPROBE=(modprobe)
_setup_modprobe() {
    local mods hostroot=/run/ipvs-selftests-hostroot kver
    read -r kver < /proc/sys/kernel/osrelease
    [ -e "/lib/modules/$kver/modules.dep" ] && return 0
    [ -n "${IPVS_RS_KOUT:-}" ] || return 0
    mods=$IPVS_RS_KOUT/.virtme_mods
    if [ ! -e "$mods/lib/modules/0.0.0/modules.dep" ]; then
        if ! mountpoint -q "$hostroot"; then
            mkdir -p "$hostroot" && mount --bind / "$hostroot" 2>/dev/null || return 0
        fi
        mods=$hostroot$mods
    fi
    [ -e "$mods/lib/modules/0.0.0/modules.dep" ] && MODPROBE=(modprobe -d "$mods" -S 0.0.0)
}
[ -n "${IPVS_RS_IN_VM:-}" ] && _setup_modprobe
kmodprobe() { "${MODPROBE[@]}" "$@"; }

# ------------------------------------------------------------------ TAP-ish
TEST_FAILS=0
TEST_CHECKS=0

diag() {            # diag TEXT...: one "# " line per line of TEXT (no process: they are slow under TCG)
    local line
    while IFS= read -r line; do printf '# %s\n' "$line"; done <<< "$*"
}

diag_file() {       # diag_file FILE [MAXLINES]
    [ -f "$1" ] || { diag "(no file $1)"; return; }
    head -n "${2:-400}" "$1" | sed 's/^/#   /'
}

pass() { TEST_CHECKS=$((TEST_CHECKS + 1)); diag "ok: $*"; }
fail() { TEST_CHECKS=$((TEST_CHECKS + 1)); TEST_FAILS=$((TEST_FAILS + 1)); diag "FAIL: $*"; }

check() {           # check DESCRIPTION CMD...: pass if CMD succeeds
    local desc=$1; shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

skip() {            # skip REASON: exit with the skip status
    diag "SKIP: $*"
    exit "$KSFT_SKIP"
}

finish() {          # finish: exit 0 if no check failed
    if [ "$TEST_FAILS" -eq 0 ]; then
        diag "$TEST_CHECKS checks passed"
        exit 0
    fi
    diag "$TEST_FAILS of $TEST_CHECKS checks failed"
    exit 1
}

have_ours() { [ -f "$IPVS_RS_KO" ]; }

# Temp dir of this test, removed at exit (tests add their own cleanup via
# at_exit, which runs before it).
TEST_TMP=$(mktemp -d /tmp/ipvs-selftest.XXXXXX)
_AT_EXIT=""
at_exit() { _AT_EXIT="$*; $_AT_EXIT"; }
_run_exit() {
    local rc=$?
    eval "$_AT_EXIT" >/dev/null 2>&1
    cleanup_netns >/dev/null 2>&1
    unload_ipvs >/dev/null 2>&1
    rm -rf "$TEST_TMP"
    exit "$rc"
}
trap _run_exit EXIT

# ------------------------------------------------------------------ modules
module_loaded() { [ -d "/sys/module/$1" ]; }

# Any module that registers the "IPVS" genl family.
ipvs_loaded() { module_loaded ip_vs || module_loaded ipvs_rs; }

unload_ipvs() {     # unload whichever IPVS is loaded; 0 if none is left
    local m h tries loaded
    if module_loaded ipvs_rs; then
        # A netns being torn down may hold the module for a moment.
        for tries in 1 2 3; do
            rmmod ipvs_rs && break
            diag "rmmod ipvs_rs failed (try $tries)"
            sleep 1
        done
        # Dependencies insmod did not load itself (see load_ours): drop them
        # again if nothing else uses them.
        ours_deps
        for m in $OURS_DEPS; do kmodprobe -q -r "$m" 2>/dev/null || true; done
    fi
    for tries in 1 2 3; do
        module_loaded ip_vs || break
        # The helpers and any other holder in one modprobe (a process costs about half a
        # second under TCG).
        loaded=()
        for m in $STOCK_IPVS_HELPERS; do module_loaded "$m" && loaded+=("$m"); done
        for h in /sys/module/ip_vs/holders/*; do
            [ -e "$h" ] && [[ " ${loaded[*]} " != *" ${h##*/} "* ]] && loaded+=("${h##*/}")
        done
        [ ${#loaded[@]} -eq 0 ] || kmodprobe -r "${loaded[@]}" || diag "modprobe -r ${loaded[*]} failed"
        module_loaded ip_vs || break    # gone with them, as an unused dependency
        kmodprobe -r ip_vs 2>/dev/null || rmmod ip_vs 2>/dev/null || sleep 1
    done
    if ipvs_loaded; then
        diag "unload_ipvs: still loaded: $(ls -d /sys/module/ip_vs /sys/module/ipvs_rs 2>/dev/null | xargs)"
        return 1
    fi
    return 0
}

load_stock() {      # load stock ip_vs.ko (after unloading any IPVS)
    unload_ipvs || return 1
    kmodprobe ip_vs || { diag "modprobe ip_vs failed"; return 1; }
    module_loaded ip_vs
}

# ours_deps: OURS_DEPS, the modules ours declares it depends on (insmod does not load them),
# asked once per test (not in a subshell: `for m in $OURS_DEPS` after the call).
OURS_DEPS= _ours_deps_known=
ours_deps() {
    [ -z "$_ours_deps_known" ] && [ -f "$IPVS_RS_KO" ] || return 0
    OURS_DEPS=$(modinfo -F depends "$IPVS_RS_KO" 2>/dev/null)
    OURS_DEPS=${OURS_DEPS//,/ } _ours_deps_known=1
}

load_ours() {       # insmod ./ipvs_rs.ko (after unloading any IPVS)
    local m
    unload_ipvs || return 1
    have_ours || { diag "no $IPVS_RS_KO"; return 1; }
    ours_deps
    for m in $OURS_DEPS; do kmodprobe "$m" || diag "modprobe $m (dependency) failed"; done
    insmod "$IPVS_RS_KO" || { diag "insmod $IPVS_RS_KO failed"; return 1; }
    module_loaded ipvs_rs
}

load_module() {     # load_module stock|ours
    case "$1" in
        stock) load_stock ;;
        ours) load_ours ;;
        *) diag "load_module: unknown $1"; return 1 ;;
    esac
}

# ------------------------------------------------------------------ netns
netns_add() {       # netns_add NAME: creates $NETNS_PREFIX$NAME, echoes the full name
    local n="$NETNS_PREFIX$1"
    ip netns del "$n" 2>/dev/null
    ip netns add "$n" || return 1
    ip -n "$n" link set lo up
    echo "$n"
}

# wait_for DESC SECONDS CMD...: polls CMD until it succeeds; false (and a diagnostic) after
# SECONDS.
wait_for() {
    local desc=$1 deadline=$((SECONDS + $2))
    shift 2
    until "$@"; do
        if [ $SECONDS -ge $deadline ]; then
            diag "timed out waiting for: $desc"
            return 1
        fi
        sleep 0.3
    done
}

cleanup_netns() {
    local n
    # A process of the test's that lives in a netns keeps it alive: the director shell goes
    # first (topo.sh).
    if declare -F lvs_sh_stop > /dev/null; then lvs_sh_stop; fi
    # One `ip` for all of them: a process start costs about half a second under TCG.
    for n in /run/netns/"$NETNS_PREFIX"*; do
        [ -e "$n" ] && echo "netns del ${n##*/}"
    done | ip -force -batch - 2>/dev/null
    return 0
}

# hold_hook_branches: keeps every IPv4 and IPv6 netfilter hook's static branch switched on
# until the guest ends, with an empty nft table in a netns of its own (not $NETNS_PREFIX*:
# the runner keeps it across tests). Why: with 2 vCPUs, QEMU 7.2's TCG can run a static
# branch's old code after the kernel has live-patched it (text_poke_bp), so a vCPU takes the
# int3 the patcher has already removed and the guest panics ("Oops: int3" in
# ip_local_deliver). Registering or unregistering any netfilter hook while packets flow flips
# such a branch (nf_hooks_needed) when it is the only one of its kind: ours, stock's,
# conntrack's or an nft chain's alike. It was reproduced with no IPVS module loaded, by adding
# and deleting an nft input chain in one netns under a UDP flood into another. With the
# branches held on, the tests still register and unregister their hooks (they are per netns)
# under traffic; only the code patching, which is the emulator's problem, is gone.
HOOK_BRANCH_NETNS=hook-branches
hold_hook_branches() {
    [ -e "/run/netns/$HOOK_BRANCH_NETNS" ] && return 0
    kmodprobe nf_tables && ip netns add "$HOOK_BRANCH_NETNS" || return 1
    ip netns exec "$HOOK_BRANCH_NETNS" nft -f - <<EOF
table inet hold {
    chain c_pre { type filter hook prerouting priority 0; }
    chain c_in { type filter hook input priority 0; }
    chain c_fwd { type filter hook forward priority 0; }
    chain c_out { type filter hook output priority 0; }
    chain c_post { type filter hook postrouting priority 0; }
}
EOF
}

# ------------------------------------------------------------------ capture
# run_capture FILE CMD...: append "$ CMD", its stdout+stderr, "exit=N" to FILE.
# Commands are bounded in time (exit=124 on a hang).
run_capture() {
    local f=$1 rc=0; shift
    printf '$ %s\n' "$*" >> "$f"
    timeout -k 5 "${RUN_CAPTURE_TIMEOUT:-60}" "$@" >> "$f" 2>&1 </dev/null || rc=$?
    printf 'exit=%d\n' "$rc" >> "$f"
    return 0
}

# run_captures FILE < COMMANDS: run_capture for each line of COMMANDS (a shell command; a
# trailing "# comment" and blank lines are left out), all from one shell, so that a long
# session costs one process per command rather than two (timeout's; each exec costs about
# half a second under TCG). The session as a whole is bounded in time (4 x
# RUN_CAPTURE_TIMEOUT); commands read nothing from stdin. With NETNS, the shell runs there.
run_captures() {   # run_captures FILE [NETNS] < COMMANDS
    local f=$1 in_ns=()
    [ -n "${2:-}" ] && in_ns=(ip netns exec "$2")
    timeout -k 5 $((${RUN_CAPTURE_TIMEOUT:-60} * 4)) "${in_ns[@]}" bash -c '
        set -f      # [2001:db8::1]:80 is an address, not a pattern
        while IFS= read -r line; do
            line=${line%%[[:space:]]#*}
            line=${line%"${line##*[![:space:]]}"}
            [ -n "$line" ] || continue
            printf "\$ %s\n" "$line"
            { eval "$line"; } < /dev/null 2>&1
            printf "exit=%d\n" $?
        done' >> "$f" 2>&1
}

# diff_outputs A B: unified diff (as diagnostics); fails if they differ.
diff_outputs() {
    local a=$1 b=$2 d
    if d=$(diff -u --label "${a##*/}" --label "${b##*/}" "$a" "$b"); then
        return 0
    fi
    printf '%s\n' "$d" | sed 's/^/#   /'
    return 1
}

# expect_grep FILE REGEX DESC: check that FILE has a line matching REGEX
expect_grep() {
    if grep -Eq -- "$2" "$1"; then pass "$3"; else fail "$3 (no /$2/ in $(basename "$1"))"; fi
}

# ------------------------------------------------------------------ differential
# differential SCENARIO_FN [VALIDATE_FN]
#   For stock, then ours: load the module in a fresh state, run
#   "SCENARIO_FN OUTFILE", unload. A function named pre_load, if defined, is
#   called as "pre_load OUTFILE" before each load. VALIDATE_FN OUTFILE checks the stock output
#   (so the script itself is validated even without ours). The outputs must be
#   byte-identical. Skips (after the stock half) if ipvs_rs.ko is absent.
DIFF_STOCK_OUT=""
DIFF_OURS_OUT=""
differential() {
    local scen=$1 validate=${2:-} mod out
    DIFF_STOCK_OUT=$TEST_TMP/stock.out
    DIFF_OURS_OUT=$TEST_TMP/ours.out
    for mod in stock ours; do
        out=$TEST_TMP/$mod.out
        : > "$out"
        if [ "$mod" = ours ] && ! have_ours; then
            if [ "$TEST_FAILS" -ne 0 ]; then
                diag "stock half failed; stock output:"; diag_file "$DIFF_STOCK_OUT"
                finish
            fi
            skip "$(basename "$IPVS_RS_KO") not built (stock half ran: $TEST_CHECKS checks ok)"
        fi
        cleanup_netns
        if declare -F pre_load >/dev/null; then pre_load "$out"; fi
        if ! load_module "$mod"; then
            fail "loading $mod"
            finish
        fi
        "$scen" "$out"
        cleanup_netns
        if ! unload_ipvs; then fail "unloading $mod"; fi
        local fails_before=$TEST_FAILS
        if [ -n "$validate" ]; then
            diag "validating $mod output"
            "$validate" "$out"
        fi
        if [ "${SELFTESTS_VERBOSE:-0}" != 0 ] || [ "$TEST_FAILS" -ne "$fails_before" ]; then
            diag "$mod output:"; diag_file "$out"
        fi
        if [ -n "${SELFTESTS_SAVE_DIR:-}" ]; then
            mkdir -p "$SELFTESTS_SAVE_DIR"
            for f in "$out"*; do
                cp "$f" "$SELFTESTS_SAVE_DIR/$(basename "$0" .sh).$(basename "$f")"
            done
        fi
    done
    # A test may declare lines only ours prints for a reason outside the kernel's answers
    # (DIFF_OURS_ONLY_RE, an extended regex, documented where it is set); exactly those go.
    if [ -n "${DIFF_OURS_ONLY_RE:-}" ]; then
        grep -Ev -- "$DIFF_OURS_ONLY_RE" "$DIFF_OURS_OUT" > "$DIFF_OURS_OUT.filtered"
        DIFF_OURS_OUT=$DIFF_OURS_OUT.filtered
    fi
    if diff_outputs "$DIFF_STOCK_OUT" "$DIFF_OURS_OUT"; then
        pass "stock and ours outputs are identical ($(wc -l < "$DIFF_STOCK_OUT") lines)"
    else
        fail "stock and ours outputs differ (diff above: - stock, + ours)"
    fi
}
