#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# trace-bench.sh DIR: what tracing costs the sampler (make bench-vm-trace),
# in the test VM with phloem.ko bound to phloem_sim.ko. DIR holds
# phloem-trace, and host-loadavg: the host's /proc/loadavg, rewritten every
# second by the make target (the guest's own load says nothing of the
# host's vCPU threads being preempted).
#
# The sampling thread's CPU time (/proc/PID/schedstat: ns on a CPU) over
# the sample sets it took (PHLOEM_IOC_GET_STATS, read at the same moment),
# in windows of WINDOW_S seconds, alternately without and with phloem-trace
# attached as a user runs it (-q: every program, phloem's tracepoints,
# sched_switch, irq and softirq; late wake-ups reported from 1 ms): ROUNDS
# attached windows, each between two detached ones (A B A B ... A), so
# each attached window is judged against the detached windows either side
# of it, and a change in the host's load hits both sides of a pair. The tool is started once
# and its programs detached and attached again by SIGUSR1 (a load takes
# a minute under TCG): detached, nothing is attached to a tracepoint, so
# they are off (static keys, and no extra clock reads), as with no tool.
# Then, attached again, the kernel's BPF statistics for a few seconds:
# what each program costs per run and per sample set (not part of the
# judged figures: the statistics add their own clock reads). The overhead
# is judged on the median of the pairs' differences (each attached window
# less the mean of its two neighbours, in % of that mean); the table gives
# the worst pair too, each condition's median and worst window, and the
# host's load average over the windows.
#
# Bounded: every step has a deadline (the tool's start 120 s, its stop
# 60 s, a counter read 30 s), and no window starts after BUDGET_S seconds;
# whatever did not complete is a row marked FAILED, and the run exits 1.
#
# Under QEMU TCG these are functional figures, not hardware timings: an
# emulated CPU makes every instruction dearer, the BPF programs' included.
# Target: the tool adds at most TARGET_PCT % to the sampler's CPU per sample.
set -u
dir=${1:?usage: trace-bench.sh DIR}
. "$(dirname "$0")/trace-lib.sh"
ROUNDS=${ROUNDS:-10}
WINDOW_S=${WINDOW_S:-5}
TARGET_PCT=${TARGET_PCT:-10}
BUDGET_S=${BUDGET_S:-600}
W=$(mktemp -d)
tool=
trap '[ -n "$tool" ] && kill -KILL $tool 2>/dev/null; isolate_sampler undo; rm -rf "$W"' EXIT

pid=$(sampler_pid) || { echo "trace-bench: no phloem0 thread"; exit 125; }
# As in check-vm-trace: the sampler alone on CPU 1, the device interrupts
# on CPU 0 (a sampler slowed past its period by a loaded host holds its
# CPU; with the 9p interrupts there the guest stalled, docs/trace.md)
isolate_sampler 1 0 > /dev/null
touch "$W/off" "$W/on" "$W/failed"

hostload() {	# the host's 1-minute load average, or "?"
	local l
	l=$(cut -d' ' -f1 "$dir/host-loadavg" 2>/dev/null)
	echo "${l:-?}"
}

fail() {	# fail WHAT: a FAILED row of the table, on one line
	echo "$*" | tr '\n' ' ' | cut -c1-200 >> "$W/failed"
	echo >> "$W/failed"
}

# window LABEL: one measurement, appended to $W/LABEL as a JSON line: the
# host's load before and after, the counters and the sampler's CPU time at
# both ends (read together, by one interpreter). A window whose reads do
# not end within 60 s of its length fails.
window() {
	local l0 l1
	l0=$(hostload)
	timeout -s KILL $((WINDOW_S + 60)) \
		bash -c ". $(dirname "$0")/trace-lib.sh; phloem_stats $W/w $pid $WINDOW_S" ||
		{ fail "$1 window $r: counters not read within $((WINDOW_S + 60)) s"; return 1; }
	l1=$(hostload)
	echo "{\"load\": [\"$l0\", \"$l1\"], \"w\": $(cat "$W/w")}" >> "$W/$1"
}

# toggle WHAT: SIGUSR1 to the tool, then its next "attached" or
# "detached" line within 60 s
nattach=0 ndetach=0
toggle() {
	local n end=$((SECONDS + 60))
	if [ "$1" = attached ]; then n=$((nattach += 1)); else n=$((ndetach += 1)); fi
	kill -USR1 $tool
	while [ "$(grep -c "^phloem-trace: $1\$" "$W/err")" -lt "$n" ]; do
		if [ $SECONDS -ge $end ] || ! kill -0 $tool 2>/dev/null; then
			fail "round $r: phloem-trace not $1 within 60 s: $(tail -c 150 "$W/err")"
			return 1
		fi
		sleep 0.2
	done
}

sleep 2		# let the unit leave its start-up failsafe
start=$SECONDS
"$dir/phloem-trace" -q > /dev/null 2> "$W/err" &
tool=$!
r=0
if ! wait_for "$W/err" tracing 180 $tool; then
	fail "phloem-trace not attached within 180 s: $(head -c 150 "$W/err")"
elif toggle detached; then
	for r in $(seq "$ROUNDS"); do
		if [ $((SECONDS - start)) -ge "$BUDGET_S" ]; then
			fail "rounds $r to $ROUNDS: not started, past the ${BUDGET_S} s budget"
			break
		fi
		window off || break
		toggle attached || break
		window on || break
		toggle detached || break
	done
	# The detached window after the last attached one closes its pair
	[ "$r" = "$ROUNDS" ] && [ "$(wc -l < "$W/on")" = "$ROUNDS" ] &&
		{ r=$((ROUNDS + 1)); window off; }
fi
# Where the time goes: the kernel's per-program statistics, attached
if [ -n "$tool" ] && kill -0 $tool 2>/dev/null && toggle attached; then
	echo 1 > /proc/sys/kernel/bpf_stats_enabled &&
	timeout -s KILL 30 bpftool -j prog show > "$W/b0" &&
	timeout -s KILL 60 bash -c ". $(dirname "$0")/trace-lib.sh; phloem_stats $W/p $pid 3" &&
	timeout -s KILL 30 bpftool -j prog show > "$W/b1"
	echo 0 > /proc/sys/kernel/bpf_stats_enabled
fi
if [ -n "$tool" ]; then
	stop_tool $tool > /dev/null
	rc=$?
	tool=
	[ $rc = 0 ] || fail "phloem-trace ended with status $rc"
fi
if [ -s "$W/b1" ] && [ -s "$W/p" ]; then
	$PY - "$W/b0" "$W/b1" "$W/p" <<'PYEOF'
import json, sys
b0 = {p["id"]: p for p in json.load(open(sys.argv[1]))}
b1 = json.load(open(sys.argv[2]))
rows = []
for p in b1:
    if p.get("type") not in ("raw_tracepoint", "tracing") or p["id"] not in b0:
        continue
    n = p.get("run_cnt", 0) - b0[p["id"]].get("run_cnt", 0)
    t = p.get("run_time_ns", 0) - b0[p["id"]].get("run_time_ns", 0)
    rows.append((p.get("name", "?"), n, t))
# on_round runs once a sample set: the sets of the same span
sets = max([n for name, n, t in rows if name == "on_round"] or [1])
print("where the tool's time goes (kernel.bpf_stats_enabled, attached, a few seconds: %d sample sets;" % sets)
print(" the program bodies only, every CPU; not the tracepoints' own dispatch):")
print("%-20s %10s %12s %14s" % ("program", "runs", "ns a run", "ns a set"))
for name, n, t in rows:
    if n:
        print("%-20s %10d %12.0f %14.0f" % (name, n, t / n, t / max(sets, 1)))
PYEOF
fi

$PY - "$W/off" "$W/on" "$W/failed" "$TARGET_PCT" "$ROUNDS" "$WINDOW_S" <<'PYEOF'
import math, statistics, sys
import json
def rows(f):
    """(ns per sample set, sets per second, the host's highest load) a window, in order"""
    out = []
    for l in open(f):
        if not l.strip():
            continue
        x = json.loads(l)
        s0, s1 = x["w"]["s0"], x["w"]["s1"]
        n = s1["samples"] - s0["samples"]
        loads = [float(v) for v in x["load"] if v != "?"]
        out.append(((s1["cpu_ns"] - s0["cpu_ns"]) / max(n, 1),
                    n * 1e9 / max(s1["t_ns"] - s0["t_ns"], 1),
                    max(loads) if loads else float("nan")))
    return out
off, on = rows(sys.argv[1]), rows(sys.argv[2])
failed = [l.strip() for l in open(sys.argv[3]) if l.strip()]
target = float(sys.argv[4])
# Windows ran off[0] on[0] off[1] on[1] ... on[n-1] off[n]: attached window
# i is judged against the mean of off[i] and off[i+1] (off[i] alone when the
# run ended before off[i+1]), so a drift of the host's load over the run
# cancels out of each pair
pairs = []
for i, x in enumerate(on):
    ref = [y[0] for y in off[i:i + 2]]
    if ref:
        b = statistics.mean(ref)
        pairs.append((x[0] - b, (x[0] - b) * 100.0 / b if b else 0.0))
print("phloem-trace cost: sampler CPU per sample set, %d attached windows of %s s, each between"
      % (len(on), sys.argv[6]))
print("two detached ones (%s rounds asked for)" % sys.argv[5])
print("(QEMU TCG: functional figures, not hardware timings; host load: the host's 1-minute")
print(" load average on its 2 CPUs, median and highest over the windows)")
print("%-26s %7s %11s %11s %10s %11s" % ("condition", "windows", "median ns", "worst ns",
                                         "samples/s", "host load"))
def load(r):
    l = [x[2] for x in r if not math.isnan(x[2])]
    return "%.1f/%.1f" % (statistics.median(l), max(l)) if l else "?"
for name, r in (("not attached (baseline)", off), ("phloem-trace attached", on)):
    if not r:
        print("%-26s %7d %11s  FAILED: no window measured" % (name, 0, "-"))
        continue
    ns = [x[0] for x in r]
    print("%-26s %7d %11.0f %11.0f %10.0f %11s" % (name, len(r), statistics.median(ns), max(ns),
                                                    statistics.median([x[1] for x in r]), load(r)))
seq = []
for i, x in enumerate(off):
    seq.append("%.0f" % x[0])
    if i < len(on):
        seq.append("[%.0f]" % on[i][0])
print("windows in order, ns a set ([attached]): %s" % " ".join(seq))
if pairs:
    print("pairs (attached - mean of its neighbours): %s" %
          ", ".join("%+.0f ns %+.1f %%" % p for p in pairs))
for f in failed:
    print("%-26s  FAILED: %s" % ("", f))
bad = bool(failed) or not pairs
if pairs:
    med = statistics.median(p[1] for p in pairs)
    worst = max(pairs, key=lambda p: p[1])
    miss = med > target
    bad |= miss
    print("%-26s %7d %11s %11s %10s%s" % ("overhead (pairs)", len(pairs),
          "%+.0f" % statistics.median(p[0] for p in pairs), "%+.0f" % worst[0],
          "%+.1f %%" % med,
          "  (median of the pairs; worst pair %+.1f %%; target <= %.0f %%)%s"
          % (worst[1], target, "  MISSED" if miss else "")))
sys.exit(1 if bad else 0)
PYEOF
