#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: keepalived 2.2 (Debian's, unchanged) drives stock ip_vs.ko and ipvs_rs.ko
# through its own netlink code, with IPv4 and IPv6 virtual servers in one configuration:
# TCP services by address (NAT, persistence, wlc and rr) and UDP firewall-mark services
# (DR, sh, with `ip_family inet6` for the IPv6 one). Each TCP service has a real server that
# answers its TCP_CHECK and one that refuses it: keepalived adds both, then takes the failing
# one out (removes it, or with inhibit_on_failure sets its weight to 0). Compared byte for
# byte: `ipvsadm -Ln` once keepalived has settled (the failing real servers handled, the
# others in place), and again after keepalived has stopped (it removes what it added), and
# every IPVS error keepalived logged (none is expected). Waits are for those states, with a
# bound, not for a time.
. "${0%/*}/lib.sh"

# What keepalived logs when IPVS refuses a request (its netlink error reports).
KA_ERRORS='ipvs.*(error|errno|fail)|netlink.*error'
command -v keepalived > /dev/null || skip "keepalived not installed"

# The settled state: both failing real servers handled (one gone, one at weight 0) and the
# four services with their other real servers; in both families.
# Eight real servers: two in each TCP service but the failing ones without
# inhibit_on_failure, which are gone, and one in each firewall-mark service.
settled() {
    local out line n=0 gone4='10\.0\.5\.3:8080 ' gone6='\[2001:db8:5::3\]:8080 '
    local zero4='10\.0\.5\.3:8081 +Masq +0 ' zero6='\[2001:db8:5::3\]:8081 +Masq +0 '
    out=$(ip netns exec "$NS" ipvsadm -Ln 2>/dev/null) || return 1
    [[ $out =~ $gone4 || $out =~ $gone6 ]] && return 1
    [[ $out =~ $zero4 && $out =~ $zero6 ]] || return 1
    while IFS= read -r line; do [[ $line == "  -> "[0-9[]* ]] && n=$((n + 1)); done <<< "$out"
    [ "$n" -eq 8 ]
}

scenario() {
    local o=$1 ka i conf=$TEST_TMP/keepalived.conf log=$TEST_TMP/keepalived.log
    NS=$(netns_add ka) || { echo "netns failed" >> "$o"; return; }
    ip -n "$NS" -batch - <<EOF
link add d0 type dummy
link set d0 up
addr add 10.0.5.2/24 dev d0
addr add 10.0.5.3/24 dev d0
addr add 2001:db8:5::2/64 dev d0 nodad
addr add 2001:db8:5::3/64 dev d0 nodad
addr add 10.0.0.100/32 dev lo
addr add 2001:db8::100/128 dev lo nodad
EOF
    # The checks' target: a listener on the ".2" addresses only (".3" refuses at once).
    ip netns exec "$NS" python3 -S -c '
import socket, time
socks = []
for fam, addr in ((socket.AF_INET, "10.0.5.2"), (socket.AF_INET6, "2001:db8:5::2")):
    for port in (8080, 8081):
        s = socket.socket(fam)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        socks.append(s)
time.sleep(600)' &
    local srv=$!
    # keepalived reads a block only with one keyword per line.
    cat > "$conf" <<'EOF'
global_defs {
    router_id ipvs_rs_selftest
}
virtual_server 10.0.0.100 80 {
    delay_loop 1
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    persistence_timeout 30
    real_server 10.0.5.2 8080 {
        weight 3
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
    real_server 10.0.5.3 8080 {
        weight 2
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
}
virtual_server 10.0.0.100 81 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.5.2 8081 {
        weight 1
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
    real_server 10.0.5.3 8081 {
        weight 4
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
}
virtual_server fwmark 5 {
    delay_loop 1
    lb_algo sh
    lb_kind DR
    real_server 10.0.5.2 {
        weight 1
    }
}
virtual_server 2001:db8::100 80 {
    delay_loop 1
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    persistence_timeout 30
    persistence_granularity 64
    real_server 2001:db8:5::2 8080 {
        weight 3
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
    real_server 2001:db8:5::3 8080 {
        weight 2
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
}
virtual_server 2001:db8::100 81 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 2001:db8:5::2 8081 {
        weight 1
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
    real_server 2001:db8:5::3 8081 {
        weight 4
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
}
virtual_server fwmark 6 {
    ip_family inet6
    delay_loop 1
    lb_algo sh
    lb_kind DR
    real_server 2001:db8:5::2 {
        weight 1
    }
}
EOF
    ip netns exec "$NS" keepalived -f "$conf" --check --dont-fork --log-console --log-detail \
        -p "$TEST_TMP/ka.pid" -c "$TEST_TMP/ka-check.pid" -r "$TEST_TMP/ka-vrrp.pid" > "$log" 2>&1 &
    ka=$!
    local deadline=$((SECONDS + 60))
    until settled; do
        if [ $SECONDS -ge $deadline ]; then
            echo "keepalived did not settle within 60 s" >> "$o"
            diag "keepalived's log:"; diag_file "$log" 60
            break
        fi
        sleep 0.3
    done
    echo "== keepalived settled" >> "$o"
    ip netns exec "$NS" ipvsadm -Ln >> "$o" 2>&1
    kill "$ka"
    wait "$ka"
    echo "== after keepalived stopped (status $?)" >> "$o"
    ip netns exec "$NS" ipvsadm -Ln >> "$o" 2>&1
    # Counted, and shown as diagnostics: the lines carry keepalived's timestamps.
    echo "== IPVS errors keepalived logged: $(grep -ciE "$KA_ERRORS" "$log")" >> "$o"
    grep -iE "$KA_ERRORS" "$log" | sed 's/^/#   keepalived: /'
    kill "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    cleanup_netns
}

validate() {
    local f=$1
    expect_grep "$f" "^  -> 10\.0\.5\.2:8080 +Masq +3 " "the IPv4 real server that answers its check is in"
    expect_grep "$f" "^  -> 10\.0\.5\.3:8081 +Masq +0 " "the failing IPv4 real server with inhibit_on_failure is at weight 0"
    expect_grep "$f" "^  -> \[2001:db8:5::2\]:8080 +Masq +3 " "the IPv6 real server that answers its check is in"
    expect_grep "$f" "^FWM  6 IPv6 sh$" "the IPv6 firewall-mark service is there"
    if grep -q "did not settle" "$f"; then fail "keepalived settled"; else pass "keepalived settled"; fi
    if awk '/^== after keepalived stopped/{f=1; next} /^==/{f=0} f && /^(TCP|UDP|FWM) |-> [0-9[]/' "$f" | grep -q .; then
        fail "keepalived removed its services when it stopped"
    else
        pass "keepalived removed its services when it stopped"
    fi
    expect_grep "$f" "^== IPVS errors keepalived logged: 0$" "keepalived logged no IPVS error"
}

differential scenario validate
finish
