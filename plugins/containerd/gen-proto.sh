#!/bin/sh
# Generate the protobuf-c code of containerd's snapshots API from the .proto files Debian ships
# (golang-github-containerd-containerd-dev, and the well-known types of
# golang-github-gogo-protobuf-dev or libprotobuf-dev).  Run by the build (mk/containerd.mk);
# nothing generated is committed.
#
#   gen-proto.sh OUTDIR
#
# The gogoproto annotations (Go code generation options) are dropped from the copies: protoc-c
# does not need them and gogo.proto would drag in descriptor.proto.  Nothing else changes, so
# the wire format is containerd's own.
#   CONTAINERD_PROTO_ROOT  the directory holding github.com/containerd/containerd (default
#                          /usr/share/gocode/src)
#   PROTOC_C               the compiler (default protoc-c)
set -eu
OUT=${1:?usage: gen-proto.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SRC=${CONTAINERD_PROTO_ROOT:-/usr/share/gocode/src}
PROTOC_C=${PROTOC_C:-protoc-c}
API=github.com/containerd/containerd/api
WKT=
for d in "$SRC/github.com/gogo/protobuf/protobuf" /usr/include; do
	if [ -f "$d/google/protobuf/timestamp.proto" ]; then WKT=$d; break; fi
done
for f in "$SRC/$API/services/snapshots/v1/snapshots.proto" "$SRC/$API/types/mount.proto"; do
	[ -f "$f" ] || { echo "gen-proto.sh: $f missing (apt install golang-github-containerd-containerd-dev)" >&2; exit 1; }
done
[ -n "$WKT" ] || { echo "gen-proto.sh: google/protobuf/*.proto not found (golang-github-gogo-protobuf-dev or libprotobuf-dev)" >&2; exit 1; }
command -v "$PROTOC_C" >/dev/null || { echo "gen-proto.sh: $PROTOC_C not found (apt install protobuf-c-compiler)" >&2; exit 1; }

TMP=$OUT/proto
rm -rf "$TMP"
mkdir -p "$TMP/$API/services/snapshots/v1" "$TMP/$API/types" "$TMP/google/protobuf"
# strip: the gogoproto import, file/enum options, and [(gogoproto....) = ...] field options
strip() {
	sed -e '/import weak "gogoproto\/gogo.proto";/d' \
	    -e '/option (gogoproto\.[a-z_]*) = .*;/d' \
	    -e 's/ *\[(gogoproto\.[^]]*\]//' "$1" >"$2"
}
strip "$SRC/$API/services/snapshots/v1/snapshots.proto" "$TMP/$API/services/snapshots/v1/snapshots.proto"
strip "$SRC/$API/types/mount.proto" "$TMP/$API/types/mount.proto"
for p in empty field_mask timestamp; do
	cp "$WKT/google/protobuf/$p.proto" "$TMP/google/protobuf/$p.proto"
done
if grep -n gogoproto "$TMP/$API/services/snapshots/v1/snapshots.proto" "$TMP/$API/types/mount.proto" >&2; then
	echo "gen-proto.sh: gogoproto annotations left after stripping (a new proto layout?)" >&2
	exit 1
fi
cd "$TMP"
"$PROTOC_C" --c_out="$OUT" -I. "$API/services/snapshots/v1/snapshots.proto" "$API/types/mount.proto" \
	google/protobuf/empty.proto google/protobuf/field_mask.proto google/protobuf/timestamp.proto
