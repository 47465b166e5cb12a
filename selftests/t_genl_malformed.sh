#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Differential: a table of well-formed and malformed generic netlink requests
# (selftests/genl_client.py) must get the same answers from ours as from stock.
. "${0%/*}/lib.sh"

CLIENT=$SELFTESTS_DIR/genl_client.py
NCASES=$(python3 -S "$CLIENT" --list | wc -l)

scenario() {
    local o=$1 ns
    run_capture "$o" python3 -S "$CLIENT"
    # Per-netns state: a fresh netns answers with its own (default) config.
    ns=$(netns_add g1) || { echo "netns add failed" >> "$o"; return; }
    run_capture "$o" ip netns exec "$ns" python3 -S "$CLIENT" --only \
        cmd-13-do cmd-15-do cmd-4-dump cmd-11-dump getsvc-fwmark-absent deldaemon-state1 \
        setcfg-intmax-hz getcfg-after-intmax
    run_capture "$o" python3 -S "$CLIENT" --only getcfg-final
    ip netns del "$ns"
    # Extended acks are compared separately (informational only, see below).
    python3 -S "$CLIENT" --extack > "$o.extack" 2>&1
}

want() {            # want FILE CASE REGEX
    local line
    line=$(grep -m1 "^$2: " "$1")
    if printf '%s\n' "$line" | grep -Eq -- "^$2: $3"; then
        pass "$2 -> $3"
    else
        fail "$2: want /$3/, got '${line#*: }'"
    fi
}

validate() {
    local o=$1 n
    n=$(awk '/^\$ python3 .*genl_client.py$/{f=1;next} f&&/^exit=/{exit} f' "$o" | grep -c '^[a-z0-9-]*: ')
    # family + policy + one line per case
    if [ "$n" -eq $((NCASES + 2)) ]; then pass "$n result lines"; else fail "$n result lines, want $((NCASES + 2))"; fi
    expect_grep "$o" '^family: name=IPVS version=1 hdrsize=0 maxattr=6 ' "family attributes"
    want "$o" cmd-0-do 'ack=EOPNOTSUPP'
    want "$o" cmd-1-do 'ack=EINVAL'
    want "$o" cmd-13-do 'reply\(type=fam flags=0x0\)\{cmd=12 ver=1 4=84030000 5=78000000 6=2c010000\} ack=ok$'
    want "$o" cmd-15-do 'reply\(type=fam flags=0x0\)\{cmd=14 ver=1 1=01020100 2=00100000\} ack=ok$'
    want "$o" cmd-4-dump 'dump msgs=0 done=ok$'
    want "$o" cmd-20-do 'ack=EOPNOTSUPP'
    want "$o" genl-hdr-truncated-2 'ack=EINVAL'
    want "$o" nlmsg-len-below-header 'timeout$'
    want "$o" setcfg-tcp-len2 'ack=ERANGE'
    want "$o" setcfg-huge-all 'ack=EINVAL'
    want "$o" getcfg-after-len8 'reply.* 4=4d000000 '
    want "$o" getsvc-af7 'ack=EAFNOSUPPORT'
    want "$o" getsvc-fwmark-absent 'ack=ESRCH'
    want "$o" getsvc-addr17 'ack=EINVAL'
    want "$o" deldaemon-state1 'ack=ESRCH'
    want "$o" deldaemon-state3 'ack=EINVAL'
    want "$o" newdaemon-non-mcast-group 'ack=EINVAL'
    want "$o" getcfg-after-huge-msg 'reply.* 6=27230000\}'
    # IPv6
    want "$o" newsvc6-mask0 'ack=EINVAL'
    want "$o" newsvc6-mask129 'ack=EINVAL'
    want "$o" newsvc6-mask64 'ack=ok'
    want "$o" setsvc6-mask129 'ack=EINVAL'
    want "$o" newdest6-inet-masq 'ack=EINVAL'
    want "$o" newdest6-inet-droute 'ack=EINVAL'
    want "$o" newdest6-inet-tunnel 'ack=ok'
    want "$o" newdest6-multicast 'ack=EINVAL'
    want "$o" newdest6-masq 'ack=ok'
    want "$o" getcfg-final 'reply.*\{cmd=12 ver=1 4=84030000 5=78000000 6=2c010000\} ack=ok$'
    # Only the deliberate case may time out.
    n=$(grep -c ': .*timeout' "$o")
    if [ "$n" -eq 1 ]; then pass "exactly one timeout"; else fail "$n cases timed out"; fi
    if grep -q '^exit=[1-9]' "$o"; then fail "a client run exited non-zero"; else pass "client runs exit 0"; fi
}

differential scenario validate
# Extended-ack strings and offsets: reported, not required to match.
if [ -f "$DIFF_STOCK_OUT.extack" ] && [ -f "$DIFF_OURS_OUT.extack" ]; then
    if diff_outputs "$DIFF_STOCK_OUT.extack" "$DIFF_OURS_OUT.extack" >/dev/null; then
        diag "extended acks identical too"
    else
        diag "note (not a failure): extended acks differ:"
        diff_outputs "$DIFF_STOCK_OUT.extack" "$DIFF_OURS_OUT.extack"
    fi
fi
finish
