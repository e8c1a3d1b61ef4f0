#!/bin/bash
# Runs one test file for prove, so that whatever the file does, the harness gets an honest TAP
# stream back and never hangs:
#
#   prove -e 'tests/run-test.sh bash' tests/integration/*.sh      (the Makefile's check targets)
#   tests/run-test.sh [INTERPRETER...] FILE
#
# - A time limit: BERTH_TEST_TIMEOUT seconds (default 600), or what the file declares with a
#   line `# time-limit: SECONDS` among its first 30 lines; doubled when SANITIZE=1.  The limits
#   are far above what a file takes on a loaded machine: they only turn a hang into a failure
#   before CI's own limit.  A file still running then gets SIGTERM (its traps clean up), 15 s
#   later SIGKILL, and its TAP ends with "not ok - killed after the time limit".
# - Its own process group.  When the file has ended, anything it left running in that group
#   (a background helper that was never reaped) gets 5 s (BERTH_TEST_GRACE) to finish, is then
#   killed, and that is a failed check.
# - Its stdout goes to a file that is streamed back (tail --pid), not to prove's pipe: a
#   process that outlives the file and holds that stdout cannot keep the harness waiting.
# - Skips.  Under CI=true a skip (`ok N # SKIP`, or `1..0 # SKIP` for the whole file) that is
#   not listed in tests/skip-allowlist becomes `not ok`: CI installs every dependency first
#   (scripts/deps.sh), so a missing tool there is a failure.  Listed skips stay skips.
# - The verdict.  A file that exits non-zero without a failed check, prints no plan, or prints
#   a plan that does not match its checks gets a failing line of its own.
# - BERTH_TAP_DIR: when set, a copy of the (rewritten) TAP goes to $BERTH_TAP_DIR/<file>.tap,
#   and one line per file is appended to $BERTH_TAP_DIR/results:
#       FILE PASSED FAILED SKIPPED SECONDS
#   and one line per skip to $BERTH_TAP_DIR/skips (FILE | CHECK | allowlist reason or "-").
#   scripts/test.sh adds these up.
set -u
[ $# -ge 1 ] || { echo "usage: $0 [INTERPRETER...] FILE" >&2; exit 2; }
file=${!#}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
allow=${BERTH_SKIP_ALLOWLIST:-$here/skip-allowlist}
ci=${CI:-}
[ "$ci" = true ] || [ "$ci" = 1 ] && ci=1 || ci=

limit=${BERTH_TEST_TIMEOUT:-600}
declared=$(head -n 30 "$file" 2>/dev/null | tr -d '\0' | sed -n 's/^# time-limit: *\([0-9][0-9]*\).*/\1/p' | head -1)
[ -n "$declared" ] && limit=$declared
[ "${SANITIZE:-}" = 1 ] && limit=$((limit * 2))

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-run-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
raw=$work/raw
: >"$raw"
start=$(date +%s)

# timeout puts itself and the file in a new process group (its pid is the group id) and on
# expiry signals the whole group.
timeout -k 15 "$limit" "$@" >"$raw" </dev/null &
tpid=$!

# the allowlist as "FILE<TAB>CHECK-GLOB<TAB>REASON" lines for awk
allow_tsv=$work/allow
if [ -f "$allow" ]; then
	sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$allow" |
		awk -F' *[|] *' '{ gsub(/^ +| +$/, "", $1); gsub(/^ +| +$/, "", $3); print $1 "\t" $2 "\t" $3 }' >"$allow_tsv"
else
	: >"$allow_tsv"
fi
rel=$file
case $rel in "$here"/*) rel=tests/${rel#"$here"/} ;; ./*) rel=${rel#./} ;; esac
# a unit test binary is listed by the name of its source
case $rel in */tests/unit/test-*) rel=tests/unit/${rel##*/}.c ;; esac

# Rewrites the stream line by line: an unlisted skip under CI fails.  Writes the skips it saw
# to $work/skips.  A plain awk glob matcher: '*' matches any run of characters.
rewrite() {
	awk -v file="$rel" -v ci="$ci" -v allowf="$allow_tsv" -v skipf="$work/skips" '
	function glob(pat, s,    re) {
		re = pat
		gsub(/[][\\^$.+?(){}|\/]/, "\\\\&", re)
		gsub(/\*/, ".*", re)
		return s ~ ("^" re "$")
	}
	function listed(text,    i) {
		for (i = 1; i <= na; i++)
			if (afile[i] == file && glob(acheck[i], text))
				return areason[i]
		return ""
	}
	BEGIN {
		FS = "\t"
		while ((getline l < allowf) > 0) {
			split(l, f, "\t"); na++; afile[na] = f[1]; acheck[na] = f[2]; areason[na] = f[3]
		}
		FS = " "
	}
	/^1\.\.0 *# *[Ss][Kk][Ii][Pp]/ {
		text = $0; sub(/^1\.\.0 *# *[Ss][Kk][Ii][Pp] */, "", text)
		why = listed(text)
		print file " | " text " | " (why == "" ? "-" : why) >> skipf
		if (ci != "" && why == "") {
			print "not ok 1 - the whole file was skipped, and tests/skip-allowlist does not list it (CI=true): " text
			print "1..1"
		} else
			print
		fflush(); next
	}
	/^ok [0-9]+.*# *[Ss][Kk][Ii][Pp]/ {
		text = $0; sub(/^ok [0-9]+ *(- *)?/, "", text); sub(/ *# *[Ss][Kk][Ii][Pp] */, ": ", text)
		sub(/^: /, "", text)
		why = listed(text)
		print file " | " text " | " (why == "" ? "-" : why) >> skipf
		if (ci != "" && why == "") {
			n = $2
			print "not ok " n " - skipped, and tests/skip-allowlist does not list it (CI=true): " text
		} else
			print
		fflush(); next
	}
	{ print; fflush() }'
}

tail -n +1 -s 0.1 -f --pid="$tpid" "$raw" | rewrite | tee "$work/tap"
wait "$tpid"
rc=$?

# Whatever is left in the file's process group (timeout's pid is the group id).
left() { pgrep -g "$tpid" 2>/dev/null | grep -vx "$tpid"; }
extra=()
if [ -n "$(left)" ]; then
	for _ in $(seq $((${BERTH_TEST_GRACE:-5} * 10))); do [ -z "$(left)" ] && break; sleep 0.1; done
	pids=$(left)
	if [ -n "$pids" ]; then
		what=$(ps -o pid=,args= -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | head -5 | tr -s ' \n' ' ')
		kill -KILL -- -"$tpid" 2>/dev/null
		extra+=("the file left processes running (killed): $what")
	fi
fi

tap=$work/tap
npoints=$(grep -cE '^(not )?ok\b' "$tap")
plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$tap" | tail -1)
nfail=$(grep -E '^not ok\b' "$tap" | grep -cviE '# *todo')
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	extra+=("killed after the time limit of $limit s ($rel; raise it with '# time-limit: SECONDS')")
elif [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
	extra+=("exited with status $rc")
elif [ -z "$plan" ]; then
	extra+=("no plan (1..N): the file stopped early")
elif [ "$plan" -ne "$npoints" ] && ! grep -qE '^1\.\.0 *#' "$tap"; then
	extra+=("planned $plan checks, ran $npoints")
fi
# a skip that became a failure fails the file
[ "$nfail" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
if [ ${#extra[@]} -gt 0 ]; then
	n=$npoints
	for e in "${extra[@]}"; do
		n=$((n + 1))
		echo "not ok $n - $e" | tee -a "$tap"
	done
	# a plan already printed no longer matches, which prove also reports as a failure
	[ -n "$plan" ] || echo "1..$n" | tee -a "$tap"
	[ "$rc" -ne 0 ] || rc=1
fi

if [ -n "${BERTH_TAP_DIR:-}" ]; then
	mkdir -p "$BERTH_TAP_DIR"
	cp "$tap" "$BERTH_TAP_DIR/$(printf '%s' "$rel" | tr '/' '_').tap"
	pass=$(grep -E '^ok\b' "$tap" | grep -cviE '# *(skip|todo)')
	skipped=$(grep -cE '^ok\b.*# *[Ss][Kk][Ii][Pp]' "$tap")
	grep -qE '^1\.\.0 *# *[Ss][Kk][Ii][Pp]' "$tap" && skipped=$((skipped + 1))
	fail=$(grep -E '^not ok\b' "$tap" | grep -cviE '# *todo')
	echo "$rel $pass $fail $skipped $(($(date +%s) - start))" >>"$BERTH_TAP_DIR/results"
	[ -f "$work/skips" ] && cat "$work/skips" >>"$BERTH_TAP_DIR/skips"
fi
exit "$rc"
