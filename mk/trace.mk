# SPDX-License-Identifier: GPL-2.0
# phloem-trace (agent/trace/, docs/trace.md): a CO-RE BPF tool on phloem.ko's
# tracepoints. The BPF object is compiled by clang against a vmlinux.h made
# from a kernel's BTF, linked and turned into a skeleton by bpftool, and
# embedded in the tool, which links libbpf.
#
#   make trace             $(TRACE_BIN)
#   make check-vm-trace    the tool in the VM, its shed totals checked
#                          against the driver's histogram -> $(RESULTS)/check-vm-trace.tap
#   make check-vm-trace-debug  on the debug kernel (no BPF there: the tool
#                          must refuse, the tracepoints must not disturb)
#   make bench-vm-trace    sampler CPU per sample, tool attached and not
#
# VMLINUX_BTF: where the BTF for vmlinux.h comes from (vmlinux-btf.sh says
# what it accepts): by default the VM test kernel's boot image; a Yocto
# build passes its kernel's vmlinux. BPF_ARCH: the target's arch for the
# PT_REGS macros (x86, arm64, arm).
TRACE_SRC   := $(TOP)/agent/trace
TRACE_B     := $(BUILD)/trace
TRACE_BIN   := $(TRACE_B)/phloem-trace
VMLINUX_BTF ?= /boot/vmlinuz-$(VM_KVER)
BPFTOOL     ?= bpftool
BPF_ARCH    ?= $(shell $(CC) -dumpmachine | sed -e 's/^x86_64.*/x86/' -e 's/^aarch64.*/arm64/' \
		-e 's/^arm.*/arm/' -e 's/-.*//')
TRACE_LIBS   = $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf)

$(TRACE_B)/vmlinux.h: $(TRACE_SRC)/vmlinux-btf.sh
	@mkdir -p $(TRACE_B)
	$(TRACE_SRC)/vmlinux-btf.sh $(VMLINUX_BTF) $@

$(TRACE_B)/phloem_trace.tmp.o: $(TRACE_SRC)/phloem_trace.bpf.c $(TRACE_SRC)/phloem_trace.h \
		$(TRACE_B)/vmlinux.h $(TOP)/uapi/linux/phloem.h
	$(CLANG) -g -O2 -Wall -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) \
		-I$(TRACE_B) -I$(TOP)/uapi -I$(TRACE_SRC) -c $< -o $@

# bpftool's static linker also drops the DWARF the skeleton need not carry
$(TRACE_B)/phloem_trace.bpf.o: $(TRACE_B)/phloem_trace.tmp.o
	$(BPFTOOL) gen object $@ $<

$(TRACE_B)/phloem_trace.skel.h: $(TRACE_B)/phloem_trace.bpf.o
	$(BPFTOOL) gen skeleton $< name phloem_trace > $@.tmp && mv $@.tmp $@

$(TRACE_BIN): $(TRACE_SRC)/phloem_trace.c $(TRACE_SRC)/phloem_trace.h \
		$(TRACE_B)/phloem_trace.skel.h $(TOP)/uapi/linux/phloem.h
	$(CC) $(HOST_CFLAGS) -I$(TRACE_B) -I$(TRACE_SRC) $(LDFLAGS) -o $@ $< $(TRACE_LIBS)

.PHONY: trace install-trace trace-vm-tools check-vm-trace check-vm-trace-debug bench-vm-trace
trace: $(TRACE_BIN)
ALL += trace

install-trace: $(TRACE_BIN)
	install -D -m 0755 $(TRACE_BIN) $(DESTDIR)$(SBINDIR)/phloem-trace
# Not in INSTALLS: the tool needs clang and bpftool to build, and has its
# own Yocto recipe (meta-phloem/recipes-kernel/phloem-trace), which runs this.

# The tool beside copies of the test programs: a concurrent build must not
# swap them under the running guest.
TRACE_VM := $(TRACE_B)/vm

# $(call trace-vm,RUN.SH OPTIONS,GUEST SCRIPT): one VM run whose TAP lands
# in $(RESULTS)/$@.tap; a run that failed without saying so gets its line.
# One host thread for both vCPUs (TRACE_VM_ACCEL): these runs switch
# tracepoints on and off, which patches kernel text live, and under QEMU's
# multi-threaded TCG a vCPU can keep running its stale translation of a
# patched site: an int3 that is no longer in memory, rewound and
# re-executed for ever (docs/trace.md, "The guest hangs").
TRACE_VM_ACCEL ?= tcg,thread=single
define trace-vm
	@PHLOEM_VM_ACCEL=$(TRACE_VM_ACCEL) $(VM_RUN) $(1) --out $(RESULTS)/$@.tap --console $(RESULTS)/$@.console -- \
		$(TOP)/tests/vm/$(2) $(TRACE_VM) >/dev/null; \
	rc=$$?; \
	cat $(RESULTS)/$@.tap 2>/dev/null; \
	if [ $$rc -ne 0 ] && ! grep -q '^not ok ' $(RESULTS)/$@.tap 2>/dev/null; then \
		echo "not ok - $@: VM run failed with status $$rc" | tee -a $(RESULTS)/$@.tap; \
	fi; \
	exit $$rc
endef

trace-vm-tools: vm-tools $(TRACE_BIN)
	@mkdir -p $(RESULTS) $(TRACE_VM)
	@cp $(TRACE_BIN) $(VM_OUT)/phloem_bench $(TRACE_VM)/

check-vm-trace: modules trace-vm-tools
	@echo "  VM      phloem-trace against the driver's histogram (about 4 minutes under TCG)"
	$(call trace-vm,--timeout 600 --modules,trace.sh)

check-vm-trace-debug: trace-vm-tools
	@$(MAKE) --no-print-directory modules-debug >$(RESULTS)/$@.build 2>&1 || { \
		tail -n 30 $(RESULTS)/$@.build; \
		echo "not ok - $@: debug kernel and modules built (see $@.build)" | tee $(RESULTS)/$@.tap; exit 1; }
	@echo "  VM      phloem-trace on the debug kernel"
	$(call trace-vm,--timeout $(VM_DEBUG_TIMEOUT) --modules --modules-dir $(DEBUG_MOD)/kernel \
		--kernel $$(cat $(DEBUG_MOD)/.kdir)/arch/x86/boot/bzImage --mem $(VM_DEBUG_MEM),trace-debug.sh)

# The host's load average for the guest's table, rewritten every second
# (the guest sees the host's files over 9p, not its /proc). The bench
# bounds itself (tests/vm/trace-bench.sh); the VM timeout is the backstop,
# and a run that ends without its table says so in a FAILED row.
bench-vm-trace: modules trace-vm-tools
	@( t=$(TRACE_VM)/host-loadavg.$$$$; \
	while :; do cp /proc/loadavg $$t && mv $$t $(TRACE_VM)/host-loadavg; sleep 1; done ) & \
	loadpid=$$!; \
	PHLOEM_VM_ACCEL=$(TRACE_VM_ACCEL) $(VM_RUN) --timeout 900 --modules -- $(TOP)/tests/vm/trace-bench.sh $(TRACE_VM); \
	rc=$$?; kill $$loadpid; \
	[ $$rc -le 1 ] || echo "bench-vm-trace: FAILED: the VM run ended with status $$rc (124: timeout) before its table"; \
	exit $$rc

# check-vm-trace-debug: about 3 minutes of VM (the debug modules are
# built by check-vm-debug before it, and shared)
CHECKS += check-vm-trace check-vm-trace-debug
BENCHES += bench-vm-trace
