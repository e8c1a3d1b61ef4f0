#!/bin/bash
# dnsname: containers on one bridge network find each other by name and alias through the
# network's dnsmasq.  Everything host-side lives in a throwaway "host" netns ($H): the bridge,
# the dnsmasq (bound to the bridge's gateway), the plugin calls; state goes to a temp dir
# ($BERTH_DNSNAME_DIR).  Names are resolved the way a container does: glibc's resolver
# (getent hosts) in the container's netns with the resolv.conf the ADD result describes
# (ip netns exec bind-mounts /etc/netns/<ns>/resolv.conf).  The plugin runs in $H by nsenter.
source "$(dirname "$0")/../lib.sh"
need_root
DN=$CNI_BIN/dnsname
BRP=$CNI_BIN/bridge
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ -x "$DN" ] || skip_all "dnsname not built"
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || { echo "not ok 1 - dnsmasq missing (dnsmasq-base)"; echo 1..1; exit 1; }

H=dh$T
mknetns "$H" || skip_all "cannot create netns"
# (dnsmasq forwards nothing here: every name asked is bare (domain-needed) or in its domain)
S=$(mktemp -d /tmp/dnsname-test.XXXXXX)
defer "rm -rf $S"
export BERTH_DNSNAME_DIR=$S/state
NET=dn$T
BR=dnb$T
OCT=$(( (0x$T % 200) + 20 ))
SUB=10.252.$OCT
GW=$SUB.1
# stop every dnsmasq of this test, whatever happened
defer "for p in \$(cat $S/state/*/pidfile 2>/dev/null); do kill \$p; done"

# hcni PLUGIN CMD ID NETNS IFNAME [CNI_ARGS] <config: a plugin call from the host netns
hcni() {
	local plugin=$1 cmd=$2 id=$3 netns=$4 ifname=$5 args=${6:-}
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" \
		CNI_NETNS="$netns" CNI_IFNAME="$ifname" CNI_ARGS="$args" CNI_PATH="$CNI_BIN" \
		BERTH_DNSNAME_DIR="$BERTH_DNSNAME_DIR" BERTH_LOG_LEVEL=error \
		${BERTH_DNSMASQ:+BERTH_DNSMASQ="$BERTH_DNSMASQ"} \
		${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} \
		${BERTH_DNSNAME_TEST_FAIL_ADD:+BERTH_DNSNAME_TEST_FAIL_ADD=1} "$plugin"
}
hcni_x() { # as hcni, passing XDG_RUNTIME_DIR (the reference's state dir)
	local plugin=$1 cmd=$2 id=$3 netns=$4 ifname=$5 args=${6:-}
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" \
		CNI_NETNS="$netns" CNI_IFNAME="$ifname" CNI_ARGS="$args" CNI_PATH="$CNI_BIN" \
		BERTH_DNSNAME_DIR="$BERTH_DNSNAME_DIR" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" "$plugin"
}
brconf() { # VERSION
	jq -n --arg v "$1" --arg n "$NET" --arg b "$BR" --arg s "$SUB.0/24" --arg d "$S/ipam" \
		'{cniVersion:$v, name:$n, type:"bridge", bridge:$b, isGateway:true,
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}]]}}'
}
# dnconf VERSION PREVRESULT [EXTRA-JSON]
dnconf() {
	jq -n --arg v "$1" --arg n "$NET" --argjson p "$2" --argjson x "${3:-{\}}" \
		'{cniVersion:$v, name:$n, type:"dnsname", prevResult:$p} + $x'
}
pidof_net() { cat "$BERTH_DNSNAME_DIR/$NET/pidfile" 2>/dev/null; }
dnsmasq_runs() { local p; p=$(pidof_net) && [ -n "$p" ] && grep -q dnsmasq "/proc/$p/comm" 2>/dev/null; }
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! awk '{exit !($3 == "Z" || $3 == "X")}' "/proc/$1/stat" 2>/dev/null; }
any_dnsmasq_of_test() { pgrep -f -- "--conf-file=$BERTH_DNSNAME_DIR/" >/dev/null; }

# ctr NAME [CNI_ARGS] [EXTRA]: netns NAME, bridge ADD then dnsname ADD; sets R_<NAME> (result)
# and IP_<NAME>; writes the container's resolv.conf from the result's dns.
ctr() {
	local n=$1 args=${2:-} extra=${3:-} br out ns
	ns=$n$T
	mknetns "$ns"
	br=$(brconf 1.0.0 | hcni "$BRP" ADD "$n$T" "/run/netns/$ns" eth0 "$args") ||
		{ echo "# bridge ADD $n: $br"; return 1; }
	out=$(dnconf 1.0.0 "$br" "$extra" | hcni "$DN" ADD "$n$T" "/run/netns/$ns" eth0 "$args") ||
		{ echo "# dnsname ADD $n: $out"; return 1; }
	printf -v "R_$n" '%s' "$out"
	printf -v "B_$n" '%s' "$br"
	printf -v "IP_$n" '%s' "$(jq -r '.ips[0].address | split("/")[0]' <<<"$out")"
	mkdir -p "/etc/netns/$ns" && defer "rm -rf /etc/netns/$ns"
	{
		jq -r '.dns.nameservers[]? | "nameserver \(.)"' <<<"$out"
		echo "search $(jq -r '.dns.search // [] | join(" ")' <<<"$out")"
		echo "options timeout:2 attempts:2"
	} >"/etc/netns/$ns/resolv.conf"
}
res() { # NETNS NAME: the address glibc resolves NAME to in NETNS
	ip netns exec "$1" getent ahostsv4 "$2" 2>/dev/null | awk 'NR==1{print $1}'
}
nxdomain() { # NAME: dnsmasq answers NXDOMAIN for NAME (asked from the host netns)
	nsenter --net="/run/netns/$H" busybox nslookup "$1" "$GW" 2>&1 | grep -qiE "NXDOMAIN|can't find"
}
delr() { # NAME [IFNAME] [NETNS]: dnsname DEL then bridge DEL
	local n=$1 cfg
	cfg=$(dnconf 1.0.0 "$(eval echo "\${R_$n:-{\}}")")
	hcni "$DN" DEL "$n$T" "${3:-/run/netns/$n$T}" "${2:-eth0}" <<<"$cfg" >/dev/null &&
		brconf 1.0.0 | hcni "$BRP" DEL "$n$T" "${3:-/run/netns/$n$T}" "${2:-eth0}" >/dev/null
}

out=$(echo '{"cniVersion":"1.0.0"}' | hcni "$DN" VERSION x "" eth0)
is "$(jq -r '.supportedVersions | join(",")' <<<"$out")" "0.1.0,0.2.0,0.3.0,0.3.1,0.4.0,1.0.0,1.1.0" "VERSION lists every spec version"
out=$(dnconf 1.1.0 '{}' | hcni "$DN" STATUS "" "" "")
ok $? "STATUS: ready where dnsmasq is installed"
out=$(dnconf 1.1.0 '{}' | BERTH_DNSMASQ=$S/no-dnsmasq hcni "$DN" STATUS "" "" ""); rc=$?
is "$rc:$(jq -r .code <<<"$out")" "1:50" "STATUS without dnsmasq: code 50 (not ready)"

# --- two containers: names, aliases, the result's dns ---
XA="{\"runtimeConfig\":{\"aliases\":{\"$NET\":[\"www$T\",\"db$T\"],\"other\":[\"no$T\"]}}}"
ctr a "IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=web$T" "$XA"
ok $? "ADD a (K8S_POD_NAME web, aliases www db)"
ctr b
ok $? "ADD b (no K8S_POD_NAME: its container id is its name)"
out=$(dnconf 1.0.0 "$B_a" "$XA" | hcni "$DN" ADD a$T /run/netns/a$T eth0 "K8S_POD_NAME=web$T")
ok $? "ADD a again (a runtime's retry) succeeds"
is "$(jq -r '.dns.nameservers | join(",")' <<<"$R_a")" "$GW" "result dns.nameservers is the gateway"
is "$(jq -r '.dns.search | join(",")' <<<"$R_a")" "dns.podman" "result dns.search is the domain (default dns.podman)"
is "$(jq -c '[.ips, .interfaces, .routes]' <<<"$R_a")" "$(jq -c '[.ips, .interfaces, .routes]' <<<"$B_a")" "prevResult's interfaces, ips and routes passed through"
ok "$(dnsmasq_runs; echo $?)" "one dnsmasq runs for the network (pidfile under the state dir)"
is "$(ip netns exec "$H" ss -Hlun "sport = :53" | awk '{print $4}' | sort -u | tr '\n' ' ')" "$GW:53 " "it listens on the gateway only"
is "$(grep -c . "$BERTH_DNSNAME_DIR/$NET/addnhosts" | tr -d ' ')" 3 "addnhosts: a header and one line per container"

is "$(res b$T web$T)" "$IP_a" "b resolves a by its K8S_POD_NAME"
is "$(res b$T www$T)" "$IP_a" "b resolves a's alias www"
is "$(res b$T db$T.dns.podman)" "$IP_a" "b resolves a's alias as a FQDN in the domain"
is "$(res a$T b$T)" "$IP_b" "a resolves b by its container id"
is "$(res a$T b$T.dns.podman)" "$IP_b" "a resolves b.dns.podman"
ok "$(nxdomain "no$T.dns.podman"; echo $?)" "an alias of another network is not published"
out=$(dnconf 1.0.0 "$R_a" | hcni "$DN" CHECK a$T /run/netns/a$T eth0 "K8S_POD_NAME=web$T")
ok $? "CHECK a: dnsmasq runs and answers web with a's address"
# dnsmasq dies: CHECK says so, the next ADD starts it again with every name
pid=$(pidof_net)
kill -9 "$pid"
for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
out=$(dnconf 1.0.0 "$R_a" | hcni "$DN" CHECK a$T /run/netns/a$T eth0 "K8S_POD_NAME=web$T"); rc=$?
is "$rc:$(jq -r .msg <<<"$out")" "1:dnsmasq instance not running" "CHECK a after dnsmasq died: not running"
out=$(dnconf 1.0.0 "$B_b" | hcni "$DN" ADD b$T /run/netns/b$T eth0)
ok "$(dnsmasq_runs; echo $?)" "the next ADD (b again) starts dnsmasq again"
is "$(res b$T web$T)" "$IP_a" "and a's name is served again"

# --- spec versions: a third container per version ---
for v in 0.3.1 0.4.0 1.0.0 1.1.0; do
	mknetns "v$T" >/dev/null 2>&1 || true
	br=$(brconf "$v" | hcni "$BRP" ADD "v$T" "/run/netns/v$T" eth0)
	out=$(dnconf "$v" "$br" | hcni "$DN" ADD "v$T" "/run/netns/v$T" eth0 "K8S_POD_NAME=ver$T")
	ipv=$(jq -r '.ips[0].address | split("/")[0]' <<<"$out")
	is "$(jq -r .cniVersion <<<"$out"):$(jq -r '.dns.nameservers[0]' <<<"$out"):$(res a$T ver$T)" "$v:$GW:$ipv" "$v: ADD answers in $v and the name resolves"
	dnconf "$v" "$br" | hcni "$DN" DEL "v$T" "/run/netns/v$T" eth0 >/dev/null
	ok "$(nxdomain "ver$T.dns.podman"; echo $?)" "$v: DEL removes the name"
	brconf "$v" | hcni "$BRP" DEL "v$T" "/run/netns/v$T" eth0 >/dev/null
done

# --- DEL ---
check "DEL b" -- delr b
ok "$(nxdomain "b$T.dns.podman"; echo $?)" "after DEL b: NXDOMAIN for b.dns.podman"
is "$(res a$T b$T)" "" "a no longer resolves b"
is "$(res a$T web$T)" "$IP_a" "a's name stays"
check "DEL b again (idempotent)" -- hcni "$DN" DEL b$T /run/netns/b$T eth0 <<<"$(dnconf 1.0.0 '{}')"
ip netns del "b$T"
check "DEL b after its netns is gone, without prevResult" -- hcni "$DN" DEL b$T /run/netns/b$T eth0 <<<"$(dnconf 1.0.0 '{}')"
out=$(dnconf 1.0.0 "$R_a" | hcni "$DN" CHECK a$T /run/netns/a$T eth0 "K8S_POD_NAME=other$T"); rc=$?
is "$rc:$(jq -r .code <<<"$out")" "1:999" "CHECK with another name fails"

# --- GC ---
fake() { # ID NAME IP: an ADD of a container that never had a netns
	local p
	p=$(jq -n --arg ip "$3/24" --arg gw "$GW" --arg b "$BR" \
		'{cniVersion:"1.0.0", interfaces:[{name:$b},{name:"eth0",sandbox:"/x"}],
		  ips:[{address:$ip, gateway:$gw, interface:1}]}')
	dnconf 1.0.0 "$p" | hcni "$DN" ADD "$1" /run/netns/f$T eth0 "K8S_POD_NAME=$2"
}
mknetns "f$T"
fake g1$T gone$T "$SUB.201" >/dev/null
is "$(res a$T gone$T)" "$SUB.201" "a stale container's name resolves before GC"
gc=$(jq -n --arg v 1.1.0 --arg n "$NET" --arg a "a$T" \
	'{cniVersion:$v, name:$n, type:"dnsname", "cni.dev/valid-attachments":[{containerID:$a, ifname:"eth0"}]}')
check "GC with only a valid" -- hcni "$DN" GC "" "" "" <<<"$gc"
ok "$(nxdomain "gone$T.dns.podman"; echo $?)" "GC removed the stale name"
is "$(res a$T web$T)" "$IP_a" "GC kept a"

# --- the last DEL stops dnsmasq ---
pid=$(pidof_net)
check "DEL a" -- delr a
ok "$( ! alive "$pid"; echo $?)" "the last DEL stopped dnsmasq ($pid)"
ok "$( [ ! -e "$BERTH_DNSNAME_DIR/$NET" ]; echo $?)" "and removed the network's state directory"

# --- dual stack: dnsmasq listens on both gateways, answers A and AAAA ---
ip -n "$H" link add "d6$T" type bridge
ip -n "$H" addr add "10.253.$OCT.1/24" dev "d6$T"
ip -n "$H" addr add "fd53:$OCT::1/64" dev "d6$T" nodad
ip -n "$H" link set "d6$T" up
C6=$(jq -n --arg b "d6$T" --arg n "dn6$T" --arg s "/run/netns/f$T" --arg o "$OCT" \
	'{cniVersion:"1.0.0", name:$n, type:"dnsname", prevResult:{cniVersion:"1.0.0",
	  interfaces:[{name:$b},{name:"eth0",sandbox:$s}],
	  ips:[{address:"10.253.\($o).5/24", gateway:"10.253.\($o).1", interface:1},
	       {address:"fd53:\($o)::5/64", gateway:"fd53:\($o)::1", interface:1}]}}')
out=$(hcni "$DN" ADD six$T "/run/netns/f$T" eth0 "K8S_POD_NAME=six$T" <<<"$C6")
is "$(jq -c .dns.nameservers <<<"$out")" "[\"10.253.$OCT.1\",\"fd53:$OCT::1\"]" "dual stack: both gateways are nameservers"
is "$(nsenter --net="/run/netns/$H" busybox nslookup -type=aaaa "six$T" "fd53:$OCT::1" 2>/dev/null | awk '/^Address: /{print $2}')" "fd53:$OCT::5" "dual stack: AAAA over IPv6"
is "$(nsenter --net="/run/netns/$H" busybox nslookup -type=a "six$T.dns.podman" "10.253.$OCT.1" 2>/dev/null | awk '/^Address: /{print $2}')" "10.253.$OCT.5" "dual stack: A over IPv4"
check "dual stack: CHECK asks both gateways" -- hcni "$DN" CHECK six$T "/run/netns/f$T" eth0 "K8S_POD_NAME=six$T" <<<"$C6"
check "dual stack: DEL" -- hcni "$DN" DEL six$T "" eth0 <<<"$C6"
ok "$( [ ! -e "$BERTH_DNSNAME_DIR/dn6$T" ]; echo $?)" "dual stack: nothing left"

# --- differential: the reference (containers/dnsname) given the same prevResult ---
REFDN=$REF_CNI/dnsname
if [ -x "$REFDN" ]; then
	defer "for p in \$(cat $S/xdg/containers/cni/dnsname/*/pidfile 2>/dev/null); do kill \$p; done"
	for impl in ours ref; do
		b=d$impl$T; b=${b:0:15}
		ip -n "$H" link add "$b" type bridge
		ip -n "$H" addr add "10.250.$OCT.1/24" dev "$b"
		ip -n "$H" link set "$b" up
		cfg=$(jq -n --arg b "$b" --arg n "dr$impl$T" --arg s "/run/netns/f$T" --arg o "$OCT" \
			'{cniVersion:"1.0.0", name:$n, type:"dnsname", domainName:"dns.podman",
			  runtimeConfig:{aliases:{($n):["alias"]}}, prevResult:{cniVersion:"1.0.0",
			  interfaces:[{name:$b},{name:"eth0",sandbox:$s}],
			  ips:[{address:"10.250.\($o).7/24", gateway:"10.250.\($o).1", interface:1}],
			  routes:[{dst:"0.0.0.0/0"}]}}')
		plug=$DN; [ $impl = ref ] && plug=$REFDN
		mkdir -p "$S/xdg"
		res_json=$(XDG_RUNTIME_DIR=$S/xdg hcni_x "$plug" ADD "dr$T" "/run/netns/f$T" eth0 "IgnoreUnknown=1;K8S_POD_NAME=diff$T" <<<"$cfg")
		printf -v "D_$impl" '%s' "$(jq -cS 'del(.cniVersion) | .interfaces[0].name = "BRIDGE"' <<<"$res_json")"
		printf -v "N_$impl" '%s' "$(nsenter --net="/run/netns/$H" busybox nslookup -type=a "diff$T.dns.podman" "10.250.$OCT.1" 2>/dev/null | awk '/^Address: /{print $2}'):$(nsenter --net="/run/netns/$H" busybox nslookup -type=a "alias.dns.podman" "10.250.$OCT.1" 2>/dev/null | awk '/^Address: /{print $2}')"
		XDG_RUNTIME_DIR=$S/xdg hcni_x "$plug" DEL "dr$T" "/run/netns/f$T" eth0 "IgnoreUnknown=1;K8S_POD_NAME=diff$T" <<<"$cfg" >/dev/null
		ip -n "$H" link del "$b"
	done
	is "$D_ours" "$D_ref" "differential: the same ADD result as containers/dnsname (dns, ips, interfaces, routes)"
	is "$N_ours" "$N_ref" "differential: name and alias resolve the same ($N_ref)"
else
	ok 1 "the reference $REFDN is missing (scripts/deps.sh: golang-github-containernetworking-plugin-dnsname)"
fi

# --- bad input: error JSON, nothing left ---
bad() { # DESC WANT-CODE CNI_ARGS CONFIG
	local out rc
	out=$(hcni "$DN" ADD bad$T /run/netns/f$T eth0 "$3" <<<"$4"); rc=$?
	is "$rc:$(jq -r .code <<<"$out" 2>/dev/null):$([ -e "$BERTH_DNSNAME_DIR/$NET" ] && echo left)" "1:$2:" "bad input: $1 (code $2, no state left)"
}
P=$(jq -n --arg gw "$GW" --arg b "$BR" --arg ip "$SUB.77/24" '{cniVersion:"1.0.0", interfaces:[{name:$b},{name:"eth0",sandbox:"/x"}], ips:[{address:$ip, gateway:$gw, interface:1}]}')
bad "no prevResult" 7 "" "$(jq -n --arg n "$NET" '{cniVersion:"1.0.0", name:$n, type:"dnsname"}')"
bad "bad domainName" 7 "" "$(dnconf 1.0.0 "$P" '{"domainName":"a b"}')"
bad "alias with a space" 7 "" "$(dnconf 1.0.0 "$P" "{\"runtimeConfig\":{\"aliases\":{\"$NET\":[\"x y\"]}}}")"
bad "aliases not a list" 7 "" "$(dnconf 1.0.0 "$P" "{\"runtimeConfig\":{\"aliases\":{\"$NET\":\"x\"}}}")"
bad "K8S_POD_NAME with a #" 4 "K8S_POD_NAME=a#b" "$(dnconf 1.0.0 "$P")"
bad "unknown CNI_ARGS" 4 "FOO=bar" "$(dnconf 1.0.0 "$P")"
bad "prevResult without ips" 7 "" "$(dnconf 1.0.0 '{"cniVersion":"1.0.0","interfaces":[{"name":"x"}]}')"
bad "no gateway and no host interface" 7 "" "$(dnconf 1.0.0 '{"cniVersion":"1.0.0","ips":[{"address":"10.9.9.9/24"}]}')"
bad "not JSON" 6 "" "{"
out=$(BERTH_DNSMASQ=/bin/false hcni "$DN" ADD bad$T /run/netns/f$T eth0 "" <<<"$(dnconf 1.0.0 "$P")"); rc=$?
is "$rc:$(jq -r .code <<<"$out"):$([ -e "$BERTH_DNSNAME_DIR/$NET" ] && echo left)" "1:999:" "dnsmasq failing to start: error, the ADD undone"
out=$(BERTH_DNSNAME_TEST_FAIL_ADD=1 hcni "$DN" ADD bad$T /run/netns/f$T eth0 "" <<<"$(dnconf 1.0.0 "$P")"); rc=$?
is "$rc:$(jq -r .code <<<"$out"):$([ -e "$BERTH_DNSNAME_DIR/$NET" ] && echo left):$(any_dnsmasq_of_test && echo running)" "1:999::" "a failure after dnsmasq started: undone, dnsmasq stopped"
fake keep$T keep$T "$SUB.78" >/dev/null
out=$(BERTH_DNSNAME_TEST_FAIL_ADD=1 hcni "$DN" ADD bad$T /run/netns/f$T eth0 "" <<<"$(dnconf 1.0.0 "$P")")
is "$(jq -r '[.entries[].containerId] | join(",")' "$BERTH_DNSNAME_DIR/$NET/records.json")" "keep$T" "a failed ADD beside another container leaves only that one"
ok "$(nxdomain "bad$T.dns.podman"; echo $?)" "and its name is not served"
hcni "$DN" DEL keep$T "" eth0 <<<"$(dnconf 1.0.0 '{}')" >/dev/null

# --- 64 parallel ADDs, then 64 parallel DELs ---
for i in $(seq 1 64); do
	fake "p$i$T" "par$i-$T" "$SUB.$((100 + i))" >"$S/par$i.out" 2>&1 &
done
wait
fails=0
for i in $(seq 1 64); do jq -e .ips "$S/par$i.out" >/dev/null 2>&1 || fails=$((fails + 1)); done
is "$fails" 0 "64 parallel ADDs succeed"
is "$(jq '.entries | length' "$BERTH_DNSNAME_DIR/$NET/records.json")" 64 "64 records"
bad_res=0
for i in $(seq 1 64); do
	nsenter --net="/run/netns/$H" busybox nslookup "par$i-$T" "$GW" 2>/dev/null | grep -q "$SUB.$((100 + i))\$" || bad_res=$((bad_res + 1))
done
is "$bad_res" 0 "all 64 names resolve to their addresses"
is "$(pgrep -fc -- "--conf-file=$BERTH_DNSNAME_DIR/$NET/")" 1 "one dnsmasq for the network"
for i in $(seq 1 64); do
	hcni "$DN" DEL "p$i$T" "" eth0 <<<"$(dnconf 1.0.0 '{}')" >"$S/pdel$i.out" 2>&1 &
done
wait
ok "$( [ ! -e "$BERTH_DNSNAME_DIR/$NET" ] && ! any_dnsmasq_of_test; echo $?)" "64 parallel DELs: nothing left, dnsmasq stopped"

# --- crash injection (FAULT=1 build; the sanitizer tier has none: the plain tier runs it) ---
if [ "${SANITIZE:-}" = 1 ]; then
	diag "crash injection runs in the plain tier (FAULT=1 build)"
elif [ -x "$FB/cni/dnsname" ]; then
	for pt in dnsname-after-records dnsname-after-hosts dnsname-after-reload; do
		fake keep$T keep$T "$SUB.78" >/dev/null
		out=$(BERTH_FAULT=$pt hcni "$FB/cni/dnsname" ADD crash$T /run/netns/f$T eth0 "K8S_POD_NAME=crash$T" <<<"$(dnconf 1.0.0 "$P")"); rc=$?
		hcni "$DN" DEL crash$T "" eth0 <<<"$(dnconf 1.0.0 '{}')" >/dev/null; rc2=$?
		is "$rc:$rc2:$(jq -r '[.entries[].containerId] | join(",")' "$BERTH_DNSNAME_DIR/$NET/records.json")" "137:0:keep$T" "killed at $pt: the DEL after it leaves only the other container"
		ok "$(nxdomain "crash$T.dns.podman"; echo $?)" "killed at $pt: its name is not served"
		hcni "$DN" DEL keep$T "" eth0 <<<"$(dnconf 1.0.0 '{}')" >/dev/null
		ok "$( [ ! -e "$BERTH_DNSNAME_DIR/$NET" ] && ! any_dnsmasq_of_test; echo $?)" "killed at $pt: after the last DEL nothing is left"
	done
	for pt in dnsname-del-after-records dnsname-del-after-stop; do
		fake keep$T keep$T "$SUB.78" >/dev/null
		[ $pt = dnsname-del-after-records ] && fake crash$T crash$T "$SUB.79" >/dev/null
		id=crash$T; [ $pt = dnsname-del-after-stop ] && id=keep$T
		BERTH_FAULT=$pt hcni "$FB/cni/dnsname" DEL $id "" eth0 <<<"$(dnconf 1.0.0 '{}')" >/dev/null; rc=$?
		hcni "$DN" DEL $id "" eth0 <<<"$(dnconf 1.0.0 '{}')" >/dev/null; rc2=$?
		hcni "$DN" DEL keep$T "" eth0 <<<"$(dnconf 1.0.0 '{}')" >/dev/null
		is "$rc:$rc2:$([ -e "$BERTH_DNSNAME_DIR/$NET" ] && echo left):$(any_dnsmasq_of_test && echo running)" "137:0::" "DEL killed at $pt, DEL again: nothing left"
	done
else
	ok 1 "$FB/cni/dnsname missing: make FAULT=1 all"
fi
done_testing
