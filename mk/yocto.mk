# SPDX-License-Identifier: GPL-2.0
# meta-phloem checked without bitbake (tests/yocto/check.py): layer.conf,
# SRC_URI files, licence checksums, and the agent recipe's do_install run
# against the tree `make install` produces (check-install's, made here
# if that check has not run).
.PHONY: check-yocto
check-yocto:
	@[ -d $(INSTALL_ROOT)/usr ] || \
		$(MAKE) --no-print-directory -k install DESTDIR=$(INSTALL_ROOT) PREFIX=/usr >$(INSTALL_ROOT).log 2>&1 || true
	@$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap \
		python3 $(TOP)/tests/yocto/check.py $(TOP) $(INSTALL_ROOT) $(BUILD)
CHECKS += check-yocto
