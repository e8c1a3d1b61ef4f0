#!/bin/bash
# dhcp IPAM plugin and its daemon berth-dhcp against a real DHCP server: dnsmasq in a netns of
# its own, on one end of a veth whose other end is in a bridge of a "host" netns we make (the
# real host's interfaces are never touched); containers are netns with a veth into that bridge
# (the plugin called directly, as a main plugin would) or made by berth's bridge plugin with
# "ipam": {"type": "dhcp"}.  Checks: the lease in every spec version (the result's address is
# dnsmasq's lease for the container's MAC), CHECK, release on DEL, renewal (dnsmasq sends T1 3s),
# a server that goes away and comes back, a daemon restart that keeps the leases, GC, 64
# containers at once, bad input, and the reference plugin + daemon side by side.
# time-limit: 300
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-dhcp.bash"
need_root
command -v dnsmasq >/dev/null || skip_all "dnsmasq (dnsmasq-base) not installed"
PLUG=$CNI_BIN/dhcp
DHCPD=$BERTH_BUILD/bin/berth-dhcp
[ -x "$PLUG" ] && [ -x "$DHCPD" ] || skip_all "dhcp not built"

D=$(mktemp -d /tmp/berth-dhcp.XXXXXX)
defer "rm -rf $D"
mkdir -m 0700 "$D/run"
SOCK=$D/run/dhcp.sock
H=dh$T S=ds$T NET=dn$T
hostlinks() { ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort; }
hostlinks0=$(hostlinks)

dhcp_lan "$H" "$S" 10.77.0.1/24 || { echo "Bail out! the DHCP LAN netns"; exit 1; }

DNSPID=
start_dnsmasq() {
	ip netns exec "$S" dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=0 --no-ping \
		--interface=eth0 --bind-interfaces --dhcp-range=10.77.0.10,10.77.0.250,255.255.255.0,2m \
		--dhcp-leasefile="$D/leases" --pid-file= --dhcp-option=3,10.77.0.1 \
		--dhcp-option=option:T1,3 --dhcp-option=option:T2,6 \
		--dhcp-option=121,192.168.9.0/24,10.77.0.1,0.0.0.0/0,10.77.0.1 \
		--log-facility="$D/dnsmasq.log" &
	DNSPID=$!
}
stop_dnsmasq() { [ -n "$DNSPID" ] && kill "$DNSPID" 2>/dev/null && wait "$DNSPID" 2>/dev/null; DNSPID=; }
defer 'stop_dnsmasq'
start_dnsmasq

DPID=
start_daemon() {
	BERTH_LOG_LEVEL=info "$DHCPD" --socket "$SOCK" --state "$D/state" --timeout 2s "$@" \
		2>>"$D/daemon.log" &
	DPID=$!
	wait_for 5 test -S "$SOCK"
}
stop_daemon() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; DPID=; }
defer 'stop_daemon'
start_daemon
ok $? "berth-dhcp --socket --state starts and listens"
is "$(stat -c %a "$SOCK") $(stat -c %a "$D/run") $(stat -c %a "$D/state")" "600 700 700" \
	"socket 0600 in a 0700 directory, state directory 0700"

# mkctr N: netns dc<N>$T with eth0, a veth into the host netns' bridge
mkctr() {
	local ns=dc$1$T
	ip netns add "$ns" || return 1
	defer "ip netns del $ns"
	ip link add eth0 netns "$ns" type veth peer name v$1 netns "$H" || return 1
	ip -n "$H" link set "v$1" master br0 up
}
mac_of() { ip -n "dc$1$T" -j link show eth0 | jq -r '.[0].address'; }
# dnsmasq rewrites its lease file in place on every change: a line missing from one read is
# read again a little later before it counts as gone
lease_field() { # lease_field MAC FIELD
	local i v
	for i in 1 2 3; do
		v=$(awk -v m="$1" -v f="$2" '$2 == m { print $f }' "$D/leases" 2>/dev/null)
		[ -n "$v" ] && break
		sleep 0.1
	done
	echo "$v"
}
lease_ip() { lease_field "$1" 3; }
lease_exp() { lease_field "$1" 1; }
lease_cid() { lease_field "$1" 5; }
no_lease() { [ -z "$(lease_ip "$1")" ]; }
has_lease() { [ -n "$(lease_ip "$1")" ]; }
exp_after() { local e; e=$(lease_exp "$1"); [ -n "$e" ] && [ "$e" -gt "$2" ]; }
conf() { # conf VERSION [IPAM-EXTRA-JSON] [SOCKET]
	printf '{"cniVersion":"%s","name":"%s","type":"dhcp","ipam":{"type":"dhcp","daemonSocketPath":"%s"%s}}' \
		"$1" "$NET" "${3:-$SOCK}" "${2:+,$2}"
}
addr_of() { # the address in a result of any version
	jq -r '(.ips[0].address // .ip4.ip // "") | split("/")[0]' <<<"$1"
}

# ---- the lease, CHECK and release in every spec version ----
mkctr 1
m1=$(mac_of 1)
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	out=$(cni "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf "$v")"); rc=$?
	ok $rc "$v: ADD succeeds"
	[ $rc -eq 0 ] || diag "$out"
	a=$(addr_of "$out")
	wait_for 5 has_lease "$m1"
	is "$a" "$(lease_ip "$m1")" "$v: the result's address is dnsmasq's lease for the container's MAC"
	is "$(jq -r '.cniVersion' <<<"$out")" "$v" "$v: result in the config's version"
	case $v in
	0.1.0 | 0.2.0) is "$(jq -r '.ip4.gateway' <<<"$out")" 10.77.0.1 "$v: gateway from option 3" ;;
	*) is "$(jq -c '[.ips[0].gateway, .routes]' <<<"$out")" '["10.77.0.1",[{"dst":"0.0.0.0/0","gw":"10.77.0.1"}]]' \
		"$v: gateway and default route from option 3" ;;
	esac
	if [ "$v" = 0.4.0 ] || [ "$v" = 1.0.0 ] || [ "$v" = 1.1.0 ]; then
		withprev=$(jq -c --argjson p "$out" '. + {prevResult: $p}' <<<"$(conf "$v")")
		cni "$PLUG" CHECK c1$T "/run/netns/dc1$T" eth0 <<<"$withprev" >/dev/null
		ok $? "$v: CHECK with the ADD's result succeeds"
		bad=$(jq -c '.prevResult.ips[0].address = "10.77.0.254/24"' <<<"$withprev")
		out2=$(cni "$PLUG" CHECK c1$T "/run/netns/dc1$T" eth0 <<<"$bad"); rc=$?
		is "$rc:$(jq -r .code <<<"$out2")" "1:7" "$v: CHECK with another address fails, code 7"
	fi
	out2=$(cni "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf "$v")")
	is "$(addr_of "$out2")" "$a" "$v: a repeated ADD answers the lease it holds"
	cni "$PLUG" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf "$v")" >/dev/null
	ok $? "$v: DEL succeeds"
	wait_for 5 no_lease "$m1"
	ok $? "$v: DEL released the lease (gone from dnsmasq's lease file)"
	cni "$PLUG" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf "$v")" >/dev/null
	ok $? "$v: DEL again succeeds"
done
out=$(cni "$PLUG" CHECK c1$T "/run/netns/dc1$T" eth0 <<<"$(jq -c --argjson p "$out" '. + {prevResult: $p}' <<<"$(conf 1.1.0)")")
is "$(jq -r .code <<<"$out")" 3 "CHECK after DEL: code 3, no lease"
is "$(ls "$D/state" | wc -l)" 0 "no lease file left in the state directory"

# ---- renewal, server away and back, daemon restart ----
out=$(cni "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0)")
a1=$(addr_of "$out")
wait_for 5 has_lease "$m1"
e0=$(lease_exp "$m1")
wait_for 15 exp_after "$m1" "$e0"
ok $? "the lease is renewed at T1 (dnsmasq's expiry moved from $e0 to $(lease_exp "$m1"))"
is "$(lease_ip "$m1")" "$a1" "the renewed lease keeps the address"

stop_dnsmasq
e1=$(lease_exp "$m1")
wait_for 15 grep -q "renewal failed" "$D/daemon.log"
ok $? "with the server gone, the renewal fails and is retried"
start_dnsmasq
wait_for 20 exp_after "$m1" "$e1"
ok $? "the server back, the lease is renewed again"
is "$(lease_ip "$m1")" "$a1" "... with the same address"

stop_daemon
is "$(ls "$D/state" | wc -l)" 1 "the stopped daemon leaves its lease file"
has_lease "$m1"
ok $? "a daemon stop does not release the lease"
start_daemon
ok $? "the daemon restarts"
e2=$(lease_exp "$m1")
wait_for 15 exp_after "$m1" "$e2"
ok $? "the restarted daemon renews the lease it found in its state directory"
out=$(cni "$PLUG" CHECK c1$T "/run/netns/dc1$T" eth0 <<<"$(jq -c --argjson p "$out" '. + {prevResult: $p}' <<<"$(conf 1.0.0)")")
ok $? "CHECK after the restart succeeds"
cni "$PLUG" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0)" >/dev/null
wait_for 5 no_lease "$m1"
ok $? "DEL after the restart releases the lease"

# ---- GC ----
mkctr 2
m2=$(mac_of 2)
cni "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.1.0)" >/dev/null &&
	cni "$PLUG" ADD c2$T "/run/netns/dc2$T" eth0 <<<"$(conf 1.1.0)" >/dev/null
ok $? "two ADDs for GC"
wait_for 5 has_lease "$m2"
gc=$(jq -c --arg c "c2$T" '. + {"cni.dev/valid-attachments": [{containerID: $c, ifname: "eth0"}]}' <<<"$(conf 1.1.0)")
cni "$PLUG" GC "" "/run/netns/dc1$T" eth0 <<<"$gc" >/dev/null
ok $? "GC succeeds"
wait_for 5 no_lease "$m1"
ok $? "GC released the lease of the attachment not listed"
has_lease "$m2"
ok $? "GC kept the listed attachment's lease"
cni "$PLUG" DEL c2$T "/run/netns/dc2$T" eth0 <<<"$(conf 1.1.0)" >/dev/null
wait_for 5 no_lease "$m2"
ok $? "DEL of the kept one releases it"

# ---- options: provide (fromArg), request (classless routes), priority ----
out=$(cni "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 "IgnoreUnknown=1;K8S_POD_NAME=pod$T" <<<"$(conf 1.1.0 '"provide":[{"option":"host-name","fromArg":"K8S_POD_NAME"}],"request":[{"option":"121"}],"priority":7')"); rc=$?
ok $rc "ADD with provide, request and priority succeeds"
[ $rc -eq 0 ] || diag "$out"
wait_for 5 has_lease "$m1"
is "$(lease_field "$m1" 4)" "pod$T" "provide host-name fromArg K8S_POD_NAME: dnsmasq records the name"
is "$(jq -c '[.routes[] | [.dst, .gw, .priority]]' <<<"$out")" '[["192.168.9.0/24","10.77.0.1",7],["0.0.0.0/0","10.77.0.1",7]]' \
	"request 121: the classless routes replace the router's default route, with priority 7"
cni "$PLUG" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.1.0)" >/dev/null
wait_for 5 no_lease "$m1"
ok $? "DEL releases it"
# null is absent, as for every key (the fuzzer found "broadcast": null read an unset bool)
for b in null true false; do
	out=$(cni "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.1.0 "\"broadcast\":$b")"); rc=$?
	ok $rc "ADD with broadcast $b succeeds"
	[ $rc -eq 0 ] || diag "$out"
	cni "$PLUG" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.1.0)" >/dev/null
done

# ---- through berth's bridge plugin: the chain a runtime runs ----
ip netns add "dcb$T"; defer "ip netns del dcb$T"
bconf=$(printf '{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"br0","ipam":{"type":"dhcp","daemonSocketPath":"%s"}}' "$NET" "$SOCK")
out=$(ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=cb$T CNI_NETNS=/run/netns/dcb$T \
	CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" "$CNI_BIN/bridge" <<<"$bconf"); rc=$?
ok $rc "bridge + dhcp: ADD succeeds"
[ $rc -eq 0 ] || diag "$out"
ab=$(addr_of "$out")
mb=$(ip -n "dcb$T" -j link show eth0 | jq -r '.[0].address')
wait_for 5 has_lease "$mb"
is "$ab" "$(lease_ip "$mb")" "bridge + dhcp: the address is dnsmasq's lease"
is "$(ip -n "dcb$T" -j addr show eth0 | jq -r '.[0].addr_info[] | select(.family=="inet") | .local')" "$ab" \
	"bridge + dhcp: the container's eth0 has it"
is "$(ip -n "dcb$T" -j route show default | jq -r '.[0].gateway')" 10.77.0.1 "bridge + dhcp: default route via the DHCP router"
ip netns exec "dcb$T" ping -c1 -W2 10.77.0.1 >/dev/null
ok $? "bridge + dhcp: the container reaches the DHCP server"
ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=DEL CNI_CONTAINERID=cb$T CNI_NETNS=/run/netns/dcb$T \
	CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" "$CNI_BIN/bridge" <<<"$bconf" >/dev/null
ok $? "bridge + dhcp: DEL succeeds"
# berth's bridge calls a dhcp IPAM's DEL before it deletes the container's link (the reference's
# bridge deletes the link first, so its DHCPRELEASE cannot go out): the server frees the lease
wait_for 5 no_lease "$mb"
ok $? "bridge + dhcp: DEL released the lease at the server"
is "$(ls "$D/state" | wc -l)" 0 "bridge + dhcp: DEL made the daemon forget the lease"

# ---- through macvlan (on the bridge of the host netns), ours and the reference's: both call
# IPAM DEL before they delete the link, so the release goes out ----
mv_case() { # mv_case WHO MACVLAN-BINARY
	local who=$1 bin=$2 ns=dcm$1$T out rc mm
	ip netns add "$ns"; defer "ip netns del $ns"
	mconf=$(printf '{"cniVersion":"1.0.0","name":"%s","type":"macvlan","master":"br0","ipam":{"type":"dhcp","daemonSocketPath":"%s"}}' "$NET" "$SOCK")
	mv_call() { ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=$1 CNI_CONTAINERID=cm$who$T CNI_NETNS=/run/netns/$ns \
		CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" "$bin" <<<"$mconf"; }
	out=$(mv_call ADD); rc=$?
	ok $rc "macvlan ($who) + dhcp: ADD succeeds"
	[ $rc -eq 0 ] || diag "$out"
	mm=$(ip -n "$ns" -j link show eth0 | jq -r '.[0].address')
	wait_for 5 has_lease "$mm"
	is "$(addr_of "$out")" "$(lease_ip "$mm")" "macvlan ($who) + dhcp: the address is dnsmasq's lease"
	ip netns exec "$ns" ping -c1 -W2 10.77.0.1 >/dev/null
	ok $? "macvlan ($who) + dhcp: the container reaches the DHCP server"
	mv_call DEL >/dev/null
	ok $? "macvlan ($who) + dhcp: DEL succeeds"
	wait_for 5 no_lease "$mm"
	ok $? "macvlan ($who) + dhcp: DEL released the lease"
	ip -n "$ns" link show eth0 >/dev/null 2>&1; [ $? -ne 0 ]
	ok $? "macvlan ($who) + dhcp: DEL removed the link"
}
mv_case berth "$CNI_BIN/macvlan"
if [ -x "$REF_CNI/macvlan" ]; then
	mv_case reference "$REF_CNI/macvlan"
else
	skip "reference macvlan not installed"
fi

# ---- 64 containers at once ----
N=64 pids=()
# made in two ip batches: 64 netns with eth0, their peers in the bridge
for ((i = 100; i < 100 + N; i++)); do
	echo "netns add dc$i$T"
	echo "link add eth0 netns dc$i$T type veth peer name v$i netns $H"
done >"$D/mk.batch"
for ((i = 100; i < 100 + N; i++)); do echo "netns del dc$i$T"; done >"$D/rm.batch"
defer "ip -batch $D/rm.batch"
for ((i = 100; i < 100 + N; i++)); do echo "link set v$i master br0 up"; done >"$D/up.batch"
ip -batch "$D/mk.batch" && ip -n "$H" -batch "$D/up.batch"
ok $? "$N container netns with a veth into the bridge"
for ((i = 100; i < 100 + N; i++)); do
	cni "$PLUG" ADD c$i$T "/run/netns/dc$i$T" eth0 <<<"$(conf 1.0.0 '"timeout":"30s"')" >"$D/r.$i" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
pids=()
# "MAC ADDRESS" per container, the address from its result
for ((i = 100; i < 100 + N; i++)); do
	echo "$(ip -n "dc$i$T" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)" \
		"$(jq -r '.ips[0].address // "none" | split("/")[0]' "$D/r.$i" 2>/dev/null || echo none)"
done >"$D/pairs"
is "$(grep -c ' none$' "$D/pairs")" 0 "$N parallel ADDs (each with \"timeout\": \"30s\") all succeed"
grep -q ' none$' "$D/pairs" && diag "$(grep -l -v '"ips"' "$D"/r.* | head -1 | xargs cat)"
is "$(cut -d' ' -f2 "$D/pairs" | sort -u | grep -c .)" "$N" "$N distinct addresses"
# dnsmasq rewrites its lease file on every renewal: wait for a whole one that agrees
n_match() { awk 'NR == FNR { want[$1] = $2; next } ($2 in want) && want[$2] == $3 { n++ } END { print n + 0 }' "$D/pairs" "$D/leases"; }
all_match() { [ "$(n_match)" -eq "$N" ]; }
wait_for 10 all_match
ok $? "each address is dnsmasq's lease for that container's MAC ($(n_match) of $N)"
for ((i = 100; i < 100 + N; i++)); do
	cni "$PLUG" DEL c$i$T "/run/netns/dc$i$T" eth0 <<<"$(conf 1.0.0)" >/dev/null 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
n_left() { awk 'NR == FNR { want[$1]; next } ($2 in want) { n++ } END { print n + 0 }' "$D/pairs" "$D/leases"; }
none_left() { [ "$(n_left)" -eq 0 ] && sleep 0.3 && [ "$(n_left)" -eq 0 ]; }
wait_for 10 none_left
ok $? "$N parallel DELs release every lease ($(n_left) left)"
is "$(ls "$D/state" | wc -l)" 0 "no lease file left"

# ---- bad input ----
run_code() { local out rc; out=$(cni "$@"); rc=$?; echo "$rc:$(jq -r '.code // empty' <<<"$out" 2>/dev/null)"; }
is "$(run_code "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '"request":[{"option":"bogus"}]')")" "1:7" \
	"an unknown request option: code 7"
long=$(printf 'x%.0s' {1..300})
is "$(run_code "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 "\"provide\":[{\"option\":\"host-name\",\"value\":\"$long\"}]")")" "1:7" \
	"a provided value over 255 bytes: code 7"
is "$(run_code "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '"timeout":"soon"')")" "1:7" \
	"a timeout that is not a duration: code 7"
is "$(run_code "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '' relative/dhcp.sock)")" "1:7" \
	"a relative daemonSocketPath: code 7"
is "$(run_code "$PLUG" ADD c1$T "/run/netns/dc1$T" eth9 <<<"$(conf 1.0.0)")" "1:4" \
	"an interface the netns does not have: code 4"
is "$(run_code "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '' "$D/none.sock")")" "1:11" \
	"no daemon listening: code 11 (try again)"
is "$(run_code "$PLUG" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '' "$D/none.sock")" 2>/dev/null)" "0:" \
	"DEL with no daemon listening succeeds (no daemon holds a lease)"
cni "$PLUG" STATUS "" "/run/netns/dc1$T" eth0 <<<"$(conf 1.1.0)" >/dev/null
ok $? "STATUS with the daemon up succeeds"
is "$(run_code "$PLUG" STATUS "" "/run/netns/dc1$T" eth0 <<<"$(conf 1.1.0 '' "$D/none.sock")")" "1:50" \
	"STATUS with no daemon: code 50"
ip netns add "dcg$T"
ip link add eth0 netns "dcg$T" type veth peer name vg netns "$H"
ip netns del "dcg$T"
is "$(run_code "$PLUG" DEL cg$T "/run/netns/dcg$T" eth0 <<<"$(conf 1.0.0)")" "0:" \
	"DEL after the netns is gone succeeds"
is "$(ls "$D/state" | wc -l)" 0 "the refused ADDs left no lease file"
no_lease "$m1"
ok $? "the refused ADDs left no lease in dnsmasq"

mkdir -m 0777 "$D/open"
"$DHCPD" --socket "$D/open/dhcp.sock" --state "$D/state2" 2>"$D/err" && ok 1 "refused" ||
	{ grep -q "no one else may write" "$D/err"; ok $? "the daemon refuses a socket directory others may write"; }
"$DHCPD" --socket "$SOCK" --state "$D/state3" 2>"$D/err" && ok 1 "refused" ||
	{ grep -q "another daemon" "$D/err"; ok $? "a second daemon refuses the socket a live one answers on"; }
"$DHCPD" --bogus 2>/dev/null
is "$?" 2 "an unknown daemon option: usage, exit 2"
ans=$(printf 'garbage' | socat -t 5 - "UNIX-CONNECT:$SOCK")
is "$(jq -r .error.code <<<"$ans")" 6 "junk on the daemon's socket: an error answer, code 6"
ans=$(printf '{"command":"ADD","config":{"name":"x"},"containerID":"c","ifname":"eth0"}' | socat -t 5 - "UNIX-CONNECT:$SOCK")
is "$(jq -r .error.code <<<"$ans")" 4 "an ADD request without a netns: code 4"
cni "$PLUG" STATUS "" "/run/netns/dc1$T" eth0 <<<"$(conf 1.1.0)" >/dev/null
ok $? "the daemon still answers after the junk"

# socket activation: a listening socket passed as fd 3 with LISTEN_FDS/LISTEN_PID, as systemd does
mkdir -m 0700 "$D/act"
perl -MIO::Socket::UNIX -MPOSIX -e '
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => shift, Listen => 16) or die "$!";
	fileno($s) == 3 or POSIX::dup2(fileno($s), 3) or die "$!";
	use Fcntl; open(my $fh, "<&=3") or die "$!";
	fcntl($fh, F_SETFD, 0) or die "$!";
	$ENV{LISTEN_FDS} = 1; $ENV{LISTEN_PID} = $$;
	exec @ARGV or die "$!";' "$D/act/dhcp.sock" "$DHCPD" --state "$D/state-act" --socket "$D/act-unused/x.sock" \
	2>>"$D/daemon-act.log" &
APID=$!
defer "kill $APID 2>/dev/null"
act_status() { cni "$PLUG" STATUS "" "/run/netns/dc1$T" eth0 <<<"$(conf 1.1.0 '' "$D/act/dhcp.sock")" >/dev/null 2>&1; }
wait_for 5 act_status
ok $? "socket-activated (LISTEN_FDS), the daemon answers on the passed socket"
[ -s "$D/daemon-act.log" ] && diag "$(cat "$D/daemon-act.log")"
out=$(cni "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '' "$D/act/dhcp.sock")")
wait_for 5 has_lease "$m1"
is "$(addr_of "$out")" "$(lease_ip "$m1")" "socket-activated: ADD takes the lease"
cni "$PLUG" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '' "$D/act/dhcp.sock")" >/dev/null
wait_for 5 no_lease "$m1"
ok $? "socket-activated: DEL releases it"
kill "$APID"; wait "$APID" 2>/dev/null

# ---- the reference plugin and daemon side by side ----
REF=$REF_CNI/dhcp
if [ -x "$REF" ]; then
	mkdir -m 0700 "$D/ref"
	"$REF" daemon -socketpath "$D/ref/dhcp.sock" >"$D/ref.log" 2>&1 &
	RPID=$!
	defer "kill $RPID 2>/dev/null"
	wait_for 5 test -S "$D/ref/dhcp.sock"
	for v in 0.3.1 1.0.0; do
		rout=$(cni "$REF" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf "$v" '' "$D/ref/dhcp.sock")"); rc=$?
		ok $rc "$v: reference ADD succeeds"
		wait_for 5 has_lease "$m1"
		rcid=$(lease_cid "$m1")
		is "$(addr_of "$rout")" "$(lease_ip "$m1")" "$v: reference: the address is dnsmasq's lease"
		cni "$REF" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf "$v" '' "$D/ref/dhcp.sock")" >/dev/null
		wait_for 5 no_lease "$m1"
		ok $? "$v: reference DEL releases it"
		out=$(cni "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf "$v")")
		wait_for 5 has_lease "$m1"
		is "$(lease_cid "$m1")" "$rcid" "$v: the same client id as the reference sends (containerID/net/ifname)"
		is "$(jq -cS 'del(.ips[].address)' <<<"$out")" "$(jq -cS 'del(.ips[].address)' <<<"$rout")" \
			"$v: same result as the reference but for the address"
		is "$(jq -r '.ips[0].address | split("/")[1]' <<<"$out")" "$(jq -r '.ips[0].address | split("/")[1]' <<<"$rout")" \
			"$v: same prefix length"
		cni "$PLUG" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf "$v")" >/dev/null
		wait_for 5 no_lease "$m1"
	done
	r1=$(run_code "$REF" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '"request":[{"option":"bogus"}]' "$D/ref/dhcp.sock")")
	r2=$(run_code "$PLUG" ADD c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '"request":[{"option":"bogus"}]')")
	is "${r1%%:*} ${r2%%:*}" "1 1" "both refuse an unknown request option"
	cni "$REF" DEL c1$T "/run/netns/dc1$T" eth0 <<<"$(conf 1.0.0 '' "$D/ref/dhcp.sock")" >/dev/null 2>&1
else
	skip "reference dhcp plugin not installed"
fi

kill "$DPID" && wait "$DPID"
is "$?" 0 "berth-dhcp exits 0 on SIGTERM"
DPID=
stop_dnsmasq
grep -h "Sanitizer\|runtime error" "$D"/daemon*.log | head -5 | sed 's/^/#   /'
! grep -q "Sanitizer\|runtime error" "$D"/daemon*.log
ok $? "no sanitizer report from the daemon"
is "$(hostlinks)" "$hostlinks0" "the host's links are as before"
done_testing
