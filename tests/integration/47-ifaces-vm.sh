#!/bin/bash
# time-limit: 1500 (the VM times out at 1200 s: that is reported as a failure first)
# The interface plugins on a stock Debian kernel, in ONE VM boot (tests/vm/dm-vm.sh): this
# host's kernel lacks ipvlan, 802.1q and dummy, and every interface plugin also runs once on a
# kernel other than this one.  Each plugin's part is tests/vm/ifaces-<plugin>.sh (run as
# `bash SCRIPT CNI_DIR REF_DIR FAULT_DIR`; REF_DIR and FAULT_DIR are "-" when absent); it
# prints TAP and may declare, in its first 10 lines, `# vm-modules: MOD...`,
# `# vm-tools: CMD...` and `# vm-files: PATH...` (host files or directories copied in).
# tests/vm/ifaces-all.sh runs them all in the VM; each one's checks are relayed here prefixed
# with the plugin's name, followed by a check that it ran its whole plan and exited 0.
source "$(dirname "$0")/../lib.sh"
need_root
VM=$BERTH_SRC/tests/vm/dm-vm.sh
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
PER_SCRIPT=${IFACES_VM_SCRIPT_LIMIT:-300}

mapfile -t scripts < <(ls "$BERTH_SRC"/tests/vm/ifaces-*.sh 2>/dev/null | grep -v '/ifaces-all\.sh$')
[ ${#scripts[@]} -gt 0 ] || { ok 1 "tests/vm/ifaces-*.sh: at least one plugin part to run"; done_testing; exit; }
command -v qemu-system-x86_64 >/dev/null || {
	ok 1 "qemu-system-x86_64 missing: the VM cannot run (scripts/deps.sh test)"
	done_testing; exit
}

mods=(veth) tools=(ip bash ping sort timeout) files=()
for s in "${scripts[@]}"; do
	read -ra m <<<"$(head -n 10 "$s" | sed -n 's/^# vm-modules: *//p')"
	read -ra t <<<"$(head -n 10 "$s" | sed -n 's/^# vm-tools: *//p')"
	read -ra f <<<"$(head -n 10 "$s" | sed -n 's/^# vm-files: *//p')"
	mods+=("${m[@]}") tools+=("${t[@]}") files+=("${f[@]}")
done
args=()
for m in $(printf '%s\n' "${mods[@]}" | sort -u); do args+=(-m "$m"); done
for t in $(printf '%s\n' "${tools[@]}" | sort -u); do args+=(-t "$t"); done
# host files and directories a part needs at the same path in the VM (absent ones are left out:
# the part reports what it misses)
for f in $(printf '%s\n' "${files[@]}" | sort -u); do [ -e "$f" ] && args+=(-f "$f"); done
REF=-; [ -d "$REF_CNI" ] && REF=$REF_CNI && args+=(-f "$REF_CNI")
FAULT=-; [ -d "$FB/cni" ] && FAULT=$FB/cni && args+=(-f "$FAULT")
[ "$FAULT" = - ] && ok 1 "$FB/cni missing: make FAULT=1 (the crash-injection parts need it)"
args+=(-f "$CNI_BIN" -f "$BERTH_SRC/tests/vm")

log=$(mktemp -d); defer "rm -rf $log"
DM_VM_QUIET=1 DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-1200} "$VM" "${args[@]}" \
	-- "$BERTH_SRC/tests/vm/ifaces-all.sh" "$CNI_BIN" "$REF" "$FAULT" "$PER_SCRIPT" "${scripts[@]}" \
	>"$log/console" 2>&1
rc=$?
tr -d '\r' <"$log/console" | awk -v dir="$log" '
	/^@@@ begin / { cur = dir "/p-" $3; next }
	/^@@@ end / { print $4 > (dir "/s-" $3); close(cur); cur = ""; next }
	/^@@@ done/ { print "" > (dir "/done"); next }
	cur != "" { print > cur }'
for s in "${scripts[@]}"; do
	name=${s##*/ifaces-}; name=${name%.sh}
	if [ -f "$log/p-$name" ]; then
		relay_tap "$name" "$log/p-$name" "$(cat "$log/s-$name" 2>/dev/null || echo 125)" || true
	else
		ok 1 "$name: ran in the VM"
	fi
done
if [ -f "$log/done" ] && [ $rc -eq 0 ]; then
	ok 0 "the VM ran every plugin's part (${#scripts[@]}) and ended cleanly"
else
	ok 1 "the VM ran every plugin's part and ended cleanly (exit status $rc)"
	tail -30 "$log/console" | sed 's/^/#   /'
fi
done_testing
