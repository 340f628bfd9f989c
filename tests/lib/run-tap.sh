#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# run-tap.sh OUT.tap CMD...: run a test command, keep its TAP output in
# OUT.tap (and show it), and add a failing line when the command exits
# non-zero without having reported a failure itself.
out=$1; shift
mkdir -p "$(dirname "$out")"
"$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ] && ! grep -qE '^not ok ' "$out"; then
	echo "not ok - $(basename "$out" .tap): exited with status $rc" | tee -a "$out"
fi
exit "$rc"
