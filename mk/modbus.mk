# SPDX-License-Identifier: GPL-2.0
# SunSpec over Modbus: libsunspec's and the control rules' unit tests, and
# phloemd end to end against pymodbus simulators of an inverter, a battery
# and a meter (TCP and RTU over a socat pty pair), mbpoll reading phloemd's
# SunSpec meter server (tests/modbus/run.sh; docs/modbus.md).
# check-modbus-peer: a site's PV read over Modbus reaches a neighbour's
# phloemd (gossip, community net power, the clean part of its ledger
# entries; tests/modbus/peer.sh, loopback UDP, no namespaces).
MT := $(BUILD)/tests/modbus

$(MT)/sunspec_test: $(TOP)/tests/modbus/sunspec_test.c $(TOP)/agent/lib/sunspec/sunspec.c \
		$(TOP)/agent/lib/sunspec/models.c $(TOP)/agent/lib/sunspec/sunspec.h $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -Wno-sign-compare -I$(KSFT_INC) -o $@ $< \
		$(TOP)/agent/lib/sunspec/sunspec.c $(TOP)/agent/lib/sunspec/models.c

# the pure half of devctl.c, as is
$(MT)/devctl_test: $(TOP)/tests/modbus/devctl_test.c $(TOP)/agent/phloemd/devctl.c $(PD_HDRS) $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AT_CFLAGS) -DPD_DEVCTL_PURE -o $@ $< $(TOP)/agent/phloemd/devctl.c

.PHONY: check-modbus bench-modbus
check-modbus: $(MT)/sunspec_test $(MT)/devctl_test $(PHLOEMD) $(PHLOEMCTL)
	@PHLOEMD=$(PHLOEMD) PHLOEMCTL=$(PHLOEMCTL) AT=$(MT) \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/modbus/run.sh
CHECKS += check-modbus

.PHONY: check-modbus-peer
check-modbus-peer: $(PHLOEMD) $(PHLOEMCTL)
	@PHLOEMD=$(PHLOEMD) PHLOEMCTL=$(PHLOEMCTL) \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/modbus/peer.sh
CHECKS += check-modbus-peer

bench-modbus: $(PHLOEMD) $(PHLOEMCTL)
	@PHLOEMD=$(PHLOEMD) PHLOEMCTL=$(PHLOEMCTL) $(TOP)/tests/modbus/bench.sh
BENCHES += bench-modbus
