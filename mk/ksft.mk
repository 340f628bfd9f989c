# SPDX-License-Identifier: GPL-2.0
# The kernel's kselftest harness, taken at build time from Debian's
# linux-source-6.1 package (never copied into this tree). Tests include
# "kselftest_harness.h" with -I$(KSFT_INC).
KSFT_TARBALL ?= $(firstword $(wildcard /usr/src/linux-source-6.1.tar.xz))
KSFT_INC     := $(BUILD)/ksft
KSFT_HDRS    := $(KSFT_INC)/kselftest_harness.h $(KSFT_INC)/kselftest.h

$(KSFT_HDRS) &: | deps
	@mkdir -p $(KSFT_INC)
	@echo "  KSFT    kselftest harness from $(KSFT_TARBALL)"
	@xz -dc $(KSFT_TARBALL) | tar -x -C $(KSFT_INC) --strip-components=4 \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h
	@touch $(KSFT_HDRS)

.PHONY: ksft
ksft: $(KSFT_HDRS)
