# bridge and loopback: libnl, libnftnl and jansson linked statically when their .a files are
# installed; libc stays dynamic (a static glibc warns about libnl's getaddrinfo use) and so does
# libmnl (Debian ships no libmnl.a).  Peak RSS of a short-lived plugin is mostly mapped
# libraries.  SANITIZE=1 and FAULT=1 builds stay dynamic (ASan, valgrind), as for host-local.
ifneq ($(SANITIZE),1)
ifneq ($(FAULT),1)
NETLINK_STATIC_OK := $(and $(wildcard $(shell $(CC) -print-file-name=libnl-route-3.a)),$(wildcard $(shell $(CC) -print-file-name=libjansson.a)))
ifneq ($(NETLINK_STATIC_OK),)
$(BUILD)/cni/loopback: LIBS = -Wl,-Bstatic -lnl-route-3 -lnl-3 -ljansson -Wl,-Bdynamic -lpthread -lm
ifneq ($(wildcard $(shell $(CC) -print-file-name=libnftnl.a)),)
$(BUILD)/cni/bridge: LIBS = -Wl,-Bstatic -lnl-route-3 -lnl-3 -lnftnl -ljansson -Wl,-Bdynamic -lmnl -lpthread -lm
endif
endif
endif
endif
