# (named to sort after mk/lint.mk, whose LINT_SRC = would drop the daemon added below)
# berth-dhcp (plugins/cni/dhcp/daemon): the daemon behind the dhcp IPAM plugin; the plugin itself
# is plugins/cni/dhcp (auto-discovered), whose other files (packet codec, config, framing) are in
# libdhcp.a, which the daemon links too.
#   $(BUILD)/bin/berth-dhcp   make install: $(BINDIR), a systemd service and socket unit
DHCPD_SRC := $(wildcard plugins/cni/dhcp/daemon/*.c)
DHCPD_OBJ := $(DHCPD_SRC:%.c=$(BUILD)/obj/%.o)
DHCPD_BIN := $(BUILD)/bin/berth-dhcp
UNITDIR   ?= $(PREFIX)/lib/systemd/system

# the daemon includes the plugin's private header (dhcp-internal.h) without climbing out
$(DHCPD_OBJ): ALL_CFLAGS += -Iplugins/cni/dhcp

$(DHCPD_BIN): $(DHCPD_OBJ) $(BUILD)/plugins/cni/libdhcp.a $(PLUGIN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(DHCPD_OBJ) $(BUILD)/plugins/cni/libdhcp.a $(PLUGIN_LIB) $(LIBS) \
		$(shell $(PKG_CONFIG) --libs libsystemd)

all: $(DHCPD_BIN)

install: install-dhcp
install-dhcp: $(DHCPD_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(DHCPD_BIN) $(DESTDIR)$(BINDIR)/berth-dhcp
	sed 's|@BINDIR@|$(BINDIR)|g' plugins/cni/dhcp/daemon/berth-dhcp.service.in \
		>$(DESTDIR)$(UNITDIR)/berth-dhcp.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/berth-dhcp.service
	install -m 0644 plugins/cni/dhcp/daemon/berth-dhcp.socket $(DESTDIR)$(UNITDIR)/berth-dhcp.socket

uninstall: uninstall-dhcp
uninstall-dhcp:
	rm -f $(DESTDIR)$(BINDIR)/berth-dhcp $(DESTDIR)$(UNITDIR)/berth-dhcp.service \
		$(DESTDIR)$(UNITDIR)/berth-dhcp.socket

.PHONY: install-dhcp uninstall-dhcp

LINT_SRC += $(DHCPD_SRC)
LINT_CFLAGS += -Iplugins/cni/dhcp
