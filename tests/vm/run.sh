#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [--timeout SEC] [--modules] [--modules-dir DIR] [--kernel IMAGE]
#        [--mem SIZE] [--out FILE] [--console FILE] -- CMD...
#
# Boot Debian's PREEMPT_RT kernel under QEMU (TCG: nested KVM hangs on these
# machines, see ../shared/notes/test-vm.md) with the host's root shared
# read-only over 9p, run CMD as root in the repository directory, and fail
# when CMD fails, when the guest does not finish within SEC seconds, or when
# the guest's kernel log shows an oops, WARN, BUG, lockdep, KASAN or debug
# objects splat.
#
#   --modules      load mcp320x (modprobe, unless built in), insmod
#                  kernel/phloem.ko and kernel/sim/phloem_sim.ko before CMD
#                  (build them first); CMD sees their paths in PHLOEM_KO and
#                  PHLOEM_SIM_KO
#   --modules-dir DIR  take phloem.ko and sim/phloem_sim.ko from DIR instead
#                  of kernel/ (modules built against --kernel's tree)
#   --kernel IMAGE boot IMAGE (a bzImage) instead of Debian's rt kernel; it
#                  must have virtio-pci, 9p and mcp320x built in (the debug
#                  kernel of tests/vm/debug-kernel/ does). When its kernel
#                  has kmemleak, the guest scans for leaks after CMD: a leak
#                  whose allocation backtrace runs through a module (only
#                  phloem's are loaded) fails the run, others are listed;
#                  with --modules, phloem_sim and phloem are unloaded
#                  before the scan (one TAP line each)
#   --mem SIZE     guest memory (QEMU -m; default 1G)
#   --out FILE     CMD's stdout+stderr, followed by TAP lines for the VM's
#                  own checks (kernel log clean, guest finished, no leak),
#                  so a make target can count a splat or a timeout as a
#                  failure
#   --console FILE the whole serial console (kernel messages included);
#                  the kmemleak report, if any, goes to FILE.kmemleak
#
# PHLOEM_VM_KERNEL=IMAGE in the environment is the same as --kernel IMAGE;
# PHLOEM_VM_ACCEL replaces QEMU's "-accel tcg" (tcg,thread=single, say).
#
# The guest sees the host's root read-only, with fresh tmpfs at /tmp and
# /run: CMD and its files must live elsewhere (the repository, build/). Exit status: CMD's, or 124 on timeout, 125 when the VM could
# not be set up, 1 on a kernel splat or a phloem leak after a successful CMD.
#
# VMs are run one at a time per machine (flock on /tmp/phloem-vm.lock;
# PHLOEM_VM_PARALLEL=1 skips it); the timeout starts once the VM starts.
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VMDIR=${BUILD:-$TOP/build}/vm
timeout=300
modules=0
moddir=
kernel=${PHLOEM_VM_KERNEL:-}
mem=1G
out=
console=

usage() {
	sed -n '3,/^set -u/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//' -e '/^set -u/d' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout=${2:?}; shift 2 ;;
	--modules) modules=1; shift ;;
	--modules-dir) moddir=${2:?}; shift 2 ;;
	--kernel) kernel=${2:?}; shift 2 ;;
	--mem) mem=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	--console) console=${2:?}; shift 2 ;;
	--) shift; break ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
done
[ $# -gt 0 ] || { echo "run.sh: no command given" >&2; usage; }
case $timeout in ''|*[!0-9]*) echo "run.sh: --timeout wants seconds" >&2; exit 2 ;; esac

if [ -n "$kernel" ]; then
	# A kernel of our own (the debug kernel): its drivers are built in,
	# the initramfs carries no modules.
	[ -r "$kernel" ] || { echo "run.sh: kernel image $kernel not readable" >&2; exit 125; }
	kernel=$(cd "$(dirname "$kernel")" && pwd)/$(basename "$kernel")
	kver=builtin
	kname=$kernel
else
	# The newest installed rt kernel with both an image and modules.
	kver=
	for d in $(ls -d /lib/modules/*-rt-amd64 2>/dev/null | sort -V); do
		k=${d#/lib/modules/}
		[ -r "/boot/vmlinuz-$k" ] && kver=$k
	done
	if [ -z "$kver" ]; then
		echo "run.sh: no /boot/vmlinuz-*-rt-amd64 with modules; run 'make deps'" >&2
		exit 125
	fi
	kernel=/boot/vmlinuz-$kver
	kname=$kver
fi
if [ -n "$moddir" ]; then
	moddir=$(cd "$moddir" 2>/dev/null && pwd) ||
		{ echo "run.sh: --modules-dir: no such directory" >&2; exit 125; }
else
	moddir=$TOP/kernel
fi
for t in qemu-system-x86_64 cpio; do
	command -v $t >/dev/null || { echo "run.sh: $t missing; run 'make deps'" >&2; exit 125; }
done
[ -x /bin/busybox ] || { echo "run.sh: /bin/busybox missing (busybox-static)" >&2; exit 125; }

mkdir -p "$VMDIR" || exit 125

# The initramfs only depends on the kernel version and on init.sh/run.sh;
# it is rebuilt when either changes and shared by concurrent runs (built
# under a temporary name and renamed, so a reader never sees half a file).
initrd=$VMDIR/initramfs-$kver.cpio.gz
if [ ! -s "$initrd" ] || [ "$TOP/tests/vm/init.sh" -nt "$initrd" ] ||
   [ "${BASH_SOURCE[0]}" -nt "$initrd" ]; then
	stage=$(mktemp -d "$VMDIR/initramfs.XXXXXX") || exit 125
	mkdir -p "$stage"/{bin,proc,sys,dev,modules,newroot}
	cp /bin/busybox "$stage/bin/busybox"
	ln -s busybox "$stage/bin/sh"
	cp "$TOP/tests/vm/init.sh" "$stage/init"
	: > "$stage/modules.order"
	if [ "$kver" != builtin ]; then
		for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
			 virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
			modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
		done | awk '!seen[$0]++' | while read -r ko; do
			name=$(basename "$ko")
			case $ko in
			*.xz) xz -dc "$ko" > "$stage/modules/${name%.xz}"; name=${name%.xz} ;;
			*.zst) zstd -qdc "$ko" > "$stage/modules/${name%.zst}"; name=${name%.zst} ;;
			*) cp "$ko" "$stage/modules/$name" ;;
			esac
			echo "$name" >> "$stage/modules.order"
		done
		if [ "$(wc -l < "$stage/modules.order")" -lt 10 ]; then
			echo "run.sh: could not resolve the 9p modules of $kver" >&2
			rm -rf "$stage"; exit 125
		fi
	fi
	(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
		gzip -1 > "$stage.cpio.gz" && mv "$stage.cpio.gz" "$initrd"
	rm -rf "$stage"
fi

run=$(mktemp -d "$VMDIR/run.XXXXXX") || exit 125
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The command is handed over as a script in the writable share: no quoting
# limits of the kernel command line, any arguments survive as given.
{
	echo "cd $(printf %q "$TOP") || exit 126"
	if [ $modules = 1 ]; then
		printf 'export PHLOEM_KO=%q PHLOEM_SIM_KO=%q\n' \
			"$moddir/phloem.ko" "$moddir/sim/phloem_sim.ko"
		cat <<-'EOS'
		[ -d /sys/bus/spi/drivers/mcp320x ] || modprobe mcp320x ||
			{ echo "vm: modprobe mcp320x failed"; exit 125; }
		insmod "$PHLOEM_KO" || { echo "vm: insmod $PHLOEM_KO failed"; exit 125; }
		insmod "$PHLOEM_SIM_KO" || { echo "vm: insmod $PHLOEM_SIM_KO failed"; exit 125; }
		# the modules' symbols too, for the host's dump of a stuck guest
		cat /proc/kallsyms > /run/vm/kallsyms 2>/dev/null
		EOS
	fi
	printf '%q ' "$@"; echo
	# On our own (debug) kernel the modules are unloaded at the end, so
	# kmemleak also sees what their exit paths leave behind.
	if [ $modules = 1 ] && [ "$kver" = builtin ]; then
		cat <<-'EOS'
		rc=$?
		for m in phloem_sim phloem; do
			[ -d /sys/module/$m ] || continue
			if rmmod $m; then
				echo "ok - vm: rmmod $m after the run"
			else
				echo "not ok - vm: rmmod $m after the run"
				[ $rc = 0 ] && rc=1
			fi
		done
		exit $rc
		EOS
	fi
} > "$run/cmd"
# the guest's own watchdog fires this long after boot (see init.sh)
echo $(( timeout > 40 ? timeout - 20 : timeout / 2 )) > "$run/watchdog"
chmod -R a+rwX "$run"

# One VM at a time on this machine: each takes both cores (-smp 2 under
# TCG), and two or more at once starve the guests' samplers, which turns
# timing checks into noise. Set PHLOEM_VM_PARALLEL=1 to skip the queue.
if [ "${PHLOEM_VM_PARALLEL:-0}" != 1 ]; then
	lock=${PHLOEM_VM_LOCK:-/tmp/phloem-vm.lock}
	exec 9>>"$lock"
	if ! flock -n 9; then
		echo "run.sh: waiting for another test VM to finish ($lock)" >&2
		if ! flock -w "${PHLOEM_VM_LOCK_WAIT:-1800}" 9; then
			echo "run.sh: gave up waiting for $lock" >&2
			exit 125
		fi
	fi
fi

# Our own kernel is the debug kernel: its splats are long and lockdep's
# boot messages many, so a larger ring buffer keeps the whole run for the
# dmesg the guest hands back.
kargs=
[ "$kver" = builtin ] && kargs=" log_buf_len=8M"
# tsc=reliable: under TCG both vCPUs read one host-derived TSC, but a
# loaded host preempts a vCPU inside the clocksource watchdog's TSC/HPET
# read pair, the watchdog calls the skew an unstable TSC and the guest
# falls back to the HPET, where every clock read is an emulated MMIO
# access. The sampler, which reads the clock several times a round, then
# needs more than its 250 us period and holds its CPU at SCHED_FIFO 50:
# the virtio interrupt threads (also FIFO 50) behind it starve, RT
# throttling then stops them outright, and every 9p access hangs (seen
# in check-vm-trace: the tool stuck in p9_client_read, CPU 1 in the
# sampler under read_hpet, "sched: RT throttling activated").
kargs="$kargs tsc=reliable nokaslr"

start=$(date +%s)
# Host-side dump, for a guest so stuck that its own watchdog cannot print:
# shortly before the timeout, every vCPU's registers from QEMU's monitor,
# three times a second apart, instruction pointers resolved against the
# guest's /proc/kallsyms (a --modules command leaves it in the share; the
# guest boots with nokaslr, so it stays true). A guest whose serial port
# stalled (check-vm-trace once: CPU 1 looping at a jump label of the
# sampling thread, CPU 0 idle) shows nothing else.
(
	trap 'kill $! 2>/dev/null; exit 0' TERM
	sleep $(( timeout > 60 ? timeout - 15 : timeout * 3 / 4 )) &
	wait $!
	[ -S "$run/monitor" ] || exit 0
	for i in 1 2 3; do
		echo "PHLOEM-VM-HOST: monitor sample $i"
		printf 'info registers -a\n' | socat -t 2 - "UNIX-CONNECT:$run/monitor" 2>/dev/null |
			tr -d '\r' | grep -E '^(CPU#|RIP=|RSP|RAX)' | sed 's/^/PHLOEM-VM-HOST: /'
		sleep 1
	done > "$run/monitor.dump"
	# the guest's /proc/kallsyms (nokaslr), if the command left it there
	map=$run/kallsyms
	if [ -s "$map" ]; then
		sed -n 's/.*RIP=\([0-9a-f]*\).*/\1/p' "$run/monitor.dump" |
			python3 -c '
import bisect, sys
syms = sorted((int(a, 16), n) for a, t, n in (l.split()[:3] for l in open(sys.argv[1])))
addrs = [a for a, n in syms]
for ip in sys.stdin.read().split():
    i = bisect.bisect_right(addrs, int(ip, 16)) - 1
    print("PHLOEM-VM-HOST: %s = %s+0x%x" % (ip, syms[i][1], int(ip, 16) - addrs[i]))
' "$map" >> "$run/monitor.dump"
	fi
) 9>&- &
sidecar=$!
# -no-reboot + panic=-1: a panicking guest exits QEMU at once instead of
# waiting for the hard timeout. stdin is closed so QEMU never grabs a tty.
timeout -k 10 "$timeout" qemu-system-x86_64 \
	-accel "${PHLOEM_VM_ACCEL:-tcg}" -cpu max -m "$mem" -smp 2 -nographic -no-reboot -nic none \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init phloem.top=$TOP$kargs" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$run",mount_tag=vmrun,security_model=none \
	-monitor "unix:$run/monitor,server=on,wait=off" \
	< /dev/null 9>&- 2>&1 | tr -d '\r' | tee "$run/console"
qrc=${PIPESTATUS[0]}
kill $sidecar 2>/dev/null; wait $sidecar 2>/dev/null
[ -s "$run/console.watchdog" ] && sed 's/^/PHLOEM-VM-GUEST: /' "$run/console.watchdog" >> "$run/console"
[ -s "$run/monitor.dump" ] && cat "$run/monitor.dump" >> "$run/console"
elapsed=$(( $(date +%s) - start ))

[ -n "$console" ] && cp "$run/console" "$console"

rc=$(sed -n 's/^PHLOEM-VM-EXIT: \([0-9]*\).*/\1/p' "$run/console" | tail -n1)
# the marker may not have reached the console; the rc file (9p) did (a
# timeout overrides either below)
[ -z "$rc" ] && [ -s "$run/rc" ] && rc=$(cat "$run/rc")
verdict=
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	verdict="timeout after ${timeout}s"
	rc=124
elif [ -z "$rc" ]; then
	verdict="guest died before reporting (qemu status $qrc)"
	rc=125
fi

# The guest dumps dmesg at the end; when it never got there (panic, hang)
# the console still carries what the kernel printed at loglevel <= 4.
log=$run/dmesg
[ -s "$log" ] || log=$run/dmesg.watchdog
[ -s "$log" ] || log=$run/console
# WARNING: and BUG: cover lockdep ("WARNING: possible circular locking
# dependency", "WARNING: inconsistent lock state", "BUG: Invalid wait
# context"), DEBUG_ATOMIC_SLEEP ("BUG: sleeping function called from
# invalid context"), KASAN ("BUG: KASAN: ...") and debug objects (a WARN
# with "ODEBUG: ... object type: ..."; "ODEBUG: Out of memory" means they
# stopped checking).
# The one line with "lockdep" a clean boot prints is RCU's announcement
# that it checks with lockdep.
splat=$(grep -nE 'Oops|WARNING:|BUG:|lockdep|possible circular locking|Call Trace|inconsistent lock state|ODEBUG: .*object type|ODEBUG: Out of memory|UBSAN:|general protection fault|INFO: task .* blocked' "$log" |
	grep -v 'RCU lockdep checking is enabled' | head -n 20)

# kmemleak (debug kernel): an unreferenced object whose allocation
# backtrace has a frame in module space (0xffffffffc0000000 up; only
# phloem.ko and phloem_sim.ko are modules there, and a frame of an
# instance since unloaded prints as a bare address) is phloem's leak.
leaks=
if [ -e "$run/kmemleak" ]; then
	leaks=$(awk '
		/^unreferenced object/ { n++ }
		{ rec[n] = rec[n] $0 "\n" }
		/^ *\[<ffffffff[c-f][0-9a-f]{7}>\]/ { ours[n] = 1 }
		END {
			for (i = 1; i <= n; i++) {
				if (ours[i]) { p++; mine = mine rec[i] } else o++
			}
			printf "%d %d\n%s", p, o, mine
		}' "$run/kmemleak")
	[ -n "$console" ] && cp "$run/kmemleak" "$console.kmemleak"
fi

{
	[ -f "$run/out" ] && cat "$run/out"
	if [ -n "$splat" ]; then
		echo "not ok - vm: kernel log clean (splat found, see console)"
		echo "$splat" | sed 's/^/# /'
	else
		echo "ok - vm: kernel log clean"
	fi
	if [ -n "$leaks" ]; then
		read -r nmine nother <<<"$(echo "$leaks" | head -n1)"
		if [ "$nmine" -gt 0 ]; then
			echo "not ok - vm: kmemleak: no leak from phloem modules ($nmine found, $nother elsewhere)"
			echo "$leaks" | tail -n +2 | head -n 60 | sed 's/^/# /'
		else
			echo "ok - vm: kmemleak: no leak from phloem modules ($nother unreferenced objects elsewhere)"
		fi
	elif grep -q '^PHLOEM-VM: kmemleak scan failed' "$run/console"; then
		echo "not ok - vm: kmemleak: no leak from phloem modules (scan failed)"
	fi
	if [ -n "$verdict" ]; then
		echo "not ok - vm: guest finished ($verdict)"
	else
		echo "ok - vm: guest finished in ${elapsed}s"
	fi
} > "$run/tap"
[ -n "$out" ] && { mkdir -p "$(dirname "$out")"; cp "$run/tap" "$out"; }

echo "---- vm: kernel $kname, ${elapsed}s wall, command status ${rc} ----"
if [ "$log" != "$run/console" ] && { [ -n "$splat" ] || [ -n "$verdict" ]; }; then
	echo "---- vm: guest kernel log ($(basename "$log")) ----"
	cat "$log"
fi
[ -n "$console" ] && [ -s "$run/dmesg.watchdog" ] && cp "$run/dmesg.watchdog" "$console.dmesg"
if [ -n "$splat" ]; then
	echo "vm: FAIL: kernel log has a splat:"
	echo "$splat"
	[ "$rc" = 0 ] && rc=1
fi
if [ -n "$leaks" ] && [ "${leaks%% *}" -gt 0 ]; then
	echo "vm: FAIL: kmemleak found ${leaks%% *} leak(s) allocated by phloem modules:"
	echo "$leaks" | tail -n +2
	[ "$rc" = 0 ] && rc=1
fi
[ -n "$verdict" ] && echo "vm: FAIL: $verdict"
[ "$rc" = 0 ] && echo "vm: PASS" || echo "vm: FAIL (status $rc)"
exit "$rc"
