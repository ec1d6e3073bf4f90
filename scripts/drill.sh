#!/usr/bin/env bash
# `make drill`: the operator's commands against the local AWS, the way `make demo` shows a failover.
# A standby pair (cold standby) in moto behind the strict emulator; the real function behind
# cargo-lambda's Runtime API; each command sent as `aws lambda invoke --payload '{"command": ...}'`
# would send it: status, pause (then a primary stopped for maintenance is not failed over), resume
# (then the reconcile fails over), switchover refused inside the cooldown, forced, and status again.
. "$(dirname "$0")/local-session.sh"

start_strict_aws pair
export AWS_ENDPOINT_URL=$PROXY_URL
deploy_from_stack
py create "$LOCAL_DIR/pair.env"
settle
stack_env >>"$LOCAL_DIR/function.env"  # the defaults: FENCE_MODE=stop, COOLDOWN_SECONDS=300
. "$LOCAL_DIR/pair.env"

echo "== The pair (local EC2 API at $MOTO_URL, through the strict emulator at $PROXY_URL)"
py show "$LOCAL_DIR/pair.env"
echo
echo "== Starting the function behind cargo-lambda's Lambda Runtime API emulator"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"

# command JSON: what `aws lambda invoke --function-name ... --payload JSON out.json` sends.
command() {
  echo
  echo "== $1"
  printf '%s' "$2" >"$LOCAL_DIR/command.json"
  { invoke_function "$LOCAL_DIR/command.json" 2>&1 || true; } | py result
}
event() {
  echo
  echo "== $1"
  py event "$LOCAL_DIR/pair.env" "$2" "$LOCAL_DIR/event.json"
  { invoke_function "$LOCAL_DIR/event.json" 2>&1 || true; } | py result
}

command 'status: where the pair stands; nothing changes' '{"command": "status"}'
command 'pause, for planned maintenance on the primary' '{"command": "pause", "reason": "resizing the primary"}'
echo
echo "== The operator stops the primary to resize it"
py stop "$PRIMARY_INSTANCE_ID"
settle
event 'EventBridge delivers the primary'"'"'s stopped event: decided and logged as paused, nothing changes' \
  events/ec2-state-change-primary-stopped.json
command 'switchover while paused: refused' '{"command": "switchover"}'
command 'resume' '{"command": "resume", "reason": "resize done"}'
event 'the scheduled reconcile: the primary is still stopped, so the pair fails over' events/scheduled-reconcile.json
settle
event 'the standby has booted: the reconcile finishes the failover' events/scheduled-reconcile.json
py show "$LOCAL_DIR/pair.env"
command 'failback by switchover inside the cooldown: refused' '{"command": "switchover"}'
command 'forced: the primary is started first; the IP moves once it can serve' '{"command": "switchover", "force": true}'
settle
event 'the primary has booted; the reconcile carries the switchover on' events/scheduled-reconcile.json
command 'an unknown command: the error lists the accepted ones' '{"command": "failback"}'
command 'status' '{"command": "status"}'
echo
py show "$LOCAL_DIR/pair.env"
echo
echo "The function's log lines (one per command or decision) are in $LOCAL_DIR/function.log."
