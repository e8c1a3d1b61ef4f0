#!/bin/bash
# berth-snapshotter operations and security: the socket is root's alone (0600 in a 0700
# directory), a directory writable by others or owned by someone else is refused, never TCP,
# one daemon per socket and per root, capabilities dropped to what the drivers need, config
# file and command line, journald priorities, SIGTERM drains the running calls, a slow call on
# one snapshot holds up no other, the host's storage config selects the driver.
source "$(dirname "$0")/lib-snap.bash"

# a driver wrapper: the first CREATE asked for while $GATE exists waits until it is removed
# (once it has its request: the daemon keeps a CREATE driver started ahead of the call)
mkdir -p "$W/drivers"
cat >"$W/drivers/overlay" <<EOS
#!/bin/sh
req=\$(cat)
if [ "\$STOR_COMMAND" = CREATE ] && [ -e "\$GATE" ] && mkdir "\$GATE.claim" 2>/dev/null; then
	: >"\$GATE.waiting"
	while [ -e "\$GATE" ]; do sleep 0.05; done
fi
printf '%s' "\$req" | exec "$STOR_BIN/overlay" "\$@"
EOS
chmod +x "$W/drivers/overlay"
export GATE=$W/gate
SNAP_DRIVER_PATH=$W/drivers

# try ARGS...: run the daemon in the foreground expecting it to refuse; OUT = its log
try() { OUT=$(BERTH_STORAGE_PATH=$STOR_BIN timeout 20 "$SNAP_BIN" --storage-config "$W/storage.json" "$@" 2>&1); RC=$?; }

check "--version" -- "$SNAP_BIN" --version
check "--help" -- "$SNAP_BIN" --help

# ---- the socket ---------------------------------------------------------------------------------
snap_start
ok $? "daemon starts"
is "$(stat -c '%a %U' "$SOCK")" "600 root" "the socket is 0600, root's"
is "$(stat -c '%a %U' "$(dirname "$SOCK")")" "700 root" "in a directory it made 0700, root's"
ss -xlp 2>/dev/null | grep -q "$SOCK"
ok $? "it listens on the unix socket"
! ss -ltnp 2>/dev/null | grep -q "pid=$SNAP_PID," && ! ss -lunp 2>/dev/null | grep -q "pid=$SNAP_PID,"
ok $? "and on no TCP or UDP port"

# ---- capabilities ---------------------------------------------------------------------------------
# CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID MKNOD SYS_ADMIN SYS_RESOURCE
keep=$(( (1<<0)|(1<<1)|(1<<2)|(1<<3)|(1<<4)|(1<<27)|(1<<21)|(1<<24) ))
host=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
want=$(printf '%016x' $((keep & host)))
is "$(awk '/^CapBnd/ {print $2}' "/proc/$SNAP_PID/status")" "$want" "bounding set: only what the drivers need"
is "$(awk '/^CapEff/ {print $2}' "/proc/$SNAP_PID/status")" "$want" "effective set the same"
is "$(awk '/^NoNewPrivs/ {print $2}' "/proc/$SNAP_PID/status")" 1 "no_new_privs"
sc prepare caps-a
expect_code 0 "the driver still works with those (Prepare)"
mnt caps-a "$W/m" && mknod "$W/m/dev" c 1 3 && chown 7:7 "$W/m/dev" && umount "$W/m"
sc commit caps caps-a
expect_code 0 "Commit"

# ---- refusals -------------------------------------------------------------------------------------
try --address "$SOCK" --root "$W/other-root"
ok $((RC == 0)) "a second daemon on the same socket is refused"
[[ $OUT == *"another berth-snapshotter serves"* ]]
ok $? "saying another daemon serves it"
try --address "$W/sock2/s.sock"
ok $((RC == 0)) "a second daemon on the same root is refused"
[[ $OUT == *"another berth-snapshotter uses this root"* ]]
ok $? "saying another daemon uses the root"
snap_stop
for a in tcp://127.0.0.1:7777 127.0.0.1:7777 dns:localhost:7777 unix:relative.sock; do
	try --address "$a" --root "$W/r2"
	ok $((RC == 0)) "address $a is refused"
done
[[ $OUT == *"TCP is never served"* ]]
ok $? "saying TCP is never served"
mkdir -p "$W/open" && chmod 0777 "$W/open"
try --address "$W/open/s.sock" --root "$W/r2"
ok $((RC == 0)) "a socket directory writable by others is refused"
[[ $OUT == *"writable by others"* ]]
ok $? "saying so"
[ ! -e "$W/open/s.sock" ]
ok $? "and no socket was made there"
mkdir -p "$W/grp" && chmod 0770 "$W/grp"
try --address "$W/grp/s.sock" --root "$W/r2"
ok $((RC == 0)) "a socket directory writable by its group is refused"
mkdir -p "$W/notmine" && chown 65534 "$W/notmine" && chmod 0700 "$W/notmine"
try --address "$W/notmine/s.sock" --root "$W/r2"
ok $((RC == 0)) "a socket directory owned by another user is refused"
mkdir -p "$W/good" && chmod 0700 "$W/good"
ln -s "$W/good" "$W/link"
try --address "$W/link/s.sock" --root "$W/r2"
ok $((RC == 0)) "a symlinked socket directory is refused"
mkdir -p "$W/file" && chmod 0700 "$W/file" && echo keep >"$W/file/s.sock"
try --address "$W/file/s.sock" --root "$W/r2"
ok $((RC == 0)) "a socket path that is a regular file is refused"
is "$(cat "$W/file/s.sock")" keep "and the file is left alone"

# ---- config ---------------------------------------------------------------------------------------
printf '{"address":"%s","logLevel":"debug","workers":4,"drainTimeout":5,"bogus":1}\n' "$SOCK" >"$W/bad.json"
try --config "$W/bad.json"
ok $((RC == 0)) "a config with an unknown key is refused"
[[ $OUT == *'"bogus"'* ]]
ok $? "naming the key"
printf '{"address":"%s","logLevel":"debug","workers":4,"drainTimeout":5}\n' "$SOCK" >"$W/cfg.json"
: >"$W/daemon.log"
BERTH_LOG_LEVEL= snap_start --config "$W/cfg.json"
ok $? "the daemon starts from a config file (address from it)"
grep -q "4 workers" "$W/daemon.log"
ok $? "workers from the config"
sc stat caps
expect_code 0 "the state survived the restart"
grep -q 'debug: Stat' "$W/daemon.log"
ok $? "logLevel debug from the config: the call is logged"
snap_stop

# ---- journald priorities --------------------------------------------------------------------------
: >"$W/journal.log"
exec 9>>"$W/journal.log"
js="$(stat -c '%d:%i' "$W/journal.log")"
BERTH_STORAGE_PATH=$STOR_BIN JOURNAL_STREAM=$js BERTH_LOG_LEVEL=info "$SNAP_BIN" --address "$SOCK" \
	--storage-config "$W/storage.json" 2>&9 &
SNAP_PID=$!
exec 9>&-
for _i in $(seq 1 50); do grep -q serving "$W/journal.log" && break; sleep 0.1; done
snap_stop
grep -q '^<6>berth-snapshotter\[[0-9]*\]: info: serving' "$W/journal.log"
ok $? "stderr on the journal (JOURNAL_STREAM): lines carry their syslog priority"

# ---- a slow call holds up nobody else ---------------------------------------------------------------
snap_start
: >"$GATE"
"$SC" "$SOCK" prepare slow caps >"$W/slow.out" &
slow=$!
for _i in $(seq 1 100); do [ -e "$GATE.waiting" ] && break; sleep 0.05; done
[ -e "$GATE.waiting" ]
ok $? "a Prepare is held in its driver CREATE"
sc stat caps
expect_code 0 "meanwhile Stat of another snapshot is answered"
sc prepare quick caps
expect_code 0 "and a Prepare of another key completes"
sc list
is "$(jq -r '[.infos[].name] | sort | join(" ")' <<<"$OUT")" "caps quick" "List shows the finished snapshots, not the one being made"
kill -0 "$slow" 2>/dev/null
ok $? "while the slow Prepare is still waiting"
rm -f "$GATE"
wait "$slow"
is "$(jq -r .code "$W/slow.out")" 0 "the slow Prepare completes once its driver goes on"

# ---- SIGTERM drains -------------------------------------------------------------------------------
rm -rf "$GATE.claim" "$GATE.waiting"
: >"$GATE"
"$SC" "$SOCK" prepare drained caps >"$W/drain.out" &
slow=$!
for _i in $(seq 1 100); do [ -e "$GATE.waiting" ] && break; sleep 0.05; done
kill -TERM "$SNAP_PID"
for _i in $(seq 1 50); do grep -q 'draining' "$W/daemon.log" && break; sleep 0.1; done
sc stat caps
ok $((RC == 0)) "after SIGTERM new calls are refused ($RC)"
kill -0 "$SNAP_PID" 2>/dev/null
ok $? "while the running call keeps the daemon up"
rm -f "$GATE"
wait "$slow"
is "$(jq -r .code "$W/drain.out")" 0 "the running Prepare completes (drained, not cut)"
wait "$SNAP_PID"
is "$?" 0 "then the daemon exits 0"
SNAP_PID=
snap_start
sc stat drained
is "$(jq -r .info.kind <<<"$OUT")" active "the drained Prepare's snapshot is there after a restart"
snap_stop

# ---- auto selection ------------------------------------------------------------------------------
printf '{"driver":"auto","root":"%s/auto","runRoot":"%s/autorun"}\n' "$W" "$W" >"$W/auto.json"
BERTH_STORAGE_PATH=$STOR_BIN BERTH_LOG_LEVEL=info "$SNAP_BIN" --address "$W/sock/auto.sock" \
	--storage-config "$W/auto.json" >"$W/auto.log" 2>&1 &
apid=$!
for _i in $(seq 1 50); do grep -q serving "$W/auto.log" && break; sleep 0.1; done
grep -q 'storage driver overlay (auto' "$W/auto.log"
ok $? "driver auto: the storage config's selection picks overlay on this host"
is "$(cat "$W/auto/containerd/driver" 2>/dev/null)" overlay "and records it for the next start"
"$SC" "$W/sock/auto.sock" prepare a >/dev/null
[ -d "$W/auto/containerd/overlay/snap-1" ]
ok $? "layers go under <storage root>/containerd/<driver>"
kill -TERM "$apid"
wait "$apid"
printf '{"driver":"auto","root":"%s/auto","runRoot":"%s/autorun"}\n' "$W" "$W" >"$W/auto.json"
printf '{"root":"%s/auto/containerd/overlay","runRoot":"%s/autorun/containerd/overlay"}' "$W" "$W" |
	STOR_COMMAND=CLEANUP "$STOR_BIN/overlay" >/dev/null 2>&1
done_testing
