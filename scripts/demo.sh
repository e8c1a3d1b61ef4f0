#!/bin/bash
# The demo: two throwaway "containers" on the embedded default network and storage.
#   - installs what is missing and builds;
#   - imports a tiny busybox image as two layers (the second deletes a file), creates two
#     container rootfs with the auto-selected storage driver;
#   - attaches two network namespaces to the embedded "berth" network (bridge + host-local +
#     portmap + firewall + loopback), with a published port;
#   - runs commands in them (chroot inside their netns): interfaces, routes, ping the gateway
#     and each other, a TCP connection through the published port;
#   - shows `berth inspect` (tree, and DOT/SVG when graphviz is there), then tears it all down.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
scripts/deps.sh demo
make -j"$(nproc)" >/dev/null

BERTH=(build/bin/berth)   # finds the plugins and drivers beside it (build/cni, build/storage)
tag=$(printf '%04x' $((RANDOM)))
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
ns1=berth-demo1-$tag ns2=berth-demo2-$tag
c1=demo1-$tag c2=demo2-$tag img=busybox-demo-$tag
# What the demo creates on the host beyond its containers (the bridge, our nft tables) is
# removed at the end unless it was there before.
had_bridge=$(ip link show berth0 >/dev/null 2>&1 && echo 1 || true)
had_tables=$(nft list tables 2>/dev/null | awk '$3 == "berth" {print $2}' | tr '\n' ' ')
had_store=$([ -e /var/lib/berth ] && echo 1 || true)
had_run=$([ -e /run/berth ] && echo 1 || true)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
	set +e
	for c in "$c1" "$c2"; do
		"${BERTH[@]}" net del berth --container "$c" --netns "/run/netns/${c/demo/berth-demo}" >/dev/null 2>&1
		"${BERTH[@]}" storage rm --force "$c" >/dev/null 2>&1
	done
	"${BERTH[@]}" storage rmi "$img" >/dev/null 2>&1
	ip netns del "$ns1" 2>/dev/null; ip netns del "$ns2" 2>/dev/null
	kill "${srv:-}" 2>/dev/null
	[ -n "$had_bridge" ] || ip link del berth0 2>/dev/null
	for f in inet ip ip6 bridge; do
		[[ " $had_tables " == *" $f "* ]] || nft delete table "$f" berth 2>/dev/null
	done
	# The overlay driver keeps its root a private bind mount (so that container mounts never
	# propagate); a demo that created the store removes it all again.
	if [ -z "$had_store" ]; then
		umount /var/lib/berth/storage/overlay 2>/dev/null
		rm -rf /var/lib/berth
	fi
	[ -n "$had_run" ] || rm -rf /run/berth
	rm -rf "$work"
}
trap cleanup EXIT

step "a tiny image: busybox-static as two layers (the second deletes /etc/motd)"
bb=$(command -v busybox)
mkdir -p "$work/l1/bin" "$work/l1/etc" "$work/l1/tmp" "$work/l2/etc"
cp "$bb" "$work/l1/bin/busybox"
for a in sh ls cat ip ping echo nc hostname wc; do ln -s busybox "$work/l1/bin/$a"; done
echo "welcome to berth" >"$work/l1/etc/motd"
echo "berth demo image" >"$work/l2/etc/issue"
: >"$work/l2/etc/.wh.motd"          # OCI whiteout: layer 2 deletes /etc/motd
tar -C "$work/l1" --numeric-owner -cf "$work/layer1.tar" .
tar -C "$work/l2" --numeric-owner -cf "$work/layer2.tar" .
run "${BERTH[@]}" storage info
run "${BERTH[@]}" storage import --name "$img" "$work/layer1.tar" "$work/layer2.tar"

step "two container root filesystems on the image"
run "${BERTH[@]}" storage create "$img" --name "$c1"
run "${BERTH[@]}" storage create "$img" --name "$c2"
root1=$("${BERTH[@]}" storage mount "$c1")
root2=$("${BERTH[@]}" storage mount "$c2")
echo "rootfs of $c1: $root1"
echo "rootfs of $c2: $root2"

step "two network namespaces on the embedded default network \"berth\""
ip netns add "$ns1"
ip netns add "$ns2"
run "${BERTH[@]}" net show berth
run "${BERTH[@]}" net add berth --container "$c1" --netns "/run/netns/$ns1" --publish 127.0.0.1:18480:8080/tcp
run "${BERTH[@]}" net add berth --container "$c2" --netns "/run/netns/$ns2"
ip2=$(ip -n "$ns2" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
gw=$(ip -n "$ns1" -4 route show default | awk '{print $3}')

step "inside $c1 (chroot into its rootfs, in its netns)"
in1() { ip netns exec "$ns1" chroot "$root1" "$@"; }
run in1 /bin/cat /etc/issue
printf '$ cat /etc/motd   (deleted by layer 2)\n'; in1 /bin/cat /etc/motd 2>&1 || true
run in1 /bin/ip addr show eth0
run in1 /bin/ip route
run in1 /bin/ping -c 2 "$gw"
run in1 /bin/ping -c 2 "$ip2"
ip1=$(ip -n "$ns1" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)

step "inside $c2 (its own rootfs and netns)"
in2() { ip netns exec "$ns2" chroot "$root2" "$@"; }
run in2 /bin/ls /etc
run in2 /bin/ip -4 addr show eth0
run in2 /bin/ping -c 2 "$ip1"

step "a published port: 127.0.0.1:18480 on the host -> $c1:8080"
ip netns exec "$ns1" chroot "$root1" /bin/sh -c 'echo "hello from demo1" | nc -l -p 8080' &
srv=$!
sleep 0.5
printf '$ nc 127.0.0.1 18480\n'
reply=$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/18480; cat <&3' || true)
echo "$reply"
wait "$srv" 2>/dev/null || true

step "what the containers are made of"
for c in "$c1" "$c2"; do
	run "${BERTH[@]}" inspect "$c"
	if command -v dot >/dev/null; then
		"${BERTH[@]}" inspect "$c" --dot >"$work/$c.dot"
		dot -Tsvg "$work/$c.dot" -o "/tmp/berth-demo-$c.svg" && echo "graph: /tmp/berth-demo-$c.svg"
	fi
done

step "tear down"
run "${BERTH[@]}" net del berth --container "$c1" --netns "/run/netns/$ns1"
run "${BERTH[@]}" net del berth --container "$c2" --netns "/run/netns/$ns2"
run "${BERTH[@]}" storage rm --force "$c1"
run "${BERTH[@]}" storage rm --force "$c2"
run "${BERTH[@]}" storage rmi "$img"
[ "$reply" = "hello from demo1" ] || { echo "demo: the published port did not answer" >&2; exit 1; }
echo "demo: done"
