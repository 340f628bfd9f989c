# SPDX-License-Identifier: GPL-2.0
# Settlement: the pure rule in agent/lib/settle (built into libphloem.a by
# mk/agent.mk), its tests and its benchmark.
#
#   make check-settle   golden files, properties over generated communities
#                       (with 128-bit and portable arithmetic), bad input,
#                       `phloemctl settle --input` on the golden files and
#                       `--interval` on real ledgers built from them
#   make bench-settle   settlement time for 100 / 1,000 / 10,000 members
#
# The tests compile the settle sources directly rather than linking
# libphloem.a, so they need neither SQLite nor libsodium.

SETTLE_DIR      := $(TOP)/agent/lib/settle
SETTLE_SRCS     := $(SETTLE_DIR)/settle.c $(SETTLE_DIR)/format.c $(SETTLE_DIR)/scenario.c
SETTLE_HDRS     := $(SETTLE_DIR)/settle.h $(SETTLE_DIR)/scenario.h
SETTLE_TEST     := $(BUILD)/tests/settle/settle_test
SETTLE_TEST_P   := $(BUILD)/tests/settle/settle_test_portable
SETTLE_BENCH    := $(BUILD)/bench/settle_bench
SETTLE_MKLEDGER := $(BUILD)/tests/settle/mkledger
SETTLE_PEER_TEST := $(BUILD)/tests/settle/settle_peer_test
SETTLE_CTL      ?= $(BUILD)/agent/phloemctl
SETTLE_TFLAGS    = $(HOST_CFLAGS) -I$(KSFT_INC) \
		   -DGOLDEN_DIR='"$(TOP)/tests/settle/golden"'

$(SETTLE_TEST): $(TOP)/tests/settle/settle_test.c $(SETTLE_SRCS) $(SETTLE_HDRS) $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SETTLE_TFLAGS) -o $@ $< $(SETTLE_SRCS) -linih

# The same tests through the 32-bit-board arithmetic (no __int128 in settle.c).
$(SETTLE_TEST_P): $(TOP)/tests/settle/settle_test.c $(SETTLE_SRCS) $(SETTLE_HDRS) $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SETTLE_TFLAGS) -DSETTLE_PORTABLE_MATH -o $@ $< $(SETTLE_SRCS) -linih

# Builds real ledgers (ledger library sources, as the fuzz target does) so
# that `phloemctl settle --interval` is checked against `--input`.
$(SETTLE_MKLEDGER): $(TOP)/tests/settle/mkledger.c $(SETTLE_SRCS) $(SETTLE_HDRS) \
		$(wildcard $(TOP)/agent/lib/ledger/*.[ch])
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=c11 -D_GNU_SOURCE -I$(TOP)/agent/lib/ledger \
		-I$(TOP)/agent/lib -o $@ $< $(wildcard $(TOP)/agent/lib/ledger/*.c) \
		$(SETTLE_SRCS) $(shell pkg-config --cflags --libs libsodium sqlite3) -linih

# phloemd's side of settlement (agent/lib/peer/settle_peer.c) on real ledgers.
$(SETTLE_PEER_TEST): $(TOP)/tests/settle/settle_peer_test.c $(LIBPHLOEM) $(LIB_HDRS) $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -Wno-sign-compare -I$(KSFT_INC) -o $@ $< $(LIBPHLOEM) $(AGENT_LIBS)

$(SETTLE_BENCH): $(TOP)/bench/settle_bench.c $(SETTLE_DIR)/settle.c $(SETTLE_DIR)/settle.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -O2 -o $@ $< $(SETTLE_DIR)/settle.c

.PHONY: check-settle bench-settle
check-settle: $(SETTLE_TEST) $(SETTLE_TEST_P) $(SETTLE_CTL) $(SETTLE_MKLEDGER) $(SETTLE_PEER_TEST)
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/settle/run.sh \
		$(SETTLE_TEST) $(SETTLE_TEST_P) $(SETTLE_CTL) $(SETTLE_MKLEDGER) $(SETTLE_PEER_TEST)

bench-settle: $(SETTLE_BENCH)
	@$(SETTLE_BENCH)

CHECKS  += check-settle
BENCHES += bench-settle
