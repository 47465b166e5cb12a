#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Differential: a scripted ipvsadm session of 50+ commands (services, dests, edits, deletes,
# errors, listings in every format, save/restore) gives byte-identical output and exit codes
# with stock ip_vs.ko and with ipvs_rs.ko.
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
}

validate() {
    local o=$1 n
    n=$(grep -c '^\$ ' "$o")
    [ "$n" -ge 40 ] && pass "$n commands" || fail "only $n commands"
    expect_grep "$o" '^TCP  10\.1\.0\.1:80 wrr$' "edited scheduler shown"
    expect_grep "$o" '^  -> 10\.2\.0\.1:8080 +Masq +0 ' "quiesced dest shown with weight 0"
    expect_grep "$o" '^-a -t 10\.1\.0\.1:443 -r 10\.2\.0\.3:443 -g -w 5$' "save lists the DR dest"
    expect_grep "$o" '^Service not defined$|^No such service$' "missing service reported"
}

differential scenario validate
finish
