#!/usr/bin/env bash
# `make demo MODE=fleet`: one deployment for every standby pair the tags declare and every tagged
# single-instance group. Starts the local AWS (moto behind the strict emulator), builds three
# pairs, web, api and db (each primary running in us-east-1a with its Elastic IP, each hot standby
# running in us-east-1b; both instances tagged ec2-failover:pair=NAME and ec2-failover:role, the
# Elastic IP ec2-failover:pair=NAME) and a group, nat-group (a single-instance Auto Scaling group
# over both zones, tagged ec2-failover:group=nat like its Elastic IP, its instance in us-east-1a,
# its launch hook ec2-failover-launch), deploys template-fleet.yaml (MODE=fleet) into the local AWS
# and asks for the status of all. Then us-east-1a fails: the three primaries stop and the group
# replaces its instance in us-east-1b, held by its hook. EventBridge delivers web's and api's
# state-change events (each reads and moves its own pair only) and the group's launch action (the
# group's address follows its new instance); db's event is late, and the scheduled reconcile, which
# reads the whole fleet in one round and sweeps the groups, moves it. The status of all again:
# every address on its standby or new instance. Then db's late event finds nothing left to do.
. "$(dirname "$0")/local-session.sh"

start_strict_aws fleet
export AWS_ENDPOINT_URL=$PROXY_URL
deploy_from_stack
py create-fleet "$LOCAL_DIR/fleet.env" web api db
py fleet-group "$LOCAL_DIR/group.env"
settle
stack_env >>"$LOCAL_DIR/function.env"  # template-fleet.yaml's defaults: MAX_PARALLEL_FAILOVERS=10, FENCE_MODE=stop...
. "$LOCAL_DIR/fleet.env"

echo "== The fleet: three pairs declared by tags and a group, one deployment (template-fleet.yaml, MODE=fleet)"
py show-fleet "$LOCAL_DIR/fleet.env"
echo "  nat-group (ec2-failover:group=nat, min = max = desired = 1 over both zones):"
py show-group "$LOCAL_DIR/group.env"
echo
echo "== Starting the function behind cargo-lambda's Lambda Runtime API emulator"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"

status() {
  echo '{"command": "status"}' >"$LOCAL_DIR/event.json"
  invoke_function "$LOCAL_DIR/event.json" | answer
}
state_change() {
  py fleet-event "$LOCAL_DIR/fleet.env" "$1" events/ec2-state-change-primary-stopped.json "$LOCAL_DIR/event.json"
  invoke_function "$LOCAL_DIR/event.json" | answer
}

echo
echo '== An operator asks for the status of all: {"command": "status"}'
status

echo
echo "== us-east-1a fails: the three primaries stop ($web_PRIMARY, $api_PRIMARY, $db_PRIMARY; settled),"
echo "   and nat-group replaces its instance in us-east-1b, held in Pending:Wait by its launch hook"
py stop "$web_PRIMARY" "$api_PRIMARY" "$db_PRIMARY"
settle
py replace "$LOCAL_DIR/group.env"
new=$(grep '^NEW_INSTANCE_ID=' "$LOCAL_DIR/group.env" | cut -d= -f2)
hold "{\"group\": \"nat-group\", \"hook\": \"ec2-failover-launch\", \"instance\": \"$new\", \"transition\": \"launching\"}"
for name in web api; do
  echo
  echo "== EventBridge delivers the state change of $name's primary (stopped); the function reads pair $name only:"
  state_change "$name"
done
echo
echo "== EventBridge delivers nat-group's launch lifecycle action for $new; the fleet's function decides it as group mode does:"
py hook-event "$LOCAL_DIR/group.env" events/asg-launch-lifecycle-action.json "$LOCAL_DIR/event.json" ec2-failover-launch new
invoke_function "$LOCAL_DIR/event.json" | answer
echo
echo "== db's event is late; the scheduled reconcile reads the whole fleet in one round and moves what is left:"
invoke_function events/scheduled-reconcile.json | answer

echo
echo '== The status of all again: {"command": "status"}'
status
py show-fleet "$LOCAL_DIR/fleet.env"
echo "  nat-group:"
py show-group "$LOCAL_DIR/group.env"
echo "  lifecycle actions completed: $(curl -s "$PROXY_URL/_proxy/lifecycle")"

echo
echo "== db's late state change arrives (EventBridge delivers at least once, not in order):"
state_change db
echo
echo "The function's log lines are in $LOCAL_DIR/function.log."
