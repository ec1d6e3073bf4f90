"""Reads template.yaml, with CloudFormation's intrinsic tags, and checks its wiring: every alarm
invokes the function and has a matching, scoped permission; the CPU alarms' period follows the
instances' monitoring while the status-check alarms stay at one minute; the state-change rule covers
both instances and every state the function acts on; the reconcile runs every minute; the
function's environment carries every setting; no changing IAM action has a wildcard resource, the
network-interface pattern is held to the pair's VPC, and KMS keys are usable only when given and
only through EC2."""

import json
import pathlib
import re

import pytest
from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]
FUNCTION = "FailoverFunction"
PROPS = RESOURCES[FUNCTION]["Properties"]
# The role is written out (SAM would add the VPC managed policy to every deployment): its policies
# are {PolicyName, PolicyDocument}, some behind Fn::If.
ROLE = RESOURCES["FailoverFunctionRole"]["Properties"]


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
    for alarm in (a for name, a in INVOKING_ALARMS.items() if name != "ServiceAlarm"):
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
        if name == "ServiceAlarmTopicPermission":  # the Route 53 alarm's topic (tested below)
            continue
        assert getatt(p["Properties"].get("SourceArn"))[0] in INVOKING_ALARMS, name


def test_the_state_change_rule_covers_both_instances_and_every_state_acted_on():
    rule = PROPS["Events"]["InstanceStateChange"]
    assert rule["Type"] == "EventBridgeRule"
    pattern = rule["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.ec2"]
    assert pattern["detail-type"] == ["EC2 Instance State-change Notification"]
    assert {i["Ref"] for i in pattern["detail"]["instance-id"]} == {"PrimaryInstanceId", "StandbyInstanceId"}
    assert set(pattern["detail"]["state"]) >= {"running", "stopping", "stopped", "shutting-down", "terminated"}


def test_warnings_before_failure_reach_the_function_for_the_pair_only():
    pair = {"PrimaryInstanceId", "StandbyInstanceId"}
    spot = PROPS["Events"]["SpotWarning"]
    assert spot["Type"] == "EventBridgeRule"
    pattern = spot["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.ec2"]
    assert set(pattern["detail-type"]) == {"EC2 Spot Instance Interruption Warning",
                                           "EC2 Instance Rebalance Recommendation"}
    assert {i["Ref"] for i in pattern["detail"]["instance-id"]} == pair
    # A warning older than the two minutes it gives is of no use.
    assert spot["Properties"]["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 120
    health = PROPS["Events"]["HealthWarning"]["Properties"]["Pattern"]
    assert (health["source"], health["detail-type"]) == (["aws.health"], ["AWS Health Event"])
    assert {i["Ref"] for i in health["resources"]} == pair
    assert health["detail"]["service"] == ["EC2"]
    assert set(health["detail"]["eventTypeCategory"]) == {"scheduledChange", "issue"}
    # Every events/ file of these kinds matches its rule's fixed fields.
    for name, rule in (("ec2-spot-interruption-warning-primary.json", pattern),
                       ("ec2-rebalance-recommendation-primary.json", pattern),
                       ("health-ec2-retirement-scheduled-primary.json", health)):
        event = json.loads((ROOT / "events" / name).read_text())
        assert event["source"] in rule["source"] and event["detail-type"] in rule["detail-type"], name
    rebalance = TEMPLATE["Parameters"]["Rebalance"]
    assert (rebalance["Default"], set(rebalance["AllowedValues"])) == ("log", {"log", "failover"})
    assert TEMPLATE["Parameters"]["ScheduledLeadSeconds"]["Default"] == 3600


def test_a_scheduled_reconcile_runs():
    events = PROPS["Events"].values()
    assert any(e["Type"] == "Schedule" and e["Properties"]["Schedule"] == {"Ref": "ReconcileSchedule"} for e in events)


def test_the_reconcile_runs_every_minute_by_default():
    # The function waits for the standby's status checks across invocations; the reconcile pass is
    # what moves a make-before-break failover on, so it runs every minute.
    param = TEMPLATE["Parameters"]["ReconcileSchedule"]
    assert param["Default"] == "rate(1 minute)"
    assert re.match(param["AllowedPattern"], param["Default"])


def test_the_environment_carries_every_setting_the_function_reads():
    env = PROPS["Environment"]["Variables"]
    expected = {
        "PRIMARY_INSTANCE_ID": "PrimaryInstanceId",
        "ROUTE_TABLE_IDS": "RouteTableIds",
        "ROUTE_DESTINATIONS": "RouteDestinations",
        "PRIVATE_IPS": "PrivateIps",
        "STANDBY_INSTANCE_ID": "StandbyInstanceId",
        "EIP_ALLOCATION_ID": "ElasticIpAllocationId",
        "FENCE_MODE": "FenceMode",
        "FENCE_ESCALATE_SECONDS": "FenceEscalateSeconds",
        "COOLDOWN_SECONDS": "CooldownSeconds",
        "DRY_RUN": "DryRun",
        "MONITORING": "InstanceMonitoring",
        "STANDBY_READY": "StandbyReady",
        "ALARM_NAMES": "ExtraAlarmNames",
        "REBALANCE": "Rebalance",
        "SCHEDULED_LEAD_SECONDS": "ScheduledLeadSeconds",
        "SILENT_SECONDS": "SilentSeconds",
        "ZONAL_SHIFT": "ZonalShift",
        "FOLLOW_PRACTICE_RUNS": "FollowPracticeRuns",
        "STANDBY_INSTANCE_TYPES": "StandbyInstanceTypes",
    }
    health = {"HEALTH_CHECK", "HEALTH_EXPECT", "HEALTH_THRESHOLD", "HEALTH_WINDOW", "HEALTH_HOST"}
    lists = {"ROUTE_TABLE_IDS", "ROUTE_DESTINATIONS", "PRIVATE_IPS", "STANDBY_INSTANCE_TYPES"}
    refs = {k: v.get("Ref") for k, v in env.items() if k not in health | lists | {"ALARM_NAMES", "EVENT_BUS"}}
    # Decisions go to the default bus unless PublishDecisions is false (and the role may then publish nothing).
    assert env["EVENT_BUS"] == {"Fn::If": ["PublishesDecisions", "default", ""]}
    assert refs == {k: v for k, v in expected.items() if k not in lists | {"ALARM_NAMES"}}
    for name in lists:
        assert env[name] == {"Fn::Join": [",", {"Ref": expected[name]}]}, name
    # The service check's settings are set for the probe only, empty (unset) otherwise.
    for name in health:
        condition, _, otherwise = env[name]["Fn::If"]
        assert (condition, otherwise) == ("ProbesTheService", ""), name
    assert env["HEALTH_EXPECT"]["Fn::If"][1] == {"Ref": "ServiceCheckExpect"}
    assert env["HEALTH_THRESHOLD"]["Fn::If"][1] == {"Ref": "ServiceCheckThreshold"}
    assert env["HEALTH_HOST"]["Fn::If"][1] == {"Ref": "ServiceCheckHostName"}
    assert env["HEALTH_WINDOW"]["Fn::If"][1] == {"Fn::If": ["WindowIsThreshold", "", {"Ref": "ServiceCheckWindow"}]}
    tcp, other = env["HEALTH_CHECK"]["Fn::If"][1]["Fn::If"][1:]
    assert tcp == {"Fn::Sub": "tcp:${ServiceCheckPort}"}
    assert other == {"Fn::Sub": "${ServiceCheckProtocol}:${ServiceCheckPort}${ServiceCheckPath}"}
    # The names given, and with template-service-alarm.yaml its alarm's ARN (it lives in us-east-1,
    # and is named after this stack there).
    assert env["ALARM_NAMES"] == {"Fn::Join": [",", [
        {"Fn::Join": [",", {"Ref": "ExtraAlarmNames"}]},
        {"Fn::If": ["HearsTheServiceAlarmTopic", {"Fn::Sub": (
            "arn:${AWS::Partition}:cloudwatch:us-east-1:${AWS::AccountId}:alarm:ec2-failover-service-${AWS::StackName}")},
            ""]}]]}
    companion = cfn_yaml.load(str(ROOT / "template-service-alarm.yaml"))
    assert companion["Resources"]["ServiceAlarm"]["Properties"]["AlarmName"] == {
        "Fn::Sub": "ec2-failover-service-${PairStackName}"}
    # Every variable pair mode reads in src/config.rs (its own, and DRY_RUN for every mode) is set,
    # and no other; MODE is left unset, which means pair.
    config_rs = (ROOT / "src" / "config.rs").read_text()
    readers = [config_rs.split(f"fn {f}(", 1)[1].split("\nfn ", 1)[0]
               for f in ("pair_config_from", "health_check", "private_endpoints")]
    read = {v for r in readers for v in re.findall(r'(?:get|number|list)\((?:get, )?"([A-Z_]+)"', r)} | {"DRY_RUN"}
    assert "DRY_RUN" in re.findall(r'get\("([A-Z_]+)"\)', config_rs)
    assert read == set(expected) | health | {"HEALTH_TIMEOUT_MS"}
    assert 'get("EVENT_BUS")' in config_rs, "EVENT_BUS is read for every mode"
    # HEALTH_TIMEOUT_MS keeps its default (2 s): not a parameter.
    assert "HEALTH_TIMEOUT_MS" not in env


def test_parameters_validate_ids():
    params = TEMPLATE["Parameters"]
    for name, sample in (("PrimaryInstanceId", "i-0123456789abcdef0"), ("StandbyInstanceId", "i-12345678"),
                         ("ElasticIpAllocationId", "eipalloc-0123456789abcdef0")):
        pattern = params[name]["AllowedPattern"]
        assert re.match(pattern, sample), name
        assert not re.match(pattern, "web-server"), name
    # Every FENCE_MODE the function reads (src/config.rs), and no other.
    config_rs = (ROOT / "src" / "config.rs").read_text()
    fence_reader = config_rs.split('get("FENCE_MODE")', 1)[1].split("};", 1)[0]
    assert set(params["FenceMode"]["AllowedValues"]) == set(re.findall(r'Some\("([a-z]+)"\)', fence_reader))
    assert params["FenceMode"]["Default"] == "stop"


CHANGING = ("ec2:Start", "ec2:Stop", "ec2:Associate", "ec2:Disassociate", "ec2:CreateTags", "ec2:DeleteTags",
            "ec2:Terminate", "ec2:Modify", "ec2:Release")


NO_VALUE = {"Ref": "AWS::NoValue"}
KMS_KEYS = {"Ref": "EbsKmsKeyArns"}


def conditional_policies():
    """(condition, policy document) for every policy of the role behind Fn::If; the other branch
    must be AWS::NoValue (without the condition, no policy at all)."""
    for policy in ROLE["Policies"]:
        if isinstance(policy, dict) and "Fn::If" in policy:
            condition, then, otherwise = policy["Fn::If"]
            assert otherwise == NO_VALUE, condition
            yield condition, then["PolicyDocument"]


def unconditional_policies():
    return [p["PolicyDocument"] for p in ROLE["Policies"] if "Fn::If" not in p]


def policies():
    """Every policy document the role may have, conditional ones included."""
    yield from unconditional_policies()
    yield from (policy for _, policy in conditional_policies())


# What Lambda itself does with the role, not the function: it sends failed events to the queue,
# and creates the network interfaces of a function in a VPC (the probe way of the service check).
LAMBDAS_OWN = ("LambdaKeepsFailedEvents", "LambdaFindsTheSubnets", "LambdaManagesTheFunctionsInterfaces",
               "LambdaAssignsAddressesInTheProbeSubnets")


def test_the_role_is_the_functions_own_with_what_lambda_itself_needs():
    assert PROPS["Role"] == {"Fn::GetAtt": "FailoverFunctionRole.Arn"} or getatt(PROPS["Role"]) == ["FailoverFunctionRole", "Arn"]
    assert "Policies" not in PROPS
    assert ROLE["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert ROLE["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]
    [queue] = [s for s, _, _ in statements() if s.get("Sid") == "LambdaKeepsFailedEvents"]
    assert queue["Action"] == "sqs:SendMessage" and getatt(queue["Resource"]) == ["FailureQueue", "Arn"]
    # The VPC actions only with the probe, which puts the function in the pair's subnets.
    [(condition, vpc)] = [(c, p) for c, p in conditional_policies()
                          if any(s.get("Sid") == "LambdaManagesTheFunctionsInterfaces" for s in p["Statement"])]
    assert condition == "ProbesTheService"
    assert PROPS["VpcConfig"]["Fn::If"][0] == "ProbesTheService" and PROPS["VpcConfig"]["Fn::If"][2] == NO_VALUE
    sids = {s["Sid"]: s for s in vpc["Statement"]}
    assert as_list(sids["LambdaFindsTheSubnets"]["Action"]) == ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    assert sids["LambdaManagesTheFunctionsInterfaces"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*/*"}
    assert as_list(sids["LambdaManagesTheFunctionsInterfaces"]["Action"]) == ["ec2:CreateNetworkInterface",
                                                                               "ec2:DeleteNetworkInterface"]
    # The address actions only on interfaces in the probe subnets: resolved, one ARN pattern each.
    assign = sids["LambdaAssignsAddressesInTheProbeSubnets"]
    assert as_list(assign["Action"]) == ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    from cfngate import parameters, resolve, sets
    transformed = resolve.cloudformation("template.yaml")
    values, _ = parameters.values(transformed, dict(sets.BASE[sets.PAIR], ServiceCheck="probe",
                                                    ServiceCheckSubnetIds="subnet-0123456789abcdef0,subnet-0fedcba9876543210"))
    values.update(resolve.pseudo("us-east-1", "s"))
    resolved, _ = resolve.resolved(transformed, values)
    role = resolved["Resources"]["FailoverFunctionRole"]["Properties"]
    [subnets] = [st["Condition"]["ArnLike"]["ec2:Subnet"] for p in role["Policies"]
                 for st in p["PolicyDocument"]["Statement"] if st.get("Sid") == "LambdaAssignsAddressesInTheProbeSubnets"]
    assert subnets == ["arn:*:ec2:*:*:subnet/subnet-0123456789abcdef0", "arn:*:ec2:*:*:subnet/subnet-0fedcba9876543210"]


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements():
    for policy in policies():
        for s in policy["Statement"]:
            yield s, as_list(s["Action"]), as_list(s["Resource"])


def resource_text(resource):
    return resource if isinstance(resource, str) else resource.get("Fn::Sub", "")


VIA_EC2 = {"Fn::Sub": "ec2.${AWS::Region}.amazonaws.com"}


def test_no_changing_action_has_a_wildcard_resource():
    for s, actions, resources in statements():
        if s.get("Sid") in LAMBDAS_OWN:
            continue
        if any(r == {"Fn::Sub": [
                "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:route-table/${Table}",
                {"Table": {"Fn::Select": [0, {"Ref": "RouteTableIds"}]}}]} for r in resources):
            continue  # the first route table, named exactly
        if any(a.startswith(("ec2:ReplaceRoute", "ec2:CreateRoute", "ec2:AssignPrivateIpAddresses")) for a in actions) or (
                any(":route-table/*" in resource_text(r) for r in resources)):
            # The route tables given (ec2:RouteTableID), the interfaces of the pair's VPC (ec2:Vpc).
            keys = {key for block in s["Condition"].values() for key in block}
            assert keys & {"ec2:RouteTableID", "ec2:Vpc"}, s["Sid"]
            continue
        if any(a.startswith(CHANGING) for a in actions):
            for r in resources:
                text = resource_text(r)
                assert text != "*", s["Sid"]
                if "*" in text:
                    # The one pattern allowed: the target's network interface, read at run time,
                    # held to the pair's VPC.
                    assert actions == ["ec2:AssociateAddress"] and text.endswith(":network-interface/*"), s["Sid"]
                    assert "ec2:Vpc" in s["Condition"]["ArnEquals"], s["Sid"]
        elif actions == ["events:PutEvents"]:
            # The decisions, on the account's default bus only, as ec2-failover only.
            assert resources == [{"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}]
            assert s["Condition"] == {"StringEquals": {"events:source": "ec2-failover"}}, s["Sid"]
        elif any(a.startswith("kms:") for a in actions):
            # KMS only on the keys the stack was given, only through EC2.
            assert all(a.startswith("kms:") for a in actions), s["Sid"]
            assert resources == [KMS_KEYS], s["Sid"]
            assert s["Condition"]["StringEquals"]["kms:ViaService"] == VIA_EC2, s["Sid"]
        else:
            # Reads only: EC2's Describe actions, CloudWatch's DescribeAlarms, ARC's List actions.
            assert all(a.startswith("ec2:Describe") or a == "cloudwatch:DescribeAlarms"
                       or a in ("arc-zonal-shift:ListZonalShifts", "arc-zonal-shift:ListAutoshifts")
                       for a in actions), s["Sid"]


def test_start_stop_and_tags_are_bound_to_the_pair_and_the_address():
    by_action = {}
    for _, actions, resources in statements():
        for a in actions:
            by_action.setdefault(a, []).extend(resource_text(r) for r in resources)
    for a in ("ec2:StartInstances", "ec2:StopInstances"):
        assert sorted(by_action[a]) == sorted([
            "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/${PrimaryInstanceId}",
            "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/${StandbyInstanceId}"])
    # The record's resource: the Elastic IP, or without one the first route table, named by its
    # ARN (DeleteTags has no ec2:RouteTableID key to hold a pattern to it).
    assert by_action["ec2:CreateTags"][0] == (
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:elastic-ip/${ElasticIpAllocationId}")
    [(condition, on_table)] = [(c, p) for c, p in conditional_policies()
                               if any(s.get("Sid") == "RecordTheFailoverOnTheRouteTable" for s in p["Statement"])]
    assert condition == "RecordsOnARouteTable"
    for statement in on_table["Statement"]:
        assert statement["Resource"] == {"Fn::Sub": [
            "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:route-table/${Table}",
            {"Table": {"Fn::Select": [0, {"Ref": "RouteTableIds"}]}}]}
        assert "StringEquals" not in statement["Condition"]


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


def arn(kind, name):
    return f"arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/${{{name}}}"


def test_the_elastic_ip_moves_only_onto_interfaces_in_the_pairs_vpc():
    params = TEMPLATE["Parameters"]
    assert params["VpcId"]["Type"] == "AWS::EC2::VPC::Id"
    associate = [(s, resources) for s, actions, resources in statements() if "ec2:AssociateAddress" in actions]
    allowed = [resource_text(r) for _, resources in associate for r in resources]
    assert sorted(allowed) == sorted([
        arn("elastic-ip", "ElasticIpAllocationId"), arn("instance", "PrimaryInstanceId"),
        arn("instance", "StandbyInstanceId"),
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*"])
    for s, resources in associate:
        texts = [resource_text(r) for r in resources]
        if any(":network-interface/" in r for r in texts):
            # The interface pattern stands alone, under the VPC condition (ec2:Vpc is an ARN).
            assert texts == ["arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*"], s["Sid"]
            assert s["Condition"] == {"ArnEquals": {"ec2:Vpc": {"Fn::Sub": arn("vpc", "VpcId")}}}, s["Sid"]
        else:
            # IAM evaluates a statement's condition for each resource it matches; the address and
            # the instances carry no ec2:Vpc, so a VPC condition here would deny them.
            assert "Condition" not in s, s["Sid"]


def test_no_statement_conditions_a_resource_on_a_key_it_does_not_carry():
    # ec2:Vpc exists on the network-interface resource of AssociateAddress, not on elastic-ip or
    # instance (Service Authorization Reference, Amazon EC2).
    for s, actions, resources in statements():
        keys = {key for block in s.get("Condition", {}).values() for key in block}
        if "ec2:Vpc" in keys:
            assert all(resource_text(r).endswith(":network-interface/*") for r in resources), s["Sid"]


def test_ebs_kms_keys_are_usable_only_when_given_and_only_through_ec2():
    param = TEMPLATE["Parameters"]["EbsKmsKeyArns"]
    assert param["Type"] == "CommaDelimitedList" and param["Default"] == ""
    # CloudFormation applies the pattern to each value; the empty default must pass.
    for ok in ("", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
               "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"):
        assert re.match(param["AllowedPattern"], ok), ok
    for bad in ("arn:aws:kms:eu-west-1:111122223333:alias/ebs", "1234abcd-12ab-34cd-56ef-1234567890ab", "*"):
        assert not re.match(param["AllowedPattern"], bad), bad
    assert TEMPLATE["Conditions"]["HasEbsKmsKeys"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", KMS_KEYS]}, ""]}]}
    # No KMS action in any unconditional policy: without the parameter nothing KMS is granted.
    for policy in unconditional_policies():
        assert not any(a.startswith("kms:") for s in policy["Statement"] for a in as_list(s["Action"]))
    [(condition, policy)] = [(c, p) for c, p in conditional_policies()
                             if any(a.startswith("kms:") for s in p["Statement"] for a in as_list(s["Action"]))]
    assert condition == "HasEbsKmsKeys"
    by_actions = {tuple(sorted(as_list(s["Action"]))): s for s in policy["Statement"]}
    # The EBS User Guide's list (Requirements for Amazon EBS encryption, Permissions for users).
    assert set(by_actions) == {
        ("kms:CreateGrant",),
        ("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*")}
    for s in policy["Statement"]:
        assert s["Effect"] == "Allow" and s["Resource"] == KMS_KEYS, s["Sid"]
    assert by_actions[("kms:CreateGrant",)]["Condition"] == {
        "Bool": {"kms:GrantIsForAWSResource": True}, "StringEquals": {"kms:ViaService": VIA_EC2}}
    use = by_actions[("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*")]
    assert use["Condition"] == {"StringEquals": {"kms:ViaService": VIA_EC2}}


def test_the_standby_readiness_is_a_setting_and_the_role_may_read_status_checks():
    param = TEMPLATE["Parameters"]["StandbyReady"]
    assert param["AllowedValues"] == ["checks", "running"] and param["Default"] == "checks"
    assert PROPS["Environment"]["Variables"]["STANDBY_READY"] == {"Ref": "StandbyReady"}
    # DescribeInstanceStatus takes no resource-level permission: it sits with the other reads.
    [read] = [(s, resources) for s, actions, resources in statements() if "ec2:DescribeInstanceStatus" in actions]
    s, resources = read
    assert resources == ["*"] and "Condition" not in s
    assert {"ec2:DescribeInstances", "ec2:DescribeAddresses"} <= set(as_list(s["Action"]))


CPU_ALARMS = ("PrimaryCpuAlarm", "StandbyCpuAlarm")
STATUS_ALARMS = ("PrimaryStatusCheckAlarm", "StandbyStatusCheckAlarm")


def period_seconds(alarm, monitoring):
    """The alarm's Period once CloudFormation has resolved it for InstanceMonitoring=monitoring."""
    period = RESOURCES[alarm]["Properties"]["Period"]
    if isinstance(period, dict):
        mapping, key, attribute = period["Fn::FindInMap"]
        assert key == {"Ref": "InstanceMonitoring"}, alarm
        return TEMPLATE["Mappings"][mapping][monitoring][attribute]
    return period


def test_cpu_alarm_periods_follow_the_instance_monitoring_and_status_checks_stay_at_one_minute():
    param = TEMPLATE["Parameters"]["InstanceMonitoring"]
    assert param["AllowedValues"] == ["basic", "detailed"] and param["Default"] == "basic"
    assert PROPS["Environment"]["Variables"]["MONITORING"] == {"Ref": "InstanceMonitoring"}
    for alarm in CPU_ALARMS:
        # Basic monitoring publishes CPU every 5 minutes, detailed every minute.
        assert period_seconds(alarm, "basic") == 300, alarm
        assert period_seconds(alarm, "detailed") == 60, alarm
        assert RESOURCES[alarm]["Properties"]["EvaluationPeriods"] == {"Ref": "CpuEvaluationPeriods"}
    for alarm in STATUS_ALARMS:
        # Status-check metrics are published every minute whatever the monitoring.
        assert RESOURCES[alarm]["Properties"]["Period"] == 60, alarm
        assert RESOURCES[alarm]["Properties"]["EvaluationPeriods"] == {"Ref": "StatusCheckEvaluationPeriods"}
    # CloudWatch: Period x EvaluationPeriods at most one day for periods under an hour.
    params = TEMPLATE["Parameters"]
    for alarm, evaluations in [(a, "CpuEvaluationPeriods") for a in CPU_ALARMS] + [
            (a, "StatusCheckEvaluationPeriods") for a in STATUS_ALARMS]:
        for monitoring in param["AllowedValues"]:
            assert period_seconds(alarm, monitoring) * params[evaluations]["MaxValue"] <= 86400, alarm


def test_every_parameter_is_in_exactly_one_parameter_group():
    groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [p for g in groups for p in g["Parameters"]]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == set(TEMPLATE["Parameters"])
    [pair] = [g for g in groups if g["Label"]["default"] == "The pair"]
    assert "VpcId" in pair["Parameters"]


def deploy_section():
    """docs/deploy.md, which README's Deploy section sends a first deployment to."""
    assert "docs/deploy.md" in (ROOT / "README.md").read_text().split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    return (ROOT / "docs" / "deploy.md").read_text()


def test_reserved_concurrency_stays_one_and_the_readme_says_what_a_low_quota_account_needs():
    # One writer is the design; on a 10- or 50-concurrency account the deployment fails, and the
    # README's Deploy section says how to check and what to do instead of deleting the setting.
    assert PROPS["ReservedConcurrentExecutions"] == 1
    deploy = deploy_section()
    assert "aws lambda get-account-settings --query AccountLimit" in deploy
    assert ("Specified ReservedConcurrentExecutions for function decreases account's "
            "UnreservedConcurrentExecution below its minimum value of") in deploy
    assert "quota increase" in deploy


def test_the_function_reads_the_alarms_it_acts_on():
    # An alarm payload is believed only once CloudWatch confirms it (src/pair/aws/alarms.rs reads
    # DescribeAlarms); the role may read alarms and nothing more of CloudWatch.
    actions = [a for _, acts, _ in statements() for a in acts]
    assert [a for a in actions if a.startswith("cloudwatch:")] == ["cloudwatch:DescribeAlarms"]
    source = (ROOT / "src" / "pair" / "aws" / "alarms.rs").read_text()
    assert ".describe_alarms()" in source


def test_the_route53_way_checks_the_public_address_and_its_alarm_invokes_the_function_in_us_east_1():
    params, conditions = TEMPLATE["Parameters"], TEMPLATE["Conditions"]
    assert params["ServiceCheck"]["AllowedValues"] == ["none", "route53", "probe"]
    assert params["ServiceCheck"]["Default"] == "none"
    check = RESOURCES["ServiceHealthCheck"]
    assert check["Condition"] == "ChecksWithRoute53"
    config = check["Properties"]["HealthCheckConfig"]
    assert config["IPAddress"] == {"Ref": "ServiceCheckIpAddress"}
    assert config["FailureThreshold"] == {"Ref": "ServiceCheckThreshold"}
    assert params["ServiceCheckIntervalSeconds"]["AllowedValues"] == [10, 30]
    alarm = RESOURCES["ServiceAlarm"]
    # Route 53 publishes HealthCheckStatus in us-east-1 only.
    assert alarm["Condition"] == "Route53AlarmHere"
    assert conditions["Route53AlarmHere"] == {
        "Fn::And": [{"Condition": "ChecksWithRoute53"}, {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}]}
    p = alarm["Properties"]
    assert (p["Namespace"], p["MetricName"], p["Statistic"], p["ComparisonOperator"], p["Threshold"]) == (
        "AWS/Route53", "HealthCheckStatus", "Minimum", "LessThanThreshold", 1)
    assert p["Dimensions"] == [{"Name": "HealthCheckId", "Value": {"Ref": "ServiceHealthCheck"}}]
    # It names no instance: the function takes it to be about the active one.
    assert not any(d["Name"] == "InstanceId" for d in p["Dimensions"])
    assert "ServiceAlarm" in INVOKING_ALARMS
    assert RESOURCES["ServiceAlarmPermission"]["Condition"] == "Route53AlarmHere"
    # Each way asks for what it needs.
    rules = TEMPLATE["Rules"]
    assert rules["Route53NeedsTheAddress"]["RuleCondition"] == {"Fn::Equals": [{"Ref": "ServiceCheck"}, "route53"]}
    assert rules["ProbeNeedsSubnets"]["RuleCondition"] == {"Fn::Equals": [{"Ref": "ServiceCheck"}, "probe"]}


def test_the_probe_way_joins_the_pairs_subnets_with_a_group_that_reaches_the_port_and_https_only():
    group = RESOURCES["FunctionSecurityGroup"]
    assert group["Condition"] == "ProbesTheService"
    assert group["Properties"]["VpcId"] == {"Ref": "VpcId"}
    egress = group["Properties"]["SecurityGroupEgress"]
    ports = sorted((str(e["FromPort"]), str(e["ToPort"]), e["IpProtocol"]) for e in egress)
    assert ports == sorted([("443", "443", "tcp"), (str({"Ref": "ServiceCheckPort"}), str({"Ref": "ServiceCheckPort"}), "tcp")])
    then = PROPS["VpcConfig"]["Fn::If"][1]
    assert then == {"SubnetIds": {"Ref": "ServiceCheckSubnetIds"}, "SecurityGroupIds": [{"Ref": "FunctionSecurityGroup"}]}
    outputs = TEMPLATE["Outputs"]
    assert outputs["FunctionSecurityGroupId"]["Condition"] == "ProbesTheService"


def test_outside_us_east_1_the_function_hears_the_route53_alarm_through_its_topic():
    companion = cfn_yaml.load(str(ROOT / "template-service-alarm.yaml"))
    alarm = companion["Resources"]["ServiceAlarm"]["Properties"]
    here = RESOURCES["ServiceAlarm"]["Properties"]
    # The same alarm as template.yaml's own in us-east-1, to the topic instead of the function.
    for key in ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "Threshold",
                "ComparisonOperator", "TreatMissingData"):
        assert alarm[key] == here[key], key
    assert alarm["AlarmActions"] == [{"Ref": "ServiceAlarmTopic"}]
    assert companion["Rules"]["InUsEast1"]["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    # Only that alarm may publish to the topic.
    [statement] = companion["Resources"]["ServiceAlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and statement["Action"] == "sns:Publish"
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":alarm:ec2-failover-service-${PairStackName}")
    # The pair's stack subscribes across regions, and lets that topic only invoke the function.
    subscription = RESOURCES["ServiceAlarmSubscription"]
    assert subscription["Condition"] == "HearsTheServiceAlarmTopic"
    assert subscription["Properties"]["Region"] == "us-east-1" and subscription["Properties"]["Protocol"] == "lambda"
    permission = RESOURCES["ServiceAlarmTopicPermission"]["Properties"]
    assert permission["Principal"] == "sns.amazonaws.com" and permission["SourceArn"] == {"Ref": "ServiceAlarmTopicArn"}
    assert re.match(TEMPLATE["Parameters"]["ServiceAlarmTopicArn"]["AllowedPattern"], "arn:aws:sns:us-east-1:123456789012:t")
    assert not re.match(TEMPLATE["Parameters"]["ServiceAlarmTopicArn"]["AllowedPattern"], "arn:aws:sns:eu-west-1:123456789012:t")


def test_zonal_shifts_are_read_unless_off_and_their_events_invoke_the_function():
    params = TEMPLATE["Parameters"]
    assert params["ZonalShift"]["AllowedValues"] == ["avoid", "follow", "off"]
    assert params["ZonalShift"]["Default"] == "avoid"
    assert TEMPLATE["Conditions"]["ReadsZonalShifts"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ZonalShift"}, "off"]}]}
    [(condition, document)] = [(c, d) for c, d in conditional_policies() if d["Statement"][0]["Sid"] == "ReadTheZonalShifts"]
    assert condition == "ReadsZonalShifts"
    assert document["Statement"][0]["Action"] == [
        "arc-zonal-shift:ListZonalShifts", "arc-zonal-shift:ListAutoshifts", "ec2:DescribeAvailabilityZones"]
    rule = PROPS["Events"]["ZonalShiftEvents"]
    assert rule["Type"] == "EventBridgeRule" and rule["Properties"]["Pattern"] == {"source": ["aws.arc-zonal-shift"]}
    # Silence is heard: the status-check alarms say INSUFFICIENT_DATA to the function.
    for name in ("PrimaryStatusCheckAlarm", "StandbyStatusCheckAlarm"):
        alarm = RESOURCES[name]["Properties"]
        assert alarm["TreatMissingData"] == "missing", name
        assert alarm["InsufficientDataActions"] == alarm["AlarmActions"], name


def test_only_a_stopped_members_type_may_change_and_only_to_a_listed_type():
    [(condition, document)] = [(c, d) for c, d in conditional_policies()
                               if d["Statement"][0]["Sid"] == "ChangeAStoppedMembersType"]
    assert condition == "HasStandbyInstanceTypes"
    [statement] = document["Statement"]
    assert statement["Action"] == "ec2:ModifyInstanceAttribute"
    assert [r["Fn::Sub"].rsplit("/", 1)[1] for r in statement["Resource"]] == ["${PrimaryInstanceId}", "${StandbyInstanceId}"]
    assert statement["Condition"] == {"StringEquals": {"ec2:Attribute/InstanceType": {"Ref": "StandbyInstanceTypes"}}}
    pattern = TEMPLATE["Parameters"]["StandbyInstanceTypes"]["AllowedPattern"]
    assert all(re.match(pattern, ok) for ok in ("", "m7i.large", "t3.micro", "u-6tb1.metal"))
    assert not any(re.match(pattern, bad) for bad in ("m7i", "M7I.LARGE", "m7i.large,m6i.large"))
