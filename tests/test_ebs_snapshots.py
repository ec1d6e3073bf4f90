"""Checks the local AWS's EBS snapshot rules (scripts/localaws/ebs_snapshots.py) against a moto
server of its own: CreateSnapshot's per-volume rate and pending limits, which moto does not
enforce, and a dark zone's snapshots, which stay pending while the zone is dark."""

import json
import pathlib
import sys
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from localaws import processes  # noqa: E402

ZONE = "us-east-1a"


@pytest.fixture(scope="module")
def endpoints():
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
    return boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


class Local:
    def __init__(self, moto, proxy):
        self.proxy_url, self.ec2, self.moto = proxy, client(proxy), client(moto)

    def control(self, path, body):
        request = urllib.request.Request(self.proxy_url + path, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def volume(self, kind="gp3"):
        return self.moto.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType=kind)["VolumeId"]

    def state(self, snapshot):
        return self.ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"]


@pytest.fixture
def local(endpoints):
    shared = Local(*endpoints)
    assert shared.control("/_proxy/config", {}) == {}
    return shared


def code(call, **kwargs):
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"]


def test_one_volume_is_snapshotted_at_most_once_in_15_seconds_by_default(local):
    volume, other = local.volume(), local.volume()
    assert local.ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    assert code(local.ec2.create_snapshot, VolumeId=volume) == "SnapshotCreationPerVolumeRateExceeded"
    assert local.ec2.create_snapshot(VolumeId=other)["SnapshotId"], "the rate is per volume"
    local.control("/_proxy/config", {"snapshot_rate_seconds": 0})
    assert local.ec2.create_snapshot(VolumeId=volume)["SnapshotId"]


def test_a_volume_has_at_most_five_pending_snapshots_and_st1_one(local):
    local.control("/_proxy/config", {"snapshot_rate_seconds": 0})
    volume = local.volume()
    for _ in range(5):
        snapshot = local.ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
        local.control("/_proxy/snapshot", {"snapshot": snapshot, "state": "pending"})
    assert code(local.ec2.create_snapshot, VolumeId=volume) == "ConcurrentSnapshotLimitExceeded"
    local.control("/_proxy/snapshot", {"snapshot": snapshot, "state": None})
    assert local.ec2.create_snapshot(VolumeId=volume)["SnapshotId"], "one completed: room for one more"
    throughput = local.moto.create_volume(AvailabilityZone=ZONE, Size=125, VolumeType="st1")["VolumeId"]
    first = local.ec2.create_snapshot(VolumeId=throughput)["SnapshotId"]
    local.control("/_proxy/snapshot", {"snapshot": first, "state": "pending"})
    assert code(local.ec2.create_snapshot, VolumeId=throughput) == "ConcurrentSnapshotLimitExceeded"


def test_a_dark_zones_snapshots_stay_pending_until_it_is_back(local):
    volume = local.volume()
    local.control("/_proxy/dark-zone", {"zone": ZONE, "dark": True})
    snapshot = local.ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    assert local.state(snapshot) == "pending"
    assert local.moto.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed"
    local.control("/_proxy/dark-zone", {"zone": ZONE, "dark": False})
    assert local.state(snapshot) == "completed"
    elsewhere = local.moto.create_volume(AvailabilityZone="us-east-1b", Size=1)["VolumeId"]
    local.control("/_proxy/dark-zone", {"zone": ZONE, "dark": True})
    assert local.state(local.ec2.create_snapshot(VolumeId=elsewhere)["SnapshotId"]) == "completed"
