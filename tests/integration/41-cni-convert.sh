#!/bin/bash
# Result version conversion compared with libcni itself: the reference `static` IPAM plugin
# prints the same addresses, routes and DNS in every version it speaks; converting its output
# from any version to any other with our types must give its output in that version, byte for
# byte (pretty form included).
source "$(dirname "$0")/../lib.sh"
CONV=$BERTH_BUILD/tests/helpers/cni-convert
REF=$REF_CNI/static
[ -x "$CONV" ] || skip_all "cni-convert helper not built"
[ -x "$REF" ] || skip_all "reference static plugin not installed"

# ref VERSION ADDRESSES: the reference's ADD output for that version
ref() {
	env -i CNI_COMMAND=ADD CNI_CONTAINERID=conv$T CNI_NETNS=/proc/self/ns/net CNI_IFNAME=eth0 \
		CNI_PATH="$REF_CNI" "$REF" <<EOC
{"cniVersion":"$1","name":"conv","type":"static","ipam":{"type":"static","addresses":$2,
 "routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.10.0.254"},{"dst":"::/0"},{"dst":"2001:db8:1::/48","gw":"2001:db8::fe"}],
 "dns":{"nameservers":["10.10.0.1","2001:db8::53"],"domain":"example.com","search":["example.com","corp"],"options":["ndots:2"]}}}
EOC
}

multi='[{"address":"10.10.0.5/24","gateway":"10.10.0.1"},{"address":"10.20.0.5/24"},{"address":"2001:db8::5/64","gateway":"2001:db8::1"},{"address":"2001:db8:0:0:1:0:0:5/64"}]'
single='[{"address":"10.10.0.5/24","gateway":"10.10.0.1"},{"address":"2001:db8::5/64","gateway":"2001:db8::1"}]'

compare_set() { # NAME ADDRESSES VERSIONS...
	local name=$1 addrs=$2; shift 2
	declare -A out
	local v w got
	for v in "$@"; do
		out[$v]=$(ref "$v" "$addrs")
		jq -e .cniVersion <<<"${out[$v]}" >/dev/null 2>&1
		ok $? "$name: reference static answers in $v"
	done
	for v in "$@"; do
		for w in "$@"; do
			got=$("$CONV" "$w" <<<"${out[$v]}")
			is "$got" "${out[$w]}" "$name: $v -> $w equals the reference's $w output"
		done
	done
}

compare_set "multi-address" "$multi" 0.3.0 0.3.1 0.4.0 1.0.0
compare_set "one per family" "$single" 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0

# libcni refuses to down-convert without an IP to 0.2.0; so do we
out=$("$CONV" 0.2.0 <<<'{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}]}'); rc=$?
is "$rc/$(jq -r .code <<<"$out")" "1/1" "no IP -> 0.2.0 is refused with code 1"
# podman's captured bridge result survives 0.4.0 -> 1.1.0 -> 0.4.0 byte for byte
s=$BERTH_SRC/tests/data/podman-bridge/pzb-ADD-bridge.stdout.json
is "$("$CONV" 0.4.0 <<<"$("$CONV" 1.1.0 <"$s")")" "$(cat "$s")" "podman bridge result: 0.4.0 -> 1.1.0 -> 0.4.0"
done_testing
