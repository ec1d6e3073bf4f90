"""Checks scripts/ec2_proxy.py's strict mode: EC2's instance states, refusals and start failures
over moto's instant ones, against a moto server of its own.

Each test starts from POST /_proxy/config {} (strict, the default timings, EC2's throttling with
EC2's buckets, all full) and its own instances. Where AWS would simply take time (pending, stopping,
initializing), the tests call POST /_proxy/settle instead of sleeping; one short test checks the
timed expiry itself, and one the refill of a throttling bucket (under a second).

The tests at the end check the CloudWatch bridge (Smithy RPC v2 CBOR in front of moto's JSON
protocol): its CBOR codec against RFC 8949 Appendix A, its tables against botocore's CloudWatch
model, and the bridge itself with botocore's own rpcv2Cbor client (botocore picks JSON for
CloudWatch; the fixture gives it a copy of the model that lists CBOR only) and with raw requests."""

import concurrent.futures
import datetime
import gzip
import ipaddress
import json
import math
import pathlib
import sys
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree

import boto3
import botocore
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from localaws import cbor, processes, scenes  # noqa: E402
from localaws import cloudwatch as bridge  # noqa: E402  its tables, for the tests that need no server

ZONE = "us-east-1b"
TYPE, IMAGE = scenes.INSTANCE_TYPE, scenes.IMAGE  # as tests/support: moto launches any image id


@pytest.fixture(scope="module")
def endpoints():
    """(moto, proxy) base URLs: moto and scripts/ec2_proxy.py in front of it, both killed at teardown."""
    started = []
    try:
        moto, moto_url = processes.start_moto()
        started.append(moto)
        proxy, proxy_url = processes.start_proxy(moto_url)
        started.append(proxy)
        yield moto_url, proxy_url
    finally:
        processes.stop(*started)


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


@pytest.mark.parametrize("kind, iops, throughput, refusal", [
    ("gp2", 100, None, "The parameter iops is not supported for gp2 volumes."),
    ("st1", 500, None, "The parameter iops is not supported for st1 volumes."),
    ("sc1", 250, None, "The parameter iops is not supported for sc1 volumes."),
    ("standard", 100, None, "The parameter iops is not supported for standard volumes."),
    ("io1", None, None, "The parameter iops must be specified for io1 volumes."),
    ("io2", None, None, "The parameter iops must be specified for io2 volumes."),
    ("io2", 4000, 250, "throughput can only be specified for volumeType gp3."),
    ("gp2", None, 125, "throughput can only be specified for volumeType gp3."),
    ("gp3", 3000, 125, None),
    ("gp3", None, None, None),
    ("gp2", None, None, None),
    ("io1", 1000, None, None),
    ("io2", 1000, None, None),
    ("st1", None, None, None),
    ("sc1", None, None, None),
    ("standard", None, None, None),
])
def test_create_volume_refuses_what_aws_refuses_for_each_volume_type(local, kind, iops, throughput, refusal):
    kwargs = {"AvailabilityZone": "us-east-1a", "Size": 500, "VolumeType": kind}
    if iops is not None:
        kwargs["Iops"] = iops
    if throughput is not None:
        kwargs["Throughput"] = throughput
    before = len(local.moto.describe_volumes()["Volumes"])
    if refusal is None:
        local.ec2.create_volume(**kwargs)
        assert len(local.moto.describe_volumes()["Volumes"]) == before + 1
    else:
        assert refused(local.ec2.create_volume, **kwargs) == (400, "InvalidParameterCombination", refusal)
        assert len(local.moto.describe_volumes()["Volumes"]) == before


def attachment(local, volume, via=None):
    attachments = (via or local.ec2).describe_volumes(VolumeIds=[volume])["Volumes"][0]["Attachments"]
    return [(a["InstanceId"], a["State"]) for a in attachments]


def test_an_attachment_is_attaching_until_settled_then_attached(local):
    instance = local.launch()
    volume = local.moto.create_volume(AvailabilityZone=ZONE, Size=8)["VolumeId"]
    answer = local.ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/xvdf")
    assert answer["State"] == "attaching"
    assert attachment(local, volume) == [(instance, "attaching")]
    assert attachment(local, volume, via=local.moto) == [(instance, "attached")]  # moto: at once
    assert local.control("/_proxy/settle", {"instances": [volume]}) == {"settled": [volume]}
    assert attachment(local, volume) == [(instance, "attached")]


def test_an_attachment_ends_attaching_by_itself(local):
    local.control("/_proxy/config", {"attaching_seconds": 0.2})
    instance = local.launch()
    volume = local.moto.create_volume(AvailabilityZone=ZONE, Size=8)["VolumeId"]
    local.ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/xvdf")
    assert attachment(local, volume) == [(instance, "attaching")]
    time.sleep(0.3)
    assert attachment(local, volume) == [(instance, "attached")]


def test_attach_volume_refuses_what_aws_refuses(local):
    instance, other = local.launch(), local.launch()
    elsewhere = local.moto.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    assert refused(local.ec2.attach_volume, VolumeId=elsewhere, InstanceId=instance, Device="/dev/xvdf") == (
        400, "InvalidVolume.ZoneMismatch",
        f"The volume '{elsewhere}' is not in the same availability zone as instance '{instance}'")
    assert attachment(local, elsewhere, via=local.moto) == []

    volume = local.moto.create_volume(AvailabilityZone=ZONE, Size=8)["VolumeId"]
    local.ec2.attach_volume(VolumeId=volume, InstanceId=other, Device="/dev/xvdf")
    assert refused(local.ec2.attach_volume, VolumeId=volume, InstanceId=instance, Device="/dev/xvdg") == (
        400, "VolumeInUse", f"{volume} is already attached to an instance")

    free = local.moto.create_volume(AvailabilityZone=ZONE, Size=8)["VolumeId"]
    stopped = local.launch(stopped=True)
    local.ec2.start_instances(InstanceIds=[stopped])
    assert refused(local.ec2.attach_volume, VolumeId=free, InstanceId=stopped, Device="/dev/xvdf") == (
        400, "IncorrectState", f"Instance '{stopped}' is not 'running'.")
    local.control("/_proxy/settle", {"instances": [stopped]})
    local.ec2.attach_volume(VolumeId=free, InstanceId=stopped, Device="/dev/xvdf")
    assert attachment(local, free, via=local.moto) == [(stopped, "attached")]
    assert last(local, "AttachVolume")["status"] == 200


def test_scheduled_events_are_listed_with_the_status(local):
    instance, other = local.launch(), local.launch()
    when = time.time() + 3600
    local.control("/_proxy/scheduled-event", {"instance": instance, "code": "instance-retirement", "not_before": when})
    local.control("/_proxy/scheduled-event", {"instance": instance, "code": "system-reboot", "not_before": when,
                                              "description": "[Completed] scheduled reboot"})
    statuses = local.ec2.describe_instance_status(InstanceIds=[instance, other])["InstanceStatuses"]
    events = {s["InstanceId"]: s.get("Events", []) for s in statuses}
    assert [(e["Code"], e["Description"]) for e in events[instance]] == [
        ("instance-retirement", "instance-retirement"), ("system-reboot", "[Completed] scheduled reboot")]
    assert abs(events[instance][0]["NotBefore"].timestamp() - when) < 1
    assert events[other] == []
    local.control("/_proxy/scheduled-event", {"instance": instance, "code": None})
    statuses = local.ec2.describe_instance_status(InstanceIds=[instance])["InstanceStatuses"]
    assert statuses[0].get("Events", []) == []
    with pytest.raises(urllib.error.HTTPError):
        local.control("/_proxy/scheduled-event", {"instance": instance, "code": "meteor-strike"})


def test_the_network_shows_where_the_function_reaches_an_instance(local):
    instance, other = local.launch(), local.launch()
    real = local.moto.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    local.control("/_proxy/network", {"instance": instance, "private_ip": "127.0.0.2"})
    # It outlives /_proxy/config, like the VPC it stands for.
    local.control("/_proxy/config", {})
    shown = {i["InstanceId"]: i for r in local.ec2.describe_instances(InstanceIds=[instance, other])["Reservations"]
             for i in r["Instances"]}
    assert shown[instance]["PrivateIpAddress"] == "127.0.0.2"
    assert shown[other]["PrivateIpAddress"] != "127.0.0.2"
    # Only the instance's own address: its interfaces say what moto says.
    assert shown[instance]["NetworkInterfaces"][0]["PrivateIpAddress"] == real["NetworkInterfaces"][0]["PrivateIpAddress"]
    local.control("/_proxy/network", {"instance": instance, "private_ip": None})
    again = local.ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert again["PrivateIpAddress"] == real["PrivateIpAddress"]
    with pytest.raises(urllib.error.HTTPError):
        local.control("/_proxy/network", {"instance": instance, "private_ip": "not an address"})


def test_a_private_ip_moves_between_interfaces_only_with_allow_reassignment(local):
    one, two = local.launch(), local.launch()
    eni = {i: local.describe(i)["NetworkInterfaces"][0]["NetworkInterfaceId"] for i in (one, two)}
    subnet_cidr = local.moto.describe_subnets(SubnetIds=[local.describe(one)["SubnetId"]])["Subnets"][0]["CidrBlock"]
    base = subnet_cidr.split("/")[0].rsplit(".", 1)[0]
    address = f"{base}.200"
    local.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni[one], PrivateIpAddresses=[address])

    def holders():
        # Through the emulator: its filter matches secondary addresses, as EC2's does.
        found = local.ec2.describe_network_interfaces(
            Filters=[{"Name": "addresses.private-ip-address", "Values": [address]}])["NetworkInterfaces"]
        return sorted(n["NetworkInterfaceId"] for n in found)

    assert holders() == [eni[one]]
    assert refused(local.ec2.assign_private_ip_addresses, NetworkInterfaceId=eni[two], PrivateIpAddresses=[address]) == (
        400, "InvalidIPAddress.InUse", f"Address {address} is in use.")
    assert holders() == [eni[one]]
    local.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni[two], PrivateIpAddresses=[address], AllowReassignment=True)
    assert holders() == [eni[two]]
    # An address outside the interface's subnet, as a cross-AZ pair's other member would ask for.
    network = ipaddress.ip_network(subnet_cidr)
    outside = str(network.broadcast_address + 200)
    assert refused(local.ec2.assign_private_ip_addresses, NetworkInterfaceId=eni[two], PrivateIpAddresses=[outside],
                   AllowReassignment=True)[1] == "InvalidParameterValue"


def test_simultaneous_tag_writes_to_one_resource_are_refused(local):
    import concurrent.futures

    address = local.ec2.allocate_address(Domain="vpc")["AllocationId"]
    other = local.ec2.allocate_address(Domain="vpc")["AllocationId"]
    local.control("/_proxy/config", {"tag_write_seconds": 0.5})

    def write(resource, key):
        try:
            local.ec2.create_tags(Resources=[resource], Tags=[{"Key": key, "Value": "v"}])
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        first = pool.submit(write, address, "a")
        time.sleep(0.2)  # the first write is under way
        second, elsewhere = pool.submit(write, address, "b"), pool.submit(write, other, "c")
        results = (first.result(), second.result(), elsewhere.result())
    assert results == ("ok", "ConcurrentTagAccess", "ok")
    tags = {t["Key"] for t in local.moto.describe_addresses(AllocationIds=[address])["Addresses"][0].get("Tags", [])}
    assert tags == {"a"}, "the refused write changed nothing"
    assert write(address, "b") == "ok", "one after the other is fine"


def test_an_outage_fails_what_it_covers_until_cleared(local):
    local.control("/_proxy/outage", {"service": "ec2", "region": "us-east-1", "action": "DescribeAddresses",
                                     "fault": "unavailable"})
    with pytest.raises(ClientError) as raised:
        local.ec2.describe_addresses()
    assert raised.value.response["Error"]["Code"] == "Unavailable"
    local.ec2.describe_vpcs()  # another action is not covered
    elsewhere = boto3.client("ec2", endpoint_url=local.ec2.meta.endpoint_url, region_name="us-west-2",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
    elsewhere.describe_addresses()  # nor another region
    assert local.control("/_proxy/outage", {"clear": True}) == {}
    local.ec2.describe_addresses()
    with pytest.raises(urllib.error.HTTPError):
        local.control("/_proxy/outage", {"fault": "melted"})


def test_an_instance_of_a_one_time_spot_request_cannot_be_stopped(local):
    one_time, persistent = local.launch(), local.launch()
    local.control("/_proxy/spot", {"instance": one_time, "type": "one-time"})
    local.control("/_proxy/spot", {"instance": persistent, "type": "persistent"})
    seen = local.describe(one_time)
    assert seen["InstanceLifecycle"] == "spot" and seen["SpotInstanceRequestId"].startswith("sir-")
    requests = local.ec2.describe_spot_instance_requests(
        Filters=[{"Name": "instance-id", "Values": [one_time, persistent]}])["SpotInstanceRequests"]
    assert sorted((r["InstanceId"], r["Type"]) for r in requests) == sorted([(one_time, "one-time"),
                                                                            (persistent, "persistent")])
    by_id = local.ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[seen["SpotInstanceRequestId"]])
    assert [r["Type"] for r in by_id["SpotInstanceRequests"]] == ["one-time"]
    code = refused(local.ec2.stop_instances, InstanceIds=[one_time])[1]
    assert code == "UnsupportedOperation"
    assert local.state(one_time) == ("running", 16)
    local.ec2.stop_instances(InstanceIds=[persistent])
    assert local.state(persistent) == ("stopping", 64)
    local.control("/_proxy/spot", {"instance": one_time, "type": None})
    assert "InstanceLifecycle" not in local.describe(one_time)


def test_modifying_one_metadata_option_keeps_the_others(local):
    instance = local.moto.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType=TYPE,
                                        MetadataOptions={"HttpTokens": "required"})["Instances"][0]["InstanceId"]
    assert local.describe(instance)["MetadataOptions"]["InstanceMetadataTags"] == "disabled"
    local.ec2.modify_instance_metadata_options(InstanceId=instance, InstanceMetadataTags="enabled")
    options = local.describe(instance)["MetadataOptions"]
    assert (options["InstanceMetadataTags"], options["HttpTokens"]) == ("enabled", "required")


def test_reads_right_after_a_move_may_show_the_old_association(local):
    one, two = local.launch(), local.launch()
    address = local.ec2.allocate_address(Domain="vpc")["AllocationId"]
    local.ec2.associate_address(AllocationId=address, InstanceId=one)
    local.control("/_proxy/config", {"stale_read_seconds": 1})
    local.ec2.associate_address(AllocationId=address, InstanceId=two, AllowReassociation=True)
    local.ec2.create_tags(Resources=[address], Tags=[{"Key": "k", "Value": "v"}])
    seen = local.ec2.describe_addresses(AllocationIds=[address])["Addresses"][0]
    assert seen["InstanceId"] == one, "stale for a moment"
    assert {t["Key"] for t in seen.get("Tags", [])} == {"k"}, "the tags are not"
    time.sleep(1.1)
    assert local.ec2.describe_addresses(AllocationIds=[address])["Addresses"][0]["InstanceId"] == two


def test_stopping_a_pending_instance_is_refused(local):
    instance = local.launch(stopped=True)
    local.ec2.start_instances(InstanceIds=[instance])
    assert refused(local.ec2.stop_instances, InstanceIds=[instance]) == (
        400, "IncorrectInstanceState",
        f"Instance '{instance}' cannot be stopped as it has never reached the 'running' state.")
    assert local.state(instance, via=local.moto) == ("running", 16)
    assert local.state(instance) == ("pending", 0)
    assert last(local, "StopInstances")["status"] == 400


def test_a_forced_stop_ends_a_stop_that_hangs(local):
    instance = local.launch()
    local.ec2.stop_instances(InstanceIds=[instance])
    assert local.state(instance) == ("stopping", 64)
    again = local.ec2.stop_instances(InstanceIds=[instance])["StoppingInstances"][0]
    assert again["CurrentState"]["Name"] == "stopping"
    forced = local.ec2.stop_instances(InstanceIds=[instance], Force=True, SkipOsShutdown=True)["StoppingInstances"][0]
    assert forced["CurrentState"]["Name"] == "stopped"
    assert local.state(instance) == ("stopped", 80)
    entry = last(local, "StopInstances")
    assert (entry["params"]["Force"], entry["params"]["SkipOsShutdown"]) == ("true", "true")


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


def test_a_dark_zone_runs_on_without_status_data_and_starts_nothing(local):
    # EC2 goes on saying its instances run; it has no data for their checks, and no start there.
    running, stopped = local.launch(), local.launch(stopped=True)
    assert local.control("/_proxy/dark-zone", {"zone": ZONE}) == {}
    assert local.state(running) == ("running", 16)
    assert local.status(running, include_all=False) == ("running",) + ("insufficient-data",) * 4
    assert refused(local.ec2.start_instances, InstanceIds=[stopped])[:2] == (500, "InsufficientInstanceCapacity")
    assert local.state(stopped, via=local.moto) == ("stopped", 80)
    # Another zone is not dark; nor is this one once it comes back.
    local.control("/_proxy/dark-zone", {"zone": "us-east-1a"})
    local.control("/_proxy/dark-zone", {"zone": ZONE, "dark": False})
    assert local.status(running, include_all=False) == ("running", "ok", "ok", "passed", "passed")
    assert local.ec2.start_instances(InstanceIds=[stopped])["StartingInstances"][0]["CurrentState"]["Name"] == "pending"
    for bad in ({"zone": ""}, {"zone": ZONE, "dark": "yes"}, {}):
        with pytest.raises(urllib.error.HTTPError):
            local.control("/_proxy/dark-zone", bad)


def test_zonal_shifts_are_answered_from_what_the_scene_sets(local):
    arc = boto3.client("arc-zonal-shift", endpoint_url=local.proxy_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    assert arc.list_zonal_shifts(status="ACTIVE")["items"] == []
    local.control("/_proxy/zonal-shift", {"away_from": "use1-az1", "type": "PRACTICE_RUN", "id": "zs-1"})
    local.control("/_proxy/zonal-shift", {"away_from": "use1-az2", "status": "EXPIRED"})
    local.control("/_proxy/autoshift", {"away_from": "use1-az4"})
    [shift] = arc.list_zonal_shifts(status="ACTIVE")["items"]
    assert (shift["zonalShiftId"], shift["awayFrom"], shift["shiftType"], shift["status"]) == (
        "zs-1", "use1-az1", "PRACTICE_RUN", "ACTIVE")
    assert len(arc.list_zonal_shifts()["items"]) == 2
    [auto] = arc.list_autoshifts(status="ACTIVE")["items"]
    assert auto["awayFrom"] == "use1-az4" and auto["status"] == "ACTIVE"
    assert last(local, "ListAutoshifts")["status"] == 200
    # An outage of the service covers it, in the service's own error shape.
    local.control("/_proxy/outage", {"service": "arc-zonal-shift", "fault": "throttle"})
    with pytest.raises(ClientError) as raised:
        arc.list_zonal_shifts(status="ACTIVE")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    local.control("/_proxy/outage", {"clear": True})
    local.control("/_proxy/zonal-shift", {"clear": True})
    assert arc.list_zonal_shifts()["items"] == []
    with pytest.raises(urllib.error.HTTPError):
        local.control("/_proxy/zonal-shift", {"away_from": "use1-az1", "type": "SIDEWAYS"})


def test_a_volume_initialization_rate_needs_a_snapshot_and_100_to_300(local):
    assert refused(local.ec2.create_volume, AvailabilityZone=ZONE, Size=1, VolumeInitializationRate=200)[:2] == (
        400, "InvalidParameterCombination")
    volume = local.moto.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    snapshot = local.moto.create_snapshot(VolumeId=volume)["SnapshotId"]
    for rate in (99, 301):
        assert refused(local.ec2.create_volume, AvailabilityZone=ZONE, SnapshotId=snapshot,
                       VolumeInitializationRate=rate)[:2] == (400, "InvalidParameterValue")
    assert local.ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot, VolumeInitializationRate=300)["VolumeId"]


def test_capacity_may_lack_for_one_type_and_a_type_changes_only_while_stopped(local):
    instance = local.launch(stopped=True)
    local.control("/_proxy/capacity", {"instance": instance, "failure": "insufficient", "types": [TYPE]})
    assert refused(local.ec2.start_instances, InstanceIds=[instance])[:2] == (500, "InsufficientInstanceCapacity")
    local.ec2.modify_instance_attribute(InstanceId=instance, InstanceType={"Value": "t3.small"})
    assert local.ec2.start_instances(InstanceIds=[instance])["StartingInstances"][0]["CurrentState"]["Name"] == "pending"
    assert refused(local.ec2.modify_instance_attribute, InstanceId=instance, InstanceType={"Value": TYPE}) == (
        400, "IncorrectInstanceState", f"The instance '{instance}' is not in the 'stopped' state.")
    with pytest.raises(urllib.error.HTTPError):
        local.control("/_proxy/capacity", {"instance": instance, "failure": "kms", "types": [TYPE]})


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



# EC2's request throttling (localaws/throttle.py): each action's token buckets, EC2's numbers.

# The proxy reads the service and Region from the credential scope; moto checks no signature.
SIGNED_EC2 = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host, "
              "Signature=0")


def burst(call, n, threads=16):
    """call() n times from threads at once: ([its results], [(status, code, message) refused]), and
    the seconds the burst took."""

    def one(_):
        try:
            return call(), None
        except ClientError as e:
            error = e.response
            status = error["ResponseMetadata"]["HTTPStatusCode"]
            return None, (status, error["Error"]["Code"], error["Error"]["Message"])

    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(one, range(n)))
    took = time.monotonic() - began
    return [r for r, e in outcomes if e is None], [e for _, e in outcomes if e is not None], took


def addresses(local):
    return {a["AllocationId"] for a in local.moto.describe_addresses()["Addresses"]}


def release(local, allocations):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda allocation: local.moto.release_address(AllocationId=allocation), allocations))


def test_a_burst_beyond_a_mutating_bucket_is_request_limit_exceeded_and_stays_out_of_moto(local):
    """AllocateAddress, a mutating action: a bucket of 50 tokens refilled at 5 a second (AWS's page)."""
    before = addresses(local)
    allocated, refusals, took = burst(lambda: local.ec2.allocate_address(Domain="vpc")["AllocationId"], 80)
    try:
        assert len(allocated) + len(refusals) == 80
        assert 50 <= len(allocated) <= 50 + 5 * took, (len(allocated), took)
        assert refusals and set(refusals) == {(503, "RequestLimitExceeded", "Request limit exceeded.")}
        # What was refused never reached moto: moto holds exactly the addresses the proxy let through.
        assert addresses(local) - before == set(allocated)
        log = [e for e in local.control("/_proxy/log") if e["action"] == "AllocateAddress"]
        throttled = [e for e in log if e.get("throttled")]
        assert len(throttled) == len(refusals) and {e["bucket"] for e in throttled} == {"AllocateAddress"}
        assert all(e["status"] == 503 and e["fault"] is None for e in throttled)
        assert all(e["status"] == 200 for e in log if not e.get("throttled"))
        # EC2's error as it is on the wire: HTTP 503 and EC2's Query error XML. Scaled to a fiftieth,
        # the bucket holds one token and gets 0.1 a second: empty after one request.
        local.control("/_proxy/config", {"ec2_throttle_scale": 0.02})
        allocated.append(local.ec2.allocate_address(Domain="vpc")["AllocationId"])
        request = urllib.request.Request(local.proxy_url + "/", data=b"Action=AllocateAddress&Version=2016-11-15",
                                         headers={"Authorization": SIGNED_EC2,
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request)
        assert raised.value.code == 503 and raised.value.headers["Content-Type"].startswith("text/xml")
        error = ElementTree.fromstring(raised.value.read())
        assert error.tag == "Response" and error.findtext("Errors/Error/Code") == "RequestLimitExceeded"
        assert error.findtext("Errors/Error/Message") == "Request limit exceeded." and error.findtext("RequestID")
        assert addresses(local) - before == set(allocated)
    finally:
        release(local, allocated)


def test_a_bucket_refills_at_its_rate_and_config_refills_it(local):
    """RunInstances: 5 tokens, 2 a second (AWS's page). Once empty, paced requests get about two a
    second through; POST /_proxy/config fills it again."""
    run = lambda: local.ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType=TYPE)
    launched, refusals, took = burst(run, 8)
    assert 5 <= len(launched) <= 5 + 2 * took and refusals, (len(launched), took)
    # Empty now (less than one token). Paced for 0.75 s: 1.5 tokens more, so one or two get through.
    passed, began = [], time.monotonic()
    while time.monotonic() - began < 0.75:
        outcome = burst(run, 1)[0]
        passed += outcome
        time.sleep(0.05)
    paced = time.monotonic() - began
    assert 1 <= len(passed) <= 1 + 2 * paced, (len(passed), paced)
    local.control("/_proxy/config", {})
    again, refusals, took = burst(run, 5, threads=5)
    assert len(again) == 5 and not refusals, "a new configuration fills every bucket"
    ids = [i["InstanceId"] for r in launched + passed + again for i in r["Instances"]]
    local.moto.terminate_instances(InstanceIds=ids)


def test_reads_and_mutating_actions_have_separate_buckets(local, endpoints):
    """Scaled to a tenth (ec2_throttle_scale): DescribeInstances unfiltered 5 tokens, filtered 10,
    AllocateAddress 5. Emptying one bucket throttles its requests only: not the other action, not
    the same read with a filter, not another Region, not Auto Scaling."""
    local.control("/_proxy/config", {"ec2_throttle_scale": 0.1})
    read = lambda: local.ec2.describe_instances()
    reads, refusals, took = burst(read, 12)
    emptied = time.monotonic()
    assert 5 <= len(reads) <= 5 + took and refusals, (len(reads), took)
    assert {e["bucket"] for e in local.control("/_proxy/log") if e.get("throttled")} == {
        "DescribeInstances (unfiltered)"}
    allocated, refused_writes, took = burst(lambda: local.ec2.allocate_address(Domain="vpc")["AllocationId"], 8)
    try:
        assert 5 <= len(allocated) <= 5 + took / 2 and refused_writes, "the write has its own bucket, full"
        # The read's bucket is still empty but for what refilled since: less than one token when the
        # burst's last request was refused, one a second after (a loaded machine stretches both).
        later = burst(read, 4)[0]
        assert len(later) <= 2 + (time.monotonic() - emptied), "the read's bucket is still empty"
        running = [{"Name": "instance-state-name", "Values": ["running"]}]
        filtered = lambda: local.ec2.describe_instances(Filters=running)
        assert len(burst(filtered, 10)[0]) == 10, "a filtered read takes from the action's standard bucket"
        local.ec2.describe_addresses()  # another read, its own bucket
        elsewhere = boto3.client("ec2", endpoint_url=local.proxy_url, region_name="us-west-2",
                                 aws_access_key_id="testing", aws_secret_access_key="testing", config=NO_RETRIES)
        elsewhere.describe_instances()  # another Region's buckets
        autoscaling = boto3.client("autoscaling", endpoint_url=endpoints[1], region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing", config=NO_RETRIES)
        assert len(burst(autoscaling.describe_auto_scaling_groups, 30)[0]) == 30, "Auto Scaling is not EC2"
    finally:
        release(local, allocated)


def test_throttling_turned_off_lets_every_request_through(local):
    local.control("/_proxy/config", {"ec2_throttle": False, "ec2_throttle_scale": 0.1})
    allocated, refusals, _ = burst(lambda: local.ec2.allocate_address(Domain="vpc")["AllocationId"], 12)
    try:
        assert len(allocated) == 12 and not refusals
        assert not any(e.get("throttled") for e in local.control("/_proxy/log"))
        local.control("/_proxy/config", {"ec2_throttle_scale": 0.1})  # on again: 5 tokens
        more, refusals, took = burst(lambda: local.ec2.allocate_address(Domain="vpc")["AllocationId"], 8)
        allocated += more
        assert 5 <= len(more) <= 5 + took / 2 and refusals
    finally:
        release(local, allocated)


def test_bad_throttle_settings_are_refused(local):
    for body in ({"ec2_throttle": "no"}, {"ec2_throttle": 0}, {"ec2_throttle_scale": 0},
                 {"ec2_throttle_scale": -1}, {"ec2_throttle_scale": "fast"}, {"ec2_throttle_scale": True}):
        with pytest.raises(urllib.error.HTTPError) as raised:
            local.control("/_proxy/config", body)
        assert raised.value.code == 400, body



# The CloudWatch bridge: Smithy RPC v2 CBOR in front of moto's awsJson1_0.

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:ec2-failover"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})

# RFC 8949 Appendix A: (value, its encoding). The encoder (shortest floats, as the RFC's preferred
# serialization) must give these bytes and the decoder this value.
RFC8949_EXAMPLES = [
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"), (100, "1864"), (1000, "1903e8"),
    (1000000, "1a000f4240"), (1000000000000, "1b000000e8d4a51000"), (18446744073709551615, "1bffffffffffffffff"),
    (18446744073709551616, "c249010000000000000000"), (-18446744073709551616, "3bffffffffffffffff"),
    (-18446744073709551617, "c349010000000000000000"), (-1, "20"), (-10, "29"), (-100, "3863"), (-1000, "3903e7"),
    (0.0, "f90000"), (-0.0, "f98000"), (1.0, "f93c00"), (1.1, "fb3ff199999999999a"), (1.5, "f93e00"),
    (65504.0, "f97bff"), (100000.0, "fa47c35000"), (3.4028234663852886e+38, "fa7f7fffff"),
    (1.0e+300, "fb7e37e43c8800759c"), (5.960464477539063e-8, "f90001"), (0.00006103515625, "f90400"),
    (-4.0, "f9c400"), (-4.1, "fbc010666666666666"), (math.inf, "f97c00"), (-math.inf, "f9fc00"),
    (False, "f4"), (True, "f5"), (None, "f6"), (cbor.UNDEFINED, "f7"), (cbor.Simple(16), "f0"),
    (cbor.Simple(255), "f8ff"),
    (cbor.Tagged(0, "2013-03-21T20:04:00Z"), "c074323031332d30332d32315432303a30343a30305a"),
    (cbor.Tagged(1, 1363896240), "c11a514b67b0"), (cbor.Tagged(1, 1363896240.5), "c1fb41d452d9ec200000"),
    (cbor.Tagged(23, b"\x01\x02\x03\x04"), "d74401020304"),
    (cbor.Tagged(24, b"dIETF"), "d818456449455446"),
    (cbor.Tagged(32, "http://www.example.com"), "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"), ("", "60"), ("a", "6161"), ("IETF", "6449455446"),
    ("\"\\", "62225c"), ("\u00fc", "62c3bc"), ("\u6c34", "63e6b0b4"), ("\U00010151", "64f0908591"),
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"), ({1: 2, 3: 4}, "a201020304"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"}, "a56161614161626142616361436164614461656145"),
]
# Appendix A's indefinite-length items and non-preferred floats: decoded only.
RFC8949_DECODE_ONLY = [
    ("5f42010243030405ff", b"\x01\x02\x03\x04\x05"), ("7f657374726561646d696e67ff", "streaming"), ("9fff", []),
    ("9f018202039f0405ffff", [1, [2, 3], [4, 5]]), ("9f01820203820405ff", [1, [2, 3], [4, 5]]),
    ("83018202039f0405ff", [1, [2, 3], [4, 5]]), ("83019f0203ff820405", [1, [2, 3], [4, 5]]),
    ("9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", list(range(1, 26))),
    ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}), ("826161bf61626163ff", ["a", {"b": "c"}]),
    ("bf6346756ef563416d7421ff", {"Fun": True, "Amt": -2}),
    ("fa7f800000", math.inf), ("fb7ff0000000000000", math.inf), ("faff800000", -math.inf),
    ("fbfff0000000000000", -math.inf),
]


def same(a, b):
    """Equal, and of the same types all the way down (1 is not 1.0 nor True; -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def test_cbor_codec_matches_rfc8949_appendix_a():
    for value, encoded in RFC8949_EXAMPLES:
        assert cbor.cbor_encode(value, floats="shortest").hex() == encoded, value
        assert same(cbor.cbor_decode(bytes.fromhex(encoded)), value), encoded
    for encoded, value in RFC8949_DECODE_ONLY:
        assert same(cbor.cbor_decode(bytes.fromhex(encoded)), value), encoded
    for nan in ("f97e00", "fa7fc00000", "fb7ff8000000000000"):
        assert math.isnan(cbor.cbor_decode(bytes.fromhex(nan)))
    assert cbor.cbor_encode(math.nan, floats="shortest").hex() == "f97e00"


def test_cbor_codec_round_trips_and_refuses_what_is_not_well_formed():
    value = {"AlarmNames": ["a", "\u00fc" * 300], "MaxRecords": 100, "Big": -(1 << 70), "Empty": {}, "Flag": False,
             "At": cbor.Tagged(1, 1700000000.25), "Blob": bytes(range(256)) * 300, "Nothing": None,
             "Floats": [0.1, -2.5, 1e300, 65504.0], "Nested": [[[]], {"k": [cbor.UNDEFINED, cbor.Simple(99)]}]}
    for floats in ("double", "shortest"):
        assert same(cbor.cbor_decode(cbor.cbor_encode(value, floats=floats)), value)
    # The bridge's encoding: every float in 8 bytes (RPC v2 asks for no half precision).
    assert cbor.cbor_encode(1.5).hex() == "fb3ff8000000000000"
    assert cbor.cbor_encode(cbor.Tagged(1, 1363896240.5)).hex() == "c1fb41d452d9ec200000"
    for malformed in ("", "18", "1a0000", "62c3", "ff", "0000", "1c", "3f", "1f", "df00", "fc", "8201", "82ff01",
                      "9f", "bf01ff", "a1ff01", "a201020103", "f818", "c1", "c1ff", "62c328", "5f6161ff",
                      "7f4161ff", "7f7f6161ffff"):
        with pytest.raises(cbor.CBORError):
            cbor.cbor_decode(bytes.fromhex(malformed))


def cloudwatch_model():
    path = next(pathlib.Path(botocore.__file__).parent.glob("data/cloudwatch/*/service-2.json*"))
    with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as f:
        return json.load(f)


def test_cloudwatch_tables_match_botocore_model():
    """The proxy's tables say what botocore's CloudWatch model says: the output members JSON
    cannot type (a member name never has two types in outputs), the operations without output,
    and the error shapes whose message member is Message."""
    model = cloudwatch_model()
    shapes, operations = model["shapes"], model["operations"]
    assert model["metadata"]["targetPrefix"] == bridge.CLOUDWATCH_TARGET
    assert "smithy-rpc-v2-cbor" in model["metadata"]["protocols"] and "awsQueryCompatible" in model["metadata"]

    def kind(member):
        shape = shapes[member["shape"]]
        inner = shapes[shape["member"]["shape"]]["type"] if shape["type"] == "list" else None
        value = shapes[shape["value"]["shape"]]["type"] if shape["type"] == "map" else None
        return {"timestamp": "timestamp", "blob": "blob", "double": "double", "float": "double"}.get(shape["type"]) or {
            ("list", "timestamp"): "timestamp-list", ("list", "double"): "double-list",
            ("map", "double"): "double-map", ("map", "string"): "string-map"}.get((shape["type"], inner or value))

    found, seen = {}, set()
    todo = [o["output"]["shape"] for o in operations.values() if "output" in o]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        if shape["type"] == "structure":
            for member_name, member in shape["members"].items():
                found.setdefault(member_name, set()).add(kind(member))
                todo.append(member["shape"])
        elif shape["type"] == "list":
            todo.append(shape["member"]["shape"])
        elif shape["type"] == "map":
            todo.append(shape["value"]["shape"])
    assert {n: k for n, k in found.items() if len(k) > 1 and k - {None}} == {}
    assert {n: k.pop() for n, k in found.items() if k != {None}} == bridge.CLOUDWATCH_OUTPUT_KINDS
    assert {n for n, o in operations.items() if "output" not in o} == bridge.CLOUDWATCH_NO_OUTPUT
    assert {n for n, s in shapes.items() if s.get("exception") and "Message" in s["members"]} == \
        bridge.CLOUDWATCH_MESSAGE_MEMBER


@pytest.fixture(scope="module")
def cloudwatch(endpoints, tmp_path_factory):
    """(botocore speaking RPC v2 CBOR to the proxy, botocore speaking JSON straight to moto).
    botocore 1.43 can speak CBOR but picks JSON for CloudWatch (its protocol priority puts json
    first); a copy of the model that lists only smithy-rpc-v2-cbor makes it pick CBOR."""
    model = cloudwatch_model()
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    data = tmp_path_factory.mktemp("botocore-data")
    (data / "cloudwatch" / model["metadata"]["apiVersion"]).mkdir(parents=True)
    (data / "cloudwatch" / model["metadata"]["apiVersion"] / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.insert(0, str(data))
    credentials = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=NO_RETRIES)
    speaks_cbor = boto3.Session(botocore_session=session).client("cloudwatch", endpoint_url=endpoints[1], **credentials)
    assert speaks_cbor.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    direct = boto3.client("cloudwatch", endpoint_url=endpoints[0], **credentials)
    assert direct.meta.service_model.resolved_protocol == "json"
    return speaks_cbor, direct


@pytest.fixture
def alarms(cloudwatch, local):
    """Two new alarms on instances' CPU, made straight in moto: (firing, quiet). firing is in
    ALARM and has the function as its alarm action; quiet is OK and has no actions."""
    _, direct = cloudwatch
    tag = uuid.uuid4().hex[:8]
    firing, quiet = f"cpu-{tag}-firing", f"cpu-{tag}-quiet"
    for name, instance, actions in ((firing, "i-0aaaaaaaaaaaaaaa1", [LAMBDA]), (quiet, "i-0bbbbbbbbbbbbbbb2", [])):
        direct.put_metric_alarm(AlarmName=name, Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average",
                                Dimensions=[{"Name": "InstanceId", "Value": instance}], Period=60, EvaluationPeriods=2,
                                Threshold=90.0, ComparisonOperator="GreaterThanThreshold", AlarmActions=actions)
    direct.set_alarm_state(AlarmName=firing, StateValue="ALARM", StateReason="Threshold Crossed")
    direct.set_alarm_state(AlarmName=quiet, StateValue="OK", StateReason="Threshold not crossed")
    return firing, quiet


def rpcv2(proxy_url, operation, body, **headers):
    """(status, headers, decoded body or None) of a raw RPC v2 CBOR request, unsigned; a header
    given as None is left out."""
    sent = {"Content-Type": "application/cbor", "Accept": "application/cbor", "Smithy-Protocol": "rpc-v2-cbor",
            "X-Amzn-Query-Mode": "true"}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    request = urllib.request.Request(f"{proxy_url}/service/GraniteServiceVersion20100801/operation/{operation}",
                                     data=body if isinstance(body, bytes) else cbor.cbor_encode(body),
                                     headers={k: v for k, v in sent.items() if v is not None}, method="POST")
    try:
        response = urllib.request.urlopen(request)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        payload = response.read()
        return response.status, response.headers, cbor.cbor_decode(payload) if payload else None


def ours(result, *names):
    """{name: alarm} of the named alarms among a DescribeAlarms answer's metric alarms."""
    return {a["AlarmName"]: a for a in result["MetricAlarms"] if a["AlarmName"] in names}


def test_describe_alarms_lists_both_alarms_through_the_bridge(local, cloudwatch, alarms):
    speaks_cbor, _ = cloudwatch
    firing, quiet = alarms
    result = speaks_cbor.describe_alarms()
    assert result["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/cbor"
    assert result["ResponseMetadata"]["HTTPHeaders"]["smithy-protocol"] == "rpc-v2-cbor"
    found = ours(result, firing, quiet)
    assert {n: (a["StateValue"], a["Dimensions"], a["Threshold"], a["AlarmActions"]) for n, a in found.items()} == {
        firing: ("ALARM", [{"Name": "InstanceId", "Value": "i-0aaaaaaaaaaaaaaa1"}], 90.0, [LAMBDA]),
        quiet: ("OK", [{"Name": "InstanceId", "Value": "i-0bbbbbbbbbbbbbbb2"}], 90.0, [])}
    assert isinstance(found[firing]["StateUpdatedTimestamp"], datetime.datetime)
    log = local.control("/_proxy/log")
    assert [(e["action"], e["params"], e["status"], e.get("bridged")) for e in log] == [
        ("DescribeAlarms", {}, 200, True)]


def test_describe_alarms_by_name_and_by_action_prefix(cloudwatch, alarms):
    speaks_cbor, _ = cloudwatch
    firing, quiet = alarms
    assert list(ours(speaks_cbor.describe_alarms(AlarmNames=[quiet]), firing, quiet)) == [quiet]
    assert speaks_cbor.describe_alarms(AlarmNames=[quiet])["MetricAlarms"][0]["AlarmName"] == quiet
    by_action = speaks_cbor.describe_alarms(ActionPrefix=LAMBDA)
    assert list(ours(by_action, firing, quiet)) == [firing]
    assert all(any(a.startswith(LAMBDA) for a in alarm["AlarmActions"]) for alarm in by_action["MetricAlarms"])
    assert speaks_cbor.describe_alarms(AlarmNames=[f"{quiet}-unknown"])["MetricAlarms"] == []


def test_describe_alarms_combines_filters_as_aws_does(cloudwatch, alarms):
    speaks_cbor, direct = cloudwatch
    firing, quiet = alarms
    # moto alone applies only AlarmNames here and answers quiet, in OK.
    assert [a["AlarmName"] for a in direct.describe_alarms(AlarmNames=[quiet], StateValue="ALARM")["MetricAlarms"]] == [
        quiet]
    assert speaks_cbor.describe_alarms(AlarmNames=[quiet], StateValue="ALARM")["MetricAlarms"] == []
    both = speaks_cbor.describe_alarms(AlarmNames=[firing, quiet], StateValue="ALARM")["MetricAlarms"]
    assert [(a["AlarmName"], a["StateValue"]) for a in both] == [(firing, "ALARM")]
    assert [a["AlarmName"] for a in speaks_cbor.describe_alarms(
        AlarmNames=[firing, quiet], StateValue="OK")["MetricAlarms"]] == [quiet]
    # ActionPrefix with StateValue: moto alone would ignore the state.
    assert list(ours(speaks_cbor.describe_alarms(ActionPrefix=LAMBDA, StateValue="ALARM"), firing, quiet)) == [firing]
    assert ours(speaks_cbor.describe_alarms(ActionPrefix=LAMBDA, StateValue="OK"), firing, quiet) == {}
    assert all(a["StateValue"] == "OK"
               for a in speaks_cbor.describe_alarms(ActionPrefix=LAMBDA, StateValue="OK")["MetricAlarms"])


def test_timestamps_are_tag_1_on_the_wire(local, cloudwatch, alarms):
    _, direct = cloudwatch
    firing, _ = alarms
    status, headers, answer = rpcv2(local.proxy_url, "DescribeAlarms",
                                    {"AlarmNames": [firing], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                                     "MaxRecords": 100})
    assert (status, headers["Content-Type"], headers["Smithy-Protocol"]) == (200, "application/cbor", "rpc-v2-cbor")
    alarm = answer["MetricAlarms"][0]
    expected = direct.describe_alarms(AlarmNames=[firing])["MetricAlarms"][0]
    for member in ("StateUpdatedTimestamp", "AlarmConfigurationUpdatedTimestamp"):
        assert isinstance(alarm[member], cbor.Tagged) and alarm[member].tag == 1, member
        assert isinstance(alarm[member].value, float), member
        assert abs(alarm[member].value - expected[member].timestamp()) < 0.001, member
    assert (alarm["Threshold"], alarm["Period"], alarm["ActionsEnabled"]) == (90.0, 60, True)
    assert isinstance(alarm["Threshold"], float) and isinstance(alarm["Period"], int)
    entry = last(local, "DescribeAlarms")
    assert entry["params"] == {"AlarmNames.member.1": firing, "AlarmTypes.member.1": "MetricAlarm",
                               "AlarmTypes.member.2": "CompositeAlarm", "MaxRecords": "100"}


def test_bridged_requests_are_delayed_and_counted(local, cloudwatch, alarms):
    speaks_cbor, _ = cloudwatch
    firing, _ = alarms
    local.control("/_proxy/config", {"latency_ms": 40})
    speaks_cbor.describe_alarms(AlarmNames=[firing], StateValue="ALARM")
    speaks_cbor.describe_alarms(AlarmNames=[firing])
    log = local.control("/_proxy/log")
    assert [e["action"] for e in log] == ["DescribeAlarms", "DescribeAlarms"]
    assert log[0]["params"] == {"AlarmNames.member.1": firing, "StateValue": "ALARM"}
    assert all(e["end"] - e["start"] >= 0.04 for e in log)


def test_faults_are_cbor_errors(local, cloudwatch, alarms):
    speaks_cbor, direct = cloudwatch
    firing, quiet = alarms
    local.control("/_proxy/config", {"fault_rate": 1, "faults": ["throttle"]})
    with pytest.raises(ClientError) as raised:
        speaks_cbor.describe_alarms(AlarmNames=[firing])
    error = raised.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"],
            error["Error"]["Type"]) == (400, "Throttling", "Rate exceeded", "Sender")
    status, headers, answer = rpcv2(local.proxy_url, "DescribeAlarms", {"AlarmNames": [firing]})
    assert (status, headers["Content-Type"], headers["Smithy-Protocol"], headers["x-amzn-query-error"]) == (
        400, "application/cbor", "rpc-v2-cbor", "Throttling;Sender")
    assert answer == {"__type": "com.amazonaws.cloudwatch#Throttling", "message": "Rate exceeded"}
    # A throttled change is not applied.
    with pytest.raises(ClientError):
        speaks_cbor.set_alarm_state(AlarmName=quiet, StateValue="ALARM", StateReason="throttled")
    assert direct.describe_alarms(AlarmNames=[quiet])["MetricAlarms"][0]["StateValue"] == "OK"
    assert [(e["action"], e["fault"], e["status"]) for e in local.control("/_proxy/log")] == [
        ("DescribeAlarms", "throttle", 400), ("DescribeAlarms", "throttle", 400), ("SetAlarmState", "throttle", 400)]

    local.control("/_proxy/config", {"fault_rate": 1, "faults": ["unavailable"]})
    status, headers, answer = rpcv2(local.proxy_url, "DescribeAlarms", {})
    assert (status, headers["x-amzn-query-error"], answer["__type"]) == (
        503, "ServiceUnavailable;Receiver", "com.amazonaws.cloudwatch#ServiceUnavailable")


def test_other_operations_and_moto_errors_are_bridged(local, cloudwatch, alarms):
    speaks_cbor, direct = cloudwatch
    firing, quiet = alarms
    made = f"{quiet}-made-through-the-bridge"
    speaks_cbor.put_metric_alarm(AlarmName=made, Namespace="AWS/EC2", MetricName="StatusCheckFailed",
                                 Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                 ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[LAMBDA],
                                 Dimensions=[{"Name": "InstanceId", "Value": "i-0ccccccccccccccc3"}])
    speaks_cbor.set_alarm_state(AlarmName=made, StateValue="ALARM", StateReason="bridged")
    assert direct.describe_alarms(AlarmNames=[made])["MetricAlarms"][0]["StateValue"] == "ALARM"
    # An operation without output: no body and no Content-Type.
    status, headers, answer = rpcv2(local.proxy_url, "SetAlarmState",
                                    {"AlarmName": made, "StateValue": "OK", "StateReason": "raw"})
    assert (status, answer, headers.get("Content-Type"), headers["Smithy-Protocol"]) == (200, None, None, "rpc-v2-cbor")
    speaks_cbor.delete_alarms(AlarmNames=[made])
    assert direct.describe_alarms(AlarmNames=[made])["MetricAlarms"] == []

    # moto's own error, carried over: status, code, and the query-compatible header.
    with pytest.raises(ClientError) as raised:
        speaks_cbor.set_alarm_state(AlarmName=made, StateValue="ALARM", StateReason="gone")
    error = raised.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (404, "ResourceNotFound")
    status, headers, answer = rpcv2(local.proxy_url, "SetAlarmState",
                                    {"AlarmName": made, "StateValue": "ALARM", "StateReason": "gone"})
    assert (status, headers["x-amzn-query-error"], answer["__type"]) == (
        404, "ResourceNotFound;Sender", "com.amazonaws.cloudwatch#ResourceNotFound")
    # What moto does not implement (its HTML 500) is a CBOR InternalServiceFault.
    status, headers, answer = rpcv2(local.proxy_url, "PutCompositeAlarm",
                                    {"AlarmName": f"{quiet}-composite", "AlarmRule": f"ALARM({firing})"})
    assert (status, headers["x-amzn-query-error"], answer["__type"]) == (
        500, "InternalServiceError;Receiver", "com.amazonaws.cloudwatch#InternalServiceFault")
    assert [e["action"] for e in local.control("/_proxy/log")] == [
        "PutMetricAlarm", "SetAlarmState", "SetAlarmState", "DeleteAlarms", "SetAlarmState", "SetAlarmState",
        "PutCompositeAlarm"]


def test_malformed_rpcv2_requests_are_refused(local):
    # Truncated CBOR, an array instead of a map, no Smithy-Protocol header, an X-Amz-Target header.
    for body, sent in ((b"\xa1\x61", {}), (b"\x83\x01\x02\x03", {}), ({}, {"Smithy_Protocol": None}),
                       ({}, {"X_Amz_Target": "GraniteServiceVersion20100801.DescribeAlarms"})):
        status, headers, answer = rpcv2(local.proxy_url, "DescribeAlarms", body, **sent)
        assert (status, headers["x-amzn-query-error"], answer["__type"]) == (
            400, "ValidationError;Sender", "com.amazonaws.cloudwatch#ValidationException"), (body, sent)
        assert answer["message"].startswith("ec2_proxy: ")
    log = local.control("/_proxy/log")
    assert [(e["action"], e["status"], e.get("emulated")) for e in log] == [("DescribeAlarms", 400, True)] * 4
