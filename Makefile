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
PKGS        := libnl-3.0 libnl-route-3.0 libmnl libnftnl jansson devmapper libarchive

ifeq ($(SANITIZE),1)
BUILD       ?= build-san
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT         ?= -O1
else
BUILD       ?= build
SAN_FLAGS   :=
OPT         ?= -O2
endif

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes -Wno-unused-parameter \
	   -fno-common -Werror
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_FLAGS) -Iinclude \
	   $(shell $(PKG_CONFIG) --cflags $(PKGS)) \
	   -DBERTH_LIBEXECDIR='"$(LIBEXECDIR)"' -DBERTH_CNI_BIN_DIR='"$(CNI_BIN_DIR)"' \
	   -DBERTH_STORAGE_BIN_DIR='"$(STORAGE_BIN_DIR)"' -DBERTH_SYSCONFDIR='"$(SYSCONFDIR)"' \
	   -DBERTH_VERSION='"0.1.0"' -MMD -MP
ALL_LDFLAGS := $(SAN_FLAGS) $(LDFLAGS) -Wl,--as-needed
LIBS    := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lpthread

LIB_SRC := $(wildcard common/*.c net/*.c storage/*.c storage/*/*.c core/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB     := $(BUILD)/libberth.a

CNI_PLUGINS     := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/cni/*/main.c))))
STORAGE_DRIVERS := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/storage/*/main.c))))
CNI_BINS        := $(CNI_PLUGINS:%=$(BUILD)/cni/%)
STORAGE_BINS    := $(STORAGE_DRIVERS:%=$(BUILD)/storage/%)
CLI_SRC         := $(wildcard core/cli/*.c)
CLI_BIN         := $(if $(CLI_SRC),$(BUILD)/bin/berth)
UNIT_SRC        := $(wildcard tests/unit/test-*.c)
UNIT_BINS       := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
TEST_HELPER_SRC := $(wildcard tests/helpers/*.c)
TEST_HELPERS    := $(TEST_HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

all: $(CNI_BINS) $(STORAGE_BINS) $(CLI_BIN) $(UNIT_BINS) $(TEST_HELPERS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

define program
$(1): $$(patsubst %.c,$$(BUILD)/obj/%.o,$(2)) $$(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(patsubst %.c,$$(BUILD)/obj/%.o,$(2)) $$(LIB) $$(LIBS)
endef

$(foreach p,$(CNI_PLUGINS),$(eval $(call program,$(BUILD)/cni/$(p),$(wildcard plugins/cni/$(p)/*.c))))
$(foreach p,$(STORAGE_DRIVERS),$(eval $(call program,$(BUILD)/storage/$(p),$(wildcard plugins/storage/$(p)/*.c))))
$(if $(CLI_SRC),$(eval $(call program,$(BUILD)/bin/berth,$(CLI_SRC))))
$(foreach t,$(UNIT_SRC),$(eval $(call program,$(t:tests/unit/%.c=$(BUILD)/tests/unit/%),$(t))))
$(foreach t,$(TEST_HELPER_SRC),$(eval $(call program,$(t:tests/helpers/%.c=$(BUILD)/tests/helpers/%),$(t))))

# Test tiers.  Integration tests need root; they find the binaries through BERTH_BUILD.
TEST_ENV := BERTH_BUILD=$(abspath $(BUILD)) BERTH_SRC=$(CURDIR) SANITIZE=$(SANITIZE)
PROVE    ?= prove
INTEGRATION ?= $(sort $(wildcard tests/integration/*.sh))

check: check-unit check-integration

check-unit: $(UNIT_BINS)
	$(TEST_ENV) $(PROVE) -e '' $(UNIT_BINS)

check-integration: all
	$(TEST_ENV) $(PROVE) -e bash $(INTEGRATION)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(CNI_BIN_DIR) $(DESTDIR)$(STORAGE_BIN_DIR)
	$(if $(CLI_BIN),install -m 0755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/berth)
	$(if $(CNI_BINS),install -m 0755 $(CNI_BINS) $(DESTDIR)$(CNI_BIN_DIR)/)
	$(if $(STORAGE_BINS),install -m 0755 $(STORAGE_BINS) $(DESTDIR)$(STORAGE_BIN_DIR)/)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/berth $(CNI_PLUGINS:%=$(DESTDIR)$(CNI_BIN_DIR)/%) \
	      $(STORAGE_DRIVERS:%=$(DESTDIR)$(STORAGE_BIN_DIR)/%)

clean:
	rm -rf build build-san

.PHONY: all check check-unit check-integration install uninstall clean
.DELETE_ON_ERROR:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
