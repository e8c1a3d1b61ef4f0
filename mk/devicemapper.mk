# The devicemapper driver takes libarchive from its static archive when libarchive-dev ships
# one: only the objects of the tar reader/writer are linked in, and with them only the
# compression libraries they call.  The shared libarchive.so.13 brings libxml2, ICU and
# libstdc++ into every process (for the xar format, which no layer uses); under the dm-vm's
# emulation, loading them costs about a second per driver call.  libarchive's own dependencies
# are named by their runtime files (libzstd.so.1, ...): those come with libarchive13, while
# the -dev packages that would provide libzstd.so etc. are not installed by scripts/deps.sh.
# --as-needed (ALL_LDFLAGS) keeps only the ones used.  storage/dm/archive-shim.o keeps the
# pax writer from pulling in every other writer (see there).  ASan builds stay dynamic.
DM_ARCHIVE_SONAMES := libz.so.1 liblzma.so.5 libzstd.so.1 liblz4.so.1 libbz2.so.1.0 libacl.so.1 \
	libnettle.so.8 libxml2.so.2
DM_LIBARCHIVE_A    := $(wildcard $(shell $(CC) -print-file-name=libarchive.a))
DM_ARCHIVE_DEPS    := $(foreach l,$(DM_ARCHIVE_SONAMES),$(wildcard $(shell $(CC) -print-file-name=$(l))))
ifneq ($(SANITIZE),1)
ifneq ($(DM_LIBARCHIVE_A),)
ifeq ($(words $(DM_ARCHIVE_DEPS)),$(words $(DM_ARCHIVE_SONAMES)))
$(BUILD)/storage/devicemapper: LIBS = $(BUILD)/obj/storage/dm/archive-shim.o \
	$(shell $(PKG_CONFIG) --libs $(filter-out libarchive,$(PKGS))) $(DM_LIBARCHIVE_A) \
	$(DM_ARCHIVE_DEPS) -lpthread
$(BUILD)/storage/devicemapper: $(DM_LIBARCHIVE_A) $(BUILD)/obj/storage/dm/archive-shim.o
endif
endif
endif
