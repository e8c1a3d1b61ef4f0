#!/bin/bash
# The test command: installs what is missing, builds, and runs every test tier.
#   sudo scripts/test.sh            all tiers (what CI runs)
#   TIERS="unit integration" scripts/test.sh    a subset
# Tiers: unit, integration (root: real netns, nftables, overlayfs; the VM tiers for
# device-mapper and bridge VLANs boot tests/vm/dm-vm.sh), san-unit and san-integration (ASan +
# UBSan builds), fuzz (a short smoke run of every fuzz target), lint.
# Ends with the plain summary line "N passed, N failed" (TAP test points over all tiers).
set -uo pipefail
cd "$(dirname "$0")/.."

TIERS=${TIERS:-"unit integration san-unit san-integration fuzz lint"}
JOBS=${JOBS:-$(nproc)}
log_dir=$(mktemp -d /tmp/berth-test.XXXXXX)
trap 'rm -rf "$log_dir"' EXIT

scripts/deps.sh test || { echo "deps: installation failed"; echo "0 passed, 1 failed"; exit 1; }

total_pass=0
total_fail=0
declare -a summary

# run_prove TIER -- make-args...: run a make target that calls prove, tally its TAP counts.
run_tier() {
	local tier=$1; shift
	local start rc out tests failed
	start=$(date +%s)
	out=$log_dir/$tier.log
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	tests=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\).*/\1/p' "$out" | tail -1)
	failed=$(sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	tests=${tests:-0}
	# A tier that failed without TAP failures (build error, a script that died) counts once.
	if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
	total_pass=$((total_pass + tests - (failed > tests ? tests : failed)))
	total_fail=$((total_fail + failed))
	summary+=("$(printf '%-16s %s  %4ss  tests=%s failed=%s' "$tier" "$([ $rc -eq 0 ] && echo PASS || echo FAIL)" $(( $(date +%s) - start )) "$tests" "$failed")")
}

has_target() { make -n "$1" >/dev/null 2>&1; }

for tier in $TIERS; do
	echo "=== tier $tier"
	case $tier in
	unit) run_tier unit make -j"$JOBS" check-unit ;;
	integration) run_tier integration bash -c "make -j$JOBS all && make check-integration" ;;
	san-unit) run_tier san-unit make -j"$JOBS" SANITIZE=1 check-unit ;;
	# The VM tiers (device-mapper, bridge VLANs) boot an emulated kernel and test the same
	# code paths as the plain tier; the sanitizer tier skips them to stay within CI's time.
	san-integration) run_tier san-integration bash -c "make -j$JOBS SANITIZE=1 all && make SANITIZE=1 check-integration INTEGRATION='$(ls tests/integration/*.sh | grep -v -- '-vm\.sh$' | tr '\n' ' ')'" ;;
	fuzz) has_target fuzz-smoke && run_tier fuzz make fuzz-smoke ;;
	lint) has_target lint && run_tier lint make lint ;;
	*) echo "unknown tier $tier" ;;
	esac
done

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
