#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# check-agent: every agent suite, merged into one TAP stream (numbers made
# consecutive, each line prefixed with its suite). Env: AT (test binaries),
# PHLOEMD, PHLOEMCTL.
set -u
here=$(dirname "$0")
n=0
fail=0
run_suite() {
	local name=$1; shift
	local line out rc
	out=$("$@" 2>&1); rc=$?
	while IFS= read -r line; do
		case "$line" in
		"ok "*|"not ok "*)
			n=$((n + 1))
			case "$line" in "not ok "*) fail=$((fail + 1)) ;; esac
			# drop the suite's own number, keep the rest
			echo "$line" | sed -E "s/^(not ok|ok) [0-9]+ (- )?/\1 $n - $name: /"
			;;
		"1.."*|"TAP version"*) ;;
		*) echo "# $line" ;;
		esac
	done <<<"$out"
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then
		n=$((n + 1)); fail=$((fail + 1))
		echo "not ok $n - $name: exited with status $rc"
	fi
}
echo "TAP version 13"
run_suite config "$AT/config_test"
run_suite nl "$AT/nl_test"
run_suite sim "$AT/sim_test"
run_suite meter "$AT/meter_test"
run_suite nlspec python3 "$here/nlspec_check.py" "$here/../.."
run_suite phloemd "$here/phloemd.sh"
echo "1..$n"
[ "$fail" -eq 0 ]
