#!/bin/bash
# Layer apply throughput: berth's root-confined apply against GNU tar extracting the same
# uncompressed tar into fresh directories on the same filesystem, runs interleaved.
#   bench/apply-vs-tar.sh [SIZE_MB=300] [RUNS=5]
# Env: BERTH_BUILD (default ./build); BENCH_DIR (default /dev/shm, a tmpfs);
#      BENCH_FS=ext4|xfs: instead, a fresh file system of that type on a loop file in BENCH_DIR
#      (root), so that other users of a shared disk do not skew the figures.
# Every run extracts into a fresh directory; all are removed at the end only (ext4 slows down
# inode allocation right after mass deletes, which would punish whoever runs next).
# Prints per-run times, the median throughput of each and the ratio (target: >= 0.9).
# As root it also times the overlay driver's APPLY_DIFF (CREATE untimed, then APPLY_DIFF of the
# same tar on fd 3, as the core calls it) with its store on the same file system.
set -eu
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
rm -rf "$W/tree"
BYTES=$(stat -c %s "$W/layer.tar")
echo "tar: $((BYTES / 1048576)) MiB, $(tar -tf "$W/layer.tar" | wc -l) entries, fs: $(stat -f -c %T "$W")"
cat "$W/layer.tar" >/dev/null # warm the page cache for both

TIMEFORMAT='%R %U %S' # bash's time: wall, user, sys of the child
run_one() { # run_one KIND -> "wall cpu" seconds (cpu = user + sys of the extractor)
	local d="$W/x.$1.$r" out
	mkdir "$d"; sync
	case $1 in
	tar) out=$( { time tar -xf "$W/layer.tar" -C "$d" >/dev/null 2>&1; } 2>&1) ;;
	berth) out=$( { time "$TOOL" apply "$d" "$W/layer.tar" >/dev/null 2>&1; } 2>&1) ;;
	driver)
		rmdir "$d"
		printf '{"root":"%s/drv","runRoot":"%s/drv-run","args":{"id":"r%d"}}' "$W" "$W" "$r" |
			STOR_COMMAND=CREATE "$DRV" >/dev/null
		sync
		out=$( { time sh -c 'printf "%s" "$1" | STOR_COMMAND=APPLY_DIFF "$2" 3<"$3"' sh \
			"$(printf '{"root":"%s/drv","runRoot":"%s/drv-run","args":{"id":"r%d","stream":{"fd":3}}}' "$W" "$W" "$r")" \
			"$DRV" "$W/layer.tar" >"$W/drv.out" 2>&1; } 2>&1)
		grep -q '"entries"' "$W/drv.out" || { echo "driver APPLY_DIFF failed: $(cat "$W/drv.out")" >&2; exit 1; }
		;;
	esac
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' <<<"$out"
}
if [[ $KINDS == *driver* ]]; then
	printf '{"root":"%s/drv","runRoot":"%s/drv-run"}' "$W" "$W" | STOR_COMMAND=INIT "$DRV" >/dev/null
	trap 'printf "{\"root\":\"%s/drv\",\"runRoot\":\"%s/drv-run\"}" "$W" "$W" | STOR_COMMAND=CLEANUP "$DRV" >/dev/null 2>&1; umount "$BASE/fs" 2>/dev/null || true; rm -rf "$BASE"' EXIT
fi
declare -a W_TAR W_BERTH W_DRIVER C_TAR C_BERTH C_DRIVER
for ((r = 1; r <= RUNS; r++)); do
	# rotate who goes first so none always meets the others' leftovers
	read -ra order <<<"$KINDS"
	for ((k = 0; k < r % ${#order[@]}; k++)); do order=("${order[@]:1}" "${order[0]}"); done
	line="run $r:"
	for kind in "${order[@]}"; do
		read -r w c < <(run_one "$kind")
		case $kind in
		tar) W_TAR+=("$w"); C_TAR+=("$c") ;;
		berth) W_BERTH+=("$w"); C_BERTH+=("$c") ;;
		driver) W_DRIVER+=("$w"); C_DRIVER+=("$c") ;;
		esac
		line+=$(printf '  %s %.2fs (cpu %.2fs)' "$kind" "$w" "$c")
	done
	echo "$line"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mt=$(median "${W_TAR[@]}"); mb=$(median "${W_BERTH[@]}")
ct=$(median "${C_TAR[@]}"); cb=$(median "${C_BERTH[@]}")
awk -v b="$BYTES" -v t="$mt" -v s="$mb" -v ct="$ct" -v cb="$cb" 'BEGIN {
	printf "median wall: GNU tar %.2fs (%.0f MiB/s)  berth apply %.2fs (%.0f MiB/s)\n", t, b/t/1048576, s, b/s/1048576
	printf "median cpu:  GNU tar %.2fs  berth apply %.2fs\n", ct, cb
	printf "ratio (berth throughput / tar throughput): %.2fx wall, %.2fx cpu  (target >= 0.90)\n", t/s, (cb > 0 ? ct/cb : 0) }'
if [ ${#W_DRIVER[@]} -gt 0 ]; then
	md=$(median "${W_DRIVER[@]}"); cd_=$(median "${C_DRIVER[@]}")
	awk -v b="$BYTES" -v t="$mt" -v s="$md" -v ct="$ct" -v cb="$cd_" 'BEGIN {
	printf "overlay driver APPLY_DIFF (fd 3): median wall %.2fs (%.0f MiB/s), cpu %.2fs: %.2fx tar wall, %.2fx cpu\n", s, b/s/1048576, cb, t/s, (cb > 0 ? ct/cb : 0) }'
fi
