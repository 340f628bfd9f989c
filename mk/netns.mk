# SPDX-License-Identifier: GPL-2.0
# Many gateways in network namespaces (tests/netns/), the libFuzzer target
# over the peer wire decoders (tests/fuzz/peer_fuzz.c) and the discovery /
# convergence benchmark.
#
#   make check-netns       NETNS_N (20) phloemd (sim) in namespaces on a
#                          bridge: discovery, community net power and a load
#                          change, restart, partition, injected datagrams,
#                          a hostile member (tests/netns/hostile.c), 10%
#                          loss (root; TAP)
#   make check-peer-fuzz   peer_wire_decode, _decode_inner, record, invite
#                          token under ASan/UBSan for PEER_FUZZ_SECONDS
#   make bench-netns       discovery and convergence times, bytes/s at rest,
#                          BENCH_SIZES (10 20 50) gateways, 0 and 10% loss
NETNS_N ?= 20

# The hostile member (tests/netns/hostile.c): the library the gateways use
HOSTILE := $(BUILD)/tests/netns/hostile
$(HOSTILE): $(TOP)/tests/netns/hostile.c $(LIBPHLOEM) $(TOP)/agent/lib/peer/peer.h
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -o $@ $< $(LIBPHLOEM) $(AGENT_LIBS) \
		$(shell $(PKG_CONFIG) --libs libnl-route-3.0)

# The lossy hub for kernels without sch_netem (tests/netns/hub.c; hub.py
# is used when it is not built)
NETNS_HUB := $(BUILD)/tests/netns/hub
$(NETNS_HUB): $(TOP)/tests/netns/hub.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -o $@ $<

.PHONY: check-netns check-peer-fuzz bench-netns
check-netns: $(AB)/phloemd $(AB)/phloemctl $(HOSTILE) $(NETNS_HUB)
	@NETNS_N=$(NETNS_N) PHLOEMD=$(AB)/phloemd PHLOEMCTL=$(AB)/phloemctl HOSTILE=$(HOSTILE) \
		HUB=$(NETNS_HUB) \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/netns/netns.sh

bench-netns: $(AB)/phloemd $(AB)/phloemctl $(NETNS_HUB)
	@PHLOEMD=$(AB)/phloemd PHLOEMCTL=$(AB)/phloemctl HUB=$(NETNS_HUB) $(TOP)/tests/netns/bench.sh

# The target compiles the decoders' sources itself (as ledger_fuzz does the
# ledger's): wire.c (datagrams, records of a sealed message, membership
# records) and member.c (invite tokens); the rest of the library (sockets,
# sessions, state) is not reached from the wire without a key.
PEER_FUZZ_BIN := $(BUILD)/tests/fuzz/peer_fuzz
PEER_FUZZ_SRCS = $(TOP)/agent/lib/peer/wire.c $(TOP)/agent/lib/peer/member.c
PEER_FUZZ_SECONDS ?= 30
$(PEER_FUZZ_BIN): $(TOP)/tests/fuzz/peer_fuzz.c $(wildcard $(TOP)/agent/lib/peer/*.[ch])
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-std=c11 -D_GNU_SOURCE -I$(TOP)/agent/lib/peer -o $@ $< $(PEER_FUZZ_SRCS) \
		$(shell $(PKG_CONFIG) --cflags --libs libsodium)

# Seeds: valid datagrams and records written by the library's encoders.
check-peer-fuzz: $(PEER_FUZZ_BIN)
	@rm -rf $(BUILD)/tests/fuzz/peer-corpus; mkdir -p $(BUILD)/tests/fuzz/peer-corpus
	@PEER_FUZZ_SEEDS=$(BUILD)/tests/fuzz/peer-corpus $(PEER_FUZZ_BIN) -runs=1 \
		$(BUILD)/tests/fuzz/peer-corpus >/dev/null 2>&1
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/fuzz/run-fuzz.sh \
		$(PEER_FUZZ_BIN) $(PEER_FUZZ_SECONDS) $(BUILD)/tests/fuzz/peer-corpus

CHECKS  += check-netns check-peer-fuzz
BENCHES += bench-netns
