#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# wp.sh OUTDIR: WP proofs of the ACSL contracts in kernel/shed.c, as TAP:
# one test per function, passing when every goal of that function (its
# contract, loop invariants and assigns, and -wp-rte's checks of every
# index, pointer and signed operation in it) is proved by Qed, Z3 or CVC4.
# The properties (docs/shedding.md, Proofs):
#   shed_one      never_critical: no shedding rule opens a critical relay
#                 (the island's sheds included: they go through it);
#                 only_its_circuit: a circuit's rule opens only its relays;
#                 only_its_mask: a phase rule opens only its phase's
#   shed_headroom below_restore: a restore is allowed only when the
#                 circuit, and the site for a final circuit, stay at or
#                 below their restore thresholds with the load added, and
#                 so does the circuit's phase (shed_phase_below,
#                 phase_restore: its limit's threshold and the imbalance's
#                 against the lightest phase)
#   shed_mark     within_hold: a shed relay's next restore attempt is at
#                 most one max hold after its off time (issue 17)
#   shed_room, shed_calm, shed_site_below: the measured room a restore
#                 needs (restore thresholds of the circuit, its phase and
#                 the site; no shedding state on any of them; not islanded,
#                 not held by the under-voltage rule)
#   shed_restore  no_restore_into_overload: a relay whose shed state the
#                 call clears has room; attempt_when_due: a relay due its
#                 attempt (past its hold, with room) is restored when no
#                 staggered return is pending and restores are spaced
#   shed_bring_back, shed_rank, shed_why, shed_fs_pick, shed_fs_return:
#                 the parts of it (the one gate; a relay's rank; its hold
#                 reason; the staggered return's pick and switching)
#   the others    the contracts those two rely on, and bounds everywhere
#                 in them (shed_mark: the state of the relay being shed)
out=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
fc=${FRAMA_C:-frama-c}
fcts=${WP_FCTS:-"shed_div shed_sat32 shed_ms shed_event shed_update_relays shed_off_ns
	shed_rh shed_steady shed_run shed_level shed_est_pre shed_retry_ns
	shed_mark shed_one shed_site_below shed_phase_below shed_headroom
	shed_calm shed_room
	shed_never_fits shed_full shed_hold_note shed_unmark
	shed_learn_on shed_fs_pick shed_fs_return shed_why shed_rank"}
# Not proved in the time (docs/shedding.md, Proofs): shed_bring_back's
# post-state room, shed_restore's loop frame;
# WP_FCTS="shed_bring_back shed_restore" tests/frama/wp.sh OUT.
mkdir -p "$out"
set -- $fcts
echo "1..$#"
if ! command -v "$fc" >/dev/null || ! command -v why3 >/dev/null; then
	for f in $fcts; do echo "not ok - WP $f: no $fc or why3 (make deps)"; done
	exit 1
fi
# the provers Debian installed, in a why3 configuration of our own
export WHY3CONFIG=$out/why3.conf
why3 config detect > "$out/why3-detect.log" 2>&1
echo "# $($fc -version 2>&1 | head -n1), why3 $(why3 --version 2>&1 | awk '{print $NF}'), $(z3 --version), CVC4 $(cvc4 --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -n1)"
n=0; fail=0
for f in $fcts; do
	n=$((n + 1))
	log=$out/wp-$f.log
	start=$(date +%s)
	"$fc" -machdep gcc_x86_64 -c11 \
		-cpp-extra-args="-D__FRAMAC__ -DSHED_WP -I$top -I$top/uapi -idirafter /usr/include -idirafter /usr/include/$(gcc -dumpmachine)" \
		"$top/kernel/shed.c" -wp -wp-rte -wp-fct "$f" -wp-split \
		-wp-prover z3,cvc4 -wp-timeout "${WP_TIMEOUT:-60}" \
		-wp-par "${WP_PAR:-2}" > "$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	res=$(sed -n 's/^\[wp\] Proved goals: *\([0-9]*\) \/ \([0-9]*\)/\1 \2/p' "$log")
	set -- $res
	echo "# $f: ${1:-?} / ${2:-?} goals proved in ${secs}s"
	if [ "$rc" -eq 0 ] && [ -n "$1" ] && [ "$1" = "$2" ]; then
		echo "ok $n - WP $f: every goal proved"
	else
		grep -A2 '^\[wp\] \[\(Failed\|Unknown\|Timeout\)\]\|User Error' "$log" | sed 's/^/# /' | head -n 40
		echo "not ok $n - WP $f: ${1:-?} of ${2:-?} goals proved (see $log)"
		fail=1
	fi
done
exit $fail
