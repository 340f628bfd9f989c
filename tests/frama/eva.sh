#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# eva.sh OUTDIR MACHDEP...: Frama-C's value analysis of the shedding unit
# (kernel/shed.c through tests/frama/harness.c), once per data model, as TAP.
# A run passes when EVA finishes the whole harness with 0 alarms and no
# warning; the alarms, if any, are listed. FRAMA_C names the binary.
out=$1; shift
top=$(cd "$(dirname "$0")/../.." && pwd)
fc=${FRAMA_C:-frama-c}
mkdir -p "$out"
echo "1..$#"
if ! command -v "$fc" >/dev/null; then
	for m in "$@"; do echo "not ok - EVA $m: no $fc (make deps)"; done
	exit 1
fi
echo "# $($fc -version 2>&1 | head -n1)"
n=0; fail=0
for m in "$@"; do
	n=$((n + 1))
	log=$out/eva-$m.log
	start=$(date +%s)
	# -eva-plevel: the windows have 256 slots, above the default 200
	# at which EVA stops telling array cells apart; auto-loop-unroll
	# runs the per-channel/circuit/relay loops (<= 16) one by one.
	"$fc" -machdep "$m" -c11 \
		-cpp-extra-args="-D__FRAMAC__ -I$top -I$top/uapi -idirafter /usr/include -idirafter /usr/include/$(gcc -dumpmachine)" \
		"$top/tests/frama/harness.c" \
		-eva -eva-precision 0 -eva-ilevel 64 -eva-plevel 4096 \
		-eva-auto-loop-unroll 20 -eva-no-alloc-returns-null \
		-eva-no-print ${EVA_EXTRA} > "$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	alarms=$(grep -c '^\[eva:alarm\]' "$log")
	warns=$(grep -c 'Warning' "$log")
	cov=$(grep -E 'functions analyzed|statements reached' "$log" | sed 's/^ *//' | tr '\n' ' ')
	echo "# $m: ${secs}s, $cov"
	if [ "$rc" -ne 0 ] || ! grep -q 'done for function main' "$log" ||
	   [ "$alarms" -ne 0 ] || [ "$warns" -ne 0 ]; then
		grep -A3 '^\[eva:alarm\]\|Warning' "$log" | sed 's/^/# /' | head -n 80
		echo "not ok $n - EVA $m: status $rc, $alarms alarms, $warns warnings (see $log)"
		fail=1
	else
		echo "ok $n - EVA $m: harness over every public function, 0 alarms"
	fi
done
exit $fail
