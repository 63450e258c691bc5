#!/usr/bin/env bash
# Runs every check and test of zkppd on a fresh machine: installs what the
# interop and forward-auth tests need (node, npm, nginx and chromium from
# the distribution when missing; the pinned npm client and esbuild from
# package-lock.json), then fmt, clippy and tests.
set -euo pipefail
cd "$(dirname "$0")"

# --- distribution packages the tests need, installed when missing ---
# node + npm: the interop client (tests/it/interop.rs); nginx and chromium:
# the forward-auth tests with real components (tests/it/proxy.rs).
# postgresql: see below.
# `need CMD PACKAGE` queues PACKAGE when CMD is not found.
missing=()
need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || missing+=("$2")
}
need node nodejs
need npm npm
need nginx nginx
need chromium chromium
# postgresql: the PostgreSQL store's tests start a real server from its
# binaries (tests/it/postgres.rs, crates/testkit/src/postgres.rs); Debian
# keeps them off PATH, under /usr/lib/postgresql/VERSION/bin.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
need openssl openssl   # the certificates of the PostgreSQL TLS test
if [ "${#missing[@]}" -gt 0 ]; then
    echo "test.sh: installing ${missing[*]} from the distribution" >&2
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "test.sh: ${missing[*]} missing and not root (no sudo): install them" >&2
        exit 1
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
# --- end packages ---

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# The crate graph is a rule: see ARCHITECTURE.md.
.ci/check-deps.sh
cargo test --workspace --all-features --locked

# Mutation testing of what the last commit changed in the security-critical
# files (.cargo/mutants.toml): a mutant no test catches fails the run.
# Installs cargo-mutants when missing; skips when no such file changed.
.ci/mutants.sh --last-commit

# The .deb: file list, systemd-analyze verify and security, maintainer scripts.
packaging/check.sh

# The container image, built and run with podman (installed when missing).
packaging/container/smoke.sh

# The README's two commands as written: .ci/run runs the test command, and
# the start command serves (it reuses the release build above).
.ci/readme-commands.sh
