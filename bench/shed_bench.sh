#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# shed_bench.sh BIN OUTDIR: the shedding unit's benchmark, as tables.
#
# 1. Instructions per sample per channel of phloem_shed_sample(), counted
#    by callgrind (only that function, inclusive, warm-up excluded), for 3
#    and 8 channels, beside a baseline measured in the same run: a bare
#    calibrate-and-square loop over the same samples.
#    phloem_shed_signal(), called with every set as the driver does, is
#    counted with it. 8p is a three-phase site (v0..v2, a site CT per
#    phase, 2 final circuits) with the phase rules on as well.
# 2. Detection latency of step overloads (shed_bench latency).
# 3. The frequency rule: filtered frequency error on clean, harmonic and
#    noisy mains, and a stage's operate time on ramps (shed_bench freq).
# 4. Grid-operator input to import capped (shed_bench signal).
# 5. Outage detection time (shed_bench outage).
# 6. The phase rules' time to shed (shed_bench phase).
set -e
bin=$1; out=$2
nsets=${SHED_BENCH_SETS:-40000}
target=300
mkdir -p "$out"

ir() {	# ir NCH WHICH FN...: instructions callgrind counted inside the FNs
	local f="$out/callgrind.$1.$2" n=$1 w=$2 tc=() fn
	shift 2
	for fn in "$@"; do tc+=(--toggle-collect="$fn"); done
	valgrind --tool=callgrind --callgrind-out-file="$f" \
		"${tc[@]}" "$bin" cost "$n" "$nsets" "$w" \
		>/dev/null 2>"$f.log" || { cat "$f.log" >&2; return 1; }
	sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$f" | tail -n1
}

echo "phloem_shed_sample() cost: callgrind instructions (Ir) per sample per channel"
echo "($nsets sample sets at 4 kHz, 50 Hz, steady state; includes the per-cycle work;"
echo " all rules on: instantaneous, thermal, site import, 4 under-frequency stages, over-frequency,"
echo " outage, voltage events, under-voltage; 8p: three-phase, the phase limits and imbalance too)"
echo
printf '%-9s %14s %14s %10s %8s %-6s\n' channels shed_Ir/smp/ch \
	base_Ir/smp/ch shed/base target result
fail=0
for nch in 3 8 8p; do
	s=$(ir $nch shed phloem_shed_sample phloem_shed_signal)
	b=$(ir $nch base bench_baseline)
	read -r ps pb ratio ok < <(awk -v s="$s" -v b="$b" -v n="$nsets" \
		-v c="$nch" -v t="$target" 'BEGIN {
			ps = s / n / c; pb = b / n / c;
			printf "%.1f %.1f %.1f %s\n", ps, pb, ps / pb,
				ps <= t ? "PASS" : "FAIL" }')
	[ "$ok" = PASS ] || fail=1
	printf '%-9s %14s %14s %10s %8s %-6s\n' "$nch" "$ps" "$pb" "${ratio}x" \
		"<= $target" "$ok"
done
"$bin" latency || fail=1
"$bin" freq || fail=1
"$bin" signal || fail=1
"$bin" outage || fail=1
"$bin" phase || fail=1
exit $fail
