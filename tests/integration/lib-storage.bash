# shellcheck shell=bash
# Helpers for the storage driver tests (70-79, 98-storage-*): the conformance suite as TAP
# lines of the calling test, a btrfs filesystem on a loop file, driver calls.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

STOR_TREE=$BERTH_BUILD/tests/helpers/stor-tree
STOR_SUITE=$BERTH_SRC/tests/storage-conformance/run.sh

# stor_conformance NAME DRIVER_PATH [CONFIG|""] [VAR=VALUE...]: runs the storage conformance
# suite; every case of the suite becomes one TAP line of this test ("NAME: case"), with the
# suite's diagnostics under it.  A skipped case is a failure: every driver tested here must run
# every case.  Then one line for the suite's own status and its count.
# The suite's output goes to a file, not to a pipe this test reads: nothing the suite might
# leave behind can keep the test waiting.  A missing or wrong plan fails too.
stor_conformance() {
	local name=$1 drv=$2 conf=${3:-} out rc line n=0 skipped=0 plan= tap
	shift $(($# < 3 ? $# : 3))
	tap=$(mktemp /tmp/berth-conf.XXXXXX)
	env "$@" STOR_TREE="$STOR_TREE" BERTH_BUILD="$BERTH_BUILD" \
		sh "$STOR_SUITE" "$drv" ${conf:+"$conf"} >"$tap" 2>&1 </dev/null
	rc=$?
	out=$(cat "$tap")
	rm -f "$tap"
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"*)
			n=$((n + 1)) skipped=$((skipped + 1))
			ok 1 "$name: a case was skipped (${line#*# SKIP })" ;;
		"ok "*) n=$((n + 1)); ok 0 "$name: ${line#ok * - }" ;;
		"not ok "*) n=$((n + 1)); ok 1 "$name: ${line#not ok * - }" ;;
		"#"*) echo "#   $line" ;;
		"1.."*) plan=${line#1..}; plan=${plan%% *} ;;
		*) [ -n "$line" ] && echo "#   $line" ;;
		esac
	done <<<"$out"
	[ "$rc" -eq 0 ] && [ "$n" -gt 0 ] && [ "$skipped" -eq 0 ] && [ "$plan" = "$n" ]
	ok $? "$name: the conformance suite passes, every case run ($n cases, plan ${plan:-missing}, $skipped skipped, exit $rc)"
}

# mkbtrfs DIR SIZE [mkfs.btrfs options]: a fresh btrfs on a loop file DIR.img, mounted at DIR
# (mkfs.btrfs is from btrfs-progs, used by tests only); unmounted at exit.
mkbtrfs() {
	local dir=$1 size=$2
	shift 2
	mkdir -p "$dir" && truncate -s "$size" "$dir.img" &&
		mkfs.btrfs -q "$@" "$dir.img" >/dev/null 2>&1 && mount -o loop "$dir.img" "$dir" || return 1
	defer "umount -R -l $dir; rm -f $dir.img"
}

# stor_conf FILE ROOT RUNROOT [OPTIONS_JSON]: write a driver config
stor_conf() {
	printf '{"root":"%s","runRoot":"%s","options":%s}\n' "$2" "$3" "${4:-{\}}" >"$1"
}

# sdrv DRIVER CONFIG VERB [ARGS_JSON]: run one verb; stdout the driver's, status the driver's
sdrv() {
	"$STOR_TREE" request "$2" "${4:-{\}}" | STOR_COMMAND=$3 "$STOR_BIN/$1"
}
