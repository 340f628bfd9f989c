# SPDX-License-Identifier: GPL-2.0
# Cross-build for the gateway (Raspberry Pi 4/5 class, arm64) and a 32-bit
# ARM build of the modules to catch 64-bit division; see tests/arm64/check.sh.
# The kernel trees are prepared once from Debian's linux-source-6.1 and kept
# outside the repository (tests/arm64/prepare-kernel.sh says where and what
# it costs); `make arm64-tree` prepares them ahead of time.
ARM64_OUT := $(BUILD)/arm64

.PHONY: check-arm64 arm64-tree modules-arm64
check-arm64:
	@rm -rf $(ARM64_OUT); mkdir -p $(ARM64_OUT)
	@TOP=$(TOP) OUT=$(ARM64_OUT) MAKE="$(MAKE)" JOBS=2 \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/check-arm64.tap $(TOP)/tests/arm64/check.sh

arm64-tree:
	@$(TOP)/tests/arm64/deps.sh
	@$(TOP)/tests/arm64/prepare-kernel.sh arm64
	@$(TOP)/tests/arm64/prepare-kernel.sh arm

# The arm64 modules alone, for a developer: output in $(ARM64_OUT)/mod-arm64.
modules-arm64:
	@$(TOP)/tests/arm64/deps.sh
	@kdir=$$($(TOP)/tests/arm64/prepare-kernel.sh arm64) && \
	rm -rf $(ARM64_OUT)/mod-arm64 && mkdir -p $(ARM64_OUT)/mod-arm64 && \
	cp -a $(TOP)/Kbuild $(TOP)/kernel $(TOP)/uapi $(ARM64_OUT)/mod-arm64/ && \
	find $(ARM64_OUT)/mod-arm64 \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \) -delete && \
	$(MAKE) -C $$kdir M=$(ARM64_OUT)/mod-arm64 ARCH=arm64 \
		CROSS_COMPILE=aarch64-linux-gnu- modules

CHECKS += check-arm64
