#!/bin/bash
# berth inspect shows both sides of one container: the network attachment (from the result
# cache and the kernel) and the storage (layer chain, writable layer, mount) from the storage
# CLI, as a tree, JSON and DOT.
if [ -z "${BERTH_STOR_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_STOR_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib-core.bash"
core_setup
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"
"$BERTH_BIN" storage --help >/dev/null 2>&1 || skip_all "no storage CLI in this build"
BB=$(command -v busybox) || skip_all "no busybox"

export BERTH_STORAGE_CONFIG=$D/storage.json BERTH_STORAGE_PATH=$STOR_BIN
printf '{"driver":"auto","root":"%s/sroot","runRoot":"%s/srun"}\n' "$D" "$D" >"$D/storage.json"
ID=full$T
defer "$BERTH_BIN storage rm --force $ID; echo '{\"root\":\"$D/sroot/overlay\",\"runRoot\":\"$D/srun/overlay\"}' | STOR_COMMAND=CLEANUP $STOR_BIN/overlay"
mkdir -p "$D/l1/bin"
cp "$BB" "$D/l1/bin/busybox"
tar --numeric-owner -C "$D/l1" -cf "$D/l1.tar" .
check "storage import" -- "$BERTH_BIN" storage import --name img$T "$D/l1.tar"
check "storage create $ID" -- "$BERTH_BIN" storage create img$T --name $ID
check "storage mount $ID" -- "$BERTH_BIN" storage mount $ID
write_conflist 1.0.0
check "net add $ID" -- berth net add "$NET" --container $ID --netns "/run/netns/$C"

j=$(berth inspect $ID --json)
ok $? "inspect --json"
is "$(jget "$j" '.networks[0].container.addresses[0]')" "$SUBNET.2/24" "network side: the container's address"
is "$(jget "$j" '.storage | type')" object "storage side present"
diag "storage keys: $(jget "$j" '.storage | keys | join(",")')"
is "$(jget "$j" '.storage.image')" "img$T" "storage side names the image"
is "$(jget "$j" '[.storage.layers[].size] | join(" ")')" "$(stat -c %s "$D/l1/bin/busybox")" \
	"the layer chain: one layer, its size the bytes it holds"
is "$(jget "$j" '.storage.writableLayer.id')" "$(jget "$j" '.storage.rootfs')" "the writable layer is the container's"
mp=$(jget "$j" '.storage.mount.path')
is "$(jget "$j" '.storage.mount.mounted'):$(findmnt -n -o FSTYPE --target "$mp" 2>/dev/null)" "true:overlay" \
	"the mount: $mp is an overlay mount"
t=$(berth inspect $ID)
grep -q "^└─ storage" <<<"$t"; ok $? "tree has the storage branch"
grep -q "network $NET as eth0" <<<"$t"; ok $? "tree has the network branch"
if command -v dot >/dev/null; then
	check "DOT renders with both sides" -- sh -c "ip netns exec $H $BERTH_BIN --cache-dir $D/cache inspect $ID --dot | dot -Tsvg -o $D/full.svg"
	grep -q storage "$D/full.svg"; ok $? "the picture has the storage"
else
	skip "DOT renders with both sides: graphviz not installed"
	skip "the picture has the storage: graphviz not installed"
fi
check "net del" -- berth net del "$NET" --container $ID
done_testing
