#!/bin/bash
# mk-oci-image.sh: build a small OCI image archive offline (test helper; GNU tar, gzip, jq,
# sha256sum), one that `ctr images import` accepts.
#
#   tests/e2e/mk-oci-image.sh [-n NAME:TAG] [-b BIG_MIB] [-f FILES] [-c CMD-JSON] [-u] OUT.tar
#   (-c: the image config's Cmd, a JSON array; default ["sh"])
#
# Layers (gzip unless -u):
#   1. busybox-static with its applets, /etc/passwd, /etc/group, /etc/berth-gone (deleted by
#      layer 2), /srv/opq/{a,b} (made opaque by layer 2), /srv/keep
#   2. /etc/.wh.berth-gone (an OCI whiteout), /srv/opq/.wh..wh..opq + /srv/opq/c (an opaque
#      directory), /etc/berth-layer2
#   3.. with -b BIG_MIB: two more layers of BIG_MIB/2 MiB each of incompressible data, spread
#      over FILES files per layer (default 2000), for the benchmark.
# The manifest's annotation org.opencontainers.image.ref.name is TAG and io.containerd.image.name
# is NAME:TAG, so `ctr images import --base-name NAME OUT.tar` names it NAME:TAG.
set -euo pipefail
NAME=localhost/berth-busybox:1
BIG=0
FILES=2000
GZ=1
CMD='["sh"]'
while getopts n:b:f:c:uh o; do
	case $o in
	n) NAME=$OPTARG ;;
	b) BIG=$OPTARG ;;
	f) FILES=$OPTARG ;;
	c) CMD=$OPTARG ;;
	u) GZ=0 ;;
	*) sed -n '2,16p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { sed -n '2,16p' "$0" >&2; exit 2; }
OUT=$1
BUSYBOX=${BUSYBOX:-/bin/busybox}
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	{ echo "mk-oci-image: $BUSYBOX is not a static busybox (busybox-static)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/mk-oci.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/oci/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' >"$W/oci/oci-layout"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
LAYERS=() DIFFS=()
# add_layer DIR: tar DIR's content as the next layer (deterministic owners and times)
add_layer() {
	local t=$W/layer.tar d
	tar -C "$1" --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 \
		--format=posix --pax-option=delete=atime,delete=ctime -cf "$t" .
	DIFFS+=("sha256:$(sha "$t")")
	if [ "$GZ" = 1 ]; then
		gzip -n -1 "$t"
		t=$t.gz
	fi
	d=$(sha "$t")
	mv "$t" "$W/oci/blobs/sha256/$d"
	LAYERS+=("$d")
}

L1=$W/l1
mkdir -p "$L1"/{bin,etc,tmp,proc,sys,dev,root,srv/opq}
chmod 1777 "$L1/tmp"
cp "$BUSYBOX" "$L1/bin/busybox"
for a in $("$BUSYBOX" --list); do [ -e "$L1/bin/$a" ] || ln -s busybox "$L1/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$L1/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$L1/etc/group"
echo "deleted by layer 2" >"$L1/etc/berth-gone"
echo a >"$L1/srv/opq/a"
echo b >"$L1/srv/opq/b"
echo keep >"$L1/srv/keep"
add_layer "$L1"

L2=$W/l2
mkdir -p "$L2/etc" "$L2/srv/opq"
: >"$L2/etc/.wh.berth-gone"
: >"$L2/srv/opq/.wh..wh..opq"
echo c >"$L2/srv/opq/c"
echo "from layer 2" >"$L2/etc/berth-layer2"
add_layer "$L2"

if [ "$BIG" -gt 0 ]; then
	per=$((BIG * 1024 * 1024 / 2 / FILES)) # bytes per file
	for n in 3 4; do
		L=$W/l$n
		mkdir -p "$L/data$n"
		# one random stream cut into FILES files, 100 per directory
		head -c $((per * FILES)) /dev/urandom | (
			cd "$L/data$n"
			i=0
			while [ $i -lt "$FILES" ]; do
				[ $((i % 100)) -eq 0 ] && mkdir -p "d$((i / 100))"
				head -c "$per" >"d$((i / 100))/f$i"
				i=$((i + 1))
			done
		)
		add_layer "$L"
		rm -rf "$L"
	done
fi

mt=application/vnd.oci.image.layer.v1.tar
[ "$GZ" = 1 ] && mt=$mt+gzip
diffs=$(printf '%s\n' "${DIFFS[@]}" | jq -R . | jq -sc .)
jq -nc --argjson d "$diffs" --argjson cmd "$CMD" '{
	architecture: "amd64", os: "linux",
	config: { Env: ["PATH=/bin"], Cmd: $cmd, WorkingDir: "/" },
	rootfs: { type: "layers", diff_ids: $d },
	history: [$d[] | { created_by: "mk-oci-image.sh" }]
}' >"$W/config.json"
cfg=$(sha "$W/config.json")
csize=$(size "$W/config.json")
mv "$W/config.json" "$W/oci/blobs/sha256/$cfg"
layers=$(for l in "${LAYERS[@]}"; do
	jq -nc --arg mt "$mt" --arg d "sha256:$l" --argjson s "$(size "$W/oci/blobs/sha256/$l")" \
		'{mediaType: $mt, digest: $d, size: $s}'
done | jq -sc .)
jq -nc --arg c "sha256:$cfg" --argjson cs "$csize" --argjson l "$layers" '{
	schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
	config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs },
	layers: $l
}' >"$W/manifest.json"
man=$(sha "$W/manifest.json")
msize=$(size "$W/manifest.json")
mv "$W/manifest.json" "$W/oci/blobs/sha256/$man"
jq -nc --arg m "sha256:$man" --argjson s "$msize" --arg name "$NAME" '{
	schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
	manifests: [{
		mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $s,
		platform: { architecture: "amd64", os: "linux" },
		annotations: { "io.containerd.image.name": $name,
			"org.opencontainers.image.ref.name": ($name | sub(".*:"; "")) }
	}]
}' >"$W/oci/index.json"
tar -C "$W/oci" --sort=name --numeric-owner --owner=0 --group=0 -cf "$OUT" .
