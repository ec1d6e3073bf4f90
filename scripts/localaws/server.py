"""A proxy in front of the local EC2 API that adds latency, injects faults and records requests.

The benchmark puts it between the function and moto to give every EC2 request a fixed round
trip (as if AWS were 50 ms away) and to count requests by action and along the critical path.
Auto Scaling requests go through it too, and CloudWatch's in Smithy RPC v2 CBOR (cloudwatch.py).
The fault-injection tests use it to make EC2 misbehave the ways AWS does (faults.py), and strict
mode makes EC2 refuse and delay what AWS does. EC2 throttles as AWS does, on by default: each
action's token buckets, EC2's numbers; a request that finds its bucket empty is answered HTTP 503
RequestLimitExceeded without reaching moto (throttle.py). Each concern has its module: control.py
the control API, state.py the settings and what strict mode shows, throttle.py EC2's request
throttling, ec2_instances.py and ec2_rules.py strict EC2, autoscaling.py the lifecycle actions
moto lacks, cloudwatch.py (and cbor.py) the CloudWatch bridge, recorder.py the record for the IAM
checker, xmltext.py the XML helpers.

Control API (JSON), never proxied (control.py):
  POST /_proxy/config  {"latency_ms": 50, "fault_rate": 0.3, "seed": 7,
                        "faults": ["throttle", ...]}   applies settings, clears the log, refills
                       EC2's throttling buckets, and forgets lifecycle completions, holds,
                       snapshot states, transitions and start failures unless "keep_lifecycle":
                       true; strict mode: ec2_instances.py; "ec2_throttle": true | false and
                       "ec2_throttle_scale": 1.0 (EC2's buckets times it): throttle.py
  GET  /_proxy/log     [{"action", "params", "start", "end", "fault", "status"}], times in
                       seconds from a monotonic clock; a throttled request has "throttled": true
                       and "bucket": the bucket it found empty

Only the standard library, so any python3 runs it:
  python3 scripts/ec2_proxy.py --upstream http://127.0.0.1:5000 --port 5001 [--record DIR]
  (or: cd scripts && python3 -m localaws --upstream ... --port ...)
"""

import argparse
import http.client
import os
import random
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from . import autoscaling, cloudwatch, control, ec2_rules, eventbus, faults, zonalshift
from .emulated import logged, send
from .recorder import Recorder, record_before
from .state import State
from .xmltext import ERROR_XML, HOP_BY_HOP


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY the body would wait for the
    # client's delayed ACK (40 ms on Linux), a delay that real EC2 does not add.
    disable_nagle_algorithm = True
    state: State = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        route = control.GET.get(self.path)
        if route:
            return route(self)
        if zonalshift.handles(self):
            return zonalshift.answer(self)
        self.forward()

    def do_POST(self):
        route = control.POST.get(self.path)
        if route:
            return route(self)
        operation = cloudwatch.rpcv2_operation(self.path)
        if operation:
            return cloudwatch.bridge(self, operation)
        if eventbus.handles(self):
            return eventbus.answer(self)
        self.forward()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body, content_type, extra=()):
        """Sends an answer; content_type None: no Content-Type header (an empty RPC v2 answer)."""
        self.send_response(status)
        if content_type is not None:
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
        params = {k: v[0] for k, v in form.items() if k not in ("Action", "Version")}
        # EC2's throttling comes first, as at AWS's front door: a request its bucket cannot pay
        # for is answered RequestLimitExceeded and neither faulted nor forwarded (throttle.py).
        bucket = self.state.buckets.take(self.headers, action, params)
        fault = None if bucket else self.state.fault_for(action, self.headers)
        recorded = record_before(self, "ec2", action, params)
        entry = {"action": action, "params": params, "start": start, "fault": fault}
        if bucket:
            entry.update(throttled=True, bucket=bucket)
        time.sleep(self.state.latency)
        # The answer is prepared first and the request logged before it is sent, so that whoever
        # reads the log after the client got its answer finds the request there.
        answer = None  # (status, payload, content type, extra headers), or None to drop
        try:
            if bucket:
                answer = faults.query_fault("throttle", self.headers.get("Authorization", ""))
            elif fault in ("throttle", "unavailable"):
                answer = faults.query_fault(fault, self.headers.get("Authorization", ""))
            elif fault == "drop-before":
                pass
            elif action in autoscaling.LIFECYCLE:
                status, xml = autoscaling.lifecycle(self, action, params)
                entry["emulated"] = True
                if fault != "drop-after":
                    answer = (status, xml.encode(), "text/xml", [])
            else:
                status, headers, payload, emulated = ec2_rules.ec2(self, action, body)
                if emulated:
                    entry["emulated"] = True
                if action == "DescribeAutoScalingGroups" and status == 200:
                    payload = autoscaling.show_holds(self, payload)
                if action == "DescribeSnapshots" and status == 200:
                    payload = ec2_rules.show_snapshot_states(self, payload)
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
            logged(self, recorded, entry, answer)
        send(self, answer)


    def ask(self, pairs, action, params):
        """Asks moto something the proxy needs to know, with the incoming request's headers (moto
        checks no signature). Not logged; nothing it says is kept."""
        version = dict(pairs).get("Version", "2016-11-15")
        return self.upstream(urllib.parse.urlencode([("Action", action), ("Version", version), *params]).encode())

    def refuse(self, status, code, message):
        request_id = f"proxy-{random.getrandbits(32):08x}"
        xml = ERROR_XML.format(code=code, message=escape(message), request_id=request_id)
        return status, [("Content-Type", "text/xml;charset=UTF-8")], xml.encode(), True

    def upstream(self, body, path=None, headers=None):
        up = self.state.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        try:
            if headers is None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, path or self.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the EC2 API to forward to, e.g. http://127.0.0.1:5000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--record", metavar="DIR", default=os.environ.get("EC2_PROXY_RECORD_DIR") or None,
                        help="record each request for the IAM checker in DIR (also EC2_PROXY_RECORD_DIR)")
    args = parser.parse_args()
    Proxy.state = State(args.upstream, args.latency_ms, args.fault_rate, args.seed)
    if args.record:
        Proxy.state.recorder = Recorder(args.record, args.port)
    class Server(ThreadingHTTPServer):
        # socketserver's listen backlog is 5: a function that sends a hundred requests at once (a
        # hundred route entries) would see SYN retries of a second that AWS's endpoints do not cause.
        request_queue_size = 256
        daemon_threads = True

    server = Server((args.host, args.port), Proxy)
    print(f"ec2_proxy listening on {args.host}:{args.port} -> {args.upstream}", file=sys.stderr, flush=True)
    server.serve_forever()
