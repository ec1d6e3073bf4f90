#!/usr/bin/env bash
# `make demo MODE=asg-ebs`: a stateful single-instance Auto Scaling group on this machine. Its data
# volume lives in us-east-1a; the group replaces its instance in us-east-1b. The real function,
# behind cargo-lambda's Runtime API, snapshots the volume on the terminate hook, restores it in the
# new zone, attaches it and, once it is attached, moves the Elastic IP before the launch goes on, moved along only by
# the events AWS would send. scripts/ec2_proxy.py stands in for what moto lacks: lifecycle
# completions and heartbeats, and instances held in Pending:Wait / Terminating:Wait.
. "$(dirname "$0")/local-session.sh"

start_group_aws
GROUP_ENV="$LOCAL_DIR/group.env"
deploy_from_stack
py create-group "$GROUP_ENV" data
stack_env >>"$LOCAL_DIR/function.env"  # KeepData=true
deliver() {  # deliver EVENT_FILE: what EventBridge would do
  invoke_function "$1" | py result
}
deliver_now() {  # deliver_now EVENT_FILE: an events/ example as AWS would send it now (time, ids)
  py group-event "$GROUP_ENV" "$1" "$LOCAL_DIR/now.json"
  deliver "$LOCAL_DIR/now.json"
}

echo "== The group demo-group (min = max = desired = 1) and its data, before (local AWS at $AWS_ENDPOINT_URL)"
py show-group "$GROUP_ENV"

echo
echo "== Starting the function (MODE=group) behind cargo-lambda's Lambda Runtime API emulator"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"

echo
echo "== The instance fails; the group replaces it in us-east-1b. Both hooks hold their instances."
replace_held "$GROUP_ENV"
py show-group "$GROUP_ENV"

echo
echo "== The launch lifecycle action arrives first, while the old instance still holds the data:"
py hook-event "$GROUP_ENV" events/asg-launch-lifecycle-action.json "$LOCAL_DIR/launch.json" ec2-failover-launch new
deliver "$LOCAL_DIR/launch.json"

echo
echo "== The terminate lifecycle action: the data volume is snapshotted, then the old instance may go"
py hook-event "$GROUP_ENV" events/asg-terminate-lifecycle-action.json "$LOCAL_DIR/terminate.json" ec2-failover-terminate old
deliver "$LOCAL_DIR/terminate.json"

echo
echo "== The old instance terminates and releases the volume; the snapshot completes (events/ebs-snapshot-notification.json):"
py release-data "$GROUP_ENV"
deliver_now events/ebs-snapshot-notification.json

echo
echo "== The restored volume is available (events/ebs-volume-notification.json): it is attached, and the"
echo "   instance is told which volume is its data (instance/wait-for-data-volume waits for it)"
deliver_now events/ebs-volume-notification.json

echo
echo "== Seconds later EC2 reports the attachment attached; the schedule (events/scheduled-reconcile.json)"
echo "   moves the Elastic IP and the launch goes on:"
settle
deliver_now events/scheduled-reconcile.json

echo
echo "== Delivered again (at least once): nothing more to do"
deliver "$LOCAL_DIR/launch.json"

echo
echo "== After"
py show-group "$GROUP_ENV"
echo "  lifecycle actions completed: $(curl -s "$PROXY_URL/_proxy/lifecycle")"
echo
echo "The function's log lines (one per decision) are in $LOCAL_DIR/function.log."
