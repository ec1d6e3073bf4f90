#!/usr/bin/env bash
# `make demo MODE=health`: the service dies, the instance stays up, the IP moves. Starts the local
# AWS (moto behind the strict emulator), builds a hot standby pair whose members' services are
# real HTTP servers on loopback (127.0.0.2 for the primary, 127.0.0.3 for the standby, which the
# emulator shows as their private addresses, as the VPC would route them), and runs the real
# function with the service check on (HEALTH_CHECK, two failed probes in a row). The primary's
# service is stopped; the instance keeps running, its status checks pass; the reconcile probes.
. "$(dirname "$0")/local-session.sh"

start_strict_aws pair
export AWS_ENDPOINT_URL=$PROXY_URL
deploy_from_stack
py create "$LOCAL_DIR/pair.env"
settle
port=$(free_port)
# Deployed again with ServiceCheck=probe on that port, a threshold of 2 (HEALTH_CHECK=http:PORT/).
py service-check "$LOCAL_DIR/pair.env" "$port"
settle
stack_env >>"$LOCAL_DIR/function.env"

# Each member's service: Python's HTTP server on the member's loopback address.
serve() {
  "$VENV/bin/python" -m http.server "$port" --bind "$1" --directory instance >"$LOCAL_DIR/service-$1.log" 2>&1 &
  CLEANUP_PIDS="${CLEANUP_PIDS:-} $!"
  echo $!
}
primary_service=$(serve 127.0.0.2)
serve 127.0.0.3 >/dev/null
for address in 127.0.0.2 127.0.0.3; do
  for _ in $(seq 1 100); do curl -sf "http://$address:$port/" >/dev/null && break; sleep 0.1; done
done

echo "== The pair, both running; each member's service answers on port $port"
py show "$LOCAL_DIR/pair.env"

echo
echo "== Starting the function behind cargo-lambda's Lambda Runtime API emulator (HEALTH_CHECK=http:${port}/, 2 in a row)"
start_function "$LOCAL_DIR/function.env" "${BOOTSTRAP:-}"
reconcile() {
  py event "$LOCAL_DIR/pair.env" events/scheduled-reconcile.json "$LOCAL_DIR/event.json"
  invoke_function "$LOCAL_DIR/event.json" | py result
}

echo
echo "== The reconcile probes both services:"
reconcile

echo
echo "== The primary's service dies (the instance keeps running); a minute later the reconcile:"
kill "$primary_service"
py a-minute-passes "$LOCAL_DIR/pair.env"
reconcile
echo "   (one failed probe never fails the pair over)"

echo
echo "== Another minute; the reconcile:"
py a-minute-passes "$LOCAL_DIR/pair.env"
reconcile

echo
echo "== The pair, after: the IP is on the standby, whose service answers; the old primary is stopped"
settle
py show "$LOCAL_DIR/pair.env"
echo
echo "The function's log lines are in $LOCAL_DIR/function.log."
