# overlay driver: the layer archive code (storage/archive/*.c) lands separately; compile the
# verbs that need it only once its functions exist, so the tree always builds.
OVL_ARCHIVE_FUNCS := $(sort $(shell cat storage/archive/*.c 2>/dev/null | grep -oE '^int berth_archive_[a-z_]+'))
ifeq ($(words $(filter berth_archive_apply berth_archive_diff berth_archive_changes berth_archive_changes_size,$(subst int ,,$(OVL_ARCHIVE_FUNCS)))),4)
ALL_CFLAGS += -DBERTH_OVL_HAVE_ARCHIVE=1
endif
# rebuild when the archive sources come or change (the define above depends on them)
$(BUILD)/obj/storage/overlay/diff.o: $(wildcard storage/archive/*.c) mk/overlay.mk
