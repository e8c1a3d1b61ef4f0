#!/bin/bash
# The include graph points downwards only (README "Layout"): common <- net, storage <- core <- cli,
# and the plugins take net, storage and common but never the core.  Also: no #include of a .c
# file, no include that climbs out of its folder with ../ (tests excepted), and common/ names
# neither CNI nor the storage protocol.  Prints every violation; exits 1 when there is one.
cd "$(dirname "$0")/.."
fail=0
bad() { echo "layout: $*"; fail=1; }

layer_of_header() {
	case $1 in
	error | log | json | file | fs | exec | fault | cleanup) echo common ;;
	cni | cniargs | cni-skel | netns | nl | link | addr | route | sysctl | ip | nft | ipam | qdisc | rule | vrf | firewalld | sublink | subif | iface | tun | dummy) echo net ;;
	storage-proto | storage-skel | storage-client | storage-select | archive | overlay | dm | fulltree | btrfs | vfs) echo storage ;;
	netconf | chain | cache | store) echo core ;;
	*) echo unknown ;;
	esac
}
# may a file of layer $1 include a header of layer $2?
allowed() {
	case $1:$2 in
	*:common) return 0 ;;
	net:net | storage:storage) return 0 ;;
	core:net | core:storage | core:core) return 0 ;;
	cli:*) return 0 ;;
	plugin:net | plugin:storage) return 0 ;;
	esac
	return 1
}

while IFS= read -r f; do
	case $f in
	common/*) layer=common ;;
	net/*) layer=net ;;
	storage/*) layer=storage ;;
	core/cli/*) layer=cli ;;
	core/*) layer=core ;;
	plugins/*) layer=plugin ;;
	include/berth/*) layer=$(layer_of_header "$(basename "$f" .h)") ;;
	*) continue ;;
	esac
	while IFS= read -r inc; do
		case $inc in
		*.c) bad "$f includes a .c file: $inc" ;;
		../*) bad "$f climbs out of its folder: $inc" ;;
		berth/*)
			h=$(basename "$inc" .h)
			hl=$(layer_of_header "$h")
			[ "$hl" = unknown ] && bad "$f includes $inc, which is no module's header"
			allowed "$layer" "$hl" || bad "$f ($layer) includes $inc ($hl)"
			;;
		esac
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done < <(git ls-files 'common/*' 'net/*' 'storage/*' 'core/*' 'plugins/*' 'include/berth/*' | grep '\.[ch]$')

# tests may reach private headers, never .c files
while IFS= read -r f; do
	if grep -q '^#include "[^"]*\.c"' "$f"; then
		bad "$f includes a .c file: $(grep '^#include "[^"]*\.c"' "$f")"
	fi
done < <(git ls-files 'tests/*.c')

# common/ and its headers know neither protocol
for h in error log json file fs exec fault cleanup; do echo "include/berth/$h.h"; done |
	cat - <(git ls-files 'common/*') |
	xargs grep -n 'berth_cni_\|BERTH_CNI_\|berth_stor_\|BERTH_STOR_\|cni-skel\|storage-' \
	>/tmp/check-layout.$$ && { sed 's/^/layout: common names a protocol: /' /tmp/check-layout.$$; fail=1; }
rm -f /tmp/check-layout.$$

exit $fail
