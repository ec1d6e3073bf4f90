#!/usr/bin/env bash
# `make demo MODE=private`: a pair reached by private endpoints only, no Elastic IP: a route-table
# entry (an "overlay" address, 10.1.0.10/32, routed to the active instance's interface) and a
# secondary private IP. Starts the local AWS (moto behind the strict emulator, which moves a
# private IP between interfaces only with AllowReassignment, as EC2 does), builds the pair, stops
# the primary, and lets the real function handle the state-change event: the route and the
# address move to the standby in one round trip, and the record lives on the route table.
. "$(dirname "$0")/local-session.sh"

start_strict_aws pair
export AWS_ENDPOINT_URL=$PROXY_URL
deploy_from_stack
py create-private "$LOCAL_DIR/private.env"
settle
stack_env >>"$LOCAL_DIR/function.env"

echo "== The pair, before: the route and the private IP on the primary"
py show-private "$LOCAL_DIR/private.env"

echo
echo "== Starting the function behind cargo-lambda's Lambda Runtime API emulator (no EIP_ALLOCATION_ID)"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"

. "$LOCAL_DIR/private.env"
echo
echo "== The primary fails: stopping $PRIMARY_INSTANCE_ID"
py stop "$PRIMARY_INSTANCE_ID"
settle

echo
echo "== EventBridge delivers events/ec2-state-change-primary-stopped.json; the function answers:"
py event "$LOCAL_DIR/private.env" events/ec2-state-change-primary-stopped.json "$LOCAL_DIR/event.json"
invoke_function "$LOCAL_DIR/event.json" | py result

echo
echo "== The pair, after: the route points at the standby, which holds the private IP"
py show-private "$LOCAL_DIR/private.env"

echo
echo "== The operator asks where things stand:"
echo '{"command": "status"}' >"$LOCAL_DIR/command.json"
invoke_function "$LOCAL_DIR/command.json" | py result
echo
echo "The function's log lines are in $LOCAL_DIR/function.log."
