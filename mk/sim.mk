# SPDX-License-Identifier: GPL-2.0
# The simulated HAT itself (kernel/sim/phloem_sim.ko, built by `make
# modules`), tested in the VM through the mainline drivers it sits under.
#
#   make check-sim   tests/sim/sim-vm.sh in one VM -> $(RESULTS)/check-sim.tap:
#                    mcp320x binds, waveforms and load model as read through
#                    IIO, debugfs knobs and refusals, relay time stamps, steps,
#                    faults, stalls, unload (also under a bound phloem.ko)
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

CHECKS += check-sim
