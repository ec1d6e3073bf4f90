#!/usr/bin/env python3
"""A proxy in front of the local EC2 API that adds latency, injects faults and records requests.

The benchmark puts it between the function and moto to give every EC2 request a fixed round
trip (as if AWS were 50 ms away) and to count requests by action and along the critical path.
The fault-injection tests use it to make EC2 misbehave the ways AWS does:

  throttle     HTTP 503, <Code>RequestLimitExceeded</Code> (Auto Scaling: Throttling); not applied
  unavailable  HTTP 503, <Code>Unavailable</Code> (Auto Scaling: ServiceUnavailable); not applied
  drop-before  the connection closes with no response; the request is not applied
  drop-after   the request is applied upstream, then the connection closes with no response

Faults are seeded and deterministic: whether the n-th request for an action fails, and how,
depends only on (seed, action, n), not on timing or on how parallel requests interleave.

Control API (JSON), never proxied:
  POST /_proxy/config  {"latency_ms": 50, "fault_rate": 0.3, "seed": 7,
                        "faults": ["throttle", ...]}   applies settings, clears the log, and
                       forgets lifecycle completions, holds and snapshot states unless
                       "keep_lifecycle": true
  GET  /_proxy/log     [{"action", "params", "start", "end", "fault", "status"}], times in
                       seconds from a monotonic clock

It also stands in for the two Auto Scaling calls moto does not implement (HTTP 500 there):
  CompleteLifecycleAction         recorded; a second completion of the same (group, hook,
                                  instance) gets AWS's ValidationError "No active Lifecycle Action"
  RecordLifecycleActionHeartbeat  recorded; refused the same way once the action is completed
Both appear in the log like any other request (with "emulated": true), and
GET /_proxy/lifecycle lists the completions: [{"group", "hook", "instance", "result"}].

moto puts every instance straight InService: it never holds one for a hook. The tests and the
demo say which instance a hook holds, as Auto Scaling would have done:
  POST /_proxy/hold  {"group", "hook", "instance", "transition": "launching" | "terminating"}
Until that action is completed, DescribeAutoScalingGroups shows the instance in Pending:Wait (or
Terminating:Wait) and its heartbeat is accepted; without a hold, heartbeats and completions are
accepted as before (an event may well come from a hook moto never saw).

moto completes a snapshot at once; AWS takes minutes. To show a snapshot still being copied:
  POST /_proxy/snapshot  {"snapshot": "snap-...", "state": "pending"}   ("state": null ends it)
and DescribeSnapshots reports that state for it.

Only the standard library, so any python3 runs it:
  python3 scripts/ec2_proxy.py --upstream http://127.0.0.1:5000 --port 5001
"""

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("throttle", "unavailable", "drop-before", "drop-after")
LIFECYCLE = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat")
AUTOSCALING_OK = (
    '<{action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><{action}Result/>'
    "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
)
AUTOSCALING_ERROR = (
    '<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type>'
    "<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
)
WAIT_STATES = {"launching": "Pending:Wait", "terminating": "Terminating:Wait"}
INNER_MEMBER = re.compile(r"<member>((?:(?!<member>|</member>).)*)</member>", re.S)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}
ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
)


class State:
    """Settings, counters and the request log, shared by all connection threads."""

    def __init__(self, upstream, latency_ms=0.0, fault_rate=0.0, seed=0, faults=FAULTS):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.lock = threading.Lock()
        self.configure({"latency_ms": latency_ms, "fault_rate": fault_rate, "seed": seed, "faults": list(faults)})

    def configure(self, settings):
        faults = settings.get("faults", list(FAULTS))
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {list(FAULTS)}")
        with self.lock:
            self.latency = float(settings.get("latency_ms", 0)) / 1000.0
            self.fault_rate = float(settings.get("fault_rate", 0))
            self.seed = settings.get("seed", 0)
            self.faults = faults
            self.counts = {}
            self.log = []
            if not settings.get("keep_lifecycle") or not hasattr(self, "holds"):
                self.completions = []
                self.holds = []
                self.snapshot_states = {}

    def fault_for(self, action):
        """The fault for the next request of this action, or None."""
        with self.lock:
            n = self.counts.get(action, 0)
            self.counts[action] = n + 1
            if not self.faults or self.fault_rate <= 0:
                return None
            rng = random.Random(f"{self.seed}/{action}/{n}")
            if rng.random() >= self.fault_rate:
                return None
            return rng.choice(self.faults)

    def record(self, entry):
        with self.lock:
            self.log.append(entry)


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY the body would wait for the
    # client's delayed ACK (40 ms on Linux), a delay that real EC2 does not add.
    disable_nagle_algorithm = True
    state: State = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path in ("/_proxy/log", "/_proxy/lifecycle"):
            with self.state.lock:
                data = self.state.log if self.path == "/_proxy/log" else self.state.completions
                body = json.dumps(data).encode()
            return self.reply(200, body, "application/json")
        self.forward()

    def do_POST(self):
        if self.path == "/_proxy/hold":
            try:
                hold = json.loads(self.read_body() or b"{}")
                if hold.get("transition") not in WAIT_STATES or not all(hold.get(k) for k in ("group", "hook", "instance")):
                    raise ValueError("a hold needs group, hook, instance and transition (launching | terminating)")
            except (ValueError, TypeError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                self.state.holds.append(hold)
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/snapshot":
            try:
                change = json.loads(self.read_body() or b"{}")
                snapshot, state = change["snapshot"], change.get("state")
                if not str(snapshot).startswith("snap-") or state not in (None, "pending", "completed", "error"):
                    raise ValueError("a snapshot state needs snapshot (snap-...) and state (pending, completed, error or null)")
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                if state is None:
                    self.state.snapshot_states.pop(snapshot, None)
                else:
                    self.state.snapshot_states[snapshot] = state
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/config":
            try:
                self.state.configure(json.loads(self.read_body() or b"{}"))
            except (ValueError, TypeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            return self.reply(200, b"{}", "application/json")
        self.forward()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body, content_type, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def drop(self):
        """Closes the connection without a response, as a network failure would."""
        self.close_connection = True

    def forward(self):
        start = time.monotonic()
        body = self.read_body()
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = (form.get("Action") or ["?"])[0]
        fault = self.state.fault_for(action)
        params = {k: v[0] for k, v in form.items() if k not in ("Action", "Version")}
        entry = {"action": action, "params": params, "start": start, "fault": fault}
        time.sleep(self.state.latency)
        # The answer is prepared first and the request logged before it is sent, so that whoever
        # reads the log after the client got its answer finds the request there.
        answer = None  # (status, payload, content type, extra headers), or None to drop
        try:
            if fault in ("throttle", "unavailable"):
                request_id = f"proxy-{random.getrandbits(32):08x}"
                if "/autoscaling/" in self.headers.get("Authorization", ""):
                    code, message = {
                        "throttle": ("Throttling", "Rate exceeded"),
                        "unavailable": ("ServiceUnavailable", "Service is unavailable."),
                    }[fault]
                    xml = AUTOSCALING_ERROR.format(code=code, message=message, request_id=request_id)
                else:
                    code, message = {
                        "throttle": ("RequestLimitExceeded", "Request limit exceeded."),
                        "unavailable": ("Unavailable", "The service is unavailable. Please try again shortly."),
                    }[fault]
                    xml = ERROR_XML.format(code=code, message=message, request_id=request_id)
                answer = (503, xml.encode(), "text/xml;charset=UTF-8", [])
            elif fault == "drop-before":
                pass
            elif action in LIFECYCLE:
                status, xml = self.lifecycle(action, params)
                entry["emulated"] = True
                if fault != "drop-after":
                    answer = (status, xml.encode(), "text/xml", [])
            else:
                status, headers, payload = self.upstream(body)
                if action == "DescribeAutoScalingGroups" and status == 200:
                    payload = self.show_holds(payload)
                if action == "DescribeSnapshots" and status == 200:
                    payload = self.show_snapshot_states(payload)
                if fault != "drop-after":
                    content_type = "text/xml"
                    extra = []
                    for name, value in headers:
                        if name.lower() == "content-type":
                            content_type = value
                        elif name.lower() not in HOP_BY_HOP:
                            extra.append((name, value))
                    answer = (status, payload, content_type, extra)
        finally:
            entry["status"] = answer[0] if answer else None
            entry["end"] = time.monotonic()
            self.state.record(entry)
        if answer is None:
            self.drop()
        else:
            self.reply(*answer)

    def lifecycle(self, action, params):
        """Auto Scaling's answer to a lifecycle call moto does not implement."""
        key = (params.get("AutoScalingGroupName"), params.get("LifecycleHookName"), params.get("InstanceId"))
        request_id = f"proxy-{random.getrandbits(32):08x}"
        with self.state.lock:
            done = any((c["group"], c["hook"], c["instance"]) == key for c in self.state.completions)
            if not done and action == "CompleteLifecycleAction":
                self.state.completions.append({"group": key[0], "hook": key[1], "instance": key[2],
                                               "result": params.get("LifecycleActionResult")})
        if done:
            message = f"No active Lifecycle Action found with instance ID {key[2]}"
            return 400, AUTOSCALING_ERROR.format(code="ValidationError", message=message, request_id=request_id)
        return 200, AUTOSCALING_OK.format(action=action, request_id=request_id)

    def show_holds(self, payload):
        """Puts each instance a hook still holds in its wait state, as Auto Scaling would show it."""
        with self.state.lock:
            done = {(c["group"], c["hook"], c["instance"]) for c in self.state.completions}
            waiting = {h["instance"]: WAIT_STATES[h["transition"]] for h in self.state.holds
                       if (h["group"], h["hook"], h["instance"]) not in done}
        if not waiting:
            return payload

        def member(m):
            inner = m.group(1)
            found = re.search(r"<InstanceId>([^<]+)</InstanceId>", inner)
            if found and found.group(1) in waiting and "<LifecycleState>" in inner:
                state = waiting[found.group(1)]
                inner = re.sub(r"<LifecycleState>[^<]*</LifecycleState>", f"<LifecycleState>{state}</LifecycleState>", inner)
            return f"<member>{inner}</member>"

        return INNER_MEMBER.sub(member, payload.decode()).encode()

    def show_snapshot_states(self, payload):
        """Reports the snapshot states the tests set in place of moto's instant `completed`."""
        with self.state.lock:
            states = dict(self.state.snapshot_states)
        text = payload.decode()
        for snapshot, state in states.items():
            # The snapshot's own status is the first one after its id, before any other snapshot's id.
            pattern = rf"(<snapshotId>{re.escape(snapshot)}</snapshotId>(?:(?!<snapshotId>).)*?<status>)[^<]*(</status>)"
            text = re.sub(pattern, rf"\g<1>{state}\g<2>", text, flags=re.S)
        return text.encode()

    def upstream(self, body):
        up = self.state.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the EC2 API to forward to, e.g. http://127.0.0.1:5000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", default="0")
    args = parser.parse_args()
    Proxy.state = State(args.upstream, args.latency_ms, args.fault_rate, args.seed)
    server = ThreadingHTTPServer((args.host, args.port), Proxy)
    server.daemon_threads = True
    print(f"ec2_proxy listening on {args.host}:{args.port} -> {args.upstream}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
