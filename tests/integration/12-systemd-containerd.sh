#!/bin/bash
# sanitize: no (it installs the plain build; nothing in it runs under the sanitizers)
# docs/containerd.md's setup, line by line, under a real systemd: Debian's systemd as PID 1 of a
# container of its own (pid, mount, net, uts, ipc and cgroup namespaces) whose root is an overlay
# of this host's / with a tmpfs on top, so nothing it writes reaches the host:
#   1. `make install` (into that root, run from here: the same files at the same paths);
#   2. `systemctl enable --now berth-snapshotter`: active, the socket 0600 in a 0700
#      RuntimeDirectory, its log line in the journal;
#   3. the snippet appended to Debian's /etc/containerd/config.toml;
#   4. `systemctl restart containerd` (Debian's unit): containerd loads the proxy snapshotter;
#   5. an image (built offline, as the pull would fetch it) unpacked with `--snapshotter berth`,
#      and `ctr run --snapshotter berth --rm` of it: the container sees its layers;
# then `systemctl stop berth-snapshotter` takes containerd down with it (RequiredBy), the daemon
# exits 0 and removes its socket, and `systemctl disable` takes the symlinks away.  Last,
# berth-dhcp's socket unit: enabled, a client's connection starts the daemon (Type=notify).
source "$(dirname "$0")/../lib.sh"
need_root
for c in make systemctl containerd ctr runc unshare nsenter setpriv jq python3; do
	command -v "$c" >/dev/null || skip_all "$c not installed (scripts/deps.sh test)"
done
[ -x /lib/systemd/systemd ] || skip_all "no /lib/systemd/systemd (scripts/deps.sh test)"
grep -qw cgroup2 /proc/filesystems || skip_all "no cgroup2 in this kernel"

X=$(mktemp -d /tmp/berth-systemd.XXXXXX)
defer "rm -rf $X"
mkdir "$X/t" "$X/cg" "$X/root"
# the upper layer on a tmpfs: a filesystem apart from the lower, /
mount -t tmpfs -o mode=0755 tmpfs "$X/t" && defer "umount -l $X/t"
mkdir "$X/t/up" "$X/t/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$X/t/up,workdir=$X/t/work" "$X/root"
ok $? "the container's root: an overlay of / with a tmpfs upper"
defer "umount -l $X/root"
R=$X/root

# a cgroup of its own in the (otherwise unused) cgroup2 hierarchy: the container's cgroup root
mount -t cgroup2 cgroup2 "$X/cg" && defer "umount -l $X/cg"
CG=$X/cg/berth-systemd-$T
mkdir "$CG"
# (at exit: the cgroups systemd made under it, deepest first, once its processes are gone)
defer "find $CG -depth -type d -exec rmdir {} + 2>/dev/null"

# 1. make install, into the container's root (its upper layer)
make -s -C "$BERTH_SRC" BUILD="$BERTH_BUILD" install DESTDIR="$R" >"$X/install.log" 2>&1
ok $? "make install (into the container's root)"

# Nothing of the host's system may start there, and nothing there may touch the host (the
# kernel's global settings, its clock, modules, block devices): in the container's root (the
# upper layer; the host's files stay as they are) no generator (fstab, gpt-auto: no mounts or
# fsck of the host's disks), an empty fstab, and no unit pulled in by any .wants/.requires
# directory (the host's enabled services, sysinit's sysctl, binfmt, modules, udev, timesyncd,
# apparmor...); systemd boots a target of our own that wants only the journal.  Below, /proc/sys
# and /sys are read-only and the bounding set has no SYS_TIME, SYS_MODULE or SYS_RAWIO.
rm -rf "$R"/usr/lib/systemd/system-generators/* "$R"/etc/systemd/system-generators/*
: >"$R/etc/fstab"
find "$R/usr/lib/systemd/system" "$R/etc/systemd/system" -mindepth 1 -maxdepth 1 -type d \
	\( -name '*.wants' -o -name '*.requires' \) -exec rm -rf {} +
cat >"$R/etc/systemd/system/berth-test.target" <<'EOF'
[Unit]
Description=berth test: a system with nothing enabled but the journal
Wants=systemd-journald.socket systemd-journald-dev-log.socket systemd-journald.service
AllowIsolate=yes
EOF
rm -f "$R/etc/machine-id"
: >"$R/etc/machine-id"
cat >"$X/boot.sh" <<'EOF'
#!/bin/sh
# in the new namespaces: into the cgroup, mounts, pivot into the root, exec systemd as PID 1
set -e
R=$1 CG=$2
mount --make-rprivate /
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 tmpfs "$R/dev"
for n in null zero full random urandom tty; do
	touch "$R/dev/$n"
	mount --bind "/dev/$n" "$R/dev/$n"
done
mkdir -p "$R/dev/pts" "$R/dev/shm" "$R/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
for d in run tmp var/lib/containerd var/lib/berth; do
	mkdir -p "$R/$d"
	mount -t tmpfs -o mode=0755 tmpfs "$R/$d"
done
chmod 1777 "$R/tmp"
mkdir -p "$R/.oldroot"
cd "$R"
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
export container=berth-test
exec setpriv --bounding-set -sys_time,-sys_module,-sys_rawio,-sys_boot \
	/lib/systemd/systemd --unit=berth-test.target --log-target=console --show-status=no
EOF
# the cgroup first (from outside the new cgroup namespace), then the namespaces
sh -c 'echo $$ >"$1/cgroup.procs" && exec unshare --pid --fork --mount --net --uts --ipc --cgroup \
	--propagation private sh "$0" "$2" "$1"' "$X/boot.sh" "$CG" "$R" </dev/null >"$X/systemd.log" 2>&1 &
SD=$!
defer "kill -9 $SD 2>/dev/null; for p in \$(cat $CG/cgroup.procs $CG/*/cgroup.procs $CG/*/*/cgroup.procs $CG/*/*/*/cgroup.procs 2>/dev/null); do kill -9 \$p 2>/dev/null; done; sleep 0.5"
# its PID 1, seen from here: the child of unshare
PID1=
for ((i = 0; i < 200; i++)); do
	PID1=$(pgrep -P "$SD" -x systemd || true)
	[ -z "$PID1" ] && PID1=$(pgrep -P "$(pgrep -P "$SD" | head -1)" -x systemd 2>/dev/null || true)
	[ -n "$PID1" ] && break
	sleep 0.05
done
ok "$([ -n "$PID1" ] && echo 0 || echo 1)" "systemd runs as PID 1 of its namespaces (host pid $PID1)"
[ -n "$PID1" ] || { diag "$(tail -20 "$X/systemd.log")"; done_testing; exit 1; }
in_sd() { nsenter -t "$PID1" -a "$@"; }
# (its bus comes up a moment after it starts)
for ((i = 0; i < 600; i++)); do
	state=$(in_sd timeout 120 systemctl is-system-running --wait 2>&1)
	grep -q "Failed to connect to bus" <<<"$state" || break
	sleep 0.1
done
case $state in running | degraded) ok 0 "systemd finished booting ($state)" ;;
*) ok 1 "systemd finished booting ($state)"; diag "$(tail -30 "$X/systemd.log")" ;; esac
[ "$state" = degraded ] && diag "failed units: $(in_sd systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"

# 2. systemctl enable --now berth-snapshotter (logLevel info in its config, so that it says it
# serves; the installed config has warn)
sed -i 's/"logLevel": "warn"/"logLevel": "info"/' "$R/etc/berth/snapshotter.json"
check "systemctl enable --now berth-snapshotter" -- in_sd systemctl enable --now berth-snapshotter
is "$(in_sd systemctl is-active berth-snapshotter)" active "berth-snapshotter is active"
SOCK=/run/berth-snapshotter/berth-snapshotter.sock
for ((i = 0; i < 100; i++)); do in_sd test -S "$SOCK" && break; sleep 0.05; done
is "$(in_sd stat -c '%a %U %F' /run/berth-snapshotter "$SOCK")" "700 root directory
600 root socket" "its socket: 0600 in the unit's 0700 RuntimeDirectory"
for ((i = 0; i < 100; i++)); do in_sd journalctl -q -u berth-snapshotter | grep -q serving && break; sleep 0.1; done
in_sd journalctl -q -u berth-snapshotter -p info -o cat | grep -q "info: serving"
ok $? "its log is in the journal with its priority (journalctl -u berth-snapshotter -p info)"

# 3. the snippet appended to Debian's config.toml; 4. systemctl restart containerd
in_sd sh -c 'cat /usr/local/share/doc/berth/containerd-snippet.toml >>/etc/containerd/config.toml'
ok $? "the snippet appended to /etc/containerd/config.toml"
check "systemctl restart containerd" -- in_sd systemctl restart containerd
is "$(in_sd systemctl is-active containerd)" active "containerd is active"
is "$(in_sd systemctl show -p Requires --value containerd | tr ' ' '\n' | grep -c '^berth-snapshotter.service$')" 1 \
	"containerd requires berth-snapshotter (enable's RequiredBy)"
plugins=$(in_sd ctr plugins ls 2>&1)
grep -Eq 'io\.containerd\.snapshotter\.v1 +berth +- +ok' <<<"$plugins"
ok $? "containerd loaded the proxy snapshotter berth (ctr plugins ls: ok)"
grep -q berth <<<"$plugins" || diag "$plugins"

# 5. an image, unpacked through berth, and a container run on it
bash "$BERTH_SRC/tests/e2e/mk-oci-image.sh" -n localhost/berth-sd:1 -c '["cat","/etc/berth-layer2"]' \
	"$X/image.tar" >"$X/img.log" 2>&1
ok $? "an OCI image built offline"
# (what `ctr images pull --snapshotter berth` does, from a file: fetch, then unpack into berth)
in_sd ctr images import --snapshotter berth --base-name localhost/berth-sd /dev/stdin <"$X/image.tar" >"$X/ctr.log" 2>&1
ok $? "ctr images import --snapshotter berth (unpacks into berth)"
[ -s "$X/ctr.log" ] && diag "$(head -5 "$X/ctr.log")"
n=$(in_sd ctr snapshots --snapshotter berth ls | tail -n +2 | grep -c Committed)
is "$n" 2 "the image's two layers are committed snapshots in berth"
# (--cpu-shares 0: this host binds the cpu controller to cgroup v1, so the container's cgroup2
# has none for runc to write a weight into)
run() { in_sd timeout 120 ctr run --cpu-shares 0 --snapshotter berth --rm localhost/berth-sd:1 "$@" 2>&1; }
out=$(run "t$T")
ok $? "ctr run --snapshotter berth --rm"
is "$out" "from layer 2" "the container reads the file its image's second layer added"
out=$(run "u$T" ls /etc/berth-gone)
grep -q "/etc/berth-gone: No such file or directory" <<<"$out"
ok $? "... and not the one that layer deleted ($(head -c 80 <<<"$out"))"
in_sd ctr images rm --sync localhost/berth-sd:1 >/dev/null
is "$(in_sd ctr snapshots --snapshotter berth ls | tail -n +2 | wc -l)" 0 "the image removed: no snapshot left"

# stop: RequiredBy takes containerd down with it; SIGTERM drains, exit 0, socket gone
check "systemctl stop berth-snapshotter" -- in_sd systemctl stop berth-snapshotter
is "$(in_sd systemctl is-active containerd)" inactive "containerd stopped with it (it requires berth-snapshotter)"
is "$(in_sd systemctl show -p ExecMainStatus --value berth-snapshotter)" 0 "the daemon exited 0 on SIGTERM"
in_sd test -e "$SOCK"
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "its socket is gone"
check "systemctl disable berth-snapshotter" -- in_sd systemctl disable berth-snapshotter
is "$(in_sd find /etc/systemd/system -name 'berth-snapshotter.service' | wc -l)" 0 "disable removed its symlinks"

# berth-dhcp's units, installed by the same make install: socket activation, Type=notify
check "systemctl enable --now berth-dhcp.socket" -- in_sd systemctl enable --now berth-dhcp.socket
DSOCK=/run/berth/dhcp/dhcp.sock
is "$(in_sd stat -c '%a %U %F' /run/berth/dhcp "$DSOCK")" "700 root directory
600 root socket" "the dhcp socket: 0600 in a 0700 directory"
is "$(in_sd systemctl is-active berth-dhcp.service)" inactive "berth-dhcp is not running yet"
in_sd python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()' "$DSOCK"
ok $? "a client connects to the socket"
for ((i = 0; i < 100; i++)); do [ "$(in_sd systemctl is-active berth-dhcp.service)" = active ] && break; sleep 0.1; done
is "$(in_sd systemctl is-active berth-dhcp.service)" active "... which starts berth-dhcp (socket activation; READY=1 reached systemd)"
check "systemctl stop berth-dhcp.socket berth-dhcp.service" -- in_sd systemctl stop berth-dhcp.socket berth-dhcp.service
is "$(in_sd systemctl show -p ExecMainStatus --value berth-dhcp.service)" 0 "berth-dhcp exited 0 on SIGTERM"

done_testing
