# SPDX-License-Identifier: GPL-2.0
# The starvation suite (issue 10): step overloads from 1.25x to 6x in the
# VM while the host is loaded, the simulated ADC slow, jittery and losing
# reads, and the sample rate lowered; 0 missed. 4 x 250 rounds (1,000
# overloads): 4 to 6 minutes under TCG (the guest took 208 to 355 s on a
# 2-core host), within .ci/run's budget.
#
#   make check-starve   tests/vm/starve.sh -> $(RESULTS)/check-starve.tap
#   STARVE_TRACE=1      print each late shed set by set (tracepoints on)
STARVE_ROUNDS ?= 250
STARVE_TRACE  ?= 0

.PHONY: check-starve
check-starve: modules vm-tools
	@mkdir -p $(RESULTS)
	@echo "  VM      starvation suite, 4 x $(STARVE_ROUNDS) overloads (about 4 to 6 minutes under TCG)"
	@STARVE_TRACE=$(STARVE_TRACE) $(TOP)/tests/vm/starve.sh $(RESULTS)/check-starve.tap $(VM_OUT)/phloem_bench \
		$(STARVE_ROUNDS) > $(RESULTS)/check-starve.console 2>&1; \
	rc=$$?; \
	cat $(RESULTS)/check-starve.tap 2>/dev/null; \
	if [ $$rc -ne 0 ] && ! grep -q '^not ok ' $(RESULTS)/check-starve.tap 2>/dev/null; then \
		echo "not ok - check-starve: VM run failed with status $$rc" | tee -a $(RESULTS)/check-starve.tap; \
	fi; \
	exit $$rc

# In make check since stop 26. Before 6ab5617 runs failed in two ways
# (docs/shedding.md, "Starvation"): rounds held by the garage's thermal
# model, which the suite's B-curve 5 A breaker, stepped to 3..6x once a
# second, heated faster than it cooled; and, about once in 2,500
# overloads, a shed at 1.5x over the one-cycle bound. The garage now has a
# D-curve breaker for the suite (phloem_sim curve=,,D) and a round waits
# for its model to cool (phloem_bench -c 200): no round has been held
# since. Every late shed since (runs a, j, m, n) came with more on the two
# cores than the suite's own hog (a kernel build, a spinning shell,
# helpers' builds), and the ones traced were explained in stop 26: the
# bench steps right after the EV's restore (a window of 0 A) and the
# guest's vCPU, not scheduled by the host, left 7 to 9 ms between sets.
# The seven runs with neither a kernel build nor a spinning shell
# beside the hog all passed, the two with nothing else at all (as in make
# check) among them.
CHECKS += check-starve
