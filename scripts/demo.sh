#!/usr/bin/env bash
# `make demo`: a real failover on this machine. Starts a local EC2 API (moto), builds a standby
# pair with an Elastic IP, stops the primary, and lets the real function handle the EventBridge
# state-change event from events/, as Lambda would. Prints the world before and after.
. "$(dirname "$0")/local-session.sh"

start_moto
py create "$LOCAL_DIR/pair.env"
{ cat "$LOCAL_DIR/pair.env"; echo "FENCE_MODE=stop"; echo "COOLDOWN_SECONDS=300"; env | grep -E '^(AWS_|NO_PROXY)'; } \
  >"$LOCAL_DIR/function.env"

echo "== The pair, before (local EC2 API at $AWS_ENDPOINT_URL)"
py show "$LOCAL_DIR/pair.env"

echo
echo "== Starting the function behind cargo-lambda's Lambda Runtime API emulator"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"

. "$LOCAL_DIR/pair.env"
echo
echo "== The primary fails: stopping $PRIMARY_INSTANCE_ID"
py stop "$PRIMARY_INSTANCE_ID"

echo
echo "== EventBridge delivers events/ec2-state-change-primary-stopped.json; the function answers:"
py event "$LOCAL_DIR/pair.env" events/ec2-state-change-primary-stopped.json "$LOCAL_DIR/event.json"
invoke_function "$LOCAL_DIR/event.json" | "$VENV/bin/python" -c '
import json, sys
r = json.load(sys.stdin)
print("  verdict:", r.get("verdict"))
print("  reason: ", r.get("reason"))
for a in r.get("actions", []):
    print("  action: ", a.get("action"), a.get("instance_id") or a.get("to") or "", "->", a.get("status"))
'

echo
echo "== The pair, after"
py show "$LOCAL_DIR/pair.env"
echo
echo "The function's log line is in $LOCAL_DIR/function.log."
