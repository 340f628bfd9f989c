# SPDX-License-Identifier: GPL-2.0
# The generic netlink family (kernel/netlink.c) in the VM.
#
#   make check-netlink  the phloem_netlink kselftest alone, in one VM
#                       -> $(RESULTS)/check-netlink.tap (check-vm runs it too,
#                       with the rest of the suite, so it is not in CHECKS)
#   make bench-netlink  genl round trips and the event rate, in one VM
#                       (emulated QEMU TCG figures)
NL_BENCH := $(BUILD)/vm/phloem_nl_bench

.PHONY: check-netlink bench-netlink

$(NL_BENCH): $(TOP)/tests/vm/phloem_nl_bench.c $(TOP)/uapi/linux/phloem.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< -pthread

check-netlink: modules ksft-phloem
	@mkdir -p $(RESULTS)
	@$(VM_RUN) --timeout 600 --modules \
		--out $(RESULTS)/check-netlink.tap -- $(KSFT_OUT)/phloem_netlink; \
	rc=$$?; \
	if [ $$rc -ne 0 ] && ! grep -q '^not ok ' $(RESULTS)/check-netlink.tap 2>/dev/null; then \
		echo "not ok - check-netlink: VM run failed with status $$rc" >> $(RESULTS)/check-netlink.tap; \
	fi; \
	exit $$rc

bench-netlink: modules $(NL_BENCH)
	@$(VM_RUN) --timeout 600 --modules -- $(NL_BENCH)

BENCHES += bench-netlink
