# berth: one non-recursive Makefile.  `make`, `make check`, `make SANITIZE=1 check`,
# `make install PREFIX=/usr DESTDIR=...` (CNI_BIN_DIR=/opt/cni/bin puts the CNI plugins there).

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBEXECDIR  ?= $(PREFIX)/libexec/berth
CNI_BIN_DIR ?= $(LIBEXECDIR)/cni
STORAGE_BIN_DIR ?= $(LIBEXECDIR)/storage
SYSCONFDIR  ?= /etc
DESTDIR     ?=

CC          ?= cc
PKG_CONFIG  ?= pkg-config
PKGS        := libnl-3.0 libnl-route-3.0 libmnl libnftnl jansson devmapper libarchive libbtrfsutil

ifeq ($(FAULT),1)
BUILD       ?= build-fault
FAULT_FLAGS := -DBERTH_FAULT_INJECTION
endif
ifeq ($(SANITIZE),1)
BUILD       ?= build-san
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT         ?= -O1
else
BUILD       ?= build
SAN_FLAGS   :=
OPT         ?= -O2
endif

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes -Wno-unused-parameter -Wno-format-truncation \
	   -fno-common -Werror
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_FLAGS) $(FAULT_FLAGS) -Iinclude \
	   $(shell $(PKG_CONFIG) --cflags $(PKGS)) \
	   -DBERTH_LIBEXECDIR='"$(LIBEXECDIR)"' -DBERTH_CNI_BIN_DIR='"$(CNI_BIN_DIR)"' \
	   -DBERTH_STORAGE_BIN_DIR='"$(STORAGE_BIN_DIR)"' -DBERTH_SYSCONFDIR='"$(SYSCONFDIR)"' \
	   -DBERTH_VERSION='"0.1.0"' -MMD -MP
ALL_LDFLAGS := $(SAN_FLAGS) $(LDFLAGS) -Wl,--as-needed
LIBS    := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lpthread

# The libraries, one archive per layer; each depends only on those after it (a reference that
# points up the stack fails to link):  core -> net, storage -> common.  Plugins and drivers
# link net, storage and common, never the core.
COMMON_SRC  := $(wildcard common/*.c)
NET_SRC     := $(wildcard net/*.c net/*/*.c)
STORAGE_SRC := $(wildcard storage/*.c storage/*/*.c)
CORE_SRC    := $(wildcard core/net/*.c core/store/*.c)
LIB_SRC     := $(COMMON_SRC) $(NET_SRC) $(STORAGE_SRC) $(CORE_SRC)
LIB_COMMON  := $(BUILD)/libberth-common.a
LIB_NET     := $(BUILD)/libberth-net.a
LIB_STORAGE := $(BUILD)/libberth-storage.a
LIB_CORE    := $(BUILD)/libberth-core.a
PLUGIN_LIB  := $(LIB_NET) $(LIB_STORAGE) $(LIB_COMMON)
LIB         := $(LIB_CORE) $(PLUGIN_LIB)

CNI_PLUGINS     := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/cni/*/main.c))))
STORAGE_DRIVERS := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/storage/*/main.c))))
# A plugin's code beside its main.c (config parsing, checks) is built into lib<plugin>.a,
# which the plugin and the unit and fuzz tests link.
cni_plugin_src  = $(filter-out plugins/cni/$(1)/main.c,$(wildcard plugins/cni/$(1)/*.c))
cni_plugin_lib  = $(if $(call cni_plugin_src,$(1)),$(BUILD)/plugins/cni/lib$(1).a)
CNI_PLUGIN_SRC  := $(foreach p,$(CNI_PLUGINS),$(call cni_plugin_src,$(p)))
CNI_PLUGIN_LIBS := $(foreach p,$(CNI_PLUGINS),$(call cni_plugin_lib,$(p)))
CNI_BINS        := $(CNI_PLUGINS:%=$(BUILD)/cni/%)
STORAGE_BINS    := $(STORAGE_DRIVERS:%=$(BUILD)/storage/%)
CLI_SRC         := $(wildcard core/cli/*.c)
# the CLI's commands and helpers (all but main.c), linked by the berth binary and unit tests
CLI_LIB_SRC     := $(filter-out core/cli/main.c,$(CLI_SRC))
CLI_LIB         := $(BUILD)/libberth-cli.a
CLI_BIN         := $(BUILD)/bin/berth
UNIT_SRC        := $(wildcard tests/unit/test-*.c)
UNIT_BINS       := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
TEST_HELPER_SRC := $(wildcard tests/helpers/*.c)
TEST_HELPERS    := $(TEST_HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

all: $(CNI_BINS) $(STORAGE_BINS) $(CLI_BIN) $(UNIT_BINS) $(TEST_HELPERS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_COMMON): $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
$(LIB_NET): $(NET_SRC:%.c=$(BUILD)/obj/%.o)
$(LIB_STORAGE): $(STORAGE_SRC:%.c=$(BUILD)/obj/%.o)
$(LIB_CORE): $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
$(foreach p,$(CNI_PLUGINS),$(if $(call cni_plugin_lib,$(p)),$(eval $(call cni_plugin_lib,$(p)): $(patsubst %.c,$(BUILD)/obj/%.o,$(call cni_plugin_src,$(p))))))
$(CLI_LIB): $(CLI_LIB_SRC:%.c=$(BUILD)/obj/%.o)
$(LIB) $(CLI_LIB) $(CNI_PLUGIN_LIBS):
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# program TARGET,SOURCES,ARCHIVES
define program
$(1): $$(patsubst %.c,$$(BUILD)/obj/%.o,$(2)) $(3)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(patsubst %.c,$$(BUILD)/obj/%.o,$(2)) $(3) $$(LIBS)
endef

$(foreach p,$(CNI_PLUGINS),$(eval $(call program,$(BUILD)/cni/$(p),plugins/cni/$(p)/main.c,$(call cni_plugin_lib,$(p)) $(PLUGIN_LIB))))
$(foreach p,$(STORAGE_DRIVERS),$(eval $(call program,$(BUILD)/storage/$(p),$(wildcard plugins/storage/$(p)/*.c),$(PLUGIN_LIB))))
$(eval $(call program,$(BUILD)/bin/berth,core/cli/main.c,$(CLI_LIB) $(LIB)))
$(foreach t,$(UNIT_SRC),$(eval $(call program,$(t:tests/unit/%.c=$(BUILD)/tests/unit/%),$(t),$(CLI_LIB) $(CNI_PLUGIN_LIBS) $(LIB))))
$(foreach t,$(TEST_HELPER_SRC),$(eval $(call program,$(t:tests/helpers/%.c=$(BUILD)/tests/helpers/%),$(t),$(LIB))))

# Test tiers.  Integration tests need root; they find the binaries through BERTH_BUILD.
TEST_ENV := BERTH_BUILD=$(abspath $(BUILD)) BERTH_SRC=$(CURDIR) SANITIZE=$(SANITIZE) \
	    BERTH_FAULT_BUILD=$(abspath build-fault)
PROVE    ?= prove --timer
# every test file runs under tests/run-test.sh: a time limit, its own process group, CI's skip
# allowlist (tests/skip-allowlist) and, with BERTH_TAP_DIR set, the counts scripts/test.sh adds up
RUN_TEST := $(CURDIR)/tests/run-test.sh
INTEGRATION ?= $(sort $(wildcard tests/integration/*.sh))

check: check-unit check-integration

check-unit: $(UNIT_BINS)
	$(TEST_ENV) $(PROVE) -e '$(RUN_TEST)' $(UNIT_BINS)

# The crash-injection and valgrind tests use the FAULT=1 build (build-fault/).
check-integration: all
	$(if $(filter 1,$(SANITIZE) $(FAULT)),,$(MAKE) FAULT=1 all)
	$(TEST_ENV) $(PROVE) -e '$(RUN_TEST) bash' $(INTEGRATION)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(CNI_BIN_DIR) $(DESTDIR)$(STORAGE_BIN_DIR)
	install -m 0755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/berth
	$(if $(CNI_BINS),install -m 0755 $(CNI_BINS) $(DESTDIR)$(CNI_BIN_DIR)/)
	$(if $(STORAGE_BINS),install -m 0755 $(STORAGE_BINS) $(DESTDIR)$(STORAGE_BIN_DIR)/)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/berth $(CNI_PLUGINS:%=$(DESTDIR)$(CNI_BIN_DIR)/%) \
	      $(STORAGE_DRIVERS:%=$(DESTDIR)$(STORAGE_BIN_DIR)/%)

clean:
	rm -rf build build-san build-fault

.PHONY: all check check-unit check-integration install uninstall clean
.DELETE_ON_ERROR:

# Per-area additions (fuzz, lint, vm tests ...) live in mk/*.mk so areas do not edit this file.
-include $(sort $(wildcard mk/*.mk))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
