#!/bin/bash
# berth storage import, the details: every digest of an OCI image layout is checked (manifest,
# config, the compressed blob and the uncompressed diffID), a multi-platform index picks this
# host's platform, a compressed tarball gets the same layer id as the same layer in an OCI
# image, progress shows on a terminal, and a layout written by podman imports.
if [ -z "${BERTH_STOR_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_STOR_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
need_root
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"
BERTH=$BERTH_BUILD/bin/berth
[ -x "$BERTH" ] || skip_all "no berth CLI in this build"
command -v python3 >/dev/null || skip_all "needs python3"

W=$(mktemp -d /tmp/berth-import.$T.XXXXXX)
defer "rm -rf $W"
export BERTH_STORAGE_CONFIG=$W/storage.json BERTH_STORAGE_PATH=$STOR_BIN
printf '{"driver":"auto","root":"%s/root","runRoot":"%s/run"}\n' "$W" "$W" >"$W/storage.json"
defer "echo '{\"root\":\"$W/root/overlay\",\"runRoot\":\"$W/run/overlay\"}' | STOR_COMMAND=CLEANUP $STOR_BIN/overlay"
nlayers() { $BERTH storage --json ls | jq '.layers | length'; }

# mkoci DIR [tweak]: an OCI layout of two layers (gzip, then zstd when the module has it; the
# second deletes a file), written here, not by any tool of ours.  Tweaks: diffid (a wrong
# diff_id in an otherwise consistent config), size (a layer descriptor with the wrong size),
# multi (index -> image index with an arm64 and an amd64 manifest).
cat >"$W/mkoci.py" <<'PY'
import gzip, hashlib, io, json, os, random, sys, tarfile
out, tweak = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
os.makedirs(out + "/blobs/sha256")
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    open("%s/blobs/sha256/%s" % (out, h), "wb").write(data)
    return "sha256:" + h
def tar(entries):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name); ti.mtime = 1700000000
            if data is None:
                ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
            else:
                ti.size = len(data); ti.mode = 0o644; t.addfile(ti, io.BytesIO(data))
    return b.getvalue()
l1 = tar([("etc", None), ("etc/hello", b"hello\n"), ("etc/doomed", b"x\n"),
          ("data", None), ("data/big", random.Random(7).randbytes(1 << 20))])
l2 = tar([("etc", None), ("etc/.wh.doomed", b""), ("etc/added", b"added\n")])
layers, diff_ids = [], []
for raw in (l1, l2):
    z = gzip.compress(raw, mtime=0)
    d = blob(z)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": d, "size": len(z) + (1 if tweak == "size" else 0)})
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
open(out + "/l1.tar", "wb").write(l1)
open(out + "/l2.tar.gz", "wb").write(gzip.compress(l2, mtime=0))
if tweak == "diffid":
    diff_ids[1] = "sha256:" + hashlib.sha256(b"not the layer").hexdigest()
def image(arch):
    cfg = json.dumps({"architecture": arch, "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    c = blob(cfg)
    man = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": c, "size": len(cfg)},
                      "layers": layers if arch == "amd64" else layers[:1]}).encode()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": blob(man),
            "size": len(man), "platform": {"architecture": arch, "os": "linux"}}
ann = {"org.opencontainers.image.ref.name": "demo:1"}
if tweak == "multi":
    idx = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": [image("arm64"), image("amd64")]}).encode()
    top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": blob(idx),
           "size": len(idx), "annotations": ann}
else:
    top = image("amd64"); top["annotations"] = ann
json.dump({"imageLayoutVersion": "1.0.0"}, open(out + "/oci-layout", "w"))
json.dump({"schemaVersion": 2, "manifests": [top]}, open(out + "/index.json", "w"))
PY
mkoci() { python3 "$W/mkoci.py" "$@"; }

# ---- a wrong diffID: the blob digests all match, the uncompressed layer does not ----
mkoci "$W/bad-diffid" diffid
out=$($BERTH storage import "$W/bad-diffid" 2>&1)
ok $((! $?)) "import with a diff_id that does not match the uncompressed layer fails"
grep -q "diffID mismatch" <<<"$out"
ok $? "the error says diffID mismatch"
[ $? -eq 0 ] || diag "$out"
# the first layer was right and stays (verified, recorded); the bad one is gone
is "$(nlayers)" 1 "only the verified first layer is left"
is "$($BERTH storage --json ls | jq '.images | length')" 0 "no image registered"

# ---- a descriptor whose size is not the blob's ----
mkoci "$W/bad-size" size
out=$($BERTH storage import "$W/bad-size" 2>&1)
ok $((! $?)) "import with a layer descriptor of the wrong size fails"
grep -q "size" <<<"$out"
ok $? "the error names the size"
[ $? -eq 0 ] || diag "$out"

# ---- the good layout, then the same layers as tarballs ----
mkoci "$W/good"
check "import a two-layer OCI layout (gzip layers)" -- $BERTH storage import "$W/good"
is "$(nlayers)" 2 "two layers"
check "import the same layers as tarballs, the second gzipped" -- \
	$BERTH storage import --name tarballs "$W/good/l1.tar" "$W/good/l2.tar.gz"
is "$(nlayers)" 2 "a .tar.gz layer gets the chain id it has in the OCI image (no new layer)"
is "$($BERTH storage --json ls | jq -r '[.images[].layers[-1]] | unique | length')" 1 \
	"both images end in the same layer"
check "create a rootfs on the OCI image" -- $BERTH storage create demo:1 --name imp1
P=$($BERTH storage mount imp1)
[ "$(cat "$P/etc/hello")" = hello ] && [ "$(cat "$P/etc/added")" = added ] && [ ! -e "$P/etc/doomed" ]
ok $? "the rootfs has both layers, the whiteout applied"
out=$($BERTH storage rmi demo:1 2>&1)
ok $((! $?)) "rmi of an image a container uses is refused"
grep -q 'in use by container "imp1"' <<<"$out"
ok $? "the error names the container"
[ $? -eq 0 ] || diag "$out"
is "$($BERTH storage --json ls | jq -r '[.images[].name] | sort | join(",")')" "demo:1,tarballs" "the image is still there"
check "rm" -- $BERTH storage rm --force imp1
check "rmi" -- $BERTH storage rmi demo:1 tarballs
is "$(nlayers)" 0 "no layers left"

# ---- gc: layers no image or container names go, the others stay ----
check "import again" -- $BERTH storage import "$W/good"
check "a container on it" -- $BERTH storage create demo:1 --name gc1
top=$($BERTH storage --json ls | jq -r '.images[0].top')
ovl() { "$BERTH_BUILD/tests/helpers/stor-tree" request <(printf '{"root":"%s/root/overlay","runRoot":"%s/run/overlay"}' "$W" "$W") "$2" | STOR_COMMAND=$1 "$STOR_BIN/overlay"; }
ovl CREATE '{"id":"orphan-a"}' >/dev/null
ovl CREATE "{\"id\":\"orphan-b\",\"parent\":\"$top\"}" >/dev/null
is "$(nlayers)" 5 "two orphan layers beside the image's two and the container's"
out=$($BERTH storage gc)
ok $? "storage gc"
is "$(sort <<<"$out" | tr '\n' ' ')" "removed orphan-a removed orphan-b " "gc removed the orphans only"
is "$(nlayers)" 3 "the image's layers and the container's stay"
check "the container still mounts" -- $BERTH storage mount gc1
check "rm, rmi" -- sh -c "$BERTH storage rm --force gc1 && $BERTH storage rmi demo:1"
is "$(nlayers)" 0 "no layers left"

# ---- a multi-platform image index: this host's platform is chosen ----
mkoci "$W/multi" multi
check "import a layout whose index points to an image index" -- $BERTH storage import "$W/multi"
is "$($BERTH storage --json ls | jq '.images[0].layers | length')" 2 "the amd64 manifest (2 layers) was chosen, not arm64's (1)"
check "rmi" -- $BERTH storage rmi demo:1

# ---- progress on a terminal (and none without one) ----
if command -v script >/dev/null; then
	mkdir -p "$W/big"
	head -c $((24 << 20)) /dev/urandom >"$W/big/blob"
	tar -C "$W/big" -cf "$W/big.tar" .
	script -qec "$BERTH storage import --name big $W/big.tar" /dev/null >"$W/tty.out" 2>&1
	ok $? "import under a pseudo-terminal"
	grep -aq "layer 1/1 sha256:.*/ *25.2 MB" "$W/tty.out"
	ok $? "progress shown on the terminal (layer n/N, MB done / total)"
	[ $? -eq 0 ] || diag "$(tr '\r' '\n' <"$W/tty.out" | head -5)"
	$BERTH storage rmi big
	$BERTH storage import --name big "$W/big.tar" >"$W/pipe.out" 2>&1
	! grep -q "MB" "$W/pipe.out"
	ok $? "no progress when stderr is not a terminal"
	$BERTH storage rmi big
else
	skip "no script(1) for a pseudo-terminal"
	skip "no script(1)"
	skip "no script(1)"
fi

# ---- auto: a driver that refuses its options is an error, not a reason to take the next ----
mkdir -p "$W/fakebin"
cat >"$W/fakebin/fakedrv" <<'EOS'
#!/bin/sh
cat >/dev/null
echo '{"protocolVersion":"1.0.0","capabilities":{},"backingFs":"fake","removed":[],"errors":[]}'
EOS
chmod +x "$W/fakebin/fakedrv"
printf '{"driver":"auto","root":"%s/aroot","runRoot":"%s/arun","priority":["overlay","fakedrv"],"options":{"overlay":{"mount_apii":"new"}}}\n' "$W" "$W" >"$W/typo.json"
out=$(BERTH_STORAGE_PATH=$W/fakebin:$STOR_BIN $BERTH storage --config "$W/typo.json" --json info 2>&1)
ok $((! $?)) "auto with a misspelt overlay option fails (does not fall back to the next driver)"
grep -q 'mount_apii' <<<"$out"
ok $? "the error names the option"
[ $? -eq 0 ] || diag "$out"
printf '{"driver":"auto","root":"%s/aroot2","runRoot":"%s/arun2","priority":["nosuchdriver","fakedrv"]}\n' "$W" "$W" >"$W/fallback.json"
out=$(BERTH_STORAGE_PATH=$W/fakebin:$STOR_BIN $BERTH storage --config "$W/fallback.json" --json info 2>&1)
is "$(jq -r .driver <<<"$out" 2>/dev/null)" fakedrv "auto skips a driver that is not installed"

# ---- a layout written by podman (a real client) ----
if command -v podman >/dev/null; then
	PR=$W/podman
	pod() { podman --root "$PR/root" --runroot "$PR/run" --storage-driver vfs --events-backend none "$@"; }
	defer "podman --root $PR/root --runroot $PR/run --storage-driver vfs rmi -a -f"
	mkdir -p "$W/pimg/etc"
	echo from-podman >"$W/pimg/etc/issue"
	tar -C "$W/pimg" -czf "$W/pimg.tar.gz" .
	if pod import "$W/pimg.tar.gz" localhost/berth-test:$T >/dev/null 2>&1 &&
		pod save --format oci-dir -o "$W/poci" localhost/berth-test:$T >/dev/null 2>&1; then
		check "import podman's OCI layout" -- $BERTH storage import "$W/poci"
		check "create a rootfs on it" -- $BERTH storage create localhost/berth-test:$T --name imp2
		is "$(cat "$($BERTH storage mount imp2)/etc/issue")" from-podman "podman's layer content"
		$BERTH storage rm --force imp2
	else
		ok 1 "podman imports and saves an OCI layout (podman import/save failed)"
	fi
else
	skip "no podman"
fi

done_testing
