# SPDX-License-Identifier: GPL-2.0
# phloemd's MQTT client (agent/phloemd/mqtt.c); libmosquitto: PD_PKGS in
# phloemd.mk. Tests: a real mosquitto started by tests/mqtt/run.sh.

check-mqtt: $(PHLOEMD) $(PHLOEMCTL)
	@PHLOEMD=$(PHLOEMD) PHLOEMCTL=$(PHLOEMCTL) \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/mqtt/run.sh
CHECKS += check-mqtt
.PHONY: check-mqtt
