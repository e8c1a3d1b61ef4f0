#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# berth-snapshotter crash injection.  The FAULT=1 build SIGKILLs the daemon at a chosen
# BERTH_FAULT_POINT (common/fault.c).  For every point a Prepare, a View, a Commit and a Remove
# pass: kill the daemon there, restart it, and check that the operation happened completely
# or not at all (Stat, Mounts, List), that List and Stat agree with what the driver holds on
# disk (one layer per snapshot, nothing unfinished in the metadata), and that the operation
# can then be done again.  Then SIGKILLs at arbitrary moments of 64 parallel Prepares, and
# Cleanup removing layers no snapshot references.  The list of points the daemon passes
# (BERTH_FAULT=* with a log) must equal the list tested here: a new point needs a case.
FB=${BERTH_FAULT_BUILD:-${BERTH_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/build-fault}
SNAP_BIN=$FB/bin/berth-snapshotter
source "$(dirname "$0")/lib-snap.bash"
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
DB=$W/storage/containerd/metadata.db

# consistent DESC: the metadata and the driver agree, nothing unfinished
consistent() {
	local n rows
	sc list
	n=$(jq -r '.infos | length' <<<"$OUT")
	rows=$(sqlite3 "$DB" "select count(*) from snapshots where state != 'ready'")
	is "$(layers | wc -l) $rows" "$n 0" "$1: one driver layer per listed snapshot ($n), no unfinished row"
	# every snapshot's layer is the one the driver has
	local missing=0
	for id in $(sqlite3 "$DB" "select id from snapshots"); do
		layers | grep -qx "snap-$id" || missing=$((missing + 1))
	done
	is "$missing" 0 "$1: every snapshot's layer exists"
}

# crash POINT: restart the daemon with BERTH_FAULT set, the next call passing POINT kills it
crash_start() { snap_stop; BERTH_FAULT=berth-snapshotter:$1 snap_start; }
restart() {
	wait "$SNAP_PID" 2>/dev/null
	SNAP_PID=
	snap_start
	ok $? "$1: the daemon restarts"
}

snap_start
sc prepare base-a && mnt base-a "$W/m" && echo base >"$W/m/base" && umount "$W/m"
sc commit base base-a
expect_code 0 "setup: a committed base"
consistent "setup"

# ---- create points: Prepare and View -----------------------------------------------------------
for p in snap-create-after-row snap-create-after-layer snap-create-before-ready; do
	for kind in prepare view; do
		crash_start $p
		sc $kind "c-$kind-$p" base
		is "$RC" 14 "$kind, killed at $p: the call fails (Unavailable)"
		wait "$SNAP_PID" 2>/dev/null
		is "$?" 137 "$kind at $p: the daemon died of SIGKILL there"
		restart "$kind at $p"
		sc stat "c-$kind-$p"
		expect_code 5 "$kind at $p: the snapshot that was never answered does not exist"
		consistent "$kind at $p"
		sc $kind "c-$kind-$p" base
		expect_code 0 "$kind at $p: the same key can be made again"
		mnt "c-$kind-$p" "$W/m"
		is "$(cat "$W/m/base" 2>/dev/null)" base "$kind at $p: and mounts its parent's tree"
		umount "$W/m" 2>/dev/null
	done
done

# ---- commit points ------------------------------------------------------------------------------
for p in snap-commit-after-mark snap-commit-after-meta; do
	sc prepare "k-$p" base
	mnt "k-$p" "$W/m" && echo "$p" >"$W/m/mine" && umount "$W/m"
	crash_start $p
	sc commit "n-$p" "k-$p" -l l=v
	is "$RC" 14 "Commit killed at $p: the call fails (Unavailable)"
	restart "Commit at $p"
	sc stat "k-$p"; ak=$RC
	sc stat "n-$p"; an=$RC
	if [ $p = snap-commit-after-mark ]; then
		is "$ak $an" "0 5" "Commit at $p: not committed, the active snapshot is as it was"
		sc commit "n-$p" "k-$p" -l l=v
		expect_code 0 "Commit at $p: commit again"
	else
		is "$ak $an" "5 0" "Commit at $p: committed (the metadata transaction had finished)"
	fi
	sc stat "n-$p"
	is "$(jq -r '[.info.kind, .info.labels.l] | join(" ")' <<<"$OUT")" "committed v" "Commit at $p: committed with its labels"
	sc view "v-$p" "n-$p" && mnt "v-$p" "$W/m"
	is "$(cat "$W/m/mine" 2>/dev/null)" "$p" "Commit at $p: its content is there"
	umount "$W/m" 2>/dev/null
	consistent "Commit at $p"
done

# ---- remove points ------------------------------------------------------------------------------
for p in snap-remove-after-mark snap-remove-after-layer; do
	sc prepare "r-$p" base
	before=$(layers | wc -l)
	crash_start $p
	sc remove "r-$p"
	is "$RC" 14 "Remove killed at $p: the call fails (Unavailable)"
	restart "Remove at $p"
	sc stat "r-$p"
	expect_code 5 "Remove at $p: the restart finished the removal"
	is "$(layers | wc -l)" $((before - 1)) "Remove at $p: and its layer is gone"
	consistent "Remove at $p"
	sc prepare "r-$p" base
	expect_code 0 "Remove at $p: the key can be used again"
done

# ---- every point the daemon passes is covered ------------------------------------------------
snap_stop
rm -f "$W/points"
BERTH_FAULT='*' BERTH_FAULT_LOG=$W/points snap_start
sc prepare pts-a base && sc view pts-v base && sc commit pts-c pts-a && sc remove pts-v
snap_stop
tested="snap-commit-after-mark snap-commit-after-meta snap-create-after-layer snap-create-after-row snap-create-before-ready snap-remove-after-layer snap-remove-after-mark"
is "$(grep '^berth-snapshotter:' "$W/points" | cut -d: -f2 | sort -u | tr '\n' ' ' | sed 's/ $//')" "$tested" "the points tested are every point the daemon passes"

# ---- SIGKILL at arbitrary moments of parallel Prepares ------------------------------------------
snap_start
for round in 1 2 3; do
	"$SC" "$SOCK" parallel 64 prepare "par$round-%d" base >"$W/par.out" 2>&1 &
	cl=$!
	sleep "0.$((RANDOM % 9 + 1))"
	kill -KILL "$SNAP_PID"
	wait "$SNAP_PID" 2>/dev/null
	wait "$cl"
	restart "SIGKILL during 64 parallel Prepares (round $round, $(jq -r .ok "$W/par.out" 2>/dev/null) answered)"
	consistent "after the SIGKILL of round $round"
	answered=0 lost=0
	for i in $(seq 0 63); do
		sc stat "par$round-$i"
		[ "$RC" = 0 ] && answered=$((answered + 1))
	done
	[ "$answered" -ge "$(jq -r '.ok // 0' "$W/par.out")" ]
	ok $? "round $round: every Prepare that was answered OK survived ($answered exist)"
done

# ---- Cleanup removes what no snapshot references ----------------------------------------------
drv CREATE '{"id":"orphan-1"}' >/dev/null
drv CREATE '{"id":"orphan-2","parent":"orphan-1"}' >/dev/null
layers | grep -q orphan-2
ok $? "two layers made behind the daemon's back (as a crash of another kind would leave)"
n_before=$(layers | wc -l)
sc cleanup
expect_code 0 "Cleanup"
! layers | grep -q orphan
ok $? "Cleanup removed both unreferenced layers"
is "$(layers | wc -l)" $((n_before - 2)) "and nothing else"
consistent "after Cleanup"

snap_stop
is "$SNAP_RC" 0 "the daemon stops cleanly"
done_testing
