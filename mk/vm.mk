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
		KSFT_INC=$(KSFT_INC) KHDR_INCLUDES=-I$(TOP)/uapi \
		KHDR_DEPS=$(TOP)/uapi/linux/phloem.h CC="$(CC)"

$(VM_OUT)/%: $(TOP)/tests/vm/%.c $(TOP)/uapi/linux/phloem.h
	@mkdir -p $(VM_OUT)
	$(CC) $(HOST_CFLAGS) -o $@ $< -lm

vm-tools: $(VM_TOOLS)

# One VM for the whole suite. The guest's TAP plus the runner's own lines
# (kernel log clean, guest finished) land in $(1).tap; a failure the
# guest could not report itself still gets a "not ok" line.
# The whole console (boot, kernel log) is kept in $(1).console.
# $(call vm-ksft,NAME,RUN.SH OPTIONS,TIMEOUT): shared by check-vm and
# check-vm-debug (mk/debugkernel.mk).
define vm-ksft
	@mkdir -p $(RESULTS)
	@$(VM_RUN) --timeout $(3) --modules $(2) \
		--out $(RESULTS)/$(1).tap --console $(RESULTS)/$(1).console -- \
		$(KSFT_PHLOEM)/run.sh $(KSFT_OUT) >/dev/null; \
	rc=$$?; \
	cat $(RESULTS)/$(1).tap 2>/dev/null; \
	if [ $$rc -ne 0 ] && ! grep -q '^not ok ' $(RESULTS)/$(1).tap 2>/dev/null; then \
		echo "not ok - $(1): VM run failed with status $$rc" | tee -a $(RESULTS)/$(1).tap; \
	fi; \
	exit $$rc
endef

check-vm: modules ksft-phloem
	@echo "  VM      kselftest drivers/phloem (about 2 minutes under TCG)"
	$(call vm-ksft,check-vm,,$(VM_TIMEOUT))

bench-vm: modules vm-tools
	@$(VM_RUN) --timeout 600 --modules -- $(VM_OUT)/phloem_bench

# The agent's binaries are copied beside the tools: a concurrent build must
# not swap them under the running guest. Then the dashboard on this
# machine (tests/web/demo.sh): it ends by printing its address; it stays up
# DEMO_S seconds (20), or until Ctrl-C with DEMO_KEEP=1.
demo: modules vm-tools $(PHLOEMD) $(PHLOEMCTL)
	@cp $(PHLOEMD) $(PHLOEMCTL) $(VM_OUT)/
	@$(VM_RUN) --timeout 600 --modules -- $(TOP)/tests/vm/demo.sh $(VM_OUT)
	@PHLOEMD=$(PHLOEMD) DEMO_KEEP=$(DEMO_KEEP) $(TOP)/tests/web/demo.sh

CHECKS  += check-vm
BENCHES += bench-vm
