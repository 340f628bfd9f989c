#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# trace.sh DIR: phloem-trace in the test VM (make check-vm-trace), run by
# tests/vm/run.sh --modules (phloem.ko bound to phloem_sim.ko). DIR holds
# phloem-trace and phloem_bench.
#
#   1. phloem.ko's tracepoints are registered (tracefs events/phloem/)
#   2. the tool refuses clearly without privileges and without BTF
#   3. 20 step overloads (phloem_bench) with the tool attached: its shed
#      latency histogram equals the driver's own (PHLOEM_IOC_GET_STATS
#      read here before and after, bucket by bucket, count and sum); each
#      shed is broken down sample -> decision -> relay write and the parts
#      add up to the driver's latency; every histogram counted samples;
#      its ADC read histograms hold every read that ftrace recorded
#      meanwhile, in the same buckets (the tool's from the tracepoint's
#      read_log2, ftrace's from its read_ns)
#   4. a SCHED_FIFO hog on the sampler's CPU (both pinned) makes it late,
#      then 24 short children run there in the same late window: the tool
#      names the hog first among what ran on that CPU meanwhile (the
#      longest runs of the window are kept and listed, not the newest)
#   5. the tables (no --json) have every section
set -u
dir=${1:?usage: trace.sh DIR}
. "$(dirname "$0")/trace-lib.sh"
T=$dir/phloem-trace
W=$(mktemp -d)
tool=
cleanup() {
	[ -n "$tool" ] && kill "$tool" 2>/dev/null
	isolate_sampler undo
	rm -rf "$W"
}

main() {
trap cleanup EXIT
# The sampler gets CPU 1 to itself, every device interrupt (the 9p shares:
# every exec; the serial port: every line of the console) CPU 0, as a
# gateway would isolate its sampling CPU. Their threaded handlers run at SCHED_FIFO 50 like the
# sampler and the hog of step 4 is above both: on the sampler's CPU they
# would wait behind it, and a late sampler that holds its CPU (docs/trace.md,
# "The guest hangs") would stall every file access of the guest.
isolate_sampler 1 0
echo "# clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
# -- 1. tracepoints
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
missing=
for e in phloem_sample phloem_round phloem_adc_read phloem_decide phloem_relay_write \
	 phloem_event phloem_failsafe phloem_lease_expired phloem_lease; do
	[ -d /sys/kernel/tracing/events/phloem/$e ] || missing="$missing $e"
done
ok "$([ -z "$missing" ]; echo $?)" "tracepoints: phloem:* registered${missing:+ (missing:$missing)}"

# The tracepoints through ftrace too: a few sets, then off again
for e in phloem_sample phloem_round; do
	echo 1 > /sys/kernel/tracing/events/phloem/$e/enable
	sleep 0.5
	echo 0 > /sys/kernel/tracing/events/phloem/$e/enable
	grep -m1 "$e: dev=0" /sys/kernel/tracing/trace > "$W/ftrace" 2>/dev/null
	ok "$([ -s "$W/ftrace" ]; echo $?)" "tracepoints: $e fires through ftrace ($(cut -c1-160 "$W/ftrace"))"
	echo > /sys/kernel/tracing/trace
done

# -- 2. refusals
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	"$T" -D 1 > "$W/out" 2> "$W/err"
rc=$?
ok "$([ $rc = 1 ] && grep -q 'permission denied: needs root, or CAP_BPF and CAP_PERFMON' "$W/err"; echo $?)" \
	"refuses without privileges: status $rc, \"$(head -c 120 "$W/err")\""
"$T" --btf /nonexistent/vmlinux -D 1 > "$W/out" 2> "$W/err"
rc=$?
ok "$([ $rc = 1 ] && grep -q 'btf /nonexistent/vmlinux: No such file' "$W/err" && [ ! -s "$W/out" ]; echo $?)" \
	"refuses a missing BTF file: status $rc, \"$(head -c 120 "$W/err")\""

# -- 3. totals against the driver's histogram
# (ftrace's buffer is sized now, as that takes a while under TCG: one
# CPU's holds every phloem_round of the overloads, about 110 bytes a set)
TR=/sys/kernel/tracing
kb=$(cat $TR/buffer_size_kb)
echo 16384 > $TR/buffer_size_kb
"$T" --json -l 5000 > "$W/trace.json" 2> "$W/trace.err" &
tool=$!
if wait_for "$W/trace.err" 'tracing' 120 $tool; then
	ok 0 "attached: $(head -c 100 "$W/trace.err")"
else
	ok 1 "attached within 120 s: $(head -c 300 "$W/trace.err")"
fi
# phloem_round through ftrace too, from after the tool armed to before it
# ends: a subset of the sets it counts
echo > $TR/trace
echo 1 > $TR/events/phloem/phloem_round/enable
phloem_stats "$W/s0.json" "$(sampler_pid)"
"$dir/phloem_bench" -n 20 -v > "$W/bench.out" 2>&1
brc=$?
phloem_stats "$W/s1.json" "$(sampler_pid)"
sleep 0.5
echo 0 > $TR/events/phloem/phloem_round/enable
grep -h '^overrun' $TR/per_cpu/cpu*/stats | awk '{n += $2} END {print n + 0}' > "$W/overrun"
grep 'phloem_round: dev=0 ' $TR/trace > "$W/rounds"
echo > $TR/trace
echo "$kb" > $TR/buffer_size_kb
stop_tool $tool
trc=$?
tool=
ok "$([ $brc = 0 ]; echo $?)" "20 step overloads ran (phloem_bench status $brc)"
ok "$([ $trc = 0 ]; echo $?)" "phloem-trace ended cleanly on SIGINT (status $trc)"
[ $brc = 0 ] || { grep '^phloem_bench: round' "$W/bench.out"
		  tail -n 20 "$W/bench.out"; } | sed 's/^/# /'

$PY - "$W/trace.json" "$W/s0.json" "$W/s1.json" "$W/rounds" "$W/overrun" <<'PYEOF'
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
s0, s1 = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
summ = [l for l in lines if l["type"] == "summary"]
sheds = [l for l in lines if l["type"] == "shed"]
def ok(cond, msg):
    print(("ok" if cond else "not ok") + " - " + msg)
if not summ:
    ok(False, "the tool printed a summary"); sys.exit(0)
s = summ[-1]
sl = s["shed_latency"]
drv = [b - a for a, b in zip(s0["lat_hist"], s1["lat_hist"])]
dcount = s1["lat_count"] - s0["lat_count"]
dsum = s1["lat_sum_ns"] - s0["lat_sum_ns"]
ok(dcount >= 20, "the driver counted %d sheds (>= 20)" % dcount)
ok(sl["tool"] == drv, "shed latency: the tool's histogram equals the driver's, bucket by bucket "
   "(%d buckets used)" % sum(1 for x in drv if x))
ok(sl["tool_count"] == dcount and s["events"]["shed"] == dcount,
   "shed count: tool %d (events %d), driver %d" % (sl["tool_count"], s["events"]["shed"], dcount))
ok(sl["tool_sum_ns"] == dsum, "shed latency sum: tool %d ns, driver %d ns" % (sl["tool_sum_ns"], dsum))
ok(sl["bounds_ns"][:-1] == s1["lat_bound_ns"][:-1] and sl["bounds_ns"][-1] is None,
   "same buckets: the tool's bounds are the driver's")
ok(len(sheds) == dcount, "one breakdown line per shed (%d)" % len(sheds))
matched = [x for x in sheds if x["matched"]]
ok(len(matched) >= len(sheds) * 0.8 and matched,
   "%d of %d sheds broken down from their trigger sample" % (len(matched), len(sheds)))
bad = []
for x in matched:
    parts = [x[k] for k in ("reads_us", "decide_us", "wait_us", "write_us", "rest_us")]
    if any(p is None or p < 0 for p in parts) or x["late_us"] is None:
        bad.append(x); continue
    if abs(sum(parts) * 1000 - x["latency_ns"]) > 2000:
        bad.append(x)
ok(not bad, "reads + decide + wait + write + rest = the driver's latency, within 2 us%s"
   % ("" if not bad else ": " + json.dumps(bad[0])))
if matched:
    m = sorted(matched, key=lambda x: x["latency_ns"])[len(matched) // 2]
    print("# median shed (us): late %.0f | reads %.0f | decide %.1f | wait %.0f | write %.0f | rest %.0f | total %.0f"
          % (m["late_us"], m["reads_us"], m["decide_us"], m["wait_us"], m["write_us"], m["rest_us"],
             m["latency_ns"] / 1000))
h = s["hist_ns"]
tot = lambda rows: sum(r[2] for r in rows)
samples = s["samples"]
ds = s1["samples"] - s0["samples"]
ok(samples > 0 and tot(h["late"]) == samples, "lateness histogram: %d sample sets traced (driver: %d over a shorter span)"
   % (samples, ds))
# Counted while armed: a set read across the arming or disarming apart
reads = [tot(r) + e for r, e in zip(h["adc"].values(), s["adc_errors"])]
ok(h["adc"] and all(abs(r - samples) <= 1 for r in reads),
   "ADC read histograms: every read of every set, per channel (%s reads, %d sets)"
   % (" ".join(map(str, reads)), samples))
# ftrace's sets are a subset of the tool's: no bucket of the tool may hold
# fewer reads than ftrace's record puts there, and the sets only the tool
# saw (armed before ftrace was on, and after it was off) fewer than those
# both saw, so that a bucket off by one could not hide
ft = [[0] * 64 for _ in h["adc"]]
nft = 0
for l in open(sys.argv[4]):
    m = re.search(r"read_ns=\{([^}]*)\}.*failed=0x([0-9a-f]+)", l)
    if not m:
        continue
    nft += 1
    failed = int(m.group(2), 16)
    for c, v in enumerate(int(x, 16) for x in m.group(1).split(",")):
        if c < len(ft) and not failed >> c & 1:
            ft[c][max(v.bit_length() - 1, 0)] += 1
short = []
for c, rows in enumerate(h["adc"].values()):
    tool = [0] * 64
    for lo, hi, n in rows:
        tool[max(lo.bit_length() - 1, 0)] = n
    short += ["channel %d bucket %d: tool %d < ftrace %d" % (c, b, tool[b], ft[c][b])
              for b in range(64) if tool[b] < ft[c][b]]
overrun = int(open(sys.argv[5]).read())
ok(nft >= 1000 and overrun == 0 and not short and 2 * nft >= samples,
   "ADC read histograms: the buckets of %d sets recorded by ftrace (overrun %d) all in the tool's "
   "(%d sets)%s" % (nft, overrun, samples, ": " + "; ".join(short[:4]) if short else ""))
ok(0 < tot(h["decide"]) <= samples + 1, "decision cost histogram: %d decisions" % tot(h["decide"]))
ok(tot(h["relay_write"]) >= dcount + s["events"]["restore"],
   "relay write histogram: %d writes for %d sheds and %d restores"
   % (tot(h["relay_write"]), dcount, s["events"]["restore"]))
wall = s1["t_ns"] - s0["t_ns"]
print("# sampler during the overloads: %.0f %% of a CPU, %d sets, %d overruns, over %.1f s"
      % (100.0 * (s1["cpu_ns"] - s0["cpu_ns"]) / wall, ds, s1["overruns"] - s0["overruns"], wall / 1e9))
ok(s["records_lost"] == 0, "no record lost (%d)" % s["records_lost"])
PYEOF

# -- 4. who ran while the sampler was late or preempted: a SCHED_FIFO 90
# busy loop (above the sampler's 50) on the sampler's CPU for 200 ms, which
# then starts 24 children spinning 1 ms each there (FIFO 90 and the pin are
# inherited: they run one after the other once the hog waits for them),
# all before the sampler can run again: a window whose longest run is its
# oldest, with more runs after it than the tool keeps (16).
# The loops time themselves: under TCG an exec takes longer than a
# timeout(1) could allow for them.
"$T" --json -l 30000 > "$W/late.json" 2> "$W/late.err" &
tool=$!
wait_for "$W/late.err" 'tracing' 120 $tool ||
	echo "# not attached: $(head -c 300 "$W/late.err")"
# A hog that lands while the sampler sleeps makes its wake-up late; one
# that lands mid-round (most of the time when the sampler is busy under
# TCG) preempts the round: the tool reports both (a clean-clone run once
# had twelve hogs land mid-round, when only late wake-ups were reported).
# So the first hog should be named; up to four, in case one is cut short.
for i in $(seq 4); do
	# timeout(1) outside the pin: a hog that never ends is killed after 20 s
	timeout -s KILL 20 chrt -f 90 taskset -c 1 bash -c '
		spin() {
			local end=$(( ${EPOCHREALTIME/./} + $1 ))
			while (( ${EPOCHREALTIME/./} < end )); do :; done
		}
		spin 200000
		for ((c = 0; c < 24; c++)); do spin 1000 & done
		wait'
	sleep 1
	grep -qE '"ran":\[\{"what":"task bash/[0-9]+","us":([5-9][0-9]{4}|[0-9]{6,})\.' "$W/late.json" && break
done
echo "# $i hogs of 200 ms"
stop_tool $tool
tool=
$PY - "$W/late.json" <<'PYEOF'
import json, sys
late = [l for l in (json.loads(x) for x in open(sys.argv[1]) if x.strip()) if l["type"] == "late"]
is_hog = lambda r: r["what"].startswith("task bash/") and r["us"] >= 50000
hog = [l for l in late if any(is_hog(r) for r in l["ran"])]
pre = sum(1 for l in late if l["preempted"])
print(("ok" if hog else "not ok") + " - late: %d (%d wake-ups, %d preempted mid-round); the SCHED_FIFO hog named in %d of them%s"
      % (len(late), len(late) - pre, pre, len(hog), (": " + json.dumps(hog[0])[:300]) if hog else ""))
# The window with the hog and its children: more runs than kept, the hog
# (the oldest and longest) kept and listed first, the list longest first
crowd = [l for l in hog if l.get("runs_seen", 0) > 16]
good = [l for l in crowd if is_hog(l["ran"][0]) and len(l["ran"]) >= 8 and l.get("truncated")
        and all(a["us"] >= b["us"] for a, b in zip(l["ran"], l["ran"][1:]))]
print(("ok" if good else "not ok") + " - a late or preempted window of more than 16 runs (%s) keeps the 16 longest, "
      "the hog's first" % (", ".join(str(l["runs_seen"]) for l in crowd) or "none"))
for l in late:
    print("# %s %.0f us on cpu %d, %d runs: " % ("preempted" if l["preempted"] else "late", l["late_us"],
          l["cpu"], l.get("runs_seen", -1)) +
          ", ".join("%s %.0f us" % (r["what"], r["us"]) for r in l["ran"][:8]))
PYEOF

# -- 5. the tables
"$T" -D 3 -l 100000 > "$W/tables" 2> "$W/tables.err"
rc=$?
miss=
for t in 'samples, ' 'timer wake-up lateness' 'ADC read, channel 0' 'decision (phloem_shed_sample' \
	 'relay GPIO write' "shed latency, sample to relay write, in the driver's buckets"; do
	grep -qF "$t" "$W/tables" || miss="$miss [$t]"
done
ok "$([ $rc = 0 ] && [ -z "$miss" ]; echo $?)" "tables: every section printed (status $rc)${miss:+ missing:$miss}"
sed -n '1,40p' "$W/tables" | sed 's/^/# /'
}

tap_run main
