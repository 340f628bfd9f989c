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
# are installed by `make deps`.
VM_KVER   ?= $(shell ls -d /lib/modules/*-rt-amd64/build 2>/dev/null | sort -V | tail -n1 | cut -d/ -f4)
KVER      ?= $(shell uname -r)
# Default to the running kernel's build dir, as a Yocto `module` recipe
# expects; fall back to the VM test kernel on a host without its headers.
KERNEL_SRC ?= $(if $(wildcard /lib/modules/$(KVER)/build),/lib/modules/$(KVER)/build,/lib/modules/$(VM_KVER)/build)

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

bench: deps
	@$(MAKE) --no-print-directory $(BENCHES)

install: $(INSTALLS)

clean:
	rm -rf $(BUILD)
	$(MAKE) -C $(KERNEL_SRC) M=$(TOP) clean 2>/dev/null || true
