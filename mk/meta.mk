# bandwidth: the ifb name is the reference's (a SHA-512 prefix, from nettle); the tbf arithmetic
# uses libm.  As for bridge (mk/netlink.mk), libnl, jansson and nettle are linked statically when
# their .a files are installed, except in the SANITIZE=1 and FAULT=1 builds: most of a short-lived
# plugin's start is the dynamic loader.
META_STATIC_OK := $(and $(wildcard $(shell $(CC) -print-file-name=libnl-route-3.a)),$(wildcard $(shell $(CC) -print-file-name=libjansson.a)),$(wildcard $(shell $(CC) -print-file-name=libnettle.a)))
ifeq ($(SANITIZE)$(FAULT),)
ifneq ($(META_STATIC_OK),)
$(BUILD)/cni/bandwidth: LIBS = -Wl,-Bstatic -lnl-route-3 -lnl-3 -ljansson -lnettle -Wl,-Bdynamic -lpthread -lm
else
$(BUILD)/cni/bandwidth: LIBS += -lnettle -lm
endif
else
$(BUILD)/cni/bandwidth: LIBS += -lnettle -lm
endif
$(BUILD)/tests/unit/test-qdisc: LIBS += -lnettle -lm
