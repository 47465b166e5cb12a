# SPDX-License-Identifier: GPL-2.0
# Shared by the scheduler selftests (t_sched_diff.sh, t_sched_fwmark_diff.sh). Sourced after
# lib.sh, not run.
#
# Topology: a client netns (10.0.0.2 and 32 more addresses 10.0.0.10-41), a director netns
# (VIP 10.0.0.100, and every address of 10.9.0.0/16 local for fwmark services) and three
# real-server netns (172.16.N.2, NAT through the director), each answering every UDP datagram
# and every line on a TCP connection with "RSN:PORT" on ports 80 and 81. The flows are driven
# by `sched_tool.py run` (see its scenario scripts) from the client netns.

VIP=10.0.0.100
# -S: no site initialisation, which costs seconds under TCG (the tool needs the stdlib only).
TOOL=(python3 -S "$REPO_ROOT/selftests/sched_tool.py")
CLIENTS=$(seq -f '10.0.0.%g' 10 41 | xargs)

# topo: builds the netns; sets CL and LVS; the servers answer once this returns.
# Batched: under TCG every exec costs about a second.
topo() {
    local i n
    CL=${NETNS_PREFIX}cl LVS=${NETNS_PREFIX}lvs
    {
        for n in cl lvs rs1 rs2 rs3; do echo "netns add $NETNS_PREFIX$n"; done
        echo "link add c0 netns $CL type veth peer name l0 netns $LVS"
        for i in 1 2 3; do
            echo "link add r0 netns ${NETNS_PREFIX}rs$i type veth peer name l$i netns $LVS"
        done
    } | ip -batch - || return 1
    {
        echo "link set lo up"
        echo "addr add 10.0.0.2/24 dev c0"
        for i in $CLIENTS; do echo "addr add $i/24 dev c0"; done
        echo "link set c0 up"
        echo "route add $VIP via 10.0.0.1"
        echo "route add 10.9.0.0/16 via 10.0.0.1"
    } | ip -n "$CL" -batch - || return 1
    {
        echo "link set lo up"
        echo "addr add 10.0.0.1/24 dev l0"
        echo "link set l0 up"
        echo "addr add $VIP/32 dev lo"
        echo "route add local 10.9.0.0/16 dev lo"
        for i in 1 2 3; do
            echo "addr add 172.16.$i.1/24 dev l$i"
            echo "link set l$i up"
        done
    } | ip -n "$LVS" -batch - || return 1
    ip netns exec "$LVS" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward' || return 1
    for i in 1 2 3; do
        printf '%s\n' "link set lo up" "addr add 172.16.$i.2/24 dev r0" "link set r0 up" \
            "route add default via 172.16.$i.1" | ip -n "${NETNS_PREFIX}rs$i" -batch - || return 1
    done
    # One process serves the three, each from sockets in its own netns (a Python start costs
    # seconds under TCG).
    "${TOOL[@]}" servens 80,81 "${NETNS_PREFIX}rs1:RS1:$TEST_TMP/rs1.ready" \
        "${NETNS_PREFIX}rs2:RS2:$TEST_TMP/rs2.ready" "${NETNS_PREFIX}rs3:RS3:$TEST_TMP/rs3.ready" \
        > /dev/null 2>&1 &
    SERVERS_PID=$!
    for i in $(seq 600); do
        [ -f "$TEST_TMP/rs1.ready" ] && [ -f "$TEST_TMP/rs2.ready" ] && [ -f "$TEST_TMP/rs3.ready" ] &&
            return 0
        sleep 0.1
    done
    echo "real servers did not start"
    return 1
}

SERVERS_PID=
stop_servers() {
    if [ -n "$SERVERS_PID" ]; then
        kill "$SERVERS_PID" 2>/dev/null
        wait "$SERVERS_PID" 2>/dev/null
        SERVERS_PID=
    fi
    rm -f "$TEST_TMP"/rs*.ready
}
at_exit stop_servers

# run_script SCRIPT OUT: runs the scenario script from the client netns, its output to OUT,
# and the time it took per kind of step as diagnostics.
run_script() {
    local start=$SECONDS
    SCHED_TOOL_STATS=$TEST_TMP/stats LVS_NETNS=$LVS \
        ip netns exec "$CL" "${TOOL[@]}" run "$1" > "$2" 2>&1
    diag "flows and commands: $((SECONDS - start)) s"; diag_file "$TEST_TMP/stats"
    rm -f "$TEST_TMP/stats"
}

has_section() { grep -qx -- "== $2" "$1"; }
section() {         # section FILE "NAME": the lines of the section "== NAME"
    awk -v s="== $2" '$0 == s { f = 1; next } /^== / { f = 0 } f' "$1"
}

# check_invariants FILE WANT...: what holds for every scheduler. All commands succeed; each
# section ("== SCHED KIND FLAGS") ran the number of flows WANT gives ("KIND=N" for FLAGS "-",
# "KIND+=N" for other flags) and some were answered; and no new flow goes to a dest while it
# is quiesced (weight 0) or deleted.
check_invariants() {
    local o=$1 n; shift
    n=$(grep -c -e '^exit=[1-9]' -e '^= [^o]' "$o")
    [ "$n" -eq 0 ] && pass "every command succeeded" ||
        fail "$n commands failed: $(grep -B1 -e '^exit=[1-9]' -e '^= [^o]' "$o" | grep -e '^ctl' -e '^\$' | head -3 | xargs)"
    awk -v want_list="$*" '
        BEGIN { n = split(want_list, w, " "); for (i = 1; i <= n; i++) { split(w[i], kv, "="); want[kv[1]] = kv[2] } }
        function dest(server,  a) { split(server, a, /[RS:]+/); return "172.16." a[2] ".2:" a[3] }
        function report(  k) {
            k = (flags == "-") ? kind : kind "+"
            if (flows != want[k]) { print "FAIL " sec ": " flows " flows, not " want[k]; bad = 1 }
            if (answered == 0) { print "FAIL " sec ": no flow of " flows " answered"; bad = 1 }
        }
        /^== / { if (sec != "") report(); sec = substr($0, 4); kind = $3; flags = $4
                 flows = 0; answered = 0; delete off; next }
        /^ctl -e .* -w 0( |$)/ { off[$6] = 1; next }
        /^ctl -e / { delete off[$6]; next }
        /^ctl -d / { off[$6] = 1; next }
        /^ctl -a / { delete off[$6]; next }
        /^(tcp|udp) .* -> / {
            flows++
            if ($NF == "none") next
            answered++
            if (dest($NF) in off) { print "FAIL " sec ": " $0 " went to a quiesced or deleted dest"; bad = 1 }
        }
        END { if (sec != "") report(); if (!bad) print "OK" }
    ' "$o" > "$TEST_TMP/invariants"
    if [ "$(cat "$TEST_TMP/invariants")" = OK ]; then
        pass "$(grep -c '^== ' "$o") sections: flow counts, answers, no flow to a quiesced or deleted dest"
    else
        fail "invariants:"; diag_file "$TEST_TMP/invariants" 20
    fi
}
