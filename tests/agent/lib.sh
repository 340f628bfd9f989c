#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Small TAP helpers for the agent's shell tests.
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# check NAME CMD...: ok when CMD succeeds
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else notok "$name"; fi
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { echo "# $*"; }
done_testing() { echo "1..$n"; [ "$failed" -eq 0 ]; }
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds
wait_for() {
	local t=$(( $1 * 5 )); shift
	while [ "$t" -gt 0 ]; do
		"$@" && return 0
		sleep 0.2
		t=$((t - 1))
	done
	return 1
}
is_json() { python3 -c 'import json,sys; json.load(sys.stdin)'; }
# jq-like: jget 'expr' evaluates a Python expression on the parsed input d
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
