# SPDX-License-Identifier: GPL-2.0
# phloem.ko and phloem_sim.ko, built out of tree against $(KERNEL_SRC).
# Recursive: KERNEL_SRC is only known once `make deps` has run.
KMAKE = $(MAKE) -C $(KERNEL_SRC) M=$(TOP)
MODULES := $(TOP)/kernel/phloem.ko $(TOP)/kernel/sim/phloem_sim.ko

.PHONY: modules modules_install
modules:
	+$(KMAKE) modules

# A distribution kernel (Debian's) signs modules on install with a key only
# its builders have: without the key, install unsigned instead of printing
# sign-file errors. A tree with its key (a Yocto build, where the kernel's
# objects and key are in O=) still signs.
MOD_KOBJ    = $(or $(O),$(KERNEL_SRC))
MOD_SIG_KEY = $(shell sed -n 's/^CONFIG_MODULE_SIG_KEY="\?\([^"]*\)"\?$$/\1/p' $(MOD_KOBJ)/include/config/auto.conf 2>/dev/null)
MOD_SIGN    = $(if $(MOD_SIG_KEY),$(if $(wildcard $(MOD_SIG_KEY) $(MOD_KOBJ)/$(MOD_SIG_KEY) $(KERNEL_SRC)/$(MOD_SIG_KEY)),,CONFIG_MODULE_SIG_ALL=))

modules_install: modules
	+$(KMAKE) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=extra $(MOD_SIGN) modules_install

ALL += modules
INSTALLS += modules_install
