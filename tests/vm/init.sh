#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the phloem test VM (busybox sh, PID 1). Built into the initramfs
# by tests/vm/run.sh. It loads the 9p stack, mounts the host's root
# read-only plus a writable per-run directory, chroots into the host root
# and runs the command the host left in that directory. On a kernel with
# kmemleak it scans for leaks after the command. Results go back
# through the writable share (files) and through the serial console
# (marker lines), so the host can still tell what happened if 9p breaks.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

die() {
	echo "PHLOEM-VM: init: $*"
	echo "PHLOEM-VM-EXIT: 125"
	reboot -f
}

# Module order matters: no udev here, insmod does not resolve deps.
for m in $(cat /modules.order); do
	insmod "/modules/$m" || die "insmod $m failed"
done

R=/newroot
mkdir -p $R
# msize: 9p's default 8 KiB messages make every exec crawl under TCG.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot $R ||
	die "mount of the host root over 9p failed"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mount -t debugfs debugfs $R/sys/kernel/debug
# The guest's /tmp is its own; a checkout that lives under the host's /tmp
# (a CI clone, say) is bound back in so the command can still reach it.
top=$(sed -n 's/.*phloem\.top=\([^ ]*\).*/\1/p' /proc/cmdline)
case "$top" in
/tmp/*)
	mkdir -p /hosttmp
	mount -o bind $R/tmp /hosttmp
	mount -t tmpfs -o mode=1777 tmpfs $R/tmp
	mkdir -p "$R$top"
	mount -o bind "/hosttmp${top#/tmp}" "$R$top" ||
		die "bind of the checkout $top failed"
	;;
*)
	mount -t tmpfs -o mode=1777 tmpfs $R/tmp
	;;
esac
mount -t tmpfs -o mode=755 tmpfs $R/run
mkdir -p $R/run/vm $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmrun $R/run/vm ||
	die "mount of the run directory over 9p failed"

echo "PHLOEM-VM-READY: $(cut -d' ' -f1 /proc/uptime)s after boot"

# Guest-side watchdog, due shortly before the host's hard timeout: if the
# command is still running (a task stuck in the kernel, say), dump the
# blocked tasks and every CPU's backtrace and keep the kernel log, so the
# host has something to show besides "timeout".
wd=$(cat $R/run/vm/watchdog 2>/dev/null)
: > $R/tmp/.vm-console
if [ -n "$wd" ]; then
	# On CPU 0 and at SCHED_FIFO 99 (chrt from the host's root, read once
	# now): on PREEMPT_RT a normal task's sleep ends in ktimers/N, a FIFO 1
	# thread that a CPU held by RT tasks never runs, and the dump must not
	# depend on the CPU or the share that hung.
	taskset 1 sh -c '
		R=$1 wd=$2
		exec >> $R/tmp/.vm-console 2>&1
		chroot $R /usr/bin/chrt -f -p 99 $$ > /dev/null 2>&1 ||
			echo "PHLOEM-VM: guest watchdog: could not get SCHED_FIFO 99"
		sleep "$wd"
		echo "PHLOEM-VM: guest watchdog: command still running after ${wd}s; blocked tasks and backtraces follow"
		# Kernel messages straight to the console as well: the share
		# that should carry dmesg.watchdog back may be what hangs
		dmesg -n 8
		# What every running or blocked task is doing, from /proc (no
		# printk needed): pid, comm, state, CPU, policy, priority, stack
		for p in /proc/[0-9]*; do
			set -- $(sed "s/.*) //" $p/stat 2>/dev/null)
			case "$1" in R|D) ;; *) continue ;; esac
			# after the comm: state is field 1, processor 37, rt_priority 38, policy 39
			eval "cpu=\${37} rtp=\${38} pol=\${39}"
			echo "PHLOEM-VM: task ${p#/proc/} $(cat $p/comm) $1 cpu $cpu policy $pol rtprio $rtp"
			sed "s/^/PHLOEM-VM:     /" $p/stack 2>/dev/null | head -n 16
		done
		grep -E "^(cpu#|  \.(nr_running|curr->pid|rt_throttled|rt_time|rt_runtime|nr_switches))|^ *>?[RD] " \
			$R/sys/kernel/debug/sched/debug 2>/dev/null | head -n 120
		echo w > /proc/sysrq-trigger
		echo l > /proc/sysrq-trigger
		sleep 2
		dmesg > $R/run/vm/dmesg.watchdog
		cp $R/tmp/.vm-console $R/run/vm/console.watchdog
		sync
	' watchdog "$R" "$wd" &
fi
# The command's own output is kept apart from the console (which also
# carries kernel messages) so make targets can read clean TAP from it.
# The console gets a copy through a file and a follower: a serial port
# whose transmit interrupt thread cannot run (an RT task holding its CPU)
# must not block the command's writes, only the copy.
tail -f $R/tmp/.vm-console 2>/dev/null &
follower=$!
chroot $R /bin/sh -c '
	export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	export HOME=/tmp TMPDIR=/tmp PHLOEM_VM=1
	{ /bin/bash /run/vm/cmd; echo $? > /run/vm/rc; } 2>&1 | tee /run/vm/out >> /tmp/.vm-console'
# busybox tail -f looks again every second: two, and it has the last lines
sleep 2
kill $follower 2>/dev/null
rc=$(cat $R/run/vm/rc 2>/dev/null)
[ -n "$rc" ] || rc=124
# A kernel with kmemleak (the debug kernel) is scanned once the command
# is done. Two scans 5 s apart: an object must be unreferenced in both (and older than
# kmemleak's 5 s) to be listed, which drops pointers merely in flight.
leak=$R/sys/kernel/debug/kmemleak
if [ -e $leak ]; then
	echo "PHLOEM-VM: kmemleak scan"
	if echo scan > $leak && sleep 5 && echo scan > $leak; then
		cat $leak > $R/run/vm/kmemleak
		echo "PHLOEM-VM: kmemleak scanned"
	else
		echo "PHLOEM-VM: kmemleak scan failed"
	fi
fi
dmesg > $R/run/vm/dmesg
sync
# Not waited for either: the host falls back to the rc file
echo "PHLOEM-VM-EXIT: $rc" &
sleep 1
umount $R/run/vm
# QEMU runs with -no-reboot: a reboot ends it, with or without ACPI in
# the kernel (the debug kernel has none, so no ACPI power-off).
reboot -f
