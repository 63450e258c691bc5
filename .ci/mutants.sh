#!/usr/bin/env bash
# Mutation testing of the security-critical code (issue 16) with
# cargo-mutants, installed from crates.io when missing. What is mutated, and
# the equivalent mutants left out with their reasons, are in
# .cargo/mutants.toml; each mutant is tested with its own crate's tests.
#
#   .ci/mutants.sh                 every configured file (about an hour)
#   .ci/mutants.sh --file PATH     one configured file
#   .ci/mutants.sh --last-commit   the lines HEAD changed in configured files
#                                  (CI: test.sh); nothing changed -> exit 0
#
# Other arguments go to `cargo mutants`. Fails on a missed mutant (and on a
# timeout: a mutant that hangs is not proven caught). The report is in
# $MUTANTS_OUT (default mutants.out/, git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

version=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q "$version"; then
    echo "mutants.sh: installing cargo-mutants $version" >&2
    cargo install cargo-mutants --version "$version" --locked --quiet
fi

out=${MUTANTS_OUT:-mutants.out}
# cargo-mutants builds in a copy of the tree under TMPDIR: keep it beside
# the work (not in a small /tmp) and its own target dir there.
export TMPDIR=${MUTANTS_TMPDIR:-${TMPDIR:-/tmp}}
mkdir -p "$TMPDIR"
unset CARGO_TARGET_DIR
args=(--workspace --jobs "${MUTANTS_JOBS:-1}" --output "$out" --timeout-multiplier 3 --no-shuffle)

# The configured files, from examine_globs.
configured() {
    sed -n '/^examine_globs/,/^]/p' .cargo/mutants.toml | grep -o '"[^"]*"' | tr -d '"'
}

case "${1:-}" in
--last-commit)
    shift
    if ! git rev-parse -q --verify HEAD~1 >/dev/null; then
        echo "mutants.sh: HEAD is the root commit: nothing to compare with"
        exit 0
    fi
    mapfile -t files < <(configured)
    diff=$(mktemp)
    trap 'rm -f "$diff"' EXIT
    git diff HEAD~1 HEAD -- "${files[@]}" >"$diff"
    if [ ! -s "$diff" ]; then
        echo "mutants.sh: the last commit changed no configured file: nothing to mutate"
        exit 0
    fi
    echo "mutants.sh: mutating what HEAD changed in: $(git diff --name-only HEAD~1 HEAD -- "${files[@]}" | tr '\n' ' ')"
    set +e
    cargo mutants "${args[@]}" --in-diff "$diff" "$@"
    rc=$?
    set -e
    # 0: all caught; 4: no mutant on the changed lines (comments, tests).
    [ "$rc" -eq 4 ] && { echo "mutants.sh: no mutant on the changed lines"; exit 0; }
    exit "$rc"
    ;;
--file)
    # --file would add to the configured globs; a name filter narrows them.
    file=$2
    shift 2
    exec cargo mutants "${args[@]}" --re "^${file//./\\.}:" "$@"
    ;;
*)
    exec cargo mutants "${args[@]}" "$@"
    ;;
esac
