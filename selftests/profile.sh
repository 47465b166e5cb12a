#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Where a selftest's time goes: runs one test with bash's xtrace stamped by the clock, then
# prints the source lines that took longest (the time from each traced command to the next
# one, summed per file:line) and the whole trace's first and last stamp. In the guest:
#
#     tools/vm-run --cpus 1 -- selftests/profile.sh t_NAME [TOP]
#
# The trace is kept in build/profile/t_NAME.trace (written to the guest's /tmp while the test
# runs: a write to the 9p share per traced line would slow the test down). Not part of
# `make check`; a tool for making tests faster.
set -u
here=$(cd "$(dirname "$0")" && pwd)
t=$(basename "${1:?usage: selftests/profile.sh t_NAME [TOP]}" .sh)
top=${2:-30}
out=$here/../build/profile
mkdir -p "$out"
trace=$(mktemp /tmp/profile.XXXXXX)
start=$EPOCHREALTIME
# PS4 is expanded per traced line: the clock, then where (bash takes no PS4 from the
# environment when run as root, so it is set inside).
( exec 9> "$trace"
  # shellcheck disable=SC2016
  bash -c 'BASH_XTRACEFD=9; PS4='\''+${EPOCHREALTIME} ${BASH_SOURCE[0]##*/}:${LINENO} '\''; set -x; . "$0"' \
      "$here/$t.sh" > "$out/$t.out" 2>&1 < /dev/null )
rc=$?
end=$EPOCHREALTIME
cp "$trace" "$out/$t.trace"
rm -f "$trace"
echo "# $t: exit $rc, $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
# Each traced line (subshells included), the time until the next traced line, per file:line.
awk '/^\++[0-9]+\.[0-9]+ / {
        match($0, /^\++/); depth = RLENGTH
        t = substr($1, depth + 1) + 0; where = $2
        if (prev != "") { s[prev] += t - pt; n[prev]++; if (!(prev in txt)) txt[prev] = ptxt }
        prev = where; pt = t; ptxt = substr($0, index($0, $3))
     }
     END { for (k in s) printf "%8.2f %5d  %-28s %s\n", s[k], n[k], k, substr(txt[k], 1, 90) }' \
    "$out/$t.trace" | sort -k1,1nr | head -n "$top"
exit "$rc"
