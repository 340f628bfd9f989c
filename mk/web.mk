# SPDX-License-Identifier: GPL-2.0
# phloemd's web dashboard (agent/phloemd/web.c): the page in
# agent/phloemd/web/ is embedded by the assembler (.incbin), so the build
# needs no generator and no network. libmicrohttpd: PD_PKGS in phloemd.mk.
WEB_ASSETS := $(wildcard $(TOP)/agent/phloemd/web/*)
$(BUILD)/phloemd-obj/web.o: $(WEB_ASSETS)
$(BUILD)/phloemd-obj/web.o: PD_CFLAGS += -DPD_WEB_DIR=\"$(TOP)/agent/phloemd/web\"
