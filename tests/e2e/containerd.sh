#!/bin/bash
# e2e: containerd 1.6 with berth-snapshotter as a proxy snapshotter and berth's CNI plugins.
#
#   tests/e2e/containerd.sh            overlay on this kernel
#   E2E_DRIVER=devicemapper ...        inside the dm VM (tests/vm/containerd-dm.sh sets it up)
#
# A private containerd (lib-containerd.bash) whose config declares `berth` as a proxy snapshotter
# on the socket of our daemon; both run in the same private mount namespace.  The image is built
# offline (mk-oci-image.sh: busybox, 2 layers, layer 2 whites out /etc/berth-gone and makes
# /srv/opq opaque).  Checks: import + unpack with --snapshotter berth; two containers with
# `ctr run --snapshotter berth --cni` see the whiteouts applied, write into their active
# snapshot, ping each other and the gateway; `ctr snapshots ls/info/usage` agree with the daemon's
# metadata and the driver's LIST and USAGE; a container's changes are committed
# (`ctr snapshots commit`) and run again; then ctr removes everything and no mount, layer, thin
# device, veth, IPAM reservation, nft element or containerd record is left.
# E2E_NO_CNI=1 runs the containers with the host network (the dm VM has no bridge setup).
source "$(dirname "$0")/../integration/lib-core.bash"
source "$(dirname "$0")/lib-containerd.bash"
ctrd_have || skip_all "containerd, ctr, runc or containerd-shim-runc-v2 not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed (reads the daemon's metadata back)"
SNAPD=$BERTH_BUILD/bin/berth-snapshotter
[ -x "$SNAPD" ] || { echo "Bail out! $SNAPD not built"; exit 1; }
DRV=${E2E_DRIVER:-overlay}
[ -x "$STOR_BIN/$DRV" ] || { echo "Bail out! $STOR_BIN/$DRV not built"; exit 1; }
CNI=1
[ -n "${E2E_NO_CNI:-}" ] && CNI=
# E2E_LITE=1 (the dm VM, where every process start costs ~1 s under TCG): one container instead
# of two, no label round trip, the agreement checks after unpack, after the commit and at the end
LITE=${E2E_LITE:-}
core_setup
export BERTH_NFT_STATE_DIR=$D/nft
IMG=${E2E_IMAGE_NAME:-localhost/bb$T:1}
A=a$T B=b$T C=c$T

if [ -n "${E2E_IMAGE:-}" ]; then # built by the caller (the dm VM has no `file`)
	cp "$E2E_IMAGE" "$D/image.tar"
else
	check "build the OCI image (busybox, 2 layers, whiteout + opaque dir)" -- \
		bash "$BERTH_SRC/tests/e2e/mk-oci-image.sh" -n "$IMG" "$D/image.tar"
fi

# --- the daemon: storage config, its own root and runRoot, socket in a 0700 dir
SR=$D/snap
mkdir -p "$SR" && chmod 0700 "$SR"
case $DRV in
overlay) opts='{}' ;;
devicemapper) opts=${E2E_DM_OPTIONS:?E2E_DM_OPTIONS names the thin pool} ;;
esac
printf '{"driver":"%s","root":"%s/store","runRoot":"%s/run","options":{"%s":%s}}\n' \
	"$DRV" "$SR" "$SR" "$DRV" "$opts" >"$SR/storage.json"
SOCK=$SR/sock/berth.sock
DROOT=$SR/store/containerd/$DRV   # the driver's root (daemon root + driver name)
DRUN=$SR/run/containerd/$DRV
DB=$SR/store/containerd/metadata.db

ctrd_holder
defer snapd_stop
[ -z "${E2E_KEEP:-}" ] || defer "cp -a $D /tmp/e2e-kept"
snapd_start; ok $? "berth-snapshotter starts ($DRV)"
diag "$(grep -m1 'storage driver' "$SR/daemon.log")"
# devicemapper: the device-mapper devices and the pool's thin device ids once the daemon's
# driver made its pool, to compare with at the end
thin_ids() { # the thin ids in the pool, read from a metadata snapshot of the kernel's pool
	local pool meta
	pool=$(dmsetup table 2>/dev/null | awk -F: '$2 ~ / thin-pool / {print $1; exit}')
	[ -n "$pool" ] || return 0
	meta=$(dmsetup table "$pool" | awk '{print $4}') # start length thin-pool METADATA DATA ...
	# (a major:minor in the table; no udev in the VM: the name comes from sysfs)
	case $meta in [0-9]*:[0-9]*) meta=/dev/$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$meta/uevent") ;; esac
	dmsetup message "$pool" 0 reserve_metadata_snap >/dev/null || return 1
	thin_dump --metadata-snap "$meta" 2>/dev/null | sed -n 's/.*<device dev_id="\([0-9]*\)".*/\1/p' | sort -n | tr '\n' ' '
	dmsetup message "$pool" 0 release_metadata_snap >/dev/null
}
if [ "$DRV" = devicemapper ]; then
	dm_devs0=$(dmsetup ls | sort)
	dm_ids0=$(thin_ids)
	diag "devices: $(echo $dm_devs0); thin ids: $dm_ids0"
fi

ctrd_start "
[proxy_plugins]
  [proxy_plugins.berth]
    type = \"snapshot\"
    address = \"$SOCK\""
ok $? "containerd starts with berth as a proxy snapshotter"
is "$(ctr plugins ls 2>/dev/null | awk '$1 == "io.containerd.snapshotter.v1" && $2 == "berth" {print $NF}')" ok \
	"ctr plugins ls: io.containerd.snapshotter.v1 berth ok"

# --- helpers reading state back
# drv VERB [ARGS-JSON]: the driver, as the daemon runs it
drv() {
	printf '{"protocolVersion":"1.0.0","driver":"%s","root":"%s","runRoot":"%s","options":%s,"args":%s}' \
		"$DRV" "$DROOT" "$DRUN" "$opts" "${2:-{\}}" |
		in_ns env STOR_COMMAND="$1" BERTH_LOG_LEVEL=error "$STOR_BIN/$DRV"
}
# the daemon's rows: "layer-id<TAB>name as ctr shows it<TAB>kind<TAB>parent's layer id"
# (containerd's metadata store prefixes the keys it hands a snapshotter with "<namespace>/<n>/")
rows() {
	sqlite3 -readonly -separator '	' "file:$DB?mode=ro" \
		"SELECT 'snap-' || s.id, s.key, s.kind, COALESCE('snap-' || s.parent, '') FROM snapshots s ORDER BY s.id" 2>/dev/null |
		awk -F'\t' -v OFS='\t' '{ k = $2; sub(/^[^\/]*\/[0-9]+\//, "", k); print $1, k, $3, $4 }'
}
# sls: `ctr snapshots ls` as "KEY PARENT KIND" lines, PARENT "-" when empty (ctr prints nothing)
sls() { ctr snapshots --snapshotter berth ls | tail -n +2 | awk 'NF == 2 {print $1, "-", $2} NF == 3 {print $1, $2, $3}'; }
snaps() { sls | awk '{print $1}' | sort; }
layer_of() { rows | awk -F'\t' -v k="$1" '$2 == k {print $1}'; }

# --- import and unpack through berth
check "ctr images import --snapshotter berth (unpack)" -- ctr images import --snapshotter berth --base-name "${IMG%:*}" "$D/image.tar"
is "$(ctr images ls -q | grep -c "^$IMG\$")" 1 "the image is listed"
chain=$(snaps)
is "$(wc -l <<<"$chain")" 2 "two committed snapshots (one per layer)"
is "$(sls | awk '{print $3}' | sort -u)" Committed "both are Committed"
is "$(drv LIST | jq -r '.ids | length')" 2 "the driver lists two layers"
if [ "$DRV" = devicemapper ]; then
	dm_ids1=$(thin_ids)
	ok "$([ "$(wc -w <<<"$dm_ids1")" -ge 2 ]; echo $?)" "the pool holds thin devices for them (read from its metadata: $dm_ids1)"
fi

# agree: ctr ls (names, parents, kinds) == daemon rows == driver LIST (ids, parents)
agree() {
	local r c d
	r=$(rows)
	c=$(sls | sort)
	# the same from the rows: name, parent's name, kind (1 view, 2 active, 3 committed)
	d=$(awk -F'\t' '{ id[$1] = $2; rec[NR] = $0 } END {
		for (i = 1; i <= NR; i++) { split(rec[i], f, "\t")
			print f[2], (f[4] == "" ? "-" : id[f[4]]), (f[3] == 1 ? "View" : f[3] == 2 ? "Active" : "Committed") } }' <<<"$r" | sort)
	[ "$c" = "$d" ] || { echo "ctr: $c"; echo "daemon: $d"; return 1; }
	local l
	l=$(drv LIST)
	if [ "$(jq -r 'has("layers")' <<<"$l")" = true ]; then
		c=$(awk -F'\t' '{print $1, ($4 == "" ? "-" : $4)}' <<<"$r" | sort)
		d=$(jq -r '.layers[] | "\(.id) \(.parent // "-" | if . == "" then "-" else . end)"' <<<"$l" | sort)
	else # ids only (the parents are checked apart: "the driver's LIST gives the parents")
		c=$(awk -F'\t' '{print $1}' <<<"$r" | sort)
		d=$(jq -r '.ids[]' <<<"$l" | sort)
	fi
	[ "$c" = "$d" ] || { echo "daemon: $c"; echo "driver: $d"; return 1; }
}
check "ctr snapshots ls == the daemon's metadata == the driver's LIST (ids, parents, kinds)" -- agree
is "$(drv LIST | jq -r '[.layers[]? | select(.parent != null and .parent != "")] | length')" 1 \
	"the driver's LIST gives the parents (layers[].parent, docs/storage-protocol.md)"
usage_agree() {
	local k l u du
	for k in $(snaps); do
		l=$(layer_of "$k")
		u=$(ctr snapshots --snapshotter berth usage -b "$k" | tail -1 | awk '{print $2, $3}')
		du=$(drv USAGE "{\"id\":\"$l\"}" | jq -r '"\(.size) \(.inodes)"')
		[ "$u" = "$du" ] || { echo "$k ($l): ctr usage $u, driver USAGE $du"; return 1; }
	done
}
check "ctr snapshots usage -b == the driver's USAGE for every snapshot" -- usage_agree
top=$(sls | awk '$2 != "-" {print $1}')
info=$(ctr snapshots --snapshotter berth info "$top")
[ -z "${E2E_DEBUG:-}" ] || diag "top=$top info=$info"
is "$(jq -r '.Kind + " " + (.Parent != "" | tostring)' <<<"$info" 2>/dev/null)" "Committed true" "ctr snapshots info of the top layer: committed, with a parent"
# labels: containerd hands a snapshotter only those under containerd.io/snapshot/ (Update with
# the field path labels.<name>); they come back through Stat
if [ -z "$LITE" ]; then
lbl=containerd.io/snapshot/berth.e2e
check "ctr snapshots label (Update)" -- ctr snapshots --snapshotter berth label "$top" "$lbl=t$T"
is "$(sqlite3 -readonly "file:$DB?mode=ro" "SELECT value FROM labels WHERE name = '$lbl'" 2>/dev/null)" "t$T" \
	"the daemon stored the label"
is "$(ctr snapshots --snapshotter berth info "$top" | jq -r --arg l "$lbl" '.Labels[$l]')" "t$T" "ctr snapshots info shows it"
check "ctr snapshots label (remove it)" -- ctr snapshots --snapshotter berth label "$top" "$lbl="
is "$(sqlite3 -readonly "file:$DB?mode=ro" "SELECT count(*) FROM labels WHERE name = '$lbl'" 2>/dev/null)" 0 \
	"the daemon dropped it"
fi

# --- network
if [ -n "$CNI" ]; then
	NET=ce$T BR=ce$T
	cat >"$CT/net.d/10-$NET.conflist" <<JSON
{ "cniVersion": "1.0.0", "name": "$NET", "plugins": [
    { "type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true,
      "ipam": { "type": "host-local", "dataDir": "$D/ipam",
        "ranges": [[{ "subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1" }]], "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" }, { "type": "loopback" } ] }
JSON
	RUNOPT=()
else
	RUNOPT=(--net-host)
fi
# E2E_NO_PIVOT=1: runc cannot pivot_root out of an initramfs (the dm VM's root): --no-pivot
[ -z "${E2E_NO_PIVOT:-}" ] || RUNOPT+=(--no-pivot)
run_bg() { # NAME [OPTIONS]: ctr run --snapshotter berth [--cni] --rm ...
	local n=$1; shift
	if [ -n "$CNI" ]; then ctr_run_bg "$n" berth "$IMG" "$@"
	else ctr_run_bg_nocni "$n" berth "$IMG" "${RUNOPT[@]}" "$@"; fi
}
ctr_run_bg_nocni() { # as ctr_run_bg, without --cni
	local name=$1 snap=$2 image=$3 i; shift 3
	ctr run ${CTR_RM---rm} --snapshotter "$snap" "$@" "$image" "$name" \
		/bin/sh -c 'trap "exit 0" TERM; while :; do sleep 0.2; done' </dev/null >"$D/$name.out" 2>&1 &
	eval "RUNPID_$name=$!"
	for ((i = 0; i < 600; i++)); do
		[ "$(ctr task ls 2>/dev/null | awk -v n="$name" '$1 == n {print $3}')" = RUNNING ] && return 0
		kill -0 "$(eval echo "\$RUNPID_$name")" 2>/dev/null || break
		sleep 0.05
	done
	cat "$D/$name.out"
	return 1
}

# a without --rm: its snapshot is committed below, after its task is gone
CTR_RM= run_bg "$A"; ok $? "ctr run --snapshotter berth${CNI:+ --cni} a"
CTRS="$A"
if [ -z "$LITE" ]; then
	run_bg "$B"; ok $? "ctr run --snapshotter berth${CNI:+ --cni} b"
	CTRS="$A $B"
fi
is "$(sls | awk -v a="$A" '$1 == a {print $3}')" Active "a's rootfs is an active berth snapshot"

for n in $CTRS; do
	is "$(cexec "$n" sh -c 'test -e /etc/berth-gone; echo $?')" 1 "[$n] /etc/berth-gone (whited out by layer 2) is absent"
	is "$(cexec "$n" cat /etc/berth-layer2)" "from layer 2" "[$n] layer 2's file is there"
	is "$(cexec "$n" ls /srv/opq | tr '\n' ' ')" "c " "[$n] /srv/opq is opaque: only layer 2's c"
	is "$(cexec "$n" cat /srv/keep)" keep "[$n] layer 1's /srv/keep is there"
	check "[$n] writes into its rootfs" -- cexec "$n" sh -c "echo written-by-$n >/written && rm /srv/keep && mkdir -p /var/w && echo x >/var/w/y"
done
# where the write landed: the active snapshot's layer, read back through the driver
landed() { # NAME: the content of /written in NAME's active snapshot, not through the container
	local l m
	l=$(layer_of "$1")
	[ -n "$l" ] || { echo "no layer for $1"; return 1; }
	case $DRV in
	overlay)
		m=$(drv METADATA "{\"id\":\"$l\"}" | jq -r .UpperDir)
		cat "$m/written"
		;;
	*)
		# the thin device holds it: mount the spec in a throwaway mount namespace (read-write,
		# as the container has it: a read-only mount of a block device mounted read-write is
		# refused, EBUSY)
		m=$(drv MOUNTS "{\"id\":\"$l\"}") || return 1
		in_ns unshare -m sh -c 'mkdir -p "$1" && mount -t "$2" -o "$3" "$4" "$1" && cat "$1/written"' \
			sh "$D/peek" "$(jq -r '.mounts[0].type' <<<"$m")" "$(jq -r '.mounts[0].options | join(",")' <<<"$m")" \
			"$(jq -r '.mounts[0].source' <<<"$m")"
		;;
	esac
}
is "$(landed "$A")" "written-by-$A" "a's write landed in its active snapshot's layer (read through the driver)"
if [ -z "$LITE" ]; then
	is "$(landed "$B")" "written-by-$B" "b's write landed in its own"
	is "$(cexec "$B" cat /written)" "written-by-$B" "b does not see a's write"
fi
c1=$(ctr snapshots --snapshotter berth usage -b "$A" | tail -1 | awk '{print $3}')
ok "$([ "${c1:-0}" -ge 3 ]; echo $?)" "ctr snapshots usage counts a's new inodes ($c1)"
if [ -z "$LITE" ]; then
	check "ctr snapshots ls == daemon == driver LIST with two active snapshots" -- agree
	check "ctr snapshots usage -b == driver USAGE with two active snapshots" -- usage_agree
fi

if [ -n "$CNI" ]; then
	ipa=$(ctr_ip "$A"); ipb=$(ctr_ip "$B")
	diag "a=$ipa b=$ipb"
	check "a pings b" -- cexec "$A" ping -c1 -W5 "$ipb"
	check "b pings a" -- cexec "$B" ping -c1 -W5 "$ipa"
	check "a pings the gateway" -- cexec "$A" ping -c1 -W5 "$SUBNET.1"
	check "b pings the gateway" -- cexec "$B" ping -c1 -W5 "$SUBNET.1"
fi

# --- commit a's changes and run them again
[ -n "$LITE" ] || { ctr_stop_bg "$B"; ok $? "b stops; ctr run --rm removes its container and snapshot"; }
ctr_stop_bg "$A"; ok $? "a stops (no --rm: its container and snapshot stay)"
is "$(sls | awk -v n="$A" '$1 == n {print $3}')" Active "a's snapshot is still active"
check "ctr snapshots commit img-a a (a's changes)" -- ctr snapshots --snapshotter berth commit "img-$A" "$A"
is "$(sls | awk -v n="img-$A" '$1 == n {print $3}')" Committed "img-a is committed"
is "$(sls | awk -v n="$A" '$1 == n' | wc -l)" 0 "the active key a is gone"
check "ctr snapshots ls == daemon == driver LIST after the commit" -- agree
check "ctr snapshots usage -b == driver USAGE after the commit" -- usage_agree
check "ctr snapshots prepare c on img-a" -- ctr snapshots --snapshotter berth prepare "$C-root" "img-$A"
mkdir -p "$D/c-root"
# (ctr prints "mount -t T SRC DIR -o OPTIONS"; with no options, a dangling "-o" that mount refuses)
ctr snapshots --snapshotter berth mounts "$D/c-root" "$C-root" | sed 's/ -o $//' >"$D/c-mount.sh"
check "mount c's rootfs from the specs berth returned (ctr snapshots mounts)" -- in_ns sh "$D/c-mount.sh"
if [ -n "${E2E_DEBUG:-}" ]; then in_ns ls -la "$D/c-root" "$D/c-root/bin/sh"; in_ns grep c-root /proc/self/mountinfo; fi
# (ctr run --rootfs PATH: the rootfs is that directory, here c's snapshot mounted as berth said;
# without an image config there is no PATH in the spec)
if [ -n "$CNI" ]; then
	ctr_run_bg "$C" berth "$D/c-root" --rootfs --env PATH=/bin; ok $? "ctr run --cni c on the committed changes (--rootfs)"
else
	ctr_run_bg_nocni "$C" berth "$D/c-root" --rootfs --env PATH=/bin "${RUNOPT[@]}"; ok $? "ctr run c on the committed changes (--rootfs)"
fi
is "$(cexec "$C" cat /written)" "written-by-$A" "c sees a's committed write"
is "$(cexec "$C" sh -c 'test -e /srv/keep; echo $?')" 1 "and a's deletion"
is "$(cexec "$C" sh -c 'test -e /etc/berth-gone; echo $?')" 1 "and layer 2's whiteout"
if [ -n "$CNI" ]; then
	check "c pings the gateway" -- cexec "$C" ping -c1 -W5 "$SUBNET.1"
fi
ctr_stop_bg "$C"; ok $? "c stops"
check "unmount c's rootfs" -- in_ns umount "$D/c-root"

# --- ctr removes everything
check "ctr snapshots rm c's snapshot" -- ctr snapshots --snapshotter berth rm "$C-root"
out=$(ctr snapshots --snapshotter berth rm "$(sls | awk '$2 == "-" {print $1}')" 2>&1)
ok "$([ $? -ne 0 ] && grep -qi 'precondition\|children\|has' <<<"$out"; echo $?)" "removing a parent with children fails (FailedPrecondition): ${out##*: }"
check "ctr snapshots rm img-a" -- ctr snapshots --snapshotter berth rm "img-$A"
check "ctr containers rm a (its snapshot was committed away)" -- ctr containers rm "$A"
check "ctr images rm --sync (garbage collection removes the layers)" -- ctr images rm --sync "$IMG"
for _ in $(seq 100); do [ -z "$(snaps)" ] && break; sleep 0.1; done
is "$(snaps | wc -l)" 0 "ctr snapshots ls is empty"
is "$(rows | wc -l)" 0 "the daemon's metadata is empty"
is "$(drv LIST | jq -r '.ids | length')" 0 "the driver lists no layer"
is "$(ctr containers ls -q | wc -l):$(ctr images ls -q | wc -l):$(ctr content ls -q | wc -l)" 0:0:0 "containerd: no container, image or content left"
is "$(ls "$CT/state/io.containerd.runtime.v2.task/$CTR_NS" 2>/dev/null | wc -l)" 0 "containerd: no task bundle left"
# mount points under the test dir, in containerd's (and the daemon's) mount namespace
mounts_under() { in_ns awk -v d="$D/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -u | tr '\n' ' '; }
dm_root=""
[ "$DRV" = overlay ] && dm_root="$DROOT " # the overlay driver's INIT makes its root a private mount
is "$(mounts_under)" "$dm_root" "no container or snapshot mount left${dm_root:+ (only the private root of the driver)}"
if [ -n "$CNI" ]; then
	left=""
	[ "$(ip -n "$H" -o link show master "$BR" 2>/dev/null | wc -l)" -eq 0 ] || left+=" veth"
	[ "$(ls "$D/ipam/$NET" 2>/dev/null | grep -c '^10\.')" -eq 0 ] || left+=" ip"
	[ "$(ls /var/lib/cni/results 2>/dev/null | grep -c "^$NET-")" -eq 0 ] || left+=" cache"
	if ip netns exec "$H" nft list table inet berth >/dev/null 2>&1; then
		n=$(ip netns exec "$H" nft -j list table inet berth | jq '[.nftables[] | .set? | select(. != null) | (.elem // []) | length] | add // 0')
		[ "$n" -eq 0 ] || left+=" nft($n)"
	fi
	is "$left" "" "no veth, IPAM reservation, cache entry or nft element left"
fi
if [ "$DRV" = devicemapper ]; then
	is "$(dmsetup ls | sort)" "$dm_devs0" "device-mapper: no device left beyond the pool the daemon started with"
	is "$(thin_ids)" "$dm_ids0" "the pool holds no thin device beyond the ones it started with ($dm_ids0)"
fi
ctrd_stop
snapd_stop >"$D/snapd-stop.out" 2>&1; ok $? "berth-snapshotter drains and exits 0 on SIGTERM"
sed 's/^/#   /' "$D/snapd-stop.out"
is "$(mounts_under)" "" "after the daemon's exit: nothing mounted (it undid the driver's private root)"
ok "$([ ! -e "$SOCK" ]; echo $?)" "its socket is removed"
done_testing
