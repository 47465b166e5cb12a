# SPDX-License-Identifier: GPL-2.0
# The datapath selftests' topology and traffic helpers. Sourced after lib.sh, not run.
#
#   client netns (br0: 10.0.0.2/24 and TOPO_CLIENT_ADDRS) --veth-- director netns
#   (l0: 10.0.0.1/24, 10.0.1.1/24; VIP 10.0.0.100/32 on lo; l1: 172.16.1.1/24, l2: 172.16.2.1/24)
#   --veth-- real servers RS1 (172.16.1.2), RS2 (172.16.2.2), each served (by one
#   "dp_tool.py servens" for all) on every port of $PORTS.
# NAT: the real servers route back through the director. DR/TUN: the real servers also sit on
# the client's bridge (10.0.0.1i/24, 10.0.1.1i/24) and answer from the VIP on their lo directly.
#
# With TOPO_FAMILY=6 (or after `topo_family 6`) the same layout in IPv6 (NAT and DR; no TUN yet):
# client 2001:db8::2/64 (extra addresses in 2001:db8::/64 or 2001:db8:0:1::/64), director
# 2001:db8::1/64 and 2001:db8:0:1::1/64 on l0, VIP 2001:db8::100/128 on lo, li 2001:db8:i::1/64,
# RSi 2001:db8:i::2/64 (DR: also 2001:db8::1i/64 and 2001:db8:0:1::1i/64 on the client's
# bridge, the VIP/128 on lo), and 2001:db8:9::/64 local on the director (and DR real servers)
# and routed to it by the client, the destinations of firewall-mark services. Every address is
# added "nodad", and each device's link-local address too (addrgenmode none, then fe80::N/64
# nodad): a tentative link-local address would leave a forwarding netns without a source for
# its neighbour solicitations for a second or two (ndisc_send_ns needs a non-tentative one), a
# wait that depends on the host's speed.
# DR needs no sysctl for IPv6: neighbour discovery answers only for addresses of the interface
# a solicitation came in on (ndisc_recv_ns looks the target up strictly on that device), so
# the VIP on a real server's lo is never advertised (IPv4's arp_ignore=1), and a solicitation
# for a forwarded packet whose source is not on the outgoing device (the VIP) is sent from
# that device's link-local address (IPv4's arp_announce=2).
#
# Every process start costs much under TCG on a busy host (about a second), so the topology is
# built with `ip -batch`, waits use bash's read timeout instead of sleep(1), and the traffic
# comes from one long-lived agent process.

# topo_family 4|6: the address family of the topologies built from now on, and its addresses:
# VIP; VIPS, the VIP as ipvsadm writes it before ":PORT" ([...] for IPv6); CL_IP, the client's
# first address; RS_IP[N], real server N's address on its link to the director, and RS_IPS[N]
# as ipvsadm writes it.
TOPO_FAMILY=${TOPO_FAMILY:-4}
RS_IP=() RS_IPS=()
topo_family() {
    local i
    TOPO_FAMILY=$1
    for i in 1 2 3 4; do
        if [ "$1" = 6 ]; then RS_IP[i]=2001:db8:$i::2 RS_IPS[i]=[2001:db8:$i::2]
        else RS_IP[i]=172.16.$i.2 RS_IPS[i]=172.16.$i.2; fi
    done
    if [ "$1" = 6 ]; then VIP=2001:db8::100 VIPS=[2001:db8::100] CL_IP=2001:db8::2
    else VIP=10.0.0.100 VIPS=10.0.0.100 CL_IP=10.0.0.2; fi
}
topo_family "$TOPO_FAMILY"
# -S: no site initialisation, which costs seconds under TCG (the tool needs the stdlib only).
TOOL="python3 -S $REPO_ROOT/selftests/dp_tool.py"
# Extra client source addresses, in 10.0.0.0/24 or 10.0.1.0/24 (10.0.0.2 is always there).
TOPO_CLIENT_ADDRS=${TOPO_CLIENT_ADDRS:-}
# Number of real servers (1..4).
TOPO_NRS=${TOPO_NRS:-2}

# nap SECONDS: sleep without starting a process (a read that times out on a FIFO nobody writes)
NAP_FD=
nap() {
    if [ -z "$NAP_FD" ]; then
        mkfifo "$TEST_TMP/nap.fifo"
        exec {NAP_FD}<>"$TEST_TMP/nap.fifo"
    fi
    read -r -t "$1" -u "$NAP_FD" _
    return 0
}

# topo MODE: builds the netns and starts the servers on $PORTS; sets CL LVS RS1 RS2 (RS3 RS4).
# In the family TOPO_FAMILY (see topo_family).
SERVERS_PID=
topo() {
    local mode=$1 i rs a specs=() stale=() tun_rp=() v6= srv_opt=()
    CL=${NETNS_PREFIX}cl LVS=${NETNS_PREFIX}lvs
    if [ "$TOPO_FAMILY" = 6 ]; then
        [ "$mode" != tun ] || { diag "topo: no IPv6 topology for tun"; return 1; }
        v6=1 srv_opt=(-6)
    fi
    for ((i = 1; i <= TOPO_NRS; i++)); do eval "RS$i=${NETNS_PREFIX}rs$i"; done
    servers_stop    # those of an earlier topology that failed half-way
    {
        echo "netns add $CL"
        echo "netns add $LVS"
        for ((i = 1; i <= TOPO_NRS; i++)); do echo "netns add ${NETNS_PREFIX}rs$i"; done
        echo "link add c0 netns $CL type veth peer name l0 netns $LVS"
        for ((i = 1; i <= TOPO_NRS; i++)); do
            echo "link add r0 netns ${NETNS_PREFIX}rs$i type veth peer name l$i netns $LVS"
            # DR/TUN: replies bypass the director over the client's LAN, as in upstream's ipvs.sh.
            [ "$mode" = nat ] || echo "link add cr$i netns $CL type veth peer name c0 netns ${NETNS_PREFIX}rs$i"
        done
    } | ip -batch - || return 1
    # One process serves every real server, each from sockets (on 0.0.0.0, or :: for IPv6) in
    # its own netns: started now, so that its start overlaps the configuration below.
    for ((i = 1; i <= TOPO_NRS; i++)); do
        stale+=("$TEST_TMP/rs$i.log" "$TEST_TMP/rs$i.log.ready")
        specs+=("${NETNS_PREFIX}rs$i:RS$i:$TEST_TMP/rs$i.log")
    done
    # Each topology (each module, each mode) counts from zero.
    rm -f "${stale[@]}"
    $TOOL servens "${srv_opt[@]}" "${PORTS// /,}" "${specs[@]}" &
    SERVERS_PID=$!
    {
        echo "link set lo up"
        echo "link add br0 type bridge"
        if [ -n "$v6" ]; then
            # No link-local address of the kernel's (tentative at first): br0's own, nodad;
            # the bridge ports need none.
            echo "link set br0 addrgenmode none"
            echo "link set c0 addrgenmode none"
            for ((i = 1; i <= TOPO_NRS; i++)); do
                [ "$mode" = nat ] || echo "link set cr$i addrgenmode none"
            done
            echo "addr add fe80::2/64 dev br0 nodad"
        fi
        echo "link set c0 master br0"
        echo "link set c0 up"
        for ((i = 1; i <= TOPO_NRS; i++)); do
            [ "$mode" = nat ] || { echo "link set cr$i master br0"; echo "link set cr$i up"; }
        done
        echo "link set br0 up"
        if [ -n "$v6" ]; then
            echo "addr add 2001:db8::2/64 dev br0 nodad"
            for a in $TOPO_CLIENT_ADDRS; do
                [ "$a" = 2001:db8::2 ] || echo "addr add $a/64 dev br0 nodad"
            done
            echo "route add $VIP via 2001:db8::1"
            echo "route add 2001:db8:9::/64 via 2001:db8::1"
        else
            echo "addr add 10.0.0.2/24 dev br0"
            for a in $TOPO_CLIENT_ADDRS; do
                [ "$a" = 10.0.0.2 ] || echo "addr add $a/24 dev br0"
            done
            echo "route add $VIP via 10.0.0.1"
        fi
    } | ip -n "$CL" -batch - || return 1
    {
        echo "link set lo up"
        if [ -n "$v6" ]; then
            for ((i = 0; i <= TOPO_NRS; i++)); do
                echo "link set l$i addrgenmode none"
                echo "addr add fe80::1/64 dev l$i nodad"
            done
            echo "addr add 2001:db8::1/64 dev l0 nodad"
            echo "addr add 2001:db8:0:1::1/64 dev l0 nodad"
        else
            echo "addr add 10.0.0.1/24 dev l0"
            echo "addr add 10.0.1.1/24 dev l0"
        fi
        echo "link set l0 up"
        if [ -n "$v6" ]; then
            echo "addr add $VIP/128 dev lo nodad"
            echo "route add local 2001:db8:9::/64 dev lo"
        else
            echo "addr add $VIP/32 dev lo"
        fi
        for ((i = 1; i <= TOPO_NRS; i++)); do
            if [ -n "$v6" ]; then echo "addr add 2001:db8:$i::1/64 dev l$i nodad"
            else echo "addr add 172.16.$i.1/24 dev l$i"; fi
            echo "link set l$i up"
        done
    } | ip -n "$LVS" -batch - || return 1
    lvs_sh_start || return 1
    if [ -n "$v6" ]; then
        lvs sysctl -qw net.ipv6.conf.all.forwarding=1
    else
        lvs sysctl -qw net.ipv4.ip_forward=1
    fi
    for ((i = 1; i <= TOPO_NRS; i++)); do
        rs=${NETNS_PREFIX}rs$i
        if [ -n "$v6" ]; then
            {
                echo "link set lo up"
                echo "link set r0 addrgenmode none"
                echo "addr add fe80::2/64 dev r0 nodad"
                echo "addr add 2001:db8:$i::2/64 dev r0 nodad"
                echo "link set r0 up"
                if [ "$mode" = nat ]; then
                    echo "route add ::/0 via 2001:db8:$i::1"
                else
                    echo "link set c0 addrgenmode none"
                    echo "addr add fe80::1$i/64 dev c0 nodad"
                    echo "addr add 2001:db8::1$i/64 dev c0 nodad"
                    echo "addr add 2001:db8:0:1::1$i/64 dev c0 nodad"
                    echo "link set c0 up"
                    echo "addr add $VIP/128 dev lo nodad"
                    echo "route add local 2001:db8:9::/64 dev lo"
                fi
            } | ip -n "$rs" -batch - || return 1
            continue
        fi
        {
            echo "link set lo up"
            echo "addr add 172.16.$i.2/24 dev r0"
            echo "link set r0 up"
            if [ "$mode" = nat ]; then
                echo "route add default via 172.16.$i.1"
            else
                echo "addr add 10.0.0.1$i/24 dev c0"
                echo "addr add 10.0.1.1$i/24 dev c0"
                echo "link set c0 up"
                echo "addr add $VIP/32 dev lo"
                [ "$mode" = tun ] && echo "link set tunl0 up"
            fi
        } | ip -n "$rs" -batch - || return 1
        if [ "$mode" != nat ]; then
            [ "$mode" = tun ] && tun_rp=(net.ipv4.conf.tunl0.rp_filter=0)
            ip netns exec "$rs" sysctl -qw net.ipv4.conf.all.arp_ignore=1 \
                net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.all.rp_filter=0 \
                net.ipv4.conf.r0.rp_filter=0 "${tun_rp[@]}"
        fi
    done
    for ((i = 1; i <= TOPO_NRS; i++)); do
        a=0
        while [ ! -e "$TEST_TMP/rs$i.log.ready" ]; do
            a=$((a + 1))
            [ $a -le 300 ] || { diag "server RS$i did not start"; return 1; }
            nap 0.1
        done
    done
}

stop_servers() {
    agent_stop
    lvs_holder_stop
    lvs_sh_stop
    servers_stop
}

# One process serves every real server (its threads go with it).
servers_stop() {
    [ -n "$SERVERS_PID" ] || return 0
    kill "$SERVERS_PID" 2>/dev/null
    wait "$SERVERS_PID" 2>/dev/null
    SERVERS_PID=
}
at_exit servers_stop

# The director's /proc/net files, read without starting a process per read: a process that
# sleeps in the director's netns shows that netns's files under /proc/PID/net.
LVS_HOLDER=
at_exit lvs_holder_stop
lvs_proc() {        # lvs_proc FILE: /proc/net/FILE of the director netns into LVS_PROC
    local a=0
    if [ -z "$LVS_HOLDER" ] || [ ! -e "/proc/$LVS_HOLDER/net" ]; then
        ip netns exec "$LVS" sleep 100000 < /dev/null > /dev/null 2>&1 &
        LVS_HOLDER=$!
        # Until `ip netns exec` has entered the netns, PID's files are ours.
        until [ "/proc/$LVS_HOLDER/ns/net" -ef "/run/netns/$LVS" ]; do
            a=$((a + 1))
            [ $a -le 600 ] || { diag "lvs_proc: no process in $LVS"; LVS_PROC=; return 1; }
            nap 0.05
        done
    fi
    LVS_PROC=
    IFS= read -r -d '' LVS_PROC < "/proc/$LVS_HOLDER/net/$1"
    return 0
}
lvs_holder_stop() {
    [ -n "$LVS_HOLDER" ] || return 0
    kill "$LVS_HOLDER" 2>/dev/null
    wait "$LVS_HOLDER" 2>/dev/null
    LVS_HOLDER=
}

# estimator_rounds: returns once the director's rate estimator has run over every service and
# dest at least once since the call. Stock ip_vs copies its per-CPU counters into what
# `--stats` and /proc/net/ip_vs_stats report only when its estimator kthread reaches them
# (each estimator once per 2 s round, spread over the round; a new one waits about a round
# first; later on a busy host); ipvs_rs reports them at once. The totals' rates in
# /proc/net/ip_vs_stats change at each of the totals' estimations while there was traffic in
# the last minute or so (the averages decay), so three changes seen after the call are two
# whole rounds of the estimator after it, whatever the host's speed. Gives up (with a
# diagnostic, the listings then show what they show) after 60 s without three changes.
# With ipvs_rs loaded there is nothing to wait for.
estimator_rounds() {
    local prev cur changes=0 deadline=$((SECONDS + 60))
    module_loaded ip_vs || return 0
    lvs_proc ip_vs_stats || return 1
    prev=${LVS_PROC##*Bytes/s}
    while [ $changes -lt 3 ]; do
        if [ $SECONDS -ge $deadline ]; then
            diag "estimator_rounds: the totals' rates changed $changes times in 60 s, not 3"
            return 1
        fi
        nap 0.1
        lvs_proc ip_vs_stats || return 1
        cur=${LVS_PROC##*Bytes/s}
        [ "$cur" = "$prev" ] || changes=$((changes + 1))
        prev=$cur
    done
    return 0
}

# wait_entries_gone LINE_RE [MAX_S]: waits until no line of the director's
# /proc/net/ip_vs_conn (upper-case hex: "TCP 0A000002 9C41 0A000064 0050 AC100102 0050
# FIN_WAIT 1") matches the extended regex LINE_RE: a condition, not a time, so a busy host
# only makes it take longer. Fails (with a diagnostic) after MAX_S seconds (default 60).
wait_entries_gone() {
    local re=$1 deadline=$((SECONDS + ${2:-60})) line left
    while :; do
        lvs_proc ip_vs_conn || return 1
        left=
        while IFS= read -r line; do
            [[ $line == "Pro "* ]] && continue      # the header
            [[ $line =~ $re ]] && { left=$line; break; }
        done <<< "$LVS_PROC"
        [ -z "$left" ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            diag "wait_entries_gone: still listed after ${2:-60} s: $left"
            return 1
        fi
        nap 0.1
    done
}
# Every TCP state but ESTABLISHED, as /proc/net/ip_vs_conn names them.
TCP_NOT_EST_RE='^TCP .* (NONE|SYN_SENT|SYN_RECV|FIN_WAIT|TIME_WAIT|CLOSE|CLOSE_WAIT|LAST_ACK|LISTEN|SYNACK) '

# received LOG: "tcp BYTES udp BYTES" totals of one real server's log
received() {
    awk '{t[$1]+=$2; n[$1]++} END {printf "tcp %d/%d udp %d/%d\n", n["tcp"], t["tcp"], n["udp"], t["udp"]}' "$1" 2>/dev/null
}

# lvs CMD...: run CMD in the director netns, bounded in time (60 s), with the caller's stdin,
# stdout and stderr (both into one file, in order, when the caller has them on one file).
# Once topo has started the director shell (lvs_sh_start) the command runs there: a process
# per command costs about 0.5 s under TCG (`timeout` and `ip netns exec`, which makes a mount
# namespace), the shell only starts CMD itself, and `sysctl -qw`/`sysctl -n` of plain keys are
# file writes and reads of its own. Without it (no topo, or in a netns other than $LVS) CMD
# runs in a process of its own, as before. One caller at a time (as with `ag`): the shell's
# answers go to whoever reads them first.
lvs() {
    local tok cmd line rc merge=0 s=
    if [ -z "$LVS_SH_PID" ] || [ "$LVS_SH_NS" != "$LVS" ] ||
        ! [ "/proc/$LVS_SH_PID/ns/net" -ef "/run/netns/$LVS" ]; then
        timeout -k 5 60 ip netns exec "$LVS" "$@"
        return
    fi
    [ /dev/stdout -ef /dev/stderr ] && merge=1
    tok=$BASHPID.$EPOCHREALTIME
    printf -v cmd '%q ' "$@"
    printf '%s\t%s\t%s\t%s\n' "$tok" "$BASHPID" "$merge" "$cmd" >&"$LVS_SH_CMD"
    while :; do
        if ! read -r -t 65 -u "$LVS_SH_ANS" line; then
            echo "lvs: no answer in 65 s (director shell stopped): $*" >&2
            pkill -P "$LVS_SH_PID" 2>/dev/null
            kill "$LVS_SH_PID" 2>/dev/null
            return 124
        fi
        [ "${line#"done $tok "}" != "$line" ] && break
    done
    rc=${line##* }
    IFS= read -r -d '' s < "$TEST_TMP/lvs.out"
    printf '%s' "$s"
    if [ $merge = 0 ]; then
        s=
        IFS= read -r -d '' s < "$TEST_TMP/lvs.err"
        printf '%s' "$s" >&2
    fi
    return "$rc"
}

# The director shell's loop (run in the director netns by lvs_sh_start): one line per command,
# "TOKEN<tab>CALLER_PID<tab>MERGE<tab>CMD" (CMD quoted for eval), answered "done TOKEN STATUS"
# once CMD's output is in LVS_SH_OUT.out (and .err unless MERGE). CMD runs in a subshell
# with the caller's stdin (/proc/CALLER_PID/fd/0).
_lvs_serve() {
    local tok pid merge cmd rc in
    while IFS=$'\t' read -r tok pid merge cmd; do
        [ "$tok" = quit ] && return 0
        in=/proc/$pid/fd/0
        [ -r "$in" ] || in=/dev/null
        rc=0
        if [ "$merge" = 1 ]; then
            ( eval "$cmd" ) < "$in" > "$LVS_SH_OUT.out" 2>&1 || rc=$?
        else
            ( eval "$cmd" ) < "$in" > "$LVS_SH_OUT.out" 2> "$LVS_SH_OUT.err" || rc=$?
        fi
        printf 'done %s %d\n' "$tok" "$rc"
    done
}
# sysctl in the director shell: "-qw KEY=VALUE..." and "-n KEY" of keys that name a file under
# /proc/sys are done with the shell's own writes and reads; anything else, or a write the
# kernel refuses (for sysctl's own message and status), goes to the real sysctl.
_lvs_sysctl() {
    local a k x
    case "$1" in
        -qw)
            for a in "${@:2}"; do
                k=${a%%=*}
                [[ $a == *=* && $k =~ ^[A-Za-z0-9_.]+$ && -w /proc/sys/${k//.//} ]] || { command sysctl "$@"; return; }
            done
            for a in "${@:2}"; do
                k=${a%%=*}
                { echo "${a#*=}" > "/proc/sys/${k//.//}"; } 2> /dev/null || { command sysctl "$@"; return; }
            done
            return 0 ;;
        -n)
            if [ $# -eq 2 ] && [[ $2 =~ ^[A-Za-z0-9_.]+$ ]] && [ -r "/proc/sys/${2//.//}" ] && [ ! -d "/proc/sys/${2//.//}" ]; then
                IFS= read -r -d '' x < "/proc/sys/${2//.//}"
                printf '%s' "$x"
                return 0
            fi ;;
    esac
    command sysctl "$@"
}

# lvs_sh_start: the director shell, in $LVS (topo starts it; stopped by lvs_sh_stop, by
# stop_servers and by cleanup_netns).
LVS_SH_PID= LVS_SH_NS=
lvs_sh_start() {
    lvs_sh_stop
    if [ -z "${LVS_SH_CMD:-}" ]; then
        mkfifo "$TEST_TMP/lvs.cmd" "$TEST_TMP/lvs.ans" || return 1
        exec {LVS_SH_CMD}<>"$TEST_TMP/lvs.cmd" {LVS_SH_ANS}<>"$TEST_TMP/lvs.ans"
    fi
    # shellcheck disable=SC2016
    ip netns exec "$LVS" bash -c "$(declare -f _lvs_serve _lvs_sysctl)"'
        sysctl() { _lvs_sysctl "$@"; }
        LVS_SH_OUT=$1; _lvs_serve' _ "$TEST_TMP/lvs" <&"$LVS_SH_CMD" >&"$LVS_SH_ANS" 2> /dev/null &
    LVS_SH_PID=$! LVS_SH_NS=$LVS
}
lvs_sh_stop() {
    [ -n "$LVS_SH_PID" ] || return 0
    kill "$LVS_SH_PID" 2> /dev/null
    wait "$LVS_SH_PID" 2> /dev/null
    LVS_SH_PID= LVS_SH_NS=
}
at_exit lvs_sh_stop

# capture_fn FILE FN...: like run_capture, for a shell function (whose commands are bounded
# themselves; timeout(1) cannot run a function)
capture_fn() {
    local f=$1 rc=0; shift
    printf '$ %s\n' "$*" >> "$f"
    "$@" >> "$f" 2>&1 </dev/null || rc=$?
    printf 'exit=%d\n' "$rc" >> "$f"
}

# ipvs_restore FILE < RULES: the ipvsadm commands of RULES (one "-A ..." a line) in one
# `ipvsadm -R` in the director, its output and exit code appended to FILE (with the rules)
ipvs_restore() {
    local f=$1 rules= rc=0
    IFS= read -r -d '' rules     # all of stdin, without a process
    rules=${rules%$'\n'}
    printf '$ ipvsadm -R <<\n%s\n' "$rules" >> "$f"
    printf '%s\n' "$rules" | lvs ipvsadm -R >> "$f" 2>&1 || rc=$?
    printf 'exit=%d\n' "$rc" >> "$f"
}

# CONNS_AWK: awk program over `ipvsadm -Lnc`, sorted after: the client's port of ordinary
# connections replaced by "*" (the client's kernel picks it) and the expiry left out (it
# counts down in seconds while the test runs, so one second of scheduling jitter changes it).
# Templates keep their port (0) since it is part of what they show. Columns: pro state
# source virtual destination.
CONNS_AWK='NR>2 { if ($4 !~ /:0$/) sub(/:[0-9]+$/, ":*", $4); print $1, $3, $4, $5, $6 }'
conns_masked() {
    lvs ipvsadm -Lnc | awk "$CONNS_AWK" | sort
}

# snapshot FILE LABEL [LISTING...]: "-- LABEL", then `ipvsadm -Ln` and each extra listing's
# options (e.g. "--persistent-conn"), then the masked connection table, in one director shell
snapshot() {
    local f=$1 label=$2 opt cmd="ipvsadm -Ln"; shift 2
    for opt in "$@"; do cmd="$cmd; echo '\$ ipvsadm -Ln $opt'; ipvsadm -Ln $opt"; done
    echo "-- $label" >> "$f"
    lvs sh -c "$cmd; echo '\$ ipvsadm -Lnc (masked)'; ipvsadm -Lnc | awk '$CONNS_AWK' | sort" >> "$f" 2>&1
}

# counters_vs_entries FILE LABEL: each dest's ActiveConn/InActConn of `ipvsadm -Ln` against
# the entries `ipvsadm -Lnc` lists for it (active: TCP/SCTP ESTABLISHED, as UDP connections
# always count inactive; templates left out), "match" or both figures. Unlike the counters themselves this does not depend on
# how many entries have expired by now, so it is stable across runs and still catches a
# counter that an entry's end did not decrement. Listed in one director shell between two
# listings of the entries, and retried until no entry came, went or changed state between
# them (their expiry column, which counts down every second, left out): entries expire one by
# one, so this holds at the latest once the last one has gone, however slow the host.
counters_vs_entries() {
    local f=$1 label=$2 out deadline=$((SECONDS + 300))
    while :; do
        out=$(lvs sh -c 'ipvsadm -Lnc; echo "%%"; ipvsadm -Ln; echo "%%"; ipvsadm -Lnc' 2>&1 | awk '
            BEGIN { part = 0 }
            $0 == "%%" { part++; next }
            part == 1 { ln = ln $0 "\n"; next }
            { line = $0; $2 = ""; masked[part] = masked[part] $0 "\n"; if (part == 0) conns = conns line "\n" }
            END { if (part != 2 || masked[0] != masked[2]) print "CHANGED"; else printf "%s%%%%\n%s", ln, conns }')
        case $out in *CHANGED*) ;; *) break ;; esac
        if [ $SECONDS -ge $deadline ]; then
            echo "-- $label: counters vs entries: the entries never held still for one listing in 300 s" >> "$f"
            return
        fi
        nap 0.2
    done
    echo "-- $label: counters vs entries" >> "$f"
    printf '%s\n' "$out" | awk '
        $0 == "%%" { conns = 1; next }
        !conns && $1 == "->" && $2 ~ /:[0-9]+$/ { act[$2] = $5; inact[$2] = $6; order[++n] = $2; next }
        conns && ($1 == "TCP" || $1 == "UDP" || $1 == "SCTP") {
            if ($3 == "NONE" || $3 == "ASSURED") next
            if ($3 == "ESTABLISHED") a[$6]++; else i[$6]++
        }
        END {
            for (k = 1; k <= n; k++) {
                d = order[k]
                if (act[d] == a[d] + 0 && inact[d] == i[d] + 0) print d, "match"
                else print d, "counters", act[d] "/" inact[d], "entries", a[d] + 0 "/" i[d] + 0
            }
        }' >> "$f"
}

# A test that runs in several forwarding modes defines one_mode O MODE (one topology, its
# output under "== mode MODE") and validate_mode PART MODE, and hands these two to
# `differential`. MODES: the modes, in order.
MODES="nat dr"
per_mode_scenario() {
    local o=$1 mode
    for mode in $MODES; do
        one_mode "$o" "$mode"
    done
}
per_mode_validate() {
    local o=$1 mode
    for mode in $MODES; do
        awk -v m="== mode $mode" '$0==m{f=1;next} /^== mode/{f=0} f' "$o" > "$TEST_TMP/$mode.part"
        validate_mode "$TEST_TMP/$mode.part" "$mode"
    done
}

# pmtu NS ADDR: the path MTU netns NS has learnt towards ADDR (nothing while it has none).
# One process (`ip -n`, parsed by bash): tests poll it, and each process start costs about a
# second under TCG on a busy host.
pmtu() {
    local route
    route=$(ip -n "$1" route get "$2")
    [[ $route =~ \ mtu\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
    return 0
}

# The traffic agent: one "dp_tool.py agent" in the client netns runs every traffic command
# of a test. agent_start after topo; "ag CMD" prints CMD's result lines (see dp_tool.py
# agent), or fails if the agent has not answered in 90 s. Commands and answers go through two
# FIFOs the shell keeps open (no process per command).
AGENT_PID=
agent_start() {
    local cmd=$TEST_TMP/agent.cmd ans=$TEST_TMP/agent.ans
    rm -f "$cmd" "$ans"
    mkfifo "$cmd" "$ans"
    exec {AGENT_CMD_FD}<>"$cmd" {AGENT_ANS_FD}<>"$ans"
    AGENT_N=0
    ip netns exec "$CL" $TOOL agent "$cmd" "$ans" &
    AGENT_PID=$!
}

# ag CMD...: must not run in a subshell (it counts the commands); redirect its output.
ag() {
    local line
    AGENT_N=$((AGENT_N + 1))
    echo "$*" >&"$AGENT_CMD_FD"
    while read -r -t 90 -u "$AGENT_ANS_FD" line; do
        [ "$line" = "done $AGENT_N" ] && return 0
        printf '%s\n' "$line"
    done
    echo "agent: no answer to: $*"
    return 1
}

agent_stop() {
    [ -n "$AGENT_PID" ] || return 0
    ag quit > /dev/null
    kill "$AGENT_PID" 2>/dev/null
    wait "$AGENT_PID" 2>/dev/null
    exec {AGENT_CMD_FD}>&- {AGENT_ANS_FD}>&-
    AGENT_PID=
}

# ag_to FILE LABEL CMD...: the agent's answer lines to CMD, appended to FILE as "LABEL: LINE"
ag_to() {
    local f=$1 label=$2 line; shift 2
    ag "$@" > "$TEST_TMP/ag.last"
    while IFS= read -r line; do printf '%s: %s\n' "$label" "$line"; done < "$TEST_TMP/ag.last" >> "$f"
}
