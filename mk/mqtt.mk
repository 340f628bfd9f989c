# SPDX-License-Identifier: GPL-2.0
# phloemd's MQTT client (agent/phloemd/mqtt.c); libmosquitto: PD_PKGS in
# phloemd.mk. Tests: a real mosquitto started by tests/mqtt/run.sh.
