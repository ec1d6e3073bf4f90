"""Checks scripts/ec2_proxy.py's strict mode: EC2's instance states, refusals and start failures
over moto's instant ones, against a moto server of its own.

Each test starts from POST /_proxy/config {} (strict, the default timings) and its own instances.
Where AWS would simply take time (pending, stopping, initializing), the tests call
POST /_proxy/settle instead of sleeping; one short test checks the timed expiry itself."""

import json
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROXY = ROOT / "scripts" / "ec2_proxy.py"
ZONE = "us-east-1b"
TYPE = "t3.micro"
IMAGE = "ami-12c6146b"  # as tests/support: moto launches any image id


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, what):
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not listen on {port} within 30 s"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def endpoints():
    """(moto, proxy) base URLs; both servers are killed at teardown."""
    moto_server = ROOT / ".venv" / "bin" / "moto_server"
    moto_server = str(moto_server) if moto_server.exists() else shutil.which("moto_server")
    assert moto_server, "moto_server not found: run `make venv`"
    moto_port, proxy_port = free_port(), free_port()
    processes = []
    try:
        moto = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(moto)
        wait_listening(moto_port, moto, "moto_server")
        proxy = subprocess.Popen([sys.executable, str(PROXY), "--upstream", f"http://127.0.0.1:{moto_port}",
                                  "--port", str(proxy_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(proxy)
        wait_listening(proxy_port, proxy, "ec2_proxy.py")
        yield f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{proxy_port}"
    finally:
        for process in processes:
            process.kill()
            process.wait()


def client(endpoint):
    # One attempt: a refusal must reach the test as it was sent, not after retries (the 500 of
    # InsufficientInstanceCapacity would otherwise be retried).
    return boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


class Local:
    """The proxy's control API, an EC2 client through the proxy and one straight to moto."""

    def __init__(self, moto, proxy):
        self.proxy_url = proxy
        self.ec2 = client(proxy)
        self.moto = client(moto)

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.proxy_url + path, data=data, method="GET" if data is None else "POST")
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def launch(self, stopped=False):
        """A new instance, running (moto starts it at once), or stopped straight in moto."""
        reservation = self.moto.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType=TYPE,
                                              Placement={"AvailabilityZone": ZONE})
        instance = reservation["Instances"][0]["InstanceId"]
        if stopped:
            self.moto.stop_instances(InstanceIds=[instance])
        return instance

    def describe(self, instance, via=None):
        reservations = (via or self.ec2).describe_instances(InstanceIds=[instance])["Reservations"]
        return reservations[0]["Instances"][0]

    def state(self, instance, via=None):
        s = self.describe(instance, via)["State"]
        return s["Name"], s["Code"]

    def status(self, instance, include_all=True):
        """(state, instance check, system check, instance detail, system detail), or None when unlisted."""
        found = self.ec2.describe_instance_status(InstanceIds=[instance], IncludeAllInstances=include_all)
        if not found["InstanceStatuses"]:
            return None
        s = found["InstanceStatuses"][0]
        details = [d.get("Details", [{}])[0].get("Status") for d in (s["InstanceStatus"], s["SystemStatus"])]
        return (s["InstanceState"]["Name"], s["InstanceStatus"]["Status"], s["SystemStatus"]["Status"], *details)


@pytest.fixture(scope="module")
def shared(endpoints):
    return Local(*endpoints)


@pytest.fixture
def local(shared):
    """Strict with the default timings, no transitions, no start failures and an empty log."""
    assert shared.control("/_proxy/config", {}) == {}
    return shared


def refused(call, **kwargs):
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error = raised.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def last(local, action):
    return [e for e in local.control("/_proxy/log") if e["action"] == action][-1]


def test_start_is_pending_until_settled_then_running(local):
    instance = local.launch(stopped=True)
    started = local.ec2.start_instances(InstanceIds=[instance])["StartingInstances"][0]
    assert (started["CurrentState"], started["PreviousState"]) == (
        {"Code": 0, "Name": "pending"}, {"Code": 80, "Name": "stopped"})
    shown = local.describe(instance)
    assert (shown["State"], shown["StateReason"]) == ({"Code": 0, "Name": "pending"},
                                                      {"Code": "pending", "Message": "pending"})
    assert local.state(instance, via=local.moto) == ("running", 16)  # moto itself: running at once
    overlay = local.control("/_proxy/instances")[instance]
    assert (overlay["state"], overlay["checks"], overlay["failure"]) == ("pending", "initializing", None)
    assert abs(overlay["checks_until"] - overlay["until"] - 4.0) < 1e-6  # 4 s initializing follow pending

    # Starting it again while pending changes nothing; AWS says pending -> pending.
    again = local.ec2.start_instances(InstanceIds=[instance])["StartingInstances"][0]
    assert (again["CurrentState"]["Name"], again["PreviousState"]["Name"]) == ("pending", "pending")

    assert local.control("/_proxy/settle", {"instances": [instance]}) == {"settled": [instance]}
    assert local.state(instance) == ("running", 16)
    assert instance not in local.control("/_proxy/instances")
    # Started while running: AWS says running -> running, and starts no transition.
    running = local.ec2.start_instances(InstanceIds=[instance])["StartingInstances"][0]
    assert (running["CurrentState"]["Name"], running["PreviousState"]["Name"]) == ("running", "running")
    assert local.state(instance) == ("running", 16)


def test_stop_is_stopping_until_settled_then_stopped(local):
    instance = local.launch()
    stopping = local.ec2.stop_instances(InstanceIds=[instance])["StoppingInstances"][0]
    assert (stopping["CurrentState"], stopping["PreviousState"]) == (
        {"Code": 64, "Name": "stopping"}, {"Code": 16, "Name": "running"})
    assert local.state(instance) == ("stopping", 64)
    assert local.state(instance, via=local.moto) == ("stopped", 80)
    assert local.status(instance, include_all=False) is None
    assert local.status(instance) == ("stopping", "not-applicable", "not-applicable", None, None)
    again = local.ec2.stop_instances(InstanceIds=[instance])["StoppingInstances"][0]
    assert (again["CurrentState"]["Name"], again["PreviousState"]["Name"]) == ("stopping", "stopping")

    local.control("/_proxy/settle", {})
    assert local.state(instance) == ("stopped", 80)
    stopped = local.ec2.stop_instances(InstanceIds=[instance])["StoppingInstances"][0]
    assert (stopped["CurrentState"]["Name"], stopped["PreviousState"]["Name"]) == ("stopped", "stopped")


def test_status_checks_initialize_after_running_then_ok(local):
    steady = local.launch()
    assert local.status(steady, include_all=False) == ("running", "ok", "ok", "passed", "passed")

    instance = local.launch(stopped=True)
    local.ec2.start_instances(InstanceIds=[instance])
    # Pending: listed only with IncludeAllInstances (AWS lists running instances by default).
    assert local.status(instance, include_all=False) is None
    assert local.status(instance) == ("pending", "initializing", "initializing", "initializing", "initializing")

    # Running with checks still initializing: no pending, a long initialization.
    local.control("/_proxy/config", {"pending_seconds": 0, "initializing_seconds": 60})
    other = local.launch(stopped=True)
    local.ec2.start_instances(InstanceIds=[other])
    assert local.state(other) == ("running", 16)
    for include_all in (False, True):
        assert local.status(other, include_all) == ("running",) + ("initializing",) * 4
    overlay = local.control("/_proxy/instances")[other]
    assert (overlay["state"], overlay["checks"], overlay["until"]) == ("running", "initializing", None)

    local.control("/_proxy/settle", {"instances": [other]})
    assert local.status(other, include_all=False) == ("running", "ok", "ok", "passed", "passed")
    assert local.status(steady) == ("running", "ok", "ok", "passed", "passed")


def test_transitions_end_by_themselves(local):
    """The one test that waits: transitions end after the configured seconds."""
    local.control("/_proxy/config", {"pending_seconds": 0.3, "initializing_seconds": 0.3, "stopping_seconds": 0.3})
    instance, stopping = local.launch(stopped=True), local.launch()
    local.ec2.start_instances(InstanceIds=[instance])
    local.ec2.stop_instances(InstanceIds=[stopping])
    assert local.state(instance) == ("pending", 0) and local.state(stopping) == ("stopping", 64)
    time.sleep(0.35)
    assert local.status(instance)[:3] == ("running", "initializing", "initializing")
    assert local.state(stopping) == ("stopped", 80)
    time.sleep(0.3)
    assert local.status(instance) == ("running", "ok", "ok", "passed", "passed")
    assert local.control("/_proxy/instances") == {}


def test_associate_address_with_a_pending_instance_is_refused(local):
    instance = local.launch(stopped=True)
    allocation = local.ec2.allocate_address(Domain="vpc")["AllocationId"]
    local.ec2.start_instances(InstanceIds=[instance])
    assert refused(local.ec2.associate_address, AllocationId=allocation, InstanceId=instance) == (
        400, "InvalidInstanceID", f"The pending instance '{instance}' is not in a valid state for this operation.")
    assert "AssociationId" not in local.moto.describe_addresses(AllocationIds=[allocation])["Addresses"][0]
    entry = last(local, "AssociateAddress")
    assert (entry["status"], entry.get("emulated"), entry["params"]["InstanceId"]) == (400, True, instance)

    local.control("/_proxy/settle", {"instances": [instance]})
    local.ec2.associate_address(AllocationId=allocation, InstanceId=instance)
    assert local.moto.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["InstanceId"] == instance


def test_associate_address_with_an_interface_of_a_pending_instance_is_refused(local):
    instance, running = local.launch(stopped=True), local.launch()
    interface = local.describe(instance)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    allocation = local.ec2.allocate_address(Domain="vpc")["AllocationId"]
    local.ec2.start_instances(InstanceIds=[instance])
    assert refused(local.ec2.associate_address, AllocationId=allocation, NetworkInterfaceId=interface) == (
        400, "IncorrectInstanceState",
        f"The pending instance to which '{interface}' is attached is not in a valid state for this operation")
    assert "AssociationId" not in local.moto.describe_addresses(AllocationIds=[allocation])["Addresses"][0]
    assert last(local, "AssociateAddress")["status"] == 400
    # The lookup the proxy made of the interface is its own: not in the log.
    assert not [e for e in local.control("/_proxy/log") if e["action"] == "DescribeNetworkInterfaces"]

    # Another instance's interface is not refused while this one is pending.
    other = local.describe(running)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    local.ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=other)
    assert local.moto.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["NetworkInterfaceId"] == other


def test_stopping_a_pending_instance_is_refused(local):
    instance = local.launch(stopped=True)
    local.ec2.start_instances(InstanceIds=[instance])
    assert refused(local.ec2.stop_instances, InstanceIds=[instance]) == (
        400, "IncorrectInstanceState",
        f"Instance '{instance}' cannot be stopped as it has never reached the 'running' state.")
    assert local.state(instance, via=local.moto) == ("running", 16)
    assert local.state(instance) == ("pending", 0)
    assert last(local, "StopInstances")["status"] == 400


def test_starting_a_stopping_instance_is_refused(local):
    instance = local.launch()
    local.ec2.stop_instances(InstanceIds=[instance])
    assert refused(local.ec2.start_instances, InstanceIds=[instance]) == (
        400, "IncorrectInstanceState", f"The instance '{instance}' is not in a state from which it can be started.")
    assert local.state(instance, via=local.moto) == ("stopped", 80)
    assert local.state(instance) == ("stopping", 64)
    assert last(local, "StartInstances")["status"] == 400


def test_insufficient_capacity(local):
    instance = local.launch(stopped=True)
    assert local.control("/_proxy/capacity", {"instance": instance, "failure": "insufficient"}) == {}
    assert refused(local.ec2.start_instances, InstanceIds=[instance]) == (
        500, "InsufficientInstanceCapacity",
        f"We currently do not have sufficient {TYPE} capacity in the Availability Zone you requested ({ZONE}). "
        "Our system will be working on provisioning additional capacity. You can currently get "
        f"{TYPE} capacity by not specifying an Availability Zone in your request or choosing us-east-1a.")
    assert local.state(instance, via=local.moto) == ("stopped", 80)
    assert local.state(instance) == ("stopped", 80)
    entry = last(local, "StartInstances")
    assert (entry["status"], entry.get("emulated")) == (500, True)
    assert local.control("/_proxy/instances")[instance]["failure"] == "insufficient"

    local.control("/_proxy/capacity", {"instance": instance, "failure": None})
    assert local.ec2.start_instances(InstanceIds=[instance])["StartingInstances"][0]["CurrentState"]["Name"] == "pending"
    assert local.state(instance, via=local.moto) == ("running", 16)


def test_a_kms_key_the_caller_may_not_use_stops_the_instance_again(local):
    instance, fine = local.launch(stopped=True), local.launch(stopped=True)
    local.control("/_proxy/capacity", {"instance": instance, "failure": "kms"})
    started = local.ec2.start_instances(InstanceIds=[instance, fine])["StartingInstances"]
    assert {s["InstanceId"]: (s["CurrentState"]["Name"], s["PreviousState"]["Name"]) for s in started} == {
        instance: ("pending", "stopped"), fine: ("pending", "stopped")}
    assert local.state(instance) == ("pending", 0)
    assert local.state(instance, via=local.moto) == ("stopped", 80)  # never reached moto
    assert local.state(fine, via=local.moto) == ("running", 16)  # the other one did
    assert last(local, "StartInstances")["params"] == {"InstanceId.1": instance, "InstanceId.2": fine}

    assert set(local.control("/_proxy/settle", {})["settled"]) == {instance, fine}
    shown = local.describe(instance)
    assert (shown["State"], shown["StateReason"]) == (
        {"Code": 80, "Name": "stopped"},
        {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"})
    assert local.state(fine) == ("running", 16)
    assert local.status(instance) == ("stopped", "not-applicable", "not-applicable", None, None)

    # Alone, it is answered without moto; cleared, the next start reaches moto and the reason goes.
    assert local.ec2.start_instances(InstanceIds=[instance])["StartingInstances"][0]["CurrentState"]["Code"] == 0
    assert last(local, "StartInstances").get("emulated") is True
    local.control("/_proxy/settle", {})
    local.control("/_proxy/capacity", {"instance": instance, "failure": None})
    local.ec2.start_instances(InstanceIds=[instance])
    local.control("/_proxy/settle", {})
    shown = local.describe(instance)
    assert shown["State"]["Name"] == "running" and shown["StateReason"].get("Code") != "Client.InternalError"


def test_state_filters_match_the_states_shown(local):
    instance, running = local.launch(stopped=True), local.launch()
    local.ec2.start_instances(InstanceIds=[instance])

    def found(name, values):
        reservations = local.ec2.describe_instances(
            InstanceIds=[instance, running], Filters=[{"Name": name, "Values": values}])["Reservations"]
        return {i["InstanceId"] for r in reservations for i in r["Instances"]}

    assert found("instance-state-name", ["running"]) == {running}
    assert found("instance-state-name", ["pending"]) == {instance}
    assert found("instance-state-code", ["0", "16"]) == {instance, running}
    assert found("instance-state-name", ["stop*"]) == set()


def test_strict_false_is_moto_at_once(local):
    local.control("/_proxy/config", {"strict": False})
    instance = local.launch(stopped=True)
    allocation = local.ec2.allocate_address(Domain="vpc")["AllocationId"]
    local.ec2.start_instances(InstanceIds=[instance])
    assert local.state(instance) == ("running", 16)
    assert local.status(instance, include_all=False) == ("running", "ok", "ok", "passed", "passed")
    local.ec2.associate_address(AllocationId=allocation, InstanceId=instance)
    assert local.moto.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["InstanceId"] == instance
    local.ec2.stop_instances(InstanceIds=[instance])
    assert local.state(instance) == ("stopped", 80)
    local.ec2.start_instances(InstanceIds=[instance])
    assert local.state(instance) == ("running", 16)
    assert local.control("/_proxy/instances") == {}


def test_config_forgets_transitions_unless_keep_lifecycle(local):
    instance = local.launch(stopped=True)
    local.ec2.start_instances(InstanceIds=[instance])
    local.control("/_proxy/config", {"latency_ms": 0, "keep_lifecycle": True})
    assert local.state(instance) == ("pending", 0)
    local.control("/_proxy/config", {})
    assert local.state(instance) == ("running", 16)


def test_bad_control_requests_are_refused(local):
    for path, body in (("/_proxy/capacity", {"instance": "i-1", "failure": "nope"}),
                       ("/_proxy/capacity", {"failure": "kms"}),
                       ("/_proxy/settle", {"instances": "i-1"}),
                       ("/_proxy/config", {"strict": "yes"}),
                       ("/_proxy/config", {"pending_seconds": -1})):
        with pytest.raises(urllib.error.HTTPError) as raised:
            local.control(path, body)
        assert raised.value.code == 400, (path, body)


def test_log_still_lists_requests(local):
    instance = local.launch()
    local.ec2.describe_instances(InstanceIds=[instance])
    local.ec2.describe_addresses()
    log = local.control("/_proxy/log")
    assert [e["action"] for e in log] == ["DescribeInstances", "DescribeAddresses"]
    assert log[0]["params"] == {"InstanceId.1": instance}
    assert [e["status"] for e in log] == [200, 200] and all(e["end"] >= e["start"] for e in log)
    assert all(e["fault"] is None for e in log)


def test_faults_and_lifecycle_still_work(local, endpoints):
    local.control("/_proxy/config", {"fault_rate": 1, "faults": ["throttle"]})
    assert refused(local.ec2.describe_instances)[:2] == (503, "RequestLimitExceeded")
    local.control("/_proxy/config", {})
    autoscaling = boto3.client("autoscaling", endpoint_url=endpoints[1], region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing",
                               config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    done = {"AutoScalingGroupName": "g", "LifecycleHookName": "h", "InstanceId": "i-0123456789abcdef0"}
    autoscaling.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **done)
    assert local.control("/_proxy/lifecycle") == [
        {"group": "g", "hook": "h", "instance": "i-0123456789abcdef0", "result": "CONTINUE"}]
    assert refused(autoscaling.complete_lifecycle_action, LifecycleActionResult="CONTINUE", **done)[:2] == (
        400, "ValidationError")
