"""Checks the IAM checker (scripts/iamcheck) can fail: each test takes a request the function really
makes, as the proxy records it, and a policy that IAM would refuse it under (a resource removed, a
misspelt tag key, a tag the policy does not allow, an explicit Deny, AttachVolume with only the
volume allowed, a customer-managed key the role may not use), and the checker must deny it, saying
why. Also: the templates' intrinsics resolve as CloudFormation resolves them, the condition
operators follow IAM's rules for missing and multivalued keys, and the proxy records who signed
each request and the tags of what it names (and records nothing unless asked)."""

import copy
import json
import os
import pathlib
import sys
import urllib.request

import boto3
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from iamcheck import check, report  # noqa: E402
from iamcheck.authorizations import authorizations  # noqa: E402
from iamcheck.evaluate import Context, Unsupported, condition, decide  # noqa: E402
from iamcheck.template import Deployment, load, statements_of  # noqa: E402
from localaws import processes, scenes  # noqa: E402

ACCOUNT, REGION = "123456789012", "us-east-1"
PRIMARY, STANDBY = "i-0123456789abcdef0", "i-0fedcba9876543210"
ALLOCATION, VPC, ENI = "eipalloc-0123456789abcdef0", "vpc-0123456789abcdef0", "eni-0123456789abcdef0"
NEW, VOLUME, SNAPSHOT = "i-0aaaaaaaaaaaaaaaa", "vol-0123456789abcdef0", "snap-0123456789abcdef0"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PAIR = {"PrimaryInstanceId": PRIMARY, "StandbyInstanceId": STANDBY, "ElasticIpAllocationId": ALLOCATION, "VpcId": VPC}
GROUP = {"LaunchTemplateId": "lt-0123456789abcdef0", "SubnetIds": "subnet-0a,subnet-0b", "GroupKey": "web",
         "KeepData": "true"}
GROUP_TAG = {"ec2-failover:group": "web"}
ASG_TAGS = {"aws:autoscaling:groupName": "web-asg"}


def arn(kind, resource_id):
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{resource_id}"


def request(action, params, state=None, service="ec2"):
    """A request as scripts/ec2_proxy.py records it."""
    return {"kind": "request", "service": service, "action": action, "params": params, "access_key": "AKIDFUNCTIONTEST",
            "region": REGION, "state": state or {}, "status": 200}


def instance(tags=None, volumes=None):
    return {"vpc_id": VPC, "subnet_id": "subnet-0b", "availability_zone": "us-east-1b", "instance_type": "t3.micro",
            "network_interface_ids": [ENI], "tags": tags or {}, "volume_ids": list(volumes or {}),
            **({"volumes": volumes} if volumes else {})}


def volume(tags=None, key=None, aliases=()):
    facts = {"availability_zone": "us-east-1b", "encrypted": bool(key), "snapshot_id": None, "size": "8",
             "volume_type": "gp3", "iops": "3000", "throughput": "125", "attached_to": [], "tags": tags or {}}
    if key:
        facts.update(kms_key_id=key, kms_key_aliases=list(aliases))
    return facts


def pair_statements(**parameters):
    return statements_of(load("template.yaml"), {**PAIR, **parameters})


def group_statements(**parameters):
    return statements_of(load("template-group.yaml"), {**GROUP, **parameters}, "web-asg")


def decisions(statements, record):
    return [(a, decide(statements, a)) for a in authorizations(record)]


def denied(statements, record):
    """The (authorization, decision) pairs IAM denies."""
    return [(a, d) for a, d in decisions(statements, record) if not d.allowed]


def without(statements, sid, change=None):
    """The statements with the one named sid removed, or changed in place by change(body)."""
    out = []
    for s in statements:
        if s.sid == sid:
            if change is None:
                continue
            s = copy.copy(s)
            s.body = copy.deepcopy(s.body)
            change(s.body)
        out.append(s)
    assert len(out) == len(statements) - (change is None), f"no statement {sid}"
    return out


# The function's requests, as recorded.

ASSOCIATE_PAIR = request("AssociateAddress", {"AllocationId": ALLOCATION, "NetworkInterfaceId": ENI,
                                              "AllowReassociation": "true"},
                         {"address": {ALLOCATION: {"allocation_id": ALLOCATION, "tags": {}}},
                          "network_interface": {ENI: {"vpc_id": VPC, "subnet_id": "subnet-0b", "tags": {},
                                                      "availability_zone": "us-east-1b", "instance_id": STANDBY}}})
START_STANDBY = request("StartInstances", {"InstanceId.1": STANDBY},
                        {"instance": {STANDBY: instance(volumes={VOLUME: volume(key=KEY)})}})
RECORD_ON_ADDRESS = request("CreateTags", {"ResourceId.1": ALLOCATION, "Tag.1.Key": "ec2-failover:phase",
                                           "Tag.1.Value": "moved"},
                            {"address": {ALLOCATION: {"allocation_id": ALLOCATION, "tags": {}}}})
ASSOCIATE_GROUP = request("AssociateAddress", {"AllocationId": ALLOCATION, "NetworkInterfaceId": ENI},
                          {"address": {ALLOCATION: {"allocation_id": ALLOCATION, "tags": GROUP_TAG}},
                           "network_interface": {ENI: {"vpc_id": VPC, "tags": {}}}})
ATTACH = request("AttachVolume", {"VolumeId": VOLUME, "InstanceId": NEW, "Device": "/dev/xvdf"},
                 {"instance": {NEW: instance(tags=ASG_TAGS)}, "volume": {VOLUME: volume(tags=GROUP_TAG)}})
MARK_ATTACHED = request("CreateTags", {"ResourceId.1": VOLUME, "Tag.1.Key": "ec2-failover:attached", "Tag.1.Value": NEW},
                        {"volume": {VOLUME: volume(tags=GROUP_TAG)}})
RESTORE = request("CreateVolume", {"SnapshotId": SNAPSHOT, "AvailabilityZone": "us-east-1b", "VolumeType": "gp3",
                                   "TagSpecification.1.ResourceType": "volume",
                                   "TagSpecification.1.Tag.1.Key": "ec2-failover:group",
                                   "TagSpecification.1.Tag.1.Value": "web"},
                  {"snapshot": {SNAPSHOT: {"volume_id": VOLUME, "encrypted": True, "kms_key_id": KEY,
                                           "kms_key_aliases": [], "volume_size": "8", "owner_id": ACCOUNT,
                                           "tags": {**GROUP_TAG, "ec2-failover:time": "2026-01-01T00:00:00Z"}}}})
COMPLETE = request("CompleteLifecycleAction", {"AutoScalingGroupName": "web-asg", "LifecycleHookName": "launch",
                                               "InstanceId": NEW, "LifecycleActionResult": "CONTINUE"},
                   {"autoscaling_group": {"web-asg": {
                       "arn": f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:0-1:autoScalingGroupName/web-asg",
                       "tags": GROUP_TAG}}}, service="autoscaling")


def test_the_templates_allow_the_functions_requests():
    for record in (ASSOCIATE_PAIR, RECORD_ON_ADDRESS):
        assert not denied(pair_statements(), record), record["action"]
    assert not denied(pair_statements(EbsKmsKeyArns=KEY), START_STANDBY)
    data = group_statements(DataKmsKeyId=KEY)
    for record in (ASSOCIATE_GROUP, ATTACH, MARK_ATTACHED, RESTORE, COMPLETE):
        assert not denied(data, record), record["action"]


def test_a_policy_with_one_resource_removed_denies_and_names_the_statement_that_came_closest():
    statements = without(pair_statements(), "OntoInterfacesInThePairsVpc",
                         lambda body: body.update(Resource=arn("network-interface", "eni-0fffffffffffffff0")))
    (authorization, decision), = denied(statements, ASSOCIATE_PAIR)
    assert authorization.resource == arn("network-interface", ENI)
    statement, (part, why) = decision.near[0]
    assert (statement.sid, part) == ("OntoInterfacesInThePairsVpc", "resource")
    # The standby's ARN gone from the start statement: starting it is denied.
    statements = without(pair_statements(EbsKmsKeyArns=KEY), "StartAndFenceThePair",
                         lambda body: body.update(Resource=[arn("instance", PRIMARY)]))
    assert [a.resource for a, _ in denied(statements, START_STANDBY)] == [arn("instance", STANDBY)]


def test_a_condition_on_a_misspelt_tag_key_denies():
    def misspell(body):
        body["Condition"] = {"Null": {"ec2:ResourceTag/ec2-failover:grup": "false"}}

    statements = without(group_statements(), "MoveOnlyTaggedElasticIps", misspell)
    (authorization, decision), = denied(statements, ASSOCIATE_GROUP)
    assert authorization.resource == arn("elastic-ip", ALLOCATION)
    statement, (part, why) = decision.near[0]
    assert (statement.sid, part) == ("MoveOnlyTaggedElasticIps", "condition")
    assert "ec2-failover:grup" in why and "absent" in why


def test_a_tag_the_policy_does_not_allow_is_denied():
    named = copy.deepcopy(RECORD_ON_ADDRESS)
    named["params"].update({"Tag.2.Key": "Name", "Tag.2.Value": "web"})
    (_, decision), = denied(pair_statements(), named)
    assert decision.near[0][0].sid == "RecordTheFailoverOnTheElasticIp"
    assert "aws:TagKeys" in decision.near[0][1][1] and "Name" in decision.near[0][1][1]
    other = copy.deepcopy(MARK_ATTACHED)
    other["params"]["Tag.1.Key"] = "ec2-failover:group"
    assert denied(group_statements(), other)


def test_an_explicit_deny_wins():
    statements = pair_statements()
    deny = copy.copy(statements[0])
    deny.sid, deny.body = "NoMoving", {"Sid": "NoMoving", "Effect": "Deny", "Action": "ec2:Associate*", "Resource": "*"}
    found = denied(statements + [deny], ASSOCIATE_PAIR)
    assert found and all(d.denied_by == [deny] for _, d in found)


def test_attach_volume_is_denied_when_only_the_volume_is_allowed():
    statements = without(group_statements(), "ToInstancesOfAutoScalingGroups",
                         lambda body: body.update(Action="ec2:AssociateAddress"))
    assert [a.resource for a, _ in denied(statements, ATTACH)] == [arn("instance", NEW)]
    untagged = copy.deepcopy(ATTACH)
    untagged["state"]["instance"][NEW]["tags"] = {}
    assert [a.resource for a, _ in denied(group_statements(), untagged)] == [arn("instance", NEW)]


def test_a_customer_managed_key_needs_the_kms_statements_and_the_aws_managed_one_does_not():
    refused = {a.action for a, _ in denied(pair_statements(), START_STANDBY)}
    assert refused == {"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext",
                       "kms:ReEncryptFrom", "kms:ReEncryptTo"}
    assert {a.action for a, _ in denied(group_statements(), RESTORE)} == refused
    # A grant EC2 does not make for itself is not allowed.
    for a, d in decisions(pair_statements(EbsKmsKeyArns=KEY), START_STANDBY):
        if a.action == "kms:CreateGrant":
            a.context.values["kms:grantisforawsresource"] = ["false"]
            assert not decide(pair_statements(EbsKmsKeyArns=KEY), a).allowed
    managed = copy.deepcopy(START_STANDBY)
    managed["state"]["instance"][STANDBY]["volumes"][VOLUME]["kms_key_aliases"] = ["alias/aws/ebs"]
    assert [a.action for a in authorizations(managed)] == ["ec2:StartInstances"]


def test_tagging_on_create_is_authorized_as_create_tags_with_the_create_action():
    tagging = [a for a in authorizations(RESTORE) if a.action == "ec2:CreateTags"]
    assert [a.resource for a in tagging] == [arn("volume", "*")]
    assert tagging[0].context.get("ec2:CreateAction") == ["CreateVolume"]
    assert tagging[0].context.get("aws:TagKeys") == ["ec2-failover:group"]
    statements = without(group_statements(DataKmsKeyId=KEY), "TagOnlyWhatItCreates")
    assert [a.action for a, _ in denied(statements, RESTORE)] == ["ec2:CreateTags"]
    # CreateVolume authorizes the snapshot it reads: an untagged one may not be restored.
    untagged = copy.deepcopy(RESTORE)
    untagged["state"]["snapshot"][SNAPSHOT]["tags"] = {}
    assert [a.resource for a, _ in denied(group_statements(DataKmsKeyId=KEY), untagged)] == [
        f"arn:aws:ec2:{REGION}::snapshot/{SNAPSHOT}"]


def test_intrinsics_resolve_with_the_deployments_values():
    by_sid = {s.sid: s.body for s in pair_statements()}
    assert by_sid["StartAndFenceThePair"]["Resource"] == [arn("instance", PRIMARY), arn("instance", STANDBY)]
    assert by_sid["OntoInterfacesInThePairsVpc"]["Condition"] == {"ArnEquals": {"ec2:Vpc": arn("vpc", VPC)}}
    assert "LetEc2GrantItselfTheVolumeKeys" not in by_sid  # HasEbsKmsKeys is false: AWS::NoValue
    keyed = {s.sid: s.body for s in pair_statements(EbsKmsKeyArns=f"{KEY},{KEY}2")}
    assert keyed["UseTheVolumeKeysThroughEc2Only"]["Resource"] == [KEY, f"{KEY}2"]
    assert keyed["UseTheVolumeKeysThroughEc2Only"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}
    assert "ReadTheData" not in {s.sid for s in group_statements(KeepData="false")}
    assert "GrantsThroughEbsOnly" not in {s.sid for s in group_statements()}  # HasDataKey false: no DataKeyPolicy
    assert {s.sid for s in group_statements(DataKmsKeyId=KEY)} >= {"GrantsThroughEbsOnly", "ThroughEbsOnly"}
    # The functions CloudFormation has, in a template of their own.
    document = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": "a,b"}, "On": {"Type": "String"}},
        "Conditions": {"IsOn": {"Fn::And": [{"Fn::Equals": [{"Ref": "On"}, "yes"]}, {"Fn::Not": [{"Condition": "Off"}]}]},
                       "Off": {"Fn::Or": [{"Fn::Equals": [{"Ref": "On"}, "no"]}, {"Fn::Equals": ["x", "y"]}]}},
        "Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": {
            "Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": ".",
            "Policies": [{"Statement": [{
                "Sid": "S", "Effect": "Allow", "Action": "ec2:StartInstances",
                "Resource": [
                    {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ec2:", {"Ref": "AWS::Region"}, ":",
                                       {"Ref": "AWS::AccountId"}, ":instance/", {"Fn::Select": [1, {"Ref": "Names"}]}]]},
                    {"Fn::Sub": ["arn:aws:ec2:${AWS::Region}:${AWS::AccountId}:instance/${Id}",
                                 {"Id": {"Fn::Select": [0, {"Fn::Split": ["-", "i-1"]}]}}]},
                    {"Fn::If": ["IsOn", "on", {"Ref": "AWS::NoValue"}]}]}]}]}}}}
    (statement,) = [s for s in statements_of(document, {"On": "yes"}) if s.sid == "S"]
    assert statement.body["Resource"] == [arn("instance", "b"), arn("instance", "i"), "on"]
    (statement,) = [s for s in statements_of(document, {"On": "no"}) if s.sid == "S"]
    assert statement.body["Resource"] == [arn("instance", "b"), arn("instance", "i")]


@pytest.mark.parametrize("operator, key, wanted, values, met", [
    ("ForAllValues:StringLike", "aws:TagKeys", ["ec2-failover:*"], None, True),
    ("ForAnyValue:StringLike", "aws:TagKeys", ["ec2-failover:*"], None, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], ["a", "c"], False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"], ["a", "c"], True),
    ("StringNotEquals", "ec2:ResourceTag/k", ["v"], None, True),
    ("StringEquals", "ec2:ResourceTag/k", ["v"], None, False),
    ("StringEqualsIfExists", "ec2:ResourceTag/k", ["v"], None, True),
    ("StringEqualsIfExists", "ec2:ResourceTag/k", ["v"], ["w"], False),
    ("StringNotLike", "ec2:ResourceTag/k", ["v*"], ["vw"], False),
    ("Null", "ec2:ResourceTag/k", ["false"], ["v"], True),
    ("Null", "ec2:ResourceTag/k", ["true"], ["v"], False),
    ("Bool", "kms:GrantIsForAWSResource", [True], ["true"], True),
    ("ArnLike", "ec2:Vpc", [arn("vpc", "*")], [arn("vpc", VPC)], True),
    ("ArnEquals", "ec2:Vpc", [arn("vpc", "vpc-other")], [arn("vpc", VPC)], False),
    ("NumericLessThanEquals", "ec2:VolumeSize", ["16"], ["8"], True),
])
def test_condition_operators_follow_iam(operator, key, wanted, values, met):
    context = Context({key: values} if values is not None else {})
    assert condition(operator, key, wanted, context)[0] is met


def test_what_the_checker_cannot_evaluate_is_an_error_not_a_guess():
    with pytest.raises(Unsupported):
        condition("IpAddress", "aws:SourceIp", ["10.0.0.0/8"], Context({"aws:SourceIp": ["10.0.0.1"]}))
    statements = without(pair_statements(), "StartAndFenceThePair",
                         lambda body: body.update(Condition={"StringEquals": {"ec2:InstanceProfile": "x"}}))
    with pytest.raises(Unsupported):
        decisions(statements, START_STANDBY)


def records(tmp_path, lines):
    path = tmp_path / "1-2.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_checker_fails_on_a_denial_and_warns_of_unused_statements(tmp_path):
    deployment = {"kind": "deployment", "access_key": "AKIDFUNCTIONTEST", "template": "template.yaml",
                  "parameters": PAIR, "source": "tests/x.rs a_test"}
    setup = dict(ASSOCIATE_PAIR, access_key="testing")
    path = records(tmp_path, [setup, deployment, ASSOCIATE_PAIR, RECORD_ON_ADDRESS, START_STANDBY])
    lines = []
    assert report(check([str(tmp_path)]), out=lines.append) == 1
    text = "\n".join(lines)
    assert f"DENIED kms:CreateGrant for StartInstances, first at {path}:5" in text
    assert "from tests/x.rs a_test" in text
    assert "statement StartAndFenceThePair" not in text  # it allowed the start itself
    assert "statement ReadTheAlarms allowed nothing (no request used it)" in text
    assert "statement LetEc2GrantItselfTheVolumeKeys allowed nothing (no recorded deployment has it)" in text
    # What Lambda itself does with the role (Sid "Lambda..."): no request of the function uses it.
    assert "LambdaKeepsFailedEvents" not in text and "LambdaManagesTheFunctionsInterfaces" not in text
    assert "3 requests by the function checked" in text and "1 set-up requests not checked" in text
    # The same records under a changed template (make iam-check after an edit).
    text = (ROOT / "template.yaml").read_text()
    declared = text.index("  EbsKmsKeyArns:\n")
    default = text.index('    Default: ""\n', declared)
    changed = tmp_path / "changed.yaml"
    changed.write_text(text[:default] + f"    Default: {KEY}\n" + text[default + len('    Default: ""\n'):])
    lines = []
    assert report(check([str(path)], {"template.yaml": str(changed)}), {"template.yaml": str(changed)},
                  out=lines.append) == 0, "\n".join(lines)


def test_a_request_is_checked_against_the_deployed_stack_s_role_too(tmp_path):
    # The role as the demos' stacks hold it (scripts/local_stack.py): the template's statements,
    # here all but the one that lets the function move the Elastic IP onto the pair.
    statements = Deployment("template.yaml", PAIR).statements
    whole = [{"PolicyName": "Deployed", "PolicyDocument": {"Statement": [s.body for s in statements]}}]
    without = [{"PolicyName": "Deployed", "PolicyDocument": {"Statement": [
        s.body for s in statements if s.sid != "MoveTheElasticIp"]}}]
    assert len(without[0]["PolicyDocument"]["Statement"]) < len(whole[0]["PolicyDocument"]["Statement"])
    for deployed, status in ((whole, 0), (without, 1)):
        deployment = {"kind": "deployment", "access_key": "AKIDFUNCTIONTEST", "template": "template.yaml",
                      "parameters": PAIR, "source": "scripts/demo.sh", "deployed_policies": deployed}
        records(tmp_path, [deployment, ASSOCIATE_PAIR])
        lines = []
        assert report(check([str(tmp_path)]), out=lines.append) == status, "\n".join(lines)
        text = "\n".join(lines)
        assert "1 also against a deployed stack's role" in text
        assert ("by the deployed stack's role" in text) == bool(status), text


def test_a_function_key_without_a_deployment_is_an_error(tmp_path):
    records(tmp_path, [ASSOCIATE_PAIR])
    lines = []
    assert report(check([str(tmp_path)]), out=lines.append) == 1
    assert "which no deployment was registered for" in "\n".join(lines)


# The proxy's recording, against a moto server of its own.

@pytest.fixture
def servers():
    """start(record_dir or None) -> the proxy's URL, in front of one moto server; all killed after."""
    moto, moto_url = processes.start_moto()
    started = [moto]

    def start(record_dir):
        env = {k: v for k, v in os.environ.items() if k != "EC2_PROXY_RECORD_DIR"}
        proxy, url = processes.start_proxy(moto_url, record=record_dir, env=env)
        started.append(proxy)
        return url

    yield start
    processes.stop(*started)


def ec2(url, access_key):
    return boto3.client("ec2", endpoint_url=url, region_name=REGION, aws_access_key_id=access_key,
                        aws_secret_access_key="testing")


def deploy(url, body):
    request = urllib.request.Request(f"{url}/_proxy/deployment", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request) as r:
        return json.load(r)


def test_the_proxy_records_the_access_key_and_the_tags_of_what_a_request_names(servers, tmp_path):
    url = servers(tmp_path / "records")
    setup = ec2(url, "testing")
    vpc, (subnet,) = scenes.network(setup, zones=1)
    started = scenes.launch(setup, subnet)
    tags = [{"ResourceType": "volume", "Tags": [{"Key": "ec2-failover:group", "Value": "web"}]}]
    volume_id = setup.create_volume(AvailabilityZone="us-east-1a", Size=8, Encrypted=True, KmsKeyId=KEY,
                                    TagSpecifications=tags)["VolumeId"]
    assert deploy(url, {"access_key": "AKIDFUNCTIONTEST", "template": "template-group.yaml",
                        "parameters": GROUP, "stack_name": "web-asg", "source": "pytest"}) == {"recorded": True}
    function = ec2(url, "AKIDFUNCTIONTEST")
    function.attach_volume(VolumeId=volume_id, InstanceId=started["InstanceId"], Device="/dev/xvdf")

    (path,) = (tmp_path / "records").glob("*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    deployment = next(line for line in lines if line["kind"] == "deployment")
    assert (deployment["access_key"], deployment["template"], deployment["parameters"], deployment["stack_name"]) == (
        "AKIDFUNCTIONTEST", "template-group.yaml", GROUP, "web-asg")
    attach = lines[-1]
    assert (attach["service"], attach["action"], attach["access_key"], attach["region"], attach["status"]) == (
        "ec2", "AttachVolume", "AKIDFUNCTIONTEST", REGION, 200)
    facts = attach["state"]["volume"][volume_id]
    assert facts["tags"] == {"ec2-failover:group": "web"}
    assert (facts["availability_zone"], facts["encrypted"], facts["kms_key_id"]) == ("us-east-1a", True, KEY)
    assert facts["attached_to"] == [], "the state is read before the request is forwarded"
    seen = attach["state"]["instance"][started["InstanceId"]]
    assert (seen["vpc_id"], seen["subnet_id"], seen["availability_zone"]) == (vpc, subnet, "us-east-1a")
    assert seen["network_interface_ids"] == [started["NetworkInterfaces"][0]["NetworkInterfaceId"]]
    assert {line["access_key"] for line in lines if line["kind"] == "request"} == {"testing", "AKIDFUNCTIONTEST"}


def test_the_proxy_records_nothing_unless_asked(servers, tmp_path):
    url = servers(None)
    ec2(url, "testing").describe_instances()
    assert deploy(url, {"access_key": "AKIDFUNCTIONTEST", "template": "template.yaml", "parameters": {}}) == {
        "recorded": False}
    assert not list(tmp_path.rglob("*.jsonl"))
