# The overlay driver takes libarchive from its static archive, as the devicemapper driver does
# (mk/devicemapper.mk says why: the shared libarchive.so.13 loads libxml2, ICU and libstdc++
# into every driver process).  The driver runs once per layer operation (berth storage, the
# containerd snapshotter's every Prepare), so what its start costs counts: 18 shared objects
# dynamically, 11 with libarchive static.  ASan builds stay dynamic.
ifneq ($(SANITIZE),1)
ifneq ($(DM_LIBARCHIVE_A),)
ifeq ($(words $(DM_ARCHIVE_DEPS)),$(words $(DM_ARCHIVE_SONAMES)))
$(BUILD)/storage/overlay: LIBS = $(BUILD)/obj/storage/dm/archive-shim.o \
	$(shell $(PKG_CONFIG) --libs $(filter-out libarchive,$(PKGS))) $(DM_LIBARCHIVE_A) \
	$(DM_ARCHIVE_DEPS) -lpthread
$(BUILD)/storage/overlay: $(DM_LIBARCHIVE_A) $(BUILD)/obj/storage/dm/archive-shim.o
endif
endif
endif
