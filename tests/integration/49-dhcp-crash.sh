#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# Crash injection for the dhcp daemon berth-dhcp (FAULT=1 build, common/fault.c) against a real
# DHCP server (dnsmasq in a netns, as 31-dhcp.sh): the daemon is SIGKILLed at each fault point
# of its ADD path (after the OFFER, its pending file written; after the ACK; after the bound
# lease is saved), of its DEL path (before and after the DHCPRELEASE) and of its renewal (after
# a renewed ACK, before the save).  The plugin's call fails with an error (no hang); a restarted
# daemon plus the DEL and GC a runtime sends leave no lease at the server (dnsmasq drops a lease
# on DHCPRELEASE) and no file in the state directory; a lease killed in its renewal is still
# held after the restart.  Also: a pending file that DEL or GC finds is released.
# time-limit: 300
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-dhcp.bash"
need_root
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
command -v dnsmasq >/dev/null || skip_all "dnsmasq (dnsmasq-base) not installed"
DHCPD=$FB/bin/berth-dhcp PLUG=$FB/cni/dhcp
[ -x "$DHCPD" ] && [ -x "$PLUG" ] || { echo "not ok 1 - $DHCPD missing: make FAULT=1"; echo 1..1; exit 1; }

D=$(mktemp -d /tmp/berth-dhcpcrash.XXXXXX)
defer "rm -rf $D"
mkdir -m 0700 "$D/run"
SOCK=$D/run/dhcp.sock
H=kh$T S=ks$T C=kc$T NET=kn$T

dhcp_lan "$H" "$S" 10.78.0.1/24 || { echo "Bail out! the DHCP LAN netns"; exit 1; }
ip netns add "$C"
defer "ip netns del $C"
ip link add eth0 netns "$C" type veth peer name vc netns "$H"
ip -n "$H" link set vc master br0 up
MAC=$(ip -n "$C" -j link show eth0 | jq -r '.[0].address')

ip netns exec "$S" dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=0 --no-ping \
	--interface=eth0 --bind-interfaces --dhcp-range=10.78.0.10,10.78.0.250,255.255.255.0,2m \
	--dhcp-leasefile="$D/leases" --pid-file= --dhcp-option=3,10.78.0.1 \
	--dhcp-option=option:T1,3 --dhcp-option=option:T2,6 --log-facility="$D/dnsmasq.log" &
DNSPID=$!
defer "kill $DNSPID; wait $DNSPID"

conf() { # conf [VERSION]
	printf '{"cniVersion":"%s","name":"%s","type":"dhcp","ipam":{"type":"dhcp","daemonSocketPath":"%s"}}' \
		"${1:-1.1.0}" "$NET" "$SOCK"
}
GC=$(jq -c '. + {"cni.dev/valid-attachments": []}' <<<"$(conf)")
# kcni CMD ID: the plugin (no fault of its own) for netns $KNS (default $C), bounded so that a
# hang is a failure
kcni() {
	env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="/run/netns/${KNS:-$C}" \
		CNI_IFNAME=eth0 CNI_PATH="$FB/cni" BERTH_LOG_LEVEL=error timeout 30 "$PLUG"
}

# the daemon started without a fault (the restarts): the FAULT build's, or another build's
# (BERTH_DHCPD_RESTART=build-san/bin/berth-dhcp runs the recovery under ASan + UBSan)
RESTART=${BERTH_DHCPD_RESTART:-$DHCPD}
DPID=
# start_daemon [BERTH_FAULT [DAEMON-OPTION...]]: the FAULT build's daemon; returns once it
# answers (a daemon killed before left its socket file behind: its mere presence says nothing)
start_daemon() {
	local fault=${1:-} bin=$RESTART
	shift
	[ -n "$fault" ] && bin=$DHCPD
	env ${fault:+BERTH_FAULT="$fault"} ${BERTH_FAULT_LOG:+BERTH_FAULT_LOG="$BERTH_FAULT_LOG"} \
		BERTH_LOG_LEVEL=info "$bin" --socket "$SOCK" --state "$D/state" --timeout 2s "$@" \
		2>>"$D/daemon.log" &
	DPID=$!
	wait_for 10 daemon_answers
}
daemon_answers() { kcni STATUS "" <<<"$(conf)" >/dev/null 2>&1; }
stop_daemon() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; [ -n "$DPID" ] && wait "$DPID" 2>/dev/null; DPID=; }
defer 'stop_daemon'
# reap_daemon: DRC = the exit status of a daemon that was killed (or should have been)
daemon_gone() { ! kill -0 "$DPID" 2>/dev/null; }
reap_daemon() {
	wait_for 10 daemon_gone || { diag "the daemon still runs: $(tail -3 "$D/daemon.log")"; kill -TERM "$DPID"; }
	wait "$DPID" 2>/dev/null; DRC=$?; DPID=
}

# dnsmasq rewrites its lease file in place on every change: a lease missing from one read is
# read again a little later before it counts as gone
lease_ip() {
	local v
	for _ in 1 2 3; do
		v=$(awk -v m="$MAC" '$2 == m { print $3 }' "$D/leases" 2>/dev/null)
		[ -n "$v" ] && break
		sleep 0.1
	done
	echo "$v"
}
has_lease() { [ -n "$(lease_ip)" ]; }
no_lease() { [ -z "$(lease_ip)" ]; }
state_files() { ls "$D/state" 2>/dev/null | wc -l; }
state_pending() { cat "$D/state"/*.json 2>/dev/null | jq -r '.pending // false'; }

# ---- the points on the path: ADD, a renewal, DEL ----
export BERTH_FAULT_LOG=$D/points
start_daemon '*' --max-renew 1s
ok $? "the daemon with BERTH_FAULT=* starts"
out=$(kcni ADD c0 <<<"$(conf)"); ok $? "ADD with fault points recorded"
cp "$D/points" "$D/add-points"
wait_for 15 grep -q "renewed" "$D/daemon.log"
ok $? "the lease is renewed (--max-renew 1s)"
cp "$D/points" "$D/renew-points"
kcni DEL c0 <<<"$(conf)" >/dev/null; ok $? "DEL with fault points recorded"
wait_for 5 no_lease
ok $? "a plain ADD + DEL leaves no lease at the server"
is "$(state_files)" 0 "a plain ADD + DEL leaves no lease file"
stop_daemon
unset BERTH_FAULT_LOG
# (renewals every second go on meanwhile: their point is left out of the ADD's and the DEL's)
add_points=$(sed -n 's/^berth-dhcp://p' "$D/add-points" | grep -v '^dhcpd-after-renew$')
del_points=$(diff "$D/renew-points" "$D/points" | sed -n 's/^> berth-dhcp://p' | grep -v '^dhcpd-after-renew$')
is "$(tr '\n' ' ' <<<"$add_points")" "dhcpd-after-offer dhcpd-after-ack dhcpd-after-save " \
	"the ADD passes dhcpd-after-offer, dhcpd-after-ack, dhcpd-after-save in that order"
grep -q "^berth-dhcp:dhcpd-after-renew$" "$D/renew-points"
ok $? "a renewal passes dhcpd-after-renew"
is "$(tr '\n' ' ' <<<"$del_points")" "dhcpd-before-release dhcpd-after-release " \
	"the DEL passes dhcpd-before-release, dhcpd-after-release in that order"
diag "points: $(sort -u "$D/points" | tr '\n' ' ')"

# ---- ADD killed at each of its points ----
n=0
for p in $add_points; do
	n=$((n + 1))
	start_daemon "berth-dhcp:$p"
	out=$(kcni ADD k$n <<<"$(conf)"); rc=$?
	is "$rc:$(jq -r '(.code | type) + ":" + .msg' <<<"$out" 2>/dev/null)" \
		"1:number:reading the DHCP daemon's answer: the peer closed without answering" \
		"kill at $p: the plugin's ADD fails with a CNI error"
	reap_daemon; is "$DRC" 137 "kill at $p: the daemon was killed"
	case $p in
	dhcpd-after-offer) is "$(state_files) $(state_pending)" "1 true" "kill at $p: a pending lease file is left" ;;
	dhcpd-after-ack)
		is "$(state_files) $(state_pending)" "1 true" "kill at $p: a pending lease file is left"
		wait_for 5 has_lease
		ok $? "kill at $p: the server holds the lease it ACKed"
		;;
	dhcpd-after-save)
		is "$(state_files) $(cat "$D/state"/*.json | jq -c 'has("pending")')" "1 false" \
			"kill at $p: the bound lease file is saved (the format of old, no \"pending\")"
		wait_for 5 has_lease
		ok $? "kill at $p: the server holds the lease"
		;;
	esac
	start_daemon
	ok $? "kill at $p: the daemon restarts"
	if [ "$p" != dhcpd-after-save ]; then
		wait_for 5 no_lease
		ok $? "kill at $p: the restarted daemon released the pending lease"
		is "$(state_files)" 0 "kill at $p: ... and removed its file"
	fi
	kcni DEL k$n <<<"$(conf)" >/dev/null; ok $? "kill at $p: DEL succeeds"
	kcni GC "" <<<"$GC" >/dev/null; ok $? "kill at $p: GC succeeds"
	wait_for 5 no_lease
	ok $? "kill at $p: no lease left at the server for the container's MAC"
	is "$(state_files)" 0 "kill at $p: the state directory is empty"
	out=$(kcni ADD f$n <<<"$(conf)"); rc=$?
	wait_for 5 has_lease
	is "$rc $(jq -r '.ips[0].address | split("/")[0]' <<<"$out" 2>/dev/null)" "0 $(lease_ip)" \
		"kill at $p: a fresh ADD takes the server's lease"
	kcni DEL f$n <<<"$(conf)" >/dev/null && wait_for 5 no_lease
	ok $? "kill at $p: ... and its DEL releases it"
	stop_daemon
done

# ---- DEL killed at each of its points: the retried DEL finishes ----
for p in $del_points; do
	start_daemon "berth-dhcp:$p"
	kcni ADD kd <<<"$(conf)" >/dev/null && wait_for 5 has_lease
	ok $? "kill at $p: ADD takes a lease"
	out=$(kcni DEL kd <<<"$(conf)"); rc=$?
	is "$rc:$(jq -r '.code | type' <<<"$out" 2>/dev/null)" "1:number" "kill at $p: the DEL fails with a CNI error"
	reap_daemon; is "$DRC" 137 "kill at $p: the daemon was killed"
	is "$(state_files)" 1 "kill at $p: the lease file is still there"
	start_daemon
	ok $? "kill at $p: the daemon restarts"
	kcni DEL kd <<<"$(conf)" >/dev/null; ok $? "kill at $p: the retried DEL succeeds"
	wait_for 5 no_lease
	ok $? "kill at $p: no lease left at the server"
	is "$(state_files)" 0 "kill at $p: the state directory is empty"
	stop_daemon
done

# ---- renewal killed before its save: the restarted daemon still holds the lease ----
p=dhcpd-after-renew
start_daemon "berth-dhcp:$p" --max-renew 1s
out=$(kcni ADD kr <<<"$(conf)"); rc=$?
wait_for 5 has_lease
is "$rc $(jq -r '.ips[0].address | split("/")[0]' <<<"$out" 2>/dev/null)" "0 $(lease_ip)" "kill at $p: ADD takes a lease"
reap_daemon; is "$DRC" 137 "kill at $p: the daemon was killed in its first renewal"
start_daemon "" --max-renew 1s
ok $? "kill at $p: the daemon restarts"
kcni CHECK kr <<<"$(jq -c --argjson p "$out" '. + {prevResult: $p}' <<<"$(conf)")" >/dev/null
ok $? "kill at $p: CHECK passes, the lease is still held"
has_lease
ok $? "kill at $p: the server still holds the lease"
n0=$(grep -c "renewed" "$D/daemon.log")
wait_for 10 eval '[ "$(grep -c renewed "$D/daemon.log")" -gt "$n0" ]'
ok $? "kill at $p: the restarted daemon renews it"
kcni DEL kr <<<"$(conf)" >/dev/null; ok $? "kill at $p: DEL succeeds"
wait_for 5 no_lease
ok $? "kill at $p: DEL released the lease"
is "$(state_files)" 0 "kill at $p: the state directory is empty"
stop_daemon

# ---- a pending file that DEL or GC finds (one no daemon loaded at its start) ----
for verb in DEL GC; do
	start_daemon berth-dhcp:dhcpd-after-ack
	kcni ADD kp <<<"$(conf)" >/dev/null
	reap_daemon; is "$DRC $(state_pending)" "137 true" "$verb: ADD killed after the ACK, a pending file left"
	pf=$(ls "$D/state")
	mv "$D/state/$pf" "$D/$pf"
	start_daemon
	wait_for 5 has_lease
	ok $? "$verb: the server holds the lease (the pending file moved away over the restart)"
	mv "$D/$pf" "$D/state/$pf"
	if [ $verb = DEL ]; then kcni DEL kp <<<"$(conf)" >/dev/null; else kcni GC "" <<<"$GC" >/dev/null; fi
	ok $? "$verb succeeds"
	wait_for 5 no_lease
	ok $? "$verb released the pending lease"
	is "$(state_files)" 0 "$verb removed the pending file"
	stop_daemon
done

# ---- a pending lease whose netns is gone by the restart: the file goes, no release possible ----
ip netns add "kg$T"
defer "ip netns del kg$T"
ip link add eth0 netns "kg$T" type veth peer name vg netns "$H"
ip -n "$H" link set vg master br0 up
start_daemon berth-dhcp:dhcpd-after-ack
KNS=kg$T kcni ADD kg <<<"$(conf)" >/dev/null
reap_daemon; is "$DRC $(state_pending)" "137 true" "netns gone: ADD killed after the ACK, a pending file left"
ip netns del "kg$T"
start_daemon
ok $? "netns gone: the daemon restarts"
is "$(state_files)" 0 "netns gone: the pending file is removed"
grep -q "no DHCPRELEASE sent" "$D/daemon.log"
ok $? "netns gone: the daemon logs that no release could be sent"
stop_daemon

grep -h "Sanitizer\|runtime error" "$D/daemon.log" | head -5 | sed 's/^/#   /'
! grep -q "Sanitizer\|runtime error" "$D/daemon.log"
ok $? "no sanitizer report from the daemon"
done_testing
