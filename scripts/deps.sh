#!/bin/bash
# Install what berth needs on Debian 12, only what is missing.
#   scripts/deps.sh build   - compilers and -dev libraries
#   scripts/deps.sh demo    - build + what the demo runs
#   scripts/deps.sh test    - build + demo + everything the test tiers use (default)
set -euo pipefail

BUILD_PKGS="gcc make pkg-config libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev
	libjansson-dev libdevmapper-dev libarchive-dev libbtrfsutil-dev nettle-dev libsystemd-dev
	libgrpc-dev libprotobuf-c-dev protobuf-c-compiler golang-github-containerd-containerd-dev
	libsqlite3-dev"
DEMO_PKGS="iproute2 iputils-ping nftables jq busybox-static"
TEST_PKGS="perl dnsmasq-base containernetworking-plugins qemu-system-x86 dmsetup thin-provisioning-tools
	e2fsprogs xfsprogs clang llvm libclang-rt-14-dev valgrind socat tar coreutils kmod
	podman crun graphviz iptables cppcheck clang-tidy util-linux iperf3 firewalld dbus-daemon sqlite3 containerd runc
	btrfs-progs attr acl golang-github-containernetworking-plugin-dnsname systemd"

what=${1:-test}
case $what in
build) pkgs=$BUILD_PKGS ;;
demo) pkgs="$BUILD_PKGS $DEMO_PKGS" ;;
test) pkgs="$BUILD_PKGS $DEMO_PKGS $TEST_PKGS" ;;
*) echo "usage: $0 [build|demo|test]" >&2; exit 2 ;;
esac

missing=()
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run as root (or install them)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# firewalld is a test tool here (tests/integration/55-firewalld.sh runs it in a netns of its
# own): on a host run by systemd its package would also start it on the host and enable it.
if [[ " ${missing[*]} " == *" firewalld "* ]] && [ -d /run/systemd/system ]; then
	systemctl mask firewalld.service >&2 || true
fi
apt-get update -qq >&2
# qemu without recommends keeps the install small; the rest as usual.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
