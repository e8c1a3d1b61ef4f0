# Layer archive benchmark: `make bench-apply` (BENCH_MB, BENCH_RUNS; BENCH_DIR / BENCH_FS as in
# bench/apply-vs-tar.sh).  Prints apply throughput against GNU tar on the same uncompressed tar.
BENCH_MB   ?= 300
BENCH_RUNS ?= 5

bench-apply: $(BUILD)/tests/helpers/berth-archive-tool
	BERTH_BUILD=$(abspath $(BUILD)) bench/apply-vs-tar.sh $(BENCH_MB) $(BENCH_RUNS)

.PHONY: bench-apply
