#!/bin/bash
# berth-snapshotter and bad input: requests with missing fields, unknown kinds, 4 KiB and longer
# keys, NUL bytes and invalid UTF-8, active parents, labels over containerd's size limit,
# garbage bytes, unknown methods, and concurrent Commit and Remove of one key.  Each gets the
# right gRPC code and a one-line message, nothing is left half-made (the metadata has no
# unfinished row, the driver one layer per snapshot), and the daemon keeps serving.
source "$(dirname "$0")/lib-snap.bash"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"

snap_start
ok $? "daemon starts"
DB=$W/storage/containerd/metadata.db

# hand-made protobuf: hexstr STRING, field NUM HEX (length-delimited), varint N
hexstr() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
varint() {
	local n=$1 out=
	while [ "$n" -ge 128 ]; do out+=$(printf '%02x' $(((n & 127) | 128))); n=$((n >> 7)); done
	printf '%s%02x' "$out" "$n"
}
field() { printf '%02x%s%s' $((($1 << 3) | 2)) "$(varint $((${#2} / 2)))" "$2"; }
raw() { sc raw "$@"; }
# one line, no control characters, and says what is wrong
oneline() { # oneline DESC WORD
	local m
	m=$(msg)
	[ -n "$m" ] && [ "$(printf '%s' "$m" | wc -l)" -eq 0 ] && ! printf '%s' "$m" | grep -q '[[:cntrl:]]' &&
		[[ $m == *"$2"* ]]
	ok $? "$1: one-line message naming $2 (\"${m:0:100}\")"
}

sc prepare good-a && sc commit good good-a
expect_code 0 "a committed snapshot to build on"

# ---- missing fields ---------------------------------------------------------------------------
for m in Prepare View Mounts Remove Stat Usage; do
	raw $m ""
	expect_code 3 "$m without a key is InvalidArgument"
done
oneline "Usage without key" key
raw Commit "$(field 3 "$(hexstr good-a)")"
expect_code 3 "Commit without a name is InvalidArgument"
oneline "Commit without name" name
raw Commit "$(field 2 "$(hexstr x)")"
expect_code 3 "Commit without a key is InvalidArgument"
raw Update ""
expect_code 3 "Update without info is InvalidArgument"
oneline "Update without info" info
raw Update "$(field 2 "")"
expect_code 3 "Update with an info without name is InvalidArgument"
raw List ""
expect_code 0 "List with no field is fine (all snapshots)"
raw Cleanup ""
expect_code 0 "Cleanup with no field is fine"

# ---- unknown kinds and field paths ------------------------------------------------------------
raw Update "$(field 2 "$(field 1 "$(hexstr good)")1863")"
expect_code 3 "Update with info.kind 99 is InvalidArgument"
oneline "unknown kind" kind
sc update good -l a=b -p kind
expect_code 3 "Update of the field path kind is InvalidArgument"
sc update good -l a=b -p 'labels.a' -p name
expect_code 3 "a mask with an immutable path among label paths is InvalidArgument"
sc stat good
is "$(jq -c .info.labels <<<"$OUT")" '{}' "and no label was set by the refused Update"

# ---- keys ---------------------------------------------------------------------------------------
k4k=$(head -c 4096 /dev/zero | tr '\0' q)
sc prepare "$k4k"
expect_code 0 "a 4 KiB key is accepted (containerd's keys are arbitrary strings)"
sc remove "$k4k"
expect_code 0 "and removed"
sc prepare "${k4k}q"
expect_code 3 "a key of 4097 bytes is InvalidArgument"
oneline "long key" 4097
sc prepare "$(head -c 65536 /dev/zero | tr '\0' q)"
expect_code 3 "a key of 64 KiB is InvalidArgument"
raw Prepare "$(field 2 61006200)"
expect_code 3 "a key with a NUL byte is InvalidArgument"
oneline "NUL key" NUL
raw Prepare "$(field 2 00)"
expect_code 3 "a key that is one NUL byte is InvalidArgument"
raw Prepare "$(field 2 61ff62)"
expect_code 3 "a key that is not UTF-8 is InvalidArgument"
oneline "bad UTF-8" UTF-8
raw Prepare "$(field 2 "$(hexstr nulparent)")$(field 3 676f6f6400)"
expect_code 3 "a parent with a NUL byte is InvalidArgument (not read as \"good\")"
raw Stat "$(field 2 "$(hexstr good)00")"
expect_code 3 "Stat of \"good\\0\" is InvalidArgument, not the snapshot \"good\""
sc stat nulparent
expect_code 5 "nothing was made for the refused keys"

# ---- parents ----------------------------------------------------------------------------------
sc prepare act-parent
sc prepare child-of-active act-parent
expect_code 3 "a parent that is an active snapshot is InvalidArgument"
oneline "active parent" committed
sc view v-of-active act-parent
expect_code 3 "a view of an active snapshot is InvalidArgument"
sc prepare child-of-missing missing-parent
expect_code 5 "a missing parent is NotFound"
oneline "missing parent" missing-parent
for k in child-of-active v-of-active child-of-missing; do sc stat $k; [ "$RC" = 5 ] || break; done
expect_code 5 "none of the refused snapshots exists"

# ---- labels -----------------------------------------------------------------------------------
v4090=$(head -c 4090 /dev/zero | tr '\0' v)
sc prepare lab-ok -l "k12345=${v4090:0:4090}"
expect_code 0 "a label of key+value = 4096 bytes is accepted"
sc prepare lab-big -l "k123456=${v4090}"
expect_code 3 "a label of 4097 bytes is InvalidArgument"
oneline "big label" maximum
sc view lab-big good -l "k123456=${v4090}"
expect_code 3 "View with it too"
sc commit lab-c lab-ok -l "k123456=${v4090}"
expect_code 3 "Commit with it too"
sc stat lab-ok
is "$(jq -r .info.kind <<<"$OUT")" active "the refused Commit left the active snapshot as it was"
sc update lab-ok -l "k123456=${v4090}"
expect_code 3 "Update with it too"
sc update lab-ok -l "k123456=${v4090}" -p labels.k123456
expect_code 3 "Update of one label path with it too"
raw Prepare "$(field 2 "$(hexstr lab-nul)")$(field 4 "$(field 1 "$(hexstr k)")$(field 2 610062)")"
expect_code 3 "a label value with a NUL byte is InvalidArgument"
sc stat lab-big
expect_code 5 "no snapshot was made by the refused requests"

# ---- garbage, unknown methods -----------------------------------------------------------------
raw Prepare ffffffffffffffff
expect_code 3 "garbage bytes are InvalidArgument"
raw Prepare "$(field 2 "$(hexstr x)")0a"
expect_code 3 "a truncated message is InvalidArgument"
raw /containerd.services.snapshots.v1.Snapshots/Frobnicate ""
expect_code 12 "an unknown method is Unimplemented"
raw /containerd.services.content.v1.Content/Info ""
expect_code 12 "another service is Unimplemented"
sc commit x good
expect_code 9 "Commit of a committed snapshot is FailedPrecondition"
sc view v-good good && sc commit x v-good
expect_code 9 "Commit of a view is FailedPrecondition"
sc commit good act-parent
expect_code 6 "Commit to a name in use is AlreadyExists"
sc stat act-parent
is "$(jq -r .info.kind <<<"$OUT")" active "and the active snapshot stays active"

# ---- concurrent Commit and Remove of one key --------------------------------------------------
bad=0 cwon=0 rwon=0 unav=0
for i in $(seq 1 20); do
	sc prepare "cr-$i" good
	"$SC" "$SOCK" commit "crc-$i" "cr-$i" >"$W/c.out" &
	p1=$!
	"$SC" "$SOCK" remove "cr-$i" >"$W/r.out" &
	wait $p1 $!
	c=$(jq -r .code "$W/c.out") r=$(jq -r .code "$W/r.out")
	sc stat "crc-$i"; cs=$RC
	sc stat "cr-$i"; as=$RC
	[ "$c" = 14 ] || [ "$r" = 14 ] && unav=$((unav + 1))
	case "$c:$r" in
	0:5 | 0:14) cwon=$((cwon + 1)); [ "$cs" = 0 ] && [ "$as" = 5 ] || bad=$((bad + 1)) ;;
	5:0 | 14:0) rwon=$((rwon + 1)); [ "$cs" = 5 ] && [ "$as" = 5 ] || bad=$((bad + 1)) ;;
	*) bad=$((bad + 1)); diag "commit $c $(cat "$W/c.out") remove $r $(cat "$W/r.out")" ;;
	esac
	sc remove "crc-$i" >/dev/null
done
diag "commit won $cwon, remove won $rwon, the loser saw Unavailable (overlapping) $unav times"
is "$bad" 0 "20 races of Commit and Remove of one key: exactly one wins, the other is NotFound or Unavailable, the state matches the winner"

# ---- concurrent Prepares of one key -------------------------------------------------------------
sc parallel 16 prepare same-key good
is "$(jq -r '.codes["0"]' <<<"$OUT")" 1 "16 Prepares of one key at once: one succeeds"
is "$(jq -r '[.codes | to_entries[] | select(.key != "0") | .key] | sort | join(",")' <<<"$OUT")" "$(jq -r '[.codes | to_entries[] | select(.key != "0") | .key] | map(select(. == "6" or . == "14")) | sort | join(",")' <<<"$OUT")" "the others are AlreadyExists or Unavailable"

# ---- nothing half-made, still serving ---------------------------------------------------------
kill -0 "$SNAP_PID"
ok $? "the daemon is still running"
sc stat good
expect_code 0 "and serving"
is "$(sqlite3 "$DB" "select count(*) from snapshots where state != 'ready'")" 0 "no unfinished metadata row"
sc list
n=$(jq -r '.infos | length' <<<"$OUT")
is "$(layers | wc -l)" "$n" "the driver holds one layer per listed snapshot ($n)"
is "$(ls "$DROOT/staging" | wc -l)" 0 "no layer half-built in the driver's staging"
grep -q 'error' "$W/daemon.log" && diag "$(grep error "$W/daemon.log" | head -5)"
snap_stop
is "$SNAP_RC" 0 "the daemon stops cleanly"
done_testing
