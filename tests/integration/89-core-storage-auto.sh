#!/bin/bash
# `auto` storage driver selection per host (core/storage.c): the built-in priority overlay,
# btrfs (where the root is on btrfs), devicemapper (only when configured), vfs; `berth storage
# info` names the driver taken and, for every other one, why not (its INIT error, "not
# configured", or "not tried" and why).  Roots on this host's filesystem, on an overlay mount
# (where only vfs works), on btrfs, and with devicemapper configured on a kernel without it.
if [ -z "${BERTH_AUTO_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_AUTO_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib-storage.bash"
need_root
BERTH=$BERTH_BUILD/bin/berth
[ -x "$BERTH" ] || skip_all "no berth CLI in this build"
W=$(mktemp -d /tmp/berth-auto.$T.XXXXXX)
defer "rm -rf $W"
export BERTH_STORAGE_PATH=$STOR_BIN
# cfg NAME ROOTDIR [EXTRA_JSON_MEMBERS]: a core config with root ROOTDIR
cfg() { printf '{"driver":"auto","root":"%s","runRoot":"%s/run-%s"%s}\n' "$2" "$W" "$1" "${3:-}" >"$W/$1.json"; }
info() { $BERTH storage --config "$W/$1.json" --json info; }
probe() { jq -r --arg d "$2" '.probes[] | select(.driver == $d) | .reason' <<<"$1"; }
cleanup_store() { # CONFIG-NAME DRIVER ROOT: CLEANUP the driver's store (its private root mount)
	echo "{\"root\":\"$3/$2\",\"runRoot\":\"$W/run-$1/$2\"}" | STOR_COMMAND=CLEANUP "$STOR_BIN/$2" >/dev/null 2>&1
}

# ---- this host's filesystem: overlay ----
cfg host "$W/host"
out=$(info host)
is "$(jq -r .driver <<<"$out")" overlay "on $(stat -f -c %T "$W"): auto takes overlay"
is "$(jq -c '[.probes[].driver]' <<<"$out")" '["overlay","btrfs","devicemapper","vfs"]' \
	"info lists every driver of the built-in priority, in order"
is "$(probe "$out" btrfs)" "not tried: overlay comes first in the priority list" "btrfs: not tried, and why"
is "$(probe "$out" devicemapper)" "not tried: overlay comes first in the priority list (and not configured: no options.devicemapper)" \
	"devicemapper: not tried, and not configured"
is "$(probe "$out" vfs)" "not tried: overlay comes first in the priority list" "vfs: not tried, and why"
cleanup_store host overlay "$W/host"

# ---- a root on an overlay mount: overlay and btrfs refuse, devicemapper is not configured ----
mkdir -p "$W/ovl/l" "$W/ovl/u" "$W/ovl/w" "$W/ovl/m"
mount -t overlay overlay -o "lowerdir=$W/ovl/l,upperdir=$W/ovl/u,workdir=$W/ovl/w" "$W/ovl/m"
defer "umount -R -l $W/ovl/m"
cfg ovl "$W/ovl/m/root"
out=$(info ovl)
is "$(jq -r .driver <<<"$out")" vfs "root on overlayfs: auto takes vfs"
is "$(jq -r '.probes[] | select(.driver == "overlay") | .code' <<<"$out")" 13 "overlay: INIT code 13 (an overlay upper cannot be on overlayfs)"
is "$(jq -r '.probes[] | select(.driver == "btrfs") | .code' <<<"$out")" 13 "btrfs: INIT code 13 (not btrfs)"
probe "$out" btrfs | grep -q "not btrfs"; ok $? "btrfs: the reason says the root is not on btrfs"
is "$(probe "$out" devicemapper)" "not configured: devicemapper needs options.devicemapper in $W/ovl.json" \
	"devicemapper: passed by, not configured"
is "$(probe "$out" vfs)" "INIT succeeded: works here" "vfs: works here"
cfg ovltext "$W/ovl/m/root-text" # a fresh store: the first selection again
text=$($BERTH storage --config "$W/ovltext.json" info)
grep -q '^driver:   vfs ' <<<"$text" && grep -q '^probe:    overlay  *no (code 13' <<<"$text" &&
	grep -q '^probe:    btrfs  *no (code 13' <<<"$text" && grep -q '^probe:    devicemapper  *not configured' <<<"$text" &&
	grep -q '^probe:    vfs  *taken' <<<"$text"
rc=$?
ok $rc "berth storage info (text) says the same"
[ $rc -eq 0 ] || diag "$text"
cleanup_store ovltext vfs "$W/ovl/m/root-text"
# the choice sticks once made
is "$(info ovl | jq -r .reason)" "auto: already holds the layers under $W/ovl/m/root" "auto keeps the driver that holds the layers"
cleanup_store ovl vfs "$W/ovl/m/root"

# devicemapper configured, on a kernel without device-mapper: probed, refused (12), passed
cfg dm "$W/ovl/m/dmroot" ',"options":{"devicemapper":{"pool_name":"berth-none"}}'
out=$(info dm)
is "$(jq -r '.probes[] | select(.driver == "devicemapper") | .code' <<<"$out")" \
	"$(grep -qw dm_mod /proc/modules 2>/dev/null || [ -d /sys/module/dm_mod ] && echo 7 || echo 12)" \
	"devicemapper configured: probed (its INIT error kept)"
is "$(jq -r .driver <<<"$out")" vfs "and vfs taken after it"
cleanup_store dm vfs "$W/ovl/m/dmroot"

# ---- a root on btrfs ----
if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null && mkbtrfs "$W/b" 512M; then
	cfg bdef "$W/b/def"
	out=$(info bdef)
	is "$(jq -r .driver <<<"$out")" overlay "root on btrfs, built-in priority: overlay first"
	cleanup_store bdef overlay "$W/b/def"
	cfg bfirst "$W/b/first" ',"priority":["btrfs","overlay","devicemapper","vfs"]'
	out=$(info bfirst)
	is "$(jq -r .driver <<<"$out")" btrfs "root on btrfs, btrfs first in the priority: btrfs"
	is "$(probe "$out" overlay)" "not tried: btrfs comes first in the priority list" "overlay: not tried, and why"
	is "$(jq -r .capabilities.subvolumes <<<"$out")" true "info shows btrfs's capabilities"
	cleanup_store bfirst btrfs "$W/b/first"
else
	ok 1 "a btrfs filesystem for the btrfs cases (btrfs in the kernel, mkfs.btrfs)"
fi

# ---- a driver named in the config ----
printf '{"driver":"vfs","root":"%s/named","runRoot":"%s/run-named"}\n' "$W" "$W" >"$W/named.json"
out=$(info named)
is "$(jq -r .driver <<<"$out"):$(jq -r .reason <<<"$out")" "vfs:configured" "a configured driver is taken as is"
is "$(probe "$out" overlay)" "not tried: the config names the driver (vfs)" "the others: not tried, and why"
cleanup_store named vfs "$W/named"
done_testing
