"""Reads template-group.yaml, with CloudFormation's intrinsic tags, and checks its wiring: the
group is a single-instance group over several subnets whose launch hook abandons by default; the
launch rule names that group and invokes the function, which runs in group mode; the group and its
Elastic IP carry the same key; the rule exists before the group's first launch; every changing IAM
action is scoped by a tag condition or to one resource type. With KeepData: the terminate hook,
the terminate and EBS rules, the data policy and the seed volume exist only then, and the volume
outlives the stack."""

import re
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


def test_the_launch_hook_abandons_by_default_and_the_terminate_hook_exists_only_with_data():
    launch, terminate = GROUP["Properties"]["LifecycleHookSpecificationList"]
    assert launch["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    # ABANDON: a launch the function could not serve is retried; in a dry run, CONTINUE, so that a
    # function that completes nothing does not make the group replace its instance forever.
    assert launch["DefaultResult"] == {"Fn::If": ["IsDryRun", "CONTINUE", "ABANDON"]}
    assert TEMPLATE["Conditions"]["IsDryRun"] == {"Fn::Equals": [{"Ref": "DryRun"}, "true"]}
    assert launch["HeartbeatTimeout"] == {"Ref": "LaunchHookTimeoutSeconds"}
    condition, hook, otherwise = terminate["Fn::If"]
    assert (condition, otherwise) == ("KeepsData", {"Ref": "AWS::NoValue"})
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["DefaultResult"] == "CONTINUE"
    assert hook["HeartbeatTimeout"] == {"Ref": "TerminateHookTimeoutSeconds"}
    # The sweep picks the hook by the ec2-failover prefix when a group has several.
    assert launch["LifecycleHookName"].startswith("ec2-failover") and hook["LifecycleHookName"].startswith("ec2-failover")


def rules():
    return {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Events::Rule"}


def test_every_rule_invokes_the_function_with_a_permission_of_its_own():
    permissions = {r["Properties"]["SourceArn"]["Fn::GetAtt"][0]: r for r in RESOURCES.values()
                   if r["Type"] == "AWS::Lambda::Permission"}
    assert set(permissions) == set(rules())
    for name, rule in rules().items():
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["FollowFunction", "Arn"]}, name
        assert "Input" not in target, f"{name}: the function reads AWS's own envelope"
        assert permissions[name].get("Condition") == rule.get("Condition"), name
        assert permissions[name]["Properties"]["Principal"] == "events.amazonaws.com"


def test_data_rules_exist_only_with_data_and_the_sweep_always():
    r = rules()
    terminate = r["TerminateLifecycleRule"]
    assert terminate["Condition"] == "KeepsData"
    assert terminate["Properties"]["EventPattern"]["detail-type"] == ["EC2 Instance-terminate Lifecycle Action"]
    assert terminate["Properties"]["EventPattern"]["detail"]["AutoScalingGroupName"] == [
        GROUP["Properties"]["AutoScalingGroupName"]]
    ebs = r["EbsNotificationRule"]
    assert ebs["Condition"] == "KeepsData"
    pattern = ebs["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.ec2"]
    assert pattern["detail-type"] == ["EBS Snapshot Notification", "EBS Volume Notification"]
    assert set(pattern["detail"]["event"]) == {"createSnapshot", "createVolume", "detachVolume"}
    sweep = r["SweepSchedule"]
    assert "Condition" not in sweep
    # A heartbeat at every sweep must come well within the hook's shortest timeout (30 s minimum
    # is below a minute, so the default and the documented range are what count).
    assert sweep["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert TEMPLATE["Parameters"]["LaunchHookTimeoutSeconds"]["Default"] >= 120


def test_the_environment_carries_every_setting_group_mode_reads():
    # Every variable group mode reads in src/config.rs (its own, MODE and DRY_RUN) is set, and no other.
    config_rs = (ROOT / "src" / "config.rs").read_text()
    group_reader = config_rs.split("fn group_config(", 1)[1].split("\nfn ", 1)[0]
    read = set(re.findall(r'(?:get|number)\((?:get, )?"([A-Z_]+)"', group_reader)) | {"MODE", "DRY_RUN", "EVENT_BUS"}
    assert {"KEEP_DATA", "KEEP_SNAPSHOTS", "MAX_WAIT_SECONDS"} <= read
    assert set(FUNCTION["Environment"]["Variables"]) == read


def test_data_settings_reach_the_function():
    variables = FUNCTION["Environment"]["Variables"]
    assert variables["KEEP_DATA"] == {"Ref": "KeepData"}, "without data the function reads none"
    assert variables["KEEP_SNAPSHOTS"] == {"Ref": "KeepSnapshots"}
    assert variables["MAX_WAIT_SECONDS"] == {"Ref": "MaxWaitSeconds"}
    assert TEMPLATE["Parameters"]["KeepSnapshots"]["MinValue"] == 1
    assert variables["DATA_INIT_RATE_MIBPS"] == {"Ref": "DataInitRateMiBps"}
    # EBS accepts 100 to 300 MiB/s; 0 is EBS's default rate (the function sends none).
    pattern = TEMPLATE["Parameters"]["DataInitRateMiBps"]["AllowedPattern"]
    assert all(re.match(pattern, ok) for ok in ("0", "100", "250", "300"))
    assert not any(re.match(pattern, bad) for bad in ("", "99", "301", "1000", "50"))


def rule_value(node, parameters):
    """A Rules expression's value: Ref, Fn::Equals, Fn::Contains, Fn::Not, Fn::And, Fn::Or."""
    if isinstance(node, dict):
        (name, arg), = node.items()
        if name == "Ref":
            return str(parameters[arg])
        values = [rule_value(a, parameters) for a in arg] if isinstance(arg, list) else rule_value(arg, parameters)
        if name == "Fn::Equals":
            return values[0] == values[1]
        if name == "Fn::Contains":
            return values[1] in values[0]
        if name == "Fn::Not":
            return not values[0]
        if name == "Fn::And":
            return all(values)
        if name == "Fn::Or":
            return any(values)
        raise AssertionError(f"no such rule function in this test: {name}")
    if isinstance(node, list):
        return [rule_value(n, parameters) for n in node]
    return str(node)


def rules_accept(parameters):
    for rule in TEMPLATE["Rules"].values():
        if "RuleCondition" in rule and not rule_value(rule["RuleCondition"], parameters):
            continue
        if not all(rule_value(a["Assert"], parameters) for a in rule["Assertions"]):
            return False
    return True


def test_max_wait_stays_below_the_launch_hook_s_global_timeout():
    """Past the hook's global timeout (100 x HeartbeatTimeout, at most 48 h) Auto Scaling abandons the
    launch however often it is heartbeaten; MaxWaitSeconds must end first, so that the function
    abandons with its reason. Every pair of allowed values is accepted by the Rules iff it is safe."""
    parameters = TEMPLATE["Parameters"]
    heartbeats = parameters["LaunchHookTimeoutSeconds"]["AllowedValues"]
    waits = parameters["MaxWaitSeconds"]["AllowedValues"]
    assert min(heartbeats) >= 120, "the sweep heartbeats once a minute: a shorter hook times out between two"
    assert parameters["MaxWaitSeconds"]["Default"] in waits
    assert parameters["LaunchHookTimeoutSeconds"]["Default"] in heartbeats
    base = {"KeepData": "true", "DataVolumeSizeGiB": 0, "DataVolumeAvailabilityZone": "", "SnapshotEverySeconds": 0,
            "DataWaitSeconds": 300}
    accepted = 0
    for heartbeat in heartbeats:
        for wait in waits:
            safe = wait < min(100 * heartbeat, 172800)
            ok = rules_accept({**base, "LaunchHookTimeoutSeconds": heartbeat, "MaxWaitSeconds": wait})
            assert ok == safe, f"LaunchHookTimeoutSeconds={heartbeat}, MaxWaitSeconds={wait}: accepted={ok}, safe={safe}"
            accepted += ok
    assert 0 < accepted < len(heartbeats) * len(waits)


def test_a_launch_falls_back_to_the_newest_snapshot_before_it_is_abandoned():
    """With periodic snapshots, DATA_WAIT_SECONDS must end before MAX_WAIT_SECONDS (the function
    refuses the settings otherwise): the Rules accept exactly the safe combinations."""
    parameters = TEMPLATE["Parameters"]
    variables = FUNCTION["Environment"]["Variables"]
    assert variables["SNAPSHOT_EVERY_SECONDS"] == {"Ref": "SnapshotEverySeconds"}
    assert variables["DATA_WAIT_SECONDS"] == {"Ref": "DataWaitSeconds"}
    everies, data_waits = parameters["SnapshotEverySeconds"]["AllowedValues"], parameters["DataWaitSeconds"]["AllowedValues"]
    assert 0 in everies and min(e for e in everies if e) >= 60, "the function takes 0 or 60 s and more"
    assert parameters["SnapshotEverySeconds"]["Default"] in everies and parameters["DataWaitSeconds"]["Default"] in data_waits
    base = {"KeepData": "true", "DataVolumeSizeGiB": 0, "DataVolumeAvailabilityZone": "", "LaunchHookTimeoutSeconds": 600}
    refused = 0
    for every in everies:
        for data_wait in data_waits:
            for wait in (w for w in parameters["MaxWaitSeconds"]["AllowedValues"] if w <= 28800):
                for keep in ("true", "false"):
                    safe = keep == "false" or every == 0 or data_wait < wait
                    given = {**base, "KeepData": keep, "SnapshotEverySeconds": every, "DataWaitSeconds": data_wait,
                             "MaxWaitSeconds": wait}
                    ok = rules_accept(given)
                    assert ok == safe, f"{given}: accepted={ok}, safe={safe}"
                    refused += not ok
    assert refused > 0
    # The defaults pass with every MaxWaitSeconds: an update with them never fails on this.
    for wait in parameters["MaxWaitSeconds"]["AllowedValues"]:
        defaults = {"SnapshotEverySeconds": parameters["SnapshotEverySeconds"]["Default"],
                    "DataWaitSeconds": parameters["DataWaitSeconds"]["Default"]}
        assert rules_accept({**base, **defaults, "MaxWaitSeconds": wait, "LaunchHookTimeoutSeconds": 600 if wait <= 28800 else 1800})


def test_the_seed_volume_is_tagged_encrypted_and_outlives_the_stack():
    volume = RESOURCES["DataVolume"]
    assert volume["Condition"] == "CreatesDataVolume"
    assert volume["DeletionPolicy"] == volume["UpdateReplacePolicy"] == "Retain"
    assert volume["Properties"]["Encrypted"] is True
    assert tag(volume, "ec2-failover:group") == KEY
    assert tag(volume, "ec2-failover:device") == {"Ref": "DataDevice"}
    assert TEMPLATE["Conditions"]["CreatesDataVolume"]["Fn::And"][0] == {"Condition": "KeepsData"}


def test_the_launch_rule_names_the_group_and_exists_before_the_group():
    pattern = RULE["EventPattern"]
    assert pattern["source"] == ["aws.autoscaling"]
    assert pattern["detail-type"] == ["EC2 Instance-launch Lifecycle Action"]
    assert pattern["detail"]["AutoScalingGroupName"] == [GROUP["Properties"]["AutoScalingGroupName"]]
    assert set(GROUP["DependsOn"]) == {"LaunchLifecycleRule", "LaunchLifecycleRulePermission", "SeedVolumeReady"}


def test_the_group_waits_for_the_seed_volume_at_stack_creation():
    # A DependsOn cannot name a conditional resource; the handle references the volume when it exists.
    handle = RESOURCES["SeedVolumeReady"]
    assert handle["Type"] == "AWS::CloudFormation::WaitConditionHandle"
    assert "Condition" not in handle
    assert handle["Metadata"]["SeedVolume"] == {"Fn::If": ["CreatesDataVolume", {"Ref": "DataVolume"}, "none"]}


def test_the_group_and_its_address_carry_the_same_key_and_the_function_runs_in_group_mode():
    assert tag(GROUP, "ec2-failover:group") == tag(RESOURCES["ElasticIp"], "ec2-failover:group") == KEY
    assert next(t for t in GROUP["Properties"]["Tags"] if t["Key"] == "ec2-failover:group")["PropagateAtLaunch"] is False
    assert FUNCTION["Environment"]["Variables"]["MODE"] == "group"
    assert FUNCTION["ReservedConcurrentExecutions"] == 1
    # The stack's function is the group's one writer: a fleet that serves groups leaves it alone.
    assert tag(GROUP, "ec2-failover:stack") == {"Ref": "AWS::StackName"}


def data_policy():
    """The function's second policy, present only with KeepData."""
    condition, policy, otherwise = FUNCTION["Policies"][1]["Fn::If"]
    assert (condition, otherwise) == ("KeepsData", {"Ref": "AWS::NoValue"})
    return policy


def statements():
    yield from FUNCTION["Policies"][0]["Statement"]
    yield from data_policy()["Statement"]
    yield from RESOURCES["DataKeyPolicy"]["Properties"]["PolicyDocument"]["Statement"]


def resources_of(statement):
    resource = statement["Resource"]
    return [r["Fn::Sub"] if isinstance(r, dict) and "Fn::Sub" in r else r
            for r in (resource if isinstance(resource, list) else [resource])]


def test_changing_actions_are_scoped_by_tag_or_resource_type():
    for s in statements():
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if all(a.split(":")[1].startswith("Describe") for a in actions):
            assert s["Resource"] == "*"
            continue
        if all(a.startswith("kms:") for a in actions):
            assert s["Resource"] == {"Ref": "DataKmsKeyId"}
            assert "kms:ViaService" in s["Condition"]["StringEquals"]
            continue
        for resource in resources_of(s):
            assert resource.endswith("/*"), resource
            if "network-interface/" in resource:
                continue
            null = s.get("Condition", {}).get("Null", {})
            equals = s.get("Condition", {}).get("StringEquals", {})
            create_action = equals.get("ec2:CreateAction")
            # This stack's group's instances only: Auto Scaling tags each with its group's name.
            own_group = equals.get("ec2:ResourceTag/aws:autoscaling:groupName") == {"Ref": "AWS::StackName"}
            assert (null and all(v == "false" for v in null.values())) or create_action or own_group, s["Sid"]
    by_sid = {}
    for s in statements():
        by_sid.setdefault(s["Sid"], []).append(s)
    [move] = by_sid["MoveOnlyTaggedElasticIps"]
    assert move["Condition"]["Null"] == {"ec2:ResourceTag/ec2-failover:group": "false"}
    for s in by_sid["ToInstancesOfAutoScalingGroups"]:
        assert s["Condition"]["Null"] == {"ec2:ResourceTag/aws:autoscaling:groupName": "false"}
    [complete] = by_sid["CompleteLifecycleActionsOfTaggedGroups"]
    assert set(complete["Action"]) == {"autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"}
    assert complete["Condition"]["Null"] == {"autoscaling:ResourceTag/ec2-failover:group": "false"}
    # Only copies it restored can be deleted: never the data volume itself.
    [delete] = by_sid["DeleteOnlyItsOwnUnusedCopies"]
    assert delete["Action"] == "ec2:DeleteVolume"
    assert delete["Condition"]["Null"] == {"ec2:ResourceTag/ec2-failover:group": "false",
                                           "ec2:ResourceTag/ec2-failover:snapshot": "false"}
    # On a volume it did not create, the only tag it may write is the attached mark.
    [mark] = by_sid["MarkTaggedVolumesAttached"]
    assert mark["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": ["ec2-failover:attached"]}
    # What it creates carries the group tag from the start.
    for sid in ("IntoTaggedSnapshots", "IntoTaggedVolumes"):
        [s] = by_sid[sid]
        assert s["Condition"]["Null"] == {"aws:RequestTag/ec2-failover:group": "false"}


def test_the_data_policies_exist_only_with_data():
    assert "DataPolicy" not in RESOURCES, "in the function's own policies, so the first launch has it"
    assert RESOURCES["DataKeyPolicy"]["Condition"] == "HasDataKey"
    assert RESOURCES["DataKeyPolicy"]["Properties"]["Roles"] == [{"Ref": "FollowFunctionRole"}]
    data_actions = {a for s in data_policy()["Statement"]
                    for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    # Every EBS call the function makes (src/group/aws.rs) is allowed, and nothing else.
    assert data_actions == {"ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:CreateSnapshot", "ec2:CreateVolume", "ec2:CreateTags", "ec2:AttachVolume",
                            "ec2:DeleteSnapshot", "ec2:DeleteVolume", "ec2:ModifyInstanceMetadataOptions"}
    source = (ROOT / "src" / "group" / "aws.rs").read_text()
    for call in ("create_snapshot()", "create_volume()", "attach_volume()", "delete_snapshot()", "delete_volume()",
                 "record_lifecycle_action_heartbeat()", "describe_lifecycle_hooks()"):
        assert f".{call}" in source, call


def test_the_data_key_grants_only_for_aws_resources_and_only_through_ebs():
    grants = [st for st in RESOURCES["DataKeyPolicy"]["Properties"]["PolicyDocument"]["Statement"]
              if "kms:CreateGrant" in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]
    assert len(grants) == 1
    assert grants[0]["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": True}
    for st in RESOURCES["DataKeyPolicy"]["Properties"]["PolicyDocument"]["Statement"]:
        assert st["Condition"]["StringEquals"]["kms:ViaService"] == {"Fn::Sub": "ec2.${AWS::Region}.amazonaws.com"}


def test_replacements_terminate_before_they_launch():
    # Launch before terminate would leave the new instance waiting for a data volume the old one
    # holds; the group never runs two instances at once.
    p = GROUP["Properties"]
    assert p["InstanceMaintenancePolicy"] == {"MinHealthyPercentage": 0, "MaxHealthyPercentage": 100}
    assert p["CapacityRebalance"] is False


def test_only_the_functions_own_snapshots_may_be_deleted():
    # DLM and AWS Backup copy the volume's tags onto their snapshots, the group's included: the
    # function deletes only snapshots that carry ec2-failover:time, a tag only it writes.
    prune = [s for s in data_policy()["Statement"] if s["Action"] == "ec2:DeleteSnapshot"]
    assert len(prune) == 1
    assert prune[0]["Condition"]["Null"] == {
        "ec2:ResourceTag/ec2-failover:group": "false",
        "ec2:ResourceTag/ec2-failover:time": "false",
    }
    source = (ROOT / "src" / "group" / "aws.rs").read_text()
    assert "tags::TIME).is_some()" in source


# The group's key: GroupKey, or the stack's name when it is empty (the default).
KEY = {"Fn::If": ["KeyIsStackName", {"Ref": "AWS::StackName"}, {"Ref": "GroupKey"}]}


def test_two_stacks_in_one_region_never_share_a_key_and_each_function_serves_its_own_group():
    assert TEMPLATE["Parameters"]["GroupKey"]["Default"] == ""
    assert TEMPLATE["Conditions"]["KeyIsStackName"] == {"Fn::Equals": [{"Ref": "GroupKey"}, ""]}
    assert FUNCTION["Environment"]["Variables"]["GROUP_KEY"] == KEY
    source = (ROOT / "src" / "config.rs").read_text()
    assert 'get("GROUP_KEY")' in source


def test_an_event_that_failed_all_its_retries_is_alarmed_on_like_the_pairs():
    alarm = RESOURCES["FailureQueueAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailureQueue", "QueueName"]}}]
    assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == {"Fn::If": ["HasAlertTopic", [{"Ref": "AlertTopicArn"}], {"Ref": "AWS::NoValue"}]}


def test_auto_scaling_moves_the_group_out_of_a_shifted_zone_and_still_replaces_its_instance():
    policy = TEMPLATE["Resources"]["Group"]["Properties"]["AvailabilityZoneImpairmentPolicy"]
    # IgnoreUnhealthy would leave a single instance in the shifted zone dead.
    assert policy == {"ZonalShiftEnabled": True, "ImpairedZoneHealthCheckBehavior": "ReplaceUnhealthy"}
