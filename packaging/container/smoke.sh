#!/usr/bin/env bash
# The container image, built and run for real with podman (test.sh calls
# this): builds the image's final stage from the release binary, runs it
# on a loopback port with a named volume and the admin token as a podman
# secret, then checks
#   - /healthz from the host, and `podman healthcheck run` (the image's
#     HEALTHCHECK, i.e. `zkppd healthcheck`);
#   - the admin token secret is read (GET /v1/buckets with it from the host);
#   - a bucket fill through `podman exec … zkppd bucket fill`;
#   - it runs as uid/gid 10001, and the volume and database are theirs;
#   - a clean exit (status 0, `stopped` logged) within a few seconds of
#     SIGTERM (`podman stop`);
#   - a new container on the same volume still has the tokens;
#   - the image is at most $MAX_IMAGE_BYTES.
# Installs podman and runc from the distribution when missing (root, or
# sudo). Everything is on loopback, in a podman store of its own under a
# temporary directory, and removed on exit: nothing is left running or
# stored (CNI's bridge interface cni-podman0 and its empty iptables
# chains stay, as for any podman user: other containers may use them).
#
# What this machine needs, measured (keep these when changing the script):
#   - No registry is reachable, so nothing may be pulled: the image is
#     built from the Containerfile's `rootfs-from-context` stage, whose
#     context (rootfs.sh) is the binary cargo built plus the shared
#     libraries `ldd` lists; the from-source stages are skipped, as the
#     final stage does not need them.
#   - crun refuses the hybrid cgroup v1/v2 layout here; runc works, with
#     the cgroupfs manager (there is no systemd to ask).
#   - Root cannot raise RLIMIT_NOFILE past 20,000 or NPROC past 32,768,
#     while podman's default is to raise them for every container (runc
#     then fails to start it): containers.conf's default_ulimits stay
#     below.
#   - No systemd, so no journald for events (events_logger = "file") and
#     no timer runs HEALTHCHECK: `podman healthcheck run` does it by hand.
#   - HEALTHCHECK survives only in the docker image format: `--format docker`.
set -euo pipefail
cd "$(dirname "$0")/../.."

# 15 MB: the issue's target for the final image.
MAX_IMAGE_BYTES=15000000
# A clean SIGTERM exit takes well under a second; podman would SIGKILL
# after its -t, which must not be what ends the server.
STOP_LIMIT_SECS=5
TOKEN=smoke-admin-token-0123456789

started=$SECONDS
checks=0
ok() {
    checks=$((checks + 1))
    echo "container: ok - $*"
}
fail() {
    echo "container: FAILED - $*" >&2
    exit 1
}

# --- podman and runc, from the distribution when missing ---------------------
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
    echo "container: installing ${missing[*]} from the distribution" >&2
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        fail "need ${missing[*]} and not root (no sudo): install them"
    fi
    # Another apt run (a parallel job) holds the lock for a while: wait.
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=600 update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
# Rootful: the store, cgroups and the bridge network need root. As a
# non-root user with sudo, every podman call goes through it.
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    fail "podman runs rootful here: run as root or with sudo"
fi

# --- the binary and the image's context ---------------------------------------
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin zkppd >&2
bin="$target_dir/release/zkppd"

work=$(mktemp -d)
# A store of our own (images, containers, volumes, secrets): other podman
# users on the machine are untouched, and cleaning up is removing it.
p=("${as_root[@]}" env "CONTAINERS_CONF=$work/containers.conf"
    podman --root "$work/storage" --runroot "$work/run" --tmpdir "$work/tmp")
name=zkppd-smoke-$$
image=localhost/$name:latest
volume=$name-data
cleanup() {
    set +e
    "${p[@]}" rm -f -t 0 "$name-1" "$name-2" >/dev/null 2>&1
    "${p[@]}" volume rm -f "$volume" >/dev/null 2>&1
    "${p[@]}" secret rm zkppd-admin-token >/dev/null 2>&1
    "${p[@]}" rmi -f "$image" >/dev/null 2>&1
    # Leaves no layer mounted, then the store goes with the directory.
    "${p[@]}" system reset -f >/dev/null 2>&1
    "${as_root[@]}" rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/containers.conf" <<'EOF'
[containers]
# Below the hard limits root has here (nofile 20,000; nproc 32,768).
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

packaging/container/rootfs.sh "$bin" "$work/ctx"
build_started=$SECONDS
"${p[@]}" build -q --format docker --build-arg ROOTFS=rootfs-from-context \
    -f packaging/container/Containerfile -t "$image" "$work/ctx" >/dev/null
ok "image built from $bin in $((SECONDS - build_started)) s"

size=$("${p[@]}" image inspect --format '{{.Size}}' "$image")
healthcheck=$("${p[@]}" image inspect --format '{{json .Config.Healthcheck}}' "$image")
[[ "$healthcheck" == *'"/usr/local/bin/zkppd","healthcheck"'* ]] \
    || fail "the image has no HEALTHCHECK running zkppd healthcheck: $healthcheck"
ok "HEALTHCHECK kept: $healthcheck"

# --- run it ------------------------------------------------------------------
# podman run and stop log an error each time they cannot reach systemd to
# (un)schedule the health check timer: their output is shown only when
# they fail.
quiet() {
    local out
    out=$("$@" 2>&1) || { echo "$out" >&2; fail "$*"; }
}
printf '%s\n' "$TOKEN" > "$work/admin-token"
"${p[@]}" secret create zkppd-admin-token "$work/admin-token" >/dev/null

run() { # NAME
    # -p 127.0.0.1::3005: a free loopback port of podman's choosing. The
    # hardening of compose.yaml (read-only root, a tmpfs /tmp, which
    # podman's --read-only adds, no capabilities) must not stop it. The
    # tmpfs on /run/secrets: podman before 4.4 cannot mount a secret into
    # a read-only root without one (containers/podman#15541).
    quiet "${p[@]}" run -d --name "$1" -p 127.0.0.1::3005 \
        --read-only --tmpfs /run/secrets --cap-drop all \
        --security-opt no-new-privileges \
        -v "$volume:/var/lib/zkppd" \
        --secret zkppd-admin-token,uid=10001,gid=10001,mode=0400 \
        "$image"
}

# A raw GET over bash's /dev/tcp (no curl needed); prints the reply.
http_get() { # PORT PATH [BEARER]
    local auth=""
    [ -n "${3:-}" ] && auth="Authorization: Bearer $3"$'\r\n'
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n' "$2" "$auth" >&3
    timeout 5 cat <&3
    exec 3<&-
}

# Waits for /healthz to answer 200 from the host; prints the port.
wait_healthy() { # NAME
    local port deadline=$((SECONDS + 20))
    port=$("${p[@]}" port "$1" 3005/tcp | head -n 1)
    port=${port##*:}
    # (A refused connection fails only the $(…) subshell.)
    until [[ "$(http_get "$port" /healthz 2>/dev/null)" == 'HTTP/1.1 200'* ]]; do
        if [ "$SECONDS" -ge "$deadline" ] \
            || [ "$("${p[@]}" inspect --format '{{.State.Running}}' "$1")" != true ]; then
            "${p[@]}" logs "$1" >&2 || true
            fail "$1: no 200 from http://127.0.0.1:$port/healthz"
        fi
        sleep 0.2
    done
    echo "$port"
}

# Without the secret, start-up stops with one line naming the file, rather
# than serving with an admin route that can only answer 401.
out=$("${p[@]}" run --rm "$image" 2>&1) && fail "started without the admin token secret"
[[ "$out" == *"cannot read admin token file /run/secrets/zkppd-admin-token"* ]] \
    || fail "no clear start-up error without the secret: $out"
ok "refuses to start without the admin token secret"

run "$name-1"
port=$(wait_healthy "$name-1")
reply=$(http_get "$port" /healthz)
[[ "$reply" == *'{"status":"ok"}'* ]] || fail "unexpected /healthz reply: $reply"
ok "/healthz from the host: 200 on 127.0.0.1:$port"

"${p[@]}" healthcheck run "$name-1" >/dev/null \
    || fail "podman healthcheck run: unhealthy"
status=$("${p[@]}" inspect --format '{{.State.Health.Status}}' "$name-1")
[ "$status" = healthy ] || fail "health status after the check: $status"
ok "podman healthcheck run: $status"

# The secret is the admin token: the admin route accepts it, and only it.
reply=$(http_get "$port" /v1/buckets "$TOKEN")
[[ "$reply" == 'HTTP/1.1 200'* ]] || fail "GET /v1/buckets with the token: $reply"
reply=$(http_get "$port" /v1/buckets "not-$TOKEN")
[[ "$reply" == 'HTTP/1.1 401'* ]] || fail "GET /v1/buckets with a wrong token: $reply"
ok "admin token read from the secret /run/secrets/zkppd-admin-token"

out=$(printf 'smoke-signup-1\nsmoke-signup-2\nsmoke-signup-3\n' \
    | "${p[@]}" exec -i "$name-1" zkppd bucket fill signup)
[[ "$out" == *"inserted: 3"* ]] || fail "bucket fill through exec: $out"
out=$(printf 'smoke-profile-1\n' | "${p[@]}" exec -i "$name-1" zkppd bucket fill profile -)
[[ "$out" == *"inserted: 1"* ]] || fail "bucket fill through exec: $out"
counts=$("${p[@]}" exec "$name-1" zkppd bucket count)
ok "bucket fill through podman exec: $(tr '\n' ' ' <<<"$counts")"

# The README's online backup: a one-off container on the same volume
# writes a verified copy into a host directory, while the server serves.
mkdir "$work/backups"
"${as_root[@]}" chown 10001:10001 "$work/backups"
quiet "${p[@]}" run --rm -v "$volume:/var/lib/zkppd" -v "$work/backups:/backups" \
    "$image" backup /backups/zkppd.db
backup=$("$bin" bucket count --db "$work/backups/zkppd.db")
[ "$backup" = "$counts" ] || fail "the backup has '$backup', the server '$counts'"
ok "online backup to a host directory: $(tr '\n' ' ' <<<"$backup")"

# The server process, seen from the host (rootful, no user namespace: its
# ids are the host's).
pid=$("${p[@]}" inspect --format '{{.State.Pid}}' "$name-1")
ids=$(awk '/^(Uid|Gid):/ { print $1, $2, $3, $4, $5 }' "/proc/$pid/status" | tr '\n' ' ')
[ "$ids" = "Uid: 10001 10001 10001 10001 Gid: 10001 10001 10001 10001 " ] \
    || fail "the server's ids are not 10001: $ids"
mountpoint=$("${p[@]}" volume inspect --format '{{.Mountpoint}}' "$volume")
owner=$("${as_root[@]}" stat -c '%u:%g %a' "$mountpoint" "$mountpoint/zkppd.db" | tr '\n' ' ')
[[ "$owner" == "10001:10001 700 10001:10001 "* ]] \
    || fail "volume and database not owned by 10001 (mode 700): $owner"
ok "runs as uid/gid 10001; the volume is 10001's, mode 700"

stop_started=$(date +%s%N)
quiet "${p[@]}" stop -t 10 "$name-1"
stop_ms=$((($(date +%s%N) - stop_started) / 1000000))
code=$("${p[@]}" inspect --format '{{.State.ExitCode}}' "$name-1")
[ "$code" = 0 ] || fail "exit status $code on SIGTERM (137 would be podman's SIGKILL)"
[ "$stop_ms" -lt $((STOP_LIMIT_SECS * 1000)) ] || fail "took ${stop_ms} ms to stop"
"${p[@]}" logs "$name-1" 2>&1 | grep -q 'stopped' || fail "no 'stopped' line in the log"
ok "SIGTERM: exit 0 in ${stop_ms} ms"

run "$name-2"
port=$(wait_healthy "$name-2")
again=$("${p[@]}" exec "$name-2" zkppd bucket count)
[ "$again" = "$counts" ] || fail "after a restart on the volume: '$again', before: '$counts'"
reply=$(http_get "$port" /v1/buckets "$TOKEN")
[[ "$reply" == *'"signup":3'* ]] || fail "GET /v1/buckets after the restart: $reply"
quiet "${p[@]}" stop -t 10 "$name-2"
ok "a new container on the same volume has the tokens"

[ "$size" -le "$MAX_IMAGE_BYTES" ] || fail "image is $size bytes, over $MAX_IMAGE_BYTES"
ok "image size: $size bytes ($(((size + 500000) / 1000000)) MB; limit $MAX_IMAGE_BYTES)"

echo "container: $checks checks passed in $((SECONDS - started)) s"
