"""Checks the local AWS's EventBridge PutEvents (scripts/localaws/eventbus.py): what EventBridge
accepts is kept for the tests (GET /_proxy/events) and what it refuses is refused as it refuses it."""

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


@pytest.fixture(scope="module")
def proxy_url():
    started = []
    try:
        moto, moto_url = processes.start_moto()
        started.append(moto)
        proxy, url = processes.start_proxy(moto_url)
        started.append(proxy)
        yield url
    finally:
        processes.stop(*started)


def call(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


@pytest.fixture
def events(proxy_url):
    assert call(proxy_url, "/_proxy/config", {}) == {}
    return boto3.client("events", endpoint_url=proxy_url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}))


def entry(**kw):
    return {"Source": "ec2-failover", "DetailType": "fail_over", "Detail": json.dumps({"verdict": "fail_over"}), **kw}


def test_accepted_entries_are_kept_and_refused_ones_say_why(events, proxy_url):
    out = events.put_events(Entries=[entry(), entry(Detail="not json"), entry(Source="aws.ec2")])
    assert out["FailedEntryCount"] == 2
    codes = [e.get("ErrorCode") for e in out["Entries"]]
    assert codes == [None, "MalformedDetail", "NotAuthorizedForSourceException"]
    kept = call(proxy_url, "/_proxy/events")
    assert [e["DetailType"] for e in kept] == ["fail_over"]
    assert call(proxy_url, "/_proxy/config", {}) == {} and call(proxy_url, "/_proxy/events") == []


def test_too_many_or_too_large_entries_are_refused_whole(events):
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[entry()] * 11)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[entry(Detail=json.dumps({"x": "y" * (300 * 1024)}))])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
