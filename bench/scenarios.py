"""What the bench runs: the local AWS (moto behind scripts/ec2_proxy.py, 50 ms away), the scenes of
scripts/localaws/scenes.py in it, and the function through each scenario's events, measured."""

import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from runtime import RuntimeApi, peak_rss_kib, spawn, stop

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
sys.path.insert(0, str(ROOT / "scripts"))

from localaws import events, processes, scenes  # noqa: E402

# Every request costs the same latency here: the strict emulator's extra time for a tag write (which
# tests use to show EC2's ConcurrentTagAccess) would make tag writes look slower than the rest.
SAME_LATENCY = {"tag_write_seconds": 0}
GROUP = "bench-group"


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
        self.moto, self.moto_url = processes.start_moto(venv)
        self.proxy, self.proxy_url = processes.start_proxy(self.moto_url)
        self.latency_ms = latency_ms
        self._network = None
        self.ec2 = self.client("ec2")

    def client(self, service):
        import boto3  # from the venv that runs this script

        return boto3.client(service, endpoint_url=self.moto_url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

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
        self._network = None

    def network(self):
        """The VPC and subnets the pairs of a run share (made once after each reset)."""
        if self._network is None:
            self._network = scenes.network(self.ec2)
        return self._network

    def pair(self, standby_running):
        return scenes.pair(self.ec2, standby_running, net=self.network())

    def private_pair(self, eip, destinations, private_ip):
        """A hot pair in one subnet with the endpoints asked for: the Elastic IP, one route table
        with `destinations` routes to the primary's interface, and a secondary private IP."""
        cidrs = [f"10.{100 + i // 250}.{i % 250}.0/24" for i in range(destinations)]
        return scenes.private_pair(self.ec2, eip, cidrs, (scenes.PRIVATE_IP,) if private_ip else (), net=self.network())

    def alarm_in_alarm(self, name, instance):
        """The alarm an alarm payload names, in ALARM about `instance` in CloudWatch: the function
        reads it again before it acts on the payload."""
        cloudwatch = self.client("cloudwatch")
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
            run = self.ec2.run_instances(ImageId=scenes.IMAGE, InstanceType=scenes.INSTANCE_TYPE, MinCount=n,
                                         MaxCount=n, SubnetId=subnet)
            instances += [i["InstanceId"] for i in run["Instances"]]
        for i in range(count):
            alloc = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
            if i % 2 == 0:
                self.ec2.associate_address(AllocationId=alloc, InstanceId=instances[i])

    def holder(self, allocation_id, instances=None):
        """The instance the Elastic IP is on (among `instances`, or all), or None."""
        address = self.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0]
        eni = address.get("NetworkInterfaceId")
        for r in self.ec2.describe_instances(**({"InstanceIds": instances} if instances else {}))["Reservations"]:
            for i in r["Instances"]:
                if any(n["NetworkInterfaceId"] == eni for n in i.get("NetworkInterfaces", [])):
                    return i["InstanceId"]
        return None

    def close(self):
        processes.stop(self.proxy, self.moto)


def invocations(local, bootstrap, env, steps, payload):
    """One process of the function, one invocation per (step, expected verdict), each measured;
    payload(step) sets the scene for the step and gives its event."""
    api = RuntimeApi()
    results = []
    try:
        process, _ = spawn(bootstrap, api, env)
        try:
            for step, verdict in steps:
                kind, seconds, body = api.invoke(payload(step))
                results.append(measure(local, process, kind, seconds, body, verdict))
        finally:
            stop(process)
    finally:
        api.close()
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
    return json.loads(events.pair_event(EVENTS / name, pair))


def group_scene(local, stateful):
    """A tagged single-instance group whose instance the group replaces in us-east-1b, with the two
    hooks (the proxy shows them holding the old and the new instance); with `stateful`, the group's
    data volume (not encrypted) in us-east-1a on the old instance."""
    asg = local.client("autoscaling")
    if stateful:
        scene = scenes.stateful_group(local.ec2, asg, "bench", GROUP, encrypted=False)
    else:
        scene = scenes.group(local.ec2, asg, "bench", GROUP, hooks=True)
    scenes.replace(asg, scene)
    if stateful:
        # moto terminates at once; AWS keeps the instance, and the volume on it, until the hook completes.
        scenes.attach_data(local.ec2, scene)
    return scene


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
    scene = group_scene(local, stateful)
    old, new = scene["INSTANCE_ID"], scene["NEW_INSTANCE_ID"]
    local.control("/_proxy/config", {"latency_ms": 0, "fault_rate": 0, "faults": [], **SAME_LATENCY})
    for hook, instance, transition in (("ec2-failover-launch", new, "launching"),
                                       ("ec2-failover-terminate", old, "terminating")):
        local.control("/_proxy/hold", {"group": GROUP, "hook": hook, "instance": instance, "transition": transition})

    def payload(step):
        if step in ("launch", "terminate"):
            hook, instance = ("ec2-failover-launch", new) if step == "launch" else ("ec2-failover-terminate", old)
            payload = events.hook_event(EVENTS / f"asg-{step}-lifecycle-action.json", GROUP, hook, instance)
        else:
            if step.startswith("ebs-snapshot"):  # the old instance has gone: AWS released the volume
                local.ec2.detach_volume(VolumeId=scene["DATA_VOLUME"], InstanceId=old, Device=scenes.DEVICE)
            if step.startswith("scheduled"):  # a minute later: the attachment is `attached`
                local.control("/_proxy/settle", {})
            # Sent now, as AWS would: an older EBS notification is one the last sweep has seen.
            payload = events.sent_now(json.loads((EVENTS / step).read_text()))
        local.control("/_proxy/config", {"latency_ms": local.latency_ms, "fault_rate": 0, "faults": [], **SAME_LATENCY,
                                         "keep_lifecycle": True})
        return payload

    # As the template deploys it: KEEP_DATA follows KeepData.
    env = {"MODE": "group", "KEEP_DATA": "true" if stateful else "false", "AWS_ENDPOINT_URL": local.proxy_url}
    results = invocations(local, bootstrap, env, steps, payload)
    if local.holder(scene["ALLOCATION_ID"]) != new:
        results[-1].update(ok=False, error="the Elastic IP did not end on the new instance")
    return results


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

def pair_run(local, bootstrap, pair, env, steps):
    """The steps' events about the pair, one process, each invocation with a fresh log."""
    def payload(file):
        local.start_log()
        return event(file, pair)

    return invocations(local, bootstrap, {**pair, "AWS_ENDPOINT_URL": local.proxy_url, **env}, steps, payload)


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
    results = pair_run(local, bootstrap, pair, {"COOLDOWN_SECONDS": "300"}, steps)
    ids = [pair["PRIMARY_INSTANCE_ID"], pair["STANDBY_INSTANCE_ID"]]
    if local.holder(pair["EIP_ALLOCATION_ID"], ids) != pair["STANDBY_INSTANCE_ID"]:
        results[-1].update(ok=False, error="the Elastic IP did not end on the standby")
    return results


ENDPOINT_SCENARIOS = {
    # name: (Elastic IP, route destinations, a private IP); a dead primary, a hot standby.
    "dead primary, hot standby: Elastic IP only": (True, 0, False),
    "dead primary, hot standby: Elastic IP, a route, a private IP": (True, 1, True),
    "dead primary, hot standby: 100 route entries, no Elastic IP": (False, 100, False),
}

ENDPOINT_STEPS = [("ec2-state-change-primary-stopped.json", "fail_over")]


def endpoint_run(local, bootstrap, scenario):
    """One failover of a pair with these endpoints, in a fresh process."""
    eip, destinations, private_ip = ENDPOINT_SCENARIOS[scenario]
    local.reset()
    pair = local.private_pair(eip, destinations, private_ip)
    local.ec2.stop_instances(InstanceIds=[pair["PRIMARY_INSTANCE_ID"]])
    return pair_run(local, bootstrap, pair, {}, ENDPOINT_STEPS)


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
            self.port = processes.free_port()
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
    return pair_run(local, bootstrap, pair, {"HEALTH_CHECK": f"{check}:{services.port}/"} if check else {}, steps)
