# SPDX-License-Identifier: GPL-2.0
# The peer protocol: agent/lib/peer (built into libphloem.a by mk/agent.mk),
# its use in phloemd (agent/phloemd/peers.c) and its host tests.
#
#   make check-peer   unit tests of wire/session/member/swim/gossip
#                     (kselftest harness), then three phloemd processes
#                     (sim backend) over loopback UDP: discovery, invites,
#                     liveness, community net power, drop counters, and
#                     a hostile member (tests/netns/hostile.c) attacking
#   make check-peer-meter  three phloemd metering their sites into their
#                     chains every 10 s while they settle (tests/peer/meter.sh)
PEER_PKGS := libnl-route-3.0
$(AB)/obj/lib/peer/%.o: AGENT_CFLAGS += $(shell $(PKG_CONFIG) --cflags $(PEER_PKGS) 2>/dev/null)
# mk/phloemd.mk is read after this file: its names are spelled out here.
# libnl-route is not linked: discovery.c loads it when interfaces are
# configured (agent/lib/dynlib); its headers and libnl-3 are needed.
# Nor is libsodium: pd_peers_open() loads it (agent/phloemd/sodiumlib.h).
$(AB)/phloemd: PD_LIBS += $(shell $(PKG_CONFIG) --libs libnl-3.0 2>/dev/null)

PT := $(BUILD)/tests/peer
PEER_SRCS := $(sort $(wildcard $(TOP)/agent/lib/peer/*.c)) $(TOP)/agent/lib/dynlib/dynlib.c
PEER_HDRS := $(TOP)/agent/lib/peer/peer.h

# sync.c works on the ledger: its sources come along (as the fuzz targets do)
PEER_LEDGER_SRCS := $(sort $(wildcard $(TOP)/agent/lib/ledger/*.c)) $(TOP)/agent/lib/settle/settle.c
$(PT)/peer_test: $(TOP)/tests/peer/peer_test.c $(PEER_SRCS) $(PEER_HDRS) $(KSFT_HDRS) \
		$(PEER_LEDGER_SRCS) $(TOP)/agent/lib/ledger/ledger.h
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -Wno-sign-compare -I$(KSFT_INC) \
		$(shell $(PKG_CONFIG) --cflags $(PEER_PKGS)) -o $@ $< $(PEER_SRCS) \
		$(PEER_LEDGER_SRCS) $(shell $(PKG_CONFIG) --libs libsodium sqlite3 $(PEER_PKGS))

.PHONY: check-peer
# the hostile member of tests/netns (its rule is in mk/netns.mk)
check-peer: $(PT)/peer_test $(AB)/phloemd $(AB)/phloemctl $(BUILD)/tests/netns/hostile
	@PHLOEMD=$(AB)/phloemd PHLOEMCTL=$(AB)/phloemctl PEER_TEST=$(PT)/peer_test \
		HOSTILE=$(BUILD)/tests/netns/hostile \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/peer/run.sh
CHECKS += check-peer

# phloemd meters its own site into its chain every 10 s interval while
# three of them settle (about 60 s)
.PHONY: check-peer-meter
check-peer-meter: $(AB)/phloemd $(AB)/phloemctl
	@PHLOEMD=$(AB)/phloemd PHLOEMCTL=$(AB)/phloemctl \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/peer/meter.sh
CHECKS += check-peer-meter

# The fuzz target (tests/fuzz/peer_fuzz.c, built by mk/netns.mk) also drives
# the handshake and transport decoders of a session with fixed keys.
PEER_FUZZ_SRCS += $(TOP)/agent/lib/peer/session.c $(TOP)/agent/lib/peer/handshake.c

# 50 gateways in one process on a simulated clock and a lossy in-memory
# LAN, running the peer library (tests/peer/scale_sim.c): issue 11's scale
# targets asserted over fixed seeds (deterministic, about 15 s of CPU)
SCALE_SIM_SRCS := $(addprefix $(TOP)/agent/lib/peer/,wire.c session.c handshake.c swim.c gossip.c member.c)
$(PT)/scale_sim: $(TOP)/tests/peer/scale_sim.c $(SCALE_SIM_SRCS) $(PEER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -o $@ $< $(SCALE_SIM_SRCS) $(shell $(PKG_CONFIG) --libs libsodium)

.PHONY: check-peer-scale
check-peer-scale: $(PT)/scale_sim
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(PT)/scale_sim
CHECKS += check-peer-scale
