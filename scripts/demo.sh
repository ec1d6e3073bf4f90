#!/usr/bin/env bash
# `make demo`: a real failover on this machine. Starts the local AWS (moto behind the strict
# emulator, scripts/ec2_proxy.py, which makes instances spend time in `pending` and `stopping` and
# refuses what AWS refuses), builds a standby pair with an Elastic IP, stops the primary, and lets
# the real function handle the EventBridge state-change event from events/, then the reconcile
# that finishes once the standby has booted, as Lambda would. Prints the world along the way.
. "$(dirname "$0")/local-session.sh"

start_strict_aws pair
# local_aws.py reads the world through the emulator, so it shows what AWS would.
export AWS_ENDPOINT_URL=$PROXY_URL
deploy_from_stack
py create "$LOCAL_DIR/pair.env"
settle
stack_env >>"$LOCAL_DIR/function.env"  # the defaults: FENCE_MODE=stop, COOLDOWN_SECONDS=300

echo "== The pair, before (local EC2 API at $MOTO_URL, through the strict emulator at $PROXY_URL)"
py show "$LOCAL_DIR/pair.env"

echo
echo "== Starting the function behind cargo-lambda's Lambda Runtime API emulator"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"

. "$LOCAL_DIR/pair.env"
echo
echo "== The primary fails: stopping $PRIMARY_INSTANCE_ID (AWS takes a moment: settled)"
py stop "$PRIMARY_INSTANCE_ID"
settle

echo
echo "== EventBridge delivers events/ec2-state-change-primary-stopped.json; the function answers:"
py event "$LOCAL_DIR/pair.env" events/ec2-state-change-primary-stopped.json "$LOCAL_DIR/event.json"
invoke_function "$LOCAL_DIR/event.json" | answer

echo
echo "== The IP is on the standby, which boots"
py show "$LOCAL_DIR/pair.env"

echo
echo "== The standby has booted (settled); the scheduled reconcile answers:"
settle
py event "$LOCAL_DIR/pair.env" events/scheduled-reconcile.json "$LOCAL_DIR/event.json"
invoke_function "$LOCAL_DIR/event.json" | answer

echo
echo "== The pair, after"
py show "$LOCAL_DIR/pair.env"

echo
echo "== CloudWatch: the standby, now active, fails its status checks; the stack's StandbyStatusCheckAlarm"
echo "   goes to ALARM and invokes the function, which reads the alarm and holds (a failover back to the"
echo "   stopped primary waits for the cooldown):"
"$VENV/bin/python" scripts/local_stack.py alarm "$STACK_FILE" StandbyStatusCheckAlarm "$LOCAL_DIR/event.json"
invoke_function "$LOCAL_DIR/event.json" | answer
echo
echo "The function's log lines are in $LOCAL_DIR/function.log."
