# SPDX-License-Identifier: GPL-2.0
# Tests, benchmark and demo in a real kernel: Debian's PREEMPT_RT kernel under
# QEMU (tests/vm/run.sh), phloem.ko bound to the simulated HAT.
#
#   make check-vm   the kselftest suite in one VM -> $(RESULTS)/check-vm.tap
#   make bench-vm   shed latency from the in-kernel histogram, in the VM
#   make demo       the narrated small-house demo
VM_RUN      := $(TOP)/tests/vm/run.sh
KSFT_PHLOEM := $(TOP)/tests/kselftest/drivers/phloem
KSFT_OUT    := $(BUILD)/kselftest/phloem
VM_OUT      := $(BUILD)/vm
VM_TOOLS    := $(VM_OUT)/phloem_watch $(VM_OUT)/phloem_bench
VM_TIMEOUT  ?= 600

.PHONY: ksft-phloem vm-tools check-vm bench-vm demo

ksft-phloem: $(KSFT_HDRS)
	@$(MAKE) --no-print-directory -C $(KSFT_PHLOEM) OUTPUT=$(KSFT_OUT) \
		KSFT_INC=$(KSFT_INC) KHDR_INCLUDES=-I$(TOP)/uapi CC="$(CC)"

$(VM_OUT)/%: $(TOP)/tests/vm/%.c $(TOP)/uapi/linux/phloem.h
	@mkdir -p $(VM_OUT)
	$(CC) $(HOST_CFLAGS) -o $@ $< -lm

vm-tools: $(VM_TOOLS)

# One VM for the whole suite. The guest's TAP plus the runner's own lines
# (kernel log clean, guest finished) land in check-vm.tap; a failure the
# guest could not report itself still gets a "not ok" line.
	@mkdir -p $(RESULTS)
# The whole console (boot, kernel log) is kept in check-vm.console.
check-vm: modules ksft-phloem
	@mkdir -p $(RESULTS)
	@echo "  VM      kselftest drivers/phloem (about 2 minutes under TCG)"
	@$(VM_RUN) --timeout $(VM_TIMEOUT) --modules \
		--out $(RESULTS)/check-vm.tap --console $(RESULTS)/check-vm.console -- \
		env PHLOEM_KO=kernel/phloem.ko $(KSFT_PHLOEM)/run.sh $(KSFT_OUT) >/dev/null; \
	rc=$$?; \
	cat $(RESULTS)/check-vm.tap 2>/dev/null; \
	if [ $$rc -ne 0 ] && ! grep -q '^not ok ' $(RESULTS)/check-vm.tap 2>/dev/null; then \
		echo "not ok - check-vm: VM run failed with status $$rc" | tee -a $(RESULTS)/check-vm.tap; \
	fi; \
	exit $$rc

bench-vm: modules vm-tools
	@$(VM_RUN) --timeout 600 --modules -- $(VM_OUT)/phloem_bench

# The agent's binaries are copied beside the tools: a concurrent build must
# not swap them under the running guest.
demo: modules vm-tools $(PHLOEMD) $(PHLOEMCTL)
	@cp $(PHLOEMD) $(PHLOEMCTL) $(VM_OUT)/
	@$(VM_RUN) --timeout 600 --modules -- $(TOP)/tests/vm/demo.sh $(VM_OUT)

CHECKS  += check-vm
BENCHES += bench-vm
