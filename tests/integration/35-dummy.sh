#!/bin/bash
# The dummy plugin on this host, whose kernel has no dummy links: bad input for every option
# (refused before any kernel work), an ADD that fails cleanly (the netns, the IPAM store and the
# host as they were; a link of that name left alone), STATUS answering 50, CHECK's refusals,
# DEL (idempotent, without the netns, without the link or an IPAM, releasing the IPAM's
# reservation, never deleting a link that is not a dummy), GC through the IPAM, VERSION.  The
# real ADD/CHECK/DEL, the undo of a failed ADD and the crash points run in the VM: see
# tests/vm/ifaces-dummy.sh (tests/integration/47-ifaces-vm.sh).
source "$(dirname "$0")/../lib.sh"
need_root
DM=$CNI_BIN/dummy
[ -x "$DM" ] || skip_all "dummy not built"
[ -x "$CNI_BIN/host-local" ] && [ -x "$CNI_BIN/static" ] || skip_all "host-local or static not built"

NS=dm$T
mknetns "$NS"
ip -n "$NS" link add net2 type veth peer name p2
DATA=$(mktemp -d /tmp/berth-dummy.XXXXXX)
defer "rm -rf $DATA"
NET=dn$T

HL="{\"type\":\"host-local\",\"dataDir\":\"$DATA\",\"ranges\":[[{\"subnet\":\"10.41.0.0/24\"}]]}"
conf() { # VERSION IPAM-JSON|- [EXTRA-JSON]
	if [ "$2" = - ]; then
		jq -nc --arg v "$1" --arg n "$NET" --argjson x "${3:-{\}}" '{cniVersion:$v, name:$n, type:"dummy"} + $x'
	else
		jq -nc --arg v "$1" --arg n "$NET" --argjson i "$2" --argjson x "${3:-{\}}" \
			'{cniVersion:$v, name:$n, type:"dummy", ipam:$i} + $x'
	fi
}
call() { # CMD IFNAME [NETNS] < conf: stdout in $OUT, exit status in $rc
	OUT=$(cni "$DM" "$1" c$T "${3-/run/netns/$NS}" "$2" 2>/dev/null)
	rc=$?
}
links() { ip -n "$NS" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' '; }
reserved() { ls "$DATA/$NET" 2>/dev/null | grep -c '^10\.' ; }
bad() { # DESC CODE MSG-REGEX CMD CONF [IFNAME]
	call "$4" "${6:-net1}" <<<"$5"
	if [ $rc -eq 1 ] && [ "$(jget "$OUT" .code)" = "$2" ] && jget "$OUT" .msg | grep -Eq -- "$3"; then
		ok 0 "$4: $1"
	else
		ok 1 "$4: $1"; diag "rc=$rc $OUT"
	fi
}
before=$(links)

# ---- bad input, every option ----
for v in 0.3.1 1.0.0 1.1.0; do
	bad "$v: no ipam" 7 '^dummy interface requires an IPAM configuration$' ADD "$(conf $v -)"
done
bad "ipam without type" 7 'requires an IPAM configuration' ADD "$(conf 1.0.0 '{}')"
bad "ipam.type empty" 7 'requires an IPAM configuration' ADD "$(conf 1.0.0 '{"type":""}')"
bad "ipam.type not a string" 7 'ipam.type must be a string' ADD "$(conf 1.0.0 '{"type":5}')"
bad "ipam not an object" 7 '^ipam must be' ADD "$(conf 1.0.0 '"host-local"')"
bad "cniVersion unknown" 1 'incompatible CNI versions' ADD "$(conf 9.9.9 "$HL")"
bad "ifname too long" 4 'interface name is too long' ADD "$(conf 1.0.0 "$HL")" net0123456789abc
cni "$DM" ADD c$T /run/netns/none$T net1 <<<"$(conf 1.0.0 "$HL")" >/dev/null; rc=$?
is "$rc" 1 "ADD: a netns that does not exist is refused"
bad "CHECK without ipam" 7 'requires an IPAM configuration' CHECK "$(conf 1.0.0 - '{"prevResult":{"cniVersion":"1.0.0"}}')"
bad "CHECK without prevResult" 7 'prevResult' CHECK "$(conf 1.0.0 "$HL")"
bad "CHECK before 0.4.0" 1 'does not allow CHECK' CHECK "$(conf 0.3.1 "$HL")"
is "$(links)" "$before" "the refused calls left the netns as it was"
is "$(reserved)" 0 "... and reserved no address"

# ---- ADD fails cleanly on a kernel without dummy ----
for v in 0.3.1 1.0.0 1.1.0; do
	bad "$v: no dummy in this kernel" 999 '^failed to create dummy: .*Unknown device type' ADD "$(conf $v "$HL")"
done
bad "static IPAM, no dummy in this kernel" 999 'Unknown device type' ADD \
	"$(conf 1.0.0 '{"type":"static","addresses":[{"address":"10.41.1.5/24"}]}')"
is "$(links)" "$before" "the failed ADDs left the netns as it was"
is "$(reserved)" 0 "... and the IPAM store holds no address (the link comes before the IPAM)"
bad "a link of that name exists" 999 'failed to create dummy: .*File exists' ADD "$(conf 1.0.0 "$HL")" net2
is "$(links)" "$before" "... and it is left alone"

# ---- STATUS ----
call STATUS "" "" <<<"$(conf 1.1.0 "$HL")"
[ $rc -eq 1 ] && [ "$(jget "$OUT" .code)" = 50 ] && jget "$OUT" .msg | grep -q 'cannot create a dummy link'
ok $? "STATUS on a kernel without dummy: code 50"
bad "STATUS without ipam" 7 'requires an IPAM configuration' STATUS "$(conf 1.1.0 -)"
bad "STATUS before 1.1.0" 1 'does not allow STATUS' STATUS "$(conf 1.0.0 "$HL")"

# ---- DEL ----
cni "$CNI_BIN/host-local" ADD c$T "/run/netns/$NS" net1 <<<"$(conf 1.0.0 "$HL")" >/dev/null
is "$(reserved)" 1 "host-local reserved an address for c$T/net1 (what an ADD would have left)"
call DEL net1 <<<"$(conf 1.0.0 "$HL")"; is "$rc" 0 "DEL without the link succeeds"
is "$(reserved)" 0 "... and released the IPAM's address"
call DEL net1 <<<"$(conf 1.0.0 "$HL")"; is "$rc" 0 "DEL again succeeds"
call DEL net2 <<<"$(conf 1.0.0 "$HL")"; is "$rc" 0 "DEL of a name held by a veth succeeds"
is "$(links)" "$before" "... and leaves that veth (not a dummy) alone"
call DEL net1 "" <<<"$(conf 1.0.0 "$HL")"; is "$rc" 0 "DEL without CNI_NETNS succeeds"
call DEL net1 /run/netns/gone$T <<<"$(conf 1.0.0 "$HL")"; is "$rc" 0 "DEL after the netns is gone succeeds"
for c in "$(conf 1.0.0 -)" "$(conf 1.0.0 '{"type":5}')" "$(conf 1.0.0 '"x"')" "$(conf 9.9.9 "$HL")"; do
	call DEL net1 <<<"$c"; is "$rc" 0 "DEL of a config ADD refuses succeeds: $(jq -c '{cniVersion,ipam}' <<<"$c")"
done
call DEL net1 <<<"$(conf 1.0.0 '{"type":"static","addresses":[{"address":"10.41.1.5/24"}]}')"
is "$rc" 0 "DEL with static IPAM succeeds"
is "$(links)" "$before" "DEL left the netns as it was"

# ---- GC through the IPAM ----
cni "$CNI_BIN/host-local" ADD gc$T "/run/netns/$NS" net1 <<<"$(conf 1.1.0 "$HL")" >/dev/null
cni "$CNI_BIN/host-local" ADD keep$T "/run/netns/$NS" net1 <<<"$(conf 1.1.0 "$HL")" >/dev/null
call GC "" "" <<<"$(conf 1.1.0 "$HL" "{\"cni.dev/valid-attachments\":[{\"containerID\":\"keep$T\",\"ifname\":\"net1\"}]}")"
is "$rc" 0 "GC succeeds"
is "$(reserved)" 1 "GC: the IPAM kept the valid attachment's address and released the other"
call GC "" "" <<<"$(conf 1.1.0 - '{"cni.dev/valid-attachments":[]}')"; is "$rc" 0 "GC without ipam succeeds"
cni "$CNI_BIN/host-local" DEL keep$T "/run/netns/$NS" net1 <<<"$(conf 1.1.0 "$HL")" >/dev/null

call VERSION "" "" <<<'{"cniVersion":"1.1.0"}'
is "$(jq -c .supportedVersions <<<"$OUT")" '["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' "VERSION: 0.1.0 .. 1.1.0"
ip netns del "$NS"
is "$(ip -o link show | grep -c "$T"; ls /run/netns | grep -c "$T")" "0
0" "host unchanged: no link or netns of this test left"
done_testing
