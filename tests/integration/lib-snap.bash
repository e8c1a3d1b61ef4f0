# shellcheck shell=bash
# Helpers of the berth-snapshotter tests (65-68): a daemon of our own on a temporary root and
# socket, in the test's private mount namespace, and the snap-client helper to call it.
#   snap_start [DAEMON ARGS]   start (driver overlay unless SNAP_DRIVER), wait for the socket
#   snap_stop                  SIGTERM, wait
#   sc CMD ARGS...             call; sets OUT (JSON) and RC (gRPC code)
#   expect_code WANT DESC      after sc
#   mnt KEY DIR                Mounts KEY and mounts the specs on DIR (as containerd does)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# every mount of the test (and of the daemon's drivers) stays in a namespace of its own
if [ -z "${SNAP_TEST_NS:-}" ]; then
	SNAP_TEST_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

SNAP_BIN=${SNAP_BIN:-$BERTH_BUILD/bin/berth-snapshotter}
SC=$BERTH_BUILD/tests/helpers/snap-client
TREE=$BERTH_BUILD/tests/helpers/stor-tree
need_root
[ -x "$SNAP_BIN" ] || skip_all "berth-snapshotter not built ($SNAP_BIN)"
[ -x "$SC" ] || skip_all "snap-client not built"
command -v jq >/dev/null || skip_all "jq not installed"

W=$(mktemp -d /tmp/snap-test.XXXXXX)
SOCK=$W/sock/berth.sock
SNAP_DRIVER=${SNAP_DRIVER:-overlay}
printf '{"driver":"%s","root":"%s/storage","runRoot":"%s/run"}\n' "$SNAP_DRIVER" "$W" "$W" \
	>"$W/storage.json"
DROOT=$W/storage/containerd/$SNAP_DRIVER
SNAP_PID=

snap_start() {
	BERTH_STORAGE_PATH=${SNAP_DRIVER_PATH:-$STOR_BIN} BERTH_LOG_LEVEL=${BERTH_LOG_LEVEL:-info} "$SNAP_BIN" \
		--address "$SOCK" --storage-config "$W/storage.json" "$@" >>"$W/daemon.log" 2>&1 &
	SNAP_PID=$!
	# serving, not just a socket file (a killed daemon leaves its socket behind)
	for _i in $(seq 1 100); do
		[ -S "$SOCK" ] && SNAP_CLIENT_TIMEOUT=2 "$SC" "$SOCK" list >/dev/null 2>&1 && return 0
		kill -0 "$SNAP_PID" 2>/dev/null || break
		sleep 0.1
	done
	diag "daemon did not start: $(tail -5 "$W/daemon.log")"
	return 1
}
snap_stop() {
	[ -n "$SNAP_PID" ] || return 0
	kill -TERM "$SNAP_PID" 2>/dev/null
	wait "$SNAP_PID" 2>/dev/null
	SNAP_RC=$?
	SNAP_PID=
}
# drv VERB [ARGS_JSON]: the driver directly, on the daemon's store (to read state back)
drv() {
	printf '{"driver":"%s","root":"%s","runRoot":"%s/run/containerd/%s","args":%s}' \
		"$SNAP_DRIVER" "$DROOT" "$W" "$SNAP_DRIVER" "${2:-{\}}" |
		STOR_COMMAND=$1 "$STOR_BIN/$SNAP_DRIVER" 2>/dev/null
}
_snap_cleanup() {
	[ -n "$SNAP_PID" ] && kill -KILL "$SNAP_PID" 2>/dev/null && wait "$SNAP_PID" 2>/dev/null
	grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	drv CLEANUP >/dev/null
	rm -rf "$W"
}
defer _snap_cleanup

sc() { OUT=$("$SC" "$SOCK" "$@" 2>&1); RC=$?; }
expect_code() {
	is "$RC" "$1" "$2"
	[ "$RC" = "$1" ] || diag "$(head -c 600 <<<"$OUT")"
}
msg() { jq -r '.message // ""' <<<"$OUT"; }
mnt() { # mnt KEY DIR
	sc mounts "$1"
	mkdir -p "$2"
	[ "$RC" = 0 ] && printf '%s' "$OUT" | "$TREE" mount-specs "$2"
}
# ids of the driver's layers, one a line
layers() { drv LIST | jq -r '.ids[]' | sort; }
