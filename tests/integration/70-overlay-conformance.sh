#!/bin/bash
# The storage conformance suite against the overlay driver (both mount APIs, native and naive
# diff), then what only overlay has: on-disk whiteout form, mount options, private root,
# a 500-layer chain.
# Every mount stays in a private mount namespace of this test.
if [ -z "${BERTH_OVL_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_OVL_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib-storage.bash"
need_root
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"

DRV=$STOR_BIN/overlay
TREE=$BERTH_BUILD/tests/helpers/stor-tree
W=$(mktemp -d /tmp/berth-ovl.$T.XXXXXX)
defer "rm -rf $W"

# conformance NAME OPTIONS_JSON: the suite (tests/integration/lib-storage.bash), each case a
# TAP line of this test
conformance() {
	local name=$1 opts=$2
	mkdir -p "$W/$name"
	stor_conf "$W/$name.json" "$W/$name/root" "$W/$name/run" "$opts"
	stor_conformance "overlay $name" "$DRV" "$W/$name.json"
	rm -rf "${W:?}/$name"
}
conformance default '{}'
conformance legacy-mount '{"mount_api":"legacy"}'
conformance naive-diff '{"force_naive_diff":true}'

R=$W/ovl
CONF=$W/ovl.json
printf '{"root":"%s/root","runRoot":"%s/run","options":{}}\n' "$R" "$R" >"$CONF"
# drv VERB ARGS_JSON [CONFIG]: prints the driver's stdout, returns its status
drv() {
	"$TREE" request "${3:-$CONF}" "$2" | STOR_COMMAND=$1 "$DRV"
}
defer "echo '{}' | $TREE request $CONF '{}' | STOR_COMMAND=CLEANUP $DRV"

check "INIT" -- drv INIT '{}'
grep " $R/root " /proc/self/mountinfo | grep -q shared:
ok $((! $?)) "driver root is a private mount (no shared: propagation)"

# On-disk whiteout form: 0/0 char devices and trusted.overlay.opaque.
drv CREATE '{"id":"base"}' >/dev/null
M=$(drv MOUNT '{"id":"base"}' | jq -r .path)
mkdir -p "$M/dir/sub" && echo a >"$M/file" && echo b >"$M/dir/sub/x"
drv UNMOUNT '{"id":"base"}' >/dev/null
drv CREATE '{"id":"top","parent":"base"}' >/dev/null
M=$(drv MOUNT '{"id":"top"}' | jq -r .path)
rm "$M/file" && rm -rf "$M/dir" && mkdir "$M/dir" && echo c >"$M/dir/new"
drv UNMOUNT '{"id":"top"}' >/dev/null
drv DIFF '{"id":"top","stream":{"fd":3}}' 3>"$W/top.tar" >/dev/null
check "DIFF carries OCI whiteouts" -- bash -c "tar -tf $W/top.tar | grep -qx '.wh.file' && tar -tf $W/top.tar | grep -qx 'dir/.wh..wh..opq'"
drv CREATE '{"id":"base2"}' >/dev/null
drv DIFF '{"id":"base","stream":{"fd":3}}' 3>"$W/base.tar" >/dev/null
drv APPLY_DIFF '{"id":"base2","stream":{"fd":3}}' 3<"$W/base.tar" >/dev/null
drv CREATE '{"id":"top2","parent":"base2"}' >/dev/null
check "APPLY_DIFF of whiteouts" -- drv APPLY_DIFF '{"id":"top2","stream":{"fd":3}}' 3<"$W/top.tar"
is "$(stat -c '%F %t:%T' "$R/root/top2/diff/file")" "character special file 0:0" "whiteout stored as a 0/0 char device"
is "$("$TREE" getxattr "$R/root/top2/diff/dir" trusted.overlay.opaque)" y "opaque dir stored as trusted.overlay.opaque=y"
[ ! -e "$R/root/top2/diff/.wh.file" ] && [ ! -e "$R/root/top2/diff/dir/.wh..wh..opq" ]
ok $? "no .wh. files left in the upper dir"

# Mount options per call, and the defaults.
out=$(drv MOUNT '{"id":"top2","volatile":true}')
P=$(jq -r .path <<<"$out")
opts=$(awk -v p="$P" '$5 == p {print $NF}' /proc/self/mountinfo)
case $opts in *volatile*) ok 0 "volatile mount option per call" ;; *) ok 1 "volatile mount option per call"; diag "$opts" ;; esac
case $opts in *index=off* | *) ;; esac
case "$(jq -c .mounts[0].options <<<"$out")" in *index=off*redirect_dir=off*) ok 0 "index=off, redirect_dir=off by default" ;; *) ok 1 "index=off, redirect_dir=off by default" ;; esac
is "$(jq -r .mountApi <<<"$out")" new "new mount API used on this kernel"
[ -f "$P/dir/new" ] && [ ! -e "$P/file" ] && [ ! -e "$P/dir/sub" ]
ok $? "the applied chain shows the deletions and the opaque dir"
drv UNMOUNT '{"id":"top2"}' >/dev/null
out=$(drv MOUNT '{"id":"top2"}')
ok $? "mount again without volatile after a volatile mount"
drv UNMOUNT '{"id":"top2"}' >/dev/null

# Refcounts live on disk under runRoot.
drv MOUNT '{"id":"top2"}' >/dev/null; drv MOUNT '{"id":"top2"}' >/dev/null
is "$(cat "$R/run/mounts/top2")" 2 "mount refcount on disk under runRoot"
drv UNMOUNT '{"id":"top2","force":true}' >/dev/null

# A second MOUNT shares the first one only in the same mode: a read-write caller must not be
# handed a read-only mount (its writes would fail), nor a read-only caller a writable one.
drv MOUNT '{"id":"top2","ro":true}' >/dev/null
is "$(drv MOUNT '{"id":"top2"}' | jq -r .code)" 10 "rw MOUNT of a layer mounted read-only is code 10"
is "$(cat "$R/run/mounts/top2")" 1 "and takes no reference"
drv UNMOUNT '{"id":"top2"}' >/dev/null
P=$(drv MOUNT '{"id":"top2"}' | jq -r .path)
is "$(drv MOUNT '{"id":"top2","ro":true}' | jq -r .code)" 10 "ro MOUNT of a layer mounted read-write is code 10"
touch "$P/rw-probe"
ok $? "the read-write mount is writable"
is "$(drv MOUNT '{"id":"top2"}' | jq -r .refs)" 2 "a second rw MOUNT shares it"
drv UNMOUNT '{"id":"top2","force":true}' >/dev/null

# 500-layer chain: each layer adds one file, layer 300 deletes layer 10's file.
deep() { # deep MOUNT_API
	local api=$1 conf=$W/deep-$1.json r=$W/deep-$1 prev= i out P n
	printf '{"root":"%s/root","runRoot":"%s/run","options":{"mount_api":"%s"}}\n' "$r" "$r" "$api" >"$conf"
	drv INIT '{}' "$conf" >/dev/null
	for ((i = 1; i <= 500; i++)); do
		drv CREATE "{\"id\":\"d$i\"${prev:+,\"parent\":\"$prev\"}}" "$conf" >/dev/null || break
		echo "$i" >"$r/root/d$i/diff/f$i"
		prev=d$i
	done
	is "$i" 501 "$api: created a chain of 500 layers"
	mknod "$r/root/d300/diff/f10" c 0 0
	out=$(drv CREATE '{"id":"d501","parent":"d500"}' "$conf")
	is "$(jq -r .code <<<"$out")" 7 "$api: a 501st layer is refused with code 7"
	out=$(drv MOUNT '{"id":"d500"}' "$conf")
	ok $? "$api: MOUNT of the 500-layer chain ($(jq -r .mountApi <<<"$out"))"
	P=$(jq -r .path <<<"$out")
	n=0
	for ((i = 1; i <= 500; i++)); do
		[ "$i" = 10 ] && continue
		[ "$(cat "$P/f$i" 2>/dev/null)" = "$i" ] && n=$((n + 1))
	done
	is "$n" 499 "$api: every layer's file reads back through the mount"
	[ ! -e "$P/f10" ]
	ok $? "$api: a whiteout 290 layers up hides the file"
	out=$(drv MOUNT '{"id":"d500","ro":true}' "$conf")
	drv UNMOUNT '{"id":"d500","force":true}' "$conf" >/dev/null
	out=$(drv MOUNT '{"id":"d500","ro":true}' "$conf")
	ok $? "$api: read-only MOUNT (500 lowers, no upper)"
	[ "$(cat "$(jq -r .path <<<"$out")/f1")" = 1 ]
	ok $? "$api: reads through the read-only mount"
	drv UNMOUNT '{"id":"d500"}' "$conf" >/dev/null
	drv CLEANUP '{}' "$conf" >/dev/null
	rm -rf "$r"
}
deep new
deep legacy

done_testing
