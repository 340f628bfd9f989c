# SPDX-License-Identifier: GPL-2.0
# phloemd's web dashboard (agent/phloemd/web.c): the page in
# agent/phloemd/web/ is embedded by the assembler (.incbin), so the build
# needs no generator and no network. libmicrohttpd: PD_PKGS in phloemd.mk.
WEB_ASSETS := $(wildcard $(TOP)/agent/phloemd/web/*)
$(BUILD)/phloemd-obj/web.o: $(WEB_ASSETS)
$(BUILD)/phloemd-obj/web.o: PD_CFLAGS += -DPD_WEB_DIR=\"$(TOP)/agent/phloemd/web\"

# The dashboard in headless Chromium: playwright-core from the npm registry
# (tests/web/package.json) installed once under build/tests/web; without it
# or without chromium the browser checks skip. Screenshots: build/results/web.
WEB_PW := $(BUILD)/tests/web
check-web: $(PHLOEMD) $(PHLOEMCTL)
	@PHLOEMD=$(PHLOEMD) PHLOEMCTL=$(PHLOEMCTL) PW_DIR=$(WEB_PW) WEB_OUT=$(RESULTS)/web \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/web/run.sh
CHECKS += check-web
.PHONY: check-web

bench-web: $(PHLOEMD) $(PHLOEMCTL)
	@PHLOEMD=$(PHLOEMD) PHLOEMCTL=$(PHLOEMCTL) PW_DIR=$(WEB_PW) $(TOP)/tests/web/bench.sh
BENCHES += bench-web
.PHONY: bench-web

# The dashboard on the sim backend, for a person: prints its address.
demo-web: $(PHLOEMD)
	@PHLOEMD=$(PHLOEMD) $(TOP)/tests/web/demo.sh
.PHONY: demo-web

# agent/phloemd/tlsskip.c: names libmicrohttpd and GnuTLS must find in the
# executable ahead of GnuTLS's own (GnuTLS's init skipped, plain HTTP only)
PD_COMMA := ,
PD_TLSSKIP := _gnutls_global_init_skip gnutls_global_init gnutls_global_deinit
$(AB)/phloemd: PD_LIBS += $(patsubst %,-Wl$(PD_COMMA)--export-dynamic-symbol=%,$(PD_TLSSKIP))
