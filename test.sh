#!/usr/bin/env bash
# Runs every check and test of zkppd on a fresh machine: installs what the
# interop test needs (node + npm from the distribution when missing, the
# pinned npm client from package-lock.json), then fmt, clippy and tests.
set -euo pipefail
cd "$(dirname "$0")"

# --- npm/node: the interop client (tests/it/interop.rs fails without it) ---
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "test.sh: installing nodejs and npm from the distribution" >&2
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "test.sh: node/npm missing and not root (no sudo): install nodejs and npm" >&2
        exit 1
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends nodejs npm
fi
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
# --- end npm/node ---

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# The crate graph is a rule: see ARCHITECTURE.md.
.ci/check-deps.sh
cargo test --workspace --all-features --locked

# The .deb: file list, systemd-analyze verify and security, maintainer scripts.
packaging/check.sh

# The container image, built and run with podman (installed when missing).
packaging/container/smoke.sh
