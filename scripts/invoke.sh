#!/usr/bin/env bash
# `make invoke EVENT=events/<file>.json`: the local stand-in for `sam local invoke -e` (which needs
# Docker). Runs a built `bootstrap` behind cargo-lambda's Lambda runtime API emulator (`cargo lambda
# watch --only-lambda-apis`) and sends it each event in the mode the event belongs to, as
# `local_aws.py route` says (its MODES table: lifecycle actions and EBS notifications go to group
# mode, the schedule to both, everything else to pair mode):
#   pair   the strict local AWS (moto behind scripts/ec2_proxy.py) with a pair in it; the example
#          ids of events/ replaced by the pair's.
#   group  group mode's local AWS (moto behind scripts/ec2_proxy.py) with a stateful group that is
#          replacing its instance, both hooks holding theirs; the example group, hook, instance,
#          volume and snapshot ids replaced by the group's. Between two events, what AWS does on its
#          own: an instance whose terminate action was completed goes, and releases its volumes.
# One mode after the other, each with its own function and logs in .local/MODE/; the events of a
# mode in the order given. Exits non-zero if any invocation returns an error, unless ALLOW_ERRORS=1.
#
# Usage: scripts/invoke.sh BOOTSTRAP EVENT [EVENT...]
. "$(dirname "$0")/local-session.sh"
bootstrap=$(realpath "$1"); shift
[ -x "$bootstrap" ] || { echo "no executable bootstrap at $bootstrap" >&2; exit 2; }

# Each mode: start_MODE (its local AWS and the function), MODE_event SRC DST (an events/ file with
# its ids), after_MODE (what AWS does on its own after an invocation).
start_pair() {
  start_strict_aws pair  # function.env: MODE=pair, through the strict emulator
  AWS_ENDPOINT_URL=$PROXY_URL py create "$LOCAL_DIR/pair.env"
  settle
  cat "$LOCAL_DIR/pair.env" >>"$LOCAL_DIR/function.env"
  start_function "$LOCAL_DIR/function.env" "$bootstrap"
}
pair_event() { py event "$LOCAL_DIR/pair.env" "$1" "$2"; }
after_pair() { :; }

start_group() {
  start_group_aws  # function.env: MODE=group, through the proxy
  py create-group "$LOCAL_DIR/group.env" data
  replace_held "$LOCAL_DIR/group.env"
  start_function "$LOCAL_DIR/function.env" "$bootstrap"
}
group_event() { py group-event "$LOCAL_DIR/group.env" "$1" "$2"; }
after_group() { py release-gone "$LOCAL_DIR/group.env" "$PROXY_URL"; }

routes=$(py route "$@")  # "MODE EVENT" lines
root=$LOCAL_DIR
failed=0
passed=0
for mode in pair group; do
  mapfile -t events < <(sed -n "s/^$mode //p" <<<"$routes")
  [ "${#events[@]}" -gt 0 ] || continue
  LOCAL_DIR="$root/$mode"
  mkdir -p "$LOCAL_DIR"
  "start_$mode"
  for event in "${events[@]}"; do
    "${mode}_event" "$event" "$LOCAL_DIR/event.json"
    if result=$(invoke_function "$LOCAL_DIR/event.json" 2>&1); then
      verdict=$(printf '%s' "$result" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["verdict"])' 2>/dev/null || true)
      if [ -n "$verdict" ]; then
        echo "ok    [$mode] $event -> $verdict"; passed=$((passed + 1))
      else
        echo "FAIL  [$mode] $event -> $result"; failed=$((failed + 1))
      fi
    else
      echo "FAIL  [$mode] $event -> $result"; failed=$((failed + 1))
    fi
    "after_$mode"
  done
  echo "[$mode] function log: $LOCAL_DIR/function.log; function peak memory: $(function_peak_rss)"
  # The next mode starts its own moto and function, on the same ports.
  cleanup
  CLEANUP_PIDS=
done
echo "events: $passed passed, $failed failed"
[ "$failed" = 0 ] || [ "${ALLOW_ERRORS:-0}" = 1 ]
