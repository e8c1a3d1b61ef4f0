#!/bin/bash
# The test command: installs what is missing, builds, and runs every test tier.
#   sudo scripts/test.sh            all tiers (what CI runs, with CI=true)
#   TIERS="unit integration" scripts/test.sh    a subset
# Tiers: unit, integration (root: real netns, nftables, overlayfs), vm (the integration files
# named *-vm.sh: device-mapper, XFS, bridge VLANs, vrf, the interface plugins on a stock kernel,
# each booting tests/vm/dm-vm.sh), san-unit and san-integration
# (ASan + UBSan builds), fuzz (a short smoke run of every fuzz target), lint.
#
# Every test file runs under tests/run-test.sh (a time limit per file, see there), which
# records its checks in $log_dir/<tier>/results.  A check is passed, failed or skipped; a skip
# is never counted as passed.  Under CI=true a skip that tests/skip-allowlist does not list is a
# failure.  A tier whose make target is missing, that ran no check, or one of whose files did
# not report fails.  The last line is always "N passed, N failed, N skipped".
# Fuzz and lint print no TAP: fuzz counts one check per fuzz target, lint one check.
# The trees are built first; then the tiers that touch the host's kernel state (integration,
# san-integration) run one after the other, while the others (unit, san-unit, fuzz, lint, and vm,
# whose tests change nothing on the host: their kernel is the VM's) run beside them, their output
# shown after the kernel tiers' (PARALLEL=0: all in turn).
set -uo pipefail
cd "$(dirname "$0")/.."

TIERS=${TIERS:-"unit integration vm san-unit san-integration fuzz lint"}
JOBS=${JOBS:-$(nproc)}
log_dir=$(mktemp -d /tmp/berth-test.XXXXXX)
if [ -n "${BERTH_KEEP_LOGS:-}" ]; then echo "logs in $log_dir"; else trap 'rm -rf "$log_dir"' EXIT; fi

if ! scripts/deps.sh test; then
	echo "deps: installation failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

total_pass=0 total_fail=0 total_skip=0
declare -a summary=() problems=()

# The integration files the sanitizer tier runs: not the VM tests (they boot an emulated kernel
# and test the same code paths as the plain tier) and not the files that declare
# "# sanitize: no" (they need the FAULT=1 build or valgrind, which ASan excludes).
san_integration() {
	local f
	for f in tests/integration/*.sh; do
		case $f in *-vm.sh) continue ;; esac
		head -n 30 "$f" | grep -q '^# sanitize: no' && continue
		echo "$f"
	done
}

# tally TIER RC EXPECTED_FILES...: add up $log_dir/TIER/results; every expected file must have
# reported, and a make that failed with no failed check still counts as one failure.
tally() {
	local tier=$1 rc=$2 pass=0 fail=0 skip=0 f p x s t files=0 missing
	shift 2
	local res=$log_dir/$tier/results
	if [ -f "$res" ]; then
		while read -r f p x s t; do
			pass=$((pass + p)) fail=$((fail + x)) skip=$((skip + s)) files=$((files + 1))
			[ "$x" -eq 0 ] || problems+=("$tier: $f: $x failed")
		done <"$res"
	fi
	for f in "$@"; do
		if ! grep -q "^$f " "$res" 2>/dev/null; then
			fail=$((fail + 1))
			problems+=("$tier: $f did not run or did not report")
		fi
	done
	if [ "$files" -eq 0 ] || [ $((pass + fail + skip)) -eq 0 ]; then
		fail=$((fail + 1))
		problems+=("$tier: no test ran")
	fi
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1
		problems+=("$tier: make failed (status $rc) without a failed check")
	fi
	TIER_PASS=$pass TIER_FAIL=$fail TIER_SKIP=$skip
}

# run_tier TIER KIND COMMAND...: KIND is tap (tally the per-file results), fuzz or lint.
# The output goes to $log_dir/TIER.log, and to stdout unless QUIET is set.
run_tier() {
	local tier=$1 kind=$2 start rc out
	shift 2
	start=$(date +%s)
	out=$log_dir/$tier.log
	mkdir -p "$log_dir/$tier"
	if [ -n "${QUIET:-}" ]; then
		BERTH_TAP_DIR=$log_dir/$tier "$@" >"$out" 2>&1
		rc=$?
	else
		BERTH_TAP_DIR=$log_dir/$tier "$@" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
	fi
	case $kind in
	tap) tally "$tier" "$rc" "${EXPECT[@]}" ;;
	fuzz)
		TIER_PASS=$(grep -c '^fuzz-[a-z0-9-]*: ok,' "$out")
		TIER_FAIL=0 TIER_SKIP=0
		[ "$rc" -eq 0 ] || { TIER_FAIL=1; problems+=("$tier: make fuzz-smoke failed (status $rc)"); }
		[ "$TIER_PASS" -gt 0 ] || { TIER_FAIL=$((TIER_FAIL + 1)); problems+=("$tier: no fuzz target ran"); }
		;;
	lint)
		if [ "$rc" -eq 0 ]; then TIER_PASS=1 TIER_FAIL=0; else TIER_PASS=0 TIER_FAIL=1; problems+=("$tier: make lint failed"); fi
		TIER_SKIP=0
		;;
	esac
	record "$tier" "$start"
}

record() { # record TIER START: one summary row and the totals
	total_pass=$((total_pass + TIER_PASS)) total_fail=$((total_fail + TIER_FAIL))
	total_skip=$((total_skip + TIER_SKIP))
	summary+=("$(printf '%-16s %s %5ss  %5s passed %3s failed %3s skipped' "$1" \
		"$([ "$TIER_FAIL" -eq 0 ] && echo PASS || echo FAIL)" $(($(date +%s) - $2)) \
		"$TIER_PASS" "$TIER_FAIL" "$TIER_SKIP")")
}

missing_target() { # missing_target TIER TARGET: a tier without its make target fails
	TIER_PASS=0 TIER_FAIL=1 TIER_SKIP=0
	problems+=("$1: make target '$2' is missing")
	record "$1" "$(date +%s)"
}

has_target() { make -n "$1" >/dev/null 2>&1; }

unit_files() { local f; for f in tests/unit/test-*.c; do echo "$f"; done; }

run_tiers() { # run_tiers TIER...
	local tier
	for tier in "$@"; do
		echo "=== tier $tier"
		case $tier in
		unit)
			mapfile -t EXPECT < <(unit_files)
			run_tier unit tap make -j"$JOBS" check-unit ;;
		integration)
			mapfile -t EXPECT < <(ls tests/integration/*.sh | grep -v -- '-vm\.sh$')
			run_tier integration tap bash -c "make -j$JOBS all && make check-integration INTEGRATION='${EXPECT[*]}'" ;;
		vm)
			mapfile -t EXPECT < <(ls tests/integration/*-vm.sh)
			run_tier vm tap bash -c "make -j$JOBS all && make check-integration INTEGRATION='${EXPECT[*]}'" ;;
		san-unit)
			mapfile -t EXPECT < <(unit_files)
			run_tier san-unit tap make -j"$JOBS" SANITIZE=1 check-unit ;;
		san-integration)
			mapfile -t EXPECT < <(san_integration)
			run_tier san-integration tap bash -c "make -j$JOBS SANITIZE=1 all && make SANITIZE=1 check-integration INTEGRATION='${EXPECT[*]}'" ;;
		fuzz)
			if has_target fuzz-smoke; then run_tier fuzz fuzz make fuzz-smoke; else missing_target fuzz fuzz-smoke; fi ;;
		lint)
			if has_target lint; then run_tier lint lint make lint; else missing_target lint lint; fi ;;
		*)
			TIER_PASS=0 TIER_FAIL=1 TIER_SKIP=0
			problems+=("unknown tier $tier")
			record "$tier" "$(date +%s)" ;;
		esac
	done
}

# The builds first (make is not run twice at once on one tree), then the two lanes.
kernel_tiers=() other_tiers=()
for tier in $TIERS; do
	case $tier in integration | san-integration) kernel_tiers+=("$tier") ;; *) other_tiers+=("$tier") ;; esac
done
if [ "${PARALLEL:-1}" = 1 ] && [ ${#kernel_tiers[@]} -gt 0 ] && [ ${#other_tiers[@]} -gt 0 ]; then
	echo "=== build"
	build_rc=0
	make -j"$JOBS" all >"$log_dir/build.log" 2>&1 || build_rc=$?
	[[ " $TIERS " == *" integration "* || " $TIERS " == *" vm "* ]] && { make -j"$JOBS" FAULT=1 all >>"$log_dir/build.log" 2>&1 || build_rc=$?; }
	[[ " $TIERS " == *" san-"* ]] && { make -j"$JOBS" SANITIZE=1 all >>"$log_dir/build.log" 2>&1 || build_rc=$?; }
	[[ " $TIERS " == *" fuzz "* ]] && has_target fuzz-build && { make -j"$JOBS" fuzz-build >>"$log_dir/build.log" 2>&1 || build_rc=$?; }
	if [ "$build_rc" -ne 0 ]; then
		tail -40 "$log_dir/build.log"
		echo "build failed (status $build_rc): the tiers run one after the other and report it"
		run_tiers $TIERS
	else
		# the other lane in a subshell: its summary rows, problems and totals come back in files
		(
			summary=() problems=() total_pass=0 total_fail=0 total_skip=0
			QUIET=1 run_tiers "${other_tiers[@]}" >"$log_dir/other.log" 2>&1
			printf '%s\n' "${summary[@]}" >"$log_dir/other.summary"
			[ ${#problems[@]} -eq 0 ] || printf '%s\n' "${problems[@]}" >"$log_dir/other.problems"
			echo "$total_pass $total_fail $total_skip" >"$log_dir/other.totals"
		) &
		other_pid=$!
		run_tiers "${kernel_tiers[@]}"
		wait "$other_pid"
		for tier in "${other_tiers[@]}"; do
			echo "=== tier $tier (ran beside the kernel tiers)"
			cat "$log_dir/$tier.log" 2>/dev/null
		done
		if [ -f "$log_dir/other.totals" ]; then
			read -r p x k <"$log_dir/other.totals"
			total_pass=$((total_pass + p)) total_fail=$((total_fail + x)) total_skip=$((total_skip + k))
			mapfile -t -O "${#summary[@]}" summary <"$log_dir/other.summary"
			[ -f "$log_dir/other.problems" ] && mapfile -t -O "${#problems[@]}" problems <"$log_dir/other.problems"
		else
			total_fail=$((total_fail + 1))
			problems+=("the tiers ${other_tiers[*]} did not report")
			tail -40 "$log_dir/other.log"
		fi
	fi
else
	run_tiers $TIERS
fi

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
skips=$(cat "$log_dir"/*/skips 2>/dev/null)
if [ -n "$skips" ]; then
	echo
	echo "=== skipped checks (file | check | allowlist reason, '-' when not listed)"
	printf '%s\n' "$skips"
fi
if [ ${#problems[@]} -gt 0 ]; then
	echo
	echo "=== failures"
	printf '%s\n' "${problems[@]}"
	for t in "$log_dir"/*/*.tap; do
		[ -f "$t" ] || continue
		grep -H '^not ok' "$t" 2>/dev/null | sed "s|^$log_dir/||; s|\.tap:| |" | head -20
	done
fi
echo
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
