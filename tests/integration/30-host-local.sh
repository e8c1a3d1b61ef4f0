#!/bin/bash
# host-local IPAM: every option and spec version, results compared with the reference plugin,
# the podman captures as fixtures, on-disk interop with the reference both ways, GC, STATUS,
# exhaustion, bad input leaving nothing behind, and 64 parallel ADDs.
source "$(dirname "$0")/../lib.sh"
need_root

HL=$CNI_BIN/host-local
REF=$REF_CNI/host-local
[ -x "$HL" ] || skip_all "host-local not built"
have_ref=0; [ -x "$REF" ] && have_ref=1
SAMPLES=$BERTH_SRC/tests/data/podman-host-local
SAMPLE_NETDIR=$SAMPLES/var-lib-cni-networks

ns=hl$T
mknetns "$ns"
NS=/run/netns/$ns
D=$(mktemp -d /tmp/berth-hl.XXXXXX)
defer "rm -rf $D"
RESOLV=$D/resolv.conf
printf 'nameserver 10.77.0.53\nnameserver fd00:77::53\ndomain example.test\nsearch a.test b.test\noptions ndots:3\n' >"$RESOLV"

# conf VERSION NAME DATADIR IPAM-BODY [EXTRA-TOP-LEVEL]
conf() {
	printf '{"cniVersion":"%s","name":"%s","type":"bridge"%s,"ipam":{"type":"host-local","dataDir":"%s",%s}}' \
		"$1" "$2" "${5:+,$5}" "$3" "$4"
}
# hl PLUGIN CMD ID [IFNAME [CNI_ARGS]] <<< conf: stdout, exit status kept
hl() { cni "$1" "$2" "$3" "$NS" "${4:-eth0}" "${5:-}"; }
code() { jq -r '.code // empty' <<<"$1" 2>/dev/null; }
listing() { (cd "$1" 2>/dev/null && ls -A | sort | tr '\n' ' '); }

DUAL='"ranges":[[{"subnet":"10.77.0.0/24"}],[{"subnet":"fd00:77::/64","rangeStart":"fd00:77::10","rangeEnd":"fd00:77::20"}]],"routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.77.0.254"},{"dst":"::/0"}],"resolvConf":"'$RESOLV'"'

# ---- every version, result compared with the reference's -------------------------------------
for v in 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	c=$(conf $v "v$T" "$D/ours-$v" "$DUAL")
	out=$(hl "$HL" ADD "ctr-$v" <<<"$c"); rc=$?
	is "$rc" 0 "$v: ADD succeeds"
	is "$(jq -r '.cniVersion' <<<"$out")" "$v" "$v: result in the requested version"
	is "$(jq -r '[.ips[].address] | join(" ")' <<<"$out")" "10.77.0.2/24 fd00:77::10/64" \
		"$v: .2 (gateway .1 skipped) and rangeStart of the v6 set"
	is "$(jq -r '[.ips[].gateway] | join(" ")' <<<"$out")" "10.77.0.1 fd00:77::1" "$v: gateways default to the first host"
	is "$(jq -r 'has("interfaces") or ([.ips[] | has("interface")] | any)' <<<"$out")" false \
		"$v: IPAM result has no interfaces"
	if [ $v = 1.0.0 ] || [ $v = 1.1.0 ]; then want=false; else want=true; fi
	is "$(jq -r '[.ips[] | has("version")] | all' <<<"$out")" $want "$v: ips[].version only before 1.0.0"
	is "$(jq -c '.routes' <<<"$out")" '[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.77.0.254"},{"dst":"::/0"}]' \
		"$v: routes copied"
	is "$(jq -c '.dns' <<<"$out")" '{"nameservers":["10.77.0.53","fd00:77::53"],"domain":"example.test","search":["a.test","b.test"],"options":["ndots:3"]}' \
		"$v: resolvConf parsed into dns"
	is "$(cat "$D/ours-$v/v$T/10.77.0.2" | od -c | head -1 | tr -s ' ')" \
		"$(printf 'ctr-%s\r\neth0' $v | od -c | head -1 | tr -s ' ')" "$v: address file holds id\\r\\nifname"
	if [ $have_ref = 1 ] && [ $v != 1.1.0 ]; then
		rout=$(hl "$REF" ADD "ctr-$v" <<<"$(conf $v "v$T" "$D/ref-$v" "$DUAL")")
		is "$(jq -S . <<<"$out")" "$(jq -S . <<<"$rout")" "$v: result identical to the reference's"
		is "$(listing "$D/ours-$v/v$T" | sed 's/\.berth //')" "$(listing "$D/ref-$v/v$T")" \
			"$v: same files as the reference (plus .berth)"
	fi
	if [ $v != 0.3.0 ] && [ $v != 0.3.1 ]; then
		hl "$HL" CHECK "ctr-$v" <<<"$c" >/dev/null
		ok $? "$v: CHECK finds the allocation"
		out=$(hl "$HL" CHECK "other" <<<"$c"); rc=$?
		is "$rc.$(code "$out")" "1.3" "$v: CHECK of an unknown container -> code 3"
	fi
	hl "$HL" DEL "ctr-$v" <<<"$c" >/dev/null
	ok $? "$v: DEL"
	ok "$([ ! -e "$D/ours-$v/v$T/10.77.0.2" ] && [ ! -e "$D/ours-$v/v$T/fd00:77::10" ]; echo $?)" \
		"$v: DEL removed both address files"
	hl "$HL" DEL "ctr-$v" <<<"$c" >/dev/null
	ok $? "$v: DEL again succeeds"
	out=$(CNI_NETNS= cni "$HL" DEL "ctr-$v" "" eth0 <<<"$c")
	ok $? "$v: DEL without a netns succeeds"
done

# ---- options -----------------------------------------------------------------------------------
c=$(conf 1.0.0 "o$T" "$D/opt" '"ranges":[[{"subnet":"10.78.0.0/24","rangeStart":"10.78.0.100","rangeEnd":"10.78.0.102","gateway":"10.78.0.101"}]]')
is "$(hl "$HL" ADD o1 <<<"$c" | jq -r '.ips[0].address + " " + .ips[0].gateway')" "10.78.0.100/24 10.78.0.101" "rangeStart and gateway"
is "$(hl "$HL" ADD o2 <<<"$c" | jq -r '.ips[0].address')" "10.78.0.102/24" "gateway inside the range skipped"
out=$(hl "$HL" ADD o3 <<<"$c"); rc=$?
is "$rc.$(code "$out")" "1.11" "rangeEnd reached: exhausted -> code 11"
case $(jq -r .msg <<<"$out") in *10.78.0.100-10.78.0.102*) ok 0 "exhaustion message names the range" ;; *) ok 1 "exhaustion message names the range"; diag "$out" ;; esac

c=$(conf 0.4.0 "l$T" "$D/legacy" '"subnet":"10.79.0.0/24","rangeStart":"10.79.0.40","gateway":"10.79.0.1"')
is "$(hl "$HL" ADD l1 <<<"$c" | jq -r '.ips[0].address')" "10.79.0.40/24" "legacy top-level subnet/rangeStart"

c=$(conf 1.0.0 "r$T" "$D/iprng" '"ranges":[[{"subnet":"10.80.0.0/24"}]]' '"runtimeConfig":{"ipRanges":[[{"subnet":"10.81.0.0/24"}]]}')
is "$(hl "$HL" ADD r1 <<<"$c" | jq -r '[.ips[].address] | join(" ")')" "10.81.0.2/24 10.80.0.2/24" \
	"ipRanges capability: runtime ranges first (as the reference)"
is "$(cat "$D/iprng/r$T/last_reserved_ip.0")" "10.81.0.2" "ipRanges set is last_reserved_ip.0"

c=$(conf 1.0.0 "q$T" "$D/req" '"ranges":[[{"subnet":"10.82.0.0/24"}],[{"subnet":"fd00:82::/64"}]]' '"runtimeConfig":{"ips":["10.82.0.9/24","fd00:82::9"]}')
is "$(hl "$HL" ADD q1 <<<"$c" | jq -r '[.ips[].address] | join(" ")')" "10.82.0.9/24 fd00:82::9/64" "runtimeConfig.ips (dual stack)"
c=$(conf 1.0.0 "q$T" "$D/req" '"ranges":[[{"subnet":"10.82.0.0/24"}]]' '"args":{"cni":{"ips":["10.82.0.10"]}}')
is "$(hl "$HL" ADD q2 <<<"$c" | jq -r '.ips[0].address')" "10.82.0.10/24" "args.cni.ips"
c=$(conf 1.0.0 "q$T" "$D/req" '"ranges":[[{"subnet":"10.82.0.0/24"}]]')
is "$(hl "$HL" ADD q3 eth0 "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.82.0.11" <<<"$c" | jq -r '.ips[0].address')" "10.82.0.11/24" "CNI_ARGS IP="

# ---- bad input: right code, message naming the problem, nothing left behind ------------------------
# After each refused ADD the runtime's DEL (twice, same input) succeeds and changes nothing: it
# must not release an address the refused container never had (bad1 asked for q3's).
del_twice() { # del_twice DESC ID IFNAME CNI_ARGS DATADIR < conf
	local c i want
	c=$(cat)
	want=$(listing "$5"; cat "$5"/.berth/index 2>/dev/null | sed 1d)
	for i in 1 2; do
		hl "$HL" DEL "$2" "$3" "$4" <<<"$c" >/dev/null; ok $? "$1: DEL $i after the refused ADD succeeds"
	done
	is "$(listing "$5"; cat "$5"/.berth/index 2>/dev/null | sed 1d)" "$want" "$1: the data dir unchanged by the DELs"
}
c=$(conf 1.0.0 "q$T" "$D/req" '"ranges":[[{"subnet":"10.82.0.0/24"}]]')
before=$(listing "$D/req/q$T")
out=$(hl "$HL" ADD bad1 eth0 "IP=10.82.0.11" <<<"$c"); rc=$?
is "$rc.$(code "$out")" "1.11" "requested IP taken -> code 11"
case $(jq -r .msg <<<"$out") in *10.82.0.11*) ok 0 "message names the taken IP" ;; *) ok 1 "message names the taken IP"; diag "$out" ;; esac
del_twice "requested IP taken" bad1 eth0 "IP=10.82.0.11" "$D/req/q$T" <<<"$c"
out=$(hl "$HL" ADD bad2 eth0 "IP=10.99.0.11" <<<"$c"); rc=$?
is "$rc.$(code "$out")" "1.7" "requested IP outside the range -> code 7"
case $(jq -r .msg <<<"$out") in *10.99.0.11*) ok 0 "message names the IP" ;; *) ok 1 "message names the IP"; diag "$out" ;; esac
del_twice "requested IP outside the range" bad2 eth0 "IP=10.99.0.11" "$D/req/q$T" <<<"$c"
out=$(hl "$HL" ADD bad3 eth0 "IP=10.82.0.1" <<<"$c"); rc=$?
is "$rc.$(code "$out")" "1.7" "requested gateway -> code 7"
del_twice "requested gateway" bad3 eth0 "IP=10.82.0.1" "$D/req/q$T" <<<"$c"
out=$(hl "$HL" ADD bad4 eth0 "IP=banana" <<<"$c"); rc=$?
is "$rc.$(code "$out")" "1.4" "CNI_ARGS IP not an address -> code 4"
del_twice "CNI_ARGS IP not an address" bad4 eth0 "IP=banana" "$D/req/q$T" <<<"$c"
cd2=$(conf 1.0.0 "q$T" "$D/req" '"ranges":[[{"subnet":"10.82.0.0/24"}],[{"subnet":"fd00:82::/64"}]]' '"runtimeConfig":{"ips":["fd00:82::9"]}')
out=$(hl "$HL" ADD bad5 <<<"$cd2"); rc=$?
is "$rc.$(code "$out")" "1.11" "second set fails (requested v6 taken) -> code 11"
del_twice "second set fails" bad5 eth0 "" "$D/req/q$T" <<<"$cd2"
is "$(listing "$D/req/q$T")" "$before" "failed ADDs left no file behind (v4 of bad5 rolled back)"
is "$(cat "$D/req/q$T/last_reserved_ip.0")" "10.82.0.11" "last_reserved_ip unchanged by failures"
for bad in '"ranges":[[{"subnet":"10.83.0.0/24"},{"subnet":"10.83.0.128/25"}]]|ranges [0]' \
	   '"ranges":[[{"subnet":"10.83.0.0/24"}],[{"subnet":"10.83.0.0/16"}]]|range set 0' \
	   '"ranges":[[{"subnet":"10.83.0.5/24"}]]|host bits' \
	   '"ranges":[[{"subnet":"10.83.0.0/31"}]]|too small' \
	   '"ranges":[[{"subnet":"10.83.0.0/24","rangeStart":"10.84.0.1"}]]|rangeStart 10.84.0.1' \
	   '"ranges":[[{"subnet":"10.83.0.0/24"},{"subnet":"fd00::/64"}]]|mixed' \
	   '"ranges":[]|no IP ranges'; do
	out=$(hl "$HL" ADD bad <<<"$(conf 1.0.0 "b$T" "$D/bad" "${bad%%|*}")"); rc=$?
	case "$rc.$(code "$out")|$(jq -r .msg <<<"$out")" in
	"1.7|"*"${bad##*|}"*) ok 0 "invalid config (${bad##*|}) -> code 7 naming it" ;;
	*) ok 1 "invalid config (${bad##*|}) -> code 7 naming it"; diag "$out" ;;
	esac
	del_twice "invalid config (${bad##*|})" bad eth0 "" "$D/bad/b$T" <<<"$(conf 1.0.0 "b$T" "$D/bad" "${bad%%|*}")"
done
# a config ADD refuses still releases what an earlier ADD of the config as it was reserved
c=$(conf 1.0.0 "rl$T" "$D/rel" '"ranges":[[{"subnet":"10.89.0.0/24"}]]')
hl "$HL" ADD relx <<<"$c" >/dev/null
cbad=$(conf 1.0.0 "rl$T" "$D/rel" '"ranges":[[{"subnet":"10.89.0.5/24"}]],"routes":"none"')
out=$(hl "$HL" ADD rely <<<"$cbad"); is "$?.$(code "$out")" "1.7" "the changed config is refused"
hl "$HL" DEL relx eth0 "IP=banana" <<<"$cbad" >/dev/null; ok $? "DEL with it (and a bad IP= in CNI_ARGS) succeeds"
is "$(listing "$D/rel/rl$T" | tr ' ' '\n' | grep -c '^10\.')" 0 "and released the address of the earlier ADD"
is "$(ls -A "$D/bad/b$T" 2>/dev/null | grep -c '^[0-9]')" 0 "invalid configs allocated nothing"

# ---- the podman captures ---------------------------------------------------------------------------
run_sample() { # run_sample NAME DATADIR: replay stdin and env of a capture, dataDir redirected
	local env_file=$SAMPLES/$1.env stdin
	stdin=$(jq -c --arg d "$2" '.ipam.dataDir = $d' "$SAMPLES/$1.stdin.json")
	env -i PATH="$PATH" $(grep '^CNI_' "$env_file" | grep -v '^CNI_NETNS=\|^CNI_PATH=' | tr '\n' ' ') \
		CNI_NETNS="$NS" CNI_PATH="$CNI_BIN" "$HL" <<<"$stdin"
}
if [ -f "$SAMPLES/pzb-ADD-host-local.stdin.json" ]; then
	mkdir -p "$D/pz"
	cp -r "$SAMPLE_NETDIR" "$D/pz/pznet"; chmod -R u+w "$D/pz/pznet"
	out=$(run_sample pzb-ADD-host-local "$D/pz")
	is "$(jq -S 'del(.ips[0].address)' <<<"$out")" "$(jq -S 'del(.ips[0].address)' "$SAMPLES/pzb-ADD-host-local.stdout.json")" \
		"podman ADD: same result as the reference's capture (but the address)"
	is "$(jq -r '.ips[0].address' <<<"$out")" "10.198.0.5/24" \
		"podman data dir copied in: continues after the reference's last_reserved_ip (.4)"
	out=$(run_sample static-ip-mac-ADD-host-local "$D/pz")
	is "$(jq -S . <<<"$out")" "$(jq -S . "$SAMPLES/static-ip-mac-ADD-host-local.stdout.json")" \
		"podman --ip (CNI_ARGS IP=): byte-identical result"
	id3=$(head -1 "$SAMPLE_NETDIR/10.198.0.3" | tr -d '\r')
	c=$(jq -c --arg d "$D/pz" '.ipam.dataDir = $d' "$SAMPLES/pzb-ADD-host-local.stdin.json")
	hl "$HL" DEL "$id3" <<<"$c" >/dev/null
	ok $? "DEL of a container the reference allocated"
	ok "$([ ! -e "$D/pz/pznet/10.198.0.3" ] && [ -e "$D/pz/pznet/10.198.0.4" ]; echo $?)" \
		"only its file removed"
	if [ -f "$SAMPLES/ctr-host-local-DEL.stdin.json" ]; then
		stdin=$(jq -c --arg d "$D/pz" '.ipam.dataDir = $d' "$SAMPLES/ctr-host-local-DEL.stdin.json")
		env -i PATH="$PATH" CNI_COMMAND=DEL CNI_CONTAINERID=pz-pzc1 CNI_NETNS= CNI_IFNAME=eth0 \
			CNI_PATH="$CNI_BIN" CNI_ARGS= "$HL" <<<"$stdin" >/dev/null
		ok $? "containerd's DEL capture (empty CNI_NETNS, prevResult) succeeds"
	else
		ok 1 "containerd's DEL capture in $SAMPLES"
	fi
else
	skip "podman samples not found"
fi

# ---- interop with the reference, both ways ------------------------------------------------------
if [ $have_ref = 1 ]; then
	c=$(conf 1.0.0 "i$T" "$D/inter" '"ranges":[[{"subnet":"10.85.0.0/24"}],[{"subnet":"fd00:85::/120"}]]')
	a=$(hl "$REF" ADD ref1 <<<"$c" | jq -r '[.ips[].address] | join(" ")')
	b=$(hl "$HL" ADD ours1 <<<"$c" | jq -r '[.ips[].address] | join(" ")')
	a2=$(hl "$REF" ADD ref2 <<<"$c" | jq -r '[.ips[].address] | join(" ")')
	b2=$(hl "$HL" ADD ours2 <<<"$c" | jq -r '[.ips[].address] | join(" ")')
	is "$a|$b|$a2|$b2" "10.85.0.2/24 fd00:85::2/120|10.85.0.3/24 fd00:85::3/120|10.85.0.4/24 fd00:85::4/120|10.85.0.5/24 fd00:85::5/120" \
		"alternating reference/ours ADDs: one round robin, no duplicate"
	hl "$REF" CHECK ours1 <<<"$c" >/dev/null
	ok $? "reference CHECK finds our allocation"
	hl "$HL" CHECK ref1 <<<"$c" >/dev/null
	ok $? "our CHECK finds the reference's allocation"
	hl "$REF" DEL ours1 <<<"$c" >/dev/null
	hl "$HL" DEL ref1 <<<"$c" >/dev/null
	is "$(listing "$D/inter/i$T")" ".berth 10.85.0.4 10.85.0.5 fd00:85::4 fd00:85::5 last_reserved_ip.0 last_reserved_ip.1 lock " \
		"reference DEL of ours and our DEL of the reference's both freed the files"
	out=$(hl "$HL" CHECK ours1 <<<"$c"); rc=$?
	is "$rc" 1 "our index noticed the reference's DEL"
	out=$(hl "$REF" CHECK ref1 <<<"$c"); rc=$?
	is "$rc" 1 "reference CHECK does not see a released (recycled) file as an allocation"
	is "$(hl "$HL" ADD ours3 <<<"$c" | jq -r '.ips[0].address')" "10.85.0.6/24" "round robin continues"
	out=$(hl "$REF" ADD ours3 <<<"$c"); rc=$?
	is "$rc" 1 "reference refuses a duplicate of our allocation (it reads our files)"
else
	skip "reference host-local not installed"
fi

# ---- a /28 filled to the last address and one more; STATUS; GC -------------------------------------
c=$(conf 1.1.0 "f$T" "$D/fill" '"ranges":[[{"subnet":"10.86.0.0/28"}]]')
got=""
for i in $(seq 1 13); do got+="$(hl "$HL" ADD "f$i" <<<"$c" | jq -r '.ips[0].address' | cut -d/ -f1 | cut -d. -f4) "; done
is "$got" "2 3 4 5 6 7 8 9 10 11 12 13 14 " "/28: .2 .. .14 handed out in order"
hl "$HL" STATUS "" <<<"$c" >/dev/null
out=$(hl "$HL" ADD f14 <<<"$c"); rc=$?
is "$rc.$(code "$out")" "1.11" "one more: no address -> code 11"
ok "$([ ! -e "$D/fill/f$T/10.86.0.15" ] && [ ! -e "$D/fill/f$T/10.86.0.0" ] && [ ! -e "$D/fill/f$T/10.86.0.1" ]; echo $?)" \
	"network, gateway and broadcast never allocated"
out=$(hl "$HL" STATUS "" <<<"$c"); rc=$?
is "$rc.$(code "$out")" "1.50" "STATUS of an exhausted range -> code 50"
hl "$HL" DEL f5 <<<"$c" >/dev/null
hl "$HL" STATUS "" <<<"$c" >/dev/null
ok $? "STATUS ok again after a DEL"
out=$(hl "$HL" STATUS "" <<<"$(conf 1.0.0 "f$T" "$D/fill" '"ranges":[[{"subnet":"10.86.0.0/28"}]]')"); rc=$?
is "$rc.$(code "$out")" "1.1" "STATUS needs cniVersion 1.1.0"

gc_conf() { conf 1.1.0 "f$T" "$D/fill" '"ranges":[[{"subnet":"10.86.0.0/28"}]]' "\"$1\":$2"; }
printf 'dead\r\neth0' >"$D/fill/f$T/10.86.0.6" # leaked by a crashed reference run
: >"$D/fill/f$T/10.86.0.7"                       # empty file from a crash mid-write
hl "$HL" GC "" <<<"$(gc_conf cni.dev/valid-attachments '[{"containerID":"f1","ifname":"eth0"},{"containerID":"f2","ifname":"eth0"},{"containerID":"f3","ifname":"eth1"}]')" >/dev/null
ok $? "GC succeeds"
is "$(listing "$D/fill/f$T")" ".berth 10.86.0.2 10.86.0.3 last_reserved_ip.0 lock " \
	"GC kept f1/eth0 and f2/eth0, freed f3/eth0 (other ifname), leaks and the empty file"
# grep -r, the administrator's way to find leaked addresses, finds only who holds one
named() { grep -rlw -- "$1" "$2" 2>/dev/null | sed "s|^$2/||" | sort | tr '\n' ' '; }
is "$(named f1 "$D/fill")" "f$T/.berth/index f$T/10.86.0.2 " "after GC: grep -r f1 finds its address file and the index"
for id in f3 f4 f5 f13 dead; do
	is "$(named "$id" "$D/fill")" "" "after GC: grep -r $id in the data dir finds nothing (.berth included)"
done
hl "$HL" ADD g1 <<<"$c" >/dev/null
hl "$HL" GC "" <<<"$(gc_conf cni.dev/attachments '[{"containerID":"g1","ifname":"eth0"}]')" >/dev/null
ok $? "GC with the legacy cni.dev/attachments key"
is "$(listing "$D/fill/f$T")" ".berth 10.86.0.4 last_reserved_ip.0 lock " "legacy key honoured"
hl "$HL" GC "" <<<"$(gc_conf cni.dev/valid-attachments '[]')" >/dev/null
is "$(listing "$D/fill/f$T")" ".berth last_reserved_ip.0 lock " "GC with an empty list frees everything"
is "$(named f1 "$D/fill")$(named f2 "$D/fill")$(named g1 "$D/fill")" "" "after GC: grep -r finds none of them"

# ---- ADD/DEL: nothing in the data dir names a container that holds no address -------------------
# The index is rewritten in place and must be truncated; released files are recycled into
# .berth/spare and must be blank.  Long IDs first, so that shorter content follows longer.
c=$(conf 1.0.0 "gr$T" "$D/grep" '"ranges":[[{"subnet":"10.88.0.0/24"}]]')
long=abc123$(printf 'x%.0s' $(seq 1 60))
for id in "$long" abc123 keep1 abc124; do hl "$HL" ADD "$id" <<<"$c" >/dev/null; done
for id in abc124 "$long" abc123; do hl "$HL" DEL "$id" <<<"$c" >/dev/null; done
is "$(named abc123 "$D/grep")$(named "$long" "$D/grep")$(named abc124 "$D/grep")" "" \
	"after ADD/DEL: grep -r abc123 (and the others released) finds nothing in the data dir"
is "$(named keep1 "$D/grep")" "gr$T/.berth/index gr$T/10.88.0.4 " "the one still attached is found, in its file and the index"
is "$(ls "$D/grep/gr$T/.berth/spare" | wc -l)" 3 "the three released files were recycled as spares"
is "$(cat "$D/grep/gr$T/.berth/spare"/* | tr -d ' ')" "" "and the spares are blank"
hl "$HL" ADD abc125 <<<"$c" >/dev/null
hl "$HL" DEL abc125 <<<"$c" >/dev/null
is "$(named abc125 "$D/grep")" "" "a spare reused and released again names no one"
hl "$HL" DEL keep1 <<<"$c" >/dev/null
is "$(grep -rc . "$D/grep/gr$T/.berth/index")" 1 "with nothing attached the index is its header line alone"

# ---- 64 parallel ADDs ------------------------------------------------------------------------------
c=$(conf 1.0.0 "p$T" "$D/par" '"ranges":[[{"subnet":"10.87.0.0/24"}]]')
mkdir -p "$D/parout"
for i in $(seq 1 64); do
	(hl "$HL" ADD "par$i" <<<"$c" >"$D/parout/$i"; echo $? >"$D/parout/$i.rc") &
done
wait
is "$(cat "$D"/parout/*.rc | sort -u | tr -d '\n')" "0" "64 parallel ADDs all succeed"
is "$(cat "$D"/parout/[0-9] "$D"/parout/[0-9][0-9] | jq -r '.ips[0].address' | sort -u | wc -l)" 64 \
	"64 distinct addresses"
is "$(ls "$D/par/p$T" | grep -c '^10\.87')" 64 "64 address files"
is "$(sed 1d "$D/par/p$T/.berth/index" | wc -l)" 64 "index lists 64 owners"
for i in $(seq 1 64); do hl "$HL" DEL "par$i" <<<"$c" >/dev/null & done
wait
is "$(ls "$D/par/p$T" | grep -c '^10\.87')" 0 "64 parallel DELs freed everything"

done_testing
