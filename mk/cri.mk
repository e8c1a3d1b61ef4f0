# tests/helpers/cri-client: a CRI runtime-service client for the containerd CRI e2e test
# (tests/e2e/containerd-cri.sh).  Its messages are generated at build time by protoc-c from
# tests/helpers/cri-runtime.proto (a subset of k8s.io/cri-api's runtime.v1; Debian packages none).
CRI_GEN     := $(BUILD)/gen/cri
CRI_PB_SRC  := $(CRI_GEN)/cri-runtime.pb-c.c
CRI_PB_OBJ  := $(BUILD)/obj/$(CRI_GEN)/cri-runtime.pb-c.o
CRI_CLIENT  := $(BUILD)/tests/helpers/cri-client
CRI_CFLAGS  := $(shell $(PKG_CONFIG) --cflags grpc libprotobuf-c 2>/dev/null)
CRI_LIBS    := $(shell $(PKG_CONFIG) --libs grpc libprotobuf-c 2>/dev/null)

$(CRI_PB_SRC): tests/helpers/cri-runtime.proto
	@mkdir -p $(CRI_GEN)
	protoc-c --c_out=$(CRI_GEN) -Itests/helpers $<

$(CRI_PB_OBJ): ALL_CFLAGS += -I$(CRI_GEN) $(CRI_CFLAGS) -Wno-missing-prototypes -Wno-shadow
$(BUILD)/obj/tests/helpers/cri-client.o: ALL_CFLAGS += -I$(CRI_GEN) $(CRI_CFLAGS)
$(BUILD)/obj/tests/helpers/cri-client.o: $(CRI_PB_SRC)
$(CRI_CLIENT): $(CRI_PB_OBJ)
$(CRI_CLIENT): LIBS += $(CRI_PB_OBJ) $(CRI_LIBS)
