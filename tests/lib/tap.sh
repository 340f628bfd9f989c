# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# tap.sh: TAP helpers for shell tests; source it, report with the functions
# below, end with tap_done (prints the plan, exits 1 if anything failed).
#
#   tap_check "what" cmd args...   ok if cmd succeeds; on failure its output
#                                  (kept quiet otherwise) is shown as # lines
#   tap_ok "what" / tap_fail "what" [why...]
#   tap_skip "what" "reason"
#   tap_diag text...
tap_n=0
tap_failed=0

tap_ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1"; }

tap_fail() {
	local what=$1; shift
	tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $what"
	[ $# -eq 0 ] || printf '%s\n' "$@" | sed 's/^/#   /'
}

tap_skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1 # SKIP $2"; }

tap_diag() { echo "# $*"; }

tap_check() {
	local what=$1 out rc; shift
	out=$("$@" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then
		tap_ok "$what"
	else
		tap_fail "$what" "exit status $rc" "$(printf '%s\n' "$out" | tail -n 30)"
	fi
	return $rc
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}
