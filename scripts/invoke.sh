#!/usr/bin/env bash
# `make invoke EVENT=events/<file>.json`: the local stand-in for `sam local invoke -e` (which needs
# Docker). Starts moto, builds a pair in it, runs a built `bootstrap` behind cargo-lambda's Lambda
# runtime API emulator (`cargo lambda watch --only-lambda-apis`) and sends it each event, with the
# example ids of events/ replaced by the pair's. Exits non-zero if any invocation returns an error,
# unless ALLOW_ERRORS=1.
#
# Usage: scripts/invoke.sh BOOTSTRAP EVENT [EVENT...]
. "$(dirname "$0")/local-session.sh"
bootstrap=$(realpath "$1"); shift
[ -x "$bootstrap" ] || { echo "no executable bootstrap at $bootstrap" >&2; exit 2; }

start_moto
py create "$LOCAL_DIR/pair.env"
{ cat "$LOCAL_DIR/pair.env"; env | grep -E '^(AWS_|NO_PROXY)'; } >"$LOCAL_DIR/function.env"
start_function "$LOCAL_DIR/function.env" "$bootstrap"

failed=0
passed=0
for event in "$@"; do
  py event "$LOCAL_DIR/pair.env" "$event" "$LOCAL_DIR/event.json"
  if result=$(invoke_function "$LOCAL_DIR/event.json" 2>&1); then
    verdict=$(printf '%s' "$result" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["verdict"])' 2>/dev/null || true)
    if [ -n "$verdict" ]; then
      echo "ok    $event -> $verdict"; passed=$((passed + 1))
    else
      echo "FAIL  $event -> $result"; failed=$((failed + 1))
    fi
  else
    echo "FAIL  $event -> $result"; failed=$((failed + 1))
  fi
done
echo "function log: $LOCAL_DIR/function.log; function peak memory: $(function_peak_rss)"
echo "events: $passed passed, $failed failed"
[ "$failed" = 0 ] || [ "${ALLOW_ERRORS:-0}" = 1 ]
