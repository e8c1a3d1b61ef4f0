#!/bin/bash
# The hostile archive corpus (tests/data/hostile) through the overlay driver's APPLY_DIFF, as
# the core feeds it: every archive gets its code (15 unsafe, 6 decode), the filesystem outside
# the driver's root is unchanged (before/after listing), and a refused layer leaves nothing
# at all: no layer dir, no staging/ entry, no l/ link, no lock file in runRoot.
# Runs in a private mount namespace with a tmpfs on /mnt, so that absolute names in the corpus
# (/mnt/outside/...) are real targets.
if [ -z "${BERTH_HOSTILE_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_HOSTILE_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
need_root
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"
DRV=$STOR_BIN/overlay
TREE=$BERTH_BUILD/tests/helpers/stor-tree
HOSTILE=$BERTH_SRC/tests/data/hostile
[ -x "$DRV" ] && [ -x "$TREE" ] || skip_all "build first"

mount -t tmpfs -o size=256m berth-hostile-$T /mnt || skip_all "cannot mount a tmpfs on /mnt"
defer "umount -l /mnt"
R=/mnt/store
CONF=/mnt/conf.json
printf '{"root":"%s/root","runRoot":"%s/run","options":{}}\n' "$R" "$R" >"$CONF"
drv() { # drv VERB ARGS_JSON: the driver's stdout; status in $?
	"$TREE" request "$CONF" "$2" | STOR_COMMAND=$1 "$DRV" 2>/dev/null
}
check "INIT" -- drv INIT '{}'
defer "echo '{}' | $TREE request $CONF '{}' | STOR_COMMAND=CLEANUP $DRV"

# Everything outside the store (and the store's own bookkeeping, which must come back to
# what it was: no layer, no staging entry, no l/ link, no lock file).
listing() {
	(cd /mnt && find . -path ./store/root/.lock -prune -o -printf '%p %M %U:%G %s %l\n' | sort)
	md5sum /mnt/outside/file
}
i=0
while read -r name code flags desc; do
	i=$((i + 1))
	rm -rf /mnt/outside
	mkdir -p /mnt/outside/dir
	printf keep >/mnt/outside/file
	ln -s file /mnt/outside/link
	# The driver creates device nodes inside the layer (root may, as containers/storage
	# does): the two archives the archive tool refuses with -D apply here.  The delete-form
	# whiteout cases (-wdelete) are written in overlay form by this driver.
	want=$code
	[ "$flags" = -D ] && want=0
	before=$(listing)
	id=h$i
	drv CREATE "{\"id\":\"$id\"}" >/dev/null
	out=$(drv APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"path\":\"$HOSTILE/$name\"}}")
	got=$(jq -r 'if .code then .code else 0 end' <<<"$out" 2>/dev/null)
	if [ "$want" = 0 ] && [ "$got" = 15 ] && [ "$flags" = -wdelete ]; then
		want=15 # refused in overlay form too: fine, nothing may be written
	fi
	is "$got" "$want" "$name: code $want ($desc)"
	[ "$got" = "$want" ] || diag "$out"
	if [ "$got" != 0 ]; then
		is "$(drv EXISTS "{\"id\":\"$id\"}" | jq -r .exists)" false "$name: the refused layer is gone"
		after=$(listing)
		if [ "$before" = "$after" ]; then ok 0 "$name: nothing changed, outside the root or in the store"; else
			ok 1 "$name: nothing changed, outside the root or in the store"
			diff <(echo "$before") <(echo "$after") | head -10 | sed 's/^/#   /'
		fi
	else
		# applied (legitimately): still nothing outside the layer
		after=$(listing | grep -v "^\./store/" | grep -v "^\./outside/file")
		is "$after" "$(echo "$before" | grep -v "^\./store/" | grep -v "^\./outside/file")" \
			"$name: applied inside the layer only"
		is "$(md5sum </mnt/outside/file)" "$(printf keep | md5sum)" "$name: outside file intact"
		drv REMOVE "{\"id\":\"$id\"}" >/dev/null
	fi
done <"$HOSTILE/MANIFEST"

# options.refuse_devices: the device archives are refused too, whiteouts still apply.
CONF_ALL=$CONF
CONF=/mnt/conf-nodev.json
printf '{"root":"%s/root","runRoot":"%s/run","options":{"refuse_devices":true}}\n' "$R" "$R" >"$CONF"
for name in device-char.tar device-block.tar; do
	before=$(listing)
	drv CREATE '{"id":"nodev"}' >/dev/null
	out=$(drv APPLY_DIFF "{\"id\":\"nodev\",\"stream\":{\"path\":\"$HOSTILE/$name\"}}")
	is "$(jq -r .code <<<"$out")" 15 "refuse_devices: $name is code 15"
	is "$(listing)" "$before" "refuse_devices: $name leaves nothing"
done
python3 - /mnt/wh.tar <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    ti = tarfile.TarInfo(".wh.gone"); t.addfile(ti, io.BytesIO(b""))
PY
drv CREATE '{"id":"whbase"}' >/dev/null
drv CREATE '{"id":"wh","parent":"whbase"}' >/dev/null
out=$(drv APPLY_DIFF '{"id":"wh","stream":{"path":"/mnt/wh.tar"}}')
ok $? "refuse_devices: a whiteout still applies ($out)"
is "$(stat -c '%F %t:%T' "$R/root/wh/diff/gone" 2>&1)" "character special file 0:0" "as a 0/0 char device"
drv REMOVE '{"id":"wh"}' >/dev/null
drv REMOVE '{"id":"whbase"}' >/dev/null
CONF=$CONF_ALL

# Every call above has come and gone: a store without layers holds no per-layer lock files.
is "$(ls -A "$R/run/locks" | wc -l)" 0 "no lock file left in runRoot/locks for removed layers"
# ... and INIT sweeps lock files that older drivers left for layers long gone
: >"$R/run/locks/stale-layer"
drv INIT '{}' >/dev/null
is "$(ls -A "$R/run/locks")" "" "INIT removes the lock file of a layer that does not exist"
is "$(ls -A "$R/root/staging" | wc -l)" 0 "no staging leftovers"
is "$(ls -A "$R/root/l" | wc -l)" 0 "no l/ links left"

done_testing
