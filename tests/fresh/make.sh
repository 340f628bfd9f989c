#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make.sh: the top Makefile's fresh-machine behaviour, on this host, in
# seconds (tests/fresh/chroot.sh is the full proof in a clean Debian root).
# TAP. Environment: TOP, MAKE.
#
# - a goal that builds or runs something (demo, check-vm, as any other)
#   installs the packages first: the deps stamp is made before anything else,
#   at the top level, without any prerequisite of the goal's own;
# - clean, agent-bins (Yocto, cross builds) and a KERNEL_SRC given on the
#   command line (Yocto's module class) install nothing;
# - KERNEL_SRC and the Kbuild command are computed when used, not when read;
# - `make bench` runs every bench even after one failed, and fails at the end
#   naming it.
set -u
: "${TOP:?}" "${MAKE:=make}"
. "$TOP/tests/agent/lib.sh"

T=$(mktemp -d /tmp/phloem-fresh-make.XXXXXX)
trap 'rm -rf "$T"' EXIT
# as typed by a user: not a sub-make of the make that runs this test
top() { env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS -u MAKEFILES "$MAKE" --no-print-directory -C "$TOP" "$@"; }
stamp() { compgen -G "$1/.deps-*" >/dev/null; }

for goal in demo check-vm; do
	b=$T/b-$goal
	top -n "$goal" BUILD="$b" >"$T/$goal.out" 2>&1
	check "make $goal installs the packages first (deps stamp made at the top level)" stamp "$b"
	check "make $goal: the Kbuild command names a kernel tree" \
		bash -c "! grep -q '/lib/modules//build' '$T/$goal.out'"
done
for goal in clean agent-bins print-agent-bins; do
	b=$T/n-$goal
	top -n "$goal" BUILD="$b" >/dev/null 2>&1
	check "make $goal installs nothing" bash -c "! compgen -G '$b/.deps-*' >/dev/null"
done
b=$T/n-ksrc
top -n modules KERNEL_SRC=/nonexistent BUILD="$b" >/dev/null 2>&1
check "make modules KERNEL_SRC=... (a Yocto build) installs nothing" \
	bash -c "! compgen -G '$b/.deps-*' >/dev/null"

top -p -n print-agent-bins PHLOEM_NO_DEPS=1 >"$T/db" 2>/dev/null
check "KERNEL_SRC is computed when used (recursive)" grep -q '^KERNEL_SRC = ' "$T/db"
check "the Kbuild command is computed when used (recursive)" grep -q '^KMAKE = ' "$T/db"

# Two benches, the first failing after its table: both tables, a summary
# naming the first, and a failure only at the end.
cat >"$T/benches.mk" <<'EOF'
.PHONY: bench-t-miss bench-t-ok
bench-t-miss:
	@echo "table-one 74.0% (target >= 80%) MISSED"; exit 2
bench-t-ok:
	@echo "table-two ok"
EOF
MAKEFILES=$T/benches.mk env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS "$MAKE" --no-print-directory \
	-C "$TOP" bench BUILD="$T/bench" BENCHES="bench-t-miss bench-t-ok" >"$T/bench.out" 2>&1
rc=$?
check "make bench prints the table after a missed target" grep -q '^table-two ok' "$T/bench.out"
check "make bench names the bench that missed at the end" \
	bash -c "tail -n 3 '$T/bench.out' | grep -q 'missed a target or failed: bench-t-miss'"
check "make bench fails at the end (status $rc)" test "$rc" -ne 0
done_testing
