# SPDX-License-Identifier: GPL-2.0
# The pure shedding unit (kernel/shed.c) on the host: unit tests against a
# closed-loop simulated HAT, a bounded libFuzzer run, and the benchmark.
SHED_B      := $(BUILD)/shed
SHED_SRC    := $(TOP)/kernel/shed.c
SHED_HDR    := $(TOP)/kernel/shed.h $(TOP)/uapi/linux/phloem.h
SHED_SIM    := $(TOP)/tests/unit/shed_sim.c
SHED_SIMH   := $(TOP)/tests/unit/shed_sim.h
SHED_FUZZ_RUNS ?= 200000
SHED_FUZZ_TIME ?= 30

.PHONY: check-shed-unit check-shed-freq check-shed-signal check-shed-phase check-shed-mains check-shed-fuzz check-shed-arm32 bench-shed

$(SHED_B)/shed_test: $(TOP)/tests/unit/shed_test.c $(SHED_SIM) $(SHED_SIMH) \
		$(SHED_SRC) $(SHED_HDR) $(KSFT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Wno-sign-compare -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -I$(KSFT_INC) -I$(TOP)/tests/unit \
		-o $@ $(TOP)/tests/unit/shed_test.c $(SHED_SIM) $(SHED_SRC) -lm

check-shed-unit: $(SHED_B)/shed_test
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(SHED_B)/shed_test

# the frequency rule (under-frequency stages, over-frequency, the filter)
$(SHED_B)/freq_test: $(TOP)/tests/unit/freq_test.c $(SHED_SIM) $(SHED_SIMH) \
		$(SHED_SRC) $(SHED_HDR) $(KSFT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Wno-sign-compare -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -I$(KSFT_INC) -I$(TOP)/tests/unit \
		-o $@ $(TOP)/tests/unit/freq_test.c $(SHED_SIM) $(SHED_SRC) -lm

check-shed-freq: $(SHED_B)/freq_test
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(SHED_B)/freq_test

# the grid-operator input lines (issue 17 item 3)
$(SHED_B)/signal_test: $(TOP)/tests/unit/signal_test.c $(SHED_SIM) $(SHED_SIMH) \
		$(SHED_SRC) $(SHED_HDR) $(KSFT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Wno-sign-compare -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -I$(KSFT_INC) -I$(TOP)/tests/unit \
		-o $@ $(TOP)/tests/unit/signal_test.c $(SHED_SIM) $(SHED_SRC) -lm

check-shed-signal: $(SHED_B)/signal_test
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(SHED_B)/signal_test

# the phase rules (issue 17 item 4)
$(SHED_B)/phase_test: $(TOP)/tests/unit/phase_test.c $(SHED_SIM) $(SHED_SIMH) \
		$(SHED_SRC) $(SHED_HDR) $(KSFT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Wno-sign-compare -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -I$(KSFT_INC) -I$(TOP)/tests/unit \
		-o $@ $(TOP)/tests/unit/phase_test.c $(SHED_SIM) $(SHED_SRC) -lm

check-shed-phase: $(SHED_B)/phase_test
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(SHED_B)/phase_test

# the mains rules (issue 17 item 2)
$(SHED_B)/mains_test: $(TOP)/tests/unit/mains_test.c $(SHED_SIM) $(SHED_SIMH) \
		$(SHED_SRC) $(SHED_HDR) $(KSFT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Wno-sign-compare -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -I$(KSFT_INC) -I$(TOP)/tests/unit \
		-o $@ $(TOP)/tests/unit/mains_test.c $(SHED_SIM) $(SHED_SRC) -lm

check-shed-mains: $(SHED_B)/mains_test
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(SHED_B)/mains_test

$(SHED_B)/shed_fuzz: $(TOP)/tests/fuzz/shed_fuzz.c $(SHED_SRC) $(SHED_HDR)
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -std=gnu11 -I$(TOP) -I$(TOP)/uapi \
		-fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined \
		-o $@ $(TOP)/tests/fuzz/shed_fuzz.c $(SHED_SRC) -lm

# libFuzzer's own exit status decides; the corpus in the tree seeds it and
# new inputs go to a scratch directory under $(BUILD).
check-shed-fuzz: $(SHED_B)/shed_fuzz
	@mkdir -p $(SHED_B)/fuzz-corpus
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap sh -c '\
		echo "1..1"; \
		if $(SHED_B)/shed_fuzz -runs=$(SHED_FUZZ_RUNS) \
			-max_total_time=$(SHED_FUZZ_TIME) -max_len=4096 \
			-artifact_prefix=$(SHED_B)/ \
			$(SHED_B)/fuzz-corpus $(TOP)/tests/fuzz/corpus/shed \
			> $(SHED_B)/fuzz.log 2>&1; then \
			echo "ok 1 shed_fuzz: $$(grep -E "^#[0-9]+.*(DONE|pulse)" $(SHED_B)/fuzz.log | tail -n1)"; \
		else tail -n 30 $(SHED_B)/fuzz.log; echo "not ok 1 shed_fuzz: see $(SHED_B)/fuzz.log"; exit 1; fi'

# The benchmark is built like the module (-O2, no sanitizers) so that
# callgrind counts the instructions phloem.ko would run.
$(SHED_B)/shed_bench: $(TOP)/bench/shed_bench.c $(SHED_SIM) $(SHED_SIMH) \
		$(SHED_SRC) $(SHED_HDR)
	@mkdir -p $(@D)
	$(CC) -O2 -g $(WARN) -std=gnu11 -I$(TOP) -I$(TOP)/uapi -I$(TOP)/tests/unit \
		-o $@ $(TOP)/bench/shed_bench.c $(SHED_SIM) $(SHED_SRC) -lm

bench-shed: $(SHED_B)/shed_bench
	@$(TOP)/bench/shed_bench.sh $(SHED_B)/shed_bench $(SHED_B)

# 32-bit ARM kernels have no 64-bit division helpers (__aeabi_uldivmod) and
# no floating point: build shed.c for ARMv7 with soft float, as the kernel
# does, so any of either becomes a library call, and refuse such references.
# Only the UAPI header's <linux/types.h> comes from the host (its types are
# the same asm-generic ones on ARM). Skipped without a cross compiler.
ARM_CC ?= arm-linux-gnueabihf-gcc
ARM_NM ?= arm-linux-gnueabihf-nm
check-shed-arm32: $(SHED_SRC) $(SHED_HDR)
	@mkdir -p $(SHED_B)
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap sh -c '\
		echo "1..1"; \
		if ! command -v $(ARM_CC) >/dev/null; then \
			echo "ok 1 shed.c for 32-bit ARM # SKIP no $(ARM_CC)"; exit 0; fi; \
		$(ARM_CC) -ffreestanding -mfloat-abi=soft -O2 -Wall -Wextra -Wno-unused-parameter \
			-Werror -std=gnu11 -I$(TOP) -I$(TOP)/uapi \
			-idirafter /usr/include \
			-idirafter /usr/include/$$(gcc -dumpmachine) \
			-c $(SHED_SRC) -o $(SHED_B)/shed-arm32.o || \
			{ echo "not ok 1 shed.c for 32-bit ARM: does not build"; exit 1; }; \
		bad=$$($(ARM_NM) -u $(SHED_B)/shed-arm32.o | \
			grep -E "__aeabi_(ul|l)div|__aeabi_[dfi]2|__aeabi_[df](add|sub|mul|div)|__(u)?(div|mod)di3" || true); \
		if [ -n "$$bad" ]; then echo "not ok 1 shed.c for 32-bit ARM: needs $$bad"; exit 1; fi; \
		echo "ok 1 shed.c for 32-bit ARM: no 64-bit division, no floating point"'

CHECKS  += check-shed-unit check-shed-freq check-shed-signal check-shed-phase check-shed-mains check-shed-fuzz check-shed-arm32
BENCHES += bench-shed
