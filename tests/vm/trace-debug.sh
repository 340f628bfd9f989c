#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# trace-debug.sh DIR: phloem-trace on the debug kernel (make
# check-vm-trace-debug). That kernel (tests/vm/debug-kernel/debug.config)
# has no BPF syscall and no BTF, so the tool must refuse, saying why,
# before touching anything; phloem.ko, built with its tracepoints against
# that kernel, must keep sampling and shedding under lockdep, KASAN and
# kmemleak (the runner scans the log and for leaks, and unloads both
# modules at the end). DIR holds phloem-trace and phloem_bench.
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
	"$dir/phloem_bench" -n 5 > /tmp/bench.out 2>&1
	rc=$?
	ok "$rc" "5 step overloads with the tracepoints compiled in (phloem_bench status $rc)"
	[ "$rc" = 0 ] || tail -n 20 /tmp/bench.out | sed 's/^/# /'
}

tap_run main
