"""The release templates (scripts/release.py, `make release-templates`): template.yaml and
template-group.yaml without the SAM transform, for CloudFormation StackSets. For each: no Transform
and no serverless resource is left; cfn-lint (with the project's rules) passes it; its resources are
those of `sam validate`'s own translation, body for body but the function's code (the two
parameters CodeBucketPrefix and CodeKey, the bucket the stack's region's) and the managed policy's
partition; every resource the SAM template declares itself is there unchanged; each function is a Lambda function, its
EventInvokeConfig a resource, each of its events a rule with a permission of its own and nothing
more; the parameters are the SAM template's plus the two code ones, the mappings, conditions, rules
and outputs the SAM template's; no parameter's default is baked in; every documented parameter set
passes the deploy gate (scripts/cfngate) through it. A template the release cannot serve is refused."""

import copy
import functools
import json
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import release  # noqa: E402
from cfngate import check, sets  # noqa: E402

TEMPLATES = sorted(release.TEMPLATES)
CODE = {"S3Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"}, "S3Key": {"Ref": "CodeKey"}}


@functools.cache
def sam(name):
    return release.load(ROOT / name)


@functools.cache
def released(name):
    """The release template, as the JSON file holds it."""
    return json.loads(release.dumps(release.release(ROOT / name)))


@functools.cache
def validated(name):
    """`sam validate`'s translation of the SAM template (its own stand-in code location), offline:
    sam validate's class with a policy loader that fails if IAM would be asked."""
    from samcli.lib.translate.sam_template_validator import SamTemplateValidator
    from samcli.yamlhelper import yaml_parse

    class NoIam:
        def load(self):
            raise AssertionError("sam validate asked IAM for the managed policies")

    validator = SamTemplateValidator(copy.deepcopy(sam(name)), NoIam(), region=release.REGION)
    return json.loads(json.dumps(yaml_parse(validator.get_translated_template_if_valid())))


def functions(name):
    return {n: r for n, r in sam(name)["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


def referenced(node, out=None):
    """The names a template part refers to: Ref, and the ${Name} and ${Name.Attr} of Fn::Sub."""
    out = set() if out is None else out
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                out.add(value)
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                out.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", text))
                referenced(value if isinstance(value, str) else value[1:], out)
            else:
                referenced(value, out)
    elif isinstance(node, list):
        for value in node:
            referenced(value, out)
    return out


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_transform_and_no_serverless_resource_is_left(name):
    out = released(name)
    assert "Transform" in sam(name), "the SAM template is expected to declare the transform"
    assert "Transform" not in out
    assert not [n for n, r in out["Resources"].items() if r["Type"].startswith("AWS::Serverless::")]
    assert "Globals" not in out


@pytest.mark.parametrize("name", TEMPLATES)
def test_cfn_lint_passes_the_release_template(name, tmp_path):
    path = tmp_path / release.TEMPLATES[name]
    path.write_text(release.dumps(release.release(ROOT / name)))
    cfn_lint = pathlib.Path(sys.executable).parent / "cfn-lint"
    # From the repository, so that .cfnlintrc brings the project's own rules (scripts/cfnlint_rules).
    run = subprocess.run([str(cfn_lint) if cfn_lint.exists() else "cfn-lint", str(path)],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_resources_are_sam_validates_but_the_code_and_the_partition(name):
    out, reference = released(name)["Resources"], validated(name)["Resources"]
    assert {n: r["Type"] for n, r in out.items()} == {n: r["Type"] for n, r in reference.items()}
    for logical_id, resource in reference.items():
        expected = copy.deepcopy(resource)
        if resource["Type"] == "AWS::Lambda::Function":
            expected["Properties"]["Code"] = CODE
        if resource["Type"] == "AWS::IAM::Role" and "ManagedPolicyArns" in resource["Properties"]:
            expected["Properties"]["ManagedPolicyArns"] = [
                {"Fn::Sub": a.replace("arn:aws:", "arn:${AWS::Partition}:", 1)}
                if isinstance(a, str) and a.startswith("arn:aws:") else a
                for a in resource["Properties"]["ManagedPolicyArns"]]
        assert out[logical_id] == expected, logical_id


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_resource_the_sam_template_declares_itself_is_kept_unchanged(name):
    out = released(name)["Resources"]
    for logical_id, resource in sam(name)["Resources"].items():
        if not resource["Type"].startswith("AWS::Serverless::"):
            assert out.get(logical_id) == resource, logical_id


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_function_is_a_lambda_function_whose_code_is_the_two_parameters(name):
    out = released(name)["Resources"]
    for logical_id, function in functions(name).items():
        given, made = function["Properties"], out[logical_id]
        assert made["Type"] == "AWS::Lambda::Function"
        properties = made["Properties"]
        assert properties["Code"] == CODE
        for key in ("Handler", "Runtime", "Architectures", "MemorySize", "Timeout", "ReservedConcurrentExecutions",
                    "LoggingConfig", "Environment", "Description"):
            assert properties.get(key) == given.get(key), key
        if "VpcConfig" in given:
            assert properties["VpcConfig"] == given["VpcConfig"]
        if "Role" in given:
            assert properties["Role"] == given["Role"]
        else:
            assert properties["Role"] == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}
            role = out[f"{logical_id}Role"]
            assert role["Type"] == "AWS::IAM::Role"
            documents = [p for p in role["Properties"]["Policies"]]
            for i, policy in enumerate(given.get("Policies", [])):
                # The function's own statements, an Fn::If kept as one.
                if "Fn::If" in policy:
                    condition, document, otherwise = policy["Fn::If"]
                    assert {"Fn::If": [condition, {"PolicyName": f"{logical_id}RolePolicy{i}", "PolicyDocument": document},
                                       otherwise]} in documents
                else:
                    assert {"PolicyName": f"{logical_id}RolePolicy{i}", "PolicyDocument": policy} in documents


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_event_is_a_rule_with_its_own_permission_and_nothing_more_is_made(name):
    out = released(name)["Resources"]
    # The function keeps its logical id; what the translator adds besides:
    made = set(out) - set(sam(name)["Resources"])
    expected = set()
    for logical_id, function in functions(name).items():
        properties = function["Properties"]
        arn = {"Fn::GetAtt": [logical_id, "Arn"]}
        for event_name, event in properties.get("Events", {}).items():
            rule, permission = out[f"{logical_id}{event_name}"], out[f"{logical_id}{event_name}Permission"]
            expected |= {f"{logical_id}{event_name}", f"{logical_id}{event_name}Permission"}
            assert rule["Type"] == "AWS::Events::Rule"
            (target,) = rule["Properties"]["Targets"]
            assert target["Arn"] == arn
            given = event["Properties"]
            if event["Type"] == "EventBridgeRule":
                assert rule["Properties"]["EventPattern"] == given["Pattern"]
            else:
                assert event["Type"] == "Schedule", f"{event_name}: an event type this test does not know"
                assert rule["Properties"]["ScheduleExpression"] == given["Schedule"]
            assert target.get("RetryPolicy") == given.get("RetryPolicy")
            assert permission["Type"] == "AWS::Lambda::Permission"
            assert permission["Properties"] == {
                "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": logical_id},
                "Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": [f"{logical_id}{event_name}", "Arn"]}}
        if "EventInvokeConfig" in properties:
            config = out[f"{logical_id}EventInvokeConfig"]
            expected.add(f"{logical_id}EventInvokeConfig")
            given = properties["EventInvokeConfig"]
            assert config["Type"] == "AWS::Lambda::EventInvokeConfig"
            assert config["Properties"]["FunctionName"] == {"Ref": logical_id}
            assert config["Properties"]["MaximumRetryAttempts"] == given["MaximumRetryAttempts"]
            assert config["Properties"]["MaximumEventAgeInSeconds"] == given["MaximumEventAgeInSeconds"]
            assert (config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
                    == given["DestinationConfig"]["OnFailure"]["Destination"])
        if "Role" not in properties:
            expected.add(f"{logical_id}Role")
    assert made == expected


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_parameters_are_the_sam_templates_plus_the_two_code_ones(name):
    out = released(name)["Parameters"]
    assert {k: v for k, v in out.items() if k not in ("CodeBucketPrefix", "CodeKey")} == sam(name)["Parameters"]
    assert set(out) - set(sam(name)["Parameters"]) == {"CodeBucketPrefix", "CodeKey"}
    # No default: a stack set names the buckets and the release's key, or fails.
    assert "Default" not in out["CodeBucketPrefix"] and "Default" not in out["CodeKey"]
    pattern = out["CodeBucketPrefix"]["AllowedPattern"]
    assert re.match(pattern, "acme-ec2-failover")
    # With the longest region names, the bucket's name stays within S3's 63 characters.
    assert re.match(pattern, "a" * 48) and not re.match(pattern, "a" * 49)
    assert len("a" * 48 + "-ap-southeast-5") <= 63
    groups = released(name)["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert sorted(p for g in groups for p in g["Parameters"]) == sorted(out)


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("section", ["Mappings", "Conditions", "Rules", "Outputs", "Description", "AWSTemplateFormatVersion"])
def test_the_other_sections_are_the_sam_templates(name, section):
    assert released(name).get(section) == sam(name).get(section)


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_parameter_default_is_baked_in(name):
    parameters = set(sam(name)["Parameters"])
    before = referenced(sam(name)["Resources"]) & parameters
    after = referenced(released(name)["Resources"])
    assert before - after == set()
    assert {"CodeBucketPrefix", "CodeKey"} <= after


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_arn_is_written_for_one_partition(name):
    assert not [s for s in strings(released(name)["Resources"]) if s.startswith("arn:aws:")]


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_documented_parameter_set_passes_the_deploy_gate_through_the_release_template(name, tmp_path):
    path = tmp_path / release.TEMPLATES[name]
    path.write_text(release.dumps(release.release(ROOT / name)))
    whole, transformed = check.template_findings(str(path))
    assert whole == []
    documented = [(n, region, given) for n, of, region, given in sets.documented() if of == name]
    assert documented
    for set_name, region, given in documented:
        given = dict(given, CodeBucketPrefix="acme-ec2-failover", CodeKey="ec2-failover/0123abc/bootstrap-arm64.zip")
        assert check.set_findings(transformed, given, region) == [], set_name
    # Without the code parameters, CloudFormation would refuse the stack.
    set_name, region, given = documented[0]
    assert check.set_findings(transformed, given, region) != []


def test_make_release_templates_writes_both_templates(tmp_path):
    assert release.main(["--out", str(tmp_path)]) == 0
    for name, file in release.TEMPLATES.items():
        text = (tmp_path / file).read_text()
        assert json.loads(text) == released(name)
        assert len(text.encode()) <= release.TEMPLATE_URL_LIMIT


def test_a_template_with_language_extensions_is_refused():
    template = copy.deepcopy(sam("template.yaml"))
    template["Transform"] = ["AWS::LanguageExtensions", template["Transform"]]
    with pytest.raises(release.ReleaseError, match="LanguageExtensions"):
        release.release(template)


def test_a_managed_policy_name_unknown_offline_is_refused():
    template = copy.deepcopy(sam("template-group.yaml"))
    template["Resources"]["FollowFunction"]["Properties"]["Policies"].append("NoSuchManagedPolicyOfAnyone")
    with pytest.raises(release.ReleaseError, match="managed policy"):
        release.release(template)
