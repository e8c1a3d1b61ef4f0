#!/bin/bash
# Runs INSIDE the dm-vm.sh VM (a stock Debian kernel), started by
# tests/integration/47-ifaces-vm.sh: each tests/vm/ifaces-<plugin>.sh named on the command line,
# one after another, as `bash SCRIPT CNI_DIR REF_DIR FAULT_DIR`, each under a time limit, its
# output framed so that the host relays it as that plugin's checks:
#   @@@ begin NAME / ...its TAP... / @@@ end NAME STATUS      and @@@ done at the very end.
cni=$1 ref=$2 fault=$3 limit=$4
shift 4
for s in "$@"; do
	name=${s##*/ifaces-}
	name=${name%.sh}
	echo "@@@ begin $name"
	timeout "$limit" bash "$s" "$cni" "$ref" "$fault" </dev/null 2>&1
	echo "@@@ end $name $?"
done
echo "@@@ done"
