"""scripts/local_stack.py: a template deployed into the local AWS as CloudFormation would, the way
the demos run against it. The stack's function, rules and alarms are the template's; a template
that wires them wrongly (a rule pattern that misses the pair, an alarm whose action is not the
function, an alarm on the wrong instance) is caught, and a set CloudFormation would refuse is refused."""

import json
import pathlib
import sys

import boto3
import pytest
from moto.server import ThreadedMotoServer

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import local_stack  # noqa: E402
from localaws import scenes  # noqa: E402

PAIR_TEXT = (ROOT / "template.yaml").read_text()
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url, monkeypatch):
    monkeypatch.setenv("MOTO_URL", moto_url)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    return lambda service: boto3.client(service, endpoint_url=moto_url, region_name=REGION)


@pytest.fixture
def pair(aws):
    """A pair's instances and Elastic IP, as they exist before the stack (scenes.pair): its parameters."""
    return scenes.pair(aws("ec2")).parameters


def state_change(instance, state="stopped"):
    event = json.loads((ROOT / "events" / "ec2-state-change-primary-stopped.json").read_text())
    event["detail"].update({"instance-id": instance, "state": state})
    return event


def planted(tmp_path, old, new):
    assert old in PAIR_TEXT, f"template.yaml no longer holds {old!r}: update the planted fault"
    path = tmp_path / "template.yaml"
    path.write_text(PAIR_TEXT.replace(old, new))
    return str(path)


def test_the_stack_s_function_rules_and_alarms_are_the_template_s(pair, aws, request):
    stack = local_stack.deploy("template.yaml", pair, request.node.name[:40].replace("_", "-"), REGION)
    env = stack["function"]["environment"]
    assert (env["PRIMARY_INSTANCE_ID"], env["STANDBY_INSTANCE_ID"], env["EIP_ALLOCATION_ID"]) == \
        (pair["PrimaryInstanceId"], pair["StandbyInstanceId"], pair["ElasticIpAllocationId"])
    role = stack["function"]["role"].rsplit("/", 1)[-1]
    assert aws("iam").list_role_policies(RoleName=role)["PolicyNames"], "the role has the template's policies"
    assert "rule" in local_stack.delivers(stack, state_change(pair["PrimaryInstanceId"]))
    assert local_stack.delivers(stack, state_change("i-0000000000000000a")) is None, "another instance's event"
    assert local_stack.delivers(stack, state_change(pair["PrimaryInstanceId"], "pending")) is None
    invoking = {a["logical"] for a in stack["alarms"] if a["invokes"]}
    assert invoking == {"PrimaryCpuAlarm", "StandbyCpuAlarm", "PrimaryStatusCheckAlarm", "StandbyStatusCheckAlarm"}
    payload = local_stack.alarm_action(stack, "StandbyStatusCheckAlarm", "test")
    assert payload["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] == \
        {"InstanceId": pair["StandbyInstanceId"]}
    assert aws("cloudwatch").describe_alarms(AlarmNames=[payload["alarmData"]["alarmName"]])["MetricAlarms"][0][
        "StateValue"] == "ALARM"
    assert local_stack.delivers(stack, payload).startswith("alarm ")
    # Silence reaches the function from the status-check alarms only (INSUFFICIENT_DATA actions).
    silent = {a["logical"] for a in stack["alarms"] if a["invokes_on_insufficient_data"]}
    assert silent == {"PrimaryStatusCheckAlarm", "StandbyStatusCheckAlarm"}
    quiet = local_stack.alarm_action(stack, "PrimaryStatusCheckAlarm", "test", "INSUFFICIENT_DATA")
    assert quiet["alarmData"]["state"]["value"] == "INSUFFICIENT_DATA"
    assert local_stack.delivers(stack, quiet).startswith("alarm ")
    assert local_stack.delivers(stack, local_stack.alarm_action(stack, "PrimaryCpuAlarm", "t", "INSUFFICIENT_DATA")) is None
    # ARC's events reach the function by a rule of their own.
    arc = {"version": "0", "id": "1", "detail-type": "Autoshift In Progress", "source": "aws.arc-zonal-shift",
           "account": "123456789012", "time": "2026-11-25T13:05:00Z", "region": REGION, "resources": [], "detail": {}}
    assert "rule" in local_stack.delivers(stack, arc)
    invoke = aws("lambda").get_function_event_invoke_config(FunctionName=stack["function"]["name"])
    assert invoke["MaximumRetryAttempts"] == 2 and "OnFailure" in invoke["DestinationConfig"]


def test_a_rule_pattern_that_misses_the_pair_delivers_nothing(pair, tmp_path):
    path = planted(tmp_path, "instance-id: [!Ref PrimaryInstanceId, !Ref StandbyInstanceId]",
                   "instance-id: [!Ref StandbyInstanceId]")
    stack = local_stack.deploy(path, pair, "misses-the-primary", REGION)
    assert local_stack.delivers(stack, state_change(pair["PrimaryInstanceId"])) is None


def standby_alarm_edited(tmp_path, old, new):
    """template.yaml with `old` replaced by `new` in StandbyStatusCheckAlarm only."""
    start = PAIR_TEXT.index("  StandbyStatusCheckAlarm:")
    at = PAIR_TEXT.index(old, start)
    path = tmp_path / "template.yaml"
    path.write_text(PAIR_TEXT[:at] + new + PAIR_TEXT[at + len(old):])
    return str(path)


def test_an_alarm_whose_action_is_not_the_function_delivers_nothing(pair, tmp_path):
    path = standby_alarm_edited(tmp_path, "AlarmActions: [!GetAtt FailoverFunction.Arn]",
                                "AlarmActions: [!GetAtt FailureQueue.Arn]")
    stack = local_stack.deploy(path, pair, "wrong-action", REGION)
    assert local_stack.delivers(stack, local_stack.alarm_action(stack, "StandbyStatusCheckAlarm", "test")) is None


def test_an_alarm_on_the_wrong_instance_shows_in_what_its_action_sends(pair, tmp_path):
    path = standby_alarm_edited(tmp_path, "Value: !Ref StandbyInstanceId", "Value: !Ref PrimaryInstanceId")
    stack = local_stack.deploy(path, pair, "wrong-dimension", REGION)
    payload = local_stack.alarm_action(stack, "StandbyStatusCheckAlarm", "test")
    # The function decides from this dimension: the demo's hold becomes "not about the active instance".
    assert payload["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] == \
        {"InstanceId": pair["PrimaryInstanceId"]}


def test_a_set_cloudformation_would_refuse_is_refused(pair):
    with pytest.raises(local_stack.Refused, match="rule ProbeNeedsSubnets fails"):
        local_stack.deploy("template.yaml", dict(pair, ServiceCheck="probe"), "refused", REGION)
