#!/bin/bash
# Layer archives as root: ownership, device nodes, xattrs (security.capability, trusted.*, ACLs),
# overlay whiteouts and opaque dirs survive apply(diff(tree)) byte for byte; GNU tar interop;
# the hostile corpus changes nothing outside the root (in a private mount namespace where
# absolute targets like /mnt/outside are real).
source "$(dirname "$0")/../lib.sh"
need_root
TOOL=$BERTH_BUILD/tests/helpers/berth-archive-tool
HOSTILE=$BERTH_SRC/tests/data/hostile
[ -x "$TOOL" ] || skip_all "no $TOOL (make first)"
command -v python3 >/dev/null || skip_all "needs python3"
W=$(mktemp -d /tmp/berth-60-archive.XXXXXX)
defer "rm -rf '$W'"

# dump TREE: one line per entry (type, mode, uid, gid, size, mtime in s, rdev, link target,
# sha256, hardlink group, every xattr but security.selinux), sorted.
cat >"$W/dump.py" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
groups, out = {}, []
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        h = link = ""
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
        if stat.S_ISLNK(st.st_mode):
            link = os.readlink(p)
        grp = ""
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            grp = groups.setdefault((st.st_dev, st.st_ino), "hl%d" % len(groups))
        try:
            xs = sorted(os.listxattr(p, follow_symlinks=False))
        except OSError:
            xs = []
        xa = " ".join("%s=%s" % (x, os.getxattr(p, x, follow_symlinks=False).hex())
                      for x in xs if x != "security.selinux")
        out.append("%s %o %d:%d %d %d %x %s %s %s %s" % (
            rel, st.st_mode, st.st_uid, st.st_gid,
            0 if stat.S_ISDIR(st.st_mode) else st.st_size, int(st.st_mtime),
            st.st_rdev, link, h, grp, xa))
print("\n".join(out))
PY
dump() { python3 "$W/dump.py" "$1"; }
same_tree() { # same_tree GOT WANT DESCRIPTION: two dumps, the differing lines on failure
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"; diff <(echo "$2") <(echo "$1") | head -20 | sed 's/^/#   /'; fi
}

# ---- a tree with everything a layer can hold, in overlay form ----
S=$W/src
mkdir -p "$S/usr/bin" "$S/etc/ssl" "$S/var/mail" "$S/tmp" "$S/opq/sub" "$S/dev" "$S/deep/a/b/c/d/e/f"
printf 'ping\n' >"$S/usr/bin/ping"
chmod 4755 "$S/usr/bin/ping"
printf 'capable\n' >"$S/usr/bin/capable"
chown 0:0 "$S/usr/bin/capable"
head -c 300000 /dev/urandom >"$S/usr/bin/big"
ln "$S/usr/bin/big" "$S/usr/bin/big-hardlink"
printf 'secret\n' >"$S/etc/shadow"
chown 0:42 "$S/etc/shadow"
chmod 0640 "$S/etc/shadow"
chown 8:8 "$S/var/mail"
chmod 2775 "$S/var/mail"
chmod 1777 "$S/tmp"
printf 'user\n' >"$S/home-file"
chown 1000:1000 "$S/home-file"
chown 65534:65534 "$S/deep/a/b"
ln -s /usr/bin/ping "$S/abs-link"
ln -s ../../etc "$S/deep/a/rel-link"
ln -s /nonexistent "$S/dangling"
chown -h 1000:1000 "$S/dangling"
mkfifo "$S/fifo"
mknod "$S/dev/null" c 1 3
mknod "$S/dev/loop-like" b 7 200
chmod 0660 "$S/dev/loop-like"
printf 'über\n' >"$S/etc/ünïcödé-name"
touch "$S/$(printf 'n%.0s' {1..200})"
truncate -s 10M "$S/sparse"
printf 'tail' >>"$S/sparse"
mknod "$S/whiteout-of-this" c 0 0           # overlay whiteout
printf 'kept\n' >"$S/opq/sub/kept"
python3 - "$S" <<'PY'
import os, struct, sys
s = sys.argv[1]
# security.capability v2: cap_net_raw (13) permitted+effective
cap = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)
os.setxattr(s + "/usr/bin/capable", "security.capability", cap)
os.setxattr(s + "/usr/bin/capable", "user.origin", b"test")
os.setxattr(s + "/etc/ssl", "trusted.berth-test", b"t")
os.setxattr(s + "/opq", "trusted.overlay.opaque", b"y")
# POSIX ACL: user::rw- user:1000:r-- group::r-- mask::r-- other::r--
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in [
    (1, 6, 0xFFFFFFFF), (2, 4, 1000), (4, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF),
    (0x20, 4, 0xFFFFFFFF)])
try:
    os.setxattr(s + "/home-file", "system.posix_acl_access", acl)
except OSError as e:
    print("# no ACL support here: %s" % e)
PY
# whole-second mtimes: tar layers carry seconds (as Docker's do)
find "$S" -exec touch -h -d @1700000000 {} +

# ---- overlay form: diff -> tar -> apply ----
check "diff of an overlay upper dir" -- "$TOOL" diff -w overlay "$S" "$W/layer.tar"
listing=$(tar -tf "$W/layer.tar")
check "tar has .wh.NAME for the 0/0 char device" -- grep -qx '.wh.whiteout-of-this' <<<"$listing"
check "tar has opq/.wh..wh..opq for the opaque dir" -- grep -qx 'opq/.wh..wh..opq' <<<"$listing"
check "overlay xattrs not exported" -- bash -c "! grep -a -q 'trusted.overlay' '$W/layer.tar'"
check "security.capability exported as SCHILY.xattr" -- grep -a -q 'SCHILY.xattr.security.capability' "$W/layer.tar"
check "GNU tar reads our tar without complaint" -- tar -tf "$W/layer.tar"

mkdir "$W/dst"
check "apply in overlay form" -- "$TOOL" apply -w overlay "$W/dst" "$W/layer.tar"
touch -h -d @1700000000 "$W/dst"
a=$(dump "$S"); b=$(dump "$W/dst")
same_tree "$b" "$a" "apply(diff(tree)) == tree: modes, ids, xattrs, hardlinks, devices, whiteouts"
cap=$(python3 -c "import os,sys; print(os.getxattr(sys.argv[1],'security.capability').hex())" "$W/dst/usr/bin/capable" 2>&1)
is "$cap" "0100000200200000000000000000000000000000" "security.capability survives chown (set after it)"
is "$(stat -c '%a %u:%g' "$W/dst/usr/bin/ping")" "4755 0:0" "setuid bit kept"
is "$(stat -c '%a %u:%g' "$W/dst/var/mail")" "2775 8:8" "setgid dir kept with its owner"
is "$(stat -c '%F %t:%T' "$W/dst/whiteout-of-this")" "character special file 0:0" "whiteout is a 0/0 char device"
is "$(python3 -c "import os,sys; print(os.getxattr(sys.argv[1],'trusted.overlay.opaque'))" "$W/dst/opq")" "b'y'" "opaque dir has trusted.overlay.opaque=y"
is "$(du -k "$W/dst/sparse" | cut -f1)" "$(du -k "$S/sparse" | cut -f1)" "sparse file stays sparse"

# the *at walk fallback gives the same tree
mkdir "$W/dst-walk"
check "apply through the *at walk (-n)" -- "$TOOL" apply -n -w overlay "$W/dst-walk" "$W/layer.tar"
touch -h -d @1700000000 "$W/dst-walk"
same_tree "$(dump "$W/dst-walk")" "$a" "walk: apply(diff(tree)) == tree"

# a second diff of the applied tree is the same bytes
check "diff of the applied tree" -- "$TOOL" diff -w overlay "$W/dst" "$W/layer2.tar"
check "diff is reproducible byte for byte" -- cmp "$W/layer.tar" "$W/layer2.tar"

# ---- zstd / gzip layers ----
if command -v zstd >/dev/null; then
	zstd -q -o "$W/layer.tar.zst" "$W/layer.tar"
	mkdir "$W/dst-zst"
	check "apply a zstd layer" -- "$TOOL" apply -w overlay "$W/dst-zst" "$W/layer.tar.zst"
	touch -h -d @1700000000 "$W/dst-zst"
	is "$(dump "$W/dst-zst")" "$a" "zstd layer == tree"
else
	skip "zstd not installed"
	skip "zstd not installed"
fi
gzip -c "$W/layer.tar" >"$W/layer.tar.gz"
mkdir "$W/dst-gz"
check "apply a gzip layer from a pipe" -- bash -c "cat '$W/layer.tar.gz' | '$TOOL' apply -w overlay '$W/dst-gz' -"
touch -h -d @1700000000 "$W/dst-gz"
same_tree "$(dump "$W/dst-gz")" "$a" "gzip layer == tree"

# ---- GNU tar interop (keep form: a plain tree without overlay whiteouts) ----
rm -f "$S/whiteout-of-this"
python3 -c "import os,sys; os.removexattr(sys.argv[1],'trusted.overlay.opaque')" "$S/opq"
touch -h -d @1700000000 "$S"
a=$(dump "$S")
tar --xattrs --xattrs-include='*' --acls --numeric-owner -C "$S" -cf "$W/gnu.tar" .
mkdir "$W/from-gnu"
check "apply a GNU tar archive" -- "$TOOL" apply -w keep "$W/from-gnu" "$W/gnu.tar"
same_tree "$(dump "$W/from-gnu")" "$a" "GNU tar archive applies to the same tree"
"$TOOL" diff -w keep "$S" "$W/ours.tar" 2>/dev/null
mkdir "$W/by-gnu"
check "GNU tar extracts our diff" -- tar --xattrs --xattrs-include='*' --numeric-owner -C "$W/by-gnu" -xf "$W/ours.tar"
touch -h -d @1700000000 "$W/by-gnu"
# GNU tar restores ACLs only from its own records; compare without them
strip_acl() { sed 's/ system.posix_acl_access=[0-9a-f]*//'; }
same_tree "$(dump "$W/by-gnu" | strip_acl)" "$(strip_acl <<<"$a")" "GNU tar gets the same tree from our diff"

# ---- delete form: a layer with whiteouts applied onto a copy of its parent ----
P=$W/parent
mkdir -p "$P/keep" "$P/gone-dir/x" "$P/opq"
printf 1 >"$P/keep/f"; printf 2 >"$P/gone-file"; printf 3 >"$P/opq/old"; printf 4 >"$P/gone-dir/x/y"
python3 - "$W/wh.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for name, data in [(".wh.gone-file", b""), (".wh.gone-dir", b""), ("opq/", None),
                       ("opq/.wh..wh..opq", b""), ("opq/new", b"5")]:
        ti = tarfile.TarInfo(name.rstrip("/"))
        if data is None:
            ti.type = tarfile.DIRTYPE; ti.mode = 0o755
        else:
            ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data else None)
PY
check "apply whiteouts in delete form" -- "$TOOL" apply -w delete "$P" "$W/wh.tar"
is "$(cd "$P" && find . | sort | tr '\n' ' ')" ". ./keep ./keep/f ./opq ./opq/new " "whiteouts and opaque dir applied to the parent copy"

# ---- changes + naive diff between two trees ----
C1=$W/c1 C2=$W/c2
mkdir -p "$C1/d" "$C2/d"
printf a >"$C1/d/same"; printf b >"$C1/d/mod"; printf c >"$C1/del"
cp -a "$C1/." "$C2/"
printf changed >"$C2/d/mod"; rm "$C2/del"; printf n >"$C2/new"; chown 7:7 "$C2/d/same"
out=$("$TOOL" changes "$C2" "$C1" 2>/dev/null | tr '\n' ' ')
is "$out" "C /d C /d/mod C /d/same D /del A /new " "changes: modify (content, owner), delete, add"

# ---- the kernel agrees: overlay-form whiteouts hide the lower layer's entries ----
L1=$W/ovl-lower L2=$W/ovl-layer
mkdir -p "$L1/dir" "$L1/opq" "$L2"
printf 1 >"$L1/gone"; printf 1 >"$L1/dir/gone2"; printf 1 >"$L1/dir/stay"; printf 1 >"$L1/opq/hidden"
python3 - "$W/ovl.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for name, data in [(".wh.gone", b""), ("dir/", None), ("dir/.wh.gone2", b""), ("opq/", None),
                       ("opq/.wh..wh..opq", b""), ("opq/new", b"2")]:
        ti = tarfile.TarInfo(name.rstrip("/"))
        if data is None:
            ti.type = tarfile.DIRTYPE; ti.mode = 0o755
        else:
            ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data else None)
PY
check "apply whiteouts in overlay form" -- "$TOOL" apply -w overlay "$L2" "$W/ovl.tar"
merged=$(unshare -m --propagation private bash -c "
	mkdir -p '$W/ovl-merged' &&
	mount -t overlay berth-test -o 'lowerdir=$L2:$L1' '$W/ovl-merged' &&
	cd '$W/ovl-merged' && find . | sort | tr '\n' ' '" 2>&1)
is "$merged" ". ./dir ./dir/stay ./opq ./opq/new " \
	"mounted overlay: .wh. entries hidden, opaque dir shows only the new layer"

# ---- changes of an overlay upper dir against its parent ----
U=$W/upper P2=$W/lower
mkdir -p "$U/keep" "$U/opq" "$P2/keep" "$P2/opq"
printf 1 >"$P2/keep/mod"; printf 1 >"$P2/gone"; printf 1 >"$P2/opq/a"; printf 1 >"$P2/opq/b"
printf 2 >"$U/keep/mod"; printf 2 >"$U/new"; mknod "$U/gone" c 0 0; printf 2 >"$U/opq/c"
python3 -c "import os,sys; os.setxattr(sys.argv[1],'trusted.overlay.opaque',b'y')" "$U/opq"
out=$("$TOOL" changes -U "$U" "$P2" 2>/dev/null | tr '\n' ' ')
is "$out" "D /gone C /keep C /keep/mod A /new C /opq D /opq/a D /opq/b A /opq/c " \
	"upper-dir changes: whiteout = delete, opaque dir deletes the parent's entries"

# ---- bad ids ----
python3 - "$W/badid.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo("f"); ti.uid = 4294967295; ti.pax_headers = {"uid": "4294967295"}
    t.addfile(ti, io.BytesIO(b""))
PY
mkdir "$W/badid"
"$TOOL" apply "$W/badid" "$W/badid.tar" >/dev/null 2>&1
is "$?" 6 "uid 2^32-1 (chown's 'leave as is') refused with code 6"

# ---- hostile corpus in a private mount namespace ----
cat >"$W/hostile.sh" <<'EOS'
set -u
TOOL=$1 HOSTILE=$2 WALK=$3 ERR=$4
mount -t tmpfs -o size=64m berth-hostile /mnt || exit 1
while read -r name code flags desc; do
	rm -rf /mnt/root /mnt/outside
	mkdir /mnt/root /mnt/outside /mnt/outside/dir
	printf keep >/mnt/outside/file
	ln -s file /mnt/outside/link
	[ "$flags" = - ] && flags=
	list() { (cd /mnt && find . -path ./root -prune -o -printf '%p %M %U:%G %s %T@ %l\n' | sort; md5sum outside/file); }
	before=$(list)
	# shellcheck disable=SC2086
	"$TOOL" apply $WALK $flags /mnt/root "$HOSTILE/$name" >/dev/null 2>"$ERR"
	rc=$?
	after=$(list)
	same=same; [ "$before" = "$after" ] || same=CHANGED
	echo "$name $code $rc $same $(head -c 200 "$ERR" | tr '\n' ' ')"
done <"$HOSTILE/MANIFEST"
EOS
for mode in openat2 walk; do
	flag=; [ $mode = walk ] && flag=-n
	while read -r name code rc same msg; do
		is "$rc" "$code" "hostile ($mode) $name: code $code"
		[ "$rc" = "$code" ] || diag "$msg"
		is "$same" same "hostile ($mode) $name: nothing changed outside the root"
	done < <(unshare -m --propagation private bash "$W/hostile.sh" "$TOOL" "$HOSTILE" "$flag" "$W/err")
done

# devices without -D: created inside the root, as root may
mkdir "$W/devs"
check "device archive applies without -D" -- "$TOOL" apply "$W/devs" "$HOSTILE/device-char.tar"
is "$(stat -c '%F %t:%T' "$W/devs/mem")" "character special file 1:1" "device node created in the root"

done_testing
