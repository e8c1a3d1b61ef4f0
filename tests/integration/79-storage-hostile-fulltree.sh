#!/bin/bash
# The hostile archive corpus (tests/data/hostile) through the btrfs and vfs drivers'
# APPLY_DIFF, as 73 runs it through overlay: every archive gets its code (15 unsafe, 6 decode;
# these drivers apply whiteouts by deleting, so the delete-mode cases are theirs), the
# filesystem outside the driver's root is unchanged (before/after listing), and a refused
# layer leaves nothing: no layer dir, no staging/ entry, no subvolume, no lock file.  Each
# layer is a child of a base holding files the corpus aims at (a snapshot or a copy), so a
# whiteout or a link that escaped would find something to hit.
# Runs in a private mount namespace with a tmpfs on /mnt, so that absolute names in the corpus
# (/mnt/outside/...) are real targets.
if [ -z "${BERTH_FTHOSTILE_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_FTHOSTILE_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib-storage.bash"
need_root
HOSTILE=$BERTH_SRC/tests/data/hostile
[ -x "$STOR_BIN/btrfs" ] && [ -x "$STOR_BIN/vfs" ] && [ -x "$STOR_TREE" ] || skip_all "build first"
W=$(mktemp -d /tmp/berth-fthostile.$T.XXXXXX)
defer "rm -rf $W"
mount -t tmpfs -o size=256m "berth-fthostile-$T" /mnt || skip_all "cannot mount a tmpfs on /mnt"
defer "umount -R -l /mnt"

# corpus NAME STORE: every archive of the corpus into a child of a base layer
corpus() {
	local name=$1 store=$2 conf=/mnt/$1.json i=0 file code flags desc want got out before after id
	stor_conf "$conf" "$store/root" "$store/run"
	d() { sdrv "$name" "$conf" "$@" 2>/dev/null; }
	# everything under /mnt (the store's bookkeeping included), subvolumes for btrfs
	listing() {
		(cd /mnt && find . -path "./*/root/.lock" -prune -o -printf '%p %M %U:%G %s %l\n' | sort)
		md5sum /mnt/outside/file
		[ "$name" = btrfs ] && btrfs subvolume list "$store" | awk '{print $NF}'
		return 0
	}
	check "$name: INIT" -- d INIT
	d CREATE '{"id":"base"}' >/dev/null
	P=$(d MOUNT '{"id":"base"}' | "$STOR_TREE" get path)
	mkdir -p "$P/sub" "$P/l" && echo victim >"$P/file" && echo victim >"$P/sub/file"
	d UNMOUNT '{"id":"base"}' >/dev/null
	while read -r file code flags desc; do
		i=$((i + 1))
		rm -rf /mnt/outside
		mkdir -p /mnt/outside/dir
		printf keep >/mnt/outside/file
		ln -s file /mnt/outside/link
		# devices are created inside the layer by default (root may, as containers/storage
		# does); refuse_devices refuses them below
		want=$code
		[ "$flags" = -D ] && want=0
		before=$(listing)
		id=h$i
		d CREATE "{\"id\":\"$id\",\"parent\":\"base\"}" >/dev/null
		out=$(d APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"path\":\"$HOSTILE/$file\"}}")
		got=$("$STOR_TREE" get code <<<"$out" 2>/dev/null)
		got=${got:-0}
		is "$got" "$want" "$name: $file: code $want ($desc)"
		[ "$got" = "$want" ] || diag "$out"
		if [ "$got" != 0 ]; then
			is "$(d EXISTS "{\"id\":\"$id\"}" | "$STOR_TREE" get exists)" false "$name: $file: the refused layer is gone"
			after=$(listing)
			if [ "$before" = "$after" ]; then ok 0 "$name: $file: nothing changed, outside the root or in the store"; else
				ok 1 "$name: $file: nothing changed, outside the root or in the store"
				diff <(echo "$before") <(echo "$after") | head -10 | sed 's/^/#   /'
			fi
		else
			after=$(listing | grep -v "^\./$name-store/" | grep -v '^[^.]')
			is "$after" "$(echo "$before" | grep -v "^\./$name-store/" | grep -v '^[^.]')" \
				"$name: $file: applied inside the layer only"
			is "$(md5sum </mnt/outside/file)" "$(printf keep | md5sum)" "$name: $file: outside file intact"
			d REMOVE "{\"id\":\"$id\"}" >/dev/null
		fi
	done <"$HOSTILE/MANIFEST"
	# options.refuse_devices: the device archives are refused too
	stor_conf "$conf.nodev" "$store/root" "$store/run" '{"refuse_devices":true}'
	for file in device-char.tar device-block.tar; do
		before=$(listing)
		sdrv "$name" "$conf.nodev" CREATE '{"id":"nodev","parent":"base"}' >/dev/null
		out=$(sdrv "$name" "$conf.nodev" APPLY_DIFF "{\"id\":\"nodev\",\"stream\":{\"path\":\"$HOSTILE/$file\"}}")
		is "$("$STOR_TREE" get code <<<"$out")" 15 "$name: refuse_devices: $file is code 15"
		is "$(listing)" "$before" "$name: refuse_devices: $file leaves nothing"
	done
	check "$name: REMOVE the base" -- d REMOVE '{"id":"base"}'
	is "$(ls -A "$store/run/locks" | wc -l)" 0 "$name: no lock file left in runRoot/locks"
	is "$(ls -A "$store/root/staging" "$store/root/layers" | grep -vc ':$\|^$')" 0 "$name: no layer and no staging leftovers"
	[ "$name" = btrfs ] && is "$(btrfs subvolume list "$store" | wc -l)" 0 "$name: no subvolume left"
	d CLEANUP >/dev/null
}

if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null; then
	mkdir -p /mnt/btrfs-store
	truncate -s 512M "$W/btrfs.img" && mkfs.btrfs -q "$W/btrfs.img" >/dev/null 2>&1 &&
		mount -o loop "$W/btrfs.img" /mnt/btrfs-store
	defer "umount -R -l /mnt/btrfs-store"
	corpus btrfs /mnt/btrfs-store
else
	ok 1 "btrfs for the btrfs corpus run (btrfs in the kernel, mkfs.btrfs)"
fi
mkdir -p /mnt/vfs-store
corpus vfs /mnt/vfs-store
done_testing
