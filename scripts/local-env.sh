# Sourced by the local scripts: the environment that points the AWS SDKs at a local moto server.
# MOTO_PORT and INVOKE_PORT pick the ports (free ones by default); nothing here reaches AWS.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export MOTO_PORT="${MOTO_PORT:-$(free_port)}"
export INVOKE_PORT="${INVOKE_PORT:-$(free_port)}"
export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_EC2_METADATA_DISABLED=true
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
VENV="${VENV:-.venv}"

# Starts moto in the background and waits until it answers; stops it when the script exits.
start_moto() {
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOCAL_DIR/moto.log" 2>&1 &
  MOTO_PID=$!
  CLEANUP_PIDS="${CLEANUP_PIDS:-} $MOTO_PID"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" && return 0
    kill -0 "$MOTO_PID" 2>/dev/null || { cat "$LOCAL_DIR/moto.log"; echo "moto_server failed to start" >&2; return 1; }
    sleep 0.1
  done
  echo "moto_server did not answer on $AWS_ENDPOINT_URL" >&2
  return 1
}

cleanup() {
  for pid in ${CLEANUP_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
