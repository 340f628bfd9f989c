# SPDX-License-Identifier: GPL-2.0
# Shared by tests/vm/trace.sh, trace-debug.sh and trace-bench.sh (sourced,
# in the guest): TAP lines, and the driver's own counters read straight
# from PHLOEM_IOC_GET_STATS, independently of phloem-trace.
PY=/usr/bin/python3

# Test lines are unnumbered ("ok - ..."): the python checks print their
# own; tap_run counts them all for the plan and the exit status.
ok() {	# ok STATUS DESCRIPTION: ok when STATUS is 0
	if [ "$1" = 0 ]; then
		echo "ok - $2"
	else
		echo "not ok - $2"
	fi
}

# tap_run FUNCTION: run it, then the plan; fails when a line did
tap_run() {
	local out rc
	out=$(mktemp)
	"$1" 2>&1 | tee "$out"
	echo "1..$(grep -cE '^(not )?ok ' "$out")"
	! grep -qE '^not ok ' "$out"
	rc=$?
	rm -f "$out"
	return $rc
}

# phloem_stats FILE [PID [SECONDS]]: struct phloem_stats of /dev/phloem0 as
# JSON in FILE (samples, sheds, lat_count, lat_sum_ns, lat_hist[48]...),
# and with PID, that task's CPU time (ns, /proc/PID/schedstat) read right
# after it. With SECONDS: two such reads that far apart, as
# {"s0": ..., "s1": ...} (one interpreter's start instead of two: each is
# seconds under TCG on a loaded host).
# The ioctl number is _IOR(0xE7, 6, struct phloem_stats) of
# uapi/linux/phloem.h.
phloem_stats() {
	$PY - "$1" "${2:-}" "${3:-}" <<'PYEOF'
import fcntl, json, struct, sys, time
fmt = "<II12Q48Q48Q"
size = struct.calcsize(fmt)
req = (2 << 30) | (size << 16) | (0xE7 << 8) | 6
names = ["samples", "cycles", "adc_errors", "overruns", "sheds", "restores",
         "failsafes", "lease_expiries", "lat_count", "lat_min_ns", "lat_max_ns",
         "lat_sum_ns"]
def snap(f):
    buf = bytearray(struct.pack(fmt, size, 0, *([0] * 108)))
    fcntl.ioctl(f, req, buf)
    v = struct.unpack(fmt, bytes(buf))
    out = dict(zip(names, v[2:14]))
    out["lat_bound_ns"] = list(v[14:62])
    out["lat_hist"] = list(v[62:110])
    out["t_ns"] = time.monotonic_ns()
    if sys.argv[2]:
        out["cpu_ns"] = int(open("/proc/%s/schedstat" % sys.argv[2]).read().split()[0])
    return out
with open("/dev/phloem0", "rb") as f:
    if sys.argv[3]:
        s0 = snap(f)
        time.sleep(float(sys.argv[3]))
        out = {"s0": s0, "s1": snap(f)}
    else:
        out = snap(f)
json.dump(out, open(sys.argv[1], "w"))
PYEOF
}

# The sampling thread of /dev/phloem0 (a kthread named phloem0)
sampler_pid() {
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = phloem0 ] && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}

# wait_for FILE TEXT SECONDS [PID]: TEXT in FILE within SECONDS (of wall
# time: every exec is slow under TCG), and PID still alive meanwhile
wait_for() {
	local end=$((SECONDS + $3))
	while ! grep -q "$2" "$1" 2>/dev/null; do
		[ $SECONDS -ge $end ] && return 1
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.5
	done
}

# isolate_sampler CPU IRQCPU: the sampling thread of /dev/phloem0 pinned
# to CPU, every device interrupt moved to IRQCPU (their threads follow);
# isolate_sampler undo: both back as they were
isolate_sampler() {
	local q p
	if [ "$1" = undo ]; then
		for q in ${_iso_irqs:-}; do
			echo "${q#*=}" > "/proc/irq/${q%%=*}/smp_affinity_list" 2>/dev/null
		done
		[ -n "${_iso_pid:-}" ] && taskset -p -c "$_iso_cpus" "$_iso_pid" > /dev/null 2>&1
		_iso_irqs= _iso_pid=
		return 0
	fi
	_iso_irqs=
	# Every interrupt that can move (the virtio queues, the serial port
	# whose transmit thread the console waits for, ...); the per-CPU ones
	# (timer, IPIs) cannot, and refuse quietly
	for q in /proc/irq/[0-9]*; do
		q=${q#/proc/irq/}
		[ "$(cat "/proc/irq/$q/smp_affinity_list" 2>/dev/null)" = "$2" ] && continue
		_iso_irqs="$_iso_irqs $q=$(cat "/proc/irq/$q/smp_affinity_list")"
		echo "$2" > "/proc/irq/$q/smp_affinity_list" 2>/dev/null
	done
	p=$(sampler_pid) || { echo "# no phloem0 thread to pin"; return 1; }
	_iso_pid=$p
	_iso_cpus=$(taskset -c -p "$p" | sed 's/.*: //')
	taskset -p -c "$1" "$p" > /dev/null || echo "# could not pin the sampler ($p) to CPU $1"
	echo "# sampler $p on CPU $(taskset -c -p "$p" | sed 's/.*: //'); device interrupts:" \
		$(awk 'NR > 1 && $1 ~ /^[0-9]+:$/ { q = $1; sub(/:/, "", q);
			getline a < ("/proc/irq/" q "/effective_affinity_list");
			printf "%s%s", (n++ ? ", " : ""), q "(" $NF ") on " a }' /proc/interrupts)
}

# stop_tool PID: SIGINT, and its exit status; SIGKILL (status 137) when it
# has not ended within 60 s
stop_tool() {
	local i
	kill -INT "$1" 2>/dev/null
	for i in $(seq 120); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.5
	done
	kill -0 "$1" 2>/dev/null && { echo "# phloem-trace $1 did not end on SIGINT: killed"; kill -KILL "$1"; }
	wait "$1"
}
