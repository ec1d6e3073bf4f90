#!/usr/bin/env python3
"""`make bench`: how fast the function starts, how fast it fails over, how much memory and disk it
takes, and whether that grows with the size of the account. It reports; it never fails on a slow
machine. Every figure is the median of --runs runs, with the spread (min..max).

What runs, all on loopback:
  - a Lambda Runtime API emulator (below): it records when a freshly spawned process first asks
    for an event, hands it one, and records when the result comes back;
  - moto, the local EC2 API, behind scripts/ec2_proxy.py, which adds a fixed latency to every EC2
    request (as if AWS were --latency-ms away) and logs each request's action and timing;
  - the release binaries: the function (target/release/bootstrap) and two floors built the same
    way (bench/floors: an echo function, and one that also builds the AWS SDK client at init).

Figures:
  cold start    spawn -> first GET .../invocation/next, for each binary
  failover      one invocation that handles a failure (event handed over -> result received),
                EC2 requests by action, and sequential round trips on the critical path: the
                longest chain of requests in which each starts after the previous one ended
  memory        the function's peak RSS (VmHWM) across the failover; stripped binary size
  scale         the same failover with --scale unrelated instances and Elastic IPs in the account
  endpoints    a dead primary's failover with the Elastic IP only, with a route and a private IP as
                well, and with 100 route entries and no Elastic IP: the same sequential round trips
  service check a reconcile of a hot pair without the check, then with HEALTH_CHECK (HTTP, both
                services answering on loopback): the first reconcile probes and records the
                results, the next (within 50 s) probes only; the difference is the probe's cost

Usage: bench.py --venv .venv [--runs 7] [--latency-ms 50] [--scale 1000] [--out target/bench/results.json]
"""

import argparse
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
# Every request costs the same latency here: the strict emulator's extra time for a tag write (which
# tests use to show EC2's ConcurrentTagAccess) would make tag writes look slower than the rest.
SAME_LATENCY = {"tag_write_seconds": 0}
EVENT_PRIMARY = "i-0123456789abcdef0"
EVENT_STANDBY = "i-0fedcba9876543210"
RUNTIME = "/2018-06-01/runtime"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


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


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def critical_path(requests):
    """(round trips, seconds): the longest chain of requests in which each starts after the
    previous one ended, counted, and the EC2 time along the slowest such chain."""
    ordered = sorted(requests, key=lambda r: r["end"])
    depth, busy = {}, {}
    for i, r in enumerate(ordered):
        before = [j for j in range(i) if ordered[j]["end"] <= r["start"]]
        depth[i] = 1 + max((depth[j] for j in before), default=0)
        busy[i] = (r["end"] - r["start"]) + max((busy[j] for j in before), default=0.0)
    return max(depth.values(), default=0), max(busy.values(), default=0.0)


class LocalEc2:
    """moto and the latency proxy in front of it."""

    def __init__(self, venv, latency_ms):
        self.moto_port, self.proxy_port = free_port(), free_port()
        self.moto = subprocess.Popen([str(venv / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(self.moto_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proxy = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "ec2_proxy.py"),
                                       "--upstream", self.moto_url, "--port", str(self.proxy_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.moto_port)
        wait_for_port(self.proxy_port)
        self.latency_ms = latency_ms
        self._subnets = None
        import boto3  # from the venv that runs this script

        self.ec2 = boto3.client("ec2", endpoint_url=self.moto_url, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")

    @property
    def moto_url(self):
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def proxy_url(self):
        return f"http://127.0.0.1:{self.proxy_port}"

    def control(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(urllib.request.Request(self.proxy_url + path, data=data), timeout=10) as r:
            return json.loads(r.read() or b"null")

    def start_log(self):
        # A new configuration also ends every transition the strict emulator was showing: between
        # two invocations AWS has finished booting or stopping what the last one started.
        self.control("/_proxy/config", {"latency_ms": self.latency_ms, "fault_rate": 0, "faults": [], **SAME_LATENCY})

    def log(self):
        return self.control("/_proxy/log")

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self.moto_url + "/moto-api/reset", data=b""), timeout=10).read()
        self._subnets = None

    def subnets(self):
        if self._subnets is None:
            vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            self._subnets = [
                self.ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
                for cidr, az in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))
            ]
        return self._subnets

    def pair(self, standby_running):
        ids = []
        for subnet in self.subnets():
            run = self.ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                         SubnetId=subnet)
            ids.append(run["Instances"][0]["InstanceId"])
        primary, standby = ids
        if not standby_running:
            self.ec2.stop_instances(InstanceIds=[standby])
        alloc = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        self.ec2.associate_address(AllocationId=alloc, InstanceId=primary)
        return {"PRIMARY_INSTANCE_ID": primary, "STANDBY_INSTANCE_ID": standby, "EIP_ALLOCATION_ID": alloc}

    def private_pair(self, eip, destinations, private_ip):
        """A hot pair in one subnet with the endpoints asked for: the Elastic IP, one route table
        with `destinations` routes to the primary's interface, and a secondary private IP."""
        subnet = self.subnets()[0]
        vpc = self.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
        ids = [self.ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                      SubnetId=subnet)["Instances"][0]["InstanceId"] for _ in range(2)]
        for instance in ids:
            self.ec2.modify_instance_attribute(InstanceId=instance, SourceDestCheck={"Value": False})
        primary, standby = ids
        eni = self.ec2.describe_instances(InstanceIds=[primary])["Reservations"][0]["Instances"][0][
            "NetworkInterfaces"][0]["NetworkInterfaceId"]
        env = {"PRIMARY_INSTANCE_ID": primary, "STANDBY_INSTANCE_ID": standby}
        if eip:
            alloc = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
            self.ec2.associate_address(AllocationId=alloc, InstanceId=primary)
            env["EIP_ALLOCATION_ID"] = alloc
        if destinations:
            table = self.ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            cidrs = [f"10.{100 + i // 250}.{i % 250}.0/24" for i in range(destinations)]
            for cidr in cidrs:
                self.ec2.create_route(RouteTableId=table, DestinationCidrBlock=cidr, NetworkInterfaceId=eni)
            env.update(ROUTE_TABLE_IDS=table, ROUTE_DESTINATIONS=",".join(cidrs))
        if private_ip:
            self.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=["10.0.1.200"])
            env["PRIVATE_IPS"] = "10.0.1.200"
        return env

    def alarm_in_alarm(self, name, instance):
        """The alarm an alarm payload names, in ALARM about `instance` in CloudWatch: the function
        reads it again before it acts on the payload."""
        import boto3

        cloudwatch = boto3.client("cloudwatch", endpoint_url=self.moto_url, region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/EC2", MetricName="CPUUtilization",
                                    Dimensions=[{"Name": "InstanceId", "Value": instance}], Statistic="Average",
                                    Period=300, EvaluationPeriods=1, Threshold=90.0,
                                    ComparisonOperator="GreaterThanThreshold",
                                    # It invokes the function, as the template's alarms do (the ARN the
                                    # runtime API emulator gives the function).
                                    AlarmActions=["arn:aws:lambda:us-east-1:123456789012:function:ec2-failover-bench"])
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="bench")

    def clutter(self, count):
        """`count` unrelated instances and Elastic IPs, half of the IPs associated."""
        vpc = self.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/20", AvailabilityZone="us-east-1c")
        subnet = subnet["Subnet"]["SubnetId"]
        instances = []
        while len(instances) < count:
            n = min(250, count - len(instances))
            run = self.ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=n, MaxCount=n,
                                         SubnetId=subnet)
            instances += [i["InstanceId"] for i in run["Instances"]]
        for i in range(count):
            alloc = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
            if i % 2 == 0:
                self.ec2.associate_address(AllocationId=alloc, InstanceId=instances[i])

    def holder(self, pair):
        address = self.ec2.describe_addresses(AllocationIds=[pair["EIP_ALLOCATION_ID"]])["Addresses"][0]
        eni = address.get("NetworkInterfaceId")
        ids = [pair["PRIMARY_INSTANCE_ID"], pair["STANDBY_INSTANCE_ID"]]
        for r in self.ec2.describe_instances(InstanceIds=ids)["Reservations"]:
            for i in r["Instances"]:
                if any(n["NetworkInterfaceId"] == eni for n in i.get("NetworkInterfaces", [])):
                    return i["InstanceId"]
        return None

    def close(self):
        for p in (self.proxy, self.moto):
            p.kill()
            p.wait()


GROUP = "bench-group"
GROUP_TAG = "ec2-failover:group"


def group_scene(local, stateful):
    """A tagged single-instance group whose instance the group replaces in us-east-1b, with the two
    hooks holding the old and the new instance (the proxy shows them waiting); with `stateful`, the
    group's data volume in us-east-1a on the old instance. Returns the ids."""
    import boto3

    asg = boto3.client("autoscaling", endpoint_url=local.moto_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    c = local.ec2
    subnets = local.subnets()
    template = c.create_launch_template(LaunchTemplateName=f"bench-{time.monotonic_ns()}", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=1, MaxSize=1, DesiredCapacity=1,
                                  VPCZoneIdentifier=subnets[0], LaunchTemplate={"LaunchTemplateId": template},
                                  Tags=[{"Key": GROUP_TAG, "Value": "bench", "PropagateAtLaunch": False}])
    for name, transition in (("ec2-failover-launch", "LAUNCHING"), ("ec2-failover-terminate", "TERMINATING")):
        asg.put_lifecycle_hook(AutoScalingGroupName=GROUP, LifecycleHookName=name, HeartbeatTimeout=300,
                               LifecycleTransition=f"autoscaling:EC2_INSTANCE_{transition}")
    old = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]["Instances"][0]
    old = old["InstanceId"]
    alloc = c.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": GROUP_TAG, "Value": "bench"}]}])["AllocationId"]
    c.associate_address(AllocationId=alloc, InstanceId=old)
    volume = None
    if stateful:
        volume = c.create_volume(AvailabilityZone="us-east-1a", Size=20, VolumeType="gp3", TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": GROUP_TAG, "Value": "bench"},
                                                {"Key": "ec2-failover:device", "Value": "/dev/xvdf"}]}])["VolumeId"]
    asg.update_auto_scaling_group(AutoScalingGroupName=GROUP, VPCZoneIdentifier=subnets[1])
    asg.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=False)
    instances = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]["Instances"]
    new = next(i["InstanceId"] for i in instances if i["InstanceId"] != old)
    if volume:
        # moto terminates at once; AWS keeps the instance, and the volume on it, until the hook completes.
        c.attach_volume(VolumeId=volume, InstanceId=old, Device="/dev/xvdf")
    return {"old": old, "new": new, "allocation_id": alloc, "volume": volume}


def hook_event(file, hook, instance):
    event = json.loads((EVENTS / file).read_text())
    event["detail"].update(AutoScalingGroupName=GROUP, LifecycleHookName=hook, EC2InstanceId=instance)
    return event


GROUP_SCENARIOS = {
    # name: (stateful, [(event or step name, expected verdict)]); one process, one row per step.
    "group: launch (Elastic IP only)": (False, [("launch", "follow")]),
    "stateful group: data into the other zone": (True, [
        ("terminate", "preserve"),  # snapshot the data volume, let the old instance go
        ("ebs-snapshot-notification.json", "wait"),  # sweep: restore in the new zone
        ("ebs-volume-notification.json", "wait"),  # sweep: attach (EC2 says `attaching` for a while)
        ("scheduled-reconcile.json", "follow"),  # once attached: move the IP, go on
    ]),
}


def group_run(local, bootstrap, scenario):
    stateful, steps = GROUP_SCENARIOS[scenario]
    local.reset()
    ids = group_scene(local, stateful)
    local.control("/_proxy/config", {"latency_ms": 0, "fault_rate": 0, "faults": [], **SAME_LATENCY})
    local.control("/_proxy/hold", {"group": GROUP, "hook": "ec2-failover-launch", "instance": ids["new"],
                                   "transition": "launching"})
    local.control("/_proxy/hold", {"group": GROUP, "hook": "ec2-failover-terminate", "instance": ids["old"],
                                   "transition": "terminating"})
    api = RuntimeApi()
    results = []
    try:
        # As the template deploys it: KEEP_DATA follows KeepData.
        env = {"MODE": "group", "KEEP_DATA": "true" if stateful else "false", "AWS_ENDPOINT_URL": local.proxy_url}
        process, _ = spawn(bootstrap, api, env)
        try:
            for step, verdict in steps:
                if step == "launch":
                    payload = hook_event("asg-launch-lifecycle-action.json", "ec2-failover-launch", ids["new"])
                elif step == "terminate":
                    payload = hook_event("asg-terminate-lifecycle-action.json", "ec2-failover-terminate", ids["old"])
                else:
                    if step.startswith("ebs-snapshot"):  # the old instance has gone: AWS released the volume
                        local.ec2.detach_volume(VolumeId=ids["volume"], InstanceId=ids["old"], Device="/dev/xvdf")
                    if step.startswith("scheduled"):  # a minute later: the attachment is `attached`
                        local.control("/_proxy/settle", {})
                    payload = json.loads((EVENTS / step).read_text())
                    # Sent now, as AWS would: an older EBS notification is one the last sweep has seen.
                    payload["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                local.control("/_proxy/config", {"latency_ms": local.latency_ms, "fault_rate": 0, "faults": [], **SAME_LATENCY,
                                                 "keep_lifecycle": True})
                kind, seconds, body = api.invoke(payload)
                results.append(measure(local, process, kind, seconds, body, verdict))
        finally:
            stop(process)
    finally:
        api.close()
    address = local.ec2.describe_addresses(AllocationIds=[ids["allocation_id"]])["Addresses"][0]
    eni = address.get("NetworkInterfaceId")
    holder = next((i["InstanceId"] for r in local.ec2.describe_instances()["Reservations"] for i in r["Instances"]
                   if any(n["NetworkInterfaceId"] == eni for n in i.get("NetworkInterfaces", []))), None)
    if holder != ids["new"]:
        results[-1].update(ok=False, error="the Elastic IP did not end on the new instance")
    return results


def measure(local, process, kind, seconds, body, verdict):
    """One invocation's figures, from its result and the proxy's log."""
    rss = peak_rss_kib(process.pid)
    requests = [r for r in local.log() if r["action"] != "?"]
    answer = json.loads(body) if body else {}
    ok = kind == "response" and answer.get("verdict") == verdict
    by_action = {}
    for r in requests:
        by_action[r["action"]] = by_action.get(r["action"], 0) + 1
    round_trips, in_ec2 = critical_path(requests)
    return {"ok": ok, "seconds": seconds, "rss_kib": rss, "requests": len(requests), "by_action": by_action,
            "round_trips": round_trips, "in_ec2": in_ec2,
            "error": None if ok else (body or b"").decode(errors="replace")[:300]}


def event(name, pair):
    text = (EVENTS / name).read_text()
    text = text.replace(EVENT_PRIMARY, pair["PRIMARY_INSTANCE_ID"]).replace(EVENT_STANDBY, pair["STANDBY_INSTANCE_ID"])
    return json.loads(text)


SCENARIOS = {
    # name: (standby running, break the primary first, [(event file, expected verdict), ...]).
    # Each event is one invocation of the same process, the first one cold; each is a row.
    "dead primary (stopped), cold standby": (False, True, [
        ("ec2-state-change-primary-stopped.json", "fail_over"),  # move the IP, record `moved`, then start
        ("scheduled-reconcile.json", "finish"),  # the standby has booted: record `done`
    ]),
    "degraded primary (CPU alarm), hot standby": (True, False, [("alarm-action-cpu-alarm.json", "fail_over")]),
    "degraded primary (CPU alarm), cold standby": (False, False, [
        ("alarm-action-cpu-alarm.json", "fail_over"),  # start the standby, record `started`
        ("ec2-state-change-standby-running.json", "finish"),  # warm: move, record `done`, fence
    ]),
}
DEAD = "dead primary (stopped), cold standby"


def failover_run(local, bootstrap, scenario, fresh=True):
    """One run of a scenario in a fresh process: a result per invocation."""
    standby_running, break_primary, steps = SCENARIOS[scenario]
    if fresh:
        local.reset()
    pair = local.pair(standby_running)
    if break_primary:
        local.ec2.stop_instances(InstanceIds=[pair["PRIMARY_INSTANCE_ID"]])
    else:
        local.alarm_in_alarm("ec2-failover-primary-cpu", pair["PRIMARY_INSTANCE_ID"])
    api = RuntimeApi()
    results = []
    try:
        process, _ = spawn(bootstrap, api, {**pair, "AWS_ENDPOINT_URL": local.proxy_url, "COOLDOWN_SECONDS": "300"})
        try:
            for file, verdict in steps:
                local.start_log()
                kind, seconds, body = api.invoke(event(file, pair))
                results.append(measure(local, process, kind, seconds, body, verdict))
        finally:
            stop(process)
    finally:
        api.close()
    if local.holder(pair) != pair["STANDBY_INSTANCE_ID"]:
        results[-1].update(ok=False, error="the Elastic IP did not end on the standby")
    return results


ENDPOINT_SCENARIOS = {
    # name: (Elastic IP, route destinations, a private IP); a dead primary, a hot standby.
    "dead primary, hot standby: Elastic IP only": (True, 0, False),
    "dead primary, hot standby: Elastic IP, a route, a private IP": (True, 1, True),
    "dead primary, hot standby: 100 route entries, no Elastic IP": (False, 100, False),
}


def endpoint_run(local, bootstrap, scenario):
    """One failover of a pair with these endpoints, in a fresh process."""
    eip, destinations, private_ip = ENDPOINT_SCENARIOS[scenario]
    local.reset()
    pair = local.private_pair(eip, destinations, private_ip)
    local.ec2.stop_instances(InstanceIds=[pair["PRIMARY_INSTANCE_ID"]])
    api = RuntimeApi()
    try:
        process, _ = spawn(bootstrap, api, {**pair, "AWS_ENDPOINT_URL": local.proxy_url})
        try:
            local.start_log()
            kind, seconds, body = api.invoke(event("ec2-state-change-primary-stopped.json", pair))
            return [measure(local, process, kind, seconds, body, "fail_over")]
        finally:
            stop(process)
    finally:
        api.close()


SERVICE_ADDRESSES = ("127.0.0.2", "127.0.0.3")  # the primary's and the standby's service
SERVICE_SCENARIOS = {
    # name: (HEALTH_CHECK or None, [(event file, expected verdict), ...])
    "reconcile, hot pair, no service check": (None, [("scheduled-reconcile.json", "no_change")]),
    "reconcile, hot pair, service check (http, both answer)": ("http", [
        ("scheduled-reconcile.json", "no_change"),  # probes both, records the results
        ("scheduled-reconcile.json", "no_change"),  # within 50 s: probes both, records nothing
    ]),
}


class Services:
    """Each member's service: an HTTP server on its loopback address, answering 200."""

    def __init__(self):
        class Answer(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        while True:
            self.port = free_port()
            try:
                self.servers = [ThreadingHTTPServer((a, self.port), Answer) for a in SERVICE_ADDRESSES]
                break
            except OSError:
                continue
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()


def service_run(local, bootstrap, services, scenario):
    """One run of a service-check scenario in a fresh process on a fresh hot pair."""
    check, steps = SERVICE_SCENARIOS[scenario]
    local.reset()
    pair = local.pair(True)
    for instance, address in zip((pair["PRIMARY_INSTANCE_ID"], pair["STANDBY_INSTANCE_ID"]), SERVICE_ADDRESSES):
        local.control("/_proxy/network", {"instance": instance, "private_ip": address})
    extra = {**pair, "AWS_ENDPOINT_URL": local.proxy_url}
    if check:
        extra["HEALTH_CHECK"] = f"{check}:{services.port}/"
    api = RuntimeApi()
    results = []
    try:
        process, _ = spawn(bootstrap, api, extra)
        try:
            for file, verdict in steps:
                local.start_log()
                kind, seconds, body = api.invoke(event(file, pair))
                results.append(measure(local, process, kind, seconds, body, verdict))
        finally:
            stop(process)
    finally:
        api.close()
    return results


def collect_steps(scenario, runs, steps=None):
    """{row name: figures} for a scenario's runs, one row per invocation."""
    steps = steps if steps is not None else SCENARIOS[scenario][2]
    if len(steps) == 1:
        return {scenario: collect([r[0] for r in runs])}
    return {f"{scenario}, {i + 1}: {file.removesuffix('.json')}": collect([r[i] for r in runs])
            for i, (file, _) in enumerate(steps)}


def collect(runs):
    return {
        "ok": all(r["ok"] for r in runs),
        "errors": [r["error"] for r in runs if r["error"]],
        "duration_ms": summary([r["seconds"] * 1000 for r in runs]),
        # What the invocation spent outside EC2's answers: parsing, deciding, signing, the
        # connections, and the proxy's own overhead (a fraction of a millisecond per request).
        "outside_ec2_ms": summary([(r["seconds"] - r["in_ec2"]) * 1000 for r in runs]),
        "peak_rss_mib": summary([r["rss_kib"] / 1024 for r in runs if r["rss_kib"]]),
        "requests": summary([r["requests"] for r in runs]),
        "round_trips": summary([r["round_trips"] for r in runs]),
        "by_action": runs[-1]["by_action"] if runs else {},
    }


def fmt(s, unit="", digits=1):
    if s["median"] is None:
        return "n/a"
    if s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}{unit}"
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}..{s['max']:.{digits}f})"


def main():
    parser = argparse.ArgumentParser(description="ec2-failover benchmark")
    parser.add_argument("--venv", default=str(ROOT / ".venv"))
    parser.add_argument("--target", default=str(ROOT / "target" / "release"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cold-runs", type=int, default=31, help="cold starts are cheap and noisy: more runs")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                        help="another bootstrap to time the cold start of, e.g. a build before a change")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "target" / "bench" / "results.json"))
    args = parser.parse_args()
    venv, target = Path(args.venv), Path(args.target)
    binaries = {"floor: echo": target / "floor-echo", "floor: SDK client": target / "floor-sdk",
                "ec2-failover": target / "bootstrap"}
    for extra in args.extra:
        name, _, path = extra.partition("=")
        binaries[name] = Path(path)
    for path in binaries.values():
        if not path.exists():
            sys.exit(f"{path} is missing: run `make bench`, which builds it")

    results = {"machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
               "settings": {"runs": args.runs, "cold_runs": args.cold_runs, "latency_ms": args.latency_ms, "scale": args.scale}}

    # Cold start, interleaved so that drift in the machine hits every binary alike.
    config = {"PRIMARY_INSTANCE_ID": EVENT_PRIMARY, "STANDBY_INSTANCE_ID": EVENT_STANDBY,
              "EIP_ALLOCATION_ID": "eipalloc-0123456789abcdef0", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    cold = {name: [] for name in binaries}
    for _ in range(args.cold_runs + 1):
        for name, path in binaries.items():
            api = RuntimeApi()
            process, seconds = spawn(path, api, config)
            stop(process)
            api.close()
            cold[name].append(seconds * 1000)
    cold = {name: summary(values[1:]) for name, values in cold.items()}  # the first run warms the page cache
    results["cold_start_ms"] = cold
    results["binary_bytes"] = {name: path.stat().st_size for name, path in binaries.items()}

    local = LocalEc2(venv, args.latency_ms)
    try:
        results["failover"] = {}
        for scenario in SCENARIOS:
            runs = [failover_run(local, binaries["ec2-failover"], scenario) for _ in range(args.runs)]
            results["failover"].update(collect_steps(scenario, runs))
        for scenario, (_, steps) in GROUP_SCENARIOS.items():
            runs = [group_run(local, binaries["ec2-failover"], scenario) for _ in range(args.runs)]
            results["failover"].update(collect_steps(scenario, runs, steps))
        for scenario in ENDPOINT_SCENARIOS:
            runs = [endpoint_run(local, binaries["ec2-failover"], scenario) for _ in range(args.runs)]
            results["failover"].update(collect_steps(scenario, runs, [("ec2-state-change-primary-stopped.json", "fail_over")]))
        services = Services()
        try:
            for scenario, (_, steps) in SERVICE_SCENARIOS.items():
                runs = [service_run(local, binaries["ec2-failover"], services, scenario) for _ in range(args.runs)]
                results["failover"].update(collect_steps(scenario, runs, steps))
        finally:
            services.close()
        results["scale"] = {"unrelated_instances": args.scale, "unrelated_addresses": args.scale}
        if args.scale:
            local.reset()
            local.clutter(args.scale)
            runs = [failover_run(local, binaries["ec2-failover"], DEAD, fresh=False) for _ in range(args.runs)]
            results["scale"].update(collect_steps(DEAD, runs))
    finally:
        local.close()

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")

    floor = cold["floor: SDK client"]["median"]
    print(f"ec2-failover benchmark: medians (min..max); EC2 {args.latency_ms:.0f} ms away\n")
    print(f"cold start, {args.cold_runs} runs (spawn -> first request for an event)")
    for name, s in cold.items():
        ratio = f"  {s['median'] / floor:.2f}x the SDK floor" if floor else ""
        print(f"  {name:22} {fmt(s, ' ms', 2):28} {results['binary_bytes'][name] / 1e6:5.1f} MB{ratio}")
    rows = [(k, v) for k, v in results["failover"].items()] + [
        (f"{k}, +{args.scale} unrelated", v) for k, v in results["scale"].items() if isinstance(v, dict)]
    print(f"\nfailover invocation, {args.runs} runs (event handed over -> result)")
    for name, f in rows:
        status = "" if f["ok"] else "  FAILED: " + "; ".join(f["errors"][:1])
        print(f"  {name}{status}")
        print(f"    duration {fmt(f['duration_ms'], ' ms')} of which outside EC2 {fmt(f['outside_ec2_ms'], ' ms')}; "
              f"sequential round trips {fmt(f['round_trips'], '', 0)}")
        print(f"    EC2 requests {fmt(f['requests'], '', 0)} {f['by_action']}; peak RSS {fmt(f['peak_rss_mib'], ' MiB')}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
