#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-kmemleak: off (a differential of behaviour: see selftests/markers.sh)
# Differential: a scripted ipvsadm session of 50+ commands (services, dests, edits, deletes,
# errors, listings in every format, save/restore) gives byte-identical output and exit codes
# with stock ip_vs.ko and with ipvs_rs.ko. Then the same kinds of command for IPv6 (scenario6):
# services by address and by firewall mark (-6 -f), dests, persistence with prefix lengths
# (-M 64, 128, 48, 96), a tunnel dest of the other family, addresses no dest may have,
# listings, --stats, -S/-R round trip and /proc/net/ip_vs. (ipvsadm itself refuses prefix
# lengths 0 and 129 and NAT/DR dests of the other family, so the kernel never sees them from
# here: genl_client.py sends those, in t_genl_malformed.)
. "${0%/*}/lib.sh"

scenario() {
    local o=$1 save=$TEST_TMP/rules.save
    local c=(run_capture "$o")
    "${c[@]}" ipvsadm -A -t 10.1.0.1:80 -s rr
    "${c[@]}" ipvsadm -A -t 10.1.0.1:80 -s rr                  # duplicate: EEXIST
    "${c[@]}" ipvsadm -A -t 10.1.0.1:443 -s wrr
    "${c[@]}" ipvsadm -A -u 10.1.0.1:53 -s rr
    "${c[@]}" ipvsadm -A -t 10.1.0.2:80 -s nosuchsched        # unknown scheduler
    "${c[@]}" ipvsadm -a -t 10.1.0.1:80 -r 10.2.0.1:8080 -m -w 2
    "${c[@]}" ipvsadm -a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 3 -x 100 -y 50
    "${c[@]}" ipvsadm -a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m   # duplicate dest
    "${c[@]}" ipvsadm -a -t 10.1.0.1:443 -r 10.2.0.3 -g -w 5
    "${c[@]}" ipvsadm -a -t 10.1.0.1:443 -r 10.2.0.4 -i -w 1
    "${c[@]}" ipvsadm -a -u 10.1.0.1:53 -r 10.2.0.5:5353 -m
    "${c[@]}" ipvsadm -a -t 10.1.0.9:80 -r 10.2.0.1 -m        # no such service
    "${c[@]}" ipvsadm -a -t 10.1.0.1:80 -r 10.2.0.6 -m -x 10 -y 20   # lower > upper: ERANGE
    "${c[@]}" ipvsadm -Ln
    "${c[@]}" ipvsadm -L -n --stats
    "${c[@]}" ipvsadm -L -n --rate
    "${c[@]}" ipvsadm -L -n --exact
    "${c[@]}" ipvsadm -L -n --thresholds
    "${c[@]}" ipvsadm -L -n --persistent-conn
    "${c[@]}" ipvsadm -L -n -t 10.1.0.1:80
    "${c[@]}" ipvsadm -L -n -u 10.1.0.1:53
    "${c[@]}" ipvsadm -L -n -t 10.1.0.1:81                    # no such service
    "${c[@]}" ipvsadm -E -t 10.1.0.1:80 -s wrr
    "${c[@]}" ipvsadm -E -t 10.1.0.7:80 -s wrr                # no such service
    "${c[@]}" ipvsadm -e -t 10.1.0.1:80 -r 10.2.0.1:8080 -m -w 7
    "${c[@]}" ipvsadm -e -t 10.1.0.1:80 -r 10.2.0.1:8080 -m -w 0    # quiesce
    "${c[@]}" ipvsadm -e -t 10.1.0.1:80 -r 10.2.0.9:8080 -m -w 1    # no such dest
    "${c[@]}" ipvsadm -e -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -x 5 -y 6   # ERANGE
    "${c[@]}" ipvsadm -Ln
    "${c[@]}" ipvsadm -d -t 10.1.0.1:443 -r 10.2.0.4
    "${c[@]}" ipvsadm -d -t 10.1.0.1:443 -r 10.2.0.4          # already gone
    "${c[@]}" ipvsadm -Ln --thresholds
    "${c[@]}" ipvsadm -Z -t 10.1.0.1:80
    "${c[@]}" ipvsadm -Z -u 10.1.0.9:53                       # no such service
    "${c[@]}" ipvsadm -Z
    "${c[@]}" ipvsadm -S -n
    ipvsadm -S -n > "$save" 2>&1
    "${c[@]}" ipvsadm -C
    "${c[@]}" ipvsadm -Ln
    "${c[@]}" sh -c "ipvsadm -R < $save"
    "${c[@]}" ipvsadm -Ln
    "${c[@]}" ipvsadm -S -n
    "${c[@]}" ipvsadm -D -t 10.1.0.1:443
    "${c[@]}" ipvsadm -D -t 10.1.0.1:443                      # already gone
    "${c[@]}" ipvsadm -D -u 10.1.0.1:53
    "${c[@]}" ipvsadm -Ln
    "${c[@]}" ipvsadm --set 100 20 30
    "${c[@]}" ipvsadm -L --timeout
    "${c[@]}" ipvsadm -A -t 10.1.0.3:0 -s rr                  # port 0: any port
    "${c[@]}" ipvsadm -a -t 10.1.0.3:0 -r 10.2.0.8 -g
    "${c[@]}" ipvsadm -L -n
    "${c[@]}" cat /proc/net/ip_vs
    "${c[@]}" ipvsadm -C
    "${c[@]}" ipvsadm -L -n
    "${c[@]}" cat /proc/net/ip_vs
    scenario6 "$o"
}

scenario6() {
    local o=$1 save=$TEST_TMP/rules6.save v=[2001:db8::100]
    echo "== IPv6" >> "$o"
    # One shell for the session (run_captures): the commands as they are written here.
    # /proc/net/ip_vs lists the services in stock's hash order, which mixes in the netns's
    # address: its services are shown sorted, each with its dests.
    run_captures "$o" <<EOF
ipvsadm -A -t $v:80 -s wrr
ipvsadm -A -t $v:80 -s rr                       # duplicate: EEXIST
ipvsadm -A -u $v:53 -s sh -b sh-port
ipvsadm -A -t $v:443 -s rr -p 300 -M 64
ipvsadm -A -t $v:446 -s rr -p 300 -M 128
ipvsadm -A -f 7 -6 -s rr
ipvsadm -A -f 7 -s rr                           # the same mark in IPv4: another service
ipvsadm -A -f 8 -6 -s lc -p 60 -M 48
ipvsadm -a -t $v:80 -r [2001:db8:1::2]:8080 -m -w 2
ipvsadm -a -t $v:80 -r [2001:db8:2::2]:8080 -m -w 3 -x 100 -y 50
ipvsadm -a -t $v:80 -r [2001:db8:2::2]:8080 -m  # duplicate dest
ipvsadm -a -t $v:443 -r 10.2.0.1 -i             # other family, tunnel: allowed
ipvsadm -a -t $v:443 -r [2001:db8:1::2]:443 -g -w 5
ipvsadm -a -t $v:443 -r [2001:db8:1::3]:443 -i -w 1
ipvsadm -a -t $v:443 -r [ff02::1]:443 -g        # multicast dest: EINVAL
ipvsadm -a -t $v:443 -r [fe80::1]:443 -g        # link-local, not local: EINVAL
ipvsadm -a -u $v:53 -r [2001:db8:1::2]:5353 -m
ipvsadm -a -u $v:53 -r [2001:db8:2::2]:5353 -m
ipvsadm -a -f 7 -6 -r [2001:db8:1::4]:0 -g
ipvsadm -a -f 8 -6 -r [2001:db8:2::4]:0 -g -w 4
ipvsadm -Ln
ipvsadm -L -n --stats
ipvsadm -L -n --persistent-conn
ipvsadm -L -n -t $v:80
ipvsadm -L -n -f 7 -6
ipvsadm -L -n -t $v:81                          # no such service
ipvsadm -E -t $v:443 -s wlc -p 600 -M 96
ipvsadm -e -t $v:80 -r [2001:db8:1::2]:8080 -m -w 0
ipvsadm -e -t $v:80 -r [2001:db8:2::2]:8080 -m -x 5 -y 6   # ERANGE
ipvsadm -d -t $v:443 -r [2001:db8:1::3]:443
ipvsadm -d -t $v:443 -r [2001:db8:1::3]:443     # already gone
ipvsadm -Z -t $v:80
ipvsadm -S -n
ipvsadm -S -n > $save
ipvsadm -C
ipvsadm -R < $save
ipvsadm -S -n
{ head -n 3 /proc/net/ip_vs; tail -n +4 /proc/net/ip_vs | awk '/^  ->/ { r = r "\001" \$0; next } { if (r != "") print r; r = \$0 } END { if (r != "") print r }' | LC_ALL=C sort | tr '\001' '\n'; }
ipvsadm -D -f 7 -6
ipvsadm -D -f 7 -6                              # already gone
ipvsadm -D -t $v:446
ipvsadm -L -n
ipvsadm -C
EOF
}

validate() {
    local o=$1 n
    n=$(grep -c '^\$ ' "$o")
    [ "$n" -ge 40 ] && pass "$n commands" || fail "only $n commands"
    expect_grep "$o" '^TCP  10\.1\.0\.1:80 wrr$' "edited scheduler shown"
    expect_grep "$o" '^  -> 10\.2\.0\.1:8080 +Masq +0 ' "quiesced dest shown with weight 0"
    expect_grep "$o" '^-a -t 10\.1\.0\.1:443 -r 10\.2\.0\.3:443 -g -w 5$' "save lists the DR dest"
    expect_grep "$o" '^Service not defined$|^No such service$' "missing service reported"
    # IPv6 (scenario6)
    expect_grep "$o" '^TCP  \[2001:db8::100\]:443 rr persistent 300 mask 64$' "IPv6 service with -M 64"
    expect_grep "$o" '^FWM  7 IPv6 rr$' "IPv6 fwmark service"
    expect_grep "$o" '^-A -t \[2001:db8::100\]:443 -s wlc -p 600 -M 96$' "save lists the edited IPv6 service"
    expect_grep "$o" '^-a -t \[2001:db8::100\]:443 -r 10\.2\.0\.1:443 -i -w 1 --tun-type ipip$' "IPv4 tunnel dest of an IPv6 service"
    expect_grep "$o" '^TCP  \[2001:0db8:0000:0000:0000:0000:0000:0100\]:0050 wrr $' "/proc/net/ip_vs IPv6 service"
}

differential scenario validate
finish
