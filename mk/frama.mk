# SPDX-License-Identifier: GPL-2.0
# The decision unit (kernel/shed.c) checked formally and at its arithmetic
# limits: host tests of the overflows EVA found, Frama-C's value analysis
# (EVA) over a harness that drives every public function with arbitrary
# inputs, and WP proofs of its ACSL contracts. See docs/shedding.md, Proofs.
FRAMA_B := $(BUILD)/frama
# (shed.mk is read after this file: name the sources here)
FRAMA_SRC := $(TOP)/kernel/shed.c
FRAMA_HDR := $(TOP)/kernel/shed.h $(TOP)/uapi/linux/phloem.h

.PHONY: check-shed-overflow check-frama-eva check-frama-wp

$(FRAMA_B)/shed_overflow_test: $(TOP)/tests/unit/shed_overflow_test.c \
		$(FRAMA_SRC) $(FRAMA_HDR) \
		$(KSFT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Wno-sign-compare -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -I$(KSFT_INC) \
		-o $@ $(TOP)/tests/unit/shed_overflow_test.c $(FRAMA_SRC)

check-shed-overflow: $(FRAMA_B)/shed_overflow_test
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $<

# EVA in the two data models the module is built for: LP64 (x86_64,
# arm64) and ILP32 (32-bit ARM). About 1.5 min each on one core.
check-frama-eva: $(TOP)/tests/frama/harness.c $(TOP)/tests/frama/eva.sh \
		$(FRAMA_SRC) $(FRAMA_HDR) | deps
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap \
		$(TOP)/tests/frama/eva.sh $(FRAMA_B) gcc_x86_64 gcc_x86_32

# WP over the contracted functions, one after the other, 2 prover jobs.
check-frama-wp: $(TOP)/tests/frama/wp.sh $(FRAMA_SRC) $(FRAMA_HDR) | deps
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap \
		$(TOP)/tests/frama/wp.sh $(FRAMA_B)

CHECKS += check-shed-overflow check-frama-eva check-frama-wp
