"""The deploy gate (scripts/cfngate, `make template-check`) and the cfn-lint rule
(scripts/cfnlint_rules): each kind of fault CloudFormation refuses, planted in a copy of a real
template, is found and named; the real templates pass for every documented parameter set; the
Rules say no where the function would."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from cfngate import check, parameters, resolve, rules, sets  # noqa: E402

PAIR_TEXT = (ROOT / "template.yaml").read_text()
GROUP_TEXT = (ROOT / "template-group.yaml").read_text()
# The four rules as they stood before the fix: Fn::Join inside Fn::Equals, which CloudFormation
# refuses in Rules and cfn-lint's own rules pass.
OLD_RULE = '!Not [!Equals [!Join ["", !Ref RouteTableIds], ""]]'
NEW_RULE = '!Not [{"Fn::EachMemberEquals": [!Ref RouteTableIds, ""]}]'


def planted(tmp_path, text, name="template.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def replaced(text, old, new):
    """The text with every `old` replaced (it must be there)."""
    assert old in text, f"the template no longer holds {old!r}: update the planted fault"
    return text.replace(old, new)


def gate(path, template=sets.PAIR, only=None):
    """[(set, finding)] of the gate over one template file, with the documented sets of `template`."""
    findings, transformed = check.template_findings(path)
    out = [(None, f) for f in findings]
    for name, of, region, given in sets.documented():
        if of == template and (only is None or only in name):
            out += [(name, f) for f in check.set_findings(transformed, given, region)]
    return out


def test_the_templates_pass_for_every_documented_set():
    assert check.run() == []


def test_every_template_has_documented_sets_and_every_pair_condition_takes_both_values():
    documented = sets.documented()
    for template in (sets.PAIR, sets.GROUP, sets.SERVICE_ALARM):
        assert any(of == template for _, of, _, _ in documented), template
    for template in (sets.PAIR, sets.GROUP):
        transformed = resolve.cloudformation(template)
        seen = {}
        for _, of, region, given in documented:
            if of != template:
                continue
            values, problems = parameters.values(transformed, given)
            assert problems == []
            values.update(resolve.pseudo(region, "s"))
            for name, value in resolve.resolved(transformed, values)[1].items():
                seen.setdefault(name, set()).add(value)
        one_sided = sorted(name for name, v in seen.items() if v != {True, False})
        assert one_sided == [], f"{template}: conditions no documented set turns both ways"


def test_a_non_rule_function_in_rules_fails_by_rule_and_function(tmp_path):
    path = planted(tmp_path, replaced(PAIR_TEXT, NEW_RULE, OLD_RULE))
    found = [f for _, f in gate(path, only="defaults")]
    assert any("Rules/RoutesHaveDestinations/RuleCondition" in f and "Fn::Join" in f for f in found), found


def test_cfn_lint_as_a_user_runs_it_here_catches_fn_join_in_rules(tmp_path):
    old = replaced(PAIR_TEXT, NEW_RULE, OLD_RULE)
    path = planted(tmp_path, old)
    lint = [str(ROOT / ".venv" / "bin" / "cfn-lint"), path]
    result = subprocess.run(lint, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "E9101 Rule RoutesHaveDestinations uses Fn::Join" in result.stdout, result.stdout
    clean = subprocess.run(lint[:1] + [str(ROOT / "template.yaml")], cwd=ROOT, capture_output=True, text=True)
    assert "E9101" not in clean.stdout, clean.stdout


def test_a_reference_to_a_resource_a_false_condition_leaves_out_fails_naming_set_and_condition(tmp_path):
    path = planted(tmp_path, replaced(PAIR_TEXT, "          REBALANCE: !Ref Rebalance\n",
                                      "          REBALANCE: !Ref Rebalance\n          PROBE_GROUP: !Ref FunctionSecurityGroup\n"))
    found = gate(path)
    bad = {name for name, f in found if "FunctionSecurityGroup, whose condition ProbesTheService is False" in f}
    assert "defaults" in bad and not any("probe" in name for name in bad), found


def test_a_depends_on_a_conditional_resource_fails(tmp_path):
    text = GROUP_TEXT.replace("DependsOn: [LaunchLifecycleRule, LaunchLifecycleRulePermission, SeedVolumeReady]",
                              "DependsOn: [LaunchLifecycleRule, LaunchLifecycleRulePermission, DataVolume]")
    assert text != GROUP_TEXT
    found = gate(planted(tmp_path, text, "template-group.yaml"), sets.GROUP)
    assert any(name == "defaults" and "DependsOn: DataVolume, whose condition CreatesDataVolume is False" in f
               for name, f in found), found


def test_a_default_outside_its_own_pattern_fails_by_parameter(tmp_path):
    path = planted(tmp_path, replaced(PAIR_TEXT, "    Default: /\n    AllowedPattern: ^/[^\\s]*$",
                                      "    Default: health\n    AllowedPattern: ^/[^\\s]*$"))
    found = [f for name, f in gate(path, only="defaults") if name is None]
    assert any(f.startswith("Parameters/ServiceCheckPath/Default: ServiceCheckPath='health'") for f in found), found


def test_a_property_invalid_under_one_set_fails_naming_that_set_and_the_property(tmp_path):
    # Lambda's Timeout is at most 900 s: valid in the abstract (an Fn::If), invalid where it resolves to 1200.
    path = planted(tmp_path, replaced(PAIR_TEXT, "      Timeout: 60\n", "      Timeout: !If [ChecksWithRoute53, 1200, 60]\n"))
    found = gate(path)
    bad = {name for name, f in found if "Resources/FailoverFunction/Properties/Timeout" in f}
    assert bad and all("route53" in name for name in bad), found


def test_functions_where_cloudformation_takes_literals_fail(tmp_path):
    text = replaced(PAIR_TEXT, "    Default: basic\n    AllowedValues: [basic, detailed]",
                    "    Default: !Ref AWS::Region\n    AllowedValues: [basic, detailed]")
    text = replaced(text, "  FunctionSecurityGroup:\n", "  FunctionSecurityGroup:\n    DependsOn: !If [HasAlertTopic, FailureQueue, FailoverLogGroup]\n")
    found = [f for name, f in gate(planted(tmp_path, text), only="nothing") if name is None]
    assert "Parameters/InstanceMonitoring/Default: Ref in Parameters, which takes literal values only" in found, found
    assert "Resources/FunctionSecurityGroup/DependsOn: Fn::If in DependsOn, which takes literal names only" in found, found


def test_an_undocumented_yaml_short_form_fails(tmp_path):
    text = replaced(PAIR_TEXT, NEW_RULE, '!Not [!EachMemberEquals [!Ref RouteTableIds, ""]]')
    found = [f for name, f in gate(planted(tmp_path, text), only="nothing") if name is None]
    assert any("!EachMemberEquals is not a documented YAML short form" in f for f in found), found


def rule_failures(template, **given):
    transformed = resolve.cloudformation(template)
    values, problems = parameters.values(transformed, dict(sets.BASE[template], **given))
    assert problems == []
    values.update(resolve.pseudo("us-east-1", "s"))
    return [name for name, _ in rules.failures(transformed, values)]


@pytest.mark.parametrize("given, refused", [
    ({"ElasticIpAllocationId": ""}, ["AnEndpoint"]),
    ({"RouteTableIds": "rtb-0123456789abcdef0"}, ["RoutesHaveDestinations"]),
    ({"RouteDestinations": "10.1.0.10/32"}, ["DestinationsHaveRoutes"]),
    ({"ServiceCheck": "probe"}, ["ProbeNeedsSubnets"]),
    ({"ServiceCheck": "route53"}, ["Route53NeedsTheAddress"]),
    # A Route 53 check tests a public address: the Elastic IP's.
    ({"ServiceCheck": "route53", "ServiceCheckIpAddress": "203.0.113.10", "ElasticIpAllocationId": "",
      "RouteTableIds": "rtb-0123456789abcdef0", "RouteDestinations": "10.1.0.10/32"}, ["Route53NeedsTheAddress"]),
    # The function drops empty members: "rtb-a," is one route table, not none.
    ({"ElasticIpAllocationId": "", "RouteTableIds": "rtb-0123456789abcdef0,", "RouteDestinations": "10.1.0.10/32"}, []),
    ({"ElasticIpAllocationId": "", "RouteTableIds": "rtb-0123456789abcdef0", "RouteDestinations": "10.1.0.10/32"}, []),
])
def test_the_pair_rules_refuse_what_the_function_would(given, refused):
    assert rule_failures(sets.PAIR, **given) == refused


def test_the_group_rules_keep_max_wait_below_the_hook_s_global_timeout():
    assert rule_failures(sets.GROUP, LaunchHookTimeoutSeconds="120", MaxWaitSeconds="14400") == \
        ["MaxWaitBelowGlobalTimeoutOf12000"]
    assert rule_failures(sets.GROUP, LaunchHookTimeoutSeconds="120", MaxWaitSeconds="7200") == []
    assert rule_failures(sets.GROUP, KeepData="true", DataVolumeSizeGiB="10") == ["DataVolumeNeedsAZone"]


def test_readme_overrides_are_documented_sets():
    text = "```sh\nsam deploy -t template-group.yaml --parameter-overrides KeepData=true \\\n  GroupKey=web\n```\n"
    assert sets.overrides(text) == [(sets.GROUP, {"KeepData": "true", "GroupKey": "web"})]


def test_an_environment_over_lambda_s_4_kb_fails_naming_the_set():
    transformed = resolve.cloudformation(sets.PAIR)
    names = ",".join(f"an-alarm-of-our-own-with-a-long-name-{i:03d}" for i in range(95))
    found = check.set_findings(transformed, dict(sets.BASE[sets.PAIR], ExtraAlarmNames=names), "us-east-1")
    assert any("Environment/Variables" in f and "4096" in f for f in found), found
    assert check.set_findings(transformed, sets.BASE[sets.PAIR], "us-east-1") == []
