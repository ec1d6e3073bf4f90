# Sourced first by the local scripts (demo.sh, demo-group.sh, demo-asg-ebs.sh, invoke.sh): strict mode, the
# repository root as the working directory, .local/ for logs and state, the local AWS environment
# and the function runner, `py` for local_aws.py, and cleanup of everything started on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOCAL_DIR=.local
mkdir -p "$LOCAL_DIR"
. scripts/local-env.sh
. scripts/run-function.sh
trap cleanup EXIT
py() { "$VENV/bin/python" scripts/local_aws.py "$@"; }

# The local AWS as strict as the real one: moto, and scripts/ec2_proxy.py in front of it
# (PROXY_URL), which shows `pending`, `stopping` and initializing status checks for a while and
# refuses what AWS refuses; the function's environment in $LOCAL_DIR/function.env (MODE=$1),
# pointed at the proxy, with an access key of its own (FUNCTION_ACCESS_KEY_ID): local_aws.py's
# create and create-group register it as the deployed function for the IAM checker, and the
# proxy records every request when EC2_PROXY_RECORD_DIR is set (make test). MOTO_URL keeps moto's
# own address.
export FUNCTION_ACCESS_KEY_ID=AKIDFUNCTIONLOCAL DEPLOYMENT_SOURCE="scripts/$(basename "$0")"
start_strict_aws() {
  start_moto
  local port
  port=$(free_port)
  "$VENV/bin/python" scripts/ec2_proxy.py --upstream "$AWS_ENDPOINT_URL" --port "$port" >"$LOCAL_DIR/proxy.log" 2>&1 &
  CLEANUP_PIDS="${CLEANUP_PIDS:-} $!"
  wait_for_port "$port"
  export PROXY_URL="http://127.0.0.1:${port}"
  export MOTO_URL=$AWS_ENDPOINT_URL
  rm -f "$LOCAL_DIR/stack.json"
  { echo "MODE=$1"; env | grep -E '^(AWS_|NO_PROXY)' | grep -v -E '^AWS_(ENDPOINT_URL|ACCESS_KEY_ID)=';
    echo "AWS_ENDPOINT_URL=$PROXY_URL"; echo "AWS_ACCESS_KEY_ID=$FUNCTION_ACCESS_KEY_ID"; } >"$LOCAL_DIR/function.env"
}

# deploy_from_stack: the pair-mode demos deploy template.yaml into the local AWS (`py create...`
# with STACK_FILE set; scripts/local_stack.py), and the function runs with the environment the
# stack gave it; invoke_function then sends an event only if a rule or alarm of the stack would.
deploy_from_stack() { export STACK_FILE="$LOCAL_DIR/stack.json"; }
stack_env() { "$VENV/bin/python" scripts/local_stack.py env "$STACK_FILE"; }

# Group mode's local AWS (see start_strict_aws).
start_group_aws() { start_strict_aws group; }

# answer: prints the function's result (on stdin) as the demos show it: verdict, reason, actions
# (in fleet mode each with its pair).
answer() {
  "$VENV/bin/python" -c '
import json, sys
r = json.load(sys.stdin)
print("  verdict:", r.get("verdict"))
print("  reason: ", r.get("reason"))
for a in r.get("actions", []):
    pair = a.get("pair") + ": " if a.get("pair") else ""  # fleet mode: each action names its pair
    print("  action: ", pair + str(a.get("action")), a.get("instance_id") or a.get("to") or "", "->", a.get("status"))
'
}

# settle: the strict local AWS finishes every transition now (instances booted or stopped, status
# checks passed), as AWS does after a minute or two.
settle() { curl -sf -X POST "$PROXY_URL/_proxy/settle" -d '{}' >/dev/null; }

# hold JSON: Auto Scaling's hook holds an instance (see scripts/ec2_proxy.py, POST /_proxy/hold).
hold() { curl -sf -X POST "$PROXY_URL/_proxy/hold" -d "$1" >/dev/null; }

# replace_held GROUP_ENV: the stateful group (`py create-group GROUP_ENV data`, after
# start_group_aws) replaces its instance in the other zone as Auto Scaling does with both hooks:
# the old instance held in Terminating:Wait, its data volume still attached; the new one in
# Pending:Wait. Appends NEW_INSTANCE_ID to GROUP_ENV.
replace_held() {
  local old new
  old=$(grep '^INSTANCE_ID=' "$1" | cut -d= -f2)
  hold "{\"group\": \"demo-group\", \"hook\": \"ec2-failover-terminate\", \"instance\": \"$old\", \"transition\": \"terminating\"}"
  py replace "$1"
  new=$(grep '^NEW_INSTANCE_ID=' "$1" | cut -d= -f2)
  hold "{\"group\": \"demo-group\", \"hook\": \"ec2-failover-launch\", \"instance\": \"$new\", \"transition\": \"launching\"}"
  # moto terminates at once and releases the volume; AWS keeps it attached until the hook completes.
  py attach-data "$1"
}
