#!/bin/bash
# sanitize: no (it installs the plain build; nothing in it runs under the sanitizers)
# `make install` into a DESTDIR, as docs/containerd.md's setup starts, and what the other lines of
# that setup rely on, checked without a running systemd or containerd:
#   - the installed files and their modes (CLI, daemons, plugins, drivers, units, config, snippet);
#   - `systemctl --root enable` of the units (their [Install] sections; offline, no systemd
#     needed), and `systemd-analyze verify` of each unit with its ExecStart pointing at the
#     installed binary (a unit broken on purpose must fail the same check);
#   - Debian's /etc/containerd/config.toml with the snippet appended, as the setup does, read back
#     by containerd itself (`containerd config dump`): the proxy snapshotter named berth, type
#     snapshot, on the socket the installed snapshotter.json and the unit's RuntimeDirectory give;
#   - `make uninstall` takes the files away again.
source "$(dirname "$0")/../lib.sh"
need_root
for c in make systemctl systemd-analyze containerd jq; do
	command -v "$c" >/dev/null || skip_all "$c not installed (scripts/deps.sh test)"
done
X=$(mktemp -d /tmp/berth-install.XXXXXX)
defer "rm -rf $X"
# the build of this run (plain, not the sanitizer's), installed, not rebuilt
make -s -C "$BERTH_SRC" BUILD="$BERTH_BUILD" install DESTDIR="$X" >"$X.log" 2>&1
ok $? "make install DESTDIR=..."
[ -s "$X.log" ] && diag "$(head -5 "$X.log")"
rm -f "$X.log"

P=$X/usr/local
UNITS=$P/lib/systemd/system
modes() { for f in "$@"; do stat -c '%a %n' "$f" 2>&1 | sed "s|$X||"; done; }
is "$(modes "$P/bin/berth" "$P/bin/berth-snapshotter" "$P/bin/berth-dhcp")" \
	"755 /usr/local/bin/berth
755 /usr/local/bin/berth-snapshotter
755 /usr/local/bin/berth-dhcp" "the CLI and the two daemons, 0755"
is "$(modes "$UNITS/berth-snapshotter.service" "$UNITS/berth-dhcp.service" "$UNITS/berth-dhcp.socket")" \
	"644 /usr/local/lib/systemd/system/berth-snapshotter.service
644 /usr/local/lib/systemd/system/berth-dhcp.service
644 /usr/local/lib/systemd/system/berth-dhcp.socket" "the systemd units, 0644"
for p in bridge host-local loopback portmap firewall tuning ptp macvlan ipvlan vlan host-device \
	dummy tap static bandwidth sbr vrf dhcp dnsname; do
	[ -x "$P/libexec/berth/cni/$p" ] || echo "missing CNI plugin $p"
done >"$X/missing"
for d in overlay devicemapper btrfs vfs; do
	[ -x "$P/libexec/berth/storage/$d" ] || echo "missing storage driver $d"
done >>"$X/missing"
is "$(cat "$X/missing")" "" "every CNI plugin and storage driver is installed"
is "$(grep -h '^ExecStart=' "$UNITS/berth-snapshotter.service" "$UNITS/berth-dhcp.service" | cut -d' ' -f1)" \
	"ExecStart=/usr/local/bin/berth-snapshotter
ExecStart=/usr/local/bin/berth-dhcp" "the units start the installed binaries (@BINDIR@ filled in)"

# systemctl enable, offline in the DESTDIR: the symlinks the [Install] sections ask for
check "systemctl --root enable berth-snapshotter.service berth-dhcp.socket" -- \
	systemctl --root="$X" enable berth-snapshotter.service berth-dhcp.socket
is "$(cd "$X/etc/systemd/system" && find . -type l | sort)" \
	"./containerd.service.requires/berth-snapshotter.service
./multi-user.target.wants/berth-snapshotter.service
./sockets.target.wants/berth-dhcp.socket" "enable: before containerd (RequiredBy), multi-user, the dhcp socket"

# systemd-analyze verify: every unit, its ExecStart the installed binary (verify wants it to
# exist and be executable at the path the unit names)
V=$X/verify
mkdir -p "$V"
for u in berth-snapshotter.service berth-dhcp.service berth-dhcp.socket; do
	sed "s|/usr/local/bin/|$P/bin/|" "$UNITS/$u" >"$V/$u"
done
(cd "$V" && systemd-analyze verify "$V/berth-snapshotter.service") >"$X/verify.out" 2>&1
ok $? "systemd-analyze verify berth-snapshotter.service"
[ -s "$X/verify.out" ] && diag "$(cat "$X/verify.out")"
(cd "$V" && systemd-analyze verify "$V/berth-dhcp.socket" "$V/berth-dhcp.service") >"$X/verify.out" 2>&1
ok $? "systemd-analyze verify berth-dhcp.socket berth-dhcp.service"
[ -s "$X/verify.out" ] && diag "$(cat "$X/verify.out")"
sed 's|^ExecStart=|ExecStart=no-such-binary|' "$V/berth-snapshotter.service" >"$V/broken.service"
(cd "$V" && systemd-analyze verify "$V/broken.service") >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "... and the same check refuses a unit whose ExecStart is wrong"

# containerd's config: Debian's, with the snippet appended, as containerd reads it
C=$X/config.toml
cat /etc/containerd/config.toml >"$C" 2>/dev/null
cat "$P/share/doc/berth/containerd-snippet.toml" >>"$C"
dump=$(containerd --config "$C" config dump 2>&1); rc=$?
ok $rc "containerd reads its config with the snippet appended"
[ $rc -eq 0 ] || diag "$dump"
proxy=$(awk '/^\[proxy_plugins\.berth\]/ {on = 1; next} /^\[/ {on = 0} on && NF' <<<"$(sed 's/^ *//' <<<"$dump")")
addr=$(jq -r .address "$X/etc/berth/snapshotter.json")
is "$(sort <<<"$proxy")" "address = \"$addr\"
type = \"snapshot\"" "containerd: proxy plugin berth, type snapshot, on the installed snapshotter.json's socket"
rtdir=$(sed -n 's/^RuntimeDirectory=//p' "$UNITS/berth-snapshotter.service")
is "$(dirname "$addr")" "/run/$rtdir" "that socket is in the directory the unit creates (RuntimeDirectory, 0700)"

check "make uninstall DESTDIR=..." -- make -s -C "$BERTH_SRC" BUILD="$BERTH_BUILD" uninstall DESTDIR="$X"
left=$(cd "$X" && find usr etc -type f 2>/dev/null | grep -v '^etc/systemd/' | sort)
is "$left" "etc/berth/snapshotter.json" "uninstall leaves only the config file (as package managers keep configs)"
done_testing
