#!/bin/sh
# Assembles the image's file system into OUT/rootfs from a built zkppd
# binary: the binary, exactly the shared libraries `ldd` lists for it (at
# the paths the dynamic loader looks in), an /etc/passwd and /etc/group
# naming uid/gid 10001 `zkppd`, and an empty /tmp. Nothing else: no shell,
# no package manager, no CA bundle (zkppd's one outgoing TLS connection,
# to PostgreSQL, trusts the file SSL_CERT_FILE names: mount the CA there).
#
# Used twice, so that both images are the same: by the Containerfile's
# build stage (from source, inside the rust image) and by smoke.sh (from
# the release binary cargo made on the host, as CI cannot pull images).
# The data directory goes apart, as OUT/data/zkppd (mode 0700): the
# Containerfile copies OUT/data/ into /var/lib/ with --chown=10001:10001,
# the one way to give a directory an owner in a FROM scratch image (no RUN
# chown without a shell; a COPY keeps modes, not owners). Only that
# directory is chowned: /var and /var/lib stay root's.
#
# Usage: rootfs.sh BIN OUT   (OUT must not exist)
set -eu

bin=$1
out=$2
[ -x "$bin" ] || { echo "rootfs.sh: $bin is not an executable" >&2; exit 1; }
[ ! -e "$out" ] || { echo "rootfs.sh: $out already exists" >&2; exit 1; }
dest=$out/rootfs

mkdir -p "$dest/usr/local/bin" "$dest/etc" "$dest/tmp" "$dest/var/lib" "$out/data"
mkdir -m 0700 "$out/data/zkppd"
# Symbols stripped: the image has no debugger, and they are about a fifth
# of the binary (the PostgreSQL client and TLS brought it near the 15 MB
# budget); a panic message still names its place in zkppd's code.
if command -v strip >/dev/null 2>&1; then
    strip --strip-unneeded -o "$dest/usr/local/bin/zkppd" "$bin"
else
    cp "$bin" "$dest/usr/local/bin/zkppd"
fi
chmod 0755 "$dest/usr/local/bin/zkppd"
# SQLite spills big sorts to /tmp; zkppd --temp-db makes its directory
# there. The sticky bit as on any /tmp.
chmod 1777 "$dest/tmp"

# `ldd` prints `name => /path (addr)` for libraries and `/path (addr)` for
# the loader itself. Copy each file (symlinks followed) to the path printed,
# which is where the loader finds it without an ld.so.cache.
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$libs" ] || { echo "rootfs.sh: ldd lists no libraries for $bin (static?)" >&2; exit 1; }
for lib in $libs; do
    mkdir -p "$dest$(dirname "$lib")"
    cp -L "$lib" "$dest$lib"
done

# Names for the uids, for `ps`/`ls -n`-style tools on the host and for
# anything that asks getpwuid; root exists so that uid 0 has a name too.
cat > "$dest/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/nonexistent
zkppd:x:10001:10001:zkppd:/var/lib/zkppd:/nonexistent
EOF
cat > "$dest/etc/group" <<'EOF'
root:x:0:
zkppd:x:10001:
EOF
chmod 0644 "$dest/etc/passwd" "$dest/etc/group"
