#!/bin/bash
# The test harness tells the truth: tests/run-test.sh (every test file runs under it) and lib.sh's
# relay_tap, on small test files written here.  A skip is counted as a skip, never a pass; under
# CI=true a skip that tests/skip-allowlist does not list fails; a file that hangs is killed at its
# time limit and fails; a background process left running fails the file and is killed; a file
# that dies, prints no plan or the wrong plan fails; a relayed suite that skipped everything fails.
source "$(dirname "$0")/../lib.sh"
RUN=$BERTH_SRC/tests/run-test.sh
W=$(mktemp -d /tmp/berth-harness.$T.XXXXXX)
defer "rm -rf $W"

# t NAME BODY: a test file
t() { printf '%s\n' "$2" >"$W/$1.sh"; }
# run NAME [ENV...]: runs it under run-test.sh with its own allowlist and its own BERTH_TAP_DIR
# (never the one of the tier running this file: its results would count there); sets OUT, RC and RES
# (the results line: file passed failed skipped seconds)
run() {
	local name=$1
	shift
	rm -rf "$W/tap"
	# SANITIZE= : run-test.sh doubles time limits under the sanitizer tier; not for these files
	OUT=$(cd "$W" && env "$@" SANITIZE= BERTH_TAP_DIR="$W/tap" BERTH_SKIP_ALLOWLIST="$W/allow" BERTH_TEST_GRACE=1 \
		"$RUN" bash "$name.sh" 2>&1)
	RC=$?
	RES=$(cut -d' ' -f1-4 "$W/tap/results" 2>/dev/null)
}
printf '# file | check | reason\nlisted.sh | thing: because* | a listed reason\n' >"$W/allow"

t plain $'echo "ok 1 - a"\necho "ok 2 - b"\necho "1..2"'
run plain CI=
is "$RC/$RES" "0/plain.sh 2 0 0" "two passing checks: 2 passed"

t skips $'echo "ok 1 - a"\necho "ok 2 # SKIP no frobnicator"\necho "ok 3 - c # SKIP no widget"\necho "1..3"'
run skips CI=
is "$RC/$RES" "0/skips.sh 1 0 2" "skips are counted as skipped, not passed"
run skips CI=true
is "$RC/$RES" "1/skips.sh 1 2 0" "under CI=true an unlisted skip fails"
grep -q '^not ok 2 - skipped, and tests/skip-allowlist does not list it (CI=true): no frobnicator$' <<<"$OUT"
ok $? "... with a line saying so"

t listed $'echo "ok 1 - thing # SKIP because the kernel lacks it"\necho "ok 2 - other # SKIP nope"\necho "1..2"'
run listed CI=true
is "$RC/$RES" "1/listed.sh 0 1 1" "under CI=true a listed skip stays a skip, an unlisted one in the same file fails"
grep -q 'listed.sh | thing: because the kernel lacks it | a listed reason' "$W/tap/skips"
ok $? "the skip list names file, check and the allowlist's reason"

t whole $'echo "1..0 # SKIP no qemu"'
run whole CI=
is "$RC/$RES" "0/whole.sh 0 0 1" "a skipped file is one skip"
run whole CI=true
is "$RC/$RES" "1/whole.sh 0 1 0" "under CI=true an unlisted skipped file fails"

t hang $'# time-limit: 2\necho "ok 1 - before the hang"\nexec sleep 600'
run hang CI=
is "$RC/$RES" "124/hang.sh 1 1 0" "a file that hangs is killed at its time limit and fails"
grep -q '^not ok 2 - killed after the time limit of 2 s' <<<"$OUT"; ok $? "... with a line saying so"

t leak $'( exec sleep 600 ) &\necho "ok 1 - a"\necho "1..1"'
run leak CI=
is "$RC/$RES" "1/leak.sh 1 1 0" "a file that leaves a process running fails"
sleep_left=$(pgrep -f '^sleep 600$' | while read -r p; do grep -lz "BERTH_TAP_DIR=$W/tap" "/proc/$p/environ" 2>/dev/null; done)
is "$sleep_left" "" "... and the process is killed"

t pipehold $'( exec sleep 600 ) &\necho "ok 1 - a"\necho "1..1"'
start=$(date +%s)
out=$(cd "$W" && env -u BERTH_TAP_DIR BERTH_TEST_GRACE=1 "$RUN" bash pipehold.sh | cat)
ok "$([ $(( $(date +%s) - start )) -lt 60 ]; echo $?)" "a process holding the file's stdout does not keep the reader of run-test.sh's output waiting"

t dies $'echo "ok 1 - a"\nexit 3'
run dies CI=
is "$RC/$RES" "3/dies.sh 1 1 0" "a file that exits non-zero without a failed check fails"
t noplan $'echo "ok 1 - a"'
run noplan CI=
is "$RC/$RES" "1/noplan.sh 1 1 0" "a file that prints no plan fails"
t badplan $'echo "ok 1 - a"\necho "1..3"'
run badplan CI=
is "$RC/$RES" "1/badplan.sh 1 1 0" "a file whose plan does not match its checks fails"

# relay_tap: a suite's cases become checks of their own; a suite that skipped everything fails
t relay "source $BERTH_SRC/tests/lib.sh"$'\nprintf "1..2\\nok 1 # SKIP a\\nok 2 # SKIP b\\n" >"$0.in"\nrelay_tap sub "$0.in" 0\ndone_testing'
run relay CI=
is "$RC/$RES" "1/relay.sh 0 1 2" "relay_tap: a suite that skipped everything fails (2 skips, 1 failure)"
t relay2 "source $BERTH_SRC/tests/lib.sh"$'\nprintf "ok 1 - x\\nnot ok 2 - y\\nok 3 - z # SKIP w\\n1..3\\n" >"$0.in"\nrelay_tap sub "$0.in" 0\ndone_testing'
run relay2 CI=
is "$RC/$RES" "1/relay2.sh 2 1 1" "relay_tap: each case its own line (1 pass, 1 fail, 1 skip) plus its own check"
grep -q '^not ok 2 - sub: y$' <<<"$OUT"; ok $? "relay_tap: the failed case keeps its name"
done_testing
