"""The Lambda side of the bench: a Runtime API emulator that timestamps what a runtime asks, and
the function spawned against it with Lambda's environment."""

import json
import os
import queue
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNTIME = "/2018-06-01/runtime"


class RuntimeApi:
    """A Lambda Runtime API emulator that timestamps the calls a runtime makes.

    One invocation at a time, as Lambda does: `invoke(event)` queues an event for the next
    GET .../invocation/next and waits for POST .../response (or .../error)."""

    def __init__(self):
        self.events = queue.Queue()
        self.results = queue.Queue()
        self.first_next = threading.Event()
        self.first_next_at = None
        self.handed_at = None
        self.handed = []  # when each event was handed over, in order
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle's algorithm on, the body
            # would wait for the client's delayed ACK (40 ms on Linux) and be timed as ours.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != f"{RUNTIME}/invocation/next":
                    return self.reply(404, b"{}")
                if api.first_next_at is None:
                    api.first_next_at = time.perf_counter()
                    api.first_next.set()
                request_id, event = api.events.get()
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover-bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.end_headers()
                api.handed_at = time.perf_counter()
                api.handed.append(api.handed_at)
                self.wfile.write(body)
                self.wfile.flush()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                at = time.perf_counter()
                kind = self.path.rsplit("/", 1)[-1]
                if kind in ("response", "error"):
                    api.results.put((kind, at, body))
                elif self.path == f"{RUNTIME}/init/error":
                    api.results.put(("init_error", at, body))
                self.reply(202, b"{}")

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed runtime resets its connection; that is the bench ending a run

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event, timeout=60):
        """Hands `event` to the runtime; returns (kind, seconds from handing over to result, body)."""
        self.events.put((f"bench-{time.monotonic_ns()}", event))
        kind, at, body = self.results.get(timeout=timeout)
        return kind, at - self.handed_at, body

    def invoke_all(self, events, timeout=600):
        """Queues every event at once, as EventBridge delivers a burst to a function whose reserved
        concurrency is 1: the runtime gets them one after another, as it asks. Returns each result
        as (kind, when handed over, when received, body), in the order they came back."""
        first = len(self.handed)
        for event in events:
            self.events.put((f"bench-{time.monotonic_ns()}", event))
        results = [self.results.get(timeout=timeout) for _ in events]
        return [(kind, handed, at, body) for handed, (kind, at, body) in zip(self.handed[first:], results)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def lambda_env(api_port, extra):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api_port}",
        "AWS_LAMBDA_FUNCTION_NAME": "ec2-failover-bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ec2-failover-bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
        # Lambda's environment carries no ~/.aws; neither does the bench's.
        "HOME": "/nonexistent",
    }
    env.update(extra)
    return env


def spawn(binary, api, extra_env):
    """Spawns `binary` against `api`; returns (process, seconds to its first GET .../next)."""
    env = lambda_env(api.port, extra_env)
    start = time.perf_counter()
    process = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not api.first_next.wait(timeout=30):
        process.kill()
        raise RuntimeError(f"{binary} never asked for an event")
    return process, api.first_next_at - start


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def stop(process):
    process.send_signal(signal.SIGKILL)
    process.wait()
