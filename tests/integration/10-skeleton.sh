#!/bin/bash
# The plugin skeleton, exercised through every CNI plugin binary: environment validation, version
# negotiation, error JSON on stdout with exit 1, VERSION as podman calls it.
source "$(dirname "$0")/../lib.sh"

plugins=$(ls "$CNI_BIN" 2>/dev/null)
[ -n "$plugins" ] || skip_all "no CNI plugins built"

# run_err PLUGIN ENV... -- STDIN: expect exit 1 and an error JSON; prints "code|msg"
run_err() {
	local plugin=$1; shift
	local envs=() out rc
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	out=$(printf '%s' "$1" | env -i PATH="$PATH" "${envs[@]}" "$CNI_BIN/$plugin" 2>/dev/null)
	rc=$?
	[ $rc -eq 1 ] || { echo "rc=$rc"; return; }
	jq -r '"\(.code)|\(.msg)|\(.details // "")"' <<<"$out" 2>/dev/null || echo "bad-json:$out"
}

# del_after PLUGIN DESC MAYFAIL-CODE ENV... -- STDIN: the DEL a runtime sends after the refused ADD
# of the same input, twice.  It succeeds, or, where the input itself cannot be read (not JSON,
# no usable name) or the environment is unusable, fails with that code and an error JSON.
del_after() {
	local plugin=$1 desc=$2 may=$3 i r envs=()
	shift 3
	while [ "$1" != "--" ]; do envs+=("${1/CNI_COMMAND=ADD/CNI_COMMAND=DEL}"); shift; done
	shift
	for i in 1 2; do
		r=$(run_err "$plugin" "${envs[@]}" -- "$1")
		case $may:$r in
		*:rc=0) ok 0 "$plugin: $desc: DEL $i after the refused ADD succeeds" ;;
		-:*) ok 1 "$plugin: $desc: DEL $i after the refused ADD succeeds"; diag "$r" ;;
		*) is "${r%%|*}" "$may" "$plugin: $desc: DEL $i refuses the same input, code $may" ;;
		esac
	done
}

ns=bsk$T
mknetns "$ns"
nsstate() { ip -n "$ns" -o link show | awk -F': ' '{print $2}'; ip -o link show | grep -c .; }
state0=$(nsstate)
touch /tmp/notns.$T; defer "rm -f /tmp/notns.$T"
base=(CNI_CONTAINERID=ctr1 CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0 CNI_PATH=$CNI_BIN)

for p in $plugins; do
	conf="{\"cniVersion\":\"1.0.0\",\"name\":\"sk$T\",\"type\":\"$p\"}"

	out=$(echo '{"cniVersion":"1.0.0"}' | env -i CNI_COMMAND=VERSION CNI_NETNS=dummy CNI_PATH=dummy CNI_IFNAME=dummy "$CNI_BIN/$p")
	is "$(jq -r '.supportedVersions | index("0.4.0") != null and index("1.0.0") != null' <<<"$out")" true \
		"$p: VERSION as podman calls it lists 0.4.0 and 1.0.0"
	is "$(jq -r '.cniVersion' <<<"$out")" "1.1.0" "$p: VERSION reports spec 1.1.0"

	env -i "$CNI_BIN/$p" </dev/null >/dev/null 2>&1
	ok $? "$p: no CNI_COMMAND prints the about text and exits 0"

	r=$(run_err "$p" CNI_COMMAND=ADD -- "$conf")
	case $r in 4\|*CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH*) ok 0 "$p: missing env -> code 4 naming them" ;;
	*) ok 1 "$p: missing env -> code 4 naming them"; diag "$r" ;; esac

	r=$(run_err "$p" CNI_COMMAND=FROB "${base[@]}" -- "$conf")
	is "${r%%|*}" 4 "$p: unknown CNI_COMMAND -> code 4"

	r=$(run_err "$p" CNI_COMMAND=ADD "${base[@]}" -- '{"cniVersion":"1.0.0",')
	is "${r%%|*}" 6 "$p: malformed JSON -> code 6"
	del_after "$p" "malformed JSON" 6 CNI_COMMAND=ADD "${base[@]}" -- '{"cniVersion":"1.0.0",'

	r=$(run_err "$p" CNI_COMMAND=ADD "${base[@]}" -- "{\"cniVersion\":\"9.9.9\",\"name\":\"x\",\"type\":\"$p\"}")
	case $r in 1\|incompatible*9.9.9*) ok 0 "$p: unknown cniVersion -> code 1 with details" ;;
	*) ok 1 "$p: unknown cniVersion -> code 1 with details"; diag "$r" ;; esac
	del_after "$p" "unknown cniVersion" - CNI_COMMAND=ADD "${base[@]}" -- "{\"cniVersion\":\"9.9.9\",\"name\":\"x\",\"type\":\"$p\"}"

	r=$(run_err "$p" CNI_COMMAND=ADD "${base[@]}" -- "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"type\":\"$p\",\"prevResult\":{\"ips\":[{\"address\":\"nonsense\"}]}}")
	is "${r%%|*}" 6 "$p: a prevResult that does not parse -> code 6"
	del_after "$p" "bad prevResult" - CNI_COMMAND=ADD "${base[@]}" -- "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"type\":\"$p\",\"prevResult\":{\"ips\":[{\"address\":\"nonsense\"}]}}"

	junk="{\"cniVersion\":5,\"name\":\"x$T\",\"type\":\"$p\",\"ipam\":\"zz\",\"runtimeConfig\":7,\"prevResult\":[1],\"dataDir\":3,\"mtu\":{}}"
	r=$(run_err "$p" CNI_COMMAND=ADD "${base[@]}" -- "$junk")
	is "${r%%|*}" 7 "$p: cniVersion not a string (and other keys of the wrong type) -> code 7"
	del_after "$p" "keys of the wrong type" - CNI_COMMAND=ADD "${base[@]}" -- "$junk"

	r=$(run_err "$p" CNI_COMMAND=ADD "${base[@]}" -- "{\"cniVersion\":\"1.0.0\",\"type\":\"$p\"}")
	is "${r%%|*}" 7 "$p: missing network name -> code 7"
	del_after "$p" "missing network name" 7 CNI_COMMAND=ADD "${base[@]}" -- "{\"cniVersion\":\"1.0.0\",\"type\":\"$p\"}"

	if [ "$p" = host-local ]; then
		r=$(run_err "$p" CNI_COMMAND=CHECK "${base[@]}" -- "{\"cniVersion\":\"1.0.0\",\"name\":\"sk$T\",\"type\":\"host-local\",\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.250.8.0/24\",\"dataDir\":\"/tmp/notns.$T.d\"}}")
		is "${r%%|*}" 3 "$p: CHECK without prevResult (IPAM: allowed) -> code 3, nothing reserved"
	else
		r=$(run_err "$p" CNI_COMMAND=CHECK "${base[@]}" -- "$conf")
		is "${r%%|*}" 7 "$p: CHECK without prevResult -> code 7"
	fi

	r=$(run_err "$p" CNI_COMMAND=CHECK "${base[@]}" -- "{\"cniVersion\":\"0.3.1\",\"name\":\"x\",\"type\":\"$p\"}")
	is "${r%%|*}" 1 "$p: CHECK with 0.3.1 -> code 1"

	r=$(run_err "$p" CNI_COMMAND=STATUS CNI_PATH=$CNI_BIN -- "$conf")
	is "${r%%|*}" 1 "$p: STATUS with 1.0.0 -> code 1"

	for e in "CNI_CONTAINERID=../etc|CNI_IFNAME=eth0|CNI_NETNS=/run/netns/$ns|container ID with a path escape" \
		 "CNI_CONTAINERID=c|CNI_IFNAME=abcdefghijklmnop|CNI_NETNS=/run/netns/$ns|16-character ifname" \
		 "CNI_CONTAINERID=c|CNI_IFNAME=../x|CNI_NETNS=/run/netns/$ns|ifname with /" \
		 "CNI_CONTAINERID=c|CNI_IFNAME=eth0|CNI_NETNS=/tmp/notns.$T|CNI_NETNS that is not a netns" \
		 "CNI_CONTAINERID=c|CNI_IFNAME=eth0|CNI_NETNS=/proc/self/ns/mnt|CNI_NETNS a mount namespace" \
		 "CNI_CONTAINERID=c|CNI_IFNAME=eth0|CNI_NETNS=/proc/self/ns/net|the plugin's own netns"; do
		IFS='|' read -r id ifn nsv desc <<<"$e"
		r=$(run_err "$p" CNI_COMMAND=ADD "$id" "$nsv" "$ifn" CNI_PATH=$CNI_BIN -- "$conf")
		is "${r%%|*}" 4 "$p: $desc -> code 4"
		# a netns that is not one (a file, another namespace type) counts as gone for DEL
		case $desc in *"not a netns"* | *mount*) may=- ;; *) may=4 ;; esac
		del_after "$p" "$desc" "$may" CNI_COMMAND=ADD "$id" "$nsv" "$ifn" CNI_PATH=$CNI_BIN -- "$conf"
	done
done
is "$(nsstate)" "$state0" "the container netns and the host's links are as before all the refused ADDs and DELs"

# Delegation: an IPAM plugin that exits without reading its (large) stdin must give its error
# back, not kill the delegating plugin with SIGPIPE; the bridge it created is removed again.
if [ -x "$CNI_BIN/bridge" ]; then
	fk=$(mktemp -d /tmp/berth-fk.XXXXXX); defer "rm -rf $fk"
	printf '#!/bin/sh\necho "{\\"code\\":11,\\"msg\\":\\"fake ipam refuses\\"}"\nexit 1\n' >"$fk/fakeipam"
	chmod +x "$fk/fakeipam"
	pad=$(head -c 300000 /dev/zero | tr '\0' a)
	defer "ip link del skb$T"
	out=$(printf '{"cniVersion":"1.0.0","name":"sk","type":"bridge","bridge":"skb%s","pad":"%s","ipam":{"type":"fakeipam"}}' "$T" "$pad" |
		env -i CNI_COMMAND=ADD CNI_CONTAINERID=c CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0 CNI_PATH="$fk" "$CNI_BIN/bridge"); rc=$?
	is "$rc:$(jq -r '"\(.code) \(.msg)"' <<<"$out")" "1:11 fake ipam refuses" "bridge: a delegate that ignores stdin returns its error (no SIGPIPE)"
	ip link show "skb$T" >/dev/null 2>&1; is $? 1 "bridge: the bridge it created is gone after the failed ADD"
	is "$(ip -n "$ns" -o link show | grep -c eth0)" 0 "bridge: no container interface left"

	# bridge runs host-local in its own process only when CNI_PATH finds the host-local beside
	# it; another one named host-local (here a copy of the fake, first on CNI_PATH) is exec'd
	cp "$fk/fakeipam" "$fk/host-local"
	out=$(printf '{"cniVersion":"1.0.0","name":"sk","type":"bridge","bridge":"skb%s","ipam":{"type":"host-local","subnet":"10.250.9.0/24"}}' "$T" |
		env -i CNI_COMMAND=ADD CNI_CONTAINERID=c CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0 CNI_PATH="$fk:$CNI_BIN" "$CNI_BIN/bridge"); rc=$?
	is "$rc:$(jq -r '"\(.code) \(.msg)"' <<<"$out")" "1:11 fake ipam refuses" "bridge: a host-local found first on CNI_PATH that is not its sibling is exec'd"
	out=$(printf '{"cniVersion":"1.0.0","name":"sk","type":"bridge","bridge":"skb%s","ipam":{"type":"host-local","subnet":"10.250.9.0/24","dataDir":"%s"}}' "$T" "$fk/ipam" |
		env -i CNI_COMMAND=ADD CNI_CONTAINERID=c CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN:$fk" "$CNI_BIN/bridge"); rc=$?
	is "$rc:$(jq -r '.ips[0].address' <<<"$out")" "0:10.250.9.2/24" "bridge: with its sibling first, host-local runs in-process and reserves"
	is "$(tr -d '\r' <"$fk/ipam/sk/10.250.9.2" 2>/dev/null | head -1)" c "bridge: the reservation is in host-local's data dir"
	printf '{"cniVersion":"1.0.0","name":"sk","type":"bridge","bridge":"skb%s","ipam":{"type":"host-local","subnet":"10.250.9.0/24","dataDir":"%s"}}' "$T" "$fk/ipam" |
		env -i CNI_COMMAND=DEL CNI_CONTAINERID=c CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN:$fk" "$CNI_BIN/bridge" >/dev/null
	ok $? "bridge: DEL"
	[ ! -e "$fk/ipam/sk/10.250.9.2" ]; ok $? "bridge: DEL released it through the in-process host-local"
fi

done_testing
