#!/bin/bash
# loopback: lo up on ADD (result as the reference prints it), CHECK, down on DEL, DEL with the
# netns gone, for every spec version.
source "$(dirname "$0")/../lib.sh"
need_root
LO=$CNI_BIN/loopback
[ -x "$LO" ] || skip_all "loopback not built"

mystate() { host_state | grep -- "$T"; }  # other tests run in parallel
before=$(mystate)
for v in 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	ns=blo${T}${v//./}
	mknetns "$ns"
	ip -n "$ns" link set lo down
	conf="{\"cniVersion\":\"$v\",\"name\":\"lo$T\",\"type\":\"loopback\"}"

	out=$(cni "$LO" ADD c$T "/run/netns/$ns" eth0 <<<"$conf"); rc=$?
	is "$rc" 0 "$v: ADD exits 0"
	is "$(jq -r .cniVersion <<<"$out")" "$v" "$v: result in the requested version"
	is "$(jq -c '.interfaces' <<<"$out")" \
		"[{\"name\":\"lo\",\"mac\":\"00:00:00:00:00:00\",\"sandbox\":\"/run/netns/$ns\"}]" \
		"$v: interfaces = [lo with zero mac and sandbox]"
	is "$(jq -c '[.ips[] | .address, .interface]' <<<"$out")" '["127.0.0.1/8",0,"::1/128",0]' \
		"$v: ips 127.0.0.1/8 and ::1/128 on interface 0"
	case $v in
	0.3.*|0.4.0) want='["4","6"]' ;;
	*) want='[null,null]' ;;
	esac
	is "$(jq -c '[.ips[].version]' <<<"$out")" "$want" "$v: ips[].version as the version requires"
	is "$(ip -n "$ns" -j link show lo | jq -r '.[0].flags | index("UP") != null')" true "$v: lo is UP in the kernel"
	check "$v: 127.0.0.1 answers" -- ip netns exec "$ns" ping -c1 -W1 127.0.0.1

	if [ "$v" != 0.3.0 ] && [ "$v" != 0.3.1 ]; then
		cconf=$(jq -c --argjson p "$out" '. + {prevResult: $p}' <<<"$conf")
		cni "$LO" CHECK c$T "/run/netns/$ns" eth0 <<<"$cconf" >/dev/null
		ok $? "$v: CHECK passes with lo up"
		ip -n "$ns" link set lo down
		out2=$(cni "$LO" CHECK c$T "/run/netns/$ns" eth0 <<<"$cconf"); rc=$?
		is "$rc" 1 "$v: CHECK fails with lo down"
		case $(jq -r .msg <<<"$out2") in *down*) ok 0 "$v: CHECK says lo is down" ;; *) ok 1 "$v: CHECK says lo is down"; diag "$out2" ;; esac
		ip -n "$ns" link set lo up
		# prevResult passes through unchanged
		out3=$(cni "$LO" ADD c$T "/run/netns/$ns" eth0 <<<"$(jq -c '. + {prevResult: {"cniVersion":"'$v'","interfaces":[{"name":"x"}],"ips":[],"dns":{}}}' <<<"$conf")")
		is "$(jq -c '.interfaces' <<<"$out3")" '[{"name":"x"}]' "$v: ADD with prevResult returns it"
	fi

	cni "$LO" DEL c$T "/run/netns/$ns" eth0 <<<"$conf" >/dev/null
	ok $? "$v: DEL exits 0"
	is "$(ip -n "$ns" -j link show lo | jq -r '.[0].flags | index("UP") != null')" false "$v: lo is DOWN after DEL"
	cni "$LO" DEL c$T "/run/netns/$ns" eth0 <<<"$conf" >/dev/null
	ok $? "$v: second DEL exits 0"
	ip netns del "$ns"
	cni "$LO" DEL c$T "/run/netns/$ns" eth0 <<<"$conf" >/dev/null
	ok $? "$v: DEL with the netns deleted exits 0"
	out=$(cni "$LO" ADD c$T "/run/netns/$ns" eth0 <<<"$conf"); rc=$?
	is "$rc" 1 "$v: ADD into a missing netns fails"
done

# STATUS (rtnetlink usable) and GC (loopback keeps no state outside the container)
conf='{"cniVersion":"1.1.0","name":"lo'$T'","type":"loopback"}'
out=$(env -i CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" "$LO" <<<"$conf"); is "$?:$out" "0:" "1.1.0: STATUS ready"
out=$(env -i CNI_COMMAND=GC CNI_PATH="$CNI_BIN" "$LO" <<<"${conf%\}},\"cni.dev/valid-attachments\":[]}"); is "$?:$out" "0:" "1.1.0: GC succeeds"

# A file that is not a netns.
touch "/tmp/notns.$T"; defer "rm -f /tmp/notns.$T"
out=$(cni "$LO" ADD c$T "/tmp/notns.$T" eth0 <<<'{"cniVersion":"1.0.0","name":"x","type":"loopback"}'); rc=$?
is "$rc" 1 "ADD with a regular file as netns fails"
is "$(jq -r .code <<<"$out")" 4 "... with code 4"

# Same result as the reference where the reference is right (1.0.0).
if [ -x "$REF_CNI/loopback" ]; then
	ns=blr$T; mknetns "$ns"
	conf='{"cniVersion":"1.0.0","name":"lo","type":"loopback"}'
	ours=$(cni "$LO" ADD c$T "/run/netns/$ns" eth0 <<<"$conf" | jq -S .)
	cni "$LO" DEL c$T "/run/netns/$ns" eth0 <<<"$conf" >/dev/null
	ref=$(CNI_PATH=$REF_CNI cni "$REF_CNI/loopback" ADD c$T "/run/netns/$ns" eth0 <<<"$conf" | jq -S .)
	is "$ours" "$ref" "1.0.0 result identical to the reference loopback"
	ip netns del "$ns"
else
	skip "1.0.0 result identical to the reference loopback: no reference loopback in $REF_CNI"
fi
is "$(mystate)" "$before" "host links and netns unchanged"
done_testing
