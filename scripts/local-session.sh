# Sourced first by the local scripts (demo.sh, demo-group.sh, invoke.sh): strict mode, the
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
