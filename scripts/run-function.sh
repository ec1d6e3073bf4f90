# Sourced by the local scripts: runs the real function behind cargo-lambda's Lambda runtime API
# emulator (the local stand-in for `sam local invoke`, which needs Docker) and invokes it.

# start_function ENV_FILE [BOOTSTRAP]: serves the function; with BOOTSTRAP (a built binary, such
# as the one `sam build` made) that binary runs, otherwise cargo-lambda builds and runs this crate.
start_function() {
  local env_file=$1 bootstrap=${2:-}
  if [ -n "$bootstrap" ]; then
    "$VENV/bin/cargo-lambda" lambda watch --only-lambda-apis -A 127.0.0.1 -P "$INVOKE_PORT" \
      >"$LOCAL_DIR/watch.log" 2>&1 &
    CLEANUP_PIDS="${CLEANUP_PIDS:-} $!"
    wait_for_port "$INVOKE_PORT"
    (
      set -a; . "$env_file"; set +a
      export AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:${INVOKE_PORT}/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
        AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128
      exec "$bootstrap"
    ) >"$LOCAL_DIR/function.log" 2>&1 &
    FUNCTION_PID=$!
    CLEANUP_PIDS="${CLEANUP_PIDS:-} $FUNCTION_PID"
  else
    "$VENV/bin/cargo-lambda" lambda watch --ignore-changes --quiet -A 127.0.0.1 -P "$INVOKE_PORT" \
      --env-file "$env_file" >"$LOCAL_DIR/function.log" 2>&1 &
    CLEANUP_PIDS="${CLEANUP_PIDS:-} $!"
    wait_for_port "$INVOKE_PORT"
  fi
}

wait_for_port() {
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1; see $LOCAL_DIR/*.log" >&2
  return 1
}

# invoke_function EVENT_FILE: sends one event and prints the function's result (or error). With a
# deployed stack (STACK_FILE), only an event one of its rules or alarms delivers to the function.
invoke_function() {
  if [ -n "${STACK_FILE:-}" ] && [ -f "$STACK_FILE" ]; then
    "$VENV/bin/python" scripts/local_stack.py delivers "$STACK_FILE" "$1" >&2 || return 1
  fi
  timeout "${INVOKE_TIMEOUT:-60}" "$VENV/bin/cargo-lambda" lambda invoke -A 127.0.0.1 -P "$INVOKE_PORT" --data-file "$1" _
}

# function_peak_rss: the running bootstrap's peak resident memory so far, as the kernel reports it.
function_peak_rss() {
  [ -n "${FUNCTION_PID:-}" ] && grep -E '^VmHWM' "/proc/$FUNCTION_PID/status" 2>/dev/null | tr -s ' \t' ' ' || true
}
