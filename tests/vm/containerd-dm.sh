#!/bin/bash
# Runs INSIDE the dm-vm (tests/vm/dm-vm.sh): tests/e2e/containerd.sh with berth-snapshotter on
# the devicemapper driver (a thin pool on the brd ramdisks /dev/ram0 (metadata), /dev/ram1
# (data)).  The VM boots with no cgroup file system: runc needs one, so cgroup2 is mounted on
# /sys/fs/cgroup first.  No CNI here (the VM loads no bridge/veth/nftables modules): the
# containers use the host network (`ctr run --net-host`); tests/e2e/containerd-cni.sh and the
# overlay run of containerd.sh cover the network on the host.  The VM's root is its initramfs,
# out of which runc cannot pivot_root: the containers run with --no-pivot.
set -u
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup || echo "# cannot mount cgroup2"
mkdir -p /run/netns /var/lib/cni /etc/cni/net.d
# runc bind-mounts the host's /etc/hosts and /etc/resolv.conf into a --net-host container
[ -e /etc/hosts ] || printf '127.0.0.1 localhost\n' >/etc/hosts
[ -e /etc/resolv.conf ] || : >/etc/resolv.conf
export E2E_DRIVER=devicemapper E2E_NO_CNI=1 E2E_LITE=1 E2E_NO_PIVOT=1
export E2E_DM_OPTIONS='{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"64M","require_udev_sync":false}'
exec bash "$BERTH_SRC/tests/e2e/containerd.sh"
