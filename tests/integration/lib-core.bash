# shellcheck shell=bash
# Helpers for the core/CLI tests (80-core-*.sh): a throwaway "host" netns (so that bridges,
# iptables chains of the reference plugins and nft tables stay out of the real host), a
# "container" netns, a private config dir, cache dir and IPAM data dir.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BERTH_BIN=$BERTH_BUILD/bin/berth
# Our plugins where they have landed, the reference plugins for the rest.
PLUGIN_PATH=${PLUGIN_PATH:-$CNI_BIN:$REF_CNI}

core_setup() {
	need_root
	[ -x "$BERTH_BIN" ] || skip_all "no $BERTH_BIN"
	D=$(mktemp -d /tmp/berth-core.XXXXXX)
	defer "rm -rf $D"
	mkdir -p "$D/net.d" "$D/cache" "$D/ipam" "$D/plugins" "$D/rec"
	export BERTH_NFT_STATE_DIR=$D/nft # the nft tables are H's, so is their state
	H=bh$T
	C=bc$T
	mknetns "$H" || skip_all "cannot create netns"
	mknetns "$C"
	NET=n$T
	BR=br$T
	SUBNET_OCTET=$(( (0x$T % 200) + 20 ))
	SUBNET=10.251.$SUBNET_OCTET
}

# ctr_start: a "container" process in a new netns, its pid in $PID (killed at exit).  Returns
# once the process is in its netns: until unshare has run, /proc/$PID/ns/net is ours.
ctr_start() {
	local i
	unshare --net sleep 3600 &
	PID=$!
	defer "kill $PID"
	for ((i = 0; i < 3000; i++)); do
		[ "$(readlink "/proc/$PID/ns/net")" != "$(readlink /proc/self/ns/net)" ] && return 0
		sleep 0.01
	done
	echo "Bail out! process $PID never entered its own netns"
	exit 1
}

# proc_in NETNS: a process living in the named netns, its pid in $PID (killed at exit); returns
# once /proc/$PID/ns/net is that netns.
proc_in() {
	local i want
	want=$(stat -L -c %i "/run/netns/$1")
	ip netns exec "$1" sleep 3600 &
	PID=$!
	defer "kill $PID"
	for ((i = 0; i < 3000; i++)); do
		[ "$(stat -L -c %i "/proc/$PID/ns/net" 2>/dev/null)" = "$want" ] && return 0
		sleep 0.01
	done
	echo "Bail out! process $PID never entered netns $1"
	exit 1
}

# berth ARGS...: the CLI run inside the host netns with the test's dirs.
berth() {
	ip netns exec "$H" env BERTH_LOG_LEVEL="${BERTH_LOG_LEVEL:-warn}" "$BERTH_BIN" \
		--config-dir "$D/net.d" --cache-dir "$D/cache" --plugin-path "$D/plugins:$PLUGIN_PATH" "$@"
}

# write_conflist VERSION EXTRA-PLUGINS-JSON: bridge + host-local on $SUBNET.0/24, then EXTRA
# (a comma-prefixed list of plugin objects, may be empty).
write_conflist() {
	local ver=$1 extra=${2:-}
	cat >"$D/net.d/10-$NET.conflist" <<JSON
{
  "cniVersion": "$ver",
  "name": "$NET",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true,
      "ipam": {
        "type": "host-local", "dataDir": "$D/ipam",
        "ranges": [[{ "subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    }$extra
  ]
}
JSON
}

# mkrecorder NAME: a plugin that records each call's stdin as $D/rec/<n>-<COMMAND>-NAME.json
# (n counts calls across all recorders, so the order shows), passes prevResult through on
# ADD and answers VERSION for 0.3.0 to 1.1.0.
mkrecorder() {
	local dir=${2:-$D/plugins}
	mkdir -p "$dir"
	cat >"$dir/$1" <<SH
#!/bin/bash
n=\$(ls "$D/rec" | grep -c 'json\$')
f="$D/rec/\$(printf %03d \$n)-\$CNI_COMMAND-$1.json"
cat > "\$f"
env | grep ^CNI_ | sort > "\${f%.json}.env"
case "\$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}' ;;
ADD) jq -c '.prevResult // {cniVersion: .cniVersion}' < "\$f" ;;
esac
exit 0
SH
	chmod +x "$dir/$1"
}

# rec_files COMMAND: the recorded stdin files of COMMAND in call order.
rec_files() { ls "$D/rec" | grep -- "-$1-.*\.json$" | sed "s|^|$D/rec/|"; }
rec_order() { ls "$D/rec" | grep -- "-$1-.*\.json$" | sed -E "s/^[0-9]+-$1-(.*)\.json$/\1/" | tr '\n' ' '; }
