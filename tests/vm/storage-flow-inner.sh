#!/bin/bash
# Runs INSIDE the dm-vm (tests/vm/dm-vm.sh; started by tests/integration/78-storage-flow.sh):
# the storage flow (storage-flow.sh) through the berth CLI on the devicemapper driver, with a
# thin pool on brd ramdisks, then every artifact printed base64 between markers for the host
# to compare with the other drivers' byte for byte.
# Needs: BERTH_BUILD (bin/berth, storage/devicemapper, tests/helpers/stor-tree), BERTH_SRC,
# FLOW_OCI (the OCI layout, copied in); /dev/ram0 (pool metadata), /dev/ram1 (pool data).
set -u
W=$(mktemp -d /tmp/flow.XXXXXX)
OPTS='{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"256M","force_wipe":true,"require_udev_sync":false}'
printf '{"driver":"devicemapper","root":"%s/root","runRoot":"%s/run","options":{"devicemapper":%s}}\n' \
	"$W" "$W" "$OPTS" >"$W/storage.json"
BERTH_STORAGE_PATH=$BERTH_BUILD/storage STOR_TREE=$BERTH_BUILD/tests/helpers/stor-tree \
	bash "$BERTH_SRC/tests/vm/storage-flow.sh" "$BERTH_BUILD/bin/berth" "$W/storage.json" "$FLOW_OCI" "$W/out"
rc=$?
for f in "$W"/out/*; do
	echo "BEGIN-ARTIFACT ${f##*/}"
	base64 "$f"
	echo "END-ARTIFACT"
done
printf '{"protocolVersion":"1.0.0","driver":"devicemapper","root":"%s/root/devicemapper","runRoot":"%s/run/devicemapper","options":%s,"args":{}}' \
	"$W" "$W" "$OPTS" | STOR_COMMAND=CLEANUP "$BERTH_BUILD/storage/devicemapper" >/dev/null
exit $rc
