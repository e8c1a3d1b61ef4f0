#!/bin/bash
# Every figure in README.md and docs/ quotes a row of bench/RESULTS.md, verbatim: a table whose
# header is one of RESULTS.md's is a quote, and each of its rows must be in RESULTS.md
# (bench/check-quotes.sh; each quoted table is a check here).  After bench/all.sh writes new
# figures, this fails until the quotes are updated.
source "$(dirname "$0")/../lib.sh"
out=$(mktemp); defer "rm -f $out"
"$BERTH_SRC/bench/check-quotes.sh" >"$out" 2>&1
relay_tap "quotes" "$out" "$?"
done_testing
