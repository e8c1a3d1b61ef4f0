#!/bin/bash
# The bandwidth plugin, run in a throwaway "host" netns against veth pairs into container
# netns: every spec version (kernel qdiscs, ifb and redirect read back with tc/ip, CHECK, DEL,
# a second DEL), one direction at a time, the `bandwidth` capability, pass-through, DEL after
# the netns is gone, DEL and ADD interchangeable with the reference plugin, rollback of a
# failed ADD, bad input for every option, STATUS, GC, real traffic through iperf3 at several
# rates in both directions (within 10% of the configured rate), and a differential run against
# the reference (result and kernel state after ADD and after DEL).
source "$(dirname "$0")/lib-bw.bash"
bw_setup
command -v iperf3 >/dev/null || { echo "not ok 1 - iperf3 missing (scripts/deps.sh test)"; echo 1..1; exit 1; }
NET=bw$T

# ---- every spec version: ADD, kernel state, CHECK, DEL ----
FULL='{"ingressRate":8000000,"ingressBurst":80000,"egressRate":16000000,"egressBurst":160000}'
i=0
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	i=$((i + 1)); c=bc$i$T; hv=bh$i$T; id=ctr$i
	mkpair "$c" "$hv"
	ifb=$(ifbname "$NET" "$id")
	cfg=$(bwconf "$v" "$c" "$hv" "$FULL")
	out=$(bwcall "$BW" ADD "$id" "$c" <<<"$cfg"); rc=$?
	is "$rc" 0 "$v: ADD succeeds"
	is "$(jget "$out" .cniVersion)" "$v" "$v: result in the config's version"
	if [ "$v" = 0.1.0 ] || [ "$v" = 0.2.0 ]; then
		is "$(jget "$out" .ip4.ip)" 10.97.0.2/24 "$v: prevResult passed through"
	else
		is "$(jget "$out" '.ips[0].address')" 10.97.0.2/24 "$v: prevResult passed through"
		is "$(jget "$out" '[.interfaces[].name] | join(",")')" "br0,$hv,eth0,$ifb" "$v: the ifb is appended to the interfaces"
		is "$(jget "$out" '.interfaces[3].mac')" "$(ip -n "$H" -j link show "$ifb" | jq -r '.[0].address')" "$v: with its MAC"
		is "$(jget "$out" '.interfaces[3].sandbox // "host"')" host "$v: on the host side"
	fi
	is "$(qd "$hv" | sort)" "ingress ffff: ffff:fff1 - - -
tbf 1: root 1000000 10000 25000" "$v: host veth: tbf 1MB/s burst 10000 B lat 25ms as root, and an ingress qdisc"
	is "$(redirects "$hv")" "u32 all 1 1:1 match 0/0 -> mirred:egress:redirect:$ifb" "$v: host veth ingress: match-all u32 redirects to the ifb"
	is "$(actions "$hv")" "mirred/stolen" "$v: one mirred action, stolen"
	is "$(qd "$ifb")" "tbf 1: root 2000000 20000 25000" "$v: ifb: tbf 2MB/s burst 20000 B lat 25ms"
	is "$(ip -n "$H" -j -d link show "$ifb" | jq -r '.[0] | "\(.mtu) \(.txqlen // 0) \(.flags | index("UP") != null) \(.ifalias)"')" \
		"1500 0 true berth bandwidth $NET $id eth0" "$v: ifb up, host veth's MTU, txqlen 0, owner alias"
	if ver_ge "$v" 0.4.0; then
		bwcall "$BW" CHECK "$id" "$c" <<<"$(bwconf "$v" "$c" "$hv" "$FULL" | jq -c --argjson p "$out" '.prevResult = $p')" >/dev/null
		ok $? "$v: CHECK passes"
		ip netns exec "$H" tc qdisc change dev "$hv" root handle 1: tbf rate 9mbit burst 10000 latency 25ms
		o=$(bwcall "$BW" CHECK "$id" "$c" <<<"$cfg"); rc=$?
		[ $rc -ne 0 ] && jget "$o" .msg | grep -q "Rate doesn't match"; ok $? "$v: CHECK notices a changed rate"
		ip netns exec "$H" tc qdisc change dev "$hv" root handle 1: tbf rate 8mbit burst 10000 latency 25ms
		ip netns exec "$H" tc filter del dev "$hv" ingress
		o=$(bwcall "$BW" CHECK "$id" "$c" <<<"$cfg"); rc=$?
		[ $rc -ne 0 ] && jget "$o" .msg | grep -q "does not redirect"; ok $? "$v: CHECK notices the missing redirect"
	fi
	bwcall "$BW" DEL "$id" "$c" <<<"$cfg" >/dev/null
	ok $? "$v: DEL succeeds"
	is "$(kstate "$hv")" "## $hv
## ifbs" "$v: DEL leaves no qdisc on the host veth and no ifb"
	bwcall "$BW" DEL "$id" "$c" <<<"$cfg" >/dev/null
	ok $? "$v: second DEL succeeds"
	if [ "$v" = 1.1.0 ]; then
		bwcall "$BW" STATUS "" "" "" <<<"{\"cniVersion\":\"1.1.0\",\"name\":\"$NET\",\"type\":\"bandwidth\"}" >/dev/null
		ok $? "1.1.0: STATUS: the kernel can do ifb, tbf, ingress, u32 and mirred"
	fi
done

# ---- one direction, capability, top-level over runtimeConfig, nothing to do ----
c=bco$T; hv=bho$T; mkpair "$c" "$hv"
ifb=$(ifbname "$NET" one)
run_case() { # DESC EXTRA WANT-STATE
	local out
	out=$(bwcall "$BW" ADD one "$c" <<<"$(bwconf 1.0.0 "$c" "$hv" "$2")"); local rc=$?
	is "$rc" 0 "$1: ADD"
	is "$(kstate "$hv")" "$3" "$1: kernel state"
	bwcall "$BW" DEL one "$c" <<<"$(bwconf 1.0.0 "$c" "$hv" "$2")" >/dev/null
	is "$(kstate "$hv")" "## $hv
## ifbs" "$1: DEL leaves nothing"
	LAST=$out
}
run_case "ingress only" '{"ingressRate":4000000,"ingressBurst":40000}' "## $hv
tbf 1: root 500000 5000 25000
## ifbs"
is "$(jget "$LAST" '.interfaces | length')" 3 "ingress only: no ifb in the result"
run_case "egress only" '{"egressRate":4000000,"egressBurst":40000}' "## $hv
ingress ffff: ffff:fff1 - - -
u32 all 1 1:1 match 0/0 -> mirred:egress:redirect:$ifb
## ifbs
$ifb"
run_case "bandwidth capability (runtimeConfig)" '{"runtimeConfig":{"bandwidth":{"ingressRate":4000000,"ingressBurst":40000}}}' "## $hv
tbf 1: root 500000 5000 25000
## ifbs"
run_case "top-level keys win over runtimeConfig" '{"ingressRate":8000000,"ingressBurst":80000,"runtimeConfig":{"bandwidth":{"ingressRate":4000000,"ingressBurst":40000}}}' "## $hv
tbf 1: root 1000000 10000 25000
## ifbs"
run_case "a top-level key, even 0, hides runtimeConfig" '{"egressRate":0,"runtimeConfig":{"bandwidth":{"ingressRate":4000000,"ingressBurst":40000}}}' "## $hv
## ifbs"
run_case "no limits: pass-through" '{}' "## $hv
## ifbs"
is "$(jget "$LAST" -c)" "$(prev 1.0.0 "$c" "$hv" | jq -c .)" "no limits: the result is prevResult, unchanged"
run_case "above 4 GB/s: 64-bit rate" '{"ingressRate":40000000000,"ingressBurst":400000000}' "## $hv
tbf 1: root 5000000000 50000000 25000
## ifbs"

# ---- DEL without the netns, interchangeable with the reference ----
c=bcg$T; hv=bhg$T; mkpair "$c" "$hv"
cfg=$(bwconf 1.0.0 "$c" "$hv" "$FULL")
bwcall "$BW" ADD gone "$c" <<<"$cfg" >/dev/null; ok $? "netns gone: ADD"
ip netns del "$c"
bwcall "$BW" DEL gone "/run/netns/$c" <<<"$cfg" >/dev/null; ok $? "netns gone: DEL succeeds"
is "$(ifbs)" "" "netns gone: DEL removed the ifb"
bwcall "$BW" DEL gone "" <<<"$cfg" >/dev/null; ok $? "no CNI_NETNS: DEL succeeds"
if [ -x "$REF_BW" ]; then
	c=bcr$T; hv=bhr$T; mkpair "$c" "$hv"
	cfg=$(bwconf 1.0.0 "$c" "$hv" "$FULL")
	bwcall "$REF_BW" ADD x1 "$c" <<<"$cfg" >/dev/null; ok $? "reference ADD"
	bwcall "$BW" DEL x1 "$c" <<<"$cfg" >/dev/null; ok $? "our DEL after the reference's ADD"
	is "$(kstate "$hv")" "## $hv
## ifbs" "our DEL removes the reference's ifb and qdiscs"
	bwcall "$BW" ADD x2 "$c" <<<"$cfg" >/dev/null; ok $? "our ADD"
	bwcall "$REF_BW" DEL x2 "$c" <<<"$cfg" >/dev/null; ok $? "reference DEL after our ADD"
	is "$(ifbs)" "" "the reference finds our ifb by the same name"
	bwcall "$BW" DEL x2 "$c" <<<"$cfg" >/dev/null
else
	ok 1 "reference bandwidth plugin missing at $REF_BW"
fi

# ---- a failed ADD leaves the host as it was ----
c=bcf$T; hv=bhf$T; mkpair "$c" "$hv"
cfg=$(bwconf 1.0.0 "$c" "$hv" "$FULL")
ip -n "$H" link add "$(ifbname "$NET" fail)" type ifb
o=$(bwcall "$BW" ADD fail "$c" <<<"$cfg"); rc=$?
[ $rc -ne 0 ] && jget "$o" .msg | grep -q "File exists"; ok $? "ADD fails when the ifb name is taken"
is "$(qd "$hv" | grep -v noqueue)" "" "... and the ingress tbf it had added is gone again"
ip -n "$H" link del "$(ifbname "$NET" fail)"
ip netns exec "$H" tc qdisc add dev "$hv" root handle 5: tbf rate 1mbit burst 10k latency 50ms
o=$(bwcall "$BW" ADD fail "$c" <<<"$cfg"); rc=$?
[ $rc -ne 0 ] && jget "$o" .msg | grep -q "File exists"; ok $? "ADD fails when the host veth has a root qdisc of its own"
is "$(qd "$hv"; ifbs)" "tbf 5: root 125000 10240 50000" "... which is left as it was, and no ifb"
ip netns exec "$H" tc qdisc del dev "$hv" root

# ---- bad input: the right code, a message naming the problem, nothing changed ----
before=$(kstate "$hv")
bad() { # DESC CODE MSG-REGEX CONFIG [IFNAME]
	local out rc
	out=$(bwcall "$BW" ADD bad "$c" "${5:-eth0}" <<<"$4"); rc=$?
	if [ $rc -eq 1 ] && [ "$(jget "$out" .code)" = "$2" ] && jget "$out" .msg | grep -Eq "$3"; then
		ok 0 "bad input: $1"
	else
		ok 1 "bad input: $1"; diag "rc=$rc $out"
	fi
}
B() { bwconf 1.0.0 "$c" "$hv" "$1"; }
bad "ingressRate a string" 7 'ingressRate must be a non-negative integer' "$(B '{"ingressRate":"1000","ingressBurst":1000}')"
bad "ingressBurst negative" 7 'ingressBurst must be a non-negative integer' "$(B '{"ingressRate":1000,"ingressBurst":-1}')"
bad "egressRate a fraction" 7 'egressRate must be a non-negative integer' "$(B '{"egressRate":1000.5,"egressBurst":1000}')"
bad "egressBurst an object" 7 'egressBurst must be a non-negative integer' "$(B '{"egressRate":1000,"egressBurst":{}}')"
bad "ingressRate without ingressBurst" 7 'ingress: if rate is set, burst must also be set' "$(B '{"ingressRate":1000}')"
bad "ingressBurst without ingressRate" 7 'ingress: if burst is set, rate must also be set' "$(B '{"ingressBurst":1000}')"
bad "egressRate without egressBurst" 7 'egress: if rate is set, burst must also be set' "$(B '{"egressRate":1000}')"
bad "egressBurst without egressRate" 7 'egress: if burst is set, rate must also be set' "$(B '{"egressBurst":1000}')"
bad "ingressBurst over 4GB" 7 'burst cannot be more than 4GB' "$(B '{"ingressRate":1000000,"ingressBurst":34359738360}')"
bad "egressBurst over 4GB" 7 'burst cannot be more than 4GB' "$(B '{"egressRate":1000000,"egressBurst":34359738360}')"
bad "ingressRate under a byte per second" 7 'below one byte per second' "$(B '{"ingressRate":7,"ingressBurst":80000}')"
bad "egressBurst under a byte" 7 'below one byte' "$(B '{"egressRate":8000,"egressBurst":7}')"
bad "runtimeConfig.bandwidth not an object" 7 'runtimeConfig.bandwidth' "$(B '{"runtimeConfig":{"bandwidth":[1]}}')"
bad "runtimeConfig.bandwidth.ingressRate a string" 7 'runtimeConfig.bandwidth.ingressRate must be' "$(B '{"runtimeConfig":{"bandwidth":{"ingressRate":"x","ingressBurst":1}}}')"
bad "runtimeConfig not an object" 7 'runtimeConfig' "$(B '{"runtimeConfig":"x"}')"
bad "prevResult missing" 7 'must be called as chained plugin' \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"$NET\",\"type\":\"bandwidth\",\"ingressRate\":1000,\"ingressBurst\":1000}"
bad "container interface missing" 999 'container interface nosuch0' "$(B "$FULL")" nosuch0
bad "container interface not a veth" 7 'has no veth peer' "$(B "$FULL")" lo
bad "host veth not in prevResult" 7 'no veth peer of container interface found in host ns' \
	"$(B "$FULL" | jq -c '.prevResult.interfaces[1].name = "other0"')"
bad "malformed prevResult" 6 'prevResult' "$(B "$FULL" | jq -c '.prevResult.ips[0].address = "x"')"
is "$(kstate "$hv")" "$before" "kernel unchanged after the bad inputs"
bad "DEL cannot fail on a bad config, but ADD of a bad version does" 1 'incompatible CNI versions' \
	"$(B "$FULL" | jq -c '.cniVersion = "9.9.9"')"
o=$(bwcall "$BW" DEL bad "$c" <<<"$(B '{"ingressRate":"x"}')"); is $? 0 "DEL with a config ADD refuses succeeds"

# ---- GC: ifbs of lost attachments of this network only ----
for k in a b o; do mkpair "bcgc$k$T" "bhgc$k$T"; done
bwcall "$BW" ADD gca "bcgca$T" <<<"$(bwconf 1.1.0 "bcgca$T" "bhgca$T" "$FULL")" >/dev/null
bwcall "$BW" ADD gcb "bcgcb$T" <<<"$(bwconf 1.1.0 "bcgcb$T" "bhgcb$T" "$FULL")" >/dev/null
bwcall "$BW" ADD gco "bcgco$T" <<<"$(bwconf 1.1.0 "bcgco$T" "bhgco$T" "$FULL" other$T)" >/dev/null
is "$(ifbs | wc -l)" 3 "GC setup: three ifbs (two of this network, one of another)"
gc='{"cniVersion":"1.1.0","name":"'$NET'","type":"bandwidth","cni.dev/valid-attachments":[{"containerID":"gca","ifname":"eth0"}]}'
bwcall "$BW" GC "" "" "" <<<"$gc" >/dev/null; ok $? "GC succeeds"
is "$(ifbs)" "$(printf '%s\n' "$(ifbname "$NET" gca)" "$(ifbname other$T gco)" | sort)" \
	"GC removed the lost attachment's ifb, kept the valid one and the other network's"
bwcall "$BW" GC "" "" "" <<<'{"cniVersion":"1.1.0","name":"'$NET'","type":"bandwidth"}' >/dev/null
is "$(ifbs | wc -l)" 2 "GC without valid-attachments removes nothing"
bwcall "$BW" DEL gca "bcgca$T" <<<"$(bwconf 1.1.0 "bcgca$T" "bhgca$T" "$FULL")" >/dev/null
bwcall "$BW" DEL gco "bcgco$T" <<<"$(bwconf 1.1.0 "bcgco$T" "bhgco$T" "$FULL" other$T)" >/dev/null
is "$(ifbs)" "" "DELs remove the rest"

# ---- real traffic: iperf3 between the container and the host end, both directions ----
c=bct$T; hv=bht$T; mkpair "$c" "$hv" 7
iperf() { # iperf [-R]: achieved bit/s, container -> host (egress) or host -> container (-R)
	local port=$((5201 + RANDOM % 2000)) pid out
	ip netns exec "$H" iperf3 -s -1 -B 10.97.7.1 -p $port >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 50); do ip netns exec "$H" ss -ltn | grep -q ":$port " && break; sleep 0.1; done
	out=$(ip netns exec "$c" iperf3 -c 10.97.7.1 -p $port -t 5 -O 2 -J "$@" 2>/dev/null)
	wait $pid 2>/dev/null
	jq -r '.end.sum_received.bits_per_second // 0 | floor' <<<"$out"
}
diag "unshaped: egress $(iperf) bit/s, ingress $(iperf -R) bit/s"
# within10 CONFIGURED DESC [-R]: up to three iperf3 runs; passes when one achieves the configured
# rate within 10% (TCP payload is ~95% of what tbf counts: a sender starved of CPU on a loaded
# machine can fall under that, a missing or wrong limit misses in every run)
within10() {
	local want=$1 desc=$2 a runs="" i
	for i in 1 2 3; do
		a=$(iperf ${3:-})
		runs+="$a "
		if [ "$a" -ge $((want * 9 / 10)) ] && [ "$a" -le $((want * 11 / 10)) ]; then
			ok 0 "$desc: $a bit/s for $want configured (within 10%; runs: $runs)"
			return
		fi
	done
	ok 1 "$desc: within 10% of $want bit/s (runs: $runs)"
}
for rate in 10000000 50000000 200000000; do
	burst=$((rate / 10))
	cfg=$(bwconf 1.0.0 "$c" "$hv" "{\"ingressRate\":$rate,\"ingressBurst\":$burst,\"egressRate\":$((rate / 2)),\"egressBurst\":$((burst / 2))}")
	bwcall "$BW" ADD tr "$c" <<<"$cfg" >/dev/null; ok $? "traffic at $rate: ADD"
	within10 "$rate" "ingress (host -> container) at $((rate / 1000000)) Mbit/s" -R
	within10 "$((rate / 2))" "egress (container -> host) at $((rate / 2000000)) Mbit/s"
	bwcall "$BW" DEL tr "$c" <<<"$cfg" >/dev/null; ok $? "traffic at $rate: DEL"
done
is "$(kstate "$hv")" "## $hv
## ifbs" "after the traffic runs: no qdisc and no ifb"

# ---- differential: the reference and ours on the same veth, one after the other ----
if [ -x "$REF_BW" ]; then
	c=bcd$T; hv=bhd$T; mkpair "$c" "$hv"
	norm() { jq -S '(.interfaces // []) |= map(if (.name | startswith("bwp")) then .mac = "MAC" else . end)'; }
	run() { # IMPL VERSION EXTRA
		local p=$BW out
		[ "$1" = ref ] && p=$REF_BW
		local cfg; cfg=$(bwconf "$2" "$c" "$hv" "$3")
		out=$(bwcall "$p" ADD diff "$c" <<<"$cfg"); echo "rc=$?"
		norm <<<"$out"
		kstate "$hv" "$(ifbname "$NET" diff)"
		ip -n "$H" -j -d link show "$(ifbname "$NET" diff)" 2>/dev/null | jq -c '.[0] | {mtu, txqlen, flags, operstate}'
		echo "## after DEL"
		bwcall "$p" DEL diff "$c" <<<"$cfg"; echo "rc=$?"
		ifbs
		# the reference leaves its qdiscs on the host veth (the veth's own DEL takes them): compare
		# the ifb side here and check ours apart
		qd "$hv" | grep -v '^noqueue' >"$BWTMP/$1.hvq"
		ip netns exec "$H" tc qdisc del dev "$hv" root 2>/dev/null
		ip netns exec "$H" tc qdisc del dev "$hv" ingress 2>/dev/null
	}
	for v in 0.3.0 0.3.1 0.4.0 1.0.0; do
		for x in "$FULL" '{"ingressRate":1000000,"ingressBurst":12000}' '{"egressRate":123456789,"egressBurst":7654321}' \
			'{"runtimeConfig":{"bandwidth":{"egressRate":3000000,"egressBurst":30000,"ingressRate":5000000,"ingressBurst":50000}}}'; do
			ref=$(run ref "$v" "$x" 2>&1); ours=$(run ours "$v" "$x" 2>&1)
			if [ "$ref" = "$ours" ]; then
				ok 0 "differential $v $x: same result and kernel state"
			else
				ok 1 "differential $v $x: same result and kernel state"
				diff <(echo "$ref") <(echo "$ours") | sed 's/^/#   /' | head -20
			fi
			case $ours in *'## ifbs'*) ;; *) ok 1 "differential: our side ran"; esac
			is "$(cat "$BWTMP/ours.hvq")" "" "differential $v: our DEL also removed the host veth's qdiscs"
		done
	done
else
	ok 1 "reference bandwidth plugin missing at $REF_BW"
fi

done_testing
