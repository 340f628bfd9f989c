# SPDX-License-Identifier: GPL-2.0
# phloemd, the policy agent, and its tests and benchmark. The daemon's
# files live in agent/phloemd/; it links libphloem.a (nl and sim among it)
# and the kernel's pure shedding unit, kernel/shed.c, compiled for the host
# (the sim backend runs the very code the module runs).
PD_PKGS    := libnl-genl-3.0 json-c sqlite3 inih libmodbus
PD_CFLAGS   = $(shell $(PKG_CONFIG) --cflags $(PD_PKGS) 2>/dev/null) \
	-I$(TOP)/agent -I$(TOP)/kernel
# libmodbus: headers only, loaded with dlopen() (agent/phloemd/mblib.h)
PD_LIBS     = $(shell $(PKG_CONFIG) --libs $(filter-out libmodbus,$(PD_PKGS)) 2>/dev/null) -lm -lpthread

# PHLOEMD and PD_HDRS are named in mk/agent.mk (read first)
PD_SRCS    := $(sort $(wildcard $(TOP)/agent/phloemd/*.c))
# not under $(AB)/phloemd/: that path is the binary
PD_OBJDIR  := $(BUILD)/phloemd-obj
PD_OBJS    := $(patsubst $(TOP)/agent/phloemd/%.c,$(PD_OBJDIR)/%.o,$(PD_SRCS))
PD_SHED    := $(AB)/shed/shed.o

$(PD_OBJDIR)/%.o: $(TOP)/agent/phloemd/%.c $(PD_HDRS) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) $(PD_CFLAGS) -c -o $@ $<

# Library objects built by mk/agent.mk's pattern rule, with what they need.
$(AB)/obj/lib/nl/%.o:  AGENT_CFLAGS += $(shell $(PKG_CONFIG) --cflags libnl-genl-3.0 2>/dev/null)
$(AB)/obj/lib/sim/%.o: AGENT_CFLAGS += -I$(TOP)/kernel
$(PHLOEMCTL): AGENT_LIBS += $(shell $(PKG_CONFIG) --libs json-c libnl-genl-3.0 2>/dev/null)

$(PD_SHED): $(TOP)/kernel/shed.c $(TOP)/kernel/shed.h $(TOP)/uapi/linux/phloem.h
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -I$(TOP)/kernel -c -o $@ $<

# libsodium is loaded by pd_peers_open() (agent/phloemd/sodiumlib.h): the
# library files that call it are compiled again for phloemd, with that
# header forced in, and linked ahead of libphloem.a's copies of them. One
# missing here fails the link: libsodium is not linked.
PD_SODIUM_SRCS := $(addprefix $(TOP)/agent/lib/,ledger/chain.c ledger/entry.c \
	ledger/identity.c ledger/store.c peer/handshake.c peer/member.c \
	peer/session.c peer/wire.c)
PD_SODIUM_OBJS := $(patsubst $(TOP)/agent/lib/%.c,$(PD_OBJDIR)/lib/%.o,$(PD_SODIUM_SRCS))
$(PD_OBJDIR)/lib/peer/%.o: AGENT_CFLAGS += $(shell $(PKG_CONFIG) --cflags $(PEER_PKGS) 2>/dev/null)
$(PD_OBJDIR)/lib/%.o: $(TOP)/agent/lib/%.c $(LIB_HDRS) $(TOP)/agent/phloemd/sodiumlib.h
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -include $(TOP)/agent/phloemd/sodiumlib.h -c -o $@ $<

$(PHLOEMD): $(PD_OBJS) $(PD_SODIUM_OBJS) $(PD_SHED) $(LIBPHLOEM)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(PD_OBJS) $(PD_SODIUM_OBJS) $(PD_SHED) $(LIBPHLOEM) $(PD_LIBS)

.PHONY: phloemd check-agent check-agent-kernel bench-agent bench-agent-kernel
phloemd: $(PHLOEMD)
ALL += phloemd

# Installed by mk/install.mk (install-bins: phloemd to sbin).

# ---- host tests: unit tests (kselftest harness) and the daemon driven
# through real processes, sockets and SQLite files (sim backend) ----
AT := $(BUILD)/tests/agent
AT_CFLAGS = $(AGENT_CFLAGS) $(PD_CFLAGS) -Wno-sign-compare -I$(KSFT_INC) -I$(TOP)/agent/phloemd

$(AT)/config_test: $(TOP)/tests/agent/config_test.c $(TOP)/agent/phloemd/config.c \
		$(TOP)/agent/phloemd/policy.c $(TOP)/agent/phloemd/mqttweb_conf.c $(PD_HDRS) $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AT_CFLAGS) -DTEST_DATA=\"$(TOP)/tests/agent/conf\" -o $@ $< \
		$(TOP)/agent/phloemd/config.c $(TOP)/agent/phloemd/policy.c \
		$(TOP)/agent/phloemd/mqttweb_conf.c $(PD_LIBS)

$(AT)/nl_test: $(TOP)/tests/agent/nl_test.c $(LIBPHLOEM) $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AT_CFLAGS) -o $@ $< $(LIBPHLOEM) $(PD_LIBS)

$(AT)/sim_test: $(TOP)/tests/agent/sim_test.c $(LIBPHLOEM) $(PD_SHED) $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AT_CFLAGS) -o $@ $< $(LIBPHLOEM) $(PD_SHED) $(PD_LIBS)

# the pure half of the meter, as is (meter.c, its daemon half, is not)
$(AT)/meter_test: $(TOP)/tests/agent/meter_test.c $(TOP)/agent/phloemd/meter_acc.c \
		$(TOP)/agent/phloemd/meter.h $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AT_CFLAGS) -o $@ $< $(TOP)/agent/phloemd/meter_acc.c

AT_BINS := $(AT)/config_test $(AT)/nl_test $(AT)/sim_test $(AT)/meter_test

check-agent: $(AT_BINS) $(PHLOEMD) $(PHLOEMCTL) $(TOP)/docs/netlink/phloem.yaml
	@PHLOEMD=$(PHLOEMD) PHLOEMCTL=$(PHLOEMCTL) AT=$(AT) \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/agent/run.sh
CHECKS += check-agent

bench-agent: $(PHLOEMD) $(PHLOEMCTL)
	@PHLOEMD=$(PHLOEMD) PHLOEMCTL=$(PHLOEMCTL) $(TOP)/tests/agent/bench.sh
BENCHES += bench-agent

# phloemd on the kernel backend in the test VM (phloem.ko + phloem_sim.ko);
# skips until the kernel registers the "phloem" generic netlink family.
# The binaries are copied first: a concurrent build must not swap them
# under the running guest.
check-agent-kernel: modules $(PHLOEMD) $(PHLOEMCTL)
	@mkdir -p $(RESULTS) $(BUILD)/agent-kernel
	@cp $(PHLOEMD) $(PHLOEMCTL) $(BUILD)/agent-kernel/
	@$(VM_RUN) --timeout 600 --modules --out $(RESULTS)/$@.tap -- \
		$(TOP)/tests/agent/kernel.sh $(BUILD)/agent-kernel/phloemd $(BUILD)/agent-kernel/phloemctl; \
	rc=$$?; \
	if [ $$rc -ne 0 ] && ! grep -q '^not ok ' $(RESULTS)/$@.tap 2>/dev/null; then \
		echo "not ok - $@: VM run failed with status $$rc" >> $(RESULTS)/$@.tap; \
	fi; \
	exit $$rc
CHECKS += check-agent-kernel

# Netlink round trips against phloem.ko, in the VM.
$(AT)/nl_bench: $(TOP)/tests/agent/nl_bench.c $(LIBPHLOEM)
	@mkdir -p $(dir $@)
	$(CC) $(AT_CFLAGS) -o $@ $< $(LIBPHLOEM) $(PD_LIBS)

bench-agent-kernel: modules $(AT)/nl_bench
	@mkdir -p $(BUILD)/agent-kernel
	@cp $(AT)/nl_bench $(BUILD)/agent-kernel/
	@$(VM_RUN) --timeout 600 --modules -- $(BUILD)/agent-kernel/nl_bench 200
BENCHES += bench-agent-kernel
