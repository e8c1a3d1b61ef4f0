# host-local needs only libc and jansson: link it statically when libjansson.a is installed.
# A plugin process is short-lived and its peak RSS is mostly the dynamic loader and the mapped
# libraries: 0.7 MiB static against 1.4 MiB dynamic (the reference Go plugin: 3.6 MiB), and no
# symbol resolution at each exec.  ASan cannot link statically, so SANITIZE=1 stays dynamic; so
# does the FAULT=1 test build, which the valgrind tier uses (memcheck cannot see a static heap).
ifneq ($(SANITIZE),1)
ifneq ($(FAULT),1)
ifneq ($(wildcard $(shell $(CC) -print-file-name=libjansson.a)),)
$(BUILD)/cni/host-local: ALL_LDFLAGS += -static
$(BUILD)/cni/host-local: LIBS = $(shell $(PKG_CONFIG) --static --libs jansson) -lpthread
endif
endif
endif
