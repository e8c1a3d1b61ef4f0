# (named to sort after snapshotter.mk, whose variables it uses: mk/*.mk are included in sorted order)
# tests/helpers/ctrd-snap-bench: Prepare+Mounts through containerd's snapshots service, for
# bench/containerd-snapshotter.sh; built like snap-client (mk/snapshotter.mk) from the protobuf-c
# code generated there.
CTRD_SNAP_BENCH := $(BUILD)/tests/helpers/ctrd-snap-bench
$(BUILD)/obj/tests/helpers/ctrd-snap-bench.o: ALL_CFLAGS += -I$(SNAP_GEN) $(SNAP_CFLAGS)
$(BUILD)/obj/tests/helpers/ctrd-snap-bench.o: | $(SNAP_GEN)/.stamp
$(CTRD_SNAP_BENCH): $(SNAP_PB_OBJ)
$(CTRD_SNAP_BENCH): LIBS += $(SNAP_PB_OBJ) $(SNAP_LIBS)
