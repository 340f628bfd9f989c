# SPDX-License-Identifier: GPL-2.0
# The starvation suite (issue 10): step overloads from 1.25x to 6x in the
# VM while the host is loaded, the simulated ADC slow, jittery and losing
# reads, and the sample rate lowered; 0 missed. 4 x 250 rounds (1,000
# overloads): about 8 minutes under TCG (the guest took 428 s on a 2-core
# host at load average 8), within .ci/run's budget.
#
#   make check-starve   tests/vm/starve.sh -> $(RESULTS)/check-starve.tap
#   STARVE_TRACE=1      print each late shed set by set (tracepoints on)
STARVE_ROUNDS ?= 250
STARVE_TRACE  ?= 0

.PHONY: check-starve
check-starve: modules vm-tools
	@mkdir -p $(RESULTS)
	@echo "  VM      starvation suite, 4 x $(STARVE_ROUNDS) overloads (about 8 minutes under TCG)"
	@STARVE_TRACE=$(STARVE_TRACE) $(TOP)/tests/vm/starve.sh $(RESULTS)/check-starve.tap $(VM_OUT)/phloem_bench \
		$(STARVE_ROUNDS) > $(RESULTS)/check-starve.console 2>&1; \
	rc=$$?; \
	cat $(RESULTS)/check-starve.tap 2>/dev/null; \
	if [ $$rc -ne 0 ] && ! grep -q '^not ok ' $(RESULTS)/check-starve.tap 2>/dev/null; then \
		echo "not ok - check-starve: VM run failed with status $$rc" | tee -a $(RESULTS)/check-starve.tap; \
	fi; \
	exit $$rc

# By hand, not in CHECKS: on 7ae2781 its two full runs had 0 missed, but
# the first had one shed at 1.5x in 22.0 ms of signal time, over the
# one-cycle (20 ms) bound. In the host model such sheds come from sampler
# stalls of 5..9 ms (under the 10 ms stale limit): the sets land at one
# phase of i2 and a whole-cycle window of 4 to 7 of them reads the RMS low;
# the unit now scales such a window by its phase's voltage coverage, and
# the model has none left. In the VM, of three runs on b74dca2, one passed,
# one had a shed in 21.4 ms, and two had rounds held by the 5 A circuit's
# thermal model, as e412cd8 does (docs/shedding.md, "Starvation"). A check that fails one run in
# two would turn make check red at random; it goes in when its bounds hold
# run after run.
