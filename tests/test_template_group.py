"""Reads template-group.yaml, with CloudFormation's intrinsic tags, and checks its wiring: the
group is a single-instance group over several subnets whose launch hook abandons by default; the
launch rule names that group and invokes the function, which runs in group mode; the group and its
Elastic IP carry the same key; the rule exists before the group's first launch; every changing IAM
action is scoped by a tag condition or to one resource type."""

import pathlib

from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template-group.yaml"))
RESOURCES = TEMPLATE["Resources"]
FUNCTION = RESOURCES["FollowFunction"]["Properties"]
GROUP = RESOURCES["Group"]
RULE = RESOURCES["LaunchLifecycleRule"]["Properties"]


def tag(resource, key):
    return next(t["Value"] for t in resource["Properties"]["Tags"] if t["Key"] == key)


def test_the_group_keeps_exactly_one_instance_over_several_subnets():
    p = GROUP["Properties"]
    assert (p["MinSize"], p["MaxSize"], p["DesiredCapacity"]) == ("1", "1", "1")
    assert p["VPCZoneIdentifier"] == {"Ref": "SubnetIds"}
    assert TEMPLATE["Parameters"]["SubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert p["LaunchTemplate"]["LaunchTemplateId"] == {"Ref": "LaunchTemplateId"}


def test_the_launch_hook_waits_for_the_function_and_abandons_by_default():
    [hook] = GROUP["Properties"]["LifecycleHookSpecificationList"]
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["DefaultResult"] == "ABANDON"
    assert hook["HeartbeatTimeout"] == {"Ref": "LaunchHookTimeoutSeconds"}


def test_the_launch_rule_names_the_group_and_invokes_the_function():
    pattern = RULE["EventPattern"]
    assert pattern["source"] == ["aws.autoscaling"]
    assert pattern["detail-type"] == ["EC2 Instance-launch Lifecycle Action"]
    assert pattern["detail"]["AutoScalingGroupName"] == [GROUP["Properties"]["AutoScalingGroupName"]]
    [target] = RULE["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["FollowFunction", "Arn"]}
    permission = RESOURCES["LaunchLifecycleRulePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["LaunchLifecycleRule", "Arn"]}
    assert set(GROUP["DependsOn"]) == {"LaunchLifecycleRule", "LaunchLifecycleRulePermission"}


def test_the_group_and_its_address_carry_the_same_key_and_the_function_runs_in_group_mode():
    assert tag(GROUP, "ec2-failover:group") == tag(RESOURCES["ElasticIp"], "ec2-failover:group") == {"Ref": "GroupKey"}
    assert next(t for t in GROUP["Properties"]["Tags"] if t["Key"] == "ec2-failover:group")["PropagateAtLaunch"] is False
    assert FUNCTION["Environment"]["Variables"]["MODE"] == "group"
    assert FUNCTION["ReservedConcurrentExecutions"] == 1


def test_changing_actions_are_scoped_by_tag_or_resource_type():
    statements = FUNCTION["Policies"][0]["Statement"]
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if all(a.split(":")[1].startswith("Describe") for a in actions):
            assert s["Resource"] == "*"
            continue
        resource = s["Resource"]["Fn::Sub"]
        assert resource.endswith("/*"), resource
        conditions = s.get("Condition", {}).get("Null", {})
        if "network-interface/" not in resource:
            assert conditions and all(v == "false" for v in conditions.values()), s["Sid"]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["MoveOnlyTaggedElasticIps"]["Condition"]["Null"] == {"ec2:ResourceTag/ec2-failover:group": "false"}
    assert by_sid["ToInstancesOfAutoScalingGroups"]["Condition"]["Null"] == {
        "ec2:ResourceTag/aws:autoscaling:groupName": "false"}
    assert by_sid["CompleteLaunchesOfTaggedGroups"]["Action"] == "autoscaling:CompleteLifecycleAction"
    assert by_sid["CompleteLaunchesOfTaggedGroups"]["Condition"]["Null"] == {
        "autoscaling:ResourceTag/ec2-failover:group": "false"}
