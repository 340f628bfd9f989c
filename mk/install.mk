# SPDX-License-Identifier: GPL-2.0
# `make install DESTDIR=... PREFIX=/usr`: the agent's programs, the systemd
# unit, the example configuration, man pages, bash completion, the udev
# rule, the sysusers.d and modules-load.d snippets (the modules themselves:
# modules_install in mk/kernel.mk). Directories follow the FHS for
# PREFIX=/usr; each can be overridden, as a Yocto recipe does with
# ${systemd_system_unitdir} and friends.
#
# AGENT_BINS: the agent's programs, whatever mk/agent.mk builds (phloemctl
# now, phloemd when it exists). phloemd goes to sbin, the rest to bin.
AGENT_BINS ?= $(strip $(PHLOEMCTL) $(PHLOEMD))

BINDIR        ?= $(PREFIX)/bin
SBINDIR       ?= $(PREFIX)/sbin
MANDIR        ?= $(PREFIX)/share/man
BASHCOMPDIR   ?= $(PREFIX)/share/bash-completion/completions
# Packages put these under /usr/lib (merged-/usr); not under /usr/local,
# where systemd and udev would not look.
SYSTEMDLIBDIR ?= $(if $(filter /usr/local,$(PREFIX)),/usr/lib,$(PREFIX)/lib)
UNITDIR       ?= $(SYSTEMDLIBDIR)/systemd/system
UDEVRULESDIR  ?= $(SYSTEMDLIBDIR)/udev/rules.d
SYSUSERSDIR   ?= $(SYSTEMDLIBDIR)/sysusers.d
MODLOADDIR    ?= $(SYSTEMDLIBDIR)/modules-load.d
# phloemd reads /etc/phloem/phloemd.conf whatever the prefix.
SYSCONFDIR    ?= /etc

PKG            := $(TOP)/packaging
MAN_PAGES      := $(sort $(wildcard $(TOP)/docs/man/*.[1-8]))
BASH_COMPLETIONS := $(sort $(wildcard $(TOP)/agent/*/*.bash-completion))
UNIT_OUT       := $(BUILD)/packaging/phloemd.service

# The unit names the daemon's installed path; rebuilt when SBINDIR changes.
$(UNIT_OUT): $(PKG)/phloemd.service.in FORCE
	@mkdir -p $(dir $@)
	@sed 's|@SBINDIR@|$(SBINDIR)|g' $< >$@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

.PHONY: install-bins install-data agent-bins print-agent-bins unit FORCE
unit: $(UNIT_OUT)
FORCE:

# Used by tests/arm64/check.sh and the Yocto recipe to build exactly
# these. A sub-make, because AGENT_BINS is only complete once every mk/*.mk
# is read (mk/phloemd.mk comes after this file), and prerequisites are
# expanded as they are read.
agent-bins:
	@$(MAKE) --no-print-directory $(AGENT_BINS)
print-agent-bins:
	@echo $(AGENT_BINS)

install-bins: agent-bins
	@for b in $(AGENT_BINS); do \
		case $${b##*/} in phloemd) d=$(SBINDIR) ;; *) d=$(BINDIR) ;; esac; \
		echo "  INSTALL $$d/$${b##*/}"; \
		install -D -m 0755 $$b $(DESTDIR)$$d/$${b##*/} || exit 1; \
	done

install-data: $(UNIT_OUT)
	install -D -m 0644 $(UNIT_OUT) $(DESTDIR)$(UNITDIR)/phloemd.service
	install -D -m 0644 $(PKG)/60-phloem.rules $(DESTDIR)$(UDEVRULESDIR)/60-phloem.rules
	install -D -m 0644 $(PKG)/phloem.sysusers $(DESTDIR)$(SYSUSERSDIR)/phloem.conf
	install -D -m 0644 $(PKG)/phloem.modules-load $(DESTDIR)$(MODLOADDIR)/phloem.conf
	@# Never overwrite a configuration someone has edited.
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/phloem/phloemd.conf ]; then \
		echo "  KEEP    $(SYSCONFDIR)/phloem/phloemd.conf (exists)"; \
	else \
		install -D -m 0644 $(PKG)/phloemd.conf $(DESTDIR)$(SYSCONFDIR)/phloem/phloemd.conf; \
	fi
	@for m in $(MAN_PAGES); do \
		s=$${m##*.}; \
		install -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/$${m##*/} || exit 1; \
	done
	@for c in $(BASH_COMPLETIONS); do \
		n=$${c##*/}; \
		install -D -m 0644 $$c $(DESTDIR)$(BASHCOMPDIR)/$${n%.bash-completion} || exit 1; \
	done

INSTALLS += install-bins install-data

# check-install: `make install` into a temporary root, then the tree and
# the modes (tests/install/check.sh). The root is kept in $(BUILD) for
# check-yocto, which compares the recipes' do_install with it.
INSTALL_ROOT := $(BUILD)/install-root
.PHONY: check-install
# systemd-analyze and systemd-sysusers check the unit and the sysusers file.
INSTALL_CHECK_PKGS := systemd kmod python3

check-install:
	@$(TOP)/tests/lib/deps.sh $(INSTALL_CHECK_PKGS)
	@TOP=$(TOP) ROOT=$(INSTALL_ROOT) MAKE="$(MAKE)" \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/install/check.sh
CHECKS += check-install
