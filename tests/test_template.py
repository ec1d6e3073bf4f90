"""Reads template.yaml, with CloudFormation's intrinsic tags, and checks its wiring: every alarm
invokes the function and has a matching, scoped permission; the state-change rule covers both
instances and every state the function acts on; the function's environment carries every
setting; no changing IAM action has a wildcard resource."""

import pathlib
import re

import pytest
from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]
FUNCTION = "FailoverFunction"
PROPS = RESOURCES[FUNCTION]["Properties"]


def of_type(kind):
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def is_function_arn(value):
    return value == {"Fn::GetAtt": [FUNCTION, "Arn"]} or value == {"Fn::GetAtt": f"{FUNCTION}.Arn"}


def getatt(value):
    att = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    return att.split(".") if isinstance(att, str) else att


INVOKING_ALARMS = {n: r for n, r in of_type("AWS::CloudWatch::Alarm").items()
                   if any(is_function_arn(a) for a in r["Properties"].get("AlarmActions", []) if isinstance(a, dict))}


def test_both_instances_have_a_cpu_and_a_status_check_alarm_that_invoke_the_function():
    watched = set()
    for alarm in INVOKING_ALARMS.values():
        p = alarm["Properties"]
        assert p["Namespace"] == "AWS/EC2"
        (dimension,) = p["Dimensions"]
        assert dimension["Name"] == "InstanceId"
        watched.add((p["MetricName"], dimension["Value"]["Ref"]))
    assert watched == {(m, i) for m in ("CPUUtilization", "StatusCheckFailed")
                       for i in ("PrimaryInstanceId", "StandbyInstanceId")}


@pytest.mark.parametrize("alarm", sorted(INVOKING_ALARMS))
def test_every_invoking_alarm_has_its_own_scoped_permission(alarm):
    matches = [p["Properties"] for p in of_type("AWS::Lambda::Permission").values()
               if getatt(p["Properties"].get("SourceArn")) == [alarm, "Arn"]]
    assert len(matches) == 1, f"{alarm} needs exactly one permission"
    (p,) = matches
    assert p["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
    assert p["Action"] == "lambda:InvokeFunction"
    assert p["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert is_function_arn(p["FunctionName"])


def test_no_permission_lets_anything_else_invoke_the_function():
    for name, p in of_type("AWS::Lambda::Permission").items():
        assert getatt(p["Properties"].get("SourceArn"))[0] in INVOKING_ALARMS, name


def test_the_state_change_rule_covers_both_instances_and_every_state_acted_on():
    rule = PROPS["Events"]["InstanceStateChange"]
    assert rule["Type"] == "EventBridgeRule"
    pattern = rule["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.ec2"]
    assert pattern["detail-type"] == ["EC2 Instance State-change Notification"]
    assert {i["Ref"] for i in pattern["detail"]["instance-id"]} == {"PrimaryInstanceId", "StandbyInstanceId"}
    assert set(pattern["detail"]["state"]) >= {"running", "stopping", "stopped", "shutting-down", "terminated"}


def test_a_scheduled_reconcile_runs():
    events = PROPS["Events"].values()
    assert any(e["Type"] == "Schedule" and e["Properties"]["Schedule"] == {"Ref": "ReconcileSchedule"} for e in events)


def test_the_environment_carries_every_setting_the_function_reads():
    env = PROPS["Environment"]["Variables"]
    expected = {
        "PRIMARY_INSTANCE_ID": "PrimaryInstanceId",
        "STANDBY_INSTANCE_ID": "StandbyInstanceId",
        "EIP_ALLOCATION_ID": "ElasticIpAllocationId",
        "FENCE_MODE": "FenceMode",
        "COOLDOWN_SECONDS": "CooldownSeconds",
        "DRY_RUN": "DryRun",
    }
    assert {k: v["Ref"] for k, v in env.items()} == expected
    # Every variable pair mode reads in src/config.rs (its own, and DRY_RUN for every mode) is set,
    # and no other; MODE is left unset, which means pair.
    config_rs = (ROOT / "src" / "config.rs").read_text()
    pair_reader = config_rs.split("fn pair_config(", 1)[1].split("\nfn ", 1)[0]
    read = set(re.findall(r'get\("([A-Z_]+)"\)', pair_reader)) | {"DRY_RUN"}
    assert "DRY_RUN" in re.findall(r'get\("([A-Z_]+)"\)', config_rs)
    assert read == set(expected)


def test_parameters_validate_ids():
    params = TEMPLATE["Parameters"]
    for name, sample in (("PrimaryInstanceId", "i-0123456789abcdef0"), ("StandbyInstanceId", "i-12345678"),
                         ("ElasticIpAllocationId", "eipalloc-0123456789abcdef0")):
        pattern = params[name]["AllowedPattern"]
        assert re.match(pattern, sample), name
        assert not re.match(pattern, "web-server"), name
    assert params["FenceMode"]["AllowedValues"] == ["stop", "none"]


CHANGING = ("ec2:Start", "ec2:Stop", "ec2:Associate", "ec2:Disassociate", "ec2:CreateTags", "ec2:DeleteTags",
            "ec2:Terminate", "ec2:Modify", "ec2:Release")


def statements():
    for policy in PROPS["Policies"]:
        for s in policy["Statement"]:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            yield s, actions, resources


def resource_text(resource):
    return resource if isinstance(resource, str) else resource.get("Fn::Sub", "")


def test_no_changing_action_has_a_wildcard_resource():
    for s, actions, resources in statements():
        if any(a.startswith(CHANGING) for a in actions):
            for r in resources:
                text = resource_text(r)
                assert text != "*", s["Sid"]
                if "*" in text:
                    # The one pattern allowed: the target's network interface, read at run time,
                    # next to the exactly named address and instances.
                    assert actions == ["ec2:AssociateAddress"] and text.endswith(":network-interface/*"), s["Sid"]
        else:
            assert all(a.startswith("ec2:Describe") for a in actions), s["Sid"]


def test_start_stop_and_tags_are_bound_to_the_pair_and_the_address():
    by_action = {}
    for _, actions, resources in statements():
        for a in actions:
            by_action.setdefault(a, []).extend(resource_text(r) for r in resources)
    for a in ("ec2:StartInstances", "ec2:StopInstances"):
        assert sorted(by_action[a]) == sorted([
            "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/${PrimaryInstanceId}",
            "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/${StandbyInstanceId}"])
    assert by_action["ec2:CreateTags"] == [
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:elastic-ip/${ElasticIpAllocationId}"]


def test_failed_invocations_are_retried_then_kept_and_alarmed():
    config = PROPS["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert getatt(config["DestinationConfig"]["OnFailure"]["Destination"]) == ["FailureQueue", "Arn"]
    assert PROPS["ReservedConcurrentExecutions"] == 1
    watched = {r["Properties"]["MetricName"] for r in of_type("AWS::CloudWatch::Alarm").values()}
    assert {"Errors", "ApproximateNumberOfMessagesVisible"} <= watched
    assert RESOURCES["FailoverLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert PROPS["LoggingConfig"]["LogGroup"] == {"Ref": "FailoverLogGroup"}


def test_the_function_is_built_by_cargo_lambda_for_the_custom_runtime():
    fn = RESOURCES[FUNCTION]
    assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert PROPS["Runtime"] == "provided.al2023" and PROPS["Handler"] == "bootstrap"
    assert PROPS["Architectures"] == [{"Ref": "Architecture"}]
    assert TEMPLATE["Parameters"]["Architecture"]["Default"] == "arm64"
