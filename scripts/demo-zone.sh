#!/usr/bin/env bash
# `make demo MODE=zone`: the primary's Availability Zone goes dark, and AWS shifts traffic away
# from a zone. Starts the local AWS (moto behind the strict emulator), deploys the default pair
# (SilentSeconds 5 instead of 60, and no cooldown, for a short demo), then darkens the primary's
# zone the way a power or network loss does: EC2 still says the primary runs, but has no data for
# its status checks and starts nothing there; CloudWatch's status-check alarm goes to
# INSUFFICIENT_DATA. The real function fails over to the standby in the other zone. Then an
# autoshift away from the old primary's zone keeps a degraded active instance's address out of it.
. "$(dirname "$0")/local-session.sh"

start_strict_aws pair
export AWS_ENDPOINT_URL=$PROXY_URL
deploy_from_stack
# The reconcile finds the alarms that invoke the function by the function's ARN; cargo-lambda runs
# it under another name than the stack's, so the demo names the primary's status-check alarm in
# ExtraAlarmNames (ALARM_NAMES), which the reconcile reads as well.
py create-with "$LOCAL_DIR/pair.env" SilentSeconds=5 CooldownSeconds=0 ExtraAlarmNames=ec2-failover-PrimaryStatusCheckAlarm
settle
stack_env >>"$LOCAL_DIR/function.env"
. "$LOCAL_DIR/pair.env"

echo "== The pair, before (ZonalShift=avoid, the default)"
py show "$LOCAL_DIR/pair.env"
echo
echo "== Starting the function behind cargo-lambda's Lambda Runtime API emulator"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"

reconcile() {
  py event "$LOCAL_DIR/pair.env" events/scheduled-reconcile.json "$LOCAL_DIR/event.json"
  invoke_function "$LOCAL_DIR/event.json" | answer
}
control() { curl -sf -X POST "$PROXY_URL/_proxy/$1" -d "$2" >/dev/null; }

echo
echo "== us-east-1a, the primary's zone, goes dark: EC2 still says $PRIMARY_INSTANCE_ID runs, has no data"
echo "   for its status checks, and starts nothing there"
control dark-zone '{"zone": "us-east-1a"}'
echo
echo "== CloudWatch: the primary's status checks stop reporting; PrimaryStatusCheckAlarm (missing data"
echo "   is missing) goes to INSUFFICIENT_DATA and invokes the function: silent 0 s of SilentSeconds 5"
"$VENV/bin/python" scripts/local_stack.py alarm "$STACK_FILE" PrimaryStatusCheckAlarm "$LOCAL_DIR/event.json" INSUFFICIENT_DATA
invoke_function "$LOCAL_DIR/event.json" | answer
sleep 6
echo
echo "== The scheduled reconcile, SilentSeconds later: silent, and EC2's checks have no data either"
reconcile
echo
echo "== The standby has booted in us-east-1b (settled); the reconcile moves the address and fences"
settle
reconcile
py show "$LOCAL_DIR/pair.env"

echo
echo "== Route 53 ARC: AWS starts an autoshift away from us-east-1a ($(py zone-id us-east-1a)); the zone"
echo "   comes back for EC2, but traffic is shifted away from it"
control dark-zone '{"zone": "us-east-1a", "dark": false}'
control autoshift "{\"away_from\": \"$(py zone-id us-east-1a)\"}"
echo
echo "== CloudWatch: the active instance $STANDBY_INSTANCE_ID is saturated; StandbyCpuAlarm invokes the"
echo "   function, which will not move the address into the shifted zone while $STANDBY_INSTANCE_ID lives:"
"$VENV/bin/python" scripts/local_stack.py alarm "$STACK_FILE" StandbyCpuAlarm "$LOCAL_DIR/event.json"
invoke_function "$LOCAL_DIR/event.json" | answer
echo
echo "== An operator asks where the pair stands:"
echo '{"command": "status"}' >"$LOCAL_DIR/event.json"
invoke_function "$LOCAL_DIR/event.json" | answer
echo
echo "The function's log lines are in $LOCAL_DIR/function.log."
