#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# trace-bench.sh DIR: what tracing costs the sampler (make bench-vm-trace),
# in the test VM with phloem.ko bound to phloem_sim.ko. DIR holds
# phloem-trace.
#
# The sampling thread's CPU time (/proc/PID/schedstat: ns on a CPU) over
# the sample sets it took (PHLOEM_IOC_GET_STATS, read at the same moment),
# in windows of about WINDOW_S seconds, alternately without and with phloem-trace attached (every
# program: phloem's tracepoints, sched_switch, irq and softirq), ROUNDS
# windows each, so both see the same machine. Without the tool the
# tracepoints are off: static keys, and no extra clock reads.
#
# Under QEMU TCG these are functional figures, not hardware timings: an
# emulated CPU makes every instruction dearer, the BPF programs' included.
# Target: the tool adds at most TARGET_PCT % to the sampler's CPU per sample.
set -u
dir=${1:?usage: trace-bench.sh DIR}
. "$(dirname "$0")/trace-lib.sh"
ROUNDS=${ROUNDS:-3}
WINDOW_S=${WINDOW_S:-8}
TARGET_PCT=${TARGET_PCT:-10}
W=$(mktemp -d)
tool=
trap '[ -n "$tool" ] && kill $tool 2>/dev/null; isolate_sampler undo; rm -rf "$W"' EXIT

pid=$(sampler_pid) || { echo "trace-bench: no phloem0 thread"; exit 125; }
# As in check-vm-trace: the sampler alone on CPU 1, the device interrupts
# on CPU 0 (a sampler slowed past its period by a loaded host holds its
# CPU; with the 9p interrupts there the guest stalled, docs/trace.md)
isolate_sampler 1 0 > /dev/null

# window LABEL: one measurement, appended to $W/LABEL as "ns_per_sample
# rate"; the CPU time and the sample count are read together
window() {
	phloem_stats "$W/s0" "$pid"
	sleep "$WINDOW_S"
	phloem_stats "$W/s1" "$pid"
	$PY - "$W/s0" "$W/s1" >> "$W/$1" <<'PYEOF'
import json, sys
s0, s1 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n = s1["samples"] - s0["samples"]
print("%.0f %.0f" % ((s1["cpu_ns"] - s0["cpu_ns"]) / max(n, 1),
                     n * 1e9 / max(s1["t_ns"] - s0["t_ns"], 1)))
PYEOF
}

sleep 2		# let the unit leave its start-up failsafe
for r in $(seq "$ROUNDS"); do
	window off
	"$dir/phloem-trace" -q -l 1000000 > /dev/null 2> "$W/err" &
	tool=$!
	wait_for "$W/err" tracing 120 $tool || { cat "$W/err"; exit 1; }
	window on
	kill -INT $tool; wait $tool; tool=
done

$PY - "$W/off" "$W/on" "$TARGET_PCT" "$ROUNDS" "$WINDOW_S" <<'PYEOF'
import statistics, sys
def rows(f):
    return [tuple(map(float, l.split())) for l in open(f)]
off, on = rows(sys.argv[1]), rows(sys.argv[2])
target = float(sys.argv[3])
print("phloem-trace cost: sampler CPU per sample set, %s windows of %s s each, alternating"
      % (sys.argv[4], sys.argv[5]))
print("(QEMU TCG: functional figures, not hardware timings)")
print("%-28s %8s %14s %14s %12s" % ("condition", "windows", "median ns", "worst ns", "samples/s"))
for name, r in (("not attached (baseline)", off), ("phloem-trace attached", on)):
    ns = [x[0] for x in r]
    print("%-28s %8d %14.0f %14.0f %12.0f" % (name, len(r), statistics.median(ns), max(ns),
                                              statistics.median([x[1] for x in r])))
b, t = statistics.median(x[0] for x in off), statistics.median(x[0] for x in on)
pct = (t - b) * 100.0 / b if b else 0.0
miss = pct > target
print("%-28s %8s %14s %14s %12s%s" % ("overhead (medians)", "", "%+.0f" % (t - b), "%+.1f %%" % pct,
      "<= %.0f %%" % target, "  MISSED" if miss else ""))
sys.exit(1 if miss else 0)
PYEOF
