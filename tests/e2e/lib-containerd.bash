# shellcheck shell=bash
# A private containerd for the e2e tests: its own root, state dir, socket and config under $D,
# never /run/containerd/containerd.sock or /var/lib/containerd.  containerd, its shims, runc and
# every ctr call live in one "holder": a process in the test's host netns $H with a private mount
# namespace where
#   - /sys/fs/cgroup is made cgroup v1 only (the unified mount of this machine's hybrid is
#     unmounted, as the crun and podman tests do; runc cannot run on the hybrid),
#   - /etc/cni/net.d is the test's conf dir and /usr/lib/cni (and /opt/cni/bin where it exists)
#     the plugin dir: `ctr run --cni` takes neither from a flag or the config (containerd 1.6's
#     cmd/ctr/commands/run/run.go: gocni.New(WithPluginDir([/opt/cni/bin, /usr/lib/cni]),
#     WithDefaultConf), i.e. the first conflist of /etc/cni/net.d),
#   - /run/containerd is a tmpfs (the shims' sockets, /run/containerd/s/<hash>, and ctr's
#     fifos are created there whatever the config says).
# Needs core_setup (lib-core.bash) first.  Call ctrd_start [CONFIG-EXTRA-TOML] and ctr_run_bg
# directly, never inside `check` or $(...): they start background processes and set variables.
CTR_NS=berth-e2e

ctrd_have() {
	local t
	for t in containerd ctr runc containerd-shim-runc-v2; do
		command -v "$t" >/dev/null || PATH=$PATH:/usr/sbin command -v "$t" >/dev/null || return 1
	done
}

# ctrd_holder: start the holder (see above); $HOLDER is its pid.
ctrd_holder() {
	local i
	CT=$D/ctrd
	mkdir -p "$CT/root" "$CT/state" "$CT/opt" "$CT/net.d"
	# The mount points must exist on the host; create what is missing, remove it at exit.
	for i in /etc/cni/net.d /run/containerd; do
		if [ ! -d "$i" ]; then
			mkdir -p "$i"
			defer "rmdir $i 2>/dev/null; rmdir ${i%/*} 2>/dev/null"
		fi
	done
	nsenter --net="/run/netns/$H" unshare -m --propagation private sh -c '
		CT=$0 BIN=$1
		mount --make-rprivate /sys/fs/cgroup 2>/dev/null
		umount /sys/fs/cgroup/unified 2>/dev/null
		mount --bind "$CT/net.d" /etc/cni/net.d || exit 1
		if [ -d "$BIN" ]; then # (no plugins: a test without CNI, the dm VM)
			mount --bind "$BIN" /usr/lib/cni 2>/dev/null || { mkdir -p /usr/lib/cni && mount --bind "$BIN" /usr/lib/cni; } || exit 1
			[ ! -d /opt/cni/bin ] || mount --bind "$BIN" /opt/cni/bin || exit 1
		fi
		mount -t tmpfs -o mode=0711 tmpfs /run/containerd || exit 1
		echo ready >"$CT/holder-ready"
		exec sleep infinity' "$CT" "${CTRD_CNI_BIN:-$CNI_BIN}" </dev/null >/dev/null 2>"$CT/holder.err" &
	HOLDER=$!
	defer "kill $HOLDER"
	for ((i = 0; i < 200; i++)); do
		[ -e "$CT/holder-ready" ] && return 0
		kill -0 "$HOLDER" 2>/dev/null || break
		sleep 0.05
	done
	echo "Bail out! the containerd holder namespace did not come up: $(tr '\n' ' ' <"$CT/holder.err")"
	exit 1
}

# in_ns COMMAND...: run in the holder's mount and network namespaces.
in_ns() { nsenter -t "$HOLDER" -m -n "$@"; }

# ctr ARGS...: containerd's ctr against our containerd, namespace $CTR_NS.
ctr() { in_ns env BERTH_NFT_STATE_DIR="${BERTH_NFT_STATE_DIR:-}" BERTH_LOG_LEVEL="${BERTH_LOG_LEVEL:-warn}" \
	/usr/bin/ctr --address "$CT/containerd.sock" --namespace "$CTR_NS" "$@"; }

# ctrd_config EXTRA-TOML: write $CT/config.toml
ctrd_config() {
	cat >"$CT/config.toml" <<TOML
version = 2
root = "$CT/root"
state = "$CT/state"
disabled_plugins = [$([ -n "${CTRD_CRI:-}" ] || printf '"io.containerd.grpc.v1.cri", ')"io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CT/containerd.sock"
[ttrpc]
  address = "$CT/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "${CTRD_LOG_LEVEL:-info}"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CT/opt"
${1:-}
TOML
}

# ctrd_start [EXTRA-TOML]: holder, config, containerd; waits until it answers.
ctrd_start() {
	local i
	[ -n "${HOLDER:-}" ] || ctrd_holder
	ctrd_config "${1:-}"
	# nsenter, not in_ns: $! must be containerd's pid, not a subshell's
	nsenter -t "$HOLDER" -m -n containerd --config "$CT/config.toml" </dev/null >>"$CT/containerd.log" 2>&1 &
	CTRD_PID=$!
	defer "ctrd_stop"
	for ((i = 0; i < 200; i++)); do
		ctr version >/dev/null 2>&1 && return 0
		kill -0 "$CTRD_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# containerd did not start:"
	tail -20 "$CT/containerd.log" | sed 's/^/#   /'
	return 1
}

# ctrd_pids: containerd, its shims and ctr calls (their command lines name $CT/config.toml or
# our socket), by pid.
ctrd_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != "$BASHPID" ] || continue
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qE -- "$CT/(config.toml|containerd.sock)" && echo "${p#/proc/}"
	done
}

# ctrd_stop: SIGTERM containerd (and any shim of ours left), wait for them.
ctrd_stop() {
	local i pids
	[ -n "${CTRD_PID:-}" ] || return 0
	pids=$(ctrd_pids)
	[ -z "$pids" ] || kill $pids 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		[ -z "$(ctrd_pids)" ] && break
		sleep 0.05
	done
	pids=$(ctrd_pids)
	[ -z "$pids" ] || kill -9 $pids 2>/dev/null
	kill -0 "$CTRD_PID" 2>/dev/null || wait "$CTRD_PID" 2>/dev/null
	CTRD_PID=
}

# ctr_run_bg NAME SNAPSHOTTER IMAGE [CTR-RUN-OPTIONS...]: `ctr run --cni --rm` in the background
# (CTR_RM= leaves out --rm)
# (not detached: only a foreground ctr run tears the network down, at the task's exit) of a
# container that waits for SIGTERM; returns when its task runs (the CNI ADD came before).
ctr_run_bg() {
	local name=$1 snap=$2 image=$3 i; shift 3
	ctr run --cni ${CTR_RM---rm} --snapshotter "$snap" "$@" "$image" "$name" \
		/bin/sh -c 'trap "exit 0" TERM; while :; do sleep 0.2; done' </dev/null >"$D/$name.out" 2>&1 &
	eval "RUNPID_$name=$!"
	for ((i = 0; i < 300; i++)); do
		[ "$(ctr task ls 2>/dev/null | awk -v n="$name" '$1 == n {print $3}')" = RUNNING ] && return 0
		kill -0 "$(eval echo "\$RUNPID_$name")" 2>/dev/null || break
		sleep 0.05
	done
	cat "$D/$name.out"
	return 1
}

# ctr_stop_bg NAME: SIGTERM the task, wait for the foreground ctr run (DEL, task and container
# removal with --rm); its exit status is ctr's.
ctr_stop_bg() {
	local pid
	pid=$(eval echo "\${RUNPID_$1:-}")
	[ -n "$pid" ] || return 1
	ctr task kill -s TERM "$1" >/dev/null 2>&1
	wait "$pid"
	local rc=$?
	[ $rc -eq 0 ] || cat "$D/$1.out"
	return $rc
}

# ctr_ip NAME: eth0's IPv4 address inside the container
ctr_ip() { cexec "$1" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1; }

# cexec NAME CMD...: run in the container (CMD without a / is taken from /bin: a spec made
# without an image config has no PATH)
cexec() {
	local n=$1 c=$2; shift 2
	case $c in /*) ;; *) c=/bin/$c ;; esac
	ctr task exec --exec-id x$RANDOM "$n" "$c" "$@"
}

# snapd_start / snapd_stop: berth-snapshotter ($SNAPD) in the holder's namespaces, serving
# $SOCK with the storage config $SR/storage.json, its log in $SR/daemon.log; $SNAPD_PID.
snapd_start() {
	local i
	# (nsenter itself, not the in_ns function: a function in the background is a subshell, and
	# $! would be that subshell's pid, not the daemon's)
	nsenter -t "$HOLDER" -m -n env BERTH_STORAGE_PATH="$STOR_BIN" "$SNAPD" --address "$SOCK" \
		--storage-config "$SR/storage.json" --log-level "${SNAPD_LOG_LEVEL:-info}" \
		</dev/null >>"$SR/daemon.log" 2>&1 &
	SNAPD_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$SNAPD_PID" 2>/dev/null || break
		sleep 0.05
	done
	tail -5 "$SR/daemon.log" | sed 's/^/#   /'
	return 1
}
snapd_stop() {
	local i
	[ -n "${SNAPD_PID:-}" ] || return 0
	kill -TERM "$SNAPD_PID" 2>/dev/null
	for ((i = 0; i < 200; i++)); do kill -0 "$SNAPD_PID" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$SNAPD_PID" 2>/dev/null && { kill -9 "$SNAPD_PID"; wait "$SNAPD_PID"; echo "SIGKILLed"; }
	wait "$SNAPD_PID"
	local rc=$?
	SNAPD_PID=
	[ $rc -eq 0 ] || { echo "exit status $rc"; tail -3 "$SR/daemon.log"; }
	return $rc
}
