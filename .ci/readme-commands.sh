#!/usr/bin/env bash
# The README's two commands, as written: the test command must be what
# .ci/run runs, and the start command must serve on a fresh clone (run here
# exactly as the README spells it, then stopped).
set -euo pipefail
cd "$(dirname "$0")/.."

# The first line of the code block after each lead-in sentence.
command_after() {
    awk -v lead="$1" '
        index($0, lead) { found = 1 }
        found && /^```sh$/ { getline; print; exit }
    ' README.md
}
start=$(command_after "Start a server on a throw-away database")
tests=$(command_after "Run every test")
[ -n "$start" ] && [ -n "$tests" ] || { echo "readme-commands: README lost its two commands" >&2; exit 1; }
grep -q -- '--temp-db' <<<"$start" || { echo "readme-commands: the start command has no --temp-db: $start" >&2; exit 1; }
grep -qx "exec $tests" .ci/run || { echo "readme-commands: .ci/run does not run the README's test command ($tests)" >&2; exit 1; }

log=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
bash -c "exec $start" >"$log" 2>&1 &
pid=$!
addr=""
for _ in $(seq 1 600); do
    addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$log" | head -n1)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "readme-commands: '$start' exited" >&2; exit 1; }
    sleep 0.5
done
[ -n "$addr" ] || { cat "$log" >&2; echo "readme-commands: '$start' did not listen" >&2; exit 1; }
exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
status=$(head -n1 <&3)
exec 3<&-
case "$status" in
    *" 200 "*) echo "readme-commands: '$start' serves ($addr: $status)" ;;
    *) echo "readme-commands: /healthz answered '$status'" >&2; exit 1 ;;
esac
kill -TERM "$pid"
wait "$pid"
