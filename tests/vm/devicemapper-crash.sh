# Sourced by devicemapper-inner.sh (same VM boot, same TAP stream): the crash-injection matrix
# of the devicemapper driver (issue 7).  The FAULT=1 build of the driver SIGKILLs itself at a
# chosen BERTH_FAULT_POINT (common/fault.c).  The points that the first INIT (making the base
# device), an INIT growing it, CREATE (on an active parent, and with a size that grows the
# filesystem), APPLY_DIFF and REMOVE pass are enumerated; at each: kill there, run the
# recovery the protocol promises (INIT, GC or REMOVE, in turn), prove that nothing partial is
# visible (EXISTS, LIST, METADATA) and that the store is exactly as before the call: metadata
# dir and deviceset.json (but the id mark), journal, mounts, mount refcounts, device-mapper
# devices and their state (dmsetup), thin devices in the pool (thin_dump of a metadata
# snapshot); then that the same id is created and applied again with byte-identical content.
# Pool on /dev/ram2 (data) and /dev/ram3 (metadata), free after the bad-config cases.
# Under TCG every process costs ~0.5 s, so requests are built with printf, results read with
# bash patterns (no jq per call), and each REMOVE kill takes down the layer a rebuild made.
FDRV=${BERTH_FAULT_BUILD:-/nonexistent}/storage/devicemapper
TREE=$BERTH_BUILD/tests/helpers/stor-tree
CW=$W/crash
CR=$CW/root
COPTS='{"data_device":"/dev/ram2","metadata_device":"/dev/ram3","base_size":"64M","force_wipe":true,"require_udev_sync":false}'

# fdrv VERB [ARGS]: the FAULT=1 driver on the crash store (ids and paths need no escaping)
fdrv() {
	printf '{"protocolVersion":"1.0.0","driver":"devicemapper","root":"%s","runRoot":"%s-run","options":%s,"args":%s}' \
		"$CR" "$CR" "$COPTS" "${2:-"{}"}" | STOR_COMMAND=$1 "$FDRV"
}
# fcode JSON: the error code of a result, or 0
fcode() { if [[ $1 =~ \"code\":([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi; }
fexists() { [[ $(fdrv EXISTS "{\"id\":\"$1\"}") == *'"exists":true'* ]] && echo true || echo false; }
flisted() { [[ $(fdrv LIST) == *"\"$1\""* ]] && echo listed || echo absent; }
fmount() { [[ $(fdrv MOUNT "{\"id\":\"$1\"}") =~ \"path\":\"([^\"]*)\" ]] && echo "${BASH_REMATCH[1]}"; }
# points VERB [ARGS]: the points the call passes, as PROG:NAME#N (the N-th pass of NAME)
points() {
	rm -f "$CW/points"
	BERTH_FAULT='*' BERTH_FAULT_LOG=$CW/points fdrv "$@" >/dev/null
	awk '{n[$0]++; print $0 "#" n[$0]}' "$CW/points"
}
# kill_at POINT VERB [ARGS]: the call, SIGKILLed at POINT; prints its exit status
kill_at() {
	local p=$1; shift
	BERTH_FAULT=$p fdrv "$@" >/dev/null 2>&1
	echo $?
}
# The store as the driver and the kernel hold it.  Mount points are listed, not entered (a
# parent left suspended would hang a read); lock files under runRoot are flock only.
cstate() {
	local f
	(cd "$CR" && find . -path './mnt/*' -prune -print -o -path ./deviceset.json -prune -o -print | sort)
	for f in "$CR"/metadata/*.json "$CR"/journal/* "$CR"/deferred/* "$CR-run"/dm-mounts/*; do
		[ -e "$f" ] && echo "${f#$CW/}: $(cat "$f")"
	done
	sed 's/"next_device_id":[0-9]*//' "$CR/deviceset.json"
	echo
	(cd "$CR-run" && find . -path ./dm-locks -prune -o -print | sort)
	awk -v r="$CW/" 'index($2, r) == 1 {print "mount " $1 " " $2}' /proc/mounts
	# every device of this store with its state (L live, s suspended, ...)
	dmsetup info -c --noheadings --separator ' ' -o name,attr |
		awk -v p="${CPOOL%-pool}-" 'index($1, p) == 1' | sort
	echo "thin ids: $(thin_ids "$CPOOL" /dev/ram3)"
}
# recover REC ID: run the recovery verb (REMOVE names the id); prints its error code or 0
recover() {
	case $1 in
	REMOVE) fcode "$(fdrv REMOVE "{\"id\":\"$2\"}")" ;;
	*) fcode "$(fdrv "$1")" ;;
	esac
}
# gone ID WHAT REC: REC recovers; nothing of ID is visible; the store is back to $BASE
gone() {
	local id=$1 what=$2 rec=$3
	is "$(recover "$rec" "$id")" 0 "$what: $rec recovers"
	is "$(flisted "$id")" absent "$what: not in LIST"
	is "$(fcode "$(fdrv METADATA "{\"id\":\"$id\"}")")" 3 "$what: METADATA says unknown layer (3)"
	is "$(cstate)" "$BASE" "$what: store, devices and pool as before the call"
}
# rebuild ID WHAT [CREATE-ARGS-EXTRA]: the id is created, applied and reads back as the
# reference; then removed, by a REMOVE killed at the next untested REMOVE point if any
rebuild() {
	local id=$1 what=$2 m out rp
	out=$(fdrv CREATE "{\"id\":\"$id\",\"parent\":\"p0\"${3:-}}")$(fdrv APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"path\":\"$CW/c.tar\"}}")
	ok "$([[ $out != *'"code"'* ]]; echo $?)" "$what: the same id is created and applied again" || diag "$out"
	m=$(fmount "$id")
	is "$("$TREE" manifest "${m:-/nonexistent}" 2>&1)" "$WANT" "$what: its content is byte-identical"
	fdrv UNMOUNT "{\"id\":\"$id\"}" >/dev/null
	if [ ${#REMOVE_TODO[@]} -eq 0 ]; then
		fdrv REMOVE "{\"id\":\"$id\"}" >/dev/null
		return
	fi
	# REMOVE killed: the layer is still whole (before its journal entry) or going; a second
	# REMOVE finishes it, INIT rolls back the rest
	rp=${REMOVE_TODO[0]}; REMOVE_TODO=("${REMOVE_TODO[@]:1}")
	is "$(kill_at "$rp" REMOVE "{\"id\":\"$id\"}")" 137 "REMOVE killed at $rp"
	is "$(fcode "$(fdrv REMOVE "{\"id\":\"$id\"}")")|$(fcode "$(fdrv INIT)")" "0|0" "REMOVE killed at $rp: REMOVE again, INIT"
	is "$(fexists "$id")" false "REMOVE killed at $rp: gone (EXISTS)"
	is "$(cstate)" "$BASE" "REMOVE killed at $rp: store, devices and pool as before"
	out=$(fdrv CREATE "{\"id\":\"$id\",\"parent\":\"p0\"}")$(fdrv REMOVE "{\"id\":\"$id\"}")
	ok "$([[ $out != *'"code"'* ]]; echo $?)" "REMOVE killed at $rp: the same id is created (and removed) again" || diag "$out"
	N_KILLS=$((N_KILLS + 1))
}

crash_matrix() {
	local p i=0 id rc rec out want m t0 extra
	t0=$(cut -d' ' -f1 /proc/uptime)
	N_KILLS=0
	mkdir -p "$CW/c/etc" "$CW/c/bin" "$CW/p/etc"
	echo crash >"$CW/c/etc/hostname"
	head -c 200000 /dev/urandom >"$CW/c/bin/blob"
	ln -s ../etc/hostname "$CW/c/bin/link"
	mktar "$CW/c.tar" "$CW/c"
	echo parent >"$CW/p/etc/os-release"
	mktar "$CW/p.tar" "$CW/p"

	# -------- the first INIT: the base device (thin create, activation, mkfs, lost+found)
	local P_INIT
	P_INIT=$(points INIT)
	for want in dm-create-base-after-journal dm-create-base-after-message \
		dm-create-base-after-activate dm-create-base-after-mkfs dm-create-base-after-mount \
		dm-create-base-before-state; do
		grep -qx "devicemapper:$want#1" <<<"$P_INIT"; ok $? "point $want is on the first INIT's path"
	done
	[[ $(fdrv INIT) =~ \"pool\":\"([^\"]*)\" ]] && CPOOL=${BASH_REMATCH[1]}
	for p in $P_INIT; do
		fdrv CLEANUP >/dev/null
		rm -rf "$CR" "$CR-run"
		is "$(kill_at "$p" INIT)" 137 "first INIT killed at $p"
		out=$(fdrv INIT)
		is "$(fcode "$out")" 0 "INIT killed at $p: INIT again" || diag "$out"
		want=$(jget base.device_id <"$CR/deviceset.json")
		# the pool holds exactly the base; no device but the pool active; nothing mounted
		is "$(thin_ids "$CPOOL" /dev/ram3)|$(ls -A "$CR/journal")$(ls -A "$CR/mnt")|$(dmsetup ls | awk -v p="${CPOOL%-pool}-" -v pool="$CPOOL" 'index($1, p) == 1 && $1 != pool {n++} END {print n + 0}')|$(grep -c " $CW/" /proc/mounts)" \
			"$want ||0|0" "INIT killed at $p: only the base device $want in the pool, no journal, mount or device left"
		N_KILLS=$((N_KILLS + 1))
	done

	# growing the base (base_size raised) killed while the base is mounted for resize2fs
	COPTS=${COPTS/64M/96M}
	is "$(kill_at devicemapper:dm-init-grow-after-mount#1 INIT)" 137 "INIT growing the base killed at dm-init-grow-after-mount"
	out=$(fdrv INIT)
	is "$(fcode "$out")|$(grep -c " $CW/" /proc/mounts)|$(dmsetup ls | awk -v p="${CPOOL%-pool}-" -v pool="$CPOOL" 'index($1, p) == 1 && $1 != pool {n++} END {print n + 0}')|$(jget base.size <"$CR/deviceset.json")" \
		"0|0|0|100663296" "INIT killed growing the base: INIT again grows it, no mount or active device left"
	N_KILLS=$((N_KILLS + 1))

	# -------- layers: an applied parent, kept mounted (active) so that CREATE suspends it
	fdrv CREATE '{"id":"p0"}' >/dev/null
	fdrv APPLY_DIFF "{\"id\":\"p0\",\"stream\":{\"path\":\"$CW/p.tar\"}}" >/dev/null
	fdrv MOUNT '{"id":"p0"}' >/dev/null
	local P_CREATE P_GROW P_APPLY P_REMOVE
	P_CREATE=$(points CREATE '{"id":"enum","parent":"p0"}')
	P_APPLY=$(points APPLY_DIFF "{\"id\":\"enum\",\"stream\":{\"path\":\"$CW/c.tar\"}}")
	m=$(fmount enum)
	WANT=$("$TREE" manifest "$m")
	fdrv UNMOUNT '{"id":"enum"}' >/dev/null
	P_REMOVE=$(points REMOVE '{"id":"enum"}')
	P_GROW=$(points CREATE '{"id":"enum","parent":"p0","size":"128M"}')
	fdrv REMOVE '{"id":"enum"}' >/dev/null
	ok "$(grep -q '^/etc/hostname ' <<<"$WANT" && grep -q '^/etc/os-release ' <<<"$WANT"; echo $?)" \
		"reference layer holds the parent's and the tar's files"
	for want in dm-create-after-journal dm-create-origin-suspended dm-create-after-snap \
		dm-create-after-message dm-create-before-metadata dm-create-after-metadata; do
		grep -qx "devicemapper:$want#1" <<<"$P_CREATE"; ok $? "point $want is on the CREATE path"
	done
	for want in dm-create-after-activate dm-create-grow-after-mount; do
		grep -qx "devicemapper:$want#1" <<<"$P_GROW"; ok $? "point $want is on the path of CREATE with a larger size"
	done
	for want in dm-apply-after-state dm-apply-after-mount archive-apply-entry \
		archive-apply-before-dirs dm-apply-after-unmount; do
		grep -qx "devicemapper:$want#1" <<<"$P_APPLY"; ok $? "point $want is on the APPLY_DIFF path"
	done
	is "$(grep -c archive-apply-entry <<<"$P_APPLY")" "$(tar -tf "$CW/c.tar" | wc -l)" \
		"APPLY_DIFF passes a point after each tar entry"
	for want in dm-remove-after-deactivate dm-remove-after-journal dm-remove-after-delete \
		dm-remove-after-metadata; do
		grep -qx "devicemapper:$want#1" <<<"$P_REMOVE"; ok $? "point $want is on the REMOVE path"
	done
	# Kills where the state differs (VM time): in the plain CREATE, before-metadata directly
	# follows after-message, so it is killed in the growing CREATE (after the growth); in
	# APPLY_DIFF the first entry (the last one directly precedes before-dirs).
	P_CREATE=$(grep -vx 'devicemapper:dm-create-before-metadata#1' <<<"$P_CREATE")
	P_GROW=$(grep -vxF -f <(echo "$P_CREATE") <<<"$P_GROW")
	P_APPLY=$(grep -v 'archive-apply-entry#' <<<"$P_APPLY"; echo devicemapper:archive-apply-entry#1)
	REMOVE_TODO=($P_REMOVE)

	BASE=$(cstate)
	ok "$(dmsetup info "${CPOOL%-pool}-$(jget device_id <"$CR/metadata/p0.json")" | grep -q 'State: *ACTIVE'; echo $?)" \
		"the parent is active (mounted) for the CREATE kills"
	local RECOVERY=(INIT GC REMOVE)
	for p in $P_CREATE $P_GROW; do
		i=$((i + 1)); id=c$i; rec=${RECOVERY[i % 3]}
		extra=
		grep -qxF "$p" <<<"$P_GROW" && extra=',"size":"128M"'
		is "$(kill_at "$p" CREATE "{\"id\":\"$id\",\"parent\":\"p0\"$extra}")" 137 "CREATE killed at $p"
		if [ "$p" = "devicemapper:dm-create-after-metadata#1" ]; then
			# the metadata is the commit: recovery keeps a complete layer (REMOVE as the
			# recovery removes it: then it must be gone)
			is "$(recover "$rec" "$id")" 0 "CREATE killed at $p: $rec recovers"
			is "$(fexists "$id")|$(ls -A "$CR/journal")" \
				"$([ "$rec" = REMOVE ] && echo false || echo true)|" \
				"CREATE killed at $p: the layer is complete (or removed by $rec), its transaction closed"
			fdrv REMOVE "{\"id\":\"$id\"}" >/dev/null
			is "$(cstate)" "$BASE" "CREATE killed at $p: REMOVE leaves the store as before"
		else
			is "$(fexists "$id")" false "CREATE killed at $p: the partial layer is invisible (EXISTS)"
			gone "$id" "CREATE killed at $p" "$rec"
		fi
		rebuild "$id" "CREATE killed at $p" "$extra"
		N_KILLS=$((N_KILLS + 1))
	done
	for p in $P_APPLY; do
		i=$((i + 1)); id=a$i; rec=${RECOVERY[i % 3]}
		fdrv CREATE "{\"id\":\"$id\",\"parent\":\"p0\"}" >/dev/null
		is "$(kill_at "$p" APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"path\":\"$CW/c.tar\"}}")" 137 "APPLY_DIFF killed at $p"
		is "$(fexists "$id")" false "APPLY_DIFF killed at $p: the partial layer is invisible (EXISTS)"
		gone "$id" "APPLY_DIFF killed at $p" "$rec"
		rebuild "$id" "APPLY_DIFF killed at $p"
		N_KILLS=$((N_KILLS + 1))
	done
	is "${REMOVE_TODO[*]}" "" "every REMOVE point was killed"
	is "$(cstate)" "$BASE" "after all kills and rebuilds the store is as before"
	diag "dm crash matrix: $(($(wc -w <<<"$P_INIT") + 1)) INIT + $(wc -w <<<"$P_CREATE $P_GROW") CREATE + $(wc -w <<<"$P_APPLY") APPLY_DIFF + $(wc -w <<<"$P_REMOVE") REMOVE kills = $N_KILLS"
	ok "$([ "$N_KILLS" -ge 20 ]; echo $?)" "at least 20 kill points exercised ($N_KILLS)"
	# nothing leaked that only the id-range probe would find
	fdrv UNMOUNT '{"id":"p0"}' >/dev/null
	out=$(fdrv GC)
	# (the probe of the id range runs in a pool the driver made)
	is "$(jq -c '[.removed, .errors, .pending]' <<<"$out")|$(jq -r .owned_pool "$CR/deviceset.json")" '[[],[],[]]|true' \
		"GC finds no leaked thin device in the whole id range, nothing pending"
	fdrv REMOVE '{"id":"p0"}' >/dev/null
	is "$(thin_ids "$CPOOL" /dev/ram3)" "$(jget base.device_id <"$CR/deviceset.json") " "pool holds only the base device"
	fdrv CLEANUP >/dev/null
	ok "$(! dmsetup info "$CPOOL" >/dev/null 2>&1; echo $?)" "CLEANUP released the crash pool"
	diag "dm crash matrix took $(awk -v a="$t0" '{printf "%d", $1 - a}' /proc/uptime) s of VM time"
}

if [ "${SANITIZE:-}" = 1 ]; then
	skip "devicemapper crash matrix runs in the plain tier (FAULT=1 build)"
elif [ ! -x "$FDRV" ]; then
	ok 1 "devicemapper crash matrix: $FDRV missing (make FAULT=1)"
else
	crash_matrix
fi
