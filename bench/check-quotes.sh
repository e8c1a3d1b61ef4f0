#!/bin/bash
# Every figure in README.md and docs/ quotes a row of bench/RESULTS.md: this checks it.
#   bench/check-quotes.sh [FILE...]      (default: README.md docs/*.md)
# A markdown table in those files whose header line is, verbatim, the header of a table in
# bench/RESULTS.md is a quote of that table: each of its rows must be a row of RESULTS.md,
# verbatim.  Prints one TAP line per quoted table (the file and the table's first line number)
# and fails when a row does not match, e.g. after bench/all.sh wrote new figures and the
# quotes were not updated.  Not a benchmark (no "# bench:" line): tests/integration runs it.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
RES=$SRC/bench/RESULTS.md
cd "$SRC"
[ $# -gt 0 ] || set -- README.md docs/*.md
[ -f "$RES" ] || { echo "not ok 1 - bench/RESULTS.md exists"; echo 1..1; exit 1; }
awk -v res="$RES" '
	BEGIN {
		while ((getline l < res) > 0) {
			rows[l] = 1
			if (prev ~ /^\| / && l ~ /^\| *---/) headers[prev] = 1
			prev = l
		}
	}
	FNR == 1 { if (inq) report(); inq = 0; prevl = "" }
	{
		if (inq && $0 !~ /^\| /) { report(); inq = 0 }
		if (!inq && $0 ~ /^\| *---/ && (prevl in headers)) {
			inq = 1; qfile = FILENAME; qline = FNR - 1; nrows = 0; bad = ""
		} else if (inq && $0 ~ /^\| /) {
			nrows++
			if (!($0 in rows)) bad = bad "\n#   not in bench/RESULTS.md: " $0
		}
		prevl = $0
	}
	function report() {
		n++
		if (bad == "") print "ok " n " - " qfile ":" qline ": " nrows " rows quoted from bench/RESULTS.md"
		else { failed++; print "not ok " n " - " qfile ":" qline ": rows that are not in bench/RESULTS.md" bad }
	}
	END { if (inq) report(); print "1.." n; exit failed ? 1 : 0 }
' "$@"
