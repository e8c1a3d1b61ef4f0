# shellcheck shell=bash
# Shared helpers for integration tests: TAP output, throwaway names, cleanup traps, plugin calls.
# Source it from tests/integration/*.sh.  Every object a test creates gets a name built from
# $T (unique per run) and is registered for removal on exit, whatever happens.

set -u
BERTH_SRC=${BERTH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BERTH_BUILD=${BERTH_BUILD:-$BERTH_SRC/build}
CNI_BIN=$BERTH_BUILD/cni
STOR_BIN=$BERTH_BUILD/storage
REF_CNI=${REF_CNI:-/usr/lib/cni}
SHARED=${SHARED:-$BERTH_SRC/../shared}
# A short unique tag: interface names are limited to 15 characters.
T=${T:-$(printf '%04x%02x' $(( $$ & 0xffff )) $(( RANDOM & 0xff )))}

_tap_n=0
_tap_failed=0
_cleanups=()

ok() { # ok COND-EXIT-STATUS DESCRIPTION
	local rc=$1; shift
	_tap_n=$((_tap_n + 1))
	if [ "$rc" -eq 0 ]; then
		echo "ok $_tap_n - $*"
	else
		_tap_failed=$((_tap_failed + 1))
		echo "not ok $_tap_n - $*"
	fi
	return 0
}
check() { # check DESCRIPTION -- COMMAND...: passes when COMMAND exits 0
	local desc=$1; shift; [ "${1:-}" = "--" ] && shift
	local out rc
	out=$("$@" 2>&1); rc=$?
	ok $rc "$desc"
	[ $rc -eq 0 ] || printf '%s\n' "$out" | sed 's/^/#   /' | head -40
	return 0
}
is() { # is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got '$1', want '$2'"; fi
}
diag() { echo "# $*"; }
# A skip is never a pass: scripts/test.sh counts it apart, and under CI=true tests/run-test.sh
# fails it unless tests/skip-allowlist lists it (by file and by the text after "# SKIP").
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP $*"; }

# relay_tap PREFIX FILE [STATUS]: the checks of another TAP stream (a suite run in a VM or
# a subprocess, its output in FILE) become checks of this file, one line each, named
# "PREFIX: ..."; skips stay skips, comments stay comments, other output becomes comments.
# Then one check of its own: the stream ran its whole plan, ran at least one check that was
# not skipped, and its command exited 0 (STATUS, when given).  Returns 0 when all of that held
# and no relayed check failed.
relay_tap() {
	local prefix=$1 file=$2 status=${3:-0} line n=0 ran=0 failed=0 plan= rest
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		if [[ $line =~ ^(not )?ok\ [0-9]+\ *(-\ *)?(.*)$ ]]; then
			n=$((n + 1))
			rest=${BASH_REMATCH[3]}
			_tap_n=$((_tap_n + 1))
			if [ -n "${BASH_REMATCH[1]}" ]; then
				failed=$((failed + 1)) _tap_failed=$((_tap_failed + 1))
				echo "not ok $_tap_n - $prefix: $rest"
			elif [[ $rest =~ ^(.*[^\ ])?\ *#\ *[Ss][Kk][Ii][Pp]\ *(.*)$ ]]; then
				echo "ok $_tap_n - $prefix${BASH_REMATCH[1]:+: ${BASH_REMATCH[1]}} # SKIP ${BASH_REMATCH[2]}"
			else
				ran=$((ran + 1))
				echo "ok $_tap_n - $prefix: $rest"
			fi
		elif [[ $line =~ ^1\.\.([0-9]+) ]]; then
			plan=${BASH_REMATCH[1]}
			[[ $line == *'#'* ]] && echo "# $prefix: $line"
		elif [[ $line == '#'* ]]; then
			echo "$line"
		elif [ -n "$line" ]; then
			echo "#   $prefix| $line"
		fi
	done <"$file"
	if [ "$status" -eq 0 ] && [ "$plan" = "$n" ] && [ "$ran" -gt 0 ]; then
		ok 0 "$prefix: ran its whole plan ($n checks, $ran not skipped)"
		[ "$failed" -eq 0 ]
	else
		ok 1 "$prefix: ran its whole plan and exited 0 (exit status $status, plan ${plan:-missing}, $n checks, $ran not skipped)"
		return 1
	fi
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (polled every 0.1 s); fails after SECONDS.
# For state that settles asynchronously: wait for the event, with a limit far above the noise.
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# defer COMMAND...: run at exit, last registered first.
defer() { _cleanups+=("$*"); }
_run_cleanups() {
	# (a name of its own: a deferred command may run its own `for i in ...` loop, which would
	# reset this counter and end the cleanup early, as 25-ptp's and 27-macvlan's did)
	local _cleanup_idx
	for ((_cleanup_idx = ${#_cleanups[@]} - 1; _cleanup_idx >= 0; _cleanup_idx--)); do
		eval "${_cleanups[$_cleanup_idx]}" >/dev/null 2>&1 || true
	done
}
done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
}
trap '_run_cleanups' EXIT
trap 'exit 130' INT TERM

need_root() { [ "$(id -u)" -eq 0 ] || skip_all "needs root"; }

# keep_host_nft: a test whose plugins may write nftables state in the host netns (ipMasq,
# macspoofchk) gets tables and a state directory of its own (inet/bridge "bt$T"), removed at exit,
# so berth's real "berth" tables and /run/berth/nft are never touched.
keep_host_nft() {
	export BERTH_NFT_TABLE=bt$T BERTH_NFT_STATE_DIR
	BERTH_NFT_STATE_DIR=$(mktemp -d /tmp/berth-nft.XXXXXX)
	defer "rm -rf $BERTH_NFT_STATE_DIR"
	defer "nft delete table inet $BERTH_NFT_TABLE 2>/dev/null; nft delete table bridge $BERTH_NFT_TABLE 2>/dev/null"
}

# mknetns NAME: create a netns (removed at exit) with lo up.
mknetns() {
	ip netns add "$1" || return 1
	defer "ip netns del $1"
	ip -n "$1" link set lo up
}

# cni PLUGIN_PATH COMMAND CONTAINERID NETNS IFNAME [CNI_ARGS] < config
# Prints stdout; returns the plugin's exit status.
cni() {
	local plugin=$1 cmd=$2 id=$3 netns=$4 ifname=$5 args=${6:-}
	env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="$netns" \
		CNI_IFNAME="$ifname" CNI_ARGS="$args" CNI_PATH="${CNI_PATH:-$CNI_BIN}" \
		BERTH_LOG_LEVEL="${BERTH_LOG_LEVEL:-warn}" \
		${BERTH_NFT_TABLE:+BERTH_NFT_TABLE="$BERTH_NFT_TABLE"} \
		${BERTH_NFT_STATE_DIR:+BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR"} "$plugin"
}

# json_get JSON JQ-FILTER
jget() { jq -r "$2" <<<"$1"; }

# Snapshot of host state a test must leave unchanged.
host_state() {
	{
		ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
		ip netns list | awk '{print $1}' | sort
	}
}
