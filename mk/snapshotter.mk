# berth-snapshotter (plugins/containerd): containerd's snapshots API over gRPC's C core, with
# protobuf-c code generated at build time from the .proto files Debian ships with containerd
# (plugins/containerd/gen-proto.sh; nothing generated is committed), metadata in SQLite.
#   $(BUILD)/bin/berth-snapshotter       the daemon (make install: $(BINDIR), a systemd unit
#                                        and the containerd config snippet, docs/containerd.md)
#   $(BUILD)/tests/helpers/snap-client   a small gRPC client of every RPC, for the tests
#   $(FUZZ_BUILD)/fuzz-snapshotter       libFuzzer on the request decoding (make fuzz)
SNAP_PKGS    := grpc libprotobuf-c sqlite3
SNAP_CFLAGS  := $(shell $(PKG_CONFIG) --cflags $(SNAP_PKGS) 2>/dev/null)
SNAP_LIBS    := $(shell $(PKG_CONFIG) --libs $(SNAP_PKGS) 2>/dev/null)
SNAP_PROTOS  := github.com/containerd/containerd/api/services/snapshots/v1/snapshots \
		github.com/containerd/containerd/api/types/mount google/protobuf/empty \
		google/protobuf/field_mask google/protobuf/timestamp
SNAP_SRC     := $(wildcard plugins/containerd/*.c)
SNAP_BIN     := $(BUILD)/bin/berth-snapshotter
UNITDIR      ?= $(PREFIX)/lib/systemd/system

# gen_rules BUILDDIR OBJDIR: generated sources under BUILDDIR/gen/containerd, objects in OBJDIR
SNAP_GEN      := $(BUILD)/gen/containerd
SNAP_PB_SRC   := $(SNAP_PROTOS:%=$(SNAP_GEN)/%.pb-c.c)
SNAP_PB_OBJ   := $(SNAP_PB_SRC:%.c=$(BUILD)/obj/%.o)
SNAP_OBJ      := $(SNAP_SRC:%.c=$(BUILD)/obj/%.o)

$(SNAP_GEN)/.stamp: plugins/containerd/gen-proto.sh
	@mkdir -p $(SNAP_GEN)
	plugins/containerd/gen-proto.sh $(SNAP_GEN)
	@touch $@
$(SNAP_PB_SRC): $(SNAP_GEN)/.stamp
	@test -f $@

# generated code: our warnings are not its author's style
$(SNAP_PB_OBJ): ALL_CFLAGS += -I$(SNAP_GEN) $(SNAP_CFLAGS) -Wno-missing-prototypes -Wno-shadow
$(SNAP_OBJ): ALL_CFLAGS += -I$(SNAP_GEN) $(SNAP_CFLAGS)
$(SNAP_OBJ): | $(SNAP_GEN)/.stamp

$(SNAP_BIN): $(SNAP_OBJ) $(SNAP_PB_OBJ) $(PLUGIN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(SNAP_OBJ) $(SNAP_PB_OBJ) $(PLUGIN_LIB) $(LIBS) $(SNAP_LIBS)

# the test client: tests/helpers/snap-client.c, built by the Makefile's helper rule
SNAP_CLIENT := $(BUILD)/tests/helpers/snap-client
$(BUILD)/obj/tests/helpers/snap-client.o: ALL_CFLAGS += -I$(SNAP_GEN) -Iplugins/containerd $(SNAP_CFLAGS)
$(BUILD)/obj/tests/helpers/snap-client.o: | $(SNAP_GEN)/.stamp
$(SNAP_CLIENT): $(SNAP_PB_OBJ)
$(SNAP_CLIENT): LIBS += $(SNAP_PB_OBJ) $(SNAP_LIBS)

all: $(SNAP_BIN)

install: install-snapshotter
install-snapshotter: $(SNAP_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/berth \
		$(DESTDIR)$(PREFIX)/share/doc/berth
	install -m 0755 $(SNAP_BIN) $(DESTDIR)$(BINDIR)/berth-snapshotter
	sed 's|@BINDIR@|$(BINDIR)|g' plugins/containerd/berth-snapshotter.service.in \
		>$(DESTDIR)$(UNITDIR)/berth-snapshotter.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/berth-snapshotter.service
	install -m 0644 plugins/containerd/containerd-snippet.toml \
		$(DESTDIR)$(PREFIX)/share/doc/berth/containerd-snippet.toml
	test -e $(DESTDIR)$(SYSCONFDIR)/berth/snapshotter.json || \
		install -m 0644 plugins/containerd/snapshotter.json $(DESTDIR)$(SYSCONFDIR)/berth/snapshotter.json

uninstall: uninstall-snapshotter
uninstall-snapshotter:
	rm -f $(DESTDIR)$(BINDIR)/berth-snapshotter $(DESTDIR)$(UNITDIR)/berth-snapshotter.service \
		$(DESTDIR)$(PREFIX)/share/doc/berth/containerd-snippet.toml

.PHONY: install-snapshotter uninstall-snapshotter

# ---- fuzzing the request decoding (mk/fuzz.mk builds and runs every tests/fuzz/fuzz-*.c) ----
SNAP_FUZZ_GEN := $(FUZZ_BUILD)/gen/containerd
SNAP_FUZZ_PB  := $(SNAP_PROTOS:%=$(FUZZ_BUILD)/obj/$(SNAP_FUZZ_GEN)/%.pb-c.o)
SNAP_FUZZ_OBJ := $(FUZZ_BUILD)/obj/plugins/containerd/decode.o $(FUZZ_BUILD)/obj/plugins/containerd/filter.o

$(SNAP_FUZZ_GEN)/.stamp: plugins/containerd/gen-proto.sh
	@mkdir -p $(SNAP_FUZZ_GEN)
	plugins/containerd/gen-proto.sh $(SNAP_FUZZ_GEN)
	@touch $@
$(SNAP_PROTOS:%=$(SNAP_FUZZ_GEN)/%.pb-c.c): $(SNAP_FUZZ_GEN)/.stamp
	@test -f $@
$(SNAP_FUZZ_PB) $(SNAP_FUZZ_OBJ) $(FUZZ_BUILD)/obj/tests/fuzz/fuzz-snapshotter.o: \
	FUZZ_CFLAGS += -I$(SNAP_FUZZ_GEN) -Iplugins/containerd $(SNAP_CFLAGS)
$(SNAP_FUZZ_OBJ) $(FUZZ_BUILD)/obj/tests/fuzz/fuzz-snapshotter.o: | $(SNAP_FUZZ_GEN)/.stamp
$(FUZZ_BUILD)/fuzz-snapshotter: $(SNAP_FUZZ_OBJ) $(SNAP_FUZZ_PB)
$(FUZZ_BUILD)/fuzz-snapshotter: LIBS += -lprotobuf-c

# make lint covers the daemon, its client and its fuzz target too (with the generated headers)
LINT_SRC    += $(SNAP_SRC) tests/helpers/snap-client.c tests/fuzz/fuzz-snapshotter.c
LINT_CFLAGS += -I$(SNAP_GEN) -Iplugins/containerd $(SNAP_CFLAGS)
lint-cppcheck lint-clang-tidy: $(SNAP_GEN)/.stamp
