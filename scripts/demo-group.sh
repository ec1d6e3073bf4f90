#!/usr/bin/env bash
# `make demo MODE=group`: group mode on this machine. A single-instance Auto Scaling group in a
# local EC2 and Auto Scaling API (moto) replaces its instance in the other Availability Zone; the
# real function handles the launch lifecycle action as Lambda would, moving the group's Elastic IP
# to the new instance and completing the hook. scripts/ec2_proxy.py sits in front of moto and
# stands in for CompleteLifecycleAction, which moto does not implement.
. "$(dirname "$0")/local-session.sh"

start_group_aws
deploy_from_stack
py create-group "$LOCAL_DIR/group.env"
stack_env >>"$LOCAL_DIR/function.env"  # KeepData=false: the IP only, as the template's default deploys it

echo "== The group demo-group (min = max = desired = 1), before (local AWS at $AWS_ENDPOINT_URL)"
py show-group "$LOCAL_DIR/group.env"

echo
echo "== Starting the function (MODE=group) behind cargo-lambda's Lambda Runtime API emulator"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"

echo
echo "== The instance fails; the group replaces it in the other Availability Zone"
py replace "$LOCAL_DIR/group.env"
# Its launch hook holds the new instance in Pending:Wait until the function completes the action.
new=$(grep '^NEW_INSTANCE_ID=' "$LOCAL_DIR/group.env" | cut -d= -f2)
hook=$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["detail"]["LifecycleHookName"])' \
  events/asg-launch-lifecycle-action.json)
hold "{\"group\": \"demo-group\", \"hook\": \"$hook\", \"instance\": \"$new\", \"transition\": \"launching\"}"
py show-group "$LOCAL_DIR/group.env"

echo
echo "== EventBridge delivers the launch lifecycle action (events/asg-launch-lifecycle-action.json); the function answers:"
py launch-event "$LOCAL_DIR/group.env" events/asg-launch-lifecycle-action.json "$LOCAL_DIR/event.json"
invoke_function "$LOCAL_DIR/event.json" | py result

echo
echo "== After"
py show-group "$LOCAL_DIR/group.env"
echo "  lifecycle actions completed: $(curl -s "$PROXY_URL/_proxy/lifecycle")"
echo
echo "The function's log line is in $LOCAL_DIR/function.log."
