#!/bin/bash
# The static IPAM plugin against the reference (/usr/lib/cni/static, 1.1.1): the same result,
# compared as JSON, for many configs in every spec version both speak (0.1.0 .. 1.0.0); the same
# message for every error the reference's own code raises (ours carries the spec's code, 7 or 4
# or 1, where the reference says 999); 1.1.0 (route attributes); CHECK, DEL, STATUS, GC, VERSION;
# bad input for every option; the host is left as it was.
source "$(dirname "$0")/../lib.sh"
need_root
ST=$CNI_BIN/static
REF=$REF_CNI/static
[ -x "$ST" ] || skip_all "static not built"
[ -x "$REF" ] || skip_all "no reference static plugin in $REF_CNI"

NS=st$T
mknetns "$NS"

# call PLUGIN CMD [CNI_ARGS] < conf: the compact, key-sorted stdout in $OUT, the exit status in $rc
call() {
	local out
	out=$(env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID=c$T CNI_NETNS="/run/netns/$NS" \
		CNI_IFNAME=eth0 CNI_ARGS="${3:-}" CNI_PATH="$CNI_BIN" "$1" 2>/dev/null)
	rc=$?
	OUT=$(jq -cS . <<<"$out" 2>/dev/null) || OUT="NOT JSON: $out"
}
conf() { # VERSION IPAM-JSON [TOP-LEVEL-EXTRA-JSON]
	jq -nc --arg v "$1" --argjson i "$2" --argjson x "${3:-{\}}" \
		'{cniVersion:$v, name:"st", type:"bridge", ipam:({type:"static"} + $i)} + $x'
}

# same DESC VERSION IPAM [EXTRA] [CNI_ARGS]: ours and the reference agree (both succeed with the
# same result, or both fail with the same message)
same() {
	local desc=$1 c o r orc
	c=$(conf "$2" "$3" "${4:-}")
	call "$REF" ADD "${5:-}" <<<"$c"; r=$OUT; orc=$rc
	call "$ST" ADD "${5:-}" <<<"$c"; o=$OUT
	if [ "$orc" -eq 0 ]; then
		[ "$rc" -eq 0 ] && [ "$o" = "$r" ]
	else
		[ "$rc" -ne 0 ] && [ "$(jq -r .msg <<<"$o")" = "$(jq -r .msg <<<"$r")" ]
	fi
	ok $? "$2: $desc" || true
	[ "$o" = "$r" ] || [ "$orc" -ne 0 ] || { diag "ours: $o"; diag "ref:  $r"; }
	[ "$orc" -eq 0 ] || [ "$(jq -r .msg <<<"$o")" = "$(jq -r .msg <<<"$r")" ] ||
		{ diag "ours: $o"; diag "ref:  $r"; }
}

FULL='{"addresses":[{"address":"10.31.0.5/24","gateway":"10.31.0.1"},{"address":"fd00:31::5/64","gateway":"fd00:31::1"}],
 "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0","gw":"fd00:31::2"},{"dst":"192.0.2.7/24","gw":"10.31.0.9"}],
 "dns":{"nameservers":["10.31.0.53","fd00:31::53"],"domain":"example.test","search":["a.test","b.test"],"options":["ndots:2"]}}'
ONE='{"addresses":[{"address":"10.31.0.5/24"}]}'
TWO4='{"addresses":[{"address":"10.31.0.5/24","gateway":"10.31.0.1"},{"address":"10.32.0.5/16"}]}'

# ---- the same result as the reference, in each result shape both speak (0.3.x print as 0.4.0) ----
for v in 0.1.0 0.2.0 0.3.1 0.4.0 1.0.0; do
	same "addresses, routes and dns" "$v" "$FULL"
	same "one address, nothing else" "$v" "$ONE"
	same "two IPv4 addresses (refused up to 0.2.0)" "$v" "$TWO4"
	same "no address (0.1.0/0.2.0 cannot convert)" "$v" '{}'
	same "only IPv6" "$v" '{"addresses":[{"address":"fd00:31::7/120","gateway":"fd00:31::1"}]}'
	same "IPv4-mapped address becomes IPv4" "$v" '{"addresses":[{"address":"::ffff:10.31.0.5/120"}]}'
	same "CNI_ARGS IP= appended, GATEWAY= for them only" "$v" "$ONE" '' \
		'IP=10.33.0.5/24, fd00:33::5/64;GATEWAY=10.33.0.1,fd00:33::1,10.31.0.1'
	same "CNI_ARGS with IgnoreUnknown" "$v" '{}' '' 'IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.33.0.5/24'
	same "args.cni.ips replace addresses and CNI_ARGS" "$v" "$TWO4" \
		'{"args":{"cni":{"ips":["10.34.0.5/24"]}}}' 'IP=10.33.0.5/24'
	same "runtimeConfig.ips replace everything" "$v" "$TWO4" \
		'{"args":{"cni":{"ips":["10.34.0.5/24"]}},"runtimeConfig":{"ips":["10.35.0.5/24","fd00:35::5/64"]}}' \
		'IP=10.33.0.5/24'
	same "empty runtimeConfig.ips and args.cni.ips replace nothing" "$v" "$ONE" \
		'{"args":{"cni":{"ips":[]}},"runtimeConfig":{"ips":[]}}'
	same "a bad config address does not matter once replaced" "$v" \
		'{"addresses":[{"address":"bogus"}]}' '{"runtimeConfig":{"ips":["10.35.0.5/24"]}}'
	same "null and empty gateway, null routes and dns" "$v" \
		'{"addresses":[{"address":"10.31.0.5/24","gateway":""},{"address":"fd00:31::5/64","gateway":null}],"routes":null,"dns":null}'
done

# ---- the same error message as the reference, for every option ----
v=0.4.0
same "address not CIDR" $v '{"addresses":[{"address":"10.31.0.5"}]}'
same "address missing" $v '{"addresses":[{"gateway":"10.31.0.1"}]}'
same "address with a leading zero" $v '{"addresses":[{"address":"010.31.0.5/24"}]}'
same "address prefix too long" $v '{"addresses":[{"address":"10.31.0.5/33"}]}'
same "gateway not an IP" $v '{"addresses":[{"address":"10.31.0.5/24","gateway":"x"}]}'
same "gateway with a prefix" $v '{"addresses":[{"address":"10.31.0.5/24","gateway":"10.31.0.1/24"}]}'
same "route dst not CIDR" $v '{"routes":[{"dst":"x"}]}'
same "route gw not an IP" $v '{"routes":[{"dst":"10.9.0.0/16","gw":"y"}]}'
same "args.cni.ips entry not CIDR" $v "$ONE" '{"args":{"cni":{"ips":["10.34.0.5"]}}}'
same "args.cni.ips null entry" $v "$ONE" '{"args":{"cni":{"ips":[null]}}}'
same "runtimeConfig.ips entry not CIDR" $v "$ONE" '{"runtimeConfig":{"ips":["x"]}}'
same "args.cni.ips checked even when runtimeConfig replaces them" $v "$ONE" \
	'{"args":{"cni":{"ips":["x"]}},"runtimeConfig":{"ips":["10.35.0.5/24"]}}'
same "CNI_ARGS IP not CIDR" $v "$ONE" '' 'IP=10.33.0.5'
same "CNI_ARGS IP empty item" $v "$ONE" '' 'IP=10.33.0.5/24,'
same "CNI_ARGS GATEWAY not an IP (untrimmed in the message)" $v "$ONE" '' 'IP=10.33.0.5/24;GATEWAY=10.33.0.1, y'
same "CNI_ARGS unknown key" $v "$ONE" '' 'FOO=1'
same "CNI_ARGS pair without =" $v "$ONE" '' 'IP'
same "no ipam" $v '{}' '{"ipam":null}'

# codes: the spec's instead of 999
code() { # DESC WANT-CODE WANT-MSG-REGEX CONF [CNI_ARGS]
	local o
	call "$ST" ADD "${5:-}" <<<"$4"; o=$OUT
	[ "$rc" -ne 0 ] && [ "$(jq -r .code <<<"$o")" = "$2" ] && jq -r .msg <<<"$o" | grep -Eq -- "$3"
	ok $? "$1 (code $2)" || diag "got: $o"
}
code "address not CIDR" 7 "^the 'address' field" "$(conf $v '{"addresses":[{"address":"x"}]}')"
code "CNI_ARGS IP not CIDR" 4 "^the 'ip' field" "$(conf $v "$ONE")" 'IP=x'
code "CNI_ARGS GATEWAY" 4 "^invalid gateway" "$(conf $v "$ONE")" 'IP=10.33.0.5/24;GATEWAY=x'
code "0.2.0 with two IPv4 addresses" 1 "does not support more than 1 address per family" "$(conf 0.2.0 "$TWO4")"
code "no ipam" 7 "IPAM config missing 'ipam' key" '{"cniVersion":"1.0.0","name":"st","type":"x"}'
# type errors (the reference prints Go's json error; ours names the key)
code "ipam not an object" 7 "^ipam must be" '{"cniVersion":"1.0.0","name":"st","ipam":[]}'
code "addresses not an array" 7 "ipam.addresses must be an array" "$(conf $v '{"addresses":{}}')"
code "address entry not an object" 7 "ipam.addresses\[0\] must be an object" "$(conf $v '{"addresses":["10.31.0.5/24"]}')"
code "address not a string" 7 "ipam.addresses\[0\].address must be a string" "$(conf $v '{"addresses":[{"address":5}]}')"
code "gateway not a string" 7 "ipam.addresses\[0\].gateway must be a string" "$(conf $v '{"addresses":[{"address":"10.31.0.5/24","gateway":1}]}')"
code "routes not an array" 7 "ipam.routes must be an array" "$(conf $v '{"routes":{}}')"
code "route not an object" 7 "ipam.routes\[0\] must be an object" "$(conf $v '{"routes":["0.0.0.0/0"]}')"
code "route without dst (the reference prints \"<nil>\")" 7 "ipam.routes\[0\].dst" "$(conf $v '{"routes":[{"gw":"10.31.0.1"}]}')"
code "route mtu negative" 7 "ipam.routes\[0\].mtu" "$(conf 1.1.0 '{"routes":[{"dst":"10.9.0.0/16","mtu":-1}]}')"
code "route table not a number" 7 "ipam.routes\[0\].table" "$(conf 1.1.0 '{"routes":[{"dst":"10.9.0.0/16","table":"x"}]}')"
code "dns not an object" 7 "ipam.dns must be an object" "$(conf $v '{"dns":[]}')"
code "dns.nameservers not an array" 7 "ipam.dns.nameservers must be an array" "$(conf $v '{"dns":{"nameservers":"x"}}')"
code "dns.search entry not a string" 7 "ipam.dns.search\[0\] must be a string" "$(conf $v '{"dns":{"search":[1]}}')"
code "dns.domain not a string" 7 "ipam.dns.domain must be a string" "$(conf $v '{"dns":{"domain":[]}}')"
code "dns.options not an array" 7 "ipam.dns.options must be an array" "$(conf $v '{"dns":{"options":{}}}')"
code "runtimeConfig not an object" 7 "runtimeConfig must be" "$(conf $v "$ONE" '{"runtimeConfig":[]}')"
code "runtimeConfig.ips not an array" 7 "runtimeConfig.ips must be an array" "$(conf $v "$ONE" '{"runtimeConfig":{"ips":"10.35.0.5/24"}}')"
code "args.cni not an object" 7 "args.cni must be" "$(conf $v "$ONE" '{"args":{"cni":1}}')"
code "args.cni.ips entry not a string" 7 "args.cni.ips\[0\] must be a string" "$(conf $v "$ONE" '{"args":{"cni":{"ips":[1]}}}')"
code "cniVersion unknown" 1 "incompatible CNI versions" "$(conf 9.9.9 "$ONE")"
call "$REF" ADD <<<"$(conf $v '{"routes":[{"gw":"10.31.0.1"}]}')"; o=$OUT
is "$(jq -r '.routes[0].dst' <<<"$o")" "<nil>" "the reference: a route without dst comes out as \"<nil>\" (why ours refuses it)"

# ---- 1.1.0 (the reference has no 1.1.0): route attributes, dns omitted when empty ----
call "$ST" ADD <<<"$(conf 1.1.0 '{"addresses":[{"address":"10.31.0.5/24","gateway":"10.31.0.1"}],"routes":[{"dst":"10.9.0.0/16","gw":"10.31.0.9","mtu":1400,"advmss":1360,"priority":7,"table":100,"scope":0}]}')"; o=$OUT
is "$o" '{"cniVersion":"1.1.0","ips":[{"address":"10.31.0.5/24","gateway":"10.31.0.1"}],"routes":[{"advmss":1360,"dst":"10.9.0.0/16","gw":"10.31.0.9","mtu":1400,"priority":7,"scope":0,"table":100}]}' \
	"1.1.0: route attributes kept, empty dns omitted"
call "$ST" ADD <<<"$(conf 1.1.0 "$FULL")"; r=$OUT
call "$REF" ADD <<<"$(conf 1.0.0 "$FULL")"
is "$(jq -c 'del(.cniVersion)' <<<"$r")" "$(jq -c 'del(.cniVersion)' <<<"$OUT")" \
	"1.1.0: the same result as the reference's 1.0.0"

# ---- CHECK ----
for v in 0.4.0 1.0.0 1.1.0; do
	call "$ST" ADD <<<"$(conf $v "$FULL")"; res=$OUT
	c=$(conf $v "$FULL" "{\"prevResult\":$res}")
	call "$ST" CHECK <<<"$c" >/dev/null; is "$rc" 0 "$v: CHECK passes with ADD's result"
	if [ "$v" != 1.1.0 ]; then
		call "$REF" CHECK <<<"$c" >/dev/null; is "$rc" 0 "$v: the reference agrees"
	fi
	bad=$(jq -c '.ips[0].gateway = "10.31.0.254"' <<<"$res")
	c=$(conf $v "$FULL" "{\"prevResult\":$bad}")
	call "$ST" CHECK <<<"$c"; o=$OUT
	[ "$rc" -ne 0 ] && [ "$(jq -r .msg <<<"$o")" = "static: Failed to match addr 10.31.0.5 on interface eth0" ]
	ok $? "$v: CHECK: another gateway fails with the reference's message"
	if [ "$v" != 1.1.0 ]; then
		call "$REF" CHECK <<<"$c"; r=$OUT
		is "$(jq -r .msg <<<"$r")" "$(jq -r .msg <<<"$o")" "$v: the reference agrees"
	fi
	miss=$(jq -c 'del(.ips[1])' <<<"$res")
	call "$ST" CHECK <<<"$(conf $v "$FULL" "{\"prevResult\":$miss}")"; o=$OUT
	[ "$rc" -ne 0 ] && jq -r .msg <<<"$o" | grep -q 'fd00:31::5 not found in prevResult'
	ok $? "$v: CHECK: an address missing from prevResult fails (the reference lets it pass)"
	call "$ST" CHECK <<<"$(conf $v "$FULL")"; o=$OUT
	[ "$rc" -ne 0 ] && [ "$(jq -r .code <<<"$o")" = 7 ] && [ "$(jq -r .msg <<<"$o")" = "Required prevResult missing" ]
	ok $? "$v: CHECK without prevResult: code 7"
done

# ---- DEL, STATUS, GC, VERSION ----
for c in "$(conf 1.0.0 "$FULL")" "$(conf 1.0.0 '{"addresses":[{"address":"x"}]}')" \
	'{"cniVersion":"1.0.0","name":"st"}' "$(conf 9.9.9 "$ONE")"; do
	call "$ST" DEL 'FOO=1' <<<"$c" >/dev/null; is "$rc" 0 "DEL succeeds (nothing to release): $(head -c 60 <<<"$c")"
done
call "$ST" STATUS <<<"$(conf 1.1.0 "$FULL")" >/dev/null; is "$rc" 0 "STATUS: a valid config is ready"
call "$ST" STATUS <<<"$(conf 1.1.0 '{"addresses":[{"address":"x"}]}')"; o=$OUT
[ "$rc" -ne 0 ] && [ "$(jq -r .code <<<"$o")" = 7 ]; ok $? "STATUS: an invalid config is code 7"
call "$ST" STATUS <<<"$(conf 1.0.0 "$FULL")"; o=$OUT
[ "$rc" -ne 0 ] && [ "$(jq -r .code <<<"$o")" = 1 ]; ok $? "STATUS before 1.1.0: code 1"
call "$ST" GC <<<"$(conf 1.1.0 "$FULL" '{"cni.dev/valid-attachments":[]}')" >/dev/null
is "$rc" 0 "GC succeeds (nothing to collect)"
call "$ST" VERSION <<<'{"cniVersion":"1.1.0"}'; o=$OUT
is "$(jq -c .supportedVersions <<<"$o")" '["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' "VERSION: 0.1.0 .. 1.1.0"

is "$(ip -n "$NS" -o addr show | grep -vc ' lo ')" 0 "the container netns was not touched"
ip netns del "$NS"
is "$(ip -o link show | grep -c "$T"; ls /run/netns | grep -c "$T")" "0
0" "host unchanged: no link or netns of this test left"
done_testing
