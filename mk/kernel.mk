# SPDX-License-Identifier: GPL-2.0
# phloem.ko and phloem_sim.ko, built out of tree against $(KERNEL_SRC).
KMAKE := $(MAKE) -C $(KERNEL_SRC) M=$(TOP)
MODULES := $(TOP)/kernel/phloem.ko $(TOP)/kernel/sim/phloem_sim.ko

.PHONY: modules modules_install
modules:
	$(KMAKE) modules

modules_install: modules
	$(KMAKE) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=extra modules_install

ALL += modules
INSTALLS += modules_install
