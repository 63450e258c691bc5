#!/usr/bin/env bash
# Builds the zkppd .deb into target/debian/ and prints its path: the release
# binary, the man pages and completions it generates (zkppd generate-assets),
# then cargo-deb with the metadata in Cargo.toml. Installs cargo-deb first
# when it is missing (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb: installing cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" >&2
fi

target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin zkppd >&2
rm -rf target/assets
"$target_dir/release/zkppd" generate-assets target/assets >&2
mkdir -p target/debian
# cargo-deb prints the path of the package it wrote on stdout.
cargo deb --no-build --locked --output target/debian/ "$@"
