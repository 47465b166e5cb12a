#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Netlink fuzzer (selftests/genl_fuzz.c): generated and mutated requests over all commands of
# the "IPVS" genl family (nested attributes, bad lengths, random bytes).
#  - Differential: GENL_FUZZ_DIFF requests (8,000; SELFTESTS_FULL=1: 20,000; make soak:
#    200,000) from one seed, against stock ip_vs and ipvs_rs, each from a fresh module in a
#    fresh netns: every request's errno, number of replies and dump status must be the same,
#    request by request. Without SCTP services and persistence engines,
#    which ipvs_rs refuses until it has them (rust/ipvs_core/support.rs; host-tested there):
#    genl_fuzz --supported-only rewrites those values in each finished request, mutations
#    included (see keep_supported there). IPv6 services and dests of either family go
#    through as generated (GENL_FUZZ_IPV6=mixed, the default: genl_fuzz --ipv6 --mixed-af;
#    1: IPv6 services with dests of their own family only; 0: IPv4 only).
#  - Robustness: GENL_FUZZ_COUNT requests (20,000; make soak: 2,000,000) from another seed
#    against ipvs_rs alone: every one is answered (a reply or an errno), no splat, and the
#    module still answers ipvsadm and unloads cleanly afterwards.
. "${0%/*}/lib.sh"

DIFF_COUNT=${GENL_FUZZ_DIFF:-$(full_or_quick 20000 8000)}
COUNT=${GENL_FUZZ_COUNT:-$(full_or_quick 50000 20000)}
SEED=${GENL_FUZZ_SEED:-$(date +%s)}
GENL_FUZZ_IPV6=${GENL_FUZZ_IPV6:-mixed}
case $GENL_FUZZ_IPV6 in
    1) SUPPORTED=(--supported-only --ipv6) ;;
    mixed) SUPPORTED=(--supported-only --ipv6 --mixed-af) ;;
    *) SUPPORTED=(--supported-only) ;;
esac
FUZZ=$TEST_TMP/genl_fuzz
SCHEDS="rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos"
MODPROBE_HELPER=$(cat /proc/sys/kernel/modprobe)
at_exit "echo '$MODPROBE_HELPER' > /proc/sys/kernel/modprobe"

gcc -O2 -Wall -Wextra -Werror -o "$FUZZ" "$SELFTESTS_DIR/genl_fuzz.c" || { fail "building genl_fuzz"; finish; }
diag "seed $SEED (GENL_FUZZ_SEED=$SEED reproduces this run), ${SUPPORTED[*]}"

scenario() {
    local o=$1 ns m t0=$SECONDS
    # Stock loads a scheduler or persistence engine module on first use; load them now, so
    # that the first request naming one does not also pay for a modprobe.
    if module_loaded ip_vs; then
        for m in $SCHEDS; do kmodprobe "ip_vs_$m" || diag "modprobe ip_vs_$m failed"; done
        kmodprobe ip_vs_pe_sip || diag "modprobe ip_vs_pe_sip failed"
        # Every other name stock looks for is one no module has: let its request_module run
        # /bin/true rather than modprobe (hundreds of them, each an exec of modprobe
        # searching its index, would double the test's time; the answer is ENOENT either way).
        echo /bin/true > /proc/sys/kernel/modprobe
    fi
    ns=$(netns_add fuzz) || { echo "netns add failed" >> "$o"; return; }
    ip netns exec "$ns" "$FUZZ" "$SEED" "$DIFF_COUNT" --log "${SUPPORTED[@]}" > "$o.log" 2> "$o.err"
    echo "genl_fuzz exit=$?" >> "$o"
    tail -n 1 "$o.log" >> "$o"
    ip netns del "$ns"
    echo "$MODPROBE_HELPER" > /proc/sys/kernel/modprobe
    diag "$(basename "$o" .out): $DIFF_COUNT requests in $((SECONDS - t0)) s: $(tail -n 1 "$o.log")"
}

validate() {
    expect_grep "$1" '^genl_fuzz exit=0$' "every request answered"
    # The generator must reach the handlers, not only the parsers: requests succeed, objects
    # exist (EEXIST), and lookups both find and miss.
    expect_grep "$1" 'errnos=.*ok:[0-9]' "some requests succeed"
    # EEXIST is rare among the supported-only requests (about 1 in 2,000): a random seed's
    # run may have none (e^-4, 2 % of runs). The robustness run below (20,000 requests, about
    # 1 in 2,000 too, e^-10) must then show it.
    if grep -q 'errnos=.*EEXIST:' "$1"; then
        pass "some objects already exist"
    else
        diag "no EEXIST among these $DIFF_COUNT requests; the robustness run must have some"
        NEED_EEXIST=1
    fi
    expect_grep "$1" 'errnos=.*ESRCH:' "some lookups miss"
    expect_grep "$1" 'errnos=.*EINVAL:' "some requests are refused as invalid"
}

differential scenario validate
# The summaries (counts per errno) were compared above; now request by request, with the
# first differences shown.
if [ -f "$DIFF_STOCK_OUT.log" ] && [ -f "$DIFF_OURS_OUT.log" ]; then
    ndiff=$(diff "$DIFF_STOCK_OUT.log" "$DIFF_OURS_OUT.log" | grep -c '^[<>]')
    if [ "$ndiff" -eq 0 ]; then
        pass "all $DIFF_COUNT answers identical, request by request"
    else
        fail "$ndiff answer lines differ; the first (< stock, > ours):"
        diff "$DIFF_STOCK_OUT.log" "$DIFF_OURS_OUT.log" | grep '^[<>]' | head -n 30 | sed 's/^/#   /'
    fi
fi

# ---- robustness: many more requests against ours alone
if load_ours; then
    ns=$(netns_add fuzz2)
    t0=$SECONDS
    out=$(ip netns exec "$ns" "$FUZZ" $((SEED + 1)) "$COUNT" 2>&1)
    rc=$?
    diag "ours: $COUNT requests in $((SECONDS - t0)) s: $out"
    if [ "$rc" -eq 0 ]; then pass "$COUNT requests, every one answered"; else fail "genl_fuzz exit $rc"; fi
    if [ "${NEED_EEXIST:-0}" = 1 ]; then
        check "some objects already exist (EEXIST among the $COUNT requests)" test -n "$(grep -o 'EEXIST:' <<< "$out")"
    fi
    # Still a working control plane afterwards: a flush, a service, a listing.
    check "ipvsadm -C after the fuzz" ip netns exec "$ns" ipvsadm -C
    check "ipvsadm -A after the fuzz" ip netns exec "$ns" ipvsadm -A -t 10.9.9.9:80 -s rr
    if ip netns exec "$ns" ipvsadm -Ln | grep -q '^TCP  10.9.9.9:80 rr'; then
        pass "the new service is listed"
    else
        fail "the new service is not listed"
    fi
    ip netns del "$ns"
    unload_ipvs || fail "unloading ours after the fuzz"
else
    fail "loading ours"
fi
finish
