#!/usr/bin/env bash
# Packaging checks, run by test.sh: builds the .deb (packaging/build-deb.sh)
# and checks what an operator would get from it:
#   - its file list, exactly (binary, unit, example config, man pages,
#     completions, docs) and its conffiles and maintainer scripts;
#   - `systemd-analyze verify --root=DIR` on the package extracted into DIR
#     over the host's own systemd units (so the unit's binary and man page
#     must come from the package);
#   - `systemd-analyze security --offline=yes` under a threshold that holds
#     the hardening where it is (raise the bar, never lower it);
#   - the postinst: creates the admin token once, root only, never
#     overwrites it; the postrm removes it on purge;
#   - `lintian`: no error and no warning;
#   - `promtool check metrics` on the packaged binary's /metrics.
# Installs systemd-analyze, dpkg-deb, man, lintian and promtool (Debian's
# prometheus package) when missing, and cargo-deb when missing (crates.io,
# about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."

# Exposure of zkppd.service per `systemd-analyze security`, in tenths
# (1.1 today). A change to the unit that raises it fails here.
SECURITY_THRESHOLD=11

started=$SECONDS
checks=0
ok() {
    checks=$((checks + 1))
    echo "packaging: ok - $*"
}
fail() {
    echo "packaging: FAILED - $*" >&2
    exit 1
}

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
command -v man >/dev/null 2>&1 || missing+=(man-db)
command -v lintian >/dev/null 2>&1 || missing+=(lintian)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
    echo "packaging: installing ${missing[*]} from the distribution" >&2
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        fail "need ${missing[*]} and not root (no sudo): install them"
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

deb=$(packaging/build-deb.sh | tail -n 1)
[ -f "$deb" ] || fail "build-deb.sh did not produce a package (got '$deb')"
ok "built $deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the file list ---------------------------------------------------------
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $NF }' | sed 's|^\./|/|' | sort > "$work/files"
{
    cat <<'EOF'
/etc/zkppd/zkppd.env
/usr/bin/zkppd
/usr/lib/systemd/system/zkppd-backup.service
/usr/lib/systemd/system/zkppd-backup.timer
/usr/lib/systemd/system/zkppd.service
/usr/share/bash-completion/completions/zkppd
/usr/share/doc/zkppd/README-ops.md
/usr/share/doc/zkppd/changelog.Debian.gz
/usr/share/doc/zkppd/copyright
/usr/share/fish/vendor_completions.d/zkppd.fish
/usr/share/lintian/overrides/zkppd
/usr/share/zsh/vendor-completions/_zkppd
EOF
    # One page per command, exactly the ones the binary generates.
    for page in target/assets/man/*.1; do
        echo "/usr/share/man/man1/$(basename "$page").gz"
    done
} | sort > "$work/expected"
grep -qx '/usr/share/man/man1/zkppd.1.gz' "$work/expected" || fail "no zkppd.1 man page generated"
grep -qx '/usr/share/man/man1/zkppd-serve.1.gz' "$work/expected" || fail "no zkppd-serve.1 man page generated"
diff -u "$work/expected" "$work/files" || fail "the package's file list differs from the expected one (- expected, + packaged)"
ok "file list: $(wc -l < "$work/files") files, as expected"

dpkg-deb -e "$deb" "$work/control"
grep -qx '/etc/zkppd/zkppd.env' "$work/control/conffiles" || fail "/etc/zkppd/zkppd.env is not a conffile"
[ "$(wc -l < "$work/control/conffiles")" -eq 1 ] || fail "unexpected conffiles: $(cat "$work/control/conffiles")"
grep -q '^Depends: .*libc6' "$work/control/control" || fail "no libc6 dependency in control"
grep -q '^Depends: .*procps' "$work/control/control" || fail "no procps dependency (ExecReload's /bin/kill)"
grep -q 'od -An -tx1 -N32 /dev/urandom' "$work/control/postinst" || fail "postinst does not create the admin token"
grep -q 'deb-systemd-helper enable zkppd.service' "$work/control/postinst" || fail "postinst does not enable the unit"
grep -q 'deb-systemd-invoke $_dh_action zkppd.service' "$work/control/postinst" || fail "postinst does not (re)start the unit"
grep -q 'deb-systemd-helper enable zkppd-backup.timer' "$work/control/postinst" || fail "postinst does not enable the backup timer"
grep -q 'deb-systemd-invoke start zkppd-backup.timer' "$work/control/postinst" || fail "postinst does not start the backup timer"
if grep -Eq 'deb-systemd-invoke (\$_dh_action|start|restart) .*zkppd-backup\.service' "$work/control/postinst"; then
    fail "postinst would run a backup during the install"
fi
ok "control: conffiles, depends, maintainer scripts"

# --- the unit, over a root made of the host's systemd units + the package --
root="$work/root"
mkdir -p "$root/usr/lib/systemd/system"
for units in /lib/systemd/system /usr/lib/systemd/system; do
    if [ -d "$units" ]; then cp -a "$units/." "$root/usr/lib/systemd/system/"; fi
done
[ -e "$root/usr/lib/systemd/system/sysinit.target" ] || fail "no host systemd units to verify against"
dpkg-deb -x "$deb" "$root"
# ExecReload's /bin/kill comes from procps (a dependency): the host's.
mkdir -p "$root/bin"
cp /bin/kill "$root/bin/kill" || fail "no /bin/kill on this host (procps)"
"$root/usr/bin/zkppd" --version >/dev/null || fail "the packaged binary does not run"
zcat "$root/usr/share/man/man1/zkppd.1.gz" | grep -q '^\.SH ENVIRONMENT' || fail "zkppd.1 lacks its ENVIRONMENT section"
MANPAGER=cat MANWIDTH=80 man -l "$root/usr/share/man/man1/zkppd.1.gz" 2>&1 >/dev/null | grep . && fail "man zkppd.1 warns"
ok "packaged binary runs; man page renders"

# Documentation=man:zkppd(1) is looked up by `man`: point it at the package.
if ! MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" \
    zkppd.service zkppd-backup.service zkppd-backup.timer; then
    fail "systemd-analyze verify --root on the extracted package"
fi
ok "systemd-analyze verify --root=DIR zkppd.service zkppd-backup.service zkppd-backup.timer"

backup_unit="$root/usr/lib/systemd/system/zkppd-backup.service"
grep -qx 'ExecStart=/usr/bin/zkppd backup --keep=${ZKPPD_BACKUP_KEEP} %S/zkppd-backup' "$backup_unit" || fail "the backup unit does not rotate into its state directory"
grep -qx 'User=zkppd' "$backup_unit" || fail "the backup unit does not share the service's dynamic user"
grep -qx 'OnCalendar=daily' "$root/usr/lib/systemd/system/zkppd-backup.timer" || fail "the backup timer is not daily"
ok "backup units: daily, rotating, as the service's user"

unit="$root/usr/lib/systemd/system/zkppd.service"
grep -qx 'Type=notify' "$unit" || fail "the unit is not Type=notify (tests/it/ops.rs checks READY=1 for it)"
grep -qx 'LoadCredential=admin-token:/etc/zkppd/admin-token' "$unit" || fail "the unit does not load the admin token credential"
grep -q '^ExecStart=/usr/bin/zkppd serve --admin-token-file=%d/admin-token$' "$unit" || fail "ExecStart does not read the credential"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "the unit cannot be reloaded (SIGHUP)"
grep -qx 'Environment=ZKPPD_ENV_FILE=/etc/zkppd/zkppd.env' "$unit" || fail "SIGHUP would not find the log level"
grep -qx 'ZKPPD_DB=/var/lib/zkppd/zkppd.db' "$root/etc/zkppd/zkppd.env" || fail "zkppd.env does not name the database for the admin commands"
for setting in DynamicUser=yes StateDirectory=zkppd ProtectSystem=strict NoNewPrivileges=yes \
    PrivateTmp=yes PrivateDevices=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
    SystemCallFilter=@system-service MemoryDenyWriteExecute=yes CapabilityBoundingSet=; do
    grep -qx "$setting" "$unit" || fail "the unit lacks $setting"
done
ok "unit: notify, credential, hardening settings present"

systemd-analyze security --offline=yes --root="$root" zkppd.service > "$work/security" 2>&1 || true
tail -n 1 "$work/security"
if ! systemd-analyze security --offline=yes --root="$root" --threshold="$SECURITY_THRESHOLD" zkppd.service >/dev/null 2>&1; then
    grep '✗' "$work/security" >&2 || true
    fail "exposure of zkppd.service is above $SECURITY_THRESHOLD/100 (see the ✗ lines above)"
fi
ok "systemd-analyze security --offline=yes: exposure within $SECURITY_THRESHOLD/100"

# --- the maintainer scripts, against a scratch root ------------------------
# Only our part runs: the #DEBHELPER# line is a comment in the sources.
fake="$work/dpkg-root"
mkdir -p "$fake"
DPKG_ROOT="$fake" sh packaging/debian/postinst configure > /dev/null
token_file="$fake/etc/zkppd/admin-token"
[ -f "$token_file" ] || fail "postinst did not create the admin token"
[ "$(stat -c %a "$token_file")" = 600 ] || fail "admin token mode is $(stat -c %a "$token_file"), not 600"
[ "$(stat -c %u "$token_file")" = "$(id -u)" ] || fail "admin token not owned by the installing user"
grep -Eqx '[0-9a-f]{64}' "$token_file" || fail "admin token is not 64 hex characters"
[ "$(wc -l < "$token_file")" -eq 1 ] || fail "admin token is not one line"
[ -z "$(find "$fake/etc/zkppd" -name '.admin-token.*')" ] || fail "postinst left a temporary file"
first=$(cat "$token_file")
DPKG_ROOT="$fake" sh packaging/debian/postinst configure 0.1.0-1 > /dev/null
[ "$(cat "$token_file")" = "$first" ] || fail "postinst overwrote the admin token on upgrade"
echo "operator-chosen-token-0123456789" > "$token_file"
DPKG_ROOT="$fake" sh packaging/debian/postinst configure 0.1.0-1 > /dev/null
[ "$(cat "$token_file")" = "operator-chosen-token-0123456789" ] || fail "postinst replaced an operator's token"
DPKG_ROOT="$fake" sh packaging/debian/postrm remove > /dev/null
[ -f "$token_file" ] || fail "postrm remove deleted the admin token (only purge may)"
DPKG_ROOT="$fake" sh packaging/debian/postrm purge > /dev/null
[ ! -e "$token_file" ] || fail "postrm purge kept the admin token"
ok "postinst creates the token once (0600, 64 hex), keeps it on upgrade; purge removes it"

# --- lintian: no error, no warning ------------------------------------------
if ! lintian --fail-on error,warning --tag-display-limit 0 "$deb" > "$work/lintian" 2>&1; then
    cat "$work/lintian" >&2
    fail "lintian reports errors or warnings"
fi
grep -E '^[EW]: ' "$work/lintian" >&2 && fail "lintian reports errors or warnings"
ok "lintian: no error or warning ($(grep -c '^[IPX]: ' "$work/lintian" || true) info/pedantic tags)"

# --- promtool check metrics on the packaged binary --------------------------
"$root/usr/bin/zkppd" --temp-db --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    2> "$work/server.log" &
server=$!
metrics_addr=""
for _ in $(seq 100); do
    metrics_addr=$(sed -n 's|.*metrics on http://\([0-9.:]*\)/metrics.*|\1|p' "$work/server.log" | head -n 1)
    [ -n "$metrics_addr" ] && break
    sleep 0.1
done
[ -n "$metrics_addr" ] || { kill "$server"; cat "$work/server.log" >&2; fail "no metrics address logged"; }
exec 3<>"/dev/tcp/${metrics_addr%:*}/${metrics_addr##*:}"
printf 'GET /metrics HTTP/1.0\r\nHost: zkppd\r\n\r\n' >&3
sed '1,/^\r$/d' <&3 > "$work/metrics"
exec 3<&-
kill "$server"
wait "$server" || true
grep -q '^process_resident_memory_bytes ' "$work/metrics" || fail "no process metrics"
grep -q '^zkppd_build_info{' "$work/metrics" || fail "no build info"
promtool check metrics < "$work/metrics" || fail "promtool check metrics"
ok "promtool check metrics: $(grep -c '^# TYPE' "$work/metrics") families"

echo "packaging/check.sh: all $checks packaging checks passed in $((SECONDS - started))s"
