"""Reads template-fleet.yaml, with CloudFormation's intrinsic tags, and checks its wiring: the
function runs in fleet mode, one execution at a time, with the pairs' defaults from its
parameters; every rule and the alarms may invoke it; every change its role allows is held to
resources that carry ec2-failover:pair (but the network interface an address is associated
through); the record's tags are the only ones it may write, never those that declare a pair; and
the deploy gate knows the template. The groups' statements (ServeGroups, KeepData) are
template-group.yaml's, held to ec2-failover:group as a group stack's are. Which requests the role allows is proven against the requests
the fleet tests make (scripts/iamcheck, in `make test`)."""

import pathlib
import re

from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template-fleet.yaml"))
RESOURCES = TEMPLATE["Resources"]
FUNCTION = RESOURCES["FleetFunction"]["Properties"]
ROLE = RESOURCES["FleetFunctionRole"]["Properties"]
TAG_CONDITION = {"Null": {"ec2:ResourceTag/ec2-failover:pair": "false"}}


GROUP_POLICIES = {"FollowTheGroups", "KeepTheGroupsData"}


def statements(groups=False):
    """Every statement of the role's policies, conditional ones included: the pairs' (and the
    shared ones), or with `groups` the groups' only."""
    out = []
    for policy in ROLE["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        if (policy["PolicyName"] in GROUP_POLICIES) == groups:
            out.extend(policy["PolicyDocument"]["Statement"])
    return out


def tags_rs():
    """The constants of src/tags.rs, by name."""
    text = (ROOT / "src" / "tags.rs").read_text()
    return dict(re.findall(r'pub const ([A-Z_]+): &str = "([^"]+)";', text))


def test_the_function_runs_the_fleet_one_execution_at_a_time():
    variables = FUNCTION["Environment"]["Variables"]
    assert variables["MODE"] == "fleet"
    assert variables["MAX_PARALLEL_FAILOVERS"] == {"Ref": "MaxParallelFailovers"}
    for variable, parameter in [("FENCE_MODE", "FenceMode"), ("COOLDOWN_SECONDS", "CooldownSeconds"),
                                ("ZONAL_SHIFT", "ZonalShift"), ("DRY_RUN", "DryRun")]:
        assert variables[variable] == {"Ref": parameter}, variable
    assert FUNCTION["ReservedConcurrentExecutions"] == 1, "the one writer of every pair"
    params = TEMPLATE["Parameters"]["MaxParallelFailovers"]
    assert (params["MinValue"], params["MaxValue"]) == (1, 100), "the function's own range"


def test_state_changes_warnings_shifts_and_the_schedule_invoke_it_and_any_alarm_of_the_account_may():
    events = FUNCTION["Events"]
    kinds = {name: e["Type"] for name, e in events.items()}
    assert kinds["Reconcile"] == "Schedule"
    state = events["InstanceStateChange"]["Properties"]["Pattern"]
    assert "instance-id" not in state["detail"], "EventBridge cannot match tags: every instance's changes come"
    assert set(state["detail"]["state"]) >= {"stopped", "terminated", "running"}
    assert events["ZonalShiftEvents"]["Properties"]["Pattern"]["source"] == ["aws.arc-zonal-shift"]
    permission = RESOURCES["AlarmActionPermission"]["Properties"]
    assert permission["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"]["Fn::Sub"].endswith(":alarm:*")


def test_every_change_is_held_to_what_the_tags_declare():
    for s in statements():
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        reads = all(a.split(":")[1].startswith(("Describe", "List")) for a in actions)
        if reads or actions == ["sqs:SendMessage"]:
            continue
        if actions == ["events:PutEvents"]:
            # The decisions, on the default bus only, as ec2-failover only.
            assert s["Condition"] == {"StringEquals": {"events:source": "ec2-failover"}}
            assert s["Resource"]["Fn::Sub"].endswith(":event-bus/default")
            continue
        if s["Sid"] == "OntoTheMembersInterfaces":
            # The target's primary interface carries no pair tag; the address must (MoveThePairsElasticIps).
            assert s["Resource"]["Fn::Sub"].endswith(":network-interface/*") and actions == ["ec2:AssociateAddress"]
            continue
        if all(a.startswith("kms:") for a in actions):
            # The keys the stack was given, only through EC2 (as template.yaml).
            assert s["Resource"] == {"Ref": "EbsKmsKeyArns"}, s["Sid"]
            assert s["Condition"]["StringEquals"]["kms:ViaService"] == {"Fn::Sub": "ec2.${AWS::Region}.amazonaws.com"}
            continue
        condition = s.get("Condition", {})
        assert condition.get("Null") == TAG_CONDITION["Null"], f"{s['Sid']} is not held to a pair's resources"


def test_the_function_writes_the_record_and_never_the_tags_that_declare_a_pair():
    tags = tags_rs()
    record = {tags[k] for k in ("FROM", "TO", "AT", "PHASE", "CAUSE", "PAUSED", "PAUSED_AT", "HEALTH")}
    [create] = [s for s in statements() if s["Action"] == "ec2:CreateTags"]
    allowed = set(create["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"])
    assert allowed == record
    assert tags["PAIR"] not in allowed and tags["ROLE"] not in allowed
    assert not any(k.startswith("ec2-failover:cooldown") for k in allowed)
    [delete] = [s for s in statements() if s["Action"] == "ec2:DeleteTags"]
    assert set(delete["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]) == {tags["PAUSED"], tags["PAUSED_AT"]}


def test_the_deploy_gate_and_the_release_know_the_template():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^TEMPLATES := .*template-fleet\.yaml", makefile, re.M)
    sets = (ROOT / "scripts" / "cfngate" / "sets.py").read_text()
    assert "FLEET" in sets and '"template-fleet.yaml"' in sets
    assert '"template-fleet.yaml"' in (ROOT / "scripts" / "release.py").read_text()


def test_the_dashboard_graphs_failovers_by_pair_as_the_decision_line_publishes_them():
    import json
    record = (ROOT / "src" / "record.rs").read_text()
    assert 'pub const UNIT_DIMENSIONS: [&[&str]; 2] = [&[FUNCTION, "pair"], &[FUNCTION, "group"]];' in record
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: m.group(1), body))["widgets"]
    searches = [row[0]["expression"] for w in widgets for row in w["properties"].get("metrics", []) if isinstance(row[0], dict)]
    assert any('{"ec2-failover",function,pair} MetricName="Failovers" function="FleetFunction"' in e for e in searches), searches
    (alarms,) = [w["properties"]["alarms"] for w in widgets if w["type"] == "alarm"]
    assert alarms == ["FunctionErrorsAlarm.Arn"]
    (query,) = [w["properties"]["query"] for w in widgets if w["type"] == "log"]
    assert query.startswith("SOURCE 'FleetLogGroup' |") and "pair" in query


def group_stack_statements():
    """template-group.yaml's function's statements, conditional ones included."""
    group = cfn_yaml.load(str(ROOT / "template-group.yaml"))
    out = []
    for policy in group["Resources"]["FollowFunction"]["Properties"]["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        out.extend(policy["Statement"])
    return out


def listed(value):
    return value if isinstance(value, list) else [value]


def test_the_groups_get_what_a_group_stack_grants_held_to_the_group_tag_and_nothing_else():
    theirs = group_stack_statements()
    ours = statements(groups=True)
    assert ours, "no statement serves the groups"
    # Held to the stack's own group there (aws:autoscaling:groupName = the stack name); here, with
    # no one group, to instances of a group that carry its ec2-failover:group tag.
    on_tagged_instances = {"ec2-failover:data-volume", "ModifyInstanceMetadataOptions", "AttachVolume"}
    for s in ours:
        actions, resources = listed(s["Action"]), listed(s["Resource"])
        same = [t for t in theirs if (t["Sid"], listed(t["Action"]), listed(t["Resource"])) == (s["Sid"], actions, resources)]
        match = same[0] if len(same) == 1 else None
        if s["Sid"] == "ReadTheGroups":
            assert set(actions) == {"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLifecycleHooks"}
            assert resources == ["*"]
            continue
        assert match is not None, f"{s['Sid']}: template-group.yaml grants no such statement"
        if any(k in str(s) for k in on_tagged_instances) and "instance/*" in str(resources):
            assert s["Condition"]["Null"] == {"ec2:ResourceTag/ec2-failover:group": "false",
                                              "ec2:ResourceTag/aws:autoscaling:groupName": "false"}, s["Sid"]
            assert s["Condition"].get("ForAllValues:StringEquals") == match["Condition"].get("ForAllValues:StringEquals")
            continue
        assert s.get("Condition") == match.get("Condition"), s["Sid"]
    # Nothing of the group stack's is missing but what the pairs' statements grant already (the
    # reads, the interface an address goes through) and the stack's own key and bus.
    covered = {"ReadGroupsInstancesAndAddresses", "ThroughTheirInterfaces", "PublishTheDecisions"}
    assert {t["Sid"] for t in theirs} - covered <= {s["Sid"] for s in ours}


def test_the_groups_rules_and_settings_follow_serve_groups_and_keep_data():
    conditions = TEMPLATE["Conditions"]
    assert conditions["ServesGroups"] == {"Fn::Equals": [{"Ref": "ServeGroups"}, "true"]}
    for name, condition, kind in [("LaunchLifecycleRule", "ServesGroups", "EC2 Instance-launch Lifecycle Action"),
                                  ("TerminateLifecycleRule", "KeepsData", "EC2 Instance-terminate Lifecycle Action")]:
        rule = RESOURCES[name]
        assert rule["Condition"] == condition
        pattern = rule["Properties"]["EventPattern"]
        assert pattern["detail-type"] == [kind]
        # EventBridge cannot match the group tag: every group's actions from ec2-failover's hooks come.
        assert pattern["detail"] == {"LifecycleHookName": [{"prefix": "ec2-failover"}]}
        assert RESOURCES[name + "Permission"]["Condition"] == condition
    assert RESOURCES["EbsNotificationRule"]["Condition"] == "KeepsData"
    variables = FUNCTION["Environment"]["Variables"]
    for variable, parameter in [("SERVE_GROUPS", "ServeGroups"), ("KEEP_DATA", "KeepData"),
                                ("KEEP_SNAPSHOTS", "KeepSnapshots"), ("MAX_WAIT_SECONDS", "MaxWaitSeconds"),
                                ("SNAPSHOT_EVERY_SECONDS", "SnapshotEverySeconds"),
                                ("DATA_WAIT_SECONDS", "DataWaitSeconds"), ("DATA_INIT_RATE_MIBPS", "DataInitRateMiBps")]:
        assert variables[variable] == {"Ref": parameter}, variable
    assert TEMPLATE["Parameters"]["KeepData"]["Default"] == "false", "as template-group.yaml"
