#!/usr/bin/env bash
# The crate graph as a rule (ARCHITECTURE.md): the domain core and the SRP
# math never depend on HTTP or JSON, and the server never depends on the
# client, bench or test-fixture crates (other than as dev-dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
for crate in zkppd-core zkppd-srp; do
    tree=$(cargo tree --locked -p "$crate" -e normal --prefix none --all-features)
    for banned in hyper http serde_json; do
        if grep -Eq "^${banned} v" <<<"$tree"; then
            echo "check-deps: $crate depends on $banned (see: cargo tree -p $crate -i $banned -e normal)" >&2
            fail=1
        fi
    done
done
tree=$(cargo tree --locked -p zkppd -e normal,build --prefix none)
for banned in zkppd-client zkppd-bench zkppd-testkit zkppd-pgtemp; do
    if grep -Eq "^${banned} v" <<<"$tree"; then
        echo "check-deps: the server package depends on $banned outside dev-dependencies" >&2
        fail=1
    fi
done
[ "$fail" -eq 0 ] && echo "check-deps: crate graph ok"
exit "$fail"
