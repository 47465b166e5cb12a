#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The guest half of `make bench` (run by bench/run through tools/vm-run, as root, in the repo
# root). Measures stock ip_vs, ipvs_rs.ko and plain IP forwarding in this one boot, alternating
# the modules A B, B A, A B (see in_turn), and writes one CSV row per measurement to
# $BENCH_OUT/runs.csv.
#
# The network, all inside the guest (every box a network namespace):
#
#   [client] 10.0.0.2-9 -- veth -- 10.0.0.1 [director] 172.16.0.1 -- veth --> 172.16.0.2  [rs1]
#            pktgen, tcp_cc           VIP 10.10.10.10 on lo       -- veth --> 172.16.0.3  [rs2] ...
#
# Each real server has the VIP on lo (for DR), a default route back through the director, an
# nft rule that counts and drops the UDP load (port 9) before routing, and a tcp_cc server on
# port 80. The load comes from pktgen (in-kernel, one thread, CPU 0) in the client netns; what
# the real servers receive is counted where the director's veths hand it to them.
#
# Settings (environment; defaults below): BENCH_OUT (required), BENCH_ROUNDS, BENCH_SECONDS (per
# measurement), BENCH_RS (real servers), BENCH_FLOWS (established flows), BENCH_SCALE_LEVELS,
# BENCH_SCALE_MODULES (the 20 variants load with conn_tab_bits=20), BENCH_CTL_SERVICES,
# BENCH_CTL_DESTS, BENCH_CTL_CHURN, BENCH_CTL_TIMEOUT, BENCH_MANY_SERVICES,
# BENCH_TCP_CONCURRENCY, BENCH_WORKLOADS, BENCH_BASELINE_KO (another ipvs_rs.ko, measured as
# "baseline"), BENCH_PERF (profile the UDP measurements), BENCH_REPO (the repository).
set -uo pipefail

# bench/run runs a copy of this script (editing the original mid-run cannot disturb it).
. "${BENCH_REPO:-$(dirname "$0")/..}/selftests/lib.sh"     # load_ours, unload_ipvs, kmodprobe, cleanup
NETNS_PREFIX=ipvsbench-

OUT=${BENCH_OUT:?BENCH_OUT must name the output directory}
ROUNDS=${BENCH_ROUNDS:-4}
SECONDS_PER_RUN=${BENCH_SECONDS:-3}
N_RS=${BENCH_RS:-4}
FLOWS=${BENCH_FLOWS:-64}
SCALE_LEVELS=${BENCH_SCALE_LEVELS:-10000 100000 1000000}
SCALE_MODULES=${BENCH_SCALE_MODULES:-stock stock20 ipvs_rs}
CTL_SERVICES=${BENCH_CTL_SERVICES:-10000}
CTL_DESTS=${BENCH_CTL_DESTS:-10}
CTL_CHURN=${BENCH_CTL_CHURN:-1000}
CTL_TIMEOUT=${BENCH_CTL_TIMEOUT:-300}
MANY_SERVICES=${BENCH_MANY_SERVICES:-10000}
TCP_CONCURRENCY=${BENCH_TCP_CONCURRENCY:-32}
WORKLOADS=${BENCH_WORKLOADS:-est_dr est_nat plain newflow_nat newflow_many tcp_nat tcp_nat_pinned scale ctl}
TCP_CC=$REPO_ROOT/build/tcp_cc
[ -z "${BENCH_PERF:-}" ] || [ -x "$REPO_ROOT/build/udp_flood" ] || { echo "no build/udp_flood" >&2; exit 1; }

VIP=10.10.10.10
UDP_PORT=9
TCP_PORT=80
C=${NETNS_PREFIX}client
D=${NETNS_PREFIX}director
CLIENT_ADDRS=(10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7 10.0.0.8 10.0.0.9)
rs_ns() { echo "${NETNS_PREFIX}rs$1"; }
rs_addr() { echo "172.16.0.$(($1 + 1))"; }

mkdir -p "$OUT"
CSV=$OUT/runs.csv
LOG=$OUT/guest.log
echo "round,workload,module,metric,value,unit,conns,sent,received,seconds,note" > "$CSV"
SERVER_PIDS=()
kill_servers() { local p; for p in "${SERVER_PIDS[@]}"; do kill "$p"; done; }
at_exit kill_servers

now() { echo "${EPOCHREALTIME/./}"; }   # microseconds
elapsed() { # elapsed T0: seconds since T0 (from now), with 3 decimals
    local d=$(($(now) - $1))
    printf '%d.%03d' $((d / 1000000)) $((d / 1000 % 1000))
}
T_START=$(now)
log() { echo "bench: [$(elapsed "$T_START")] $*" | tee -a "$LOG" >&2; }
die_bench() { log "FAILED: $*"; exit 1; }
# record ROUND WORKLOAD MODULE METRIC VALUE UNIT [CONNS SENT RECEIVED SECONDS NOTE]
record() {
    local IFS=,
    echo "$*" | awk -F, -v OFS=, '{ for (i = NF + 1; i <= 11; i++) $i = ""; print }' >> "$CSV"
    log "result: $*"
}

# ------------------------------------------------------------------ network
topo_up() {
    local i ns dmac
    kmodprobe veth || die_bench "modprobe veth"
    kmodprobe pktgen || die_bench "modprobe pktgen"
    cleanup_netns
    netns_add client > /dev/null && netns_add director > /dev/null || die_bench "netns"
    {
        echo "link add c0 type veth peer name d0 netns $D"
        echo "link set c0 up"
        for a in "${CLIENT_ADDRS[@]}"; do echo "addr add $a/24 dev c0"; done
        echo "route add default via 10.0.0.1"
    } | ip -n "$C" -batch - || die_bench "client setup"
    {
        echo "link set d0 up"
        echo "addr add 10.0.0.1/24 dev d0"
        echo "addr add $VIP/32 dev lo"
    } | ip -n "$D" -batch - || die_bench "director setup"
    for i in $(seq 1 "$N_RS"); do
        ns=$(netns_add "rs$i") || die_bench "netns rs$i"
        ip -n "$D" link add "r$i" type veth peer name eth0 netns "$ns" || die_bench "veth r$i"
        {
            echo "link set r$i up"
            echo "addr add 172.16.0.1/32 dev r$i"
            echo "route add $(rs_addr "$i")/32 dev r$i"
        } | ip -n "$D" -batch - || die_bench "director r$i"
        {
            echo "link set eth0 up"
            echo "addr add $(rs_addr "$i")/32 dev eth0"
            echo "addr add $VIP/32 dev lo"
            echo "route add 172.16.0.1/32 dev eth0"
            echo "route add default via 172.16.0.1"
        } | ip -n "$ns" -batch - || die_bench "rs$i setup"
        ip netns exec "$ns" sh -c '
            sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
            sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0' || die_bench "rs$i sysctl"
        ip netns exec "$ns" nft -f - <<EOF || die_bench "rs$i nft"
table inet bench {
    counter rx { }
    chain pre { type filter hook prerouting priority raw; policy accept; udp dport $UDP_PORT counter name rx drop; }
}
EOF
        ip netns exec "$ns" "$TCP_CC" server "$TCP_PORT" > "$OUT/tcp_server_rs$i.log" 2>&1 &
        SERVER_PIDS+=($!)
    done
    ip netns exec "$D" sh -c '
        sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.d0.rp_filter=0' ||
        die_bench "director sysctl"
    ip netns exec "$C" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" || die_bench "client sysctl"
    dmac=$(ip -n "$D" -br link show d0 | awk '{ print $3 }')
    [ -n "$dmac" ] || die_bench "no MAC of d0"
    DIRECTOR_MAC=$dmac
    for i in $(seq 1 "$N_RS"); do
        grep -q ready "$OUT/tcp_server_rs$i.log" 2>/dev/null || sleep 1
    done
    # Every real server answers the client through the director (this also resolves the
    # director's neighbours before anything is timed).
    for i in $(seq 1 "$N_RS"); do
        ip netns exec "$C" "$TCP_CC" client "$(rs_addr "$i")" "$TCP_PORT" 0.3 1 10.0.0.2 > /dev/null ||
            die_bench "client cannot reach rs$i through the director"
    done
}

# Packets the real servers received: what the director's veths delivered into their input
# queues (a veth counts a packet as sent only once its peer has queued it), read in one process.
rs_received() {
    ip netns exec "$D" sh -c 'cat /sys/class/net/r*/statistics/tx_packets' | awk '{ n += $1 } END { print n + 0 }'
}

# pktgen's rem_device_all only flags the thread, which removes its devices when it next wakes
# (it polls every 100 ms; later on a busy host); a device added before then is refused. The
# generated scripts define "gone FILE...", which waits until those device files have gone.
PKTGEN_GONE='gone() { local f n; for f; do n=0; while [ -e "$f" ]; do n=$((n + 1)); [ $n -le 1200 ] || { echo "pktgen: $f not removed" >&2; exit 1; }; sleep 0.05; done; done; }'

# pktgen SECONDS|count=N SETTING...: one pktgen run on c0 (client netns, thread of CPU 0),
# for SECONDS, or until N packets are sent. Prints "sent usec".
pktgen() {
    local how=$1; shift
    local script=$OUT/pktgen.cmd s
    {
        echo "cd /proc/net/pktgen || exit 1"
        echo "$PKTGEN_GONE"
        echo "echo rem_device_all > kpktgend_0"
        echo "gone c0 c0@0"
        echo "echo add_device c0 > kpktgend_0"
        for s in "count 0" "clone_skb 0" "pkt_size 60" "delay 0" "dst_mac $DIRECTOR_MAC" \
                 "udp_dst_min $UDP_PORT" "udp_dst_max $UDP_PORT" "$@"; do
            echo "echo '$s' > c0 || { echo 'pktgen: $s refused' >&2; exit 1; }"
        done
        case "$how" in
            count=*)
                echo "echo 'count ${how#count=}' > c0"
                echo "echo start > pgctrl" ;;
            *)
                echo "echo start > pgctrl & sleep $how; echo stop > pgctrl; wait" ;;
        esac
        echo "cat c0"
    } > "$script"
    ip netns exec "$C" bash "$script" > "$OUT/pktgen.out" 2>&1 || { cat "$OUT/pktgen.out" >&2; return 1; }
    # "Result: OK: 5000394(c4999811+d583) usec, 123456 (60byte,0frags)"
    sed -n 's/^Result: OK: \([0-9]*\)(.*usec, \([0-9]*\) (.*/\2 \1/p' "$OUT/pktgen.out"
}

# A fixed set of FLOWS UDP flows from the client to DST (or the range DST-DST_MAX).
pktgen_fixed_flows() {
    local secs=$1 dst=$2 dst_max=${3:-$2}
    pktgen "$secs" "dst_min $dst" "dst_max $dst_max" "src_min 10.0.0.2" "src_max 10.0.0.2" \
        "udp_src_min 10000" "udp_src_max $((10000 + FLOWS))"
}

# The same flows from a process (bench/udp_flood), for profiling: perf cannot sample pktgen's
# kernel thread under TCG, but it sees the datapath run in the sending process's context.
udpgen_fixed_flows() {
    local secs=$1 dst=$2 out
    out=$(ip netns exec "$C" "$REPO_ROOT/build/udp_flood" "$dst" "$UDP_PORT" "$secs" 10.0.0.2 10000 "$FLOWS") ||
        return 1
    awk '{ printf "%d %d\n", $2, $4 * 1e6 }' <<< "$out"
}

# Every packet a new flow: random source address (10.128.0.0/9) and port.
pktgen_new_flows() {
    local secs=$1 dst=$2 dst_max=${3:-$2}
    pktgen "$secs" "dst_min $dst" "dst_max $dst_max" "src_min 10.128.0.1" "src_max 10.255.255.254" \
        "udp_src_min 1024" "udp_src_max 65535" "flag IPSRC_RND" "flag UDPSRC_RND"
}

# N distinct flows of preload stage STAGE (disjoint from other stages and from the measured
# flows), sent by the pktgen threads of both CPUs at once (the preload is the slow part of the
# scale workload). Thread T covers 1001 source addresses x 1000 ports of its own address
# block, both stepping each packet (coprime cycles: 1,001,000 distinct flows per thread).
pktgen_preload() {
    local n=$1 stage=$2 threads t script=$OUT/pktgen_preload.cmd s
    threads=$(($(nproc) >= 2 ? 2 : 1))
    {
        echo "cd /proc/net/pktgen || exit 1"
        echo "$PKTGEN_GONE"
        for t in $(seq 0 $((threads - 1))); do
            echo "echo rem_device_all > kpktgend_$t"
            echo "gone c0@$t $([ "$t" = 0 ] && echo c0)"
            echo "echo add_device c0@$t > kpktgend_$t"
            for s in "count $(( (n + threads - 1 - t) / threads ))" "clone_skb 0" "pkt_size 60" "delay 0" \
                     "dst_mac $DIRECTOR_MAC" "udp_dst_min $UDP_PORT" "udp_dst_max $UDP_PORT" \
                     "dst_min $VIP" "dst_max $VIP" "udp_src_min 20000" "udp_src_max 21000" \
                     "src_min 10.$((64 + 2 * stage + t)).0.1" "src_max 10.$((64 + 2 * stage + t)).3.233"; do
                echo "echo '$s' > c0@$t || { echo 'pktgen: $s refused' >&2; exit 1; }"
            done
        done
        echo "echo start > pgctrl"
        for t in $(seq 0 $((threads - 1))); do echo "echo rem_device_all > kpktgend_$t"; done
    } > "$script"
    ip netns exec "$C" bash "$script" > "$OUT/pktgen_preload.out" 2>&1 || { cat "$OUT/pktgen_preload.out" >&2; return 1; }
}

# ------------------------------------------------------------------ modules
# load_variant MODULE: stock | stock20 | ipvs_rs | ipvs_rs20 | plain (nothing loaded). The
# "20" variants have 2^20 connection hash buckets instead of the default 2^12.
load_variant() {
    local m
    unload_all || return 1
    case "$1" in
        stock) kmodprobe ip_vs && kmodprobe ip_vs_rr ;;
        stock20) kmodprobe ip_vs conn_tab_bits=20 && kmodprobe ip_vs_rr ;;
        ipvs_rs | ipvs_rs20 | baseline)
            # ours_deps sets OURS_DEPS (it prints nothing).
            ours_deps
            for m in $OURS_DEPS; do kmodprobe "$m" || return 1; done
            case "$1" in
                ipvs_rs20) insmod "$IPVS_RS_KO" conn_tab_bits=20 ;;
                baseline) insmod "$BENCH_BASELINE_KO" ;;
                *) insmod "$IPVS_RS_KO" ;;
            esac ;;
        plain) return 0 ;;
        *) return 1 ;;
    esac || return 1
    [ "$1" = plain ] || log "$1: $(ipvsadm -Ln | head -n1)"
}

ipvsadm_d() { ip netns exec "$D" ipvsadm "$@"; }

# Services hold their scheduler module: flush them (director and init netns), then unload.
unload_all() {
    if ipvs_loaded; then
        ipvsadm_d -C 2> /dev/null
        ipvsadm -C 2> /dev/null
    fi
    unload_ipvs > /dev/null
}

# service PROTO(-u|-t) PORT FWD(-g|-m): one rr service on the VIP with every real server.
setup_service() {
    local proto=$1 port=$2 fwd=$3 i
    {
        echo "-A $proto $VIP:$port -s rr"
        for i in $(seq 1 "$N_RS"); do echo "-a $proto $VIP:$port -r $(rs_addr "$i"):$port $fwd -w 1"; done
    } | ipvsadm_d -R || return 1
    ipvsadm_d --set 900 120 3600
}

# Live connections: ActiveConn + InActConn over every dest.
live_conns() {
    ipvsadm_d -Ln | awk '$1 == "->" && $2 != "RemoteAddress:Port" { n += $5 + $6 } END { print n + 0 }'
}

slab_kb() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }

# ------------------------------------------------------------------ workloads
# With BENCH_PERF set, every UDP measurement is also profiled (perf, cpu-clock sampling of
# the whole guest, which works under TCG): $OUT/perf/WORKLOAD.MODULE[.CONNS].txt.
perf_start() {
    [ -n "${BENCH_PERF:-}" ] || return 0
    mkdir -p "$OUT/perf"
    PERF_DATA=/tmp/bench-perf.$1.data   # guest-local: writing it over 9p disturbs the run
    sysctl -qw kernel.kptr_restrict=0 kernel.perf_event_paranoid=-1
    perf record -q -e cpu-clock -F 4000 -a -g -o "$PERF_DATA" -- sleep "$SECONDS_PER_RUN" 2> /dev/null &
    PERF_PID=$!
}
perf_stop() {
    [ -n "${BENCH_PERF:-}" ] || return 0
    wait "$PERF_PID"
    local out=$OUT/perf/${PERF_DATA#/tmp/bench-perf.}
    out=${out%.data}
    perf report -i "$PERF_DATA" --stdio --no-children --sort cpu,comm -g none > "$out.cpus.txt" 2>&1
    # ipvs_rs's samples show as offsets in its text: bench/perf_symbols.py names them.
    perf report -i "$PERF_DATA" --stdio --no-children --percent-limit 0.05 --sort dso,sym -g none \
        > "$out.txt" 2>&1
    perf report -i "$PERF_DATA" --stdio --no-children --sort dso -g none > "$out.dso.txt" 2>&1
    perf report -i "$PERF_DATA" --stdio --no-children --percent-limit 2 --sort sym -g caller,0.5,callee \
        > "$out.callers.txt" 2>&1
    rm -f "$PERF_DATA"
}

# One UDP pktgen measurement; records pps received by the real servers.
measure_udp() {
    local round=$1 wl=$2 mod=$3 kind=$4 dst=$5 dst_max=$6 conns=${7:-} sent usec recv pps
    local recv0
    recv0=$(rs_received)
    log "$mod $wl: measuring"
    local gen=pktgen_$kind
    [ -n "${BENCH_PERF:-}" ] && [ "$kind" = fixed_flows ] && gen=udpgen_$kind
    perf_start "$wl.$mod${conns:+.$conns}"
    read -r sent usec < <("$gen" "$SECONDS_PER_RUN" "$dst" "$dst_max") || return 1
    perf_stop
    recv=$(($(rs_received) - recv0))
    # The veth counters also count the director's few ARP packets: never more than was sent.
    [ "$recv" -le "${sent:-0}" ] || recv=$sent
    [ -n "${sent:-}" ] && [ "${usec:-0}" -gt 0 ] || return 1
    pps=$(awk -v r="$recv" -v u="$usec" 'BEGIN { printf "%.0f", r * 1e6 / u }')
    record "$round" "$wl" "$mod" pps "$pps" pkt/s "$conns" "$sent" "$recv" \
        "$(awk -v u="$usec" 'BEGIN { printf "%.3f", u / 1e6 }')" \
        "loss $(awk -v s="$sent" -v r="$recv" 'BEGIN { printf "%.2f%%", s ? 100 * (s - r) / s : 0 }')"
}

wl_udp() { # wl_udp ROUND WORKLOAD MODULE FWD KIND
    local round=$1 wl=$2 mod=$3 fwd=$4 kind=$5 t0
    load_variant "$mod" || { log "cannot load $mod"; return 1; }
    if [ "$wl" = newflow_many ]; then
        # The measured service among MANY_SERVICES others (the cost of finding it).
        t0=$(now)
        ipvsadm_d -R < "$OUT/many_services.txt" || { log "$mod: ipvsadm -R of the other services failed"; return 1; }
        log "$mod: $MANY_SERVICES other services added in $(elapsed "$t0") s"
    fi
    if [ "$mod" = plain ]; then
        measure_udp "$round" "$wl" "$mod" "$kind" "$(rs_addr 1)" "$(rs_addr "$N_RS")"
    else
        setup_service -u "$UDP_PORT" "$fwd" || { log "$mod: service setup failed"; return 1; }
        measure_udp "$round" "$wl" "$mod" "$kind" "$VIP" "$VIP"
        [ "$kind" = fixed_flows ] || log "$mod $wl: $(live_conns) live connections at the end"
    fi
}

# Where the TCP workload's processes run: "spread" leaves them to the scheduler; "pinned" puts
# the client on the first CPU and the real servers' accept loops on the last. Spread, a run
# settles into a fast or a slow regime (on 2 vCPUs nearly 2x apart in one boot, whichever
# module): in the slow one the scheduler moves the tcp_cc processes between the CPUs several
# times as often (about 500-800 migrations in a 3 s run, against about 100) and wakes them
# across CPUs. Pinned, that placement is fixed, and what is left is the module's cost per
# connection.
tcp_layout() { # tcp_layout spread|pinned: places the real servers' processes
    local cpus p
    cpus=0-$(($(nproc) - 1))
    [ "$1" = pinned ] && cpus=$(($(nproc) - 1))
    for p in "${SERVER_PIDS[@]}"; do taskset -pc "$cpus" "$p" > /dev/null || return 1; done
}

wl_tcp() { # wl_tcp ROUND MODULE [pinned]: connect/close cycles per second through NAT
    local round=$1 mod=$2 layout=${3:-spread} dst=$VIP out cycles secs errors wl=tcp_nat pin=()
    load_variant "$mod" || { log "cannot load $mod"; return 1; }
    if [ "$mod" = plain ]; then
        dst=$(rs_addr 1)
    else
        setup_service -t "$TCP_PORT" -m || { log "$mod: service setup failed"; return 1; }
    fi
    if [ "$layout" = pinned ]; then
        wl=tcp_nat_pinned
        pin=(taskset -c 0)
    fi
    tcp_layout "$layout" || { log "cannot place the tcp_cc servers ($layout)"; return 1; }
    out=$(ip netns exec "$C" "${pin[@]}" "$TCP_CC" client "$dst" "$TCP_PORT" "$SECONDS_PER_RUN" "$TCP_CONCURRENCY" \
          "${CLIENT_ADDRS[@]}") || { log "$mod: tcp_cc failed: $out"; tcp_layout spread; return 1; }
    tcp_layout spread
    read -r _ cycles _ errors _ secs _ <<< "$out"
    record "$round" "$wl" "$mod" cps "$(awk -v c="$cycles" -v s="$secs" 'BEGIN { printf "%.0f", c / s }')" \
        conn/s "" "$cycles" "$cycles" "$secs" "errors $errors"
}

# Preloads each level of live connections (10k, 100k, 1M), then measures established-flow pps
# in DR; the slab growth per live connection is the memory workload.
wl_scale() {
    local round=$1 mod=$2 level stage=0 have=0 slab0 slab conns t0
    load_variant "$mod" || { log "cannot load $mod"; return 1; }
    setup_service -u "$UDP_PORT" -g || { log "$mod: service setup failed"; return 1; }
    # Create the measured flows' connections first, so the preload is all that grows.
    pktgen_fixed_flows 1 "$VIP" "$VIP" > /dev/null
    sleep 1
    slab0=$(slab_kb)
    for level in $SCALE_LEVELS; do
        stage=$((stage + 1))
        t0=$(now)
        pktgen_preload "$((level - have))" "$stage" > /dev/null || { log "$mod: preload failed"; return 1; }
        have=$level
        sleep 1
        conns=$(live_conns)
        slab=$(slab_kb)
        log "$mod: preloaded to $conns live connections in $(elapsed "$t0") s"
        if [ "$conns" -lt $((level * 9 / 10)) ]; then
            log "$mod: only $conns of $level connections were created"
        fi
        record "$round" memory "$mod" bytes_per_conn \
            "$(awk -v a="$slab0" -v b="$slab" -v n="$((conns - FLOWS))" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) * 1024 / n : 0) }')" \
            B "$conns" "" "" "" "slab +$((slab - slab0)) kB"
        measure_udp "$round" scale_dr "$mod" fixed_flows "$VIP" "$VIP" "$conns"
    done
    local t1
    t1=$(now)
    unload_all
    log "$mod: unloaded with $conns connections in $(elapsed "$t1") s"
}

# Control plane: ipvsadm -R of CTL_SERVICES services x CTL_DESTS dests, a full ipvsadm -Ln,
# CTL_CHURN dest weight changes, the deletion of every fourth service (each of whose dests
# leaves a real server that all the services share), then a flush of the rest. Wall time of
# each, in the init netns.
ctl_files() {
    local s d
    awk -v S="$CTL_SERVICES" -v D="$CTL_DESTS" 'BEGIN {
        for (s = 0; s < S; s++) {
            vip = sprintf("10.%d.%d.%d:80", 100 + int(s / 65536), int(s / 256) % 256, s % 256)
            printf "-A -t %s -s rr\n", vip
            for (d = 0; d < D; d++) printf "-a -t %s -r 172.17.%d.%d:8080 -m -w 1\n", vip, int(d / 250), 2 + d % 250
        }
    }' > "$OUT/ctl_restore.txt"
    awk -v S="$CTL_SERVICES" -v D="$CTL_DESTS" -v N="$CTL_CHURN" 'BEGIN {
        srand(42)
        for (i = 0; i < N; i++) {
            s = int(rand() * S); d = int(rand() * D)
            vip = sprintf("10.%d.%d.%d:80", 100 + int(s / 65536), int(s / 256) % 256, s % 256)
            printf "-e -t %s -r 172.17.%d.%d:8080 -m -w %d\n", vip, int(d / 250), 2 + d % 250, 2 + i % 50
        }
    }' > "$OUT/ctl_churn.txt"
    awk -v S="$CTL_SERVICES" 'BEGIN {
        for (s = 0; s < S; s += 4)
            printf "-D -t 10.%d.%d.%d:80\n", 100 + int(s / 65536), int(s / 256) % 256, s % 256
    }' > "$OUT/ctl_delete.txt"
}

timed() { # timed ROUND WORKLOAD MODULE CMD...: records the wall time of CMD (timeout: no value)
    local round=$1 wl=$2 mod=$3 t0 rc=0; shift 3
    t0=$(now)
    timeout -k 5 "$CTL_TIMEOUT" "$@" || rc=$?
    local secs
    secs=$(elapsed "$t0")
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        record "$round" "$wl" "$mod" seconds "" s "" "" "" "$secs" "timeout after $CTL_TIMEOUT s"
        return 1
    elif [ "$rc" -ne 0 ]; then
        record "$round" "$wl" "$mod" seconds "" s "" "" "" "$secs" "failed: exit $rc"
        return 1
    fi
    record "$round" "$wl" "$mod" seconds "$secs" s "" "" "" "$secs"
}

wl_ctl() {
    local round=$1 mod=$2 lines expect
    load_variant "$mod" || { log "cannot load $mod"; return 1; }
    timed "$round" ctl_restore "$mod" sh -c "ipvsadm -R < '$OUT/ctl_restore.txt'" || { unload_all; return 1; }
    timed "$round" ctl_list "$mod" sh -c "ipvsadm -Ln > '$OUT/ctl_list.$mod.txt'"
    lines=$(wc -l < "$OUT/ctl_list.$mod.txt")
    expect=$((3 + CTL_SERVICES * (1 + CTL_DESTS)))
    [ "$lines" -eq "$expect" ] || log "$mod: ipvsadm -Ln printed $lines lines, expected $expect"
    timed "$round" ctl_churn "$mod" sh -c "ipvsadm -R < '$OUT/ctl_churn.txt'"
    timed "$round" ctl_delete "$mod" sh -c "ipvsadm -R < '$OUT/ctl_delete.txt'"
    timed "$round" ctl_flush "$mod" ipvsadm -C
    unload_all
}

# ------------------------------------------------------------------ main
# Sourced with BENCH_LIB_ONLY=1 (bench/timeline_guest.sh): the network and the modules only.
[ -z "${BENCH_LIB_ONLY:-}" ] || return 0
{
    echo "kernel $(uname -r) $(uname -v)"
    echo "nproc $(nproc)"
    grep -m1 'model name' /proc/cpuinfo
    grep MemTotal /proc/meminfo
    echo "settings rounds=$ROUNDS seconds=$SECONDS_PER_RUN rs=$N_RS flows=$FLOWS scale='$SCALE_LEVELS'" \
         "scale_modules='$SCALE_MODULES' ctl=${CTL_SERVICES}x$CTL_DESTS churn=$CTL_CHURN many=$MANY_SERVICES" \
         "workloads='$WORKLOADS'"
} > "$OUT/guest-info.txt"
have_ours || die_bench "no $IPVS_RS_KO (make module)"
[ -x "$TCP_CC" ] || die_bench "no $TCP_CC"
t_start=$(now)
topo_up
log "network up ($(elapsed "$t_start") s)"

wants() { case " $WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }
# BENCH_BASELINE_KO: another build of ipvs_rs.ko (before a change) measured as "baseline"
# alongside, in the same boot.
OURS="ipvs_rs${BENCH_BASELINE_KO:+ baseline}"
# Services on other VIPs (10.20.0.0/16 and up), for newflow_many.
awk -v S="$MANY_SERVICES" 'BEGIN {
    for (s = 0; s < S; s++) printf "-A -u 10.%d.%d.%d:%d -s rr\n", 20 + int(s / 65536), int(s / 256) % 256, s % 256, '"$UDP_PORT"'
}' > "$OUT/many_services.txt"
# in_turn ROUND MODULE...: the modules in order, reversed in even rounds. A run's place in the
# round moves its result (of three TCP connect+close runs in a row, the third measured 25-40 %
# below the second whichever build of ipvs_rs it was: the slow regime of `tcp_layout`), so a
# fixed order would hand that cost to the same module every round. With an even number of
# rounds every module has every place equally often.
in_turn() {
    local round=$1 out=() m; shift
    if [ $((round % 2)) -eq 0 ]; then
        for m in "$@"; do out=("$m" "${out[@]}"); done
    else
        out=("$@")
    fi
    echo "${out[@]}"
}

for round in $(seq 1 "$ROUNDS"); do
    wants est_dr && for mod in $(in_turn "$round" stock $OURS); do wl_udp "$round" est_dr "$mod" -g fixed_flows; done
    wants est_nat && for mod in $(in_turn "$round" stock $OURS); do wl_udp "$round" est_nat "$mod" -m fixed_flows; done
    # The ceiling of the UDP workloads: the same packets forwarded to the real servers'
    # addresses, no IPVS loaded (with no per-flow state, new flows cost the same).
    wants plain && wl_udp "$round" plain plain - fixed_flows
    wants newflow_nat && for mod in $(in_turn "$round" stock $OURS); do wl_udp "$round" newflow_nat "$mod" -m new_flows; done
    wants newflow_many && for mod in $(in_turn "$round" stock $OURS); do wl_udp "$round" newflow_many "$mod" -m new_flows; done
    wants tcp_nat && for mod in $(in_turn "$round" stock $OURS plain); do wl_tcp "$round" "$mod"; done
    wants tcp_nat_pinned && for mod in $(in_turn "$round" stock $OURS plain); do wl_tcp "$round" "$mod" pinned; done
    log "round $round of the datapath workloads done ($(elapsed "$t_start") s)"
done
unload_all
if wants scale; then
    for round in $(seq 1 "$ROUNDS"); do
        for mod in $SCALE_MODULES; do wl_scale "$round" "$mod"; done
        log "round $round of scale done ($(elapsed "$t_start") s)"
    done
fi
if wants ctl; then
    ctl_files
    for round in $(seq 1 "$ROUNDS"); do
        for mod in $(in_turn "$round" stock $OURS); do wl_ctl "$round" "$mod"; done
        log "round $round of control plane done ($(elapsed "$t_start") s)"
    done
fi
log "done in $(elapsed "$t_start") s"
