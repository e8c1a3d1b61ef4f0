#!/bin/bash
# bench: layer apply against GNU tar
# bench-args: 300 5
# bench-quick-args: 8 1
#
# Layer apply throughput: berth's root-confined apply against GNU tar extracting the same
# uncompressed tar into fresh directories on the same filesystem, runs interleaved.  Prints a
# markdown section (the contract of bench/README.md).
#   bench/apply-vs-tar.sh [SIZE_MB=300] [RUNS=5]
# Env: BERTH_BUILD (default ./build); BENCH_DIR (default /dev/shm, a tmpfs);
#      BENCH_FS=ext4|xfs: instead, a fresh file system of that type on a loop file in BENCH_DIR
#      (root), so that other users of a shared disk do not skew the figures.
# Every run extracts into a fresh directory; all are removed at the end only (ext4 slows down
# inode allocation right after mass deletes, which would punish whoever runs next).
# Prints per-run times, the median throughput of each and the ratio (target: >= 0.9).
# As root it also times the overlay driver's APPLY_DIFF (CREATE untimed, then APPLY_DIFF of the
# same tar on fd 3, as the core calls it) with its store on the same file system.
# Every timed call's exit status is checked: a failed extraction stops the run, it is never a
# sample.
set -euo pipefail
if [ "$(id -u)" -eq 0 ] && [ -z "${BERTH_BENCH_NS:-}" ]; then
	# the driver makes its root a private bind mount: keep it in a namespace of our own
	BERTH_BENCH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
SIZE_MB=${1:-300}
RUNS=${2:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
TOOL=$BUILD/tests/helpers/berth-archive-tool
DRV=$BUILD/storage/overlay
KINDS="tar berth"
[ "$(id -u)" -eq 0 ] && [ -x "$DRV" ] && grep -qw overlay /proc/filesystems && KINDS="tar berth driver"
[ -x "$TOOL" ] || { echo "build first: make (missing $TOOL)" >&2; exit 1; }
command -v tar >/dev/null && tar --version | grep -q GNU || { echo "needs GNU tar" >&2; exit 1; }
# tmpfs by default: on a shared disk, writeback of the previous run dominates the timing.
# BENCH_DIR=/var/tmp measures on disk (sync before every run).
BASE=$(mktemp -d "${BENCH_DIR:-/dev/shm}/berth-bench.XXXXXX")
W=$BASE
trap 'umount "$BASE/fs" 2>/dev/null || true; rm -rf "$BASE"' EXIT
if [ -n "${BENCH_FS:-}" ]; then
	truncate -s $(( (SIZE_MB * (2 * RUNS + 2) + 512) ))M "$W/fs.img"
	"mkfs.$BENCH_FS" -q "$W/fs.img" >/dev/null 2>&1 || mkfs."$BENCH_FS" "$W/fs.img" >/dev/null
	mkdir "$W/fs"
	mount -o loop "$W/fs.img" "$W/fs"
	W=$W/fs
fi

# Mixed content: half the bytes in small files (0.5-32 KiB, nested 3 levels deep, some
# symlinks and hardlinks), half in large files (8-32 MiB).
python3 - "$W/tree" "$SIZE_MB" <<'PY'
import os, random, sys
root, size_mb = sys.argv[1], int(sys.argv[2])
random.seed(42)
budget_small = size_mb * 1024 * 1024 // 2
budget_large = size_mb * 1024 * 1024 - budget_small
blob = os.urandom(64 * 1024 * 1024)
def data(n):
    off = random.randrange(0, len(blob) - n) if n < len(blob) else 0
    return blob[off:off + n] if n <= len(blob) else (blob * (n // len(blob) + 1))[:n]
os.makedirs(root)
i = 0
while budget_small > 0:
    d = os.path.join(root, "usr", "d%02d" % (i % 37), "s%03d" % (i % 211))
    os.makedirs(d, exist_ok=True)
    n = random.choice([512, 1024, 2048, 4096, 8192, 16384, 32768])
    p = os.path.join(d, "f%06d" % i)
    with open(p, "wb") as f:
        f.write(data(n))
    os.chmod(p, random.choice([0o644, 0o755, 0o600]))
    if i % 50 == 0:
        os.symlink("f%06d" % i, p + ".lnk")
    if i % 97 == 0:
        os.link(p, p + ".hl")
    budget_small -= n
    i += 1
j = 0
os.makedirs(os.path.join(root, "big"))
while budget_large > 0:
    n = min(budget_large, random.randrange(8, 33) * 1024 * 1024)
    with open(os.path.join(root, "big", "b%03d" % j), "wb") as f:
        f.write(data(n))
    budget_large -= n
    j += 1
print("generated %d small files, %d large files" % (i, j), file=sys.stderr)
PY
tar -C "$W/tree" --numeric-owner -cf "$W/layer.tar" .
ENTRIES=$(tar -tf "$W/layer.tar" | wc -l)
BYTES=$(stat -c %s "$W/layer.tar")
cat "$W/layer.tar" >/dev/null # warm the page cache for both

TIMEFORMAT='%R %U %S' # bash's time: wall, user, sys of the child
# run_one KIND: writes "wall cpu" seconds (cpu = user + sys of the extractor) to $W/t; fails
# when the extraction failed
run_one() {
	local d="$W/x.$1.$r" rc
	mkdir "$d"; sync
	case $1 in
	tar) { time tar -xf "$W/layer.tar" -C "$d" >"$W/run.out" 2>&1; } 2>"$W/time" ;;
	berth) { time "$TOOL" apply "$d" "$W/layer.tar" >"$W/run.out" 2>&1; } 2>"$W/time" ;;
	driver)
		rmdir "$d"
		printf '{"root":"%s/drv","runRoot":"%s/drv-run","args":{"id":"r%d"}}' "$W" "$W" "$r" |
			STOR_COMMAND=CREATE "$DRV" >"$W/run.out" 2>&1 ||
			{ echo "driver CREATE failed: $(cat "$W/run.out")" >&2; return 1; }
		sync
		{ time sh -c 'printf "%s" "$1" | STOR_COMMAND=APPLY_DIFF "$2" 3<"$3"' sh \
			"$(printf '{"root":"%s/drv","runRoot":"%s/drv-run","args":{"id":"r%d","stream":{"fd":3}}}' "$W" "$W" "$r")" \
			"$DRV" "$W/layer.tar" >"$W/run.out" 2>&1; } 2>"$W/time"
		;;
	esac
	rc=$?
	if [ "$rc" -ne 0 ] || { [ "$1" = driver ] && ! grep -q '"entries"' "$W/run.out"; }; then
		echo "$1 run $r failed (status $rc): $(head -c 400 "$W/run.out")" >&2
		return 1
	fi
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$W/time" >"$W/t"
}
if [[ $KINDS == *driver* ]]; then
	printf '{"root":"%s/drv","runRoot":"%s/drv-run"}' "$W" "$W" | STOR_COMMAND=INIT "$DRV" >/dev/null
	trap 'printf "{\"root\":\"%s/drv\",\"runRoot\":\"%s/drv-run\"}" "$W" "$W" | STOR_COMMAND=CLEANUP "$DRV" >/dev/null 2>&1; umount "$BASE/fs" 2>/dev/null || true; rm -rf "$BASE"' EXIT
fi
declare -a W_TAR W_BERTH W_DRIVER C_TAR C_BERTH C_DRIVER runs
for ((r = 1; r <= RUNS; r++)); do
	# rotate who goes first so none always meets the others' leftovers
	read -ra order <<<"$KINDS"
	for ((k = 0; k < r % ${#order[@]}; k++)); do order=("${order[@]:1}" "${order[0]}"); done
	line="| $r |"
	for kind in "${order[@]}"; do
		run_one "$kind" || exit 1
		read -r w c <"$W/t"
		case $kind in
		tar) W_TAR+=("$w"); C_TAR+=("$c") ;;
		berth) W_BERTH+=("$w"); C_BERTH+=("$c") ;;
		driver) W_DRIVER+=("$w"); C_DRIVER+=("$c") ;;
		esac
		line+=$(printf ' %s %.2f s (cpu %.2f s),' "$kind" "$w" "$c")
	done
	runs+=("${line%,} |")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mt=$(median "${W_TAR[@]}"); mb=$(median "${W_BERTH[@]}")
ct=$(median "${C_TAR[@]}"); cb=$(median "${C_BERTH[@]}")
echo "## layer apply: berth against GNU tar"
echo
echo "Command: \`bench/apply-vs-tar.sh $SIZE_MB $RUNS\`${BENCH_FS:+ with BENCH_FS=$BENCH_FS} (as root).  One uncompressed tar of"
echo "$((BYTES / 1048576)) MiB, $ENTRIES entries (half the bytes in 0.5-32 KiB files, half in 8-32 MiB"
echo "files) extracted $RUNS times by each, into fresh directories on $(stat -f -c %T "$W") ($W), runs"
echo "interleaved; medians.  **berth apply**: the archive library through tests/helpers/berth-archive-tool"
echo "(root-confined, every safety check); **overlay APPLY_DIFF**: the overlay driver process reading"
echo "the tar on fd 3, as the core calls it (CREATE untimed).  Throughput ratio = tar's time / its time."
echo
echo "| extractor | median wall s | MiB/s | median cpu s | throughput x GNU tar (wall) | x GNU tar (cpu) |"
echo "| --- | --- | --- | --- | --- | --- |"
row() { # row NAME WALL CPU
	awk -v n="$1" -v b="$BYTES" -v w="$2" -v c="$3" -v tw="$mt" -v tc="$ct" 'BEGIN {
		printf "| %s | %.2f | %.0f | %.2f | %.2f | %.2f |\n", n, w, b / w / 1048576, c, tw / w, (c > 0 ? tc / c : 0) }'
}
row "GNU tar" "$mt" "$ct"
row "berth apply" "$mb" "$cb"
if [ ${#W_DRIVER[@]} -gt 0 ]; then
	row "overlay APPLY_DIFF" "$(median "${W_DRIVER[@]}")" "$(median "${C_DRIVER[@]}")"
fi
echo
echo "| run | times |"
echo "| --- | --- |"
printf '%s\n' "${runs[@]}"
