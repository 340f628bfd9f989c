# SPDX-License-Identifier: GPL-2.0
# The userspace agent: libphloem.a (agent/lib/*/) and phloemctl, plus the
# ledger's tests, fuzz target and benchmark. Cross builds set CC and
# PKG_CONFIG (see tests/arm64/check.sh); other mk/*.mk add per-target flags
# for the libraries they put under agent/lib/.
PKG_CONFIG ?= pkg-config
AGENT_PKGS := libsodium sqlite3
AGENT_CFLAGS = $(CFLAGS) $(WARN) -std=c11 -D_GNU_SOURCE -I$(TOP)/uapi \
	-I$(TOP) -I$(TOP)/agent/lib/ledger -I$(TOP)/agent/lib \
	$(shell $(PKG_CONFIG) --cflags $(AGENT_PKGS) inih 2>/dev/null)
AGENT_LIBS = $(shell $(PKG_CONFIG) --libs $(AGENT_PKGS) inih 2>/dev/null) -lm

AB        := $(BUILD)/agent
LIB_SRCS  := $(sort $(wildcard $(TOP)/agent/lib/*/*.c))
LIB_OBJS  := $(patsubst $(TOP)/agent/%.c,$(AB)/obj/%.o,$(LIB_SRCS))
# with the contract: a struct that grows must not leave objects of its old size
LIB_HDRS  := $(wildcard $(TOP)/agent/lib/*/*.h) $(TOP)/uapi/linux/phloem.h
CTL_SRCS  := $(sort $(wildcard $(TOP)/agent/phloemctl/*.c))
CTL_OBJS  := $(patsubst $(TOP)/agent/%.c,$(AB)/obj/%.o,$(CTL_SRCS))
LIBPHLOEM := $(AB)/libphloem.a
PHLOEMCTL := $(AB)/phloemctl
# phloemd's binary and headers are built by mk/phloemd.mk, but named here,
# in the first fragment read: install, modbus and mqtt put them among
# their prerequisites, which make expands as it reads each file (named in
# phloemd.mk, they were empty there, and `make bench` on a fresh clone ran
# bench-modbus with no phloemd built).
PHLOEMD   := $(AB)/phloemd
PD_HDRS   := $(wildcard $(TOP)/agent/phloemd/*.h) $(TOP)/kernel/shed.h

$(AB)/obj/%.o: $(TOP)/agent/%.c $(LIB_HDRS) $(wildcard $(TOP)/agent/phloemctl/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -c -o $@ $<

$(LIBPHLOEM): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(PHLOEMCTL): $(CTL_OBJS) $(LIBPHLOEM)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CTL_OBJS) $(LIBPHLOEM) $(AGENT_LIBS)

.PHONY: agent phloemctl
agent phloemctl: $(PHLOEMCTL)
ALL += phloemctl

# Installed by mk/install.mk (install-bins, install-data), with the rest.

# ---- ledger tests (host) ----
LT := $(BUILD)/tests/ledger
# The harness compares literal ints with sizes: -Wsign-compare is noise there.
LEDGER_TEST_CFLAGS = $(AGENT_CFLAGS) -Wno-sign-compare -I$(KSFT_INC) -DVECTORS_FILE=\"$(TOP)/tests/ledger/vectors.txt\" \
	-DDOC_FILE=\"$(TOP)/docs/ledger.md\"

$(LT)/%: $(TOP)/tests/ledger/%.c $(TOP)/tests/ledger/vectors.h $(LIBPHLOEM) $(KSFT_HDRS) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(LEDGER_TEST_CFLAGS) -o $@ $< $(LIBPHLOEM) $(AGENT_LIBS)

.PHONY: check-ledger check-ledger-powerloss check-ledger-fuzz bench-ledger
check-ledger: $(LT)/ledger_test $(PHLOEMCTL)
	@PHLOEMCTL=$(PHLOEMCTL) $(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(LT)/ledger_test

check-ledger-powerloss: $(LT)/powerloss_test
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(LT)/powerloss_test

# libFuzzer needs clang; the target links the real decoder and validator.
FUZZ_BIN := $(BUILD)/tests/fuzz/ledger_fuzz
FUZZ_SECONDS ?= 30
$(FUZZ_BIN): $(TOP)/tests/fuzz/ledger_fuzz.c $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
		-I$(TOP)/agent/lib/ledger -I$(TOP)/uapi -o $@ $< \
		$(wildcard $(TOP)/agent/lib/ledger/*.c) $(shell pkg-config --cflags --libs libsodium sqlite3)

check-ledger-fuzz: $(FUZZ_BIN)
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/fuzz/run-fuzz.sh \
		$(FUZZ_BIN) $(FUZZ_SECONDS) $(BUILD)/tests/fuzz/ledger-corpus

CHECKS += check-ledger check-ledger-powerloss check-ledger-fuzz

# Regenerate the test vectors: only for a deliberate format change, which
# also bumps LEDGER_FORMAT_VERSION and docs/ledger.md.
.PHONY: ledger-vectors
ledger-vectors: $(LT)/vectors_gen
	$(LT)/vectors_gen > $(TOP)/tests/ledger/vectors.txt

$(BUILD)/bench/ledger_bench: $(TOP)/bench/ledger_bench.c $(LIBPHLOEM) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -o $@ $< $(LIBPHLOEM) $(AGENT_LIBS)

bench-ledger: $(BUILD)/bench/ledger_bench
	@$(BUILD)/bench/ledger_bench
BENCHES += bench-ledger
