# shellcheck shell=bash
# For the podman end-to-end tests (podman.sh, podman-macvlan.sh, podman-dnsname.sh), after
# tests/integration/lib-core.bash and core_setup (which give $D, $H, $T, defer, check).
#
# podman_setup PLUGIN_DIR [NETNS_MODE]: podman 4 on the CNI backend with PLUGIN_DIR as its only
# plugin directory and $D/net.d as its config directory, vfs storage under $D, crun, cgroups
# disabled (this machine's hybrid cgroup v1/v2 hierarchy), `netns = NETNS_MODE` when given.
# Every podman call runs through pod() in one private mount namespace inside netns $H (podman
# bind-mounts its netns files under /run/netns there, and later calls must see them).  Then
# imports a busybox-static image as localhost/bb$T:latest.  Everything goes at the end of the
# test (defer).
podman_setup() {
	local ours=$1 netns=${2:-} r
	cat >"$D/containers.conf" <<TOML
[containers]
cgroups = "disabled"
default_ulimits = ["nofile=1024:1024", "nproc=32768:32768"]
${netns:+netns = \"$netns\"}
[network]
network_backend = "cni"
cni_plugin_dirs = ["$ours"]
network_config_dir = "$D/net.d"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
tmp_dir = "$D/tmp"
TOML
	cat >"$D/storage.conf" <<TOML
[storage]
driver = "vfs"
graphroot = "$D/graph"
runroot = "$D/run"
TOML
	nsenter --net="/run/netns/$H" unshare -m sh -c \
		'mount --make-rprivate /sys/fs/cgroup 2>/dev/null; umount /sys/fs/cgroup/unified 2>/dev/null; exec sleep infinity' &
	HOLDER=$!
	defer "kill $HOLDER"
	for _ in $(seq 100); do
		[ "$(readlink /proc/$HOLDER/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] &&
			! nsenter -t "$HOLDER" -m test -e /sys/fs/cgroup/unified/cgroup.procs && break
		sleep 0.05
	done
	export CONTAINERS_CONF=$D/containers.conf CONTAINERS_STORAGE_CONF=$D/storage.conf
	defer "pod rm -af -t0; pod system reset -f"

	r=$D/rootfs
	mkdir -p "$r/bin" "$r/tmp" "$r/etc"
	cp /bin/busybox "$r/bin/busybox"
	for a in $("$r/bin/busybox" --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
	tar -C "$r" -cf "$D/rootfs.tar" .
	check "podman import busybox" -- pod import "$D/rootfs.tar" "localhost/bb$T:latest"
}
pod() { nsenter -t "$HOLDER" -m -n podman "$@"; }
