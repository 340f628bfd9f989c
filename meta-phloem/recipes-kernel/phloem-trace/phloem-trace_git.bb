# SPDX-License-Identifier: GPL-2.0-only
SUMMARY = "phloem-trace: where every microsecond of a shed goes (BPF, CO-RE)"
DESCRIPTION = "Attaches to phloem.ko's tracepoints and to the scheduler and \
interrupt tracepoints with libbpf: histograms of the sampler's wake-up \
lateness, ADC read, decision and relay write times, each shed broken down, \
and what ran on the sampler's CPU while it was late (docs/trace.md)."

require inc/phloem.inc
LICENSE = "GPL-2.0-only"

# clang compiles the BPF object and bpftool makes vmlinux.h and the
# skeleton, both on the build host; libbpf is the target's.
DEPENDS = "libbpf clang-native bpftool-native virtual/kernel"

inherit pkgconfig

# The tool needs, on the target, a kernel with BTF: CONFIG_DEBUG_INFO_BTF=y
# (built with pahole, dwarves-native, which the kernel class pulls in when
# the option is on), CONFIG_BPF_SYSCALL=y, CONFIG_BPF_EVENTS=y. Without
# /sys/kernel/btf/vmlinux it refuses to run and says why.
RRECOMMENDS:${PN} = "kernel-module-phloem"
PACKAGE_ARCH = "${MACHINE_ARCH}"

# The BTF vmlinux.h is made from (agent/trace/vmlinux-btf.sh takes a vmlinux
# ELF, a compressed boot image or raw BTF): the kernel's vmlinux in its
# shared build directory by default. Set it to a copy of a target's
# /sys/kernel/btf/vmlinux when your kernel recipe leaves no vmlinux there.
PHLOEM_TRACE_BTF ??= "${STAGING_KERNEL_BUILDDIR}/vmlinux"
do_compile[depends] += "virtual/kernel:do_shared_workdir"

# BPF_ARCH: the kernel's name for the target arch (PT_REGS macros)
BPF_ARCH = "${@{'aarch64': 'arm64', 'arm': 'arm', 'x86_64': 'x86'}.get(d.getVar('TARGET_ARCH'), d.getVar('TARGET_ARCH'))}"

EXTRA_OEMAKE = "BUILD=${B} CC='${CC}' CLANG=clang BPFTOOL=bpftool \
                CFLAGS='${CFLAGS}' LDFLAGS='${LDFLAGS}' PKG_CONFIG=pkg-config \
                VMLINUX_BTF=${PHLOEM_TRACE_BTF} BPF_ARCH=${BPF_ARCH} \
                SBINDIR=${sbindir} PHLOEM_NO_DEPS=1"

do_configure[noexec] = "1"

do_compile() {
	cfg=${STAGING_KERNEL_BUILDDIR}/.config
	if [ -e "$cfg" ]; then
		for o in CONFIG_DEBUG_INFO_BTF CONFIG_BPF_SYSCALL CONFIG_BPF_EVENTS; do
			grep -q "^$o=y" "$cfg" ||
				bbfatal "phloem-trace needs a kernel with BTF: CONFIG_DEBUG_INFO_BTF=y, CONFIG_BPF_SYSCALL=y and CONFIG_BPF_EVENTS=y; $o is off (docs/trace.md)"
		done
	fi
	oe_runmake -C ${S} trace
}

do_install() {
	install -d ${D}${sbindir}
	install -m 0755 ${B}/trace/phloem-trace ${D}${sbindir}/phloem-trace
}
