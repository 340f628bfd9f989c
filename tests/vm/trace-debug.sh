#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# trace-debug.sh DIR: phloem-trace on the debug kernel (make
# check-vm-trace-debug). That kernel (tests/vm/debug-kernel/debug.config)
# has no BPF syscall and no BTF, so the tool must refuse, saying why,
# before touching anything; phloem.ko, built with its tracepoints against
# that kernel, must keep sampling and shedding under lockdep, KASAN and
# kmemleak with every phloem tracepoint on through ftrace (the runner
# scans the log and for leaks, and unloads both modules at the end). DIR
# holds phloem-trace and phloem_bench.
set -u
dir=${1:?usage: trace-debug.sh DIR}
. "$(dirname "$0")/trace-lib.sh"

main() {
	local rc

	"$dir/phloem-trace" -D 1 > /tmp/trace.out 2> /tmp/trace.err
	rc=$?
	ok "$([ $rc = 1 ] && grep -q 'this kernel has no BTF' /tmp/trace.err &&
	      [ ! -s /tmp/trace.out ]; echo $?)" \
		"refuses on a kernel without BTF: status $rc, \"$(head -c 200 /tmp/trace.err)\""
	# The tracepoints on, through ftrace (the kernel has event tracing):
	# every TP_fast_assign runs under KASAN and lockdep
	local T=/sys/kernel/tracing e miss=
	mountpoint -q $T || mount -t tracefs tracefs $T
	echo 16384 > $T/buffer_size_kb
	echo 1 > $T/events/phloem/enable
	"$dir/phloem_bench" -n 5 > /tmp/bench.out 2>&1
	rc=$?
	echo 0 > $T/events/phloem/enable
	ok "$rc" "5 step overloads with every phloem tracepoint on (phloem_bench status $rc)"
	[ "$rc" = 0 ] || tail -n 20 /tmp/bench.out | sed 's/^/# /'
	for e in phloem_sample phloem_round phloem_adc_read phloem_decide phloem_relay_write phloem_event; do
		grep -q " $e: " $T/trace || miss="$miss $e"
	done
	ok "$([ -z "$miss" ]; echo $?)" "ftrace recorded every kind that fires on a shed${miss:+ (missing:$miss)}"
	grep -m1 ' phloem_event: dev=0 shed' $T/trace | sed 's/^ */# /' | cut -c1-200
	echo > $T/trace
}

tap_run main
