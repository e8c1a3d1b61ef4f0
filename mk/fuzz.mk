# libFuzzer targets (clang, ASan + UBSan), one per parser of untrusted input: tests/fuzz/fuzz-*.c.
#   make fuzz        each target for FUZZ_SECONDS (default 60) on its corpus; new inputs are kept
#                    in $(FUZZ_BUILD)/corpus/<target>, crashes in $(FUZZ_BUILD)/artifacts/<target>
#   make fuzz-smoke  replay tests/fuzz/corpus/<target>/* (seeds and kept crashers), then fuzz each
#                    target for FUZZ_SMOKE_SECONDS (default 5) from the fixed random seed
#                    FUZZ_SMOKE_SEED (default 1): the test command's run is repeatable; `make fuzz`
#                    explores with a new seed each time
# A crasher found is fixed and then copied into tests/fuzz/corpus/<target>/ as a regression seed.
FUZZ_CC            ?= clang
FUZZ_BUILD         ?= build-fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_SMOKE_SEED    ?= 1
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Iinclude \
	$(shell $(PKG_CONFIG) --cflags $(PKGS)) -DBERTH_LIBEXECDIR='"$(LIBEXECDIR)"' \
	-DBERTH_CNI_BIN_DIR='"$(CNI_BIN_DIR)"' -DBERTH_STORAGE_BIN_DIR='"$(STORAGE_BIN_DIR)"' \
	-DBERTH_SYSCONFDIR='"$(SYSCONFDIR)"' -DBERTH_VERSION='"0.1.0"' -MMD -MP
FUZZ_LIB_SRC := $(LIB_SRC) $(CNI_PLUGIN_SRC)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS    := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/libberth.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz-%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz-%.o $(FUZZ_BUILD)/libberth.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BINS)

# run_fuzz SECONDS: every target; prints one summary line per target, fails on the first crash
define run_fuzz
	@set -e; for b in $(FUZZ_BINS); do \
		n=$${b##*/}; seeds=tests/fuzz/corpus/$$n; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/artifacts/$$n $$seeds; \
		if [ -n "$(2)" ] && [ -n "$$(ls -A $$seeds)" ]; then \
			$$b $$seeds/* >$(FUZZ_BUILD)/$$n.replay.log 2>&1 || \
				{ tail -40 $(FUZZ_BUILD)/$$n.replay.log; echo "$$n: FAILED on a corpus file"; exit 1; }; \
		fi; \
		$$b -max_total_time=$(1) $(3) -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n/ $(FUZZ_BUILD)/corpus/$$n $$seeds \
			>$(FUZZ_BUILD)/$$n.log 2>&1 || \
			{ tail -60 $(FUZZ_BUILD)/$$n.log; echo "$$n: CRASH, input in $(FUZZ_BUILD)/artifacts/$$n/"; exit 1; }; \
		echo "$$n: ok, $$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/$$n.log) runs in $(1)s, corpus $$(ls $(FUZZ_BUILD)/corpus/$$n | wc -l) + $$(ls $$seeds | wc -l) seeds"; \
	done
endef

fuzz: $(FUZZ_BINS)
	$(call run_fuzz,$(FUZZ_SECONDS),)

fuzz-smoke: $(FUZZ_BINS)
	$(call run_fuzz,$(FUZZ_SMOKE_SECONDS),replay,-seed=$(FUZZ_SMOKE_SEED))

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-clean

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

# keep the target objects (make would delete them as intermediates of the pattern chain)
.SECONDARY: $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/obj/tests/fuzz/%.o)
