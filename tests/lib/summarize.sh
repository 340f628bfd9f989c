#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# summarize.sh RESULTS_DIR CHECK...: count TAP results of every check.
# A check that left no TAP file, or no test line at all, counts as failed:
# a suite that crashed before reporting must not look green.
dir=$1; shift
pass=0; fail=0
for c in "$@"; do
	f=$dir/$c.tap
	if [ ! -s "$f" ] || ! grep -qE '^(not )?ok ' "$f"; then
		echo "FAIL: $c produced no results (see $f)"
		fail=$((fail + 1)); continue
	fi
	p=$(grep -cE '^ok ' "$f"); n=$(grep -cE '^not ok ' "$f")
	[ "$n" -gt 0 ] && { echo "FAIL: $c:"; grep -E '^not ok ' "$f" | sed 's/^/    /'; }
	printf '%-24s %5d passed %5d failed\n' "$c" "$p" "$n"
	pass=$((pass + p)); fail=$((fail + n))
done
echo "$pass passed, $fail failed" | tee "$dir/totals"
[ "$fail" -eq 0 ]
