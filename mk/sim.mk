# SPDX-License-Identifier: GPL-2.0
# The simulated HAT itself (kernel/sim/phloem_sim.ko, built by `make
# modules`), tested in the VM through the mainline drivers it sits under.
#
#   make check-sim   tests/sim/sim-vm.sh in one VM -> $(RESULTS)/check-sim.tap:
#                    mcp320x binds, waveforms and load model as read through
#                    IIO, debugfs knobs and refusals, relay time stamps, steps,
#                    faults, stalls, unload (also under a bound phloem.ko)
#   make check-sim-wave  the analog model (kernel/sim/sim_wave.c) on the host
#                    against libm and 128-bit references, under UBSan
SIM_VM_RUN  := $(TOP)/tests/vm/run.sh
SIM_TIMEOUT ?= 300

.PHONY: check-sim
# The script loads and unloads the modules itself (no --modules).
check-sim: modules
	@mkdir -p $(RESULTS)
	@$(SIM_VM_RUN) --timeout $(SIM_TIMEOUT) \
		--out $(RESULTS)/check-sim.tap --console $(RESULTS)/check-sim.console -- \
		$(TOP)/tests/sim/sim-vm.sh >/dev/null; \
	rc=$$?; \
	cat $(RESULTS)/check-sim.tap 2>/dev/null; \
	if [ $$rc -ne 0 ] && ! grep -q '^not ok ' $(RESULTS)/check-sim.tap 2>/dev/null; then \
		echo "not ok - check-sim: VM run failed with status $$rc" | tee -a $(RESULTS)/check-sim.tap; \
	fi; \
	exit $$rc

SIM_WAVE_TEST := $(BUILD)/tests/sim/wave_test
SIM_SHIM      := $(TOP)/tests/sim/shim

# The kernel source compiled as is; the shim stands in for <linux/...>.
$(SIM_WAVE_TEST): $(TOP)/tests/sim/wave_test.c $(TOP)/kernel/sim/sim_wave.c \
		  $(TOP)/kernel/sim/sim.h $(wildcard $(SIM_SHIM)/*.h $(SIM_SHIM)/linux/*.h \
		  $(SIM_SHIM)/linux/gpio/*.h) $(KSFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) -I$(SIM_SHIM) -I$(KSFT_INC) $(HOST_CFLAGS) -fsanitize=undefined \
		-fno-sanitize-recover=undefined -o $@ $< -lm

.PHONY: check-sim-wave
check-sim-wave: $(SIM_WAVE_TEST)
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(SIM_WAVE_TEST)

CHECKS += check-sim-wave check-sim
