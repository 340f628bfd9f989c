# SPDX-License-Identifier: GPL-2.0
#
# phloem top-level Makefile.
#
#   make            module(s) + userspace
#   make modules    phloem.ko and phloem_sim.ko against $(KERNEL_SRC)
#   make check      every test, host and VM; last line "N passed, N failed"
#   make bench      benchmarks, printed as tables
#   make demo       the small-house demo in the VM
#   make install    DESTDIR=, PREFIX=, KERNEL_SRC= honoured
#
# Each area keeps its rules in mk/<area>.mk and adds its targets to
# CHECKS (each writes TAP to $(RESULTS)/<name>.tap) and BENCHES.

TOP       := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD     ?= $(TOP)/build
RESULTS   := $(BUILD)/results
PREFIX    ?= /usr/local
DESTDIR   ?=

# The kernel the VM tests boot (Debian's PREEMPT_RT flavour); its headers
# are installed by `make deps`. These are recursive (`?=`) and computed with
# $(shell), not $(wildcard) (make caches directories), so that they are
# evaluated when a recipe uses them, after `deps` has installed the headers;
# on a fresh machine make also restarts once the packages are in (below).
VM_KVER   ?= $(shell ls -d /lib/modules/*-rt-amd64/build 2>/dev/null | sort -V | tail -n1 | cut -d/ -f4)
KVER      ?= $(shell uname -r)
# Default to the running kernel's build dir, as a Yocto `module` recipe
# expects; fall back to the VM test kernel on a host without its headers.
KERNEL_SRC ?= $(shell if [ -d /lib/modules/$(KVER)/build ]; then echo /lib/modules/$(KVER)/build; \
	else echo /lib/modules/$(VM_KVER)/build; fi)

CC        ?= cc
CLANG     ?= clang
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Werror=implicit-function-declaration -Wno-unused-parameter
HOST_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -I$(TOP) -I$(TOP)/uapi

CHECKS    :=
BENCHES   :=
ALL       :=
INSTALLS  :=

.PHONY: all check bench demo install deps clean
all: modules

# deps.mk and ksft.mk first: other fragments name their variables
# (KSFT_HDRS...) in prerequisites, which make expands as it reads them.
MK_FIRST := $(TOP)/mk/deps.mk $(TOP)/mk/ksft.mk
include $(MK_FIRST)
include $(filter-out $(MK_FIRST),$(sort $(wildcard $(TOP)/mk/*.mk)))

all: $(ALL)

# Every check runs even when an earlier one fails; the summary decides.
check: deps
	@rm -rf $(RESULTS); mkdir -p $(RESULTS)
	@$(MAKE) --no-print-directory -k $(CHECKS) || true
	@$(TOP)/tests/lib/summarize.sh $(RESULTS) $(CHECKS)

# Every bench runs, one at a time (timings), even when an earlier one fails
# or misses a target; each prints its tables and marks a missed target in
# its row. The summary at the end names the benches that did not pass, and
# only then does `make bench` fail.
bench: deps
	@failed=; \
	for b in $(BENCHES); do \
		echo; echo "==== $$b"; \
		$(MAKE) --no-print-directory $$b; rc=$$?; \
		[ $$rc -eq 0 ] || failed="$$failed $$b(status $$rc)"; \
		[ $$rc -lt 128 ] || break; \
	done; \
	echo; \
	if [ -n "$$failed" ]; then \
		echo "bench: missed a target or failed:$$failed"; exit 1; \
	fi; \
	echo "bench: $(words $(BENCHES)) benches, every target met"

install: $(INSTALLS)

# A fresh machine: any goal that builds or runs something (`make`, `make
# demo`, `make check`, `make bench`, `make check-vm`, `make modules`...)
# first installs Debian's packages (mk/deps.mk). The deps stamp is an
# included makefile, so make makes it before anything else, then restarts
# and computes KERNEL_SRC, VM_KVER and the pkg-config flags with the
# packages in place. Not done in a sub-make, nor for a kernel tree given on
# the command line (Yocto's module class), nor for the goals a Yocto or
# cross build runs (agent-bins, unit...), nor without apt-get, nor with
# PHLOEM_NO_DEPS=1.
NO_DEPS_GOALS := deps clean agent-bins print-agent-bins unit install-data
ifeq ($(MAKELEVEL)$(PHLOEM_NO_DEPS),0)
ifneq ($(origin KERNEL_SRC),command line)
ifneq ($(wildcard /usr/bin/apt-get),)
ifneq ($(filter-out $(NO_DEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(DEPS_STAMP)
endif
endif
endif
endif

clean:
	rm -rf $(BUILD)
	$(MAKE) -C $(KERNEL_SRC) M=$(TOP) clean 2>/dev/null || true
