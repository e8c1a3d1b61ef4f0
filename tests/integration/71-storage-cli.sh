#!/bin/bash
# berth storage: auto driver selection, OCI layout and tarball import (digests verified),
# container rootfs on top, run a command in it, diff, commit, inspect, removal.
if [ -z "${BERTH_STOR_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_STOR_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
need_root
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"
BERTH=$BERTH_BUILD/bin/berth
[ -x "$BERTH" ] || skip_all "no berth CLI in this build"
BB=$(command -v busybox) || skip_all "no busybox"
file -L "$BB" 2>/dev/null | grep -q 'statically linked' || skip_all "busybox is not static"

W=$(mktemp -d /tmp/berth-stor.$T.XXXXXX)
defer "rm -rf $W"
export BERTH_STORAGE_CONFIG=$W/storage.json BERTH_STORAGE_PATH=$STOR_BIN
printf '{"driver":"auto","root":"%s/root","runRoot":"%s/run"}\n' "$W" "$W" >"$W/storage.json"
defer "$BERTH storage rm --force c1 c2 c3; echo '{\"root\":\"$W/root/overlay\",\"runRoot\":\"$W/run/overlay\"}' | STOR_COMMAND=CLEANUP $STOR_BIN/overlay"

# A two-layer busybox image; the second layer deletes a file and adds one.
mkdir -p "$W/l1/bin" "$W/l1/etc" "$W/l2/etc"
cp "$BB" "$W/l1/bin/busybox"
for a in sh ls cat echo; do ln -s busybox "$W/l1/bin/$a"; done
echo hello >"$W/l1/etc/motd"
echo doomed >"$W/l1/etc/deleteme"
touch "$W/l2/etc/.wh.deleteme"
echo added >"$W/l2/etc/added"
tar --numeric-owner -C "$W/l1" -cf "$W/l1.tar" .
tar --numeric-owner -C "$W/l2" -czf "$W/l2.tar.gz" .

# The same image as an OCI layout.
oci() { # oci DIR
	local d=$1 l1 l2 d1 d2 cfg man
	mkdir -p "$d/blobs/sha256"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
	l1=$(sha256sum "$W/l1.tar" | cut -d' ' -f1); cp "$W/l1.tar" "$d/blobs/sha256/$l1"
	l2=$(sha256sum "$W/l2.tar.gz" | cut -d' ' -f1); cp "$W/l2.tar.gz" "$d/blobs/sha256/$l2"
	d1=$l1
	L1BLOB=$d/blobs/sha256/$l1
	d2=$(gzip -dc "$W/l2.tar.gz" | sha256sum | cut -d' ' -f1)
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' "$d1" "$d2" >"$W/cfg"
	cfg=$(sha256sum "$W/cfg" | cut -d' ' -f1); cp "$W/cfg" "$d/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
		"$cfg" "$(stat -c %s "$W/cfg")" "$l1" "$(stat -c %s "$W/l1.tar")" "$l2" "$(stat -c %s "$W/l2.tar.gz")" >"$W/man"
	man=$(sha256sum "$W/man" | cut -d' ' -f1); cp "$W/man" "$d/blobs/sha256/$man"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"busybox:demo"}}]}' \
		"$man" "$(stat -c %s "$W/man")" >"$d/index.json"
	L2BLOB=$d/blobs/sha256/$l2
}
oci "$W/oci"

info=$($BERTH storage --json info)
is "$(jq -r .driver <<<"$info")" overlay "auto picked overlay"
is "$(jq -r '.probes[0].ok' <<<"$info")" true "info shows the probe that decided"
# First, a corrupted blob (before any layer exists, so it must really be read) is refused and leaves nothing behind.
oci "$W/bad"
printf 'X' | dd of="$L1BLOB" bs=1 seek=1000000 conv=notrunc 2>/dev/null
out=$($BERTH storage import --name bad "$W/bad" 2>&1)
ok $((! $?)) "import with a corrupted layer blob fails"
grep -q "digest mismatch" <<<"$out"
ok $? "error says digest mismatch"
is "$($BERTH storage --json ls | jq '.layers | length')" 0 "no layer left from the failed import"

check "import OCI layout" -- $BERTH storage import "$W/oci"
is "$($BERTH storage --json ls | jq -r '.images[0].name')" busybox:demo "image named from the ref annotation"
is "$($BERTH storage --json ls | jq -r '.images[0].layers | length')" 2 "two layers"
check "import the same layers as tarballs (shared layer reused)" -- $BERTH storage import --name tarball "$W/l1.tar" "$W/l2.tar.gz"


check "create c1" -- $BERTH storage create busybox:demo --name c1
check "create c2" -- $BERTH storage create busybox:demo --name c2
P1=$($BERTH storage mount c1)
P2=$($BERTH storage mount c2)
is "$(chroot "$P1" /bin/cat /etc/motd)" hello "command runs in c1's rootfs"
[ ! -e "$P1/etc/deleteme" ] && [ -f "$P1/etc/added" ]
ok $? "second layer's deletion and addition visible"
chroot "$P1" /bin/sh -c 'echo c1 > /etc/mine'
[ ! -e "$P2/etc/mine" ]
ok $? "containers do not see each other's writes"
$BERTH storage diff c1 -o "$W/c1.tar"
is "$(tar -tf "$W/c1.tar" | sort | tr '\n' ' ')" "etc/ etc/mine " "diff exports the writable layer"
is "$($BERTH storage diff c1 | tar -tf - | sort | tr '\n' ' ')" "etc/ etc/mine " "diff to a pipe on stdout"
check "commit c1" -- $BERTH storage commit c1 committed
check "create c3 from the committed image" -- $BERTH storage create committed --name c3
is "$(cat "$($BERTH storage mount c3)/etc/mine")" c1 "committed layer carries the change"

insp=$($BERTH storage inspect c1)
is "$(jq '.layers | length' <<<"$insp")" 2 "inspect: layer chain"
is "$(jq -r '.mount.mounted' <<<"$insp")" true "inspect: mounted"
jq -e '.layers[] | select(.diffID | startswith("sha256:"))' <<<"$insp" >/dev/null
ok $? "inspect: digests"
$BERTH inspect c1 --json >"$W/inspect.json" 2>"$W/inspect.err"
ok $? "berth inspect c1 --json"
[ -s "$W/inspect.err" ] && diag "$(head -5 "$W/inspect.err")"
is "$(jq -r .storage.rootfs "$W/inspect.json" 2>/dev/null)" ctr-c1 "berth inspect shows the storage side"

out=$($BERTH storage rm c1 2>&1)
ok $((! $?)) "rm of a mounted rootfs refused without --force"
check "rm --force" -- $BERTH storage rm --force c1
check "rm again is fine" -- $BERTH storage rm c1
check "rm c2 c3" -- $BERTH storage rm --force c2 c3
check "rmi" -- $BERTH storage rmi committed tarball busybox:demo
is "$($BERTH storage --json ls | jq '.layers | length')" 0 "no layers left"

done_testing
