"""moto and the strict proxy in front of it (scripts/ec2_proxy.py, as every caller runs it), each
on a free port, for the bench and the Python tests. The demos start theirs in
scripts/local-session.sh, the Rust tests in tests/support."""

import pathlib
import shutil
import socket
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROXY = ROOT / "scripts" / "ec2_proxy.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, what, timeout=30):
    """Returns once something listens on the port; fails if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port} within {timeout} s") from None
            time.sleep(0.02)


def start(args, port, what, env=None):
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_listening(port, process, what)
    except RuntimeError:
        process.kill()
        process.wait()
        raise
    return process, f"http://127.0.0.1:{port}"


def start_moto(venv=ROOT / ".venv"):
    """(process, URL) of a new moto server: the venv's, else the one on PATH."""
    path = pathlib.Path(venv) / "bin" / "moto_server"
    path = str(path) if path.exists() else shutil.which("moto_server")
    if not path:
        raise RuntimeError("moto_server not found: run `make venv`")
    port = free_port()
    return start([path, "-H", "127.0.0.1", "-p", str(port)], port, "moto_server")


def start_proxy(upstream, record=None, env=None):
    """(process, URL) of a new proxy in front of upstream, recording in `record` if given (and
    where EC2_PROXY_RECORD_DIR says, in its environment: env, else this process's)."""
    port = free_port()
    args = [sys.executable, str(PROXY), "--upstream", upstream, "--port", str(port)]
    return start(args + (["--record", str(record)] if record else []), port, "scripts/ec2_proxy.py", env)


def stop(*processes):
    for process in processes:
        process.kill()
        process.wait()
