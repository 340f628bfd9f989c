# SPDX-License-Identifier: GPL-2.0
# The kselftest suite of check-vm again, on a debug kernel: Debian's
# linux-source-6.1 built with lockdep, DEBUG_ATOMIC_SLEEP, KASAN, kmemleak
# and debug objects (tests/vm/debug-kernel/; docs in tests/vm/README.md).
# The kernel is built once and cached outside the repository like the arm64
# trees; phloem.ko and phloem_sim.ko are built against it in a copy of the
# sources under $(DEBUG_MOD), so the production .ko files stay as they are.
#
#   make debug-kernel    build (or find) the cached debug kernel
#   make modules-debug   phloem.ko + phloem_sim.ko against it
#   make check-vm-debug  the suite on it -> $(RESULTS)/check-vm-debug.tap
DEBUG_KBUILD      := $(TOP)/tests/vm/debug-kernel/build.sh
DEBUG_MOD         := $(BUILD)/vm-debug/mod
# KASAN and lockdep make the guest several times slower under TCG.
VM_DEBUG_TIMEOUT  ?= 1800
VM_DEBUG_MEM      ?= 2G

.PHONY: debug-kernel modules-debug check-vm-debug
debug-kernel:
	@$(DEBUG_KBUILD)

# The object tree's path is kept in $(DEBUG_MOD)/.kdir for the VM run.
modules-debug:
	@kdir=$$($(DEBUG_KBUILD)) && \
	rm -rf $(DEBUG_MOD) && mkdir -p $(DEBUG_MOD) && \
	cp -a $(TOP)/Kbuild $(TOP)/kernel $(TOP)/uapi $(DEBUG_MOD)/ && \
	find $(DEBUG_MOD) \( -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' \
		-o -name 'modules.order' -o -name 'Module.symvers' \) -delete && \
	$(MAKE) -C $$kdir M=$(DEBUG_MOD) modules && \
	echo $$kdir > $(DEBUG_MOD)/.kdir

# A kernel or module build that fails is a "not ok" of its own, not a
# missing result.
check-vm-debug: ksft-phloem
	@mkdir -p $(RESULTS)
	@echo "  KERNEL  debug kernel + modules (cached; cold about 20 min on two idle cores)"
	@$(MAKE) --no-print-directory modules-debug >$(RESULTS)/check-vm-debug.build 2>&1 || { \
		tail -n 30 $(RESULTS)/check-vm-debug.build; \
		echo "not ok - check-vm-debug: debug kernel and modules built (see check-vm-debug.build)" | \
			tee $(RESULTS)/check-vm-debug.tap; exit 1; }
	@echo "  VM      kselftest drivers/phloem on the debug kernel"
	@$(VM_RUN) --timeout $(VM_DEBUG_TIMEOUT) --modules --modules-dir $(DEBUG_MOD)/kernel \
		--kernel $$(cat $(DEBUG_MOD)/.kdir)/arch/x86/boot/bzImage --mem $(VM_DEBUG_MEM) \
		--out $(RESULTS)/check-vm-debug.raw --console $(RESULTS)/check-vm-debug.console -- \
		$(KSFT_PHLOEM)/run.sh $(KSFT_OUT) >/dev/null; \
	$(TOP)/tests/vm/debug-kernel/verdict.sh $(RESULTS)/check-vm-debug.raw \
		> $(RESULTS)/check-vm-debug.tap; rc=$$?; \
	cat $(RESULTS)/check-vm-debug.tap; exit $$rc

CHECKS += check-vm-debug
